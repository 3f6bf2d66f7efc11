"""Opening an artifact to score it: the one place host evaluation (``edgeseg eval``) and
device evaluation (``edgeseg eval --device``) check a .tflite, its manifest and the dataset
against each other before any image is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..artifact import (
    Manifest,
    check_tflite_file,
    read_manifest,
    recipe_of,
    signature_label,
    signatures_of,
    verify_manifest,
)
from ..errors import DataError

if TYPE_CHECKING:
    from ..data.formats import Dataset


def same_classes(model_classes, ds, target, classes_from: str | None = None) -> None:
    """The model's class names must be the dataset's, in order: the same count with other
    names would print every score under the wrong name. ``classes_from="dataset"`` accepts
    the dataset's names (same count)."""
    model_classes = list(model_classes or [])
    if not model_classes or len(model_classes) != ds.num_classes or model_classes == list(ds.class_names):
        return  # a count mismatch is reported with the output shape, where it is found
    if classes_from == "dataset":
        return
    diff = [f"{i}: {m!r} vs {d!r}" for i, (m, d) in enumerate(zip(model_classes, ds.class_names)) if m != d]
    raise DataError(
        f"{target} was trained on other classes than {ds.root} has ({'; '.join(diff[:4])}"
        f"{'; ...' if len(diff) > 4 else ''}): evaluate on the dataset it was trained for, or pass "
        "--classes-from dataset to score it under the dataset's names"
    )


@dataclass(frozen=True)
class OpenedArtifact:
    """An artifact checked against its manifest and a dataset, ready to score.

    ``manifest`` is None for a .tflite without one (nothing to verify, nothing recorded);
    ``signatures`` is what to score, in order: the one asked for, every signature of a
    multi-signature (PTA) artifact, or ``(None,)`` for a single-graph one."""

    path: Path
    manifest: Manifest | None
    dataset: Dataset
    signatures: tuple[str | None, ...]

    @property
    def resize(self) -> str:
        """How images are brought to the input size (the manifest's rule, else letterbox)."""
        return self.manifest.resize if self.manifest is not None else "letterbox"

    @property
    def recipe(self) -> str:
        return recipe_of(self.manifest)

    def label(self, signature: str | None = None) -> str:
        """The ``artifact`` column: ``STEM`` or ``STEM:SIGNATURE``."""
        return signature_label(self.path, signature)

    def base_row(self, split: str, signature: str | None = None) -> dict:
        """The columns of a quality row that say what was scored on what."""
        return {
            "artifact": self.label(signature),
            "recipe": self.recipe,
            "dataset": str(self.dataset.root),
            "split": split,
        }

    def load_split(self, split: str, input_size, skip_bad: bool = False, limit: int | None = None, progress=None):
        """The split's images at ``input_size`` by the manifest's resize rule, with the
        source masks kept for scoring at label resolution (loaded once for every signature)."""
        from ..data.pipeline import load_split

        return load_split(
            self.dataset, split, input_size, self.resize, skip_bad, limit, progress=progress, keep_source=True
        )


def open_artifact(
    target: str | Path, data, signature: str | None = None, classes_from: str | None = None
) -> OpenedArtifact:
    """Open ``target`` (a .tflite) for scoring on the dataset at ``data``: the file is a
    complete TFLite model (checked before the dataset: the cheaper check, and the usual
    mistake), it matches its manifest's sha256 (never score, or write quality into, a
    manifest of another file), its classes are the dataset's (see :func:`same_classes`) and
    ``signature``, if given, is one of a multi-signature artifact's."""
    from ..data.formats import open_dataset

    target = check_tflite_file(target)
    ds = open_dataset(data)
    manifest = read_manifest(target)
    if manifest is not None and manifest.sha256:
        verify_manifest(target, manifest)
    same_classes(manifest.classes if manifest is not None else None, ds, target, classes_from)
    sigs = signatures_of(manifest)
    if signature and sigs and signature not in sigs:
        raise DataError(f"{target} has no configuration '{signature}' (it has {', '.join(sigs)})")
    todo: tuple[str | None, ...] = (signature,) if signature else (tuple(sigs) or (None,))
    return OpenedArtifact(target, manifest, ds, todo)
