"""The post-train adaptive (PTA) U-Net: a MobileNetV2-style encoder with three PTA blocks,
a U-Net decoder, trained once and switched between configurations at run time.

A PTA block has a light branch (one inverted residual) and a heavy branch (two in a row);
each block runs ``L`` (light), ``H`` (heavy) or ``B`` (both, averaged), so a configuration
is a 3-letter string such as ``HLH``. Training samples one configuration per step
(:data:`TRAIN_DISTRIBUTION`, the seed's: HHH 0.45, LHH/HLH/HHL 0.15 each, LLL 0.10; another
with ``edgeseg train --pta-sampling``).

Going past the seed (whose lightest and heaviest configurations differ by about 3% in
latency): the light branch here is a cheap block (expansion ``light_expansion`` = 1: a 3x3
depthwise + 1x1 project, no expand conv) while the heavy branch is two full t=6 blocks;
the PTA blocks sit on the high-resolution stages (strides 4, 8, 16), where a t=6 block
costs the most, and the decoder uses depthwise-separable convolutions so that it does not
swamp the difference.

Every layer is created once in a :class:`LayerBank`; the training model (with
:class:`BranchMix` layers whose weights select the branches) and each configuration's
inference graph call the same layer objects, so they share weights. Exporting several
configurations as one .tflite with a signature each is in :mod:`edgeseg.quantize.pta_export`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ..config import option
from ..errors import ModelError
from .hooks import TrainingHooks
from .unet import check_divisible

TRAIN_DISTRIBUTION = {"HHH": 0.45, "LHH": 0.15, "HLH": 0.15, "HHL": 0.15, "LLL": 0.10}
ALL_CONFIGS = ["".join(c) for c in itertools.product("LHB", repeat=3)]
N_BLOCKS = 3


def check_config(cfg: str) -> str:
    cfg = cfg.upper()
    if len(cfg) != N_BLOCKS or set(cfg) - set("LHB"):
        raise ModelError(f"PTA configuration '{cfg}' must be {N_BLOCKS} letters of L (light), H (heavy), B (both)")
    return cfg


def sample_configs(n: int, seed: int, distribution=TRAIN_DISTRIBUTION) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    keys = list(distribution)
    p = np.array([distribution[k] for k in keys], dtype=np.float64)
    return [keys[i] for i in rng.choice(len(keys), size=n, p=p / p.sum())]


def parse_distribution(text: str | None) -> dict[str, float]:
    """``"HHH:0.3,LLL:0.3,HLH:0.4"`` -> a normalised sampling distribution; ``None`` or
    ``"seed"`` -> :data:`TRAIN_DISTRIBUTION`."""
    if text is None or text.strip().lower() == "seed":
        return dict(TRAIN_DISTRIBUTION)
    out: dict[str, float] = {}
    for item in text.split(","):
        cfg, sep, weight = item.partition(":")
        if not sep:
            raise ModelError(f"PTA sampling item '{item}' must be CONFIG:WEIGHT, e.g. HHH:0.45,LLL:0.25")
        cfg = check_config(cfg.strip())
        try:
            w = float(weight)
        except ValueError:
            raise ModelError(f"PTA sampling weight '{weight}' of {cfg} is not a number") from None
        if not math.isfinite(w) or w < 0:
            raise ModelError(f"PTA sampling weight of {cfg} must be >= 0, got {weight}")
        if cfg in out:
            raise ModelError(f"PTA sampling names {cfg} twice")
        out[cfg] = w
    total = sum(out.values())
    if total <= 0:
        raise ModelError("PTA sampling weights sum to 0: give at least one configuration a positive weight")
    return {k: v / total for k, v in out.items() if v > 0}


def branch_weights(letter: str) -> tuple[float, float]:
    return {"L": (1.0, 0.0), "H": (0.0, 1.0), "B": (0.5, 0.5)}[letter]


class LayerBank:
    """Creates each named layer once; later calls return the same object."""

    def __init__(self, keras):
        self.keras = keras
        self.layers: dict = {}

    def __call__(self, name: str, factory):
        if name not in self.layers:
            self.layers[name] = factory()
        return self.layers[name]


def branch_mix_class(keras):
    class BranchMix(keras.layers.Layer):
        """w[0] * light + w[1] * heavy with non-trainable w, set per training step."""

        def build(self, input_shape):
            self.w = self.add_weight(
                name="w", shape=(2,), initializer=keras.initializers.Constant([0.0, 1.0]), trainable=False
            )

        def call(self, inputs):
            light, heavy = inputs
            return self.w[0] * light + self.w[1] * heavy

    return BranchMix


def _ir(bank, x, t, c, s, name, training, bn_momentum=0.9):
    """Inverted residual through the bank (same structure as blocks.inverted_residual)."""
    L = bank.keras.layers
    cin = x.shape[-1]
    y = x
    if t != 1:
        y = bank(f"{name}_expand", lambda: L.Conv2D(cin * t, 1, use_bias=False, name=f"{name}_expand"))(y)
        y = bank(f"{name}_expand_bn", lambda: L.BatchNormalization(momentum=bn_momentum, name=f"{name}_expand_bn"))(
            y, training=training
        )
        y = bank(f"{name}_expand_relu", lambda: L.ReLU(6.0, name=f"{name}_expand_relu"))(y)
    y = bank(f"{name}_dw", lambda: L.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False, name=f"{name}_dw"))(
        y
    )
    y = bank(f"{name}_dw_bn", lambda: L.BatchNormalization(momentum=bn_momentum, name=f"{name}_dw_bn"))(
        y, training=training
    )
    y = bank(f"{name}_dw_relu", lambda: L.ReLU(6.0, name=f"{name}_dw_relu"))(y)
    y = bank(f"{name}_project", lambda: L.Conv2D(c, 1, use_bias=False, name=f"{name}_project"))(y)
    y = bank(f"{name}_project_bn", lambda: L.BatchNormalization(momentum=bn_momentum, name=f"{name}_project_bn"))(
        y, training=training
    )
    if s == 1 and cin == c:
        y = bank(f"{name}_add", lambda: L.Add(name=f"{name}_add"))([x, y])
    return y


def _cbr(bank, x, c, name, training, k=3):
    """Decoder block: depthwise-separable 3x3 (depthwise + BN + ReLU, 1x1 + BN + ReLU), so
    that the decoder does not dominate the MACs and the PTA blocks' choice matters."""
    L = bank.keras.layers
    x = bank(f"{name}_dw", lambda: L.DepthwiseConv2D(k, padding="same", use_bias=False, name=f"{name}_dw"))(x)
    x = bank(f"{name}_dw_bn", lambda: L.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn"))(x, training=training)
    x = bank(f"{name}_dw_relu", lambda: L.ReLU(name=f"{name}_dw_relu"))(x)
    x = bank(f"{name}_conv", lambda: L.Conv2D(c, 1, use_bias=False, name=f"{name}_conv"))(x)
    x = bank(f"{name}_bn", lambda: L.BatchNormalization(momentum=0.9, name=f"{name}_bn"))(x, training=training)
    return bank(f"{name}_relu", lambda: L.ReLU(name=f"{name}_relu"))(x)


#: encoder: (t, c, n, s) MobileNetV2 stages; the stages marked True end with a PTA block.
PTA_STAGES = (
    (1, 16, 1, 1, False),
    (6, 24, 1, 2, True),
    (6, 32, 1, 2, True),
    (6, 64, 1, 2, True),
    (6, 96, 1, 1, False),
    (6, 160, 1, 2, False),
)


def pta_forward(
    bank, inputs, num_classes: int, config: str | None, light_expansion: int = 1, training=None, decoder_base: int = 16
):
    """The PTA U-Net graph. ``config=None`` builds the training graph (both branches through
    BranchMix); a config string builds only the branches it uses."""
    L = bank.keras.layers
    x = bank("stem_conv", lambda: L.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv"))(inputs)
    x = bank("stem_bn", lambda: L.BatchNormalization(momentum=0.9, name="stem_bn"))(x, training=training)
    x = bank("stem_relu", lambda: L.ReLU(6.0, name="stem_relu"))(x)
    skips = {2: x}
    stride, k, p = 2, 0, 0
    for t, c, n, s, pta in PTA_STAGES:
        for i in range(n):
            x = _ir(bank, x, t, c, s if i == 0 else 1, f"b{k}", training)
            stride *= s if i == 0 else 1
            k += 1
        if pta:
            letter = config[p] if config else None
            outs = {}
            if letter in (None, "L", "B"):
                outs["L"] = _ir(bank, x, light_expansion, c, 1, f"pta{p}_light", training)
            if letter in (None, "H", "B"):
                h = _ir(bank, x, 6, c, 1, f"pta{p}_heavy0", training)
                outs["H"] = _ir(bank, h, 6, c, 1, f"pta{p}_heavy1", training)
            if letter is None:
                mix_cls = branch_mix_class(bank.keras)
                x = bank(f"pta{p}_mix", lambda: mix_cls(name=f"pta{p}_mix"))([outs["L"], outs["H"]])
            elif letter == "B":
                x = bank(f"pta{p}_avg", lambda: L.Average(name=f"pta{p}_avg"))([outs["L"], outs["H"]])
            else:
                x = outs[letter]
            p += 1
        skips[stride] = x
    widths = {16: decoder_base * 8, 8: decoder_base * 4, 4: decoder_base * 2, 2: decoder_base}
    for st in (16, 8, 4, 2):
        x = bank(f"up{st}", lambda: L.Conv2DTranspose(widths[st], 2, strides=2, padding="same", name=f"up{st}"))(x)
        x = bank(f"cat{st}", lambda: L.Concatenate(name=f"cat{st}"))([x, skips[st]])
        x = _cbr(bank, x, widths[st], f"dec{st}_a", training)
        x = _cbr(bank, x, widths[st], f"dec{st}_b", training)
    # Logits at stride 2, then a bilinear x2 resize: a full-resolution decoder stage (transpose
    # conv + block + head at HxW) would cost ~52 M MACs at 256x256 in every configuration and
    # shrink the light/heavy gap from 34% to 29% of the heaviest configuration.
    x = bank("head_conv", lambda: L.Conv2D(num_classes, 1, name="head_conv"))(x)
    x = bank("head_upsample", lambda: L.UpSampling2D(2, interpolation="bilinear", name="head_upsample"))(x)
    return bank("probabilities", lambda: L.Softmax(name="probabilities"))(x)


def build_unet_pta(
    keras, input_size, num_classes, light_expansion: int = 1, decoder_base: int = 16, name: str = "unet-pta"
):
    """The training model (both branches, BranchMix). Its ``pta_bank`` attribute holds the
    layers; :func:`config_model` builds a configuration's inference model from them."""
    check_divisible(input_size, 32, "unet-pta")
    bank = LayerBank(keras)
    inputs = keras.Input((*input_size, 3), name="image")
    model = keras.Model(
        inputs, pta_forward(bank, inputs, num_classes, None, light_expansion, decoder_base=decoder_base), name=name
    )
    model.pta_bank = bank
    model.pta_options = {"light_expansion": light_expansion, "decoder_base": decoder_base, "classes": num_classes}
    return model


def config_model(model, config: str):
    """A Keras model running only ``config``'s branches, sharing ``model``'s weights."""
    config = check_config(config)
    keras = model.pta_bank.keras
    o = model.pta_options
    inputs = keras.Input(model.input.shape[1:], name="image")
    out = pta_forward(
        model.pta_bank,
        inputs,
        o["classes"],
        config,
        o["light_expansion"],
        training=False,
        decoder_base=o["decoder_base"],
    )
    return keras.Model(inputs, out, name=f"{model.name}_{config}")


def set_config(model, config: str) -> None:
    """Point every BranchMix of the training model at ``config`` (used per training step)."""
    config = check_config(config)
    for p, letter in enumerate(config):
        model.get_layer(f"pta{p}_mix").w.assign(branch_weights(letter))


# -- training: the configuration sampler, as the model's row hooks it into the training loop ------


@dataclass(frozen=True)
class PtaTrainOptions:
    """unet-pta's own `edgeseg train` options."""

    pta_sampling: str | None = option(
        None,
        "unet-pta: configurations sampled per training step, CONFIG:WEIGHT,... "
        "(default: the seed's HHH:0.45,LHH:0.15,HLH:0.15,HHL:0.15,LLL:0.10).",
    )


def pta_sampler(keras, model, seed: int, distribution: dict[str, float]):
    """Samples a PTA configuration per training step from ``distribution`` and sets HHH,
    the heaviest, before each epoch's validation."""

    class PtaSampler(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.configs = sample_configs(100_000, seed * 1000 + epoch, distribution)

        def on_train_batch_begin(self, batch, logs=None):
            set_config(model, self.configs[batch % len(self.configs)])

        def on_epoch_end(self, epoch, logs=None):
            set_config(model, "HHH")

    return PtaSampler()


#: unet-pta's row in the training loop: the sampling distribution is its state
PTA_TRAINING = TrainingHooks(
    options=PtaTrainOptions,
    prepare=lambda given: parse_distribution(given.get("pta_sampling")),
    comparable=lambda name, value: {k: round(v, 9) for k, v in parse_distribution(value).items()},
    callbacks=lambda keras, model, seed, state: [pta_sampler(keras, model, seed, state)],
)
