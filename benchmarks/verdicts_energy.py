#!/usr/bin/env python3
"""Energy verdicts by simulation: how often edgeseg's energy per inference is ``ok``, and how
often an ``ok`` figure's stated uncertainty covers the truth, for each power source.

Each trial draws a phone's power over time (an idle level, a load step at a random time after
the idle baseline, fluctuations with a random correlation time, a slow drift under load), writes
the power log the device-side sampler would write (``S`` lines at the profile's 10 Hz with
jitter, stamped on 10 ms /proc/uptime ticks; ``R`` rail counters; ``P``/``Q`` HAL readings at
2 Hz), parses it with :func:`edgeseg.device.power.parse_power_log` and calls the project's own
:func:`edgeseg.device.power.energy` over the windows a bench row has: the idle baseline (the
profile's idle_secs, 3 s) and a timed window of 2 to 10 s after model load and warm-up. The
truth is the exact integral of the drawn power over the true windows.

Sources: an ideal gauge (continuous, exact), a noisy gauge (continuous, with read noise: white and
correlated), a held
gauge (sample-and-hold: one update per second at a random phase, each the mean current over its
last second), a flat gauge (one value forever: a cached or simulated reading), the rails (ODPM
counters in whole uWs, stamped in ms, read with jitter) and the HAL (mWs with 2 decimals, each
reading taken somewhere inside its dumpsys call).

Per source: runs, the share ``ok`` (``uncertain`` and ``failed`` besides), and coverage = the
share of ok rows with |energy - truth| <= 2 x energy_mj_err. Targets: coverage >= 90% for every
source; a flat gauge never ok. Prints the table and writes benchmarks/results/verdicts_energy.csv.

    python benchmarks/verdicts_energy.py [--trials 300] [--seed 1] [--idle-secs 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.device import power as pw
from edgeseg.device.profiles import PowerSpec

SOURCES = ("ideal_gauge", "noisy_gauge", "held_gauge", "flat_gauge", "rails", "hal")
COLUMNS = ("source", "runs", "ok", "uncertain", "failed", "coverage", "median_z", "target")
RATE_HZ = 10.0  # the profile's default sampler rate
IDLE_SECS = 3.0  # the profile's default idle baseline
TICK = 0.01  # /proc/uptime's resolution
DT = 0.001  # the simulated power's time step (s)
RAILS = (("S4M_VDD_CPUCL0", "CPU(LITTLE)", 0.7), ("S5M_VDD_INT", "INT", 0.3))


def _tick(t: float) -> float:
    return np.floor(t / TICK + 1e-9) * TICK


def _stamp(t: float) -> str:
    return f"{_tick(t):.2f}"


def _fluctuation(rng: np.random.Generator, n: int, tau_s: float) -> np.ndarray:
    """Unit-variance noise with correlation time ``tau_s`` on the DT grid (white noise through a
    first-order low-pass, in the frequency domain)."""
    white = rng.standard_normal(n)
    f = np.fft.rfftfreq(n, DT)
    shaped = np.fft.irfft(np.fft.rfft(white) / np.sqrt(1 + (2 * np.pi * f * tau_s) ** 2), n)
    return shaped / (shaped.std() or 1.0)


def scenario(rng: np.random.Generator, idle_secs: float = IDLE_SECS) -> dict:
    """One bench row's timeline and the phone's power on the DT grid (mW)."""
    t_boot = rng.uniform(1000, 5000)
    idle_start = t_boot + 0.5
    run_start = idle_start + idle_secs + rng.uniform(0, 0.05)
    step = run_start + rng.uniform(0.0, 1.5)  # model load and delegate init at idle power
    timed_start = step + rng.uniform(0.05, 0.5)  # warm-up at load
    timed_end = timed_start + rng.uniform(2.0, 10.0)
    load_end = timed_end + rng.uniform(0.0, 0.2)
    run_end = load_end + 0.02
    t_end = run_end + 0.3
    t = np.arange(t_boot - 3.0, t_end + 1.0, DT)
    idle_mw = rng.uniform(400, 1500)
    load_mw = np.exp(rng.uniform(np.log(200), np.log(3000)))
    drift = rng.uniform(-0.05, 0.1)  # per second under load (leakage as the chip warms, throttling)
    on = (t >= step) & (t < load_end)
    level = idle_mw + on * load_mw * (1 + drift * np.clip(t - step, 0, None))
    wobble = _fluctuation(rng, len(t), rng.uniform(0.05, 1.0))
    p = level * (1 + np.where(on, rng.uniform(0.01, 0.06), rng.uniform(0.005, 0.03)) * wobble)
    e_uws = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * DT * 1e3)])  # mW x s = mJ; x 1e3 = uWs
    return {
        "t": t,
        "p": p,
        "e": e_uws,
        "idle_start": idle_start,
        "run_start": run_start,
        "timed": (timed_start, timed_end),
        "run_end": run_end,
        "t_end": t_end,
        "volts": rng.uniform(3.7, 4.2),
        "latency_ms": rng.uniform(5, 150),
    }


def _energy_at(sc: dict, t: float) -> float:
    return float(np.interp(t, sc["t"], sc["e"]))


def _mean_mw(sc: dict, a: float, b: float) -> float:
    return (_energy_at(sc, b) - _energy_at(sc, a)) / (b - a) / 1e3


def truth_mj(sc: dict) -> float:
    idle = _mean_mw(sc, sc["idle_start"], sc["run_start"])
    run = _mean_mw(sc, *sc["timed"])
    return (run - idle) * sc["latency_ms"] / 1e3


def _sample_times(rng: np.random.Generator, start: float, end: float, rate_hz: float) -> list[float]:
    """The sampler loop's read times: its period plus the loop's own work and sleep overshoot."""
    out, t = [], start
    while t < end:
        out.append(t)
        t += 1 / rate_hz + rng.uniform(0.002, 0.015)
    return out


def _gauge_current_ua(rng: np.random.Generator, sc: dict, kind: str, times: list[float]) -> list[int]:
    """The gauge's current_now (uA, discharging read negative) at the sampler's read times."""
    v = sc["volts"]
    if kind == "flat":
        first = np.interp(times[0], sc["t"], sc["p"]) / v
        return [-round(first * 1000)] * len(times)
    if kind == "held":
        period, phase = 1.0, rng.uniform(0, 1.0)
        noise = rng.uniform(1, 10)  # mW: the gauge's own error per update
        updates: dict[int, float] = {}
        out = []
        for s in times:
            j = int(np.floor((s - phase) / period))  # the last update at or before s: the mean of its last period
            if j not in updates:
                g = phase + j * period
                updates[j] = (_energy_at(sc, g) - _energy_at(sc, g - period)) / period / 1e3 + rng.normal(0, noise)
            out.append(-round(updates[j] / v * 1000))
        return out
    p = np.interp(times, sc["t"], sc["p"])
    if kind == "noisy":  # read noise: white, and a slower part (the gauge's own filtering)
        slow = np.interp(times, sc["t"], _fluctuation(rng, len(sc["t"]), rng.uniform(0.1, 1.0)))
        p = p + rng.normal(0, rng.uniform(10, 60), len(p)) + rng.uniform(0, 30) * slow
    return [-round(x / v * 1000) for x in p]


def power_log(rng: np.random.Generator, sc: dict, source: str) -> str:
    """The sampler's log of one row as the device writes it."""
    lines = [f"M idle_start {_stamp(sc['idle_start'])}", f"M run_start {_stamp(sc['run_start'])}"]
    first = sc["idle_start"] + rng.uniform(-0.03, 0.03)  # the sampler starts beside the idle marker
    times = _sample_times(rng, first, sc["t_end"], RATE_HZ)
    kind = source.split("_")[0] if source.endswith("gauge") else "ideal"
    uv = round(sc["volts"] * 1e6)
    for s, ua in zip(times, _gauge_current_ua(rng, sc, kind, times)):
        lines.append(f"S {_stamp(s)} ;{ua};{uv};285 | |")
        if source == "rails":  # read after the gauge in the same loop; ODPM stamps its counters in ms
            t_read = s + rng.uniform(0.001, 0.004)
            t_own = t_read + rng.uniform(-0.001, 0.001)
            ms = int(np.floor(t_own * 1000))
            e = _energy_at(sc, t_read)
            lines.append(f"R {_stamp(s)} t={ms}")
            for i, (name, _, share) in enumerate(RAILS):
                lines.append(f"R {_stamp(s)} CH{i}(T={ms})[{name}], {int(e * share)}")
    if source == "hal":
        h = sc["idle_start"] + rng.uniform(-0.05, 0.05)
        while h < sc["t_end"]:
            call = rng.uniform(0.03, 0.25)
            e = _energy_at(sc, h + rng.uniform(0, call))
            for name, sub, share in RAILS:
                lines.append(f"P {_stamp(h)} [{name}]:{sub}   {e * share / 1000.0:14.2f} mWs")
            lines.append(f"Q {_stamp(h)} {_stamp(h + call)}")
            h += call + 1 / pw.HAL_RATE_HZ + rng.uniform(0.002, 0.01)
    lines.append(f"M run_end {_stamp(sc['run_end'])}")
    return "\n".join(lines) + "\n"


