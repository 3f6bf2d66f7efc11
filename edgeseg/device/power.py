"""Power sampling on the device and energy per inference.

The sampler is a shell loop started in the *same* shell session as the benchmark (no ADB
round trip per sample): at ``rate_hz`` it appends one line per sample to a log on the
device with the wall-clock time, battery current and voltage, battery temperature, the
thermal zones and the CPU frequencies, plus the Pixel power-rail energy counters when the
profile has them. The benchmark script writes phase markers into the same log.

Energy per inference = (run power - idle power) x mean latency, with run power averaged
over the timed window of the benchmark and idle power over the idle baseline before it.
With power rails, the same formula uses powers from energy-counter deltas (exact
integrals of the rails' power), reported as ``energy_source = rails``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .profiles import PowerSpec, ThermalSpec
from .session import q

CPUFREQ_GLOB = "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"
_RAIL_RE = re.compile(r"CH\d+\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)")


def sampler_start(power: PowerSpec, thermal: ThermalSpec, log: str, stop: str) -> str:
    """Shell that starts the sampler in the background (its pid in $SP)."""
    period = 1.0 / power.rate_hz
    zones = " ".join(q(z) for z in thermal.zones)
    rails = ""
    if "rails" in power.source:
        rails = (f'for f in {power.rails_glob}; do [ -r "$f" ] && while read -r l; do echo "R $t $l"; done < "$f"; done; ')
    return (
        f"( while [ ! -e {q(stop)} ]; do "
        f"t=$(date +%s.%N); c=; v=; b=; "
        f"read c < {q(power.current_path)}; read v < {q(power.voltage_path)}; read b < {q(power.temp_path)}; "
        f"z=; for f in {zones}; do x=; read x < \"$f\"; z=\"$z $x\"; done; "
        f"fr=; for f in {CPUFREQ_GLOB}; do x=; read x < \"$f\"; fr=\"$fr $x\"; done; "
        f"echo \"S $t $c $v $b |$z |$fr\"; {rails}"
        f"sleep {period:.3f}; done ) >> {q(log)} 2>/dev/null & SP=$!; "
    )


def marker(log: str, name: str) -> str:
    return f"echo \"M {name} $(date +%s.%N)\" >> {q(log)}; "


@dataclass
class PowerLog:
    samples: list[dict] = field(default_factory=list)
    rails: list[dict] = field(default_factory=list)
    markers: dict[str, float] = field(default_factory=dict)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def parse_power_log(text: str, power: PowerSpec) -> PowerLog:
    """Samples in mA / V / mW / degC; rail counters in uWs; markers as epoch seconds."""
    cur_scale = 1e-3 if power.current_unit == "uA" else 1.0
    volt_scale = 1e-6 if power.voltage_unit == "uV" else 1e-3
    out = PowerLog()
    rail_acc: dict[float, dict] = {}
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
            head, _, rest = line.partition("|")
            zones_txt, _, freqs_txt = rest.partition("|")
            fields = head.split()[2:]
            c = _num(fields[0]) if len(fields) > 0 else None
            v = _num(fields[1]) if len(fields) > 1 else None
            b = _num(fields[2]) if len(fields) > 2 else None
            if t is None:
                continue
            s = {"t": t, "current_ma": abs(c) * cur_scale if c is not None else None,
                 "voltage_v": v * volt_scale if v is not None else None,
                 "battery_c": b / 10.0 if b is not None else None,
                 "zones_c": [z / 1000.0 for z in map(_num, zones_txt.split()) if z is not None],
                 "cpu_khz": [int(f) for f in map(_num, freqs_txt.split()) if f is not None]}
            s["power_mw"] = s["current_ma"] * s["voltage_v"] if s["current_ma"] is not None and s["voltage_v"] is not None else None
            out.samples.append(s)
        elif parts[0] == "R" and len(parts) >= 3:
            t = _num(parts[1])
            m = _RAIL_RE.search(line)
            if t is None or not m:
                continue
            entry = rail_acc.setdefault(t, {"t": t, "t_ms": int(m.group(1)), "uws": {}})
            entry["uws"][m.group(2)] = int(m.group(3))
    out.rails = [rail_acc[k] for k in sorted(rail_acc)]
    return out


def mean_power(samples: list[dict], t0: float, t1: float) -> tuple[float | None, int]:
    vals = [s["power_mw"] for s in samples if t0 <= s["t"] <= t1 and s["power_mw"] is not None]
    return (sum(vals) / len(vals) if vals else None), len(vals)


def rails_power(rails: list[dict], t0: float, t1: float) -> float | None:
    """Mean power (mW) of all rails over [t0, t1] from accumulated-energy counter deltas."""
    inside = [r for r in rails if t0 <= r["t"] <= t1]
    if len(inside) < 2:
        return None
    a, b = inside[0], inside[-1]
    dt = (b["t_ms"] - a["t_ms"]) / 1e3 if b["t_ms"] > a["t_ms"] else b["t"] - a["t"]
    if dt <= 0:
        return None
    energy_uws = sum(b["uws"][k] - a["uws"].get(k, b["uws"][k]) for k in b["uws"])
    return energy_uws / dt / 1e3


def energy(log: PowerLog, idle: tuple[float, float], run: tuple[float, float], mean_latency_ms: float,
           prefer_rails: bool) -> dict:
    """idle_mw, run_mw and energy_mj_per_inference = (run - idle) x latency."""
    idle_mw, n_idle = mean_power(log.samples, *idle)
    run_mw, n_run = mean_power(log.samples, *run)
    source = "battery"
    if prefer_rails:
        ri, rr = rails_power(log.rails, *idle), rails_power(log.rails, *run)
        if ri is not None and rr is not None:
            idle_mw, run_mw, source = ri, rr, "rails"
    e = None
    if idle_mw is not None and run_mw is not None and mean_latency_ms:
        e = (run_mw - idle_mw) * mean_latency_ms / 1e3  # mW x ms = uJ -> mJ
    temps = [s["battery_c"] for s in log.samples if s["battery_c"] is not None]
    return {"idle_mw": idle_mw, "run_mw": run_mw, "energy_mj_per_inference": e, "energy_source": source,
            "samples": n_run, "idle_samples": n_idle,
            "temp_start_c": temps[0] if temps else None, "temp_end_c": temps[-1] if temps else None}


def charging_command(power: PowerSpec) -> str:
    return f"cat {q(power.status_path)} 2>/dev/null; echo; cat {q(power.usb_online_path)} 2>/dev/null"


def parse_charging(text: str) -> tuple[bool, str]:
    """(charging?, reason) from the battery status and USB-online values."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    status = lines[0] if lines else ""
    usb = lines[1] if len(lines) > 1 else "0"
    if status and status != "Discharging":
        return True, f"battery status is '{status}'"
    if usb == "1":
        return True, "USB power is present"
    return False, ""


CHARGING_ADVICE = ("the phone is charging, so battery current does not show what the model draws: measure over "
                   "wireless debugging (transport = \"tcp\") with the cable out, or with a USB power-blocking "
                   "adapter. `dumpsys battery unplug` only changes what Android reports, not the current")
