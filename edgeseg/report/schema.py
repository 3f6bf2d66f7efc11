"""Column lists of every CSV edgeseg writes. Readers and writers both use these."""

from __future__ import annotations

import re

QUALITY_COLUMNS = ("artifact", "recipe", "dataset", "split", "images", "miou", "dice", "pixel_accuracy", "backend")
#: Per-class IoU columns follow the fixed ones, one per class: ``iou_<class name>``.
QUALITY_CLASS_PREFIX = "iou_"

LATENCY_COLUMNS = (
    "artifact", "recipe", "device", "delegate", "threads", "init_ms", "first_ms", "warmup_ms", "mean_ms",
    "median_ms", "p90_ms", "std_ms", "runs", "delegated_ops", "total_ops", "partitions", "status", "error", "runner",
)

POWER_COLUMNS = (
    "artifact", "device", "delegate", "idle_mw", "run_mw", "energy_mj_per_inference", "energy_source",
    "samples", "source", "charging", "temp_start_c", "temp_end_c", "window_start", "window_end",
)

POWER_TRACE_COLUMNS = ("artifact", "delegate", "t_s", "power_mw", "battery_c", "phase")

OPS_COLUMNS = ("artifact", "device", "delegate", "node_type", "count", "avg_ms", "percent", "cdf_percent")

SUMMARY_COLUMNS = (
    "artifact", "recipe", "size_kb", "device", "delegate", "threads", "median_ms", "p90_ms", "latency_vs_float32",
    "miou", "miou_delta_vs_float32", "energy_mj_per_inference", "delegated_ops", "total_ops", "partitions",
    "status", "error",
)

STATUSES = ("ok", "fallback", "failed", "charging")


def class_column(name: str) -> str:
    return QUALITY_CLASS_PREFIX + re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()


def quality_columns(class_names) -> tuple[str, ...]:
    return QUALITY_COLUMNS + tuple(class_column(c) for c in class_names)
