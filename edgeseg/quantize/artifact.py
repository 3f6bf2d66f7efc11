"""Artifacts: ``NAME.tflite`` plus the ``NAME.json`` manifest beside it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import __version__
from ..errors import ArtifactError
from ..fileio import atomic_write_json, sha256_file

TFLITE_IDENTIFIER = b"TFL3"
MANIFEST_KEYS = (
    "edgeseg_version", "name", "model", "model_config", "input", "output", "classes", "recipe", "io",
    "calibration", "source_checkpoint", "float_layers", "accuracy_control", "qat", "pta", "sha256", "size_bytes", "quality",
    "created",
)


def check_tflite_file(path: str | Path) -> Path:
    """Raise :class:`ArtifactError` unless ``path`` looks like a complete TFLite flatbuffer."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
    if size < 16 or head[4:8] != TFLITE_IDENTIFIER:
        raise ArtifactError(
            f"{path} is not a TFLite model (no 'TFL3' identifier in its first 8 bytes, {size} bytes long); "
            "export one with `edgeseg quantize RUN`"
        )
    root = int.from_bytes(head[:4], "little")
    if root >= size:
        raise ArtifactError(f"{path} is truncated ({size} bytes, root table at offset {root}); copy or export it again")
    return path


def manifest_path(artifact: str | Path) -> Path:
    return Path(artifact).with_suffix(".json")


def write_manifest(artifact: str | Path, **fields) -> dict:
    artifact = Path(artifact)
    unknown = set(fields) - set(MANIFEST_KEYS)
    if unknown:
        raise ValueError(f"unknown manifest field(s): {sorted(unknown)}")
    manifest = {
        "edgeseg_version": __version__,
        "name": artifact.stem,
        **fields,
        "sha256": sha256_file(artifact),
        "size_bytes": artifact.stat().st_size,
        "created": fields.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    manifest.setdefault("quality", {})
    atomic_write_json(manifest_path(artifact), manifest)
    return manifest


def read_manifest(artifact: str | Path, required: bool = False) -> dict | None:
    path = manifest_path(artifact)
    if not path.is_file():
        if required:
            raise ArtifactError(f"{path} is missing: edgeseg needs the manifest written by `edgeseg quantize` beside the .tflite")
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); re-export the artifact") from None


def verify_manifest(artifact: str | Path, manifest: dict) -> None:
    digest = sha256_file(artifact)
    if manifest.get("sha256") != digest:
        raise ArtifactError(
            f"{artifact} does not match its manifest (sha256 {digest[:12]}... vs {str(manifest.get('sha256'))[:12]}...): "
            "the file changed after export; re-export it or delete the stale .json"
        )


QUALITY_KEYS = ("miou", "dice", "pixel_accuracy", "images")


def record_quality(artifact: str | Path, key: str, metrics: dict, signature: str | None = None) -> None:
    """Store host-evaluated quality in the manifest under ``key`` (e.g. ``camvid:val``); a
    signature of a multi-signature artifact goes under ``quality[key]["signatures"][sig]``."""
    manifest = read_manifest(artifact)
    if manifest is None:
        return
    values = {k: metrics[k] for k in QUALITY_KEYS if k in metrics}
    quality = manifest.setdefault("quality", {})
    if signature:
        quality.setdefault(key, {}).setdefault("signatures", {})[signature] = values
    else:
        quality[key] = values
    atomic_write_json(manifest_path(artifact), manifest)


# -- multi-signature (PTA) artifacts ------------------------------------------------------


def signatures_of(manifest: dict | None) -> list[str]:
    """The signatures of a multi-signature artifact (one per PTA configuration), else []."""
    return list(((manifest or {}).get("pta") or {}).get("signatures") or [])


def signature_label(artifact: str | Path, signature: str | None) -> str:
    """The ``artifact`` column of a report row: ``STEM`` or ``STEM:SIGNATURE``."""
    stem = Path(artifact).stem
    return f"{stem}:{signature}" if signature else stem


def split_label(label: str) -> tuple[str, str | None]:
    stem, _, sig = label.partition(":")
    return stem, sig or None


def separate_file(artifact: str | Path, manifest: dict, signature: str) -> Path:
    """The single-graph file of one configuration, exported beside the multi-signature one."""
    configs = ((manifest or {}).get("pta") or {}).get("configs") or {}
    if signature not in configs:
        raise ArtifactError(f"{artifact} has no configuration '{signature}' (it has {', '.join(configs) or 'none'})")
    f = Path(artifact).parent / configs[signature]["file"]
    if not f.is_file():
        raise ArtifactError(f"{f} (configuration {signature} as its own file) is missing; export it again with "
                            f"`edgeseg quantize RUN --pta-configs {','.join(configs)}`")
    return f
