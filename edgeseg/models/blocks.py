"""Building blocks shared by the U-Net family. Every layer here is one that tfmot 0.8.1
quantizes without a custom QuantizeConfig (Conv2D, BatchNormalization, ReLU, Add,
AveragePooling2D, UpSampling2D, Concatenate, Softmax; Conv2DTranspose too), so QAT works on
every model."""

from __future__ import annotations


def _reg(keras, l2: float):
    return keras.regularizers.l2(l2) if l2 > 0 else None


def conv_bn_relu(
    keras,
    x,
    filters: int,
    name: str,
    kernel: int = 3,
    bn_momentum: float = 0.9,
    l2: float = 0.0,
    relu: bool = True,
    stride: int = 1,
):
    L = keras.layers
    x = L.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=_reg(keras, l2),
        name=f"{name}_conv",
    )(x)
    x = L.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return L.ReLU(name=f"{name}_relu")(x) if relu else x


def residual_block(keras, x, filters: int, name: str, bn_momentum: float = 0.9, l2: float = 0.0, stride: int = 1):
    """conv-BN-ReLU, conv-BN, plus an identity (or 1x1 conv-BN when widths differ), ReLU.
    ``stride`` 2 halves the resolution: a stride-2 first conv, and on the shortcut a 2x2
    max-pool before the 1x1 projection (as ResNet-D pools before projecting). Not a
    stride-2 1x1 conv: TF 2.21's oneDNN kernels corrupt the heap training one (measured: a
    lone Conv2D(16, 1, strides=2) on 64x96x8 inputs aborts in fit)."""
    L = keras.layers
    shortcut = x
    if stride != 1:
        shortcut = L.MaxPooling2D(stride, name=f"{name}_pool")(shortcut)
    if x.shape[-1] != filters:
        shortcut = conv_bn_relu(
            keras, shortcut, filters, f"{name}_proj", kernel=1, bn_momentum=bn_momentum, l2=l2, relu=False
        )
    y = conv_bn_relu(keras, x, filters, f"{name}_a", bn_momentum=bn_momentum, l2=l2, stride=stride)
    y = conv_bn_relu(keras, y, filters, f"{name}_b", bn_momentum=bn_momentum, l2=l2, relu=False)
    y = L.Add(name=f"{name}_add")([shortcut, y])
    return L.ReLU(name=f"{name}_out")(y)


def double_conv_block(keras, x, filters: int, name: str, bn_momentum: float = 0.9, l2: float = 0.0):
    """The plain U-Net block: two conv-BN-ReLU, no shortcut."""
    y = conv_bn_relu(keras, x, filters, f"{name}_a", bn_momentum=bn_momentum, l2=l2)
    return conv_bn_relu(keras, y, filters, f"{name}_b", bn_momentum=bn_momentum, l2=l2)


def inverted_residual(
    keras, x, expansion: int, filters: int, stride: int, name: str, dilation: int = 1, bn_momentum: float = 0.9
):
    """MobileNetV2 inverted residual: 1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1
    linear project; identity shortcut when shape is kept. ``dilation`` > 1 keeps the
    resolution (atrous) instead of striding."""
    L = keras.layers
    cin = x.shape[-1]
    y = x
    if expansion != 1:
        y = L.Conv2D(cin * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
        y = L.BatchNormalization(momentum=bn_momentum, name=f"{name}_expand_bn")(y)
        y = L.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = L.DepthwiseConv2D(3, strides=stride, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_dw")(
        y
    )
    y = L.BatchNormalization(momentum=bn_momentum, name=f"{name}_dw_bn")(y)
    y = L.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = L.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = L.BatchNormalization(momentum=bn_momentum, name=f"{name}_project_bn")(y)
    if stride == 1 and cin == filters:
        y = L.Add(name=f"{name}_add")([x, y])
    return y


def segmentation_head(keras, x, num_classes: int, name: str = "head_conv"):
    """1x1 conv to class logits followed by the Softmax every registry model ends with."""
    L = keras.layers
    x = L.Conv2D(num_classes, 1, name=name)(x)
    return L.Softmax(name="probabilities")(x)
