"""The device profile's types (:class:`DeviceProfile` and its parts), apart from the loader:
every module that takes a profile imports these, and the loader (edgeseg.device.profiles)
imports the tables (transports, runners, power sources) that say what a profile may name, so
neither the tables nor the types import the loader. Each default is written here once; the
loader fills what a file leaves out from these dataclasses."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeviceError

WORK_ROOT = "/data/local/tmp"


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
    #: litert: the device folder of the vendor runtime the dispatch library loads (MediaTek: the
    #: NeuroPilot adapter), probed and put on LD_LIBRARY_PATH; None: the vendor's current default
    #: (edgeseg.device.npu.NPU_VENDORS, /system_ext/lib64 for MediaTek)
    adapter_dir: str | None = None


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
    #: the battery gauge's resolution (mW): its current quantum x the battery voltage. The smallest
    #: idle-to-load difference it can show, and the floor of what its readings' steps show
    #: (edgeseg.device.power.GAUGE_RESOLUTION_FLOOR_MW, 1 mW, by default): never zero
    gauge_resolution_mw: float = 1.0


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
    adb_server: str | None = None  # HOST:PORT of the adb server the device is attached to (a remote lab)
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
