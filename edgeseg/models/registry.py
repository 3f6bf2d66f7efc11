"""The table of models: CLI choices and run configs are read from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..config import import_keras
from ..errors import ModelError
from .resunet import build_unet_family


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable
    defaults: dict = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "resunet": ModelSpec(
        "resunet", "U-Net with residual blocks, average-pool down, nearest up (default)",
        lambda keras, size, n, **kw: build_unet_family(keras, size, n, residual=True, name="resunet", **kw),
        {"depth": 4, "base": 16, "bn_momentum": 0.9, "l2": 1e-5},
    ),
    "unet": ModelSpec(
        "unet", "plain U-Net (double conv blocks, no shortcuts), same down/up path as resunet",
        lambda keras, size, n, **kw: build_unet_family(keras, size, n, residual=False, name="unet", **kw),
        {"depth": 4, "base": 16, "bn_momentum": 0.9, "l2": 1e-5},
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
