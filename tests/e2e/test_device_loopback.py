"""The device layer end to end over loopback: our ADB client against the test suite's adbd
(real protocol, real sockets), deploy with faults, bench with the Python runner and driven
power sensors, and the resulting report."""

import csv
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from adbd import I_IDLE, V_BATT, AdbDaemon, SensorDriver, need_shell
from click.testing import CliRunner
from conftest import bench_config
from phones import loopback_profile, record_switches

from edgeseg.cli import main
from edgeseg.device import adbproto as P
from edgeseg.device.deploy import deploy, ensure_file
from edgeseg.device.profiles import load_profile
from edgeseg.device.session import DeviceSession
from edgeseg.device.transport import AdbTcpConnection, DeviceAuthError, DeviceConnectionError, DeviceTimeout
from edgeseg.errors import DeviceError

pytestmark = pytest.mark.e2e


@pytest.fixture
def key(tmp_path):
    return P.load_or_create_key(tmp_path / "adbkey")


@pytest.fixture
def phone(tmp_path):
    d = AdbDaemon(tmp_path / "phone")
    d.start()
    yield d
    d.stop()


def write_profile(tmp_path, port, **power):
    """The loopback phone with the python runner, cpu/xnnpack/gpu, power from battery+rails at
    20 Hz after a 1 s idle baseline (``power`` overrides), and a thermal zone."""
    return loopback_profile(
        tmp_path,
        port,
        power={"source": "battery+rails", "rate_hz": 20, "idle_secs": 1.0, **power},
        thermal={"zones": ["/sys/class/thermal/thermal_zone1/temp"], "cooldown_above_c": 80},
    )


def session_for(profile_path, key_path, **kw):
    return DeviceSession(load_profile(str(profile_path)), key_path=str(key_path), **kw)


# -- protocol and auth ----------------------------------------------------------------------


def test_key_is_created_private_and_in_android_format(tmp_path):
    k = P.load_or_create_key(tmp_path / "k" / "adbkey")
    assert stat.S_IMODE(os.stat(tmp_path / "k" / "adbkey").st_mode) == 0o600
    pub = (tmp_path / "k" / "adbkey.pub").read_bytes()
    assert pub.endswith(b" edgeseg@host\n")
    decoded = P.decode_public_key(pub)
    assert decoded.public_numbers() == k.public_key().public_numbers()
    token = os.urandom(20)
    assert P.verify_token(decoded, token, P.sign_token(k, token))
    assert not P.verify_token(decoded, token, P.sign_token(P.load_or_create_key(tmp_path / "other"), token))
    assert P.load_or_create_key(tmp_path / "k" / "adbkey").public_key().public_numbers() == decoded.public_numbers()


def test_known_key_signs_without_prompt(phone, key):
    phone.known_keys.append(key.public_key())
    conn = AdbTcpConnection.connect("127.0.0.1", phone.port, key)
    assert phone.offered_keys == [] and "shell_v2" in conn.features
    res = conn.shell("echo out; echo err >&2; exit 5")
    assert (res.exit_code, res.stdout, res.stderr) == (5, b"out\n", b"err\n")
    conn.close()


def test_unknown_key_accepted_on_the_phone(phone, key):
    conn = AdbTcpConnection.connect("127.0.0.1", phone.port, key)
    assert len(phone.offered_keys) == 1
    assert conn.shell("getprop ro.product.model").text == "Loopback Phone\n"
    conn.close()


def test_unanswered_prompt_tells_the_user_to_accept(tmp_path, key):
    with AdbDaemon(tmp_path / "p", auth_mode="ignore") as d:
        with pytest.raises(DeviceAuthError, match=r"accept the 'Allow USB debugging\?' prompt"):
            AdbTcpConnection.connect("127.0.0.1", d.port, key, auth_timeout=1.0)


def test_refused_key(tmp_path, key):
    with AdbDaemon(tmp_path / "p", auth_mode="close") as d:
        with pytest.raises(DeviceAuthError, match="closed the connection when shown our adb key"):
            AdbTcpConnection.connect("127.0.0.1", d.port, key, auth_timeout=5.0)


def test_unreachable_device(key):
    import socket

    with socket.socket() as s:  # bound and never listening: refused, and no other test can take the port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(DeviceConnectionError, match=rf"cannot reach 127.0.0.1:{port}"):
            AdbTcpConnection.connect("127.0.0.1", port, key, connect_timeout=2)


def test_shell_v1_fallback_recovers_exit_status(tmp_path, key):
    with AdbDaemon(tmp_path / "p", features=("cmd",)) as d:
        conn = AdbTcpConnection.connect("127.0.0.1", d.port, key)
        res = conn.shell("echo hello; exit 3")
        assert (res.exit_code, res.stdout) == (3, b"hello\n")
        conn.close()


