"""Training to a wall-clock budget (``edgeseg train --time-budget 60m``) and validating every
N epochs (``--val-every``): the rules, as plain functions of measured times, so that a fake
clock tests them and the training loop only asks.

The budget counts from the start of the ``train`` call (decoding the data and building the
model are part of what a user waits for). Times are estimated from what was measured: an
epoch's steps as the median of the last three epochs (the first, which includes tracing, is
dropped once there are others; with ``--progressive``, of the epochs at the current input size,
else the last size's scaled by the pixels), a step as that over the steps per epoch,
validation as its last timings (before the first, a third of a training step per val image).

* At the end of an epoch's steps: another epoch starts if at least
  :data:`MIN_LAST_EPOCH` of it, and its validation, still fit after this epoch's
  validation; else this epoch is the last.
* Within an epoch after the first: the epoch stops after the step past which one more step
  and the final validation would not fit (:meth:`BudgetPlan.stop_within`); that epoch is the
  last, cut short (its ``history.csv`` row counts the images it saw).

The last epoch is always validated (whatever ``--val-every`` says) and saved. The
learning-rate schedule's total step count follows the same estimate
(:meth:`BudgetPlan.planned_steps`), so a decaying schedule (cosine, poly) ends at the budget
rather than at a fixed epoch count. The budget is kept to about one step, unless the first
epoch alone exceeds it (the first epoch always finishes: it is where the times come from).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import UsageError

#: Unit suffixes of a duration and their seconds.
DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
#: The epoch cap of a budgeted run: ``--epochs`` left out means "as many as fit".
BUDGET_EPOCH_CAP = 10_000
#: Validation, until measured, costs this fraction of a training step per image (a forward
#: pass without the backward one, about a third of a training step's work).
VAL_COST_GUESS = 1 / 3
#: Another epoch starts only if at least this fraction of it fits: a shorter last epoch buys
#: little training for its validation and checkpoint.
MIN_LAST_EPOCH = 0.25
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)")


def parse_duration(text: str | float | int, param: str = "--time-budget") -> float:
    """Seconds of ``90``, ``90s``, ``45m``, ``1.5h`` or ``1h30m``; a clear error otherwise."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        pos, seconds = 0, 0.0
        while pos < len(s):
            m = _PART.match(s, pos)
            if not m:
                seconds = math.nan
                break
            seconds += float(m.group(1)) * DURATION_UNITS[m.group(2) or "s"]
            pos = m.end()
        if not s:
            seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(
            f"{param} {text!r} is not a positive duration: write it as 90s, 45m, 1.5h or 1h30m", param=param
        )
    return seconds


