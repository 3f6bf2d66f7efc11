"""Accuracy-controlled int8: keep the most sensitive layers in float until the mIoU drop
against float32 fits a budget.

1. Calibrate once with the TFLite quantization debugger and measure, per quantized
   layer, the error of its int8 output against the float one on a few validation images
   (RMSE divided by the layer's quantization scale, the range-normalised error of the TF
   quantization debugger guide: an error of 1 is one quantization step).
2. Quantize from the same calibration with nothing kept in float, evaluate on the
   validation split; while the drop exceeds the budget, keep the next most sensitive
   layers in float (1, 1, 2, 4, ... more), re-quantize (no re-calibration), re-evaluate.
3. Stop when the drop is within budget, when two steps in a row gain nothing, when every
   layer is float, or after ``max_steps``; say which, and keep the best artifact.
"""

from __future__ import annotations

import csv
import io as _io
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..config import import_tf
from ..errors import QuantizeError
from ..fileio import releases_claims
from ..run import load_run_model, read_run_config
from .ptq import (
    DEFAULT_HEAD,
    calibration_for,
    claim_output,
    default_artifact_name,
    make_converter,
    representative_dataset,
    write_artifact,
)

log = logging.getLogger(__name__)

MIN_GAIN_POINTS = 0.01  # a step that improves mIoU by less than this "gains nothing"


def layer_sensitivity(debugger) -> list[dict]:
    """Layers from the debugger's statistics, most sensitive first."""
    buf = _io.StringIO()
    debugger.layer_statistics_dump(buf)
    rows = list(csv.DictReader(_io.StringIO(buf.getvalue())))
    out = []
    for r in rows:
        scale = float(r["scale"]) or 1.0
        out.append(
            {
                "tensor": r["tensor_name"],
                "op": r["op_name"],
                "error_steps": float(np.sqrt(float(r["mean_squared_error"]))) / scale,
            }
        )
    return sorted(out, key=lambda r: -r["error_steps"])


def _quantize(tf, calibrated: bytes, io: str, denylist: list[str]) -> bytes:
    from tensorflow.lite.python import convert as tfl_convert

    io_type = {"int8": tf.int8, "uint8": tf.uint8, "float": tf.float32}[io]
    return tfl_convert.mlir_quantize(
        calibrated,
        fully_quantize=io != "float",
        input_data_type=io_type,
        output_data_type=io_type,
        denylisted_nodes=denylist or None,
    )


def step_sizes(n_layers: int, max_steps: int) -> list[int]:
    """How many layers are float after each step: 0, 1, 2, 4, 8, ... (capped)."""
    sizes, k = [0], 1
    while len(sizes) <= max_steps and sizes[-1] < n_layers:
        sizes.append(min(n_layers, k))
        k *= 2
    return sizes


