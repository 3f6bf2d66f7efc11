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
import unicodedata
from importlib import metadata
from pathlib import Path

from ..config import finite_or_none, is_finite_number
from ..errors import ReportError
from ..fileio import atomic_write_csv, atomic_write_json, atomic_write_text, disk_error, fit_name
from ..host import busy_host, cpu_model
from ..version import __version__
from .schema import (
    CLASS_COLUMNS,
    LATENCY_COLUMNS,
    NOISY_SPREAD,
    NUMERIC,
    QUALITY_CLASS_PREFIX,
    QUALITY_COLUMNS,
    QUALITY_DEVICE_COLUMNS,
    REQUIRED,
    SUMMARY_COLUMNS,
    SUSTAINED_VERDICT_COLUMNS,
    class_column,
    column_class,
    column_format,
    quality_columns,
)


def utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def package_versions(
    names=(
        "numpy",
        "ai-edge-litert",
        "tensorflow",
        "tf-keras",
        "tensorflow-model-optimization",
        "pandas",
        "matplotlib",
    ),
) -> dict:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def host_environment() -> dict:
    return {
        "edgeseg": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "packages": package_versions(),
    }


def describe_phone(device: dict, bench: dict) -> str:
    """A phone bench's conditions: the phone (model, SoC, Android build, fingerprint), the
    threads the rows used, its CPU governors and maximum frequencies where readable, its
    battery and temperatures over the rows, the benchmark binary and edgeseg's version."""
    bits = [" ".join(x for x in (device.get("model"), f"({device['soc']})" if device.get("soc") else "") if x)]
    if device.get("android"):
        bits.append(
            f"Android {device['android']}" + (f" ({device['fingerprint']})" if device.get("fingerprint") else "")
        )
    threads = bench.get("threads") or device.get("threads")
    if threads:
        bits.append(f"{threads} threads")
    freq = device.get("cpufreq") or {}
    if freq:
        govs = sorted({str(v.get("governor")) for v in freq.values() if v.get("governor")})
        top = max((v.get("scaling_max_khz") or v.get("cpuinfo_max_khz") or 0 for v in freq.values()), default=0)
        bits.append(f"governor {'/'.join(govs)}" + (f", max {top / 1e6:.2f} GHz" if top else ""))
    else:
        bits.append("CPU governor and frequencies not readable")
    rows = list((device.get("conditions") or {}).values())
    starts = [r.get("start") or {} for r in rows]
    ends = [r.get("end") or {} for r in rows]
    if starts and starts[0].get("battery_level") is not None:
        bits.append(
            f"battery {starts[0]['battery_level']:.0f}%"
            + (f" {starts[0]['battery_status'].lower()}" if starts[0].get("battery_status") else "")
        )
    for key, name in (("battery_temp", "battery"), ("zone_max_c", "hottest thermal zone")):
        a = next((x[key] for x in starts if x.get(key) is not None), None)
        b = next((x[key] for x in reversed(ends) if x.get(key) is not None), None)
        if a is not None and b is not None:
            bits.append(f"{name} {a:.1f} -> {b:.1f} C")
    if device.get("charging"):
        bits.append("CHARGING" + (" (--allow-charging)" if device.get("allow_charging") else ""))
    if device.get("benchmark_binary_sha256"):
        bits.append(f"benchmark_model sha256 {device['benchmark_binary_sha256'][:16]}")
    bits += [describe_dispatch(name, d) for name, d in (device.get("litert_dispatch") or {}).items()]
    if device.get("edgeseg"):
        bits.append(f"edgeseg {device['edgeseg']}")
    sustained = bench.get("sustained") or {}
    if sustained:
        bits.append(
            f"sustained {sustained.get('duration_s'):g} s per row in {sustained.get('windows')} window(s) of "
            f"{sustained.get('window_s'):g} s (at least {bench.get('runs')} runs each)"
        )
    elif bench.get("runs"):
        bits.append(f"at least {bench['runs']} runs and {bench.get('min_secs', 0):g} s per row")
    if bench.get("cooldown"):
        bits.append(
            "--cooldown could not cool down between rows: no thermal zone of the profile reads on this device"
            if device.get("cooldown_unreadable")
            else "cooled down between rows"
        )
    return "; ".join(b for b in bits if b)


