"""`edgeseg select`: the rule on given tables, and the command on report folders written
with the report writer (no TensorFlow, no interpreter)."""

import json

import pytest
from click.testing import CliRunner

from edgeseg.cli import main
from edgeseg.errors import ReportError
from edgeseg.reporting.select import choose
from edgeseg.reporting.tables import write_report

from conftest import minimal_tflite

TABLE = [  # configuration x delegate rows as the bench writes them
    {"artifact": "pta:LLL", "delegate": "gpu", "median_ms": "8.0", "miou": "0.50", "energy_mj_per_inference": "9.0", "status": "ok"},
    {"artifact": "pta:HLH", "delegate": "gpu", "median_ms": "10.5", "miou": "0.55", "energy_mj_per_inference": "12.0", "status": "ok"},
    {"artifact": "pta:HHH", "delegate": "gpu", "median_ms": "12.0", "miou": "0.58", "energy_mj_per_inference": "14.0", "status": "ok"},
    {"artifact": "pta:HHH", "delegate": "nnapi", "median_ms": "4.0", "miou": "", "status": "fallback"},
    {"artifact": "pta:BBB", "delegate": "gpu", "median_ms": "", "miou": "0.60", "status": "failed", "error": "boom"},
]


def chosen(rows, *args):
    c = choose(rows, *args)["chosen"]
    return (c["artifact"], c["delegate"]) if c else None


def test_best_quality_within_the_latency_budget():
    assert chosen(TABLE, 11.0) == ("pta:HLH", "gpu")
    assert chosen(TABLE, 12.0) == ("pta:HHH", "gpu")  # the budget is inclusive
    assert chosen(TABLE, 100.0) == ("pta:HHH", "gpu")  # BBB failed, nnapi has no quality
    assert chosen(TABLE, 7.9) is None


def test_energy_budget_and_why_not():
    res = choose(TABLE, 100.0, 12.5)
    assert (res["chosen"]["artifact"], res["chosen"]["delegate"]) == ("pta:HLH", "gpu")
    why = {(r["artifact"], r["delegate"]): r["why_not"] for r in res["rows"]}
    assert why[("pta:HHH", "gpu")] == "14.00 mJ > 12.5 mJ"
    assert "no energy measured" in why[("pta:HHH", "nnapi")] and "no quality" in why[("pta:HHH", "nnapi")]
    assert "failed" in why[("pta:BBB", "gpu")] and "no latency" in why[("pta:BBB", "gpu")]
    charging = [{**TABLE[0], "charging": "True"}]
    assert chosen(charging, 100.0) == ("pta:LLL", "gpu")
    assert chosen(charging, 100.0, 50.0) is None  # energy measured on the charger is not the model's


def test_ties_go_to_the_faster_row_and_bad_budget():
    rows = [{"artifact": "a:X", "delegate": "cpu", "median_ms": 9.0, "miou": 0.5, "status": "ok"},
            {"artifact": "a:Y", "delegate": "cpu", "median_ms": 7.0, "miou": 0.5, "status": "ok"}]
    assert chosen(rows, 10.0) == ("a:Y", "cpu")
    with pytest.raises(ReportError):
        choose(rows, 0)


def fake_artifact(folder, signatures, quality):
    """A file the artifact check accepts (a minimal valid flatbuffer), with a PTA manifest."""
    art = folder / "pta_64x64_int8_LLL-HHH.tflite"
    art.write_bytes(minimal_tflite())
    art.with_suffix(".json").write_text(json.dumps({
        "name": art.stem, "recipe": "int8",
        "pta": {"signatures": signatures, "configs": {s: {"file": f"{art.stem}_{s}.tflite"} for s in signatures}},
        "quality": {"camvid:val": {"signatures": {s: {"miou": q} for s, q in quality.items()}}}}))
    return art


def test_select_command_reads_reports_of_the_named_device(tmp_path):
    art = fake_artifact(tmp_path, ["LLL", "HHH"], {"LLL": 0.50, "HHH": 0.56})
    reports = tmp_path / "reports"

    def rows(device, lll, hhh):
        return [{"artifact": f"{art.stem}:LLL", "recipe": "int8", "device": device, "delegate": "xnnpack",
                 "median_ms": lll, "status": "ok"},
                {"artifact": f"{art.stem}:HHH", "recipe": "int8", "device": device, "delegate": "xnnpack",
                 "median_ms": hhh, "status": "ok"}]

    write_report(reports, "bench_pixel", rows("Pixel 7", 6.0, 9.0), [], run_info={"device": {"profile": "pixel", "model": "Pixel 7"}})
    write_report(reports, "bench_host", rows("host", 20.0, 30.0), [], run_info={"device": {"name": "host"}})
    r = CliRunner().invoke(main, ["select", str(art), "--device", "pixel", "--budget-ms", "10", "--report", str(reports)])
    assert r.exit_code == 0, r.output
    assert f"selected: {art.stem}:HHH on xnnpack: mIoU 0.5600, 9.00 ms" in r.output
    r = CliRunner().invoke(main, ["select", str(art), "--device", "host", "--budget-ms", "25", "--report", str(reports),
                                  "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["chosen"]["artifact"] == f"{art.stem}:LLL" and res["chosen"]["quality_source"] == "manifest (camvid:val)"
    r = CliRunner().invoke(main, ["select", str(art), "--device", "host", "--budget-ms", "5", "--report", str(reports)])
    assert r.exit_code == 1 and "fastest measured" in r.output and "20.00 ms" in r.output
    r = CliRunner().invoke(main, ["select", str(art), "--device", "dimensity", "--budget-ms", "5", "--report", str(reports)])
    assert r.exit_code == 1 and "edgeseg bench" in r.output  # nothing measured there: says what to run


def test_select_newest_report_wins(tmp_path):
    art = fake_artifact(tmp_path, ["LLL", "HHH"], {"LLL": 0.50, "HHH": 0.56})
    reports = tmp_path / "reports"
    for name, ms in (("old", 30.0), ("new", 8.0)):
        (reports / f"2026010{1 if name == 'old' else 2}T000000Z_bench_host").mkdir(parents=True)
        folder = write_report(tmp_path / "tmp", name, [{"artifact": f"{art.stem}:HHH", "recipe": "int8", "device": "host",
                                                        "delegate": "xnnpack", "median_ms": ms, "status": "ok"}], [],
                              run_info={"device": {"name": "host"}})
        target = reports / f"2026010{1 if name == 'old' else 2}T000000Z_bench_host"
        target.rmdir()
        folder.rename(target)
    r = CliRunner().invoke(main, ["select", str(art), "--device", "host", "--budget-ms", "10", "--report", str(reports)])
    assert r.exit_code == 0 and "8.00 ms" in r.output, r.output
