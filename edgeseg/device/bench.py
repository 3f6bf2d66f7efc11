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
import posixpath
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from ..artifact import (
    Manifest,
    check_tflite_file,
    read_manifest,
    recipe_of,
    separate_file,
    signature_label,
    signatures_of,
)
from ..config import finite_or_none
from ..errors import ArtifactError, DeviceError
from . import power as pw
from .config import BenchConfig
from .deploy import deploy
from .parse import RC_TAG, unstamp
from .runners import (  # noqa: F401  (re-exported)
    RUNNER_FILE,
    BenchContext,
    Runner,
    benchmark_binary_for,
    benchmark_model_command,
    compiled_delegation,
    compiled_for,
    device_runners,
    python_runner_command,
    runner_for,
)
from .session import DeviceSession
from .shell import q
from .sustained import Cooldown, run_sustained, window_count
from .transport import DeviceConnectionError

log = logging.getLogger(__name__)

SECTION = "__EDGESEG_SECTION__"


def temp_files(session: DeviceSession, tag: str) -> dict:
    """The device-side files of one row's session (all removed when it ends, or is interrupted)."""
    p = session.profile
    return {
        "out": p.remote(f".bench_{tag}.out"),
        "err": p.remote(f".bench_{tag}.err"),
        "log": p.remote(f".power_{tag}.log"),
        "stop": p.remote(f".power_{tag}.stop"),
        "pids": p.remote(f".pids_{tag}"),
    }


def _stamp_loop() -> str:
    """Reads lines from stdin and prints each as ``T line``, T the boot clock when it arrived
    (the shell's own ``read`` of /proc/uptime: no fork per line; a last line without newline
    is kept)."""
    return f'while IFS= read -r l || [ -n "$l" ]; do read t _u < {pw.UPTIME}; echo "$t $l"; done'


def conditions_snapshot(session: DeviceSession) -> str:
    """Shell printing ``KEY value`` lines: thermal zones, battery temperature, level and status,
    and each CPU's current frequency (``cpufreq PATH kHz``; POSIX shell: the shell's ``read``
    and a glob, its stderr silenced before the file is opened, so an unreadable or missing file
    gives an empty value, never an error)."""
    p = session.profile
    supply = posixpath.dirname(p.power.status_path)
    s = "".join(f'x=; read x 2>/dev/null < {q(z)}; echo "zone {z} $x"; ' for z in p.thermal.zones)
    for key, path in (
        ("battery_temp", p.power.temp_path),
        ("battery_level", f"{supply}/capacity"),
        ("battery_status", p.power.status_path),
    ):
        s += f'x=; read x 2>/dev/null < {q(path)}; echo "{key} $x"; '
    s += f'for f in {pw.CPUFREQ_GLOB}; do x=; read x 2>/dev/null < "$f"; echo "cpufreq $f $x"; done; '
    return s


def session_script(
    session: DeviceSession, bench_cmd: str, with_power: bool, tag: str, sources: list[str] = (), stamped: bool = False
) -> str:
    """One shell session on the device: sampler, idle baseline, markers, the benchmark, and
    everything printed in sections (POSIX shell: busybox ash and mksh/toybox run it).

    Every process it starts has its pid in ``.pids_<tag>`` (the shell, the sampler's loops, the
    benchmark) so that :func:`cleanup_command` can stop them if the host goes away. With
    ``stamped`` the benchmark's output (stdout and stderr, in order) is stamped line by line
    with the boot clock as it is printed, and its exit status is the last line (``RC_TAG``)."""
    p = session.profile
    f = temp_files(session, tag)
    out, err, log, stop, pids = f["out"], f["err"], f["log"], f["stop"], f["pids"]
    s = f"cd {q(p.work_dir)} || exit 97; rm -f {q(log)} {q(stop)}; echo $$ > {q(pids)}; "
    s += f"c0=$({conditions_snapshot(session)}); "
    if with_power:
        s += pw.sampler_start(p.power, p.thermal, log, stop, list(sources))
        s += f'echo "$SP $HP" >> {q(pids)}; '
        s += pw.marker(log, "idle_start") + f"sleep {p.power.idle_secs}; "
    s += pw.marker(log, "run_start")
    if stamped:
        s += (
            f'{{ {bench_cmd} 2>&1 & echo $! >> {q(pids)}; wait $!; echo "{RC_TAG} $?"; }} | {_stamp_loop()} '
            f'> {q(out)}; : > {q(err)}; rc=; while read -r _a _b _c; do [ "$_b" = {RC_TAG} ] && rc=$_c; '
            f"done < {q(out)}; "
        )
    else:
        s += f"{bench_cmd} > {q(out)} 2> {q(err)} & echo $! >> {q(pids)}; wait $!; rc=$?; "
    s += pw.marker(log, "run_end")
    if with_power:
        s += pw.sampler_stop(stop)
    s += (
        f"echo {SECTION} out; cat {q(out)}; echo {SECTION} err; cat {q(err)}; echo {SECTION} power; "
        f'cat {q(log)} 2>/dev/null; echo {SECTION} cond_start; echo "$c0"; echo {SECTION} cond_end; '
        f"{conditions_snapshot(session)}echo {SECTION} rc $rc; rm -f {q(out)} {q(err)} {q(log)} {q(stop)} {q(pids)}"
    )
    return s


