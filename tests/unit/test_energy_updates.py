"""The energy's uncertainty from what the readings hold (edgeseg.device.power): a gauge's updates
counted once however often they are read, runs carried in from before a window, the update
period, the widening for correlated updates, a resolution that is never zero, the flat gauge,
and the simulation of the verdicts (benchmarks/verdicts_energy.py). No TensorFlow, no device."""

import math
import sys
from pathlib import Path

import pytest

from edgeseg.device import power as pw
from edgeseg.device.profiles import PowerSpec, parse_profile
from edgeseg.errors import DeviceError

VOLTS = 4.0


def gauge_log(times, mws, spec=PowerSpec()):
    """Sampler lines at ``times`` with the given gauge powers (current from power / voltage)."""
    text = "\n".join(f"S {t:.2f} ;{-p / VOLTS * 1000:.0f};{int(VOLTS * 1e6)};285 | |" for t, p in zip(times, mws))
    return pw.parse_power_log(text, spec)


def held_log(values, phase=0.35, rate_hz=10.0, t_end=None):
    """A sample-and-hold gauge read at ``rate_hz``: it updates at ``phase + k`` s to ``values[k]``
    (before ``phase``: the reading it held when the sampler began, 500 mW)."""
    t_end = len(values) + phase if t_end is None else t_end
    times = [k / rate_hz for k in range(round(t_end * rate_hz)) if k / rate_hz < t_end]
    shown = [values[math.floor(t - phase)] if t >= phase else 500.0 for t in times]
    return gauge_log(times, shown), times


# -- updates --------------------------------------------------------------------------------------


def test_held_readings_are_one_update_each():
    """Ten samples of one held value are one run, one update; the period is the time between changes."""
    log, _ = held_log([1000.0, 1010.0, 990.0, 1005.0, 3000.0, 3020.0, 2990.0, 3010.0, 3005.0])
    runs = pw.gauge_runs(log.samples)
    assert [r["n"] for r in runs] == [4] + [10] * 9
    assert [r["t"] for r in runs[:3]] == [0.0, pytest.approx(0.4), pytest.approx(1.4)]
    assert pw.gauge_update_period(runs) == pytest.approx(1.0)
    assert pw.sampling_step(log.samples) == pytest.approx(0.1)
    # the load window (4.0, 9.0): updates shown at 4.4 (within one period of the start: edge) .. 8.4
    ups = pw.gauge_updates(runs, 4.0, 9.0, 1.0, 0.1)
    assert [u for u, _ in ups["clean"]] == pytest.approx([5.4, 6.4, 7.4, 8.4])
    assert [v for _, v in ups["clean"]] == [3020.0, 2990.0, 3010.0, 3005.0]
    ((u, v, share),) = ups["edge"]
    assert (u, v) == (pytest.approx(4.4), 3000.0) and share == pytest.approx(0.7)  # (4.0 - (4.4 - 0.1 - 1)) / 1
    assert ups["carried"] == 1 and ups["before"] == 1005.0  # 1005 showed from 3.4 to 4.4: the idle regime's


def test_a_run_carried_in_from_before_the_window_is_not_its_update():
    """The value showing at the window's start was updated before it: however long it stays inside
    the window, it is the regime before (the held gauge's lag), and not counted."""
    log, _ = held_log([1000.0, 1000.0, 3000.0, 3100.0, 3050.0, 3080.0, 3040.0], phase=0.5)
    runs = pw.gauge_runs(log.samples)
    # 1000 showed from 0.5 to 2.5 (two updates of one value), 3000 from 2.5: the window starts at 2.9
    ups = pw.gauge_updates(runs, 2.9, 7.4, pw.gauge_update_period(runs), 0.1)
    assert ups["carried"] == 1 and ups["before"] == 3000.0
    assert [e[1] for e in ups["edge"]] == [3100.0] and [v for _, v in ups["clean"]] == [3050.0, 3080.0, 3040.0]
    # the log's first reading was taken any time before the sampler began: never an update of a window
    first = pw.gauge_updates(runs, -1.0, 2.4, 1.0, 0.1)
    assert first["carried"] == 1 and first["before"] is None and [v for _, v in first["clean"]] == [1000.0, 1000.0]