def describe_dispatch(delegate: str, d: dict) -> str:
    """A litert delegate's NPU set-up as run.json records it (edgeseg.device.runners.set_up_dispatch)."""
    libs = ", ".join(lib.get("name") or "" for lib in d.get("dispatch_libs") or []) or d.get("dispatch_dir") or "none"
    build = (d.get("benchmark_binary") or {}).get("build")
    check = (
        f"same LiteRT build as the benchmark binary ({build})"
        if d.get("same_build")
        else "LiteRT build not recorded for " + ", ".join(Path(str(f)).name for f in d.get("unrecorded") or [])
        if d.get("unrecorded")
        else "LiteRT build not checked"
    )
    adapter = f", adapter folder {d['adapter_dir']}" if d.get("adapter_dir") else ""
    return f"{delegate} on {d.get('soc')}: dispatch {libs}, {check}{adapter}"


def describe_conditions(run: dict) -> str:
    """One line saying under which conditions the latency rows of a report were taken: the
    phone's own for a phone bench (:func:`describe_phone`), the host's otherwise."""
    device = run.get("device") or {}
    if isinstance(device, dict) and device.get("profile"):
        return describe_phone(device, run.get("bench") or {})
    host = run.get("host") or {}
    bench = run.get("bench") or {}
    bits = []
    if host.get("cpu"):
        bits.append(f"{host['cpu']}, {host.get('cpu_count')} cores")
    if bench.get("threads"):
        bits.append(f"{bench['threads']} threads")
    before, after = bench.get("load_before"), bench.get("load_after")
    if before and after:
        bits.append(
            f"load average (1 min) {before[0]:.2f} before, {after[0]:.2f} after on {host.get('cpu_count')} cores"
        )
    if bench.get("runs"):
        bits.append(f"at least {bench['runs']} runs and {bench.get('min_secs', 0):g} s per row")
    return "; ".join(bits)


class ReportFolder:
    """``reports/<UTC time>_<name>/``, built in a hidden temporary folder and renamed into
    place on success, so a crash never leaves a half-written report."""

    def __init__(self, root: str | Path, name: str):
        self.root = Path(root)
        # the time stamp, "-NN" and the temporary folder's ".tmp-" and pid fit in the name too
        safe = fit_name("".join(c if c.isalnum() or c in "-_." else "_" for c in name), 255 - 60)
        self.final = self.root / f"{utc_stamp()}_{safe}"
        n = 1
        while self.final.exists():
            n += 1
            self.final = self.root / f"{utc_stamp()}_{safe}-{n}"
        self.tmp = self.root / f".tmp-{self.final.name}-{os.getpid()}"

    def __enter__(self) -> ReportFolder:
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
    """Quality results (``per_class_iou`` dicts, or rows already holding ``iou_*`` columns)
    as quality.csv rows; columns are the fixed ones plus one per class seen."""
    names, extra, seen = [], [], set()
    for r in results:
        for n in r.get("per_class_iou") or {}:
            if class_column(n) not in seen:  # one class of several artifacts: one column
                seen.add(class_column(n))
                names.append(n)
        for k in r:
            if k.startswith(QUALITY_CLASS_PREFIX) and k not in extra:
                extra.append(k)
    device = any(r.get("where") for r in results)  # `edgeseg eval --device` rows: where, delegate, status ...
    rows = []
    for r in results:
        row = {k: r.get(k) for k in QUALITY_COLUMNS + (QUALITY_DEVICE_COLUMNS if device else ())}
        for k in extra:
            row[k] = r.get(k)
        for n, v in (r.get("per_class_iou") or {}).items():
            row[class_column(n)] = v
        rows.append(row)
    columns = quality_columns(names, device)
    return columns + tuple(c for c in extra if c not in columns), rows