def leftovers_command(session: DeviceSession) -> str:
    """Stop and remove what earlier sessions left in the work folder when the device was lost
    mid-row (their ``.pids_<tag>`` files name their processes); prints one line per session."""
    return (
        f'cd {q(session.profile.work_dir)} 2>/dev/null || exit 0; for f in .pids_*; do [ -f "$f" ] || continue; '
        't=${f#.pids_}; while read -r _l; do for _p in $_l; do kill $_p 2>/dev/null; done; done < "$f"; '
        'touch .power_$t.stop; sleep 0.2; rm -f .bench_$t.out .bench_$t.err .power_$t.log .power_$t.stop "$f"; '
        'echo "left $t"; done; true'
    )


def cleanup_command(session: DeviceSession, tag: str) -> str:
    """Stop every process one row's session started (its pids on the device) and remove its
    temporary files: what an interrupted or lost row leaves behind."""
    f = temp_files(session, tag)
    return (
        f"touch {q(f['stop'])}; if [ -f {q(f['pids'])} ]; then while read -r _l; do for _p in $_l; do "
        f"kill $_p 2>/dev/null; done; done < {q(f['pids'])}; fi; sleep 0.2; "
        f"rm -f {q(f['out'])} {q(f['err'])} {q(f['log'])} {q(f['stop'])} {q(f['pids'])}; echo cleaned"
    )


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
                parts.setdefault(current, [])
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


def cool_down(session: DeviceSession, say: Callable[[str], None]) -> dict:
    """Before a power row: wait while the hottest zone is above the profile's
    ``thermal.cooldown_above_c`` (a hot phone throttles and draws more), reading it every 10 s,
    for at most ``thermal.cooldown_max_secs``. Returns the row's record of it: ``{"cooldown_s"
    (seconds waited), "cooldown_from_c" (the temperature before), "note" (when it waited)}``, so
    that a wait is never silent in the tables."""
    th = session.profile.thermal
    t = t_from = read_temperature(session)
    start = time.monotonic()
    while t is not None and t > th.cooldown_above_c and time.monotonic() - start < th.cooldown_max_secs:
        say(f"      cooling down: {t:.1f} C > {th.cooldown_above_c:.0f} C (thermal.cooldown_above_c)")
        time.sleep(min(10.0, th.cooldown_max_secs))
        t = read_temperature(session)
    waited = time.monotonic() - start if t_from is not None and t_from > th.cooldown_above_c else 0.0
    out = {"cooldown_s": round(waited, 1), "cooldown_from_c": t_from}
    if waited:
        still = t is not None and t > th.cooldown_above_c
        out["note"] = (
            f"waited {waited:.0f} s before the power row for the hottest zone to fall from {t_from:.1f} C "
            f"below thermal.cooldown_above_c = {th.cooldown_above_c:g} C"
            + (f"; still {t:.1f} C at thermal.cooldown_max_secs = {th.cooldown_max_secs:g} s" if still else "")
        )
    return out


