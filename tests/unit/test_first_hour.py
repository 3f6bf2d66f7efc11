"""Issue 25, class 9: a new user's first hour. The arm64 board's setup run by a Python without
edgeseg's venv says so in one line; a profile whose python the device lacks fails before the
first row naming the key to set (the "Testing without a phone" recipe died with `sh: python3:
not found` on every row); a command that failed after starting the adb server still says it
started it."""

import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from conftest import minimal_tflite

from edgeseg.cli import main
from edgeseg.errors import DeviceError

ROOT = Path(__file__).resolve().parents[2]


def test_arm64_board_setup_without_the_venv_says_to_use_it(tmp_path):
    """Before: `PackageNotFoundError: ai-edge-litert` with a traceback (after checking qemu)."""
    cache = tmp_path / "cache"
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / "benchmarks/arm64_board.py"), "--cache", str(cache), "setup"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out
    assert out.stderr.strip().splitlines() == [
        f"error: ai-edge-litert is not installed for {sys.executable}: run this with the Python of edgeseg's "
        "venv, `.venv/bin/python benchmarks/arm64_board.py setup` (the board gets the venv's versions)"
    ]
    assert not cache.exists()


def test_a_python_the_device_lacks_is_one_error_before_any_row(tmp_path):
    from edgeseg.device.profiles import parse_profile
    from edgeseg.device.runners import check_python

    path = tmp_path / "loop.toml"
    profile = parse_profile({"runner": "python"}, "loop", path)
    asked = []

    def shell(cmd, timeout=None):
        asked.append(cmd)
        return SimpleNamespace(text="")  # `command -v python3` prints nothing: not found

    with pytest.raises(DeviceError) as exc:
        check_python(SimpleNamespace(profile=profile, shell=shell))
    assert asked == ["command -v python3"]
    assert str(exc.value).startswith(
        f"the profile's python (python3) is not on the device's PATH: set python = \"/path/to/python3\" in {path}"
    )
    check_python(
        SimpleNamespace(profile=profile, shell=lambda c, timeout=None: SimpleNamespace(text="/usr/bin/python3"))
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("adb") is None, reason="needs Google's adb")
def test_a_failed_deploy_that_started_the_adb_server_says_so(tmp_path, monkeypatch):
    """Before: only a successful deploy or bench (and devices list) said it; with no phone the
    command failed and left the server running unsaid."""
    port = _free_port()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    monkeypatch.delenv("ADB_SERVER_SOCKET", raising=False)
    monkeypatch.delenv("ANDROID_ADB_SERVER_ADDRESS", raising=False)
    art = tmp_path / "m.tflite"
    art.write_bytes(minimal_tflite())
    try:
        res = CliRunner().invoke(main, ["deploy", str(art), "--device", "pixel"])
    finally:
        subprocess.run(["adb", "-P", str(port), "kill-server"], capture_output=True, timeout=30)
    assert res.exit_code == 1, res.output
    assert f"note: started the adb server (`adb fork-server`, port {port})" in res.output
    assert res.output.count("note: started the adb server") == 1
    assert "Error: no device is attached to the adb server" in res.output


def test_an_http_server_on_the_adb_port_is_named_not_hex_dumped(tmp_path):
    """Before: "bad ADB header 485454502f312e3120343030... (not an adbd, or the stream lost sync)"."""
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    prof = tmp_path / "web.toml"
    prof.write_text(f'transport = "tcp"\naddress = "127.0.0.1:{port}"\n')
    try:
        res = CliRunner().invoke(main, ["devices", "show", str(prof), "--probe", "--adb-key", str(tmp_path / "adbkey")])
    finally:
        srv.close()
    assert res.exit_code == 1, res.output
    assert "an HTTP server ('HTTP/1.1 400 Bad Request') answered, not an adbd" in res.output, res.output
    assert "bad ADB header" not in res.output and "Traceback" not in res.output


def test_a_folder_holding_only_the_test_split_is_a_dataset(tmp_path):
    """Issue 25, item 9: `test/` + `testannot/` alone were "not a dataset", even with --split
    test. It is a SegNet dataset with one split; a command that needs another split names it."""
    from click.testing import CliRunner

    from edgeseg.cli import main
    from edgeseg.data.formats import open_dataset
    from edgeseg.errors import DataError

    root = tmp_path / "d"
    assert CliRunner().invoke(main, ["data", "synth", str(root), "--count", "10", "--size", "32x48"]).exit_code == 0
    (root / "train").rename(root / "test")
    (root / "trainannot").rename(root / "testannot")
    for name in ("val", "valannot"):
        for f in (root / name).iterdir():
            f.unlink()
        (root / name).rmdir()
    ds = open_dataset(root)
    assert (
        ds.layout == "segnet" and set(ds.splits) == {"test"} and len(ds.samples("test")) == 8
    )  # the train share of 10 scenes
    with pytest.raises(DataError, match=r"has no 'val' split; splits found: test \(8\)"):
        ds.samples("val")  # what train and eval --split val say (train: before it reads anything)
    res = CliRunner().invoke(main, ["data", "inspect", str(root), "--json"])
    assert res.exit_code == 0 and '"test"' in res.output


def test_the_emulated_board_has_no_phone_conditions_to_print(tmp_path):
    """Issue 25, item 9: the arm64 board printed a phone's battery (80%) and CPU clock (2.85 GHz)
    that the loopback sandbox made up. A board sandbox has no battery, cpufreq, thermal or
    dumpsys: the conditions line reads nothing it does not have."""
    from adbd import PhoneSandbox

    board = PhoneSandbox(tmp_path / "board", shell="host", board=True)
    assert not (board.root / "sys/class/power_supply").exists()
    assert not (board.root / "sys/devices/system/cpu").exists() and not (board.root / "system/bin/dumpsys").exists()
    phone = PhoneSandbox(tmp_path / "phone", shell="host")
    assert (phone.root / "sys/class/power_supply/battery/capacity").read_text().strip() == "80"
