"""Float export and post-training quantization with the TFLite converter."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..artifact import _existing_parent, claim_output, write_manifest
from ..config import import_tf
from ..data.pipeline import calibration_images, normalise
from ..errors import QuantizeError
from ..fileio import atomic_write_bytes, releases_claims
from ..run import load_run_model, read_run_config
from .recipes import DEFAULT_HEAD, DEFAULT_PTQ, HEADS, IO_TYPES, PTQ_TOOLS, RECIPES, Recipe, needs_calibration  # noqa: F401

log = logging.getLogger(__name__)

MIN_CALIBRATION = 8
RECOMMENDED_CALIBRATION = 100


def logits_model(model):
    """The sub-model that stops before the final Softmax layer (every registry model, and
    its QAT version, ends with one)."""
    from ..config import import_keras

    last, node_index, _ = model.output._keras_history
    inner = getattr(last, "layer", last)  # a tfmot QuantizeWrapper keeps the layer in .layer
    if type(inner).__name__ != "Softmax":
        raise QuantizeError(
            f"model '{model.name}' does not end with a Softmax layer (it ends with "
            f"{type(inner).__name__}); export it with --head probabilities"
        )
    # a layer shared by several graphs (the PTA configurations) has one inbound node per graph
    logits = last._inbound_nodes[node_index].input_tensors
    return import_keras().Model(model.input, logits, name=f"{model.name}_logits")


def head_function(tf, model, head: str):
    """``f(x)`` computing the exported graph for ``head`` (see :data:`HEADS`)."""
    if head not in HEADS:
        raise QuantizeError(f"unknown head '{head}'; choose from {', '.join(HEADS)}")
    if head == "probabilities":
        return lambda x: model(x, training=False)
    logits = logits_model(model)
    if head == "logits":
        return lambda x: logits(x, training=False)
    classes = int(model.output.shape[-1])
    if classes > 256:
        raise QuantizeError(f"--head argmax writes uint8 class indices; this model has {classes} classes")
    return lambda x: tf.cast(tf.argmax(logits(x, training=False), axis=-1, output_type=tf.int32), tf.uint8)


def concrete_function(tf, model, input_size, head: str = DEFAULT_HEAD):
    h, w = input_size
    fn = tf.function(head_function(tf, model, head))
    return fn.get_concrete_function(tf.TensorSpec([1, h, w, 3], tf.float32, name="image"))


def make_converter(model, input_size, recipe: str, io: str = "int8", head: str = DEFAULT_HEAD):
    """A configured TFLiteConverter (without calibration data) for ``recipe``."""
    if recipe not in RECIPES:
        raise QuantizeError(f"unknown recipe '{recipe}'; choose from {', '.join(RECIPES)}")
    if io not in IO_TYPES:
        raise QuantizeError(f"unknown I/O type '{io}'; choose from {', '.join(IO_TYPES)}")
    tf = import_tf()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function(tf, model, input_size, head)], model)
    RECIPES[recipe].configure(tf, conv, io)
    return conv


def representative_dataset(calib: np.ndarray, progress=None, desc: str = "calibrate"):
    """A generator factory over normalised calibration images, one [1,H,W,3] sample each."""
    data = normalise(calib)

    def gen():
        for img in progress(data, desc=desc, total=len(data)) if progress else data:
            yield [img[None]]

    return gen


def run_converter(conv, what: str) -> bytes:
    try:
        return conv.convert()
    except Exception as exc:  # the converter raises many unrelated types with long messages
        raise QuantizeError(f"the TFLite converter failed for {what}: {str(exc).splitlines()[0][:400]}") from exc


def convert(
    model,
    input_size,
    recipe: str,
    io: str = "int8",
    calib: np.ndarray | None = None,
    progress=None,
    head: str = DEFAULT_HEAD,
) -> bytes:
    """Convert a Keras model to .tflite bytes with the given recipe and output head."""
    conv = make_converter(model, input_size, recipe, io, head)
    if RECIPES[recipe].needs_calibration:
        if calib is None or len(calib) == 0:
            raise QuantizeError(f"{recipe} needs calibration images")
        conv.representative_dataset = representative_dataset(calib, progress)
    return run_converter(conv, f"recipe {recipe}")


def check_calibration_count(found: int, source, needed: int = MIN_CALIBRATION) -> list[str]:
    if found < needed:
        raise QuantizeError(
            f"found {found} calibration image(s) in {source}; calibration needs at least {needed} "
            f"({RECOMMENDED_CALIBRATION}+ recommended): pass --calib with a folder or dataset holding more images"
        )
    if found < RECOMMENDED_CALIBRATION:
        return [
            f"only {found} calibration images in {source}: int8 ranges from fewer than "
            f"{RECOMMENDED_CALIBRATION} images may clip; pass --calib with more images"
        ]
    return []


def default_artifact_name(run_cfg: dict, recipe: str, io: str, head: str = DEFAULT_HEAD) -> str:
    """``<model>_<HxW>_<recipe>[_<io>io][_<head>]`` (the head named unless it is the
    default); the recipe may be a variant such as ``int8_qat`` or ``int8_controlled``."""
    h, w = run_cfg["input_size"]
    calibrated = needs_calibration(recipe)
    suffix = recipe if not calibrated or io == "int8" else f"{recipe}_{io}io"
    if head != DEFAULT_HEAD:
        suffix += f"_{head}"
    return f"{run_cfg['model']}_{h}x{w}_{suffix}"


def calibration_for(cfg: dict, calib, num_calib: int, seed: int) -> tuple[np.ndarray, dict, list[str]]:
    """Calibration images for a run: from ``calib`` or the run's own dataset."""
    source = Path(calib) if calib else Path(cfg["dataset"]["root"])
    images = calibration_images(source, tuple(cfg["input_size"]), cfg.get("resize", "letterbox"), num_calib, seed)
    warnings = check_calibration_count(len(images), source)
    return images, {"source": str(source), "count": int(len(images)), "seed": seed}, warnings


