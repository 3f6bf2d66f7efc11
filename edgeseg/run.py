"""A training run folder: its config, its checkpoints, and rebuilding its model.

Layout (written by :mod:`edgeseg.training.loop`)::

    RUN/config.json          model, input size, classes, normalisation, training options
    RUN/history.csv          one row per finished epoch (rewritten atomically)
    RUN/best.json            the best epoch and its val scores
    RUN/best.weights.h5      weights of the epoch with the best val mIoU
    RUN/last.weights.h5      weights after the last finished epoch
    RUN/ckpt/                model + optimizer + epoch (tf.train.Checkpoint) for --resume

Everything that reads a run (export, eval, info, the quickstart) goes through here.
"""

from __future__ import annotations

from pathlib import Path

from .errors import TrainError
from .models.registry import build_model


def is_run(path: str | Path) -> bool:
    """A folder (a run, or something that should be one) rather than an artifact file."""
    return Path(path).is_dir()


def read_run_config(run: str | Path) -> dict:
    """A run's config.json. Runs made before edgeseg 0.2.0 named the seed's graph
    ``resunet``; that graph is ``resunet-seed`` now, and is what such a run loads as."""
    from .schemas import read_run_config_file

    path = Path(run) / "config.json"
    if not path.is_file():
        raise TrainError(f"{run} is not a training run (no config.json); train one with `edgeseg train --out {run}`")
    cfg = read_run_config_file(path, TrainError)
    if cfg.get("model") == "resunet" and _version(cfg.get("edgeseg_version", "0")) < (0, 2, 0):
        cfg["model"] = "resunet-seed"
        if isinstance(cfg.get("train"), dict):
            cfg["train"]["model"] = "resunet-seed"
    return cfg


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(text).split(".")[:3])
    except ValueError:
        return (0,)


def load_run_model(run: str | Path, which: str = "best"):
    """Rebuild the model of a run and load its best (or last) weights."""
    cfg = read_run_config(run)
    weights = Path(run) / f"{which}.weights.h5"
    if not weights.is_file():
        raise TrainError(f"{weights} is missing: the run has not finished an epoch yet")
    mcfg = dict(cfg["model_config"])
    if mcfg.get("encoder_weights"):
        mcfg["encoder_weights"] = None  # the run's own weights replace them; the file need not exist any more
    model = build_model(cfg["model"], tuple(cfg["input_size"]), len(cfg["classes"]), mcfg)
    load_weights(model, weights)
    return model, cfg


def load_weights(model, weights: Path) -> None:
    """``model.load_weights``, where a truncated, corrupt or foreign weights file is our error."""
    try:
        model.load_weights(str(weights))
    except (OSError, ValueError, IndexError, KeyError) as exc:  # h5py: "Unable to synchronously open file"
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise TrainError(
            f"{weights} cannot be loaded ({detail}): it is truncated or corrupt, or was not written for this "
            f"run's config.json; train the run again (or restore the file from a copy)"
        ) from None


def finished_epochs(run: str | Path) -> int:
    """How many epochs of the run have finished (rows of history.csv); 0 for no run."""
    return len(read_history(Path(run) / "history.csv"))


def read_history(path: Path) -> list[dict]:
    """The rows of a run's history.csv ([] when there is none), checked: a damaged file is a
    :class:`TrainError` naming it."""
    from .schemas import read_history_file

    return read_history_file(path, TrainError) if path.is_file() else []


def has_best(run: str | Path) -> bool:
    """Whether the run has a best checkpoint to export."""
    return (Path(run) / "best.json").is_file() and (Path(run) / "best.weights.h5").is_file()
