"""Device profiles: ``devices/NAME.toml`` files, validated on load.

A profile says how to reach a device (transport, address or serial), where edgeseg may
write on it (a work dir under /data/local/tmp), which benchmark runner to use, the flags of
each delegate, how to read power (battery gauge paths, units and sign; Pixel power rails),
and which thermal zones to watch. Unknown keys are errors that name the nearest valid key.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import posixpath
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError
from .power import SOURCES, source_choices
from .runners import RUNNERS, delegate_runner_names, profile_runner_names
from .session import TRANSPORTS
from .spec import WORK_ROOT, DelegateSpec, DeviceProfile, PowerSpec, ThermalSpec, safe_remote_path  # noqa: F401
from .transport import split_host_port

# What a profile may name comes from the tables (read when a profile is parsed, so a row
# added to a table is valid at once): transport: edgeseg.device.session.TRANSPORTS; runner:
# the rows of edgeseg.device.runners.RUNNERS that can be a profile's runner, and per delegate
# "profile" or a row that runs single delegates (litert); power source:
# edgeseg.device.power.SOURCES (``auto``, ``none``, ``battery+rails``, or a comma or + list of
# source names); the defaults of a delegate the profile lists: edgeseg.delegates.DELEGATES.


def choices(name: str) -> tuple[str, ...]:
    """The names a profile may give for ``name`` (TRANSPORTS, RUNNERS, DELEGATE_RUNNERS,
    POWER_SOURCE_NAMES, POWER_SOURCES), read from the tables each time."""
    if name == "TRANSPORTS":
        return tuple(TRANSPORTS)
    if name in ("RUNNERS", "DELEGATE_RUNNERS"):
        return profile_runner_names() if name == "RUNNERS" else ("profile", *delegate_runner_names())
    return tuple(SOURCES) if name == "POWER_SOURCE_NAMES" else source_choices()


# -- the schema: every key's type, range and shape --------------------------------------------


class _Bad(Exception):
    """A value that does not fit its key: the message says what is expected."""


def _show(value) -> str:
    """A value as the TOML file spells it (strings quoted, lists in brackets, nan and inf bare)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _text(nonempty: bool = False, choices: Callable[[], tuple] | None = None, check: Callable | None = None):
    """A string key; ``choices`` (read when checked: the tables), ``check`` (value -> why not)."""

    def validate(v):
        options = choices() if choices else None
        expected = f"one of {', '.join(options)}" if options else "a non-empty string" if nonempty else "a string"
        if not isinstance(v, str) and check:
            raise _Bad(f"a string: {check('')}")
        if not isinstance(v, str) or (nonempty and not v.strip()) or (options and v not in options):
            raise _Bad(expected)
        why = check(v) if check else None
        if why:
            raise _Bad(why)
        return v

    return validate


def _number(
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    only: tuple | None = None,
):
    """A number key (finite: nan and inf are refused); ``integer``: a whole number (TOML 4,
    not 4.0); a range ``low``..``high`` (``low_open``: above low), or ``only`` these values."""
    kind = "an integer" if integer else "a finite number"
    if only:
        expected = " or ".join(str(o) for o in only)
    elif low is not None and high is not None:
        expected = f"{kind} from {low:g} to {high:g}"
    elif low is not None:
        expected = f"{kind} {'>' if low_open else '>='} {low:g}"
    else:
        expected = kind

    def validate(v):
        ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
        if (
            isinstance(v, bool)
            or not ok_type
            or not math.isfinite(v)
            or (only and v not in only)
            or (low is not None and (v <= low if low_open else v < low))
            or (high is not None and v > high)
        ):
            raise _Bad(expected)
        return v

    return validate


def _strings(nonempty: bool = False):
    """A list of strings (a bare string where a list is meant is refused, not split into letters)."""

    def validate(v):
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or (nonempty and not v):
            raise _Bad(("a non-empty " if nonempty else "a ") + 'list of strings, e.g. ["a", "b"]')
        return tuple(v)

    return validate


def _host_port(v: str) -> str | None:
    try:
        split_host_port(v)
    except ValueError as exc:
        return str(exc)
    return None


def _work_dir(v: str) -> str | None:
    norm = posixpath.normpath(v)
    if norm.startswith(WORK_ROOT + "/"):
        return None
    return f"a folder under {WORK_ROOT}" + (f" (this is {norm})" if v else "")


def _power_source(v: str) -> str | None:
    from .power import SOURCES, valid_source

    return None if valid_source(v) else f"auto, none, or a comma list of {', '.join(SOURCES)}"