def test_the_update_period_from_the_whole_log():
    continuous = gauge_log([k / 20 for k in range(60)], [1000.0 + (k % 7) for k in range(60)])
    assert pw.gauge_update_period(pw.gauge_runs(continuous.samples)) == pytest.approx(0.05)
    # one step from idle to load does not tell how often the gauge updates; nor does no step
    step = gauge_log([k / 10 for k in range(40)], [1000.0] * 20 + [3000.0] * 20)
    assert pw.gauge_update_period(pw.gauge_runs(step.samples)) is None
    assert pw.gauge_update_period(pw.gauge_runs(gauge_log([0.0, 0.1], [5.0, 5.0]).samples)) is None
    # a quantized gauge that sometimes updates to the value it held: a 2 s run is two updates of it
    log, _ = held_log([1000.0, 1004.0, 1004.0, 1000.0, 1004.0, 1000.0, 1004.0])
    runs = pw.gauge_runs(log.samples)
    assert pw.gauge_update_period(runs) == pytest.approx(1.0)
    ups = pw.gauge_updates(runs, 0.2, 7.3, 1.0, 0.1)
    assert [v for _, v in ups["clean"]] == [1004.0, 1004.0, 1000.0, 1004.0, 1000.0, 1004.0]
    assert [u for u, _ in ups["clean"]][:2] == pytest.approx([1.4, 2.4])
    # the current decides what is one reading: a held current with the voltage read afresh is one update
    text = "\n".join(
        f"S {k / 10:.2f} ;{-250000 if k < 10 else -260000};{4000000 + 1000 * k};285 | |" for k in range(20)
    )
    runs = pw.gauge_runs(pw.parse_power_log(text, PowerSpec()).samples)
    assert [r["n"] for r in runs] == [10, 10] and runs[0]["mw"] == pytest.approx(250 * 4.0045)


# -- the uncertainty ------------------------------------------------------------------------------


def test_t_quantiles():
    assert pw.t975(1) == 12.706 and pw.t975(2) == 4.303 and pw.t975(10) == 2.228
    assert pw.t975(0.3) == 12.706  # at least one degree of freedom
    assert 4.303 < pw.t975(1.5) < 12.706 and pw.t975(1.5) >= 6.0  # interpolated, erring wide (exact 6.02)
    assert pw.t975(30) == pytest.approx(2.042, abs=1e-3) and pw.t975(1e6) == pytest.approx(1.96, abs=1e-3)


def test_correlated_updates_widen_the_uncertainty():
    """Slowly wandering updates are fewer independent samples than their count: n_eff = n (1-r)/(1+r)."""
    times = [float(k) for k in range(12)]
    independent = [1000.0 + d for d in (3, -4, 2, -1, 4, -3, 1, -2, 3, -4, 2, -1)]
    wandering = [1000.0 + d for d in (0, 2, 4, 5, 4, 2, 0, -2, -4, -5, -4, -2)]
    a = pw.update_stats(times, independent, -0.5, 11.5, 1.0, 0.1)
    b = pw.update_stats(times, wandering, -0.5, 11.5, 1.0, 0.1)
    assert a["r"] == 0.0 and a["n_eff"] == 12  # negative autocorrelation is clipped: never narrower than n
    assert b["r"] > 0.5 and b["n_eff"] < 4
    sd = lambda v: (sum((x - sum(v) / len(v)) ** 2 for x in v) / (len(v) - 2)) ** 0.5  # noqa: E731
    # the wandering updates' spread about their line is like the independent ones', their error is not
    assert sd(wandering) < 1.5 * sd(independent) and b["stat_mw"] > 2 * a["stat_mw"]
    # and few updates get Student's t: three of them, 2 degrees of freedom, 4.303 / 2 standard errors
    c = pw.update_stats([0.0, 1.0, 2.0], [1000.0, 1010.0, 1002.0], -0.5, 2.5, 1.0, 0.1)
    se = (sum((v - 1004.0) ** 2 for v in (1000.0, 1010.0, 1002.0)) / 2 / 3) ** 0.5
    assert c["r"] == 0.0 and c["stat_mw"] == pytest.approx(se * 4.303 / 2)