def test_large_push_is_byte_exact(phone, key, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 123)
    (tmp_path / "big.bin").write_bytes(data)
    conn = AdbTcpConnection.connect("127.0.0.1", phone.port, key)
    assert conn.push(tmp_path / "big.bin", "/data/local/tmp/big.bin") == len(data)
    assert (phone.sandbox.root / "data/local/tmp/big.bin").read_bytes() == data
    assert conn.stat("/data/local/tmp/big.bin")[1] == len(data) and conn.stat("/nope")[0] == 0
    assert conn.pull("/data/local/tmp/big.bin", tmp_path / "back.bin") == len(data)
    assert (tmp_path / "back.bin").read_bytes() == data
    with pytest.raises(DeviceError, match="No such file"):
        conn.pull("/data/local/tmp/missing.bin", tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists() and not (tmp_path / ".x.bin.part").exists()
    conn.close()


# -- silence, drops, offline ----------------------------------------------------------------


def test_long_silent_command_completes_with_no_idle_limit(phone, key):
    conn = AdbTcpConnection.connect("127.0.0.1", phone.port, key, read_timeout=0.5)
    res = conn.shell("sleep 1.5; echo done", idle_timeout=None, timeout=30)
    assert res.text == "done\n"
    conn.close()


def test_stalled_device_is_a_clear_timeout(phone, key):
    conn = AdbTcpConnection.connect("127.0.0.1", phone.port, key, read_timeout=0.5)
    phone.stall_secs = 2.0
    with pytest.raises(DeviceTimeout, match=r"sent nothing for 0.5 s"):
        conn.shell("echo hi")
    conn.close()


def test_device_goes_offline_and_comes_back(phone, key, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    with session_for(profile, tmp_path / "adbkey") as s:
        assert s.shell("echo one").text == "one\n"
        phone.go_offline(1.2)
        assert s.shell("echo two").text == "two\n"  # reconnected with backoff
        assert s.reconnects >= 1


def test_gone_for_good_is_a_clear_error(phone, key, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    with session_for(profile, tmp_path / "adbkey", retries=2) as s:
        phone.vanish()
        with pytest.raises(DeviceConnectionError, match=r"failed 3 times .* then run the command again"):
            s.shell("echo hi")


# -- deploy --------------------------------------------------------------------------------


def test_deploy_verifies_and_skips_same_checksum(phone, tiny_tflite, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    with session_for(profile, tmp_path / "adbkey") as s:
        first = deploy(s, tiny_tflite)
        assert not first["skipped"] and first["remote"] == f"/data/local/tmp/edgeseg/{tiny_tflite.name}"
        on_phone = phone.sandbox.host_path(first["remote"])
        assert on_phone.read_bytes() == tiny_tflite.read_bytes()
        assert phone.sandbox.host_path(first["manifest"]).is_file()
        pushes = phone.pushes_started
        again = deploy(s, tiny_tflite)
        assert again["skipped"] and phone.pushes_started == pushes


def test_push_dropped_midway_is_retried_and_never_leaves_a_corrupt_file(phone, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(3 * 1024 * 1024))
    phone.drop_push_after = 1024 * 1024
    with session_for(profile, tmp_path / "adbkey") as s:
        res = ensure_file(s, blob)
    assert res["attempts"] == 2
    assert phone.sandbox.host_path(res["remote"]).read_bytes() == blob.read_bytes()
    assert not phone.sandbox.host_path(res["remote"] + ".part").exists()


def test_refused_push_is_a_clear_error_and_keeps_the_old_file(phone, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"version one")
    with session_for(profile, tmp_path / "adbkey") as s:
        res = ensure_file(s, blob)
        blob.write_bytes(b"version two")
        phone.refuse_pushes = 1
        with pytest.raises(DeviceError, match="refused the push .*Permission denied"):
            ensure_file(s, blob)
    assert phone.sandbox.host_path(res["remote"]).read_bytes() == b"version one"
    assert not phone.sandbox.host_path(res["remote"] + ".part").exists()


def test_remote_paths_outside_the_work_dir_are_refused(tmp_path, phone):
    p = load_profile(str(write_profile(tmp_path, phone.port)))
    assert p.remote("a.tflite") == "/data/local/tmp/edgeseg/a.tflite"
    for bad in ("../x", "/etc/passwd", "sub/../../y", "."):
        with pytest.raises(DeviceError, match="refusing the device path"):
            p.remote(bad)


def test_shell_arguments_are_quoted(phone, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    odd = tmp_path / "it's $(touch pwned) a;model.bin"
    odd.write_bytes(b"x" * 10)
    with session_for(profile, tmp_path / "adbkey") as s:
        res = ensure_file(s, odd)
    assert phone.sandbox.host_path(res["remote"]).read_bytes() == b"x" * 10
    assert not list(phone.sandbox.root.rglob("pwned"))


# -- bench with power --------------------------------------------------------------------------


def test_bench_with_power_matches_the_driven_trace(phone, tiny_tflite, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work)
    driver.thread.start()
    switches = record_switches(driver)
    reports = tmp_path / "reports"
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        res = CliRunner().invoke(
            main,
            [
                "bench",
                str(tiny_tflite),
                "--device",
                str(profile),
                "--delegate",
                "xnnpack,gpu",
                "--runs",
                "20",
                "--min-secs",
                "2",
                "--reports",
                str(reports),
                "--json",
            ],
            catch_exceptions=False,
        )
    finally:
        driver.stop.set()
        os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 1, res.output  # the gpu row failed: the report is written, the exit status says so
    assert res.output.rstrip().endswith("error: 1 of 2 row(s) failed (tiny_fp32/gpu); the report was written")
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    rows = {r["delegate"]: r for r in out["rows"]}
    x = rows["xnnpack"]
    assert x["status"] in ("ok", "fallback") and x["runs"] >= 20 and x["median_ms"] > 0
    assert x["device"] == "Loopback Phone" and x["runner"] == "python-runner"
    assert rows["gpu"]["status"] == "failed" and "Python runner runs cpu and xnnpack only" in rows["gpu"]["error"]
    (pw,) = out["power"]
    # 20 Hz over a 2 s window: fewer readings on a saturated host (the sampler's loop is slowed), never few
    assert pw["energy_source"] == "rails" and pw["charging"] is False and pw["counter_readings_run"] >= 10
    assert pw["gauge_samples_run"] >= 10 and pw["window"] == "timed runs" and pw["energy_mj_err"] > 0
    assert len(switches) == 1
    expect = driver.analytic_energy_mj(pw["window_start_s"], pw["window_end_s"], switches[0], x["mean_ms"])
    got = pw["energy_mj_per_inference"]
    print(f"energy per inference {got:.4f} mJ vs analytic {expect:.4f} mJ ({got / expect - 1:+.2%})")
    assert got == pytest.approx(expect, rel=0.02)
    assert pw["idle_mw"] == pytest.approx(I_IDLE * V_BATT, rel=0.01)

    folder = Path(out["report"])
    names = {p.name for p in folder.iterdir()}
    assert {"latency.csv", "power.csv", "summary.csv", "run.json", "power_trace.csv"} <= names
    run = json.loads((folder / "run.json").read_text())
    assert run["device"]["fingerprint"].startswith("edgeseg/loopback") and run["device"]["android"] == "14"
    assert run["device"]["soc"] == "Google Tensor G3"
    # the phone's own conditions, per row, and the threads actually used
    from edgeseg.fileio import sha256_file
    from edgeseg.reporting.tables import describe_conditions

    assert run["bench"]["threads"] == 2 and run["device"]["threads"] == 2
    cond = run["device"]["conditions"]["tiny_fp32/xnnpack"]
    assert cond["artifact_sha256"] == sha256_file(tiny_tflite) and cond["threads"] == 2
    for edge in ("start", "end"):
        assert cond[edge]["battery_temp"] == 28.5 and cond[edge]["zone_max_c"] == 41.0
        assert cond[edge]["battery_level"] == 80 and cond[edge]["battery_status"] == "Discharging"
    assert run["device"]["edgeseg"] and run["run_id"] == folder.name
    line = describe_conditions(run)
    assert line.startswith("Loopback Phone (Google Tensor G3); Android 14 (edgeseg/loopback/"), line
    assert "2 threads" in line and "battery 28.5 -> 28.5 C" in line and "cores" not in line
    assert "governor schedutil, max 2.85 GHz" in line  # the phone's cpufreq policy, read on the phone
    trace = list(csv.DictReader(open(folder / "power_trace.csv")))
    assert {r["phase"] for r in trace} >= {"idle", "init", "timed"}
    # leftover files on the device: none but the artifact, its manifest and the runner
    assert sorted(p.name for p in work.iterdir()) == sorted(
        [tiny_tflite.name, tiny_tflite.with_suffix(".json").name, "edgeseg_runner.py"]
    )


@pytest.mark.parametrize(
    "shell, rails, source, used",
    [
        ("busybox", None, "battery", "battery"),
        ("busybox", "sysfs", "battery+rails", "rails"),
        ("busybox", "stuck", "battery+rails", "battery"),
        ("busybox", "hal", "battery+rails", "hal"),
        ("toybox", "sysfs", "auto", "rails"),
    ],
)
def test_energy_per_inference_from_each_source_on_device_shells(tmp_path, tiny_tflite, shell, rails, source, used):
    """The whole power path on a device that runs busybox ash (or mksh + toybox), with the
    gauge and rails driven from a known trace: energy per inference within 2% of its
    integral, from the source the probe and the windows allow, saying why others were not."""
    need_shell(shell)
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        work = phone.sandbox.root / "data/local/tmp/edgeseg"
        work.mkdir(parents=True, exist_ok=True)
        driver = SensorDriver(phone.sandbox, work, rails=rails)
        driver.thread.start()
        switches = record_switches(driver)
        # the HAL is read at 2 Hz through dumpsys, each reading somewhere inside its call: its
        # windows are long enough (3 s idle, 5 s timed: 6+ and 10+ readings) for the fit through
        # them to average that out; the sandbox's HAL computes its energy from the boot clock at
        # the call (tests/adbd.py), so the rig's own driver thread lagging under load moves nothing
        hal = rails == "hal"
        profile = write_profile(tmp_path, phone.port, source=source, **({"idle_secs": 3.0} if hal else {}))
        os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
        try:
            res = CliRunner().invoke(
                main,
                [
                    "bench",
                    str(tiny_tflite),
                    "--device",
                    str(profile),
                    "--delegate",
                    "cpu",
                    "--runs",
                    "20",
                    "--min-secs",
                    "5" if hal else "2",
                    "--reports",
                    str(tmp_path / "r"),
                    "--json",
                ],
                catch_exceptions=False,
            )
        finally:
            driver.stop.set()
            os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    (row,), (pw,) = out["rows"], out["power"]
    assert pw["status"] == "ok" and pw["energy_source"] == used, pw
    expect = driver.analytic_energy_mj(pw["window_start_s"], pw["window_end_s"], switches[0], row["mean_ms"], used)
    got = pw["energy_mj_per_inference"]
    print(
        f"{shell} {rails} -> {used}: {got:.4f} +- {pw['energy_mj_err']:.4f} mJ vs analytic {expect:.4f} mJ "
        f"({got / expect - 1:+.2%}); readings idle/timed: gauge {pw['gauge_samples_idle']}/{pw['gauge_samples_run']}"
        f", counter {pw['counter_readings_idle']}/{pw['counter_readings_run']}"
    )
    assert got == pytest.approx(expect, rel=0.02)
    if rails == "stuck":
        assert pw["source_note"].startswith("rails: its energy counters did not advance")
        assert "power: battery (not used: rails: its energy counters did not advance" in res.output
    if rails == "hal":
        assert "rails: no readable /sys/bus/iio/devices/iio:device*/energy_value" in pw["source_note"]


def test_a_power_run_without_any_source_is_a_failed_row_and_exit_1(phone, tiny_tflite, tmp_path):
    profile = write_profile(tmp_path, phone.port, source="battery")
    (phone.sandbox.root / "sys/class/power_supply/battery/current_now").unlink()  # the gauge is not readable
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        res = CliRunner().invoke(
            main,
            [
                "bench",
                str(tiny_tflite),
                "--device",
                str(profile),
                "--delegate",
                "cpu",
                "--runs",
                "3",
                "--min-secs",
                "0",
                "--reports",
                str(tmp_path / "r"),
                "--json",
            ],
            catch_exceptions=False,
        )
    finally:
        os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 1, res.output
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    assert out["rows"][0]["status"] in ("ok", "fallback")  # latency was measured
    (pw,) = out["power"]
    assert pw["status"] == "failed" and pw["energy_mj_per_inference"] is None
    assert pw["error"] == (
        "no power source gave samples: battery: /sys/class/power_supply/battery/current_now is not "
        "readable or not a number"
    )
    assert "warning: no usable power source on this device" in res.output
    assert res.output.rstrip().endswith(
        "error: 1 of 1 power row(s) gave no energy (failed or uncertain); the report was written"
    )
    power_csv = list(csv.DictReader(open(Path(out["report"]) / "power.csv")))
    assert power_csv[0]["status"] == "failed" and "current_now is not readable" in power_csv[0]["error"]


def test_charging_seen_only_by_dumpsys_battery(phone, tiny_tflite, tmp_path):
    from edgeseg.device.bench import bench_device

    profile = write_profile(tmp_path, phone.port, source="battery")
    (phone.sandbox.root / "dumpsys_usb").write_text("1\n")  # sysfs: discharging, no USB; the service: USB powered
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work, rails=None)  # a gauge that follows the load: a valid figure but for
    driver.thread.start()  # the charging
    said = []
    try:
        with session_for(profile, tmp_path / "adbkey") as s:
            res = bench_device(s, bench_config(runs=3, min_secs=1.0), [tiny_tflite], ["cpu"], say=said.append)
    finally:
        driver.stop.set()
    assert res["device"]["charging"] is True and res["power"][0]["charging"] is True
    assert res["device"]["charging_reason"] == "dumpsys battery says 'USB powered: true'"
    assert any(m.startswith("warning: dumpsys battery says 'USB powered: true'; the phone is charging") for m in said)
    # no ok energy from a charging phone: status charging, what to do, and the latency row says so
    (pw,) = res["power"]
    assert pw["status"] == "charging" and pw["energy_mj_per_inference"] is None and pw["energy_mj_err"] is None
    assert pw["error"].startswith("dumpsys battery says 'USB powered: true': the phone is charging")
    assert "wireless debugging" in pw["error"] and "--allow-charging" in pw["error"]
    assert "measured while charging" in res["latency"][0]["note"]


def test_a_charger_supplying_more_than_the_phone_draws_is_charging(phone, tiny_tflite, tmp_path):
    """sysfs and dumpsys both say discharging, but a charger supplies 712 mA: the gauge's
    discharge current is negative (by the profile's current_sign). Before: abs() made it a
    1203.6 mW idle power and the row was ok, its energy 70% off."""
    from edgeseg.device.bench import bench_device

    profile = write_profile(tmp_path, phone.port, source="battery")
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work, rails=None, charger_ma=712.0)
    driver.thread.start()
    said = []
    try:
        with session_for(profile, tmp_path / "adbkey") as s:
            res = bench_device(s, bench_config(runs=5, min_secs=1.0), [tiny_tflite], ["cpu"], say=said.append)
            allowed = bench_device(s, bench_config(runs=5, min_secs=1.0, allow_charging=True), [tiny_tflite], ["cpu"])
    finally:
        driver.stop.set()
    (pw,) = res["power"]
    assert pw["status"] == "charging" and pw["charging"] is True and pw["energy_mj_per_inference"] is None
    assert "net charge current of 512 mA in the idle window" in pw["error"], pw["error"]
    assert any(m.startswith("      power not given: the battery gauge reads a net charge current") for m in said)
    (pa,) = allowed["power"]  # --allow-charging: the figure, marked
    assert pa["status"] == "ok" and pa["charging"] is True and pa["note"].startswith("measured while charging")
    assert "measured while charging" in allowed["latency"][0]["note"]


def bench_cli(tmp_path, model, profile, min_secs, runs=20) -> tuple:
    """``edgeseg bench`` of the tiny model on the cpu delegate with --json: (result, its JSON)."""
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        res = CliRunner().invoke(
            main,
            ["bench", str(model), "--device", str(profile), "--delegate", "cpu"]
            + ["--runs", str(runs), "--min-secs", str(min_secs), "--reports", str(tmp_path / "r"), "--json"],
            catch_exceptions=False,
        )
    finally:
        os.environ.pop("ADB_KEY_PATH", None)
    return res, json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])


@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_a_flat_gauge_is_a_failed_row_not_zero_millijoules(tmp_path, tiny_tflite, shell):
    """A gauge that never follows the load (a cached or simulated current_now, 423.83 mA x 3.9 V
    = 1652.94 mW forever). Before: the means of one repeated reading over windows of different
    sample counts differ in the last bits (1 s idle, 2 s timed: ~20 and ~40 samples), the resolution
    estimated from readings that never change was 0, so the row was ok with ~5e-15 mJ and bench
    exited 0 (tests/unit/test_energy_updates.py reproduces it with fixed counts)."""
    need_shell(shell)
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        work = phone.sandbox.root / "data/local/tmp/edgeseg"
        work.mkdir(parents=True, exist_ok=True)
        driver = SensorDriver(phone.sandbox, work, rails=None, constant_gauge=423.83)
        driver.thread.start()
        try:
            profile = write_profile(tmp_path, phone.port, source="battery")
            res, out = bench_cli(tmp_path, tiny_tflite, profile, 2, runs=5)
        finally:
            driver.stop.set()
    assert res.exit_code == 1, res.output
    assert res.output.rstrip().endswith(
        "error: 1 of 1 power row(s) gave no energy (failed or uncertain); the report was written"
    )
    (pw,) = out["power"]
    assert pw["status"] == "failed" and pw["energy_mj_per_inference"] is None, pw
    assert pw["error"].startswith("no power source gave samples: battery: the gauge read 1652.9 mW in every one")
    assert "does not follow the load" in pw["error"]
    assert pw["gauge_update_s"] is None and pw["gauge_updates_idle"] == pw["gauge_updates_run"] == 0
    power_csv = list(csv.DictReader(open(Path(out["report"]) / "power.csv")))
    assert power_csv[0]["status"] == "failed" and power_csv[0]["energy_mj_per_inference"] == ""


@pytest.mark.parametrize("shell", ["busybox", "toybox"])
@pytest.mark.parametrize("windows", ["long", "short"])
def test_a_held_gauge_counts_its_updates_not_its_samples(tmp_path, tiny_tflite, shell, windows):
    """A fuel gauge that updates once a second (sample-and-hold, each update the mean current
    since the last), read by the sampler at 20 Hz. Before: every sample counted as independent,
    the mean lagged the ramp by the held values and the row was ok with an error bar a fraction
    of its error (76.05 +- 0.18 mJ for a truth of 72.045 on a phone). Now the windows count the
    gauge's updates: 5 s idle and a 6 s timed window hold 3+ each: ok, the truth within +-2 err;
    1 s windows hold one at most: uncertain, no energy, saying how many updates each window had,
    how often the gauge updates and what idle_secs / --min-secs give enough."""
    need_shell(shell)
    long = windows == "long"
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        work = phone.sandbox.root / "data/local/tmp/edgeseg"
        work.mkdir(parents=True, exist_ok=True)
        driver = SensorDriver(phone.sandbox, work, rails=None, gauge_period_s=1.0)
        driver.thread.start()
        switches = record_switches(driver)
        profile = write_profile(tmp_path, phone.port, source="battery", idle_secs=5.0 if long else 1.0)
        try:
            res, out = bench_cli(tmp_path, tiny_tflite, profile, 6 if long else 1)
        finally:
            driver.stop.set()
    assert res.exit_code == (0 if long else 1), res.output  # a row with no energy fails the bench
    (row,), (pw,) = out["rows"], out["power"]
    assert pw["energy_source"] == "battery" and pw["gauge_samples_run"] > 0, pw
    if not long:
        assert pw["status"] == "uncertain" and pw["energy_mj_per_inference"] is None, pw
        assert pw["energy_mj_err"] is None and min(pw["gauge_updates_idle"], pw["gauge_updates_run"]) < 3
        if pw["gauge_update_s"] is not None:  # a short run may show too few changes to tell how often
            assert pw["gauge_update_s"] == pytest.approx(1.0, abs=0.15)
            assert f"gave {pw['gauge_updates_idle']} update(s) in the" in pw["error"]
        assert "cannot be bounded from the data" in pw["error"] and "idle_secs" in pw["error"], pw["error"]
        power_csv = list(csv.DictReader(open(Path(out["report"]) / "power.csv")))
        assert power_csv[0]["status"] == "uncertain" and power_csv[0]["gauge_updates_idle"] != ""
        assert "power uncertain: tiny_fp32 on cpu: " in res.output
        return
    assert pw["status"] == "ok" and len(switches) == 1, pw
    expect = driver.analytic_energy_mj(pw["window_start_s"], pw["window_end_s"], switches[0], row["mean_ms"])
    got, err = pw["energy_mj_per_inference"], pw["energy_mj_err"]
    print(
        f"{shell} held gauge: {got:.4f} +- {err:.4f} mJ vs analytic {expect:.4f} mJ ({got / expect - 1:+.2%}, "
        f"{(got - expect) / err:+.2f} err); updates idle/timed {pw.get('gauge_updates_idle')}/"
        f"{pw.get('gauge_updates_run')}, samples {pw['gauge_samples_idle']}/{pw['gauge_samples_run']}, "
        f"every {pw.get('gauge_update_s')} s"
    )
    assert abs(got - expect) <= 2 * err
    assert err < 0.2 * expect  # bounded, and still a measurement
    # a second's updates: 3 or more per window (5 s, 6 s), each read many times
    assert 3 <= pw["gauge_updates_idle"] <= 6 and 3 <= pw["gauge_updates_run"] <= 8, pw
    assert pw["gauge_samples_run"] >= 3 * pw["gauge_updates_run"]
    assert pw["gauge_update_s"] == pytest.approx(1.0, abs=0.15)


def test_hal_only_phone_keeps_the_battery_temperature(phone, tiny_tflite, tmp_path):
    """Gauge current and voltage unreadable, the rails only through the HAL: the sampler's
    temperature field stays the temperature (before: 301 was read as the current)."""
    from edgeseg.device.bench import bench_device

    profile = write_profile(tmp_path, phone.port, source="hal")
    root = phone.sandbox.root / "sys/class/power_supply/battery"
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work, rails="hal")
    driver.thread.start()
    time.sleep(0.2)
    phone.sandbox.write("sys/class/power_supply/battery/temp", "301")
    try:
        real = phone.sandbox.set_battery
        phone.sandbox.set_battery = lambda **kw: None  # nothing writes the gauge: its files are gone
        (root / "current_now").unlink()
        (root / "voltage_now").unlink()
        with session_for(profile, tmp_path / "adbkey") as s:
            res = bench_device(s, bench_config(runs=5, min_secs=1.0), [tiny_tflite], ["cpu"])
    finally:
        driver.stop.set()
        phone.sandbox.set_battery = real
    (pw,) = res["power"]
    assert pw["energy_source"] == "hal" and pw["status"] == "ok", pw
    assert pw["temp_start_c"] == pytest.approx(30.1) and pw["temp_end_c"] == pytest.approx(30.1)
    assert all(t["power_mw"] is None and t["battery_c"] == pytest.approx(30.1) for t in res["trace"])


