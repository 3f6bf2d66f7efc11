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

Its uncertainty ``energy_mj_err`` is stated so that +-2 err is a 95% interval, from what the
readings hold: a gauge's window counts its updates, not its samples (a held value read ten times
is one measurement; :func:`gauge_window`), with the spread widened for correlated updates and by
Student's t for few of them; counters from their resolution, time stamps and the power's own
movement at the window edges (:func:`counter_window`). A gauge window with fewer than
``MIN_GAUGE_UPDATES`` updates cannot bound it: that row is ``uncertain``, without energy. A source
whose windows differ by no more than its resolution (never zero: a flat gauge is never a
measurement) does not follow the load and is not used. benchmarks/verdicts_energy.py measures
how often the figure is ok and how often +-2 err covers the truth, per source, by simulation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ..config import finite_or_none
from .shell import q

if TYPE_CHECKING:  # the profile's types
    from .spec import PowerSpec, ThermalSpec

CPUFREQ_GLOB = "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"
UPTIME = "/proc/uptime"
HAL_SERVICE = "android.hardware.power.stats.IPowerStats/default"
HAL_HEADER = "PowerStats HAL 2.0 energy meter"
HAL_RATE_HZ = 2.0  # each read is a binder call through dumpsys: keep it rare
_RAIL_RE = re.compile(r"CH\d+\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)")
_HAL_RE = re.compile(r"\[([^\]]+)\]:(\S*)\s+([0-9]+(?:\.[0-9]+)?)\s+mWs")
#: The gauge resolution (mW) when the profile states none (PowerSpec.gauge_resolution_mw's default):
#: a fuel gauge's current quantum times the battery voltage, e.g. 156.25 uA (1.5625 uV across a
#: 10 mOhm sense resistor, the MAX1720x/MAX17055 LSB) x 3.85 V = 0.6 mW; 1 mW is above that and
#: still far below any model's load (hundreds of mW), so a real difference is never taken for none.
GAUGE_RESOLUTION_FLOOR_MW = 1.0


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


def _scales(power: PowerSpec) -> tuple[float, float]:
    return (1e-3 if power.current_unit == "uA" else 1.0), (1e-6 if power.voltage_unit == "uV" else 1e-3)


def _timed_lines(lines: list[str]) -> list[tuple[float, str]]:
    """``TAG t text`` lines -> ``(t, text)``; a line whose time does not parse is dropped."""
    out = []
    for line in lines:
        parts = line.split(None, 2)
        t = finite_or_none(parts[1]) if len(parts) >= 3 else None
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
                vals.append((finite_or_none(kv.get("c")), finite_or_none(kv.get("v"))))
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
        g = gauge_summary(log, idle, run)
        i, r = g["idle"], g["run"]
        if not i["samples"] or not r["samples"]:
            return None, (
                f"no gauge sample with current and voltage in the {'idle' if not i['samples'] else 'timed'} "
                f"window ({len(log.samples)} sample line(s) parsed in all)"
            )
        if len(g["runs"]) == 1:
            return None, (
                f"the gauge read {g['runs'][0]['mw']:.1f} mW in every one of its {g['runs'][0]['n']} sample(s): "
                "it does not follow the load (a cached or simulated reading), so it measures nothing here"
            )
        if i["mw"] == 0 and r["mw"] == 0:
            return None, "the gauge current read 0 in both windows"
        uncertain = i["err_mw"] is None or r["err_mw"] is None
        return {
            "idle_mw": i["mw"],
            "run_mw": r["mw"],
            "idle_err_mw": i["err_mw"],
            "run_err_mw": r["err_mw"],
            "res_mw": gauge_resolution_mw(g["runs"], log.gauge_resolution_mw),
            "n_idle": i["n"],
            "n_run": r["n"],
            "uncertain": gauge_uncertain_why(g, idle, run) if uncertain else "",
        }, ""


