"""Real data: CamVid through the SegNet reader (../shared/datasets/camvid or $EDGESEG_CAMVID)."""

import numpy as np
import pytest
from conftest import camvid_root

from edgeseg.config import IGNORE
from edgeseg.data.formats import CAMVID_CLASSES, open_dataset
from edgeseg.data.pipeline import load_split

pytestmark = pytest.mark.realdata

ROOT = camvid_root()
needs_camvid = pytest.mark.skipif(
    ROOT is None, reason="CamVid not found: set EDGESEG_CAMVID or place it at ../shared/datasets/camvid"
)


@needs_camvid
def test_camvid_reads_through_segnet_layout():
    ds = open_dataset(ROOT)
    assert ds.layout == "segnet"
    assert ds.class_names == CAMVID_CLASSES and ds.ignore_index == 11
    assert len(ds.samples("train")) == 367 and len(ds.samples("val")) == 101
    seen = set()
    for sample in ds.samples("train")[:6]:
        image, mask = ds.read_sample(sample)
        assert image.shape == (360, 480, 3) and image.dtype == np.uint8
        assert mask.shape == (360, 480)
        seen |= set(np.unique(mask).tolist())
    assert seen <= set(range(11)) | {IGNORE}
    assert IGNORE in seen  # void (index 11) is present in CamVid and mapped to ignore
    assert {0, 1, 3} <= seen  # sky, building, road


@needs_camvid
def test_camvid_letterboxed_to_default_input():
    ds = open_dataset(ROOT)
    cache = load_split(ds, "val", (192, 320), limit=3, keep_source=True)
    assert cache.images.shape == (3, 192, 320, 3)
    assert (cache.masks[:, :, :32] == IGNORE).all()  # 480x360 -> 256x192 centred in 320
    assert cache.source_masks[0].shape == (360, 480)