def model_family(artifact: str, recipe: str | None) -> str:
    """``resunet_192x320_int8`` -> ``resunet_192x320``: artifacts of one model share it."""
    if recipe and artifact.endswith(recipe):
        return artifact[: -len(recipe)].rstrip("_-.")
    return artifact


def _class_ious(row: dict) -> dict[str, float | None]:
    return {column_class(k): finite_or_none(v) for k, v in row.items() if k.startswith(QUALITY_CLASS_PREFIX)}


def _float32_quality(quality: list[dict]) -> dict:
    return {
        (model_family(r["artifact"], "float32"), r.get("dataset"), r.get("split")): r
        for r in quality
        if r.get("recipe") == "float32"
    }


def class_rows(quality: list[dict]) -> list[dict]:
    """One row per (artifact, class) from quality.csv rows: the class IoU, its change
    against the float32 artifact of the same model on the same data, and ``zero`` for a
    class that is present but never predicted right (IoU exactly 0)."""
    _, rows = quality_rows([q for q in quality if q.get("where") != "device"])  # device rows: quality.csv only
    base = _float32_quality(rows)
    out = []
    for r in rows:
        ref = base.get((model_family(r["artifact"], r.get("recipe")), r.get("dataset"), r.get("split")))
        ref_iou = _class_ious(ref) if ref and ref is not r else {}
        for name, iou in _class_ious(r).items():
            delta = iou - ref_iou[name] if iou is not None and ref_iou.get(name) is not None else None
            out.append(
                {
                    "artifact": r["artifact"],
                    "recipe": r.get("recipe"),
                    "dataset": r.get("dataset"),
                    "split": r.get("split"),
                    "class": name,
                    "iou": iou,
                    "iou_delta_vs_float32": delta,
                    "zero": iou == 0.0 if iou is not None else None,
                }
            )
    return out


class Shown(str):
    """Text already formatted for display: tables print it as it is."""


def class_table(per_class: list[dict]) -> tuple[list[str], list[dict]]:
    """The per-class rows pivoted for reading: one line per class, one IoU column per
    artifact (by recipe when that is unambiguous), a delta column per non-float32 artifact,
    and a flag naming the artifacts where the class is at 0. Values are formatted text
    (IoU with 4 decimals, signed deltas): the table is for display, per_class.csv for data."""
    labels = {}
    for r in per_class:
        labels.setdefault(r["artifact"], r.get("recipe") or r["artifact"])
    if len(set(labels.values())) < len(labels):
        labels = {a: a for a in labels}
    columns, table = ["class"], {}
    for r in per_class:
        label = labels[r["artifact"]]
        if label not in columns:
            columns.append(label)
        row = table.setdefault(r["class"], {"class": r["class"], "_zero": []})
        row[label] = Shown(f"{float(r['iou']):.4f}") if is_finite_number(r.get("iou")) else None
        if is_finite_number(r.get("iou_delta_vs_float32")):
            key = f"{label} - float32"
            row[key] = Shown(f"{float(r['iou_delta_vs_float32']):+.4f}")
            if key not in columns:
                columns.append(key)
        if r.get("zero") in (True, "True", "true"):
            row["_zero"].append(label)
    rows = []
    for row in table.values():
        zero = row.pop("_zero")
        row["flag"] = ("IoU 0 in " + ", ".join(zero)) if zero else None
        rows.append(row)
    return columns + ["flag"], rows


