"""Training: a run directory with config, checkpoints, history and resume.

Run directory layout::

    RUN/config.json          model, input size, classes, normalisation, training options
    RUN/history.csv          one row per finished epoch (rewritten atomically)
    RUN/best.weights.h5      weights of the epoch with the best val mIoU
    RUN/last.weights.h5      weights after the last finished epoch
    RUN/ckpt/                model + optimizer + epoch (tf.train.Checkpoint) for --resume
    RUN/.lock                flock-ed by the process training into RUN (its pid inside), see lock_run

A run killed mid-epoch resumes from the last finished epoch; shuffling and augmentation are
pure functions of (seed, epoch, position), so the resumed run sees the same batches.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path

from ..config import format_size, import_tf, parse_size
from ..data.formats import open_dataset
from ..data.pipeline import (
    NORMALISATION,
    AugmentConfig,
    load_split,
    normalise,
    train_dataset,
)
from ..errors import ModelError, TrainError, TrainInterrupted
from ..fileio import FileLock, LockedError, OutputPathError, atomic_write_csv, atomic_write_json, check_writable_output
from ..host import cpu_model
from ..interrupt import interrupted_by, sigterm_as_interrupt
from ..models.registry import MODELS, build_model, model_config, training_options
from ..run import load_run_model, read_run_config  # noqa: F401 (load_run_model: re-exported)
from ..version import __version__
from .budget import BudgetPlan, parse_duration, validates
from .config import TrainConfig
from .distribute import make_strategy, peer_timeout_s, role_for
from .losses import LOSSES, WEIGHTED_LOSSES, make_loss
from .metrics import median_frequency_weights, score_split
from .precision import PRECISIONS, float32_head, native_flags, policy
from .progressive import run_fraction, scaled_size, stage_scale
from .recipe import SCHEDULES, WeightEMA, make_schedule
from .resources import activation_bytes, cache_bytes, check_free_disk, check_memory, checkpoint_bytes

log = logging.getLogger(__name__)

HISTORY_COLUMNS = (
    "epoch",
    "lr",
    "loss",
    "val_miou",
    "val_dice",
    "val_pixel_accuracy",
    "seconds",
    "images_per_s",
    "images_seen",
    "train_size",
)


def _read_history(path: Path) -> list[dict]:
    from ..run import read_history

    return read_history(path)


#: Training options a resumed run may change: how far it goes, and where it runs (the global
#: batch stays, so the same run continues on another number of workers).
RESUMABLE_CHANGES = ("epochs", "strategy", "time_budget", "val_every")
#: What runs made before an option existed did, for comparing them on --resume.
LEGACY_OPTIONS = {
    "schedule": "exp",
    "warmup_epochs": 0.0,
    "ema": 0.0,
    "jit_compile": False,
    "strategy": "auto",
    "precision": "float32",
    "progressive": False,
}


def stored_train_config(run: str | Path) -> dict:
    """The TrainConfig fields a run was started with (config.json ``train``)."""
    train_cfg = {**LEGACY_OPTIONS, **(read_run_config(run).get("train") or {})}
    known = {f.name for f in fields(TrainConfig)}
    out = {k: v for k, v in train_cfg.items() if k in known}
    own = {k: v for k, v in train_cfg.items() if k in training_options() and v is not None}
    if own:  # the model's own options, stored flat
        out["model_training"] = own
    if isinstance(out.get("input_size"), str):
        from ..config import parse_size

        out["input_size"] = parse_size(out["input_size"])
    return out


def _comparable(name: str, value):
    """A training option in a form where equal meaning compares equal."""
    if name == "data" and value is not None:
        return str(Path(value).expanduser().resolve())
    if name == "augment":
        return AugmentConfig.parse(value).enabled()
    if name in training_options():  # a model's own option: its row says what compares equal
        spec = next(MODELS[m] for m in training_options()[name])
        return spec.training.comparable(name, value)
    if name == "input_size" and value is not None:
        return list(parse_size_any(value))
    if isinstance(value, float):
        return round(value, 12)
    return value


def config_differences(old_train: dict, new: TrainConfig) -> list[str]:
    """What ``new`` changes against a run's stored training options, apart from the ones a
    resume may change (:data:`RESUMABLE_CHANGES`); one ``name: run X, this call Y`` each."""
    diffs = []
    old_train = {**LEGACY_OPTIONS, **old_train}
    for f in fields(TrainConfig):
        if f.name in RESUMABLE_CHANGES or f.name in ("out", "model_training") or f.name not in old_train:
            continue
        before, after = _comparable(f.name, old_train[f.name]), _comparable(f.name, getattr(new, f.name))
        if before != after:
            diffs.append(f"{f.name}: run {old_train[f.name]!r}, this call {getattr(new, f.name)!r}")
    hooks = MODELS[new.model].training if new.model in MODELS else None
    for name in hooks.option_names() if hooks else ():  # the model's own options, compared as its row says
        was, now = old_train.get(name), (new.model_training or {}).get(name)
        if _comparable(name, was) != _comparable(name, now):
            diffs.append(f"{name}: run {was or 'default'!r}, this call {now or 'default'!r}")
    return diffs


def parse_size_any(value) -> tuple[int, int]:

    return parse_size(value if isinstance(value, str) else tuple(value))


def train(
    cfg: TrainConfig,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    progress=None,
    verbose: int = 0,
    on_batch: Callable[[dict], None] | None = None,
) -> dict:
    """Train a model; return the final summary (best epoch, best val mIoU, paths).

    ``cfg.out`` is checked (writable, names not too long) before any work, and held locked
    (``RUN/.lock``, :func:`lock_run`) for the whole call: a second ``train`` into the same
    folder is refused naming this process. Apart from the lock file nothing is written to
    ``cfg.out`` until the first training step has run, and a call that fails before an
    epoch finished removes the folder it created, so it leaves no half-made run behind. A
    resumed run must keep its training options (:func:`config_differences`); only
    ``epochs`` may grow. Ctrl-C and SIGTERM raise :class:`TrainInterrupted` naming the last
    finished epoch; a diverged loss is a :class:`TrainError` saying to lower --lr."""
    if cfg.loss not in LOSSES:
        raise TrainError(f"unknown loss '{cfg.loss}'; choose from {', '.join(LOSSES)}")
    if cfg.epochs < 1:
        raise TrainError("--epochs must be at least 1")
    if cfg.lr <= 0 or not math.isfinite(cfg.lr):
        raise TrainError(f"--lr must be a positive number, got {cfg.lr}")
    if cfg.limit is not None and cfg.limit < 1:
        raise TrainError(f"--limit must be at least 1, got {cfg.limit}")
    if cfg.class_weights and cfg.loss not in WEIGHTED_LOSSES:
        raise TrainError(
            f"--class-weights weights the cross-entropy of --loss ce or ce_dice, and --loss {cfg.loss} "
            "does not use them: use --loss ce or --loss ce_dice with --class-weights, or drop "
            "--class-weights"
        )
    if cfg.schedule not in SCHEDULES:
        raise TrainError(f"unknown schedule '{cfg.schedule}'; choose from {', '.join(SCHEDULES)}")
    if not (cfg.ema == 0 or 0 < cfg.ema < 1):
        raise TrainError(f"--ema must be in (0, 1), or 0 to switch the weight average off; got {cfg.ema}")
    if cfg.warmup_epochs < 0:
        raise TrainError(f"--warmup-epochs must be >= 0, got {cfg.warmup_epochs}")
    started = time.monotonic()  # a --time-budget counts from here
    role = role_for(cfg.strategy)  # TF_CONFIG checked before any work
    if not role.is_chief:
        return _train_worker(cfg, role, resume, on_epoch, progress, verbose, on_batch)
    out = Path(cfg.out)
    try:
        check_writable_output(out, "--out", kind="folder")
    except OutputPathError as exc:
        raise TrainError(str(exc)) from None
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file; training writes a run folder there: choose another --out")
    if resume and (out / "config.json").is_file():  # a damaged run folder is refused before it is locked
        read_run_config(out)
        _read_history(out / "history.csv")
    created = _missing_folders(out)
    lock = lock_run(out)
    try:
        with sigterm_as_interrupt():
            return _train_locked(cfg, out, resume, on_epoch, progress, verbose, on_batch, started=started)
    except KeyboardInterrupt as exc:  # before model.fit (fit turns its own into TrainInterrupted)
        _remove_unfinished(out, created, lock)
        raise TrainInterrupted(
            f"interrupted ({interrupted_by(exc)}) before training started; "
            + ("nothing was written" if created else f"{out} is as it was")
            + ": run the same command again",
            signal=interrupted_by(exc),
        ) from None
    except BaseException:
        _remove_unfinished(out, created, lock)
        raise
    finally:
        lock.release()


def _train_worker(cfg: TrainConfig, role, resume: bool, on_epoch, progress, verbose, on_batch) -> dict:
    """A non-chief worker of a multi-worker run: it trains in step with the chief, writing its
    share of every save into a temporary folder (seeded from the chief's run on --resume)
    that is removed when it ends; the run folder is the chief's alone."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f"edgeseg-{role.task_type}{role.index}-"))
    try:
        if resume:
            src = Path(cfg.out)
            if not (src / "config.json").is_file():
                raise TrainError(
                    f"cannot resume: {src} holds no run (no config.json); a worker resumes from the "
                    "chief's run folder, which it must see at the same path"
                )
            for name in ("config.json", "history.csv", "ckpt"):
                if (src / name).is_dir():
                    shutil.copytree(src / name, tmp / name)
                elif (src / name).is_file():
                    shutil.copy2(src / name, tmp / name)
        from dataclasses import replace

        lock = lock_run(tmp)
        try:
            with sigterm_as_interrupt():
                res = _train_locked(
                    replace(cfg, out=str(tmp)), tmp, resume, on_epoch, progress, verbose, on_batch, role=role
                )
        finally:
            lock.release()
        return {**res, "run": str(cfg.out), "worker": role.describe(), "history": str(Path(cfg.out) / "history.csv")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: The lock file of a run folder being trained (see :func:`lock_run`).
RUN_LOCK = ".lock"


def lock_run(out: Path, what: str = "training into it") -> FileLock:
    """Create ``out`` if needed and take its lock (``out/.lock``, the holder's pid inside);
    a folder another live process holds is a :class:`TrainError` naming that process."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        return FileLock(out / RUN_LOCK).acquire()
    except LockedError as exc:
        who = f"process {exc.pid}" if exc.pid else "another process"
        stop = f" (kill {exc.pid})" if exc.pid else ""
        raise TrainError(
            f"{out} is in use: {who} is {what} (it holds {exc.path}); wait for it to finish or stop "
            f"it{stop}, or choose another --out"
        ) from None
    except OSError as exc:
        raise TrainError(
            f"cannot create or lock the run folder {out} ({exc.strerror or exc}); make it writable or "
            "choose another folder"
        ) from None


def _missing_folders(path: Path) -> list[Path]:
    """The folders of ``path`` that do not exist yet, deepest first (what mkdir would make)."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_unfinished(out: Path, created: list[Path], lock: FileLock) -> None:
    """After a failed call: the run folder this call created goes again unless the run had
    started (its config.json is written after the first step: from then on the error says
    how to --resume it), so no half-made folder stays behind."""
    import shutil

    if (
        not created
        or (out / "config.json").exists()
        or (out / "ckpt" / "checkpoint").exists()
        or (out / "history.csv").exists()
    ):
        return
    lock.release(remove=True)
    shutil.rmtree(out, ignore_errors=True)
    for folder in created[1:]:
        try:
            folder.rmdir()
        except OSError:
            break


def _train_locked(
    cfg: TrainConfig, out: Path, resume: bool, on_epoch, progress, verbose, on_batch, role=None, started=None
) -> dict:
    """:func:`train` once ``out`` is checked and locked."""
    # long: every check that must run before any work (options, resume, memory, disk) in the order it costs
    config_path = out / "config.json"
    if config_path.exists() and not resume:
        raise TrainError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
    if resume and not config_path.exists():
        raise TrainError(f"cannot resume: {out} holds no run (no config.json)")

    hooks = MODELS[cfg.model].training
    try:  # the model's own options, checked before any data is read
        state = hooks.prepare(cfg.model_training) if hooks else None
    except ModelError as exc:
        raise TrainError(str(exc)) from None
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
        "train": {
            **{k: v for k, v in asdict(cfg).items() if k != "model_training"},
            # the model's own options stored flat, by name, as every other option
            **({k: cfg.model_training.get(k) for k in hooks.option_names()} if hooks else {}),
            "input_size": format_size(cfg.input_size),
            "augment_enabled": aug.enabled(),
        },
        "dataset": ds.describe(),
    }
    if resume:
        old = read_run_config(out)
        for key in ("model", "model_config", "input_size", "classes"):
            if old.get(key) != run_cfg[key]:
                raise TrainError(
                    f"cannot resume {out}: its {key} is {old.get(key)!r} but this call asks for {run_cfg[key]!r}"
                )
        diffs = config_differences(old.get("train", {}), cfg)
        if diffs:
            raise TrainError(
                f"cannot resume {out} with other training options ({'; '.join(diffs)}): a resumed run "
                "must train as it started. Leave those options out (--resume reuses the run's own), or "
                "train a new run with another --out"
            )
        run_cfg["train"]["epochs"] = cfg.epochs

    n_images = sum(len(ds.splits.get(s, [])[: cfg.limit or None]) for s in (cfg.train_split, cfg.val_split))
    check_memory(
        f"the decoded image cache ({n_images} images at {format_size(cfg.input_size)})",
        cache_bytes(n_images, cfg.input_size),
        "lower --input-size or use --limit",
    )
    import_tf()
    strat = make_strategy(cfg.strategy)  # first: MultiWorkerMirroredStrategy must precede any TensorFlow work
    import tf_keras as keras

    keras.utils.set_random_seed(cfg.seed)
    role = role or role_for(cfg.strategy)
    prec = PRECISIONS[cfg.precision]
    if prec.cpu_flags and not native_flags(prec.name) and not import_tf().config.list_logical_devices("GPU"):
        log.warning(
            "--precision %s on a CPU without %s (%s): it is emulated here and trains several times slower than "
            "float32 (%s); --precision float32 is the fast one on this machine",
            prec.name,
            " or ".join(f.upper().replace("_", "-") for f in prec.cpu_flags),
            cpu_model(),
            prec.emulated_note,
        )
    run_cfg["distribute"] = {
        "strategy": cfg.strategy,
        "replicas": int(strat.num_replicas_in_sync),
        "workers": role.workers,
    }
    spec = MODELS[cfg.model]
    if prec.mixed and spec.no_mixed_precision:
        raise TrainError(
            f"--precision {cfg.precision} is not available for {cfg.model} ({spec.no_mixed_precision}); "
            "train it with --precision float32"
        )
    with strat.scope(), policy(cfg.precision):  # built before any data is decoded: its memory need is checked first
        model = build_model(cfg.model, cfg.input_size, ds.num_classes, mcfg)
        if prec.mixed:
            model = float32_head(keras, model)
        # --progressive: the same layers and variables behind an input of any size (validation,
        # checkpoints and export use `model`, at the full size)
        trainer = _any_size(keras, model) if cfg.progressive else model
    check_memory(
        f"training {cfg.model} at {format_size(cfg.input_size)} with batch {cfg.batch}",
        activation_bytes(model, cfg.batch) + cache_bytes(n_images, cfg.input_size),
        "lower --input-size or --batch",
    )
    check_free_disk(
        out,
        checkpoint_bytes(model.count_params())["run"],
        f"the checkpoints of {out}",
        then="train again" if not resume else "run again with --resume",
    )

    # val first: usually the smaller split, and one without a labelled pixel is refused before the train split decodes
    val_cache = load_split(
        ds, cfg.val_split, cfg.input_size, cfg.resize, cfg.skip_bad, cfg.limit, progress=progress, keep_source=True
    )
    train_cache = load_split(
        ds, cfg.train_split, cfg.input_size, cfg.resize, cfg.skip_bad, cfg.limit, progress=progress
    )
    run_cfg["skipped_files"] = [str(p) for p, _ in train_cache.skipped + val_cache.skipped]
    weights = median_frequency_weights(train_cache.masks, ds.num_classes) if cfg.class_weights else None
    if weights is not None:
        run_cfg["class_weights"] = [round(float(w), 5) for w in weights]
    steps = len(train_cache) // cfg.batch
    if steps == 0:
        raise TrainError(f"{len(train_cache)} training image(s) make no batch of {cfg.batch}; lower --batch")
    with strat.scope():
        schedule = make_schedule(
            keras,
            cfg.schedule,
            cfg.lr,
            cfg.epochs * steps,
            int(round(cfg.warmup_epochs * steps)),
            cfg.decay_rate,
            int(round(cfg.decay_epochs * steps)),
        )
        optimizer = keras.optimizers.Adam(schedule)
        trainer.compile(optimizer=optimizer, loss=make_loss(cfg.loss, weights), jit_compile=cfg.jit_compile)
        ema = WeightEMA(model, cfg.ema) if cfg.ema > 0 else None
    callbacks = hooks.callbacks(keras, model, cfg.seed, state) if hooks else []
    budget = None
    if cfg.time_budget is not None:
        budget = BudgetPlan(
            parse_duration(cfg.time_budget),
            started if started is not None else time.monotonic(),
            images_per_epoch=steps * cfg.batch,
            val_images=len(val_cache),
            steps_per_epoch=steps,
        )

    def start_run():  # after the first training step: the run exists from here on
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(config_path, run_cfg)

    best = fit(
        model,
        optimizer,
        schedule,
        out,
        train_cache,
        val_cache,
        ds,
        epochs=cfg.epochs,
        batch=cfg.batch,
        seed=cfg.seed,
        aug=aug,
        resume=resume,
        on_epoch=on_epoch,
        verbose=verbose,
        callbacks=callbacks,
        on_first_step=start_run,
        on_batch=on_batch,
        ema=ema,
        workers=role.workers,
        budget=budget,
        val_every=cfg.val_every,
        trainer=trainer,
        stride=MODELS[cfg.model].stride if cfg.progressive else None,
    )
    history = _read_history(out / "history.csv")
    return {
        "run": str(out),
        "epochs": cfg.epochs,
        "best_epoch": best["epoch"],
        "best_val_miou": best["miou"],
        "params": int(model.count_params()),
        "history": str(out / "history.csv"),
        "epochs_trained": int(history[-1]["epoch"]) if history else 0,
        "images_seen": int(history[-1].get("images_seen") or 0) if history else 0,
        **({"budget": budget.record()} if budget is not None else {}),
    }


def fit(
    model,
    optimizer,
    schedule,
    out: Path,
    train_cache,
    val_cache,
    ds,
    *,
    epochs: int,
    batch: int,
    seed: int,
    aug,
    resume: bool,
    on_epoch=None,
    verbose: int = 0,
    callbacks=(),
    on_first_step=None,
    on_batch=None,
    ema: WeightEMA | None = None,
    workers: int = 1,
    budget: BudgetPlan | None = None,
    val_every: int = 1,
    trainer=None,
    stride: int | None = None,
) -> dict:
    """The epoch loop shared by training and QAT fine-tuning: per-epoch validation at label
    resolution, best/last weights, history.csv and a tf.train.Checkpoint for resume, all in
    ``out``. ``on_first_step`` runs once the first training step has succeeded (before it,
    nothing is written to ``out``); ``on_batch`` gets ``{epoch, epochs, batch, steps, loss}``
    after every step. With ``ema`` the averaged weights are validated and saved (best/last)
    while the raw ones train on; the checkpoint keeps both. With ``budget`` the loop stops at
    the last epoch that fits (edgeseg.training.budget); only every ``val_every``-th epoch and the
    last are validated (only those can be best). With ``stride`` (``--progressive``) each epoch
    trains ``trainer`` (``model``'s layers at any input size) at the size of
    edgeseg.training.progressive's table, rounded to that stride, and only its full-size epochs
    are validated. Returns best.json."""
    # long: the Keras callbacks (EMA swap, validation, checkpoints, Ctrl-C) share the loop's state by closure
    tf = import_tf()
    import tf_keras as keras

    steps = len(train_cache) // batch
    if steps == 0:
        raise TrainError(f"{len(train_cache)} training image(s) make no batch of {batch}; lower --batch")
    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    best_var = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_miou")
    tracked = {"ema": ema.module} if ema is not None else {}
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var, best_miou=best_var, **tracked)
    manager = tf.train.CheckpointManager(ckpt, str(out / "ckpt"), max_to_keep=2)
    sizes = checkpoint_bytes(model.count_params())

    history_path = out / "history.csv"
    first_epoch = 0
    if resume and manager.latest_checkpoint is not None:
        try:
            ckpt.restore(manager.latest_checkpoint).expect_partial()
        except (OSError, ValueError, IndexError, tf.errors.OpError) as exc:  # "Read less bytes than requested"
            detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise TrainError(
                f"cannot resume {out}: its checkpoint {manager.latest_checkpoint} is truncated or corrupt "
                f"({detail}); train the run again without --resume into a new --out, or remove {out / 'ckpt'} "
                "to resume from the start"
            ) from None
        first_epoch = int(epoch_var.numpy())
        log.info("resuming %s at epoch %d of %d", out, first_epoch + 1, epochs)
    elif resume:
        log.warning("%s was stopped before its first epoch was checkpointed; starting from epoch 1", out)
    history = [r for r in _read_history(history_path) if int(r["epoch"]) <= first_epoch]
    if first_epoch >= epochs:
        raise TrainError(f"{out} has already trained {first_epoch} epoch(s); ask for more with --epochs")

    trainer = model if trainer is None else trainer
    full = tuple(int(v) for v in train_cache.images.shape[1:3])
    size_var = tf.Variable(full, dtype=tf.int32, trainable=False, name="train_size") if stride else None
    data = train_dataset(train_cache, batch, seed, first_epoch, epochs, aug, size=size_var)
    options = tf.data.Options()  # the dataset is in memory, not files: workers split each global batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(options)

    def predict(images):
        return model(normalise(images), training=False).numpy()

    def save(what: str, write) -> None:
        """One checkpoint write: free space checked first (HDF5 can crash the process on
        ENOSPC), write errors become a TrainError that says how to continue."""
        if not out.is_dir():  # removed under the running training: nothing to continue from
            raise TrainError(
                f"the run folder {out} was removed while training; nothing of this run is left to resume: "
                "train it again"
            )
        check_free_disk(
            out,
            sizes["ckpt"] if what == "checkpoint" else 2 * sizes["weights"],
            f"the {what} of {out}",
            then=f"continue with `edgeseg train ... --out {out} --resume`",
        )
        try:
            write()
        except (OSError, tf.errors.OpError) as exc:
            raise TrainError(
                f"writing the {what} of {out} failed ({getattr(exc, 'strerror', None) or exc}); free some space and "
                f"continue with `edgeseg train ... --out {out} --resume`"
            ) from None

    class EpochEnd(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.started = False
            self.epoch = first_epoch

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.steps_run = 0
            if budget is not None and budget.mark is None:
                budget.start()
            self.epoch = epoch
            self.size = full
            if size_var is not None:
                self.size = scaled_size(full, stage_scale(run_fraction(epoch, epochs, budget)), stride)
                size_var.assign(self.size)
            if budget is not None:
                budget.set_pixels(self.size[0] * self.size[1] / (full[0] * full[1]))

        def on_train_batch_end(self, step, logs=None):
            loss = float((logs or {}).get("loss", 0.0))
            if not math.isfinite(loss):  # before anything of this step is written
                raise _Diverged(self.epoch + 1, step + 1, loss)
            if not self.started:
                self.started = True
                if on_first_step:
                    on_first_step()
            self.steps_run = step + 1
            if budget is not None and budget.stop_within(self.steps_run):
                self.model.stop_training = True  # the budget's last epoch, cut short after this step
            if on_batch:
                on_batch(
                    {
                        "epoch": self.epoch + 1,
                        "epochs": epochs,
                        "batch": step + 1,
                        "steps": steps,
                        "loss": float((logs or {}).get("loss", math.nan)),
                    }
                )

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.t0
            n = epoch + 1
            last = n >= epochs or (budget is not None and budget.ends_after(n, self.steps_run, val_every))
            res = None
            with ema if ema is not None else contextlib.nullcontext():  # the model of record: the average
                if not _weights_finite(model):  # the last step's update overflowed: never save such weights
                    raise _Diverged(n, steps, math.nan, "the weights")
                if validates(n, val_every, last, self.size == full):
                    t_val = time.perf_counter()
                    res = score_split(predict, val_cache, ds.num_classes, ds.class_names, batch=batch)
                    t_val = time.perf_counter() - t_val
                improved = res is not None and math.isfinite(res["miou"]) and res["miou"] > float(best_var.numpy())
                if improved:  # nan is never best
                    best_var.assign(res["miou"])
                    save("best weights", lambda: _save_weights_atomic(model, out / "best.weights.h5"))
                    atomic_write_json(out / "best.json", {"epoch": n, **res})
                save("last weights", lambda: _save_weights_atomic(model, out / "last.weights.h5"))
            if budget is not None:
                budget.epoch_done(t_val if res is not None else None)
            lr = float(schedule(optimizer.iterations))
            if last and epochs > n:
                self.model.stop_training = True  # the budget's last epoch
            elif budget is not None and hasattr(schedule, "total_steps"):
                planned = min(epochs * steps, budget.planned_steps(n * steps, val_every))
                schedule.total_steps.assign(float(planned))
            row = {
                "epoch": n,
                "lr": lr,
                "loss": float(logs.get("loss", math.nan)),
                "val_miou": res["miou"] if res else None,
                "val_dice": res["dice"] if res else None,
                "val_pixel_accuracy": res["pixel_accuracy"] if res else None,
                "seconds": seconds,
                "images_per_s": self.steps_run * batch / seconds,
                "images_seen": _seen_before(history, n, steps * batch) + self.steps_run * batch,
                "train_size": format_size(self.size),
            }
            history.append(row)
            atomic_write_csv(history_path, HISTORY_COLUMNS, history)
            epoch_var.assign(epoch + 1)
            save(
                "checkpoint", lambda: manager.save(checkpoint_number=epoch + 1)
            )  # last: a crash before redoes the epoch
            if on_epoch:
                on_epoch(
                    {
                        **row,
                        "epochs": n if last else _planned(n, epochs, budget, val_every),
                        "best": improved,
                        "progressive": size_var is not None,
                        "per_class_iou": res["per_class_iou"] if res else None,
                    }
                )

    ema_cb = [ema.callback(keras)] if ema is not None else []
    try:
        with sigterm_as_interrupt():
            trainer.fit(
                data,
                epochs=epochs,
                initial_epoch=first_epoch,
                steps_per_epoch=steps,
                callbacks=[*callbacks, *ema_cb, EpochEnd()],
                verbose=verbose,
            )
    except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError) as exc:
        if workers < 2:
            raise
        _remove_partial_files(out)
        raise TrainError(
            f"the multi-worker run (a cluster of {workers}) lost or never reached a peer within "
            f"{peer_timeout_s():g} s ({type(exc).__name__}): start every worker of TF_CONFIG with the same "
            "command, check each host:port is reachable from the others, or set EDGESEG_PEER_TIMEOUT_S"
        ) from None
    except KeyboardInterrupt as exc:
        _remove_partial_files(out)
        done = int(epoch_var.numpy())
        how = "" if interrupted_by(exc) == "Ctrl-C" else f" ({interrupted_by(exc)})"
        if done == 0:
            raise TrainInterrupted(
                f"interrupted{how} before the first epoch of {out} finished; nothing to resume"
                + (
                    " (the run folder was not created)"
                    if not (out / "config.json").exists()
                    else ": run the same command again"
                ),
                signal=interrupted_by(exc),
            ) from None
        raise TrainInterrupted(
            f"interrupted{how}; {out} keeps {done} finished epoch(s): `edgeseg train ... --out "
            f"{out} --resume` continues from epoch {done + 1} (the last finished epoch is {done})",
            signal=interrupted_by(exc),
        ) from None
    except _Diverged as exc:
        _remove_partial_files(out)
        done = int(epoch_var.numpy())
        if not done:  # nothing to keep: without its config the folder this call made goes (see _remove_unfinished)
            (out / "config.json").unlink(missing_ok=True)
        lr = float(schedule(optimizer.iterations))
        lower = min(lr / 10, 1e-3)
        kept = (
            f"{out} keeps the {done} finished epoch(s) before it, but resuming would train at the same rate"
            if done
            else "no epoch finished, so nothing was kept"
        )
        raise TrainError(
            f"training diverged: {exc.what} became {exc.value} at epoch {exc.epoch}, step {exc.step} "
            f"(learning rate {lr:.3g}); lower --lr (e.g. {lower:.3g}), or keep the warm-up "
            f"(--warmup-epochs) and the weight average (--ema) on, and train again; {kept}"
        ) from None
    best_path = out / "best.json"
    if not best_path.is_file():
        raise TrainError(
            f"no epoch of {out} gave a finite val mIoU, so none was saved as best: the val split has no "
            "labelled pixel to score (run `edgeseg data inspect` on the dataset)"
        )
    return json.loads(best_path.read_text(encoding="utf-8"))


