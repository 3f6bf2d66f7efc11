"""Parsing ``benchmark_model`` output: the classic TFLite tool and LiteRT's CompiledModel
tool, every variant we have seen published (the tests cite each source).

Classic tool (tflite/tools/benchmark): the ``Inference timings in us: Init: .., First
inference: .., Warmup (avg): .., Inference (avg): ..`` line; the statistics lines ``count=..
first=.. curr=.. min=.. max=.. avg=.. std=..`` with or without `` p5=.. median=.. p95=..``
and the ``count=N curr=X(all same)`` form (tsl::Stat::OutputToStream), numbers in
scientific notation; the older ``Average inference timings in us: Warmup: .., Init: .., no
stats: ..`` and ``..., Inference: ..``; memory footprint lines; delegate application lines
(``Replacing X out of Y node(s) with delegate``, ``Explicitly applied ... completely
executed``, ``Though ... explicitly applied, the model graph will not be executed``);
``NNAPI accelerators available: [..]``; errors.

LiteRT's CompiledModel tool (litert/tools/benchmark_litert_model.h): the same statistics
lines, then a ``BENCHMARK RESULTS`` block (``Model initialization: X ms``, ``Warmup
(first): X ms``, ``Warmup (avg): X ms (N runs)``, ``Inference (avg): X ms (N runs)``,
``Inference (min|max|std)``), every line behind an ``INFO: [file:line]`` prefix.

Op profiles (``--enable_op_profiling`` / LiteRT ``--use_profiler``): the ``Run Order`` table
(one row per node) and the ``Summary by node type`` table, in both column layouts (with
the ``[start]`` column of tensorflow/core/util/stats_calculator.cc, and without it, as
xla/tsl/util/stats_calculator.cc prints them); the initialisation tables are skipped.
benchmark_model never prints a p90: p5, median and p95 are what it gives.
"""

from __future__ import annotations

import re

from ..delegates import delegating

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_STAT_RE = re.compile(r"^count=(\d+)(.*)$")
_KV_RE = re.compile(rf"(\w+)=({_NUM})")
_TIMINGS_RE = re.compile(
    rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), Warmup \(avg\): ({_NUM}), Inference \(avg\): ({_NUM})"
)
_OLD_TIMINGS_RE = re.compile(
    rf"Average inference timings in us: Warmup: ({_NUM}), Init: ({_NUM}), (?:no stats|Inference): ({_NUM})"
)
_INIT_RE = re.compile(rf"Initialized session in ({_NUM})ms")
_REPLACING_RE = re.compile(
    r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\) node, yielding (\d+) partitions"
)
_REPLACING_OLD_RE = re.compile(
    r"Replacing (\d+) node\(s\) with delegate \(([^)]*)\) node(?:, yielding (\d+) partitions)?"
)
_FULL_RE = re.compile(
    r"Explicitly applied (\S+) delegate, and the model graph will be completely executed by the delegate"
)
_PARTIAL_RE = re.compile(
    r"Explicitly applied (\S+) delegate, and the model graph will be partially executed by the delegate w/ (\d+) delegate kernels"
)
_NONE_RE = re.compile(
    r"Though (\S+) delegate is explicitly applied, the model graph will not be executed by the delegate"
)
_ACCEL_RE = re.compile(r"NNAPI accelerators available: \[([^\]]*)\]")
_MEM_RE = re.compile(
    rf"(Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): init=({_NUM}) overall=({_NUM})"
)
#: LiteRT's BENCHMARK RESULTS block (litert/tools/benchmark_litert_model.h, OnBenchmarkEnd)
_LITERT_RE = {
    "init_ms": re.compile(rf"^Model initialization:\s+({_NUM}) ms"),
    "first_ms": re.compile(rf"^Warmup \(first\):\s+({_NUM}) ms"),
    "warmup_ms": re.compile(rf"^Warmup \(avg\):\s+({_NUM}) ms"),
    "mean_ms": re.compile(rf"^Inference \(avg\):\s+({_NUM}) ms(?: \((\d+) runs\))?"),
    "min_ms": re.compile(rf"^Inference \(min\):\s+({_NUM}) ms"),
    "max_ms": re.compile(rf"^Inference \(max\):\s+({_NUM}) ms"),
    "std_ms": re.compile(rf"^Inference \(std\):\s+({_NUM})"),
}
_PREFIX_RE = re.compile(r"^(?:INFO|VERBOSE|WARNING|ERROR): (?:\[[^\]]*:\d+\]\s*)?")
_TABLE_RE = re.compile(r"^=+ (.+?) =+$")
TABLES = ("Run Order", "Top by Computation Time", "Top by Memory Use", "Summary by node type")


