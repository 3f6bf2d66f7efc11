"""Regression gates: two report folders compared per (artifact, device, delegate).

For each row measured in both: the change of the median latency, of the energy per
inference, and of the host's and the device's mIoU, each as an interval, and a verdict:

* latency: with 3 or more repeats on each side (``bench --repeat K``), the change of the repeat
  medians by a rank test (edgeseg.stats.shift_interval: Hodges-Lehmann estimate, exact
  Mann-Whitney interval, >= 90%); with fewer, the uncertainty of each median from its std and
  runs (edgeseg.stats.median_se), which holds the within-run noise only: a note says so. The
  spread of single inferences (p90 - median) is never the uncertainty of a median.
* energy: +-2 combined standard uncertainties, 2 * sqrt(err_base^2 + err_new^2) from
  ``energy_mj_err`` (none recorded: no band, a note says so).
* mIoU: the same frames give the same score, so any change beyond 1e-6 counts.

Rules (``--fail-if``) are ``METRIC OP VALUE``: METRIC one of :data:`METRICS`, OP ``>`` or
``<``, VALUE a signed change (``+5%`` relative, ``-0.005`` absolute) or, unsigned, a budget
on the new value (``median_ms>20``). Each rule is judged against the interval
(edgeseg.stats.judge): ``breach`` when all of it is beyond the value, ``pass`` when none of it
is, else ``inconclusive`` (the data cannot tell), which fails the gate unless
``--inconclusive pass``. A gate never passes what it cannot judge: a row measured in BASE and
failed or missing in NEW, a row whose new value is missing or not finite, and a rule whose
metric no compared row holds are breaches.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..config import finite_or_none
from ..errors import ReportError, UsageError
from ..stats import Z90, judge, median_se, normal_interval, shift_interval
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
#: what a rule the data cannot decide does to the gate (``--inconclusive``): fail it (the default)
#: or let it pass, named
INCONCLUSIVE = ("fail", "pass")
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

    def judged(self, row: dict) -> tuple[str, str] | None:
        """``(outcome, why)`` of this rule on a compared row: outcome ``breach``, ``pass`` or
        ``inconclusive`` (edgeseg.stats.judge on the row's interval); None when the row does
        not hold this metric in BASE (nothing to compare; a budget rule needs only NEW)."""
        col = METRICS[self.metric][0]
        new, base = row.get(f"new_{col}"), row.get(f"base_{col}")
        if base is None and (self.change or new is None):
            return None
        name = f"{self.text}: {row_name(row)}"
        if new is None:
            return "breach", f"{name}: the new report holds no finite {col} for it, so the gate cannot judge it"
        if not self.change:
            lo, hi = row.get(f"new_{col}_lo", new), row.get(f"new_{col}_hi", new)
        else:
            dlo, dhi = row.get(f"{col}_delta_lo"), row.get(f"{col}_delta_hi")
            if dlo is None or dhi is None:
                return "inconclusive", f"{name}: no uncertainty is known for this change"
            if self.relative:
                if not base:
                    return "breach", f"{name}: the base value is 0, so a relative change cannot be judged"
                dlo, dhi = 100.0 * dlo / base, 100.0 * dhi / base
            lo, hi = dlo, dhi
        outcome = judge(lo, hi, self.op, self.value)
        return outcome, f"{name}: {describe_change(row, col, METRICS[self.metric][1])}"


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
    base, new = row.get(f"base_{col}"), row.get(f"new_{col}")
    text = f"{_fmt(base, unit)} -> {_fmt(new, unit)}"
    if base is not None and new is not None:
        pct = f", {100 * (new - base) / base:+.1f}%" if base else ""
        text += f" ({new - base:+.4g}{(' ' + unit) if unit else ''}{pct}"
        dlo, dhi = row.get(f"{col}_delta_lo"), row.get(f"{col}_delta_hi")
        if dlo is not None and dhi is not None and unit:
            if base:
                text += f"; {row.get(f'{col}_confidence', 0.90):.0%} interval {100 * dlo / base:+.1f}% to {100 * dhi / base:+.1f}%"
            else:
                text += f"; interval {dlo:+.3g} to {dhi:+.3g} {unit}"
            if row.get(f"{col}_method"):
                text += f", {row[f'{col}_method']}"
        text += ")"
    return text


def _repeats(text) -> list[float]:
    """``repeat_medians_ms`` ("12.1;12.3;...") -> the finite positive values."""
    out = []
    for part in str(text or "").split(";"):
        v = finite_or_none(part)
        if v is not None and v > 0:
            out.append(v)
    return out


def _median_se(r: dict) -> float | None:
    """A latency row's median's standard error: from std_ms and runs, else from the tail (p90
    - median = 1.2816 sigma, p95 - median = 1.6449 sigma for normal noise) and runs."""
    median, runs = finite_or_none(r.get("median_ms")), finite_or_none(r.get("runs"))
    std = finite_or_none(r.get("std_ms"))
    if std is None and median is not None:
        for key, z in (("p90_ms", 1.2816), ("p95_ms", 1.6449)):
            tail = finite_or_none(r.get(key))
            if tail is not None:
                std = max(0.0, tail - median) / z
                break
    return median_se(std, runs)


def _rows(rep: dict) -> list[dict]:
    """The rows a report is compared by: a bench folder's latency (or summary) rows, else an
    ``eval --device`` folder's on-device quality rows (one per device and delegate: they carry
    device_miou, and no latency)."""
    return rep["latency"] or rep["summary"] or [r for r in rep["quality"] if r.get("where") == "device"]


def _measures(rep: dict) -> dict:
    """(artifact, device, delegate) -> median, its noise, energy and its error, the host's and the device's mIoU."""
    power = {(r["artifact"], r["device"], r["delegate"]): r for r in rep["power"] if r.get("status") != "failed"}
    host_q = {
        r["artifact"]: finite_or_none(r.get("miou")) for r in rep["quality"] if r.get("where", "host") != "device"
    }
    dev_q = {
        (r["artifact"], r.get("device"), r.get("delegate")): finite_or_none(r.get("miou"))
        for r in rep["quality"]
        if r.get("where") == "device"
    }
    out = {}
    for r in _rows(rep):
        key = (r["artifact"], r["device"], r["delegate"])
        p = power.get(key, {})
        out[key] = {
            "status": r.get("status"),
            "error": r.get("error"),
            "median_ms": finite_or_none(r.get("median_ms")),
            "median_se": _median_se(r),
            "repeats": _repeats(r.get("repeat_medians_ms")),
            "energy_mj": finite_or_none(p.get("energy_mj_per_inference")),
            "energy_err": finite_or_none(p.get("energy_mj_err")),
            "miou": host_q.get(r["artifact"]),
            "device_miou": dev_q.get(key),
        }
    return out


def _verdicts(row: dict) -> list[str]:
    """A word per metric whose whole interval of change is on one side of 0."""
    words = {
        "median_ms": ("slower", "faster"),
        "energy_mj": ("more energy", "less energy"),
        "miou": ("lower host mIoU", "higher host mIoU"),
        "device_miou": ("lower device mIoU", "higher device mIoU"),
    }
    out = []
    for col, (up, down) in words.items():
        lo, hi = row.get(f"{col}_delta_lo"), row.get(f"{col}_delta_hi")
        if lo is None or hi is None:
            continue
        if lo > 0:
            out.append(up if WORSE_IF_HIGHER[col] else down)
        elif hi < 0:
            out.append(down if WORSE_IF_HIGHER[col] else up)
    return out


def latency_interval(bb: dict, nn: dict) -> dict | None:
    """The interval of the median latency's change (fractions; edgeseg.stats): a rank test on
    the repeat medians where both sides have 3 or more, else each median's standard error."""
    got = shift_interval(bb["repeats"], nn["repeats"])
    if got is None and bb["median_ms"] and nn["median_ms"] and bb["median_se"] is not None:
        if nn["median_se"] is not None:
            # several repeats of fewer than 3: their runs pooled in the standard error
            got = normal_interval(bb["median_ms"], nn["median_ms"], bb["median_se"], nn["median_se"])
    return got