def _any_size(keras, model):
    """``model``'s own layers (so its variables) rewired behind an input of any H x W: a
    clone whose clone function returns each layer itself. (Calling ``model`` as a layer
    would keep its input spec, which refuses other sizes once shapes are static.)"""
    inputs = keras.Input((None, None, model.input.shape[-1]), name="image_any_size")
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer)


def _seen_before(history: list[dict], n: int, per_epoch: int) -> int:
    """Training images seen before epoch ``n``: the last row's count (a cut-short epoch counts
    what it saw), or full epochs for a run written before the column existed."""
    last = history[-1].get("images_seen") if history else None
    return int(last) if last not in (None, "") else (n - 1) * per_epoch


def _planned(n: int, epochs: int, budget: BudgetPlan | None, val_every: int) -> int:
    """The run's epoch count as known after epoch ``n``: fixed, or the budget's estimate."""
    return epochs if budget is None else min(epochs, max(n + 1, budget.planned_epochs(n, val_every)))


class _Diverged(Exception):
    """The training loss (or the weights) stopped being finite."""

    def __init__(self, epoch: int, step: int, value: float, what: str = "the training loss"):
        super().__init__(f"{what} became {value} at epoch {epoch}, step {step}")
        self.epoch, self.step, self.value, self.what = epoch, step, value, what


def _weights_finite(model) -> bool:
    import numpy as np

    return all(
        np.isfinite(w).all()
        for w in model.get_weights()
        if getattr(w, "dtype", None) is not None and np.issubdtype(w.dtype, np.floating)
    )


def _remove_partial_files(out: Path) -> None:
    """What an interrupted save leaves: ``.tmp-*.weights.h5``, atomic writes' ``.*.tmp`` and
    TensorFlow's ``ckpt/*_temp*`` folders (the finished files are kept)."""
    import shutil

    for pattern in (".tmp-*.weights.h5", ".*.tmp"):
        for p in out.glob(pattern):
            p.unlink(missing_ok=True)
    if (out / "ckpt").is_dir():
        for p in (out / "ckpt").glob("*_temp*"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _save_weights_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".tmp-{path.name}")  # keep the .weights.h5 ending: it selects the format
    try:
        model.save_weights(str(tmp))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
