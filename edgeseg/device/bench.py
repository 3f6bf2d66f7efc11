"""Benchmark artifacts on a device, one row per (artifact, delegate), with power.

For each row one shell session on the device: start the power sampler, wait the idle
baseline, mark the run, run the benchmark (benchmark_model, or the Python runner on Linux
boards), mark the end, stop the sampler, print everything. One session means no ADB round
trips while measuring; the host then parses latency, delegation and power. A combination
that fails is a row with status ``failed`` and the error, never an aborted sweep.
"""

from __future__ import annotations

import json
import logging
import posixpath
import secrets
import time
from pathlib import Path
from typing import Callable

from ..errors import ArtifactError, DeviceError
from ..artifact import check_tflite_file, read_manifest, separate_file, signature_label, signatures_of
from . import power as pw
from .deploy import deploy, ensure_file
from .parse import delegation_status, parse_benchmark_output
from .session import DeviceSession, q
from .transport import DeviceConnectionError

log = logging.getLogger(__name__)

RUNNER_FILE = Path(__file__).resolve().parents[1] / "runner.py"
SECTION = "__EDGESEG_SECTION__"
PYTHON_DELEGATES = ("cpu", "xnnpack")


def benchmark_model_command(binary: str, graph: str, delegate_spec, threads: int, runs: int, min_secs: float,
                            op_profile: bool, require_full: bool) -> str:
    flags = [f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs}", f"--min_secs={min_secs}",
             "--warmup_runs=1", "--warmup_min_secs=0.5", *delegate_spec.flags]
    if delegate_spec.accelerator:
        flags.append(f"--nnapi_accelerator_name={delegate_spec.accelerator}")
    if delegate_spec.execution_preference:
        flags.append(f"--nnapi_execution_preference={delegate_spec.execution_preference}")
    if op_profile:
        flags.append("--enable_op_profiling=true")
    if require_full and delegate_spec.name != "cpu":
        flags.append("--require_full_delegation=true")
    return " ".join(q(a) for a in [binary, *flags])


def python_runner_command(python: str, runner: str, graph: str, delegate: str, threads: int, runs: int,
                          min_secs: float) -> str:
    return " ".join(q(a) for a in [python, runner, "--graph", graph, "--threads", threads, "--runs", runs,
                                    "--min-secs", min_secs, "--delegate", delegate])


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


