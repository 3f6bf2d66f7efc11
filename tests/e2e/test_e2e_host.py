"""End to end on a tiny model with real TensorFlow and the real LiteRT interpreter:
synth -> train -> quantize -> eval -> bench host -> report, plus resume after a kill."""

import csv
import json
import os
import re
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


def test_time_budget_smaller_than_an_epoch_trains_one_and_says_so(lanes, tmp_path):
    run = tmp_path / "budget"
    res = cli("train", "--data", lanes, "--out", run, "--time-budget", "1s", *TINY)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1"] and rows[0]["val_miou"]  # the last epoch is always validated
    assert int(rows[0]["images_seen"]) == 32  # 32 training scenes, batch 4: 8 steps
    assert "time budget 1 s: used" in res.output and "1 epochs, 32 training images seen" in res.output
    train = json.loads((run / "config.json").read_text())["train"]
    assert train["time_budget"] == "1s" and train["progressive"] is True  # on by default with a budget
    assert rows[0]["train_size"] == "64x96"  # setup spent the budget: past 65% of it, the one epoch is full size


def test_budgeted_schedule_ends_at_the_last_epoch_and_val_every_skips(lanes, tmp_path):
    """An hour's budget capped at 3 epochs: the cosine schedule's end follows the epochs that
    fit (here the cap), so the last epoch ends at the floor rate; --val-every 2 scores
    epoch 2 and the last, not epoch 1."""
    from edgeseg.training.recipe import FINAL_LR_FRACTION

    run = tmp_path / "budget3"
    args = ("--time-budget", "1h", "--epochs", "3", "--schedule", "cosine", "--warmup-epochs", "0", "--val-every", "2")
    args += ("--no-progressive",)
    res = cli("train", "--data", lanes, "--out", run, *args, *TINY)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [bool(r["val_miou"]) for r in rows] == [False, True, True]
    assert "epoch 1/3  loss" in res.output and "(not validated)" in res.output
    assert float(rows[-1]["lr"]) == pytest.approx(1e-3 * FINAL_LR_FRACTION, rel=0.05)
    assert float(rows[0]["lr"]) > 0.5e-3
    assert {r["train_size"] for r in rows} == {"64x96"}
    assert int(json.loads((run / "best.json").read_text())["epoch"]) in (2, 3)


def test_progressive_trains_small_first_and_validates_and_saves_at_full_size(lanes, tmp_path):
    """--progressive over 4 epochs: 0.5x for epochs 1-2 (fractions 0 and 0.25), 0.75x for
    epoch 3 (0.5; 48x72 rounded to the row's stride 16: 48x80), the full size for epoch 4, the only
    one validated. The saved weights are the full-size model's and load into it."""
    from edgeseg.run import load_run_model

    run = tmp_path / "progressive"
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "4", "--progressive", *TINY)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [r["train_size"] for r in rows] == ["32x48", "32x48", "48x80", "64x96"]
    assert [bool(r["val_miou"]) for r in rows] == [False, False, False, True]  # full-size epochs only
    assert "img/s at 32x48" in res.output and "img/s at 64x96" in res.output
    config = json.loads((run / "config.json").read_text())
    assert config["input_size"] == [64, 96] and config["train"]["progressive"] is True
    model, _ = load_run_model(run)
    assert tuple(model.input.shape[1:3]) == (64, 96)
    plain = tmp_path / "plain"
    assert cli("train", "--data", lanes, "--out", plain, "--epochs", "1", *TINY).exit_code == 0
    assert [r["train_size"] for r in csv.DictReader(open(plain / "history.csv"))] == ["64x96"]
    resumed = cli("train", "--data", lanes, "--out", run, "--resume", "--epochs", "5")
    assert resumed.exit_code == 0, resumed.output  # the run's own options, --progressive included, are reused
    assert [r["train_size"] for r in csv.DictReader(open(run / "history.csv"))][-1] == "64x96"


