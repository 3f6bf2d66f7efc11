#!/usr/bin/env python3
"""The model zoo on CamVid, one short schedule per model, through the `edgeseg` CLI:

    edgeseg train --model NAME  ->  edgeseg quantize --int8  ->  edgeseg eval  ->  edgeseg bench

Per model: parameters and MACs at 256x256 (the counter behind `edgeseg info`, float32 graph,
untrained weights), CamVid val mIoU of the float checkpoint and of the int8 artifact (label
resolution), and host int8 latency. The int8 artifacts are benchmarked together in one
`edgeseg bench` call, so the latencies are side by side in one run. unet-pta is exported as
one multi-signature file (every configuration in --pta-configs) and gets one row per
configuration.

    python benchmarks/model_zoo.py [--data ../shared/datasets/camvid] [--out zoo_runs]
        [--input-size 128x160] [--epochs 4] [--models a,b,...] [--csv FILE]

A finished step is not redone: a run with its epochs done, an artifact already exported or
evaluated is reused, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.fileio import atomic_write_csv
from edgeseg.reporting.tables import format_table

#: Model options for the short schedule (the rest are each model's defaults).
MODEL_OPTIONS = {"unet": ["--base", "16"]}  # the paper's 64 -> 1024 widths: 31 M params, ~hours per epoch here
VIEW = (
    "model",
    "config",
    "params_m",
    "gmacs_256",
    "epochs",
    "train_s",
    "float_miou",
    "int8_miou",
    "int8_ms",
    "size_kb",
    "status",
)


def edgeseg(*args, log) -> str:
    cmd = [sys.executable, "-m", "edgeseg.cli", *map(str, args)]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    log(f"    $ edgeseg {' '.join(map(str, args))}  ({time.perf_counter() - t:.0f} s, exit {res.returncode})")
    if res.returncode != 0:
        raise RuntimeError(f"edgeseg {args[0]} failed: {(res.stderr.strip().splitlines() or ['?'])[-1]}")
    return res.stdout


def last_json(text: str) -> dict:
    return json.loads(text[text.index("{") :])


def size_256(name: str, classes: int, options: list[str], pta_configs: list[str] = ()) -> dict:
    """Params and MACs at 256x256: the model built untrained, converted to float32 and
    counted by the same code as `edgeseg info` (for a PTA model, each of ``pta_configs``)."""
    import tempfile

    from edgeseg.models.registry import build_model
    from edgeseg.quantize.ptq import convert
    from edgeseg.runtime.modelinfo import model_info

    kw = {options[i].lstrip("-"): int(options[i + 1]) for i in range(0, len(options), 2)}
    model = build_model(name, (256, 256), classes, kw)
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "m.tflite"
        f.write_bytes(convert(model, (256, 256), "float32"))
        info = model_info(f)
    res = {"params": info["params"], "macs": info["macs"]}
    if hasattr(model, "pta_bank"):
        from edgeseg.models.pta import config_model

        with tempfile.TemporaryDirectory() as tmp:
            for c in pta_configs:
                f = Path(tmp) / f"{c}.tflite"
                f.write_bytes(convert(config_model(model, c), (256, 256), "float32"))
                info = model_info(f)
                res[c] = {"params": info["params"], "macs": info["macs"]}
    return res


def main(argv=None) -> int:
    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(repo.parent / "shared" / "datasets" / "camvid"))
    ap.add_argument("--out", default="zoo_runs")
    ap.add_argument("--input-size", default="128x160")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", default=None, help="Comma list (default: every registry model).")
    ap.add_argument("--pta-configs", default="LLL,HLH,HHH,BBB")
    ap.add_argument("--num-calib", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--csv", default=str(repo / "benchmarks" / "results" / "model_zoo.csv"))
    args = ap.parse_args(argv)

    from edgeseg.data.formats import open_dataset
    from edgeseg.models.registry import MODELS

    names = args.models.split(",") if args.models else list(MODELS)
    classes = open_dataset(args.data).num_classes
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(s):
        print(s, file=sys.stderr, flush=True)

    rows, artifacts = [], {}
    for name in names:
        opts = MODEL_OPTIONS.get(name, [])
        run = out / name
        row = {"model": name, "config": None, "epochs": args.epochs, "status": "ok"}
        log(f"[{name}]")
        try:
            sizes = size_256(name, classes, opts, args.pta_configs.split(","))
            row.update(params_m=sizes["params"] / 1e6, gmacs_256=sizes["macs"] / 1e9)
            t = time.perf_counter()
            done = len((run / "history.csv").read_text().splitlines()) - 1 if (run / "history.csv").exists() else 0
            if done < args.epochs:
                resume = ["--resume"] if (run / "ckpt" / "checkpoint").exists() else []
                edgeseg(
                    "train",
                    "--data",
                    args.data,
                    "--out",
                    run,
                    "--model",
                    name,
                    "--input-size",
                    args.input_size,
                    "--epochs",
                    args.epochs,
                    "--batch",
                    args.batch,
                    "--augment",
                    "flip",
                    *opts,
                    *resume,
                    log=log,
                )
            row["train_s"] = time.perf_counter() - t if done < args.epochs else None
            row["float_miou"] = json.loads((run / "best.json").read_text()).get("miou")
            pta = ["--pta-configs", args.pta_configs] if name == "unet-pta" else []
            art_dir = run / "artifacts"
            existing = [p for p in art_dir.glob("*_int8*.tflite")] if art_dir.is_dir() else []
            if pta:
                existing = [p for p in existing if p.stem.endswith(args.pta_configs.replace(",", "-"))]
            else:
                existing = [p for p in existing if p.stem.endswith("_int8")]
            if existing and row["train_s"] is None:  # trained in an earlier call: its export is current
                art = existing[0]
            else:
                res = last_json(
                    edgeseg(
                        "quantize",
                        run,
                        "--int8",
                        "--calib",
                        args.data,
                        "--num-calib",
                        args.num_calib,
                        "--no-lint",
                        "--force",
                        *pta,
                        "--json",
                        log=log,
                    )
                )
                art = Path(res["artifact"])
            manifest = json.loads(art.with_suffix(".json").read_text())
            key = f"{Path(args.data).name}:val"
            if key not in manifest.get("quality", {}):
                edgeseg("eval", art, "--data", args.data, "--json", log=log)
                manifest = json.loads(art.with_suffix(".json").read_text())
            q = manifest["quality"][key]
            row["size_kb"] = art.stat().st_size / 1024
            artifacts[name] = art
            if pta:
                for c, v in q["signatures"].items():
                    cfg_sizes = sizes.get(c, {})
                    rows.append(
                        {
                            **row,
                            "config": c,
                            "int8_miou": v["miou"],
                            "params_m": cfg_sizes.get("params", 0) / 1e6 or None,
                            "gmacs_256": cfg_sizes.get("macs", 0) / 1e9 or None,
                        }
                    )
            else:
                rows.append({**row, "int8_miou": q["miou"]})
        except (RuntimeError, OSError, KeyError, ValueError) as exc:
            log(f"    failed: {exc}")
            rows.append({**row, "status": f"failed: {exc}"})

    if artifacts:  # one bench call: every artifact measured side by side in one run
        res = last_json(
            edgeseg(
                "bench",
                *artifacts.values(),
                "--threads",
                args.threads,
                "--runs",
                30,
                "--min-secs",
                2,
                "--no-report",
                "--json",
                log=log,
            )
        )
        latency = {r["artifact"]: r for r in res["rows"]}
        for row in rows:
            art = artifacts.get(row["model"])
            if art is None:
                continue
            label = f"{art.stem}:{row['config']}" if row["config"] else art.stem
            lat = latency.get(label, {})
            row["int8_ms"] = lat.get("median_ms")
            if lat.get("status") not in (None, "ok", "fallback"):
                row["status"] = f"bench {lat.get('status')}: {lat.get('error')}"
    print(format_table(rows, VIEW, floats=3))
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(args.csv, VIEW, [{k: r.get(k) for k in VIEW} for r in rows])
    print(f"csv: {args.csv}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