def test_battery_only_energy_and_charging_warning(phone, tiny_tflite, tmp_path):
    profile = write_profile(tmp_path, phone.port, source="battery")
    phone.sandbox.set_battery(status="Charging", usb_online=True)
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work)
    driver.thread.start()
    switches = record_switches(driver)
    try:
        from edgeseg.device.bench import bench_device

        said = []
        with session_for(profile, tmp_path / "adbkey") as s:
            res = bench_device(
                s, bench_config(runs=10, min_secs=1.5, allow_charging=True), [tiny_tflite], ["cpu"], say=said.append
            )
    finally:
        driver.stop.set()
    (pw,) = res["power"]
    assert pw["energy_source"] == "battery" and pw["charging"] is True and pw["status"] == "ok"
    assert pw["note"] == "measured while charging (--allow-charging): battery status is 'Charging'"
    assert any("battery status is 'Charging'" in m and "power-blocking adapter" in m for m in said)
    # battery gauge only: sampled at 20 Hz, so the window means are estimates of the integral
    expect = driver.analytic_energy_mj(
        pw["window_start_s"], pw["window_end_s"], switches[0], res["latency"][0]["mean_ms"]
    )
    assert pw["energy_mj_per_inference"] == pytest.approx(expect, rel=0.02)


def test_report_command_writes_plots_and_html(phone, tiny_tflite, tmp_path):
    profile = write_profile(tmp_path, phone.port)
    reports = tmp_path / "reports"
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work)  # gauge and rails that follow the load (a still gauge is no figure)
    driver.thread.start()
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        r = CliRunner().invoke(
            main,
            [
                "bench",
                str(tiny_tflite),
                "--device",
                str(profile),
                "--delegate",
                "cpu,xnnpack",
                "--runs",
                "5",
                "--min-secs",
                "0.5",
                "--reports",
                str(reports),
            ],
            catch_exceptions=False,
        )
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(main, ["deploy", str(tiny_tflite), "--device", str(profile)], catch_exceptions=False)
        assert r.exit_code == 0 and "already on the device (same sha256)" in r.output
    finally:
        driver.stop.set()
        os.environ.pop("ADB_KEY_PATH", None)
    r = CliRunner().invoke(main, ["report", str(reports), "--html", "--reports", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.output
    folder = Path(r.output.strip().splitlines()[-1].split("report: ")[1].split(" (")[0])
    names = {p.name for p in folder.iterdir()}
    assert {"summary.csv", "latency.png", "power_trace.png", "report.html"} <= names
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2 and "tiny_fp32" in page
    assert (folder / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- runner 1: benchmark_model -------------------------------------------------------------

# A stand-in for benchmark_model on the loopback phone: it records its flags and prints
# real published outputs (see tests/unit/test_benchmark_parse.py for their sources), so this test
# covers the plumbing around the binary: push once (cached by checksum), flags per delegate,
# parsing, status per row, ops.csv. The parser itself is tested on those outputs directly.
FAKE_BENCHMARK_MODEL = r"""#!/bin/sh
echo "$@" >> "$(dirname "$0")/.invocations"
case "$*" in
  *--use_gpu=true*) cat <<'OUT'
INFO: Created TensorFlow Lite delegate for GPU.
Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.
count=4 first=130565 curr=120829 min=117370 max=130565 avg=122373 std=4930
count=50 first=119212 curr=118055 min=113737 max=124776 avg=119375 std=1948
Inference timings in us: Init: 870557, First inference: 130565, Warmup (avg): 122373, Inference (avg): 119375
OUT
  ;;
  *--use_nnapi=true*) cat <<'OUT'
NNAPI accelerators available: [ipuadaptor,nnapi-reference]
Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.
count=15 first=49060 curr=33682 min=32825 max=49060 avg=34825.1 std=3930
count=50 first=32891 curr=33978 min=32641 max=34005 avg=33209.4 std=450
Inference timings in us: Init: 855, First inference: 49060, Warmup (avg): 34825.1, Inference (avg): 33209.4
OUT
  ;;
  *--use_hexagon=true*) echo "ERROR: Failed to create Hexagon delegate" >&2; exit 1 ;;
  *) cat <<'OUT'
INFO: Replacing 41 out of 50 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 9 partitions for the whole graph.
count=9 first=64791 curr=56295 min=54873 max=65831 avg=57758.2 std=4065
count=50 first=58154 curr=53809 min=53077 max=60727 avg=55043.2 std=1562
Inference timings in us: Init: 18777, First inference: 64791, Warmup (avg): 57758.2, Inference (avg): 55043.2
============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	         AllocateTensors	        1	     0.040	   100.000%	   100.000%	     0.000	        1

============================== Summary by node type ==============================
	             [Node type]	  [count]	  [avg ms]	    [avg %]	    [cdf %]	  [mem KB]	[times called]
	   TfLiteXNNPackDelegate	        9	    48.210	    88.000%	    88.000%	     0.000	        9
	 RESIZE_NEAREST_NEIGHBOR	        4	     6.574	    12.000%	   100.000%	     0.000	        4
OUT
  ;;
esac
"""


# benchmark_model with a GPU delegate whose init takes 0.91 s at idle power (the driver's
# "load" trigger: the run trace starts with the warm-up and ends with the timed runs), then
# 1 warm-up run and 17 timed runs of 119.375 ms, printed line by line as the real tool does
# (tflite/tools/benchmark/benchmark_model.cc: "Running benchmark for at least ..." before the
# warm-up and before the timed runs, a statistics line after each). The load holds 0.3 s past
# the last statistics line (as a delegate's teardown does): a stamp that reaches the shell a
# little late on a busy host then stays inside the run trace, whose integral is the truth.
INIT_HEAVY_BENCHMARK_MODEL = r"""#!/bin/sh
d="$(dirname "$0")"
echo "INFO: Loaded model $2"
echo "INFO: Created TensorFlow Lite delegate for GPU."
sleep 0.91
echo "INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate."
echo "INFO: Initialized session in 910.4ms."
echo 1 > "$d/.load"
echo "INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds."
sleep 0.5
echo "INFO: count=4 first=130565 curr=120829 min=117370 max=130565 avg=122373 std=4930"
echo "INFO: Running benchmark for at least 17 iterations and at least 2 seconds but terminate if exceeding 150 seconds."
sleep 2.03
echo "INFO: count=17 first=119212 curr=118055 min=113737 max=124776 avg=119375 std=1948"
sleep 0.3
echo 0 > "$d/.load"
echo "INFO: Inference timings in us: Init: 910400, First inference: 130565, Warmup (avg): 122373, Inference (avg): 119375"
sleep 0.3
"""


def bm_profile(tmp_path, port, name="bm-power", **power):
    lines = write_profile(tmp_path, port, **power).read_text()
    path = tmp_path / f"{name}.toml"
    path.write_text(lines.replace('runner = "python"', 'runner = "benchmark_model"'))
    return path


@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_init_heavy_gpu_row_integrates_the_timed_runs_only(tmp_path, tiny_tflite, shell):
    """A GPU row whose delegate init takes 0.91 s at idle power: energy per inference from the
    timed runs (stamped on the device as benchmark_model prints them), within 2% of the trace's
    integral over them; the trace shows init, warm-up and timed runs apart."""
    from edgeseg.device.bench import bench_device

    need_shell(shell)
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        work = phone.sandbox.root / "data/local/tmp/edgeseg"
        work.mkdir(parents=True, exist_ok=True)
        binary = tmp_path / "benchmark_model"
        binary.write_text(INIT_HEAVY_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1))
        driver = SensorDriver(phone.sandbox, work, trigger="load")
        driver.thread.start()
        switches = record_switches(driver)
        profile = bm_profile(tmp_path, phone.port)
        try:
            with session_for(profile, tmp_path / "adbkey") as s:
                res = bench_device(
                    s, bench_config(runs=17, min_secs=2, benchmark_binary=str(binary)), [tiny_tflite], ["gpu"]
                )
        finally:
            driver.stop.set()
    (row,), (pw,) = res["latency"], res["power"]
    assert row["status"] == "ok" and row["init_ms"] == pytest.approx(910.4) and row["mean_ms"] == pytest.approx(119.375)
    assert pw["status"] == "ok" and pw["energy_source"] == "rails" and pw["window"] == "timed runs", pw
    assert len(switches) == 1
    expect = driver.analytic_energy_mj(pw["window_start_s"], pw["window_end_s"], switches[0], row["mean_ms"])
    got, err = pw["energy_mj_per_inference"], pw["energy_mj_err"]
    print(
        f"{shell} init-heavy gpu -> {pw['energy_source']}: {got:.4f} +- {err:.4f} mJ vs analytic {expect:.4f} mJ "
        f"({got / expect - 1:+.2%}); window {pw['window_end_s'] - pw['window_start_s']:.2f} s"
    )
    assert got == pytest.approx(expect, rel=0.02)
    assert pw["window_end_s"] - pw["window_start_s"] >= 2.0  # the timed runs' 2.03 s (more on a busy host)
    # after the 0.5 s warm-up (less the driver's lag in seeing it start), never from the process start
    assert pw["window_start_s"] >= switches[0] + 0.3
    phases = {t["phase"] for t in res["trace"]}
    assert {"idle", "init", "warmup", "timed"} <= phases
    init = [t["power_mw"] for t in res["trace"] if t["phase"] == "init"]
    assert init and max(init) == pytest.approx(I_IDLE * V_BATT, rel=0.02)  # the delegate init ran at idle power
    assert res["device"]["conditions"]["tiny_fp32/gpu"]["phases_s"]["init"][1] > 0.9


def test_benchmark_model_runner_rows_and_ops(phone, tiny_tflite, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_text(FAKE_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1))  # the device's shell
    lines = write_profile(tmp_path, phone.port, source="none").read_text()
    lines = lines.replace('runner = "python"', 'runner = "benchmark_model"').replace(
        "[delegates.xnnpack]",
        '[delegates.xnnpack]\nflags = ["--use_xnnpack=true"]\n[delegates.nnapi]\n'
        'flags = ["--use_nnapi=true"]\naccelerator = "google-edgetpu"\n[delegates.hexagon]\nflags = ["--use_hexagon=true"]',
    )
    profile = tmp_path / "bm.toml"
    profile.write_text(lines)
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        args = [
            "bench",
            str(tiny_tflite),
            "--device",
            str(profile),
            "--delegate",
            "xnnpack,gpu,nnapi,hexagon",
            "--benchmark-binary",
            str(binary),
            "--op-profile",
            "--reports",
            str(tmp_path / "r"),
            "--json",
        ]
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 1, res.output  # the hexagon row failed
        assert "error: 1 of 4 row(s) failed (tiny_fp32/hexagon); the report was written" in res.output
        pushes = phone.pushes_started
        res2 = CliRunner().invoke(main, args, catch_exceptions=False)
        assert phone.pushes_started == pushes  # binary, model and manifest were already there
    finally:
        os.environ.pop("ADB_KEY_PATH", None)
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    rows = {r["delegate"]: r for r in out["rows"]}
    assert rows["xnnpack"]["status"] == "fallback" and rows["xnnpack"]["delegated_ops"] == 41
    assert rows["xnnpack"]["total_ops"] == 50 and rows["xnnpack"]["partitions"] == 9
    assert rows["xnnpack"]["mean_ms"] == pytest.approx(55.0432) and rows["xnnpack"]["runner"] == "benchmark_model"
    # what the output lacked is said in the row, not silently filled in
    assert rows["xnnpack"]["note"] == (
        "the op profile has no 'Run Order' table: no per-node times, only the per-type "
        "summary; median_ms is the mean: this benchmark_model prints no percentiles"
    )
    assert "note: the op profile has no 'Run Order' table" in res.output
    assert rows["gpu"]["status"] == "ok" and rows["gpu"]["init_ms"] == pytest.approx(870.557)
    assert rows["nnapi"]["status"] == "fallback" and rows["nnapi"]["delegated_ops"] == 0
    assert rows["hexagon"]["status"] == "failed" and "Failed to create Hexagon delegate" in rows["hexagon"]["error"]
    calls = (phone.sandbox.root / "data/local/tmp/edgeseg/.invocations").read_text().splitlines()
    nnapi_call = next(c for c in calls if "--use_nnapi=true" in c)
    assert "--nnapi_accelerator_name=google-edgetpu" in nnapi_call and "--enable_op_profiling=true" in nnapi_call
    assert "--num_threads=2" in nnapi_call and f"/data/local/tmp/edgeseg/{tiny_tflite.name} " in nnapi_call
    ops = list(csv.DictReader(open(Path(out["report"]) / "ops.csv")))
    assert [(o["delegate"], o["node_type"]) for o in ops] == [
        ("xnnpack", "TfLiteXNNPackDelegate"),
        ("xnnpack", "RESIZE_NEAREST_NEIGHBOR"),
    ]
    assert json.loads(res2.output[res2.output.index("{") : res2.output.rindex("}") + 1])["rows"][0][
        "mean_ms"
    ] == pytest.approx(55.0432)


def test_device_lost_mid_sweep_keeps_the_rows_and_writes_the_report(phone, tiny_tflite, tmp_path):
    profile = write_profile(tmp_path, phone.port, source="none")
    second = tmp_path / "second.tflite"
    second.write_bytes(tiny_tflite.read_bytes())
    from edgeseg.device import bench as bench_mod

    real = bench_mod.split_sections
    calls = []

    def pull_the_plug_after_first(text):
        calls.append(1)
        if len(calls) == 1:
            phone.vanish()  # the phone disappears after the first row
        return real(text)

    bench_mod.split_sections = pull_the_plug_after_first
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        res = CliRunner().invoke(
            main,
            [
                "bench",
                str(tiny_tflite),
                str(second),
                "--device",
                str(profile),
                "--delegate",
                "cpu,xnnpack",
                "--runs",
                "3",
                "--min-secs",
                "0.2",
                "--reports",
                str(tmp_path / "r"),
                "--json",
            ],
            catch_exceptions=False,
        )
    finally:
        bench_mod.split_sections = real
        os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 1, res.output
    assert "error: 3 of 4 row(s) failed (" in res.output and "; the report was written" in res.output
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    statuses = [(r["artifact"], r["delegate"], r["status"]) for r in out["rows"]]
    assert statuses[0] == ("tiny_fp32", "cpu", "ok")
    assert [s[2] for s in statuses[1:]] == ["failed", "failed", "failed"]
    assert "then run the command again" in out["rows"][1]["error"]
    assert out["rows"][3]["error"].startswith("not run: ")
    assert len(list(csv.DictReader(open(Path(out["report"]) / "latency.csv")))) == 4


def test_pta_artifact_benches_each_configuration_on_the_device_and_select_reads_it(phone, tiny_tflite, tmp_path):
    """A multi-signature artifact: one row per configuration, each run from its separate file
    on the device; a configuration whose file is missing is a failed row; select picks from
    the device's rows."""
    from edgeseg.artifact import write_manifest

    folder = tmp_path / "arts"
    folder.mkdir()
    multi = folder / "pta_int8_LLL-HHH-BBB.tflite"
    multi.write_bytes(tiny_tflite.read_bytes())
    for c in ("LLL", "HHH"):  # BBB's separate file is missing
        f = folder / f"pta_int8_{c}.tflite"
        f.write_bytes(tiny_tflite.read_bytes())
        write_manifest(f, model="unet-pta", recipe="float32", pta={"configs": [c]})
    configs = {c: {"file": f"pta_int8_{c}.tflite"} for c in ("LLL", "HHH", "BBB")}
    write_manifest(
        multi,
        model="unet-pta",
        recipe="float32",
        pta={"signatures": list(configs), "configs": configs},
        quality={"syn:val": {"signatures": {"LLL": {"miou": 0.4}, "HHH": {"miou": 0.5}, "BBB": {"miou": 0.6}}}},
    )
    profile = write_profile(tmp_path, phone.port, source="none")
    reports = tmp_path / "reports"
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        res = CliRunner().invoke(
            main,
            [
                "bench",
                str(multi),
                "--device",
                str(profile),
                "--delegate",
                "xnnpack",
                "--runs",
                "3",
                "--min-secs",
                "0",
                "--reports",
                str(reports),
                "--json",
            ],
            catch_exceptions=False,
        )
    finally:
        os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 1, res.output  # BBB's row failed
    rows = {
        r["artifact"]: r for r in json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])["rows"]
    }
    assert set(rows) == {f"{multi.stem}:{c}" for c in configs}
    for c in ("LLL", "HHH"):
        assert rows[f"{multi.stem}:{c}"]["status"] in ("ok", "fallback") and rows[f"{multi.stem}:{c}"]["total_ops"] > 0
    bbb = rows[f"{multi.stem}:BBB"]
    assert bbb["status"] == "failed" and "pta_int8_BBB.tflite" in bbb["error"] and "--pta-configs" in bbb["error"]
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    assert {"pta_int8_LLL.tflite", "pta_int8_HHH.tflite"} <= {p.name for p in work.iterdir()}
    budget = max(rows[f"{multi.stem}:{c}"]["median_ms"] for c in ("LLL", "HHH")) * 10
    r = CliRunner().invoke(
        main,
        ["select", str(multi), "--device", "loopback", "--budget-ms", str(budget), "--report", str(reports), "--json"],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["chosen"]["artifact"] == f"{multi.stem}:HHH"  # BBB has the best mIoU but failed on the device


def test_a_daemon_that_never_answers_is_not_called_an_auth_problem(tmp_path, key):
    with AdbDaemon(tmp_path / "p") as d:
        d.mute = True
        with pytest.raises(DeviceConnectionError) as err:
            AdbTcpConnection.connect("127.0.0.1", d.port, key, connect_timeout=1.0, auth_timeout=30.0)
    assert str(err.value).startswith(
        f"127.0.0.1:{d.port} accepted the TCP connection but said nothing for 1 s: it is "
        "not an adbd, or the adbd is hung"
    )
    assert "adb key" not in str(err.value) and not isinstance(err.value, DeviceAuthError)


def test_learned_facts_are_keyed_by_serial_or_fingerprint_never_the_profile(tmp_path, monkeypatch):
    from edgeseg.device.bench import device_key
    from edgeseg.device.session import known_device, remember_device

    assert device_key({"serial": "ABC123", "fingerprint": "f"}, None) == "ABC123"
    assert (
        device_key({"serial": "", "fingerprint": "mediatek/k6989v1_64/k6989:14/UP1A/1:user/release-keys"}, None)
        == "mediatek/k6989v1_64/k6989:14/UP1A/1:user/release-keys"
    )
    assert device_key({"serial": "", "fingerprint": ""}, "emulator-5554") == "emulator-5554"
    assert device_key({"serial": "", "fingerprint": ""}, None) is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    remember_device("ABC123", nnapi_accelerators=["mtk-mdla"])
    assert known_device("ABC123")["nnapi_accelerators"] == ["mtk-mdla"] and known_device("pixel") == {}


def test_nnapi_accelerators_of_a_device_without_serial_go_under_its_fingerprint(tmp_path, monkeypatch, tiny_tflite):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fingerprint = "mediatek/dimensity/k6989:14/UP1A/1:user/release-keys"
    with AdbDaemon(tmp_path / "phone", props={"ro.serialno": "", "ro.build.fingerprint": fingerprint}) as phone:
        binary = tmp_path / "benchmark_model"
        binary.write_text(FAKE_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1))
        lines = write_profile(tmp_path, phone.port, source="none").read_text()
        lines = lines.replace('runner = "python"', 'runner = "benchmark_model"').replace(
            "[delegates.xnnpack]", '[delegates.nnapi]\nflags = ["--use_nnapi=true"]\n[delegates.xnnpack]'
        )
        profile = tmp_path / "mtk.toml"
        profile.write_text(lines.replace('name = "loopback"', 'name = "dimensity"'))
        from edgeseg.device.bench import bench_device

        with session_for(profile, tmp_path / "adbkey") as s:
            bench_device(
                s, bench_config(runs=3, min_secs=0, power=False, benchmark_binary=str(binary)), [tiny_tflite], ["nnapi"]
            )
    cache = json.loads((tmp_path / "cache/edgeseg/devices.json").read_text())
    assert list(cache) == [fingerprint] and cache[fingerprint]["nnapi_accelerators"] == [
        "ipuadaptor",
        "nnapi-reference",
    ]