def test_a_trend_moves_the_mean_to_the_window_centre():
    """A ramp through the window: the updates' mean is the power at their centroid, not at the
    window's centre; the line through them moves it there, known to within the slope times the
    ambiguity of what an update stands for (its own moment, or the period before it)."""
    times = [1.4, 2.4, 3.4, 4.4]  # shown in a window (1.0, 5.0) of a power 1000 + 100 t mW
    true_mean = 1000.0 + 100 * 3.0
    lag = (1.0 / 2 + 0.1) / 2  # 0.3 s: between the moment shown (0 late) and the period before (0.6 late)
    for late in (0.0, 0.6):  # an instantaneous gauge, an averaging one shown a sampling step late
        s = pw.update_stats(times, [1000.0 + 100 * (t - late) for t in times], 1.0, 5.0, 1.0, 0.1)
        assert s["slope"] == pytest.approx(100.0) and s["stat_mw"] == pytest.approx(0.0, abs=1e-9)
        assert s["trend_mw"] == pytest.approx(100 * lag)  # no residuals: the slope is sure
        assert s["mw"] == pytest.approx(true_mean + (lag if late == 0 else -lag) * 100)
        assert abs(s["mw"] - true_mean) <= s["trend_mw"] + 1e-9  # within one err from the trend alone
    # the plain mean of the averaging gauge's updates: 70 mW low, more than 2 x that err
    assert true_mean - sum(1000.0 + 100 * (t - 0.6) for t in times) / 4 == pytest.approx(70.0)
    # a noisy line: the slope's own error, times the move, widens it
    noisy = pw.update_stats(times, [1140.0, 1250.0, 1330.0, 1450.0], 1.0, 5.0, 1.0, 0.1)
    assert noisy["trend_mw"] > abs(noisy["slope"]) * lag
    # fewer than TREND_MIN_UPDATES: the plain mean, the trend in the spread
    few = pw.update_stats(times[:3], [1140.0, 1240.0, 1340.0], 1.0, 4.0, 1.0, 0.1)
    assert few["mw"] == 1240.0 and few["slope"] == 0.0 and few["trend_mw"] == 0.0 and few["stat_mw"] > 100


def test_fewer_than_three_updates_are_not_a_bounded_uncertainty():
    log, _ = held_log([1000.0, 1010.0, 990.0, 3000.0, 3020.0, 2990.0, 3010.0, 3005.0])
    # a window that starts before the log: its first reading (0.0) may be of any time before, and the
    # update shown at 0.4 has no reading before the window to bound what it averages from there
    w = pw.gauge_window(log.samples, -0.5, 2.5)
    assert w["samples"] == 25 and w["n"] == 2 and w["edge"] == 0 and w["err_mw"] is None
    assert w["mw"] == pytest.approx(1000.0) and w["why"] == "2 gauge update(s) in the window"
    # with a reading before the window, the update within a period of its start is used, its mixing bounded
    log, _ = held_log([900.0, 1000.0, 1010.0, 990.0, 3000.0, 3020.0, 2990.0, 3010.0, 3005.0])
    w = pw.gauge_window(log.samples, 1.0, 4.0)
    assert w["n"] == 3 and w["edge"] == 1 and w["mw"] == pytest.approx(1000.0)
    # the edge update (shown at 1.4) may hold up to 1.0 - (1.4 - 0.1 - 1) = 70% of a period before
    # 1.0, when 900 showed: a bound of 0.7 x |900 - 1000| over 3 updates, as a uniform error
    st = pw.update_stats([1.4, 2.4, 3.4], [1000.0, 1010.0, 990.0], 1.0, 4.0, 1.0, 0.1)
    assert st["trend_mw"] == 0.0  # three updates: no line, the spread holds any trend
    expect = (st["stat_mw"] ** 2 + (0.7 * 100 / 3) ** 2 / 3 + 1 / 12) ** 0.5
    assert w["err_mw"] == pytest.approx(expect, rel=1e-6)
    # with three clean updates the edge one is left out
    w = pw.gauge_window(log.samples, 1.0, 5.0)
    assert w["n"] == 3 and w["edge"] == 0 and w["mw"] == pytest.approx((1010.0 + 990.0 + 3000.0) / 3)