def bench_jobs(artifacts: list[Path]) -> list[tuple[str, Path, Manifest | None, str | None]]:
    """``(row label, file to run, manifest, error)`` per row group. A multi-signature (PTA)
    artifact gives one job per configuration, run from the configuration's separate file
    (the same graph as its signature): benchmark_model runs a model's primary subgraph and
    reports delegation for it, so the separate file is what gives each configuration its own
    latency and delegation columns on every runner."""
    jobs = []
    for art in artifacts:
        art = check_tflite_file(art)
        manifest = read_manifest(art)
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
        say(
            f"warning: no usable power source on this device ({skipped or 'none allowed'}): every power row "
            "will be failed; pass --no-power to measure latency only"
        )
    return charging, why, check


def bench_row(
    ctx: BenchContext,
    runner: Runner,
    artifact: Path,
    remote: str,
    delegate: str,
    with_power: bool,
    sources: list[str],
    tag: str | None = None,
) -> tuple[dict, list, dict, dict, str | None]:
    """One (artifact, delegate) row by ``runner`` in one shell session: ``(latency row, ops
    rows, the session's sections, the phases on the boot clock, why the timed window is not
    known or None)``. Raises DeviceError (a failed row) or DeviceConnectionError (the device
    is gone)."""
    spec = ctx.profile.delegate(delegate)
    why = runner.why_not(delegate)
    if why:
        raise DeviceError(why)
    inv = runner.command(ctx, artifact, remote, spec)
    cooled = cool_down(ctx.session, ctx.say) if with_power else {}
    tag = tag or secrets.token_hex(4)
    # a retry after a dropped connection first stops what the attempt before it left running
    script = (
        cleanup_command(ctx.session, tag)
        + " >/dev/null; "
        + session_script(ctx.session, inv.command, with_power, tag, sources, stamped=runner.stamped_output)
    )
    res = ctx.session.with_retry(lambda c: c.shell(script, timeout=3600, idle_timeout=None), "benchmark")
    sec = split_sections(res.text)
    if runner.stamped_output:
        sec["out"], sec["stamped"], rc = unstamp(sec["out"])
        if rc is not None:
            sec["rc"] = rc
        if not sec["err"].strip():  # one stream: the runner's error lines are in it
            sec["err"] = sec["out"]
    row, ops, window = runner.parse(ctx, sec, inv)
    if cooled:
        note = cooled.pop("note", None)
        row = {**row, **cooled, "note": "; ".join(x for x in (row.get("note"), note) if x) or None}
    if row.get("note") and inv.op_profile:
        ctx.say(f"      note: {row['note']}")
    phases, why_not = ({}, None) if row.get("status") == "failed" else runner.phases(ctx, sec, row, window)
    return row, ops, sec, phases, why_not


#: The phases of a row's session, in order, as power_trace.csv names them.
PHASES = ("idle", "init", "warmup", "timed", "exit")


def _phase_edges(markers: dict, phases: dict) -> list[tuple[str, float, float]]:
    """``[(phase, start, end)]`` on the boot clock: the idle baseline, then (where known) model
    load and delegate init, warm-up, the timed runs, and the process's exit after them."""
    run0, run1 = markers.get("run_start"), markers.get("run_end")
    edges = [("idle", markers.get("idle_start"), run0)]
    t0, t1 = phases.get("timed_start"), phases.get("timed_end")
    if t0 is not None and t1 is not None:
        warm = phases.get("warmup_start")
        edges += [("init", run0, warm if warm is not None else t0)]
        if warm is not None:
            edges += [("warmup", warm, t0)]
        edges += [("timed", t0, t1), ("exit", t1, run1)]
    else:
        edges += [("process", run0, run1)]
    return [(n, a, b) for n, a, b in edges if a is not None and b is not None]