# -- the official benchmark_model, fetched once ------------------------------------------------


@pytest.fixture
def binary_server(tmp_path):
    """A loopback HTTP server standing in for storage.googleapis.com (EDGESEG_BINARY_MIRROR)."""
    import http.server
    import socketserver

    root = tmp_path / "mirror"
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            requests.append(self.path)

    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_bench_fetches_the_official_binary_once_and_records_it(
    phone, tiny_tflite, tmp_path, binary_server, monkeypatch
):
    from edgeseg.device.binaries import BINARIES, GCS
    from edgeseg.fileio import sha256_file

    root, base, requests = binary_server
    url = BINARIES[("benchmark_model", "android-arm64")].url
    served = root / url[len(GCS) + 1 :]
    served.parent.mkdir(parents=True)
    served.write_text(FAKE_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1))
    monkeypatch.setenv("EDGESEG_BINARY_MIRROR", base)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ADB_KEY_PATH", str(tmp_path / "adbkey"))
    lines = write_profile(tmp_path, phone.port, source="none").read_text()
    profile = tmp_path / "pixel-like.toml"
    profile.write_text(
        lines.replace('runner = "python"', 'runner = "benchmark_model"').replace(
            "[delegates.xnnpack]", '[delegates.xnnpack]\nflags = ["--use_xnnpack=true"]'
        )
    )
    args = [
        "bench",
        str(tiny_tflite),
        "--device",
        str(profile),
        "--delegate",
        "xnnpack",
        "--reports",
        str(tmp_path / "r"),
        "--json",
    ]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    cached = tmp_path / "cache/edgeseg/bin/android-arm64/benchmark_model"
    assert cached.read_bytes() == served.read_bytes() and os.access(cached, os.X_OK)
    assert "benchmark_model: downloaded official build for arm64-v8a (" + url in res.output
    run = json.loads(
        (
            Path(json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])["report"]) / "run.json"
        ).read_text()
    )
    assert run["device"]["benchmark_binary"]["url"] == url  # the public URL, even when fetched from a mirror
    assert run["device"]["benchmark_binary"]["sha256"] == sha256_file(served)
    assert len(requests) == 1
    res = CliRunner().invoke(main, args, catch_exceptions=False)  # reused: no second download
    assert res.exit_code == 0 and len(requests) == 1 and "benchmark_model: cached official build" in res.output


