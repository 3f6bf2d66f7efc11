"""Artifacts: ``NAME.tflite`` plus the ``NAME.json`` manifest beside it."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ArtifactError
from .fileio import atomic_write_json, check_writable_output, claim_file, release_claims, sha256_file
from .version import __version__

TFLITE_IDENTIFIER = b"TFL3"
MANIFEST_KEYS = (
    "edgeseg_version",
    "name",
    "model",
    "model_config",
    "input",
    "output",
    "classes",
    "colours",
    "imported",
    "recipe",
    "io",
    "calibration",
    "ptq",
    "source_checkpoint",
    "source_checkpoint_sha256",
    "training_data",
    "compiled",
    "float_layers",
    "accuracy_control",
    "qat",
    "pta",
    "sha256",
    "size_bytes",
    "quality",
    "created",
)


def check_tflite_file(path: str | Path) -> Path:
    """Raise :class:`ArtifactError` unless ``path`` is a complete TFLite flatbuffer: the
    ``TFL3`` identifier, and a model table whose subgraphs and weight buffers all lie
    inside the file (a truncated copy fails here, not later inside an interpreter)."""
    path = Path(path)
    if os.path.isdir(path):  # os.path never raises (a too-long name is "not there")
        raise ArtifactError(f"{path} is a folder, not a .tflite file; name the artifact file inside it")
    if not os.path.isfile(path):
        raise ArtifactError(f"{path} does not exist")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}; check its permissions") from None
    if size < 16 or head[4:8] != TFLITE_IDENTIFIER:
        raise ArtifactError(
            f"{path} is not a TFLite model (no 'TFL3' identifier in its first 8 bytes, {size} bytes long); "
            "export one with `edgeseg quantize RUN`"
        )
    root = int.from_bytes(head[:4], "little")
    if root >= size:
        raise ArtifactError(f"{path} is truncated ({size} bytes, root table at offset {root}); copy or export it again")
    problem = flatbuffer_problem(path.read_bytes())
    if problem:
        raise ArtifactError(f"{path} is truncated or corrupt ({size} bytes: {problem}); copy or export it again")
    return path


def flatbuffer_problem(data: bytes) -> str | None:
    """What is wrong with a TFLite model flatbuffer, or None: walks the Model table
    (schema.fbs: field 2 subgraphs, field 4 buffers) and each Buffer (field 0 data, fields
    1-2 offset and size of data stored after the flatbuffer) and checks every reference
    stays inside ``data``."""
    n = len(data)

    def u32(at):
        if at < 0 or at + 4 > n:
            raise IndexError(at)
        return int.from_bytes(data[at : at + 4], "little")

    def u16(at):
        if at < 0 or at + 2 > n:
            raise IndexError(at)
        return int.from_bytes(data[at : at + 2], "little")

    def field(table: int, index: int) -> int | None:
        vtable = table - int.from_bytes(data[table : table + 4], "little", signed=True)
        vsize = u16(vtable)
        if 4 + 2 * index >= vsize:
            return None
        off = u16(vtable + 4 + 2 * index)
        return table + off if off else None

    def deref(at: int) -> int:
        return at + u32(at)

    def vector(table: int, index: int) -> tuple[int, int] | None:
        at = field(table, index)
        if at is None:
            return None
        start = deref(at)
        length = u32(start)
        return start + 4, length

    try:
        model = u32(0)
        u32(model)
        subgraphs = vector(model, 2)
        if not subgraphs or subgraphs[1] == 0:
            return "no subgraphs"
        for i in range(subgraphs[1]):
            u32(deref(subgraphs[0] + 4 * i))
        buffers = vector(model, 4)
        for i in range(buffers[1] if buffers else 0):
            buf = deref(buffers[0] + 4 * i)
            u32(buf)
            payload = vector(buf, 0)
            if payload and payload[0] + payload[1] > n:
                return f"weight buffer {i} ends at byte {payload[0] + payload[1]}"
            offset_at, size_at = field(buf, 1), field(buf, 2)
            if offset_at is not None and size_at is not None:
                off = int.from_bytes(data[offset_at : offset_at + 8], "little")
                length = int.from_bytes(data[size_at : size_at + 8], "little")
                if off > 1 and off + length > n:
                    return f"weight buffer {i} ends at byte {off + length}"
    except IndexError as exc:
        return f"a table or vector points to byte {exc.args[0]}"
    return None


def manifest_path(artifact: str | Path) -> Path:
    return Path(artifact).with_suffix(".json")


@dataclass(frozen=True)
class Manifest:
    """The manifest beside an artifact: typed fields, frozen (a change is a new Manifest,
    written with :func:`save_manifest`). Read it by attribute (``m.recipe``, ``m.resize``,
    ``m.signatures``); the properties below read the nested dicts the same way everywhere.
    Keys a newer edgeseg wrote are kept in ``extra`` and written back unchanged.

    It is not a mapping: :meth:`to_dict` gives the JSON file's object. ``m["recipe"]``,
    ``m.get("pta")`` and ``"pta" in m`` still work, with a DeprecationWarning, for scripts
    written when it was one (the keys of the JSON file: fields left at None are absent);
    edgeseg itself never reads it so (its tests turn that warning into an error)."""

    edgeseg_version: str
    name: str
    sha256: str
    size_bytes: int
    created: str
    quality: dict = field(default_factory=dict)
    model: str | None = None
    model_config: dict | None = None
    input: dict | None = None
    output: dict | None = None
    classes: list | None = None
    colours: list | None = None  # [[r, g, b], ...] per class (an imported model's, from a file or a dataset)
    imported: dict | None = None  # provenance of `edgeseg import`: path, sha256, format, converter and version
    recipe: str | None = None
    io: str | None = None
    calibration: dict | None = None
    ptq: dict | None = None
    source_checkpoint: str | None = None
    #: sha256 of the weights file it was converted from: another export of the same weights
    #: may reuse its float32 conversion (edgeseg.quantize.ptq.float32_tflite)
    source_checkpoint_sha256: str | None = None
    training_data: dict | None = None
    compiled: dict | None = None
    float_layers: list | None = None
    accuracy_control: dict | None = None
    qat: dict | None = None
    pta: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict, where: str = "the manifest") -> Manifest:
        from .schemas import check_manifest

        check_manifest(data, where, ArtifactError)  # the types of every known key (a hand-edited manifest)
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("name", Path(where).stem)
        values.setdefault("sha256", "")  # a hand-written manifest: nothing to verify the file against
        values.setdefault("edgeseg_version", "0")
        values.setdefault("size_bytes", 0)
        values.setdefault("created", "")
        values["quality"] = values.get("quality") or {}
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict:
        """The JSON file's object: the fields that are set (None ones are absent), then ``extra``."""
        out = {k: getattr(self, k) for k in _MANIFEST_FIELDS if getattr(self, k) is not None}
        return {**out, **self.extra}

    def replace(self, **changes) -> Manifest:
        return dataclasses.replace(self, **changes)

    # -- typed reads of the nested dicts ----------------------------------------------------

    @property
    def normalisation(self) -> dict | None:
        """The input's ``{"scale", "offset"}``, each a number or one per RGB channel (an
        imported model's also names it and gives mean/std); None: edgeseg's default, 1/255."""
        return (self.input or {}).get("normalisation")

    @property
    def layout(self) -> str:
        """``nhwc`` or ``nchw``: the input's layout (older manifests say ``NHWC RGB``)."""
        from .iospec import layout_of

        return layout_of(self.input)

    @property
    def output_kind(self) -> str | None:
        """``logits``, ``probabilities`` or ``argmax`` (None where the manifest does not say)."""
        return (self.output or {}).get("kind")

    @property
    def resize(self) -> str:
        """How an image is brought to the input size (``letterbox`` unless the input says)."""
        return (self.input or {}).get("resize") or "letterbox"

    @property
    def compiled_soc(self) -> str | None:
        """The SoC a compiled artifact (``edgeseg compile``) is for; None for a plain one."""
        return (self.compiled or {}).get("soc")

    def compiled_from(self, soc: str, source: str) -> bool:
        """Whether this is ``source`` (a file name) compiled for ``soc`` (any case)."""
        c = self.compiled or {}
        return str(c.get("soc") or "").upper() == soc.upper() and c.get("source") == source

    @property
    def signatures(self) -> list[str]:
        """The signatures of a multi-signature (PTA) artifact, one per configuration, else []."""
        return list((self.pta or {}).get("signatures") or [])

    @property
    def pta_configs(self) -> dict[str, dict]:
        """Configuration -> ``{"file", "params", "macs"}`` of a multi-signature artifact; {}
        for any other (a configuration's own file lists just its name)."""
        configs = (self.pta or {}).get("configs")
        return configs if isinstance(configs, dict) else {}

    @property
    def trained_on(self) -> dict:
        """``{"root", "val_split"}`` of the data the model was trained on ({} if unknown)."""
        return self.training_data or {}

    # -- the dict it used to be, for users' scripts (deprecated) ------------------------------

    def __getitem__(self, key: str):
        _warn_key_read(key)
        return self._key(key)

    def get(self, key: str, default=None):
        _warn_key_read(key)
        try:
            return self._key(key)
        except KeyError:
            return default

    def __contains__(self, key) -> bool:
        _warn_key_read(key)
        return key in self.extra or (key in _MANIFEST_FIELDS and getattr(self, key) is not None)

    def _key(self, key: str):
        if key in self.extra:
            return self.extra[key]
        if key not in _MANIFEST_FIELDS or getattr(self, key) is None:
            raise KeyError(key)
        return getattr(self, key)


