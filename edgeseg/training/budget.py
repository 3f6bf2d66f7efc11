"""Training to a wall-clock budget (``edgeseg train --time-budget 60m``) and validating every
N epochs (``--val-every``): the rules, as plain functions of measured times, so that a fake
clock tests them and the training loop only asks.

The budget counts from the start of the ``train`` call (decoding the data and building the
model are part of what a user waits for). At the end of every epoch's training steps the plan
asks whether one more epoch still fits:

    elapsed + validation of this epoch (if it is validated) + next epoch's steps
            + the next epoch's validation share  <=  budget

with the next epoch's time estimated as the median of the last three measured epochs (the
first epoch, which includes tracing, is dropped once there are others). If it does not fit,
this epoch is the last: it is validated (always, whatever ``--val-every`` says), saved, and
training stops. The learning-rate schedule's total step count follows the same estimate
(:meth:`BudgetPlan.planned_epochs`), so a decaying schedule (cosine, poly) ends at the
budget rather than at a fixed epoch count. Granularity is one epoch: the budget is kept
unless the first epoch alone exceeds it, and at most one epoch's time is left unused.
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
    clock: Callable[[], float] = time.monotonic
    epoch_s: list[float] = field(default_factory=list)  # each epoch's steps, and the saving after the last
    val_s: list[float] = field(default_factory=list)  # each timed validation
    mark: float | None = None  # elapsed at the end of the last epoch (or at the first step's start)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def steps_done(self) -> None:
        """An epoch's steps have run: its time since the last epoch ended is measured."""
        now = self.elapsed()
        self.epoch_s.append(now - (self.mark if self.mark is not None else now))
        self.mark = now

    def epoch_done(self, validated_s: float | None = None) -> None:
        """The epoch is validated (``validated_s`` seconds) or not, and saved: the next starts."""
        if validated_s is not None:
            self.val_s.append(validated_s)
        self.mark = self.elapsed()

    def start(self) -> None:
        """The first step is about to run (everything before it was setup)."""
        self.mark = self.elapsed()

    def epoch_estimate(self) -> float:
        times = self.epoch_s[1:] if len(self.epoch_s) > 1 else self.epoch_s
        return statistics.median(times[-3:]) if times else math.inf

    def val_estimate(self) -> float:
        if self.val_s:
            return statistics.median(self.val_s[-3:])
        if not self.epoch_s:
            return 0.0
        per_image = self.epoch_estimate() / max(1, self.images_per_epoch)
        return per_image * VAL_COST_GUESS * self.val_images

    def fits_another(self, validating_now: bool, val_every: int, next_epoch: int) -> bool:
        """After the steps of an epoch: whether epoch ``next_epoch`` still fits, given whether
        this epoch is validated (its validation is still to come)."""
        val = self.val_estimate()
        next_val = val if next_epoch % val_every == 0 else val / val_every
        need = (val if validating_now else 0.0) + self.epoch_estimate() + next_val
        return self.elapsed() + need <= self.budget_s

    def planned_epochs(self, done: int, val_every: int) -> int:
        """``done`` plus the epochs that fit in what is left (at least ``done``): the total the
        learning-rate schedule decays over."""
        per_epoch = self.epoch_estimate() + self.val_estimate() / max(1, val_every)
        if not math.isfinite(per_epoch) or per_epoch <= 0:
            return done
        return done + max(0, int((self.budget_s - self.elapsed()) // per_epoch))

    def record(self) -> dict:
        """What the run record keeps of the budget."""
        return {
            "budget_s": round(self.budget_s, 1),
            "used_s": round(self.elapsed(), 1),
            "epochs": len(self.epoch_s),
            "epoch_s_median": round(self.epoch_estimate(), 2) if self.epoch_s else None,
        }


def validates(epoch: int, val_every: int, last: bool) -> bool:
    """Whether epoch ``epoch`` (1-based) is validated: every ``val_every``-th, and the last."""
    return last or epoch % val_every == 0