def _rail_readings(lines: list[tuple[float, str]]) -> list[dict]:
    """``(sampler time, line)`` of energy_value files -> one reading per sampler time with
    every rail's accumulated uWs; ``t_ms`` is the counters' own timestamp (the ``t=`` line)
    when the driver prints one."""
    acc: dict[float, dict] = {}
    for t, line in lines:
        entry = acc.setdefault(t, {"t": t, "t_ms": None, "uws": {}})
        if line.startswith("t="):
            v = finite_or_none(line[2:])
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
            t0, t1 = finite_or_none(parts[1]), finite_or_none(parts[2])
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
    #: the gauge's stated resolution (mW; the profile's gauge_resolution_mw): the floor of its resolution
    gauge_resolution_mw: float = GAUGE_RESOLUTION_FLOOR_MW
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
    out = PowerLog(gauge_resolution_mw=power.gauge_resolution_mw)
    owner = {tag: row for row in SOURCES.values() for tag in row.log_tags()}
    lines_of: dict[str, list[str]] = {name: [] for name in SOURCES}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "M" and len(parts) == 3:
            t = finite_or_none(parts[2])
            if t is not None:
                out.markers[parts[1]] = t
        elif parts[0] == "S" and len(parts) >= 2:
            t = finite_or_none(parts[1])
            if t is None:
                continue
            head, _, rest = line.partition("|")
            zones_txt, _, freqs_txt = rest.partition("|")
            body = head.split(None, 2)[2] if len(head.split(None, 2)) > 2 else ""
            if body.lstrip().startswith(";"):  # ";c;v;b": a field that did not read stays empty, in its place
                fields = [f.strip() for f in body.strip()[1:].split(";")]
            else:  # the older whitespace-separated line (an empty field shifted the others)
                fields = body.split()
            c = finite_or_none(fields[0]) if len(fields) > 0 else None
            v = finite_or_none(fields[1]) if len(fields) > 1 else None
            b = finite_or_none(fields[2]) if len(fields) > 2 else None
            # current as the battery's discharge current (the profile's current_sign): negative = net charging
            s = {
                "t": t,
                "current_ma": c * cur_scale * power.current_sign if c is not None else None,
                "voltage_v": v * volt_scale if v is not None else None,
                "battery_c": b / 10.0 if b is not None else None,
                "zones_c": [z / 1000.0 for z in map(finite_or_none, zones_txt.split()) if z is not None],
                "cpu_khz": [int(f) for f in map(finite_or_none, freqs_txt.split()) if f is not None],
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
            t = finite_or_none(rest.split()[0]) if rest.split() else None
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


# -- the gauge: what its readings hold ----------------------------------------------------------
#
# A fuel gauge is not a sampler: it updates its current once per period (sample-and-hold, often
# 1 s on phones, each update the average over its last period), and the sampler reads that held
# value 10 or 20 times per update. Counting samples then overstates what was measured: ten timed
# samples of one held value are one measurement, and that value may average over time before the
# window. So a window's information is its updates (:func:`gauge_window`): runs of equal consecutive
# current readings over the whole log (:func:`gauge_runs`), each run as many updates as its length
# holds update periods (:func:`gauge_update_period`: a quantized gauge may update to the same value),
# an update shown before the window edge (carried in: it is of the regime before) not counted, an
# update within one period of the start counted only when too few remain, with its mixing bounded.

#: Fewer gauge updates than this in a window: its uncertainty cannot be bounded from the data (a
#: spread from two values has one degree of freedom: a 95% interval of 6.4 standard errors each side,
#: and two equal held values say nothing of the spread); the row is ``uncertain``.
MIN_GAUGE_UPDATES = 3
#: With this many updates a window's trend is fitted (its residuals give the spread; its slope
#: bounds what the updates' coverage of the window leaves out); with fewer, the spread includes it.
TREND_MIN_UPDATES = 4

#: t quantiles (0.975) for 1..10 degrees of freedom; above 10 the Cornish-Fisher expansion.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def t975(df: float) -> float:
    """Student's t 0.975 quantile for ``df`` degrees of freedom (>= 1; a fraction interpolated in
    1/df between whole ones, which errs wide: 7.1 for 1.5 where the exact value is 6.0)."""
    df = max(1.0, df)
    if df > 10:
        z = 1.959964
        return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df * df)
    lo = int(df)
    if lo == df or lo >= 10:
        return _T975[lo - 1]
    a, b = _T975[lo - 1], _T975[lo]
    return b + (a - b) * (1 / df - 1 / (lo + 1)) / (1 / lo - 1 / (lo + 1))


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def gauge_runs(samples: list[dict]) -> list[dict]:
    """The gauge's readings over the whole log as runs of equal consecutive current readings, in
    time order: ``{"t": its first sample, "end": the next run's first sample (the last run: one
    sampling step after its last sample), "ma", "mw": the mean power of its samples, "n": samples}``.
    The current decides what is one reading, not the power: a gauge may hold its current while the
    voltage is read afresh (their product then changes at every sample, and is still one update)."""
    pts = sorted((s for s in samples if s["power_mw"] is not None), key=lambda s: s["t"])
    runs: list[dict] = []
    for s in pts:
        if runs and s["current_ma"] == runs[-1]["ma"]:
            runs[-1]["n"] += 1
            runs[-1]["mw"] += s["power_mw"]
            runs[-1]["last"] = s["t"]
        else:
            runs.append({"t": s["t"], "last": s["t"], "ma": s["current_ma"], "mw": s["power_mw"], "n": 1})
    step = sampling_step(pts)
    for a, b in zip(runs, runs[1:]):
        a["end"] = b["t"]
    if runs:
        runs[-1]["end"] = runs[-1]["last"] + step
    for r in runs:
        r["mw"] /= r["n"]
    return runs


