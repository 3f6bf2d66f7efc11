"""The one implementation of a model's input and output rules (edgeseg.iospec, read from
the manifest): host evaluation, device evaluation (which encodes the frames and decodes the
raw outputs a phone wrote) and calibration all go through these functions.

In: uint8 RGB pixels [H,W,3] -> ``pixel * scale + offset`` per channel -> NCHW if the model
says so -> quantized with the input tensor's scale and zero point for an integer input.

Out: the raw output of one frame (no batch axis) -> a class map [H,W] (an argmax output,
scored as it is) or per-pixel scores [H,W,C] (logits or probabilities: dequantized, channels
moved last for an NCHW output), brought to the input size when the model outputs at a lower
stride: bilinear with half-pixel centres on scores (the rule of tf.image.resize and of
torch's interpolate with align_corners=False), nearest on class maps.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArtifactError
from ..iospec import OutputRule, scale_offset


def normalise_pixels(pixels: np.ndarray, norm: dict | None) -> np.ndarray:
    """``pixel * scale + offset`` per RGB channel (last axis), float32."""
    scale, offset = scale_offset(norm)
    return pixels.astype(np.float32) * np.asarray(scale, np.float32) + np.asarray(offset, np.float32)


def preprocess(pixels: np.ndarray, norm: dict | None, layout: str, detail: dict) -> np.ndarray:
    """One frame [H,W,3] uint8 as the model's input tensor without its batch axis."""
    x = normalise_pixels(pixels, norm)
    if layout == "nchw":
        x = np.transpose(x, (2, 0, 1))
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.ascontiguousarray(x)
    if dtype == np.float16:
        return np.ascontiguousarray(x.astype(np.float16))
    scale, zp = detail["quantization"]
    if not scale:
        raise ArtifactError(
            f"the input tensor is {dtype.name} without quantization parameters: edgeseg cannot tell how "
            "to encode pixels for it (re-export the model with a float or quantized int8 input)"
        )
    info = np.iinfo(dtype)
    return np.ascontiguousarray(np.clip(np.round(x / scale + zp), info.min, info.max).astype(dtype))


def is_class_map(shape, rule: OutputRule) -> bool:
    """Whether an output of ``shape`` (with its batch axis) is a class map rather than scores:
    [1,H,W] always; [1,H,W,1] or [1,1,H,W] when the output is stated to be an argmax."""
    shape = [int(v) for v in shape]
    if len(shape) == 3:
        return True
    return rule.kind == "argmax" and len(shape) == 4


def spatial_shape(shape, rule: OutputRule) -> tuple[int, int]:
    """The (height, width) of an output tensor's shape (with its batch axis)."""
    shape = [int(v) for v in shape]
    if len(shape) == 3:
        return shape[1], shape[2]
    if rule.layout == "nchw":
        return shape[2], shape[3]
    return shape[1], shape[2]


def num_classes_of(shape, rule: OutputRule) -> int | None:
    """The class count a score output shows (None for a class map)."""
    if is_class_map(shape, rule):
        return None
    shape = [int(v) for v in shape]
    return shape[1] if rule.layout == "nchw" else shape[3]


def dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.dtype(detail["dtype"]) in (np.float32, np.float16):
        return y.astype(np.float32, copy=False)
    scale, zp = detail["quantization"]
    if not scale:
        return y
    return (y.astype(np.float32) - zp) * scale


def postprocess(y: np.ndarray, detail: dict, rule: OutputRule, input_size: tuple[int, int]) -> np.ndarray:
    """The raw output of one frame (no batch axis) -> a class map [H,W] or scores [H,W,C] at
    the input size (see the module's rules)."""
    if is_class_map(detail["shape"], rule):
        labels = np.asarray(y)
        if labels.ndim == 3:  # [H,W,1] or [1,H,W]
            labels = labels.reshape(spatial_shape(detail["shape"], rule))
        if labels.dtype.kind == "f":  # an argmax carried in a float tensor: class ids as floats
            labels = np.rint(labels)
        labels = labels.astype(np.int64)
        return resize_nearest(labels, input_size) if labels.shape != tuple(input_size) else labels
    out = dequantize(np.asarray(y), detail)
    if rule.layout == "nchw":
        out = np.transpose(out, (1, 2, 0))
    if out.shape[:2] != tuple(input_size):
        out = resize_bilinear(out, input_size)
    return out


def _source_coords(out_n: int, in_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-pixel centres: output pixel i samples input coordinate (i + 0.5) * in/out - 0.5,
    clamped to the edges; returns the two neighbours and the weight of the second."""
    src = (np.arange(out_n, dtype=np.float64) + 0.5) * (in_n / out_n) - 0.5
    src = np.clip(src, 0.0, in_n - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_n - 1)
    return lo, hi, (src - lo).astype(np.float32)


def resize_bilinear(scores: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scores [h,w,C] -> [H,W,C], bilinear with half-pixel centres."""
    h, w = scores.shape[:2]
    top, bottom, wy = _source_coords(size[0], h)
    left, right, wx = _source_coords(size[1], w)
    s = scores.astype(np.float32, copy=False)
    rows = s[top] * (1 - wy)[:, None, None] + s[bottom] * wy[:, None, None]
    return rows[:, left] * (1 - wx)[None, :, None] + rows[:, right] * wx[None, :, None]


def resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A class map [h,w] -> [H,W]: each output pixel takes the input pixel its centre falls in."""
    h, w = labels.shape
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def check_output_fits(shape, rule: OutputRule, input_size: tuple[int, int], target) -> None:
    """An output of ``shape`` is a segmentation of an ``input_size`` image: at the input size,
    or at the manifest's stride (``ceil`` or ``floor`` of size / stride)."""
    h, w = input_size
    shape = [int(v) for v in shape]
    if len(shape) not in (3, 4):
        raise ArtifactError(
            f"{target} outputs a tensor of shape {shape}, not a segmentation map: edgeseg evaluates "
            f"models whose output is per-pixel scores [1,{h},{w},C] or a class map [1,{h},{w}] at the input "
            f"size ({h}x{w})"
        )
    oh, ow = spatial_shape(shape, rule)
    s = rule.stride

    def fits(n: int, full: int) -> bool:
        return n in (full, -(-full // s), full // s)

    if fits(oh, h) and fits(ow, w):
        return
    found = h / oh if oh else 0
    hint = (
        f"; it looks like stride {found:g}: import it with --output-stride {round(found)}"
        if oh and found == round(found) and round(found) > 1 and rule.stride == 1
        else ""
    )
    raise ArtifactError(
        f"{target} outputs {oh}x{ow} for a {h}x{w} input (shape {shape}, stride {s} stated){hint}"
        + ("" if hint else "; state its stride with `edgeseg import --output-stride N`")
    )
