"""The data stage's choices as tables, and the options of `edgeseg data synth` / `data inspect`:
light (no NumPy, no PIL), read by the CLI and the configs without loading the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import option

#: How images meet the model's input size (edgeseg.data.pipeline).
RESIZE_MODES = ("letterbox", "stretch")
#: The training augmentations (edgeseg.data.pipeline).
AUGMENTATIONS = ("flip", "brightness", "noise", "scale", "color")
#: The image file formats a synthetic dataset can be written in (masks are always PNG).
IMAGE_FORMATS = ("png", "jpg")
#: The default resolution of a synthetic scene (height, width).
SYNTH_SIZE = (192, 320)


@dataclass(frozen=True)
class SynthConfig:
    """`edgeseg data synth OUT`: procedural lane scenes (edgeseg.data.synth.synthesize)."""

    out: str
    count: int = option(200, "Number of scenes.", min=1)
    size: tuple[int, int] = option(SYNTH_SIZE, "HxW.", size=True)
    seed: int = option(0, "Seed of the scenes.")
    val_fraction: float = option(0.2, "Share of the scenes in the val split.", min=0, max=0.9)
    image_format: str = option(
        "png", "Image file format (masks are always PNG).", choices=IMAGE_FORMATS, flag="--format"
    )
    force: bool = option(False, "Replace the dataset already in OUT (its split folders and dataset.toml).")


@dataclass(frozen=True)
class InspectConfig:
    """`edgeseg data inspect DATASET`."""

    dataset: str
    max_per_split: int | None = option(None, "Scan at most this many samples per split.", min=1)
