"""The device profile's schema (devices/NAME.toml): pydantic models of every key's type, range
and shape, read by edgeseg.device.profiles.parse_profile (imported there lazily: pydantic is not
loaded at `edgeseg --help`). The shared machinery of located, one-line errors is edgeseg.schemas."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from .names import choices as table_choices

# -- device profiles -----------------------------------------------------------------------------
#
# A profile (devices/NAME.toml) is read by edgeseg.device.profiles.parse_profile through these
# models: every key's type, range and shape. Each key's type says, beside it, what an error shows
# as expected (``Says``); a check that reads the tables (transports, runners, power sources) or
# parses (HOST:PORT) raises ValueError with its own words. The models carry no defaults: only the
# keys a file sets are handed on, and what it leaves out takes edgeseg.device.spec's dataclass
# default (each written once, there). A test keeps the models' keys and the dataclasses' fields
# the same.


class Says:
    """What a key's value must be, as its error says it: a phrase, or a callable that reads
    the tables when the error is shown."""

    def __init__(self, phrase):
        self.phrase = phrase

    def __str__(self) -> str:
        return self.phrase() if callable(self.phrase) else self.phrase


def _table(name: str) -> tuple:
    return table_choices(name)


def _text(nonempty: bool = False, choices: str | tuple | None = None, check=None):
    """A string; ``choices``: a table name (read when checked, so a row added to a table is valid
    at once) or the values; ``check``: value -> why it is not valid (None: it is)."""
    options = (lambda: _table(choices)) if isinstance(choices, str) else (lambda: choices)
    if choices:
        says = Says(lambda: f"one of {', '.join(options())}")
    elif check:
        says = Says(lambda: f"a string: {check('')}")
    else:
        says = Says("a non-empty string" if nonempty else "a string")

    def after(v: str) -> str:
        if choices and v not in options():
            raise ValueError(str(says))
        why = check(v) if check else None
        if why:
            raise ValueError(why)
        return v

    parts = [Field(pattern=r"^\s*\S")] if nonempty else []
    return Annotated[StrictStr, *parts, AfterValidator(after), says]


def _number(integer: bool = False, ge=None, le=None, only: tuple | None = None):
    """A finite number (nan and inf refused); ``integer``: a whole number (TOML 4, not 4.0 and
    not true); ``ge``..``le``, or ``only`` these values."""
    kind = "an integer" if integer else "a finite number"
    if only:
        says = Says(" or ".join(str(o) for o in only))
    elif ge is not None and le is not None:
        says = Says(f"{kind} from {ge:g} to {le:g}")
    else:
        says = Says(f"{kind} >= {ge:g}" if ge is not None else kind)

    def after(v):
        if only and v not in only:
            raise ValueError(str(says))
        return v

    base = StrictInt if integer else Annotated[float, Field(strict=True, allow_inf_nan=False)]
    return Annotated[base, Field(ge=ge, le=le), AfterValidator(after), says]


def _strings():
    """A list of strings (a bare string where a list is meant is refused, not split into letters), as a tuple."""
    return Annotated[list[StrictStr], AfterValidator(tuple), Says('a list of strings, e.g. ["a", "b"]')]


def _host_port(v: str) -> str | None:
    from .transport import split_host_port

    try:
        split_host_port(v)
    except ValueError as exc:
        return str(exc)
    return None


def _work_dir(v: str) -> str | None:
    import posixpath

    from .spec import WORK_ROOT

    norm = posixpath.normpath(v)
    if norm.startswith(WORK_ROOT + "/"):
        return None
    return f"a folder under {WORK_ROOT}" + (f" (this is {norm})" if v else "")


def _device_folder(v: str) -> str | None:
    return None if v.startswith("/") else "an absolute folder on the device, e.g. /system_ext/lib64"


def _power_source(v: str) -> str | None:
    from .power import SOURCES, valid_source

    return None if valid_source(v) else f"auto, none, or a comma list of {', '.join(SOURCES)}"


class _Table(BaseModel):
    """A profile table: unknown keys are errors, no value is coerced (TOML's types are exact)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class DelegateTable(_Table):
    """``[delegates.NAME]`` (edgeseg.device.spec.DelegateSpec)."""

    flags: _strings() = None
    accelerator: _text(nonempty=True) = None
    execution_preference: _text(nonempty=True) = None
    description: _text() = None
    runner: _text(choices="DELEGATE_RUNNERS") = None
    soc: _text(nonempty=True) = None
    dispatch_libs: _strings() = None
    dispatch_dir: _text(nonempty=True) = None
    adapter_dir: _text(check=_device_folder) = None


class PowerTable(_Table):
    """``[power]`` (edgeseg.device.spec.PowerSpec)."""

    source: _text(check=_power_source) = None
    current_path: _text(nonempty=True) = None
    voltage_path: _text(nonempty=True) = None
    status_path: _text(nonempty=True) = None
    usb_online_path: _text(nonempty=True) = None
    temp_path: _text(nonempty=True) = None
    current_unit: _text(choices=("uA", "mA")) = None
    voltage_unit: _text(choices=("uV", "mV")) = None
    current_sign: _number(integer=True, only=(-1, 1)) = None
    rails_glob: _text(nonempty=True) = None
    rate_hz: _number(ge=0.5, le=100) = None
    idle_secs: _number(ge=0, le=3600) = None
    gauge_resolution_mw: _number(ge=0.001, le=10_000) = None


class ThermalTable(_Table):
    """``[thermal]`` (edgeseg.device.spec.ThermalSpec)."""

    zones: _strings() = None
    cooldown_above_c: _number(ge=-40, le=150) = None
    cooldown_max_secs: _number(ge=0, le=86400) = None


class ProfileFile(_Table):
    """A device profile file (edgeseg.device.spec.DeviceProfile, less ``path``)."""

    name: _text(nonempty=True) = None
    description: _text() = None
    transport: _text(choices="TRANSPORTS") = None
    address: _text(check=_host_port) = None
    serial: _text() = None
    adb_server: _text(check=_host_port) = None
    abi: _text(nonempty=True) = None
    soc: _text() = None
    work_dir: _text(check=_work_dir) = None
    threads: _number(integer=True, ge=1, le=1024) = None
    runner: _text(choices="RUNNERS") = None
    benchmark_binary: _text() = None
    litert_benchmark_binary: _text() = None
    python: _text(nonempty=True) = None
    delegates: Annotated[dict[str, DelegateTable], Says("one table per delegate, e.g. [delegates.cpu]")] = None
    power: Annotated[PowerTable, Says("a table, [power] with its keys under it")] = None
    thermal: Annotated[ThermalTable, Says("a table, [thermal] with its keys under it")] = None

    @model_validator(mode="after")
    def _transport_needs_address(self):
        from .session import TRANSPORTS
        from .spec import DeviceProfile

        transport = self.transport or DeviceProfile.transport
        if TRANSPORTS[transport].needs_address and not self.address:
            raise ValueError(f"transport '{transport}' needs address = \"HOST:PORT\"")
        return self


PROFILE_TABLES = {"delegates": DelegateTable, "power": PowerTable, "thermal": ThermalTable}


def given(table: BaseModel) -> dict:
    """The keys a file set in ``table`` and their checked values (lists as tuples)."""
    return {k: getattr(table, k) for k in type(table).model_fields if k in table.model_fields_set}


def toml_value(value: Any) -> str:
    """A value as a TOML file spells it (strings quoted, lists in brackets, nan and inf bare)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def read_profile_table(data: dict, where: str, error: type[Exception]) -> ProfileFile:
    """``data`` (a profile's TOML) checked against :class:`ProfileFile`; a mismatch is ``error``
    naming ``where`` (the file), the table, the key, the value and what is expected, or the
    nearest valid key for one it does not know."""
    try:
        return ProfileFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        raise error(_profile_problem(e, data, where)) from None


def _profile_problem(e: dict, data: dict, where: str) -> str:
    import difflib

    loc, model, place, depth = e["loc"], ProfileFile, where, 0
    if len(loc) >= 2 and loc[0] in ("power", "thermal"):
        model, place, depth = PROFILE_TABLES[loc[0]], f"{where} [{loc[0]}]", 1
    elif len(loc) >= 3 and loc[0] == "delegates":
        model, place, depth = DelegateTable, f"{where} [delegates.{loc[1]}]", 2
    if not loc:  # a check of the whole profile
        return f"{where}: {e['ctx']['error'] if 'ctx' in e else e['msg']}"
    key = loc[depth]
    if e["type"] == "extra_forbidden":
        valid = tuple(model.model_fields)
        near = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(valid)}"
        return f"{place}: unknown key '{key}'{hint}"
    value = data
    for part in loc[: depth + 1]:  # the key's whole value (an item of a list is shown in its list)
        value = value[part]
    if loc[0] == "delegates" and len(loc) == 2:  # delegates.NAME that is no table
        return (
            f"{where}: delegates.{loc[1]} = {toml_value(value[loc[1]])}: expected a table, [delegates.{loc[1]}] "
            "with its keys (flags, accelerator, ...) under it"
        )
    if e["type"] == "value_error":
        expected = str(e["ctx"]["error"])
    else:
        expected = next(str(m) for m in model.model_fields[key].metadata if isinstance(m, Says))
    return f"{place}: {key} = {toml_value(value)}: expected {expected}"
