"""Segmentation metrics from a confusion matrix (NumPy only: training, eval and reports
share this code). Pixels labelled ignore (255) are skipped."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..config import IGNORE
from ..data.pipeline import Cached, restore_labels

#: predict(images_uint8 [N,H,W,3]) -> per-pixel class scores [N,H,W,C] or labels [N,H,W]
Predictor = Callable[[np.ndarray], np.ndarray]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[t, p]`` = number of pixels of true class t predicted as p (ignore skipped)."""
    t = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(y_pred).ravel().astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"label and prediction sizes differ: {t.size} vs {p.size}")
    keep = t != IGNORE
    t, p = t[keep], p[keep]
    if t.size and (t.max() >= num_classes or p.max() >= num_classes or t.min() < 0 or p.min() < 0):
        raise ValueError(f"class id outside 0..{num_classes - 1}")
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def scores(cm: np.ndarray, class_names=None) -> dict:
    """mIoU, mean Dice, pixel accuracy and per-class IoU/Dice from a confusion matrix.

    A class absent from both the labels and the predictions has no IoU (NaN) and does not
    count in the means, the usual convention (e.g. CamVid's 11-class mIoU).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    union = tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        dice = np.where(union > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    total = cm.sum()
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(tp))]
    valid = ~np.isnan(iou)
    return {
        "miou": float(np.mean(iou[valid])) if valid.any() else float("nan"),
        "dice": float(np.mean(dice[valid])) if valid.any() else float("nan"),
        "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
        "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
        "per_class_dice": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, dice)},
        "pixels": int(total),
    }


class ConfusionAccumulator:
    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.cm = np.zeros((num_classes, num_classes), np.int64)

    def update(self, y_true, y_pred) -> None:
        self.cm += confusion_matrix(y_true, y_pred, self.num_classes)

    def result(self, class_names=None) -> dict:
        return scores(self.cm, class_names)


def median_frequency_weights(masks: np.ndarray, num_classes: int) -> np.ndarray:
    """Median-frequency balancing (Eigen & Fergus 2015, as used by SegNet):
    ``w_c = median(f) / f_c`` with ``f_c`` = pixels of class c / pixels of the images
    in which c appears. Classes that never appear get weight 0."""
    counts = np.zeros(num_classes, np.float64)
    image_pixels = np.zeros(num_classes, np.float64)
    for m in masks:
        m = np.asarray(m).ravel()
        valid = m[m != IGNORE]
        c = np.bincount(valid, minlength=num_classes)[:num_classes].astype(np.float64)
        counts += c
        image_pixels[c > 0] += valid.size
    with np.errstate(divide="ignore", invalid="ignore"):
        freq = np.where(image_pixels > 0, counts / image_pixels, 0.0)
    present = freq > 0
    if not present.any():
        return np.ones(num_classes)
    med = np.median(freq[present])
    return np.where(present, med / np.where(present, freq, 1.0), 0.0)


def _need_source(cache: Cached, what: str) -> None:
    if cache.source_masks is None or cache.geometries is None:
        raise ValueError(f"{what} needs a split loaded with keep_source=True")


def score_split(
    predict: Predictor, cache: Cached, num_classes: int, class_names=None, batch: int = 8, progress=None
) -> dict:
    """Run ``predict`` over a cached split and return :func:`scores` at label resolution."""
    _need_source(cache, "score_split")
    acc = ConfusionAccumulator(num_classes)
    starts = range(0, len(cache), batch)
    for start in progress(starts, desc="evaluate", total=len(starts)) if progress else starts:
        out = np.asarray(predict(cache.images[start : start + batch]))
        labels = out.argmax(-1) if out.ndim == 4 else out
        for i, lab in enumerate(labels):
            k = start + i
            acc.update(cache.source_masks[k], restore_labels(lab, cache.geometries[k]))
    result = acc.result(class_names)
    result["images"] = len(cache)
    return result


def score_labels(labels, cache: Cached, num_classes: int, class_names=None) -> dict:
    """:func:`scores` at label resolution of class maps already computed, one per frame of
    ``cache`` in order (e.g. decoded from a device's output files): the same accumulation as
    :func:`score_split`, so host and device figures come from one code path."""
    _need_source(cache, "score_labels")
    labels = list(labels)
    if len(labels) != len(cache):
        raise ValueError(f"{len(labels)} predictions for {len(cache)} frames")
    acc = ConfusionAccumulator(num_classes)
    for k, lab in enumerate(labels):
        acc.update(cache.source_masks[k], restore_labels(np.asarray(lab), cache.geometries[k]))
    result = acc.result(class_names)
    result["images"] = len(cache)
    return result


def argmax_agreement(a_labels, b_labels) -> float:
    """The fraction of pixels (at the model's output size, every pixel) whose class is the
    same in two sets of class maps."""
    same = total = 0
    for a, b in zip(a_labels, b_labels, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"class maps of different shapes: {a.shape} vs {b.shape}")
        same += int(np.count_nonzero(a == b))
        total += a.size
    return same / total if total else float("nan")
