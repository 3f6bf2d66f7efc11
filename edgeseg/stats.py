"""The statistics behind every verdict that compares numbers: pure functions, no I/O, no numpy.

Each rule that turns measurements into a word (``same``/``slower``, ``breach``/``inconclusive``,
``throttled``/``drift``) calls these, and ``benchmarks/verdicts.py`` measures how often each
rule is wrong by running the same functions on simulated data with a known truth.

* :func:`shift_interval`: the change between two sets of repeat medians as a ratio, with a
  distribution-free confidence interval: the Hodges-Lehmann estimate of the shift of the log
  medians and the interval from the order statistics of the pairwise differences that the exact
  Mann-Whitney null distribution gives (Hollander & Wolfe, *Nonparametric Statistical Methods*,
  ch. 4; google/benchmark's compare.py uses the same U test on repetitions). Robust to an
  outlying repeat (a busy moment on the host), and exact for any continuous noise.
* :func:`median_se`: the standard error of one run's median from its std and count
  (sqrt(pi/2) * std / sqrt(n) for normal noise): the band when there is one repeat, which holds
  the within-run uncertainty only.
* :func:`robust_sigma_of_steps`: the spread of a series from its successive differences
  (1.4826 x median |diff| / sqrt(2)): a level shift moves one difference, not the estimate.
"""

from __future__ import annotations

import math
import statistics
from functools import lru_cache

#: sqrt(pi / 2): the standard error of a median of n normal values is this x sigma / sqrt(n)
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)
#: the MAD of a normal sample is this fraction of sigma; 1 / 0.6745 = 1.4826
MAD_TO_SIGMA = 1.4826
#: the two-sided confidence the intervals aim at, and the least they may fall back to. A gate
#: decides with one side of the interval at a time (breach: its low end beyond the rule; pass:
#: its high end within it), so a 90% two-sided interval makes each decision at 95% one-sided
#: confidence: two one-sided tests, as equivalence testing does (Schuirmann 1987).
CONFIDENCE = 0.90
MIN_CONFIDENCE = 0.90
Z95 = 1.959964
Z90 = 1.644854


def median_se(std: float | None, runs: float | None) -> float | None:
    """The standard error of a run's median latency from its std and number of timed runs."""
    if std is None or runs is None or runs < 1 or not math.isfinite(std) or std < 0:
        return None
    return MEDIAN_SE_FACTOR * std / math.sqrt(runs)


@lru_cache(maxsize=256)
def _u_null(m: int, n: int) -> tuple[int, ...]:
    """Counts of each Mann-Whitney U value (0..m*n) over all C(m+n, m) orderings, no ties."""
    # f[i][j][u]: orderings of i x's and j y's with U = u (U counts pairs x > y)
    prev = [[1] + [0] * (m * n) for _ in range(n + 1)]  # i = 0: U = 0 for every j
    for _ in range(1, m + 1):
        cur = [[0] * (m * n + 1) for _ in range(n + 1)]
        cur[0][0] = 1
        for j in range(1, n + 1):
            for u in range(m * n + 1):
                # the largest value is an x (it beats all j y's) or a y (it adds nothing)
                cur[j][u] = (prev[j][u - j] if u >= j else 0) + cur[j - 1][u]
        prev = cur
    return tuple(prev[n])


def rank_interval_k(m: int, n: int, confidence: float = CONFIDENCE) -> tuple[int, float] | None:
    """``(k, achieved confidence)``: the interval [d_(k), d_(mn+1-k)] of the sorted pairwise
    differences covers the true shift with at least ``confidence`` (two-sided, exact), with k as
    large as that allows; below :data:`MIN_CONFIDENCE` even at k = 1 (too few repeats): None."""
    counts = _u_null(m, n)
    total = sum(counts)
    best = None
    cum = 0
    for k in range(1, m * n // 2 + 1):
        cum += counts[k - 1]  # P(U <= k - 1)
        achieved = 1 - 2 * cum / total
        if achieved >= confidence:
            best = (k, achieved)
        else:
            break
    if best is None:
        achieved = 1 - 2 * counts[0] / total
        if achieved >= MIN_CONFIDENCE:
            best = (1, achieved)
    return best


def shift_interval(base: list[float], new: list[float], confidence: float = CONFIDENCE) -> dict | None:
    """The relative change new/base - 1 of two sets of positive repeat medians: ``{"change",
    "lo", "hi", "confidence", "method"}`` (fractions), or None when the repeats are too few for
    an interval of at least :data:`MIN_CONFIDENCE` (3 and 3 give 90%, 5 and 5 give 90.5%)."""
    a = [math.log(x) for x in base if x and x > 0 and math.isfinite(x)]
    b = [math.log(x) for x in new if x and x > 0 and math.isfinite(x)]
    if not a or not b:
        return None
    got = rank_interval_k(len(a), len(b), confidence)
    if got is None:
        return None
    k, achieved = got
    diffs = sorted(y - x for x in a for y in b)
    est = statistics.median(diffs)
    lo, hi = diffs[k - 1], diffs[len(diffs) - k]
    return {
        "change": math.exp(est) - 1,
        "lo": math.exp(lo) - 1,
        "hi": math.exp(hi) - 1,
        "confidence": achieved,
        "method": f"rank test on {len(a)}+{len(b)} repeat medians",
    }


def normal_interval(base: float, new: float, se_base: float, se_new: float) -> dict | None:
    """The relative change new/base - 1 with a normal :data:`CONFIDENCE` interval from each
    value's standard error (on the log scale: a ratio's error is symmetric there)."""
    if not (base and new and base > 0 and new > 0) or se_base is None or se_new is None:
        return None
    d = math.log(new / base)
    s = math.hypot(se_base / base, se_new / new)
    return {
        "change": math.exp(d) - 1,
        "lo": math.exp(d - Z90 * s) - 1,
        "hi": math.exp(d + Z90 * s) - 1,
        "confidence": CONFIDENCE,
        "method": "within-run uncertainty of each median",
    }


def judge(lo: float, hi: float, op: str, threshold: float) -> str:
    """A rule ``value OP threshold`` against an interval of the value: ``breach`` when the whole
    interval is beyond the threshold, ``pass`` when none of it is, else ``inconclusive``."""
    if op == ">":
        return "breach" if lo > threshold else "pass" if hi <= threshold else "inconclusive"
    return "breach" if hi < threshold else "pass" if lo >= threshold else "inconclusive"


def robust_sigma_of_steps(values: list[float]) -> float | None:
    """The spread of a series' values around its local level, from its successive differences
    (MAD of the differences x 1.4826 / sqrt(2)); None with fewer than 3 values."""
    if len(values) < 3:
        return None
    steps = [abs(b - a) for a, b in zip(values, values[1:])]
    return MAD_TO_SIGMA * statistics.median(steps) / math.sqrt(2)
