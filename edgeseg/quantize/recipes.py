"""The export recipes and choices of `edgeseg quantize` as tables: light (no NumPy, no
TensorFlow), so that the CLI and the API read them without loading a converter. Each recipe's
``configure`` receives TensorFlow when it runs (edgeseg.quantize.ptq)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

IO_TYPES = ("int8", "uint8", "float")

#: What the exported graph ends with. ``argmax`` gives a uint8 class map [1,H,W]: the
#: smallest tensor to copy off an accelerator (1 byte per pixel instead of C scores).
#: ``logits`` is the default: the same segmentation as the softmax (argmax is unchanged),
#: without an int8 SOFTMAX that XNNPACK leaves to the CPU and that quantizes scores to 1/256.
DEFAULT_HEAD = "logits"
HEADS = {
    "probabilities": "per-pixel softmax scores [1,H,W,C] (the trained model's own output)",
    "logits": "per-pixel scores before the softmax [1,H,W,C] (same argmax, no softmax op)",
    "argmax": "uint8 class index per pixel [1,H,W]",
}


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
    "int16x8": Recipe(
        "int16x8", "int16 activations, int8 weights, calibrated (reference kernels on CPU)", True, _int16x8
    ),
}


#: How --int8 calibrates: the TFLite converter from the Keras model, or ai-edge-quantizer
#: from the float32 .tflite (see edgeseg.quantize.aeq).
PTQ_TOOLS = ("converter", "aeq")
#: The default ("auto"): ai-edge-quantizer where it writes what was asked (int8 or float I/O,
#: a logits or probabilities head), the converter otherwise or if AEQ refuses the graph.
#: On CamVid (benchmarks/camvid_recipe.py) AEQ calibrated 100 images 3.0x faster than the
#: converter (19.8 s vs 59.1 s) with the same mIoU (0.6173 vs 0.6172) and the same one partition.
DEFAULT_PTQ = "auto"


def needs_calibration(recipe: str) -> bool:
    """Whether ``recipe`` (a row of :data:`RECIPES`, or a variant such as ``int8_qat``) takes a
    calibration set: the row's own flag, the one place the rule is written."""
    row = RECIPES.get(recipe) or RECIPES.get(recipe.split("_")[0])
    return bool(row and row.needs_calibration)
