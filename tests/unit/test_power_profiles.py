"""Power-log parsing and the energy formula by hand; device profile validation; benchmark
command construction."""

import pytest

from edgeseg.device import power as pw
from edgeseg.device.bench import benchmark_model_command, python_runner_command, split_sections
from edgeseg.device.profiles import DelegateSpec, PowerSpec, load_profile, parse_profile
from edgeseg.errors import DeviceError

# A power log as the device-side sampler writes it: boot-clock seconds from /proc/uptime; the
# rail counters' own timestamp (t=, ms on the same clock) and accumulated energy per rail.
LOG = """M idle_start 100.0
S 100.0 -200000 4000000 285 | 30000 41000 | 1704000 2367000
R 100.0 t=100000
R 100.0 CH0(T=100000)[S4M_VDD_CPUCL0], 1000000
R 100.0 CH1(T=100000)[S5M_VDD_INT], 500000
S 100.5 -200000 4000000 285 | 30000 41000 | 1704000 2367000
R 100.5 t=100500
R 100.5 CH0(T=100500)[S4M_VDD_CPUCL0], 1300000
R 100.5 CH1(T=100500)[S5M_VDD_INT], 600000
M run_start 101.0
S 101.0 -700000 3900000 290 | 31000 45000 | 2400000 2850000
R 101.0 t=101000
R 101.0 CH0(T=101000)[S4M_VDD_CPUCL0], 1600000
R 101.0 CH1(T=101000)[S5M_VDD_INT], 700000
S 102.0 -900000 3900000 291 |  | 
R 102.0 t=102000
R 102.0 CH0(T=102000)[S4M_VDD_CPUCL0], 3600000
R 102.0 CH1(T=102000)[S5M_VDD_INT], 1200000
S 102.5 garbage
S 1795327138.%N -900000 3900000 291 |  | 
M run_end 102.5
"""


def test_parse_power_log_units_and_sign():
    log = pw.parse_power_log(LOG, PowerSpec())
    assert log.markers == {"idle_start": 100.0, "run_start": 101.0, "run_end": 102.5}
    s0 = log.samples[0]
    assert s0["current_ma"] == 200.0 and s0["voltage_v"] == 4.0 and s0["power_mw"] == pytest.approx(800.0)
    assert s0["battery_c"] == 28.5 and s0["zones_c"] == [30.0, 41.0] and s0["cpu_khz"] == [1704000, 2367000]
    assert log.samples[3]["zones_c"] == [] and log.samples[4]["current_ma"] is None
    assert len(log.samples) == 5  # busybox's literal "%N" time: the line is not a sample
    assert [r["uws"]["S5M_VDD_INT"] for r in log.rails] == [500000, 600000, 700000, 1200000]
    assert [r["t_ms"] for r in log.rails] == [100000, 100500, 101000, 102000]
    # a device whose gauge reads positive while discharging (current_sign = 1)
    ma = pw.parse_power_log("S 1.0 250 3800 300 | |", PowerSpec(current_unit="mA", voltage_unit="mV", current_sign=1))
    assert ma.samples[0]["power_mw"] == pytest.approx(250 * 3.8)
    # the same reading on a device that reads negative while discharging: a net charge current
    assert (
        pw.parse_power_log("S 1.0 250 3800 300 | |", PowerSpec(current_unit="mA", voltage_unit="mV")).samples[0][
            "current_ma"
        ]
        == -250
    )


def test_hal_only_phone_keeps_the_battery_temperature_in_its_field():
    """Current and voltage unreadable (a HAL-only phone): the sampler's fields stay in place."""
    log = pw.parse_power_log("S 5.0 ;;;301 | 41000 | 1704000\n", PowerSpec())
    (s,) = log.samples
    assert s["current_ma"] is None and s["voltage_v"] is None and s["power_mw"] is None
    assert s["battery_c"] == pytest.approx(30.1) and s["zones_c"] == [41.0]
    # what the device prints: the sampler's line runs in busybox ash / mksh with empty reads
    cmd = pw.sampler_start(
        PowerSpec(),
        __import__("edgeseg.device.profiles", fromlist=["x"]).ThermalSpec(),
        "/data/local/tmp/l",
        "/data/local/tmp/s",
        [],
    )
    assert 'echo "S $t ;$c;$v;$b |$z |$fr"' in cmd


