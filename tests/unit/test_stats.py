"""edgeseg.stats: the exact rank interval, the median's uncertainty, the three-way judgement."""

import math
import random

import pytest

from edgeseg import stats


def test_the_exact_mann_whitney_null_matches_enumeration():
    import itertools

    for m, n in ((2, 3), (3, 3), (4, 2)):
        counts = [0] * (m * n + 1)
        for xs in itertools.combinations(range(m + n), m):
            ys = [i for i in range(m + n) if i not in xs]
            counts[sum(x > y for x in xs for y in ys)] += 1
        assert stats._u_null(m, n) == tuple(counts)


@pytest.mark.parametrize(
    "m, n, k, conf",
    [(5, 5, 5, 1 - 24 / 252), (3, 3, 1, 0.9), (4, 4, 2, 1 - 4 / 70), (5, 5, 3, None)],
)
def test_the_rank_interval_is_as_tight_as_its_confidence_allows(m, n, k, conf):
    if conf is None:  # at 95%: the 5+5 interval of google/benchmark-style U tests
        assert stats.rank_interval_k(m, n, 0.95) == (k, pytest.approx(1 - 8 / 252))
        return
    got_k, achieved = stats.rank_interval_k(m, n)
    assert got_k == k and achieved == pytest.approx(conf) and achieved >= stats.MIN_CONFIDENCE
    # one step tighter would fall below the confidence
    counts = stats._u_null(m, n)
    assert 1 - 2 * sum(counts[: k + 1]) / sum(counts) < stats.CONFIDENCE


def test_too_few_repeats_give_no_rank_interval():
    assert stats.rank_interval_k(2, 2) is None
    assert stats.shift_interval([10, 11], [12, 13]) is None


def test_the_rank_interval_covers_a_known_shift_at_its_confidence():
    rng = random.Random(7)
    hits, trials = 0, 400
    for _ in range(trials):
        a = [math.exp(rng.gauss(0, 0.05)) * 10 for _ in range(5)]
        b = [math.exp(rng.gauss(0, 0.05)) * 12 for _ in range(5)]
        iv = stats.shift_interval(a, b)
        hits += iv["lo"] <= 0.2 <= iv["hi"]
    assert hits / trials >= 0.87  # 90.5% nominal; 400 trials: +-1.5% binomial


def test_median_se_and_normal_interval():
    assert stats.median_se(2.0, 100) == pytest.approx(math.sqrt(math.pi / 2) * 0.2)
    assert stats.median_se(None, 100) is None and stats.median_se(1.0, 0) is None
    iv = stats.normal_interval(10.0, 12.0, 0.1, 0.12)
    assert iv["change"] == pytest.approx(0.2) and iv["lo"] < 0.2 < iv["hi"]


@pytest.mark.parametrize(
    "lo, hi, op, t, want",
    [
        (6, 9, ">", 5, "breach"),
        (1, 4, ">", 5, "pass"),
        (3, 8, ">", 5, "inconclusive"),
        (-9, -6, "<", -5, "breach"),
        (-4, 1, "<", -5, "pass"),
        (-7, -2, "<", -5, "inconclusive"),
    ],
)
def test_judge(lo, hi, op, t, want):
    assert stats.judge(lo, hi, op, t) == want


def test_robust_sigma_of_steps_ignores_one_level_shift():
    flat = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.1]
    shifted = flat[:4] + [v + 3 for v in flat[4:]]
    assert stats.robust_sigma_of_steps(shifted) == pytest.approx(stats.robust_sigma_of_steps(flat), rel=0.5)
    assert stats.robust_sigma_of_steps([1.0, 2.0]) is None


def test_host_rows_say_what_this_cpu_cannot_show_of_a_precision():
    """Issue 28 (host figures that mislead): int8 without dot-product instructions and float16
    without fp16 arithmetic run at float32's speed on a host; the row's note says so."""
    from edgeseg.host import precision_note

    avx2_only = {"avx2", "fma", "f16c"}
    assert "no int8 dot-product instructions" in precision_note("int8", avx2_only)
    assert "no int8 dot-product instructions" in precision_note("int8_controlled", avx2_only)
    assert precision_note("int8", avx2_only | {"avx512_vnni"}) is None
    assert precision_note("int8", {"asimd", "asimddp"}) is None  # an Arm core with dot product
    assert "no float16 arithmetic" in precision_note("float16", avx2_only)
    assert precision_note("float16", {"asimdhp"}) is None
    assert precision_note("float32", set()) is None and precision_note(None, set()) is None
