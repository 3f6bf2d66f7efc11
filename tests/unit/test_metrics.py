"""Metric formulas against hand-computed confusion matrices."""

import math

import numpy as np
import pytest

from edgeseg.config import IGNORE
from edgeseg.training.metrics import ConfusionAccumulator, confusion_matrix, median_frequency_weights, scores


def test_confusion_matrix_skips_ignore():
    t = np.array([0, 0, 1, 1, 2, IGNORE])
    p = np.array([0, 1, 1, 1, 0, 2])
    cm = confusion_matrix(t, p, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_scores_by_hand():
    cm = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    s = scores(cm, ["a", "b", "c"])
    # IoU a = 1/(1+1+1) ; b = 2/(2+1+0) ; c = 0/(0+0+1)
    assert s["per_class_iou"] == pytest.approx({"a": 1 / 3, "b": 2 / 3, "c": 0.0})
    assert s["miou"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    # Dice a = 2/(2+1+1), b = 4/(4+1), c = 0
    assert s["per_class_dice"] == pytest.approx({"a": 0.5, "b": 0.8, "c": 0.0})
    assert s["pixel_accuracy"] == pytest.approx(3 / 5)


def test_absent_class_is_not_averaged():
    cm = np.array([[3, 0, 0], [0, 1, 0], [0, 0, 0]])
    s = scores(cm)
    assert s["per_class_iou"]["2"] is None
    assert s["miou"] == 1.0


def test_empty_confusion_gives_nan():
    assert math.isnan(scores(np.zeros((2, 2)))["miou"])


def test_accumulator_equals_one_big_matrix():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 4, (3, 5, 5))
    t[0, 0, 0] = IGNORE
    p = rng.integers(0, 4, (3, 5, 5))
    acc = ConfusionAccumulator(4)
    for a, b in zip(t, p):
        acc.update(a, b)
    assert (acc.cm == confusion_matrix(t, p, 4)).all()


def test_out_of_range_prediction_is_an_error():
    with pytest.raises(ValueError, match="class id outside"):
        confusion_matrix(np.array([0]), np.array([5]), 3)


def test_median_frequency_weights_by_hand():
    # image 1: 3 px class0, 1 px class1 ; image 2: 4 px class0 ; class 2 absent
    masks = [np.array([[0, 0, 0, 1]]), np.array([[0, 0, 0, 0]])]
    w = median_frequency_weights(masks, 3)
    f0, f1 = 7 / 8, 1 / 4  # class1 appears only in image 1 (4 px)
    med = np.median([f0, f1])
    assert w.tolist() == pytest.approx([med / f0, med / f1, 0.0])