def write_artifact(
    data: bytes,
    out: Path,
    cfg: dict,
    recipe: str,
    io: str,
    head: str,
    calib_info,
    run,
    checkpoint: Path | None = None,
    **extra,
) -> dict:
    """Write the .tflite atomically and its manifest beside it; return the manifest.
    ``checkpoint`` is the weights it came from (default: the run's best float weights).
    A full disk is a :class:`QuantizeError`; no partial file and no .tflite without its
    manifest is left behind."""
    import shutil

    out = Path(out)
    if out.suffix != ".tflite":
        raise QuantizeError(f"--out must end in .tflite, got {out}")
    free = shutil.disk_usage(_existing_parent(out.parent)).free
    needed = len(data) + (1 << 20)
    if free < needed:
        raise QuantizeError(
            f"not enough free space in {_existing_parent(out.parent)} to write {out.name}: "
            f"{needed / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free; free some space and run again"
        )
    existed = out.exists()
    try:
        atomic_write_bytes(out, data)
        fields = describe_io(data, cfg, recipe, io, head, calib_info, run)
        if checkpoint is not None:
            fields["source_checkpoint"] = str(checkpoint)
        return write_manifest(out, **fields, **extra)
    except OSError as exc:
        if not existed:
            out.unlink(missing_ok=True)
        raise QuantizeError(
            f"cannot write {out} ({exc.strerror or exc}); free some space or choose another --out, then run again"
        ) from None


def choose_ptq(ptq: str, recipe: str, io: str, head: str) -> str:
    if ptq != "auto":
        return ptq
    return "aeq" if recipe == "int8" and io in ("int8", "float") and head != "argmax" else "converter"


#: float32 conversions made in this process, newest last: (weights sha256, head) -> .tflite bytes
_FLOAT32: dict[tuple[str, str], bytes] = {}
_FLOAT32_KEEP = 4
#: the model of the last run loaded for export: (run folder, weights sha256) -> Keras model
_LOADED: dict[tuple[str, str], object] = {}


class RunWeights:
    """The best weights of a run, loaded at most once per process and only when a converter
    needs the Keras model (ai-edge-quantizer's int8 starts from the float32 .tflite)."""

    def __init__(self, run: Path, model=None):
        from ..artifact import sha256_file

        self.run, self.path, self._model = Path(run), Path(run) / "best.weights.h5", model
        self.given = model is not None  # a caller's own model: not the weights file's, so never cached
        if not self.path.is_file():
            raise QuantizeError(f"{self.path} is missing: the run has not finished an epoch yet; train it first")
        self.sha256 = sha256_file(self.path)

    def model(self):
        if self._model is None:
            key = (str(self.run.resolve()), self.sha256)
            if key not in _LOADED:
                _LOADED.clear()
                _LOADED[key] = load_run_model(self.run)[0]
            self._model = _LOADED[key]
        return self._model


def float32_tflite(weights: RunWeights, input_size, head: str) -> tuple[bytes, str]:
    """The float32 conversion of ``weights`` with ``head``, made once: this process's earlier
    one, else a float32 artifact in RUN/artifacts converted from the same weights (its sha256
    and its manifest's ``source_checkpoint_sha256`` checked), else a new conversion. Returns
    the bytes and where they came from."""
    key = (weights.sha256, head)
    if weights.given:
        return convert(weights.model(), input_size, "float32", head=head), "converted"
    if key in _FLOAT32:
        return _FLOAT32[key], "this process's float32 conversion"
    found = _float32_artifact(weights, head)
    if found is not None:
        data, source = found.read_bytes(), f"{found} (same weights)"
    else:
        data, source = convert(weights.model(), input_size, "float32", head=head), "converted"
    _FLOAT32[key] = data
    while len(_FLOAT32) > _FLOAT32_KEEP:
        _FLOAT32.pop(next(iter(_FLOAT32)))
    return data, source


