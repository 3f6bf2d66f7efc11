#!/usr/bin/env python3
"""Which registry models are delegate-clean: every model exported to float32 and int8
(logits head, the default), XNNPACK delegation measured in the host interpreter, GPU and
NNAPI partitions predicted by `edgeseg info --delegates`' lint, and its warnings.

Delegation depends on the graph, not on trained weights or the input size, so the models
are freshly initialised at a small input (--size) and int8 is calibrated on a few synthetic
scenes. Prints a table and writes benchmarks/results/delegates.csv.

    python benchmarks/delegate_check.py [--size 128x128] [--models resunet,unet,...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.config import parse_size
from edgeseg.fileio import atomic_write_csv
from edgeseg.reporting.tables import format_table

COLUMNS = (
    "model",
    "recipe",
    "xnnpack_ops",
    "total_ops",
    "xnnpack_partitions",
    "gpu_partitions",
    "nnapi_partitions",
    "clean",
    "xnnpack_cpu_ops",
    "warnings",
)


def check(name: str, size, calib: np.ndarray, tmp: Path) -> list[dict]:
    from edgeseg.models.pta import config_model
    from edgeseg.models.registry import build_model
    from edgeseg.quantize.lint import lint_artifact
    from edgeseg.quantize.ptq import convert

    model = build_model(name, size, 12)
    if hasattr(model, "pta_bank"):  # one exported configuration: the heaviest
        model = config_model(model, "HHH")
    rows = []
    for recipe in ("float32", "int8"):
        path = tmp / f"{name}_{recipe}.tflite"
        path.write_bytes(convert(model, size, recipe, "int8", calib if recipe == "int8" else None))
        lint = lint_artifact(path)
        d = lint["delegates"]
        clean = (
            d["xnnpack"]["partitions"] == 1
            and d["xnnpack"]["delegated_ops"] == d["xnnpack"]["total_ops"]
            and d["gpu"]["partitions"] == 1
            and d["nnapi"]["partitions"] == 1
            and not lint["warnings"]
        )
        rows.append(
            {
                "model": name,
                "recipe": recipe,
                "xnnpack_ops": d["xnnpack"]["delegated_ops"],
                "total_ops": d["xnnpack"]["total_ops"],
                "xnnpack_partitions": d["xnnpack"]["partitions"],
                "gpu_partitions": d["gpu"]["partitions"],
                "nnapi_partitions": d["nnapi"]["partitions"],
                "clean": "yes" if clean else "no",
                "xnnpack_cpu_ops": " ".join(d["xnnpack"]["cpu_ops"]) or None,
                "warnings": " ".join(sorted({w["code"] for w in lint["warnings"]})) or None,
            }
        )
    return rows


def main(argv=None) -> int:
    from edgeseg.data.synth import render_scene
    from edgeseg.models.registry import MODELS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="128x128", help="input HxW (divisible by every model's stride, 32)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--csv", default=str(Path(__file__).parent / "results" / "delegates.csv"))
    args = ap.parse_args(argv)
    size = parse_size(args.size)
    calib = np.stack([render_scene(np.random.default_rng([3, i]), size)[0] for i in range(8)])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            t = time.perf_counter()
            rows += check(name, size, calib, Path(tmp))
            print(f"{name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    print(format_table(rows, COLUMNS))
    atomic_write_csv(args.csv, COLUMNS, rows)
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