def test_int8_reuses_the_float32_conversion_of_the_same_weights(trained, lanes, tmp_path, monkeypatch):
    import shutil

    from edgeseg import api
    from edgeseg.quantize import ptq

    run = tmp_path / "run"
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns("artifacts", ".lock"))
    converted = []
    real = ptq.convert
    monkeypatch.setattr(ptq, "convert", lambda *a, **k: converted.append(a[2]) or real(*a, **k))
    monkeypatch.setattr(ptq, "_FLOAT32", {})

    def export(recipe):
        ptq._FLOAT32.clear()  # as a new process: only the artifact on disk can be reused
        notes = []
        cfg = api.ExportConfig(run=str(run), recipe=recipe, calib=str(lanes) if recipe == "int8" else None, lint=False)
        res = api.export(cfg, say=notes.append)
        return res, notes

    f32, _ = export("float32")
    assert converted == ["float32"] and f32.manifest.source_checkpoint_sha256
    int8, notes = export("int8")
    assert converted == ["float32"]  # no second conversion
    assert any("float32 conversion reused from" in n and Path(f32.artifact).name in n for n in notes), notes
    assert int8.manifest.ptq["tool"] == "aeq" and int8.manifest.input["dtype"] == "int8"

    # a float32 artifact whose manifest names other weights is not reused
    m = json.loads(Path(f32.artifact).with_suffix(".json").read_text())
    m["source_checkpoint_sha256"] = "0" * 64
    Path(f32.artifact).with_suffix(".json").write_text(json.dumps(m))
    Path(int8.artifact).unlink()
    Path(int8.artifact).with_suffix(".json").unlink()
    _, notes = export("int8")
    assert converted == ["float32", "float32"] and not notes


def test_int8_flow_eval_bench_report(trained, lanes, tmp_path):
    art = tmp_path / "tiny_int8.tflite"
    res = cli("quantize", trained, "--int8", "--calib", lanes, "--num-calib", "20", "--out", art)
    assert res.exit_code == 0, res.output
    assert res.output.count("only 20 calibration images") == 1  # the warning below 100, once
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
    res = cli(
        "bench",
        art,
        "--device",
        "host",
        "--runs",
        "5",
        "--min-secs",
        "0.1",
        "--delegate",
        "xnnpack,cpu",
        "--reports",
        reports,
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    rows = {r["delegate"]: r for r in out["rows"]}
    x = rows["xnnpack"]
    assert x["runs"] >= 5 and x["median_ms"] > 0 and x["init_ms"] > 0 and x["first_ms"] > 0
    # the default model is delegate-clean: the whole int8 graph in one XNNPACK partition
    assert x["delegated_ops"] == x["total_ops"] > 0 and x["partitions"] == 1 and x["status"] == "ok"
    assert rows["cpu"]["delegated_ops"] == 0 and rows["cpu"]["status"] == "ok"
    folder = Path(out["report"])
    assert {p.name for p in folder.iterdir()} == {
        "latency.csv",
        "quality.csv",
        "per_class.csv",
        "summary.csv",
        "run.json",
    }
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
    from edgeseg.run import load_run_model

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
        elif layer.__class__.__name__ == "Conv2DTranspose":  # every input pixel scatters a kh x kw x cout patch
            _, h, w, cin = layer.input.shape
            kh, kw, cout, _ = layer.kernel.shape
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
    cmd = [
        sys.executable,
        "-m",
        "edgeseg.cli",
        "train",
        "--data",
        str(lanes),
        "--out",
        str(run),
        "--epochs",
        "5",
        "--schedule",
        "cosine",
        *TINY,
    ]  # a decaying rate, to see the schedule continue after the resume
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
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "5", "--resume")  # the run's own options
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == before[0]  # the checkpointed epoch was not trained again
    # the resumed run continued the learning-rate schedule instead of restarting it
    lrs = [float(r["lr"]) for r in rows]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