def _strip_log_prefix(line: str) -> str:
    """Drop logcat prefixes (``05-31 10:31:13.036 21767 21767 I tflite  : ``)."""
    m = re.match(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+\S+\s*:\s?", line)
    if m:
        return line[m.end() :]
    return line


def parse_stat_line(text: str) -> dict:
    """``count=50 first=.. curr=.. min=.. max=.. avg=.. std=.. [p5=.. median=.. p95=..]`` (us)."""
    text = text.strip()
    m = _STAT_RE.match(text)
    if not m:
        raise ValueError(f"not a benchmark statistics line: {text!r}")
    out = {"count": int(m.group(1))}
    rest = m.group(2)
    for k, v in _KV_RE.findall(rest):
        out[k] = float(v)
    if "(all same)" in rest or ("curr" in out and "avg" not in out):
        for k in ("first", "min", "max", "avg", "median", "p5", "p95"):
            out.setdefault(k, out["curr"])
        out.setdefault("std", 0.0)
    return out


def _cells(line: str) -> list[str]:
    """The cells of a profiling table row: tab-separated (two or more spaces where the tabs
    were lost in a copy)."""
    parts = [c.strip() for c in line.split("\t")] if "\t" in line else re.split(r"\s{2,}", line.strip())
    return [c for c in parts if c != ""]


def _number(text: str) -> float | None:
    try:
        return float(text.rstrip("%"))
    except ValueError:
        return None


def parse_profile_tables(lines: list[str]) -> dict:
    """The op-profiling tables of one output: ``{"run_order": [rows], "node_type": [rows],
    "warnings": [...]}`` for the inference runs (the initialisation tables are skipped)."""
    tables: list[dict] = []
    section = None
    current = None
    for raw in lines:
        line = raw.rstrip()
        text = line.strip()
        if "Profiling Info for Benchmark Initialization" in text:
            section = "init"
            continue
        if "Operator-wise Profiling Info for Regular Benchmark Runs" in text:
            section = "inference"
            continue
        m = _TABLE_RE.match(text)
        if m and m.group(1) in TABLES:
            current = {"title": m.group(1), "section": section, "header": None, "rows": []}
            tables.append(current)
            continue
        if current is None:
            continue
        if not text or text.startswith(("Timings (", "Memory (", "Number of nodes")) or text.endswith("nodes observed"):
            current = None  # a table ends at a blank line or its summary lines
            continue
        cells = _cells(line)
        if current["header"] is None:
            if cells and cells[0].startswith("["):
                current["header"] = [c.strip("[]").lower() for c in cells]
            continue
        if len(cells) >= len(current["header"]) - 1:
            current["rows"].append(dict(zip(current["header"], cells)))

    def inference(title: str) -> list[dict] | None:
        found = [
            t
            for t in tables
            if t["title"] == title
            and t["section"] != "init"
            and not all(r.get("node type", "") == "AllocateTensors" for r in t["rows"])
        ]
        return found[-1]["rows"] if found else None

    order, by_type = inference("Run Order"), inference("Summary by node type")
    run_order = []
    for r in order or []:
        run_order.append(
            {
                "node_type": r.get("node type"),
                "name": r.get("name"),
                "count": 1,
                "first_ms": _number(r.get("first", "")),
                "avg_ms": _number(r.get("avg ms", "")),
                "percent": _number(r.get("%", "")),
                "cdf_percent": _number(r.get("cdf%", "")),
            }
        )
    node_type = []
    for r in by_type or []:
        count = _number(r.get("count", ""))
        node_type.append(
            {
                "node_type": r.get("node type"),
                "count": int(count) if count is not None else None,
                "avg_ms": _number(r.get("avg ms", "")),
                "percent": _number(r.get("avg %", "")),
                "cdf_percent": _number(r.get("cdf %", "")),
            }
        )
    warnings = []
    if by_type is None and order is not None:
        totals: dict[str, dict] = {}
        for r in run_order:
            t = totals.setdefault(
                r["node_type"], {"node_type": r["node_type"], "count": 0, "avg_ms": 0.0, "percent": 0.0}
            )
            t["count"] += 1
            t["avg_ms"] += r["avg_ms"] or 0.0
            t["percent"] += r["percent"] or 0.0
        cdf = 0.0
        for t in sorted(totals.values(), key=lambda x: -x["avg_ms"]):
            cdf += t["percent"]
            node_type.append({**t, "cdf_percent": round(cdf, 3)})
        warnings.append(
            "the op profile has no 'Summary by node type' table: the per-type rows are sums of its 'Run Order' table"
        )
    elif order is None and by_type is not None:
        warnings.append("the op profile has no 'Run Order' table: no per-node times, only the per-type summary")
    elif order is None and by_type is None:
        warnings.append(
            "benchmark_model printed no op-profiling table (neither 'Run Order' nor 'Summary by node "
            "type'): is op profiling supported by this binary? (classic: --enable_op_profiling=true, "
            "LiteRT: --use_profiler=true)"
        )
    return {"run_order": run_order, "node_type": node_type, "warnings": warnings}


def parse_benchmark_output(text: str, op_profile: bool = False) -> dict:
    """Everything we can read from one benchmark_model run (times in ms). With
    ``op_profile`` the profiling tables are read too (``ops``: per node type, ``op_nodes``:
    per node, ``warnings``: what was missing)."""
    # long: one pass over the output's lines, one branch per line shape benchmark_model prints
    res: dict = {
        "stats": [],
        "delegates": [],
        "errors": [],
        "accelerators": None,
        "ops": [],
        "op_nodes": [],
        "warnings": [],
    }
    lines = []
    litert: dict = {}
    for raw in text.splitlines():
        line = _strip_log_prefix(raw.rstrip())
        level = line.split(":", 1)[0] if re.match(r"^(INFO|VERBOSE|WARNING|ERROR):", line) else ""
        body = _PREFIX_RE.sub("", line)
        lines.append(body)
        stripped = body.strip()
        if stripped.startswith("count="):
            try:
                res["stats"].append(parse_stat_line(stripped))
            except ValueError:
                pass
            continue
        for key, rx in _LITERT_RE.items():
            if m := rx.match(stripped):
                litert[key] = float(m.group(1))
                if key == "mean_ms" and m.group(2):
                    litert["runs"] = int(m.group(2))
        if m := _TIMINGS_RE.search(body):
            res["init_ms"], res["first_ms"], res["warmup_ms"], res["mean_ms"] = (float(v) / 1e3 for v in m.groups())
        elif m := _OLD_TIMINGS_RE.search(body):
            res["warmup_ms"], res["init_ms"], res["mean_ms"] = (float(v) / 1e3 for v in m.groups())
        elif m := _INIT_RE.search(body):
            res.setdefault("init_ms", float(m.group(1)))
        if m := _REPLACING_RE.search(body):
            res["delegates"].append(
                {
                    "delegate": m.group(3),
                    "delegated_ops": int(m.group(1)),
                    "total_ops": int(m.group(2)),
                    "partitions": int(m.group(4)),
                }
            )
        elif m := _REPLACING_OLD_RE.search(body):
            res["delegates"].append(
                {
                    "delegate": m.group(2),
                    "delegated_ops": int(m.group(1)),
                    "total_ops": None,
                    "partitions": int(m.group(3)) if m.group(3) else None,
                }
            )
        if m := _FULL_RE.search(body):
            res["delegation"] = {"delegate": m.group(1), "coverage": "full"}
        elif m := _PARTIAL_RE.search(body):
            res["delegation"] = {"delegate": m.group(1), "coverage": "partial", "kernels": int(m.group(2))}
        elif m := _NONE_RE.search(body):
            res["delegation"] = {"delegate": m.group(1), "coverage": "none"}
        if m := _ACCEL_RE.search(body):
            res["accelerators"] = [a.strip() for a in m.group(1).split(",") if a.strip()]
        if m := _MEM_RE.search(body):
            key = "peak_mem_mb" if m.group(1).startswith("Peak") else "mem_delta_mb"
            res[key] = float(m.group(3))
        if level == "ERROR":
            res["errors"].append(f"ERROR: {stripped}")
        elif stripped.startswith("ERROR") or "Benchmarking failed" in stripped or "Failed to " in stripped:
            res["errors"].append(stripped)
    if litert:
        res["format"] = "litert"
        for key in ("init_ms", "first_ms", "warmup_ms", "mean_ms"):
            if key in litert:
                res.setdefault(key, litert[key])
    else:
        res["format"] = "classic"
    # The last statistics line is the timed run, the one before it the warm-up.
    if res["stats"]:
        timed = res["stats"][-1]
        res.update(
            runs=timed["count"],
            mean_ms=res.get("mean_ms", timed.get("avg", 0) / 1e3),
            std_ms=timed.get("std", 0.0) / 1e3,
            min_ms=timed.get("min", 0) / 1e3,
            max_ms=timed.get("max", 0) / 1e3,
        )
        for key, out in (("median", "median_ms"), ("p5", "p5_ms"), ("p95", "p95_ms")):
            if key in timed:
                res[out] = timed[key] / 1e3
        if len(res["stats"]) >= 2:
            res.setdefault("warmup_ms", res["stats"][-2].get("avg", 0) / 1e3)
            res.setdefault("first_ms", res["stats"][-2].get("first", 0) / 1e3)
    elif litert.get("mean_ms") is not None:
        res.update(
            runs=litert.get("runs"),
            std_ms=litert.get("std_ms"),
            min_ms=litert.get("min_ms"),
            max_ms=litert.get("max_ms"),
        )
    if op_profile:
        prof = parse_profile_tables(lines)
        res["ops"], res["op_nodes"], res["warnings"] = prof["node_type"], prof["run_order"], prof["warnings"]
    return res


def delegation_status(parsed: dict, delegate: str) -> dict:
    """delegated/total nodes, partitions and an ``ok`` / ``fallback`` status for one row.

    A delegate that delegates nothing (``cpu``: the builtin kernels; ``delegating`` in
    edgeseg.delegates.DELEGATES) is always ``ok``. For any other delegate, a graph that is
    only partly or not at all executed by it is ``fallback``: the silent CPU fallback that
    Android delegate users most often miss.
    """
    if not delegating(delegate):
        return {"delegated_ops": 0, "total_ops": None, "partitions": 0, "status": "ok"}
    reps = parsed.get("delegates") or []
    full = parsed.get("delegation", {})
    if reps:
        rep = reps[-1]
        delegated, total, parts = rep["delegated_ops"], rep["total_ops"], rep["partitions"]
        complete = total is not None and delegated == total or full.get("coverage") == "full"
        return {
            "delegated_ops": delegated,
            "total_ops": total,
            "partitions": parts,
            "status": "ok" if complete else "fallback",
        }
    if full.get("coverage") == "full":
        return {"delegated_ops": None, "total_ops": None, "partitions": 1, "status": "ok"}
    if full.get("coverage") == "partial":
        return {"delegated_ops": None, "total_ops": None, "partitions": full.get("kernels"), "status": "fallback"}
    return {"delegated_ops": 0, "total_ops": None, "partitions": 0, "status": "fallback"}


# -- the phases of a run, from its output stamped on the device's boot clock -------------------

#: The line a stamped run ends with: the benchmark's exit status (edgeseg.device.bench.session_script).
RC_TAG = "__EDGESEG_RC__"
_RUNNING_RE = re.compile(r"Running benchmark for at least (\d+) iterations and at least (" + _NUM + r") seconds")


def unstamp(text: str) -> tuple[str, list[tuple[float, str]], int | None]:
    """Output whose lines the device stamped with /proc/uptime as they were printed (``T line``)
    -> ``(the plain text, [(T, line)], exit status from the RC_TAG line or None)``. A line
    without a stamp (cut off) keeps no time."""
    plain, stamped, rc = [], [], None
    for raw in text.splitlines():
        head, sep, rest = raw.partition(" ")
        try:
            t = float(head)
        except ValueError:
            plain.append(raw)
            continue
        if not sep and not rest:
            rest = ""
        if rest.startswith(RC_TAG):
            value = rest[len(RC_TAG) :].strip()
            rc = int(value) if value.lstrip("-").isdigit() else None
            continue
        plain.append(rest)
        stamped.append((t, rest))
    return "\n".join(plain), stamped, rc


def benchmark_phases(
    stamped: list[tuple[float, str]], runs: int | None = None, mean_ms: float | None = None
) -> tuple[dict, str | None]:
    """The phases of one benchmark_model run (classic or LiteRT's) from its stamped output:
    ``({"init_end", "warmup_start", "timed_start", "timed_end"}, None)`` on the boot clock, or
    ``(what is known, why the timed window is not)``. benchmark_model prints ``Initialized
    session in X ms`` after loading the model and applying the delegate, ``Running benchmark
    for at least N iterations ...`` before the warm-up and again before the timed runs, and a
    ``count=..`` statistics line after each. The window is checked against the runs it
    reports: stamps that came late (output buffered until the exit) give a window shorter
    than runs x mean latency, and are not trusted."""
    out: dict = {}
    running = []
    for i, (t, line) in enumerate(stamped):
        body = _PREFIX_RE.sub("", _strip_log_prefix(line)).strip()
        if _INIT_RE.search(body) and "init_end" not in out:
            out["init_end"] = t
        elif _RUNNING_RE.search(body):
            running.append(i)
    if len(running) >= 2:
        out["warmup_start"] = stamped[running[-2]][0]
    if not running:
        return out, (
            "benchmark_model printed no 'Running benchmark for at least ...' line: the timed runs cannot be "
            "told from the model load, delegate init and warm-up"
        )
    start_i = running[-1]
    out["timed_start"] = stamped[start_i][0]
    for t, line in stamped[start_i + 1 :]:
        if _PREFIX_RE.sub("", _strip_log_prefix(line)).strip().startswith("count="):
            out["timed_end"] = t
            break
    if "timed_end" not in out:
        return out, "benchmark_model printed no statistics line after its timed runs: their end is not known"
    span = out["timed_end"] - out["timed_start"]
    if runs and mean_ms and span < 0.8 * runs * mean_ms / 1e3 - 0.02:
        return out, (
            f"the output's stamps give the timed runs {span:.2f} s but {runs} runs x {mean_ms:.1f} ms take "
            f"{runs * mean_ms / 1e3:.2f} s: the output reached the shell late (buffered), so its stamps do "
            "not tell the phases apart"
        )
    return out, None
