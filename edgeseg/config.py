"""Shared constants and small helpers: size parsing, lazy TensorFlow import."""

from __future__ import annotations

import dataclasses
import math
import os
import re

from .errors import EdgesegError

#: Internal ignore label. Every dataset reader maps its own ignore index (CamVid 11, VOC 255)
#: to this value, so losses, metrics and letterbox padding share one convention.
IGNORE = 255

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX*,]\s*(\d+)\s*$")


def parse_size(text: str | tuple[int, int]) -> tuple[int, int]:
    """Parse ``"HxW"`` into ``(H, W)``."""
    if isinstance(text, tuple):
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise EdgesegError(f"size {text!r} is not HxW, e.g. 192x320 (height x width)")
    h, w = int(m.group(1)), int(m.group(2))
    if h < 8 or w < 8:
        raise EdgesegError(f"size {h}x{w} is too small: height and width must be at least 8")
    return h, w


def format_size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def finite_or_none(value) -> float | None:
    """``value`` as a float when it is a finite number (or its text), else None: how tables
    read a cell that may be empty, a word, nan or inf."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def is_finite_number(value) -> bool:
    """Whether :func:`finite_or_none` reads ``value`` as a number (not None, "", a word, nan or inf)."""
    return finite_or_none(value) is not None


def import_tf():
    """Import TensorFlow with the legacy tf_keras backend (tfmot needs it).

    Kept lazy so that the CLI help, device and report commands never load TensorFlow.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def import_keras():
    """Return the ``tf_keras`` module (Keras 2 API) used to build every model."""
    import_tf()
    import tf_keras

    return tf_keras


def option(default, help: str, **cli):
    """A config field that is also a command-line option: its default, its help and how the
    CLI parses it (``choices``, ``kind`` int/float/bool, ``min``/``max``/``min_open``/
    ``max_open``, ``size`` for HxW, ``flag`` for another option name, ``metavar`` for the value's
    name in ``--help``) live with the field, so
    a config built in Python and the command line share one default."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **cli})
    return dataclasses.field(default=default, metadata={"help": help, **cli})