def bench_device(session: DeviceSession, artifacts: list[Path], delegates: list[str], threads: int | None = None,
                 runs: int = 50, min_secs: float = 2.0, op_profile: bool = False, with_power: bool = True,
                 benchmark_binary: str | None = None, require_full: bool = False,
                 say: Callable[[str], None] = lambda s: None, progress_factory=None) -> dict:
    p = session.profile
    threads = threads or p.threads
    info = session.getprops()
    device_name = info.get("model") or p.name
    with_power = with_power and p.power.source != "none"
    charging, why = False, ""
    power_check = {"usable": [], "skipped": {}}
    if with_power:
        charging, why = pw.parse_charging(session.shell(pw.charging_command(p.power)).text)
        if charging:
            say(f"warning: {why}; {pw.CHARGING_ADVICE}")
        allowed = pw.allowed_sources(p.power)
        power_check = pw.check_sources(session.shell(pw.probe_command(p.power, allowed)).text, p.power, allowed)
        skipped = "; ".join(f"{k}: {v}" for k, v in power_check["skipped"].items())
        if power_check["usable"]:
            say(f"power: {', '.join(power_check['usable'])}" + (f" (not used: {skipped})" if skipped else ""))
        else:
            say(f"warning: no usable power source on this device ({skipped or 'none allowed'}): every power row "
                "will be failed; pass --no-power to measure latency only")
    runner_remote = binary_remote = binary_info = None
    litert_cache: dict = {"info": info}
    classic = [d for d in delegates if d not in p.delegates or p.delegates[d].runner != "litert"]
    if p.runner == "python":
        runner_remote = ensure_file(session, RUNNER_FILE, "edgeseg_runner.py")["remote"]
    elif classic:
        binary_info = benchmark_binary_for(session, info, benchmark_binary, say, progress_factory)
        binary_remote = ensure_file(session, binary_info["path"], "benchmark_model", mode=0o755)["remote"]

    latency, power_rows, ops_rows, trace = [], [], [], []
    accelerators = None
    lost = None  # once the device is gone for good, the remaining rows are recorded as not run
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
            base = {"artifact": label, "recipe": manifest.get("recipe", "unknown"), "device": device_name,
                    "delegate": delegate, "threads": threads,
                    "runner": "python-runner" if p.runner == "python" else "benchmark_model"}
            if lost is not None or deploy_error:
                latency.append({**base, "status": "failed", "error": deploy_error or f"not run: {lost}"})
                continue
            say(f"bench {label} on {delegate}")
            try:
                spec = p.delegate(delegate)
                compiled = None
                if spec.runner == "litert":
                    compiled, cmd = litert_command(session, art, spec, threads, runs, min_secs, op_profile, say,
                                                   progress_factory, litert_cache)
                elif p.runner == "python":
                    if delegate not in PYTHON_DELEGATES:
                        raise DeviceError(f"the Python runner runs {' and '.join(PYTHON_DELEGATES)} only; use a "
                                          f"benchmark_model profile for {delegate}")
                    cmd = python_runner_command(p.python, runner_remote, remote, delegate, threads, runs, min_secs)
                else:
                    cmd = benchmark_model_command(binary_remote, remote, spec, threads, runs, min_secs, op_profile,
                                                  require_full)
                if with_power:
                    cool_down(session, say)
                tag = secrets.token_hex(4)
                script = session_script(session, cmd, with_power, tag, power_check["usable"])
                res = session.with_retry(lambda c: c.shell(script, timeout=3600, idle_timeout=None), "benchmark")
                sec = split_sections(res.text)
                row, ops, window = _latency_row("benchmark_model" if compiled else p.runner, sec, delegate, op_profile)
                if compiled and row.get("status") != "failed":
                    row.update(compiled_delegation(compiled))
                    row["runner"] = "litert benchmark_model (CompiledModel)"
                if row.get("note") and op_profile:
                    say(f"      note: {row['note']}")
                accelerators = row.pop("accelerators", None) or accelerators
                latency.append({**base, **row})
                ops_rows += [{"artifact": label, "device": device_name, "delegate": delegate, **o} for o in ops]
                if with_power and row.get("status") != "failed":
                    plog = pw.parse_power_log(sec["power"], p.power)
                    m = plog.markers
                    idle = (m.get("idle_start", 0), m.get("run_start", 0))
                    run = window or (m.get("run_start", 0), m.get("run_end", 0))
                    e = pw.energy(plog, idle, run, row.get("mean_ms") or 0.0, power_check["usable"],
                                  power_check["skipped"])
                    e.pop("idle_samples")
                    if not m.get("run_start"):
                        e.update(status="failed", error="the power log has no readable markers: the device's "
                                 f"{pw.UPTIME} gave no time ({len(plog.samples)} sample line(s) parsed)")
                    if e["status"] == "failed":
                        say(f"      power failed: {e['error']}")
                    elif e.get("source_note") and e["energy_source"] not in power_check["usable"][:1]:
                        say(f"      power from {e['energy_source']}: {e['source_note']}")
                    power_rows.append({"artifact": label, "device": device_name, "delegate": delegate, **e,
                                       "charging": charging, "window_start": run[0], "window_end": run[1]})
                    t0 = m.get("idle_start", plog.samples[0]["t"] if plog.samples else 0)
                    for s in plog.samples:
                        phase = "idle" if idle[0] <= s["t"] < idle[1] else "run" if run[0] <= s["t"] <= run[1] else "other"
                        trace.append({"artifact": label, "delegate": delegate, "t_s": s["t"] - t0,
                                      "power_mw": s["power_mw"], "battery_c": s["battery_c"], "phase": phase})
            except DeviceConnectionError as exc:
                lost = str(exc)
                latency.append({**base, "status": "failed", "error": lost})
            except DeviceError as exc:
                latency.append({**base, "status": "failed", "error": str(exc)})
    key = device_key(info, session.serial)
    if accelerators and key:
        from .session import remember_device  # noqa: PLC0415

        remember_device(key, nnapi_accelerators=accelerators)
    try:
        temperature = None if lost else read_temperature(session)
    except DeviceError:
        temperature = None
    return {"latency": latency, "power": power_rows, "ops": ops_rows, "trace": trace,
            "device": {**info, "profile": p.name, "accelerators": accelerators, "charging": charging,
                       "benchmark_binary": binary_info, "litert_benchmark_binary": litert_cache.get("binary"),
                       "charging_reason": why, "temperature_c": temperature, "connection_lost": lost}}


def benchmark_binary_for(session: DeviceSession, info: dict, given: str | None, say, progress_factory=None) -> dict:
    """The benchmark_model to push: ``--benchmark-binary``, else the profile's, else the
    official prebuilt build for the device's ABI from the user cache (downloaded once)."""
    from .binaries import ensure_binary, local_binary, platform_for  # noqa: PLC0415

    p = session.profile
    if given or p.benchmark_binary:
        return local_binary(given or p.benchmark_binary)
    abi = info.get("abi") or p.abi
    res = ensure_binary("benchmark_model", platform_for(abi), progress=progress_factory)
    what = {"downloaded": "downloaded", "cache": "cached"}[res["source"]]
    say(f"benchmark_model: {what} official build for {abi} ({res['url']}, sha256 {res['sha256'][:16]}) at {res['path']}")
    return res


def compiled_for(artifact: Path, soc: str) -> tuple[Path, dict]:
    """The file `edgeseg compile ARTIFACT --soc SOC` wrote beside ``artifact``."""
    for cand in sorted(artifact.parent.glob(f"{artifact.stem}_*.tflite")):
        manifest = read_manifest(cand) or {}
        c = manifest.get("compiled") or {}
        if str(c.get("soc", "")).upper() == soc.upper() and c.get("source") == artifact.name:
            return cand, manifest
    raise DeviceError(f"no copy of {artifact.name} compiled for {soc} beside it: run `edgeseg compile {artifact} "
                      f"--soc {soc}` first (it needs the vendor's compiler SDK)")