def noisy_row(r: dict, spread: float | None) -> bool | None:
    """A latency row is noisy when its tail is wide (p90 or p95 over :data:`NOISY_SPREAD` x the
    median) or it was measured on a busy host (edgeseg.host.busy_host: its load beside it)."""

    load, cores = finite_or_none(r.get("host_load_1m")), finite_or_none(r.get("host_cores"))
    if busy_host(load, int(cores) if cores else None):
        return True
    return (spread > NOISY_SPREAD) if spread is not None else None


def summarize(
    latency: list[dict], quality: list[dict], power: list[dict] | None = None, sizes: dict | None = None
) -> list[dict]:
    """Join latency, quality and power rows per (artifact, device, delegate).

    Ratios and deltas are to the float32 artifact of the same model (same name apart from
    the recipe suffix) measured on the same device and delegate in the same report, never
    across runs or across models; without such a sibling they are left empty. mIoU and its
    delta are fractions. ``spread`` is p90 / median, or p95 / median where the runner gives no
    p90 (benchmark_model on phones): ``spread_of`` says which; ``noisy`` marks a spread above
    :data:`NOISY_SPREAD`.

    Rows are joined within one run only (``run_id``: the report folder a row was written in;
    rows without one are joined as one run): a merged report never gives one run's power,
    energy or quality to another run's row.
    """

    def rid(r):
        return r.get("run_id") or ""

    quality = [r for r in quality if r.get("where") != "device"]  # the artifact's quality is the host's
    q_by = {(rid(r), r["artifact"]): r for r in quality}
    p_by = {(rid(r), r["artifact"], r["device"], r["delegate"]): r for r in (power or [])}
    fp32, fp32_q = {}, {}
    for r in latency:
        if r.get("recipe") == "float32" and r.get("status") != "failed":
            fp32[(rid(r), model_family(r["artifact"], "float32"), r["device"], r["delegate"])] = r
    for r in quality:
        if r.get("recipe") == "float32":
            fp32_q[(rid(r), model_family(r["artifact"], "float32"))] = r
    rows = []
    for r in latency:
        family = model_family(r["artifact"], r.get("recipe"))
        q = q_by.get((rid(r), r["artifact"]), {})
        p = p_by.get((rid(r), r["artifact"], r["device"], r["delegate"]), {})
        base = fp32.get((rid(r), family, r["device"], r["delegate"]))
        ratio = None
        if base and is_finite_number(r.get("median_ms")) and is_finite_number(base.get("median_ms")):
            ratio = float(r["median_ms"]) / float(base["median_ms"])
        delta = None
        base_q = fp32_q.get((rid(r), family))
        if base_q and base_q is not q and is_finite_number(q.get("miou")) and is_finite_number(base_q.get("miou")):
            delta = float(q["miou"]) - float(base_q["miou"])
        spread = latency_spread(r)
        _, qrow = quality_rows([q]) if q else ((), [{}])
        zero = [name for name, v in _class_ious(qrow[0]).items() if v == 0.0]
        size = (sizes or {}).get(r["artifact"])
        rows.append(
            {
                "artifact": r["artifact"],
                "recipe": r.get("recipe"),
                "size_kb": size / 1024 if size else None,
                "device": r["device"],
                "delegate": r["delegate"],
                "threads": r.get("threads"),
                "median_ms": r.get("median_ms"),
                "p90_ms": r.get("p90_ms"),
                "spread": spread,
                "spread_of": latency_spread_of(r) if spread is not None else None,
                "noisy": noisy_row(r, spread),
                "latency_vs_float32": ratio,
                "miou": q.get("miou"),
                "miou_delta_vs_float32": delta,
                "zero_iou_classes": ";".join(zero) or None,
                "energy_mj_per_inference": p.get("energy_mj_per_inference"),
                "energy_mj_err": p.get("energy_mj_err"),
                "power_status": p.get("status"),
                "charging": p.get("charging"),
                "run_id": r.get("run_id"),
                "delegated_ops": r.get("delegated_ops"),
                "total_ops": r.get("total_ops"),
                "partitions": r.get("partitions"),
                **{k: r.get(k) for k in SUSTAINED_VERDICT_COLUMNS},
                "status": r.get("status"),
                "error": r.get("error"),
            }
        )
    return rows


