"""Sustained runs (``edgeseg bench --sustained DURATION``): each row run continuously, in
back-to-back windows, with the phone's thermal zones, CPU frequencies and battery temperature
at the end of each window, and a throttling verdict per row; and ``--cooldown``, the wait
between rows until the phone is back near the temperature it started the sweep at.

A window is one session of the row's benchmark (:func:`edgeseg.device.bench.bench_row`, handed
in by bench_device with its conditions parser and thermal reader: this module imports nothing of
bench's) with ``min_secs`` = the window, so the number of windows is ``ceil(DURATION / WINDOW)``
whatever the host's or the phone's speed. Between two windows the benchmark reloads the model
and warms up (which keeps the phone busy too). No power is sampled: a sustained run is latency
with its thermal and frequency evidence; energy per inference comes from a normal bench's rows.
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
import time
from collections.abc import Callable

from ..config import finite_or_none
from ..errors import DeviceError, UsageError
from . import power as pw
from .transport import DeviceConnectionError

#: ``--window`` when none is given (capped at the duration).
DEFAULT_WINDOW_S = 30.0
#: A plan is refused below this window or above this many windows per row: each window also
#: reloads and warms the model, so a tiny window measures the reload and the run takes hours.
MIN_WINDOW_S = 0.1
MAX_WINDOWS = 1000
#: ``--cooldown`` waits until the hottest zone is within this many degrees of its temperature
#: at the start of the sweep ...
COOLDOWN_MARGIN_C = 2.0
#: ... reading it every this many seconds (bounded by the profile's thermal.cooldown_max_secs).
COOLDOWN_POLL_S = 5.0

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|secs|m|min|mins|h)?\s*$", re.IGNORECASE)
_UNIT_S = {"": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0, "m": 60.0, "min": 60.0, "mins": 60.0, "h": 3600.0}


def parse_duration(value, param: str = "--sustained") -> float:
    """``"30s"``, ``"10m"``, ``"1h"``, ``"0.5s"`` or plain seconds (a number or its text) ->
    seconds (> 0, finite); anything else is a :class:`UsageError` naming ``param``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        seconds = float(m.group(1)) * _UNIT_S[(m.group(2) or "").lower()] if m else None
    if seconds is None or math.isnan(seconds) or seconds == math.inf:
        raise UsageError(
            f"{param} {value!r} is not a duration: give seconds, or a number with s, m or h (30s, 10m, 1h)", param=param
        )
    if seconds <= 0:
        raise UsageError(f"{param} must be more than 0 seconds, got {value!r}", param=param)
    return seconds


def window_count(duration_s: float, window_s: float) -> int:
    """``ceil(duration / window)`` (a quotient a rounding error above an integer is that integer)."""
    return max(1, math.ceil(duration_s / window_s - 1e-9))


def _ok(w: dict) -> bool:
    return w.get("status") != "failed" and (finite_or_none(w.get("median_ms")) or 0) > 0


#: Fewer valid windows than this give no verdict: the window-to-window variability is estimated
#: from the windows themselves (their successive differences), which needs a few.
MIN_WINDOWS = 5
#: A shift of the sustained level must exceed this many standard errors of the difference of the
#: two levels (medians of the first and last thirds, with the window-to-window sigma) ...
SHIFT_Z = 2.5
#: ... and this fraction of the first level (smaller moves are not what a user asks about) ...
MIN_SHIFT = 0.05
#: ... and hold over the last windows: at least this many (or the whole last third, if fewer)
#: consecutive windows at the end beyond half the shift.
MIN_CONSECUTIVE = 2
#: Evidence of throttling between the first and last thirds: the highest CPU frequency down by
#: this fraction, or the hottest zone up by this many degrees.
FREQ_DROP = 0.05
ZONE_RISE_C = 5.0


def _within_se(w: dict) -> float | None:
    """One window's median's own standard error, relative (from std and runs, else its tail)."""
    from ..stats import median_se

    m = finite_or_none(w.get("median_ms"))
    std = finite_or_none(w.get("std_ms"))
    if std is None:
        for key, z in (("p95_ms", 1.6449), ("p90_ms", 1.2816)):
            if finite_or_none(w.get(key)) is not None:
                std = max(0.0, finite_or_none(w[key]) - m) / z
                break
    se = median_se(std, finite_or_none(w.get("runs")) or 1)
    return se / m if se is not None and m else None


