"""Phones attached to another machine's adb server (issue 21), through adb's conventions: a
profile's ``adb_server``, ``--adb-server``, ADB_SERVER_SOCKET, ANDROID_ADB_SERVER_ADDRESS.
The lab is Debian's adb server listening on all interfaces, reached at 127.0.0.2 (another
loopback address), serving two loopback daemons. Also: a serial that matches no attached
device fails at once, listing them; `devices show --probe` says when it started a server."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from adbd import AdbDaemon
from click.testing import CliRunner

from edgeseg.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("adb") is None, reason="Debian's adb is not installed")]
ADB = shutil.which("adb")
LAB_HOST = "127.0.0.2"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(host, port, secs=20):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {host}:{port}")


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """Debian's adb server on all interfaces (`adb -a -P PORT nodaemon server`: `-L tcp:127.0.0.2:PORT`
    is refused, "listening on specified hostname currently unsupported"), two phones attached."""
    home = tmp_path / "lab-home"
    home.mkdir()
    port = free_port()
    env = {**os.environ, "HOME": str(home)}
    server = subprocess.Popen(
        [ADB, "-a", "-P", str(port), "nodaemon", "server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    phones = []
    try:
        wait_listening(LAB_HOST, port)
        spec = f"tcp:{LAB_HOST}:{port}"
        for i in range(2):
            d = AdbDaemon(tmp_path / f"phone{i}", props={"ro.serialno": f"LAB{i}", "ro.product.model": f"Lab {i}"})
            d.start()
            phones.append(d)
            serial = f"127.0.0.1:{d.port}"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                subprocess.run([ADB, "-L", spec, "connect", serial], env=env, capture_output=True, timeout=20)
                out = subprocess.run([ADB, "-L", spec, "devices"], env=env, capture_output=True, text=True).stdout
                if f"{serial}\tdevice" in out:
                    break
                time.sleep(0.3)
            else:
                raise AssertionError(f"the lab server did not attach {serial}")
        monkeypatch.setenv("HOME", str(tmp_path / "client-home"))
        yield {"port": port, "address": f"{LAB_HOST}:{port}", "serials": [f"127.0.0.1:{d.port}" for d in phones]}
    finally:
        for d in phones:
            d.stop()
        server.terminate()
        server.wait(timeout=20)


def lab_profile(tmp_path, name, serial, adb_server=None):
    lines = [
        f'name = "{name}"',
        'transport = "adb-server"',
        f'serial = "{serial}"',
        'runner = "python"',
        f'python = "{sys.executable}"',
        "threads = 1",
        "[delegates.cpu]",
        "[power]",
        'source = "none"',
    ]
    if adb_server:
        lines.insert(2, f'adb_server = "{adb_server}"')
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def bench(args, tmp_path):
    return CliRunner().invoke(
        main,
        ["bench", *args, "--runs", "3", "--min-secs", "0.2", "--no-power", "--reports", str(tmp_path / "r"), "--json"],
        catch_exceptions=False,
    )


def rows_of(res):
    return json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])["rows"]


def test_the_lab_server_from_the_profile(lab, tiny_tflite, tmp_path):
    a = lab_profile(tmp_path, "lab-a", lab["serials"][0], lab["address"])
    b = lab_profile(tmp_path, "lab-b", lab["serials"][1], lab["address"])
    res = bench([str(tiny_tflite), "--device", str(a), "--device", str(b)], tmp_path)
    assert res.exit_code == 0, res.output
    rows = rows_of(res)
    assert {(r["device"], r["serial"], r["model"], r["status"]) for r in rows} == {
        ("lab-a", "LAB0", "Lab 0", "ok"),
        ("lab-b", "LAB1", "Lab 1", "ok"),
    }
    assert "note: started the adb server" not in res.output  # edgeseg never starts one on another machine


@pytest.mark.parametrize("how", ["ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_ADDRESS", "--adb-server"])
def test_the_lab_server_from_adbs_own_variables(lab, tiny_tflite, tmp_path, monkeypatch, how):
    profile = lab_profile(tmp_path, "lab-a", lab["serials"][0])
    extra = []
    if how == "ADB_SERVER_SOCKET":
        monkeypatch.setenv("ADB_SERVER_SOCKET", f"tcp:{lab['address']}")
    elif how == "ANDROID_ADB_SERVER_ADDRESS":
        monkeypatch.setenv("ANDROID_ADB_SERVER_ADDRESS", LAB_HOST)
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(lab["port"]))
    else:
        extra = ["--adb-server", lab["address"]]
    res = bench([str(tiny_tflite), "--device", str(profile), *extra], tmp_path)
    assert res.exit_code == 0, res.output
    assert [(r["serial"], r["status"]) for r in rows_of(res)] == [("LAB0", "ok")]


def test_attached_takes_every_lab_phone_a_profile_matches(lab, tiny_tflite, tmp_path, monkeypatch):
    lab_dir = tmp_path / "profiles"
    lab_dir.mkdir()
    for i, serial in enumerate(lab["serials"]):
        lab_profile(lab_dir, f"lab-{i}", serial)
    monkeypatch.setenv("EDGESEG_DEVICES", str(lab_dir))
    res = bench([str(tiny_tflite), "--device", "attached", "--adb-server", lab["address"]], tmp_path)
    assert res.exit_code == 0, res.output
    assert sorted((r["device"], r["serial"]) for r in rows_of(res)) == [("lab-0", "LAB0"), ("lab-1", "LAB1")]


def test_a_serial_no_device_has_fails_at_once_listing_the_attached(lab, tiny_tflite, tmp_path):
    profile = lab_profile(tmp_path, "typo", "NOSUCH1", lab["address"])
    start = time.monotonic()
    res = CliRunner().invoke(main, ["devices", "show", str(profile), "--probe"])
    took = time.monotonic() - start
    assert res.exit_code == 1, res.output
    listed = ", ".join(f"{s} (device)" for s in sorted(lab["serials"]))
    assert (
        f"Error: no device with serial 'NOSUCH1' is attached to the adb server at {lab['address']} "
        f"(attached: {listed}): check --serial / ANDROID_SERIAL / the profile's serial against `adb devices`"
        in res.output
    )
    assert took < 10, took  # before: retried for ~50 s as if a connection had dropped


def test_a_lab_server_that_does_not_answer(tmp_path):
    port = free_port()
    profile = lab_profile(tmp_path, "gone", "X", f"{LAB_HOST}:{port}")
    res = CliRunner().invoke(main, ["devices", "show", str(profile), "--probe"])
    assert res.exit_code == 1
    assert (
        f"no adb server answers at {LAB_HOST}:{port} (from adb_server): start it on the lab machine with "
        f"`adb -a -P {port} nodaemon server`"
    ) in res.output


def test_probe_says_it_started_the_adb_server(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    monkeypatch.setenv("HOME", str(tmp_path))
    d = AdbDaemon(tmp_path / "phone")
    d.start()
    try:
        profile = lab_profile(tmp_path, "local", f"127.0.0.1:{d.port}")
        res = CliRunner().invoke(main, ["devices", "show", str(profile), "--probe"])
        assert res.exit_code == 0, res.output
        assert "device     edgeseg Loopback Phone (LOOPBACK0001)" in res.output
        assert f"note: started the adb server (`adb fork-server`, port {port})" in res.output
    finally:
        subprocess.run([ADB, "-P", str(port), "kill-server"], capture_output=True, timeout=30)
        d.stop()


def test_a_connection_on_a_descriptor_above_1023_still_reads(tmp_path):
    """select() fails for descriptors above 1023: a long sweep or a device lab gets there."""
    import resource
    import socket

    from edgeseg.device.transport import AdbTcpConnection

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this machine allows {hard} open files, too few to reach descriptor 1100")
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200 if hard == resource.RLIM_INFINITY else min(1200, hard), hard))
    a, b = socket.socketpair()
    try:
        high = os.dup2(a.fileno(), 1100)
        sock = socket.socket(fileno=high)
        conn = object.__new__(AdbTcpConnection)
        conn.sock, conn.address = sock, "test"
        b.sendall(b"abcd")
        assert conn._read_n(4, None, 5.0) == b"abcd"
        sock.close()
    finally:
        a.close()
        b.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
