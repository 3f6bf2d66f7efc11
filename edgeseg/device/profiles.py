"""Device profiles: ``devices/NAME.toml`` files, validated on load.

A profile says how to reach a device (transport, address or serial), where edgeseg may
write on it (a work dir under /data/local/tmp), which benchmark runner to use, the flags of
each delegate, how to read power (battery gauge paths, units and sign; Pixel power rails),
and which thermal zones to watch. Unknown keys are errors that name the nearest valid key.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError
from .names import choices  # noqa: F401  (re-exported)
from .runners import RUNNERS
from .spec import WORK_ROOT, DelegateSpec, DeviceProfile, PowerSpec, ThermalSpec, safe_remote_path  # noqa: F401

# What a profile may name comes from the tables (read when a profile is parsed, so a row
# added to a table is valid at once): transport: edgeseg.device.session.TRANSPORTS; runner:
# the rows of edgeseg.device.runners.RUNNERS that can be a profile's runner, and per delegate
# "profile" or a row that runs single delegates (litert); power source:
# edgeseg.device.power.SOURCES (``auto``, ``none``, ``battery+rails``, or a comma or + list of
# source names); the defaults of a delegate the profile lists: edgeseg.delegates.DELEGATES.


def parse_profile(data: dict, name: str, path: Path | None = None) -> DeviceProfile:
    """A profile from its TOML table, checked against the schema (edgeseg.schemas.ProfileFile:
    every key's type, range and shape), each error naming the file, the table, the key, the value
    and what is expected. What the file leaves out takes the dataclass's default (spec.py)."""
    from .profile_schema import given, read_profile_table  # pydantic: not at `edgeseg --help`

    where = str(path) if path else f"profile {name}"
    checked = read_profile_table(data, where, DeviceError)
    top = {k: v for k, v in given(checked).items() if k not in ("delegates", "power", "thermal")}
    delegates = {
        dname: _delegate_spec(dname, given(spec), f"{where} [delegates.{dname}]", RUNNERS)
        for dname, spec in (checked.delegates or {}).items()
    }
    if not delegates:
        delegates = {"cpu": _delegate_spec("cpu", {}, where, RUNNERS)}
    power = PowerSpec(**given(checked.power)) if checked.power else PowerSpec()
    thermal = ThermalSpec(**given(checked.thermal)) if checked.thermal else ThermalSpec()
    optional = ("address", "serial", "adb_server", "benchmark_binary", "litert_benchmark_binary")
    top = {k: (v or None) if k in optional else v for k, v in top.items() if k != "name"}
    if "work_dir" in top:
        top["work_dir"] = posixpath.normpath(top["work_dir"])
    return DeviceProfile(name=checked.name or name, path=path, **top, delegates=delegates, power=power, thermal=thermal)


def _delegate_spec(dname: str, spec: dict, where: str, runners: dict) -> DelegateSpec:
    """A profile's ``[delegates.NAME]`` (its keys checked); what it leaves out (flags, runner, description)
    comes from the delegate's row in edgeseg.delegates.DELEGATES when it has one."""
    from ..delegates import DELEGATES, Delegate

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
        spec.get("adapter_dir"),
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
