"""The device stage's configs, passed whole: :class:`DeviceConfig` (how to reach a device) and
:class:`BenchConfig` (a bench sweep), and :func:`check_delegates`. The CLI makes its options
from their fields (``edgeseg.config.option``); the library below reads them from the config
itself, so a new bench option is a field here and its use where it is used."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..config import option
from ..delegates import HOST_DELEGATES, host_default
from ..errors import UsageError
from .session import TRANSPORTS

#: ``--device attached``: every attached device that a profile matches
ATTACHED = "attached"


def check_sweep_options(names: tuple[str, ...], serial: str | None, address: str | None) -> None:
    """Options that name one device cannot go with several."""
    if len(names) > 1 or ATTACHED in names:
        for value, flag in ((serial, "--serial"), (address, "--address")):
            if value:
                raise UsageError(
                    f"{flag} names one device: with several --device (or --device attached) put each "
                    "device's serial or address in its profile",
                    param=flag,
                )


@dataclass(frozen=True)
class DeviceConfig:
    """How to reach a device: a profile name or path, and what overrides it."""

    device: str
    serial: str | None = option(None, "Device serial when several are attached (or ANDROID_SERIAL).")
    transport: str | None = option(
        None, "tcp: our ADB client to HOST:PORT; usb / adb-server: through the `adb` binary.", choices=TRANSPORTS
    )
    address: str | None = option(None, "HOST:PORT for tcp (overrides the profile).")
    key: str | None = option(None, "adb private key (default ~/.android/adbkey, created if missing).", flag="--adb-key")
    adb_server: str | None = option(
        None,
        "HOST:PORT of the adb server the devices are attached to (a device lab's; "
        "default: the profile's adb_server, ADB_SERVER_SOCKET, "
        "ANDROID_ADB_SERVER_ADDRESS/_PORT, else localhost:5037).",
    )

    def __post_init__(self):
        from .transport import split_host_port

        for name in ("address", "adb_server"):
            value = getattr(self, name)
            try:
                value is None or split_host_port(value)
            except ValueError as exc:
                raise UsageError(f"{value!r} is not {exc}", param="--" + name.replace("_", "-")) from None

    def session(self, device: str | None = None):
        """A session on ``device`` (default: this config's one device) with the overrides."""
        from .profiles import load_profile
        from .session import DeviceSession

        return DeviceSession(
            load_profile(device or self.device),
            serial=self.serial,
            transport=self.transport,
            address=self.address,
            key_path=self.key,
            adb_server=self.adb_server,
        )


@dataclass(frozen=True)
class BenchConfig(DeviceConfig):
    """A bench sweep: every artifact x delegate on ``device``: 'host', a profile, several
    profiles (a tuple: measured in parallel, one report with a device column), or
    'attached' (every attached device a profile matches).
    ``delegates`` None: the host's default (edgeseg.delegates.host_default()), or every delegate of the profile (a
    litert NPU one only where an artifact was compiled for its SoC)."""

    device: str | tuple[str, ...] = option(
        ("host",),
        "'host', a device profile name/path, or 'attached' (each "
        "attached device a profile matches); repeat to measure several "
        "devices in parallel into one report.",
        multiple=True,
    )
    artifacts: tuple[str, ...] = ()
    delegates: tuple[str, ...] | None = option(
        None,
        f"Comma list. Host: {', '.join(HOST_DELEGATES)} (default {host_default()}). Device: the profile's "
        "(`edgeseg devices show NAME`; default all, litert-npu where the artifact is compiled for it).",
        flag="--delegate",
    )
    threads: int | None = option(None, "Default: 2 on the host, the profile's on devices.", min=1)
    runs: int = option(50, "Timed runs (at least; see --min-secs).", min=1)
    min_secs: float = option(2.0, "Keep timing until this many seconds have passed too.", min=0)
    repeat: int = option(
        1,
        "Run the whole sweep K times, rows interleaved (A B A B ...), one median per repeat: "
        "report --compare then tests the repeat medians (5 make a regression gate that holds on a busy host).",
        min=1,
        metavar="K",
    )
    op_profile: bool = option(False, "benchmark_model op profiling into ops.csv.")
    power: bool = option(True, "Sample power on the device.", flag="--power/--no-power")
    benchmark_binary: str | None = option(
        None,
        "benchmark_model built for the device's ABI (pushed once, cached by "
        "checksum). Default: the profile's, else LiteRT's official nightly "
        "build for the device's ABI, downloaded once into ~/.cache/edgeseg/bin "
        "(URL and sha256 recorded in run.json).",
    )
    require_full_delegation: bool = option(False, "Fail a delegate row unless it runs the whole graph.")
    allow_charging: bool = option(
        False,
        "Give the energy of rows measured while the phone charges (marked charging "
        "in every table); without it such a row has status charging and no energy.",
    )
    sustained: str | float | None = option(
        None,
        "Run each device row continuously for DURATION (30s, 10m, 1h, or "
        "seconds) in back-to-back windows: latency, thermal zones, CPU "
        "frequency and battery temperature per window (sustained.csv, "
        "sustained.png) and a throttling verdict per row. No power sampling: "
        "energy per inference comes from a normal bench.",
        metavar="DURATION",
    )
    window: str | float | None = option(
        None,
        "Window of a --sustained run (default 30s, at most DURATION): ceil(DURATION / WINDOW) windows per row.",
        metavar="SECS",
    )
    cooldown: bool = option(
        False,
        "Before each device row after the first, wait until the hottest thermal zone is "
        "back within 2 C of its temperature at the start of the sweep (at most the "
        "profile's thermal.cooldown_max_secs).",
    )
    reports: str = option("reports", "Where the report folder is created.")
    write_report: bool = option(True, "Write a report folder (--no-report: print only).", flag="--report/--no-report")
    command: str | None = None  # what run.json records as the command (the CLI passes its argv)
    report_name: str | None = None  # the report folder's suffix (default bench_<profile>)
    run_info: dict | None = None  # more entries for run.json (the quickstart's timings and workdir)

    HOST_THREADS = 2

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices of the sweep (``device`` as a tuple)."""
        return (self.device,) if isinstance(self.device, str) else tuple(self.device)

    def __post_init__(self):
        super().__post_init__()
        devices = tuple(
            dict.fromkeys(str(d) for d in ((self.device,) if isinstance(self.device, str) else self.device or ()))
        )
        if not devices:
            raise UsageError("name at least one device (or 'host')", param="--device")
        if "host" in devices and len(devices) > 1:
            raise UsageError(
                "--device host cannot go with device profiles: bench the host in a run of its own", param="--device"
            )
        object.__setattr__(self, "device", devices[0] if len(devices) == 1 else devices)
        check_sweep_options(self.devices, self.serial, self.address)
        for name in ("artifacts", "delegates"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, tuple(v.strip() for v in value.split(",") if v.strip()))
            elif value is not None:
                object.__setattr__(self, name, tuple(str(v) for v in value))
        if not self.artifacts:
            raise UsageError("name at least one artifact to bench")
        if self.delegates is not None and not self.delegates:
            raise UsageError("name at least one delegate", param="--delegate")
        if self.runs < 1 or (self.threads is not None and self.threads < 1):
            raise UsageError("--runs and --threads must be at least 1")
        if not (self.min_secs >= 0 and self.min_secs < float("inf")):  # also refuses nan
            raise UsageError(
                f"--min-secs must be a finite number of seconds >= 0, got {self.min_secs}", param="--min-secs"
            )
        self._check_sustained()
        if self.repeat > 1 and self.sustained:
            raise UsageError(
                "--repeat repeats normal bench rows; a --sustained run is already one long series of windows",
                param="--repeat",
            )

    def _check_sustained(self):
        """``sustained`` and ``window`` as seconds (the window defaulting to 30 s, at most the
        duration); both, and ``cooldown``, for devices only."""
        from .sustained import DEFAULT_WINDOW_S, MAX_WINDOWS, MIN_WINDOW_S, parse_duration, window_count

        if self.sustained is None:
            if self.window is not None:
                raise UsageError(
                    "--window sets the windows of a --sustained run: give --sustained DURATION too", param="--window"
                )
        else:
            if "host" in self.devices:
                raise UsageError(
                    "sustained runs are for devices (a phone's or board's thermal throttling, with its "
                    "thermal zones and CPU frequencies): bench the host with --runs / --min-secs",
                    param="--sustained",
                )
            duration = parse_duration(self.sustained, "--sustained")
            window = min(DEFAULT_WINDOW_S, duration) if self.window is None else parse_duration(self.window, "--window")
            if window > duration:
                raise UsageError(
                    f"--window {window:g} s is longer than --sustained {duration:g} s: give a window of at "
                    "most the duration",
                    param="--window",
                )
            windows = window_count(duration, window)
            if window < MIN_WINDOW_S or windows > MAX_WINDOWS:
                raise UsageError(
                    f"--sustained {duration:g} s in windows of {window:g} s plans {windows:,} windows per row, each "
                    "also reloading and warming the model (seconds on a phone): give a --window of at least "
                    f"{MIN_WINDOW_S:g} s and at most {MAX_WINDOWS} windows (e.g. --window {max(MIN_WINDOW_S, duration / 20):g})",
                    param="--window",
                )
            object.__setattr__(self, "sustained", duration)
            object.__setattr__(self, "window", window)
        if self.cooldown and "host" in self.devices:
            raise UsageError(
                "--cooldown waits for a device's thermal zones to cool: it does not apply to --device host",
                param="--cooldown",
            )


def check_delegates(names, known, where: str) -> list[str]:
    """``names`` checked against the delegates ``where`` has: a typo is a usage error with
    the nearest name, not a failed row."""
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise UsageError(f"{where} has no delegate '{name}'{hint}; it has {', '.join(known)}", param="--delegate")
    return list(names)