def test_energy_formula_by_hand():
    log = pw.parse_power_log(LOG, PowerSpec())
    # battery: samples strictly inside each window (one stamped on an edge's /proc/uptime tick may
    # have been read before or after it): 2 and 2, but the gauge changes once a second here: the idle
    # window holds the log's first reading (taken any time before), the timed one two updates within a
    # period of its start (each may average idle time): no update to count, no bounded figure
    e = pw.energy(log, (99.99, 101.0 - 1e-9), (100.99, 102.5), mean_latency_ms=20.0, sources=["battery"])
    assert e["energy_source"] == "battery" and e["status"] == "uncertain" and e["energy_mj_per_inference"] is None
    assert (e["gauge_samples_idle"], e["gauge_samples_run"]) == (2, 2) and e["gauge_update_s"] == pytest.approx(1.0)
    assert (e["gauge_updates_idle"], e["gauge_updates_run"]) == (0, 0) and e["counter_readings_run"] is None
    assert "gave 0 update(s) in the 1.0 s idle window and 0 in the 1.5 s timed window" in e["error"]
    assert (e["temp_start_c"], e["temp_end_c"]) == (28.5, 29.1)
    # a 10 Hz gauge that changes at every sample: energy = (run - idle) x latency from its updates
    wobble = [2.0, -2.0] * 20
    g = pw.parse_power_log(_gauge_log([1000.0 + w for w in wobble] + [3000.0 + w for w in wobble]), PowerSpec())
    e = pw.energy(g, (0.0, 3.95), (4.05, 7.95), mean_latency_ms=20.0, sources=["battery"])
    assert e["status"] == "ok" and e["gauge_update_s"] == pytest.approx(0.1)
    i = pw.gauge_window(g.samples, 0.0, 3.95)
    r = pw.gauge_window(g.samples, 4.05, 7.95)
    assert (e["gauge_updates_idle"], e["gauge_updates_run"]) == (i["n"], r["n"]) and 36 <= i["n"] <= 38
    assert (
        (e["idle_mw"], e["run_mw"])
        == (i["mw"], r["mw"])
        == (pytest.approx(1000.0, abs=0.2), pytest.approx(3000.0, abs=0.2))
    )
    assert e["energy_mj_per_inference"] == pytest.approx((r["mw"] - i["mw"]) * 20.0 / 1000)
    assert e["energy_mj_err"] == pytest.approx((i["err_mw"] ** 2 + r["err_mw"] ** 2) ** 0.5 * 20.0 / 1000)
    # rails: idle over [100, 100.5] = (300000 + 100000) uWs / 0.5 s = 800 mW;
    # run over [101, 102] = (2000000 + 500000) uWs / 1 s = 2500 mW
    r = pw.energy(log, (100.0, 100.5), (101.0, 102.0), mean_latency_ms=20.0, sources=["rails", "battery"])
    assert r["energy_source"] == "rails"
    # two readings per window: the figure holds here, but on a phone it leans on the edge extension
    assert r["source_note"] == (
        "coarse: rails gave only 2 idle and 2 timed counter reading(s) (fewer than 4): the "
        "energy leans on extending them to the window edges; a longer --min-secs gives more"
    )
    dense = pw.PowerLog()  # 10 Hz counters: 1 mW idle until t = 1, then 5 mW
    dense.rails = [
        {"t": k / 10, "t_ms": None, "uws": {"a": 100.0 * k if k <= 10 else 1000.0 + 500.0 * (k - 10)}}
        for k in range(21)
    ]
    many = pw.energy(dense, (0.0, 1.0), (1.0, 2.0), 20.0, sources=["rails"])
    assert many["source_note"] is None and (many["idle_mw"], many["run_mw"]) == (pytest.approx(1.0), pytest.approx(5.0))
    assert r["idle_mw"] == pytest.approx(800.0) and r["run_mw"] == pytest.approx(2500.0)
    assert r["energy_mj_per_inference"] == pytest.approx((2500 - 800) * 20 / 1000)