def _level(ws: list[dict], key: str) -> float | None:
    vals = [finite_or_none(w.get(key)) for w in ws if finite_or_none(w.get(key)) is not None]
    return statistics.median(vals) if vals else None


def _evidence(first: list[dict], tail: list[dict]) -> tuple[str, bool | None]:
    """What changed on the phone between the first and the last third of the windows, for each
    reading readable in both: ``(text, throttling shown)``; shown is None when nothing reads."""
    bits, shown, read = [], False, False
    for key, name, unit, fmt in (
        ("cpu_max_mhz", "CPU max", "MHz", "{:.0f}"),
        ("zone_max_c", "hottest zone", "C", "{:.1f}"),
        ("battery_c", "battery", "C", "{:.1f}"),
    ):
        a, b = _level(first, key), _level(tail, key)
        if a is None or b is None:
            continue
        read = True
        sa, sb = fmt.format(a), fmt.format(b)
        bits.append(f"{name} {sa} {unit} (unchanged)" if sa == sb else f"{name} {sa} -> {sb} {unit}")
        if key == "cpu_max_mhz" and a > 0 and (a - b) / a >= FREQ_DROP:
            shown = True
        if key == "zone_max_c" and b - a >= ZONE_RISE_C:
            shown = True
    return ", ".join(bits), (shown if read else None)


