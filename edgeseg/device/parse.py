"""Parsing TFLite/LiteRT ``benchmark_model`` output, every variant we have seen published.

Handles: the ``Inference timings in us: Init: .., First inference: .., Warmup (avg): ..,
Inference (avg): ..`` line; the statistics lines ``count=.. first=.. curr=.. min=.. max=..
avg=.. std=..`` with or without `` p5=.. median=.. p95=..`` and the ``count=N curr=X(all
same)`` form (tsl::Stat::OutputToStream), numbers in scientific notation; the older
``Average inference timings in us: Warmup: .., Init: .., no stats: ..`` and
``..., Inference: ..``; memory footprint lines; delegate application lines
(``Replacing X out of Y node(s) with delegate``, ``Explicitly applied ... completely
executed``, ``Though ... explicitly applied, the model graph will not be executed``);
``NNAPI accelerators available: [..]``; the op-profiling "Summary by node type" table; and
errors.
"""

from __future__ import annotations

import re

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_STAT_RE = re.compile(r"^count=(\d+)(.*)$")
_KV_RE = re.compile(rf"(\w+)=({_NUM})")
_TIMINGS_RE = re.compile(
    rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), Warmup \(avg\): ({_NUM}), Inference \(avg\): ({_NUM})")
_OLD_TIMINGS_RE = re.compile(rf"Average inference timings in us: Warmup: ({_NUM}), Init: ({_NUM}), (?:no stats|Inference): ({_NUM})")
_INIT_RE = re.compile(rf"Initialized session in ({_NUM})ms")
_REPLACING_RE = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\) node, yielding (\d+) partitions")
_REPLACING_OLD_RE = re.compile(r"Replacing (\d+) node\(s\) with delegate \(([^)]*)\) node(?:, yielding (\d+) partitions)?")
_FULL_RE = re.compile(r"Explicitly applied (\S+) delegate, and the model graph will be completely executed by the delegate")
_PARTIAL_RE = re.compile(r"Explicitly applied (\S+) delegate, and the model graph will be partially executed by the delegate w/ (\d+) delegate kernels")
_NONE_RE = re.compile(r"Though (\S+) delegate is explicitly applied, the model graph will not be executed by the delegate")
_ACCEL_RE = re.compile(r"NNAPI accelerators available: \[([^\]]*)\]")
_MEM_RE = re.compile(rf"(Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): init=({_NUM}) overall=({_NUM})")


def _strip_log_prefix(line: str) -> str:
    """Drop logcat prefixes (``05-31 10:31:13.036 21767 21767 I tflite  : ``) and ``INFO: ``."""
    m = re.match(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+\S+\s*:\s?", line)
    if m:
        return line[m.end():]
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


def parse_benchmark_output(text: str) -> dict:
    """Everything we can read from one benchmark_model run (times in ms)."""
    res: dict = {"stats": [], "delegates": [], "errors": [], "accelerators": None, "ops": []}
    in_type_summary = False
    for raw in text.splitlines():
        line = _strip_log_prefix(raw.rstrip())
        body = line[6:] if line.startswith("INFO: ") else line
        stripped = body.strip()
        if in_type_summary:
            if not stripped or stripped.startswith("="):
                in_type_summary = False
            elif not stripped.startswith("[") and not stripped.startswith("Timings") and not stripped.startswith("Memory"):
                parts = stripped.split()
                if len(parts) >= 6:
                    try:
                        res["ops"].append({"node_type": parts[0], "count": int(parts[1]), "avg_ms": float(parts[2]),
                                           "percent": float(parts[3].rstrip("%")), "cdf_percent": float(parts[4].rstrip("%"))})
                    except ValueError:
                        pass
                continue
        if "Summary by node type" in stripped:
            if "ops_section" not in res:  # the first table is initialisation, the second inference
                res["ops_section"] = "init"
            else:
                res["ops_section"] = "inference"
                res["ops"] = []
            in_type_summary = True
            continue
        if stripped.startswith("count="):
            try:
                res["stats"].append(parse_stat_line(stripped))
            except ValueError:
                pass
            continue
        if m := _TIMINGS_RE.search(body):
            res["init_ms"], res["first_ms"], res["warmup_ms"], res["mean_ms"] = (float(v) / 1e3 for v in m.groups())
        elif m := _OLD_TIMINGS_RE.search(body):
            res["warmup_ms"], res["init_ms"], res["mean_ms"] = (float(v) / 1e3 for v in m.groups())
        elif m := _INIT_RE.search(body):
            res.setdefault("init_ms", float(m.group(1)))
        if m := _REPLACING_RE.search(body):
            res["delegates"].append({"delegate": m.group(3), "delegated_ops": int(m.group(1)),
                                     "total_ops": int(m.group(2)), "partitions": int(m.group(4))})
        elif m := _REPLACING_OLD_RE.search(body):
            res["delegates"].append({"delegate": m.group(2), "delegated_ops": int(m.group(1)), "total_ops": None,
                                     "partitions": int(m.group(3)) if m.group(3) else None})
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
        if stripped.startswith("ERROR") or "Benchmarking failed" in stripped or "Failed to " in stripped:
            res["errors"].append(stripped)
    # The last statistics line is the timed run, the one before it the warm-up.
    if res["stats"]:
        timed = res["stats"][-1]
        res.update(runs=timed["count"], mean_ms=res.get("mean_ms", timed.get("avg", 0) / 1e3),
                   std_ms=timed.get("std", 0.0) / 1e3, min_ms=timed.get("min", 0) / 1e3,
                   max_ms=timed.get("max", 0) / 1e3)
        if "median" in timed:
            res["median_ms"] = timed["median"] / 1e3
        if "p95" in timed:
            res["p95_ms"] = timed["p95"] / 1e3
        if len(res["stats"]) >= 2:
            res.setdefault("warmup_ms", res["stats"][-2].get("avg", 0) / 1e3)
            res.setdefault("first_ms", res["stats"][-2].get("first", 0) / 1e3)
    return res


def delegation_status(parsed: dict, delegate: str) -> dict:
    """delegated/total nodes, partitions and an ``ok`` / ``fallback`` status for one row.

    ``cpu`` runs the builtin kernels: always ``ok``. For any other delegate, a graph that is
    only partly or not at all executed by it is ``fallback``: the silent CPU fallback that
    Android delegate users most often miss.
    """
    if delegate == "cpu":
        return {"delegated_ops": 0, "total_ops": None, "partitions": 0, "status": "ok"}
    reps = parsed.get("delegates") or []
    full = parsed.get("delegation", {})
    if reps:
        rep = reps[-1]
        delegated, total, parts = rep["delegated_ops"], rep["total_ops"], rep["partitions"]
        complete = total is not None and delegated == total or full.get("coverage") == "full"
        return {"delegated_ops": delegated, "total_ops": total, "partitions": parts,
                "status": "ok" if complete else "fallback"}
    if full.get("coverage") == "full":
        return {"delegated_ops": None, "total_ops": None, "partitions": 1, "status": "ok"}
    if full.get("coverage") == "partial":
        return {"delegated_ops": None, "total_ops": None, "partitions": full.get("kernels"), "status": "fallback"}
    return {"delegated_ops": 0, "total_ops": None, "partitions": 0, "status": "fallback"}
