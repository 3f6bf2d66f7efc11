"""Power-log parsing and the energy formula by hand; device profile validation; benchmark
command construction."""

import pytest

from edgeseg.device import power as pw
from edgeseg.device.bench import benchmark_model_command, python_runner_command, split_sections
from edgeseg.device.profiles import DelegateSpec, PowerSpec, load_profile, parse_profile
from edgeseg.errors import DeviceError

LOG = """M idle_start 100.0
S 100.0 -200000 4000000 285 | 30000 41000 | 1704000 2367000
R 100.0 t=5000
R 100.0 CH0(T=5000)[S4M_VDD_CPUCL0], 1000000
R 100.0 CH1(T=5000)[S5M_VDD_INT], 500000
S 100.5 -200000 4000000 285 | 30000 41000 | 1704000 2367000
R 100.5 CH0(T=5500)[S4M_VDD_CPUCL0], 1300000
R 100.5 CH1(T=5500)[S5M_VDD_INT], 600000
M run_start 101.0
S 101.0 -700000 3900000 290 | 31000 45000 | 2400000 2850000
R 101.0 CH0(T=6000)[S4M_VDD_CPUCL0], 1600000
R 101.0 CH1(T=6000)[S5M_VDD_INT], 700000
S 102.0 -900000 3900000 291 |  | 
R 102.0 CH0(T=7000)[S4M_VDD_CPUCL0], 3600000
R 102.0 CH1(T=7000)[S5M_VDD_INT], 1200000
S 102.5 garbage
M run_end 102.5
"""


def test_parse_power_log_units_and_sign():
    log = pw.parse_power_log(LOG, PowerSpec())
    assert log.markers == {"idle_start": 100.0, "run_start": 101.0, "run_end": 102.5}
    s0 = log.samples[0]
    assert s0["current_ma"] == 200.0 and s0["voltage_v"] == 4.0 and s0["power_mw"] == pytest.approx(800.0)
    assert s0["battery_c"] == 28.5 and s0["zones_c"] == [30.0, 41.0] and s0["cpu_khz"] == [1704000, 2367000]
    assert log.samples[3]["zones_c"] == [] and log.samples[4]["current_ma"] is None
    assert [r["uws"]["S5M_VDD_INT"] for r in log.rails] == [500000, 600000, 700000, 1200000]
    ma = pw.parse_power_log("S 1.0 250 3800 300 | |", PowerSpec(current_unit="mA", voltage_unit="mV"))
    assert ma.samples[0]["power_mw"] == pytest.approx(250 * 3.8)


def test_energy_formula_by_hand():
    log = pw.parse_power_log(LOG, PowerSpec())
    # battery: idle = 800 mW (two samples), run = mean(0.7*3.9, 0.9*3.9) W = 3120 mW
    e = pw.energy(log, (100.0, 101.0 - 1e-9), (101.0, 102.5), mean_latency_ms=20.0, prefer_rails=False)
    assert e["idle_mw"] == pytest.approx(800.0) and e["run_mw"] == pytest.approx(3120.0)
    assert e["energy_mj_per_inference"] == pytest.approx((3120.0 - 800.0) * 20.0 / 1000)
    assert e["energy_source"] == "battery" and e["samples"] == 2
    assert (e["temp_start_c"], e["temp_end_c"]) == (28.5, 29.1)
    # rails: idle = (300000 + 100000) uWs / 0.5 s = 800 mW; run = (2000000 + 500000) uWs / 1 s = 2500 mW
    r = pw.energy(log, (100.0, 100.9), (101.0, 102.5), mean_latency_ms=20.0, prefer_rails=True)
    assert r["energy_source"] == "rails"
    assert r["idle_mw"] == pytest.approx(800.0) and r["run_mw"] == pytest.approx(2500.0)
    assert r["energy_mj_per_inference"] == pytest.approx((2500 - 800) * 20 / 1000)


def test_energy_without_samples_is_unknown():
    e = pw.energy(pw.PowerLog(), (0, 1), (1, 2), 10.0, prefer_rails=True)
    assert e["energy_mj_per_inference"] is None and e["samples"] == 0


