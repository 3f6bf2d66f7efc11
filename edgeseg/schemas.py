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
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
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


Three = Annotated[list[float], Field(min_length=3, max_length=3)]


class NormalisationSpec(_Open):
    """``x = pixel * scale + offset``: one number for every channel (edgeseg's own models) or
    one per RGB channel (imported ones, which also keep the ``name`` and ``mean``/``std``)."""

    scale: float | Three
    offset: float | Three
    name: str | None = None
    mean: Three | None = None
    std: Three | None = None

    @field_validator("scale", "offset", "mean", "std")
    @classmethod
    def _finite(cls, v):
        values = v if isinstance(v, list) else [v]
        if v is not None and not all(math.isfinite(x) for x in values):
            raise ValueError("must be finite")
        return v


class InputSpec(_Open):
    shape: list[int] | None = None
    dtype: str | None = None
    size: list[Positive] | None = None
    normalisation: NormalisationSpec | None = None
    layout: str | None = None  # nhwc | nchw (older manifests: "NHWC RGB")

    @field_validator("layout")
    @classmethod
    def _layout(cls, v):
        if v is not None and str(v).split()[:1] and str(v).split()[0].lower() not in ("nhwc", "nchw"):
            raise ValueError("must be nhwc or nchw")
        return v


class OutputSpec(_Open):
    shape: list[int] | None = None
    dtype: str | None = None
    kind: Literal["logits", "probabilities", "argmax"] | None = None
    layout: Literal["nhwc", "nchw"] | None = None
    stride: Positive | None = None
    upsample: Literal["bilinear", "nearest"] | None = None


class ImportedSpec(_Open):
    """Where an imported model came from (`edgeseg import`)."""

    path: str
    sha256: str
    format: str
    converter: str | None = None
    converter_version: str | None = None


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
    output: OutputSpec | None = None
    classes: list[str] | None = None
    colours: list[Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)]] | None = None
    imported: ImportedSpec | None = None
    recipe: str | None = None
    io: str | None = None
    calibration: dict | None = None
    ptq: dict | None = None
    source_checkpoint: str | None = None
    source_checkpoint_sha256: str | None = None
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
