"""`edgeseg train` as a function: :func:`train` with its :class:`TrainConfig` (edgeseg.training.config)
and typed result, and :func:`resume_config`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..results import Result, _pick
from .config import TrainConfig


@dataclass(frozen=True)
class TrainResult(Result):
    run: str
    best_epoch: int
    best_val_miou: float
    #: the last epoch of the run (a --time-budget run: the last that fit)
    epochs_trained: int = 0
    #: training images the steps saw (epochs x steps x batch)
    images_seen: int = 0
    #: a --time-budget run's ``{budget_s, used_s, epochs, epoch_s_median}``; None without one
    budget: dict | None = None


#: The options a resumed run may set without being compared with its own (see resume_config).
_RESUME_FREE = ("out", "epochs", "time_budget", "val_every")


def resume_config(out: str | Path, **given) -> TrainConfig:
    """The config to resume the run in ``out`` with: the run's own options, overridden by
    those ``given`` (which must then match, except ``epochs``, ``time_budget`` and ``val_every``; :func:`train` checks)."""
    from .loop import stored_train_config

    stored = stored_train_config(out)
    for merged in ("model_options", "model_training"):  # dicts: the given entries over the run's own
        if merged in given:
            given = {**given, merged: {**(stored.get(merged) or {}), **given[merged]}}
    return TrainConfig(**{**stored, **given, "out": str(out)})


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch=None,
    progress=None,
) -> TrainResult:
    """Train ``config.model`` on ``config.data`` into the run folder ``config.out``."""
    from .loop import train as run_train

    res = run_train(config, resume=resume, on_epoch=on_epoch, on_batch=on_batch, progress=progress)
    return _pick(TrainResult, dict(res))
