"""What every command returns: a frozen typed result whose ``data`` is the whole record (what
``--json`` prints), and the ``say`` callback type the commands report progress through."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

#: How a command reports progress: one line of text at a time.
Say = Callable[[str], None]


def _quiet(_message: str) -> None:
    """The default ``say``: library calls print nothing unless asked."""


@dataclass(frozen=True)
class Result:
    """A command's result. ``data`` is the whole record (what ``--json`` prints); the typed
    fields are the parts a caller usually wants."""

    data: dict = field(repr=False)

    def to_dict(self) -> dict:
        return dict(self.data)


def _pick(cls, data: dict, **extra):
    """``cls`` from the record ``data``: each typed field its key of ``data``."""
    names = {f.name for f in dataclasses.fields(cls)} - {"data"}
    return cls(data=data, **{k: data.get(k) for k in names if k not in extra}, **extra)
