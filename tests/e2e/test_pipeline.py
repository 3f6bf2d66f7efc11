"""Letterbox/stretch geometry, restoring predictions, augmentation determinism, calibration."""

import numpy as np
import pytest
from conftest import save

from edgeseg.config import IGNORE
from edgeseg.data.formats import open_dataset
from edgeseg.data.pipeline import (
    AugmentConfig,
    calibration_images,
    epoch_order,
    geometry,
    load_split,
    resize_image,
    resize_mask,
    restore_labels,
)
from edgeseg.errors import DataError


def test_letterbox_keeps_aspect_and_pads_with_ignore():
    geo = geometry((360, 480), (192, 320), "letterbox")
    assert geo.inner_hw == (192, 256) and (geo.top, geo.left) == (0, 32)
    mask = np.zeros((360, 480), np.uint8)
    out = resize_mask(mask, geo)
    assert out.shape == (192, 320)
    assert (out[:, :32] == IGNORE).all() and (out[:, -32:] == IGNORE).all() and (out[:, 32:-32] == 0).all()
    img = resize_image(np.full((360, 480, 3), 200, np.uint8), geo)
    assert (img[:, :32] == 0).all() and (img[:, 40] == 200).all()


def test_stretch_fills_the_input():
    geo = geometry((360, 480), (192, 320), "stretch")
    assert geo.inner_hw == (192, 320) and geo.top == geo.left == 0


def test_masks_resize_nearest_only():
    mask = np.array([[0, 5], [7, 9]], np.uint8).repeat(10, 0).repeat(10, 1)
    out = resize_mask(mask, geometry(mask.shape, (7, 7), "stretch"))
    assert set(np.unique(out)) <= {0, 5, 7, 9}


@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
def test_restore_labels_round_trip(mode):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (12, 16)).repeat(30, 0).repeat(30, 1).astype(np.uint8)  # 360x480 blocks
    geo = geometry(labels.shape, (96, 160), mode)
    back = restore_labels(resize_mask(labels, geo), geo)
    assert back.shape == labels.shape
    assert (back == labels).mean() > 0.97


def test_unknown_resize_mode():
    with pytest.raises(DataError, match="resize mode 'crop'"):
        geometry((4, 4), (4, 4), "crop")


def test_epoch_order_is_deterministic_and_whole_batches():
    a = epoch_order(10, seed=1, epoch=2, batch=4)
    assert len(a) == 8 and (a == epoch_order(10, 1, 2, 4)).all()
    assert not (a == epoch_order(10, 1, 3, 4)).all()


def test_augment_parse():
    assert AugmentConfig.parse("none").enabled() == []
    assert AugmentConfig.parse("flip,noise").enabled() == ["flip", "noise"]
    assert AugmentConfig.parse(None).enabled() == ["flip", "brightness", "noise", "scale", "color"]
    with pytest.raises(DataError, match="unknown augmentation 'blur'"):
        AugmentConfig.parse("flip,blur")
    cfg = AugmentConfig.parse("flip,scale=0.8-1.25")
    assert (cfg.scale_min, cfg.scale, cfg.flip, cfg.noise) == (0.8, 1.25, True, 0.0)
    with pytest.raises(DataError, match="scale=big is not MIN-MAX"):
        AugmentConfig.parse("scale=big")
    with pytest.raises(DataError, match="need 0.25 <= MIN <= MAX <= 4"):
        AugmentConfig.parse("scale=2-1")


@pytest.mark.e2e
def test_train_dataset_is_deterministic_and_resumable(segnet_dataset):
    from edgeseg.data.pipeline import train_dataset

    ds = open_dataset(segnet_dataset)
    cache = load_split(ds, "train", (8, 12))
    aug = AugmentConfig.parse("default")
    full = [(x.numpy(), y.numpy()) for x, y in train_dataset(cache, 1, seed=5, first_epoch=0, epochs=3, augment=aug)]
    again = [(x.numpy(), y.numpy()) for x, y in train_dataset(cache, 1, seed=5, first_epoch=0, epochs=3, augment=aug)]
    resumed = [(x.numpy(), y.numpy()) for x, y in train_dataset(cache, 1, seed=5, first_epoch=2, epochs=3, augment=aug)]
    assert len(full) == 9
    for (a, b), (c, d) in zip(full, again):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    for (a, b), (c, d) in zip(full[6:], resumed):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    x, y = full[0]
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert set(np.unique(y)) <= set(range(11)) | {IGNORE}


def test_calibration_from_folder_and_dataset(tmp_path, segnet_dataset):
    for i in range(5):
        save(tmp_path / "imgs" / "sub" / f"{i}.jpg", np.full((20, 30, 3), i, np.uint8))
    imgs = calibration_images(tmp_path / "imgs", (8, 12), count=3)
    assert imgs.shape == (3, 8, 12, 3) and imgs.dtype == np.uint8
    imgs = calibration_images(segnet_dataset, (8, 12), count=10)
    assert len(imgs) == 3  # the train split only
    assert len(calibration_images(tmp_path / "imgs" / "sub" / "0.jpg", (8, 12))) == 0


@pytest.mark.e2e
def test_zoom_out_pads_the_mask_with_ignore():
    """scale below 1 shrinks the scene inside a border that is black and labelled ignore,
    so the loss never trains on invented pixels."""
    from edgeseg.config import import_tf
    from edgeseg.data.pipeline import _augment

    tf = import_tf()
    image = tf.ones([40, 60, 3], tf.float32) * 0.5
    mask = tf.fill([40, 60], tf.constant(3, tf.uint8))
    cfg = AugmentConfig(flip=False, brightness=0.0, noise=0.0, scale=0.5, color=0.0, scale_min=0.5)
    out_img, out_mask = _augment(tf, image, mask, tf.constant([1, 2], tf.int64), cfg)
    m = out_mask.numpy()
    assert set(np.unique(m)) == {3, IGNORE}
    assert m[0, 0] == IGNORE and m[-1, -1] == IGNORE and (m == 3).mean() == pytest.approx(0.25, abs=0.06)
    assert out_img.numpy()[0, 0].max() == 0.0  # black border
