"""Cross-check of the loopback adbd with Debian's real `adb` client and server, so the
daemon (and through it our client) speaks the real protocol: connect with RSA auth, shell
exit codes and stderr (shell v2), push and pull byte for byte. Also drives edgeseg's
adb-server transport through the real binary."""

import os
import shutil
import socket
import subprocess
import time

import pytest
from adbd import AdbDaemon

pytestmark = pytest.mark.e2e

ADB = shutil.which("adb")
if ADB is None and os.environ.get("CI"):
    pytest.fail("adb is not installed: .ci/run installs it with apt-get install -y adb", pytrace=False)
needs_adb = pytest.mark.skipif(ADB is None, reason="Debian's adb client is not installed (apt-get install -y adb)")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def real_adb(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)

    def adb(*args, timeout=60):
        return subprocess.run([ADB, *args], capture_output=True, text=True, timeout=timeout)

    adb("start-server")
    yield adb
    adb("kill-server")


@pytest.fixture
def connected(tmp_path, real_adb):
    d = AdbDaemon(tmp_path / "phone")
    d.start()
    serial = f"127.0.0.1:{d.port}"
    real_adb("connect", serial)  # the first connect offers the new key; the phone accepts it
    deadline = time.time() + 20
    while time.time() < deadline:
        if f"{serial}\tdevice" in real_adb("devices").stdout:
            break
        real_adb("connect", serial)
        time.sleep(0.3)
    else:
        pytest.fail(f"adb never saw {serial} as a device: {real_adb('devices').stdout}")
    yield d, serial
    real_adb("disconnect", serial)
    d.stop()


@needs_adb
def test_real_adb_connects_with_rsa_auth(connected, real_adb):
    d, serial = connected
    assert len(d.offered_keys) >= 1 and d.known_keys  # adb offered its key, the "user" accepted it
    out = real_adb("devices", "-l").stdout
    assert serial in out and "model:Loopback_Phone" in out and "device:loopback" in out


@needs_adb
def test_real_adb_shell_exit_codes_and_stderr(connected, real_adb):
    _, serial = connected
    r = real_adb("-s", serial, "shell", "echo out; echo err >&2; exit 7")
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")
    r = real_adb("-s", serial, "shell", "getprop ro.build.version.release")
    assert (r.returncode, r.stdout) == (0, "14\n")
    r = real_adb("-s", serial, "shell", "cat /sys/class/power_supply/battery/voltage_now")
    assert r.stdout == "4000000\n"


@needs_adb
def test_real_adb_push_pull_byte_exact(connected, real_adb, tmp_path):
    d, serial = connected
    data = os.urandom(3 * 1024 * 1024 + 7)
    (tmp_path / "blob.bin").write_bytes(data)
    r = real_adb("-s", serial, "push", str(tmp_path / "blob.bin"), "/data/local/tmp/blob.bin")
    assert r.returncode == 0, r.stderr
    assert (d.sandbox.root / "data/local/tmp/blob.bin").read_bytes() == data
    r = real_adb("-s", serial, "pull", "/data/local/tmp/blob.bin", str(tmp_path / "back.bin"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == data
    r = real_adb("-s", serial, "pull", "/data/local/tmp/nope.bin", str(tmp_path / "nope.bin"))
    assert r.returncode != 0 and "does not exist" in r.stdout + r.stderr  # adb STATs first


@needs_adb
def test_real_adb_exec_out_and_sync_list(connected, real_adb):
    d, serial = connected
    (d.sandbox.root / "data/local/tmp/a.txt").write_text("hello")
    r = real_adb("-s", serial, "exec-out", "cat /data/local/tmp/a.txt")
    assert (r.returncode, r.stdout) == (0, "hello")
    r = real_adb("-s", serial, "ls", "/data/local/tmp")
    assert r.returncode == 0 and any(line.endswith(" a.txt") for line in r.stdout.splitlines()), r.stdout


@needs_adb
def test_edgeseg_through_the_adb_server(connected, tmp_path, tiny_tflite):
    from edgeseg.device.deploy import deploy
    from edgeseg.device.profiles import parse_profile
    from edgeseg.device.session import DeviceSession

    d, serial = connected
    profile = parse_profile({"transport": "adb-server", "runner": "python"}, "via-adb")
    with DeviceSession(profile, serial=serial) as s:
        res = s.shell("echo hi; exit 4")
        assert (res.exit_code, res.text) == (4, "hi\n")
        first = deploy(s, tiny_tflite)
        assert not first["skipped"]
        assert d.sandbox.host_path(first["remote"]).read_bytes() == tiny_tflite.read_bytes()
        assert deploy(s, tiny_tflite)["skipped"]
        assert s.getprops()["model"] == "Loopback Phone"


@needs_adb
def test_keys_are_interchangeable_with_googles_adb(real_adb, tmp_path):
    from edgeseg.device import adbproto as P
    from edgeseg.device.transport import AdbTcpConnection

    keyfile = tmp_path / "home" / ".android" / "adbkey"
    for _ in range(50):  # the server writes its key pair when it starts
        if keyfile.is_file() and keyfile.with_suffix(".pub").is_file():
            break
        time.sleep(0.1)
    key = P.load_or_create_key(keyfile)  # adb's PEM private key, read by us
    pub = P.decode_public_key(keyfile.with_suffix(".pub").read_bytes())  # adb's Android-format public key
    assert pub.public_numbers() == key.public_key().public_numbers()
    with AdbDaemon(tmp_path / "phone", auth_mode="close", known_keys=[pub]) as d:
        conn = AdbTcpConnection.connect("127.0.0.1", d.port, key)  # signs with adb's key, no prompt needed
        assert conn.shell("echo ok").text == "ok\n" and d.offered_keys == []
        conn.close()


# -- the faults of the TCP transport, through Debian's adb server -----------------------------------


def _adb_session(serial, **kw):
    from edgeseg.device.profiles import parse_profile
    from edgeseg.device.session import DeviceSession

    profile = parse_profile({"transport": "adb-server", "runner": "python"}, "via-adb")
    return DeviceSession(profile, serial=serial, **kw)


@needs_adb
def test_adb_server_push_dropped_midway_is_retried_and_verified(connected, tmp_path):
    from edgeseg.device.deploy import ensure_file

    d, serial = connected
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(3 * 1024 * 1024))
    d.drop_push_after = 1024 * 1024
    with _adb_session(serial) as s:
        res = ensure_file(s, blob)
        assert s.reconnects >= 1
    assert res["attempts"] == 2
    assert d.sandbox.host_path(res["remote"]).read_bytes() == blob.read_bytes()
    assert not d.sandbox.host_path(res["remote"] + ".part").exists()


@needs_adb
def test_adb_server_refused_push_names_the_devices_reason(connected, tmp_path):
    from edgeseg.device.deploy import ensure_file
    from edgeseg.errors import DeviceError

    d, serial = connected
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"version one")
    with _adb_session(serial) as s:
        first = ensure_file(s, blob)
        blob.write_bytes(b"version two")
        d.refuse_pushes = 1
        with pytest.raises(DeviceError, match=r"couldn't create file: Permission denied") as err:
            ensure_file(s, blob)
    assert "adb push of blob.bin failed: adb: error: failed to copy" in str(err.value)
    assert d.sandbox.host_path(first["remote"]).read_bytes() == b"version one"
    assert not d.sandbox.host_path(first["remote"] + ".part").exists()


