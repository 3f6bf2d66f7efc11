"""Regression gates: two report folders compared per (artifact, device, delegate).

For each row measured in both: the change of the median latency, of the energy per
inference, and of the host's and the device's mIoU, each with a verdict that takes the
row's own measured noise into account:

* latency: the noise is the larger of the two rows' tail spreads, p90 - median (p95 -
  median where the runner gives no p90). A change of the median within it is ``same``,
  never ``slower``.
* energy: the noise is twice the combined standard uncertainty, 2 * sqrt(err_base^2 +
  err_new^2) from ``energy_mj_err`` (none recorded: no band, a note says so).
* mIoU: the same frames give the same score, so any change beyond 1e-6 counts.

Rules (``--fail-if``) are ``METRIC OP VALUE``: METRIC one of :data:`METRICS`, OP ``>`` or
``<``, VALUE a signed change (``+5%`` relative, ``-0.005`` absolute) or, unsigned, a budget
on the new value (``median_ms>20``). A change rule is breached only by a change beyond the
row's noise. A row that was measured in BASE and failed or is missing in NEW is a breach
whenever rules are given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..config import finite_or_none as _num
from ..errors import ReportError, UsageError
from .tables import read_report

#: metric name -> (column of the comparison rows, unit, what it is).
METRICS = {
    "median_ms": ("median_ms", "ms", "median latency"),
    "energy_mj": ("energy_mj", "mJ", "energy per inference"),
    "miou": ("miou", "", "host mIoU"),
    "device_miou": ("device_miou", "", "device mIoU (edgeseg eval --device)"),
}
#: which way is worse, per metric
WORSE_IF_HIGHER = {"median_ms": True, "energy_mj": True, "miou": False, "device_miou": False}
MIOU_EPS = 1e-6
ENERGY_K = 2.0  # the energy band: this many combined standard uncertainties

_RULE = re.compile(r"^\s*([a-z_]+)\s*([<>])\s*([+-]?)\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Rule:
    text: str
    metric: str
    op: str  # ">" or "<"
    value: float  # signed for a change, the budget for an absolute rule
    relative: bool  # value in percent of the base
    change: bool  # a change rule (signed); else a budget on the new value

    def breached_by(self, row: dict) -> str | None:
        """Why ``row`` breaks this rule, or None."""
        col = METRICS[self.metric][0]
        new, base, noise = row.get(f"new_{col}"), row.get(f"base_{col}"), row.get(f"{col}_noise") or 0.0
        if new is None:
            return None
        if not self.change:
            value = new
        elif base is None:
            return None
        else:
            delta = new - base
            if abs(delta) <= noise:  # within the row's noise: never a regression
                return None
            value = 100.0 * delta / base if self.relative else delta
            if self.relative and base == 0:
                return None
        if (value > self.value) if self.op == ">" else (value < self.value):
            return f"{self.text}: {row_name(row)}: {describe_change(row, col, METRICS[self.metric][1])}"
        return None


def parse_rule(text: str) -> Rule:
    m = _RULE.match(text or "")
    if not m or m.group(1) not in METRICS:
        raise UsageError(
            f"--fail-if {text!r}: expected METRIC>VALUE or METRIC<VALUE with METRIC one of "
            f"{', '.join(METRICS)} and VALUE a change (+5%, -0.005) or a budget (20), e.g. "
            "'median_ms>+5%', 'miou<-0.005', 'energy_mj>+10%', 'median_ms>20'",
            param="--fail-if",
        )
    metric, op, sign, number, pct = m.groups()
    change = bool(sign)
    if pct and not change:
        raise UsageError(
            f"--fail-if {text!r}: a percentage is a change; give its sign ({metric}{op}+{number}%)", param="--fail-if"
        )
    value = float(number) * (-1 if sign == "-" else 1)
    return Rule(text.strip(), metric, op, value, bool(pct), change)


def row_name(row: dict) -> str:
    return f"{row['artifact']} on {row['device']}/{row['delegate']}"


def _fmt(v, unit: str) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if not unit else f"{v:.3g} {unit}" if abs(v) < 10 else f"{v:.1f} {unit}"


def describe_change(row: dict, col: str, unit: str) -> str:
    base, new, noise = row.get(f"base_{col}"), row.get(f"new_{col}"), row.get(f"{col}_noise")
    text = f"{_fmt(base, unit)} -> {_fmt(new, unit)}"
    if base is not None and new is not None:
        pct = f", {100 * (new - base) / base:+.1f}%" if base else ""
        text += f" ({new - base:+.4g}{(' ' + unit) if unit else ''}{pct}"
        text += f", noise ±{noise:.3g} {unit})" if noise and unit else ")"
    return text


def _measures(rep: dict) -> dict:
    """(artifact, device, delegate) -> median, its noise, energy and its error, the host's and the device's mIoU."""
    power = {(r["artifact"], r["device"], r["delegate"]): r for r in rep["power"] if r.get("status") != "failed"}
    host_q = {r["artifact"]: _num(r.get("miou")) for r in rep["quality"] if r.get("where", "host") != "device"}
    dev_q = {
        (r["artifact"], r.get("device"), r.get("delegate")): _num(r.get("miou"))
        for r in rep["quality"]
        if r.get("where") == "device"
    }
    rows = rep["latency"] or rep["summary"]
    out = {}
    for r in rows:
        key = (r["artifact"], r["device"], r["delegate"])
        median = _num(r.get("median_ms"))
        tail = _num(r.get("p90_ms"))
        tail = tail if tail is not None else _num(r.get("p95_ms"))
        p = power.get(key, {})
        out[key] = {
            "status": r.get("status"),
            "error": r.get("error"),
            "median_ms": median,
            "spread_ms": max(0.0, tail - median) if tail is not None and median is not None else None,
            "energy_mj": _num(p.get("energy_mj_per_inference")),
            "energy_err": _num(p.get("energy_mj_err")),
            "miou": host_q.get(r["artifact"]),
            "device_miou": dev_q.get(key),
        }
    return out


def _verdicts(row: dict) -> list[str]:
    words = {
        "median_ms": ("slower", "faster"),
        "energy_mj": ("more energy", "less energy"),
        "miou": ("lower host mIoU", "higher host mIoU"),
        "device_miou": ("lower device mIoU", "higher device mIoU"),
    }
    out = []
    for col, (up, down) in words.items():
        base, new = row.get(f"base_{col}"), row.get(f"new_{col}")
        if base is None or new is None:
            continue
        noise = row.get(f"{col}_noise") or 0.0
        if new - base > noise:
            out.append(up if WORSE_IF_HIGHER[col] else down)
        elif base - new > noise:
            out.append(down if WORSE_IF_HIGHER[col] else up)
    return out


def _host_load_note(reps: list[dict], rows: list[dict]) -> str | None:
    """What the host's load was in each report, where host rows are compared and the host was
    busy in either: on a loaded machine the median moves with the other work, not the model."""
    if not any(r["device"] == "host" and "base_median_ms" in r for r in rows):
        return None
    loads, cores = [], None
    for rep in reps:
        host = (rep.get("run") or {}).get("host") or {}
        la = host.get("load_average")
        loads.append(la[0] if isinstance(la, list) and la else None)
        cores = cores or host.get("cpu_count")
    if None in loads or not cores or max(loads) < 0.5 * cores:
        return None
    return (
        f"the host's 1-minute load average was {loads[0]:g} (base) and {loads[1]:g} (new) on {cores} cores: "
        "host latency changes measured on a busy machine are its load's as much as the model's; "
        "compare host rows measured on a quiet machine"
    )


def compare_reports(base: str | Path, new: str | Path, rules: tuple[str, ...] = ()) -> dict:
    """Rows (one per key in either report), breaches of ``rules``, and notes."""
    parsed = [parse_rule(r) for r in rules]
    reps = []
    for folder in (base, new):
        rep = read_report(folder)
        if not rep["latency"] and not rep["summary"]:
            raise ReportError(f"{folder} holds no latency rows: compare two `edgeseg bench` report folders")
        reps.append(rep)
    b, n = _measures(reps[0]), _measures(reps[1])
    rows, breaches, notes = [], [], []
    no_err = False
    for key in list(b) + [k for k in n if k not in b]:
        bb, nn = b.get(key), n.get(key)
        row = {"artifact": key[0], "device": key[1], "delegate": key[2]}
        if bb is None or nn is None or "failed" in (bb["status"], nn["status"]):
            row["verdict"] = (
                "new"
                if bb is None
                else "missing"
                if nn is None
                else "failed"
                if nn["status"] == "failed"
                else "fixed"
                if bb["status"] == "failed"
                else "new"
            )
            rows.append(row)
            if row["verdict"] in ("missing", "failed") and parsed:
                why = nn.get("error") if nn else "not in the new report"
                breaches.append(
                    f"{row_name(row)} was measured in the base report and {row['verdict']} in the new one"
                    + (f": {why}" if why else "")
                )
            continue
        for col in ("median_ms", "energy_mj", "miou", "device_miou"):
            row[f"base_{col}"], row[f"new_{col}"] = bb[col], nn[col]
            if bb[col] is not None and nn[col] is not None:
                row[f"{col}_delta"] = nn[col] - bb[col]
                row[f"{col}_change"] = (nn[col] - bb[col]) / bb[col] if bb[col] else None
        spreads = [s for s in (bb["spread_ms"], nn["spread_ms"]) if s is not None]
        row["median_ms_noise"] = max(spreads) if spreads else 0.0
        if bb["energy_mj"] is not None and nn["energy_mj"] is not None:
            errs = [e for e in (bb["energy_err"], nn["energy_err"]) if e is not None]
            no_err = no_err or len(errs) < 2
            row["energy_mj_noise"] = ENERGY_K * math.sqrt(sum(e * e for e in errs))
        row["miou_noise"] = row["device_miou_noise"] = MIOU_EPS
        row["verdict"] = ", ".join(_verdicts(row)) or "same"
        rows.append(row)
        breaches += [why for rule in parsed if (why := rule.breached_by(row))]
    if no_err:
        notes.append("some energy rows carry no energy_mj_err: their energy changes are judged without a noise band")
    if note := _host_load_note(reps, rows):
        notes.append(note)
    if not any(r["verdict"] not in ("new", "missing", "failed", "fixed") for r in rows):
        notes.append("no (artifact, device, delegate) row was measured in both reports")
    return {
        "base": str(base),
        "new": str(new),
        "rules": [r.text for r in parsed],
        "rows": rows,
        "breaches": breaches,
        "notes": notes,
    }


#: the columns of the text table
COMPARE_VIEW = [
    "artifact",
    "device",
    "delegate",
    "base_median_ms",
    "new_median_ms",
    "median_ms_change",
    "median_ms_noise",
    "base_energy_mj",
    "new_energy_mj",
    "energy_mj_change",
    "miou_delta",
    "device_miou_delta",
    "verdict",
]
