"""`edgeseg bench --sustained DURATION [--window SECS] [--cooldown]`: windows, the throttling
verdict, the phone's CPU frequencies in the conditions snapshot, and the cool-down between rows.

Deterministic by construction: the number of windows is ceil(DURATION / WINDOW) whatever the
host's speed, the loopback phone's benchmark_model double decides what it prints (and what it
writes into the sandbox's cpufreq and thermal files) by counting its own invocations, and the
cool-down counts the seconds it slept (time.sleep is replaced), never the host's clock."""

import csv
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from phones import loopback_profile

from edgeseg.cli import main
from edgeseg.device import sustained as sus
from edgeseg.device.bench import conditions_snapshot, parse_conditions, read_temperature
from edgeseg.device.profiles import DeviceProfile, ThermalSpec
from edgeseg.errors import UsageError

# -- the duration parser ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("10m", 600), ("1h", 3600), ("90", 90), ("0.5s", 0.5), (" 2 min ", 120), (2.5, 2.5), ("1.5H", 5400)],
)
def test_durations(text, seconds):
    assert sus.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text, message",
    [
        ("abc", "is not a duration"),
        ("10 minutes", "is not a duration"),
        ("-3s", "is not a duration"),
        ("0", "more than 0"),
        (0.0, "more than 0"),
        (float("nan"), "is not a duration"),
        ("", "is not a duration"),
    ],
)
def test_bad_durations_are_usage_errors(text, message):
    with pytest.raises(UsageError, match=message) as exc:
        sus.parse_duration(text, "--window")
    assert exc.value.param == "--window"


def test_window_count_is_the_ceiling_without_rounding_noise():
    assert sus.window_count(3, 0.5) == 6
    assert sus.window_count(3, 0.1) == 30  # 3 / 0.1 = 30.000000000000004
    assert sus.window_count(10, 3) == 4
    assert sus.window_count(30, 30) == 1


# -- the verdict ------------------------------------------------------------------------------


def windows(medians, p95_over=0.8, cpu=None, zone=None, failed=()):
    out = []
    for i, m in enumerate(medians, start=1):
        w = {"window": i, "median_ms": m, "p95_ms": m + p95_over, "p90_ms": None, "runs": 50, "status": "ok"}
        if cpu:
            w["cpu_max_mhz"] = cpu[i - 1]
        if zone:
            w["zone_max_c"] = zone[i - 1]
        if i in failed:
            w.update(status="failed", median_ms=None, p95_ms=None, error="benchmark_model crashed")
        out.append(w)
    return out


def test_a_sustained_rise_with_a_frequency_drop_is_throttled_from_the_first_window_of_it():
    ws = windows(
        [33.2, 33.4, 33.3, 46.5, 46.4, 46.6],
        cpu=[2850, 2850, 2850, 1800, 1800, 1800],
        zone=[38.0, 39.0, 40.0, 61.0, 61.0, 61.0],
    )
    v = sus.throttling_verdict(ws)
    assert v["throttling"] == "throttled" and v["throttling_onset_window"] == 4
    assert v["sustained_median_ms"] == pytest.approx(46.5)  # the median of windows 5 and 6 (the last third)
    assert v["sustained_change"] == pytest.approx(46.5 / 33.3 - 1)  # against the first three windows
    assert v["throttling_evidence"].startswith("median 33.3 -> 46.5 ms (+40%) from window 4 (window-to-window sigma")
    assert "CPU max 2850 -> 1800 MHz" in v["throttling_evidence"]
    assert "hottest zone 39.0 -> 61.0 C" in v["throttling_evidence"]
    assert "battery" not in v["throttling_evidence"]  # not readable: not named


def test_a_sustained_rise_without_evidence_is_drift_not_throttled():
    v = sus.throttling_verdict(windows([33.2, 33.4, 33.3, 46.5, 46.4, 46.6], cpu=[2850] * 6, zone=[38.0] * 6))
    assert v["throttling"] == "drift" and v["throttling_onset_window"] == 4
    assert "no CPU frequency drop or zone temperature rise to explain it" in v["throttling_evidence"]
    v = sus.throttling_verdict(windows([33.2, 33.4, 33.3, 46.5, 46.4, 46.6]))
    assert v["throttling"] == "drift" and "no CPU frequency or temperature read" in v["throttling_evidence"]


