"""The --time-budget and --val-every rules (edgeseg.training.budget) with a fake clock: no
TensorFlow, no timing of this host."""

from __future__ import annotations

import math

import pytest

from edgeseg.errors import UsageError
from edgeseg.training.budget import BUDGET_EPOCH_CAP, BudgetPlan, parse_duration, validates
from edgeseg.training.config import DEFAULT_EPOCHS, TrainConfig
from edgeseg.training.progressive import STAGES, run_fraction, scaled_size, stage_scale


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


STEPS = 10  # steps per epoch in the simulations


def simulate(budget_s, setup_s, epoch_s, val_s, val_every=1, cap=BUDGET_EPOCH_CAP, progressive=False, sizes=None):
    """Run the loop's decisions (as edgeseg.training.loop takes them) against a fake clock.
    ``epoch_s(n)`` is epoch n's time for its STEPS steps at the full input size; with
    ``progressive`` an epoch at a smaller size (edgeseg.training.progressive's table, on a
    192x256 input of stride 16) takes that share of it, and ``sizes`` collects each epoch's.
    Returns (steps per epoch run, validated epochs, elapsed, the schedule's planned total
    steps after each epoch)."""
    clock = Clock()
    plan = BudgetPlan(budget_s, clock(), images_per_epoch=100, val_images=20, clock=clock, steps_per_epoch=STEPS)
    clock.t += setup_s
    plan.start()
    validated, plans, ran, n = [], [], [], 0
    while True:
        n += 1
        k = 0
        share = 1.0
        if progressive:
            full = (192, 256)
            size = scaled_size(full, stage_scale(run_fraction(n - 1, cap, plan)), 16)
            share = size[0] * size[1] / (full[0] * full[1])
            if sizes is not None:
                sizes.append(size)
        plan.set_pixels(share)
        while k < STEPS:
            clock.t += epoch_s(n) * share / STEPS
            k += 1
            if plan.stop_within(k):
                break
        ran.append(k)
        last = n >= cap or plan.ends_after(n, k, val_every)
        if validates(n, val_every, last, plan.pixels == 1.0):
            clock.t += val_s
            validated.append(n)
            plan.epoch_done(val_s)
        else:
            plan.epoch_done()
        plans.append(plan.planned_steps(sum(ran), val_every))
        if last:
            return ran, validated, plan.elapsed(), plans


def test_budget_is_used_to_the_last_step():
    ran, validated, elapsed, plans = simulate(600, setup_s=20, epoch_s=lambda n: 50, val_s=5)
    # 20 s setup, then epochs of 50 s + 5 s validation: 10 full epochs end at 570 s; the 11th
    # is cut after 5 of its 10 steps (595 s + 5 s validation = 600 s; a 6th step would end past it)
    assert ran == [10] * 10 + [5]
    assert elapsed == pytest.approx(600)
    assert validated == list(range(1, 12))
    assert plans[-1] == sum(ran)  # the schedule decays over the steps that ran
    assert abs(plans[1] - sum(ran)) <= 1  # and knew it from the second epoch on


def test_budget_is_kept_with_a_slow_first_epoch_and_wandering_epochs():
    times = {1: 80, 2: 50, 3: 55, 4: 45, 5: 60, 6: 50, 7: 52, 8: 48, 9: 58, 10: 50, 11: 49, 12: 51}
    ran, _, elapsed, plans = simulate(700, setup_s=30, epoch_s=lambda n: times.get(n, 50), val_s=4)
    assert elapsed <= 700
    assert 700 - elapsed < 10  # about a step left unused
    assert abs(plans[1] - sum(ran)) <= 0.03 * sum(ran)  # from the second epoch on (the traced first one dropped)


def test_a_short_remainder_starts_no_epoch():
    # 5 epochs of 60 s + 1 s validation end at 305 s; 10 s are left, less than a quarter epoch
    ran, validated, elapsed, _ = simulate(315, setup_s=0, epoch_s=lambda n: 60, val_s=1)
    assert ran == [10] * 5 and validated[-1] == 5 and elapsed == 305


def test_val_every_validates_every_nth_and_the_last():
    ran, validated, elapsed, _ = simulate(1000, setup_s=0, epoch_s=lambda n: 60, val_s=30, val_every=3)
    assert validated[-1] == len(ran)
    assert all(e % 3 == 0 for e in validated[:-1])
    assert elapsed <= 1000
    # validating only every third epoch buys training: with every epoch validated fewer steps fit
    ran_all, _, _, _ = simulate(1000, setup_s=0, epoch_s=lambda n: 60, val_s=30, val_every=1)
    assert sum(ran) > sum(ran_all)


def test_a_budget_smaller_than_one_epoch_still_trains_one():
    ran, validated, elapsed, _ = simulate(10, setup_s=2, epoch_s=lambda n: 50, val_s=5)
    assert ran == [10] and validated == [1]


def test_the_epoch_cap_ends_a_budgeted_run_early():
    ran, _, _, _ = simulate(10_000, setup_s=0, epoch_s=lambda n: 10, val_s=1, cap=4)
    assert ran == [10] * 4


