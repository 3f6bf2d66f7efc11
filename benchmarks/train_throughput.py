#!/usr/bin/env python3
"""Training throughput: `edgeseg train` (its tf.data pipeline with augmentation, the EMA
of the weights, per-step callbacks) against a bare tf_keras `model.fit` of the same network
on the same cached tensors (no augmentation), with and without XLA (`jit_compile`), side by
side in one run.

Each configuration trains the default model for --epochs epochs on the first --images
CamVid train images at --size; img/s is taken from the last epoch (the first includes
tracing and compilation). Configurations run in interleaved rounds, so that machine drift
hits each equally; the table gives each one's median img/s, its spread over the rounds and
its ratio to bare Keras without XLA. Writes benchmarks/results/train_throughput.csv.

    python benchmarks/train_throughput.py --data ../shared/datasets/camvid [--images 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.config import format_size, import_keras, parse_size  # noqa: E402
from edgeseg.fileio import atomic_write_csv  # noqa: E402
from edgeseg.reporting.tables import format_table, host_environment, load_average  # noqa: E402

CONFIGS = ("keras", "keras+xla", "edgeseg", "edgeseg+xla")
COLUMNS = ("config", "images_per_s", "min_images_per_s", "max_images_per_s", "rounds", "vs_keras")


def bare_keras(cache, size, classes: int, batch: int, epochs: int, jit: bool) -> float:
    """img/s of the last epoch of a plain model.fit on the cached tensors."""
    import numpy as np

    from edgeseg.models.registry import build_model
    from edgeseg.training.losses import make_loss

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = build_model("resunet", size, classes)
    model.compile(keras.optimizers.Adam(1e-3), loss=make_loss("ce"), jit_compile=jit)
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


def edgeseg_train(data: str, images: int, size, batch: int, epochs: int, jit: bool) -> float:
    import csv

    from edgeseg.training.loop import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(data=data, out=str(Path(tmp) / "run"), input_size=size, epochs=epochs, batch=batch,
                          limit=images, jit_compile=jit)
        train(cfg)
        rows = list(csv.DictReader(open(Path(tmp) / "run" / "history.csv")))
    return float(rows[-1]["images_per_s"])


def main(argv=None) -> int:
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import load_split

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a dataset (CamVid)")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", default="192x256")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--csv", default=str(Path(__file__).parent / "results" / "train_throughput.csv"))
    args = ap.parse_args(argv)
    size = parse_size(args.size)
    ds = open_dataset(args.data)
    cache = load_split(ds, "train", size, limit=args.images)
    configs = args.configs.split(",")
    results: dict[str, list[float]] = {c: [] for c in configs}
    load_before = load_average()
    for r in range(args.rounds):
        for c in configs:
            jit = c.endswith("+xla")
            if c.startswith("keras"):
                v = bare_keras(cache, size, ds.num_classes, args.batch, args.epochs, jit)
            else:
                v = edgeseg_train(args.data, args.images, size, args.batch, args.epochs, jit)
            results[c].append(v)
            print(f"round {r + 1}: {c:<12} {v:6.2f} img/s", file=sys.stderr, flush=True)
    base = statistics.median(results["keras"]) if results.get("keras") else None
    rows = [{"config": c, "images_per_s": statistics.median(v), "min_images_per_s": min(v),
             "max_images_per_s": max(v), "rounds": len(v),
             "vs_keras": statistics.median(v) / base if base else None} for c, v in results.items()]
    host = host_environment()
    print(format_table(rows, COLUMNS))
    print(f"resunet at {format_size(size)}, batch {args.batch}, {args.images} images, img/s of epoch {args.epochs}; "
          f"{host['cpu']}, {host['cpu_count']} cores, load average {load_before[0] if load_before else '?'} before, "
          f"{(load_average() or ['?'])[0]} after; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}")
    atomic_write_csv(args.csv, COLUMNS, rows)
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
