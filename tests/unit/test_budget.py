"""The --time-budget and --val-every rules (edgeseg.training.budget) with a fake clock: no
TensorFlow, no timing of this host."""

from __future__ import annotations

import math

import pytest

from edgeseg.errors import UsageError
from edgeseg.training.budget import BUDGET_EPOCH_CAP, BudgetPlan, parse_duration, validates
from edgeseg.training.config import DEFAULT_EPOCHS, TrainConfig


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90), ("90s", 90), ("45m", 2700), ("1.5h", 5400), ("1h30m", 5400), (" 2m 30s ", 150), (120, 120)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "abc", "5x", "m", "1h-2m", "nan"])
def test_parse_duration_refuses(text):
    with pytest.raises(UsageError, match="90s, 45m, 1.5h or 1h30m") as e:
        parse_duration(text)
    assert e.value.param == "--time-budget"


def simulate(budget_s, setup_s, epoch_s, val_s, val_every=1, cap=BUDGET_EPOCH_CAP, first_extra=0.0):
    """Run the loop's decisions against a fake clock: returns (epochs, validated, elapsed, plans)."""
    clock = Clock()
    plan = BudgetPlan(budget_s, clock(), images_per_epoch=100, val_images=20, clock=clock)
    clock.t += setup_s
    plan.start()
    validated, plans, n = [], [], 0
    while True:
        n += 1
        clock.t += epoch_s(n) + (first_extra if n == 1 else 0.0)
        plan.steps_done()
        last = n >= cap or not plan.fits_another(validates(n, val_every, False), val_every, n + 1)
        if validates(n, val_every, last):
            clock.t += val_s
            validated.append(n)
            plan.epoch_done(val_s)
        else:
            plan.epoch_done()
        plans.append(plan.planned_epochs(n, val_every))
        if last:
            return n, validated, plan.elapsed(), plans


def test_budget_stops_at_the_last_epoch_that_fits():
    n, validated, elapsed, plans = simulate(600, setup_s=20, epoch_s=lambda n: 50, val_s=5)
    # 20 s setup + 10 epochs of 55 s = 570 s; an 11th would end at 625 s
    assert n == 10 and elapsed == 570
    assert validated == list(range(1, 11))
    assert plans[-1] == 10  # the schedule decays over the epochs that ran


def test_budget_is_kept_with_a_slow_first_epoch_and_wandering_epochs():
    times = {1: 80, 2: 50, 3: 55, 4: 45, 5: 60, 6: 50, 7: 52, 8: 48, 9: 58, 10: 50, 11: 49, 12: 51}
    n, _, elapsed, plans = simulate(700, setup_s=30, epoch_s=lambda n: times.get(n, 50), val_s=4)
    assert elapsed <= 700
    assert 700 - elapsed < 60  # at most about one epoch left unused
    assert abs(plans[1] - plans[-1]) <= 1  # from the second epoch on (the traced first one dropped) it holds


def test_val_every_validates_every_nth_and_the_last():
    n, validated, elapsed, _ = simulate(1000, setup_s=0, epoch_s=lambda n: 60, val_s=30, val_every=3)
    assert validated[-1] == n
    assert all(e % 3 == 0 for e in validated[:-1])
    assert elapsed <= 1000
    # validating only every third epoch buys epochs: with every epoch validated fewer fit
    n_all, _, _, _ = simulate(1000, setup_s=0, epoch_s=lambda n: 60, val_s=30, val_every=1)
    assert n > n_all


def test_a_budget_smaller_than_one_epoch_still_trains_one():
    n, validated, elapsed, _ = simulate(10, setup_s=2, epoch_s=lambda n: 50, val_s=5)
    assert n == 1 and validated == [1]


def test_the_epoch_cap_ends_a_budgeted_run_early():
    n, _, _, _ = simulate(10_000, setup_s=0, epoch_s=lambda n: 10, val_s=1, cap=4)
    assert n == 4


def test_validation_is_guessed_before_it_was_timed():
    clock = Clock()
    plan = BudgetPlan(100, clock(), images_per_epoch=100, val_images=300, clock=clock)
    assert plan.val_estimate() == 0.0 and plan.epoch_estimate() == math.inf
    plan.start()
    clock.t += 10
    plan.steps_done()
    assert plan.val_estimate() == pytest.approx(10 / 100 / 3 * 300)  # a third of a training step per image


def test_train_config_epochs_follow_the_budget():
    base = {"data": "d", "out": "o"}
    assert TrainConfig(**base).epochs == DEFAULT_EPOCHS
    assert TrainConfig(**base, time_budget="5m").epochs == BUDGET_EPOCH_CAP
    assert TrainConfig(**base, time_budget="5m", epochs=7).epochs == 7
    with pytest.raises(UsageError, match="positive duration"):
        TrainConfig(**base, time_budget="soon")
    with pytest.raises(UsageError, match="multi-worker run with --epochs"):
        TrainConfig(**base, time_budget="5m", strategy="multiworker")
