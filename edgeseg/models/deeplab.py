"""DeepLabV3+ (Chen et al. 2018) on a MobileNetV2 backbone: the backbone's last stages run
atrous instead of strided for output stride 16 or 8, ASPP (1x1, three 3x3 atrous convs at
``rates``, image pooling), and a decoder that fuses the 1/4-resolution low-level features.
Upsampling is bilinear as in the paper. Image pooling is an AveragePooling2D over the
whole feature map plus a nearest upsample (no Lambda, so tfmot QAT wraps every layer)."""

from __future__ import annotations

from ..errors import ModelError
from .blocks import conv_bn_relu, inverted_residual, segmentation_head
from .unet import check_divisible

#: MobileNetV2 stages: (expansion t, width c, repeats n, stride s), Sandler et al. 2018, Table 2.
MOBILENETV2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenetv2_backbone(
    keras, x, output_stride: int = 32, width: float = 1.0, bn_momentum: float = 0.9, prefix: str = "mnv2"
):
    """Returns ``(features, {stride: tensor})`` with the last tensor at each stride."""
    L = keras.layers
    c = max(8, int(32 * width))
    x = L.Conv2D(c, 3, strides=2, padding="same", use_bias=False, name=f"{prefix}_stem")(x)
    x = L.BatchNormalization(momentum=bn_momentum, name=f"{prefix}_stem_bn")(x)
    x = L.ReLU(6.0, name=f"{prefix}_stem_relu")(x)
    stride, dilation, taps, k = 2, 1, {2: x}, 0
    for t, ch, n, s in MOBILENETV2_STAGES:
        for i in range(n):
            st = s if i == 0 else 1
            if st == 2 and stride >= output_stride:
                st, dilation = 1, dilation * 2 if i == 0 else dilation
            x = inverted_residual(
                keras,
                x,
                t,
                max(8, int(ch * width)),
                st,
                f"{prefix}_b{k}",
                dilation=dilation if st == 1 else 1,
                bn_momentum=bn_momentum,
            )
            stride *= st
            taps[stride] = x
            k += 1
    return x, taps


def build_deeplabv3plus(
    keras,
    input_size,
    num_classes,
    output_stride: int = 16,
    rates=(6, 12, 18),
    width: float = 1.0,
    aspp_filters: int = 256,
    bn_momentum: float = 0.9,
    l2: float = 0.0,
    name: str = "deeplabv3plus",
):
    if output_stride not in (8, 16):
        raise ModelError(f"output stride {output_stride} is not supported: use 8 or 16")
    check_divisible(input_size, output_stride * 2, f"deeplabv3plus output stride {output_stride}")
    L = keras.layers
    inputs = keras.Input((*input_size, 3), name="image")
    feats, taps = mobilenetv2_backbone(keras, inputs, output_stride, width, bn_momentum)
    fh, fw = input_size[0] // output_stride, input_size[1] // output_stride
    scale = 16 // output_stride  # the paper's rates are for OS 16; OS 8 doubles them
    branches = [conv_bn_relu(keras, feats, aspp_filters, "aspp0", kernel=1, bn_momentum=bn_momentum, l2=l2)]
    for i, r in enumerate(rates, 1):
        y = L.Conv2D(aspp_filters, 3, padding="same", dilation_rate=r * scale, use_bias=False, name=f"aspp{i}_conv")(
            feats
        )
        y = L.BatchNormalization(momentum=bn_momentum, name=f"aspp{i}_bn")(y)
        branches.append(L.ReLU(name=f"aspp{i}_relu")(y))
    pool = L.AveragePooling2D((fh, fw), name="aspp_pool")(feats)
    pool = conv_bn_relu(keras, pool, aspp_filters, "aspp_pool_proj", kernel=1, bn_momentum=bn_momentum, l2=l2)
    branches.append(L.UpSampling2D((fh, fw), interpolation="nearest", name="aspp_pool_up")(pool))
    x = L.Concatenate(name="aspp_cat")(branches)
    x = conv_bn_relu(keras, x, aspp_filters, "aspp_proj", kernel=1, bn_momentum=bn_momentum, l2=l2)
    x = L.UpSampling2D(output_stride // 4, interpolation="bilinear", name="dec_up")(x)
    low = conv_bn_relu(keras, taps[4], 48, "dec_low", kernel=1, bn_momentum=bn_momentum, l2=l2)
    x = L.Concatenate(name="dec_cat")([x, low])
    x = conv_bn_relu(keras, x, aspp_filters, "dec_a", bn_momentum=bn_momentum, l2=l2)
    x = conv_bn_relu(keras, x, aspp_filters, "dec_b", bn_momentum=bn_momentum, l2=l2)
    x = L.Conv2D(num_classes, 1, name="head_conv")(x)
    x = L.UpSampling2D(4, interpolation="bilinear", name="head_up")(x)
    return keras.Model(inputs, L.Softmax(name="probabilities")(x), name=name)


__all__ = ["build_deeplabv3plus", "mobilenetv2_backbone", "segmentation_head"]