def sampling_step(samples: list[dict]) -> float:
    """The sampler's period as its time stamps show it (median step, s); 0 with fewer than two."""
    ts = sorted(s["t"] for s in samples)
    steps = [b - a for a, b in zip(ts, ts[1:]) if b > a]
    return _median(steps) if steps else 0.0


def gauge_update_period(runs: list[dict]) -> float | None:
    """How often the gauge updates (s): the median time between changes of its reading over the
    whole log (a gauge that changes at every sample: the sampling period). None with fewer than two
    changes: one step from idle to load (or none) does not tell how often the gauge updates."""
    changes = [r["t"] for r in runs[1:]]
    gaps = [b - a for a, b in zip(changes, changes[1:]) if b > a]
    return _median(gaps) if gaps else None


def gauge_updates(runs: list[dict], t0: float, t1: float, period: float, step: float = 0.0) -> dict:
    """The gauge's updates in (t0, t1), from its runs (:func:`gauge_runs`) and update period: a
    run of equal readings holds ``round(length / period)`` updates (at least one), spread evenly
    over it. ``{"clean": [(t, mw)], "edge": [(t, mw, share)], "carried": n, "before": mw | None}``:

    * an update shown at or before ``t0`` (its run's first sample is on or before the window's
      edge tick) belongs to the regime before the window: ``carried`` counts them, none is used;
      so does the log's first reading, which the gauge may have taken any time before the
      sampler began;
    * an update shown within one period after ``t0`` may average over time before the window
      (gauges report the mean over their period): ``edge``, with ``share`` the most of its period
      that can lie before ``t0`` (the update happened up to one sampling step before it showed);
    * the rest are ``clean``. ``before``: the reading showing at ``t0`` (None: no sample before)."""
    out: dict = {"clean": [], "edge": [], "carried": 0, "before": None}
    for i, r in enumerate(runs):
        if r["t"] <= t0:
            out["before"] = r["mw"]
        if r["end"] <= t0 or r["t"] >= t1:
            continue
        k = max(1, round((r["end"] - r["t"]) / period))
        for j in range(k):
            u = r["t"] + j * (r["end"] - r["t"]) / k
            if u <= t0 or (i == 0 and j == 0):  # the log's first reading: updated before the sampler began
                out["carried"] += 1
            elif u < t1:
                share = (t0 - (u - step - period)) / period
                if share <= 0:
                    out["clean"].append((u, r["mw"]))
                else:
                    out["edge"].append((u, r["mw"], min(1.0, share)))
    return out


