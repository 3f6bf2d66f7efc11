"""Quantization-aware training: fine-tune a run's float checkpoint with fake-quant
(tensorflow-model-optimization on tf_keras), then convert to int8.

The QAT fine-tune lives in ``RUN/qat/`` with the same layout as a training run
(config.json, history.csv, best/last weights, ckpt/ for ``--resume``). Layers tfmot's
default 8-bit registry cannot wrap get :class:`OutputOnlyQuantizeConfig` (their output is
fake-quantized, they have no quantized weights), and the list of them is recorded.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..config import import_keras, import_tf
from ..data.formats import open_dataset
from ..data.pipeline import AugmentConfig, load_split
from ..errors import QuantizeError, TrainError
from ..fileio import atomic_write_json, releases_claims
from ..models.registry import build_model
from ..run import read_run_config
from ..training.loop import fit
from ..training.losses import make_loss

log = logging.getLogger(__name__)


def _tfmot():
    import_tf()
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as exc:
        raise QuantizeError(
            "QAT needs tensorflow-model-optimization: pip install tensorflow-model-optimization"
        ) from exc
    return tfmot


def output_only_config_class():
    """A QuantizeConfig that fake-quantizes a layer's output only (no weights)."""
    tfmot = _tfmot()
    base = tfmot.quantization.keras.QuantizeConfig
    quantizers = tfmot.quantization.keras.quantizers

    class OutputOnlyQuantizeConfig(base):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    return OutputOnlyQuantizeConfig


def quantize_scope():
    tfmot = _tfmot()
    return tfmot.quantization.keras.quantize_scope({"OutputOnlyQuantizeConfig": output_only_config_class()})


def _bn_folded_by_tfmot(keras, layer) -> bool:
    """Whether tfmot's Conv2D/DepthwiseConv2D/Dense + BatchNormalization transforms take
    ``layer``: a BN whose one input is such a layer without an activation."""
    if not isinstance(layer, keras.layers.BatchNormalization):
        return False
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if len(nodes) != 1:
        return False
    inbound = nodes[0].inbound_layers
    inbound = inbound[0] if isinstance(inbound, (list, tuple)) and len(inbound) == 1 else inbound
    # tfmot's LayerPattern matches class names exactly (a Conv2DTranspose is no 'Conv2D')
    return (
        type(inbound).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense")
        and inbound.get_config().get("activation") == "linear"
    )


def make_qat_model(model):
    """Wrap ``model`` for QAT; returns ``(qat_model, names of layers given an explicit config)``."""
    tfmot = _tfmot()
    keras = import_keras()
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry_mod,
    )

    registry = registry_mod.Default8BitQuantizeRegistry()
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    config_cls = output_only_config_class()
    explicit: list[str] = []

    # BatchNormalization is not in the registry on its own: tfmot folds it into a preceding
    # linear Conv2D/DepthwiseConv2D/Dense with its layout transforms, so such a BN stays
    # un-annotated. A BN after anything else (DenseNet's pre-activation BN after a concat)
    # matches no transform and gets the output-only config like any other unknown layer.
    folded_bn = {layer.name for layer in model.layers if _bn_folded_by_tfmot(keras, layer)}

    def clone(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.InputLayer) or layer.name in folded_bn or registry.supports(layer):
            return fresh
        explicit.append(layer.name)
        return annotate(fresh, quantize_config=config_cls())

    try:
        with quantize_scope():
            annotated = keras.models.clone_model(model, clone_function=clone)
            annotated.set_weights(model.get_weights())
            annotated = tfmot.quantization.keras.quantize_annotate_model(annotated)
            qat = tfmot.quantization.keras.quantize_apply(annotated)
    except Exception as exc:
        raise QuantizeError(
            f"tfmot could not wrap model '{model.name}' for QAT: {str(exc).splitlines()[0][:300]}"
        ) from exc
    return qat, explicit


def load_qat_model(run: str | Path, which: str = "best"):
    """Rebuild the QAT model of ``RUN/qat`` (inside tfmot's quantize scope) with its weights."""
    run = Path(run)
    cfg = read_run_config(run)
    weights = run / "qat" / f"{which}.weights.h5"
    if not weights.is_file():
        raise QuantizeError(f"{weights} is missing: run `edgeseg quantize {run} --qat` first")
    mcfg = {**cfg["model_config"], **({"encoder_weights": None} if "encoder_weights" in cfg["model_config"] else {})}
    model = build_model(cfg["model"], tuple(cfg["input_size"]), len(cfg["classes"]), mcfg)
    qat, _ = make_qat_model(model)
    with quantize_scope():
        qat.load_weights(str(weights))
    return qat, cfg


def _refuse_pta(run: str | Path) -> None:
    cfg = read_run_config(Path(run))
    if cfg.get("model") == "unet-pta":
        raise QuantizeError(
            f"{run} is a unet-pta run: QAT would fine-tune one fixed configuration and export a single graph, "
            "losing the run-time switch. Use PTQ: `edgeseg quantize RUN --int8 --calib DATA --pta-configs LLL,HLH,HHH,BBB`"
        )