def power_of_row(
    ctx: BenchContext,
    sec: dict,
    row: dict,
    phases: dict,
    why_not: str | None,
    check: dict,
    charging: tuple[bool, str] = (False, ""),
    allow_charging: bool = False,
) -> tuple[dict, tuple[float, float], list[dict]]:
    """``(power row, integrated window, trace rows)`` of one benchmarked row from its power
    log: the idle baseline, and the timed runs as the runner's phases say (its own window on
    the boot clock, or its output stamped as printed). Where the runner cannot tell the timed
    runs from init and warm-up, the energy is not given over the whole process as if it were:
    the row is failed and says why. A charging phone (before the sweep, or a net charge current
    in the row's windows) gives status ``charging`` and no energy unless ``allow_charging``."""
    plog = pw.parse_power_log(sec["power"], ctx.profile.power)
    m = plog.markers
    idle = (m.get("idle_start", 0), m.get("run_start", 0))
    timed = (phases["timed_start"], phases["timed_end"]) if why_not is None and "timed_start" in phases else None
    run = timed or (m.get("run_start", 0), m.get("run_end", 0))
    e = pw.energy(plog, idle, run, row.get("mean_ms") or 0.0, check["usable"], check["skipped"])
    e["window"] = "timed runs" if timed else "unknown"
    if not m.get("run_start"):
        e.update(
            status="failed",
            energy_mj_per_inference=None,
            energy_mj_err=None,
            error="the power log has no readable markers: the device's "
            f"{pw.UPTIME} gave no time ({len(plog.samples)} sample line(s) parsed)",
        )
    elif timed is None and e["status"] != "failed":
        e.update(
            status="failed",
            energy_mj_per_inference=None,
            energy_mj_err=None,
            error=f"no timed window: {why_not or 'the runner gave none'}; the process window "
            f"({run[1] - run[0]:.2f} s, model load and delegate init included) is not the timed runs, "
            "so no energy per inference is given",
        )
    charged, why_charging = charging
    net = pw.net_charging(plog, [idle, run], ctx.profile.power)
    if net:
        charged, why_charging = True, net if not why_charging else f"{why_charging}; {net}"
    e["charging"] = charged
    if charged and e["status"] == "ok":
        if allow_charging:
            e["note"] = f"measured while charging (--allow-charging): {why_charging}"
        else:
            e.update(
                status="charging",
                energy_mj_per_inference=None,
                energy_mj_err=None,
                error=f"{why_charging}: {pw.CHARGING_ADVICE}; or pass --allow-charging to record it anyway, marked",
            )
    if e["status"] == "failed":
        ctx.say(f"      power failed: {e['error']}")
    elif e["status"] == "charging":
        ctx.say(f"      power not given: {e['error']}")
    elif e.get("source_note") and e["energy_source"] not in check["usable"][:1]:
        ctx.say(f"      power from {e['energy_source']}: {e['source_note']}")
    t0 = m.get("idle_start", plog.samples[0]["t"] if plog.samples else 0)
    edges = _phase_edges(m, phases if timed else {})
    trace = []
    for s in plog.samples:
        phase = next((n for n, a, b in edges if a <= s["t"] < b), "other")
        trace.append(
            {
                "t_s": s["t"] - t0,
                "power_mw": s["power_mw"],
                "battery_c": s["battery_c"],
                "phase": phase,
                "zone_c": max(s["zones_c"]) if s["zones_c"] else None,
                "cpu_mhz": max(s["cpu_khz"]) / 1e3 if s["cpu_khz"] else None,
            }
        )
    e["phases"] = {n: [a - t0, b - t0] for n, a, b in edges}
    return e, run, trace