@releases_claims
def controlled_int8(
    run: str | Path,
    data: str | Path,
    max_drop: float = 0.5,
    calib=None,
    num_calib: int = 200,
    io: str = "int8",
    head: str = DEFAULT_HEAD,
    out=None,
    split: str = "val",
    limit: int | None = None,
    debug_images: int = 8,
    max_steps: int = 8,
    seed: int = 0,
    say=None,
    progress=None,
    force: bool = False,
) -> dict:
    """Run the loop above; returns the chosen artifact, its manifest, the steps and why it stopped."""
    # long: the accuracy-controlled loop (measure, keep the most sensitive layer float, convert, measure again)
    # shares its state (float reference, history, best artifact) across every step
    from ..runtime.evaluate import evaluate
    from ..runtime.hostbench import bench_host

    say = say or (lambda m: log.info(m))
    tf = import_tf()
    run = Path(run)
    recipe = "int8_controlled"
    out = claim_output(
        out or run / "artifacts" / f"{default_artifact_name(read_run_config(run), recipe, io, head)}.tflite", force
    )
    model, cfg = load_run_model(run)
    size = tuple(cfg["input_size"])
    images, calib_info, warnings = calibration_for(cfg, calib, num_calib, seed)
    reference = evaluate(run, data, split, limit=limit, record=False, progress=progress)
    say(
        f"float32 reference: mIoU {reference['miou']:.4f} on {reference['images']} {split} images; "
        f"budget: drop <= {max_drop:g} point(s)"
    )

    conv = make_converter(model, size, "int8", io, head)
    conv.representative_dataset = representative_dataset(images, progress)
    debug_imgs = images[:: max(1, len(images) // debug_images)][:debug_images]
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=conv, debug_dataset=representative_dataset(debug_imgs, progress, "layer errors")
        )
        debugger.run()
    except Exception as exc:
        raise QuantizeError(f"the TFLite quantization debugger failed: {str(exc).splitlines()[0][:300]}") from exc
    ranking = layer_sensitivity(debugger)
    calibrated = debugger.calibrated_model
    say(
        "most sensitive layers (error in quantization steps): "
        + ", ".join(f"{r['tensor'].split(';')[0]} {r['error_steps']:.2f}" for r in ranking[:5])
    )

    steps: list[dict] = []
    best = None
    stalled = 0
    reason = "step limit reached"
    with tempfile.TemporaryDirectory() as tmp:
        for i, k in enumerate(step_sizes(len(ranking), max_steps)):
            denylist = [r["tensor"] for r in ranking[:k]]
            model_bytes = _quantize(tf, calibrated, io, denylist)
            cand = Path(tmp) / f"step{i}.tflite"
            write_artifact(
                model_bytes, cand, cfg, "int8_controlled", io, head, calib_info, run
            )  # manifest: resize, norm
            q = evaluate(cand, data, split, limit=limit, record=False)
            lat = bench_host(cand, runs=10, min_secs=0.5, warmup_runs=2)
            drop = 100 * (reference["miou"] - q["miou"])
            row = {
                "step": i,
                "float_layers": k,
                "miou": q["miou"],
                "drop_points": drop,
                "median_ms": lat["median_ms"],
                "size_bytes": len(model_bytes),
                "denylist": denylist,
            }
            steps.append(row)
            say(
                f"step {i}: {k:>3} float layer(s)  mIoU {q['miou']:.4f}  drop {drop:+.2f} pt  "
                f"host {lat['median_ms']:.1f} ms  {len(model_bytes) / 1024:.0f} KB"
            )
            if best is None or q["miou"] > best[0]["miou"] + 1e-12:
                gain = q["miou"] - best[0]["miou"] if best else 1.0
                best = (row, model_bytes)
                stalled = 0 if 100 * gain >= MIN_GAIN_POINTS else stalled + 1
            else:
                stalled += 1
            if drop <= max_drop:
                best = (row, model_bytes)
                reason = "within budget"
                break
            if k >= len(ranking):
                reason = "nothing more helps: every layer is already float"
                break
            if stalled >= 2:
                reason = "nothing more helps: two steps in a row gained nothing"
                break
    row, model_bytes = best
    control = {
        "max_drop_points": max_drop,
        "reference_miou": reference["miou"],
        "dataset": str(data),
        "split": split,
        "stopped": reason,
        "chosen_step": row["step"],
        "debug_images": len(debug_imgs),
        "steps": [{k: v for k, v in s.items() if k != "denylist"} for s in steps],
        "ranking": ranking[:20],
    }
    manifest = write_artifact(
        model_bytes, out, cfg, recipe, io, head, calib_info, run, float_layers=row["denylist"], accuracy_control=control
    )
    within = row["drop_points"] <= max_drop
    say(
        f"{'within budget' if within else 'NOT within budget'}: {reason}; chose step {row['step']} with "
        f"{row['float_layers']} float layer(s), drop {row['drop_points']:+.2f} pt -> {out}"
    )
    return {
        "artifact": str(out),
        "manifest": manifest,
        "steps": steps,
        "stopped": reason,
        "within_budget": within,
        "reference_miou": reference["miou"],
        "warnings": warnings,
    }