def _float32_artifact(weights: RunWeights, head: str) -> Path | None:
    from ..artifact import read_manifest, sha256_file
    from ..errors import ArtifactError

    for path in sorted((weights.run / "artifacts").glob("*.tflite")):
        try:
            m = read_manifest(path)
        except ArtifactError:
            continue  # a damaged manifest is not a source to trust
        if (
            m is not None
            and m.recipe == "float32"
            and m.compiled is None
            and (m.output or {}).get("kind", DEFAULT_HEAD) == head
            and m.source_checkpoint_sha256 == weights.sha256
            and m.sha256 == sha256_file(path)
        ):
            return path
    return None


def int8_with_aeq(float_bytes: bytes, images: np.ndarray, cfg: dict, io: str, progress=None) -> bytes:
    from ..iospec import input_range
    from .aeq import quantize_int8_aeq

    return quantize_int8_aeq(float_bytes, normalise(images), input_range(cfg.get("normalisation")), io, progress)


def ptq_tool_version(tool: str) -> str:
    from importlib import metadata

    dist = {"converter": "tensorflow", "aeq": "ai-edge-quantizer"}[tool]
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return dist


@releases_claims
def quantize_run(
    run: str | Path,
    recipe: str,
    calib: str | Path | None = None,
    num_calib: int = 200,
    io: str = "int8",
    out: str | Path | None = None,
    seed: int = 0,
    model=None,
    progress=None,
    head: str = DEFAULT_HEAD,
    force: bool = False,
    ptq: str = DEFAULT_PTQ,
) -> dict:
    """Export the best checkpoint of ``run`` with ``recipe``; write the .tflite and manifest.

    Returns ``{"artifact": path, "manifest": Manifest, "warnings": [...]}``.
    """
    if recipe not in RECIPES:
        raise QuantizeError(f"unknown recipe '{recipe}'; choose from {', '.join(RECIPES)}")
    run = Path(run)
    cfg = read_run_config(run)
    if not RECIPES[recipe].needs_calibration:
        io = "float"
    out = claim_output(out or run / "artifacts" / f"{default_artifact_name(cfg, recipe, io, head)}.tflite", force)
    weights = RunWeights(run, model)
    size = tuple(cfg["input_size"])
    warnings: list[str] = []
    calib_info = images = None
    if ptq not in (*PTQ_TOOLS, "auto"):
        raise QuantizeError(f"unknown PTQ tool '{ptq}'; choose from {', '.join(PTQ_TOOLS)}")
    auto, ptq = ptq == "auto", choose_ptq(ptq, recipe, io, head)
    extra = {}
    if RECIPES[recipe].needs_calibration:
        images, calib_info, warnings = calibration_for(cfg, calib, num_calib, seed)
    t0 = time.perf_counter()
    data = None
    if recipe == "float32":
        data, extra["float32_from"] = float32_tflite(weights, size, head)
    elif recipe == "int8" and ptq == "aeq":
        try:
            float_bytes, extra["float32_from"] = float32_tflite(weights, size, head)
            data = int8_with_aeq(float_bytes, images, cfg, io, progress)
        except QuantizeError as exc:
            if not auto:
                raise
            warnings.append(f"{exc}; calibrated with the TFLite converter instead")
            ptq, t0 = "converter", time.perf_counter()
    if data is None:
        data = convert(weights.model(), size, recipe, io, images, progress, head)
    if recipe == "int8":
        extra["ptq"] = {"tool": ptq, "version": ptq_tool_version(ptq), "seconds": round(time.perf_counter() - t0, 2)}
    reused = extra.pop("float32_from", None)
    manifest = write_artifact(
        data, out, cfg, recipe, io, head, calib_info, run, source_checkpoint_sha256=weights.sha256, **extra
    )
    notes = [f"float32 conversion reused from {reused}"] if reused and reused != "converted" else []
    return {"artifact": str(out), "manifest": manifest, "warnings": warnings, "notes": notes}


def describe_io(tflite: bytes, cfg: dict, recipe: str, io: str, head: str, calib_info, run) -> dict:
    from ..runtime.interpreter import load_interpreter

    interp, _ = load_interpreter(model_content=tflite)
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]

    def q(d):
        scale, zp = d.get("quantization", (0.0, 0))
        return {"scale": float(scale), "zero_point": int(zp)} if scale else None

    return {
        "model": cfg["model"],
        "model_config": cfg["model_config"],
        "input": {
            "name": inp["name"],
            "shape": [int(v) for v in inp["shape"]],
            "dtype": np.dtype(inp["dtype"]).name,
            "normalisation": cfg["normalisation"],
            "quantization": q(inp),
            "resize": cfg.get("resize", "letterbox"),
            "layout": "NHWC RGB",
        },
        "output": {
            "name": outp["name"],
            "kind": head,
            "shape": [int(v) for v in outp["shape"]],
            "dtype": np.dtype(outp["dtype"]).name,
            "quantization": q(outp),
        },
        "classes": cfg["classes"],
        "recipe": recipe,
        "io": io,
        "calibration": calib_info,
        "source_checkpoint": str(Path(run) / "best.weights.h5"),
        "training_data": {
            "root": str(Path(cfg["dataset"]["root"]).expanduser().resolve()),
            "val_split": (cfg.get("train") or {}).get("val_split", "val"),
        },
    }