# -- bad inputs that need a real run (issue: every bad input a clear error) -------------------------


def test_quantize_never_replaces_an_artifact_without_force(trained, lanes, tmp_path):
    art = tmp_path / "m_fp32.tflite"
    assert cli("quantize", trained, "--float32", "--out", art, "--no-lint").exit_code == 0
    assert cli("eval", art, "--data", lanes).exit_code == 0
    before = art.read_bytes(), art.with_suffix(".json").read_text()
    res = cli("quantize", trained, "--dynamic", "--out", art, "--no-lint")
    assert res.exit_code == 1
    assert res.output == (
        f"Error: {art} already exists (its manifest holds quality measured on lanes:val): pass "
        "--force to replace it, or --out NEW.tflite to keep both\n"
    )
    assert (art.read_bytes(), art.with_suffix(".json").read_text()) == before
    res = cli("quantize", trained, "--dynamic", "--out", art, "--no-lint", "--force")
    assert res.exit_code == 0 and json.loads(art.with_suffix(".json").read_text())["recipe"] == "dynamic"


def test_eval_checks_the_manifest_and_records_only_the_training_val_split(trained, lanes, tmp_path):
    art = tmp_path / "e_fp32.tflite"
    assert cli("quantize", trained, "--float32", "--out", art, "--no-lint").exit_code == 0
    manifest = json.loads(art.with_suffix(".json").read_text())
    assert manifest["training_data"] == {"root": str(lanes.resolve()), "val_split": "val"}
    res = cli("eval", art, "--data", lanes, "--split", "train")
    assert res.exit_code == 0
    assert (
        "note: split 'train' is not the validation data the model was trained with "
        f"({lanes.resolve()} [val]), so the manifest keeps its recorded quality; pass --record to store this "
        "result there"
    ) in res.output
    assert json.loads(art.with_suffix(".json").read_text())["quality"] == {}
    assert cli("eval", art, "--data", lanes, "--split", "train", "--record").exit_code == 0
    assert list(json.loads(art.with_suffix(".json").read_text())["quality"]) == ["lanes:train"]
    # a file that no longer matches its manifest is refused, and the manifest is left alone
    swapped = art.read_bytes()
    other = tmp_path / "o_fp32.tflite"
    assert cli("quantize", trained, "--dynamic", "--out", other, "--no-lint").exit_code == 0
    art.write_bytes(other.read_bytes())
    before = art.with_suffix(".json").read_text()
    res = cli("eval", art, "--data", lanes)
    assert res.exit_code == 1 and f"{art} does not match its manifest (sha256 " in res.output
    assert "the file changed after export; re-export it or delete the stale .json" in res.output
    assert art.with_suffix(".json").read_text() == before
    art.write_bytes(swapped)


def test_eval_of_a_classifier_is_a_clear_error(lanes, tmp_path):
    from edgeseg.config import import_keras
    from edgeseg.quantize.ptq import convert

    keras = import_keras()
    inp = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))
    art = tmp_path / "classifier.tflite"
    art.write_bytes(convert(model, (32, 32), "float32", head="probabilities"))
    res = cli("eval", art, "--data", lanes)
    assert res.exit_code == 1
    assert res.output == (
        f"Error: {art} outputs a tensor of shape [1, 10], not a segmentation map: edgeseg evaluates "
        "models whose output is per-pixel scores [1,32,32,C] or a class map [1,32,32] at the input "
        "size (32x32)\n"
    )