def parse_conditions(text: str) -> dict:
    """``KEY value`` lines of :func:`conditions_snapshot` -> thermal zones (degC, the hottest),
    battery temperature (degC), level (%), status, and the highest current CPU frequency
    (``cpu_max_mhz``, over the CPUs whose scaling_cur_freq read)."""
    zones, freqs, out = [], [], {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key in ("zone", "cpufreq"):
            bits = value.split()
            v = finite_or_none(bits[-1]) if len(bits) > 1 else None  # "PATH value": a path alone read nothing
            if v is not None:
                (zones if key == "zone" else freqs).append(v / 1000.0)
        elif key in ("battery_temp", "battery_level") and finite_or_none(value) is not None:
            out[key] = finite_or_none(value) / (10.0 if key == "battery_temp" else 1.0)
        elif key == "battery_status" and value.strip():
            out[key] = value.strip()
    if zones:
        out["zone_max_c"] = max(zones)
    if freqs:
        out["cpu_max_mhz"] = max(freqs)
    return out


def device_conditions(session: DeviceSession) -> dict:
    """The phone's own conditions, read once per sweep: CPU governor and maximum frequency per
    cpufreq policy where readable (a phone's user build may hide them)."""
    cmd = (
        "for f in /sys/devices/system/cpu/cpufreq/policy*/scaling_governor "
        '/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do [ -r "$f" ] || continue; x=; read x < "$f"; '
        'm=; read m < "${f%/*}/cpuinfo_max_freq" 2>/dev/null; s=; read s < "${f%/*}/scaling_max_freq" '
        '2>/dev/null; echo "${f%/*} $x $m $s"; done; true'
    )
    try:
        text = session.shell(cmd, timeout=30).text
    except DeviceError:
        return {}
    cpufreq = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            cpufreq[parts[0]] = {
                "governor": parts[1],
                "cpuinfo_max_khz": int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None,
                "scaling_max_khz": int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None,
            }
    return {"cpufreq": cpufreq or None}


def _interrupted(session: DeviceSession, tag: str | None, done: int, total: int, exc: BaseException):
    """Stop the row's processes on the device and remove its files, then raise Interrupted."""
    from ..errors import Interrupted
    from ..interrupt import interrupted_by

    how = interrupted_by(exc)
    cleaned = "nothing was running on the device"
    if tag:
        cleaned = "could not clean up on the device (it did not answer)"
        try:
            session.reconnect()  # the interrupted stream is mid-reply: a fresh connection for the cleanup
            if "cleaned" in session.shell(cleanup_command(session, tag), timeout=20, retry=False).text:
                cleaned = "its processes on the device were stopped and its temporary files removed"
        except (DeviceError, OSError) as err:
            log.warning("cleanup after %s: %s", how, err)
    raise Interrupted(
        f"bench interrupted by {how} after {done} of {total} row(s); {cleaned}; no report was "
        "written for this sweep (a report folder appears only when complete): run the command again",
        signal=how,
    ) from None


def bench_device(
    session: DeviceSession,
    config: BenchConfig,
    artifacts: list[Path],
    delegates: list[str],
    say: Callable[[str], None] = lambda s: None,
    progress_factory=None,
) -> dict:
    """Every artifact x delegate on the device: ``{"latency", "power", "ops", "trace",
    "sustained", "device"}``. Each delegate is run by its row of edgeseg.device.runners.RUNNERS
    (:func:`runner_for`); every row the runners need is prepared before the first one.
    ``device["conditions"]`` holds each row's conditions on the phone (keyed
    ``artifact/delegate``). The settings are ``config``'s (a :class:`BenchConfig`, read whole):
    ``sustained`` runs each row in windows (edgeseg.device.sustained: no power; one record per
    window in ``sustained``); ``cooldown`` waits before each row after the first until the phone
    is back near its starting temperature; ``repeat`` K runs the whole sweep K times, rows
    interleaved (A B A B ...), and folds each row's repeats into one (:func:`fold_repeats`).
    Ctrl-C or SIGTERM stops the row's processes on the device, removes its files and raises
    :class:`edgeseg.errors.Interrupted`."""
    # long: one sweep's state is shared across its rows (the device once lost, the accelerators seen, the row
    # being measured, which the Ctrl-C/SIGTERM cleanup needs); each row's work is in bench_row / power_of_row
    from ..fileio import sha256_file
    from ..version import __version__

    c = config
    p = session.profile
    sustained = (c.sustained, c.window) if c.sustained else None
    allow_charging = c.allow_charging
    tag = None
    done = 0
    jobs = bench_jobs(artifacts)
    cooling = None  # --cooldown's state, once the sweep starts
    try:
        info = session.getprops()
        ctx = BenchContext(
            session,
            info,
            c.threads or p.threads,
            c.runs,
            c.min_secs,
            c.op_profile,
            c.require_full_delegation,
            c.benchmark_binary,
            say,
            progress_factory,
        )
        with_power = c.power and p.power.source != "none" and not sustained
        if sustained:
            say(
                f"sustained: {window_count(*sustained)} window(s) of {sustained[1]:g} s per row ({sustained[0]:g} s); "
                "no power sampling (energy per inference comes from a normal bench's rows)"
            )
        charging, why, check = check_power(session, say) if with_power else (False, "", {"usable": [], "skipped": {}})
        plan = {d: runner_for(p, d) for d in delegates}
        for runner in dict.fromkeys(plan.values()):
            runner.prepare(ctx)
        left = [
            ln
            for ln in session.shell(leftovers_command(session), timeout=30).text.splitlines()
            if ln.startswith("left ")
        ]
        if left:
            say(
                f"removed what {len(left)} earlier session(s) left on the device (lost mid-row): their processes "
                "were stopped and their temporary files removed"
            )
        sweep = device_conditions(session)
        device_name = info.get("model") or p.name
        out: dict[str, list] = {"latency": [], "power": [], "ops": [], "trace": [], "sustained": []}
        cooling = Cooldown(session, say, read_temperature) if c.cooldown else None
        conditions: dict[str, dict] = {}
        accelerators = lost = None  # once the device is gone for good, the remaining rows are recorded as not run
        deployed: dict[str, tuple[str | None, str | None]] = {}  # label -> (remote path, deploy error)
        for k, (label, art, manifest, deploy_error) in ((k, j) for k in range(c.repeat) for j in jobs):
            if k == 0:
                remote = None
                if lost is None and not deploy_error:
                    say(f"deploy {art.name}")
                    try:
                        remote = deploy(session, art, progress_factory)["remote"]
                    except DeviceConnectionError as exc:
                        lost = str(exc)
                    except DeviceError as exc:
                        deploy_error = f"deploy failed: {exc}"
                deployed[label] = (remote, deploy_error)
            remote, deploy_error = deployed[label]
            for delegate in delegates:
                where = {"artifact": label, "device": device_name, "delegate": delegate}
                base = {
                    "artifact": label,
                    "recipe": recipe_of(manifest),
                    "device": device_name,
                    "delegate": delegate,
                    "threads": ctx.threads,
                    "runner": plan[delegate].label,
                    **({"repeat": k + 1} if c.repeat > 1 else {}),
                }
                if lost is not None or deploy_error:
                    out["latency"].append({**base, "status": "failed", "error": deploy_error or f"not run: {lost}"})
                    continue
                say(f"bench {label} on {delegate}" + (f" (repeat {k + 1}/{c.repeat})" if c.repeat > 1 else ""))
                tag = secrets.token_hex(4)
                try:
                    cool = cooling.before_row() if cooling else {}
                    if sustained:  # window after window under the row's tag (the one an interrupt cleans)
                        s = run_sustained(
                            ctx,
                            lambda c: bench_row(c, plan[delegate], art, remote, delegate, False, [], tag)[:3],
                            where,
                            sustained,
                            parse_conditions,
                        )
                        row, ops, sec, phases, why_not, lost = s["row"], s["ops"], s["sec"], {}, None, s["lost"]
                        out["sustained"] += s["windows"]
                    else:
                        row, ops, sec, phases, why_not = bench_row(
                            ctx, plan[delegate], art, remote, delegate, with_power, check["usable"], tag
                        )
                except DeviceConnectionError as exc:
                    lost = str(exc)
                    out["latency"].append({**base, "status": "failed", "error": lost})
                    continue
                except DeviceError as exc:
                    out["latency"].append({**base, "status": "failed", "error": str(exc)})
                    continue
                finally:
                    done += 1
                tag = None
                accelerators = row.pop("accelerators", None) or accelerators
                note = "; ".join(x for x in (row.get("note"), cool.pop("note", None)) if x) or None
                out["latency"].append({**base, **row, **cool, "note": note})
                out["ops"] += [{**where, **o} for o in ops] if k == 0 else []
                cond = {
                    "start": parse_conditions(sec.get("cond_start", "")),
                    "end": parse_conditions(sec.get("cond_end", "")),
                    "threads": ctx.threads,
                    "artifact_sha256": sha256_file(art),
                    "runner": plan[delegate].label,
                }
                if with_power and row.get("status") != "failed":
                    e, run, trace = power_of_row(ctx, sec, row, phases, why_not, check, (charging, why), allow_charging)
                    cond["phases_s"] = e.pop("phases")
                    if e["status"] == "charging" or (e.get("charging") and allow_charging):
                        out["latency"][-1]["note"] = "; ".join(
                            x for x in (out["latency"][-1].get("note"), "measured while charging") if x
                        )
                    out["power"].append(
                        {**where, **e, "window_start_s": run[0], "window_end_s": run[1], "repeat": k + 1}
                    )
                    if k == 0:
                        out["trace"] += [{"artifact": label, "delegate": delegate, **t} for t in trace]
                conditions.setdefault(f"{label}/{delegate}", cond)
        key = device_key(info, session.serial)
        if accelerators and key:
            from .session import remember_device

            remember_device(key, nnapi_accelerators=accelerators)
        try:
            temperature = None if lost else read_temperature(session)
        except DeviceError:
            temperature = None
    except KeyboardInterrupt as exc:
        _interrupted(session, tag, done, len(jobs) * len(delegates) * c.repeat, exc)
    if c.repeat > 1:
        out["latency"], out["power"] = fold_repeats(out["latency"]), fold_power_repeats(out["power"])
    facts = {k: v for r in device_runners() for k, v in r.facts(ctx).items()}
    binary = facts.get("benchmark_binary") or {}
    return {
        **out,
        "device": {
            **info,
            "profile": p.name,
            "accelerators": accelerators,
            "charging": charging,
            **facts,
            "charging_reason": why,
            "temperature_c": temperature,
            "connection_lost": lost,
            # --cooldown on a device none of whose thermal zones reads: no row was cooled down
            "cooldown_unreadable": bool(cooling is not None and cooling.start_c is None),
            "threads": ctx.threads,
            "edgeseg": __version__,
            **sweep,
            "benchmark_binary_url": binary.get("url"),
            "benchmark_binary_sha256": binary.get("sha256"),
            "allow_charging": allow_charging,
            "conditions": conditions,
        },
    }


def device_key(info: dict, serial: str | None) -> str | None:
    """What identifies a device in the cache of learned facts: its serial, else its build
    fingerprint; never the profile name (two phones share a profile)."""
    for value in (info.get("serial"), serial, info.get("fingerprint")):
        if value and str(value).strip():
            return str(value).strip()
    return None


#: latency columns whose repeats are folded into their median (``runs`` is summed)
REPEAT_MEDIAN_COLUMNS = (
    "init_ms",
    "first_ms",
    "warmup_ms",
    "mean_ms",
    "median_ms",
    "p5_ms",
    "p90_ms",
    "p95_ms",
    "std_ms",
)


def _key(r: dict) -> tuple:
    return (r.get("artifact"), r.get("device"), r.get("delegate"))


def fold_repeats(rows: list[dict]) -> list[dict]:
    """Latency rows measured ``repeat`` = 1..K (interleaved across the sweep) -> one row per
    (artifact, device, delegate) in the order first measured: ``repeat_medians_ms`` holds each
    measured repeat's median (ms, ';'-separated, in the order run), ``repeats`` how many were
    measured, ``median_ms`` and the other timing columns the median over the repeats, ``runs``
    their sum. A row with no measured repeat is the first repeat's failed row; a failed repeat
    among measured ones is named in the row's note. The gates compare the repeat medians
    (edgeseg.reporting.compare), never the spread of single inferences."""
    import statistics

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_key(r), []).append(r)
    out = []
    for reps in groups.values():
        ok = [r for r in reps if r.get("status") != "failed" and r.get("median_ms") is not None]
        if not ok:
            out.append({k: v for k, v in reps[0].items() if k != "repeat"})
            continue
        row = {k: v for k, v in ok[0].items() if k != "repeat"}
        for col in REPEAT_MEDIAN_COLUMNS:
            vals = [float(r[col]) for r in ok if r.get(col) is not None]
            row[col] = statistics.median(vals) if vals else None
        row["runs"] = sum(int(r.get("runs") or 0) for r in ok) or None
        loads = [float(r["host_load_1m"]) for r in ok if r.get("host_load_1m") is not None]
        row["host_load_1m"] = max(loads) if loads else row.get("host_load_1m")
        row["repeats"] = len(ok)
        row["repeat_medians_ms"] = ";".join(f"{float(r['median_ms']):.6g}" for r in ok)
        failed = [r for r in reps if r not in ok]
        if failed:
            why = f"repeat(s) {', '.join(str(r.get('repeat')) for r in failed)} of {len(reps)} failed: " + str(
                failed[0].get("error") or "no median"
            )
            row["note"] = "; ".join(x for x in (row.get("note"), why) if x)
        out.append(row)
    return out


