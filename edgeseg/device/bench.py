"""Benchmark artifacts on a device, one row per (artifact, delegate), with power.

For each row one shell session on the device: start the power sampler, wait the idle
baseline, mark the run, run the benchmark (by the delegate's row of
:data:`edgeseg.device.runners.RUNNERS`: benchmark_model, LiteRT's CompiledModel
benchmark_model, or the Python runner on Linux boards), mark the end, stop the sampler,
print everything. One session means no ADB round trips while measuring; the host then parses latency, delegation and power. A combination
that fails is a row with status ``failed`` and the error, never an aborted sweep.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Callable

from ..errors import ArtifactError, DeviceError
from ..artifact import check_tflite_file, read_manifest, separate_file, signature_label, signatures_of
from . import power as pw
from .deploy import deploy
from .runners import (RUNNER_FILE, BenchContext, Runner, benchmark_binary_for,  # noqa: F401  (re-exported)
                      benchmark_model_command, compiled_delegation, compiled_for, device_runners,
                      python_runner_command, runner_for)
from .session import DeviceSession, q
from .transport import DeviceConnectionError

log = logging.getLogger(__name__)

SECTION = "__EDGESEG_SECTION__"


def session_script(session: DeviceSession, bench_cmd: str, with_power: bool, tag: str,
                   sources: list[str] = ()) -> str:
    """One shell session on the device: sampler, idle baseline, markers, the benchmark, and
    everything printed in sections (POSIX shell: busybox ash and mksh/toybox run it)."""
    p = session.profile
    out, err = p.remote(f".bench_{tag}.out"), p.remote(f".bench_{tag}.err")
    log, stop = p.remote(f".power_{tag}.log"), p.remote(f".power_{tag}.stop")
    s = f"cd {q(p.work_dir)} || exit 97; rm -f {q(log)} {q(stop)}; "
    if with_power:
        s += pw.sampler_start(p.power, p.thermal, log, stop, list(sources))
        s += pw.marker(log, "idle_start") + f"sleep {p.power.idle_secs}; "
    s += pw.marker(log, "run_start")
    s += f"{bench_cmd} > {q(out)} 2> {q(err)}; rc=$?; "
    s += pw.marker(log, "run_end")
    if with_power:
        s += pw.sampler_stop(stop)
    s += (f"echo {SECTION} out; cat {q(out)}; echo {SECTION} err; cat {q(err)}; echo {SECTION} power; "
          f"cat {q(log)} 2>/dev/null; echo {SECTION} rc $rc; rm -f {q(out)} {q(err)} {q(log)} {q(stop)}")
    return s


def split_sections(text: str) -> dict:
    parts, current, rc = {"out": [], "err": [], "power": []}, None, None
    for line in text.splitlines():
        if line.startswith(SECTION):
            bits = line.split()
            if bits[1] == "rc":
                rc = int(bits[2]) if len(bits) > 2 and bits[2].lstrip("-").isdigit() else None
                current = None
            else:
                current = bits[1]
            continue
        if current:
            parts[current].append(line)
    return {k: "\n".join(v) for k, v in parts.items()} | {"rc": rc}


def read_temperature(session: DeviceSession) -> float | None:
    zones = session.profile.thermal.zones
    if not zones:
        return None
    res = session.shell("; ".join(f"cat {q(z)} 2>/dev/null || echo" for z in zones))
    vals = [float(v) / 1000.0 for v in res.text.split() if v.lstrip("-").isdigit()]
    return max(vals) if vals else None


def cool_down(session: DeviceSession, say: Callable[[str], None]) -> float | None:
    th = session.profile.thermal
    t = read_temperature(session)
    start = time.monotonic()
    while t is not None and t > th.cooldown_above_c and time.monotonic() - start < th.cooldown_max_secs:
        say(f"      cooling down: {t:.1f} C > {th.cooldown_above_c:.0f} C")
        time.sleep(min(10.0, th.cooldown_max_secs))
        t = read_temperature(session)
    return t


def bench_jobs(artifacts: list[Path]) -> list[tuple[str, Path, dict, str | None]]:
    """``(row label, file to run, manifest, error)`` per row group. A multi-signature (PTA)
    artifact gives one job per configuration, run from the configuration's separate file
    (the same graph as its signature): benchmark_model runs a model's primary subgraph and
    reports delegation for it, so the separate file is what gives each configuration its own
    latency and delegation columns on every runner."""
    jobs = []
    for art in artifacts:
        art = check_tflite_file(art)
        manifest = read_manifest(art) or {}
        sigs = signatures_of(manifest)
        if not sigs:
            jobs.append((art.stem, art, manifest, None))
            continue
        for sig in sigs:
            try:
                jobs.append((signature_label(art, sig), separate_file(art, manifest, sig), manifest, None))
            except ArtifactError as exc:
                jobs.append((signature_label(art, sig), art, manifest, str(exc)))
    return jobs


def check_power(session: DeviceSession, say: Callable[[str], None]) -> tuple[bool, str, dict]:
    """Before the sweep: whether the phone charges (and why we think so), and which of the
    sources the profile allows give usable readings (``{"usable", "skipped"}``)."""
    p = session.profile
    charging, why = pw.parse_charging(session.shell(pw.charging_command(p.power)).text)
    if charging:
        say(f"warning: {why}; {pw.CHARGING_ADVICE}")
    allowed = pw.allowed_sources(p.power)
    check = pw.check_sources(session.shell(pw.probe_command(p.power, allowed)).text, p.power, allowed)
    skipped = "; ".join(f"{k}: {v}" for k, v in check["skipped"].items())
    if check["usable"]:
        say(f"power: {', '.join(check['usable'])}" + (f" (not used: {skipped})" if skipped else ""))
    else:
        say(f"warning: no usable power source on this device ({skipped or 'none allowed'}): every power row "
            "will be failed; pass --no-power to measure latency only")
    return charging, why, check


def bench_row(ctx: BenchContext, runner: Runner, artifact: Path, remote: str, delegate: str, with_power: bool,
              sources: list[str]) -> tuple[dict, list, dict, tuple | None]:
    """One (artifact, delegate) row by ``runner`` in one shell session: ``(latency row, ops
    rows, the session's sections, the runner's timed window or None)``. Raises DeviceError
    (a failed row) or DeviceConnectionError (the device is gone)."""
    spec = ctx.profile.delegate(delegate)
    why = runner.why_not(delegate)
    if why:
        raise DeviceError(why)
    inv = runner.command(ctx, artifact, remote, spec)
    if with_power:
        cool_down(ctx.session, ctx.say)
    script = session_script(ctx.session, inv.command, with_power, secrets.token_hex(4), sources)
    res = ctx.session.with_retry(lambda c: c.shell(script, timeout=3600, idle_timeout=None), "benchmark")
    sec = split_sections(res.text)
    row, ops, window = runner.parse(ctx, sec, inv)
    if row.get("note") and inv.op_profile:
        ctx.say(f"      note: {row['note']}")
    return row, ops, sec, (window if runner.power_window else None)


def power_of_row(ctx: BenchContext, sec: dict, row: dict, window: tuple | None,
                 check: dict) -> tuple[dict, tuple[float, float], list[dict]]:
    """``(power row, timed window, trace rows)`` of one benchmarked row from its power log:
    the idle baseline and the timed window (the runner's own, else the markers around it)."""
    plog = pw.parse_power_log(sec["power"], ctx.profile.power)
    m = plog.markers
    idle = (m.get("idle_start", 0), m.get("run_start", 0))
    run = window or (m.get("run_start", 0), m.get("run_end", 0))
    e = pw.energy(plog, idle, run, row.get("mean_ms") or 0.0, check["usable"], check["skipped"])
    e.pop("idle_samples")
    if not m.get("run_start"):
        e.update(status="failed", error="the power log has no readable markers: the device's "
                 f"{pw.UPTIME} gave no time ({len(plog.samples)} sample line(s) parsed)")
    if e["status"] == "failed":
        ctx.say(f"      power failed: {e['error']}")
    elif e.get("source_note") and e["energy_source"] not in check["usable"][:1]:
        ctx.say(f"      power from {e['energy_source']}: {e['source_note']}")
    t0 = m.get("idle_start", plog.samples[0]["t"] if plog.samples else 0)
    trace = []
    for s in plog.samples:
        phase = "idle" if idle[0] <= s["t"] < idle[1] else "run" if run[0] <= s["t"] <= run[1] else "other"
        trace.append({"t_s": s["t"] - t0, "power_mw": s["power_mw"], "battery_c": s["battery_c"], "phase": phase})
    return e, run, trace


def bench_device(session: DeviceSession, artifacts: list[Path], delegates: list[str], threads: int | None = None,
                 runs: int = 50, min_secs: float = 2.0, op_profile: bool = False, with_power: bool = True,
                 benchmark_binary: str | None = None, require_full: bool = False,
                 say: Callable[[str], None] = lambda s: None, progress_factory=None) -> dict:
    """Every artifact x delegate on the device: ``{"latency", "power", "ops", "trace",
    "device"}``. Each delegate is run by its row of edgeseg.device.runners.RUNNERS
    (:func:`runner_for`); every row the runners need is prepared before the first one."""
    p = session.profile
    info = session.getprops()
    ctx = BenchContext(session, info, threads or p.threads, runs, min_secs, op_profile, require_full,
                       benchmark_binary, say, progress_factory)
    with_power = with_power and p.power.source != "none"
    charging, why, check = check_power(session, say) if with_power else (False, "", {"usable": [], "skipped": {}})
    plan = {d: runner_for(p, d) for d in delegates}
    for runner in dict.fromkeys(plan.values()):
        runner.prepare(ctx)
    device_name = info.get("model") or p.name
    out: dict[str, list] = {"latency": [], "power": [], "ops": [], "trace": []}
    accelerators = lost = None  # once the device is gone for good, the remaining rows are recorded as not run
    for label, art, manifest, deploy_error in bench_jobs(artifacts):
        remote = None
        if lost is None and not deploy_error:
            say(f"deploy {art.name}")
            try:
                remote = deploy(session, art, progress_factory)["remote"]
            except DeviceConnectionError as exc:
                lost = str(exc)
            except DeviceError as exc:
                deploy_error = f"deploy failed: {exc}"
        for delegate in delegates:
            where = {"artifact": label, "device": device_name, "delegate": delegate}
            base = {"artifact": label, "recipe": manifest.get("recipe", "unknown"), "device": device_name,
                    "delegate": delegate, "threads": ctx.threads, "runner": plan[delegate].label}
            if lost is not None or deploy_error:
                out["latency"].append({**base, "status": "failed", "error": deploy_error or f"not run: {lost}"})
                continue
            say(f"bench {label} on {delegate}")
            try:
                row, ops, sec, window = bench_row(ctx, plan[delegate], art, remote, delegate, with_power,
                                                  check["usable"])
            except DeviceConnectionError as exc:
                lost = str(exc)
                out["latency"].append({**base, "status": "failed", "error": lost})
                continue
            except DeviceError as exc:
                out["latency"].append({**base, "status": "failed", "error": str(exc)})
                continue
            accelerators = row.pop("accelerators", None) or accelerators
            out["latency"].append({**base, **row})
            out["ops"] += [{**where, **o} for o in ops]
            if with_power and row.get("status") != "failed":
                e, run, trace = power_of_row(ctx, sec, row, window, check)
                out["power"].append({**where, **e, "charging": charging, "window_start": run[0], "window_end": run[1]})
                out["trace"] += [{"artifact": label, "delegate": delegate, **t} for t in trace]
    key = device_key(info, session.serial)
    if accelerators and key:
        from .session import remember_device  # noqa: PLC0415

        remember_device(key, nnapi_accelerators=accelerators)
    try:
        temperature = None if lost else read_temperature(session)
    except DeviceError:
        temperature = None
    facts = {k: v for r in device_runners() for k, v in r.facts(ctx).items()}
    return {**out, "device": {**info, "profile": p.name, "accelerators": accelerators, "charging": charging, **facts,
                              "charging_reason": why, "temperature_c": temperature, "connection_lost": lost}}


def device_key(info: dict, serial: str | None) -> str | None:
    """What identifies a device in the cache of learned facts: its serial, else its build
    fingerprint; never the profile name (two phones share a profile)."""
    for value in (info.get("serial"), serial, info.get("fingerprint")):
        if value and str(value).strip():
            return str(value).strip()
    return None


def bench_rows(artifacts: list[Path], device: str, threads: int, runs: int, min_secs: float,
               delegates=("xnnpack",), say: Callable[[dict], None] | None = None) -> list[dict]:
    """Host benchmark of each artifact x delegate; a failure is a row, never an abort.
    ``say`` gets each row as soon as it is measured."""
    from ..artifact import read_manifest, signature_label, signatures_of  # noqa: PLC0415
    from .runners import RUNNERS  # noqa: PLC0415
    from ..errors import EdgesegError  # noqa: PLC0415

    host = RUNNERS["host"]
    rows = []
    for art in artifacts:
        manifest = read_manifest(art) or {}
        for signature in signatures_of(manifest) or [None]:  # one row per configuration of a PTA artifact
            for delegate in delegates:
                base = {"artifact": signature_label(art, signature), "recipe": manifest.get("recipe", "unknown"),
                        "device": device, "delegate": delegate, "threads": threads, "runner": host.label}
                try:
                    rows.append({**base, **host.measure(art, delegate, threads, runs, min_secs, signature)})
                except EdgesegError as exc:
                    rows.append({**base, "status": "failed", "error": str(exc)})
                if say:
                    say(rows[-1])
    return rows
