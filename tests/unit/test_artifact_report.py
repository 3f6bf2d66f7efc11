"""Artifact checks, manifest, CSV schema and atomic report folders."""

import csv
import json
from pathlib import Path

import pytest

from edgeseg.artifact import check_tflite_file, read_manifest, verify_manifest, write_manifest
from edgeseg.errors import ArtifactError, ReportError
from edgeseg.fileio import atomic_write_csv
from edgeseg.reporting.schema import LATENCY_COLUMNS, SUMMARY_COLUMNS, class_column, quality_columns
from edgeseg.reporting.tables import ReportFolder, format_table, read_report, summarize, write_report


def _fake_tflite(path, size=64):
    data = bytearray(size)
    data[0:4] = (16).to_bytes(4, "little")
    data[4:8] = b"TFL3"
    path.write_bytes(bytes(data))
    return path


def test_check_tflite_file_rejects_garbage_and_truncation(tmp_path):
    (tmp_path / "x.tflite").write_bytes(b"PK\x03\x04 not a model at all")
    with pytest.raises(ArtifactError, match=r"is not a TFLite model \(no 'TFL3' identifier"):
        check_tflite_file(tmp_path / "x.tflite")
    t = bytearray(_fake_tflite(tmp_path / "t.tflite").read_bytes())
    t[0:4] = (1000).to_bytes(4, "little")
    (tmp_path / "t.tflite").write_bytes(bytes(t))
    with pytest.raises(ArtifactError, match=r"is truncated \(64 bytes, root table at offset 1000\)"):
        check_tflite_file(tmp_path / "t.tflite")
    with pytest.raises(ArtifactError, match="does not exist"):
        check_tflite_file(tmp_path / "missing.tflite")


