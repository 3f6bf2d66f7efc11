"""`edgeseg numerics`: per-layer error of an artifact, on the host against its float reference
(quantization error) and on a device per delegate against the host (delegate error), written
as numerics.csv with a plot of error against depth, and the first bad op of every run.

How (docs/device-accuracy.md): a debug copy of the artifact exposes its intermediate tensors as
extra graph outputs (:mod:`edgeseg.runtime.debugcopy`); the host runs it in the interpreter,
the device through the delegate's runner with the files `edgeseg eval --device` uses
(:mod:`edgeseg.device.numerics`); the frames are those host evaluation scores, preprocessed by
its code and encoded as the artifact's input tensor. Metrics, thresholds and the first-bad-op
rule: :mod:`edgeseg.runtime.numerics`.

A `diverged` or `numerics-differ` row of `edgeseg eval --device` names the first bad op of its
delegate when the same reports folder holds a numerics.csv of the same file (sha256) on the same
device (:func:`first_bad_ops`): eval stays as cheap as it was, and numerics, which pulls every
tensor of every frame from the phone, runs when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import option
from ..device.config import DeviceConfig, check_delegates
from ..errors import ArtifactError, UsageError
from ..results import Result, Say, _pick, _quiet
from ..runtime.debugcopy import SELECTIONS

THRESHOLD_KEYS = {
    "cosine": ("delegate", "cosine"),
    "snr_db": ("delegate", "snr_db"),
    "quant_cosine": ("quantization", "cosine"),
    "quant_snr_db": ("quantization", "snr_db"),
}


def parse_thresholds(text: str | None) -> dict:
    """``{"delegate": Thresholds, "quantization": Thresholds}`` from ``KEY=VALUE,...``
    (keys: :data:`THRESHOLD_KEYS`), the defaults for keys not given."""
    from ..runtime.numerics import thresholds

    given: dict = {"delegate": {}, "quantization": {}}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in THRESHOLD_KEYS:
            raise UsageError(
                f"--threshold {item.strip()!r}: the keys are {', '.join(THRESHOLD_KEYS)} (e.g. snr_db=30,cosine=0.999)",
                param="--threshold",
            )
        try:
            v = float(value)
        except ValueError:
            raise UsageError(f"--threshold {item.strip()!r}: {value!r} is not a number", param="--threshold") from None
        kind, metric = THRESHOLD_KEYS[key]
        if metric == "cosine" and not -1.0 <= v <= 1.0:
            raise UsageError(f"--threshold {key}={v:g}: a cosine lies in [-1, 1]", param="--threshold")
        given[kind][metric] = v
    return {kind: thresholds(kind, **vals) for kind, vals in given.items()}


@dataclass(frozen=True)
class NumericsConfig:
    target: str
    data: str = option(None, "Dataset folder (the frames: the split's first --frames images).", required=True)
    split: str = option("val", "Split the frames come from.")
    frames: int = option(4, "How many frames (the first N of the split).", min=1)
    reference: str | None = option(
        None,
        "The float artifact to compare with (default: a float32 artifact of the same training run "
        "beside the artifact; none for a float32 artifact).",
    )
    tensors: str = option("all", "Which tensors: every op's output, or block boundaries only.", choices=SELECTIONS)
    threshold: str | None = option(
        None,
        "KEY=VALUE,... overriding the defaults: cosine=0.999,snr_db=30 (a delegate against the host), "
        "quant_cosine=0.99,quant_snr_db=20 (the artifact against its float reference).",
    )
    device: str | DeviceConfig | None = option(
        None, "Also run it on this device profile (name or .toml) with each --delegate, against the host."
    )
    delegates: tuple[str, ...] | None = option(
        None, "--device: comma list of the profile's delegates (default: every one).", flag="--delegate"
    )
    threads: int | None = option(None, "Interpreter threads (host and device).", min=1)
    benchmark_binary: str | None = option(
        None, "--device: benchmark_model for the device's ABI (default: the profile's, as `edgeseg bench`)."
    )
    skip_bad: bool = option(False, "Skip unreadable or inconsistent files with a warning.")
    classes_from: str | None = option(
        None, "'dataset': accept the dataset's class names when they differ (same count).", choices=("dataset",)
    )
    reports: str = option("reports", "Where the report folder is created.")
    command: str | None = None

    def __post_init__(self):
        if isinstance(self.device, str):
            object.__setattr__(self, "device", DeviceConfig(self.device))
        if isinstance(self.delegates, str):
            object.__setattr__(self, "delegates", tuple(d.strip() for d in self.delegates.split(",") if d.strip()))
        elif self.delegates is not None:
            object.__setattr__(self, "delegates", tuple(str(d) for d in self.delegates))
        if self.device is None and (self.delegates or self.benchmark_binary):
            flag = "--delegate" if self.delegates else "--benchmark-binary"
            raise UsageError(f"{flag} goes with --device", param=flag)
        if self.device is not None and self.device.device == "host":
            raise UsageError("--device host: leave --device out, the host runs every time", param="--device")
        if self.delegates is not None and not self.delegates:
            raise UsageError("name at least one delegate", param="--delegate")
        parse_thresholds(self.threshold)


@dataclass(frozen=True)
class NumericsResult(Result):
    artifact: str
    reference: str | None
    report: str
    first_bad: list  # one entry per run: comparison, delegate, the first bad tensor (or None), status
    rows: list

    @property
    def ok(self) -> bool:
        """No run has a bad tensor, and none failed."""
        return all(f.get("tensor") is None and f.get("status") in ("ok", "unsupported") for f in self.first_bad)


def find_reference(artifact: Path, manifest) -> Path | None:
    """The float32 artifact of the same training run: a .tflite beside ``artifact`` (or in its
    run folder's) whose manifest says recipe float32 and the same source checkpoint."""
    from ..artifact import read_manifest

    if manifest is None or manifest.recipe == "float32":
        return None
    source = manifest.source_checkpoint
    folders = [artifact.parent]
    if source:
        folders += [Path(source).parent, Path(source).parent.parent]
    for folder in folders:
        for cand in sorted(folder.glob("*.tflite")) if folder.is_dir() else []:
            if cand.resolve() == artifact.resolve():
                continue
            try:
                m = read_manifest(cand)
            except ArtifactError:
                continue
            if m is not None and m.recipe == "float32" and (not source or m.source_checkpoint == source):
                return cand
    return None


def numerics(config: NumericsConfig, *, say: Say = _quiet, progress=None) -> NumericsResult:
    """Per-layer numerics of ``config.target`` (module doc)."""
    from ..artifact import check_tflite_file, read_manifest, sha256_file
    from ..device.evaluate import encode_frame
    from ..runtime.artifact_io import open_artifact
    from ..runtime.evaluate import artifact_predictor

    c = config
    path = check_tflite_file(c.target)
    limits = parse_thresholds(c.threshold)
    art = open_artifact(path, c.data, None, c.classes_from)
    predict = artifact_predictor(path, art.manifest, art.dataset, c.threads)
    ref_path = Path(c.reference) if c.reference else find_reference(path, art.manifest)
    if ref_path is None and c.reference is None and art.manifest is not None and art.manifest.recipe != "float32":
        raise ArtifactError(
            f"no float32 artifact of the same run beside {path}: pass --reference FLOAT_ARTIFACT (or export one "
            "with `edgeseg quantize RUN --float32` into the same folder)"
        )
    if ref_path is None and c.device is None:
        raise UsageError(
            f"{path.name} is float32 (or has no manifest) and no --device was given: nothing to compare it with; "
            "pass --reference FLOAT_ARTIFACT or --device PROFILE"
        )
    cache = art.load_split(c.split, predict.input_size, c.skip_bad, c.frames, progress)
    frames = [encode_frame(predict, img) for img in cache.images]
    meta = {"artifact": path.stem, "artifact_sha256": sha256_file(path), "frames": len(frames)}
    reference = None
    if ref_path is not None:
        check_tflite_file(ref_path)
        ref_predict = artifact_predictor(ref_path, read_manifest(ref_path), art.dataset, c.threads)
        if ref_predict.input_size != predict.input_size:
            raise ArtifactError(
                f"{ref_path} takes {ref_predict.input_size} images but {path} takes {predict.input_size}: "
                "the reference must be the same model at the same input size"
            )
        reference = (ref_path, [encode_frame(ref_predict, img) for img in cache.images])
        meta["reference"] = ref_path.name
    rows, device_info, delegates = _measure(c, path, frames, reference, limits, meta, say)
    return _finish(c, path, rows, limits, meta, device_info, delegates)


def _measure(c: NumericsConfig, path: Path, frames, reference, limits, meta, say):
    """Every row: the quantization run (with a reference), each delegate's (with a device)."""
    import tempfile

    import numpy as np

    from ..runtime.debugcopy import debug_copy
    from ..runtime.numerics import Comparison, HostGraph, decode_outputs, match_tensors

    data, specs = debug_copy(path.read_bytes(), c.tensors)
    host = HostGraph(data, specs, c.threads, f"the debug copy of {path.name}")
    shape, dtype = [int(v) for v in host.inp["shape"]], np.dtype(host.inp["dtype"])
    say(f"debug copy of {path.name}: {len(specs) - sum(s.original for s in specs)} extra output(s) ({c.tensors})")
    quant = ref = None
    if reference is not None:
        ref_data, ref_specs = debug_copy(reference[0].read_bytes(), "all")
        ref = HostGraph(ref_data, ref_specs, c.threads, f"the debug copy of {reference[0].name}")
        quant = Comparison(specs, ref_specs, match_tensors(ref_specs, specs))
    dev, device_info, delegates = {}, None, []
    if c.device is not None:
        with tempfile.TemporaryDirectory(prefix="edgeseg-debugcopy-") as tmp:
            copy = Path(tmp) / f"{path.stem}_numerics.tflite"
            copy.write_bytes(data)
            dev, device_info, delegates = _device_runs(c, copy, frames, host, say)
    same = {k: (k, "same") for k in range(len(specs))}
    comps = {d: Comparison(specs, specs, same) for d, r in dev.items() if "outputs" in r}
    for k, frame in enumerate(frames):
        out = host.run(np.frombuffer(frame, dtype).reshape(shape))
        if quant is not None:
            rshape, rdtype = [int(v) for v in ref.inp["shape"]], np.dtype(ref.inp["dtype"])
            quant.update(out, ref.run(np.frombuffer(reference[1][k], rdtype).reshape(rshape)))
        for d, comp in comps.items():
            comp.update(decode_outputs(dev[d]["outputs"][k], specs, f"the output file of frame {k} on {d}"), out)
    rows = []
    xnn = host.delegation
    host_cover = f"xnnpack: {xnn['delegated_ops']} of {xnn['total_ops']} ops in {xnn['partitions']} partition(s)"
    if quant is not None:
        base = {**meta, "comparison": "quantization", "where": "host", "device": "host", "delegate": "xnnpack"}
        rows += _rows(quant, limits["quantization"], base, host.partition, host_cover)
    for d in delegates:
        base = {**meta, "comparison": "delegate", "where": "device", "device": device_info.get("name"), "delegate": d}
        r = dev[d]
        if d not in comps:
            rows.append({**base, "status": r["status"], "reason": r["reason"], "first_bad": False})
            continue
        cover = _device_cover(r)
        rows += _rows(comps[d], limits["delegate"], base, lambda depth, d=d: "cpu" if d == "cpu" else None, cover)
    return rows, device_info, delegates


def _device_cover(r: dict) -> str | None:
    if r.get("partitions") is None and r.get("delegated_ops") is None:
        return None
    return f"{r.get('delegated_ops')} of {r.get('total_ops') or '?'} ops in {r.get('partitions')} partition(s)"


def _rows(comp, limits, base: dict, partition, cover) -> list[dict]:
    return [{**base, **r, "delegation": cover, "threshold": limits.describe()} for r in comp.rows(limits, partition)]


def _device_runs(c: NumericsConfig, copy: Path, frames, host, say):
    from ..device.numerics import run_debug_copy
    from ..device.profiles import load_profile
    from ..device.runners import default_delegates

    profile = load_profile(c.device.device)
    delegates = (
        check_delegates(c.delegates, profile.delegates, f"profile '{profile.name}'")
        if c.delegates
        else default_delegates(profile, [copy])
    )
    with c.device.session() as s:
        res = run_debug_copy(
            s,
            copy,
            frames,
            str(host.inp["name"]),
            tuple(int(v) for v in host.inp["shape"]),
            list(delegates),
            c.threads,
            c.benchmark_binary,
            say,
        )
    info = res.pop("_device")
    info["name"] = info.get("model") or profile.name
    return res, info, list(delegates)


def summarize_runs(rows: list[dict]) -> list[dict]:
    """One entry per run (comparison, where, device, delegate): its first bad tensor or None,
    its worst SNR, and its status (bad, ok, or the run's failed / unsupported)."""
    runs: dict = {}
    for r in rows:
        key = (r.get("comparison"), r.get("where"), r.get("device"), r.get("delegate"))
        runs.setdefault(key, []).append(r)
    out = []
    for (comparison, where, device, delegate), rs in runs.items():
        first = next((r for r in rs if r.get("first_bad") in (True, "True", "true")), None)
        snrs = [float(r["snr_db"]) for r in rs if r.get("snr_db") not in (None, "")]
        failed = next((r for r in rs if r.get("status") in ("failed", "unsupported")), None)
        out.append(
            {
                "comparison": comparison,
                "where": where,
                "device": device,
                "delegate": delegate,
                "tensors": sum(1 for r in rs if r.get("status") in ("ok", "bad")),
                "bad": sum(1 for r in rs if r.get("status") == "bad"),
                "first_bad_depth": first.get("depth") if first else None,
                "first_bad_op": first.get("op") if first else None,
                "tensor": first.get("tensor") if first else None,
                "min_snr_db": min(snrs) if snrs else None,
                "threshold": rs[0].get("threshold"),
                "status": failed["status"] if failed else "bad" if first else "ok",
                "reason": failed.get("reason") if failed else None,
            }
        )
    return out


def _finish(c, path, rows, limits, meta, device_info, delegates) -> NumericsResult:
    from ..runtime.numerics import MATCH_RULE
    from .tables import write_report

    runs = summarize_runs(rows)
    run_info = {
        "command": c.command or f"edgeseg.numerics({c.target!r})",
        "numerics": {
            "tensors": c.tensors,
            "frames": meta["frames"],
            "split": c.split,
            "reference": meta.get("reference"),
            "thresholds": {k: v.describe() for k, v in limits.items()},
            "match_rule": MATCH_RULE,
            "delegates": delegates,
        },
        **({"device": device_info} if device_info else {}),
    }
    report = write_report(
        c.reports,
        f"numerics_{path.stem}",
        [],
        [],
        run_info=run_info,
        extra=lambda folder: write_numerics(folder, rows, runs, path.stem),
    )
    data = {
        "artifact": path.stem,
        "reference": meta.get("reference"),
        "report": str(report),
        "first_bad": runs,
        "rows": rows,
        "thresholds": run_info["numerics"]["thresholds"],
    }
    return _pick(NumericsResult, data)


def write_numerics(folder: Path, rows: list[dict], runs: list[dict], artifact: str) -> None:
    """numerics.csv, the error-against-depth plot and report.html into a report folder."""
    from ..fileio import atomic_write_csv, atomic_write_text
    from .plots import html_page, numerics_plot
    from .schema import NUMERICS_COLUMNS

    name = Path(folder).name  # the report's temporary folder: .tmp-<final name>-<pid> (tables.ReportFolder)
    run_id = name[len(".tmp-") :].rsplit("-", 1)[0] if name.startswith(".tmp-") else name
    atomic_write_csv(
        Path(folder) / "numerics.csv",
        NUMERICS_COLUMNS,
        [{c: r.get(c) for c in NUMERICS_COLUMNS} | {"run_id": run_id} for r in rows],
    )
    figures = [f for f in [numerics_plot(rows, Path(folder) / "numerics_depth.png")] if f]
    atomic_write_text(Path(folder) / "report.html", numerics_html(artifact, rows, runs, figures, html_page))


#: How many of the worst tensors (lowest SNR) of each run the HTML section lists.
WORST_SHOWN = 10


def numerics_tables(rows: list[dict], runs: list[dict]) -> list[tuple[str, list[dict], list[str]]]:
    """The HTML section's tables: the first bad op of every run, and each run's worst tensors."""
    worst = []
    for run in runs:
        rs = [
            r
            for r in rows
            if (r.get("comparison"), r.get("delegate"), r.get("device"))
            == (run["comparison"], run["delegate"], run["device"])
            and r.get("snr_db") not in (None, "")
        ]
        worst += sorted(rs, key=lambda r: float(r["snr_db"]))[:WORST_SHOWN]
    cols = [
        "comparison",
        "delegate",
        "depth",
        "tensor",
        "op",
        "partition",
        "max_abs_diff",
        "cosine",
        "snr_db",
        "status",
    ]
    return [
        (
            "per-layer numerics: the first bad op of each run",
            runs,
            [
                "comparison",
                "where",
                "device",
                "delegate",
                "tensors",
                "bad",
                "first_bad_depth",
                "first_bad_op",
                "tensor",
                "min_snr_db",
                "threshold",
                "status",
                "reason",
            ],
        ),
        (f"per-layer numerics: the {WORST_SHOWN} lowest-SNR tensors of each run", worst, cols),
    ]


def numerics_html(artifact: str, rows, runs, figures, html_page) -> str:
    return html_page(f"Per-layer numerics: {artifact}", numerics_tables(rows, runs), figures, [])


# -- joining into `edgeseg eval --device` rows ---------------------------------------------------


def first_bad_ops(reports_root: str | Path, sha256: str, device: str) -> tuple[dict, str | None]:
    """``({delegate: first bad row or None}, report folder)`` from the newest numerics.csv under
    ``reports_root`` of the file with ``sha256`` on ``device``; ``({}, None)`` when there is none."""
    from .tables import read_csv

    root = Path(reports_root)
    folders = sorted((p.parent for p in root.glob("*/numerics.csv")), key=lambda p: p.name, reverse=True)
    for folder in folders:
        rows = [
            r
            for r in read_csv(folder / "numerics.csv", "numerics")
            if r.get("artifact_sha256") == sha256 and r.get("comparison") == "delegate" and r.get("device") == device
        ]
        if rows:
            found: dict = {}
            for r in rows:
                found.setdefault(r["delegate"], None)
                if r.get("first_bad") in ("True", "true", True):
                    found[r["delegate"]] = r
            return found, str(folder)
    return {}, None


def join_first_bad(rows: list[dict], reports_root, sha256: str) -> list[dict]:
    """Device-eval rows with ``first_bad_op`` (and a sentence in ``reason``) where a numerics.csv
    of the same file on the same device names one (:func:`first_bad_ops`)."""
    out, cache = [], {}
    for r in rows:
        if r.get("where") != "device" or r.get("status") not in ("diverged", "numerics-differ"):
            out.append(r)
            continue
        dev = r.get("device")
        if dev not in cache:
            cache[dev] = first_bad_ops(reports_root, sha256, dev)
        found, folder = cache[dev]
        if r.get("delegate") not in found:
            out.append(r)
            continue
        bad = found[r["delegate"]]
        if bad is None:
            said = f"per-layer numerics ({Path(folder).name}) found no tensor past its thresholds"
            out.append({**r, "reason": f"{r.get('reason')}; {said}"})
            continue
        name = f"{bad['tensor']} ({bad['op']}, depth {bad['depth']})"
        snr = bad.get("snr_db")
        snr = f"{float(snr):.1f} dB" if snr not in (None, "") else "no SNR (zero reference)"
        said = f"first bad op: {name}, SNR {snr} (numerics {Path(folder).name})"
        out.append({**r, "first_bad_op": name, "reason": f"{r.get('reason')}; {said}"})
    return out
