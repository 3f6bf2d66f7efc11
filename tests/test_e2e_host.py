"""End to end on a tiny model with real TensorFlow and the real LiteRT interpreter:
synth -> train -> quantize -> eval -> bench host -> report, plus resume after a kill."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeseg.cli import main

pytestmark = pytest.mark.e2e

TINY = ["--input-size", "64x96", "--depth", "2", "--base", "8", "--batch", "4", "--augment", "flip,brightness,scale"]


def cli(*args):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return res


@pytest.fixture(scope="module")
def lanes(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "lanes"
    res = cli("data", "synth", out, "--count", "40", "--size", "64x96", "--seed", "1")
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def trained(lanes):
    run = lanes.parent / "run"
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "2", *TINY)
    assert res.exit_code == 0, res.output
    return run


def test_train_writes_run(trained):
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["model"] == "resunet" and cfg["input_size"] == [64, 96] and len(cfg["classes"]) == 6
    rows = list(csv.DictReader(open(trained / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert 0 <= float(rows[-1]["val_miou"]) <= 1
    for f in ("best.weights.h5", "last.weights.h5", "best.json"):
        assert (trained / f).is_file()


def test_int8_flow_eval_bench_report(trained, lanes, tmp_path):
    art = tmp_path / "tiny_int8.tflite"
    res = cli("quantize", trained, "--int8", "--calib", lanes, "--num-calib", "20", "--out", art)
    assert res.exit_code == 0, res.output
    assert "only 20 calibration images" in res.output  # warning below 100
    manifest = json.loads(art.with_suffix(".json").read_text())
    assert manifest["recipe"] == "int8" and manifest["input"]["dtype"] == "int8"
    assert manifest["calibration"]["count"] == 20 and manifest["classes"][1] == "main_lane"

    res = cli("eval", art, "--data", lanes, "--json")
    assert res.exit_code == 0, res.output
    q = json.loads(res.output)
    assert q["images"] == 8 and 0 <= q["miou"] <= 1 and q["backend"] == "ai_edge_litert"
    assert set(q["per_class_iou"]) == set(manifest["classes"])
    assert json.loads(art.with_suffix(".json").read_text())["quality"]["lanes:val"]["miou"] == pytest.approx(q["miou"])

    reports = tmp_path / "reports"
    res = cli("bench", art, "--device", "host", "--runs", "5", "--min-secs", "0.1", "--delegate", "xnnpack,cpu",
              "--reports", reports, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    rows = {r["delegate"]: r for r in out["rows"]}
    x = rows["xnnpack"]
    assert x["runs"] >= 5 and x["median_ms"] > 0 and x["init_ms"] > 0 and x["first_ms"] > 0
    assert 0 < x["delegated_ops"] < x["total_ops"] and x["partitions"] >= 1 and x["status"] == "fallback"
    assert rows["cpu"]["delegated_ops"] == 0 and rows["cpu"]["status"] == "ok"
    folder = Path(out["report"])
    assert {p.name for p in folder.iterdir()} == {"latency.csv", "quality.csv", "summary.csv", "run.json"}
    summary = list(csv.DictReader(open(folder / "summary.csv")))
    assert float(summary[0]["miou"]) == pytest.approx(q["miou"], abs=1e-5)


def test_keras_and_float32_artifact_agree(trained, lanes, tmp_path):
    art = tmp_path / "tiny_fp32.tflite"
    assert cli("quantize", trained, "--float32", "--out", art).exit_code == 0
    k = json.loads(cli("eval", trained, "--data", lanes, "--json").output)
    f = json.loads(cli("eval", art, "--data", lanes, "--json").output)
    assert k["backend"] == "tf_keras"
    assert f["miou"] == pytest.approx(k["miou"], abs=2e-3)


def test_macs_match_the_conv_layers(trained, tmp_path):
    from edgeseg.train.loop import load_run_model

    res = cli("info", trained, "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    model, _ = load_run_model(trained)
    expect = 0
    for layer in model.layers:
        if layer.__class__.__name__ == "Conv2D":
            _, h, w, cout = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            expect += h * w * kh * kw * cin * cout
    assert info["macs"] == expect
    assert info["ops"]["CONV_2D"] == sum(1 for layer in model.layers if layer.__class__.__name__ == "Conv2D")


def test_too_few_calibration_images(trained, tmp_path):
    from conftest import save

    for i in range(3):
        save(tmp_path / "few" / f"{i}.png", np.zeros((10, 10, 3), np.uint8))
    res = cli("quantize", trained, "--int8", "--calib", tmp_path / "few", "--out", tmp_path / "x.tflite")
    assert res.exit_code == 1
    assert f"found 3 calibration image(s) in {tmp_path / 'few'}; calibration needs at least 8" in res.output
    assert not (tmp_path / "x.tflite").exists()


def test_eval_refuses_a_dataset_with_other_classes(trained, segnet_dataset, tmp_path):
    art = tmp_path / "fp32.tflite"
    assert cli("quantize", trained, "--dynamic", "--out", art).exit_code == 0
    res = cli("eval", art, "--data", segnet_dataset)
    assert res.exit_code == 1 and "predicts 6 classes but" in res.output and "has 11" in res.output


def test_killed_run_resumes_from_last_finished_epoch(lanes, tmp_path):
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "edgeseg.cli", "train", "--data", str(lanes), "--out", str(run), "--epochs", "5", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if (run / "ckpt" / "checkpoint").is_file():  # epoch 1 finished and checkpointed
                break
            if proc.poll() is not None:
                pytest.fail("training exited before the first epoch ended")
            time.sleep(0.2)
        else:
            pytest.fail("no epoch finished in time")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = list(csv.DictReader(open(run / "history.csv")))
    done_before = len(before)
    assert done_before < 5, "the run finished before it could be killed; test is not meaningful"
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "5", "--resume", *TINY)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == before[0]  # the checkpointed epoch was not trained again
    # the resumed run continued the learning-rate schedule instead of restarting it
    lrs = [float(r["lr"]) for r in rows]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
