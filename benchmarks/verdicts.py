"""How often each verdict is wrong, measured by simulation with the project's own rule functions.

Every word edgeseg prints about numbers is a statistical decision. This script feeds each rule
(the same functions the commands call) simulated data with a known truth, many times, and counts
how often the word is right:

* the regression gate (edgeseg.reporting.compare: compare_row + Rule.judged) on a rule
  ``median_ms>+5%``, for true changes of 0, 5, 10 and 20%, at three noise levels, with 1 and 5
  repeats a side: the share of breach, inconclusive and pass (the gate fails on breach and, by
  default, on inconclusive);
* throttling (edgeseg.device.sustained.throttling_verdict) on steady phones whose window medians
  wander +-5% and +-10% (independent and correlated), and on phones that throttle 20% and 40%;
* energy coverage (benchmarks/verdicts_energy.py, edgeseg.device.power.energy) per source.

Noise models (stated, so that a reader can disagree with them):
* idle host: single inferences spread 3% (std / median), medians of runs move 1% between runs;
* busy host: spread 20%, runs move 6%, and one run in ten is 20-60% slower (other work);
* phone: spread 5%, runs move 3% (DVFS, background work).
Each run has ``RUNS`` timed inferences; its median carries the within-run error of a median.

Usage: python benchmarks/verdicts.py [--trials N] [--seed S] [--out benchmarks/results/verdicts.csv]
Prints a table per rule and writes one CSV with every row.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgeseg.device.sustained import throttling_verdict
from edgeseg.reporting.compare import _median_se, compare_row, parse_rule
from edgeseg.stats import MEDIAN_SE_FACTOR

RUNS = 50
#: name -> (within-run spread, run-to-run sigma, share of outlier runs, outlier slowdown range)
NOISE = {
    "idle host": (0.03, 0.01, 0.0, (1.0, 1.0)),
    "busy host": (0.20, 0.06, 0.10, (1.2, 1.6)),
    "phone": (0.05, 0.03, 0.0, (1.0, 1.0)),
}
CHANGES = (0.0, 0.05, 0.10, 0.20)
REPEATS = (1, 5)
GATE_RULE = "median_ms>+5%"


def _run_median(rng: random.Random, true_ms: float, noise: tuple) -> float:
    spread, between, p_out, (lo, hi) = noise
    m = true_ms * math.exp(rng.gauss(0, between))
    if rng.random() < p_out:
        m *= rng.uniform(lo, hi)
    return m * math.exp(rng.gauss(0, MEDIAN_SE_FACTOR * spread / math.sqrt(RUNS)))


def _side(rng: random.Random, true_ms: float, noise: tuple, k: int) -> dict:
    """One report's latency row as compare's _measures reads it."""
    medians = [_run_median(rng, true_ms, noise) for _ in range(k)]
    med = sorted(medians)[k // 2]
    row = {"median_ms": med, "std_ms": noise[0] * med, "runs": RUNS * k}
    return {
        "status": "ok",
        "error": None,
        "median_ms": med,
        "median_se": _median_se(row),
        "repeats": medians if k > 1 else [],
        "energy_mj": None,
        "energy_err": None,
        "miou": None,
        "device_miou": None,
    }


def gate_table(trials: int, seed: int) -> list[dict]:
    rule = parse_rule(GATE_RULE)
    rng = random.Random(seed)
    rows = []
    for env, noise in NOISE.items():
        for k in REPEATS:
            for change in CHANGES:
                counts = {"breach": 0, "inconclusive": 0, "pass": 0}
                for _ in range(trials):
                    base, new = _side(rng, 30.0, noise, k), _side(rng, 30.0 * (1 + change), noise, k)
                    row = compare_row(base, new, {"artifact": "a", "device": "host", "delegate": "xnnpack"})
                    outcome, _ = rule.judged(row)
                    counts[outcome] += 1
                wrong_if = "fail" if change <= 0.05 else "pass"  # a true +5% sits on the rule's edge
                rows.append(
                    {
                        "rule": "gate " + GATE_RULE,
                        "case": f"{env}, {k} repeat(s), true change {change:+.0%}",
                        "trials": trials,
                        "breach": counts["breach"] / trials,
                        "inconclusive": counts["inconclusive"] / trials,
                        "pass": counts["pass"] / trials,
                        "gate_fails": (counts["breach"] + counts["inconclusive"]) / trials,
                        "error_kind": ("false alarm" if change < 0.05 else "edge") if wrong_if == "fail" else "miss",
                        "error_rate": (
                            (counts["breach"] + counts["inconclusive"]) / trials
                            if change < 0.05
                            else None
                            if change == 0.05
                            else counts["pass"] / trials
                        ),
                    }
                )
    return rows


def _windows(rng: random.Random, n: int, wander: float, ar: float, throttle: float, onset: int, evidence: bool):
    """n windows of a phone at 30 ms: window medians wander uniformly +-``wander`` (AR(1) with
    coefficient ``ar``), and from window ``onset`` on run ``throttle`` slower, with the CPU capped
    to 70% and the zone 15 C hotter where ``evidence`` (else neither reads)."""
    out, level = [], 0.0
    for i in range(1, n + 1):
        level = ar * level + math.sqrt(1 - ar * ar) * rng.uniform(-wander, wander)
        hot = throttle and i >= onset
        m = 30.0 * (1 + level) * (1 + (throttle if hot else 0.0))
        m *= math.exp(rng.gauss(0, MEDIAN_SE_FACTOR * 0.05 / math.sqrt(RUNS)))
        w = {"window": i, "median_ms": m, "std_ms": 0.05 * m, "runs": RUNS, "status": "ok"}
        if evidence:
            w["cpu_max_mhz"] = 2850.0 * (0.7 if hot else 1.0)
            w["zone_max_c"] = 40.0 + (15.0 if hot else 0.0) + rng.uniform(-0.5, 0.5)
        out.append(w)
    return out


THROTTLE_CASES = (
    # name, wander, AR coefficient, throttle, evidence readable
    ("steady, +-5% wander", 0.05, 0.0, 0.0, True),
    ("steady, +-10% wander", 0.10, 0.0, 0.0, True),
    ("steady, +-10% wander, correlated (AR 0.5)", 0.10, 0.5, 0.0, True),
    ("steady, +-10% wander, nothing readable", 0.10, 0.0, 0.0, False),
    ("throttles 20%, +-10% wander", 0.10, 0.0, 0.20, True),
    ("throttles 40%, +-10% wander", 0.10, 0.0, 0.40, True),
    ("throttles 20%, +-5% wander", 0.05, 0.0, 0.20, True),
    ("slows 20%, no frequency or temperature read", 0.10, 0.0, 0.20, False),
)


def throttle_table(trials: int, seed: int, n: int = 10, onset: int = 4) -> list[dict]:
    rng = random.Random(seed + 1)
    rows = []
    for name, wander, ar, throttle, evidence in THROTTLE_CASES:
        counts = {"throttled": 0, "drift": 0, "steady": 0, "unknown": 0}
        onset_ok = 0
        for _ in range(trials):
            v = throttling_verdict(_windows(rng, n, wander, ar, throttle, onset, evidence))
            counts[v["throttling"]] += 1
            if v["throttling"] == "throttled" and abs((v["throttling_onset_window"] or 0) - onset) <= 1:
                onset_ok += 1
        share = {k: c / trials for k, c in counts.items()}
        if not throttle:
            kind, rate = "false throttled", share["throttled"]
        elif evidence:
            kind, rate = "miss (not throttled)", 1 - share["throttled"]
        else:
            kind, rate = "miss (no shift found)", share["steady"]
        rows.append(
            {
                "rule": f"throttling ({n} windows)",
                "case": name,
                "trials": trials,
                "throttled": share["throttled"],
                "drift": share["drift"],
                "steady": share["steady"],
                "onset_within_1": onset_ok / trials if throttle and evidence else None,
                "error_kind": kind,
                "error_rate": rate,
            }
        )
    return rows


def energy_rows(trials: int, seed: int) -> list[dict]:
    try:
        from verdicts_energy import energy_table  # benchmarks/verdicts_energy.py
    except ImportError as exc:
        print(f"energy: skipped ({exc})", file=sys.stderr)
        return []
    return [{"rule": "energy +-2 err", **r} for r in energy_table(trials, seed)]


#: columns that are not shares (printed as they are, not in percent)
PLAIN = ("median_z", "trials", "runs")


def _fmt(v, col: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}" if col in PLAIN else f"{100 * v:.1f}%"
    return str(v)


def print_table(rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "rule"))
    cells = [[_fmt(r.get(c), c) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    print(rows[0]["rule"])
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for x in cells:
        print("  ".join(v.ljust(w) for v, w in zip(x, widths)))
    print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000, help="simulated runs per case (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "verdicts.csv"))
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    gate, throttle = gate_table(args.trials, args.seed), throttle_table(args.trials, args.seed)
    energy = energy_rows(max(100, args.trials // 5), args.seed)
    for rows in (gate, throttle):
        print_table(rows)
    if energy:
        print_table(energy)
    every = gate + throttle + energy
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in every for k in r))
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(every)
    print(f"{len(every)} rows in {time.monotonic() - t0:.0f} s, seed {args.seed}: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