def _new_value_interval(nn: dict) -> tuple[float, float] | None:
    """The new median's own 90% interval, for budget rules: from the spread of its repeat
    medians (3 or more), else from its standard error."""
    m = nn["median_ms"]
    if m is None:
        return None
    reps = nn["repeats"]
    if len(reps) >= 3:
        logs = [math.log(x) for x in reps]
        s = 1.2533 * statistics.stdev(logs) / math.sqrt(len(logs))
    elif nn["median_se"] is not None and m > 0:
        s = nn["median_se"] / m
    else:
        return None
    return m * math.exp(-Z90 * s), m * math.exp(Z90 * s)


def compare_row(bb: dict, nn: dict, row: dict) -> dict:
    """``row`` with each metric's base/new value, change and interval of the change
    (``{col}_delta_lo/_hi``, absolute), the latency's confidence and method, and the verdict."""
    for col in ("median_ms", "energy_mj", "miou", "device_miou"):
        row[f"base_{col}"], row[f"new_{col}"] = bb[col], nn[col]
        if bb[col] is not None and nn[col] is not None:
            row[f"{col}_delta"] = nn[col] - bb[col]
            row[f"{col}_change"] = (nn[col] - bb[col]) / bb[col] if bb[col] else None
    iv = latency_interval(bb, nn) if "median_ms_delta" in row else None
    if iv:
        base = bb["median_ms"]
        row.update(
            median_ms_delta_lo=base * iv["lo"],
            median_ms_delta_hi=base * iv["hi"],
            median_ms_change_lo=iv["lo"],
            median_ms_change_hi=iv["hi"],
            median_ms_confidence=iv["confidence"],
            median_ms_method=iv["method"],
            median_ms_repeats=f"{len(bb['repeats']) or 1}+{len(nn['repeats']) or 1}",
        )
        row["median_ms_noise"] = base * (iv["hi"] - iv["lo"]) / 2
    new_iv = _new_value_interval(nn)
    if new_iv:
        row["new_median_ms_lo"], row["new_median_ms_hi"] = new_iv
    if "energy_mj_delta" in row:
        errs = [e for e in (bb["energy_err"], nn["energy_err"]) if e is not None]
        band = ENERGY_K * math.sqrt(sum(e * e for e in errs)) if len(errs) == 2 else 0.0
        row["energy_mj_noise"] = band
        row["energy_mj_delta_lo"], row["energy_mj_delta_hi"] = (
            row["energy_mj_delta"] - band,
            row["energy_mj_delta"] + band,
        )
        if nn["energy_err"] is not None:
            row["new_energy_mj_lo"] = nn["energy_mj"] - ENERGY_K * nn["energy_err"]
            row["new_energy_mj_hi"] = nn["energy_mj"] + ENERGY_K * nn["energy_err"]
    for col in ("miou", "device_miou"):
        if f"{col}_delta" in row:
            row[f"{col}_noise"] = MIOU_EPS
            row[f"{col}_delta_lo"] = row[f"{col}_delta"] - MIOU_EPS
            row[f"{col}_delta_hi"] = row[f"{col}_delta"] + MIOU_EPS
    row["verdict"] = ", ".join(_verdicts(row)) or ("same" if iv or "median_ms_delta" not in row else "unknown")
    return row


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


