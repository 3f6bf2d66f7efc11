"""From a dataset on disk to model inputs: resize (letterbox or stretch), decode cache,
augmentation and the tf.data pipeline, plus the calibration sampler.

Decoding happens once, in parallel threads, into uint8 arrays at the network's input size
(the cache); every bad file is found there, before any training step. The tf.data
pipeline then gathers, augments (train only) and batches from that cache. Shuffling and
augmentation are stateless functions of (seed, epoch, position), so a run is deterministic
and a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import IGNORE
from ..errors import DataError
from .formats import (
    Dataset,
    Sample,
    dataset_mask_folders,
    image_folder,
    open_dataset,
    read_rgb,
    unlabelled_split_message,
)
from .tables import AUGMENTATIONS, RESIZE_MODES

log = logging.getLogger(__name__)

#: Model input normalisation: x = pixel * scale + offset (pixel in 0..255).
NORMALISATION = {"scale": 1.0 / 255.0, "offset": 0.0}


@dataclass(frozen=True)
class Geometry:
    """Where the resized image lies inside the network input (to undo letterboxing)."""

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    inner_hw: tuple[int, int]
    top: int
    left: int


def geometry(src_hw: tuple[int, int], dst_hw: tuple[int, int], mode: str) -> Geometry:
    if mode not in RESIZE_MODES:
        raise DataError(f"resize mode '{mode}' is not one of {', '.join(RESIZE_MODES)}")
    if mode == "stretch":
        return Geometry(tuple(src_hw), tuple(dst_hw), tuple(dst_hw), 0, 0)
    sh, sw = src_hw
    dh, dw = dst_hw
    scale = min(dh / sh, dw / sw)
    ih, iw = max(1, round(sh * scale)), max(1, round(sw * scale))
    return Geometry(tuple(src_hw), tuple(dst_hw), (ih, iw), (dh - ih) // 2, (dw - iw) // 2)


def resize_image(image: np.ndarray, geo: Geometry) -> np.ndarray:
    """Bilinear resize into the network input; letterbox padding is black."""
    ih, iw = geo.inner_hw
    im = Image.fromarray(image).resize((iw, ih), Image.BILINEAR) if (ih, iw) != image.shape[:2] else image
    out = np.zeros((*geo.dst_hw, 3), np.uint8)
    out[geo.top : geo.top + ih, geo.left : geo.left + iw] = np.asarray(im)
    return out


def resize_mask(mask: np.ndarray, geo: Geometry) -> np.ndarray:
    """Nearest-neighbour resize into the network input; letterbox padding is ignore."""
    ih, iw = geo.inner_hw
    m = np.asarray(Image.fromarray(mask).resize((iw, ih), Image.NEAREST)) if (ih, iw) != mask.shape[:2] else mask
    out = np.full(geo.dst_hw, IGNORE, np.uint8)
    out[geo.top : geo.top + ih, geo.left : geo.left + iw] = m
    return out


def restore_labels(pred: np.ndarray, geo: Geometry) -> np.ndarray:
    """Undo letterbox/stretch on a predicted label map: back to the source resolution."""
    ih, iw = geo.inner_hw
    inner = pred[geo.top : geo.top + ih, geo.left : geo.left + iw]
    sh, sw = geo.src_hw
    rows = (np.arange(sh) * ih // sh).clip(0, ih - 1)
    cols = (np.arange(sw) * iw // sw).clip(0, iw - 1)
    return inner[rows[:, None], cols[None, :]]


def normalise(images_uint8: np.ndarray) -> np.ndarray:
    return images_uint8.astype(np.float32) * np.float32(NORMALISATION["scale"]) + np.float32(NORMALISATION["offset"])


@dataclass
class Cached:
    images: np.ndarray  # N x H x W x 3 uint8 at the input size
    masks: np.ndarray | None  # N x H x W uint8 (255 = ignore)
    samples: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    #: With ``keep_source``: the masks at their own resolution and how each was resized,
    #: so predictions can be scored at label resolution.
    source_masks: list[np.ndarray] | None = None
    geometries: list[Geometry] | None = None

    def __len__(self) -> int:
        return len(self.images)


def _load_one(ds: Dataset, sample: Sample, size, mode, with_mask: bool):
    if with_mask:
        image, mask = ds.read_sample(sample)
    else:
        image, mask = read_rgb(sample.image), None
    geo = geometry(image.shape[:2], size, mode)
    labelled = mask is not None and bool(np.any(mask != IGNORE))
    return resize_image(image, geo), (resize_mask(mask, geo) if mask is not None else None), mask, geo, labelled


def load_split(
    ds: Dataset,
    split: str,
    size: tuple[int, int],
    mode: str = "letterbox",
    skip_bad: bool = False,
    limit: int | None = None,
    workers: int = 4,
    progress=None,
    keep_source: bool = False,
) -> Cached:
    """Decode and resize one split into memory, validating every file.

    Without ``skip_bad`` the first bad file raises a :class:`DataError` naming it; with it,
    bad files are left out and listed in ``Cached.skipped``. A split whose masks hold no
    labelled pixel (all ignore) is a :class:`DataError` naming it: training could not learn
    from it and its scores would be nan.
    """
    samples = ds.samples(split)[: limit or None]

    def job(s):
        try:
            return _load_one(ds, s, size, mode, True), None
        except DataError as exc:
            if not skip_bad:
                raise
            return None, str(exc)

    images, masks, kept, skipped, sources, geos = [], [], [], [], [], []
    labelled = False
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(job, samples)
        if progress:
            results = progress(results, total=len(samples), desc=f"decode {split}")
        for s, (res, err) in zip(samples, results):
            if res is None:
                skipped.append((s.image, err))
                continue
            images.append(res[0])
            masks.append(res[1])
            kept.append(s)
            labelled = labelled or res[4]
            if keep_source:
                sources.append(res[2])
                geos.append(res[3])
    if skipped:
        log.warning("skipped %d bad file(s) in split '%s' of %s, e.g. %s", len(skipped), split, ds.root, skipped[0][1])
    if not images:
        raise DataError(f"no usable samples in split '{split}' of {ds.root}")
    stacked = np.stack(masks)
    if not labelled:
        cut = len(ds.samples(split)) > len(samples)
        raise DataError(unlabelled_split_message(ds, split, len(kept), f" read (--limit {limit})" if cut else ""))
    if not keep_source and not np.any(stacked != IGNORE):
        raise DataError(
            f"split '{split}' of {ds.root} loses every labelled pixel when resized to "
            f"{size[0]}x{size[1]} ({mode}): its labelled regions are too small; use a larger --input-size"
        )
    return Cached(
        np.stack(images), stacked, kept, skipped, sources if keep_source else None, geos if keep_source else None
    )


# -- augmentation -----------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    brightness: float = 0.10  # multiplicative, +-
    noise: float = 0.02  # max gaussian sigma (input units, 0..1 images)
    scale: float = 1.5  # max zoom factor (random scale and crop; 1 with scale_min 1 disables)
    color: float = 0.08  # per-channel gain jitter, +-
    scale_min: float = 0.75  # min zoom factor: below 1 the image shrinks inside ignore-labelled padding

    @classmethod
    def parse(cls, text: str | None) -> AugmentConfig:
        """``"flip,brightness"`` enables those with defaults; ``"none"`` disables all;
        ``scale=0.8-1.25`` sets the zoom range."""
        if text is None or text == "default":
            return cls()
        items = [t.strip() for t in text.split(",") if t.strip()]
        if items == ["none"]:
            return cls(False, 0.0, 0.0, 1.0, 0.0, 1.0)
        names = [t.split("=", 1)[0] for t in items]
        unknown = [n for n in names if n not in AUGMENTATIONS]
        if unknown:
            raise DataError(f"unknown augmentation '{unknown[0]}'; choose from {', '.join(AUGMENTATIONS)} or 'none'")
        d = cls()
        lo, hi = d.scale_min, d.scale
        for item in items:
            name, _, value = item.partition("=")
            if value and name != "scale":
                raise DataError(f"augmentation '{name}' takes no value (only scale=MIN-MAX does)")
            if value:
                try:
                    lo, hi = (float(v) for v in value.split("-"))
                except ValueError:
                    raise DataError(f"scale={value} is not MIN-MAX, e.g. scale=0.75-1.5") from None
                if not 0.25 <= lo <= hi <= 4.0:
                    raise DataError(f"scale={value}: need 0.25 <= MIN <= MAX <= 4")
        return cls(
            flip="flip" in names,
            brightness=d.brightness if "brightness" in names else 0.0,
            noise=d.noise if "noise" in names else 0.0,
            scale=hi if "scale" in names else 1.0,
            color=d.color if "color" in names else 0.0,
            scale_min=lo if "scale" in names else 1.0,
        )

    def enabled(self) -> list[str]:
        return [
            n
            for n, on in (
                ("flip", self.flip),
                ("brightness", self.brightness > 0),
                ("noise", self.noise > 0),
                ("scale", self.scale > 1 or self.scale_min < 1),
                ("color", self.color > 0),
            )
            if on
        ]


def _augment(tf, image, mask, seed, cfg: AugmentConfig):
    """Stateless augmentation of one float image (H,W,3 in 0..1) and its uint8 mask."""
    h, w = image.shape[0], image.shape[1]
    seeds = tf.random.experimental.stateless_split(seed, num=6)
    mask_f = tf.cast(mask[..., None], tf.float32)
    if cfg.flip:
        do = tf.random.stateless_uniform([], seeds[0]) < 0.5
        image = tf.where(do, image[:, ::-1], image)
        mask_f = tf.where(do, mask_f[:, ::-1], mask_f)
    if cfg.scale > 1 or cfg.scale_min < 1:
        # zoom by s: a box of 1/s of the image, placed at random, resized to the input; for
        # s < 1 the box is larger than the image and the border is black, labelled ignore
        s = tf.random.stateless_uniform([], seeds[1], cfg.scale_min, cfg.scale)
        bh, bw = 1.0 / s, 1.0 / s
        oy, ox = tf.unstack(tf.random.stateless_uniform([2], seeds[2]))
        y0, x0 = oy * (1 - bh), ox * (1 - bw)
        box = tf.stack([y0, x0, y0 + bh, x0 + bw])[None]
        image = tf.image.crop_and_resize(image[None], box, [0], [h, w], method="bilinear")[0]
        mask_f = tf.image.crop_and_resize(
            mask_f[None], box, [0], [h, w], method="nearest", extrapolation_value=float(IGNORE)
        )[0]
    if cfg.brightness > 0:
        image = image * tf.random.stateless_uniform([], seeds[3], 1 - cfg.brightness, 1 + cfg.brightness)
    if cfg.color > 0:
        image = image * tf.random.stateless_uniform([1, 1, 3], seeds[4], 1 - cfg.color, 1 + cfg.color)
    if cfg.noise > 0:
        sigma = tf.random.stateless_uniform([], seeds[5], 0.0, cfg.noise)
        image = image + sigma * tf.random.stateless_normal(tf.shape(image), seeds[5][::-1])
    return tf.clip_by_value(image, 0.0, 1.0), tf.cast(tf.round(mask_f[..., 0]), tf.uint8)


def epoch_order(n: int, seed: int, epoch: int, batch: int) -> np.ndarray:
    """The sample order of one epoch (whole batches only): a pure function of its inputs."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[: (n // batch) * batch]