def qat_finetune(
    run: str | Path,
    epochs: int = 2,
    lr: float = 1e-4,
    data: str | Path | None = None,
    batch: int | None = None,
    limit: int | None = None,
    resume: bool = False,
    on_epoch=None,
    progress=None,
    on_batch=None,
) -> dict:
    """Fine-tune ``RUN``'s best float weights with fake-quant into ``RUN/qat``."""

    _refuse_pta(run)

    run = Path(run)
    out = run / "qat"
    cfg_path = out / "config.json"
    if cfg_path.exists() and not resume:
        raise TrainError(f"{out} already holds a QAT fine-tune; pass --resume to continue it, or delete {out}")
    from ..training.loop import lock_run

    lock = lock_run(out, "fine-tuning it (quantize --qat)")  # one fine-tune at a time in RUN/qat
    try:
        return _qat_finetune_locked(
            run, out, cfg_path, epochs, lr, data, batch, limit, resume, on_epoch, progress, on_batch
        )
    finally:
        lock.release()


def _qat_finetune_locked(
    run: Path, out: Path, cfg_path: Path, epochs, lr, data, batch, limit, resume, on_epoch, progress, on_batch
) -> dict:
    from ..run import load_run_model

    float_model, cfg = load_run_model(run)
    train_cfg = cfg.get("train", {})
    batch = batch or int(train_cfg.get("batch", 8))
    seed = int(train_cfg.get("seed", 0))
    ds = open_dataset(data or cfg["dataset"]["root"])
    if list(ds.class_names) != list(cfg["classes"]):
        raise TrainError(f"{ds.root} has classes {ds.class_names}, the run was trained on {cfg['classes']}")
    aug = AugmentConfig.parse(train_cfg.get("augment", "default"))
    size, resize = tuple(cfg["input_size"]), cfg.get("resize", "letterbox")
    train_cache = load_split(ds, train_cfg.get("train_split", "train"), size, resize, False, limit, progress=progress)
    val_cache = load_split(
        ds, train_cfg.get("val_split", "val"), size, resize, False, limit, progress=progress, keep_source=True
    )
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    qat, explicit = make_qat_model(float_model)
    steps = max(1, len(train_cache) // batch)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        lr,
        decay_steps=max(1, int(round(float(train_cfg.get("decay_epochs", 3.0)) * steps))),
        decay_rate=float(train_cfg.get("decay_rate", 0.8)),
    )
    optimizer = keras.optimizers.Adam(schedule)
    weights = cfg.get("class_weights")
    qat.compile(
        optimizer=optimizer,
        loss=make_loss(train_cfg.get("loss", "ce"), np.asarray(weights, np.float32) if weights else None),
    )
    out.mkdir(parents=True, exist_ok=True)
    qat_cfg = {
        "source_weights": str(run / "best.weights.h5"),
        "epochs": epochs,
        "lr": lr,
        "batch": batch,
        "dataset": str(ds.root),
        "explicit_quantize_config": explicit,
        "tfmot": _tfmot().__version__,
    }
    if resume and cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if old.get("batch") != batch:
            raise TrainError(f"cannot resume {out}: it used batch {old.get('batch')}, this call asks for {batch}")
    atomic_write_json(cfg_path, qat_cfg)
    with quantize_scope():
        best = fit(
            qat,
            optimizer,
            schedule,
            out,
            train_cache,
            val_cache,
            ds,
            epochs=epochs,
            batch=batch,
            seed=seed,
            aug=aug,
            resume=resume,
            on_epoch=on_epoch,
            on_batch=on_batch,
        )
    return {"qat_dir": str(out), "best_epoch": best["epoch"], "best_val_miou": best["miou"], "config": qat_cfg}


@releases_claims
def quantize_qat(
    run: str | Path,
    epochs: int = 2,
    lr: float = 1e-4,
    io: str = "int8",
    head: str = "logits",
    out=None,
    data=None,
    batch=None,
    limit=None,
    resume: bool = False,
    on_epoch=None,
    progress=None,
    on_batch=None,
    force: bool = False,
) -> dict:
    """QAT fine-tune (or resume it), then convert the best QAT weights to an int8 artifact."""
    from .ptq import claim_output, default_artifact_name, make_converter, run_converter, write_artifact

    run = Path(run)
    recipe = "int8_qat"
    out = claim_output(
        out or run / "artifacts" / f"{default_artifact_name(read_run_config(run), recipe, io, head)}.tflite", force
    )
    done = run / "qat" / "best.json"
    history = run / "qat" / "history.csv"
    finished = 0
    if history.is_file():
        finished = max(0, len(history.read_text().strip().splitlines()) - 1)
    if not (resume and done.is_file() and finished >= epochs):
        res = qat_finetune(run, epochs, lr, data, batch, limit, resume, on_epoch, progress, on_batch)
    else:  # already fine-tuned for these epochs: export again from the QAT checkpoint
        best = json.loads(done.read_text())
        res = {
            "qat_dir": str(run / "qat"),
            "config": json.loads((run / "qat" / "config.json").read_text()),
            "best_epoch": best["epoch"],
            "best_val_miou": best["miou"],
        }
    with quantize_scope():
        qat, cfg = load_qat_model(run)
        tf = import_tf()
        conv = make_converter(qat, tuple(cfg["input_size"]), "float32", io, head)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]  # ranges come from the fake-quant nodes, no calibration
        if io != "float":
            conv.inference_input_type = conv.inference_output_type = getattr(tf, io)
        data_bytes = run_converter(conv, "the QAT model")
    manifest = write_artifact(
        data_bytes,
        out,
        cfg,
        recipe,
        io,
        head,
        None,
        run,
        checkpoint=run / "qat" / "best.weights.h5",
        qat={**res["config"], "best_epoch": res["best_epoch"], "best_val_miou_fake_quant": res["best_val_miou"]},
    )
    return {"artifact": str(out), "manifest": manifest, "qat": res, "warnings": []}