def test_windows_wandering_10_percent_on_a_steady_phone_are_steady():
    """The finding: window medians wandering +-10% from window to window with flat frequency and
    temperature gave `throttled` (+12% from window 2) against window 1's within-window spread."""
    medians = [33.0, 36.3, 31.2, 35.9, 30.1, 34.8, 36.9, 32.4, 36.6]  # +-10% around 33.5
    v = sus.throttling_verdict(windows(medians, cpu=[2850] * 9, zone=[41.0] * 9))
    assert v["throttling"] == "steady", v
    assert "within the windows' own variability (window-to-window sigma" in v["throttling_evidence"]
    assert "CPU max 2850 MHz (unchanged)" in v["throttling_evidence"]


def test_a_rise_within_the_windows_variability_is_steady_and_says_what_stayed():
    v = sus.throttling_verdict(windows([33.2, 33.6, 33.9, 33.8, 33.7, 33.9], cpu=[2850] * 6))
    assert v["throttling"] == "steady" and v["throttling_onset_window"] is None
    assert "CPU max 2850 MHz (unchanged)" in v["throttling_evidence"]


def test_a_single_slow_window_is_not_a_shift():
    assert sus.throttling_verdict(windows([33.2, 50.0, 33.3, 33.2, 33.4, 33.3]))["throttling"] == "steady"
    assert sus.throttling_verdict(windows([33.2, 33.3, 33.3, 33.2, 33.4, 50.3]))["throttling"] == "steady"


def test_failed_windows_never_give_a_verdict():
    v = sus.throttling_verdict(windows([33.2, 33.3, 33.1], failed=(1,)))
    assert v["throttling"] == "unknown" and "window 1 failed (benchmark_model crashed)" in v["throttling_evidence"]
    v = sus.throttling_verdict(windows([33.2, 40.0], failed=(2,)))
    assert (
        v["throttling"] == "unknown"
        and "1 valid window(s) of 2: a verdict needs at least 5" in (v["throttling_evidence"])
    )
    v = sus.throttling_verdict(windows([33.2]))
    assert v["throttling"] == "unknown" and v["sustained_median_ms"] is None
    # a failed window in the last third: the sustained level is the valid ones'
    v = sus.throttling_verdict(windows([33.2, 33.3, 33.1, 46.0, 46.2, 99.0], failed=(6,), cpu=[2850] * 3 + [1800] * 3))
    assert v["throttling"] == "throttled" and v["sustained_median_ms"] == pytest.approx(46.1)


def test_the_windows_own_uncertainty_is_the_floor_of_the_variability():
    """Identical windows have no window-to-window variability: the floor is each window's median
    uncertainty (std and runs), so a 3% move of perfectly flat windows is no shift (MIN_SHIFT), and
    a 10% one is."""
    flat = windows([10.0, 10.0, 10.0, 10.0, 10.3, 10.3], cpu=[2000] * 6)
    assert sus.throttling_verdict(flat)["throttling"] == "steady"
    step = windows([10.0, 10.0, 10.0, 10.0, 11.0, 11.0], cpu=[2000] * 4 + [1500] * 2)
    assert sus.throttling_verdict(step)["throttling"] == "throttled"


# -- CPU frequencies in the conditions snapshot -------------------------------------------------


def test_parse_conditions_reads_the_highest_cpu_frequency_and_skips_unreadable_ones():
    text = "\n".join(
        [
            "zone /sys/class/thermal/thermal_zone0/temp 41000",
            "battery_temp 285",
            "cpufreq /sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq 1704000",
            "cpufreq /sys/devices/system/cpu/cpu4/cpufreq/scaling_cur_freq 2850000",
            "cpufreq /sys/devices/system/cpu/cpu7/cpufreq/scaling_cur_freq ",  # unreadable: nothing
            "cpufreq /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq",  # the glob matched nothing
        ]
    )
    c = parse_conditions(text)
    assert c["cpu_max_mhz"] == 2850.0 and c["zone_max_c"] == 41.0 and c["battery_temp"] == 28.5
    assert "cpu_max_mhz" not in parse_conditions("cpufreq /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq\n")