def test_manifest_round_trip_and_checksum(tmp_path):
    art = _fake_tflite(tmp_path / "m.tflite")
    m = write_manifest(art, model="resunet", recipe="int8", classes=["a", "b"])
    assert read_manifest(art) == m
    assert m.name == "m" and m.size_bytes == 64 and len(m.sha256) == 64
    verify_manifest(art, m)
    art.write_bytes(art.read_bytes() + b"x")
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        verify_manifest(art, m)
    with pytest.raises(ValueError, match="unknown manifest field"):
        write_manifest(art, colour="red")
    (tmp_path / "m.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="is not valid JSON"):
        read_manifest(art)


def test_quality_columns_follow_schema():
    cols = quality_columns(["road", "Sign Symbol"])
    assert cols[:3] == ("artifact", "recipe", "dataset")
    assert cols[-2:] == ("iou_road", "iou_Sign Symbol")  # the name as the dataset gives it: it reads back unchanged
    assert class_column("a-b c") == "iou_a-b c"


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from edgeseg.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o644
        os.chmod(tmp_path / "a.txt", 0o600)
        atomic_write_text(tmp_path / "a.txt", "y")  # an existing file keeps its mode
        assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o600
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_csv_writer_refuses_unknown_columns(tmp_path):
    with pytest.raises(ValueError):
        atomic_write_csv(tmp_path / "x.csv", ["a"], [{"a": 1, "b": 2}])
    assert not (tmp_path / "x.csv").exists()


def test_summary_ratios_are_to_float32_in_the_same_report():
    lat = [
        {
            "artifact": "m_float32",
            "recipe": "float32",
            "device": "host",
            "delegate": "xnnpack",
            "median_ms": 40.0,
            "status": "ok",
        },
        {
            "artifact": "m_int8",
            "recipe": "int8",
            "device": "host",
            "delegate": "xnnpack",
            "median_ms": 10.0,
            "status": "fallback",
        },
        {
            "artifact": "m_bad",
            "recipe": "int8",
            "device": "host",
            "delegate": "gpu",
            "status": "failed",
            "error": "boom",
        },
    ]
    q = [
        {"artifact": "m_float32", "recipe": "float32", "miou": 0.5},
        {"artifact": "m_int8", "recipe": "int8", "miou": 0.495},
    ]
    rows = summarize(lat, q, sizes={"m_int8": 2048})
    by = {r["artifact"]: r for r in rows}
    assert by["m_int8"]["latency_vs_float32"] == pytest.approx(0.25)
    assert by["m_int8"]["miou_delta_vs_float32"] == pytest.approx(-0.005)  # a fraction, as miou itself
    assert by["m_int8"]["size_kb"] == 2
    assert by["m_bad"]["latency_vs_float32"] is None and by["m_bad"]["error"] == "boom"


def test_summary_never_compares_across_models():
    lat = [
        {"artifact": "a_float32", "recipe": "float32", "device": "host", "delegate": "xnnpack", "median_ms": 40.0},
        {"artifact": "b_int8", "recipe": "int8", "device": "host", "delegate": "xnnpack", "median_ms": 10.0},
        {"artifact": "a_int8", "recipe": "int8", "device": "host", "delegate": "xnnpack", "median_ms": 20.0},
    ]
    q = [
        {"artifact": "a_float32", "recipe": "float32", "miou": 0.5},
        {"artifact": "b_int8", "recipe": "int8", "miou": 0.7},
    ]
    by = {r["artifact"]: r for r in summarize(lat, q)}
    assert by["a_int8"]["latency_vs_float32"] == pytest.approx(0.5)
    assert by["b_int8"]["latency_vs_float32"] is None and by["b_int8"]["miou_delta_vs_float32"] is None


def test_report_folder_is_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ReportFolder(tmp_path, "x") as rep:
            (rep.path / "latency.csv").write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    lat = [
        {
            "artifact": "a",
            "recipe": "float32",
            "device": "host",
            "delegate": "xnnpack",
            "median_ms": 1.5,
            "status": "ok",
        }
    ]
    final = write_report(tmp_path, "bench", lat, [], run_info={"command": "test"})
    assert final.name.endswith("_bench") and final.parent == tmp_path
    with open(final / "latency.csv") as fh:
        assert tuple(next(csv.reader(fh))) == LATENCY_COLUMNS
    with open(final / "summary.csv") as fh:
        assert tuple(next(csv.reader(fh))) == SUMMARY_COLUMNS
    assert json.loads((final / "run.json").read_text())["command"] == "test"
    rep = read_report(final)
    assert rep["latency"][0]["median_ms"] == "1.5"
    assert [p.name for p in tmp_path.iterdir()] == [final.name]  # no temp folder left
    with pytest.raises(ReportError, match="not an edgeseg report folder"):
        read_report(tmp_path)


def test_format_table_aligns_and_marks_missing():
    text = format_table([{"a": 1.23456, "b": None}, {"a": "x", "b": "2.5"}], ["a", "b"])
    lines = text.splitlines()
    assert lines[0].split() == ["a", "b"] and lines[2].split() == ["1.23", "-"] and lines[3].split() == ["x", "2.50"]


# -- the honest report: units, per-class IoU, noisy rows, every column kept ---------------------


def _bench_folder(tmp_path, name="bench"):
    lat = [
        {
            "artifact": "m_float32",
            "recipe": "float32",
            "device": "host",
            "delegate": "xnnpack",
            "median_ms": 40.0,
            "p90_ms": 41.0,
            "status": "ok",
            "threads": 2,
        },
        {
            "artifact": "m_int8",
            "recipe": "int8",
            "device": "host",
            "delegate": "xnnpack",
            "median_ms": 150.0,
            "p90_ms": 230.0,
            "status": "ok",
            "threads": 2,
        },
    ]
    q = [
        {
            "artifact": "m_float32",
            "recipe": "float32",
            "dataset": "lanes",
            "split": "val",
            "miou": 0.6756,
            "per_class_iou": {"background": 0.9, "dashed_line": 0.0, "main_lane": 0.8},
        },
        {
            "artifact": "m_int8",
            "recipe": "int8",
            "dataset": "lanes",
            "split": "val",
            "miou": 0.675,
            "per_class_iou": {"background": 0.9, "dashed_line": 0.0, "main_lane": 0.7982},
        },
    ]
    return write_report(
        tmp_path / "reports",
        name,
        lat,
        q,
        sizes={"m_float32": 8 * 1024 * 1024, "m_int8": 2 * 1024 * 1024},
        run_info={
            "bench": {
                "threads": 2,
                "runs": 50,
                "min_secs": 2,
                "load_before": [1.9, 1.5, 1.2],
                "load_after": [2.3, 1.6, 1.2],
            }
        },
    )


def test_miou_and_its_delta_share_one_unit_and_four_decimals(tmp_path):
    folder = _bench_folder(tmp_path)
    by = {r["artifact"]: r for r in read_report(folder)["summary"]}
    assert float(by["m_int8"]["miou_delta_vs_float32"]) == pytest.approx(-0.0006)  # not -0.06 "points"
    text = format_table(list(by.values()), ["artifact", "miou", "miou_delta_vs_float32", "size_kb", "noisy"])
    assert "m_int8     0.6750  -0.0006                2,048    yes" in text, text
    assert "m_float32  0.6756  -" in text


def test_zero_iou_classes_are_flagged_with_per_class_deltas(tmp_path):
    from edgeseg.reporting.tables import class_table

    folder = _bench_folder(tmp_path)
    rep = read_report(folder)
    assert {r["artifact"]: r["zero_iou_classes"] for r in rep["summary"]} == {
        "m_float32": "dashed_line",
        "m_int8": "dashed_line",
    }
    rows = {(r["artifact"], r["class"]): r for r in rep["per_class"]}
    assert float(rows[("m_int8", "main_lane")]["iou_delta_vs_float32"]) == pytest.approx(-0.0018)
    assert rows[("m_int8", "dashed_line")]["zero"] == "True" and rows[("m_float32", "background")]["zero"] == "False"
    cols, view = class_table(rep["per_class"])
    assert cols == ["class", "float32", "int8", "int8 - float32", "flag"]
    table = format_table(view, cols)
    assert "dashed_line  0.0000   0.0000  +0.0000         IoU 0 in float32, int8" in table, table


def test_noisy_rows_and_conditions_are_recorded(tmp_path):
    from edgeseg.reporting.tables import describe_conditions

    folder = _bench_folder(tmp_path)
    rep = read_report(folder)
    by = {r["artifact"]: r for r in rep["summary"]}
    assert by["m_int8"]["noisy"] == "True" and float(by["m_int8"]["spread"]) == pytest.approx(230 / 150, rel=1e-5)
    assert by["m_float32"]["noisy"] == "False"
    host = rep["run"]["host"]
    assert host["cpu"] and host["cpu_count"] >= 1 and len(host["load_average"]) == 3
    line = describe_conditions(rep["run"])
    assert "2 threads; load average (1 min) 1.90 before, 2.30 after on" in line and "at least 50 runs and 2 s" in line


def test_report_merge_keeps_every_table_and_column(tmp_path):
    from click.testing import CliRunner

    from edgeseg.cli import main

    folder = _bench_folder(tmp_path)
    res = CliRunner().invoke(main, ["report", str(folder), "--html", "--reports", str(tmp_path / "merged")])
    assert res.exit_code == 0, res.output
    out = Path(res.output.strip().splitlines()[-1].split("report: ")[1].split(" (")[0])
    assert {"quality.csv", "per_class.csv", "summary.csv", "latency.csv", "report.html"} <= {
        p.name for p in out.iterdir()
    }
    with open(folder / "quality.csv") as a, open(out / "quality.csv") as b:
        assert a.read() == b.read()
    summary = {r["artifact"]: r for r in read_report(out)["summary"]}
    assert float(summary["m_int8"]["size_kb"]) == 2048
    assert "0.6750" in res.output and "2,048" in res.output and "IoU 0 in float32, int8" in res.output
    assert (
        "note: 1 latency row(s) are noisy" in res.output
        and "note: Class(es) never predicted right (IoU 0)" in res.output
    )
    page = (out / "report.html").read_text()
    assert (
        "<th>size_kb</th>" in page and "2,048" in page and "Per-class IoU" in page and "IoU 0 in float32, int8" in page
    )
    assert "load average (1 min) 1.90 before, 2.30 after" in page


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace(",median_ms,", ",median,"), None),  # renamed column: kept, nothing required lost
        (
            lambda t: t.replace("artifact,recipe,device,delegate", "artifact,recipe,device,deleg"),
            "lacks the column(s) delegate",
        ),
        (lambda t: t.replace(",40,", ",fast,"), "line 2: median_ms is 'fast', not a number"),
        (lambda t: t.splitlines()[0][:30] + "\n", "lacks the column(s) delegate, status"),
        (lambda t: t + "m_x,int8,host\n", "line 4 has 3 fields but the header has"),
    ],
)
def test_report_refuses_malformed_csv_with_file_line_and_column(tmp_path, edit, message):
    from click.testing import CliRunner

    from edgeseg.cli import main

    folder = _bench_folder(tmp_path)
    lat = folder / "latency.csv"
    lat.write_text(edit(lat.read_text()))
    res = CliRunner().invoke(main, ["report", str(folder), "--reports", str(tmp_path / "merged")])
    if message is None:
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code == 1, res.output
    assert res.output.startswith(f"Error: {lat}") and message in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "merged").exists()


