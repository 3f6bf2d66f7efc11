"""Several devices in one sweep (issue 21): three loopback phones measured in parallel, one
of them lost mid-sweep; one report with a device column; exit 1 names the lost device."""

import csv
import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from adbd import AdbDaemon
from click.testing import CliRunner

from edgeseg.cli import main

pytestmark = pytest.mark.e2e


def phone_profile(tmp_path, name, port):
    lines = [
        f'name = "{name}"',
        'transport = "tcp"',
        f'address = "127.0.0.1:{port}"',
        'runner = "python"',
        f'python = "{sys.executable}"',
        "threads = 1",
        "[delegates.cpu]",
        "[delegates.xnnpack]",
        "[power]",
        'source = "none"',
    ]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def three_phones(tmp_path):
    phones = []
    for i, name in enumerate(("alpha", "beta", "gamma")):
        d = AdbDaemon(
            tmp_path / name,
            props={"ro.serialno": f"SERIAL{i}", "ro.product.model": f"Phone {name}", "ro.soc.model": f"SoC{i}"},
        )
        d.start()
        phones.append((name, d, phone_profile(tmp_path, name, d.port)))
    yield phones
    for _, d, _ in phones:
        d.stop()


def _bench(args, tmp_path, key_home):
    env = {"HOME": str(key_home)}  # a fresh HOME: the sessions share one new ~/.android/adbkey
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("ADB_KEY_PATH", None)
    try:
        start = time.monotonic()
        res = CliRunner().invoke(
            main,
            [
                "bench",
                *args,
                "--delegate",
                "cpu,xnnpack",
                "--runs",
                "3",
                "--min-secs",
                "0.3",
                "--no-power",
                "--reports",
                str(tmp_path / "r"),
                "--json",
            ],
            catch_exceptions=False,
        )
        return res, time.monotonic() - start
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _json(output):
    return json.loads(output[output.index("{") : output.rindex("}") + 1])


def test_three_devices_one_lost_mid_sweep(three_phones, tiny_tflite, tmp_path):
    from edgeseg.device import bench as bench_mod

    real, calls = bench_mod.split_sections, []
    gamma = three_phones[2][1]

    def lose_gamma_after_its_first_row(text):
        if threading.current_thread().name == "edgeseg-bench-gamma":
            calls.append(1)
            if len(calls) == 1:
                gamma.vanish()
        return real(text)

    bench_mod.split_sections = lose_gamma_after_its_first_row
    try:
        args = [str(tiny_tflite)] + [a for _, _, p in three_phones for a in ("--device", str(p))]
        res, _ = _bench(args, tmp_path, tmp_path / "home")
    finally:
        bench_mod.split_sections = real
    assert res.exit_code == 1, res.output
    assert "error: device gamma (SERIAL2) was lost: " in res.output
    assert "device alpha" not in res.output.split("error:")[-1] and "device beta" not in res.output.split("error:")[-1]
    for name in ("alpha", "beta"):
        assert f"[{name}] ok: 2 of 2 row(s) measured" in res.output
    assert "[gamma] lost: 1 of 2 row(s) measured" in res.output
    out = _json(res.output)
    by = {(r["device"], r["delegate"]): r for r in out["rows"]}
    assert sorted(by) == [(d, g) for d in ("alpha", "beta", "gamma") for g in ("cpu", "xnnpack")]
    assert all(by[(d, g)]["status"] == "ok" for d in ("alpha", "beta") for g in ("cpu", "xnnpack"))
    assert by[("gamma", "cpu")]["status"] == "ok" and by[("gamma", "xnnpack")]["status"] == "failed"
    assert [d["status"] for d in out["devices"]] == ["ok", "ok", "lost"]
    with open(Path(out["report"]) / "latency.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["device"], r["serial"], r["model"], r["soc"]) for r in rows} == {
        ("alpha", "SERIAL0", "Phone alpha", "Google SoC0"),
        ("beta", "SERIAL1", "Phone beta", "Google SoC1"),
        ("gamma", "SERIAL2", "Phone gamma", "Google SoC2"),
    }
    run = json.loads((Path(out["report"]) / "run.json").read_text())
    assert [d["label"] for d in run["device"]["devices"]] == ["alpha", "beta", "gamma"]
    assert sorted(p.name for p in (tmp_path / "home" / ".android").iterdir()) == ["adbkey", "adbkey.pub"]


def test_a_device_that_cannot_be_reached_is_its_own_failure(three_phones, tiny_tflite, tmp_path):

    three_phones[1][1].vanish()  # beta is gone before the sweep starts: its port refuses
    args = [str(tiny_tflite)] + [a for _, _, p in three_phones for a in ("--device", str(p))]
    res, _ = _bench(args, tmp_path, tmp_path / "home")
    assert res.exit_code == 1, res.output
    assert "error: device beta was lost: cannot reach 127.0.0.1:" in res.output
    out = _json(res.output)
    assert [d["status"] for d in out["devices"]] == ["ok", "lost", "ok"]
    assert {r["status"] for r in out["rows"] if r["device"] == "beta"} == {"failed"}


def test_serial_or_address_with_several_devices_is_a_usage_error(three_phones, tiny_tflite, tmp_path):
    res = CliRunner().invoke(
        main,
        [
            "bench",
            str(tiny_tflite),
            "--device",
            str(three_phones[0][2]),
            "--device",
            str(three_phones[1][2]),
            "--serial",
            "X",
        ],
    )
    assert res.exit_code == 2 and "--serial names one device" in res.output


def test_parallel_sweep_against_one_device_sweeps(three_phones, tiny_tflite, tmp_path, record_property):
    """The wall time of one three-device sweep against three one-device sweeps, side by side."""
    args = [a for _, _, p in three_phones for a in ("--device", str(p))]
    res, together = _bench([str(tiny_tflite), *args], tmp_path, tmp_path / "home")
    assert res.exit_code == 0, res.output
    apart = 0.0
    for _, _, p in three_phones:
        r, t = _bench([str(tiny_tflite), "--device", str(p)], tmp_path, tmp_path / "home")
        assert r.exit_code == 0, r.output
        apart += t
    record_property("three_device_sweep_s", round(together, 2))
    record_property("three_one_device_sweeps_s", round(apart, 2))
    print(f"\nwall time: one sweep over three devices {together:.1f} s; three one-device sweeps {apart:.1f} s")
    assert together < apart


def test_ctrl_c_reaches_every_device_thread():
    """Ctrl-C lands in the main thread; each device's thread gets it too and cleans up."""
    import signal

    from edgeseg.device.fleet import Target, run_parallel

    cleaned = []

    def work(t):
        try:
            while True:
                time.sleep(0.01)
        except KeyboardInterrupt:
            cleaned.append(t.label)
            raise

    targets = [Target(None, None, name) for name in ("a", "b", "c")]
    threading.Timer(0.5, signal.raise_signal, args=(signal.SIGINT,)).start()
    with pytest.raises(KeyboardInterrupt):
        run_parallel(targets, work)
    assert sorted(cleaned) == ["a", "b", "c"]