def test_held_gauge_with_one_held_value_in_the_timed_window_is_uncertain():
    """Finding 3 by hand: a 1 s gauge read at 10 Hz, a 1 s timed window over one held value (the
    first update after the load step, shown 0.05 s after the window began: it averages the second
    before, mostly idle). Before: ok, with an error of 0 from ten equal 'independent' samples; now
    uncertain, saying how many updates each window had and what would give enough."""
    idle = [1000.0, 1003.0, 998.0, 1002.0, 1001.0]
    log, _ = held_log(idle + [3000.0, 3010.0])
    e = pw.energy(log, (0.0, 4.3), (5.35, 6.4), 50.0, sources=["battery"])
    assert e["status"] == "uncertain" and e["energy_mj_per_inference"] is None and e["energy_mj_err"] is None
    assert e["gauge_samples_run"] == 10 and e["gauge_updates_run"] == 0 and e["gauge_updates_idle"] == 3
    assert e["gauge_update_s"] == pytest.approx(1.0) and e["energy_source"] == "battery"
    assert e["error"] == (
        "the battery gauge updates about every 1 s (a held reading is one sample, however often it is read) "
        "and gave 3 update(s) in the 4.3 s idle window and 0 in the 1.1 s timed window: with fewer than 3 in "
        "a window its uncertainty cannot be bounded from the data; --min-secs 4.5 or more would give at least 3"
    )
    # the same gauge over a long enough timed window: ok, from its updates
    log, _ = held_log(idle + [3000.0, 3010.0, 2995.0, 3005.0, 3000.0, 3008.0])
    # (5.25, 11.35): the first timed samples show the idle's held 1001 (carried in), the update shown
    # at 5.4 averages mostly idle time (left out: five clean ones follow)
    e = pw.energy(log, (0.0, 4.3), (5.25, 11.35), 50.0, sources=["battery"])
    assert e["status"] == "ok" and e["gauge_updates_run"] == 5 and e["gauge_samples_run"] == 61
    assert e["run_mw"] == pytest.approx((3010 + 2995 + 3005 + 3000 + 3008) / 5, abs=0.5)  # and a slight slope
    assert e["idle_mw"] == pytest.approx((1003 + 998 + 1002) / 3)


def test_an_unknown_update_period_is_uncertain_and_says_so():
    log = gauge_log([k / 10 for k in range(60)], [1000.0] * 30 + [3000.0] * 30)
    e = pw.energy(log, (0.0, 2.95), (3.05, 5.9), 10.0, sources=["battery"])
    assert e["status"] == "uncertain" and e["gauge_update_s"] is None
    assert e["error"].startswith("the battery gauge changed its reading 1 time(s) in the whole log")
    assert "idle_secs" in e["error"] and "--min-secs" in e["error"]


def test_a_later_valid_source_is_used_before_an_uncertain_gauge():
    log, _ = held_log([1000.0, 1003.0, 998.0, 1002.0, 1001.0, 3000.0, 3010.0])
    log.rails = [
        {"t": k / 10, "t_ms": None, "uws": {"a": 100.0 * k if k <= 43 else 4300.0 + 300.0 * (k - 43)}}
        for k in range(54)
    ]
    e = pw.energy(log, (0.0, 4.3), (4.3, 5.3), 10.0, sources=["battery", "rails"])
    assert e["status"] == "ok" and e["energy_source"] == "rails" and e["run_mw"] == pytest.approx(3.0)
    assert e["source_note"].startswith("battery: the battery gauge updates about every 1 s")


# -- the resolution and the flat gauge ------------------------------------------------------------


def test_the_resolution_is_never_zero():
    # two values: their step is the load, not the resolution: the floor (the profile's, default 1 mW)
    two = pw.gauge_runs(gauge_log([0.0, 0.1, 0.2, 0.3], [1000.0, 1000.0, 3000.0, 3000.0]).samples)
    assert pw.gauge_resolution_mw(two) == pw.GAUGE_RESOLUTION_FLOOR_MW == PowerSpec().gauge_resolution_mw == 1.0
    assert pw.gauge_resolution_mw(two, 25.0) == 25.0
    # three or more: the smallest step between consecutive distinct readings, never below the floor
    coarse = pw.gauge_runs(
        gauge_log([k / 10 for k in range(6)], [1000.0, 1040.0, 1000.0, 3000.0, 3080.0, 3040.0]).samples
    )
    assert pw.gauge_resolution_mw(coarse) == pytest.approx(40.0)
    assert pw.gauge_resolution_mw(coarse, 50.0) == 50.0
    fine = pw.gauge_runs(gauge_log([0.0, 0.1, 0.2], [1000.0, 1000.4, 1000.8]).samples)
    assert pw.gauge_resolution_mw(fine) == 1.0


