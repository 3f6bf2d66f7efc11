"""Quality of a predictor on a dataset split, scored at the masks' own resolution.

One function scores any predictor (a Keras model during training, the LiteRT interpreter
running the exact .tflite artifact afterwards), so training-time and deployed-artifact
numbers come from the same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..training.metrics import Predictor, score_split  # noqa: F401 (re-exported)
from .artifact_io import OpenedArtifact, open_artifact, same_classes  # same_classes: also for runs

if TYPE_CHECKING:
    from ..artifact import Manifest


#: What eval says of a .tflite with no manifest: it is read by edgeseg's own conventions.
NO_MANIFEST = (
    "no manifest beside it: scored as edgeseg's own models are (pixels / 255, NHWC, scores at the input size); "
    "if it expects another preprocessing or output, state them with `edgeseg import`"
)


def _is_run(target) -> bool:
    return Path(target).is_dir()


def record_decision(manifest: Manifest | None, dataset_root, split: str, record: bool | None) -> tuple[bool, str]:
    """Whether an evaluation goes into the artifact's manifest, and why not when it does not.

    The manifest's quality is what bench, report and select show as the artifact's quality,
    so by default only the validation split of the data the model was trained on is
    recorded; another dataset or split needs ``record=True``."""
    if record is not None:
        return record, "" if record else "not recorded in the manifest (--no-record)"
    trained_on = manifest.trained_on if manifest is not None else {}
    if not trained_on.get("root"):
        return True, ""
    same = Path(trained_on["root"]).expanduser().resolve() == Path(dataset_root).expanduser().resolve()
    val = trained_on.get("val_split", "val")
    if same and split == val:
        return True, ""
    what = f"split '{split}'" if same else f"{dataset_root} [{split}]"
    return False, (
        f"{what} is not the validation data the model was trained with ({trained_on['root']} [{val}]), so "
        "the manifest keeps its recorded quality; pass --record to store this result there"
    )


def evaluate(
    target,
    data,
    split: str = "val",
    limit: int | None = None,
    threads: int | None = None,
    skip_bad: bool = False,
    progress=None,
    record: bool | None = None,
    signature: str | None = None,
    classes_from: str | None = None,
) -> dict:
    """Quality of an artifact (through the LiteRT interpreter) or a training run (Keras,
    best checkpoint) on ``data``/``split``, scored at label resolution.

    A multi-signature (PTA) artifact is scored per signature: with ``signature`` that one,
    else every one, returned as ``{"signatures": {sig: result}, ...}`` (the split is loaded
    once). The artifact must match its manifest's sha256. Results are recorded in the
    manifest as :func:`record_decision` says (``recorded`` and ``record_note`` in the
    result)."""
    from ..data.formats import open_dataset
    from ..data.pipeline import load_split, normalise
    from ..errors import DataError

    target = Path(target)
    if _is_run(target):
        ds = open_dataset(data)
        if signature:
            raise DataError(f"--signature picks a configuration of a multi-signature artifact; {target} is a run")
        from ..run import load_run_model

        model, cfg = load_run_model(target)
        size, resize, classes = tuple(cfg["input_size"]), cfg.get("resize", "letterbox"), cfg["classes"]
        if len(classes) != ds.num_classes:
            raise DataError(f"{target} has {len(classes)} classes but {ds.root} has {ds.num_classes}")
        same_classes(classes, ds, target, classes_from)

        def predict(images):
            return model(normalise(images), training=False).numpy()

        cache = load_split(ds, split, size, resize, skip_bad, limit, progress=progress, keep_source=True)
        res = score_split(predict, cache, ds.num_classes, ds.class_names, progress=progress)
        res.update(
            {
                "artifact": target.name,
                "recipe": "keras",
                "dataset": str(ds.root),
                "split": split,
                "backend": "tf_keras",
                "skipped": len(cache.skipped),
                "recorded": False,
            }
        )
        return res

    art = open_artifact(target, data, signature, classes_from)
    ds = art.dataset
    do_record, note = (
        record_decision(art.manifest, ds.root, split, record) if art.manifest is not None else (False, NO_MANIFEST)
    )
    if limit is not None and record is None and do_record:
        do_record, note = False, f"a --limit {limit} evaluation is not recorded in the manifest (pass --record to)"
    todo = art.signatures
    cache, results = None, {}
    for sig in todo:
        res, cache = _evaluate_artifact(art, split, limit, threads, skip_bad, progress, sig, cache)
        if do_record:
            from ..artifact import record_quality

            record_quality(art.path, f"{ds.root.name}:{split}", res, signature=sig)
        res.update(recorded=do_record, record_note=note)
        results[sig] = res
    if len(todo) == 1:
        return results[todo[0]]
    first = results[todo[0]]
    return {
        k: first[k]
        for k in ("artifact", "recipe", "dataset", "split", "backend", "skipped", "images", "recorded", "record_note")
    } | {"signatures": results}


def artifact_predictor(target, manifest, ds, threads=None, signature=None):
    """The predictor of an artifact (the LiteRT interpreter, or CompiledModel for a compiled
    one) once its input and output are known to fit ``ds``: a segmentation map at the input
    size (or at the manifest's stride) with the dataset's classes, read by the manifest's
    input and output rules (edgeseg.iospec). Shared by host and device evaluation."""
    from ..artifact import is_compiled
    from ..errors import DataError
    from ..iospec import OutputRule, layout_of
    from .interpreter import ArtifactPredictor
    from .tensors import check_output_fits, num_classes_of

    norm = manifest.normalisation if manifest is not None else None
    layout = layout_of(manifest.input if manifest is not None else None)
    rule = OutputRule.from_manifest(manifest.output if manifest is not None else None)
    if (manifest is not None and manifest.compiled) or is_compiled(target):
        from .interpreter import CompiledPredictor

        predict = CompiledPredictor(target, manifest, norm)
    else:
        predict = ArtifactPredictor(target, norm, threads=threads, signature=signature, layout=layout, rule=rule)
    classes = (manifest.classes if manifest is not None else None) or list(ds.class_names)
    check_output_fits(predict.out["shape"], predict.rule, predict.input_size, target)
    n_out = num_classes_of(predict.out["shape"], predict.rule) or len(classes)  # argmax head: [1,H,W]
    if n_out != len(ds.class_names):
        raise DataError(
            f"{target} predicts {n_out} classes but {ds.root} has {ds.num_classes}; "
            "evaluate on the dataset the model was trained for"
        )
    if len(classes) != ds.num_classes:
        raise DataError(f"{target} has {len(classes)} classes but {ds.root} has {ds.num_classes}")
    return predict


def _evaluate_artifact(art: OpenedArtifact, split, limit, threads, skip_bad, progress, signature, cache):
    ds = art.dataset
    predict = artifact_predictor(art.path, art.manifest, ds, threads, signature)
    if cache is None:
        cache = art.load_split(split, predict.input_size, skip_bad, limit, progress)
    res = score_split(predict, cache, ds.num_classes, ds.class_names, progress=progress)
    res.update(
        {
            **art.base_row(split),  # the artifact's stem: the signature is a column of its own here
            "backend": predict.backend,
            "skipped": len(cache.skipped),
            "signature": signature,
        }
    )
    return res, cache
