#!/usr/bin/env python3
"""Training recipes on CamVid, side by side: for each given run (e.g. the reference recipe
and the default one), the validation curve (best, last, the spread of the last 10 epochs),
the float32 artifact and int8 through both PTQ paths (the TFLite converter and
ai-edge-quantizer: seconds and mIoU drop), XNNPACK partitions, and the host latency of
every artifact measured in one bench call. mIoU is on the val split at label resolution
(360x480, void ignored), the model of record (EMA where the recipe has it) of the best epoch.

    python benchmarks/camvid_recipe.py --data ../shared/datasets/camvid ref=RUN_A default=RUN_B

Prints two tables and writes benchmarks/results/camvid_recipe.csv and camvid_recipe_latency.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.fileio import atomic_write_csv
from edgeseg.reporting.tables import format_table, host_environment, load_average

COLUMNS = (
    "run",
    "model",
    "recipe",
    "epochs",
    "best_epoch",
    "best_val_miou",
    "last_val_miou",
    "last10_spread",
    "last10_mean_step",
    "float32_miou",
    "int8_converter_miou",
    "int8_converter_drop",
    "converter_s",
    "int8_aeq_miou",
    "int8_aeq_drop",
    "aeq_s",
    "xnnpack_partitions_int8",
)
LATENCY = ("artifact", "median_ms", "p90_ms", "spread", "runs", "delegated_ops", "total_ops", "partitions", "status")


def curve(run: Path) -> dict:
    rows = list(csv.DictReader(open(run / "history.csv")))
    vals = [float(r["val_miou"]) for r in rows]
    last10 = vals[-10:]
    best = max(range(len(vals)), key=vals.__getitem__)
    return {
        "epochs": len(vals),
        "best_epoch": best + 1,
        "best_val_miou": vals[best],
        "last_val_miou": vals[-1],
        "last10_spread": max(last10) - min(last10),
        "last10_mean_step": sum(abs(a - b) for a, b in zip(last10, last10[1:])) / max(1, len(last10) - 1),
    }


def recipe_of(cfg: dict) -> str:
    t = cfg.get("train", {})
    sched = t.get("schedule", "exp")
    lr = f"lr {t.get('lr')}"
    parts = [
        f"{sched} {lr}"
        + (
            f" x{t.get('decay_rate')}/{t.get('decay_epochs')}ep"
            if sched == "exp" and float(t.get("decay_rate", 1)) != 1
            else ""
        ),
        f"ema {t.get('ema', 0)}",
        f"loss {t.get('loss')}",
        f"aug {t.get('augment')}",
    ]
    return ", ".join(parts)


def main(argv=None) -> int:
    from edgeseg.device.bench import bench_rows
    from edgeseg.device.config import BenchConfig
    from edgeseg.quantize.lint import lint_artifact
    from edgeseg.quantize.ptq import quantize_run
    from edgeseg.run import read_run_config
    from edgeseg.runtime.evaluate import evaluate

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--num-calib", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    args = ap.parse_args(argv)
    results, artifacts = [], []
    for item in args.runs:
        label, _, run = item.partition("=")
        run = Path(run)
        cfg = read_run_config(run)
        row = {"run": label, "model": cfg["model"], "recipe": recipe_of(cfg), **curve(run)}
        out = run / "artifacts"
        f32 = Path(quantize_run(run, "float32", out=out / f"{label}_float32.tflite", force=True)["artifact"])
        row["float32_miou"] = evaluate(f32, args.data, "val")["miou"]
        artifacts.append(f32)
        for tool in ("converter", "aeq"):
            res = quantize_run(
                run,
                "int8",
                calib=args.data,
                num_calib=args.num_calib,
                ptq=tool,
                force=True,
                out=out / f"{label}_int8_{tool}.tflite",
            )
            art = Path(res["artifact"])
            row[f"int8_{tool}_miou"] = evaluate(art, args.data, "val")["miou"]
            row[f"int8_{tool}_drop"] = row["float32_miou"] - row[f"int8_{tool}_miou"]
            row[f"{'converter' if tool == 'converter' else 'aeq'}_s"] = res["manifest"]["ptq"]["seconds"]
            if tool == "converter":
                row["xnnpack_partitions_int8"] = lint_artifact(art)["delegates"]["xnnpack"]["partitions"]
                artifacts.append(art)
            print(
                f"{label}: int8 via {tool}: {row[f'int8_{tool}_miou']:.4f} ({res['manifest']['ptq']['seconds']} s)",
                file=sys.stderr,
                flush=True,
            )
        results.append(row)
    before = load_average()
    latency = bench_rows(
        artifacts, BenchConfig(device="host", artifacts=tuple(map(str, artifacts)), threads=args.threads)
    )
    after = load_average()
    from edgeseg.reporting.tables import latency_spread

    for r in latency:
        r["spread"] = latency_spread(r)
    print(format_table(results, COLUMNS, floats=4))
    print(format_table(latency, LATENCY))
    host = host_environment()
    print(
        f"latency: XNNPACK, {args.threads} threads, {host['cpu']}, {host['cpu_count']} cores, load average "
        f"{before[0] if before else '?'} before, {after[0] if after else '?'} after; one bench call"
    )
    results_dir = Path(__file__).parent / "results"
    atomic_write_csv(results_dir / "camvid_recipe.csv", COLUMNS, results)
    atomic_write_csv(
        results_dir / "camvid_recipe_latency.csv", LATENCY, [{k: r.get(k) for k in LATENCY} for r in latency]
    )
    print(json.dumps({"csv": [str(results_dir / "camvid_recipe.csv"), str(results_dir / "camvid_recipe_latency.csv")]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