@dataclass
class BudgetPlan:
    """The measured epochs of a budgeted run and the decisions taken from them.

    ``images_per_epoch`` and ``val_images`` size the validation guess before validation has
    been timed once; ``clock`` is injectable for tests."""

    budget_s: float
    started: float
    images_per_epoch: int
    val_images: int
    steps_per_epoch: int = 1
    clock: Callable[[], float] = time.monotonic
    epoch_s: list[float] = field(default_factory=list)  # each epoch's steps, and the saving after the last
    val_s: list[float] = field(default_factory=list)  # each timed validation
    mark: float | None = None  # elapsed at the end of the last epoch (or at the first step's start)
    pixels: float = 1.0  # the running epoch's input pixels, as a share of the full size's (--progressive)
    epoch_px: list[float] = field(default_factory=list)  # each epoch's input pixels per image

    def elapsed(self) -> float:
        return self.clock() - self.started

    def steps_done(self) -> None:
        """An epoch's steps have run: its time since the last epoch ended is measured."""
        now = self.elapsed()
        self.epoch_s.append(now - (self.mark if self.mark is not None else now))
        self.epoch_px.append(self.pixels)
        self.mark = now

    def set_pixels(self, pixels: float) -> None:
        """The next epoch trains at this share of the full input size's pixels (``--progressive``)."""
        self.pixels = float(pixels)

    def epoch_done(self, validated_s: float | None = None) -> None:
        """The epoch is validated (``validated_s`` seconds) or not, and saved: the next starts."""
        if validated_s is not None:
            self.val_s.append(validated_s)
        self.mark = self.elapsed()

    def start(self) -> None:
        """The first step is about to run (everything before it was setup)."""
        self.mark = self.elapsed()

    def _times_at(self, pixels: float) -> list[float]:
        times = [t for t, p in zip(self.epoch_s, self.epoch_px) if p == pixels]
        return (times[1:] if len(times) > 1 else times)[-3:]  # the first at a size traces

    def epoch_estimate(self) -> float:
        """An epoch at the current input size: the median of the last three at that size (its
        first dropped once there are others), else the last size's scaled by the pixels."""
        if not self.epoch_s:
            return math.inf
        times = self._times_at(self.pixels)
        if times:
            return statistics.median(times)
        last = self.epoch_px[-1]
        return statistics.median(self._times_at(last)) * self.pixels / last

    def val_estimate(self) -> float:
        if self.val_s:
            return statistics.median(self.val_s[-3:])
        if not self.epoch_s:
            return 0.0
        per_image = self.epoch_estimate() / max(1, self.images_per_epoch) / self.pixels  # val is at full size
        return per_image * VAL_COST_GUESS * self.val_images

    def step_estimate(self) -> float:
        return self.epoch_estimate() / max(1, self.steps_per_epoch)

    def fits_another(self, validating_now: bool, val_every: int, next_epoch: int) -> bool:
        """After the steps of an epoch: whether epoch ``next_epoch`` should start (at least
        :data:`MIN_LAST_EPOCH` of it and a validation still fit after this epoch's own
        validation, if it has one)."""
        val = self.val_estimate()
        need = (val if validating_now else 0.0) + MIN_LAST_EPOCH * self.epoch_estimate() + val
        return self.elapsed() + need <= self.budget_s

    def ends_after(self, epoch: int, steps_run: int, val_every: int) -> bool:
        """The decision at the end of epoch ``epoch``'s steps (``steps_run`` of them): a full
        epoch's time is recorded, and the epoch is the last when it was cut short
        (:meth:`stop_within`) or another would not fit (:meth:`fits_another`)."""
        if steps_run < self.steps_per_epoch:
            return True
        self.steps_done()
        validating = validates(epoch, val_every, False, self.pixels == 1.0)
        return not self.fits_another(validating, val_every, epoch + 1)

    def stop_within(self, steps_done: int) -> bool:
        """Within an epoch after the first, once ``steps_done`` of its steps ran: whether to stop
        here (one more step and the final validation would pass the budget)."""
        if len(self.epoch_s) < 1 or steps_done >= self.steps_per_epoch:
            return False
        return self.elapsed() + self.step_estimate() + self.val_estimate() > self.budget_s

    def planned_steps(self, done_steps: int, val_every: int) -> int:
        """``done_steps`` plus the steps that fit in what is left, each epoch's validation
        share and the final validation taken out: the total the learning-rate schedule decays
        over (at least ``done_steps``)."""
        step = self.step_estimate()
        if not math.isfinite(step) or step <= 0:
            return done_steps
        val = self.val_estimate()
        per_step = step + val / max(1, val_every) / max(1, self.steps_per_epoch)
        return done_steps + max(0, int((self.budget_s - self.elapsed() - val) // per_step))

    def planned_epochs(self, done: int, val_every: int) -> int:
        """The epochs the run will have, the last one possibly cut short (at least ``done``)."""
        steps = self.planned_steps(done * self.steps_per_epoch, val_every)
        return max(done, math.ceil(steps / max(1, self.steps_per_epoch)))

    def record(self) -> dict:
        """What the run record keeps of the budget."""
        return {
            "budget_s": round(self.budget_s, 1),
            "used_s": round(self.elapsed(), 1),
            "epochs": len(self.epoch_s),
            "epoch_s_median": round(self.epoch_estimate(), 2) if self.epoch_s else None,
        }


def validates(epoch: int, val_every: int, last: bool, full_size: bool = True) -> bool:
    """Whether epoch ``epoch`` (1-based) is validated: every ``val_every``-th that trained at
    the full input size (``--progressive`` trains smaller ones first), and the last."""
    return last or (full_size and epoch % val_every == 0)
