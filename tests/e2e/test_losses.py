"""Losses against NumPy hand computations (real TensorFlow)."""

import numpy as np
import pytest

from edgeseg.config import IGNORE, import_tf

pytestmark = pytest.mark.e2e
pytest.importorskip("tensorflow")  # the whole module needs it: skipped at collection where it is not installed
tf = import_tf()
from edgeseg.training.losses import cross_entropy, make_loss, soft_dice  # noqa: E402


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 3))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, 3, (2, 3, 4))
    labels[0, 0, :] = IGNORE
    return probs.astype(np.float32), labels.astype(np.uint8)


def test_cross_entropy_ignores_void(batch):
    p, y = batch
    valid = y != IGNORE
    expect = -np.log(np.take_along_axis(p, np.where(valid, y, 0)[..., None].astype(int), -1)[..., 0])[valid].mean()
    assert float(cross_entropy(tf.constant(y), tf.constant(p))) == pytest.approx(expect, rel=1e-5)
    # trailing channel on labels is accepted (Keras passes y_true as [B,H,W,1])
    assert float(cross_entropy(tf.constant(y[..., None]), tf.constant(p))) == pytest.approx(expect, rel=1e-5)


def test_weighted_cross_entropy(batch):
    p, y = batch
    w = np.array([1.0, 2.0, 0.5])
    valid = y != IGNORE
    yy = np.where(valid, y, 0).astype(int)
    nll = -np.log(np.take_along_axis(p, yy[..., None], -1)[..., 0])
    ww = w[yy] * valid
    expect = (nll * ww).sum() / ww.sum()
    assert float(cross_entropy(tf.constant(y), tf.constant(p), w)) == pytest.approx(expect, rel=1e-5)


def test_soft_dice_formula(batch):
    p, y = batch
    valid = (y != IGNORE)[..., None]
    g = np.eye(3)[np.where(valid[..., 0], y, 0)] * valid
    pp = p * valid
    per_class = (2 * (pp * g).sum((0, 1, 2)) + 1.0) / ((pp**2).sum((0, 1, 2)) + (g**2).sum((0, 1, 2)) + 1.0)
    assert float(soft_dice(tf.constant(y), tf.constant(p))) == pytest.approx(1 - per_class.mean(), rel=1e-5)


def test_perfect_prediction_has_near_zero_losses():
    y = np.array([[[0, 1], [2, IGNORE]]], np.uint8)
    p = np.eye(3, dtype=np.float32)[np.where(y == IGNORE, 0, y)]
    assert float(make_loss("ce")(tf.constant(y), tf.constant(p))) < 1e-5
    assert float(make_loss("dice")(tf.constant(y), tf.constant(p))) < 1e-5


def test_unknown_loss():
    from edgeseg.errors import TrainError

    with pytest.raises(TrainError, match="unknown loss 'focal'"):
        make_loss("focal")


def test_ohem_keeps_the_hardest_pixels(batch):
    from edgeseg.training.losses import OHEM_THRESHOLD, ohem_cross_entropy

    p, y = batch
    ce = float(cross_entropy(tf.constant(y), tf.constant(p)))
    ohem = float(ohem_cross_entropy(tf.constant(y), tf.constant(p)))
    assert ohem >= ce  # the mean over the hardest pixels
    valid = y != IGNORE
    nll = -np.log(np.take_along_axis(p, np.where(valid, y, 0)[..., None].astype(int), -1)[..., 0])[valid]
    hard = np.sort(nll)[::-1]
    k = max(int((nll > -np.log(OHEM_THRESHOLD)).sum()), int(len(nll) / 16))
    assert ohem == pytest.approx(hard[:k].mean(), rel=1e-5)