@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_the_snapshot_runs_in_device_shells_without_errors(tmp_path, shell):
    """The snapshot in busybox ash and mksh: a missing zone, a cpufreq file that cannot be
    read (a folder) and a CPU without cpufreq give nothing, and nothing on stderr."""
    from adbd import PhoneSandbox, need_shell

    need_shell(shell)
    sb = PhoneSandbox(tmp_path / "phone", shell=shell)
    (sb.root / "sys/devices/system/cpu/cpu2/cpufreq/scaling_cur_freq").mkdir(parents=True)
    (sb.root / "sys/devices/system/cpu/cpu3").mkdir(parents=True)
    profile = DeviceProfile(
        name="x",
        path=None,
        thermal=ThermalSpec(zones=("/sys/class/thermal/thermal_zone1/temp", "/sys/class/thermal/thermal_zone9/temp")),
    )
    cmd = sb.translate(conditions_snapshot(SimpleNamespace(profile=profile)))
    res = subprocess.run(
        [*sb.shell_cmd, "-c", cmd], capture_output=True, text=True, timeout=60, env={"PATH": sb.path}, cwd=sb.root
    )
    assert res.returncode == 0 and res.stderr == "", res.stderr
    c = parse_conditions(res.stdout)  # the sandbox's paths in it: only the values are read
    assert c["cpu_max_mhz"] == 2367.0 and c["zone_max_c"] == 41.0 and c["battery_temp"] == 28.5


# -- the cool-down between rows ---------------------------------------------------------------


class FakeSession:
    """A session whose hottest zone reads the next of ``temps`` at each read (the last one
    repeated)."""

    def __init__(self, temps, max_secs=120.0):
        self.temps, self.reads = list(temps), 0
        self.profile = SimpleNamespace(
            thermal=ThermalSpec(zones=("/sys/class/thermal/thermal_zone0/temp",), cooldown_max_secs=max_secs)
        )

    def shell(self, cmd, **kw):
        t = self.temps[min(self.reads, len(self.temps) - 1)]
        self.reads += 1
        return SimpleNamespace(text="" if t is None else str(round(t * 1000)))


@pytest.fixture
def slept(monkeypatch):
    got = []
    monkeypatch.setattr(sus, "COOLDOWN_POLL_S", 5.0)
    monkeypatch.setattr(sus.time, "sleep", got.append)
    return got


def test_cooldown_waits_until_the_start_temperature_is_back(slept):
    said = []
    cool = sus.Cooldown(FakeSession([38.0, 61.0, 50.0, 39.0]), said.append, read_temperature)
    assert cool.start_c == 38.0
    assert cool.before_row() == {"cooldown_s": 0.0, "cooldown_from_c": 38.0}  # the first row: nothing to wait for
    got = cool.before_row()
    assert got == {"cooldown_s": 10.0, "cooldown_from_c": 61.0} and slept == [5.0, 5.0]
    assert said == [
        "      cooling down: 61.0 C, waiting for 40.0 C (start 38.0 C + 2 C), 0 s of at most 120 s",
        "      cooling down: 50.0 C, waiting for 40.0 C (start 38.0 C + 2 C), 5 s of at most 120 s",
    ]


def test_cooldown_that_never_cools_stops_at_the_bound_and_says_so(slept):
    said = []
    got = sus.cool_to(FakeSession([61.0], max_secs=12.0), 38.0, 12.0, said.append, read_temperature)
    assert slept == [5.0, 5.0, 2.0] and got["cooldown_s"] == 12.0 and got["cooldown_from_c"] == 61.0
    assert got["note"].startswith(
        "cool-down bound hit: still 61.0 C after 12 s (thermal.cooldown_max_secs), not "
        "back to 40.0 C (start 38.0 C + 2 C)"
    )
    assert said[-1] == "      " + got["note"]