def test_resume_refuses_changed_options_and_reuses_the_runs_own(lanes, trained, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    res = cli(
        "train",
        "--data",
        lanes,
        "--out",
        run,
        "--epochs",
        "3",
        "--resume",
        "--lr",
        "0.01",
        "--augment",
        "flip",
        *TINY[:6],
    )
    assert res.exit_code == 1
    assert res.output.startswith(
        f"Error: cannot resume {run} with other training options (lr: run 0.001, this call "
        "0.01; augment: run 'flip,brightness,scale', this call 'flip'): a resumed run must "
        "train as it started. Leave those options out"
    ), res.output
    assert [r["epoch"] for r in csv.DictReader(open(run / "history.csv"))] == ["1", "2"]
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "3", "--resume")  # only the new epoch count
    assert res.exit_code == 0, res.output
    assert [r["epoch"] for r in csv.DictReader(open(run / "history.csv"))] == ["1", "2", "3"]
    assert json.loads((run / "config.json").read_text())["train"]["augment"] == "flip,brightness,scale"


def test_a_failed_train_leaves_no_run_behind(lanes, tmp_path):
    run = tmp_path / "r"
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "1", "--input-size", "66x96", "--depth", "2")
    assert res.exit_code == 1 and "input size 66x96 must be divisible by 2^depth = 4" in res.output
    assert not run.exists()  # no config.json that would refuse the corrected command
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "1", "--input-size", "8192x8192")
    assert res.exit_code == 1
    assert re.match(
        r"Error: training resunet at 8192x8192 with batch 8 needs about [\d.]+ GiB of memory but this "
        r"machine has [\d.]+ GiB available: lower --input-size or --batch\n",
        res.output,
    ), res.output
    assert not run.exists()
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "1", *TINY)  # the corrected command just works
    assert res.exit_code == 0, res.output


def test_full_disk_is_refused_up_front_and_a_failed_write_leaves_no_temp_file(lanes, tmp_path, monkeypatch):
    import errno
    import shutil as sh

    from edgeseg.training import loop, resources

    real = sh.disk_usage
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda p: real(p)._replace(free=3 * 1024 * 1024))
    run = tmp_path / "r"
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "1", *TINY)
    assert res.exit_code == 1
    assert re.match(
        rf"Error: not enough free disk space in {tmp_path}(/r)? for the checkpoints of {run}: about [\d,]+ MB "
        r"needed, 3 MB free; free some space and train again\n",
        res.output,
    ), res.output
    assert not run.exists()
    monkeypatch.setattr(resources.shutil, "disk_usage", real)

    def no_space(model, path):
        tmp = path.with_name(f".tmp-{path.name}")
        try:
            tmp.write_bytes(b"half a weights file")
            raise OSError(errno.ENOSPC, "No space left on device")
        finally:
            tmp.unlink(missing_ok=True)  # as _save_weights_atomic does

    monkeypatch.setattr(loop, "_save_weights_atomic", no_space)
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "1", *TINY)
    assert res.exit_code == 1
    assert res.output.endswith(
        f"Error: writing the best weights of {run} failed (No space left on device); free "
        f"some space and continue with `edgeseg train ... --out {run} --resume`\n"
    ), res.output
    assert not [p for p in run.iterdir() if p.name.startswith(".tmp")]