def _delegate_runners() -> tuple:
    return choices("DELEGATE_RUNNERS")


#: Every key a profile may set and what its value must be (sub-tables: [delegates.NAME],
#: [power], [thermal]).
TOP_SCHEMA: dict[str, Callable] = {
    "name": _text(nonempty=True),
    "description": _text(),
    "transport": _text(choices=lambda: choices("TRANSPORTS")),
    "address": _text(check=_host_port),
    "serial": _text(),
    "adb_server": _text(check=_host_port),
    "abi": _text(nonempty=True),
    "soc": _text(),
    "work_dir": _text(check=_work_dir),
    "threads": _number(integer=True, low=1, high=1024),
    "runner": _text(choices=lambda: choices("RUNNERS")),
    "benchmark_binary": _text(),
    "litert_benchmark_binary": _text(),
    "python": _text(nonempty=True),
}
DELEGATE_SCHEMA: dict[str, Callable] = {
    "flags": _strings(),
    "accelerator": _text(nonempty=True),
    "execution_preference": _text(nonempty=True),
    "description": _text(),
    "runner": _text(choices=_delegate_runners),
    "soc": _text(nonempty=True),
    "dispatch_libs": _strings(),
    "dispatch_dir": _text(nonempty=True),
}
POWER_SCHEMA: dict[str, Callable] = {
    "source": _text(check=_power_source),
    "current_path": _text(nonempty=True),
    "voltage_path": _text(nonempty=True),
    "status_path": _text(nonempty=True),
    "usb_online_path": _text(nonempty=True),
    "temp_path": _text(nonempty=True),
    "current_unit": _text(choices=lambda: ("uA", "mA")),
    "voltage_unit": _text(choices=lambda: ("uV", "mV")),
    "current_sign": _number(integer=True, only=(-1, 1)),
    "rails_glob": _text(nonempty=True),
    "rate_hz": _number(low=0.5, high=100),
    "idle_secs": _number(low=0, high=3600),
    "gauge_resolution_mw": _number(low=0.001, high=10_000),
}
THERMAL_SCHEMA: dict[str, Callable] = {
    "zones": _strings(),
    "cooldown_above_c": _number(low=-40, high=150),
    "cooldown_max_secs": _number(low=0, high=86400),
}
TABLES = ("delegates", "power", "thermal")
TOP_KEYS = (*TOP_SCHEMA, *TABLES)
DELEGATE_KEYS, POWER_KEYS, THERMAL_KEYS = tuple(DELEGATE_SCHEMA), tuple(POWER_SCHEMA), tuple(THERMAL_SCHEMA)


def _check_table(table, schema: dict, where: str) -> dict:
    """``table``'s keys checked against ``schema``: unknown keys name the nearest valid one,
    each value is checked for type, range and shape; the checked values (lists as tuples)."""
    _check_keys(table, tuple(schema), where)
    out = {}
    for key, value in table.items():
        try:
            out[key] = schema[key](value)
        except _Bad as exc:
            raise DeviceError(f"{where}: {key} = {_show(value)}: expected {exc}") from None
    return out


def _sub_table(data: dict, key: str, where: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        shape = (
            "one table per delegate, e.g. [delegates.cpu]"
            if key == "delegates"
            else f"a table, [{key}] with its keys under it"
        )
        raise DeviceError(f"{where}: {key} = {_show(value)}: expected {shape}")
    return value


def _check_keys(table: dict, valid, where: str) -> None:
    for key in table:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(valid)}"
            raise DeviceError(f"{where}: unknown key '{key}'{hint}")