def test_cooldown_without_a_readable_zone_is_a_note_and_no_wait(slept):
    said = []
    cool = sus.Cooldown(FakeSession([None]), said.append, read_temperature)
    assert cool.start_c is None and "no thermal zone of the profile reads" in said[0]
    cool.before_row()
    got = cool.before_row()
    assert slept == [] and got["cooldown_s"] is None and "no readable thermal zone" in got["note"]


# -- bad inputs on the command line -------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sustained", "abc"], "--sustained 'abc' is not a duration"),
        (["--sustained", "3s", "--window", "0"], "--window must be more than 0 seconds"),
        (["--sustained", "3s", "--window", "5s"], "--window 5 s is longer than --sustained 3 s"),
        (["--window", "1s"], "--window sets the windows of a --sustained run"),
        (["--sustained", "10", "--window", "0.001"], "--sustained 10 s in windows of 0.001 s plans 10,000 windows"),
        (["--sustained", "2h", "--window", "1s"], "plans 7,200 windows per row"),
    ],
)
def test_bad_sustained_options_exit_2_with_a_clear_message(tmp_path, args, message):
    res = CliRunner().invoke(main, ["bench", str(tmp_path / "a.tflite"), "--device", "pixel", *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()), res.output


def test_sustained_and_cooldown_are_for_devices(tmp_path):
    for args, name in ((["--sustained", "1m"], "--sustained"), (["--cooldown"], "--cooldown")):
        res = CliRunner().invoke(main, ["bench", str(tmp_path / "a.tflite"), "--device", "host", *args])
        assert res.exit_code == 2 and name in res.output and "host" in res.output, res.output


# -- end to end: a loopback phone that throttles at a known window ------------------------------

#: benchmark_model for the loopback phone: counts its invocations in a file next to it; from
#: invocation @K@ on it caps the CPUs' frequency, heats the thermal zone and prints latencies
#: 40% higher (the statistics line of the classic tool, in microseconds); from invocation
#: @HANG@ on it records its pid and never ends.
THROTTLING_BENCHMARK_MODEL = r"""#!/bin/sh
c="${0%/*}/benchmark_model.count"
n=0; read n 2>/dev/null < "$c"; n=$((n + 1)); echo "$n" > "$c"
if [ "$n" -ge @HANG@ ]; then echo $$ > "${0%/*}/.fake_pid"; while :; do sleep 0.1; done; fi
if [ "$n" -ge @K@ ]; then f=1800000; z=61000; m=46480; p=47600; else f=2850000; z=38000; m=33200; p=34000; fi
for x in @ROOT@/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq; do echo "$f" > "$x"; done
echo "$z" > @ROOT@/sys/class/thermal/thermal_zone1/temp
echo "INFO: Loaded model $1"
echo "INFO: Initialized session in 18.8ms."
echo "INFO: count=9 first=64791 curr=56295 min=54873 max=65831 avg=57758.2 std=4065 p5=54900 median=57100 p95=65831"
echo "INFO: count=50 first=$m curr=$m min=$((m - 600)) max=$((p + 300)) avg=$m std=450 p5=$((m - 600)) median=$m p95=$p"
echo "INFO: Inference timings in us: Init: 18777, First inference: $m, Warmup (avg): $m, Inference (avg): $m"
"""


def sustained_args(phone, tmp_path, art, k, hang=10**6, delegates="xnnpack"):
    """`edgeseg bench` arguments of a 3 s sustained run in 0.5 s windows on the loopback phone
    whose benchmark_model throttles from invocation ``k`` (and hangs from ``hang``)."""
    binary = tmp_path / "benchmark_model"
    binary.write_text(
        THROTTLING_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1)
        .replace("@K@", str(k))
        .replace("@HANG@", str(hang))
        .replace("@ROOT@", str(phone.sandbox.root))
    )
    profile = loopback_profile(
        tmp_path,
        phone.port,
        file="phone.toml",
        runner="benchmark_model",
        delegates={"xnnpack": {"flags": ["--use_xnnpack=true"]}, "cpu": {}},
        power={"source": "none"},
        thermal={"zones": ["/sys/class/thermal/thermal_zone1/temp"], "cooldown_max_secs": 30},
    )
    return [
        "bench",
        str(art),
        "--device",
        str(profile),
        "--delegate",
        delegates,
        "--benchmark-binary",
        str(binary),
        "--reports",
        str(tmp_path / "reports"),
        "--sustained",
        "3s",
        "--window",
        "0.5s",
    ]


