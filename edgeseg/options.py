"""The CLI's option machinery, in the CLI layer: click options made from a config dataclass's
fields (:func:`options_from`: the annotation gives the type, the field its default, help,
range, choices and flag) and the shared option groups of plain click (--json). The commands
are in edgeseg.cli."""

from __future__ import annotations

import click

from .config import format_size, parse_size
from .errors import EdgesegError


def size_option(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_size(value)
    except EdgesegError as exc:
        raise click.BadParameter(str(exc)) from None


def given(ctx, name: str) -> bool:
    """Whether option ``name`` was set on the command line (or its environment variable)."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def choices(table) -> click.Choice:
    return click.Choice(list(table))


def finite(ctx, param, value):
    """A float option's callback that refuses nan and inf (click's FloatRange lets both through)."""
    if value is not None and (value != value or value in (float("inf"), float("-inf"))):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def _comma_tuple(ctx, param, value):
    """A comma list on the command line -> a tuple of its non-empty items (None stays None)."""
    if value is None:
        return None
    items = value if isinstance(value, tuple) else (value,)
    return tuple(x.strip() for v in items for x in str(v).split(",") if x.strip())


def _option_type(annotation) -> tuple[type, bool]:
    """The CLI type of a config field from its annotation: ``(base type, is a tuple)``; None
    dropped from a union; a union of several other types (a duration as text or seconds) is
    text, which the config parses."""
    import types
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if len(args) == 1:
            return _option_type(args[0])
        tuples = [a for a in args if typing.get_origin(a) is tuple]
        return (str, True) if tuples else (str, False)
    if typing.get_origin(annotation) is tuple:
        return str, True
    return (annotation if isinstance(annotation, type) else str), False


def options_from(config_class, skip=()):
    """The options of a config dataclass's fields that carry help (see edgeseg.config.option).
    The field's annotation decides the click type (bool a flag, int/float ranged by the field's
    min/max, a tuple a comma list or, with ``multiple``, a repeatable option), its default is
    the option's default, and its choices come from the field's table: a config built in Python
    and the command line share one definition."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(config_class)

    def decorate(f):
        for fl in reversed(dataclasses.fields(config_class)):
            md = fl.metadata
            if "help" not in md or fl.name in skip:
                continue
            default = None if fl.default is dataclasses.MISSING else fl.default
            kind, is_tuple = _option_type(hints[fl.name])
            kw = {
                "default": default,
                "help": md["help"],
                "metavar": md.get("metavar"),
                "show_default": default not in (None, False, "", ()),
            }
            ranged = any(md.get(k) is not None for k in ("min", "max"))
            if md.get("choices") is not None:
                kw["type"] = choices(md["choices"])
            elif md.get("size"):
                kw["callback"] = size_option
                kw["default"] = format_size(default) if isinstance(default, tuple) else default
                is_tuple = False
            elif kind is bool:
                kw["is_flag"] = True
            elif kind is int:
                kw["type"] = click.IntRange(md.get("min"), md.get("max")) if ranged else int
            elif kind is float:
                kw["type"] = (
                    click.FloatRange(
                        md.get("min"),
                        md.get("max"),
                        min_open=md.get("min_open", False),
                        max_open=md.get("max_open", False),
                    )
                    if ranged
                    else float
                )
                kw["callback"] = finite
            if is_tuple and not md.get("multiple"):
                kw["callback"] = _comma_tuple
            name = md.get("flag") or "--" + fl.name.replace("_", "-")
            f = click.option(
                name, fl.name, required=md.get("required", False), multiple=md.get("multiple", False), **kw
            )(f)
        return f

    return decorate


#: --json: print the command's whole result as one JSON object.
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
