"""The classic U-Net (Ronneberger et al. 2015): two 3x3 conv + ReLU per block, 2x2
max-pooling down, 2x2 transposed convolution up, concatenated skips. Widths double from
``base`` (64 -> 1024 at depth 4, as in the paper); BatchNorm after each conv (the paper
predates it; without it short schedules train poorly). 'same' padding, so the output has
the input's size."""

from __future__ import annotations

from ..errors import ModelError
from .blocks import conv_bn_relu, segmentation_head


def check_divisible(input_size, step: int, what: str) -> None:
    h, w = input_size
    if h % step or w % step:
        raise ModelError(
            f"input size {h}x{w} must be divisible by {step} for {what}; "
            f"e.g. {max(step, h // step * step)}x{max(step, w // step * step)}"
        )


def double_conv(keras, x, filters, name, bn_momentum, l2):
    x = conv_bn_relu(keras, x, filters, f"{name}_a", bn_momentum=bn_momentum, l2=l2)
    return conv_bn_relu(keras, x, filters, f"{name}_b", bn_momentum=bn_momentum, l2=l2)


def unet_decoder(keras, x, skips, widths, bn_momentum=0.9, l2=0.0, prefix="dec"):
    """From the deepest feature ``x`` up through ``skips`` (deep to shallow): transposed
    conv x2, concatenate the skip, double conv."""
    L = keras.layers
    for i, (skip, width) in enumerate(zip(skips, widths)):
        x = L.Conv2DTranspose(width, 2, strides=2, padding="same", name=f"{prefix}{i}_up")(x)
        x = L.Concatenate(name=f"{prefix}{i}_cat")([x, skip])
        x = double_conv(keras, x, width, f"{prefix}{i}", bn_momentum, l2)
    return x


def build_unet(
    keras,
    input_size,
    num_classes,
    depth: int = 4,
    base: int = 64,
    bn_momentum: float = 0.9,
    l2: float = 0.0,
    name: str = "unet",
):
    if not 1 <= depth <= 6:
        raise ModelError(f"depth {depth} is out of range: use 1 to 6")
    check_divisible(input_size, 2**depth, f"unet depth {depth}")
    L = keras.layers
    inputs = keras.Input((*input_size, 3), name="image")
    x, skips = inputs, []
    for level in range(depth):
        x = double_conv(keras, x, base * 2**level, f"enc{level}", bn_momentum, l2)
        skips.append(x)
        x = L.MaxPooling2D(2, name=f"pool{level}")(x)
    x = double_conv(keras, x, base * 2**depth, "bottleneck", bn_momentum, l2)
    x = unet_decoder(keras, x, skips[::-1], [base * 2**lv for lv in reversed(range(depth))], bn_momentum, l2)
    return keras.Model(inputs, segmentation_head(keras, x, num_classes), name=name)
