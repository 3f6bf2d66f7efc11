"""What a model expects and what it returns, as the manifest states it: the input's
normalisation and layout, the output's kind, layout, stride and upsampling rule.

Light (no NumPy): the CLI builds its choices from these tables. The arithmetic that applies
them lives in :mod:`edgeseg.runtime.tensors` (one implementation for host and device
evaluation). Older manifests stay readable: a scalar ``{"scale", "offset"}`` normalisation,
a ``"NHWC RGB"`` layout string, an output with no layout or stride (NHWC at full size).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArtifactError, UsageError

#: ImageNet statistics in [0, 1] units, as torchvision and most PyTorch/Keras backbones use them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Normalisation:
    """``x = (pixel / 255 - mean) / std`` per RGB channel (mean and std in [0, 1] units)."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    description: str = ""

    @property
    def scale(self) -> list[float]:
        """Per channel: x = pixel * scale + offset (pixel in 0..255)."""
        return [1.0 / (255.0 * s) for s in self.std]

    @property
    def offset(self) -> list[float]:
        return [-m / s for m, s in zip(self.mean, self.std)]

    def to_manifest(self) -> dict:
        return {
            "name": self.name,
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": self.scale,
            "offset": self.offset,
        }


#: The named normalisations of `edgeseg import --normalize` (rows, not branches).
NORMALISATIONS: dict[str, Normalisation] = {
    "unit": Normalisation("unit", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "pixels / 255, in [0, 1] (edgeseg's own models)"),
    "imagenet": Normalisation("imagenet", IMAGENET_MEAN, IMAGENET_STD, "(pixels / 255 - ImageNet mean) / ImageNet std"),
    "minus1to1": Normalisation("minus1to1", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "pixels / 127.5 - 1, in [-1, 1]"),
}

#: Tensor layouts of an image input (and of a score output): batch, then channels last or first.
LAYOUTS = {"nhwc": "channels last [1,H,W,3] (TensorFlow, Keras, LiteRT)", "nchw": "channels first [1,3,H,W] (PyTorch)"}

#: Output kinds: how a prediction becomes a class map, and how a low-stride output is
#: brought to the input size (``upsample``: bilinear on scores, nearest on class maps).
OUTPUT_KINDS = {
    "logits": "per-pixel scores before a softmax; the class is the argmax",
    "probabilities": "per-pixel softmax scores; the class is the argmax (scored like logits)",
    "argmax": "a class index per pixel (uint8/int32 map), scored as it is",
}
UPSAMPLE = {"logits": "bilinear", "probabilities": "bilinear", "argmax": "nearest"}


def normalisation_for(name: str | None, mean=None, std=None) -> Normalisation | None:
    """The normalisation a user stated: a named one, or ``mean`` and ``std`` (3 values each,
    in [0, 1] units); None when neither was stated. Both at once is a usage error."""
    if name is not None and (mean is not None or std is not None):
        raise UsageError("--normalize names a normalisation; --mean/--std state one: pass one or the other")
    if name is not None:
        if name not in NORMALISATIONS:
            raise UsageError(f"--normalize {name} is not one of {', '.join(NORMALISATIONS)}", param="--normalize")
        return NORMALISATIONS[name]
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise UsageError("--mean and --std go together: pass both (3 values each, in [0, 1] units: 0.485,0.456,0.406)")
    m, s = _three(mean, "--mean"), _three(std, "--std")
    if any(v <= 0 for v in s):
        raise UsageError(f"--std values must be positive, got {','.join(str(v) for v in s)}", param="--std")
    return Normalisation("custom", m, s)


def _three(values, flag: str) -> tuple[float, float, float]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} takes three numbers R,G,B, got {values!r}", param=flag) from None
    if len(out) != 3 or any(v != v or v in (float("inf"), float("-inf")) for v in out):
        raise UsageError(f"{flag} takes three finite numbers R,G,B, got {values!r}", param=flag)
    return out  # type: ignore[return-value]


# -- reading a manifest's entries (old and new forms) ---------------------------------------------

#: edgeseg's own models: pixels / 255 (what a manifest without a normalisation means).
DEFAULT_NORMALISATION = {"scale": 1 / 255.0, "offset": 0.0}


def scale_offset(norm: dict | None) -> tuple[list[float], list[float]]:
    """Per-channel ``(scale, offset)`` of a manifest's normalisation: scalars (older
    manifests, edgeseg's own) are the same for the three channels."""
    norm = norm or DEFAULT_NORMALISATION

    def per_channel(v) -> list[float]:
        return [float(x) for x in v] if isinstance(v, (list, tuple)) else [float(v)] * 3

    return per_channel(norm["scale"]), per_channel(norm["offset"])


def input_range(norm: dict | None) -> tuple[float, float]:
    """The smallest and largest value the normalised input can take (pixels 0..255), over channels."""
    scale, offset = scale_offset(norm)
    ends = [v for s, o in zip(scale, offset) for v in (o, 255 * s + o)]
    return min(ends), max(ends)


def layout_of(spec: dict | None) -> str:
    """``nhwc`` or ``nchw`` of a manifest's input/output entry (``"NHWC RGB"`` in older ones)."""
    raw = str((spec or {}).get("layout") or "nhwc").split()[0].lower()
    if raw not in LAYOUTS:
        raise ArtifactError(f"the manifest's layout {raw!r} is not one of {', '.join(LAYOUTS)}; fix the manifest")
    return raw


@dataclass(frozen=True)
class OutputRule:
    """How the model's output becomes a class map at the input size."""

    kind: str | None  # None: not stated (a .tflite without a manifest: edgeseg's convention applies)
    layout: str = "nhwc"
    stride: int = 1
    upsample: str = "bilinear"

    @classmethod
    def from_manifest(cls, output: dict | None) -> OutputRule:
        output = output or {}
        kind = output.get("kind")
        if kind is not None and kind not in OUTPUT_KINDS:
            raise ArtifactError(f"the manifest's output kind {kind!r} is not one of {', '.join(OUTPUT_KINDS)}")
        upsample = output.get("upsample") or UPSAMPLE.get(kind or "logits")
        return cls(kind, layout_of(output), int(output.get("stride") or 1), upsample)
