"""Bad inputs end in one clear error (exit status and exact text) and leave nothing behind.

Fast tests: no training step runs here (those are in test_e2e_host.py)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgeseg.cli import main

from conftest import save


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# -- option ranges and combinations ------------------------------------------------------------


def test_quantize_recipes_are_mutually_exclusive(tmp_path):
    res = run("quantize", tmp_path, "--int8", "--float16")
    assert res.exit_code == 2
    assert ("Error: --float16 and --int8 are mutually exclusive: one recipe per call (run `edgeseg quantize` once "
            "per recipe)") in res.output


def test_qat_refuses_calibration_options(tmp_path):
    res = run("quantize", tmp_path, "--qat", "--num-calib", "50")
    assert res.exit_code == 2
    assert ("--num-calib calibrate the PTQ recipes; --qat learns its int8 ranges during the fine-tune and uses no "
            "calibration set") in res.output
    res = run("quantize", tmp_path, "--float16", "--calib", tmp_path)
    assert res.exit_code == 2
    assert "--float16 needs no calibration: --calib/--num-calib are for --int8 and --int16x8" in res.output


@pytest.mark.parametrize("args, message", [
    (["train", "--lr", "-1"], "Invalid value for '--lr': -1.0 is not in the range x>0."),
    (["train", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
    (["train", "--decay", "1.5"], "Invalid value for '--decay': 1.5 is not in the range 0<x<=1."),
    (["quantize", "RUN", "--int8", "--max-drop", "-1"], "Invalid value for '--max-drop': -1.0 is not in the range x>=0."),
    (["quantize", "RUN", "--qat", "--lr", "0"], "Invalid value for '--lr': 0.0 is not in the range x>0."),
    (["eval", "RUN", "--data", "D", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
])
def test_out_of_range_values_are_usage_errors(tmp_path, args, message):
    args = [str(tmp_path) if a in ("RUN", "D") else a for a in args]
    if args[0] == "train":
        args += ["--data", str(tmp_path), "--out", str(tmp_path / "r")]
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "r").exists()


def test_dice_with_class_weights_is_refused(tmp_path, segnet_dataset):
    res = run("train", "--data", segnet_dataset, "--out", tmp_path / "r", "--loss", "dice", "--class-weights")
    assert res.exit_code == 2
    assert ("--class-weights weights the cross-entropy of --loss ce or ce_dice, and --loss dice does not use them: "
            "use --loss ce or --loss ce_dice with --class-weights, or drop --class-weights") in res.output
    assert not (tmp_path / "r").exists()


# -- artifacts ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_truncated_and_random_tflite_give_the_same_kind_of_error(tiny_tflite, tmp_path):
    data = tiny_tflite.read_bytes()
    check = run("bench", tiny_tflite, "--device", "host", "--runs", "1", "--min-secs", "0", "--no-report")
    assert check.exit_code == 0, check.output  # the whole file is fine
    for frac in (0.5, 0.9, 0.99):
        cut = tmp_path / f"cut{int(frac * 100)}.tflite"
        cut.write_bytes(data[: int(len(data) * frac)])
        res = run("bench", cut, "--device", "host", "--no-report")
        assert res.exit_code == 1, (frac, res.output)
        assert res.output.startswith(f"Error: {cut} is truncated or corrupt ({cut.stat().st_size} bytes: "), res.output
        assert res.output.rstrip().endswith("; copy or export it again")
        res = run("eval", cut, "--data", tmp_path)
        assert res.exit_code == 1 and "is truncated or corrupt" in res.output
    noise = tmp_path / "noise.tflite"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())
    res = run("bench", noise, "--device", "host", "--no-report")
    assert res.exit_code == 1
    assert res.output.startswith(f"Error: {noise} is not a TFLite model (no 'TFL3' identifier in its first 8 bytes")


def test_unknown_delegate_is_a_usage_error_with_the_nearest_name(tmp_path, tiny_tflite_bytes):
    art = tmp_path / "m.tflite"
    art.write_bytes(tiny_tflite_bytes)
    res = run("bench", art, "--device", "host", "--delegate", "xnnpak", "--reports", tmp_path / "r")
    assert res.exit_code == 2
    assert "Error: Invalid value for --delegate: the host has no delegate 'xnnpak' (did you mean 'xnnpack'?); it has " \
           "xnnpack, cpu" in res.output
    res = run("bench", art, "--device", "pixel", "--delegate", "npu", "--reports", tmp_path / "r")
    assert res.exit_code == 2 and "profile 'pixel' has no delegate 'npu'" in res.output
    assert not (tmp_path / "r").exists()


# -- datasets -------------------------------------------------------------------------------------


def test_synth_refuses_a_folder_with_another_dataset(tmp_path):
    out = tmp_path / "lanes"
    assert run("data", "synth", out, "--count", "3", "--size", "16x16").exit_code == 0
    toml = (out / "dataset.toml").read_text()
    again = run("data", "synth", out, "--count", "3", "--size", "16x16")  # the same synthesis: resumable
    assert again.exit_code == 0, again.output
    res = run("data", "synth", out, "--count", "3", "--size", "32x32")
    assert res.exit_code == 1
    assert res.output == (f"Error: {out} already holds a dataset (synthetic lane scenes: edgeseg data synth --count 3 "
                          "--size 16x16 --seed 0 --val-fraction 0.2 --format png): pass --force to replace its "
                          "dataset, or choose an empty folder\n")
    assert (out / "dataset.toml").read_text() == toml  # untouched
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.txt").write_text("mine")
    res = run("data", "synth", tmp_path / "photos", "--count", "3", "--size", "16x16")
    assert res.exit_code == 1 and "already holds 1 entries" in res.output
    res = run("data", "synth", out, "--count", "4", "--size", "32x32", "--force")
    assert res.exit_code == 0, res.output
    from PIL import Image

    sizes = {Image.open(p).size for p in (out / "train").iterdir()} | {Image.open(p).size for p in (out / "val").iterdir()}
    assert sizes == {(32, 32)} and len(list((out / "train").iterdir())) == 3


def test_inspect_runs_the_training_checks_and_names_every_bad_file(segnet_dataset):
    save(segnet_dataset / "trainannot" / "img0.png", np.full((8, 12), 40, np.uint8), mode="L")
    save(segnet_dataset / "valannot" / "img1.png", np.zeros((4, 4), np.uint8), mode="L")
    (segnet_dataset / "train" / "img2.png").write_bytes(b"not a png")
    res = run("data", "inspect", segnet_dataset)
    assert res.exit_code == 1
    lines = res.output.splitlines()
    bad = [ln for ln in lines if ln.startswith("bad file: ")]
    assert len(bad) == 3
    assert any("trainannot/img0.png has class id(s) [40] outside the class list" in ln for ln in bad)
    assert any("valannot/img1.png is 4x4 (WxH) but its image is 12x8" in ln for ln in bad)
    assert any("cannot read image" in ln and "train/img2.png" in ln for ln in bad)
    assert lines[-1] == (f"Error: 3 bad file(s) in {segnet_dataset}: `edgeseg train` stops at the first; fix or remove "
                         "them, or train with --skip-bad to leave them out")
    res = run("data", "inspect", segnet_dataset, "--json")
    assert res.exit_code == 1
    assert len(json.loads(res.output[: res.output.rindex("}") + 1])["bad_files"]) == 3


# -- what a piped or CI log shows -----------------------------------------------------------------


def test_progress_in_a_pipe_is_plain_lines():
    import io

    from edgeseg.progress import bar

    stream = io.StringIO()
    progress = bar(stream=stream, every_s=0.0)
    assert list(progress(range(3), desc="calibrate", total=3)) == [0, 1, 2]
    lines = stream.getvalue().splitlines()
    assert lines[:3] == ["calibrate 1/3 (0 s)", "calibrate 2/3 (0 s)", "calibrate 3/3 (0 s)"]
    assert "\r" not in stream.getvalue()


def test_training_steps_in_a_pipe_and_on_a_terminal():
    import io

    from edgeseg.progress import StepReporter

    piped = io.StringIO()
    rep = StepReporter(piped, every_s=0.0, tty=False)
    rep.batch({"epoch": 1, "epochs": 2, "batch": 5, "steps": 40, "loss": 0.5})
    rep.line("epoch 1/2  loss 0.5000")
    assert piped.getvalue() == "epoch 1/2  batch 5/40  loss 0.5000\nepoch 1/2  loss 0.5000\n"
    term = io.StringIO()
    rep = StepReporter(term, tty=True)
    rep.batch({"epoch": 1, "epochs": 2, "batch": 1, "steps": 40, "loss": 0.5})
    rep.line("epoch 1/2  loss 0.5000")
    before, _, after = term.getvalue().rpartition("epoch 1/2  loss 0.5000")
    assert after == "\n" and before.endswith("\r")  # the bar was cleared: the summary starts its own line


@pytest.mark.e2e
def test_no_native_log_noise_without_verbose(tiny_tflite, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "edgeseg.cli", "info", str(tiny_tflite), "--delegates"]
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "XNNPACK delegate" not in quiet.stderr and quiet.stderr == ""
    assert "Created TensorFlow Lite XNNPACK delegate" in (tmp_path / "cache/edgeseg/native.log").read_text()
    loud = subprocess.run(cmd[:3] + ["-v"] + cmd[3:], capture_output=True, text=True, timeout=300, env=env)
    assert "Created TensorFlow Lite XNNPACK delegate" in loud.stderr


CRASH_AFTER_SETUP = """
import ctypes, os, sys
from edgeseg import cli
def crash(*a, **k):
    os.write(2, b"Fatal glibc error: malloc assertion failure (simulated)\\n")  # what a native crash prints
    ctypes.string_at(0)
cli.data_inspect.callback = crash
sys.argv = ["edgeseg", "data", "inspect", "somewhere"]
cli.main()
"""


def test_a_native_crash_still_reaches_the_terminal(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-c", CRASH_AFTER_SETUP], capture_output=True, text=True, timeout=120,
                         env=env)
    assert res.returncode < 0 or res.returncode >= 128  # killed by the signal
    assert "Fatal glibc error: malloc assertion failure (simulated)" in res.stderr
    assert "malloc assertion failure" in (tmp_path / "cache/edgeseg/native.log").read_text()