def litert_command(session: DeviceSession, artifact: Path, spec, threads: int, runs: int, min_secs: float,
                   op_profile: bool, say, progress_factory, cache: dict) -> tuple[dict, str]:
    """Deploy the model compiled for ``spec.soc`` (and the dispatch libraries the profile
    names) and return ``(compiled manifest, command)`` for LiteRT's CompiledModel
    benchmark_model on the NPU (--use_npu, no CPU fallback: a graph the NPU cannot run
    whole fails instead of silently running elsewhere)."""
    p = session.profile
    path, manifest = compiled_for(artifact, spec.soc)
    if "binary" not in cache:
        from .binaries import ensure_binary, local_binary, platform_for  # noqa: PLC0415

        if p.litert_benchmark_binary:
            cache["binary"] = local_binary(p.litert_benchmark_binary)
        else:
            abi = cache["info"].get("abi") or p.abi
            cache["binary"] = ensure_binary("litert_benchmark_model", platform_for(abi), progress=progress_factory)
            say(f"LiteRT benchmark_model: {cache['binary']['source']} official build ({cache['binary']['url']}, "
                f"sha256 {cache['binary']['sha256'][:16]})")
        cache["remote"] = ensure_file(session, cache["binary"]["path"], "litert_benchmark_model", mode=0o755)["remote"]
    dispatch = spec.dispatch_dir
    for lib in spec.dispatch_libs:
        dispatch = posixpath.dirname(ensure_file(session, lib, f"dispatch/{Path(lib).name}")["remote"])
    remote = deploy(session, path, progress_factory)["remote"]
    flags = [f"--graph={remote}", "--use_npu=true", "--use_cpu=false", "--require_full_delegation=true",
             f"--num_threads={threads}", f"--num_runs={runs}", f"--min_secs={min_secs}", "--warmup_runs=1",
             *spec.flags]
    if dispatch:
        flags.append(f"--dispatch_library_path={dispatch}")
    if op_profile:
        flags.append("--use_profiler=true")
    return manifest["compiled"], " ".join(q(a) for a in [cache["remote"], *dict.fromkeys(flags)])


def compiled_delegation(compiled: dict) -> dict:
    """Delegation columns of a compiled model's row: what the compiler put on the NPU."""
    left = sum((compiled.get("ops_left_on_cpu") or {}).values())
    return {"delegated_ops": compiled.get("ops_compiled"), "total_ops": compiled.get("ops_total"),
            "partitions": compiled.get("partitions"), "status": "ok" if compiled.get("fully_compiled") and not left
            else "fallback"}


def device_key(info: dict, serial: str | None) -> str | None:
    """What identifies a device in the cache of learned facts: its serial, else its build
    fingerprint; never the profile name (two phones share a profile)."""
    for value in (info.get("serial"), serial, info.get("fingerprint")):
        if value and str(value).strip():
            return str(value).strip()
    return None


def _latency_row(runner: str, sec: dict, delegate: str, op_profile: bool = False) -> tuple[dict, list, tuple | None]:
    if runner == "python":
        line = next((ln for ln in reversed(sec["out"].splitlines()) if ln.startswith("{")), None)
        if line is None:
            err = (sec["err"].strip().splitlines() or [f"exit status {sec['rc']}"])[-1]
            return {"status": "failed", "error": f"runner produced no result: {err}"}, [], None
        r = json.loads(line)
        if r.get("status") == "failed":
            return {"status": "failed", "error": r.get("error")}, [], None
        start, end = r.pop("timed_start"), r.pop("timed_end")
        # the device's boot clock, the sampler's clock (older runners: wall clock)
        window = (r.pop("timed_start_boot", start), r.pop("timed_end_boot", end))
        r.pop("cpu_ops", None)
        return r, [], window
    parsed = parse_benchmark_output(sec["out"] + "\n" + sec["err"], op_profile=op_profile)
    if sec["rc"] not in (0, None) or "mean_ms" not in parsed:
        errs = parsed["errors"] or (sec["err"].strip().splitlines() or [f"exit status {sec['rc']}"])[-1:]
        return {"status": "failed", "error": " | ".join(errs)[:500], "accelerators": parsed["accelerators"]}, [], None
    row = {k: parsed.get(k) for k in ("init_ms", "first_ms", "warmup_ms", "mean_ms", "std_ms", "runs", "p5_ms",
                                      "p95_ms")}
    notes = list(parsed["warnings"])
    row["median_ms"] = parsed.get("median_ms")
    if row["median_ms"] is None:
        row["median_ms"] = parsed["mean_ms"]
        notes.append("median_ms is the mean: this benchmark_model prints no percentiles")
    row["p90_ms"] = None  # benchmark_model prints p5/median/p95 at most, never p90
    row.update(delegation_status(parsed, delegate))
    row["accelerators"] = parsed["accelerators"]
    row["note"] = "; ".join(notes) or None
    ops = [{"table": "node_type", **o} for o in parsed["ops"]] + [{"table": "run_order", **o} for o in parsed["op_nodes"]]
    return row, ops, None