def test_counters_are_extended_to_the_window_edges_from_inside():
    # idle at 1 mW until t = 1, then 5 mW: a window starting at the step must not borrow idle energy
    readings = [
        {"t": t, "t_ms": None, "uws": {"a": 1000.0 * t if t <= 1 else 1000.0 + 5000.0 * (t - 1)}}
        for t in (0.0, 0.5, 1.2, 1.7, 2.2, 2.7)
    ]
    assert pw.counter_power(readings, 1.0, 2.5) == (pytest.approx(5.0), "")
    assert pw.counter_power(readings, 0.0, 1.0) == (pytest.approx(1.0), "")
    # fewer than two readings inside: interpolated between the readings around the edges
    # (readings at 0.5 s: 500 uWs and 1.2 s: 2000 uWs -> 1500 uWs / 0.7 s over the 0.5 s window)
    assert pw.counter_power(readings, 0.6, 1.1) == (pytest.approx(1500 / 0.7 / 1000), "")
    assert pw.counter_power(readings, 5.0, 6.0)[0] is None


def test_stuck_rails_fall_back_to_the_battery_and_say_so():
    stuck = LOG.replace("3600000", "1600000").replace("1200000", "700000")
    log = pw.parse_power_log(stuck, PowerSpec())
    e = pw.energy(log, (99.99, 100.9), (100.99, 102.01), 20.0, sources=["rails", "battery"])
    # the battery is used, and uncertain: this log's gauge updates once a second, one update per window
    assert e["energy_source"] == "battery" and e["status"] == "uncertain"
    assert e["source_note"] == "rails: its energy counters did not advance in 1.0 s (stuck)"


def test_no_usable_source_is_a_failed_row_with_the_reasons():
    log = pw.parse_power_log("M idle_start 1.0\nM run_start 2.0\nM run_end 3.0\n", PowerSpec())
    e = pw.energy(log, (1.0, 2.0), (2.0, 3.0), 20.0, sources=["battery"], skipped={"rails": "no readable file"})
    assert e["status"] == "failed" and e["energy_mj_per_inference"] is None
    assert e["error"] == (
        "no power source gave samples: rails: no readable file; battery: no gauge sample with "
        "current and voltage in the idle window (0 sample line(s) parsed in all)"
    )
    assert pw.energy(pw.PowerLog(), (0, 1), (1, 2), 10.0, sources=[])["status"] == "failed"


PROBE = """U1 500.10
B1 c=-250000 v=4000000
R1 500.10 t=500100
R1 500.10 CH0(T=500100)[S4M_VDD_CPUCL0], 1000
P1 500.10 [VSYS_PWR_DISPLAY]:Display       1039108.42 mWs
U2 500.61
B2 c=-260000 v=4000000
R2 500.61 t=500100
R2 500.61 CH0(T=500100)[S4M_VDD_CPUCL0], 1000
P2 500.61 [VSYS_PWR_DISPLAY]:Display       1039150.00 mWs
"""


def test_probe_judges_each_source():
    res = pw.check_sources(PROBE, PowerSpec(), ["rails", "hal", "battery"])
    assert res["usable"] == ["hal", "battery"]
    assert res["skipped"] == {"rails": "its energy counters did not advance in 0.5 s (stuck or not updated)"}
    zero = PROBE.replace("-250000", "0").replace("-260000", "0")
    assert pw.check_sources(zero, PowerSpec(), ["battery"])["skipped"]["battery"].endswith(
        "reads 0 (no gauge current: this device does not report it)"
    )
    ma = pw.check_sources(PROBE, PowerSpec(current_unit="mA"), ["battery"])  # 250 A x 4 V: not a phone
    assert "check current_unit/voltage_unit" in ma["skipped"]["battery"]
    assert pw.check_sources("", PowerSpec(), ["battery"])["skipped"]["battery"].startswith("/proc/uptime could not")
    missing = pw.check_sources("U1 1.0\nB1 c= v=4000000\nU2 1.5\nB2 c= v=4000000\n", PowerSpec(), ["battery"])
    assert (
        missing["skipped"]["battery"] == "/sys/class/power_supply/battery/current_now is not readable or not a number"
    )
    none = pw.check_sources("U1 1.0\nU2 1.5\n", PowerSpec(), ["rails", "hal"])["skipped"]
    assert "SELinux" in none["rails"] and "printed no 'PowerStats HAL 2.0 energy meter' channels" in none["hal"]