def fold_power_repeats(rows: list[dict]) -> list[dict]:
    """Power rows of repeats 1..K -> one per (artifact, device, delegate): the energy the mean
    over the repeats whose status is ok, its error the combined standard error
    (sqrt(sum err^2) / n), ``repeat_energies_mj`` each repeat's energy; the other columns the
    first ok repeat's. No ok repeat: the first repeat's row."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_key(r), []).append(r)
    out = []
    for reps in groups.values():
        ok = [r for r in reps if r.get("status") == "ok" and r.get("energy_mj_per_inference") is not None]
        if not ok:
            out.append({k: v for k, v in reps[0].items() if k != "repeat"})
            continue
        row = {k: v for k, v in ok[0].items() if k != "repeat"}
        energies = [float(r["energy_mj_per_inference"]) for r in ok]
        row["energy_mj_per_inference"] = sum(energies) / len(energies)
        errs = [r.get("energy_mj_err") for r in ok]
        row["energy_mj_err"] = (
            sum(float(e) ** 2 for e in errs) ** 0.5 / len(errs) if all(e is not None for e in errs) else None
        )
        row["repeats"] = len(ok)
        row["repeat_energies_mj"] = ";".join(f"{e:.6g}" for e in energies)
        out.append(row)
    return out


def bench_rows(
    artifacts: list[Path],
    config: BenchConfig,
    delegates=("xnnpack",),
    say: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Host benchmark of each artifact x delegate with ``config``'s threads (default
    BenchConfig.HOST_THREADS), runs, min_secs and repeat (K rounds, rows interleaved, folded by
    :func:`fold_repeats`); a failure is a row, never an abort. ``say`` gets each row as soon
    as it is measured."""
    from ..errors import EdgesegError
    from ..host import busy_host, cpu_flags, load_now, precision_note
    from .runners import RUNNERS

    host = RUNNERS["host"]
    threads = config.threads or config.HOST_THREADS
    flags = cpu_flags()
    rows, files = [], {}
    for k in range(config.repeat):
        for art in artifacts:
            manifest = read_manifest(art)
            for signature in signatures_of(manifest) or [None]:  # one row per configuration of a PTA artifact
                for delegate in delegates:
                    files[signature_label(art, signature)] = (art, signature)
                    base = {
                        "artifact": signature_label(art, signature),
                        "recipe": recipe_of(manifest),
                        "device": "host",
                        "delegate": delegate,
                        "threads": threads,
                        "runner": host.label,
                        **({"repeat": k + 1} if config.repeat > 1 else {}),
                    }
                    load, cores = load_now()
                    base.update(host_load_1m=load, host_cores=cores)
                    notes = [precision_note(base["recipe"], flags)]
                    if busy_host(load, cores):
                        notes.append(
                            f"busy host: 1-minute load {load:g} on {cores} cores when the row started: its latency is "
                            "the other work's as much as the model's; rerun on a quiet machine"
                        )
                    base["note"] = "; ".join(n for n in notes if n) or None
                    try:
                        m = host.measure(art, delegate, threads, config.runs, config.min_secs, signature)
                        rows.append(
                            {**base, **m, "note": "; ".join(x for x in (base.get("note"), m.get("note")) if x) or None}
                        )
                    except EdgesegError as exc:
                        rows.append({**base, "status": "failed", "error": str(exc)})
                    if say:
                        say(rows[-1])
    rows = fold_repeats(rows) if config.repeat > 1 else rows
    macs: dict[Path, int] = {}  # read once per file, whatever its delegates and repeats
    for r in rows:  # on the folded median: a repeated row's GMAC/s is its median's
        art, signature = files[r["artifact"]]
        if r.get("status") != "failed" and signature is None:  # a configuration's MACs are its own
            if art not in macs:
                from ..runtime.modelinfo import model_info

                macs[art] = model_info(art).get("macs") or 0
            r.update(throughput(macs[art], r.get("recipe"), threads, r.get("median_ms"), flags))
    return rows


def throughput(macs: int, recipe, threads: int, median_ms, flags: set[str]) -> dict:
    """A host row's achieved ``gmac_per_s`` (the artifact's ``macs`` over its median) and this
    CPU's ``peak_gmac_per_s`` for the recipe's arithmetic on ``threads`` cores
    (edgeseg.host.peak_gmacs); {} for a row without a median or MACs."""
    from ..host import peak_gmacs

    if not median_ms or not macs:
        return {}
    peak = peak_gmacs(recipe, threads, flags)
    return {"gmac_per_s": macs / (float(median_ms) / 1e3) / 1e9, "peak_gmac_per_s": peak.get("peak_gmac_per_s")}
