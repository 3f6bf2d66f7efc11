"""Training: a run directory with config, checkpoints, history and resume.

Run directory layout::

    RUN/config.json          model, input size, classes, normalisation, training options
    RUN/history.csv          one row per finished epoch (rewritten atomically)
    RUN/best.weights.h5      weights of the epoch with the best val mIoU
    RUN/last.weights.h5      weights after the last finished epoch
    RUN/ckpt/                model + optimizer + epoch (tf.train.Checkpoint) for --resume

A run killed mid-epoch resumes from the last finished epoch; shuffling and augmentation are
pure functions of (seed, epoch, position), so the resumed run sees the same batches.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable


from .. import __version__
from ..config import format_size, import_tf
from ..data.formats import open_dataset
from ..data.pipeline import NORMALISATION, AugmentConfig, load_split, normalise, train_dataset
from ..errors import TrainError
from ..fileio import atomic_write_csv, atomic_write_json
from ..models.pta import parse_distribution
from ..models.registry import build_model, model_config
from ..runtime.evaluate import score_split
from .losses import LOSSES, make_loss
from .metrics import median_frequency_weights

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "lr", "loss", "val_miou", "val_dice", "val_pixel_accuracy", "seconds", "images_per_s")


@dataclass
class TrainConfig:
    data: str
    out: str
    model: str = "resunet"
    input_size: tuple[int, int] = (192, 320)
    epochs: int = 30
    batch: int = 8
    lr: float = 5e-4
    decay_rate: float = 0.8
    decay_epochs: float = 3.0
    loss: str = "ce"
    class_weights: bool = False
    augment: str = "default"
    resize: str = "letterbox"
    seed: int = 0
    skip_bad: bool = False
    train_split: str = "train"
    val_split: str = "val"
    limit: int | None = None  # at most this many images per split (quick experiments)
    model_options: dict = field(default_factory=dict)
    pta_sampling: str | None = None  # unet-pta: CONFIG:WEIGHT,... (None: the seed's distribution)


def strategy():
    """Several visible GPUs: MirroredStrategy; otherwise the default one-device strategy."""
    tf = import_tf()
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def read_run_config(run: str | Path) -> dict:
    path = Path(run) / "config.json"
    if not path.is_file():
        raise TrainError(f"{run} is not a training run (no config.json); train one with `edgeseg train --out {run}`")
    return json.loads(path.read_text())


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
    model.load_weights(str(weights))
    return model, cfg


def _read_history(path: Path) -> list[dict]:
    import csv  # noqa: PLC0415

    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def train(cfg: TrainConfig, resume: bool = False, on_epoch: Callable[[dict], None] | None = None,
          progress=None, verbose: int = 2) -> dict:
    """Train a model; return the final summary (best epoch, best val mIoU, paths)."""
    if cfg.loss not in LOSSES:
        raise TrainError(f"unknown loss '{cfg.loss}'; choose from {', '.join(LOSSES)}")
    if cfg.epochs < 1:
        raise TrainError("--epochs must be at least 1")
    out = Path(cfg.out)
    config_path = out / "config.json"
    if config_path.exists() and not resume:
        raise TrainError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
    if resume and not config_path.exists():
        raise TrainError(f"cannot resume: {out} holds no run (no config.json)")

    if cfg.pta_sampling is not None and cfg.model != "unet-pta":
        raise TrainError(f"--pta-sampling is for unet-pta runs; {cfg.model} has no PTA blocks")
    distribution = parse_distribution(cfg.pta_sampling)  # checked before any data is read
    ds = open_dataset(cfg.data)
    aug = AugmentConfig.parse(cfg.augment)
    mcfg = model_config(cfg.model, **cfg.model_options)
    run_cfg = {
        "edgeseg_version": __version__,
        "model": cfg.model,
        "model_config": mcfg,
        "input_size": list(cfg.input_size),
        "classes": list(ds.class_names),
        "normalisation": NORMALISATION,
        "resize": cfg.resize,
        "output": "probabilities",
        "train": {**asdict(cfg), "input_size": format_size(cfg.input_size), "augment_enabled": aug.enabled()},
        "dataset": ds.describe(),
    }
    if resume:
        old = json.loads(config_path.read_text())
        for key in ("model", "model_config", "input_size", "classes"):
            if old.get(key) != run_cfg[key]:
                raise TrainError(f"cannot resume {out}: its {key} is {old.get(key)!r} but this call asks for {run_cfg[key]!r}")
        old_sampling = parse_distribution(old.get("train", {}).get("pta_sampling"))
        if old_sampling.keys() != distribution.keys() or any(
                abs(old_sampling[k] - distribution[k]) > 1e-9 for k in distribution):  # the same ratios resume
            raise TrainError(f"cannot resume {out}: it sampled PTA configurations with "
                             f"{old.get('train', {}).get('pta_sampling') or 'seed'}, this call asks for "
                             f"{cfg.pta_sampling or 'seed'}")
        run_cfg["train"]["epochs"] = cfg.epochs

    train_cache = load_split(ds, cfg.train_split, cfg.input_size, cfg.resize, cfg.skip_bad, cfg.limit, progress=progress)
    val_cache = load_split(ds, cfg.val_split, cfg.input_size, cfg.resize, cfg.skip_bad, cfg.limit,
                           progress=progress, keep_source=True)
    run_cfg["skipped_files"] = [str(p) for p, _ in train_cache.skipped + val_cache.skipped]
    weights = median_frequency_weights(train_cache.masks, ds.num_classes) if cfg.class_weights else None
    if weights is not None:
        run_cfg["class_weights"] = [round(float(w), 5) for w in weights]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(config_path, run_cfg)

    import_tf()
    import tf_keras as keras  # noqa: PLC0415

    keras.utils.set_random_seed(cfg.seed)
    steps = len(train_cache) // cfg.batch
    if steps == 0:
        raise TrainError(f"{len(train_cache)} training image(s) make no batch of {cfg.batch}; lower --batch")
    strat = strategy()
    with strat.scope():
        model = build_model(cfg.model, cfg.input_size, ds.num_classes, mcfg)
        schedule = keras.optimizers.schedules.ExponentialDecay(
            cfg.lr, decay_steps=max(1, int(round(cfg.decay_epochs * steps))), decay_rate=cfg.decay_rate)
        optimizer = keras.optimizers.Adam(schedule)
        model.compile(optimizer=optimizer, loss=make_loss(cfg.loss, weights))
    callbacks = [pta_sampler(keras, model, cfg.seed, distribution)] if hasattr(model, "pta_bank") else []
    best = fit(model, optimizer, schedule, out, train_cache, val_cache, ds, epochs=cfg.epochs, batch=cfg.batch,
               seed=cfg.seed, aug=aug, resume=resume, on_epoch=on_epoch, verbose=verbose, callbacks=callbacks)
    return {"run": str(out), "epochs": cfg.epochs, "best_epoch": best["epoch"], "best_val_miou": best["miou"],
            "params": int(model.count_params()), "history": str(out / "history.csv")}


def fit(model, optimizer, schedule, out: Path, train_cache, val_cache, ds, *, epochs: int, batch: int, seed: int,
        aug, resume: bool, on_epoch=None, verbose: int = 2, callbacks=()) -> dict:
    """The epoch loop shared by training and QAT fine-tuning: per-epoch validation at label
    resolution, best/last weights, history.csv and a tf.train.Checkpoint for resume, all in
    ``out``. Returns best.json."""
    tf = import_tf()
    import tf_keras as keras  # noqa: PLC0415

    steps = len(train_cache) // batch
    if steps == 0:
        raise TrainError(f"{len(train_cache)} training image(s) make no batch of {batch}; lower --batch")
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    best_var = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_miou")
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var, best_miou=best_var)
    manager = tf.train.CheckpointManager(ckpt, str(out / "ckpt"), max_to_keep=2)

    history_path = out / "history.csv"
    first_epoch = 0
    if resume and manager.latest_checkpoint is not None:
        ckpt.restore(manager.latest_checkpoint).expect_partial()
        first_epoch = int(epoch_var.numpy())
        log.info("resuming %s at epoch %d of %d", out, first_epoch + 1, epochs)
    elif resume:
        log.warning("%s was stopped before its first epoch was checkpointed; starting from epoch 1", out)
    history = [r for r in _read_history(history_path) if int(r["epoch"]) <= first_epoch]
    if first_epoch >= epochs:
        raise TrainError(f"{out} has already trained {first_epoch} epoch(s); ask for more with --epochs")

    data = train_dataset(train_cache, batch, seed, first_epoch, epochs, aug)

    def predict(images):
        return model(normalise(images), training=False).numpy()

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.t0
            res = score_split(predict, val_cache, ds.num_classes, ds.class_names, batch=batch)
            lr = float(schedule(optimizer.iterations))
            row = {"epoch": epoch + 1, "lr": lr, "loss": float(logs.get("loss", math.nan)),
                   "val_miou": res["miou"], "val_dice": res["dice"], "val_pixel_accuracy": res["pixel_accuracy"],
                   "seconds": seconds, "images_per_s": steps * batch / seconds}
            improved = res["miou"] > float(best_var.numpy())
            if improved:
                best_var.assign(res["miou"])
                _save_weights_atomic(model, out / "best.weights.h5")
                atomic_write_json(out / "best.json", {"epoch": epoch + 1, **res})
            _save_weights_atomic(model, out / "last.weights.h5")
            history.append(row)
            atomic_write_csv(history_path, HISTORY_COLUMNS, history)
            epoch_var.assign(epoch + 1)
            manager.save(checkpoint_number=epoch + 1)  # last: a crash before this redoes the epoch
            if on_epoch:
                on_epoch({**row, "epochs": epochs, "best": improved, "per_class_iou": res["per_class_iou"]})

    model.fit(data, epochs=epochs, initial_epoch=first_epoch, steps_per_epoch=steps,
              callbacks=[*callbacks, EpochEnd()], verbose=verbose)
    return json.loads((out / "best.json").read_text())


def pta_sampler(keras, model, seed: int, distribution: dict[str, float]):
    """Samples a PTA configuration per training step from ``distribution`` and sets HHH,
    the heaviest, before each epoch's validation."""
    from ..models.pta import sample_configs, set_config  # noqa: PLC0415

    class PtaSampler(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.configs = sample_configs(100_000, seed * 1000 + epoch, distribution)

        def on_train_batch_begin(self, batch, logs=None):
            set_config(model, self.configs[batch % len(self.configs)])

        def on_epoch_end(self, epoch, logs=None):
            set_config(model, "HHH")

    return PtaSampler()


def _save_weights_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".tmp-{path.name}")  # keep the .weights.h5 ending: it selects the format
    model.save_weights(str(tmp))
    tmp.replace(path)