def test_hal_dump_lines_are_parsed_in_uws():
    # dumpEnergyMeter of hardware/google/pixel/powerstats/PowerStatsAidl.cpp: "  %32s   %14.2f mWs"
    text = "P 10.0 [VSYS_PWR_DISPLAY]:Display       1039108.42 mWs\nP 10.0 [S2M_VDD_CPUCL2]:CPU(BIG)   761.33 mWs\n"
    log = pw.parse_power_log(text, PowerSpec())
    assert log.hal == [
        {
            "t": 10.0,
            "t_ms": None,
            "uws": {"VSYS_PWR_DISPLAY": pytest.approx(1039108420.0), "S2M_VDD_CPUCL2": pytest.approx(761330.0)},
            "t_err": pytest.approx(pw.UPTIME_RES_S),
        }
    ]  # no Q line: its stamp, one tick


def test_allowed_sources_follow_the_profile():
    assert pw.allowed_sources(PowerSpec(source="battery+rails")) == ["rails", "hal", "battery"]
    assert pw.allowed_sources(PowerSpec(source="auto")) == ["rails", "hal", "battery"]
    assert pw.allowed_sources(PowerSpec(source="battery")) == ["battery"]
    assert pw.allowed_sources(PowerSpec(source="hal,battery")) == ["hal", "battery"]
    assert pw.allowed_sources(PowerSpec(source="none")) == []
    from edgeseg.device.profiles import choices

    assert tuple(pw.SOURCES) == choices("POWER_SOURCE_NAMES")


def test_charging_detection():
    assert pw.parse_charging("Discharging\n0\n") == (False, "")
    assert pw.parse_charging("Charging\n1\n") == (True, "battery status is 'Charging'")
    assert pw.parse_charging("Discharging\n1\n") == (True, "USB power is present")
    assert pw.parse_charging("Full\n") == (True, "battery status is 'Full'")
    # sysfs says discharging, dumpsys battery (BatteryService.dumpInternal) says USB powered
    dumpsys = (
        "Discharging\n0\n__DUMPSYS_BATTERY__\nCurrent Battery Service state:\n  AC powered: false\n"
        "  USB powered: true\n  Wireless powered: false\n  status: 3\n"
    )
    assert pw.parse_charging(dumpsys) == (True, "dumpsys battery says 'USB powered: true'")
    assert pw.parse_charging(
        dumpsys.replace("USB powered: true", "USB powered: false").replace("status: 3", "status: 2")
    ) == (True, "dumpsys battery says status 2 (charging)")
    assert pw.parse_charging(dumpsys.replace("USB powered: true", "USB powered: false")) == (False, "")


def test_bundled_profiles_load():
    p = load_profile("pixel")
    assert p.delegate("nnapi").accelerator == "google-edgetpu" and p.power.source == "battery+rails"
    assert load_profile("dimensity").delegate("nnapi").accelerator == "mtk-mdla"
    assert load_profile("linux-board").runner == "python"
    with pytest.raises(DeviceError, match="has no delegate 'hexagon'"):
        p.delegate("hexagon")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"transprot": "tcp"}, "unknown key 'transprot'; did you mean 'transport'?"),
        ({"power": {"rate_hx": 5}}, r"\[power\]: unknown key 'rate_hx'; did you mean 'rate_hz'?"),
        (
            {"delegates": {"nnapi": {"acelerator": "x"}}},
            r"\[delegates.nnapi\]: unknown key 'acelerator'; did you mean 'accelerator'?",
        ),
        ({"transport": "bluetooth"}, 'transport = "bluetooth": expected one of tcp, usb, adb-server'),
        ({"transport": "tcp"}, r"transport 'tcp' needs address = \"HOST:PORT\""),
        ({"work_dir": "/sdcard/edgeseg"}, 'work_dir = "/sdcard/edgeseg": expected a folder under /data/local/tmp'),
        (
            {"work_dir": "/data/local/tmp/../../system"},
            r"expected a folder under /data/local/tmp \(this is /data/system\)",
        ),
        ({"power": {"current_unit": "A"}}, 'current_unit = "A": expected one of uA, mA'),
        ({"runner": "onnx"}, 'runner = "onnx": expected one of benchmark_model, python'),
    ],
)
def test_profile_validation(data, message):
    with pytest.raises(DeviceError, match=message):
        parse_profile(data, "x")