def test_offline_says_where_to_put_a_copy_and_then_uses_it(phone, tiny_tflite, tmp_path, monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("EDGESEG_BINARY_MIRROR", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ADB_KEY_PATH", str(tmp_path / "adbkey"))
    lines = write_profile(tmp_path, phone.port, source="none").read_text()
    profile = tmp_path / "pixel-like.toml"
    profile.write_text(lines.replace('runner = "python"', 'runner = "benchmark_model"'))
    args = ["bench", str(tiny_tflite), "--device", str(profile), "--delegate", "cpu", "--reports", str(tmp_path / "r")]
    res = CliRunner().invoke(main, args)
    cached = tmp_path / "cache/edgeseg/bin/android-arm64/benchmark_model"
    assert res.exit_code == 1
    assert res.output.startswith(
        "Error: cannot download https://storage.googleapis.com/tensorflow-nightly-public/prod/"
        "tensorflow/release/lite/tools/nightly/latest/android_aarch64_benchmark_model ("
    )
    assert (
        f"Without network access here: download that URL on a machine that has it (the list of builds: "
        f"https://ai.google.dev/edge/litert/models/measurement), copy the file to {cached} and run the command "
        "again, or pass --benchmark-binary PATH"
    ) in res.output
    assert not cached.exists() and not list(cached.parent.glob("*.part"))
    cached.write_text(FAKE_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1))  # the user's copy
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "benchmark_model: cached official build for arm64-v8a" in res.output


# -- litert-npu: the model compiled for the SoC, on LiteRT's CompiledModel benchmark_model -------


def test_litert_npu_row_runs_the_compiled_model_with_the_dispatch_library(phone, tiny_tflite, tmp_path):
    from edgeseg.artifact import read_manifest, write_manifest

    published = (
        Path(__file__).resolve().parents[1] / "data/benchmark_model/litert_compiled_model_profiler.txt"
    ).read_text()
    runner = tmp_path / "litert_benchmark_model"
    runner.write_text(
        f'{phone.sandbox.shebang}\necho "$@" >> "$(dirname "$0")/.litert_calls"\ncat <<\'OUT\'\n{published}OUT\n'
    )
    lib = tmp_path / "libLiteRtDispatch_MediaTek.so"
    lib.write_bytes(b"\x7fELF" + bytes(60))
    phone.sandbox.put_library("system_ext/lib64/libneuronusdk_adapter.mtk.so")  # the NeuroPilot adapter it probes
    folder = tmp_path / "arts"
    folder.mkdir()
    art = folder / "m_int8.tflite"
    art.write_bytes(tiny_tflite.read_bytes())
    write_manifest(
        art, **{k: v for k, v in read_manifest(tiny_tflite).to_dict().items() if k in ("model", "recipe", "classes")}
    )
    compiled = folder / "m_int8_MediaTek_MT6989.tflite"  # as `edgeseg compile --soc MT6989` names it
    compiled.write_bytes(tiny_tflite.read_bytes())
    write_manifest(
        compiled,
        model="resunet",
        recipe="float32",
        compiled={
            "soc": "MT6989",
            "manufacturer": "MediaTek",
            "target_id": "MediaTek_MT6989",
            "ops_compiled": 45,
            "ops_total": 45,
            "partitions": 1,
            "ops_left_on_cpu": {},
            "fully_compiled": True,
            "source": art.name,
        },
    )
    lines = write_profile(tmp_path, phone.port, source="none").read_text()
    lines = lines.replace('runner = "python"', f'runner = "benchmark_model"\nlitert_benchmark_binary = "{runner}"')
    lines = lines.replace(
        "[delegates.cpu]",
        f'[delegates.litert-npu]\nrunner = "litert"\nsoc = "MT6989"\ndispatch_libs = ["{lib}"]\n[delegates.cpu]',
    )
    profile = tmp_path / "mtk.toml"
    profile.write_text(lines)
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        res = CliRunner().invoke(
            main,
            [
                "bench",
                str(art),
                "--device",
                str(profile),
                "--delegate",
                "litert-npu",
                "--runs",
                "10",
                "--reports",
                str(tmp_path / "r"),
                "--json",
            ],
            catch_exceptions=False,
        )
    finally:
        os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])["rows"]
    assert row["status"] == "ok" and row["runner"] == "litert benchmark_model (CompiledModel)"
    assert (row["delegated_ops"], row["total_ops"], row["partitions"]) == (45, 45, 1)
    assert row["mean_ms"] == pytest.approx(0.46) and row["median_ms"] == pytest.approx(0.462)
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    assert (work / compiled.name).read_bytes() == compiled.read_bytes()
    assert (work / "litert/libLiteRtDispatch_MediaTek.so").read_bytes() == lib.read_bytes()  # beside the binary
    (call,) = (work / "litert/.litert_calls").read_text().replace(str(phone.sandbox.root), "").splitlines()
    for flag in (
        f"--graph=/data/local/tmp/edgeseg/{compiled.name}",
        "--use_npu=true",
        "--use_cpu=false",
        "--require_full_delegation=true",
        "--dispatch_library_path=/data/local/tmp/edgeseg/litert",
    ):
        assert flag in call.split()
    # without a compiled copy: a failed row that says how to make one
    compiled.unlink()
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        res = CliRunner().invoke(
            main,
            [
                "bench",
                str(art),
                "--device",
                str(profile),
                "--delegate",
                "litert-npu",
                "--runs",
                "3",
                "--reports",
                str(tmp_path / "r"),
                "--json",
            ],
        )
    finally:
        os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 1
    (row,) = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])["rows"]
    assert row["status"] == "failed" and row["error"] == (
        f"no copy of m_int8.tflite compiled for MT6989 beside it: run "
        f"`edgeseg compile {art} --soc MT6989` first (it needs the "
        "vendor's compiler SDK)"
    )