def update_stats(times: list[float], values: list[float], t0: float, t1: float, period: float, step: float) -> dict:
    """The mean power of a window from its updates, and its uncertainty, stated so that +-2 err
    is a 95% interval:

    * the mean of the updates is the power at their centroid in time, the window's mean that at
      its centre. An update stands for the period before it (an averaging gauge) or its own moment
      (shown up to one sampling step late), so the updates' centroid is known to within
      ``lag = (period / 2 + step) / 2`` of its middle. With ``TREND_MIN_UPDATES`` or more a straight
      line through them moves their mean from the middle of that range to the window's centre
      (``trend_mw``: the slope times ``lag``, and the slope's own standard error times the move).
      Why not the plain mean of the updates: on a ramp it is off by the slope times that offset,
      a bias the spread does not show (the loopback phone's 390 mW/s ramp put an ideal gauge's
      figure 1.9 err off every time, left out updates at the window's start moving the centroid);
    * spread: the updates' residuals about that line (fewer updates: about their mean, the trend
      in the spread), as one standard error over an effective count widened for their lag-1
      autocorrelation ``r`` (clipped to >= 0): ``n_eff = n (1 - r) / (1 + r)`` (held and slowly
      varying readings are not independent samples), times Student's t 0.975 quantile for
      ``n_eff - fitted parameters`` degrees of freedom over 2 (never below 1): few updates give a
      wide interval, not a falsely narrow one.

    ``{"mw", "stat_mw", "trend_mw", "n", "n_eff", "r", "slope"}``."""
    n = len(values)
    mean = sum(values) / n
    centroid = sum(times) / n
    lag = (period / 2 + step) / 2
    move = (t0 + t1) / 2 - (centroid - lag)  # from the updates' represented centroid to the window's centre
    slope, slope_var, mw = 0.0, 0.0, mean
    if n >= TREND_MIN_UPDATES:
        sxx = sum((t - centroid) ** 2 for t in times)
        slope = sum((t - centroid) * (v - mean) for t, v in zip(times, values)) / sxx if sxx > 0 else 0.0
        res = [v - mean - slope * (t - centroid) for t, v in zip(times, values)]
        params = 2
        mw = mean + slope * move
    else:
        res = [v - mean for v in values]
        params = 1
        sxx = 0.0
    ss = sum(e * e for e in res)
    r = sum(a * b for a, b in zip(res, res[1:])) / ss if ss > 0 and n > 2 else 0.0
    r = min(max(r, 0.0), (n - 1) / (n + 1))  # n_eff >= 1
    n_eff = n * (1 - r) / (1 + r)
    if n > params:
        k = max(1.0, t975(n_eff - params) / 2)
        s2 = ss / (n - params)
        stat = k * (s2 / n_eff) ** 0.5
        if sxx > 0:
            slope_var = k * k * s2 / sxx * n / n_eff
    else:
        stat = float("inf")
    trend = ((slope * lag) ** 2 + slope_var * move**2) ** 0.5
    return {"mw": mw, "stat_mw": stat, "trend_mw": trend, "n": n, "n_eff": n_eff, "r": r, "slope": slope}