def test_unknown_profile_suggests_the_nearest():
    with pytest.raises(DeviceError, match="no device profile 'pixle'.*Did you mean 'pixel'"):
        load_profile("pixle")


def test_benchmark_model_flags_per_delegate():
    nnapi = DelegateSpec("nnapi", ("--use_nnapi=true",), "google-edgetpu", "sustained_speed")
    cmd = benchmark_model_command(
        "/data/local/tmp/edgeseg/benchmark_model", "/data/local/tmp/edgeseg/m x.tflite", nnapi, 4, 50, 2.0, True, True
    )
    assert cmd.startswith("/data/local/tmp/edgeseg/benchmark_model '--graph=/data/local/tmp/edgeseg/m x.tflite' ")
    for flag in (
        "--num_threads=4",
        "--num_runs=50",
        "--min_secs=2.0",
        "--use_nnapi=true",
        "--nnapi_accelerator_name=google-edgetpu",
        "--nnapi_execution_preference=sustained_speed",
        "--enable_op_profiling=true",
        "--require_full_delegation=true",
    ):
        assert flag in cmd
    cpu = benchmark_model_command(
        "bm", "g.tflite", DelegateSpec("cpu", ("--use_xnnpack=false",)), 1, 5, 1.0, False, True
    )
    assert "--require_full_delegation" not in cpu and "--use_xnnpack=false" in cpu
    assert (
        python_runner_command("python3", "r.py", "g;rm.tflite", "cpu", 2, 5, 1.0)
        == "python3 r.py --graph 'g;rm.tflite' --threads 2 --runs 5 --min-secs 1.0 --delegate cpu"
    )


def test_split_sections():
    text = "__EDGESEG_SECTION__ out\nline1\n__EDGESEG_SECTION__ err\noops\n__EDGESEG_SECTION__ power\nS 1 2 3\n__EDGESEG_SECTION__ rc 3"
    assert split_sections(text) == {"out": "line1", "err": "oops", "power": "S 1 2 3", "rc": 3}


def test_hal_readings_take_the_midpoint_of_their_dumpsys_call():
    text = (
        "P 10.0 [S4M_VDD_CPUCL0]:CPU(LITTLE)   1.50 mWs\nP 10.0 [S5M_VDD_INT]:INT   2.00 mWs\nQ 10.0 10.4\n"
        "P 11.0 [S4M_VDD_CPUCL0]:CPU(LITTLE)   3.50 mWs\n"  # no Q line (cut off): its own stamp
        "Q 12.0 11.0\n"
    )  # a clock going backwards is ignored
    log = pw.parse_power_log(text, PowerSpec())
    assert [(r["t"], r["uws"]) for r in log.hal] == [
        (pytest.approx(10.2), {"S4M_VDD_CPUCL0": 1500.0, "S5M_VDD_INT": 2000.0}),
        (11.0, {"S4M_VDD_CPUCL0": 3500.0}),
    ]
    cmd = pw._hal_sample()  # runs in busybox ash and mksh: no %N, no arithmetic on decimals
    assert "read t2 _u < /proc/uptime" in cmd and "%N" not in cmd and "$((" not in cmd


def _gauge_log(values_mw, t0=0.0, dt=0.1, volts=4.0):
    """Sampler lines at 1/dt Hz with the given gauge powers (current from power / voltage)."""
    return "\n".join(
        f"S {t0 + i * dt:.2f} ;{-p / volts * 1000:.0f};{int(volts * 1e6)};285 | |" for i, p in enumerate(values_mw)
    )


