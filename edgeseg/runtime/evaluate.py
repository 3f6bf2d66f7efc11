"""Quality of a predictor on a dataset split, scored at the masks' own resolution.

One function scores any predictor (a Keras model during training, the LiteRT interpreter
running the exact .tflite artifact afterwards), so training-time and deployed-artifact
numbers come from the same code.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..data.pipeline import Cached, restore_labels
from ..train.metrics import ConfusionAccumulator

#: predict(images_uint8 [N,H,W,3]) -> per-pixel class scores [N,H,W,C] or labels [N,H,W]
Predictor = Callable[[np.ndarray], np.ndarray]


def score_split(predict: Predictor, cache: Cached, num_classes: int, class_names=None,
                batch: int = 8, progress=None) -> dict:
    """Run ``predict`` over a cached split and return :func:`scores` at label resolution."""
    if cache.source_masks is None or cache.geometries is None:
        raise ValueError("score_split needs a split loaded with keep_source=True")
    acc = ConfusionAccumulator(num_classes)
    starts = range(0, len(cache), batch)
    for start in progress(starts, desc="evaluate", total=len(starts)) if progress else starts:
        out = np.asarray(predict(cache.images[start: start + batch]))
        labels = out.argmax(-1) if out.ndim == 4 else out
        for i, lab in enumerate(labels):
            k = start + i
            acc.update(cache.source_masks[k], restore_labels(lab, cache.geometries[k]))
    result = acc.result(class_names)
    result["images"] = len(cache)
    return result


def _is_run(target) -> bool:
    from pathlib import Path  # noqa: PLC0415

    return Path(target).is_dir()


def evaluate(target, data, split: str = "val", limit: int | None = None, threads: int | None = None,
             skip_bad: bool = False, progress=None, record: bool = True, signature: str | None = None) -> dict:
    """Quality of an artifact (through the LiteRT interpreter) or a training run (Keras,
    best checkpoint) on ``data``/``split``, scored at label resolution.

    A multi-signature (PTA) artifact is scored per signature: with ``signature`` that one,
    else every one, returned as ``{"signatures": {sig: result}, ...}`` (the split is loaded
    once). Artifact results are recorded in the manifest unless ``record`` is False."""
    from pathlib import Path  # noqa: PLC0415

    from ..data.formats import open_dataset  # noqa: PLC0415
    from ..data.pipeline import load_split, normalise  # noqa: PLC0415
    from ..errors import DataError  # noqa: PLC0415

    ds = open_dataset(data)
    target = Path(target)
    if _is_run(target):
        if signature:
            raise DataError(f"--signature picks a configuration of a multi-signature artifact; {target} is a run")
        from ..train.loop import load_run_model  # noqa: PLC0415

        model, cfg = load_run_model(target)
        size, resize, classes = tuple(cfg["input_size"]), cfg.get("resize", "letterbox"), cfg["classes"]
        if len(classes) != ds.num_classes:
            raise DataError(f"{target} has {len(classes)} classes but {ds.root} has {ds.num_classes}")

        def predict(images):
            return model(normalise(images), training=False).numpy()

        cache = load_split(ds, split, size, resize, skip_bad, limit, progress=progress, keep_source=True)
        res = score_split(predict, cache, ds.num_classes, ds.class_names, progress=progress)
        res.update({"artifact": target.name, "recipe": "keras", "dataset": str(ds.root), "split": split,
                    "backend": "tf_keras", "skipped": len(cache.skipped)})
        return res

    from ..quantize.artifact import read_manifest, signatures_of  # noqa: PLC0415

    manifest = read_manifest(target) or {}
    sigs = signatures_of(manifest)
    if signature and sigs and signature not in sigs:
        raise DataError(f"{target} has no configuration '{signature}' (it has {', '.join(sigs)})")
    todo = [signature] if signature else (sigs or [None])
    cache, results = None, {}
    for sig in todo:
        res, cache = _evaluate_artifact(target, manifest, ds, split, limit, threads, skip_bad, progress, sig, cache)
        if record:
            from ..quantize.artifact import record_quality  # noqa: PLC0415

            record_quality(target, f"{ds.root.name}:{split}", res, signature=sig)
        results[sig] = res
    if len(todo) == 1:
        return results[todo[0]]
    first = results[todo[0]]
    return {k: first[k] for k in ("artifact", "recipe", "dataset", "split", "backend", "skipped", "images")} | {
        "signatures": results}


def _evaluate_artifact(target, manifest, ds, split, limit, threads, skip_bad, progress, signature, cache):
    from ..data.pipeline import load_split  # noqa: PLC0415
    from ..errors import DataError  # noqa: PLC0415
    from .interpreter import ArtifactPredictor  # noqa: PLC0415

    predict = ArtifactPredictor(target, manifest.get("input", {}).get("normalisation"), threads=threads,
                                signature=signature)
    classes = manifest.get("classes") or list(ds.class_names)
    out_shape = [int(v) for v in predict.out["shape"]]
    n_out = out_shape[-1] if len(out_shape) == 4 else len(classes)  # argmax head: [1,H,W]
    if n_out != len(ds.class_names):
        raise DataError(f"{target} predicts {n_out} classes but {ds.root} has {ds.num_classes}; "
                        "evaluate on the dataset the model was trained for")
    if len(classes) != ds.num_classes:
        raise DataError(f"{target} has {len(classes)} classes but {ds.root} has {ds.num_classes}")
    if cache is None:
        resize = manifest.get("input", {}).get("resize", "letterbox")
        cache = load_split(ds, split, predict.input_size, resize, skip_bad, limit, progress=progress, keep_source=True)
    res = score_split(predict, cache, ds.num_classes, ds.class_names, progress=progress)
    res.update({"artifact": target.stem, "recipe": manifest.get("recipe", "unknown"), "dataset": str(ds.root),
                "split": split, "backend": predict.backend, "skipped": len(cache.skipped), "signature": signature})
    return res, cache
