"""The residual U-Net (default model) and the plain U-Net it is derived from."""

from __future__ import annotations

from ..errors import ModelError
from .blocks import double_conv_block, residual_block


def build_unet_family(keras, input_size: tuple[int, int], num_classes: int, depth: int = 4, base: int = 16,
                      bn_momentum: float = 0.9, l2: float = 1e-5, residual: bool = True, name: str = "resunet"):
    """Encoder of ``depth`` levels (width doubling from ``base``) with average-pool
    downsampling, a bottleneck, and a decoder with nearest-neighbour upsampling and
    concatenated skips; 1x1 conv + softmax head (outputs per-pixel probabilities)."""
    h, w = input_size
    if depth < 1 or depth > 6:
        raise ModelError(f"depth {depth} is out of range: use 1 to 6")
    if base < 2:
        raise ModelError(f"base width {base} is too small: use at least 2")
    if num_classes < 2:
        raise ModelError(f"a segmenter needs at least 2 classes, got {num_classes}")
    step = 2 ** depth
    if h % step or w % step:
        raise ModelError(
            f"input size {h}x{w} must be divisible by 2^depth = {step} (depth {depth}); "
            f"e.g. {max(step, h // step * step)}x{max(step, w // step * step)}"
        )
    block = residual_block if residual else double_conv_block
    L = keras.layers
    inputs = keras.Input((h, w, 3), name="image")
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
