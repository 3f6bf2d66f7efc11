"""Report folders (written whole or not at all), summary joins and text tables."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

from .. import __version__
from ..errors import ReportError
from ..fileio import atomic_write_csv, atomic_write_json
from .schema import LATENCY_COLUMNS, SUMMARY_COLUMNS, class_column, quality_columns


def utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def package_versions(names=("numpy", "ai-edge-litert", "tensorflow", "tf-keras", "tensorflow-model-optimization",
                            "pandas", "matplotlib")) -> dict:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def host_environment() -> dict:
    return {
        "edgeseg": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
    }


class ReportFolder:
    """``reports/<UTC time>_<name>/``, built in a hidden temporary folder and renamed into
    place on success, so a crash never leaves a half-written report."""

    def __init__(self, root: str | Path, name: str):
        self.root = Path(root)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self.final = self.root / f"{utc_stamp()}_{safe}"
        n = 1
        while self.final.exists():
            n += 1
            self.final = self.root / f"{utc_stamp()}_{safe}-{n}"
        self.tmp = self.root / f".tmp-{self.final.name}-{os.getpid()}"

    def __enter__(self) -> "ReportFolder":
        self.tmp.mkdir(parents=True, exist_ok=False)
        return self

    @property
    def path(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.final)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def quality_rows(results: list[dict]) -> tuple[tuple[str, ...], list[dict]]:
    names = []
    for r in results:
        for n in r.get("per_class_iou", {}):
            if n not in names:
                names.append(n)
    rows = []
    for r in results:
        row = {k: r.get(k) for k in ("artifact", "recipe", "dataset", "split", "images", "miou", "dice",
                                     "pixel_accuracy", "backend")}
        for n, v in r.get("per_class_iou", {}).items():
            row[class_column(n)] = v
        rows.append(row)
    return quality_columns(names), rows


def model_family(artifact: str, recipe: str | None) -> str:
    """``resunet_192x320_int8`` -> ``resunet_192x320``: artifacts of one model share it."""
    if recipe and artifact.endswith(recipe):
        return artifact[: -len(recipe)].rstrip("_-.")
    return artifact


def summarize(latency: list[dict], quality: list[dict], power: list[dict] | None = None,
              sizes: dict | None = None) -> list[dict]:
    """Join latency, quality and power rows per (artifact, device, delegate).

    Ratios and deltas are to the float32 artifact of the same model (same name apart from
    the recipe suffix) measured on the same device and delegate in the same report, never
    across runs or across models; without such a sibling they are left empty.
    """
    q_by = {r["artifact"]: r for r in quality}
    p_by = {(r["artifact"], r["device"], r["delegate"]): r for r in (power or [])}
    fp32, fp32_q = {}, {}
    for r in latency:
        if r.get("recipe") == "float32" and r.get("status") != "failed":
            fp32[(model_family(r["artifact"], "float32"), r["device"], r["delegate"])] = r
    for r in quality:
        if r.get("recipe") == "float32":
            fp32_q[model_family(r["artifact"], "float32")] = r
    rows = []
    for r in latency:
        family = model_family(r["artifact"], r.get("recipe"))
        q = q_by.get(r["artifact"], {})
        p = p_by.get((r["artifact"], r["device"], r["delegate"]), {})
        base = fp32.get((family, r["device"], r["delegate"]))
        ratio = None
        if base and _num(r.get("median_ms")) and _num(base.get("median_ms")):
            ratio = float(r["median_ms"]) / float(base["median_ms"])
        delta = None
        base_q = fp32_q.get(family)
        if base_q and _num(q.get("miou")) and _num(base_q.get("miou")):
            delta = (float(q["miou"]) - float(base_q["miou"])) * 100.0
        size = (sizes or {}).get(r["artifact"])
        rows.append({
            "artifact": r["artifact"], "recipe": r.get("recipe"), "size_kb": size / 1024 if size else None,
            "device": r["device"], "delegate": r["delegate"], "threads": r.get("threads"),
            "median_ms": r.get("median_ms"), "p90_ms": r.get("p90_ms"), "latency_vs_float32": ratio,
            "miou": q.get("miou"), "miou_delta_vs_float32": delta,
            "energy_mj_per_inference": p.get("energy_mj_per_inference"),
            "delegated_ops": r.get("delegated_ops"), "total_ops": r.get("total_ops"), "partitions": r.get("partitions"),
            "status": r.get("status"), "error": r.get("error"),
        })
    return rows


def _num(v) -> bool:
    try:
        return v not in (None, "") and not math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def write_report(root: str | Path, name: str, latency: list[dict], quality: list[dict],
                 power: list[dict] | None = None, ops: list[dict] | None = None, run_info: dict | None = None,
                 sizes: dict | None = None, trace: list[dict] | None = None) -> Path:
    """Write one complete report folder and return its final path."""
    from .schema import OPS_COLUMNS, POWER_COLUMNS, POWER_TRACE_COLUMNS  # noqa: PLC0415

    with ReportFolder(root, name) as rep:
        if quality:
            cols, rows = quality_rows(quality)
            atomic_write_csv(rep.path / "quality.csv", cols, rows)
        if latency:
            atomic_write_csv(rep.path / "latency.csv", LATENCY_COLUMNS, [{c: r.get(c) for c in LATENCY_COLUMNS} for r in latency])
        if power:
            atomic_write_csv(rep.path / "power.csv", POWER_COLUMNS, [{c: r.get(c) for c in POWER_COLUMNS} for r in power])
        if ops:
            atomic_write_csv(rep.path / "ops.csv", OPS_COLUMNS, [{c: r.get(c) for c in OPS_COLUMNS} for r in ops])
        if trace:
            atomic_write_csv(rep.path / "power_trace.csv", POWER_TRACE_COLUMNS, trace)
        summary = summarize(latency, quality, power, sizes)
        atomic_write_csv(rep.path / "summary.csv", SUMMARY_COLUMNS, summary)
        atomic_write_json(rep.path / "run.json", {"created": utc_stamp(), "host": host_environment(), **(run_info or {})})
    return rep.final


def read_csv(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from None


def read_report(folder: str | Path) -> dict:
    folder = Path(folder)
    if not (folder / "summary.csv").is_file() and not (folder / "latency.csv").is_file():
        raise ReportError(f"{folder} is not an edgeseg report folder (no summary.csv or latency.csv)")
    run = {}
    if (folder / "run.json").is_file():
        try:
            run = json.loads((folder / "run.json").read_text())
        except json.JSONDecodeError as exc:
            raise ReportError(f"{folder / 'run.json'} is not valid JSON: {exc}") from None
    names = ("quality", "latency", "power", "ops", "summary", "power_trace")
    return {name: read_csv(folder / f"{name}.csv") for name in names} | {
        "run": run, "folder": str(folder)}


def format_table(rows: list[dict], columns: list[str] | tuple[str, ...], floats: int = 2) -> str:
    """A plain aligned text table (no colour codes, safe for logs and CI)."""
    def cell(v):
        if v is None or v == "":
            return "-"
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.{floats}f}"
        try:
            f = float(v)
            if isinstance(v, str) and ("." in v or "e" in v.lower()):
                return f"{f:.{floats}f}"
        except (TypeError, ValueError):
            pass
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


def merge_reports(folders: list[str | Path]) -> dict:
    """Concatenate the tables of several report folders (a folder of folders is expanded)."""
    expanded: list[Path] = []
    for f in map(Path, folders):
        if (f / "summary.csv").is_file() or (f / "latency.csv").is_file():
            expanded.append(f)
        elif f.is_dir():
            expanded += sorted(p for p in f.iterdir() if p.is_dir() and not p.name.startswith(".")
                               and ((p / "summary.csv").is_file() or (p / "latency.csv").is_file()))
        else:
            raise ReportError(f"{f} does not exist")
    if not expanded:
        raise ReportError(f"no report folders found in {', '.join(map(str, folders))}; run `edgeseg bench` first")
    merged = {k: [] for k in ("quality", "latency", "power", "ops", "power_trace")}
    runs = []
    for folder in expanded:
        rep = read_report(folder)
        for k in merged:
            merged[k] += rep[k]
        runs.append({"folder": str(folder), **rep["run"]})
    merged["summary"] = summarize(merged["latency"], merged["quality"], merged["power"],
                                  {r["artifact"]: float(r["size_kb"]) * 1024 for f in expanded
                                   for r in read_csv(f / "summary.csv") if _num(r.get("size_kb"))})
    merged["runs"] = runs
    merged["folders"] = [str(f) for f in expanded]
    return merged
