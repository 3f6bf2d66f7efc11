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
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeviceError

TOP_KEYS = ("name", "description", "transport", "address", "serial", "abi", "work_dir", "threads", "runner",
            "benchmark_binary", "litert_benchmark_binary", "python", "delegates", "power", "thermal", "soc")
DELEGATE_KEYS = ("flags", "accelerator", "execution_preference", "description", "runner", "soc", "dispatch_libs",
                 "dispatch_dir")
POWER_KEYS = ("source", "current_path", "voltage_path", "status_path", "usb_online_path", "current_unit",
              "voltage_unit", "current_sign", "rails_glob", "rate_hz", "idle_secs", "temp_path")
THERMAL_KEYS = ("zones", "cooldown_above_c", "cooldown_max_secs")
WORK_ROOT = "/data/local/tmp"

# What a profile may name comes from the tables (read when a profile is parsed, so a row
# added to a table is valid at once; imported late, since those modules import this one):
# transport: edgeseg.device.session.TRANSPORTS; runner: the rows of
# edgeseg.device.runners.RUNNERS that can be a profile's runner, and per delegate "profile"
# or a row that runs single delegates (litert); power source: edgeseg.device.power.SOURCES
# (``auto``, ``none``, ``battery+rails``, or a comma or + list of source names); the
# defaults of a delegate the profile lists: edgeseg.delegates.DELEGATES.


def _choices(name: str) -> tuple[str, ...]:
    if name == "TRANSPORTS":
        from .session import TRANSPORTS  # noqa: PLC0415

        return tuple(TRANSPORTS)
    if name in ("RUNNERS", "DELEGATE_RUNNERS"):
        from .runners import delegate_runner_names, profile_runner_names  # noqa: PLC0415

        return profile_runner_names() if name == "RUNNERS" else ("profile", *delegate_runner_names())
    from .power import SOURCES, source_choices  # noqa: PLC0415

    return tuple(SOURCES) if name == "POWER_SOURCE_NAMES" else source_choices()


def __getattr__(name: str):
    """``TRANSPORTS``, ``RUNNERS``, ``DELEGATE_RUNNERS``, ``POWER_SOURCE_NAMES`` and
    ``POWER_SOURCES``: the names of the tables' rows, read from the tables each time."""
    if name in ("TRANSPORTS", "RUNNERS", "DELEGATE_RUNNERS", "POWER_SOURCE_NAMES", "POWER_SOURCES"):
        return _choices(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DelegateSpec:
    name: str
    flags: tuple[str, ...] = ()
    accelerator: str | None = None
    execution_preference: str | None = None
    description: str = ""
    runner: str = "profile"  # "profile" (the profile's runner) or a runner of single delegates, e.g. "litert"
    soc: str | None = None  # litert: the SoC the model is compiled for, e.g. MT6989
    dispatch_libs: tuple[str, ...] = ()  # litert: host paths of the dispatch libraries to push
    dispatch_dir: str | None = None  # litert: a device folder that already holds them


@dataclass(frozen=True)
class PowerSpec:
    source: str = "battery"
    current_path: str = "/sys/class/power_supply/battery/current_now"
    voltage_path: str = "/sys/class/power_supply/battery/voltage_now"
    status_path: str = "/sys/class/power_supply/battery/status"
    usb_online_path: str = "/sys/class/power_supply/usb/online"
    temp_path: str = "/sys/class/power_supply/battery/temp"
    current_unit: str = "uA"
    voltage_unit: str = "uV"
    current_sign: int = -1  # sign of the reading while discharging; the absolute value is used
    rails_glob: str = "/sys/bus/iio/devices/iio:device*/energy_value"
    rate_hz: float = 10.0
    idle_secs: float = 3.0


@dataclass(frozen=True)
class ThermalSpec:
    zones: tuple[str, ...] = ("/sys/class/thermal/thermal_zone0/temp",)
    cooldown_above_c: float = 45.0
    cooldown_max_secs: float = 120.0


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    path: Path | None
    description: str = ""
    transport: str = "adb-server"
    address: str | None = None
    serial: str | None = None
    abi: str = "arm64-v8a"
    soc: str = ""
    work_dir: str = f"{WORK_ROOT}/edgeseg"
    threads: int = 4
    runner: str = "benchmark_model"
    benchmark_binary: str | None = None
    litert_benchmark_binary: str | None = None
    python: str = "python3"
    delegates: dict[str, DelegateSpec] = field(default_factory=dict)
    power: PowerSpec = PowerSpec()
    thermal: ThermalSpec = ThermalSpec()

    def remote(self, name: str) -> str:
        """A path inside the work dir; anything that escapes it is refused."""
        return safe_remote_path(self.work_dir, name)

    def delegate(self, name: str) -> DelegateSpec:
        if name not in self.delegates:
            raise DeviceError(f"profile '{self.name}' has no delegate '{name}'; it has: {', '.join(self.delegates)}")
        return self.delegates[name]


def safe_remote_path(work_dir: str, name: str) -> str:
    path = posixpath.normpath(posixpath.join(work_dir, name))
    if not (path + "/").startswith(work_dir.rstrip("/") + "/") or path == work_dir.rstrip("/"):
        raise DeviceError(f"refusing the device path {path}: edgeseg only writes inside {work_dir}")
    return path


def _check_keys(table: dict, valid, where: str) -> None:
    for key in table:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(valid)}"
            raise DeviceError(f"{where}: unknown key '{key}'{hint}")


