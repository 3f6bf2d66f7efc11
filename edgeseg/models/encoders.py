"""U-Nets on classic encoders: the encoder's own architecture (tf_keras.applications,
``include_top=False``) as the contracting path, skips from its stage outputs, a U-Net
decoder (transposed conv x2, concat, double conv).

The skip layers are data (:data:`ENCODERS`): for each encoder the layer names whose outputs
are at strides 1/2/4/8/16 (shallow to deep) and the bottleneck. ``encoder_weights`` is a
local .h5 of the application's no-top weights (loaded by layer name), or ``"imagenet"`` to
let Keras download them where the network allows; none of the tests download anything.
ImageNet weights expect the application's own input preprocessing; edgeseg feeds [0,1]
pixels, so fine-tuning (the default) adapts the first layers.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from .blocks import segmentation_head
from .unet import check_divisible, double_conv, unet_decoder

#: name -> (keras.applications constructor, skip layers shallow to deep, bottleneck layer, stride of bottleneck)
ENCODERS = {
    "vgg16": ("VGG16", ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3"], "block5_conv3", 16),
    "resnet50": (
        "ResNet50",
        ["conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out"],
        "conv5_block3_out",
        32,
    ),
    "densenet121": ("DenseNet121", ["conv1/relu", "pool2_relu", "pool3_relu", "pool4_relu"], "relu", 32),
    "mobilenetv2": (
        "MobileNetV2",
        ["block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu"],
        "out_relu",
        32,
    ),
}
DECODER_WIDTHS = (256, 128, 64, 32, 16)


def build_encoder_unet(
    keras,
    input_size,
    num_classes,
    encoder: str = "mobilenetv2",
    encoder_weights=None,
    freeze_encoder: bool = False,
    decoder_base: int = 16,
    bn_momentum: float = 0.9,
    l2: float = 0.0,
    alpha: float = 1.0,
    name: str | None = None,
):
    if encoder not in ENCODERS:
        raise ModelError(f"unknown encoder '{encoder}'; choose from {', '.join(ENCODERS)}")
    ctor, skip_names, bottleneck, stride = ENCODERS[encoder]
    check_divisible(input_size, stride, f"the {encoder} encoder")
    weights = None
    if encoder_weights:
        if encoder_weights != "imagenet" and not Path(encoder_weights).is_file():
            raise ModelError(
                f"--encoder-weights {encoder_weights} is not a file; pass the Keras no-top .h5 of "
                f"{ctor} (or 'imagenet' to download it)"
            )
        weights = "imagenet" if encoder_weights == "imagenet" else None
    inputs = keras.Input((*input_size, 3), name="image")
    kwargs = {"alpha": alpha} if encoder == "mobilenetv2" else {}
    app = getattr(keras.applications, ctor)(include_top=False, weights=weights, input_tensor=inputs, **kwargs)
    if encoder_weights and weights is None:
        app.load_weights(str(encoder_weights), by_name=True, skip_mismatch=True)
    # keras.applications build BatchNormalization with momentum 0.999 (MobileNetV2) or 0.99:
    # tuned for ImageNet-length schedules. From scratch on a small dataset, 0.999 leaves the
    # moving statistics near their initial values for hundreds of steps and validation
    # (inference-mode BN) collapses to one class (measured: CamVid val mIoU 0.03 after 4
    # epochs while the training loss fell). The encoder uses the model's bn_momentum instead.
    for layer in app.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    if freeze_encoder:
        for layer in app.layers:
            layer.trainable = False
    skips = [app.get_layer(n).output for n in skip_names]
    x = app.get_layer(bottleneck).output
    # the decoder climbs from the bottleneck stride back to full resolution
    levels = {16: 4, 32: 5}[stride]
    widths = [decoder_base * 2**i for i in reversed(range(levels))]
    skips_deep_first = skips[::-1]
    if levels == 5:
        x = unet_decoder(keras, x, skips_deep_first, widths[:4], bn_momentum, l2)
        L = keras.layers
        x = L.Conv2DTranspose(widths[4], 2, strides=2, padding="same", name="dec4_up")(x)
        x = double_conv(keras, x, widths[4], "dec4", bn_momentum, l2)
    else:
        x = unet_decoder(keras, x, skips_deep_first, widths, bn_momentum, l2)
    return keras.Model(inputs, segmentation_head(keras, x, num_classes), name=name or f"unet-{encoder}")