def gauge_window(
    samples: list[dict],
    t0: float,
    t1: float,
    runs: list[dict] | None = None,
    period: float | None = None,
    resolution_mw: float = GAUGE_RESOLUTION_FLOOR_MW,
) -> dict:
    """``{"mw", "err_mw", "n", "samples", "carried", "edge", "why"}``: the mean gauge power over
    the window from its updates (:func:`gauge_updates`), one update one value (with
    ``TREND_MIN_UPDATES`` or more, moved along a line through them to the window's centre), and its
    uncertainty (:func:`update_stats`, plus the resolution as a uniform error, ``resolution / sqrt 12``, and the
    bound on what included edge updates carry in). ``n``: the updates used: the clean ones, or with
    fewer than ``MIN_GAUGE_UPDATES`` of them the clean and edge ones; each edge update's value may
    hold up to its ``share`` of the regime before the window, bounded by share x |reading before the
    window - mean of the clean updates| (an edge update is used only with a reading before the
    window and a clean update to bound it, and with some of its period inside the window). With
    fewer than ``MIN_GAUGE_UPDATES`` used the uncertainty is not bounded: ``err_mw`` None, ``why``
    says so; ``mw`` is then the mean of what there is (None when nothing)."""
    runs = gauge_runs(samples) if runs is None else runs
    inside = _inside(samples, t0, t1)
    out = {"mw": None, "err_mw": None, "n": 0, "samples": len(inside), "carried": 0, "edge": 0, "why": ""}
    if not inside:
        out["why"] = "no gauge sample in the window"
        return out
    if period is None:
        period = gauge_update_period(runs)
    if period is None:
        out["why"] = "the update period is unknown"
        return out
    step = sampling_step([s for s in samples if s["power_mw"] is not None])
    ups = gauge_updates(runs, t0, t1, period, step)
    used = list(ups["clean"])
    edge_bound = 0.0
    if len(used) < MIN_GAUGE_UPDATES and used and ups["before"] is not None:
        clean_mean = sum(v for _, v in used) / len(used)
        for u, v, share in ups["edge"]:
            if share < 1:
                used.append((u, v))
                edge_bound += share * abs(ups["before"] - clean_mean)
        used.sort()
    out.update(carried=ups["carried"], edge=len(used) - len(ups["clean"]), n=len(used))
    if not used:
        out["why"] = "no gauge update in the window"
        return out
    st = update_stats([u for u, _ in used], [v for _, v in used], t0, t1, period, step)
    out["mw"] = st["mw"]
    if len(used) < MIN_GAUGE_UPDATES:
        out["why"] = f"{len(used)} gauge update(s) in the window"
        return out
    edge = edge_bound / len(used) / 3**0.5
    quant = resolution_mw / 12**0.5
    out["err_mw"] = (st["stat_mw"] ** 2 + st["trend_mw"] ** 2 + edge**2 + quant**2) ** 0.5
    out["n_eff"] = st["n_eff"]
    return out


def gauge_resolution_mw(runs: list[dict], floor_mw: float = GAUGE_RESOLUTION_FLOOR_MW) -> float:
    """The smallest power difference the gauge can show (mW): the smallest step between its
    consecutive distinct readings over the log when it shows at least three distinct values (with
    two, their one step is the load, not the resolution), never below ``floor_mw`` (the profile's
    ``gauge_resolution_mw``, default :data:`GAUGE_RESOLUTION_FLOOR_MW`). Never zero: a gauge whose
    reading does not change does not pass 'changed by more than its resolution'."""
    values = {r["ma"] for r in runs}
    if len(values) < 3:
        return floor_mw
    steps = [abs(b["mw"] - a["mw"]) for a, b in zip(runs, runs[1:])]
    steps = [s for s in steps if s > 0]
    return max(floor_mw, min(steps)) if steps else floor_mw


def gauge_summary(log: PowerLog, idle: tuple[float, float], run: tuple[float, float]) -> dict:
    """What the gauge's readings hold for a row, whichever source is used: ``{"period", "runs",
    "step", "idle", "run"}`` (the windows as :func:`gauge_window` gives them)."""
    runs = gauge_runs(log.samples)
    period = gauge_update_period(runs)
    res = log.gauge_resolution_mw
    return {
        "period": period,
        "runs": runs,
        "step": sampling_step([s for s in log.samples if s["power_mw"] is not None]),
        "idle": gauge_window(log.samples, *idle, runs=runs, period=period, resolution_mw=res),
        "run": gauge_window(log.samples, *run, runs=runs, period=period, resolution_mw=res),
    }