def test_validation_is_guessed_before_it_was_timed():
    clock = Clock()
    plan = BudgetPlan(100, clock(), images_per_epoch=100, val_images=300, clock=clock)
    assert plan.val_estimate() == 0.0 and plan.epoch_estimate() == math.inf
    plan.start()
    clock.t += 10
    plan.steps_done()
    assert plan.val_estimate() == pytest.approx(10 / 100 / 3 * 300)  # a third of a training step per image


def test_progressive_is_on_by_default_with_a_budget_only():
    base = {"data": "d", "out": "o"}
    assert TrainConfig(**base).progressive is False
    assert TrainConfig(**base, time_budget="5m").progressive is True
    assert TrainConfig(**base, time_budget="5m", progressive=False).progressive is False
    assert TrainConfig(**base, progressive=True).progressive is True
    # a model whose graph is sized to its input trains at one size, and says why when asked for more
    assert TrainConfig(**base, model="deeplabv3plus", time_budget="5m").progressive is False
    with pytest.raises(UsageError, match="ASPP image pooling is sized to the input") as e:
        TrainConfig(**base, model="deeplabv3plus", progressive=True)
    assert e.value.param == "--progressive"


def test_train_config_epochs_follow_the_budget():
    base = {"data": "d", "out": "o"}
    assert TrainConfig(**base).epochs == DEFAULT_EPOCHS
    assert TrainConfig(**base, time_budget="5m").epochs == BUDGET_EPOCH_CAP
    assert TrainConfig(**base, time_budget="5m", epochs=7).epochs == 7
    with pytest.raises(UsageError, match="positive duration"):
        TrainConfig(**base, time_budget="soon")
    with pytest.raises(UsageError, match="multi-worker run with --epochs"):
        TrainConfig(**base, time_budget="5m", strategy="multiworker")


def test_progressive_budget_is_kept_and_buys_images():
    """Epochs whose time follows their pixels: 0.25x, 0.5625x, then full. Each new size's
    first epoch is estimated from the last size's scaled by the pixels, so the budget holds
    across the switches, and the run sees more images than one at the full size."""
    sizes = []
    ran, validated, elapsed, _ = simulate(
        1800, setup_s=20, epoch_s=lambda n: 60, val_s=5, progressive=True, sizes=sizes
    )
    assert elapsed <= 1800 and 1800 - elapsed < 10
    assert sizes[0] == (96, 128) and (144, 192) in sizes and sizes[-1] == (192, 256)
    assert sizes == sorted(sizes)  # never back to a smaller size
    plain, _, _, _ = simulate(1800, setup_s=20, epoch_s=lambda n: 60, val_s=5)
    assert sum(ran) > 1.6 * sum(plain)
    assert validated[-1] == len(ran)


def test_progressive_estimates_per_size():
    clock = Clock()
    plan = BudgetPlan(1000, clock(), images_per_epoch=100, val_images=100, clock=clock, steps_per_epoch=10)
    plan.start()
    plan.set_pixels(0.25)
    for t in (30, 10, 11, 12):  # the first at a size traces: dropped once there are others
        clock.t += t
        plan.steps_done()
    assert plan.epoch_estimate() == pytest.approx(11)
    assert plan.val_estimate() == pytest.approx(11 / 100 / 0.25 / 3 * 100)  # validation runs at the full size
    plan.set_pixels(1.0)  # nothing measured at the full size yet: the last size's, scaled
    assert plan.epoch_estimate() == pytest.approx(44)
    clock.t += 50
    plan.steps_done()
    assert plan.epoch_estimate() == pytest.approx(50)


@pytest.mark.parametrize(
    "fraction, scale", [(0.0, 0.5), (0.34, 0.5), (0.35, 0.75), (0.64, 0.75), (0.65, 1.0), (1.0, 1.0)]
)
def test_stage_scale_follows_the_table(fraction, scale):
    assert stage_scale(fraction) == scale
    assert STAGES[-1][1] == 1.0  # the run ends at the full size


@pytest.mark.parametrize(
    "size, scale, stride, out",
    [
        ((192, 256), 0.5, 16, (96, 128)),
        ((192, 256), 0.75, 16, (144, 192)),
        ((192, 320), 0.75, 32, (160, 256)),  # rounded to the stride
        ((64, 96), 0.1, 16, (16, 16)),  # at least one stride
        ((48, 48), 1.0, 16, (48, 48)),
    ],
)
def test_scaled_size(size, scale, stride, out):
    assert scaled_size(size, scale, stride) == out


def test_run_fraction_by_epochs_or_by_the_budget():
    assert run_fraction(0, 10) == 0 and run_fraction(7, 10) == 0.7
    clock = Clock()
    plan = BudgetPlan(100, clock(), images_per_epoch=1, val_images=1, clock=clock)
    clock.t += 40
    assert run_fraction(3, 10, plan) == pytest.approx(0.4)
    assert run_fraction(7, 10, plan) == pytest.approx(0.7)  # an epoch cap that ends the run first
    clock.t += 100
    assert run_fraction(3, 10, plan) == 1.0


def test_validates_full_size_epochs_and_the_last():
    assert validates(4, 2, False) and not validates(3, 2, False)
    assert not validates(4, 2, False, full_size=False)  # --progressive: a smaller epoch is not the model of record
    assert validates(3, 2, True, full_size=False)  # the last always is
