"""Losses over per-pixel probabilities with an ignore label (TensorFlow).

``y_true`` holds class indices (ignore = 255, any trailing 1 dimension is tolerated);
``y_pred`` holds softmax probabilities. Ignored pixels contribute nothing.
"""

from __future__ import annotations

from ..config import IGNORE

LOSSES = ("ce", "dice", "ce_dice", "ohem")
#: Which losses take --class-weights (the cross-entropy ones that weight pixels by class).
WEIGHTED_LOSSES = ("ce", "ce_dice")
EPS = 1e-6
#: OHEM: a pixel is hard while the probability of its true class is below this ...
OHEM_THRESHOLD = 0.7
#: ... and at least this fraction of the valid pixels of a batch (the hardest) is kept.
OHEM_MIN_KEPT = 1 / 16


def _prepare(tf, y_true, y_pred):
    n = tf.shape(y_pred)[-1]
    labels = tf.reshape(tf.cast(y_true, tf.int32), tf.shape(y_pred)[:-1])
    valid = tf.not_equal(labels, IGNORE)
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    return labels, valid, safe, n


def cross_entropy(y_true, y_pred, class_weights=None):
    """Mean (optionally class-weighted) cross-entropy over non-ignored pixels."""
    import tensorflow as tf

    _, valid, safe, n = _prepare(tf, y_true, y_pred)
    p = tf.clip_by_value(y_pred, 1e-7, 1.0)
    nll = -tf.math.log(tf.gather(p, safe, batch_dims=len(p.shape) - 1))
    w = tf.cast(valid, p.dtype)
    if class_weights is not None:
        w = w * tf.gather(tf.constant(class_weights, p.dtype), safe)
    return tf.reduce_sum(nll * w) / tf.maximum(tf.reduce_sum(w), EPS)


def ohem_cross_entropy(y_true, y_pred, threshold: float = OHEM_THRESHOLD, min_kept: float = OHEM_MIN_KEPT):
    """Online hard example mining (Shrivastava et al. 2016; the segmentation form of
    PSPNet/OCNet's training code): the mean cross-entropy of the pixels whose true-class
    probability is below ``threshold``, and at least of the ``min_kept`` fraction of valid
    pixels with the highest loss, so easy pixels (road, sky) stop dominating the gradient."""
    import tensorflow as tf

    _, valid, safe, n = _prepare(tf, y_true, y_pred)
    p = tf.clip_by_value(y_pred, 1e-7, 1.0)
    nll = -tf.math.log(tf.gather(p, safe, batch_dims=len(p.shape) - 1))
    losses = tf.boolean_mask(nll, valid)
    count = tf.size(losses)
    hard = tf.reduce_sum(tf.cast(losses > -tf.math.log(threshold), tf.int32))
    k = tf.maximum(hard, tf.cast(tf.cast(count, tf.float32) * min_kept, tf.int32))
    k = tf.minimum(tf.maximum(k, 1), tf.maximum(count, 1))
    top = tf.math.top_k(tf.concat([losses, tf.zeros([1], losses.dtype)], 0), k).values
    return tf.where(count > 0, tf.reduce_mean(top), tf.constant(0.0, losses.dtype))


def soft_dice(y_true, y_pred, eps: float = 1.0):
    """``1 - mean_c (2 sum p g + eps) / (sum p^2 + sum g^2 + eps)`` over non-ignored pixels,
    sums over the batch, mean over classes (Milletari et al., V-Net, 2016)."""
    import tensorflow as tf

    _, valid, safe, n = _prepare(tf, y_true, y_pred)
    v = tf.cast(valid, y_pred.dtype)[..., None]
    g = tf.one_hot(safe, n, dtype=y_pred.dtype) * v
    p = y_pred * v
    axes = tf.range(tf.rank(p) - 1)
    inter = tf.reduce_sum(p * g, axis=axes)
    denom = tf.reduce_sum(p * p, axis=axes) + tf.reduce_sum(g * g, axis=axes)
    return 1.0 - tf.reduce_mean((2.0 * inter + eps) / (denom + eps))


def make_loss(name: str, class_weights=None):
    """A Keras-compatible loss function by name: ``ce`` (L2 comes from the model's kernel
    regularisers), ``dice`` or ``ce_dice``."""
    if name == "ce":

        def loss(y_true, y_pred):
            return cross_entropy(y_true, y_pred, class_weights)
    elif name == "dice":

        def loss(y_true, y_pred):
            return soft_dice(y_true, y_pred)
    elif name == "ce_dice":

        def loss(y_true, y_pred):
            return cross_entropy(y_true, y_pred, class_weights) + soft_dice(y_true, y_pred)
    elif name == "ohem":

        def loss(y_true, y_pred):
            return ohem_cross_entropy(y_true, y_pred)
    else:
        from ..errors import TrainError

        raise TrainError(f"unknown loss '{name}'; choose from {', '.join(LOSSES)}")
    loss.__name__ = f"{name}_loss"
    return loss