def test_the_profile_states_the_gauge_resolution():
    assert parse_profile({"power": {"gauge_resolution_mw": 4}}, "x").power.gauge_resolution_mw == 4
    for bad in (0, -1, "1 mW", float("nan")):
        with pytest.raises(DeviceError, match="gauge_resolution_mw = .*: expected a finite number from 0.001 to 10000"):
            parse_profile({"power": {"gauge_resolution_mw": bad}}, "x")
    log = pw.parse_power_log("S 1.0 ;-250000;4000000;285 | |", PowerSpec(gauge_resolution_mw=4.0))
    assert log.gauge_resolution_mw == 4.0
    # a difference within the stated resolution is not a measurement
    text = "\n".join(
        f"S {k / 10:.2f} ;{-(250000 + (k % 3) * 100 + (500 if k >= 30 else 0))};4000000;285 | |" for k in range(60)
    )
    assert (
        pw.energy(pw.parse_power_log(text, PowerSpec()), (0.0, 2.95), (3.05, 5.9), 10.0, sources=["battery"])["status"]
        == "ok"
    )
    e = pw.energy(
        pw.parse_power_log(text, PowerSpec(gauge_resolution_mw=5.0)),
        (0.0, 2.95),
        (3.05, 5.9),
        10.0,
        sources=["battery"],
    )
    assert e["status"] == "failed" and "within its resolution (5 mW): it does not follow the load" in e["error"]


def test_a_flat_gauge_is_never_ok():
    """Finding 4 by hand: one reading forever (423.83 mA x 3.9 V = 1652.937 mW), 19 idle and 40 timed
    samples, whose means differ in the last bits. Before: resolution 0 < 4.5e-13 mW: ok, ~5e-15 mJ."""
    text = "\n".join(f"S {k / 20:.2f} ;-423830;3900000;285 | |" for k in range(70))
    log = pw.parse_power_log(text, PowerSpec())
    idle, run = (0.0, 1.0), (1.45, 3.5)
    vals = [s["power_mw"] for s in log.samples]
    assert sum(vals[1:20]) / 19 != sum(vals[30:70]) / 40  # what the old rule took for a difference
    e = pw.energy(log, idle, run, 10.0, sources=["battery"])
    assert e["status"] == "failed" and e["energy_mj_per_inference"] is None and e["energy_mj_err"] is None
    assert e["error"] == (
        "no power source gave samples: battery: the gauge read 1652.9 mW in every one of its 70 sample(s): it "
        "does not follow the load (a cached or simulated reading), so it measures nothing here"
    )
    assert e["gauge_update_s"] is None and e["gauge_updates_idle"] == e["gauge_updates_run"] == 0
    assert (e["gauge_samples_idle"], e["gauge_samples_run"]) == (19, 40)


# -- the simulation -------------------------------------------------------------------------------


def test_the_energy_verdicts_simulation_meets_its_targets():
    """A short run of benchmarks/verdicts_energy.py (fixed seed): every source's ok rows cover the
    truth within +-2 err in >= 90% of runs, and the flat gauge is never ok."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from verdicts_energy import SOURCES, energy_table
    finally:
        sys.path.pop(0)
    rows = {r["source"]: r for r in energy_table(trials=40, seed=7)}
    assert set(rows) == set(SOURCES) and all(r["runs"] == 40 for r in rows.values())
    assert rows["flat_gauge"]["ok"] == 0 and rows["flat_gauge"]["failed"] == 1
    for name in ("ideal_gauge", "noisy_gauge", "rails", "hal"):
        assert rows[name]["ok"] == 1 and rows[name]["coverage"] >= 0.9, rows[name]
    assert 0 < rows["held_gauge"]["ok"] < 1 and rows["held_gauge"]["coverage"] >= 0.9
    assert all(r["target"].endswith("met") for r in rows.values())