def throttling_verdict(windows: list[dict]) -> dict:
    """A row's verdict from its windows (failed ones never count), a test on the windows
    themselves:

    * the window-to-window variability ``sigma``: robustly from the successive differences of
      the log window medians (edgeseg.stats.robust_sigma_of_steps: a level shift moves one
      difference), never below the windows' own within-window uncertainty;
    * ``first`` / ``sustained``: the medians of the first and last thirds of the valid windows
      (at least 3 and 2 windows: one slow window early on moves neither);
      a shift when |log(sustained / first)| exceeds :data:`SHIFT_Z` standard errors of that
      difference and :data:`MIN_SHIFT`, and the last :data:`MIN_CONSECUTIVE` or more windows
      (consecutive, to the end) are all beyond half of it: a sustained shift, not one slow
      window;
    * the frequency and temperature evidence between the two thirds decides the word: slower
      with the CPU's highest frequency down :data:`FREQ_DROP` or the hottest zone up
      :data:`ZONE_RISE_C` is ``throttled``; a shift without that evidence is ``drift`` (the
      evidence line says what was read); no shift is ``steady``; fewer than :data:`MIN_WINDOWS`
      valid windows, or no valid window 1, ``unknown`` (and why).

    Returns the latency row's columns sustained_median_ms, sustained_change (a fraction),
    throttling, throttling_onset_window (the first window of the final run beyond half the
    shift), throttling_evidence. Its false-alarm and miss rates: benchmarks/verdicts.py."""
    from ..stats import robust_sigma_of_steps

    out = {
        "sustained_median_ms": None,
        "sustained_change": None,
        "throttling": "unknown",
        "throttling_onset_window": None,
        "throttling_evidence": None,
    }
    ok = [w for w in windows if _ok(w)]
    if not windows or not _ok(windows[0]):
        why = windows[0].get("error") if windows else None
        return {
            **out,
            "throttling_evidence": "window 1 failed"
            + (f" ({why})" if why else "")
            + ": no reference to compare the others with",
        }
    if len(ok) < MIN_WINDOWS:
        return {
            **out,
            "throttling_evidence": f"{len(ok)} valid window(s) of {len(windows)}: a verdict needs at least "
            f"{MIN_WINDOWS} (a longer --sustained or a shorter --window)",
        }
    k = max(2, len(ok) // 3)
    head, tail = ok[: max(3, k)], ok[-k:]
    logs = [math.log(finite_or_none(w["median_ms"])) for w in ok]
    within = [x for x in map(_within_se, ok) if x is not None]
    sigma = max(robust_sigma_of_steps(logs) or 0.0, statistics.median(within) if within else 0.0, 1e-4)
    first = statistics.median(finite_or_none(w["median_ms"]) for w in head)
    sustained = statistics.median(finite_or_none(w["median_ms"]) for w in tail)
    shift = math.log(sustained / first)
    se = sigma * math.sqrt(math.pi / 2) * math.sqrt(1 / len(head) + 1 / k)
    bar = max(SHIFT_Z * se, math.log(1 + MIN_SHIFT))
    run = 0
    for x in reversed(logs):
        if (x - math.log(first)) * math.copysign(1, shift) > abs(shift) / 2:
            run += 1
        else:
            break
    change = sustained / first - 1
    evidence, shown = _evidence(head, tail)
    spans = f"windows {head[0]['window']}-{head[-1]['window']} and {tail[0]['window']}-{tail[-1]['window']}"
    text = f"median {first:.1f} -> {sustained:.1f} ms ({change:+.0%})"
    noise = f"window-to-window sigma {sigma:.1%}, shift needed {math.exp(bar) - 1:.1%}"
    onset = None
    if abs(shift) > bar and run >= min(MIN_CONSECUTIVE, k):
        onset = ok[len(ok) - run]["window"]
        if shift > 0 and shown:
            verdict = "throttled"
            text += f" from window {onset} ({noise})"
        else:
            verdict = "drift"
            why = ("faster, " if shift < 0 else "") + (
                "no CPU frequency drop or zone temperature rise to explain it"
                if shown is False
                else "no CPU frequency or temperature read to explain it"
                if shown is None
                else "with a frequency or temperature change"
            )
            text += f" from window {onset}: {why} ({noise})"
    else:
        verdict = "steady"
        text += f", within the windows' own variability ({noise}; {spans})"
    return {
        "sustained_median_ms": sustained,
        "sustained_change": change,
        "throttling": verdict,
        "throttling_onset_window": onset if verdict != "steady" else None,
        "throttling_evidence": text + (f"; {evidence}" if evidence else ""),
    }


def _window(n: int, row: dict, end: dict, span: tuple, clock: str) -> dict:
    return {
        "window": n,
        "t_start_s": span[0],
        "t_end_s": span[1],
        "clock": clock,
        **{k: row.get(k) for k in ("median_ms", "p90_ms", "p95_ms", "std_ms", "runs", "status", "error")},
        "zone_max_c": end.get("zone_max_c"),
        "battery_c": end.get("battery_temp"),
        "cpu_max_mhz": end.get("cpu_max_mhz"),
    }


def run_sustained(
    ctx, measure: Callable, where: dict, plan: tuple[float, float], conditions: Callable[[str], dict]
) -> dict:
    """One row run for ``plan`` = (duration, window) seconds: ``{"row", "ops", "sec", "windows",
    "lost"}``. ``measure(window_ctx)`` gives one window's ``(latency row, ops, sections)``
    (bench_row without power, under the row's tag, so that an interrupt cleans up whichever
    window is running); ``conditions`` parses a snapshot (bench.parse_conditions).

    ``row`` is window 1's latency row with the verdict's columns; ``sec`` its session sections,
    with the last measured window's ``cond_end``; ``windows`` one record per window (``where`` +
    window, t_start_s/t_end_s from the row's start on the device's boot clock, else the host's,
    median and tail, runs, hottest zone, battery and highest CPU frequency at the window's end,
    status/error). A window 1 that fails is the row failed (no reference: no more windows); a
    later one is a failed window, skipped by the verdict; a lost device ends the row with what
    was measured (``lost``: why)."""
    duration, window = plan
    total = window_count(duration, window)
    wctx = dataclasses.replace(ctx, min_secs=window)
    windows, first, lost = [], None, None
    host0, dev0 = time.monotonic(), None
    for n in range(1, total + 1):
        a = time.monotonic() - host0
        try:
            row, ops, sec = measure(wctx)
        except DeviceConnectionError as exc:
            lost, row, ops, sec = str(exc), {"status": "failed", "error": f"device lost: {exc}"}, [], {}
        except DeviceError as exc:
            row, ops, sec = {"status": "failed", "error": str(exc)}, [], {}
        marks = pw.parse_power_log(sec.get("power", ""), ctx.profile.power).markers if sec else {}
        if n == 1 and marks.get("run_start") is not None:
            dev0 = marks["run_start"]
        if dev0 is not None and marks.get("run_start") is not None and marks.get("run_end") is not None:
            span, clock = (marks["run_start"] - dev0, marks["run_end"] - dev0), "device"
        else:
            span, clock = (a, time.monotonic() - host0), "host"
        windows.append({**where, **_window(n, row, conditions(sec.get("cond_end", "")), span, clock)})
        w = windows[-1]
        if not _ok(w):
            ctx.say(f"      window {n}/{total} failed: {w.get('error') or 'no median latency'}")
        else:
            readings = ", ".join(
                f"{name} {fmt.format(w[k])}"
                for k, name, fmt in (
                    ("zone_max_c", "hottest zone", "{:.1f} C"),
                    ("cpu_max_mhz", "CPU max", "{:.0f} MHz"),
                    ("battery_c", "battery", "{:.1f} C"),
                )
                if w.get(k) is not None
            )
            ctx.say(f"      window {n}/{total}: median {w['median_ms']:.2f} ms" + (f", {readings}" if readings else ""))
        if n == 1:
            first = (row, ops, sec)
        elif sec:
            first[2]["cond_end"] = sec.get("cond_end", first[2].get("cond_end", ""))
        if lost or (n == 1 and w["status"] == "failed"):
            break
    row, ops, sec = first
    verdict = throttling_verdict(windows)
    failed = [w for w in windows[1:] if w["status"] == "failed"]
    notes = [row.get("note")] if row.get("note") else []
    if failed:
        notes.append(f"sustained window(s) {', '.join(str(w['window']) for w in failed)} failed: {failed[0]['error']}")
    if len(windows) < total and windows[0]["status"] != "failed":
        notes.append(f"sustained run stopped after window {len(windows)} of {total}")
    ctx.say(f"      {verdict['throttling']}: {verdict['throttling_evidence']}")
    return {
        "row": {**row, **verdict, "note": "; ".join(notes) or None},
        "ops": ops,
        "sec": sec,
        "windows": windows,
        "lost": lost,
    }


class Cooldown:
    """``--cooldown``: the hottest thermal zone read at the start of the sweep, and before
    each row after the first a wait (:func:`cool_to`) until the phone is back near it."""

    def __init__(self, session, say, read: Callable):
        self.session, self.say, self.read, self.rows = session, say, read, 0
        self.start_c = read(session)
        if self.start_c is None:
            say("      note: --cooldown: no thermal zone of the profile reads on this device: rows are not cooled down")

    def before_row(self) -> dict:
        """The row's cooldown columns (``cooldown_s``, ``cooldown_from_c``, and a ``note`` when
        no zone reads or the bound was hit)."""
        self.rows += 1
        if self.rows == 1:
            return {"cooldown_s": 0.0, "cooldown_from_c": self.start_c}
        return cool_to(self.session, self.start_c, self.session.profile.thermal.cooldown_max_secs, self.say, self.read)


def cool_to(session, start_c: float | None, max_secs: float, say, read: Callable) -> dict:
    """Wait until the hottest zone (``read(session)``: bench.read_temperature) is within
    :data:`COOLDOWN_MARGIN_C` of ``start_c``, reading it every :data:`COOLDOWN_POLL_S` seconds,
    for at most ``max_secs``: ``{"cooldown_s" (the seconds waited), "cooldown_from_c" (the
    temperature before waiting), "note" (only when no zone reads, or when the bound was hit)}``."""
    no_zone = {
        "cooldown_s": None,
        "cooldown_from_c": None,
        "note": "--cooldown: no readable thermal zone, so no cool-down before this row",
    }
    if start_c is None:
        return no_zone
    target = start_c + COOLDOWN_MARGIN_C
    t = read(session)
    if t is None:
        return no_zone
    t_from, waited = t, 0.0
    while t is not None and t > target and waited < max_secs:
        say(
            f"      cooling down: {t:.1f} C, waiting for {target:.1f} C (start {start_c:.1f} C + "
            f"{COOLDOWN_MARGIN_C:g} C), {waited:.0f} s of at most {max_secs:.0f} s"
        )
        step = min(COOLDOWN_POLL_S, max_secs - waited)
        time.sleep(step)
        waited += step  # the seconds slept: what the wait is bounded by
        t = read(session)
    out = {"cooldown_s": waited, "cooldown_from_c": t_from}
    if t is None:
        out["note"] = f"--cooldown: the thermal zones stopped reading after {waited:.0f} s"
    elif t > target:
        out["note"] = (
            f"cool-down bound hit: still {t:.1f} C after {waited:.0f} s (thermal.cooldown_max_secs), not "
            f"back to {target:.1f} C (start {start_c:.1f} C + {COOLDOWN_MARGIN_C:g} C): this row started "
            "warmer than the first"
        )
        say(f"      {out['note']}")
    return out