def compare_reports(base: str | Path, new: str | Path, rules: tuple[str, ...] = (), inconclusive: str = "fail") -> dict:
    """Rows (one per key in either report), breaches of ``rules``, the rule outcomes that the
    data could not decide (``inconclusive``: breaches too unless ``inconclusive='pass'``), and
    notes."""
    parsed = [parse_rule(r) for r in rules]
    reps = []
    for folder in (base, new):
        rep = read_report(folder)
        if not _rows(rep):
            raise ReportError(
                f"{folder} holds no latency rows and no on-device quality rows: compare two `edgeseg bench` "
                "report folders (median_ms, energy_mj, miou rules) or two `edgeseg eval --device` folders "
                "(device_miou rules)"
            )
        reps.append(rep)
    b, n = _measures(reps[0]), _measures(reps[1])
    rows, breaches, undecided, notes = [], [], [], []
    judged = {r.text: 0 for r in parsed}
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
        rows.append(compare_row(bb, nn, row))
        for rule in parsed:
            got = rule.judged(row)
            if got is None:
                continue
            judged[rule.text] += 1
            outcome, why = got
            if outcome == "breach":
                breaches.append(why)
            elif outcome == "inconclusive":
                undecided.append(why)
    for text, count in judged.items():
        if count == 0 and any(r["verdict"] not in ("new", "missing", "failed", "fixed") for r in rows):
            metric = parse_rule(text).metric
            breaches.append(f"{text}: no row measured in both reports holds {metric}, so the gate cannot judge it")
    if inconclusive == "fail":
        breaches += [f"inconclusive: {u}" for u in undecided]
    if any(r.get("base_energy_mj") is not None and not r.get("energy_mj_noise") for r in rows):
        notes.append("some energy rows carry no energy_mj_err: their energy changes are judged without a noise band")
    single = [r for r in rows if (r.get("median_ms_method") or "").startswith("within-run")]
    if single:
        notes.append(
            f"{len(single)} row(s) have fewer than 3 repeats on a side: their latency band is each median's "
            "within-run uncertainty (std and runs), which leaves out run-to-run changes (load, DVFS, heat); "
            "measure both with `edgeseg bench --repeat 5` for a gate that holds across runs"
        )
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
        "inconclusive": undecided,
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
    "median_ms_change_lo",
    "median_ms_change_hi",
    "median_ms_repeats",
    "base_energy_mj",
    "new_energy_mj",
    "energy_mj_change",
    "miou_delta",
    "device_miou_delta",
    "verdict",
]
