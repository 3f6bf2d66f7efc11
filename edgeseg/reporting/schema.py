"""Column lists of every CSV edgeseg writes, what a reader requires of each, and how each
quantity is shown. Readers and writers both use these.

Units are in the names (``_ms``, ``_mw``, ``_mj``, ``_kb``); mIoU, Dice, pixel accuracy,
per-class IoU and their deltas are fractions (0..1) everywhere: CSV, tables, HTML. Plots
show mIoU in percent, and say so on the axis.
"""

from __future__ import annotations

import unicodedata

QUALITY_COLUMNS = ("artifact", "recipe", "dataset", "split", "images", "miou", "dice", "pixel_accuracy", "backend")
#: Per-class IoU columns follow the fixed ones, one per class: ``iou_<class name>``, the
#: name exactly as the dataset gives it (any script; only Unicode NFC-normalised), so it
#: reads back unchanged and two classes never share a column.
QUALITY_CLASS_PREFIX = "iou_"

LATENCY_COLUMNS = (
    "artifact", "recipe", "device", "delegate", "threads", "init_ms", "first_ms", "warmup_ms", "mean_ms",
    "median_ms", "p5_ms", "p90_ms", "p95_ms", "std_ms", "runs", "delegated_ops", "total_ops", "partitions", "status",
    "error", "runner", "note",
)

#: ``energy_source`` is the source the energy came from (rails, hal, battery) and
#: ``source_note`` why the sources preferred to it were not used; a row for which no source
#: gave samples has ``status`` failed and the reasons in ``error``.
POWER_COLUMNS = (
    "artifact", "device", "delegate", "idle_mw", "run_mw", "energy_mj_per_inference", "energy_source",
    "samples", "charging", "temp_start_c", "temp_end_c", "window_start", "window_end", "status", "error",
    "source_note",
)

POWER_TRACE_COLUMNS = ("artifact", "delegate", "t_s", "power_mw", "battery_c", "phase")

#: ``table`` node_type: one row per op type (benchmark_model's "Summary by node type"), or
#: run_order: one row per node in execution order ("Run Order", with the node's ``name``).
OPS_COLUMNS = ("artifact", "device", "delegate", "table", "node_type", "name", "count", "first_ms", "avg_ms",
               "percent", "cdf_percent")

#: One row per (artifact, class): the class's IoU and its change against the float32
#: artifact of the same model (fractions), ``zero`` when the class is never predicted right.
CLASS_COLUMNS = ("artifact", "recipe", "dataset", "split", "class", "iou", "iou_delta_vs_float32", "zero")

SUMMARY_COLUMNS = (
    "artifact", "recipe", "size_kb", "device", "delegate", "threads", "median_ms", "p90_ms", "spread",
    "noisy", "latency_vs_float32", "miou", "miou_delta_vs_float32", "zero_iou_classes", "energy_mj_per_inference",
    "delegated_ops", "total_ops", "partitions", "status", "error",
)

#: What a reader needs in each table (a file without these is not an edgeseg CSV) and which
#: of its columns must parse as numbers wherever they are not empty.
REQUIRED = {
    "latency": ("artifact", "device", "delegate", "status"),
    "quality": ("artifact", "miou"),
    "power": ("artifact", "device", "delegate"),
    "summary": ("artifact", "device", "delegate", "status"),
    "ops": ("artifact", "delegate", "node_type"),  # "table" came later: older ops.csv are per node type
    "power_trace": ("artifact", "delegate", "t_s", "power_mw"),
    "per_class": ("artifact", "class", "iou"),
}
NUMERIC = {
    "latency": ("threads", "init_ms", "first_ms", "warmup_ms", "mean_ms", "median_ms", "p5_ms", "p90_ms", "p95_ms",
                "std_ms", "runs", "delegated_ops", "total_ops", "partitions"),
    "quality": ("images", "miou", "dice", "pixel_accuracy"),
    "power": ("idle_mw", "run_mw", "energy_mj_per_inference", "samples", "temp_start_c", "temp_end_c",
              "window_start", "window_end"),
    "summary": ("size_kb", "threads", "median_ms", "p90_ms", "spread", "latency_vs_float32", "miou",
                "miou_delta_vs_float32", "energy_mj_per_inference", "delegated_ops", "total_ops", "partitions"),
    "ops": ("count", "first_ms", "avg_ms", "percent", "cdf_percent"),
    "power_trace": ("t_s", "power_mw", "battery_c"),
    "per_class": ("iou", "iou_delta_vs_float32"),
}

#: A latency row is ``noisy`` when its p90 (p95 where the runner gives no p90) exceeds the
#: median by more than this factor: a busy or throttling machine, not the model.
NOISY_SPREAD = 1.3

STATUSES = ("ok", "fallback", "failed", "charging")

#: How a column is shown in text tables and HTML (CSV keeps full precision).
FORMATS = {
    "miou": "{:.4f}", "dice": "{:.4f}", "pixel_accuracy": "{:.4f}", "iou": "{:.4f}",
    "miou_delta_vs_float32": "{:+.4f}", "iou_delta_vs_float32": "{:+.4f}",
    "size_kb": "{:,.0f}", "latency_vs_float32": "{:.2f}x", "spread": "{:.2f}",
    "energy_mj_per_inference": "{:.3f}", "idle_mw": "{:.0f}", "run_mw": "{:.0f}",
}


def class_column(name: str) -> str:
    """The quality.csv column of a class: ``iou_`` + its name, unchanged (NFC form)."""
    return QUALITY_CLASS_PREFIX + unicodedata.normalize("NFC", str(name))


def column_class(column: str) -> str:
    """The class name of a per-class column (the inverse of :func:`class_column`)."""
    return column[len(QUALITY_CLASS_PREFIX):]


def quality_columns(class_names) -> tuple[str, ...]:
    """The quality.csv header for these classes; two classes with one name are an error
    (one column would hold both and a value would be lost)."""
    from ..errors import ReportError  # noqa: PLC0415

    columns = tuple(class_column(c) for c in class_names)
    if len(set(columns)) < len(columns):
        twice = next(column_class(c) for c in columns if columns.count(c) > 1)
        raise ReportError(f"the class name {twice!r} appears twice in {list(class_names)}: a report keeps one IoU "
                          "column per class name; give every class its own name")
    return QUALITY_COLUMNS + columns


def column_format(column: str) -> str | None:
    if column in FORMATS:
        return FORMATS[column]
    if column.startswith(QUALITY_CLASS_PREFIX):
        return "{:.4f}"
    if column.endswith("_ms"):
        return "{:.2f}"
    return None
