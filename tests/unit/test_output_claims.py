"""Concurrent writers (issue 25, class 6): every file edgeseg writes in place (an artifact and
its manifest from quantize and compile) is claimed for one process before any work, with the
run lock's pattern (edgeseg.fileio.FileLock on ``.STEM.lock`` beside it). A second writer
fails at once with one line naming the holder's pid; the claim ends with the export, leaving
no lock file and no folder it created. Before, two `edgeseg quantize` into one --out both
reported success and the second replaced the first without --force."""

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import minimal_tflite

from edgeseg.cli import main

HOLD = """
import sys
from edgeseg.fileio import FileLock
lock = FileLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


def holder(lock_path: Path) -> subprocess.Popen:
    """Another process holding the claim's lock until its stdin closes."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock_path)], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def a_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"edgeseg_version": "0.3.0", "model": "resunet", "input_size": [32, 48], "classes": ["a", "b"]}
    (run / "config.json").write_text(json.dumps({**cfg, "model_config": {}}))
    return run


def test_a_second_quantize_into_one_out_fails_at_once_naming_the_holder(tmp_path):
    run, out = a_run(tmp_path), tmp_path / "new" / "m.tflite"
    (tmp_path / "new").mkdir()
    proc = holder(tmp_path / "new" / ".m.lock")
    try:
        res = CliRunner().invoke(main, ["quantize", str(run), "--float32", "--out", str(out), "--force"])
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert res.exit_code == 1, res.output
    assert res.output.strip().splitlines() == [
        f"Error: --out {out} is being written by another edgeseg (process {proc.pid}, holding "
        f"{tmp_path / 'new' / '.m.lock'}): wait for it to finish, or write to another file"
    ]
    assert not out.exists() and not (tmp_path / "new" / "m.json").exists()
    # the holder is gone (its lock with it): the next run gets past the claim to the run's own
    # problem, and leaves neither the (stale) lock file nor the folders it made
    res = CliRunner().invoke(main, ["quantize", str(run), "--float32", "--out", str(tmp_path / "a" / "b" / "m.tflite")])
    assert res.exit_code == 1 and "best.weights.h5 is missing" in res.output, res.output
    assert not (tmp_path / "a").exists()


def test_a_second_compile_of_one_artifact_fails_naming_the_holder(tmp_path):
    art = tmp_path / "m.tflite"
    art.write_bytes(minimal_tflite())
    proc = holder(tmp_path / ".m_MediaTek_MT6989.lock")
    try:
        res = CliRunner().invoke(main, ["compile", str(art), "--soc", "MT6989"])
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert res.exit_code == 1, res.output
    assert f"is being written by another edgeseg (process {proc.pid}, holding" in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "m_MediaTek_MT6989.tflite").exists()


def test_a_claim_is_held_again_by_its_process_and_released_with_its_export(tmp_path):
    from edgeseg.fileio import claim_file, claim_path, claims_released

    out = tmp_path / "x" / "y" / "m.tflite"
    with claims_released():
        claim_file(out)
        claim_file(out)  # this process again: no error
        assert claim_path(out).is_file() and claim_path(out).read_text().strip() == str(os.getpid())
    assert not (tmp_path / "x").exists()
