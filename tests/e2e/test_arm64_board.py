"""The emulated arm64 board (benchmarks/arm64_board.py): the exact artifact run by LiteRT's
aarch64 wheel (its aarch64 XNNPACK kernels) under qemu-user, served by the loopback ADB daemon
as a Linux board with the Python runner, scored against the host's x86 interpreter on the same
frames. Needs the cached arm64 root (`.venv/bin/python benchmarks/arm64_board.py setup`); skipped
without it. Slow: about half a minute per 192x256 frame under emulation on a loaded CPU."""

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeseg.cli import main

HERE = Path(__file__).resolve().parents[1]  # tests/: the shared doubles
CACHE = Path(os.environ.get("EDGESEG_ARM64_CACHE", "~/.cache/edgeseg/arm64-board")).expanduser()
WRAPPER = CACHE / "bin" / "python3-aarch64"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (WRAPPER.exists() and (CACHE / "root/proc/cpuinfo").exists()),
        reason=f"no cached arm64 root at {CACHE} (run `.venv/bin/python benchmarks/arm64_board.py setup`; "
        "needs root, mmdebstrap and qemu-user-static)",
    ),
]


@pytest.fixture
def board(tmp_path):
    sys.path.insert(0, str(HERE))
    from adbd import AdbDaemon

    d = AdbDaemon(tmp_path / "board", shell="host", board=True)
    (d.sandbox.root / "system/bin" / "python3-aarch64").symlink_to(WRAPPER)
    d.start()
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    yield d
    os.environ.pop("ADB_KEY_PATH", None)
    d.stop()


def test_aarch64_xnnpack_under_qemu_scores_like_the_host(board, tmp_path):
    from edgeseg.device.profiles import load_profile

    text = (HERE.parent / "devices/arm64-qemu.toml").read_text().replace("127.0.0.1:15555", f"127.0.0.1:{board.port}")
    prof = tmp_path / "arm64-qemu.toml"
    prof.write_text(text)
    assert load_profile(str(prof)).python == "python3-aarch64"
    runner = CliRunner()
    data = tmp_path / "lanes"
    assert runner.invoke(main, ["data", "synth", str(data), "--count", "8", "--size", "32x48"]).exit_code == 0
    res = runner.invoke(
        main,
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--epochs",
            "1",
            "--input-size",
            "32x48",
            "--depth",
            "2",
            "--base",
            "4",
            "--batch",
            "4",
        ],
    )
    assert res.exit_code == 0, res.output
    art = tmp_path / "tiny_float32.tflite"
    res = runner.invoke(main, ["quantize", str(tmp_path / "run"), "--float32", "--no-lint", "--out", str(art)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main,
        [
            "eval",
            str(art),
            "--device",
            str(prof),
            "--delegate",
            "xnnpack",
            "--data",
            str(data),
            "--frames",
            "2",
            "--reports",
            str(tmp_path / "reports"),
            "--json",
        ],
        catch_exceptions=False,
    )
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    rows = {(r["where"], r["delegate"]): r for r in out["rows"]}
    dev, host = rows[("device", "xnnpack")], rows[("host", "xnnpack")]
    print(
        f"arm64 (qemu) xnnpack: mIoU {dev['miou']} vs host {host['miou']}, agreement {dev['argmax_agreement']}, "
        f"max |diff| {dev['max_abs_diff']}"
    )
    assert res.exit_code == 0, res.output
    assert dev["status"] == "ok" and dev["backend"] == "python-runner"
    assert abs(dev["miou"] - host["miou"]) <= 0.01 and dev["argmax_agreement"] >= 0.99
    assert dev["max_abs_diff"] < 1e-3  # float32: the aarch64 kernels differ from x86's in rounding only
