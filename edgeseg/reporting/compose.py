"""`edgeseg report`: merge report folders into one new folder with the summary, every
input table, plots and (optionally) a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from ..errors import ReportError
from ..fileio import atomic_write_csv, atomic_write_json, atomic_write_text, disk_error
from . import plots
from .numerics import numerics_tables, summarize_runs
from .schema import (
    CLASS_COLUMNS,
    LATENCY_COLUMNS,
    NUMERICS_COLUMNS,
    OPS_COLUMNS,
    POWER_COLUMNS,
    POWER_TRACE_COLUMNS,
    SUMMARY_COLUMNS,
    SUSTAINED_COLUMNS,
)
from .tables import ReportFolder, class_table, describe_conditions, merge_reports, quality_rows, utc_stamp

SUMMARY_VIEW = [
    "artifact",
    "size_kb",
    "device",
    "delegate",
    "median_ms",
    "noisy",
    "latency_vs_float32",
    "miou",
    "miou_delta_vs_float32",
    "energy_mj_per_inference",
    "energy_mj_err",
    "charging",
    "delegated_ops",
    "total_ops",
    "partitions",
    "status",
    "run_id",
]
POWER_VIEW = [
    "artifact",
    "device",
    "delegate",
    "idle_mw",
    "run_mw",
    "energy_mj_per_inference",
    "energy_mj_err",
    "energy_source",
    "gauge_samples_run",
    "counter_readings_run",
    "window",
    "charging",
    "temp_start_c",
    "temp_end_c",
    "status",
    "run_id",
]


def report_notes(summary: list[dict], power: list[dict], per_class: list[dict], quality: list[dict] = ()) -> list[str]:
    """What a reader of the tables must not miss, one sentence each."""
    notes = []
    if any(r.get("status") in ("numerics-differ", "diverged", "failed") for r in quality if r.get("where") == "device"):
        notes.append(f"On-device quality (`edgeseg eval --device`): {plots.eval_summary(quality)}; see quality.csv.")
    if any(r.get("status") == "charging" for r in power):
        notes.append(
            "Some power rows were measured while the phone was charging and have no energy (status "
            "charging): measure over wireless debugging with the cable out, or with a power-blocking "
            "adapter."
        )
    if any(str(r.get("charging")).lower() == "true" and r.get("status") != "charging" for r in power):
        notes.append(
            "Some power rows were measured while the phone was charging (--allow-charging): their energy "
            "is not what the model draws (see power.csv and summary.csv, column charging)."
        )
    fallback = [r for r in summary if r.get("status") == "fallback"]
    if fallback:
        notes.append(
            f"{len(fallback)} row(s) ran partly or wholly on the CPU although a delegate was asked for "
            "(status fallback): compare delegated_ops with total_ops."
        )
    noisy = [r for r in summary if str(r.get("noisy")).lower() == "true"]
    if noisy:
        notes.append(
            f"{len(noisy)} latency row(s) are noisy (p90 more than 1.3x the median, or a busy host: see "
            "host_load_1m): compare them with care, or measure again with more --runs / --min-secs on an idle "
            "machine."
        )
    throttled = [r for r in summary if r.get("throttling") == "throttled"]
    if throttled:
        notes.append(
            f"{len(throttled)} sustained row(s) throttled (a sustained rise beyond the windows' own variability, "
            "with the CPU frequency down or the phone hotter): "
            + ", ".join(
                f"{r['artifact']}/{r['delegate']} from window {r.get('throttling_onset_window')}" for r in throttled[:6]
            )
            + "; see sustained.csv and sustained.png."
        )
    drift = [r for r in summary if r.get("throttling") == "drift"]
    if drift:
        notes.append(
            f"{len(drift)} sustained row(s) drifted (latency shifted with no CPU frequency drop or temperature rise "
            "to explain it: other work on the phone, or DVFS): "
            + ", ".join(f"{r['artifact']}/{r['delegate']}" for r in drift[:6])
        )
    zero = sorted({r["class"] for r in per_class if str(r.get("zero")).lower() == "true"})
    if zero:
        notes.append(
            f"Class(es) never predicted right (IoU 0) by at least one artifact: {', '.join(zero)}. mIoU "
            "averages over classes; see the per-class table."
        )
    return notes


def compose(folders: list[str | Path], reports_root: str | Path = "reports", with_html: bool = False) -> dict:
    merged = merge_reports(folders)
    notes = report_notes(merged["summary"], merged["power"], merged["per_class"], merged["quality"])
    if merged["duplicates"]:
        notes.insert(
            0,
            "Read once, not twice (a folder named twice, or a merged report read back): "
            + "; ".join(merged["duplicates"]),
        )
    conditions = sorted({c for c in (describe_conditions(r) for r in merged["runs"]) if c})
    class_cols, class_view = class_table(merged["per_class"])
    try:
        final = _write(reports_root, merged, notes, conditions, class_cols, class_view, with_html)
    except OSError as exc:  # a full disk, a folder made read-only meanwhile: nothing is left
        why = "the disk is full" if disk_error(exc) else (exc.strerror or str(exc))
        raise ReportError(
            f"cannot write the merged report in {reports_root}: {why}; nothing was left there (the folders "
            f"read, {', '.join(merged['folders'])}, are unchanged). Free some space or choose another --reports"
        ) from None
    return {
        "report": str(final),
        "summary": merged["summary"],
        "per_class": merged["per_class"],
        "class_table": (class_cols, class_view),
        "notes": notes,
        "conditions": conditions,
        "files": sorted(p.name for p in final.iterdir()),
    }


def _write(reports_root, merged, notes, conditions, class_cols, class_view, with_html) -> Path:
    with ReportFolder(reports_root, "report") as rep:
        atomic_write_csv(rep.path / "summary.csv", SUMMARY_COLUMNS, merged["summary"])
        if merged["quality"]:
            cols, rows = quality_rows(merged["quality"])
            atomic_write_csv(
                rep.path / "quality.csv",
                cols + ("run_id",),
                [{**r, "run_id": q.get("run_id")} for r, q in zip(rows, merged["quality"])],
            )
        for name, columns in (
            ("latency", LATENCY_COLUMNS),
            ("power", POWER_COLUMNS),
            ("ops", OPS_COLUMNS),
            ("power_trace", POWER_TRACE_COLUMNS),
            ("per_class", CLASS_COLUMNS),
            ("sustained", SUSTAINED_COLUMNS),
            ("numerics", NUMERICS_COLUMNS),
        ):
            if merged[name]:
                extra = [c for r in merged[name] for c in r if c not in columns]
                cols = list(columns) + list(dict.fromkeys(extra))
                atomic_write_csv(rep.path / f"{name}.csv", cols, [{c: r.get(c) for c in cols} for r in merged[name]])
        images = [
            p
            for p in (
                plots.latency_plot(merged["summary"], rep.path / "latency.png"),
                plots.power_trace_plot(merged["power_trace"], rep.path / "power_trace.png"),
                plots.sustained_plot(merged["sustained"], rep.path / "sustained.png"),
                plots.pareto_plot(merged["summary"], rep.path / "pareto.png"),
                plots.numerics_plot(merged["numerics"], rep.path / "numerics_depth.png"),
            )
            if p
        ]
        if with_html:
            page = plots.html_page(
                "edgeseg report",
                [
                    ("Summary", merged["summary"], SUMMARY_VIEW),
                    (
                        "Per-class IoU (fractions; deltas against the float32 artifact of the same model)",
                        class_view,
                        class_cols,
                    ),
                    ("Power", merged["power"], POWER_VIEW),
                    *numerics_tables(merged["numerics"], summarize_runs(merged["numerics"])),
                ],
                images,
                notes,
                merged["folders"],
                conditions,
            )
            atomic_write_text(rep.path / "report.html", page)
        atomic_write_json(rep.path / "run.json", {"created": utc_stamp(), "merged_from": merged["runs"]})
    return rep.final
