"""The CLI's machinery, in the CLI layer: click options made from a config dataclass's fields
(:func:`options_from`: the annotation gives the type, the field its default, help, range,
choices and flag), the shared option groups of plain click (--json), and the group that turns
the library's errors into one line (:class:`EdgesegGroup`). The commands are in edgeseg.cli."""

from __future__ import annotations

import sys

import click

from .config import format_size, parse_size
from .errors import EdgesegError, Interrupted, UsageError
from .reporting import console


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


class EdgesegGroup(click.Group):
    """Turns the library's errors into one line: a usage error exits 2, Ctrl-C 130, any other
    :class:`EdgesegError` 1. Anything else is a bug and keeps its traceback."""

    def invoke(self, ctx):
        from .interrupt import interrupted_by, sigterm_as_interrupt

        if "edgeseg.device.session" in sys.modules:  # a new command (CliRunner runs several in one process)
            sys.modules["edgeseg.device.session"].ADB_SERVER.update(started=False, said=False)
        try:
            with sigterm_as_interrupt():  # SIGTERM cleans up like Ctrl-C (temp files, the device's processes)
                return super().invoke(ctx)
        except Interrupted as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(143 if exc.signal == "SIGTERM" else 130)  # the shell's codes for "stopped by" SIGTERM / Ctrl-C
        except KeyboardInterrupt as exc:  # cleaned up on the way out (temporary files; reports are written whole)
            click.echo(f"Error: interrupted ({interrupted_by(exc)}); nothing half-written was left", err=True)
            ctx.exit(143 if interrupted_by(exc) == "SIGTERM" else 130)
        except UsageError as exc:
            if exc.param:
                raise click.BadParameter(str(exc), param_hint=exc.param) from None
            raise click.UsageError(str(exc)) from None
        except EdgesegError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # an interrupt that a library turned into its own error on the way out
            stop = _interrupt_in_chain(exc)  # (numpy's import, stopped by SIGTERM, raises ImportError)
            if stop is None:
                raise
            click.echo(f"Error: interrupted ({interrupted_by(stop)}); nothing half-written was left", err=True)
            ctx.exit(143 if interrupted_by(stop) == "SIGTERM" else 130)
        finally:  # a command that failed (no phone) may have started the adb server too: say so
            session = sys.modules.get("edgeseg.device.session")
            if session is not None:
                console.adb_server_note(session.ADB_SERVER["started"], lambda m: click.echo(m, err=True))


def _interrupt_in_chain(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind ``exc`` (its cause or context, at any depth), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
