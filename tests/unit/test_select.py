"""`edgeseg select`: the rule on given tables, and the command on report folders written
with the report writer (no TensorFlow, no interpreter)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import minimal_tflite

from edgeseg.cli import main
from edgeseg.errors import ReportError
from edgeseg.reporting.select import choose
from edgeseg.reporting.tables import write_report

TABLE = [  # configuration x delegate rows as the bench writes them
    {
        "artifact": "pta:LLL",
        "delegate": "gpu",
        "median_ms": "8.0",
        "miou": "0.50",
        "energy_mj_per_inference": "9.0",
        "status": "ok",
    },
    {
        "artifact": "pta:HLH",
        "delegate": "gpu",
        "median_ms": "10.5",
        "miou": "0.55",
        "energy_mj_per_inference": "12.0",
        "status": "ok",
    },
    {
        "artifact": "pta:HHH",
        "delegate": "gpu",
        "median_ms": "12.0",
        "miou": "0.58",
        "energy_mj_per_inference": "14.0",
        "status": "ok",
    },
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
    rows = [
        {"artifact": "a:X", "delegate": "cpu", "median_ms": 9.0, "miou": 0.5, "status": "ok"},
        {"artifact": "a:Y", "delegate": "cpu", "median_ms": 7.0, "miou": 0.5, "status": "ok"},
    ]
    assert chosen(rows, 10.0) == ("a:Y", "cpu")
    with pytest.raises(ReportError):
        choose(rows, 0)


def fake_artifact(folder, signatures, quality):
    """A file the artifact check accepts (a minimal valid flatbuffer), with a PTA manifest."""
    art = folder / "pta_64x64_int8_LLL-HHH.tflite"
    art.write_bytes(minimal_tflite())
    art.with_suffix(".json").write_text(
        json.dumps(
            {
                "name": art.stem,
                "recipe": "int8",
                "pta": {
                    "signatures": signatures,
                    "configs": {s: {"file": f"{art.stem}_{s}.tflite"} for s in signatures},
                },
                "quality": {"camvid:val": {"signatures": {s: {"miou": q} for s, q in quality.items()}}},
            }
        )
    )
    return art


def test_select_command_reads_reports_of_the_named_device(tmp_path):
    art = fake_artifact(tmp_path, ["LLL", "HHH"], {"LLL": 0.50, "HHH": 0.56})
    reports = tmp_path / "reports"

    def rows(device, lll, hhh):
        return [
            {
                "artifact": f"{art.stem}:LLL",
                "recipe": "int8",
                "device": device,
                "delegate": "xnnpack",
                "median_ms": lll,
                "status": "ok",
            },
            {
                "artifact": f"{art.stem}:HHH",
                "recipe": "int8",
                "device": device,
                "delegate": "xnnpack",
                "median_ms": hhh,
                "status": "ok",
            },
        ]

    write_report(
        reports,
        "bench_pixel",
        rows("Pixel 7", 6.0, 9.0),
        [],
        run_info={"device": {"profile": "pixel", "model": "Pixel 7"}},
    )
    write_report(reports, "bench_host", rows("host", 20.0, 30.0), [], run_info={"device": {"name": "host"}})
    r = CliRunner().invoke(
        main, ["select", str(art), "--device", "pixel", "--budget-ms", "10", "--report", str(reports)]
    )
    assert r.exit_code == 0, r.output
    assert f"selected: {art.stem}:HHH on xnnpack: mIoU 0.5600, 9.00 ms" in r.output
    r = CliRunner().invoke(
        main, ["select", str(art), "--device", "host", "--budget-ms", "25", "--report", str(reports), "--json"]
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["chosen"]["artifact"] == f"{art.stem}:LLL" and res["chosen"]["quality_source"] == "manifest (camvid:val)"
    r = CliRunner().invoke(main, ["select", str(art), "--device", "host", "--budget-ms", "5", "--report", str(reports)])
    assert r.exit_code == 1 and "fastest measured" in r.output and "20.00 ms" in r.output
    r = CliRunner().invoke(
        main, ["select", str(art), "--device", "dimensity", "--budget-ms", "5", "--report", str(reports)]
    )
    assert r.exit_code == 1 and "edgeseg bench" in r.output  # nothing measured there: says what to run


def test_select_newest_report_wins(tmp_path):
    art = fake_artifact(tmp_path, ["LLL", "HHH"], {"LLL": 0.50, "HHH": 0.56})
    reports = tmp_path / "reports"
    for name, ms in (("old", 30.0), ("new", 8.0)):
        (reports / f"2026010{1 if name == 'old' else 2}T000000Z_bench_host").mkdir(parents=True)
        folder = write_report(
            tmp_path / "tmp",
            name,
            [
                {
                    "artifact": f"{art.stem}:HHH",
                    "recipe": "int8",
                    "device": "host",
                    "delegate": "xnnpack",
                    "median_ms": ms,
                    "status": "ok",
                }
            ],
            [],
            run_info={"device": {"name": "host"}},
        )
        target = reports / f"2026010{1 if name == 'old' else 2}T000000Z_bench_host"
        target.rmdir()
        folder.rename(target)
    r = CliRunner().invoke(
        main, ["select", str(art), "--device", "host", "--budget-ms", "10", "--report", str(reports)]
    )
    assert r.exit_code == 0 and "8.00 ms" in r.output, r.output


# -- several devices in one report (issue 21: `edgeseg bench ART --device pixel --device dimensity`)


SWEEP_DEVICES = [
    {"label": "pixel", "profile": "pixel", "model": "Pixel 7", "serial": "PIX1", "soc": "Google Tensor G2"},
    {"label": "dimensity", "profile": "dimensity", "model": "Redmi Note", "serial": "MTK9", "soc": "MediaTek"},
]


def sweep_report(reports, art, timings, power=()):
    """One report of a multi-device sweep as `edgeseg bench` writes it: rows with the device
    column (the label), serial and model; run.json's device holds each device under devices."""
    rows = [
        {
            "artifact": f"{art.stem}:{sig}",
            "recipe": "int8",
            "device": d["label"],
            "serial": d["serial"],
            "model": d["model"],
            "soc": d["soc"],
            "delegate": "gpu",
            "median_ms": ms,
            "status": "ok",
        }
        for d in SWEEP_DEVICES
        for sig, ms in timings[d["label"]].items()
    ]
    info = {
        "profile": "+".join(d["label"] for d in SWEEP_DEVICES),
        "name": f"{len(SWEEP_DEVICES)} devices",
        "devices": SWEEP_DEVICES,
    }
    return write_report(reports, "bench_pixel+dimensity", rows, [], power=list(power), run_info={"device": info})