@needs_adb
def test_adb_server_device_offline_and_back_then_gone(connected):
    from edgeseg.device.transport import DeviceConnectionError

    d, serial = connected
    with _adb_session(serial) as s:
        assert s.shell("echo one").text == "one\n"
        d.go_offline(1.5)
        assert s.shell("echo two").text == "two\n"  # reconnected through the adb server
        assert s.reconnects >= 1
    d.stop()
    with _adb_session(serial, retries=1) as s:
        with pytest.raises(DeviceConnectionError, match=r"failed 2 times .* then run the command again"):
            s.shell("echo three")


@needs_adb
def test_adb_server_stall_is_a_timeout(connected):
    from edgeseg.device.transport import DeviceTimeout

    d, serial = connected
    d.stall_secs = 3.0
    with _adb_session(serial) as s:
        with pytest.raises(DeviceTimeout, match="took longer than 1 s"):
            s.connect().shell("echo hi", timeout=1)


@needs_adb
def test_adb_server_unanswered_prompt_says_to_accept_it(tmp_path, real_adb):
    from edgeseg.device.transport import DeviceAuthError

    with AdbDaemon(tmp_path / "phone", auth_mode="ignore") as d:
        serial = f"127.0.0.1:{d.port}"
        real_adb("connect", serial)
        deadline = time.time() + 10
        while "unauthorized" not in real_adb("devices").stdout and time.time() < deadline:
            time.sleep(0.2)
        with _adb_session(serial) as s:
            with pytest.raises(DeviceAuthError, match=r"accept the 'Allow USB debugging\?' prompt"):
                s.shell("echo hi")
        real_adb("disconnect", serial)


@needs_adb
def test_deploy_says_when_it_started_the_adb_server(connected, tmp_path, tiny_tflite, real_adb, monkeypatch):
    from click.testing import CliRunner

    from edgeseg.cli import main

    d, serial = connected
    profile = tmp_path / "usb.toml"
    profile.write_text('name = "usb"\ntransport = "adb-server"\nrunner = "python"\n')
    res = CliRunner().invoke(main, ["deploy", str(tiny_tflite), "--device", str(profile), "--serial", serial])
    assert res.exit_code == 0, res.output
    assert "started the adb server" not in res.output  # the fixture's server was already running
    real_adb("kill-server")
    res = CliRunner().invoke(main, ["deploy", str(tiny_tflite), "--device", str(profile), "--serial", serial])
    assert res.exit_code == 0, res.output
    assert (
        "note: started the adb server (`adb fork-server`, port " + os.environ["ANDROID_ADB_SERVER_PORT"]
    ) in res.output
    port = os.environ["ANDROID_ADB_SERVER_PORT"]  # the test's own port: the note says how to stop that one
    assert f"stop it with `adb{'' if port == '5037' else ' -P ' + port} kill-server`" in res.output


@needs_adb
def test_devices_list_says_it_started_the_adb_server(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from edgeseg.cli import main
    from edgeseg.device.session import adb_server_running

    port = free_port()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    monkeypatch.setenv("HOME", str(tmp_path))
    try:
        res = CliRunner().invoke(main, ["devices", "list"])
        assert res.exit_code == 0, res.output
        assert f"note: started the adb server (`adb fork-server`, port {port})" in res.output
        assert adb_server_running()
    finally:
        subprocess.run([ADB, "-P", str(port), "kill-server"], capture_output=True, timeout=30)
    assert not adb_server_running()  # and this test leaves none behind