def test_gauge_window_does_not_count_a_sample_on_the_edge_tick():
    """10 Hz gauge, 1.5 s timed window: the sample stamped on the window's first tick was read
    at idle (the benchmark had not started); counted, it made the energy one sample in 15 low."""
    idle, run = [1000.0 + (-1) ** k for k in range(11)], [3000.0 + (-1) ** k for k in range(15)]
    log = pw.parse_power_log(_gauge_log(idle + run), PowerSpec())
    # the run window starts on the tick of the last idle sample (t = 1.0) and ends after 15 run samples
    e = pw.energy(log, (0.0, 1.0), (1.0, 2.55), 10.0, sources=["battery"])
    assert e["gauge_samples_run"] == 15 and e["run_mw"] == pytest.approx(3000.0, abs=1.0)
    assert e["energy_mj_per_inference"] == pytest.approx(20.0, abs=0.02) and e["status"] == "ok"


def test_a_constant_gauge_is_not_a_measurement():
    """A gauge that does not follow the load (idle = run): no ok row with 0 mJ."""
    log = pw.parse_power_log(_gauge_log([1000.0] * 40), PowerSpec())
    e = pw.energy(log, (0.0, 1.5), (1.5, 4.0), 10.0, sources=["battery"])
    assert e["status"] == "failed" and e["energy_mj_per_inference"] is None
    assert "does not follow the load" in e["error"] and e["error"].startswith("no power source gave samples: battery:")
    # with a counter source that does follow it, that one is used and the gauge's reason is said
    log.rails = [
        {"t": k / 10, "t_ms": None, "uws": {"a": 100.0 * k if k <= 15 else 1500.0 + 500.0 * (k - 15)}}
        for k in range(41)
    ]
    r = pw.energy(log, (0.0, 1.5), (1.5, 4.0), 10.0, sources=["battery", "rails"])
    assert r["status"] == "ok" and r["energy_source"] == "rails" and "battery: the gauge read" in r["source_note"]
    assert r["counter_readings_run"] == 26 and r["energy_mj_err"] < 0.01 * r["energy_mj_per_inference"]


def test_rails_frozen_after_the_probe_are_called_stuck():
    frozen = [{"t": 10 + k / 10, "t_ms": 5000.0, "uws": {"a": 1234.0}} for k in range(30)]
    mw, why = pw.counter_power(frozen, 10.5, 12.5)
    assert mw is None and "stuck" in why and "0 counter reading" not in why


def test_net_charge_current_is_charging():
    """A charger supplying more than the phone draws: the gauge's discharge current is negative."""
    log = pw.parse_power_log(_gauge_log([-2000.0] * 30), PowerSpec())
    assert "net charge current of 500 mA" in pw.net_charging(log, [(0.0, 1.0), (1.0, 3.0)], PowerSpec())
    assert (
        pw.net_charging(pw.parse_power_log(_gauge_log([800.0] * 30), PowerSpec()), [(0, 1), (1, 3)], PowerSpec())
        is None
    )


def test_benchmark_phases_from_stamped_output():
    from edgeseg.device.parse import benchmark_phases, unstamp

    text = "\n".join(
        [
            "10.00 INFO: Loaded model m.tflite",
            "10.91 INFO: Initialized session in 910.2ms.",
            "10.91 INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.",
            "11.42 INFO: count=4 first=130565 curr=120829 min=117370 max=130565 avg=122373 std=4930",
            "11.42 INFO: Running benchmark for at least 20 iterations and at least 2 seconds but terminate if exceeding 150 seconds.",
            "13.43 INFO: count=17 first=119212 curr=118055 min=113737 max=124776 avg=119375 std=1948",
            "13.44 INFO: Inference timings in us: Init: 910200, First inference: 130565, Warmup (avg): 122373, Inference (avg): 119375",
            "13.45 __EDGESEG_RC__ 0",
        ]
    )
    plain, stamped, rc = unstamp(text)
    assert rc == 0 and plain.splitlines()[0] == "INFO: Loaded model m.tflite" and "__EDGESEG_RC__" not in plain
    phases, why = benchmark_phases(stamped, 17, 119.375)
    assert why is None and phases == {
        "init_end": 10.91,
        "warmup_start": 10.91,
        "timed_start": 11.42,
        "timed_end": 13.43,
    }
    # output buffered until the exit: every line has the same stamp, and the window is not trusted
    late = [(20.0, line) for _, line in stamped]
    phases, why = benchmark_phases(late, 17, 119.375)
    assert why and "buffered" in why
    assert benchmark_phases([(1.0, "count=3 curr=5")], 3, 1.0)[1].startswith("benchmark_model printed no 'Running")
