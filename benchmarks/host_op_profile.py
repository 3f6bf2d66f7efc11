#!/usr/bin/env python3
"""Per-op time of a .tflite on this host, through the LiteRT interpreter and XNNPACK, by prefix
differencing: the Python interpreter has no op profiler, and no ``benchmark_model`` binary may
be downloaded here, so the graph is cut after each op and the cuts are timed.

Prefix ``k`` is the artifact's flatbuffer (edgeseg.runtime.debugcopy's reader and writer) with
ops ``0..k`` only; its outputs are op ``k``'s outputs plus every tensor of the prefix that a
later op reads (a skip connection), so that no op of the prefix is dead and none is pruned. Op
``k``'s time is prefix ``k``'s median minus prefix ``k-1``'s. All prefixes are timed in
interleaved rounds (each round invokes every prefix ``--invokes`` times, in a rotated order)
in one process, one thread by default. A cut can change what a delegate fuses across it, so a
row is the op's share of the whole graph's time as this runtime schedules it, not its time in
isolation; the ``± spread`` column (p90 - p10 of the op's difference over the rounds) says
which rows the noise decides.

Besides the times, the graph's int8 plumbing is listed: QUANTIZE / DEQUANTIZE / requantizing
ops, TRANSPOSE and RESHAPE (layout), TRANSPOSE_CONV, and CONCATENATION whose inputs' scales
differ from its output's (a concat that requantizes).

    python benchmarks/host_op_profile.py RUN/artifacts/x_int8.tflite --compare RUN/artifacts/x_float32.tflite

Prints per-op and per-op-type tables and writes benchmarks/results/host_op_profile.csv (per
op) and host_op_profile_types.csv (per type, with the float32 comparison).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from edgeseg.fileio import atomic_write_csv  # noqa: E402
from edgeseg.reporting.tables import format_table, host_environment, load_average  # noqa: E402
from edgeseg.runtime.debugcopy import _op_names, _spec, load_model, pack  # noqa: E402
from edgeseg.runtime.modelinfo import op_macs  # noqa: E402

OP_COLUMNS = ("artifact", "index", "op", "output_shape", "macs", "ms", "spread_ms", "share", "gmac_per_s", "note")
TYPE_COLUMNS = ("op", "count", "macs", "int8_ms", "int8_share", "int8_gmac_per_s", "float32_ms", "int8_vs_float32")
PLUMBING = {"QUANTIZE", "DEQUANTIZE", "REQUANTIZE", "TRANSPOSE", "RESHAPE", "PAD", "CAST"}


def graph(data: bytes) -> tuple:
    """(schema, model, op names per op, tensor details by index) of the main subgraph; a
    tensor's shape and quantization as debugcopy reads them."""
    schema, model = load_model(data)
    sg = model.subgraphs[0]
    names = _op_names(schema, model)
    ops = [names[op.opcodeIndex] for op in sg.operators]
    tensors = {}
    for i, t in enumerate(sg.tensors):
        spec = _spec(t, i, "", 0, False)
        tensors[i] = {"shape": list(spec.shape), "scale": list(spec.scale), "zero_point": list(spec.zero_point)}
    return schema, model, ops, tensors


def prefixes(data: bytes) -> list[bytes]:
    """The flatbuffer of each prefix (ops 0..k), every tensor a later op reads made an output."""
    _, model, ops, _ = graph(data)
    sg = model.subgraphs[0]
    all_ops = list(sg.operators)
    inputs = [[int(t) for t in (op.inputs if op.inputs is not None else []) if t >= 0] for op in all_ops]
    outputs = [[int(t) for t in (op.outputs if op.outputs is not None else [])] for op in all_ops]
    model.signatureDefs = []
    out = []
    for k in range(len(all_ops)):
        produced = {t for o in outputs[: k + 1] for t in o}
        later = {t for i in inputs[k + 1 :] for t in i} & produced
        sg.operators = all_ops[: k + 1]
        sg.outputs = list(dict.fromkeys([*outputs[k], *sorted(later)]))
        out.append(pack(model))
    return out


def time_prefixes(blobs: list[bytes], threads: int, rounds: int, invokes: int) -> list[list[float]]:
    """Per prefix, per round: the median ms of ``invokes`` invokes (XNNPACK, ``threads``)."""
    from ai_edge_litert.interpreter import Interpreter

    interps = []
    for blob in blobs:
        it = Interpreter(model_content=blob, num_threads=threads)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        rng = np.random.default_rng(0)
        if np.issubdtype(d["dtype"], np.integer):
            info = np.iinfo(d["dtype"])
            x = rng.integers(info.min, info.max, size=d["shape"], dtype=d["dtype"])
        else:
            x = rng.random(d["shape"], dtype=np.float32).astype(d["dtype"])
        it.set_tensor(d["index"], x)
        it.invoke()  # warm-up
        interps.append(it)
    times = [[] for _ in blobs]
    n = len(blobs)
    for r in range(rounds):
        for j in range(n):
            k = (j + r * 7) % n  # a rotated order: no prefix always runs after the same one
            it = interps[k]
            one = []
            for _ in range(invokes):
                t0 = time.perf_counter()
                it.invoke()
                one.append((time.perf_counter() - t0) * 1e3)
            times[k].append(statistics.median(one))
    return times


