"""Building blocks shared by the U-Net family. Every layer here is one that tfmot 0.8.1
quantizes without a custom QuantizeConfig (Conv2D, BatchNormalization, ReLU, Add,
AveragePooling2D, UpSampling2D, Concatenate, Softmax), so QAT works on every model."""

from __future__ import annotations


def _reg(keras, l2: float):
    return keras.regularizers.l2(l2) if l2 > 0 else None


def conv_bn_relu(keras, x, filters: int, name: str, kernel: int = 3, bn_momentum: float = 0.9,
                 l2: float = 0.0, relu: bool = True):
    L = keras.layers
    x = L.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_initializer="he_normal",
                 kernel_regularizer=_reg(keras, l2), name=f"{name}_conv")(x)
    x = L.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return L.ReLU(name=f"{name}_relu")(x) if relu else x


def residual_block(keras, x, filters: int, name: str, bn_momentum: float = 0.9, l2: float = 0.0):
    """conv-BN-ReLU, conv-BN, plus an identity (or 1x1 conv-BN when widths differ), ReLU."""
    L = keras.layers
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn_relu(keras, x, filters, f"{name}_proj", kernel=1, bn_momentum=bn_momentum, l2=l2, relu=False)
    y = conv_bn_relu(keras, x, filters, f"{name}_a", bn_momentum=bn_momentum, l2=l2)
    y = conv_bn_relu(keras, y, filters, f"{name}_b", bn_momentum=bn_momentum, l2=l2, relu=False)
    y = L.Add(name=f"{name}_add")([shortcut, y])
    return L.ReLU(name=f"{name}_out")(y)


def double_conv_block(keras, x, filters: int, name: str, bn_momentum: float = 0.9, l2: float = 0.0):
    """The plain U-Net block: two conv-BN-ReLU, no shortcut."""
    y = conv_bn_relu(keras, x, filters, f"{name}_a", bn_momentum=bn_momentum, l2=l2)
    return conv_bn_relu(keras, y, filters, f"{name}_b", bn_momentum=bn_momentum, l2=l2)
