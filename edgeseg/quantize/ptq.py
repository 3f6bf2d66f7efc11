"""Float export and post-training quantization with the TFLite converter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import import_tf
from ..data.pipeline import calibration_images, normalise
from ..errors import QuantizeError
from ..fileio import atomic_write_bytes
from ..train.loop import load_run_model
from .artifact import write_manifest

log = logging.getLogger(__name__)

MIN_CALIBRATION = 8
RECOMMENDED_CALIBRATION = 100
IO_TYPES = ("int8", "uint8", "float")


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    needs_calibration: bool
    configure: Callable  # (tf, converter, io) -> None


def _dynamic(tf, conv, io):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]


def _float16(tf, conv, io):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]


def _int8(tf, conv, io):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io != "float":
        conv.inference_input_type = conv.inference_output_type = getattr(tf, io)


def _int16x8(tf, conv, io):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if io != "float":
        conv.inference_input_type = conv.inference_output_type = tf.int16


RECIPES: dict[str, Recipe] = {
    "float32": Recipe("float32", "float32 weights and activations", False, lambda tf, c, io: None),
    "dynamic": Recipe("dynamic", "int8 weights, float activations (dynamic-range quantization)", False, _dynamic),
    "float16": Recipe("float16", "float16 weights, dequantized to float32 at load on CPU", False, _float16),
    "int8": Recipe("int8", "full-integer int8 weights and activations, calibrated", True, _int8),
    "int16x8": Recipe("int16x8", "int16 activations, int8 weights, calibrated (reference kernels on CPU)", True, _int16x8),
}


def _concrete_function(tf, model, input_size):
    h, w = input_size
    fn = tf.function(lambda x: model(x, training=False))
    return fn.get_concrete_function(tf.TensorSpec([1, h, w, 3], tf.float32, name="image"))


def convert(model, input_size, recipe: str, io: str = "int8", calib: np.ndarray | None = None,
            progress=None) -> bytes:
    """Convert a Keras model to .tflite bytes with the given recipe."""
    if recipe not in RECIPES:
        raise QuantizeError(f"unknown recipe '{recipe}'; choose from {', '.join(RECIPES)}")
    if io not in IO_TYPES:
        raise QuantizeError(f"unknown I/O type '{io}'; choose from {', '.join(IO_TYPES)}")
    rec = RECIPES[recipe]
    tf = import_tf()
    cf = _concrete_function(tf, model, input_size)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], model)
    rec.configure(tf, conv, io)
    if rec.needs_calibration:
        if calib is None or len(calib) == 0:
            raise QuantizeError(f"{recipe} needs calibration images")
        data = normalise(calib)

        def representative():
            for img in progress(data, desc="calibrate", total=len(data)) if progress else data:
                yield [img[None]]

        conv.representative_dataset = representative
    try:
        return conv.convert()
    except Exception as exc:  # the converter raises many unrelated types with long messages
        raise QuantizeError(f"the TFLite converter failed for recipe {recipe}: {str(exc).splitlines()[0][:400]}") from exc


def check_calibration_count(found: int, source, needed: int = MIN_CALIBRATION) -> list[str]:
    if found < needed:
        raise QuantizeError(
            f"found {found} calibration image(s) in {source}; calibration needs at least {needed} "
            f"({RECOMMENDED_CALIBRATION}+ recommended): pass --calib with a folder or dataset holding more images"
        )
    if found < RECOMMENDED_CALIBRATION:
        return [f"only {found} calibration images in {source}: int8 ranges from fewer than "
                f"{RECOMMENDED_CALIBRATION} images may clip; pass --calib with more images"]
    return []


def default_artifact_name(run_cfg: dict, recipe: str, io: str) -> str:
    h, w = run_cfg["input_size"]
    suffix = recipe if not RECIPES[recipe].needs_calibration or io == "int8" else f"{recipe}_{io}io"
    return f"{run_cfg['model']}_{h}x{w}_{suffix}"


def quantize_run(run: str | Path, recipe: str, calib: str | Path | None = None, num_calib: int = 200,
                 io: str = "int8", out: str | Path | None = None, seed: int = 0, model=None,
                 progress=None) -> dict:
    """Export the best checkpoint of ``run`` with ``recipe``; write the .tflite and manifest.

    Returns ``{"artifact": path, "manifest": dict, "warnings": [...]}``.
    """
    run = Path(run)
    loaded_model, cfg = load_run_model(run)
    model = model or loaded_model
    size = tuple(cfg["input_size"])
    warnings: list[str] = []
    calib_info = None
    images = None
    if RECIPES.get(recipe, RECIPES["float32"]).needs_calibration:
        source = Path(calib) if calib else Path(cfg["dataset"]["root"])
        images = calibration_images(source, size, cfg.get("resize", "letterbox"), num_calib, seed)
        warnings += check_calibration_count(len(images), source)
        calib_info = {"source": str(source), "count": int(len(images)), "seed": seed}
    data = convert(model, size, recipe, io, images, progress)
    out = Path(out) if out else run / "artifacts" / f"{default_artifact_name(cfg, recipe, io)}.tflite"
    if out.suffix != ".tflite":
        raise QuantizeError(f"--out must end in .tflite, got {out}")
    atomic_write_bytes(out, data)
    manifest = write_manifest(out, **describe_io(data, cfg, recipe, io if RECIPES[recipe].needs_calibration else "float",
                                                  calib_info, run))
    for w in warnings:
        log.warning(w)
    return {"artifact": str(out), "manifest": manifest, "warnings": warnings}


def describe_io(tflite: bytes, cfg: dict, recipe: str, io: str, calib_info, run) -> dict:
    from ..runtime.interpreter import load_interpreter  # noqa: PLC0415

    interp, _ = load_interpreter(model_content=tflite)
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]

    def q(d):
        scale, zp = d.get("quantization", (0.0, 0))
        return {"scale": float(scale), "zero_point": int(zp)} if scale else None

    return {
        "model": cfg["model"],
        "model_config": cfg["model_config"],
        "input": {"name": inp["name"], "shape": [int(v) for v in inp["shape"]], "dtype": np.dtype(inp["dtype"]).name,
                  "normalisation": cfg["normalisation"], "quantization": q(inp), "resize": cfg.get("resize", "letterbox"),
                  "layout": "NHWC RGB"},
        "output": {"name": outp["name"], "kind": cfg.get("output", "probabilities"),
                   "shape": [int(v) for v in outp["shape"]], "dtype": np.dtype(outp["dtype"]).name, "quantization": q(outp)},
        "classes": cfg["classes"],
        "recipe": recipe,
        "io": io,
        "calibration": calib_info,
        "source_checkpoint": str(Path(run) / "best.weights.h5"),
    }