def train_dataset(
    cache: Cached,
    batch: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    augment: AugmentConfig | None = None,
    size=None,
):
    """Batches for epochs ``first_epoch .. epochs-1``, each epoch a fresh permutation. ``size``
    (a tf.Variable holding [H, W]; ``--progressive``) resizes each batch as it is made: images
    bilinear with antialiasing, masks nearest; at the cached size nothing is resized."""
    from ..config import import_tf

    tf = import_tf()
    n = len(cache)
    if n < batch:
        raise DataError(f"the train split has {n} usable image(s), fewer than one batch of {batch}; lower --batch")
    per_epoch = (n // batch) * batch
    epoch_ids = range(first_epoch, epochs)
    order = np.concatenate([epoch_order(n, seed, e, batch) for e in epoch_ids])
    epoch_of = np.repeat(np.asarray(epoch_ids, dtype=np.int64), per_epoch)
    position = np.tile(np.arange(per_epoch), len(epoch_ids))  # within the epoch: resume-stable seeds
    images = tf.constant(cache.images)
    masks = tf.constant(cache.masks)
    aug = augment or AugmentConfig.parse("none")

    def fetch(idx, ep, pos):
        image = tf.cast(tf.gather(images, idx), tf.float32) * NORMALISATION["scale"] + NORMALISATION["offset"]
        mask = tf.gather(masks, idx)
        if aug.enabled():
            seed_t = tf.stack([tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(ep, tf.int64), tf.cast(pos, tf.int64)])
            image, mask = _augment(tf, image, mask, seed_t, aug)
        return image, mask

    ds = tf.data.Dataset.from_tensor_slices((order, epoch_of, position))
    ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch, drop_remainder=True)
    if size is not None:
        full = tf.constant(cache.images.shape[1:3], tf.int32)

        def resize(image, mask):
            def smaller():
                small = tf.image.resize(image, size, method="bilinear", antialias=True)
                return small, tf.image.resize(mask[..., None], size, method="nearest")[..., 0]

            return tf.cond(tf.reduce_all(tf.equal(size, full)), lambda: (image, mask), smaller)

        ds = ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


