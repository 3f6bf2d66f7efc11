"""Power on the device: the sources, the sampler, and energy per inference.

Everything sent to the device is POSIX shell that busybox ash and Android's mksh with
toybox applets all run: no ``date +%N`` (busybox prints ``%N`` literally), no bash-isms.
Timestamps come from ``/proc/uptime`` (CLOCK_BOOTTIME seconds, 10 ms resolution), read
with the shell's own ``read``: the clock the kernel's rail counters use too.

Sources (:data:`SOURCES`, in order of preference): the Pixel power rails in sysfs
(ODPM energy counters), the same rails through the power-stats HAL (``dumpsys
android.hardware.power.stats.IPowerStats/default``, where SELinux keeps the shell out of
sysfs), the battery fuel gauge (current x voltage), none. Each source the profile allows
is probed before the sweep (:func:`probe_command`, :func:`check_sources`): counters must
advance, the current must read non-zero. Each row then takes the first source whose
samples in both windows are valid (:func:`energy`) and records why the others were not
used; a row for which no source gives samples is a failed power row, never an empty one.

Energy per inference = (run power - idle power) x mean latency, with run power averaged
over the timed window of the benchmark and idle power over the idle baseline before it;
for counter sources the powers are energy-counter deltas over time (exact integrals).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from .session import q

if TYPE_CHECKING:  # the schema's types; profiles reads this module's table at run time
    from .profiles import PowerSpec, ThermalSpec

CPUFREQ_GLOB = "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"
UPTIME = "/proc/uptime"
HAL_SERVICE = "android.hardware.power.stats.IPowerStats/default"
HAL_HEADER = "PowerStats HAL 2.0 energy meter"
HAL_RATE_HZ = 2.0  # each read is a binder call through dumpsys: keep it rare
_RAIL_RE = re.compile(r"CH\d+\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)")
_HAL_RE = re.compile(r"\[([^\]]+)\]:(\S*)\s+([0-9]+(?:\.[0-9]+)?)\s+mWs")


# -- what runs on the device ------------------------------------------------------------------


def _now(var: str = "t") -> str:
    """Set ``$var`` to the boot-clock seconds (fork-free: the shell's ``read``)."""
    return f"read {var} _u < {UPTIME}; "


def _rails_fragment(power: PowerSpec, tag: str = "R") -> str:
    return f'for f in {power.rails_glob}; do [ -r "$f" ] && while read -r l; do echo "{tag} $t $l"; done < "$f"; done; '


def _hal_fragment(tag: str = "P", lines: str = f"dumpsys {HAL_SERVICE} 2>/dev/null") -> str:
    """The HAL's counter lines from the command ``lines``, each as ``TAG $t line``."""
    return f'{lines} | while read -r l; do case "$l" in *mWs*) echo "{tag} $t $l";; esac; done; '


def _hal_sample() -> str:
    """One HAL reading for the sampler: the counters stamped with the time before the call
    (``P t line``), then ``Q t t_after``: the reading's time is taken as the midpoint, since a
    binder call through dumpsys can take long enough on a busy phone to matter at 2 Hz."""
    return (
        f"{_now()}o=$(dumpsys {HAL_SERVICE} 2>/dev/null); {_now('t2')}"
        + _hal_fragment("P", "printf '%s\\n' \"$o\"")
        + 'echo "Q $t $t2"; '
    )


def _gauge_probe(power: PowerSpec, tag: str) -> str:
    return f'c=; v=; read c < {q(power.current_path)}; read v < {q(power.voltage_path)}; echo "{tag} c=$c v=$v"; '


# -- the sources ------------------------------------------------------------------------------


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _scales(power: PowerSpec) -> tuple[float, float]:
    return (1e-3 if power.current_unit == "uA" else 1.0), (1e-6 if power.voltage_unit == "uV" else 1e-3)


def _timed_lines(lines: list[str]) -> list[tuple[float, str]]:
    """``TAG t text`` lines -> ``(t, text)``; a line whose time does not parse is dropped."""
    out = []
    for line in lines:
        parts = line.split(None, 2)
        t = _num(parts[1]) if len(parts) >= 3 else None
        if t is not None:
            out.append((t, parts[2]))
    return out


@dataclass(frozen=True)
class PowerSource:
    """A row of :data:`SOURCES`: how one source is probed, sampled, parsed and judged.

    Its lines start with ``tag``: ``TAG1``/``TAG2`` for the probe's two readings, ``TAG`` in
    the sampler's log. Everything it sends is POSIX shell (busybox ash, mksh + toybox),
    run where ``$t`` holds the reading's boot-clock time."""

    name: str
    description: str
    tag: str
    #: shell for one probe reading: ``probe(power, "TAG1")`` prints lines starting with that tag
    probe: Callable[[PowerSpec, str], str]
    #: shell for one reading in the sampler's log (lines ``TAG $t ...``); None: the source has
    #: nothing beyond the sampler's ``S`` line (the gauge, which every sample line reads)
    sample: Callable[[PowerSpec], str] | None = None
    #: the sample runs in a loop of its own at this rate, and then reads its own time (``_now()``);
    #: None: inside the sampler's main loop, at the profile's rate_hz
    rate_hz: float | None = None
    #: whole values of a profile's ``source`` (besides its name) that allow it, e.g. ``battery+rails``
    also_allowed_by: tuple[str, ...] = ()
    kind: ClassVar[str] = ""  # "counter" (accumulated energy) or "gauge" (instantaneous current x voltage)

    def check(self, lines: dict[int, list[str]], power: PowerSpec, times: dict[int, float]) -> str | None:
        """Why the probe's readings (``lines[1]``, ``lines[2]``: the text after ``TAG1``/``TAG2``)
        make the source unusable; None when they do not."""
        raise NotImplementedError

    def parse_log(self, lines: list[str]) -> list[dict]:
        """The sampler log's lines of this source (``tag`` and ``log_tags``) -> counter readings."""
        return []

    def log_tags(self) -> tuple[str, ...]:
        return (self.tag,)

    def windows(self, log: PowerLog, idle: tuple[float, float], run: tuple[float, float]) -> tuple[dict | None, str]:
        """``({"idle_mw", "run_mw", "idle_err_mw", "run_err_mw", "res_mw", "n_idle", "n_run"}, "")``
        (``res_mw``: the smallest power difference the source can show between the windows; the
        ``_err_mw``: one standard uncertainty of each window's mean power), or ``(None, why not)``."""
        raise NotImplementedError


@dataclass(frozen=True)
class CounterSource(PowerSource):
    """Accumulated energy counters per rail (uWs); power is a counter delta over time."""

    #: ``(time, text after the time)`` of its lines -> readings ``{"t", "t_ms", "uws": {rail: uWs}}``
    readings: Callable[[list[tuple[float, str]]], list[dict]] | None = None
    #: what the probe says when fewer than two readings came back
    unreadable: Callable[[PowerSpec], str] | None = None
    #: the sampler log's lines -> readings, where that needs more than ``readings`` of its lines
    parse: Callable[[list[str]], list[dict]] | None = None
    extra_log_tags: tuple[str, ...] = ()
    #: the counters' resolution (uWs): rails print whole uWs, the HAL prints mWs with 2 decimals
    resolution_uws: float = 1.0
    kind: ClassVar[str] = "counter"

    def log_tags(self) -> tuple[str, ...]:
        return (self.tag, *self.extra_log_tags)

    def check(self, lines, power, times):
        got = [(float(i), r.split(None, 1)[1] if len(r.split(None, 1)) > 1 else "") for i in (1, 2) for r in lines[i]]
        readings = self.readings(got)
        if len(readings) < 2:
            return self.unreadable(power)
        if sum(readings[1]["uws"].values()) <= sum(readings[0]["uws"].values()):
            return (
                f"its energy counters did not advance in {times.get(2, 0) - times.get(1, 0):.1f} s "
                "(stuck or not updated)"
            )
        return None

    def parse_log(self, lines):
        if self.parse:
            return self.parse(lines)
        return self.readings(_timed_lines([ln for ln in lines if ln.split(None, 1)[0] == self.tag]))

    def windows(self, log, idle, run):
        readings = log.counters.get(self.name, [])
        i = counter_window(readings, *idle, resolution_uws=self.resolution_uws)
        r = counter_window(readings, *run, resolution_uws=self.resolution_uws)
        if i["mw"] is None or r["mw"] is None:
            return None, (r["why"] or i["why"]) if r["mw"] is None else i["why"]
        res = self.resolution_uws * 2 / 1e3 * (1 / (idle[1] - idle[0]) + 1 / (run[1] - run[0]))
        return {
            "idle_mw": i["mw"],
            "run_mw": r["mw"],
            "idle_err_mw": i["err_mw"],
            "run_err_mw": r["err_mw"],
            "res_mw": res,
            "n_idle": i["n"],
            "n_run": r["n"],
        }, ""


@dataclass(frozen=True)
class GaugeSource(PowerSource):
    """The battery fuel gauge: current x voltage on every sample line of the sampler."""

    kind: ClassVar[str] = "gauge"

    def check(self, lines, power, times):
        cur_scale, volt_scale = _scales(power)
        vals = []
        for i in (1, 2):
            for r in lines[i]:
                kv = dict(x.split("=", 1) for x in r.split() if "=" in x)
                vals.append((_num(kv.get("c")), _num(kv.get("v"))))
        currents = [c for c, _ in vals if c is not None]
        volts = [v for _, v in vals if v is not None]
        if not currents:
            return f"{power.current_path} is not readable or not a number"
        if all(c == 0 for c in currents):
            return f"{power.current_path} reads 0 (no gauge current: this device does not report it)"
        if not volts or all(v <= 0 for v in volts):
            return f"{power.voltage_path} is not readable or not positive"
        mw = abs(currents[-1]) * cur_scale * volts[-1] * volt_scale
        if not 1.0 <= mw <= 50_000:
            return (
                f"the gauge reads {mw:,.1f} mW, not a phone's power: check current_unit/"
                f"voltage_unit in the profile ({power.current_unit}, {power.voltage_unit})"
            )
        return None

    def windows(self, log, idle, run):
        i, r = gauge_window(log.samples, *idle), gauge_window(log.samples, *run)
        if i["mw"] is None or r["mw"] is None:
            return None, (
                f"no gauge sample with current and voltage in the {'idle' if i['mw'] is None else 'timed'} "
                f"window ({len(log.samples)} sample line(s) parsed in all)"
            )
        if i["mw"] == 0 and r["mw"] == 0:
            return None, "the gauge current read 0 in both windows"
        return {
            "idle_mw": i["mw"],
            "run_mw": r["mw"],
            "idle_err_mw": i["err_mw"],
            "run_err_mw": r["err_mw"],
            "res_mw": gauge_resolution_mw(log.samples, [idle, run]),
            "n_idle": i["n"],
            "n_run": r["n"],
        }, ""


def _rail_readings(lines: list[tuple[float, str]]) -> list[dict]:
    """``(sampler time, line)`` of energy_value files -> one reading per sampler time with
    every rail's accumulated uWs; ``t_ms`` is the counters' own timestamp (the ``t=`` line)
    when the driver prints one."""
    acc: dict[float, dict] = {}
    for t, line in lines:
        entry = acc.setdefault(t, {"t": t, "t_ms": None, "uws": {}})
        if line.startswith("t="):
            v = _num(line[2:])
            if v is not None:
                entry["t_ms"] = v if entry["t_ms"] is None else min(entry["t_ms"], v)
            continue
        m = _RAIL_RE.search(line)
        if m:
            entry["uws"][m.group(2)] = int(m.group(3))
    return [acc[k] for k in sorted(acc) if acc[k]["uws"]]


def _hal_readings(lines: list[tuple[float, str]]) -> list[dict]:
    acc: dict[float, dict] = {}
    for t, line in lines:
        m = _HAL_RE.search(line)
        if m:
            acc.setdefault(t, {"t": t, "t_ms": None, "uws": {}})["uws"][m.group(1)] = float(m.group(3)) * 1000.0
    return [acc[k] for k in sorted(acc)]


def _hal_log(lines: list[str]) -> list[dict]:
    """The HAL's sampler lines: ``P t line`` readings, each re-timed to the midpoint of its
    dumpsys call from the ``Q t t_after`` line that follows it (its own stamp without one)."""
    mid: dict[float, float] = {}
    half: dict[float, float] = {}
    for line in lines:
        parts = line.split()
        if parts[0] == "Q" and len(parts) == 3:
            t0, t1 = _num(parts[1]), _num(parts[2])
            if t0 is not None and t1 is not None and t1 >= t0:
                mid[t0] = (t0 + t1) / 2
                half[mid[t0]] = (t1 - t0) / 2
    timed = _timed_lines([ln for ln in lines if ln.split(None, 1)[0] == "P"])
    out = _hal_readings([(mid.get(t, t), text) for t, text in timed])
    for r in out:  # when in its dumpsys call the HAL read its counters is not known: half the call, plus a tick
        r["t_err"] = half.get(r["t"], 0.0) + UPTIME_RES_S
    return out


#: The table of power sources, in the order they are preferred.
SOURCES: dict[str, PowerSource] = {
    "rails": CounterSource(
        "rails",
        "Pixel 6+ on-device power rails (ODPM energy counters in sysfs)",
        "R",
        probe=lambda power, tag: _rails_fragment(power, tag),
        sample=lambda power: _rails_fragment(power),
        also_allowed_by=("battery+rails",),
        readings=_rail_readings,
        unreadable=lambda power: f"no readable {power.rails_glob} (SELinux keeps the shell out of it on user builds)",
    ),
    "hal": CounterSource(
        "hal",
        f"the same rails through the power-stats HAL (dumpsys {HAL_SERVICE})",
        "P",
        probe=lambda power, tag: _hal_fragment(tag),
        sample=lambda power: _hal_sample(),
        rate_hz=HAL_RATE_HZ,
        also_allowed_by=("battery+rails", "rails"),
        readings=_hal_readings,
        parse=_hal_log,
        extra_log_tags=("Q",),
        resolution_uws=10.0,  # "%14.2f mWs"
        unreadable=lambda power: f"dumpsys {HAL_SERVICE} printed no '{HAL_HEADER}' channels",
    ),
    "battery": GaugeSource(
        "battery",
        "battery fuel gauge: current_now x voltage_now",
        "B",
        probe=_gauge_probe,
        also_allowed_by=("battery+rails",),
    ),
}

#: The first words of the sampler's own lines (S sample, M marker) and of the probe's times (U1, U2).
RESERVED_TAGS = ("S", "M", "U")


def source_choices() -> tuple[str, ...]:
    """What a profile's ``source`` may be: ``auto``, ``none``, the whole values rows name
    (``battery+rails``) and each source (also in comma or + lists of them)."""
    combos = [v for row in SOURCES.values() for v in row.also_allowed_by if v not in SOURCES]
    return ("auto", "none", *dict.fromkeys(combos), *SOURCES)


def valid_source(value: str) -> bool:
    parts = [x.strip() for x in value.replace("+", ",").split(",")]
    return value in source_choices() or all(x in SOURCES for x in parts)


def allowed_sources(power: PowerSpec) -> list[str]:
    """The sources a profile's ``source`` allows, in preference order: ``auto`` = all, a
    value that rows name whole (``battery+rails`` = rails, HAL and battery; ``rails`` =
    rails through sysfs or the HAL) = those rows, else the names given."""
    s = power.source
    if s == "none":
        return []
    if s == "auto":
        return list(SOURCES)
    whole = [n for n, row in SOURCES.items() if s == n or s in row.also_allowed_by]
    if any(s in row.also_allowed_by for row in SOURCES.values()):
        return whole
    names = {n.strip() for n in s.replace("+", ",").split(",") if n.strip()}
    return [n for n in SOURCES if n in names]


def sampler_start(power: PowerSpec, thermal: ThermalSpec, log: str, stop: str, sources: list[str]) -> str:
    """Shell that starts the sampler in the background (its pids in $SP and $HP): one line
    per sample with the boot time, battery current and voltage, battery and thermal-zone
    temperatures and CPU frequencies, plus the readings of ``sources`` (in the main loop, or
    each in a loop of its own at its rate)."""
    period = 1.0 / power.rate_hz
    zones = " ".join(q(z) for z in thermal.zones)
    rows = [row for name, row in SOURCES.items() if name in sources and row.sample]
    inline = "".join(row.sample(power) for row in rows if row.rate_hz is None)
    s = (
        f"( while [ ! -e {q(stop)} ]; do "
        f"{_now()}c=; v=; b=; "
        f"read c < {q(power.current_path)}; read v < {q(power.voltage_path)}; read b < {q(power.temp_path)}; "
        f'z=; for f in {zones}; do x=; read x < "$f"; z="$z $x"; done; '
        f'fr=; for f in {CPUFREQ_GLOB}; do x=; read x < "$f"; fr="$fr $x"; done; '
        f'echo "S $t ;$c;$v;$b |$z |$fr"; {inline}'
        f"sleep {period:.3f}; done ) >> {q(log)} 2>/dev/null & SP=$!; HP=; "
    )
    for row in rows:
        if row.rate_hz is not None:
            s += (
                f"( while [ ! -e {q(stop)} ]; do {row.sample(power)}sleep {1 / row.rate_hz:.3f}; done ) "
                f'>> {q(log)} 2>/dev/null & HP="$HP $!"; '
            )
    return s


def sampler_stop(stop: str) -> str:
    return f'touch {q(stop)}; wait $SP; [ -n "$HP" ] && wait $HP; '


def marker(log: str, name: str) -> str:
    return f'{_now("mt")}echo "M {name} $mt" >> {q(log)}; '


def probe_command(power: PowerSpec, sources: list[str], gap_s: float = 0.5) -> str:
    """Two readings of every source ``gap_s`` apart, for :func:`check_sources`."""

    def reading(n: int) -> str:
        return f'{_now()}echo "U{n} $t"; ' + "".join(
            row.probe(power, f"{row.tag}{n}") for name, row in SOURCES.items() if name in sources
        )

    return reading(1) + f"sleep {gap_s}; " + reading(2) + "true"


# -- parsing ----------------------------------------------------------------------------------


@dataclass
class PowerLog:
    samples: list[dict] = field(default_factory=list)
    counters: dict[str, list[dict]] = field(default_factory=dict)  # source -> {"t", "t_ms", "uws": {rail: uWs}}
    markers: dict[str, float] = field(default_factory=dict)

    # the built-in counter sources by name (sysfs rails, and the HAL's "t_ms" is None)
    rails = property(lambda self: self.counters.get("rails", []), lambda self, v: self.counters.__setitem__("rails", v))
    hal = property(lambda self: self.counters.get("hal", []), lambda self, v: self.counters.__setitem__("hal", v))


def parse_power_log(text: str, power: PowerSpec) -> PowerLog:
    """Samples in mA / V / mW / degC; counter readings (per source) in uWs; times (markers
    too) in boot-clock seconds. Lines whose time does not parse are dropped (and show up as
    missing samples)."""
    cur_scale, volt_scale = _scales(power)
    out = PowerLog()
    owner = {tag: row for row in SOURCES.values() for tag in row.log_tags()}
    lines_of: dict[str, list[str]] = {name: [] for name in SOURCES}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "M" and len(parts) == 3:
            t = _num(parts[2])
            if t is not None:
                out.markers[parts[1]] = t
        elif parts[0] == "S" and len(parts) >= 2:
            t = _num(parts[1])
            if t is None:
                continue
            head, _, rest = line.partition("|")
            zones_txt, _, freqs_txt = rest.partition("|")
            body = head.split(None, 2)[2] if len(head.split(None, 2)) > 2 else ""
            if body.lstrip().startswith(";"):  # ";c;v;b": a field that did not read stays empty, in its place
                fields = [f.strip() for f in body.strip()[1:].split(";")]
            else:  # the older whitespace-separated line (an empty field shifted the others)
                fields = body.split()
            c = _num(fields[0]) if len(fields) > 0 else None
            v = _num(fields[1]) if len(fields) > 1 else None
            b = _num(fields[2]) if len(fields) > 2 else None
            # current as the battery's discharge current (the profile's current_sign): negative = net charging
            s = {
                "t": t,
                "current_ma": c * cur_scale * power.current_sign if c is not None else None,
                "voltage_v": v * volt_scale if v is not None else None,
                "battery_c": b / 10.0 if b is not None else None,
                "zones_c": [z / 1000.0 for z in map(_num, zones_txt.split()) if z is not None],
                "cpu_khz": [int(f) for f in map(_num, freqs_txt.split()) if f is not None],
            }
            s["power_mw"] = (
                s["current_ma"] * s["voltage_v"] if s["current_ma"] is not None and s["voltage_v"] is not None else None
            )
            out.samples.append(s)
        elif parts[0] in owner:
            lines_of[owner[parts[0]].name].append(line)
    for name, row in SOURCES.items():
        if isinstance(row, CounterSource):
            out.counters[name] = row.parse_log(lines_of[name])
    return out


# -- checking the sources ---------------------------------------------------------------------


def check_sources(text: str, power: PowerSpec, sources: list[str]) -> dict:
    """Judge the probe's two readings: ``{"usable": [names], "skipped": {name: reason}}``."""
    by_tag: dict[str, list[str]] = {}
    times: dict[int, float] = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if not parts:
            continue
        tag, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if tag in ("U1", "U2"):
            t = _num(rest.split()[0]) if rest.split() else None
            if t is not None:
                times[int(tag[1])] = t
        by_tag.setdefault(tag, []).append(rest)
    usable, skipped = [], {}
    if not times:
        why = f"{UPTIME} could not be read with the shell's `read`: no timestamps for any sample"
        return {"usable": [], "skipped": {n: why for n in sources}}
    for name in sources:
        row = SOURCES[name]
        why = row.check({i: by_tag.get(f"{row.tag}{i}", []) for i in (1, 2)}, power, times)
        if why:
            skipped[name] = why
        else:
            usable.append(name)
    return {"usable": usable, "skipped": skipped}


# -- energy -----------------------------------------------------------------------------------

#: /proc/uptime's resolution (s): the sampler's timestamps and the markers are this coarse.
UPTIME_RES_S = 0.01


def mean_power(samples: list[dict], t0: float, t1: float) -> tuple[float | None, int]:
    w = gauge_window(samples, t0, t1)
    return w["mw"], w["n"]


def _inside(samples: list[dict], t0: float, t1: float) -> list[dict]:
    """The gauge samples strictly inside (t0, t1): a sample stamped on the same /proc/uptime tick
    as an edge may have been read before or after it (another regime), so it is not counted."""
    return [s for s in samples if t0 < s["t"] < t1 and s["power_mw"] is not None]


def gauge_window(samples: list[dict], t0: float, t1: float) -> dict:
    """``{"mw", "err_mw", "n"}``: the mean gauge power over the samples strictly inside the
    window (the sampler reads at a steady rate, so the mean of its samples is the time mean),
    and its standard error (spread of the samples / sqrt(n); one sample: its own value's
    resolution is all we know, so the error is the whole reading)."""
    vals = [s["power_mw"] for s in _inside(samples, t0, t1)]
    if not vals:
        return {"mw": None, "err_mw": None, "n": 0}
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return {"mw": mean, "err_mw": abs(mean), "n": 1}
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return {"mw": mean, "err_mw": (var / len(vals)) ** 0.5, "n": len(vals)}


def gauge_resolution_mw(samples: list[dict], windows: list[tuple[float, float]]) -> float:
    """The gauge's resolution as its readings show it: the smallest step between different
    readings within one window (mW); 0 when no reading within a window differs from another
    (then only a difference between the windows shows the gauge follows the load)."""
    steps = []
    for t0, t1 in windows:
        vals = sorted({s["power_mw"] for s in _inside(samples, t0, t1)})
        steps += [b - a for a, b in zip(vals, vals[1:]) if b > a]
    return min(steps) if steps else 0.0


def _energy_curve(readings: list[dict]) -> list[tuple[float, float, float]]:
    """(time s, total accumulated uWs, time uncertainty s) per reading, on the boot clock: the
    counters' own timestamp (``t=`` ms, CLOCK_BOOTTIME) where they print one, else the
    sampler's time (a /proc/uptime tick; the HAL's: the midpoint of its dumpsys call)."""
    pts = {}
    for r in readings:
        own = bool(r.get("t_ms"))
        t = r["t_ms"] / 1e3 if own else r["t"]
        pts[t] = (sum(r["uws"].values()), r.get("t_err", 0.001 if own else UPTIME_RES_S))
    return [(t, e, err) for t, (e, err) in sorted(pts.items())]


def _interpolate(curve: list[tuple], t: float) -> float | None:
    import bisect

    times = [p[0] for p in curve]
    if not curve or t < times[0] or t > times[-1]:
        return None
    i = bisect.bisect_left(times, t)
    if times[i] == t:
        return curve[i][1]
    (ta, ea, *_), (tb, eb, *_) = curve[i - 1], curve[i]
    return ea + (eb - ea) * (t - ta) / (tb - ta)


#: Readings whose time is less certain than this (s: no timestamp of their own, only the sampler's
#: tick or a dumpsys call's midpoint) are fitted, not extended from two (counter_window).
JITTER_FIT_S = 0.005


def counter_window(readings: list[dict], t0: float, t1: float, resolution_uws: float = 1.0) -> dict:
    """``{"mw", "err_mw", "n", "why"}``: the mean power (mW) of all rails over [t0, t1] from
    accumulated-energy counters. The energy at each edge of the window is extended linearly
    from the two readings inside the window nearest to it (a window's edges are where the
    power steps: readings outside it belong to another regime); with fewer than two readings
    inside, it is interpolated between the readings around it. ``err_mw`` from the counters'
    resolution, the readings' time uncertainty and the length of each edge's extension."""
    curve = _energy_curve(readings)
    inside = [p for p in curve if t0 <= p[0] <= t1]
    by_sampler = [r for r in readings if t0 <= r["t"] <= t1]
    n = len(inside)
    dt = t1 - t0
    if dt <= 0:
        return {"mw": None, "err_mw": None, "n": n, "why": "an empty window"}
    if n < 2 and len(by_sampler) >= 2 and len({sum(r["uws"].values()) for r in by_sampler}) == 1:
        return {
            "mw": None,
            "err_mw": None,
            "n": n,
            "why": f"its energy counters did not advance in {dt:.1f} s: "
            f"stuck ({len(by_sampler)} readings, the same energy and timestamp in each)",
        }
    jitter = n >= 2 and max(p[2] for p in inside) > JITTER_FIT_S
    if jitter and n >= 5 and inside[-1][1] > inside[0][1]:
        # readings whose times are uncertain (the HAL's: somewhere in a dumpsys call): the edges
        # from two readings would carry both readings' time errors, grown by the extension, so the
        # energy curve is a least-squares quadratic through every reading inside (exact for a
        # power ramp), read at the window's edges
        import numpy as np

        ts = np.array([p[0] - t0 for p in inside])
        es = np.array([p[1] for p in inside])
        coef, res, *_ = np.polyfit(ts, es - es[0], 2, full=True)
        fit = np.polyval(coef, ts) + es[0]
        e0, e1 = float(np.polyval(coef, 0.0) + es[0]), float(np.polyval(coef, dt) + es[0])
        spread = float(np.sqrt(np.sum((fit - es) ** 2) / max(1, n - 3)))  # uWs, what the fit leaves
        err = (spread + resolution_uws) * (4.0 / n) ** 0.5
        return {"mw": (e1 - e0) / dt / 1e3, "err_mw": err * 2**0.5 / dt / 1e3, "n": n, "why": ""}
    if n >= 2:
        (ta, ea, sa), (tb, eb, sb) = inside[0], inside[1]
        e0 = ea - (eb - ea) * (ta - t0) / (tb - ta)
        p0 = (eb - ea) / (tb - ta)  # uW
        gap0, span0 = ta - t0, tb - ta
        (tc, ec, sc), (td, ed, sd) = inside[-2], inside[-1]
        e1 = ed + (ed - ec) * (t1 - td) / (td - tc)
        p1 = (ed - ec) / (td - tc)
        gap1, span1 = t1 - td, td - tc
        if inside[-1][1] - inside[0][1] <= 0:
            return {
                "mw": None,
                "err_mw": None,
                "n": n,
                "why": f"its energy counters did not advance in {inside[-1][0] - inside[0][0]:.1f} s (stuck)",
            }
        # each edge: the reading's own error (resolution, its time x the power) grown by the extension
        err0 = (resolution_uws + p0 * max(sa, sb)) * (1 + gap0 / span0)
        err1 = (resolution_uws + p1 * max(sc, sd)) * (1 + gap1 / span1)
    else:
        e0, e1 = _interpolate(curve, t0), _interpolate(curve, t1)
        if e0 is None or e1 is None:
            return {"mw": None, "err_mw": None, "n": n, "why": f"{n} counter reading(s) in a {dt:.1f} s window"}
        if e1 - e0 <= 0:
            return {
                "mw": None,
                "err_mw": None,
                "n": n,
                "why": f"its energy counters did not advance in {dt:.1f} s (stuck)",
            }
        p = (e1 - e0) / dt
        # interpolated across readings outside the window: the power of another regime leaks in
        err0 = err1 = resolution_uws + p * dt / 2
    return {"mw": (e1 - e0) / dt / 1e3, "err_mw": (err0**2 + err1**2) ** 0.5 / dt / 1e3, "n": n, "why": ""}


def counter_power(readings: list[dict], t0: float, t1: float) -> tuple[float | None, str]:
    """Mean power (mW) of all rails over [t0, t1], or ``(None, why)`` (:func:`counter_window`)."""
    w = counter_window(readings, t0, t1)
    return w["mw"], w["why"]


def rails_power(rails: list[dict], t0: float, t1: float) -> float | None:
    return counter_power(rails, t0, t1)[0]


#: Fewer counter readings than this inside a window make the energy coarse (said in source_note).
MIN_COUNTER_READINGS = 4


def _zone_max(s: dict) -> float | None:
    return max(s["zones_c"]) if s.get("zones_c") else None


def energy(
    log: PowerLog,
    idle: tuple[float, float],
    run: tuple[float, float],
    mean_latency_ms: float,
    sources: list[str] | None = None,
    skipped: dict | None = None,
) -> dict:
    """idle_mw, run_mw and energy_mj_per_inference = (run - idle) x latency with its
    uncertainty ``energy_mj_err``, from the first of ``sources`` (default: rails, hal,
    battery) whose readings in both windows are valid: readings in each, and a difference
    between the windows larger than the source's resolution (a source that does not follow
    the load is not a measurement). ``status`` is ``failed`` with the reasons when none is.
    ``source_note`` says why the sources before the one used were not (including ``skipped``
    from the probe). ``gauge_samples_*`` count the sampler's gauge readings strictly inside
    each window, ``counter_readings_*`` the chosen counter source's readings (empty for the
    gauge)."""
    sources = list(SOURCES) if sources is None else sources
    reasons = dict(skipped or {})
    chosen, got = None, None
    for name in sources:
        w, why = SOURCES[name].windows(log, idle, run)
        if w is None:
            reasons[name] = why
            continue
        diff = abs(w["run_mw"] - w["idle_mw"])
        if diff <= w["res_mw"]:
            what = "gauge" if SOURCES[name].kind == "gauge" else "counters"
            reasons[name] = (
                f"the {what} read {w['idle_mw']:.1f} mW idle and {w['run_mw']:.1f} mW while timed, a "
                f"difference within its resolution ({w['res_mw']:.2g} mW): it does not follow the load "
                "(a cached or simulated reading), so it measures nothing here"
            )
            continue
        chosen, got = name, w
        break
    temps = [s["battery_c"] for s in log.samples if s["battery_c"] is not None]
    zones = [z for z in map(_zone_max, log.samples) if z is not None]
    n_gauge_idle, n_gauge_run = len(_inside(log.samples, *idle)), len(_inside(log.samples, *run))
    counter = chosen is not None and SOURCES[chosen].kind == "counter"
    if counter and min(got["n_idle"], got["n_run"]) < MIN_COUNTER_READINGS:
        reasons["coarse"] = (
            f"{chosen} gave only {got['n_idle']} idle and {got['n_run']} timed counter reading(s) "
            f"(fewer than {MIN_COUNTER_READINGS}): the energy leans on extending them to the window "
            "edges; a longer --min-secs gives more"
        )
    note = "; ".join(f"{k}: {v}" for k, v in reasons.items() if k != chosen)
    out = {
        "idle_mw": got and got["idle_mw"],
        "run_mw": got and got["run_mw"],
        "energy_mj_per_inference": None,
        "energy_mj_err": None,
        "energy_source": chosen,
        "gauge_samples_idle": n_gauge_idle,
        "gauge_samples_run": n_gauge_run,
        "counter_readings_idle": got["n_idle"] if counter else None,
        "counter_readings_run": got["n_run"] if counter else None,
        "source_note": note or None,
        "temp_start_c": temps[0] if temps else None,
        "temp_end_c": temps[-1] if temps else None,
        "zone_start_c": zones[0] if zones else None,
        "zone_end_c": zones[-1] if zones else None,
    }
    if chosen is None:
        out.update(
            status="failed",
            error=("no power source gave samples: " + note) if note else "no power source is allowed by the profile",
        )
        return out
    if mean_latency_ms:
        out["energy_mj_per_inference"] = (got["run_mw"] - got["idle_mw"]) * mean_latency_ms / 1e3  # mW x ms = uJ -> mJ
        out["energy_mj_err"] = (got["run_err_mw"] ** 2 + got["idle_err_mw"] ** 2) ** 0.5 * mean_latency_ms / 1e3
    out["status"] = "ok"
    return out


def net_charging(log: PowerLog, windows: list[tuple[float, float]], power: PowerSpec) -> str | None:
    """Why the gauge says the battery is charging in one of ``windows`` (its mean discharge
    current, by the profile's ``current_sign``, is negative: a charger supplies more than the
    phone draws), or None."""
    for name, (t0, t1) in zip(("idle", "timed"), windows):
        cur = [s["current_ma"] for s in _inside(log.samples, t0, t1) if s["current_ma"] is not None]
        if cur and sum(cur) / len(cur) < 0:
            return (
                f"the battery gauge reads a net charge current of {-sum(cur) / len(cur):.0f} mA in the {name} "
                f"window (current_sign {power.current_sign:+d}): a charger is connected"
            )
    return None


# -- charging ---------------------------------------------------------------------------------


def charging_command(power: PowerSpec) -> str:
    return (
        f"cat {q(power.status_path)} 2>/dev/null; echo; cat {q(power.usb_online_path)} 2>/dev/null; echo; "
        "echo __DUMPSYS_BATTERY__; dumpsys battery 2>/dev/null"
    )


BATTERY_STATUS = {"1": "unknown", "2": "charging", "3": "discharging", "4": "not charging", "5": "full"}


def parse_charging(text: str) -> tuple[bool, str]:
    """(charging?, reason) from the sysfs battery status and USB-online values and from
    ``dumpsys battery`` (AC/USB/wireless/dock powered, status code)."""
    sysfs, _, dumpsys = text.partition("__DUMPSYS_BATTERY__")
    lines = [ln.strip() for ln in sysfs.splitlines() if ln.strip()]
    status = lines[0] if lines else ""
    usb = lines[1] if len(lines) > 1 else "0"
    if status and status not in ("Discharging", "Not charging"):
        return True, f"battery status is '{status}'"
    if usb == "1":
        return True, "USB power is present"
    values = {}
    for line in dumpsys.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            values[key.strip().lower()] = value.strip()
    for what in ("ac", "usb", "wireless", "dock"):
        if values.get(f"{what} powered") == "true":
            return True, f"dumpsys battery says '{what.upper() if what in ('ac', 'usb') else what} powered: true'"
    if values.get("status") in ("2", "5"):
        return True, f"dumpsys battery says status {values['status']} ({BATTERY_STATUS[values['status']]})"
    return False, ""


CHARGING_ADVICE = (
    "the phone is charging, so battery current does not show what the model draws: measure over "
    'wireless debugging (transport = "tcp") with the cable out, or with a USB power-blocking '
    "adapter. `dumpsys battery unplug` only changes what Android reports, not the current"
)
