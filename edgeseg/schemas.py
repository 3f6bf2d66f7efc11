"""Typed, validated schemas of the files edgeseg reads back (pydantic v2): a report folder's
``run.json`` and CSV rows, an artifact's manifest, a run folder's ``config.json`` and
``best.json``, a device profile (``devices/NAME.toml``). A file that does not fit is an
:class:`~edgeseg.errors.EdgesegError` of the caller's kind whose one line names the file, the
place in it (``line 3``, ``input.shape``), what is there and what to do.

pydantic takes ~0.3 s to import and build models (measured on the 2-core host, against
~0.5 s for the whole CLI), so this module is imported inside the readers, never by
``edgeseg --help``; a test keeps it so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
    model_validator,
)


def _blank_is_none(v):
    return None if isinstance(v, str) and v.strip() == "" else v


class _Open(BaseModel):
    """Keys we do not know are kept (a newer edgeseg wrote them) and written back."""

    model_config = ConfigDict(extra="allow")


# -- located errors ----------------------------------------------------------------------------


def where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(the whole file)"


def first_problem(exc: ValidationError, data: Any = None) -> tuple[str, str, Any]:
    """(place, what pydantic says, the value found) of the first error. The place is the
    path of keys in ``data`` (pydantic adds the names of a union's members, which are no key)."""
    e = exc.errors(include_url=False)[0]
    if e["type"] == "missing":
        return where(e["loc"]), "missing: edgeseg writes it", _MISSING
    loc, node = [], data
    for part in e["loc"]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif data is not None:
            break
        loc.append(part)
    msg = e["msg"] if len(loc) == len(e["loc"]) or data is None else _expected(e, exc)
    return where(tuple(loc)), msg, e.get("input")


def _expected(e: dict, exc: ValidationError) -> str:
    """A union's mismatch: what each member wanted, in one phrase."""
    wanted = [
        x["msg"].removeprefix("Input should be ")
        for x in exc.errors(include_url=False)
        if x["loc"][:-1] == e["loc"][:-1]
    ]
    return "Input should be " + " or ".join(dict.fromkeys(wanted))


class _Missing:
    def __repr__(self) -> str:
        return "missing"


_MISSING = _Missing()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def validate(schema: type[BaseModel], data: Any, path: Path | str, error: type[Exception], fix: str):
    """``schema`` applied to ``data`` read from ``path``; a mismatch raises ``error`` naming
    the file, the key, the value found and ``fix``."""
    if not isinstance(data, dict):
        raise error(f"{path} is not a JSON object (it holds {_kind(data)}); {fix}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        place, msg, found = first_problem(exc, data)
        raise error(f"{path}: {place} is {_shown(found)} ({msg[0].lower() + msg[1:]}); {fix}") from None


def read_json(path: Path | str, error: type[Exception], fix: str) -> Any:
    """The JSON value in ``path``; unreadable, not UTF-8 or not JSON is ``error``."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        return json.loads(text)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}; {fix}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text (byte {exc.start}): not a file edgeseg wrote; {fix}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); {fix}") from None


# -- report folders --------------------------------------------------------------------------


class BenchInfo(_Open):
    threads: int | None = None
    runs: int | None = None
    min_secs: float | None = None
    repeat: int | None = None
    delegates: list[str] | None = None
    load_before: list[float] | None = None
    load_after: list[float] | None = None
    sustained: dict | None = None
    cooldown: bool | None = None


class RunJson(_Open):
    """A report folder's run.json (a bench, an eval --device, or a merge of reports)."""

    run_id: str | None = None
    created: str | None = None
    command: str | None = None
    runner_version: str | None = None
    host: dict | None = None
    device: dict | list | None = None
    devices: list | None = None
    bench: BenchInfo | None = None
    eval: dict | None = None
    merged_from: list[dict] | None = None


def read_run_json(path: Path, error: type[Exception]) -> dict:
    fix = "write the report again with edgeseg, or remove the file to read the folder without it"
    run = validate(RunJson, read_json(path, error, fix), path, error, fix)
    return run.model_dump(exclude_unset=True)


_CELL_MODELS: dict[tuple, type[BaseModel]] = {}


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("not a finite number")
    return v


FiniteCell = Annotated[Annotated[float, AfterValidator(_finite)] | None, BeforeValidator(_blank_is_none)]


def check_rows(path: Path, rows: list[dict], numeric: list[str], error: type[Exception]) -> int:
    """Every ``numeric`` cell of ``rows`` (csv.DictReader rows, line 2 on) is empty or a
    number, else ``error`` naming file, line and column. A ``nan`` or ``inf`` is no
    measurement a table, a plot or a gate can use: it is emptied in place (read as missing,
    which a gate counts as a breach it cannot judge, and a table shows as ``-``). Returns how
    many cells were emptied."""
    key = tuple(numeric)
    if key not in _CELL_MODELS:
        fields = {f"c{i}": (FiniteCell, Field(None, alias=c)) for i, c in enumerate(numeric)}
        _CELL_MODELS[key] = create_model("CsvRow", __config__=ConfigDict(extra="ignore"), **fields)
    model, emptied = _CELL_MODELS[key], 0
    for lineno, row in enumerate(rows, start=2):
        try:
            model.model_validate(row)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                column, value = e["loc"][0], e.get("input")
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise error(f"{path} line {lineno}: {column} is {value!r}, not a number") from None
                row[column] = ""  # nan, inf: parsed, but not finite
                emptied += 1
    return emptied


# -- artifact manifests ------------------------------------------------------------------------

Positive = Annotated[int, Field(gt=0)]


class InputSpec(_Open):
    shape: list[int] | None = None
    dtype: str | None = None
    size: list[Positive] | None = None


class ManifestSchema(_Open):
    """The manifest beside an artifact (edgeseg.artifact.Manifest is its frozen in-memory form)."""

    edgeseg_version: str | None = None
    name: str | None = None
    sha256: str | None = None
    size_bytes: Annotated[int, Field(ge=0)] | None = None
    created: str | None = None
    quality: dict[str, dict] | None = None
    model: str | None = None
    model_config_: dict | None = Field(None, alias="model_config")
    input: InputSpec | None = None
    output: dict | None = None
    classes: list[str] | None = None
    recipe: str | None = None
    io: str | None = None
    calibration: dict | None = None
    ptq: dict | None = None
    source_checkpoint: str | None = None
    training_data: dict | None = None
    compiled: dict | None = None
    float_layers: list | None = None
    accuracy_control: dict | None = None
    qat: dict | None = None
    pta: dict | None = None


def check_manifest(data: Any, path: Path | str, error: type[Exception]) -> None:
    validate(ManifestSchema, data, path, error, "re-export the artifact, or fix the manifest by hand")


# -- run folders ---------------------------------------------------------------------------------


class RunConfig(_Open):
    """A training run's config.json."""

    edgeseg_version: str = "0"
    model: str
    model_config_: dict = Field(default_factory=dict, alias="model_config")
    input_size: Annotated[list[Positive], Field(min_length=2, max_length=2)]
    classes: Annotated[list[str], Field(min_length=1)]
    normalisation: dict | str | None = None
    train: dict | None = None
    dataset: dict | None = None


def read_run_config_file(path: Path, error: type[Exception]) -> dict:
    fix = f"the run folder {path.parent} is damaged: train it again (or restore config.json from a copy)"
    data = read_json(path, error, fix)
    validate(RunConfig, data, path, error, fix)
    return data


class HistoryRow(_Open):
    epoch: Positive


def read_history_file(path: Path, error: type[Exception]) -> list[dict]:
    """history.csv of a run: one row per finished epoch, ``epoch`` 1, 2, ..."""
    import csv

    fix = f"the run folder {path.parent} is damaged: train it again, or remove history.csv to start it over"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}; {fix}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise error(f"{path} is not a CSV file edgeseg wrote ({exc}); {fix}") from None
    for lineno, row in enumerate(rows, start=2):
        try:
            HistoryRow.model_validate(row)
        except ValidationError as exc:
            place, msg, found = first_problem(exc)
            raise error(
                f"{path} line {lineno}: {place} is {_shown(found)} ({msg[0].lower() + msg[1:]}); {fix}"
            ) from None
    return rows


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
    from .device.profiles import choices

    return choices(name)


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
    from .device.transport import split_host_port

    try:
        split_host_port(v)
    except ValueError as exc:
        return str(exc)
    return None


def _work_dir(v: str) -> str | None:
    import posixpath

    from .device.spec import WORK_ROOT

    norm = posixpath.normpath(v)
    if norm.startswith(WORK_ROOT + "/"):
        return None
    return f"a folder under {WORK_ROOT}" + (f" (this is {norm})" if v else "")


def _power_source(v: str) -> str | None:
    from .device.power import SOURCES, valid_source

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
        from .device.session import TRANSPORTS
        from .device.spec import DeviceProfile

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