def sustained_bench(phone, tmp_path, art, k, extra=(), delegates="xnnpack"):
    res = CliRunner().invoke(
        main, sustained_args(phone, tmp_path, art, k, delegates=delegates) + list(extra), catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    (folder,) = (tmp_path / "reports").iterdir()
    read = {
        name: list(csv.DictReader(open(folder / f"{name}.csv", newline="")))
        for name in ("sustained", "latency", "summary")
    }
    return res, folder, read


@pytest.fixture
def art(tmp_path, tiny_tflite_bytes):
    """The double never reads the model: the minimal flatbuffer (no TensorFlow needed)."""
    path = tmp_path / "tiny_fp32.tflite"
    path.write_bytes(tiny_tflite_bytes)
    return path


@pytest.mark.e2e
@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_a_sustained_run_that_throttles_is_detected_at_the_right_window(tmp_path, art, monkeypatch, shell):
    """6 windows of 0.5 s; from the 4th benchmark_model on, the CPUs are capped (2850 -> 1800
    MHz), the zone heats (38 -> 61 C) and the latency is 40% higher: throttled from window 4,
    with the frequency and temperature evidence, in sustained.csv/.png, latency and summary."""
    from adbd import AdbDaemon, need_shell

    need_shell(shell)
    monkeypatch.setenv("ADB_KEY_PATH", str(tmp_path / "adbkey"))
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        res, folder, read = sustained_bench(phone, tmp_path, art, k=4)
    ws = read["sustained"]
    assert [int(w["window"]) for w in ws] == [1, 2, 3, 4, 5, 6]
    assert "failed" not in {w["status"] for w in ws} and {w["clock"] for w in ws} == {"device"}
    assert [float(w["median_ms"]) for w in ws] == [33.2, 33.2, 33.2, 46.48, 46.48, 46.48]
    assert [float(w["cpu_max_mhz"]) for w in ws] == [2850.0] * 3 + [1800.0] * 3
    assert [float(w["zone_max_c"]) for w in ws] == [38.0] * 3 + [61.0] * 3
    assert float(ws[0]["t_start_s"]) == 0.0
    ends = [float(w["t_end_s"]) for w in ws]
    assert ends == sorted(ends) and all(
        float(w["t_start_s"]) <= float(w["t_end_s"]) for w in ws
    )  # /proc/uptime: 10 ms steps
    (row,) = read["latency"]
    assert row["throttling"] == "throttled" and row["throttling_onset_window"] == "4"
    assert float(row["median_ms"]) == 33.2 and float(row["sustained_median_ms"]) == 46.48  # window 1, then sustained
    assert float(row["sustained_change"]) == pytest.approx(0.4)
    evidence = row["throttling_evidence"]
    assert "median 33.2 -> 46.5 ms (+40%) from window 4" in evidence
    assert "CPU max 2850 -> 1800 MHz" in evidence and "hottest zone 38.0 -> 61.0 C" in evidence
    (summary,) = read["summary"]
    assert summary["throttling"] == "throttled" and summary["throttling_onset_window"] == "4"
    assert (folder / "sustained.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (folder / "power.csv").exists()  # a sustained run samples no power
    assert "sustained tiny_fp32 on xnnpack: throttled: median 33.2 -> 46.5 ms" in res.output
    assert "no power sampling (energy per inference comes from a normal bench's rows)" in res.output
    run = json.loads((folder / "run.json").read_text())
    assert run["bench"]["sustained"] == {"duration_s": 3.0, "window_s": 0.5, "windows": 6}
    # the windows' session files are gone from the phone
    work = Path(phone.sandbox.root) / "data/local/tmp/edgeseg"
    assert not [p.name for p in work.iterdir() if p.name.startswith((".bench_", ".power_", ".pids_"))]


@pytest.mark.e2e
def test_a_sustained_run_that_never_throttles_is_steady_and_rows_are_cooled(tmp_path, art, monkeypatch):
    """The same phone never throttling: steady. Two rows with --cooldown: the second waits for
    nothing (the zone reads 38 C, below the sweep's start of 41 C + 2 C) and says so."""
    from adbd import AdbDaemon

    monkeypatch.setenv("ADB_KEY_PATH", str(tmp_path / "adbkey"))
    with AdbDaemon(tmp_path / "phone") as phone:
        _, folder, read = sustained_bench(phone, tmp_path, art, k=1000, extra=["--cooldown"], delegates="xnnpack,cpu")
    assert len(read["sustained"]) == 12 and {w["delegate"] for w in read["sustained"]} == {"xnnpack", "cpu"}
    rows = {r["delegate"]: r for r in read["latency"]}
    for r in rows.values():
        assert r["throttling"] == "steady" and r["throttling_onset_window"] == "", r
        assert "median 33.2 -> 33.2 ms (+0%), within the windows' own variability" in r["throttling_evidence"]
        assert "CPU max 2850 MHz (unchanged)" in r["throttling_evidence"]
    assert float(rows["xnnpack"]["cooldown_s"]) == 0 and float(rows["xnnpack"]["cooldown_from_c"]) == 41.0
    assert float(rows["cpu"]["cooldown_s"]) == 0 and float(rows["cpu"]["cooldown_from_c"]) == 38.0
    run = json.loads((folder / "run.json").read_text())
    assert run["bench"]["cooldown"] is True
    res = CliRunner().invoke(main, ["report", str(folder), "--reports", str(tmp_path / "merged")])
    assert res.exit_code == 0, res.output
    (merged,) = (tmp_path / "merged").iterdir()
    assert len(list(csv.DictReader(open(merged / "sustained.csv", newline="")))) == 12
    assert (merged / "sustained.png").is_file()


@pytest.mark.e2e
def test_ctrl_c_in_a_later_window_stops_that_windows_processes_on_the_phone(tmp_path, art):
    """Ctrl-C while window 3's benchmark_model runs: the window's processes on the phone are
    stopped (every window runs under its row's tag, the one the interrupt cleans up), its files
    removed, no report written, exit 130."""
    import signal
    import threading
    import time

    from adbd import AdbDaemon

    with AdbDaemon(tmp_path / "phone") as phone:
        phone.kill_on_close = False  # a phone keeps background processes when the connection closes
        work = phone.sandbox.root / "data/local/tmp/edgeseg"

        def interrupt_when_running():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not (work / ".fake_pid").exists():
                time.sleep(0.05)
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt_when_running, daemon=True).start()
        os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
        try:
            res = CliRunner().invoke(main, sustained_args(phone, tmp_path, art, k=1000, hang=3), catch_exceptions=False)
        finally:
            os.environ.pop("ADB_KEY_PATH", None)
        assert res.exit_code == 130, res.output
        assert "window 2/6: median 33.20 ms" in res.output and "window 3/6" not in res.output
        assert "bench interrupted by" in res.output and "processes on the device were stopped" in res.output
        fake = int((work / ".fake_pid").read_text())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(fake):
            time.sleep(0.05)
        assert not _alive(fake), "window 3's benchmark still runs on the phone"
        assert not [p.name for p in work.iterdir() if p.name.startswith((".bench_", ".power_", ".pids_"))]
        assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


#: benchmark_model of a steady phone whose window medians wander +-10% (DVFS, background work):
#: invocation n prints the n-th median of @MEDIANS@ (us), with the CPUs and zone unchanged.
WANDERING_BENCHMARK_MODEL = r"""#!/bin/sh
c="${0%/*}/benchmark_model.count"
n=0; read n 2>/dev/null < "$c"; n=$((n + 1)); echo "$n" > "$c"
i=0; m=33200
for v in @MEDIANS@; do i=$((i + 1)); if [ "$i" -eq "$n" ]; then m=$v; fi; done
p=$((m + 800))
echo "INFO: Loaded model $1"
echo "INFO: count=50 first=$m curr=$m min=$((m - 600)) max=$((p + 300)) avg=$m std=450 p5=$((m - 600)) median=$m p95=$p"
echo "INFO: Inference timings in us: Init: 18777, First inference: $m, Warmup (avg): $m, Inference (avg): $m"
"""


@pytest.mark.e2e
@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_windows_wandering_on_a_steady_loopback_phone_are_not_throttled(tmp_path, art, monkeypatch, shell):
    """The finding on the loopback phone: 6 windows whose medians wander +-10% (33.0 -> 36.3 ->
    31.2 ...) with the CPU frequency and zone flat: `steady` (it was `throttled`, +12% from window
    2, against window 1's own spread)."""
    from adbd import AdbDaemon, need_shell

    need_shell(shell)
    monkeypatch.setenv("ADB_KEY_PATH", str(tmp_path / "adbkey"))
    medians = [33000, 36300, 31200, 35900, 30100, 36500]
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        args = sustained_args(phone, tmp_path, art, k=10**6)
        binary = tmp_path / "benchmark_model"
        binary.write_text(
            WANDERING_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1).replace(
                "@MEDIANS@", " ".join(map(str, medians))
            )
        )
        res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (folder,) = (tmp_path / "reports").iterdir()
    ws = list(csv.DictReader(open(folder / "sustained.csv", newline="")))
    assert [float(w["median_ms"]) for w in ws] == [m / 1000 for m in medians]
    (row,) = csv.DictReader(open(folder / "latency.csv", newline=""))
    assert row["throttling"] == "steady", row["throttling_evidence"]
    assert "within the windows' own variability" in row["throttling_evidence"]