def gauge_uncertain_why(g: dict, idle: tuple[float, float], run: tuple[float, float]) -> str:
    """Why a gauge's energy is ``uncertain``: how many updates each window had, how often the
    gauge updates, and the idle_secs / --min-secs that give ``MIN_GAUGE_UPDATES`` in each."""
    need = MIN_GAUGE_UPDATES
    ni, nr = g["idle"]["n"], g["run"]["n"]
    counts = (
        f"{ni} update(s) in the {idle[1] - idle[0]:.1f} s idle window and {nr} in the {run[1] - run[0]:.1f} s "
        "timed window"
    )
    if g["period"] is None:
        changes = max(0, len(g["runs"]) - 1)
        return (
            f"the battery gauge changed its reading {changes} time(s) in the whole log, so how often it updates "
            f"is unknown and its readings cannot be counted as samples: its uncertainty cannot be bounded from "
            "the data; a longer idle baseline (the profile's idle_secs) and timed window (--min-secs) show more "
            "of its updates"
        )
    period = g["period"]
    secs = math.ceil(((need + 1) * period + 2 * g["step"]) * 2) / 2
    fixes = []
    if ni < need:
        fixes.append(f"idle_secs = {secs:g} or more in the profile's [power] table")
    if nr < need:
        fixes.append(f"--min-secs {secs:g} or more")
    return (
        f"the battery gauge updates about every {period:.2g} s (a held reading is one sample, however often it "
        f"is read) and gave {counts}: with fewer than {need} in a window its uncertainty cannot be bounded from "
        f"the data; {' and '.join(fixes)} would give at least {need}"
    )


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


def _fitted_window(inside: list[tuple], t0: float, dt: float, resolution_uws: float) -> dict:
    """``{"mw", "err_mw"}`` of a window from a least-squares quadratic through every counter
    reading inside it (exact for a power ramp), read at the window's edges: the difference of the
    fit at the edges, with its standard error from the residuals (each reading's time error and
    whatever the quadratic does not follow) through the fit's covariance (the edges lie outside the
    readings, where a fit from 5 readings is least sure); few readings leave few degrees of freedom,
    so Student's t over 2 makes +-2 err a 95% interval."""
    import numpy as np

    n = len(inside)
    ts = np.array([p[0] - t0 for p in inside])
    es = np.array([p[1] for p in inside])
    x = np.vander(ts, 3)  # t^2, t, 1
    coef, *_ = np.linalg.lstsq(x, es - es[0], rcond=None)
    e0, e1 = float(np.polyval(coef, 0.0) + es[0]), float(np.polyval(coef, dt) + es[0])
    dof = n - 3
    s2 = float(np.sum((x @ coef + es[0] - es) ** 2)) / max(1, dof)
    g = np.array([dt * dt, dt, 0.0])
    se = float(np.sqrt(max(0.0, s2 * g @ np.linalg.pinv(x.T @ x) @ g)))
    err = ((se * max(1.0, t975(dof) / 2)) ** 2 + 2 * resolution_uws**2 / 12) ** 0.5
    return {"mw": (e1 - e0) / dt / 1e3, "err_mw": err / dt / 1e3}


def counter_window(readings: list[dict], t0: float, t1: float, resolution_uws: float = 1.0) -> dict:
    """``{"mw", "err_mw", "n", "why"}``: the mean power (mW) of all rails over [t0, t1] from
    accumulated-energy counters. The energy at each edge of the window is extended linearly
    from the two readings inside the window nearest to it (a window's edges are where the
    power steps: readings outside it belong to another regime); with fewer than two readings
    inside, it is interpolated between the readings around it; readings whose times are uncertain
    (the HAL's) are fitted instead. ``err_mw`` (+-2 err a 95% interval, as benchmarks/verdicts_energy.py
    checks): from the counters' resolution, the readings' time uncertainty and the length of each
    edge's extension, and the power's own movement over the gap to each edge (before, the edges
    were taken to draw what the nearest interval drew: 10 Hz rails covered the truth in 92-97% of
    simulated rows); a fit's from its residuals through its covariance at the edges and Student's t
    (before, a rule of thumb without either: the 2 Hz HAL covered it in 80-83%)."""
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
        # from two readings would carry both readings' time errors, grown by the extension
        return {**_fitted_window(inside, t0, dt, resolution_uws), "n": n, "why": ""}
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
        # each edge: the reading's own error (resolution, its time x the power) grown by the extension,
        # and the power's own change: the gap before the first reading (after the last) drew what it
        # drew, not the next interval's power; how much the power moves from one interval to the next
        # is what the readings inside show (the root mean square of their successive differences)
        powers = [(q[1] - p[1]) / (q[0] - p[0]) for p, q in zip(inside, inside[1:]) if q[0] > p[0]]
        moves = [b - a for a, b in zip(powers, powers[1:])]
        move = (sum(m * m for m in moves) / len(moves)) ** 0.5 if moves else 0.0
        err0 = (((resolution_uws + p0 * max(sa, sb)) * (1 + gap0 / span0)) ** 2 + (gap0 * move) ** 2) ** 0.5
        err1 = (((resolution_uws + p1 * max(sc, sd)) * (1 + gap1 / span1)) ** 2 + (gap1 * move) ** 2) ** 0.5
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


