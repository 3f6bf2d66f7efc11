"""Artifact checks, manifest, CSV schema and atomic report folders."""

import csv
import json

import pytest

from edgeseg.errors import ArtifactError, ReportError
from edgeseg.fileio import atomic_write_csv
from edgeseg.quantize.artifact import check_tflite_file, read_manifest, verify_manifest, write_manifest
from edgeseg.report.schema import LATENCY_COLUMNS, SUMMARY_COLUMNS, class_column, quality_columns
from edgeseg.report.tables import ReportFolder, format_table, read_report, summarize, write_report


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
    assert m["name"] == "m" and m["size_bytes"] == 64 and len(m["sha256"]) == 64
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
    assert cols[-2:] == ("iou_road", "iou_sign_symbol")
    assert class_column("a-b c") == "iou_a_b_c"


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
        {"artifact": "m_float32", "recipe": "float32", "device": "host", "delegate": "xnnpack", "median_ms": 40.0, "status": "ok"},
        {"artifact": "m_int8", "recipe": "int8", "device": "host", "delegate": "xnnpack", "median_ms": 10.0, "status": "fallback"},
        {"artifact": "m_bad", "recipe": "int8", "device": "host", "delegate": "gpu", "status": "failed", "error": "boom"},
    ]
    q = [{"artifact": "m_float32", "recipe": "float32", "miou": 0.5}, {"artifact": "m_int8", "recipe": "int8", "miou": 0.495}]
    rows = summarize(lat, q, sizes={"m_int8": 2048})
    by = {r["artifact"]: r for r in rows}
    assert by["m_int8"]["latency_vs_float32"] == pytest.approx(0.25)
    assert by["m_int8"]["miou_delta_vs_float32"] == pytest.approx(-0.5)
    assert by["m_int8"]["size_kb"] == 2
    assert by["m_bad"]["latency_vs_float32"] is None and by["m_bad"]["error"] == "boom"


def test_summary_never_compares_across_models():
    lat = [
        {"artifact": "a_float32", "recipe": "float32", "device": "host", "delegate": "xnnpack", "median_ms": 40.0},
        {"artifact": "b_int8", "recipe": "int8", "device": "host", "delegate": "xnnpack", "median_ms": 10.0},
        {"artifact": "a_int8", "recipe": "int8", "device": "host", "delegate": "xnnpack", "median_ms": 20.0},
    ]
    q = [{"artifact": "a_float32", "recipe": "float32", "miou": 0.5}, {"artifact": "b_int8", "recipe": "int8", "miou": 0.7}]
    by = {r["artifact"]: r for r in summarize(lat, q)}
    assert by["a_int8"]["latency_vs_float32"] == pytest.approx(0.5)
    assert by["b_int8"]["latency_vs_float32"] is None and by["b_int8"]["miou_delta_vs_float32"] is None


def test_report_folder_is_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ReportFolder(tmp_path, "x") as rep:
            (rep.path / "latency.csv").write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    lat = [{"artifact": "a", "recipe": "float32", "device": "host", "delegate": "xnnpack", "median_ms": 1.5, "status": "ok"}]
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