def parse_profile(data: dict, name: str, path: Path | None = None) -> DeviceProfile:
    """A profile from its TOML table: every key checked against the schema (type, range,
    shape), each error naming the file, the key, the value and what is expected."""
    where = str(path) if path else f"profile {name}"
    _check_keys(data, TOP_KEYS, where)
    top = _check_table({k: v for k, v in data.items() if k not in TABLES}, TOP_SCHEMA, where)
    transport = top.get("transport", DeviceProfile.transport)
    if TRANSPORTS[transport].needs_address and not top.get("address"):
        raise DeviceError(f"{where}: transport '{transport}' needs address = \"HOST:PORT\"")
    delegates = {}
    for dname, spec in _sub_table(data, "delegates", where).items():
        if not isinstance(spec, dict):
            raise DeviceError(
                f"{where}: delegates.{dname} = {_show(spec)}: expected a table, [delegates.{dname}] "
                "with its keys (flags, accelerator, ...) under it"
            )
        delegates[dname] = _delegate_spec(dname, spec, f"{where} [delegates.{dname}]", RUNNERS)
    if not delegates:
        delegates = {"cpu": _delegate_spec("cpu", {}, where, RUNNERS)}
    power = PowerSpec(**_check_table(_sub_table(data, "power", where), POWER_SCHEMA, f"{where} [power]"))
    thermal = ThermalSpec(**_check_table(_sub_table(data, "thermal", where), THERMAL_SCHEMA, f"{where} [thermal]"))
    # what the file leaves out takes the dataclass's default (spec.py: each default written once)
    optional = ("address", "serial", "adb_server", "benchmark_binary", "litert_benchmark_binary")
    given = {k: (v or None) if k in optional else v for k, v in top.items() if k != "name"}
    if "work_dir" in given:
        given["work_dir"] = posixpath.normpath(given["work_dir"])
    return DeviceProfile(
        name=top.get("name", name), path=path, **given, delegates=delegates, power=power, thermal=thermal
    )


def _delegate_spec(dname: str, spec: dict, where: str, runners: dict) -> DelegateSpec:
    """A profile's ``[delegates.NAME]``; what it leaves out (flags, runner, description)
    comes from the delegate's row in edgeseg.delegates.DELEGATES when it has one."""
    from ..delegates import DELEGATES, Delegate

    spec = _check_table(spec, DELEGATE_SCHEMA, where)
    row = DELEGATES.get(dname) or Delegate(dname, dname, "")
    runner_kind = spec.get("runner", row.runner)
    out = DelegateSpec(
        dname,
        tuple(spec.get("flags", row.flags)),
        spec.get("accelerator"),
        spec.get("execution_preference"),
        spec.get("description", row.description),
        runner_kind,
        spec.get("soc"),
        tuple(spec.get("dispatch_libs", ())),
        spec.get("dispatch_dir"),
    )
    why = runners[runner_kind].check_delegate(out) if runner_kind != "profile" else None
    if why:
        raise DeviceError(f"{where}: {why}")
    return out


def profile_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("EDGESEG_DEVICES"):
        dirs += [Path(p) for p in os.environ["EDGESEG_DEVICES"].split(os.pathsep) if p]
    dirs += [
        Path.cwd() / "devices",
        Path.home() / ".config" / "edgeseg" / "devices",
        Path(__file__).resolve().parents[2] / "devices",
    ]
    seen, out = set(), []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.add(d.resolve())
            out.append(d)
    return out


def load_profile(name_or_path: str) -> DeviceProfile:
    """A profile by name (searched in ./devices, $EDGESEG_DEVICES, ~/.config/edgeseg/devices
    and the bundled devices/) or by path to a .toml file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or os.sep in name_or_path:
        if not p.is_file():
            raise DeviceError(f"device profile {p} does not exist")
        return _load_file(p)
    for d in profile_dirs():
        cand = d / f"{name_or_path}.toml"
        if cand.is_file():
            return _load_file(cand)
    known = sorted({f.stem for d in profile_dirs() for f in d.glob("*.toml")})
    near = difflib.get_close_matches(name_or_path, known, n=1)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    raise DeviceError(
        f"no device profile '{name_or_path}'. Known: {', '.join(known) or 'none'}.{hint} "
        "Add one as devices/NAME.toml or pass --device path/to/profile.toml"
    )


def _load_file(path: Path) -> DeviceProfile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DeviceError(f"{path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceError(f"cannot read the device profile {path}: {exc}") from None
    return parse_profile(data, path.stem, path)


@dataclass(frozen=True)
class BadProfile:
    """A profile file that does not load: ``error`` says what is wrong and where."""

    name: str
    path: Path
    error: str


def scan_profiles() -> list[DeviceProfile | BadProfile]:
    """Every profile the search path holds (the first of each name), a bad file as a
    :class:`BadProfile` in its place, so one bad file never hides the others."""
    out, seen = [], set()
    for d in profile_dirs():
        for f in sorted(d.glob("*.toml")):
            if f.stem not in seen:
                seen.add(f.stem)
                try:
                    out.append(_load_file(f))
                except DeviceError as exc:
                    out.append(BadProfile(f.stem, f, str(exc)))
    return out


def all_profiles() -> list[DeviceProfile]:
    """The profiles that load (see :func:`scan_profiles` for the bad ones too)."""
    return [p for p in scan_profiles() if isinstance(p, DeviceProfile)]