def test_charging_detection():
    assert pw.parse_charging("Discharging\n0\n") == (False, "")
    assert pw.parse_charging("Charging\n1\n") == (True, "battery status is 'Charging'")
    assert pw.parse_charging("Discharging\n1\n") == (True, "USB power is present")
    assert pw.parse_charging("Full\n") == (True, "battery status is 'Full'")


def test_bundled_profiles_load():
    p = load_profile("pixel")
    assert p.delegate("nnapi").accelerator == "google-edgetpu" and p.power.source == "battery+rails"
    assert load_profile("dimensity").delegate("nnapi").accelerator == "mtk-mdla"
    assert load_profile("linux-board").runner == "python"
    with pytest.raises(DeviceError, match="has no delegate 'hexagon'"):
        p.delegate("hexagon")


@pytest.mark.parametrize("data, message", [
    ({"transprot": "tcp"}, "unknown key 'transprot'; did you mean 'transport'?"),
    ({"power": {"rate_hx": 5}}, r"\[power\]: unknown key 'rate_hx'; did you mean 'rate_hz'?"),
    ({"delegates": {"nnapi": {"acelerator": "x"}}}, r"\[delegates.nnapi\]: unknown key 'acelerator'; did you mean 'accelerator'?"),
    ({"transport": "bluetooth"}, "transport must be one of tcp, usb, adb-server"),
    ({"transport": "tcp"}, r"transport 'tcp' needs address = \"HOST:PORT\""),
    ({"work_dir": "/sdcard/edgeseg"}, "work_dir must be under /data/local/tmp"),
    ({"work_dir": "/data/local/tmp/../../system"}, "work_dir must be under /data/local/tmp"),
    ({"power": {"current_unit": "A"}}, "current_unit must be uA or mA"),
    ({"runner": "onnx"}, "runner must be one of benchmark_model, python"),
])
def test_profile_validation(data, message):
    with pytest.raises(DeviceError, match=message):
        parse_profile(data, "x")


def test_unknown_profile_suggests_the_nearest():
    with pytest.raises(DeviceError, match="no device profile 'pixle'.*Did you mean 'pixel'"):
        load_profile("pixle")


def test_benchmark_model_flags_per_delegate():
    nnapi = DelegateSpec("nnapi", ("--use_nnapi=true",), "google-edgetpu", "sustained_speed")
    cmd = benchmark_model_command("/data/local/tmp/edgeseg/benchmark_model", "/data/local/tmp/edgeseg/m x.tflite",
                                  nnapi, 4, 50, 2.0, True, True)
    assert cmd.startswith("/data/local/tmp/edgeseg/benchmark_model '--graph=/data/local/tmp/edgeseg/m x.tflite' ")
    for flag in ("--num_threads=4", "--num_runs=50", "--min_secs=2.0", "--use_nnapi=true",
                 "--nnapi_accelerator_name=google-edgetpu", "--nnapi_execution_preference=sustained_speed",
                 "--enable_op_profiling=true", "--require_full_delegation=true"):
        assert flag in cmd
    cpu = benchmark_model_command("bm", "g.tflite", DelegateSpec("cpu", ("--use_xnnpack=false",)), 1, 5, 1.0, False, True)
    assert "--require_full_delegation" not in cpu and "--use_xnnpack=false" in cpu
    assert python_runner_command("python3", "r.py", "g;rm.tflite", "cpu", 2, 5, 1.0) == \
        "python3 r.py --graph 'g;rm.tflite' --threads 2 --runs 5 --min-secs 1.0 --delegate cpu"


def test_split_sections():
    text = "__EDGESEG_SECTION__ out\nline1\n__EDGESEG_SECTION__ err\noops\n__EDGESEG_SECTION__ power\nS 1 2 3\n__EDGESEG_SECTION__ rc 3"
    assert split_sections(text) == {"out": "line1", "err": "oops", "power": "S 1 2 3", "rc": 3}
