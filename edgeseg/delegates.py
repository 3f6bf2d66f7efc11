"""The delegates edgeseg knows: one row each, read by every place that needs to know one.

A row says how each part of edgeseg treats the delegate: the flags benchmark_model gets when
a device profile lists the delegate without ``flags`` (:mod:`edgeseg.device.runners`), how
the LiteRT interpreter runs it on the host and in the Python board runner
(:mod:`edgeseg.runtime.hostbench`, :mod:`edgeseg.runner`), which device runner runs it when
the profile does not say, and what the delegate lint predicts it with
(:mod:`edgeseg.quantize.lint`). A device profile may still name delegates that are not
rows here (e.g. ``hexagon`` with its own flags): they run with the profile's flags and
the defaults of :class:`Delegate`.

A new delegate is one row in :data:`DELEGATES`. This is a bottom-layer module: it imports
only the standard library (edgeseg.errors and edgeseg.config at most, should it need them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

#: How the LiteRT interpreter can run a delegate (``Delegate.interpreter``): its builtin
#: kernels only (no default delegate), or with its default delegate (XNNPACK).
INTERPRETER_KERNELS = ("builtin", "default")


@dataclass(frozen=True)
class Delegate:
    name: str
    title: str  # how messages name it, e.g. "NNAPI"
    description: str
    #: benchmark_model flags for a profile delegate of this name that gives no ``flags``
    flags: tuple[str, ...] = ()
    #: how the LiteRT interpreter runs it ("builtin" or "default", see INTERPRETER_KERNELS);
    #: None: the interpreter cannot, so neither the host nor the Python board runner can
    interpreter: str | None = None
    #: the host bench's default delegate (the first one the host lists)
    host_default: bool = False
    #: False when nothing is delegated (the builtin kernels run every node): the row is
    #: ``ok`` whatever the delegation report, and --require-full-delegation does not apply
    delegating: bool = True
    #: the device runner (a row of edgeseg.device.runners.RUNNERS) of a profile delegate of
    #: this name that does not say ``runner``: "profile" = the profile's runner
    runner: str = "profile"
    #: how `edgeseg info --delegates` tells where its ops run: a key of
    #: edgeseg.quantize.lint.PREDICTORS ("measured", "gpu-op-parsers", "nnapi-table"); None: not linted
    lint: str | None = None
    #: the delegate's default limit on delegated partitions, for the lint (None: no limit)
    max_partitions: int | None = None

    @property
    def host(self) -> bool:
        """Whether `edgeseg bench` runs it on this host (the LiteRT interpreter)."""
        return self.interpreter is not None


#: The table of delegates, in the order they are listed.
DELEGATES: dict[str, Delegate] = {
    "cpu": Delegate(
        "cpu",
        "CPU",
        "builtin reference kernels only (no default delegate)",
        flags=("--use_xnnpack=false",),
        interpreter="builtin",
        delegating=False,
    ),
    "xnnpack": Delegate(
        "xnnpack",
        "XNNPACK",
        "LiteRT default: XNNPACK delegate where it applies, builtin kernels for the rest",
        flags=("--use_xnnpack=true",),
        interpreter="default",
        host_default=True,
        lint="measured",
    ),
    "gpu": Delegate(
        "gpu",
        "GPU",
        "TFLite GPU delegate (OpenCL / OpenGL ES)",
        flags=("--use_gpu=true",),
        lint="gpu-op-parsers",
        max_partitions=1,
    ),  # delegate_options.cc: max_delegated_partitions = 1
    "nnapi": Delegate(
        "nnapi",
        "NNAPI",
        "Android NNAPI on the profile's accelerator",
        flags=("--use_nnapi=true",),
        lint="nnapi-table",
        max_partitions=3,
    ),  # nnapi_delegate.h: max_number_delegated_partitions = 3
    "litert-npu": Delegate(
        "litert-npu",
        "LiteRT NPU",
        "the NPU through LiteRT's CompiledModel: the model compiled for the SoC by `edgeseg "
        "compile`, with the vendor's dispatch library",
        runner="litert",
    ),
}


class DelegateView(Mapping):
    """A live, read-only ``name -> value`` view of the rows of :data:`DELEGATES` that ``keep``
    (so a row added later, e.g. by a plugin or a test, shows up in every view)."""

    def __init__(
        self,
        keep: Callable[[Delegate], bool],
        value: Callable[[Delegate], object] = lambda d: d,
        order: Callable[[Delegate], object] | None = None,
    ):
        self._keep, self._value, self._order = keep, value, order

    def _rows(self) -> list[Delegate]:
        rows = [d for d in DELEGATES.values() if self._keep(d)]
        return sorted(rows, key=self._order) if self._order else rows

    def __getitem__(self, name: str):
        d = DELEGATES.get(name)
        if d is None or not self._keep(d):
            raise KeyError(name)
        return self._value(d)

    def __iter__(self) -> Iterator[str]:
        return iter([d.name for d in self._rows()])

    def __len__(self) -> int:
        return len(self._rows())

    def __repr__(self) -> str:
        return f"DelegateView({list(self)})"


#: The delegates the host runs (``name -> description``), its default first.
HOST_DELEGATES = DelegateView(lambda d: d.host, lambda d: d.description, order=lambda d: not d.host_default)
#: The delegates the LiteRT interpreter runs (``name -> "builtin" | "default"``): the host and the Python runner.
INTERPRETER_DELEGATES = DelegateView(lambda d: d.interpreter is not None, lambda d: d.interpreter)
#: The delegates the lint reports (``name -> Delegate``), in table order.
LINTED_DELEGATES = DelegateView(lambda d: d.lint is not None)


def delegate_names() -> tuple[str, ...]:
    """Every delegate of the table, for choice lists and help texts."""
    return tuple(DELEGATES)


def host_delegate_names() -> tuple[str, ...]:
    """The host's delegates, its default first (for `edgeseg bench`'s choices on the host)."""
    return tuple(HOST_DELEGATES)


def host_default() -> str:
    """The host bench's delegate when none is named."""
    return next(iter(HOST_DELEGATES))


def delegating(name: str) -> bool:
    """Whether ``name`` delegates anything (a delegate no row names does)."""
    d = DELEGATES.get(name)
    return d.delegating if d else True


def join_names(names) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = list(names)
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]