def latency_spread_of(row: dict) -> str | None:
    """What :func:`latency_spread` divided: ``p90/median`` or ``p95/median``."""
    for key in ("p90_ms", "p95_ms"):
        if is_finite_number(row.get(key)):
            return f"{key[:-3]}/median"
    return None


def latency_spread(row: dict) -> float | None:
    """p90 / median of a latency row (p95 / median where there is no p90), or None."""
    if not is_finite_number(row.get("median_ms")) or float(row["median_ms"]) <= 0:
        return None
    for key in ("p90_ms", "p95_ms"):
        if is_finite_number(row.get(key)):
            return float(row[key]) / float(row["median_ms"])
    return None


def write_report(
    root: str | Path,
    name: str,
    latency: list[dict],
    quality: list[dict],
    power: list[dict] | None = None,
    ops: list[dict] | None = None,
    run_info: dict | None = None,
    sizes: dict | None = None,
    trace: list[dict] | None = None,
    extra=None,
    sustained: list[dict] | None = None,
) -> Path:
    """Write one complete report folder and return its final path. ``extra(folder)`` writes
    more files into it (figures) before it is put in place. ``sustained``: the windows of
    ``--sustained`` rows (sustained.csv)."""
    tables = {"latency": latency, "quality": quality, "power": power, "ops": ops, "trace": trace}
    try:
        return _write_report(root, name, latency, quality, power, ops, run_info, sizes, trace, extra, sustained)
    except OSError as exc:  # a full disk, a folder removed or made read-only while measuring
        raise _unwritten(root, name, exc, {**tables, "sustained": sustained, "run": run_info}) from None


def _unwritten(root, name: str, exc: OSError, tables: dict) -> ReportError:
    """The report could not be written: what was measured, and where it is kept (a JSON
    file in the temporary folder, when that one still takes it)."""
    import tempfile

    counts = [f"{len(v)} {k} row(s)" for k, v in tables.items() if isinstance(v, list) and v]
    measured = ", ".join(counts) or "no rows"
    why = "the disk is full" if disk_error(exc) else (exc.strerror or str(exc))
    try:
        kept = Path(tempfile.gettempdir()) / fit_name(f"edgeseg-unsaved-{utc_stamp()}_{name}", keep=".json")
        atomic_write_text(kept, json.dumps(tables, indent=1, default=str) + "\n")
        keep = f"the rows are kept in {kept}"
    except OSError:
        keep = "they could not be kept anywhere either (the rows printed above are all that is left)"
    return ReportError(
        f"cannot write the report in {root}: {why}; nothing was left there. Measured: {measured}; "
        f"{keep}. Free some space (or choose another --reports) and run again"
    )