# -- Ctrl-C during a device bench ----------------------------------------------------------------

SLOW_BENCHMARK_MODEL = r"""#!/bin/sh
echo $$ > "$(dirname "$0")/.fake_pid"
echo "INFO: Loaded model"
while :; do sleep 0.1; done
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


@pytest.mark.parametrize("how, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_during_a_device_bench_stops_the_device_side_and_exits_130(tmp_path, tiny_tflite, how, code):
    """Ctrl-C (or SIGTERM) while benchmark_model runs: the session's processes on the phone (the
    benchmark, the power sampler's loops) are killed by their recorded pids, its temporary files
    removed, no half report is left, and the exit status is 130 (143). The loopback phone keeps
    background processes alive when the connection closes, as a phone does."""
    import signal

    with AdbDaemon(tmp_path / "phone") as phone:
        phone.kill_on_close = False
        work = phone.sandbox.root / "data/local/tmp/edgeseg"
        work.mkdir(parents=True, exist_ok=True)
        binary = tmp_path / "benchmark_model"
        binary.write_text(SLOW_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1))
        driver = SensorDriver(phone.sandbox, work)
        driver.thread.start()
        profile = bm_profile(tmp_path, phone.port)
        reports = tmp_path / "reports"

        def interrupt_when_running():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (work / ".fake_pid").exists():
                time.sleep(0.05)
            time.sleep(0.3)
            os.kill(os.getpid(), getattr(signal, how))

        threading.Thread(target=interrupt_when_running, daemon=True).start()
        os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
        try:
            res = CliRunner().invoke(
                main,
                [
                    "bench",
                    str(tiny_tflite),
                    "--device",
                    str(profile),
                    "--delegate",
                    "cpu",
                    "--benchmark-binary",
                    str(binary),
                    "--runs",
                    "5",
                    "--reports",
                    str(reports),
                ],
                catch_exceptions=False,
            )
        finally:
            driver.stop.set()
            os.environ.pop("ADB_KEY_PATH", None)
        assert res.exit_code == code, res.output
        assert "bench interrupted by" in res.output and "processes on the device were stopped" in res.output
        fake = int((work / ".fake_pid").read_text())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(fake):
            time.sleep(0.05)
        assert not _alive(fake), "the benchmark still runs on the phone"
        left = sorted(p.name for p in work.iterdir() if p.name.startswith((".bench_", ".power_", ".pids_")))
        assert left == [], left
        sampler_log = list(work.glob(".power_*"))
        time.sleep(0.3)
        assert list(work.glob(".power_*")) == sampler_log == []  # no sampler loop writes any more
        assert not reports.exists() or not [p for p in reports.iterdir()]  # no report folder, whole or half


def test_merged_report_of_a_power_run_and_a_no_power_run_keeps_each_runs_figures(phone, tiny_tflite, tmp_path):
    """Two bench runs of the same artifact, device and delegate, one with power and one with
    --no-power, merged by `edgeseg report`: each row carries its run id, the energy stays on the
    power run's row only, and the trace plot has one panel per run."""
    profile = write_profile(tmp_path, phone.port)
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work)
    driver.thread.start()
    reports = tmp_path / "reports"
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    try:
        for extra in ([], ["--no-power"]):
            r = CliRunner().invoke(
                main,
                [
                    "bench",
                    str(tiny_tflite),
                    "--device",
                    str(profile),
                    "--delegate",
                    "xnnpack",
                    "--runs",
                    "5",
                    "--min-secs",
                    "0.5",
                    "--reports",
                    str(reports),
                    *extra,
                ],
                catch_exceptions=False,
            )
            assert r.exit_code == 0, r.output
            time.sleep(1.1)  # report folders are named by the UTC second
    finally:
        driver.stop.set()
        os.environ.pop("ADB_KEY_PATH", None)
    runs = sorted(p.name for p in reports.iterdir())
    assert len(runs) == 2
    r = CliRunner().invoke(main, ["report", str(reports), "--reports", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.output
    folder = Path(r.output.strip().splitlines()[-1].split("report: ")[1].split(" (")[0])
    summary = list(csv.DictReader(open(folder / "summary.csv")))
    assert sorted(s["run_id"] for s in summary) == runs
    by_run = {s["run_id"]: s for s in summary}
    power_run, latency_run = runs  # the power run came first
    assert float(by_run[power_run]["energy_mj_per_inference"]) > 0 and float(by_run[power_run]["energy_mj_err"]) > 0
    assert by_run[latency_run]["energy_mj_per_inference"] == "" and by_run[latency_run]["power_status"] == ""
    power = list(csv.DictReader(open(folder / "power.csv")))
    assert [p["run_id"] for p in power] == [power_run]
    latency = list(csv.DictReader(open(folder / "latency.csv")))
    assert sorted(x["run_id"] for x in latency) == runs
    trace = list(csv.DictReader(open(folder / "power_trace.csv")))
    assert {t["run_id"] for t in trace} == {power_run}
    from edgeseg.reporting import plots

    panels = []
    real = plots.power_trace_plot
    two = [{**t, "run_id": rid} for rid in runs for t in trace]  # the same row in two runs: two panels, never one line
    import matplotlib.pyplot as plt

    orig = plt.subplots
    plt.subplots = lambda n, *a, **kw: (panels.append(n), orig(n, *a, **kw))[1]
    try:
        real(two, tmp_path / "two.png")
    finally:
        plt.subplots = orig
    assert panels == [2]