def _warn_key_read(key) -> None:
    import warnings

    warnings.warn(
        f"reading a Manifest by key ({key!r}) is deprecated: read its attribute (manifest.{key})",
        DeprecationWarning,
        stacklevel=3,
    )


_MANIFEST_FIELDS = tuple(f.name for f in fields(Manifest) if f.name != "extra")


def save_manifest(artifact: str | Path, manifest: Manifest) -> Manifest:
    atomic_write_json(manifest_path(artifact), manifest.to_dict())
    return manifest


def write_manifest(artifact: str | Path, **values) -> Manifest:
    """The manifest of a freshly written artifact: its sha256 and size measured from the file."""
    artifact = Path(artifact)
    unknown = set(values) - set(MANIFEST_KEYS)
    if unknown:
        raise ValueError(f"unknown manifest field(s): {sorted(unknown)}")
    data = {
        "edgeseg_version": __version__,
        "name": artifact.stem,
        **values,
        "sha256": sha256_file(artifact),
        "size_bytes": artifact.stat().st_size,
        "created": values.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return save_manifest(artifact, Manifest.from_dict(data))


def read_manifest(artifact: str | Path, required: bool = False) -> Manifest | None:
    path = manifest_path(artifact)
    if not path.is_file():
        if required:
            raise ArtifactError(
                f"{path} is missing: edgeseg needs the manifest written by `edgeseg quantize` beside the .tflite"
            )
        return None
    from .schemas import read_json

    data = read_json(path, ArtifactError, "re-export the artifact")
    return Manifest.from_dict(data, str(path))


def verify_manifest(artifact: str | Path, manifest: Manifest) -> None:
    digest = sha256_file(artifact)
    if manifest.sha256 != digest:
        raise ArtifactError(
            f"{artifact} does not match its manifest (sha256 {digest[:12]}... vs {str(manifest.sha256)[:12]}...): "
            "the file changed after export; re-export it or delete the stale .json"
        )


QUALITY_KEYS = ("miou", "dice", "pixel_accuracy", "images", "per_class_iou")


def record_quality(artifact: str | Path, key: str, metrics: dict, signature: str | None = None) -> None:
    """Store host-evaluated quality in the manifest under ``key`` (e.g. ``camvid:val``); a
    signature of a multi-signature artifact goes under ``quality[key]["signatures"][sig]``."""
    manifest = read_manifest(artifact)
    if manifest is None:
        return
    values = {k: metrics[k] for k in QUALITY_KEYS if k in metrics}
    quality = json.loads(json.dumps(manifest.quality))  # a copy: the manifest is frozen
    if signature:
        quality.setdefault(key, {}).setdefault("signatures", {})[signature] = values
    else:
        quality[key] = values
    save_manifest(artifact, manifest.replace(quality=quality))


# -- multi-signature (PTA) artifacts ------------------------------------------------------


def signatures_of(manifest: Manifest | None) -> list[str]:
    """The signatures of a multi-signature artifact (one per PTA configuration), else [] (no
    manifest included)."""
    return manifest.signatures if manifest is not None else []


def recipe_of(manifest: Manifest | None) -> str:
    """The recipe column of a row: the manifest's, or ``unknown`` (no manifest, or none in it)."""
    return (manifest.recipe if manifest is not None else None) or "unknown"


def signature_label(artifact: str | Path, signature: str | None) -> str:
    """The ``artifact`` column of a report row: ``STEM`` or ``STEM:SIGNATURE``."""
    stem = Path(artifact).stem
    return f"{stem}:{signature}" if signature else stem


def split_label(label: str) -> tuple[str, str | None]:
    stem, _, sig = label.partition(":")
    return stem, sig or None


def separate_file(artifact: str | Path, manifest: Manifest | None, signature: str) -> Path:
    """The single-graph file of one configuration, exported beside the multi-signature one."""
    configs = manifest.pta_configs if manifest is not None else {}
    if signature not in configs:
        raise ArtifactError(f"{artifact} has no configuration '{signature}' (it has {', '.join(configs) or 'none'})")
    f = Path(artifact).parent / configs[signature]["file"]
    if not f.is_file():
        raise ArtifactError(
            f"{f} (configuration {signature} as its own file) is missing; export it again with "
            f"`edgeseg quantize RUN --pta-configs {','.join(configs)}`"
        )
    return f


# -- output paths and op counts -----------------------------------------------------------


def claim_output(out: str | Path, force: bool = False, what: str = "--out") -> Path:
    """Check, before any work, that ``out`` may be written: a ``.tflite`` path whose name
    fits the file system, in a folder that takes it, that does not hold an artifact yet (a
    report, a device or a recorded quality may refer to it), unless ``force``. ``what``
    names the output in messages (``--out``, or "the compiled file"). The output is claimed
    for this process (edgeseg.fileio.claim_file) until the export that called this ends."""
    out = Path(out)
    if out.suffix != ".tflite":
        raise ArtifactError(f"{what} must end in .tflite, got {out}")
    check_writable_output(out, what, kind="file")  # names and lengths first: nothing stats a too-long path
    check_writable_output(manifest_path(out), what, kind="file")  # NAME.json beside it is written too
    if not (out.exists() and not force):
        claim_file(out, what)  # one writer at a time: a second process fails here, before any work
    if out.exists() and not force:  # (also: written by the holder of the claim before us)
        release_claims([out])
        try:
            existing = read_manifest(out)
            recorded = sorted(existing.quality) if existing is not None else []
        except ArtifactError:  # an unreadable manifest is no reason to overwrite silently either
            recorded = []
        detail = f" (its manifest holds quality measured on {', '.join(recorded)})" if recorded else ""
        raise ArtifactError(
            f"{out} already exists{detail}: pass --force to replace it, or --out NEW.tflite to keep both"
        )
    return out


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def op_counts(path: str | Path) -> dict:
    """Ops of a (compiled) .tflite, all subgraphs: DISPATCH_OP nodes run on the NPU, every
    other node on the CPU."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover (older wheels)
        from tensorflow.lite.python import schema_py_generated as schema
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)  # the flat API: no copy of the weights
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        custom = code.CustomCode()
        codes.append(f"CUSTOM:{custom.decode()}" if name == "CUSTOM" and custom else name)
    counts: collections.Counter = collections.Counter()
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for j in range(sg.OperatorsLength()):
            counts[codes[sg.Operators(j).OpcodeIndex()]] += 1
    return dict(counts)


def is_compiled(path: str | Path) -> bool:
    return "CUSTOM:DISPATCH_OP" in op_counts(path)


# -- what reports read from manifests -----------------------------------------------------


def artifact_sizes(artifacts: list[Path]) -> dict:
    """File size per report label (each signature of a multi-signature file: the whole file)."""
    return {
        signature_label(a, s): Path(a).stat().st_size
        for a in artifacts
        for s in (signatures_of(read_manifest(a)) or [None])
    }


def quality_from_manifests(artifacts: list[Path]) -> list[dict]:
    """Host-evaluated quality recorded in each artifact's manifest (first dataset found);
    one row per signature of a multi-signature artifact."""
    rows = []
    for art in artifacts:
        m = read_manifest(art)
        for key, q in (m.quality if m is not None else {}).items():
            dataset, _, split = key.partition(":")
            per_sig = q.get("signatures") if isinstance(q, dict) else None
            for sig, values in per_sig.items() if per_sig else [(None, q)]:
                rows.append(
                    {
                        "artifact": signature_label(art, sig),
                        "recipe": m.recipe,
                        "dataset": dataset,
                        "split": split,
                        **values,
                    }
                )
            break
    return rows