def _write_report(root, name, latency, quality, power, ops, run_info, sizes, trace, extra, sustained) -> Path:
    from .schema import OPS_COLUMNS, POWER_COLUMNS, POWER_TRACE_COLUMNS, SUSTAINED_COLUMNS

    with ReportFolder(root, name) as rep:
        run_id = rep.final.name  # the report folder: its name holds the UTC time of the run
        latency, power, trace, sustained = (
            [{**r, "run_id": run_id} for r in rows or []] for rows in (latency, power, trace, sustained)
        )
        quality = [{**r, "run_id": run_id} for r in quality or []]
        run_info = _device_bench_info(run_info)
        if quality:
            cols, rows = quality_rows(quality)
            atomic_write_csv(rep.path / "quality.csv", cols + ("run_id",), [{**r, "run_id": run_id} for r in rows])
            per_class = class_rows(rows)
            if per_class:
                atomic_write_csv(rep.path / "per_class.csv", CLASS_COLUMNS, per_class)
        if latency:
            atomic_write_csv(
                rep.path / "latency.csv", LATENCY_COLUMNS, [{c: r.get(c) for c in LATENCY_COLUMNS} for r in latency]
            )
        if power:
            atomic_write_csv(
                rep.path / "power.csv", POWER_COLUMNS, [{c: r.get(c) for c in POWER_COLUMNS} for r in power]
            )
        if ops:
            atomic_write_csv(rep.path / "ops.csv", OPS_COLUMNS, [{c: r.get(c) for c in OPS_COLUMNS} for r in ops])
        if trace:
            atomic_write_csv(
                rep.path / "power_trace.csv",
                POWER_TRACE_COLUMNS,
                [{c: r.get(c) for c in POWER_TRACE_COLUMNS} for r in trace],
            )
        if sustained:
            atomic_write_csv(
                rep.path / "sustained.csv",
                SUSTAINED_COLUMNS,
                [{c: r.get(c) for c in SUSTAINED_COLUMNS} for r in sustained],
            )
        summary = summarize(
            latency, [{**r, "run_id": run_id} for r in quality_rows(quality)[1]] if quality else [], power, sizes
        )
        atomic_write_csv(rep.path / "summary.csv", SUMMARY_COLUMNS, summary)
        atomic_write_json(
            rep.path / "run.json",
            {"created": utc_stamp(), "run_id": run_id, "host": host_environment(), **(run_info or {})},
        )
        if extra is not None:
            extra(rep.path)
    return rep.final


def _device_bench_info(run_info: dict | None) -> dict | None:
    """A device bench's run.json: ``bench.threads`` is the threads the rows used (the
    profile's, when none were asked for), not null."""
    if not run_info or not isinstance(run_info.get("bench"), dict) or not isinstance(run_info.get("device"), dict):
        return run_info
    bench = dict(run_info["bench"])
    if bench.get("threads") is None and run_info["device"].get("threads") is not None:
        bench["threads"] = run_info["device"]["threads"]
    return {**run_info, "bench": bench}


def read_csv(path: str | Path, table: str | None = None) -> list[dict]:
    """Rows of an edgeseg CSV; with ``table`` (a key of :data:`REQUIRED`) the header must
    hold that table's required columns, every row as many fields as the header, and its
    numeric columns numbers: anything else is a :class:`ReportError` naming file, line and
    column."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # edgeseg writes UTF-8; -sig: a spreadsheet's BOM
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from None
    if table is None:
        return rows
    missing = [c for c in REQUIRED[table] if c not in header]
    if missing:
        raise ReportError(
            f"{path} lacks the column(s) {', '.join(missing)} (header: {','.join(header) or 'empty'}): "
            f"not an edgeseg {table}.csv, or a truncated one; write it again with edgeseg"
        )
    numeric = [c for c in NUMERIC[table] if c in header]
    if table == "quality":
        numeric += [c for c in header if c.startswith(QUALITY_CLASS_PREFIX)]
    for lineno, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            fields = len(header) + len(row.get(None) or []) - sum(1 for v in row.values() if v is None)
            raise ReportError(
                f"{path} line {lineno} has {fields} fields but the header has {len(header)}: the file "
                "is truncated or was edited by hand; write it again with edgeseg"
            )
    from ..schemas import check_rows

    check_rows(path, rows, numeric, ReportError)  # numbers, and finite: nan/inf is no measurement
    return rows


def read_report(folder: str | Path) -> dict:
    folder = Path(folder)
    if not (folder / "summary.csv").is_file() and not (folder / "latency.csv").is_file():
        raise ReportError(f"{folder} is not an edgeseg report folder (no summary.csv or latency.csv)")
    run = {}
    if (folder / "run.json").is_file():
        from ..schemas import read_run_json

        run = read_run_json(folder / "run.json", ReportError)
    names = ("quality", "latency", "power", "ops", "summary", "power_trace", "per_class", "sustained", "numerics")
    return {name: read_csv(folder / f"{name}.csv", name) for name in names} | {"run": run, "folder": str(folder)}


def format_cell(column: str, v, floats: int = 2) -> str:
    """One value as text: ``-`` for missing, the column's own format (see
    :data:`edgeseg.reporting.schema.FORMATS`: mIoU with 4 decimals, deltas signed ...), else
    ``floats`` decimals for numbers."""
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool) or v in ("True", "False"):
        return "yes" if v in (True, "True") else "-"
    fmt = column_format(column)
    if isinstance(v, Shown):
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if fmt is None and (isinstance(v, int) or (isinstance(v, str) and "." not in v and "e" not in v.lower())):
        return str(v)
    if math.isnan(f):
        return "-"
    return fmt.format(f) if fmt else f"{f:.{floats}f}"


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters (车道) take
    two, combining marks none, so tables of class names in any script stay aligned."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad_to_width(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (:func:`display_width`): what
    ``f"{text:<24}"`` does for ASCII, right for 车道 too."""
    return text + " " * max(0, width - display_width(text))