# -- the power row's thermal wait is recorded (issue 29: it was silent) --------------------------


class FakeClock:
    """time for edgeseg.device.bench: sleep advances monotonic, nothing waits."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, s):
        self.now += s


def test_a_power_rows_wait_for_a_hot_phone_is_recorded_with_its_temperatures(monkeypatch):
    from edgeseg.device import bench

    monkeypatch.setattr(bench, "time", FakeClock())
    said = []
    got = bench.cool_down(FakeSession([50.0, 47.0, 44.0]), said.append)
    assert got["cooldown_s"] == 20.0 and got["cooldown_from_c"] == 50.0
    assert got["note"] == (
        "waited 20 s before the power row for the hottest zone to fall from 50.0 C below "
        "thermal.cooldown_above_c = 45 C"
    )
    assert said[0] == "      cooling down: 50.0 C > 45 C (thermal.cooldown_above_c)"
    # never cooling: bounded by thermal.cooldown_max_secs, and said
    got = bench.cool_down(FakeSession([50.0], max_secs=30.0), said.append)
    assert got["cooldown_s"] == 30.0 and "still 50.0 C at thermal.cooldown_max_secs = 30 s" in got["note"]
    # a cool phone: no wait, no note, the temperature still recorded
    assert bench.cool_down(FakeSession([40.0]), said.append) == {"cooldown_s": 0.0, "cooldown_from_c": 40.0}


def test_host_rows_on_a_busy_host_are_noisy_with_the_load_beside_them():
    from edgeseg.host import busy_host
    from edgeseg.reporting.tables import noisy_row

    assert busy_host(6.7, 2) and busy_host(1.0, 2) and not busy_host(0.9, 2) and not busy_host(None, 2)
    tight = {"median_ms": 40.0, "p90_ms": 41.0}
    assert noisy_row({**tight, "host_load_1m": 6.7, "host_cores": 2}, 41 / 40) is True
    assert noisy_row({**tight, "host_load_1m": "0.2", "host_cores": "2"}, 41 / 40) is False
    assert noisy_row(tight, None) is None