def trial(rng: np.random.Generator, source: str, idle_secs: float = IDLE_SECS) -> dict:
    sc = scenario(rng, idle_secs)
    log = pw.parse_power_log(power_log(rng, sc, source), PowerSpec(source="auto"))
    idle = (log.markers["idle_start"], log.markers["run_start"])
    run = (_tick(sc["timed"][0]), _tick(sc["timed"][1]))  # the runner's stamps of its timed window
    which = "battery" if source.endswith("gauge") else source
    e = pw.energy(log, idle, run, sc["latency_ms"], sources=[which])
    return {**e, "truth_mj": truth_mj(sc)}


def energy_table(trials: int = 300, seed: int = 1, idle_secs: float = IDLE_SECS) -> list[dict]:
    """One row per source: runs, the shares ok / uncertain / failed, coverage (the share of ok
    rows whose |energy - truth| <= 2 x energy_mj_err; None without ok rows), the median of
    |energy - truth| / err over the ok rows, and the target (coverage >= 0.9; flat: never ok)."""
    rows = []
    for k, source in enumerate(SOURCES):
        rng = np.random.default_rng([seed, k])
        res = [trial(rng, source, idle_secs) for _ in range(trials)]
        ok = [r for r in res if r["status"] == "ok"]
        z = [abs(r["energy_mj_per_inference"] - r["truth_mj"]) / r["energy_mj_err"] for r in ok]
        coverage = sum(x <= 2 for x in z) / len(z) if z else None
        if source == "flat_gauge":
            target = "never ok: " + ("met" if not ok else "MISSED")
        else:
            target = "coverage >= 0.9: " + ("met" if coverage is not None and coverage >= 0.9 else "MISSED")
        rows.append(
            {
                "source": source,
                "runs": trials,
                "ok": len(ok) / trials,
                "uncertain": sum(r["status"] == "uncertain" for r in res) / trials,
                "failed": sum(r["status"] == "failed" for r in res) / trials,
                "coverage": coverage,
                "median_z": float(np.median(z)) if z else None,
                "target": target,
            }
        )
    return rows


def main(argv=None) -> int:
    from edgeseg.fileio import atomic_write_csv
    from edgeseg.reporting.tables import format_table

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=300, help="trials per source")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--idle-secs", type=float, default=IDLE_SECS, help="the idle baseline (the profile's idle_secs)")
    ap.add_argument("--csv", default=str(Path(__file__).parent / "results" / "verdicts_energy.csv"))
    args = ap.parse_args(argv)
    t = time.perf_counter()
    rows = energy_table(args.trials, args.seed, args.idle_secs)
    print(format_table(rows, COLUMNS, floats=3))
    print(
        f"{args.trials} trials per source, seed {args.seed}, idle {args.idle_secs:g} s, {time.perf_counter() - t:.0f} s"
    )
    atomic_write_csv(args.csv, COLUMNS, rows)
    print(f"wrote {args.csv}")
    return 0 if all(r["target"].endswith("met") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