def format_table(rows: list[dict], columns: list[str] | tuple[str, ...], floats: int = 2) -> str:
    """A plain aligned text table (no colour codes, safe for logs and CI)."""
    body = [[format_cell(c, r.get(c), floats) for c in columns] for r in rows]
    widths = [
        max(display_width(c), *(display_width(b[i]) for b in body)) if body else display_width(c)
        for i, c in enumerate(columns)
    ]
    lines = ["  ".join(pad_to_width(c, w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(pad_to_width(v, w) for v, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


def merge_reports(folders: list[str | Path]) -> dict:
    """Concatenate the tables of several report folders (a folder of folders is expanded);
    every column of every input is kept."""
    expanded: list[Path] = []
    for f in map(Path, folders):
        if (f / "summary.csv").is_file() or (f / "latency.csv").is_file():
            expanded.append(f)
        elif f.is_dir():
            expanded += sorted(
                p
                for p in f.iterdir()
                if p.is_dir()
                and not p.name.startswith(".")
                and ((p / "summary.csv").is_file() or (p / "latency.csv").is_file())
            )
        else:
            raise ReportError(f"{f} does not exist")
    if not expanded:
        raise ReportError(f"no report folders found in {', '.join(map(str, folders))}; run `edgeseg bench` first")
    unique: dict[Path, Path] = {}
    for f in expanded:
        unique.setdefault(f.resolve(), f)
    skipped = [f"{f} (named twice)" for f in expanded[len(unique) :]] if len(unique) < len(expanded) else []
    expanded = list(unique.values())
    merged = {k: [] for k in ("quality", "latency", "power", "ops", "power_trace", "sustained", "numerics")}
    runs, sizes, owner, dropped = [], {}, {}, {}
    for folder in expanded:
        rep = read_report(folder)
        run_id = rep["run"].get("run_id") or folder.name  # older reports: the folder's name
        for k in merged:
            for r in rep[k]:
                rid = r.get("run_id") or run_id
                if owner.setdefault(rid, folder) != folder:  # a run read before, from another folder (a merge)
                    dropped.setdefault(folder, set()).add(rid)
                    continue
                merged[k].append({**r, "run_id": rid})
        sizes.update(
            {r["artifact"]: float(r["size_kb"]) * 1024 for r in rep["summary"] if is_finite_number(r.get("size_kb"))}
        )
        runs.append({"folder": str(folder), **rep["run"]})
    merged["duplicates"] = skipped + [
        f"{f}: the rows of run(s) {', '.join(sorted(ids))} (already read from {owner[min(ids)]})"
        for f, ids in dropped.items()
    ]
    merged["summary"] = summarize(merged["latency"], merged["quality"], merged["power"], sizes)
    merged["per_class"] = class_rows(merged["quality"])
    merged["runs"] = runs
    merged["folders"] = [str(f) for f in expanded]
    return merged