def _capture_figures(monkeypatch):
    from edgeseg.reporting import plots

    figures = []
    real = plots._plt

    def plt():
        module = real()

        class Keep:
            def __getattr__(self, name):
                return getattr(module, name)

            def close(self, fig):
                figures.append(fig)

        return Keep()

    monkeypatch.setattr(plots, "_plt", plt)
    return figures


def test_plots_have_legends_a_sane_miou_axis_and_no_overlapping_labels(tmp_path, monkeypatch):
    from edgeseg.reporting import plots

    figures = _capture_figures(monkeypatch)
    rows = [
        {
            "artifact": f"m_{r}",
            "recipe": r,
            "device": "host",
            "delegate": "xnnpack",
            "median_ms": ms,
            "p90_ms": p90,
            "miou": miou,
            "status": st,
            "noisy": str(p90 > 1.3 * ms),
        }
        for r, ms, p90, miou, st in (
            ("float32", 11.9, 15.1, 0.1628, "ok"),
            ("dynamic", 4.3, 8.1, 0.1620, "ok"),
            ("float16", 13.3, 19.0, 0.1626, "fallback"),
            ("int8", 5.4, 8.6, 0.1667, "ok"),
        )
    ]
    assert plots.latency_plot(rows, tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"
    assert plots.pareto_plot(rows, tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    latency, pareto = figures
    legend = [t.get_text() for t in latency.axes[0].get_legend().get_texts()]
    assert legend == [
        "ok: whole graph on the delegate",
        "fallback: part of the graph on the CPU",
        "noisy: p90 > 1.3 x median",
    ]
    ax = pareto.axes[0]
    lo, hi = ax.get_ylim()
    assert hi - lo >= plots.MIN_MIOU_SPAN_POINTS  # 0.5 points apart must not look like a cliff
    assert "(%, points)" in ax.get_ylabel()
    renderer = pareto.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    points = ax.transData.transform([(r["median_ms"], r["miou"] * 100) for r in rows])
    for box, own in zip(boxes, sorted(rows, key=lambda r: r["median_ms"])):
        others = [p for p, r in zip(points, rows) if r is not own]
        assert not any(box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1 for x, y in others)