def _choose_source(
    log: PowerLog, idle: tuple[float, float], run: tuple[float, float], sources: list[str], reasons: dict
) -> tuple[str | None, dict | None]:
    """``(name, windows)`` of the first of ``sources`` whose windows are valid, follow the load and
    bound their uncertainty; else the first that follows the load without a bounded uncertainty
    (its windows say ``uncertain``); else ``(None, None)``. Why each one before it was not used goes
    into ``reasons``."""
    unsure = None
    for name in sources:
        w, why = SOURCES[name].windows(log, idle, run)
        if w is None:
            reasons[name] = why
            continue
        if w["idle_mw"] is not None and w["run_mw"] is not None and abs(w["run_mw"] - w["idle_mw"]) <= w["res_mw"]:
            what = "gauge" if SOURCES[name].kind == "gauge" else "counters"
            reasons[name] = (
                f"the {what} read {w['idle_mw']:.1f} mW idle and {w['run_mw']:.1f} mW while timed, a "
                f"difference within its resolution ({w['res_mw']:.2g} mW): it does not follow the load "
                "(a cached or simulated reading), so it measures nothing here"
            )
            continue
        if w.get("uncertain"):
            reasons[name] = w["uncertain"]
            unsure = unsure or (name, w)
            continue
        return name, w
    return unsure or (None, None)


def energy(
    log: PowerLog,
    idle: tuple[float, float],
    run: tuple[float, float],
    mean_latency_ms: float,
    sources: list[str] | None = None,
    skipped: dict | None = None,
) -> dict:
    """idle_mw, run_mw and energy_mj_per_inference = (run - idle) x latency with its
    uncertainty ``energy_mj_err`` (one standard uncertainty, stated so that +-2 err is a 95%
    interval), from the first of ``sources`` (default: rails, hal, battery) whose readings in
    both windows are valid: readings in each, a difference between the windows larger than the
    source's resolution (a source that does not follow the load is not a measurement; a
    resolution is never zero), and an uncertainty that the data bound (the gauge: at least
    ``MIN_GAUGE_UPDATES`` updates in each window, :func:`gauge_window`). ``status`` is ``ok``;
    ``uncertain`` when the first source that follows the load cannot bound its uncertainty and
    no later one is valid (no energy then, ``error`` says how many updates each window had, how
    often the gauge updates, and the idle_secs / --min-secs that give enough); ``failed`` with
    the reasons when no source follows the load. ``source_note`` says why the sources before the
    one used were not (including ``skipped`` from the probe). ``gauge_samples_*`` count the
    sampler's gauge readings strictly inside each window, ``gauge_updates_*`` the gauge updates
    among them that a window's mean uses and ``gauge_update_s`` how often the gauge updates
    (whichever source is used); ``counter_readings_*`` the chosen counter source's readings
    (empty for the gauge)."""
    sources = list(SOURCES) if sources is None else sources
    reasons = dict(skipped or {})
    chosen, got = _choose_source(log, idle, run, sources, reasons)
    temps = [s["battery_c"] for s in log.samples if s["battery_c"] is not None]
    zones = [z for z in map(_zone_max, log.samples) if z is not None]
    g = gauge_summary(log, idle, run)
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
        "gauge_samples_idle": g["idle"]["samples"],
        "gauge_samples_run": g["run"]["samples"],
        "gauge_updates_idle": g["idle"]["n"],
        "gauge_updates_run": g["run"]["n"],
        "gauge_update_s": g["period"],
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
    if got.get("uncertain"):
        out.update(status="uncertain", error=got["uncertain"])
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
