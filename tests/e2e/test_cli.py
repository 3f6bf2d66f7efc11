"""CLI: exact error texts for bad inputs, and no TensorFlow import where none is needed."""

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import save

from edgeseg.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


NO_TF_PROBE = r"""
import sys
from click.testing import CliRunner
from edgeseg.cli import main
r = CliRunner()
for args in {args!r}:
    res = r.invoke(main, args)
    assert res.exit_code in (0, 1, 2), (args, res.output, res.exception)
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))
print('LOADED', loaded)
"""


def test_light_commands_do_not_import_tensorflow(tmp_path, segnet_dataset):
    args = [
        ["--help"],
        ["data", "--help"],
        ["train", "--help"],
        ["quantize", "--help"],
        ["bench", "--help"],
        ["quickstart", "--help"],
        ["data", "synth", str(tmp_path / "s"), "--count", "2", "--size", "16x16"],
        ["data", "inspect", str(segnet_dataset)],
        ["bench", str(tmp_path / "nope.tflite")],
        ["devices", "list"],
        ["devices", "show", "pixel"],
        ["deploy", "--help"],
        ["report", str(tmp_path)],
        ["info", str(tmp_path), "--delegates"],
    ]  # refused before TensorFlow loads (it took 30 s)
    out = subprocess.run(
        [sys.executable, "-c", NO_TF_PROBE.format(args=args)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout


def test_version_and_help():
    res = run("--version")
    assert res.exit_code == 0 and "edgeseg, version" in res.output
    assert "quickstart" in run("--help").output


def test_inspect_missing_dataset():
    res = run("data", "inspect", "/nonexistent/ds")
    assert res.exit_code == 1
    assert res.output == "Error: dataset folder /nonexistent/ds does not exist\n"


def test_inspect_prints_classes_and_shares(segnet_dataset):
    res = run("data", "inspect", str(segnet_dataset))
    assert res.exit_code == 0, res.output
    assert "layout   segnet (index masks, ignore index 11)" in res.output
    assert "images   train 3, val 2" in res.output
    assert "sign_symbol" in res.output and "<ignore>" in res.output


def test_bad_size_option():
    res = run("data", "synth", "/tmp/x", "--size", "192by320")
    assert res.exit_code == 2
    assert "size '192by320' is not HxW, e.g. 192x320 (height x width)" in res.output


def test_bench_rejects_non_tflite(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"<html>404 not found</html>")
    res = run("bench", str(bad), "--device", "host")
    assert res.exit_code == 1
    assert res.output.startswith(
        f"Error: {bad} is not a TFLite model (no 'TFL3' identifier in its first 8 bytes, 26 bytes long)"
    )


def test_quantize_needs_a_recipe(tmp_path):
    res = run("quantize", str(tmp_path))
    assert res.exit_code == 2
    assert "choose a recipe: --float32, --dynamic, --float16, --int8, --int16x8 or --qat" in res.output


def test_quantize_on_a_folder_that_is_not_a_run(tmp_path):
    res = run("quantize", str(tmp_path), "--int8")
    assert res.exit_code == 1
    assert (
        res.output
        == f"Error: {tmp_path} is not a training run (no config.json); train one with `edgeseg train --out {tmp_path}`\n"
    )


def test_train_refuses_to_overwrite_a_run(tmp_path, segnet_dataset):
    (tmp_path / "config.json").write_text("{}")
    res = run("train", "--data", str(segnet_dataset), "--out", str(tmp_path), "--epochs", "1")
    assert res.exit_code == 1
    assert "already holds a run; pass --resume to continue it, or choose another --out" in res.output


@pytest.mark.e2e
def test_train_with_bad_mask_names_the_file(tmp_path, segnet_dataset):
    save(segnet_dataset / "trainannot" / "img0.png", np.full((8, 12), 40, np.uint8), mode="L")
    res = run(
        "train", "--data", str(segnet_dataset), "--out", str(tmp_path / "r"), "--input-size", "16x16", "--epochs", "1"
    )
    assert res.exit_code == 1
    assert "trainannot/img0.png has class id(s) [40] outside the class list (0-10 and ignore index 11)" in res.output
    assert not (tmp_path / "r").exists()
