"""The residual U-Net (the default model) and the seed's graph it replaced.

``resunet`` keeps the seed's identity, a residual encoder and a U-Net decoder with
concatenated skips, built only from ops that XNNPACK, the GPU delegate and NNAPI all take
in float32 and int8: stride-2 residual blocks to go down (a 3x3 stride-2 conv, and a 2x2
max-pool + 1x1 projection on the shortcut), stride-2 transposed convolutions to go up, and a 1x1
conv to class scores. The int8 artifact runs as one XNNPACK partition (measured by
`edgeseg info --delegates`).

``resunet-seed`` is the seed's graph, kept for comparison: average-pool down and
nearest-neighbour up, which XNNPACK leaves to builtin CPU kernels in int8 (nine
partitions at depth 4).
"""

from __future__ import annotations

from ..errors import ModelError
from .blocks import conv_bn_relu, double_conv_block, residual_block


def _check(input_size, num_classes: int, depth: int, base: int) -> None:
    h, w = input_size
    if depth < 1 or depth > 6:
        raise ModelError(f"depth {depth} is out of range: use 1 to 6")
    if base < 2:
        raise ModelError(f"base width {base} is too small: use at least 2")
    if num_classes < 2:
        raise ModelError(f"a segmenter needs at least 2 classes, got {num_classes}")
    step = 2**depth
    if h % step or w % step:
        raise ModelError(
            f"input size {h}x{w} must be divisible by 2^depth = {step} (depth {depth}); "
            f"e.g. {max(step, h // step * step)}x{max(step, w // step * step)}"
        )


def build_resunet(
    keras,
    input_size: tuple[int, int],
    num_classes: int,
    depth: int = 4,
    base: int = 16,
    bn_momentum: float = 0.9,
    l2: float = 1e-5,
    down: str = "maxpool",
    name: str = "resunet",
):
    """Encoder: a residual block at full resolution, then per level (width doubling from
    ``base``) a 2x2 max-pool and a residual block (``down="stride"``: a stride-2 residual
    block instead) down to the bottleneck at 1/2^depth. Decoder: per level a 2x2 stride-2
    transposed conv (+BN, ReLU), the encoder's skip concatenated, a residual block. Head: 1x1
    conv to logits, softmax (exported as logits by default)."""
    _check(input_size, num_classes, depth, base)
    if down not in ("maxpool", "stride"):
        raise ModelError(f"down must be maxpool or stride, got {down}")
    L = keras.layers
    reg = keras.regularizers.l2(l2) if l2 > 0 else None
    inputs = keras.Input((*input_size, 3), name="image")
    x = residual_block(keras, inputs, base, "enc0", bn_momentum, l2)
    skips = [x]
    for level in range(1, depth + 1):
        name_l = f"enc{level}" if level < depth else "bottleneck"
        if down == "maxpool":
            x = L.MaxPooling2D(2, name=f"pool{level - 1}")(x)
            x = residual_block(keras, x, base * 2**level, name_l, bn_momentum, l2)
        else:
            x = residual_block(keras, x, base * 2**level, name_l, bn_momentum, l2, stride=2)
        skips.append(x)
    skips.pop()  # the bottleneck is not a skip
    for level in reversed(range(depth)):
        width = base * 2**level
        x = L.Conv2DTranspose(
            width,
            2,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=reg,
            name=f"up{level}",
        )(x)
        x = L.BatchNormalization(momentum=bn_momentum, name=f"up{level}_bn")(x)
        x = L.ReLU(name=f"up{level}_relu")(x)
        x = L.Concatenate(name=f"cat{level}")([x, skips[level]])
        x = residual_block(keras, x, width, f"dec{level}", bn_momentum, l2)
    x = L.Conv2D(num_classes, 1, name="head_conv", kernel_regularizer=reg)(x)
    outputs = L.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def build_unet_family(
    keras,
    input_size: tuple[int, int],
    num_classes: int,
    depth: int = 4,
    base: int = 16,
    bn_momentum: float = 0.9,
    l2: float = 1e-5,
    residual: bool = True,
    name: str = "resunet-seed",
):
    """The seed's graph: encoder of ``depth`` levels (width doubling from ``base``) with
    average-pool downsampling, a bottleneck, and a decoder with nearest-neighbour upsampling
    and concatenated skips; 1x1 conv + softmax head."""
    _check(input_size, num_classes, depth, base)
    block = residual_block if residual else double_conv_block
    L = keras.layers
    inputs = keras.Input((*input_size, 3), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = block(keras, x, base * 2**level, f"enc{level}", bn_momentum, l2)
        skips.append(x)
        x = L.AveragePooling2D(2, name=f"pool{level}")(x)
    x = block(keras, x, base * 2**depth, "bottleneck", bn_momentum, l2)
    for level in reversed(range(depth)):
        x = L.UpSampling2D(2, interpolation="nearest", name=f"up{level}")(x)
        x = L.Concatenate(name=f"cat{level}")([x, skips[level]])
        x = block(keras, x, base * 2**level, f"dec{level}", bn_momentum, l2)
    x = L.Conv2D(num_classes, 1, name="head_conv", kernel_regularizer=keras.regularizers.l2(l2) if l2 > 0 else None)(x)
    outputs = L.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


__all__ = ["build_resunet", "build_unet_family", "conv_bn_relu"]
