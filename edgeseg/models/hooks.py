"""What a model adds to the generic training loop, on its registry row (ModelSpec.training):
its own training options (a dataclass of ``option`` fields: CLI flags and defaults), how their
values become the run's state before any data is read, how two runs' values compare on
--resume, and the Keras callbacks that use the state. The training loop knows no model by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class TrainingHooks:
    #: a dataclass of ``edgeseg.config.option`` fields: the model's own `edgeseg train` options
    options: type
    #: ``{option: value}`` -> the run's state (checked before any data is read; ModelError if bad)
    prepare: Callable[[dict], object]
    #: ``(option, value)`` -> a form in which values of equal meaning compare equal (resume)
    comparable: Callable[[str, object], object]
    #: ``(keras, model, seed, state)`` -> callbacks for fit
    callbacks: Callable[..., list]

    def option_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.options))
