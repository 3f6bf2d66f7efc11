"""The table of models: CLI choices and run configs are read from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import import_keras, option
from ..errors import ModelError
from .deeplab import build_deeplabv3plus
from .encoders import build_encoder_unet
from .hooks import TrainingHooks
from .pta import PTA_TRAINING, build_unet_pta
from .resunet import build_resunet, build_unet_family
from .unet import build_unet
from .unetpp import build_unetpp


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable
    defaults: dict = field(default_factory=dict)
    input_size: tuple[int, int] = (192, 320)  # default input (H, W)
    stride: int = 16  # the input must be divisible by this
    loss: str = "ce"  # the training loss the model is meant for
    notes: str = ""
    #: why a mixed precision (a float32 head cloned in) cannot train this model; "" where it can
    no_mixed_precision: str = ""
    #: what the model adds to the training loop (its own options, state, callbacks), or None
    training: TrainingHooks | None = None
    #: why its graph cannot train at other input sizes (`train --progressive`); "" where it can
    fixed_size: str = ""


def _encoder_spec(encoder: str, note: str) -> ModelSpec:
    from .encoders import ENCODERS

    return ModelSpec(
        f"unet-{encoder}",
        f"U-Net decoder on the {encoder} encoder (tf_keras.applications, no classifier)",
        lambda keras, size, n, **kw: build_encoder_unet(keras, size, n, encoder=encoder, **kw),
        {"encoder_weights": None, "freeze_encoder": False, "decoder_base": 16, "bn_momentum": 0.9, "l2": 0.0},
        (192, 256),
        ENCODERS[encoder][3],
        "ce",
        note,
    )


#: The model `edgeseg train` builds when none is named.
DEFAULT_MODEL = "resunet"

MODELS: dict[str, ModelSpec] = {
    "resunet": ModelSpec(
        "resunet",
        "residual U-Net: max-pool down, transposed conv up (default; one XNNPACK partition in int8)",
        build_resunet,
        {"depth": 4, "base": 16, "bn_momentum": 0.9, "l2": 1e-5, "down": "maxpool"},
        (192, 320),
        16,
        "ohem",
        "delegate-clean: only ops XNNPACK, GPU and NNAPI take; every layer QAT-wrappable",
    ),
    "resunet-seed": ModelSpec(
        "resunet-seed",
        "the seed's residual U-Net: average-pool down, nearest up (int8: 9 XNNPACK partitions)",
        lambda keras, size, n, **kw: build_unet_family(keras, size, n, residual=True, name="resunet-seed", **kw),
        {"depth": 4, "base": 16, "bn_momentum": 0.9, "l2": 1e-5},
        (192, 320),
        16,
        "ce",
        "2.08 M params at base 16; kept for comparison with the default",
    ),
    "unet": ModelSpec(
        "unet",
        "classic U-Net: double 3x3 conv blocks, max-pool down, transposed conv up (Ronneberger 2015)",
        build_unet,
        {"depth": 4, "base": 64, "bn_momentum": 0.9, "l2": 0.0},
        (192, 320),
        16,
        "ce",
        "base 64 -> 1024 as in the paper (31 M params); --base 16 for phones",
    ),
    "unetpp": ModelSpec(
        "unetpp",
        "U-Net++: nested dense skips, optional deep supervision (Zhou 2018)",
        build_unetpp,
        {"depth": 4, "base": 32, "bn_momentum": 0.9, "l2": 0.0, "deep_supervision": False},
        (192, 320),
        16,
        "ce",
        "deep supervision averages the logits of 4 heads",
    ),
    "deeplabv3plus": ModelSpec(
        "deeplabv3plus",
        "DeepLabV3+ on MobileNetV2: atrous backbone, ASPP, low-level decoder (Chen 2018)",
        build_deeplabv3plus,
        {"output_stride": 16, "rates": [6, 12, 18], "width": 1.0, "aspp_filters": 256, "bn_momentum": 0.9, "l2": 0.0},
        (192, 320),
        32,
        "ce",
        "bilinear upsampling (see `edgeseg info --delegates` for its NNAPI note)",
        fixed_size="its ASPP image pooling is sized to the input",
    ),
    "unet-vgg16": _encoder_spec("vgg16", "14.7 M encoder params; skips at strides 1..8"),
    "unet-resnet50": _encoder_spec("resnet50", "23.6 M encoder params"),
    "unet-densenet121": _encoder_spec("densenet121", "7.0 M encoder params"),
    "unet-mobilenetv2": _encoder_spec("mobilenetv2", "2.3 M encoder params; the seed's PTA base"),
    "unet-pta": ModelSpec(
        "unet-pta",
        "post-train adaptive U-Net: MobileNetV2 encoder with 3 PTA blocks (light/heavy/both)",
        build_unet_pta,
        {"light_expansion": 1, "decoder_base": 16},
        (256, 256),
        32,
        "dice",
        "trained with sampled configurations; export several with `edgeseg quantize --pta-configs`",
        no_mixed_precision="its configuration bank is not cloned with a float32 head",
        training=PTA_TRAINING,
        fixed_size="its configuration bank is built at the input size",
    ),
}


def model_config(name: str, **overrides) -> dict:
    if name not in MODELS:
        raise ModelError(f"unknown model '{name}'; choose from {', '.join(MODELS)}")
    cfg = dict(MODELS[name].defaults)
    unknown = [k for k in overrides if k not in cfg]
    if unknown:
        raise ModelError(f"model '{name}' has no option '{unknown[0]}'; options: {', '.join(cfg)}")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg


def build_model(name: str, input_size: tuple[int, int], num_classes: int, config: dict | None = None):
    keras = import_keras()
    cfg = model_config(name, **(config or {}))
    return MODELS[name].build(keras, tuple(input_size), num_classes, **cfg)


@dataclass(frozen=True)
class ModelOptions:
    """The model options `edgeseg train` takes (a run's ``model_options``): None leaves the
    model's own default (its row's ``defaults``)."""

    depth: int | None = option(None, "Encoder levels (default 4).", min=1, max=6)
    base: int | None = option(None, "Width of the first level (default 16).", min=2)
    l2: float | None = option(None, "L2 weight decay on conv kernels (default 1e-5).", min=0)
    encoder_weights: str | None = option(
        None, "unet-<encoder>: local .h5 of the encoder's no-top weights, or 'imagenet' (Keras download)."
    )
    freeze_encoder: bool = option(False, "unet-<encoder>: train the decoder only.")


def training_options() -> dict[str, list[str]]:
    """Every model-specific training option -> the models whose rows take it."""
    out: dict[str, list[str]] = {}
    for name, spec in MODELS.items():
        for opt in spec.training.option_names() if spec.training else ():
            out.setdefault(opt, []).append(name)
    return out


def training_option_classes() -> tuple[type, ...]:
    """The option dataclasses of the rows' training hooks (the CLI makes their options)."""
    return tuple(dict.fromkeys(s.training.options for s in MODELS.values() if s.training))
