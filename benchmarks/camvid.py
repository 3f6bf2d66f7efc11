#!/usr/bin/env python3
"""The CamVid quality benchmark: float32, PTQ int8, accuracy-controlled int8 and QAT int8
of one float checkpoint, side by side: val mIoU at label resolution (360x480, 11 classes,
void ignored), per-class IoU, size, and host latency timed in interleaved rounds.

    python benchmarks/camvid.py [--data ../shared/datasets/camvid] [--run RUN | --out RUN]
        [--input-size 192x256] [--epochs 20] [--lr 1e-3] [--augment flip]
        [--num-calib 100] [--max-drop 0.5] [--qat-epochs 2] [--qat-lr 1e-4] [--csv FILE]

With --run the checkpoint of an existing training run is used (``edgeseg train`` with the
same options writes one); otherwise resunet is trained into --out first. Every variant is
written into RUN/artifacts/ with its manifest; the table is printed and written as CSV.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.config import format_size, parse_size
from edgeseg.fileio import atomic_write_csv
from edgeseg.reporting.tables import format_table

VIEW = ("variant", "recipe", "miou", "delta_points", "float_layers", "size_kb", "median_ms", "vs_float32")


def latency_rounds(paths: dict[str, Path], threads: int, rounds: int) -> dict[str, float]:
    """Median latency per artifact, timed in interleaved rounds (drift hits all equally)."""
    from edgeseg.runtime.hostbench import bench_host

    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        for k, p in paths.items():
            times[k].append(bench_host(p, threads=threads, runs=10, min_secs=0.5, warmup_runs=2)["median_ms"])
    return {k: float(sorted(v)[len(v) // 2]) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    repo = Path(__file__).resolve().parents[1]
    ap.add_argument("--data", default=str(repo.parent / "shared" / "datasets" / "camvid"))
    ap.add_argument("--run", default=None, help="An existing training run to start from.")
    ap.add_argument("--out", default="camvid_run", help="Where to train when --run is not given.")
    ap.add_argument("--input-size", default="192x256")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--augment", default="flip")
    ap.add_argument("--num-calib", type=int, default=100)
    ap.add_argument("--max-drop", type=float, default=0.5)
    ap.add_argument("--qat-epochs", type=int, default=2)
    ap.add_argument("--qat-lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--csv", default=str(repo / "benchmarks" / "results" / "camvid.csv"))
    args = ap.parse_args(argv)

    from edgeseg.quantize.controlled import controlled_int8
    from edgeseg.quantize.ptq import quantize_run
    from edgeseg.quantize.qat import quantize_qat
    from edgeseg.runtime.evaluate import evaluate

    t0 = time.time()
    run = Path(args.run) if args.run else Path(args.out)
    schedule = None
    if not args.run:
        from edgeseg.training.loop import TrainConfig, train

        cfg = TrainConfig(
            data=args.data,
            out=str(run),
            input_size=parse_size(args.input_size),
            epochs=args.epochs,
            lr=args.lr,
            augment=args.augment,
        )
        print(f"training resunet {format_size(cfg.input_size)} for {args.epochs} epochs into {run}", flush=True)
        train(
            cfg,
            resume=(run / "config.json").exists(),
            on_epoch=lambda r: print(f"  epoch {r['epoch']}/{r['epochs']} val mIoU {r['val_miou']:.4f}", flush=True),
            verbose=0,
        )
    import json

    rcfg = json.loads((run / "config.json").read_text())
    tr = rcfg.get("train", {})
    schedule = (
        f"resunet {tr.get('input_size')} epochs {tr.get('epochs')} lr {tr.get('lr')} batch {tr.get('batch')} "
        f"augment {tr.get('augment')} loss {tr.get('loss')}"
    )
    print(f"float checkpoint: {run} ({schedule})", flush=True)
    timings = {}
    arts: dict[str, Path] = {}
    extra: dict[str, dict] = {}

    t = time.time()
    arts["float32"] = Path(quantize_run(run, "float32", force=True)["artifact"])
    arts["ptq_int8"] = Path(
        quantize_run(run, "int8", calib=args.data, num_calib=args.num_calib, force=True)["artifact"]
    )
    timings["ptq_s"] = time.time() - t
    t = time.time()
    ctl = controlled_int8(
        run,
        args.data,
        max_drop=args.max_drop,
        calib=args.data,
        num_calib=args.num_calib,
        say=lambda m: print("  " + m, flush=True),
        force=True,
    )
    arts["controlled_int8"] = Path(ctl["artifact"])
    extra["controlled_int8"] = {"float_layers": len(ctl["manifest"]["float_layers"] or []), "stopped": ctl["stopped"]}
    timings["controlled_s"] = time.time() - t
    t = time.time()
    qat = quantize_qat(
        run,
        epochs=args.qat_epochs,
        lr=args.qat_lr,
        data=args.data,
        force=True,
        resume=(run / "qat" / "config.json").exists(),
        on_epoch=lambda r: print(
            f"  qat epoch {r['epoch']}/{r['epochs']} val mIoU (fake-quant) {r['val_miou']:.4f}", flush=True
        ),
    )
    arts["qat_int8"] = Path(qat["artifact"])
    timings["qat_s"] = time.time() - t

    quality = {k: evaluate(p, args.data, "val") for k, p in arts.items()}
    lat = latency_rounds(arts, args.threads, args.rounds)
    base = quality["float32"]["miou"]
    rows = []
    for k, p in arts.items():
        q = quality[k]
        row = {
            "variant": k,
            "recipe": q["recipe"],
            "miou": q["miou"],
            "delta_points": 100 * (q["miou"] - base),
            "float_layers": extra.get(k, {}).get("float_layers", 0),
            "size_kb": p.stat().st_size / 1024,
            "median_ms": lat[k],
            "vs_float32": lat[k] / lat["float32"],
            "dice": q["dice"],
            "pixel_accuracy": q["pixel_accuracy"],
            "images": q["images"],
            "schedule": schedule,
            "threads": args.threads,
        }
        row.update({f"iou_{c}": v for c, v in q["per_class_iou"].items()})
        rows.append(row)
    int8 = [r for r in rows if r["variant"] != "float32"]
    best = max(int8, key=lambda r: r["miou"])
    print(format_table(rows, VIEW, floats=4))
    classes = list(quality["float32"]["per_class_iou"])
    print(format_table(rows, ["variant"] + [f"iou_{c}" for c in classes], floats=3))
    print(
        f"best int8: {best['variant']} {best['delta_points']:+.2f} mIoU points vs float32 "
        f"({'within' if best['delta_points'] >= -0.5 else 'outside'} 0.5); controlled: {ctl['stopped']}"
    )
    print(f"timings: {', '.join(f'{k} {v:.0f}' for k, v in timings.items())}, total {time.time() - t0:.0f} s")
    columns = list(rows[0].keys())
    atomic_write_csv(args.csv, columns, rows)
    print(f"csv: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