def select_cli(art, reports, device, *extra):
    return CliRunner().invoke(main, ["select", str(art), "--device", device, "--report", str(reports), *extra])


@pytest.fixture
def sweep(tmp_path):
    """pixel meets a 10 ms budget with HHH (9 ms); dimensity's fastest is 14 ms."""
    art = fake_artifact(tmp_path, ["LLL", "HHH"], {"LLL": 0.50, "HHH": 0.56})
    reports = tmp_path / "reports"
    sweep_report(reports, art, {"pixel": {"LLL": 6.0, "HHH": 9.0}, "dimensity": {"LLL": 14.0, "HHH": 20.0}})
    return art, reports


def test_a_named_device_picks_only_its_own_rows_of_a_sweep(sweep):
    art, reports = sweep
    for name in ("pixel", "Pixel 7", "PIX1"):  # the row's device column, or that device's model or serial
        r = select_cli(art, reports, name, "--budget-ms", "10", "--json")
        assert r.exit_code == 0, (name, r.output)
        res = json.loads(r.output)
        assert {row["device"] for row in res["rows"]} == {"pixel"}, name
        assert (res["chosen"]["artifact"], float(res["chosen"]["median_ms"])) == (f"{art.stem}:HHH", 9.0)
        assert "devices" not in res  # the single-device shape
    r = select_cli(art, reports, "Redmi Note", "--budget-ms", "15", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert {row["device"] for row in res["rows"]} == {"dimensity"} and float(res["chosen"]["median_ms"]) == 14.0
    r = select_cli(art, reports, "dimensity", "--budget-ms", "10")
    assert r.exit_code == 1 and "fastest measured" in r.output and "14.00 ms" in r.output and "6.00" not in r.output


def test_the_sweeps_own_name_is_no_device(sweep):
    """run.json's top-level device (\"2 devices\", \"pixel+dimensity\") names the sweep, not a device
    whose rows could be mixed with the other's."""
    art, reports = sweep
    for name in ("2 devices", "pixel+dimensity"):
        r = select_cli(art, reports, name, "--budget-ms", "10")
        assert r.exit_code == 1 and "no measured rows" in r.output and "edgeseg bench" in r.output, (name, r.output)


def test_device_all_gives_one_verdict_per_device(sweep, tmp_path):
    art, reports = sweep
    write_report(
        reports,
        "bench_host",
        [
            {
                "artifact": f"{art.stem}:LLL",
                "recipe": "int8",
                "device": "host",
                "delegate": "xnnpack",
                "median_ms": 30.0,
                "status": "ok",
            }
        ],
        [],
        run_info={"device": {"name": "host"}},
    )
    r = select_cli(art, reports, "all", "--budget-ms", "10", "--json")
    assert r.exit_code == 1, r.output  # nothing fits on dimensity (nor the host)
    res = json.loads(r.output[: r.output.rindex("}") + 1])
    by = {d["device"]: d for d in res["devices"]}
    assert list(by) == ["dimensity", "host", "pixel"]
    assert (by["pixel"]["chosen"]["artifact"], by["pixel"]["chosen"]["delegate"]) == (f"{art.stem}:HHH", "gpu")
    assert {row["device"] for row in by["pixel"]["rows"]} == {"pixel"} and len(by["pixel"]["rows"]) == 2
    assert by["pixel"]["why_not"] is None
    assert by["dimensity"]["chosen"] is None and "14.00 ms" in by["dimensity"]["why_not"]
    assert "30.00 ms" in by["host"]["why_not"] and len(res["reports"]) == 2
    assert res["chosen"] is None and len(res["rows"]) == 5 and res["device"] == "all"

    from edgeseg import api  # the Python twin gives the same

    py = api.select(api.SelectConfig(artifact=str(art), device="all", budget_ms=10, reports=str(reports)))
    assert json.loads(json.dumps(py.to_dict(), default=str)) == res and not py.ok
    assert [d["device"] for d in py.devices] == ["dimensity", "host", "pixel"]
    assert py.no_fit_message().startswith("on dimensity: no configuration fits the budget (fastest measured: ")

    r = select_cli(art, reports, "all", "--budget-ms", "15")  # the text view: one table row and one line per device
    assert r.exit_code == 1, r.output
    table = [ln.split() for ln in r.output.splitlines() if ln.split()[:1] in (["pixel"], ["dimensity"], ["host"])]
    assert [t[0] for t in table] == ["dimensity", "host", "pixel"]
    assert table[0][1:3] == [f"{art.stem}:LLL", "gpu"] and table[2][1:3] == [f"{art.stem}:HHH", "gpu"]
    assert table[0][3:6] == ["14.00", "-", "0.5000"] and table[2][3:6] == ["9.00", "-", "0.5600"]
    assert table[1][1:4] == ["-", "-", "-"] and " ".join(table[1][6:]).startswith("no configuration fits the budget")
    assert "on 3 device(s), budget 15 ms on each" in r.output
    assert "error: on host: no configuration fits the budget" in r.output
    r = select_cli(art, reports, "all", "--budget-ms", "50")
    assert r.exit_code == 0 and "error" not in r.output, r.output


def test_device_all_without_rows_says_what_to_run(tmp_path):
    art = fake_artifact(tmp_path, ["LLL"], {"LLL": 0.5})
    reports = tmp_path / "reports"
    write_report(
        reports,
        "bench_host",
        [
            {
                "artifact": "other_int8",
                "recipe": "int8",
                "device": "host",
                "delegate": "xnnpack",
                "median_ms": 3.0,
                "status": "ok",
            }
        ],
        [],
        run_info={"device": {"name": "host"}},
    )
    r = select_cli(art, reports, "all", "--budget-ms", "10")
    assert r.exit_code == 1 and f"no measured rows for {art.stem} on any device" in r.output
    assert f"`edgeseg bench {art} --device NAME` first" in r.output.replace("\n", "")


def test_energy_of_a_sweep_is_each_devices_own(tmp_path):
    """Power rows are joined on the device too: the dimensity row measured on the charger does
    not make the pixel row's energy unusable, nor the other way round."""
    art = fake_artifact(tmp_path, ["HHH"], {"HHH": 0.56})
    reports = tmp_path / "reports"
    power = [
        {
            "artifact": f"{art.stem}:HHH",
            "device": "pixel",
            "delegate": "gpu",
            "energy_mj_per_inference": 5.0,
            "charging": False,
            "status": "ok",
        },
        {
            "artifact": f"{art.stem}:HHH",
            "device": "dimensity",
            "delegate": "gpu",
            "energy_mj_per_inference": 6.0,
            "charging": True,
            "status": "ok",
        },
    ]
    sweep_report(reports, art, {"pixel": {"HHH": 9.0}, "dimensity": {"HHH": 8.0}}, power)
    r = select_cli(art, reports, "all", "--budget-ms", "10", "--energy-budget-mj", "7", "--json")
    res = json.loads(r.output[: r.output.rindex("}") + 1])
    by = {d["device"]: d for d in res["devices"]}
    assert by["pixel"]["chosen"] and float(by["pixel"]["chosen"]["energy_mj_per_inference"]) == 5.0, r.output
    assert by["dimensity"]["chosen"] is None and "charging" in by["dimensity"]["rows"][0]["why_not"]


def test_a_name_of_two_devices_is_an_error_and_merged_reports_keep_each_device(tmp_path):
    """Two pixels of one profile in a sweep (labels pixel@SERIAL): the profile names both, the
    label or serial one; a merged report (`edgeseg report`) answers with each run's devices."""
    from edgeseg.reporting.compose import compose

    art = fake_artifact(tmp_path, ["HHH"], {"HHH": 0.56})
    pixels = [{"label": f"pixel@{s}", "profile": "pixel", "model": "Pixel 7", "serial": s} for s in ("A1", "B2")]
    rows = [
        {
            "artifact": f"{art.stem}:HHH",
            "recipe": "int8",
            "device": p["label"],
            "delegate": "gpu",
            "median_ms": ms,
            "status": "ok",
        }
        for p, ms in zip(pixels, (9.0, 12.0))
    ]
    folder = write_report(
        tmp_path / "sweeps",
        "bench_pixel",
        rows,
        [],
        run_info={"device": {"profile": "pixel@A1+pixel@B2", "name": "2 devices", "devices": pixels}},
    )
    for reports in (folder, Path(compose([str(folder)], str(tmp_path / "merged"), False)["report"])):
        r = select_cli(art, reports, "pixel", "--budget-ms", "10")
        assert r.exit_code == 1 and "'pixel' names 2 devices" in r.output and "pixel@A1, pixel@B2" in r.output
        for name, ms in (("B2", "12.00 ms"), ("pixel@A1", "9.00 ms")):
            r = select_cli(art, reports, name, "--budget-ms", "20")
            assert r.exit_code == 0 and ms in r.output, (reports, name, r.output)
