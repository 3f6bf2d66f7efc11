#!/usr/bin/env python3
"""Training throughput: `edgeseg train` (its tf.data pipeline with augmentation, the EMA
of the weights, per-step callbacks) against a bare tf_keras `model.fit` of the same network
on the same cached tensors (no augmentation), with and without XLA (`jit_compile`), and
`edgeseg train --precision bf16` against float32, side by side in one run.

Each configuration trains the default model for --epochs epochs on the first --images
CamVid train images at --size, with the same loss (the model's default, OHEM for resunet);
img/s is taken from the last epoch (the first includes tracing and compilation). Every
measurement runs in a fresh Python process (no shared TensorFlow state, graph caches or
memory between configurations), and configurations run in interleaved rounds, so that machine
drift hits each equally; the table gives each one's median img/s, its spread over the rounds and
its ratio to bare Keras without XLA (and to `edgeseg` float32). Writes
benchmarks/results/train_throughput.csv.

With --quality-epochs N it then trains float32 and bf16 on the whole train split for N
epochs with each seed of --seeds and gives the val mIoU of each (at label resolution, the
EMA weights as always): the seeds' spread is the noise a bf16 difference is judged against.
Those runs are kept in --keep DIR when given (the float32 one of seed 0 is a CamVid model).

    python benchmarks/train_throughput.py --data ../shared/datasets/camvid [--images 64] [--rounds 2]
    python benchmarks/train_throughput.py --data ../shared/datasets/camvid --configs edgeseg,edgeseg+bf16 \
        --rounds 3 --quality-epochs 4 --seeds 0,1 --keep /tmp/bf16-runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.config import format_size, import_keras, parse_size
from edgeseg.fileio import atomic_write_csv
from edgeseg.reporting.tables import format_table, host_environment, load_average

CONFIGS = ("keras", "keras+xla", "edgeseg", "edgeseg+xla", "edgeseg+bf16")
COLUMNS = (
    "config",
    "images_per_s",
    "min_images_per_s",
    "max_images_per_s",
    "rounds",
    "vs_keras",
    "vs_edgeseg",
    "load_avg_1m",
)
QUALITY_COLUMNS = (
    "precision",
    "seed",
    "epochs",
    "size",
    "images_per_split",
    "best_val_miou",
    "best_epoch",
    "last_val_miou",
    "train_s",
    "images_per_s_last_epoch",
    "load_avg_1m",
)


def bare_keras(cache, size, classes: int, batch: int, epochs: int, jit: bool) -> float:
    """img/s of the last epoch of a plain model.fit on the cached tensors."""
    import numpy as np

    from edgeseg.models.registry import MODELS, build_model
    from edgeseg.training.losses import make_loss

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = build_model("resunet", size, classes)
    model.compile(keras.optimizers.Adam(1e-3), loss=make_loss(MODELS["resunet"].loss), jit_compile=jit)
    x = cache.images.astype(np.float32) / 255.0
    y = cache.masks
    times = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[Clock()])
    steps = len(x) // batch + (1 if len(x) % batch else 0)
    return len(x) / times[-1] if steps else 0.0


def edgeseg_train(
    data: str,
    images: int | None,
    size,
    batch: int,
    epochs: int,
    jit: bool,
    precision: str = "float32",
    seed: int = 0,
    keep: Path | None = None,
) -> dict:
    """One `edgeseg train`: the last epoch's img/s, the best and last val mIoU, the seconds."""
    import csv
    import json

    from edgeseg.training.loop import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp) / "run"
        t0 = time.perf_counter()
        cfg = TrainConfig(
            data=data,
            out=str(out),
            input_size=size,
            epochs=epochs,
            batch=batch,
            limit=images,
            jit_compile=jit,
            precision=precision,
            seed=seed,
        )
        train(cfg)
        seconds = time.perf_counter() - t0
        with open(out / "history.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        best = json.loads((out / "best.json").read_text())
    return {
        "images_per_s": float(rows[-1]["images_per_s"]),
        "best_val_miou": best["miou"],
        "best_epoch": best["epoch"],
        "last_val_miou": float(rows[-1]["val_miou"]),
        "train_s": seconds,
    }


def measure_one(args, size) -> float:
    """img/s of configuration ``args.one``, measured in this process."""
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import load_split

    c, jit = args.one, args.one.endswith("+xla")
    if c.startswith("keras"):
        ds = open_dataset(args.data)
        cache = load_split(ds, "train", size, limit=args.images)
        return bare_keras(cache, size, ds.num_classes, args.batch, args.epochs, jit)
    precision = "bf16" if c.endswith("+bf16") else "float32"
    return edgeseg_train(args.data, args.images, size, args.batch, args.epochs, jit, precision)["images_per_s"]


def in_fresh_process(config: str, argv: list[str]) -> float:
    """Run this script with ``--one config`` in a new interpreter; its img/s."""
    import subprocess

    res = subprocess.run(
        [sys.executable, __file__, *argv, "--one", config], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"{config} failed:\n{res.stderr[-2000:]}")
    return float(json.loads(res.stdout.strip().splitlines()[-1])["images_per_s"])


def main(argv=None) -> int:

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a dataset (CamVid)")
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--size", default="192x256")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one configuration in this process
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--csv", default=str(Path(__file__).parent / "results" / "train_throughput.csv"))
    ap.add_argument("--quality-epochs", type=int, default=0, help="then float32 vs bf16 val mIoU after N epochs")
    ap.add_argument("--seeds", default="0", help="seeds of the quality runs, comma list")
    ap.add_argument("--keep", help="keep the quality runs in DIR/<precision>-seed<S>")
    ap.add_argument("--quality-limit", type=int, help="at most N images per split in the quality runs (default all)")
    ap.add_argument("--quality-size", help="HxW of the quality runs (default --size)")
    args = ap.parse_args(argv)
    size = parse_size(args.size)
    if args.one:
        print(json.dumps({"images_per_s": measure_one(args, size)}))
        return 0
    configs = args.configs.split(",")
    results: dict[str, list[float]] = {c: [] for c in configs}
    loads: dict[str, list] = {}
    load_before = load_average()
    for r in range(args.rounds):
        for c in configs:
            v = in_fresh_process(c, argv if argv is not None else sys.argv[1:])
            results[c].append(v)
            loads.setdefault(c, []).append((load_average() or [None])[0])
            print(f"round {r + 1}: {c:<12} {v:6.2f} img/s", file=sys.stderr, flush=True)
    results = {c: v for c, v in results.items() if v}  # --rounds 0: the quality runs only
    base = statistics.median(results["keras"]) if results.get("keras") else None
    ours = statistics.median(results["edgeseg"]) if results.get("edgeseg") else None
    rows = [
        {
            "config": c,
            "images_per_s": statistics.median(v),
            "min_images_per_s": min(v),
            "max_images_per_s": max(v),
            "rounds": len(v),
            "vs_keras": statistics.median(v) / base if base else None,
            "vs_edgeseg": statistics.median(v) / ours if ours else None,
            "load_avg_1m": max((x for x in loads[c] if x is not None), default=None),
        }
        for c, v in results.items()
    ]
    if rows:
        host = host_environment()
        print(format_table(rows, COLUMNS))
        print(
            f"resunet at {format_size(size)}, batch {args.batch}, {args.images} images, img/s of epoch {args.epochs}; "
            f"{host['cpu']}, {host['cpu_count']} cores, load average {load_before[0] if load_before else '?'} before, "
            f"{(load_average() or ['?'])[0]} after; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}"
        )
        atomic_write_csv(args.csv, COLUMNS, rows)
        print(f"wrote {args.csv}")
    if args.quality_epochs:
        quality = []
        for seed in (int(x) for x in args.seeds.split(",")):
            for precision in ("float32", "bf16"):  # interleaved, seed by seed
                keep = Path(args.keep) / f"{precision}-seed{seed}" if args.keep else None
                q = edgeseg_train(
                    args.data,
                    args.quality_limit,
                    parse_size(args.quality_size) if args.quality_size else size,
                    args.batch,
                    args.quality_epochs,
                    False,
                    precision,
                    seed,
                    keep,
                )
                quality.append(
                    {
                        "precision": precision,
                        "seed": seed,
                        "epochs": args.quality_epochs,
                        "size": args.quality_size or args.size,
                        "images_per_split": args.quality_limit,
                        "images_per_s_last_epoch": q.pop("images_per_s"),
                        **q,
                        "load_avg_1m": (load_average() or [None])[0],
                    }
                )
                print(
                    f"quality: {precision} seed {seed}: best val mIoU {q['best_val_miou']:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
        print(format_table(quality, QUALITY_COLUMNS, floats=4))
        qcsv = Path(args.csv).with_name(Path(args.csv).stem + "_quality.csv")
        atomic_write_csv(qcsv, QUALITY_COLUMNS, quality)
        print(f"wrote {qcsv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