def test_quantize_on_a_full_disk_is_a_clear_error(trained, tmp_path, monkeypatch):
    import errno

    from edgeseg.quantize import ptq

    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ptq, "atomic_write_bytes", no_space)
    art = tmp_path / "full.tflite"
    res = cli("quantize", trained, "--float32", "--out", art, "--no-lint")
    assert res.exit_code == 1
    assert res.output.endswith(
        f"Error: cannot write {art} (No space left on device); free some space or choose "
        "another --out, then run again\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_says_how_to_resume(lanes, tmp_path):
    run = tmp_path / "interrupted"
    cmd = [
        sys.executable,
        "-m",
        "edgeseg.cli",
        "train",
        "--data",
        str(lanes),
        "--out",
        str(run),
        "--epochs",
        "20",
        *TINY,
    ]
    # SIGINT back to its default in the child: a test run started in the background of a shell
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.time() + 240
        while not (run / "ckpt" / "checkpoint").is_file():
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "no epoch finished in time"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # stops within a step or two, not after the epoch
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    done = len(list(csv.DictReader(open(run / "history.csv"))))
    assert (
        f"Error: interrupted; {run} keeps {done} finished epoch(s): `edgeseg train ... --out {run} --resume` "
        f"continues from epoch {done + 1} (the last finished epoch is {done})" in err
    )
    assert "Traceback" not in err


# -- ahead-of-time compilation for NPU SoCs (LiteRT compiler plugins) ----------------------------

needs_openvino = pytest.mark.skipif(
    __import__("importlib").util.find_spec("openvino") is None,
    reason="openvino is not installed (pip install -e '.[test]' installs it)",
)


@needs_openvino
def test_compile_for_intel_then_eval_the_compiled_model(trained, lanes, tmp_path):
    art = tmp_path / "m_int8.tflite"
    assert (
        cli("quantize", trained, "--int8", "--calib", lanes, "--num-calib", "20", "--out", art, "--no-lint").exit_code
        == 0
    )
    res = cli("compile", art, "--soc", "LNL", "--json")
    assert res.exit_code == 0, res.output
    (c,) = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])["compiled"]
    compiled = Path(c["artifact"])
    assert compiled == tmp_path / "m_int8_IntelOpenVINO_LNL.tflite" and compiled.stat().st_size > art.stat().st_size
    m = json.loads(compiled.with_suffix(".json").read_text())["compiled"]
    assert m["soc"] == "LNL" and m["vendor"] == "intel_openvino" and m["sdk"].startswith("openvino ")
    assert m["ops_compiled"] == m["ops_total"] > 0 and m["partitions"] == 1 and m["ops_left_on_cpu"] == {}
    assert m["options"] == {"intel_openvino_graph_backends": "cpu"} and m["source_sha256"]
    # the plain interpreter cannot run it; eval goes through CompiledModel and validates one inference
    src = json.loads(cli("eval", art, "--data", lanes, "--json").output)
    out = json.loads(cli("eval", compiled, "--data", lanes, "--json").output)
    assert out["backend"].startswith("ai_edge_litert CompiledModel (IntelOpenVINO")
    print(f"int8 mIoU {src['miou']:.4f}, compiled for LNL (OpenVINO CPU) {out['miou']:.4f}")
    assert abs(out["miou"] - src["miou"]) <= 0.005  # within half a point
    again = cli("compile", art, "--soc", "LNL")
    assert again.exit_code == 1 and "already exists" in again.output


def test_compile_for_mediatek_without_its_sdk_writes_nothing(trained, lanes, tmp_path):
    import glob
    import tempfile

    art = tmp_path / "m_fp32.tflite"
    assert cli("quantize", trained, "--float32", "--out", art, "--no-lint").exit_code == 0
    before_tmp = set(glob.glob(os.path.join(tempfile.gettempdir(), "*")))
    files = sorted(p.name for p in tmp_path.iterdir())
    res = cli("compile", art, "--soc", "MT6989")
    assert res.exit_code == 1
    assert res.output.startswith(
        "Error: compiling for MediaTek MT6989 (Dimensity 9300) needs the MediaTek NeuroPilot "
        "SDK (libneuron_adapter.so), which is not installed here ("
    )
    assert (
        "With network access: pip install ai-edge-litert-sdk-mediatek (it downloads the SDK from the vendor at "
        "install time). With a local copy of the SDK: LD_LIBRARY_PATH=/path/to/neuro_pilot/v8_0_10/host/lib "
        "edgeseg compile ... --soc MT6989. Nothing was written"
    ) in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # no 0-byte *_apply_plugin.tflite
    leftovers = set(glob.glob(os.path.join(tempfile.gettempdir(), "*"))) - before_tmp
    assert not [p for p in leftovers if p.endswith(".error") or "tempdir_dla" in p or "edgeseg-aot" in p]
    typo = cli("compile", art, "--soc", "MT6998")
    assert typo.exit_code == 1 and "no SoC 'MT6998' in LiteRT's target table; did you mean MT6993" in typo.output