def parse_profile(data: dict, name: str, path: Path | None = None) -> DeviceProfile:
    from .power import SOURCES, valid_source  # noqa: PLC0415  (these import this module)
    from .runners import RUNNERS  # noqa: PLC0415
    from .session import TRANSPORTS  # noqa: PLC0415

    where = str(path) if path else f"profile {name}"
    _check_keys(data, TOP_KEYS, where)
    transport = data.get("transport", "adb-server")
    if transport not in TRANSPORTS:
        raise DeviceError(f"{where}: transport must be one of {', '.join(TRANSPORTS)}, got '{transport}'")
    if TRANSPORTS[transport].needs_address and not data.get("address"):
        raise DeviceError(f"{where}: transport '{transport}' needs address = \"HOST:PORT\"")
    runner = data.get("runner", "benchmark_model")
    if runner not in _choices("RUNNERS"):
        raise DeviceError(f"{where}: runner must be one of {', '.join(_choices('RUNNERS'))}, got '{runner}'")
    work_dir = posixpath.normpath(data.get("work_dir", f"{WORK_ROOT}/edgeseg"))
    if not work_dir.startswith(WORK_ROOT + "/"):
        raise DeviceError(f"{where}: work_dir must be under {WORK_ROOT} (got {work_dir})")
    delegates = {}
    for dname, spec in (data.get("delegates") or {}).items():
        delegates[dname] = _delegate_spec(dname, spec, f"{where} [delegates.{dname}]", RUNNERS)
    if not delegates:
        delegates = {"cpu": _delegate_spec("cpu", {}, where, RUNNERS)}
    power_t = data.get("power") or {}
    _check_keys(power_t, POWER_KEYS, f"{where} [power]")
    power = PowerSpec(**power_t)
    if not valid_source(power.source):
        raise DeviceError(f"{where} [power]: source must be auto, none, or a comma list of "
                          f"{', '.join(SOURCES)} (got '{power.source}')")
    if power.current_unit not in ("uA", "mA") or power.voltage_unit not in ("uV", "mV"):
        raise DeviceError(f"{where} [power]: current_unit must be uA or mA and voltage_unit uV or mV")
    if not 0.5 <= power.rate_hz <= 100:
        raise DeviceError(f"{where} [power]: rate_hz must be between 0.5 and 100")
    thermal_t = data.get("thermal") or {}
    _check_keys(thermal_t, THERMAL_KEYS, f"{where} [thermal]")
    thermal = ThermalSpec(**{k: tuple(v) if k == "zones" else v for k, v in thermal_t.items()})
    return DeviceProfile(
        name=data.get("name", name), path=path, description=data.get("description", ""), transport=transport,
        address=data.get("address"), serial=data.get("serial") or None, abi=data.get("abi", "arm64-v8a"),
        soc=data.get("soc", ""), work_dir=work_dir, threads=int(data.get("threads", 4)), runner=runner,
        benchmark_binary=data.get("benchmark_binary") or None,
        litert_benchmark_binary=data.get("litert_benchmark_binary") or None, python=data.get("python", "python3"),
        delegates=delegates, power=power, thermal=thermal)


def _delegate_spec(dname: str, spec: dict, where: str, runners: dict) -> DelegateSpec:
    """A profile's ``[delegates.NAME]``; what it leaves out (flags, runner, description)
    comes from the delegate's row in edgeseg.delegates.DELEGATES when it has one."""
    from ..delegates import DELEGATES, Delegate  # noqa: PLC0415

    _check_keys(spec, DELEGATE_KEYS, where)
    row = DELEGATES.get(dname) or Delegate(dname, dname, "")
    runner_kind = spec.get("runner", row.runner)
    kinds = _choices("DELEGATE_RUNNERS")
    if runner_kind not in kinds:
        raise DeviceError(f"{where}: runner must be one of {', '.join(kinds)}")
    out = DelegateSpec(dname, tuple(spec.get("flags", row.flags)), spec.get("accelerator"),
                       spec.get("execution_preference"), spec.get("description", row.description), runner_kind,
                       spec.get("soc"), tuple(spec.get("dispatch_libs", ())), spec.get("dispatch_dir"))
    why = runners[runner_kind].check_delegate(out) if runner_kind != "profile" else None
    if why:
        raise DeviceError(f"{where}: {why}")
    return out


def profile_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("EDGESEG_DEVICES"):
        dirs += [Path(p) for p in os.environ["EDGESEG_DEVICES"].split(os.pathsep) if p]
    dirs += [Path.cwd() / "devices", Path.home() / ".config" / "edgeseg" / "devices",
             Path(__file__).resolve().parents[2] / "devices"]
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
    raise DeviceError(f"no device profile '{name_or_path}'. Known: {', '.join(known) or 'none'}.{hint} "
                      "Add one as devices/NAME.toml or pass --device path/to/profile.toml")


def _load_file(path: Path) -> DeviceProfile:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DeviceError(f"{path} is not valid TOML: {exc}") from None
    try:
        return parse_profile(data, path.stem, path)
    except TypeError as exc:  # a value of the wrong type for a dataclass field
        raise DeviceError(f"{path}: {exc}") from None


def all_profiles() -> list[DeviceProfile]:
    out, seen = [], set()
    for d in profile_dirs():
        for f in sorted(d.glob("*.toml")):
            if f.stem not in seen:
                seen.add(f.stem)
                out.append(_load_file(f))
    return out