def profile(path: Path, threads: int, rounds: int, invokes: int) -> list[dict]:
    data = path.read_bytes()
    _, model, ops, tensors = graph(data)
    sg = model.subgraphs[0]
    blobs = prefixes(data)
    times = time_prefixes(blobs, threads, rounds, invokes)
    rows = []
    total = statistics.median(times[-1])
    for k, name in enumerate(ops):
        op = sg.operators[k]
        ins = [int(t) for t in (op.inputs if op.inputs is not None else []) if t >= 0]
        outs = [int(t) for t in (op.outputs if op.outputs is not None else [])]
        diffs = [a - b for a, b in zip(times[k], times[k - 1])] if k else list(times[0])
        ms = statistics.median(diffs)
        macs = op_macs(name, ins, outs, tensors)
        note = []
        if name in PLUMBING:
            note.append("plumbing")
        if name == "CONCATENATION":
            out_q = tensors[outs[0]]["scale"], tensors[outs[0]]["zero_point"]
            if out_q[0] and any((tensors[i]["scale"], tensors[i]["zero_point"]) != out_q for i in ins):
                note.append("inputs' scales differ from the output's (requantizes)")
        q = sorted(diffs)
        rows.append(
            {
                "artifact": path.name,
                "index": k,
                "op": name,
                "output_shape": "x".join(str(d) for d in tensors[outs[0]]["shape"]) if outs else "",
                "macs": macs,
                "ms": round(ms, 4),
                "spread_ms": round(q[int(0.9 * (len(q) - 1))] - q[int(0.1 * (len(q) - 1))], 4),
                "share": round(ms / total, 4) if total else "",
                "gmac_per_s": round(macs / (ms / 1e3) / 1e9, 1) if macs and ms > 0 else "",
                "note": "; ".join(note),
            }
        )
    return rows


def by_type(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = defaultdict(lambda: {"count": 0, "macs": 0, "ms": 0.0})
    for r in rows:
        t = out[r["op"]]
        t["count"] += 1
        t["macs"] += r["macs"]
        t["ms"] += r["ms"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifact", help="the .tflite to profile (an int8 artifact)")
    ap.add_argument("--compare", help="the same model in float32, profiled the same way")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--invokes", type=int, default=10)
    ap.add_argument("--csv", default=str(ROOT / "benchmarks" / "results" / "host_op_profile.csv"))
    args = ap.parse_args(argv)
    load_before = load_average()
    rows = profile(Path(args.artifact), args.threads, args.rounds, args.invokes)
    ref = profile(Path(args.compare), args.threads, args.rounds, args.invokes) if args.compare else []
    load_after = load_average()
    env = host_environment()
    print(f"host: {env.get('cpu')}; {args.threads} thread(s); load average {load_before} before, {load_after} after")
    print(f"{len(rows)} ops; {args.rounds} interleaved rounds of {args.invokes} invokes per prefix\n")
    print(format_table(rows, OP_COLUMNS[1:], floats=4))
    types, ref_types = by_type(rows), by_type(ref)
    total = sum(r["ms"] for r in rows)
    table = []
    for name, t in sorted(types.items(), key=lambda kv: -kv[1]["ms"]):
        f = ref_types.get(name, {}).get("ms")
        table.append(
            {
                "op": name,
                "count": t["count"],
                "macs": t["macs"],
                "int8_ms": round(t["ms"], 3),
                "int8_share": round(t["ms"] / total, 3) if total else "",
                "int8_gmac_per_s": round(t["macs"] / (t["ms"] / 1e3) / 1e9, 1) if t["macs"] and t["ms"] > 0 else "",
                "float32_ms": round(f, 3) if f is not None else "",
                "int8_vs_float32": round(t["ms"] / f, 2) if f else "",
            }
        )
    print("\nper op type (sum of the ops' differences):")
    print(format_table(table, TYPE_COLUMNS, floats=3))
    flagged = [r for r in rows if r["note"]]
    print(f"\nplumbing and requantizing ops: {len(flagged)}")
    for r in flagged:
        print(f"  #{r['index']} {r['op']} {r['output_shape']}: {r['note']} ({r['ms']} ms)")
    csv_path = Path(args.csv)
    atomic_write_csv(csv_path, OP_COLUMNS, rows + ref)
    types_path = csv_path.with_name(csv_path.stem + "_types.csv")
    atomic_write_csv(types_path, TYPE_COLUMNS, table)
    print(f"wrote {csv_path} and {types_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
