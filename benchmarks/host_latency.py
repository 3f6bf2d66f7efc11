#!/usr/bin/env python3
"""fp32 vs dynamic vs fp16 vs int8 of the same model, measured side by side in one run.

Exports the four artifacts from one model (a trained run with --run, or a freshly
initialised resunet: latency does not depend on the weights' values), loads all four
interpreters, then times them in interleaved rounds so that machine drift hits each
equally. Prints a table with median ms, the ratio to fp32, MACs, achieved GMAC/s and the
percentage of this CPU's peak for the recipe's arithmetic (edgeseg.host.peak_gmacs: threads x
MACs per cycle of the widest instructions its flags name x clock; the formula and the clock's
source are printed), with the host's load before and after, and writes the same rows as CSV.

    python benchmarks/host_latency.py [--run RUN] [--size 192x320] [--threads 2] [--rounds 10] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.config import parse_size
from edgeseg.fileio import atomic_write_csv
from edgeseg.host import cpu_flags, cpu_model, peak_gmacs, precision_note
from edgeseg.reporting.tables import format_table

RECIPES = ("float32", "dynamic", "float16", "int8")
COLUMNS = (
    "recipe",
    "size_kb",
    "median_ms",
    "p90_ms",
    "vs_float32",
    "macs",
    "gmac_per_s",
    "peak_gmac_per_s",
    "pct_of_peak",
    "delegated_ops",
    "total_ops",
    "partitions",
    "runs",
    "threads",
    "load_before",
    "load_after",
)


def export_all(run: str | None, size, calib_count: int, out: Path) -> dict[str, Path]:
    from edgeseg.data.synth import render_scene
    from edgeseg.models.registry import build_model
    from edgeseg.quantize.ptq import convert
    from edgeseg.run import load_run_model

    if run:
        model, cfg = load_run_model(run)
        size = tuple(cfg["input_size"])
    else:
        model = build_model("resunet", size, 6)
    calib = np.stack([render_scene(np.random.default_rng([7, i]), size)[0] for i in range(calib_count)])
    paths = {}
    for recipe in RECIPES:
        p = out / f"{recipe}.tflite"
        p.write_bytes(convert(model, size, recipe, "int8", calib if recipe == "int8" else None))
        paths[recipe] = p
    return paths


def peak_columns(recipe: str, threads: int, flags: set[str], gmacs: float) -> dict:
    peak = peak_gmacs(recipe, threads, flags).get("peak_gmac_per_s")
    return {"peak_gmac_per_s": peak, "pct_of_peak": 100 * gmacs / peak if peak else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", help="training run folder (default: a freshly initialised resunet)")
    ap.add_argument("--size", default="192x320", help="input HxW when no --run is given")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    ap.add_argument("--per-round", type=int, default=5, help="timed invokes per artifact per round")
    ap.add_argument("--calib", type=int, default=32, help="calibration images for int8 (synthetic)")
    ap.add_argument("--csv", default="benchmarks/results/host_latency.csv")
    args = ap.parse_args(argv)

    from edgeseg.runner import latency_stats, random_input
    from edgeseg.runtime.interpreter import delegation, load_interpreter
    from edgeseg.runtime.modelinfo import model_info

    with tempfile.TemporaryDirectory() as tmp:
        print(f"exporting {', '.join(RECIPES)} ...", file=sys.stderr)
        paths = export_all(args.run, parse_size(args.size), args.calib, Path(tmp))
        interps, info, times = {}, {}, {r: [] for r in RECIPES}
        rng = np.random.default_rng(0)
        for r, p in paths.items():
            it, _ = load_interpreter(p, threads=args.threads)
            for d in it.get_input_details():
                it.set_tensor(d["index"], random_input(d, rng))
            for _ in range(3):  # warm-up
                it.invoke()
            interps[r] = it
            info[r] = {**model_info(p), **delegation(it._get_ops_details())}
        print(f"timing {args.rounds} interleaved rounds x {args.per_round} invokes ...", file=sys.stderr)
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for r, it in interps.items():
                for _ in range(args.per_round):
                    t0 = time.perf_counter()
                    it.invoke()
                    times[r].append(time.perf_counter() - t0)
        load_after = os.getloadavg()[0]
    rows = []
    flags = cpu_flags()
    base = latency_stats(times["float32"])["median_ms"]
    for r in RECIPES:
        s = latency_stats(times[r])
        rows.append(
            {
                "recipe": r,
                "size_kb": info[r]["size_bytes"] / 1024,
                "median_ms": s["median_ms"],
                "p90_ms": s["p90_ms"],
                "vs_float32": s["median_ms"] / base,
                "macs": info[r]["macs"],
                "gmac_per_s": info[r]["macs"] / (s["median_ms"] / 1e3) / 1e9,
                **peak_columns(r, args.threads, flags, info[r]["macs"] / (s["median_ms"] / 1e3) / 1e9),
                "delegated_ops": info[r]["delegated_ops"],
                "total_ops": info[r]["total_ops"],
                "partitions": info[r]["partitions"],
                "runs": s["runs"],
                "threads": args.threads,
                "load_before": round(load_before, 2),
                "load_after": round(load_after, 2),
            }
        )
    print(f"host: {cpu_model()}, {os.cpu_count()} cores; {args.threads} thread(s)")
    for r in RECIPES:
        how = peak_gmacs(r, args.threads, flags).get("peak_how")
        print(f"peak of {r}: {how or 'unknown (no row of edgeseg.host.VECTOR_PEAKS for this CPU)'}")
        note = precision_note(r, flags)
        if note:
            print(f"note: {r}: {note}")
    print(format_table(rows, COLUMNS))
    atomic_write_csv(args.csv, COLUMNS, rows)
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