# -- calibration ------------------------------------------------------------------------


def calibration_images(
    source: str | Path,
    size: tuple[int, int],
    mode: str = "letterbox",
    count: int = 200,
    seed: int = 0,
    split: str = "train",
) -> np.ndarray:
    """Up to ``count`` images (uint8, at the input size) from a dataset or a plain folder.

    A dataset layout is read from its train split; anything else is treated as a folder
    of images. The sample is a seeded random subset, so calibration is reproducible.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"calibration source {source} does not exist")
    parent = source.resolve().parent
    if source.is_dir() and any(m.resolve() == source.resolve() for m in dataset_mask_folders(parent)):
        raise DataError(
            f"calibration source {source} is a mask folder of the dataset in {parent}: calibrate with the "
            f"dataset ({parent}, its {split} images) or a folder of images"
        )
    try:
        ds = open_dataset(source)
        pool = ds.splits.get(split) or next(v for v in ds.splits.values() if v)
        paths = [s.image for s in pool]
    except DataError:
        paths = image_folder(source) if source.is_dir() else []
    if not paths:
        return np.zeros((0, *size, 3), np.uint8)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(paths), size=min(count, len(paths)), replace=False))
    out = []
    for i in chosen:
        image = read_rgb(paths[i])
        out.append(resize_image(image, geometry(image.shape[:2], size, mode)))
    return np.stack(out)
