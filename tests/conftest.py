import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def camvid_root() -> Path | None:
    env = os.environ.get("EDGESEG_CAMVID")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets" / "camvid"]:
        if (cand / "train").is_dir() and (cand / "trainannot").is_dir():
            return cand
    return None


def save(path: Path, arr: np.ndarray, mode=None, palette=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr, mode=mode) if mode else Image.fromarray(arr)
    if palette is not None:
        im.putpalette(palette)
    im.save(path)
    return path


@pytest.fixture
def segnet_dataset(tmp_path):
    """3 train + 2 val images (8x12) with class-index masks, CamVid conventions (ignore 11)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "segnet"
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            save(root / split / f"img{i}.png", rng.integers(0, 255, (8, 12, 3), dtype=np.uint8))
            mask = rng.integers(0, 11, (8, 12)).astype(np.uint8)
            mask[0, 0] = 11  # void
            save(root / f"{split}annot" / f"img{i}.png", mask, mode="L")
    return root


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory):
    """A real (tiny) resunet exported to float32 .tflite with its manifest."""
    from edgeseg.models.registry import build_model
    from edgeseg.quantize.artifact import write_manifest
    from edgeseg.quantize.ptq import convert

    out = tmp_path_factory.mktemp("tiny") / "tiny_fp32.tflite"
    model = build_model("resunet", (32, 48), 3, {"depth": 2, "base": 4})
    out.write_bytes(convert(model, (32, 48), "float32"))
    write_manifest(out, model="resunet", recipe="float32", classes=["a", "b", "c"])
    return out
