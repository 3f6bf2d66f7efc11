"""U-Net++ (Zhou et al. 2018): nested dense skip paths. Node X[i][j] (level i, column j)
is a double conv over the concatenation of X[i][0..j-1] and the upsampled X[i+1][j-1].
With ``deep_supervision`` a 1x1 head sits on every X[0][j] (j >= 1) and the output is the
softmax of their mean logits (one output, so train/eval/export stay unchanged; each head
gets gradient through the mean)."""

from __future__ import annotations

from .blocks import segmentation_head
from .unet import check_divisible, double_conv


def build_unetpp(
    keras,
    input_size,
    num_classes,
    depth: int = 4,
    base: int = 32,
    bn_momentum: float = 0.9,
    l2: float = 0.0,
    deep_supervision: bool = False,
    name: str = "unetpp",
):
    check_divisible(input_size, 2**depth, f"unetpp depth {depth}")
    L = keras.layers
    inputs = keras.Input((*input_size, 3), name="image")
    X: dict[tuple[int, int], object] = {}
    x = inputs
    for i in range(depth + 1):
        if i > 0:
            x = L.MaxPooling2D(2, name=f"pool{i - 1}")(X[(i - 1, 0)])
        X[(i, 0)] = double_conv(keras, x, base * 2**i, f"x{i}_0", bn_momentum, l2)
    for j in range(1, depth + 1):
        for i in range(depth + 1 - j):
            up = L.Conv2DTranspose(base * 2**i, 2, strides=2, padding="same", name=f"x{i}_{j}_up")(X[(i + 1, j - 1)])
            cat = L.Concatenate(name=f"x{i}_{j}_cat")([X[(i, k)] for k in range(j)] + [up])
            X[(i, j)] = double_conv(keras, cat, base * 2**i, f"x{i}_{j}", bn_momentum, l2)
    if not deep_supervision:
        return keras.Model(inputs, segmentation_head(keras, X[(0, depth)], num_classes), name=name)
    logits = [L.Conv2D(num_classes, 1, name=f"ds{j}_conv")(X[(0, j)]) for j in range(1, depth + 1)]
    return keras.Model(inputs, L.Softmax(name="probabilities")(L.Average(name="ds_mean")(logits)), name=name)
