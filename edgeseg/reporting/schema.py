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
#: `edgeseg eval --device` rows (one per artifact x delegate, and the host's on the same
#: frames) add these after the fixed ones: ``where`` device or host; the mIoU change, the
#: fraction of pixels whose class is the host's, the max and mean absolute difference of the
#: dequantized outputs, all against the host; ``status`` (edgeseg.device.evaluate.device_status):
#: ok; numerics-differ (agreement < 0.99 with |mIoU delta| <= 0.01, quality kept: a warning);
#: diverged (|mIoU delta| > 0.01, quality lost or changed, or NaN/inf outputs); unsupported;
#: failed (the runner's last error; ``frames``: those it finished); ``reason`` why.
QUALITY_DEVICE_COLUMNS = (
    "where",
    "device",
    "delegate",
    "frames",
    "miou_delta_vs_host",
    "argmax_agreement",
    "max_abs_diff",
    "mean_abs_diff",
    "seconds",
    "status",
    "reason",
    "first_bad_op",
)
EVAL_STATUSES = ("ok", "numerics-differ", "diverged", "unsupported", "failed")

#: ``device`` is the device's model (a sweep over several devices: its profile's label);
#: ``serial``, ``model`` and ``soc`` say which device it was (empty on the host).
#: A ``--sustained`` row is its window 1's figures plus :data:`SUSTAINED_VERDICT_COLUMNS`;
#: ``cooldown_s`` / ``cooldown_from_c``: the seconds waited before the row and the hottest zone's
#: temperature when the wait began (``--cooldown``, or a power row's wait while the hottest zone
#: is above the profile's ``thermal.cooldown_above_c``; the row's note says which).
#: ``repeats`` / ``repeat_medians_ms`` (``bench --repeat K``): how many repeats were measured and
#: each one's median (ms, ';'-separated); ``median_ms`` is then their median.
#: ``host_load_1m`` / ``host_cores`` (host rows): the host's 1-minute load average when the row
#: started and its cores; a busy host (edgeseg.host.busy_host) makes the row ``noisy``.
#: ``gmac_per_s`` / ``peak_gmac_per_s`` (host rows): the artifact's MACs over its median, and
#: this CPU's peak for the recipe's arithmetic on the row's threads (edgeseg.host.peak_gmacs:
#: cores x MACs per cycle of its widest instructions x clock).
LATENCY_COLUMNS = (
    "artifact",
    "recipe",
    "device",
    "delegate",
    "serial",
    "model",
    "soc",
    "threads",
    "init_ms",
    "first_ms",
    "warmup_ms",
    "mean_ms",
    "median_ms",
    "p5_ms",
    "p90_ms",
    "p95_ms",
    "std_ms",
    "runs",
    "delegated_ops",
    "total_ops",
    "partitions",
    "status",
    "error",
    "runner",
    "note",
    "repeats",
    "repeat_medians_ms",
    "host_load_1m",
    "host_cores",
    "gmac_per_s",
    "peak_gmac_per_s",
    "sustained_median_ms",
    "sustained_change",
    "throttling",
    "throttling_onset_window",
    "throttling_evidence",
    "cooldown_s",
    "cooldown_from_c",
    "run_id",
)

#: A sustained row's verdict (edgeseg.device.sustained.throttling_verdict): the median of the
#: last third of its windows' medians, its change against the first third's (a fraction),
#: ``throttling`` throttled / drift / steady / unknown, the first window of the sustained shift, and
#: what changed on the phone (CPU frequency, hottest zone, battery) or why there is no verdict.
SUSTAINED_VERDICT_COLUMNS = (
    "sustained_median_ms",
    "sustained_change",
    "throttling",
    "throttling_onset_window",
    "throttling_evidence",
)

#: sustained.csv: one row per window of a ``--sustained`` row; ``t_start_s`` / ``t_end_s`` from
#: the row's start on the device's boot clock (``clock`` device), else the host's (``host``);
#: ``zone_max_c`` (hottest thermal zone), ``battery_c`` and ``cpu_max_mhz`` (the highest
#: current CPU frequency) read at the end of the window.
SUSTAINED_COLUMNS = (
    "artifact",
    "device",
    "delegate",
    "window",
    "t_start_s",
    "t_end_s",
    "clock",
    "median_ms",
    "p90_ms",
    "p95_ms",
    "std_ms",
    "runs",
    "zone_max_c",
    "battery_c",
    "cpu_max_mhz",
    "status",
    "error",
    "run_id",
)

#: ``energy_source`` is the source the energy came from (rails, hal, battery) and
#: ``source_note`` why the sources preferred to it were not used; a row for which no source
#: gave samples has ``status`` failed and the reasons in ``error``; a row measured while the
#: phone charged has ``status`` charging and no energy (with --allow-charging: its energy,
#: ``charging`` true); a row whose uncertainty the data cannot bound (a gauge with fewer than 3
#: updates in a window) has ``status`` uncertain, no energy, and in ``error`` how many updates each
#: window had and what idle_secs / --min-secs give enough. ``energy_mj_err`` is one standard
#: uncertainty of the energy, +-2 err a 95% interval (the gauge's updates, their spread and
#: correlation, resolution, trend and window edges; counter resolution and timing).
#: ``gauge_samples_idle``/``_run``: the sampler's gauge readings strictly inside each window;
#: ``gauge_updates_idle``/``_run``: the gauge's updates among them that each window's mean uses (a
#: held reading read many times is one); ``gauge_update_s``: how often the gauge updates (s; empty
#: when its reading changed fewer than twice); ``counter_readings_idle``/``_run``: the chosen
#: counter source's readings in each (empty when the gauge was used). ``window`` says which
#: window was integrated (``timed runs``, or ``unknown``: then no energy), ``window_start_s`` /
#: ``window_end_s`` its edges on the device's boot clock (s). ``run_id``: the report folder.
POWER_COLUMNS = (
    "artifact",
    "device",
    "delegate",
    "idle_mw",
    "run_mw",
    "energy_mj_per_inference",
    "energy_mj_err",
    "energy_source",
    "gauge_samples_idle",
    "gauge_samples_run",
    "gauge_updates_idle",
    "gauge_updates_run",
    "gauge_update_s",
    "counter_readings_idle",
    "counter_readings_run",
    "charging",
    "temp_start_c",
    "temp_end_c",
    "zone_start_c",
    "zone_end_c",
    "window",
    "window_start_s",
    "window_end_s",
    "repeats",
    "repeat_energies_mj",
    "status",
    "error",
    "source_note",
    "note",
    "run_id",
)

#: ``phase``: idle, init (model load and delegate init), warmup, timed, exit, or ``process``
#: where the runner could not tell them apart; ``zone_c`` the hottest thermal zone, ``cpu_mhz``
#: the highest CPU frequency at the sample.
POWER_TRACE_COLUMNS = ("run_id", "artifact", "delegate", "t_s", "power_mw", "battery_c", "zone_c", "cpu_mhz", "phase")

#: ``table`` node_type: one row per op type (benchmark_model's "Summary by node type"), or
#: run_order: one row per node in execution order ("Run Order", with the node's ``name``).
OPS_COLUMNS = (
    "artifact",
    "device",
    "delegate",
    "table",
    "node_type",
    "name",
    "count",
    "first_ms",
    "avg_ms",
    "percent",
    "cdf_percent",
)

#: One row per (artifact, class): the class's IoU and its change against the float32
#: artifact of the same model (fractions), ``zero`` when the class is never predicted right.
CLASS_COLUMNS = ("artifact", "recipe", "dataset", "split", "class", "iou", "iou_delta_vs_float32", "zero")

SUMMARY_COLUMNS = (
    "artifact",
    "recipe",
    "size_kb",
    "device",
    "delegate",
    "threads",
    "median_ms",
    "p90_ms",
    "spread",
    "spread_of",
    "noisy",
    "latency_vs_float32",
    "miou",
    "miou_delta_vs_float32",
    "zero_iou_classes",
    "energy_mj_per_inference",
    "energy_mj_err",
    "power_status",
    "charging",
    "delegated_ops",
    "total_ops",
    "partitions",
    *SUSTAINED_VERDICT_COLUMNS,
    "status",
    "error",
    "run_id",
)

#: `edgeseg numerics` (numerics.csv): one row per tensor of the artifact's graph per run compared,
#: in execution order. ``comparison``: ``quantization`` (the host artifact against the float
#: reference; ``where`` host, ``delegate`` the host's xnnpack) or ``delegate`` (a device delegate
#: against the host running the same debug copy on the same input bytes); ``depth``: the position
#: of the op that produces the tensor in execution order; ``match``: how the tensor was paired
#: with the reference's (name, position, same: the same file); ``partition``: which XNNPACK
#: partition ran the op on the host (``xnnpack:K``) or ``cpu``, empty where the device does not say;
#: ``delegation``: the run's delegated ops and partitions as its runtime said them; ``max_abs_diff``,
#: ``cosine``, ``snr_db`` (edgeseg.runtime.numerics; ``snr_db`` empty when ``identical``); ``status``
#: ok, bad (crosses ``threshold``), unmatched, unsupported or failed (``reason``); ``first_bad``:
#: the first bad tensor of its run.
NUMERICS_COLUMNS = (
    "artifact",
    "artifact_sha256",
    "reference",
    "comparison",
    "where",
    "device",
    "delegate",
    "depth",
    "tensor",
    "op",
    "shape",
    "dtype",
    "match",
    "partition",
    "delegation",
    "frames",
    "max_abs_diff",
    "cosine",
    "snr_db",
    "identical",
    "threshold",
    "status",
    "first_bad",
    "reason",
    "run_id",
)
NUMERICS_STATUSES = ("ok", "bad", "unmatched", "unsupported", "failed")

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
    "sustained": ("artifact", "delegate", "window", "median_ms"),
    "numerics": ("artifact", "artifact_sha256", "comparison", "delegate", "tensor", "status", "first_bad"),
}
NUMERIC = {
    "latency": (
        "threads",
        "init_ms",
        "first_ms",
        "warmup_ms",
        "mean_ms",
        "median_ms",
        "p5_ms",
        "p90_ms",
        "p95_ms",
        "std_ms",
        "runs",
        "delegated_ops",
        "total_ops",
        "partitions",
        "sustained_median_ms",
        "sustained_change",
        "throttling_onset_window",
        "cooldown_s",
        "cooldown_from_c",
        "repeats",
        "host_load_1m",
        "host_cores",
        "gmac_per_s",
        "peak_gmac_per_s",
    ),
    "quality": (
        "images",
        "miou",
        "dice",
        "pixel_accuracy",
        "frames",
        "miou_delta_vs_host",
        "argmax_agreement",
        "max_abs_diff",
        "mean_abs_diff",
        "seconds",
    ),
    "power": (
        "idle_mw",
        "run_mw",
        "energy_mj_per_inference",
        "energy_mj_err",
        "gauge_samples_idle",
        "gauge_samples_run",
        "counter_readings_idle",
        "counter_readings_run",
        "temp_start_c",
        "temp_end_c",
        "zone_start_c",
        "zone_end_c",
        "window_start_s",
        "window_end_s",
        "repeats",
    ),
    "summary": (
        "size_kb",
        "threads",
        "median_ms",
        "p90_ms",
        "spread",
        "latency_vs_float32",
        "miou",
        "miou_delta_vs_float32",
        "energy_mj_per_inference",
        "energy_mj_err",
        "delegated_ops",
        "total_ops",
        "partitions",
        "sustained_median_ms",
        "sustained_change",
        "throttling_onset_window",
    ),
    "ops": ("count", "first_ms", "avg_ms", "percent", "cdf_percent"),
    "power_trace": ("t_s", "power_mw", "battery_c", "zone_c", "cpu_mhz"),
    "per_class": ("iou", "iou_delta_vs_float32"),
    "numerics": ("depth", "frames", "max_abs_diff", "cosine", "snr_db"),
    "sustained": (
        "window",
        "t_start_s",
        "t_end_s",
        "median_ms",
        "p90_ms",
        "p95_ms",
        "std_ms",
        "runs",
        "zone_max_c",
        "battery_c",
        "cpu_max_mhz",
    ),
}

#: A latency row is ``noisy`` when its p90 (p95 where the runner gives no p90) exceeds the
#: median by more than this factor: a busy or throttling machine, not the model.
NOISY_SPREAD = 1.3

STATUSES = ("ok", "fallback", "failed", "charging", "uncertain")

#: How a column is shown in text tables and HTML (CSV keeps full precision).
FORMATS = {
    "miou": "{:.4f}",
    "dice": "{:.4f}",
    "pixel_accuracy": "{:.4f}",
    "iou": "{:.4f}",
    "miou_delta_vs_float32": "{:+.4f}",
    "iou_delta_vs_float32": "{:+.4f}",
    "miou_delta_vs_host": "{:+.4f}",
    "argmax_agreement": "{:.4f}",
    "max_abs_diff": "{:.3g}",
    "mean_abs_diff": "{:.3g}",
    "seconds": "{:.1f}",
    "size_kb": "{:,.0f}",
    "latency_vs_float32": "{:.2f}x",
    "spread": "{:.2f}",
    "energy_mj_per_inference": "{:.3f}",
    "energy_mj_err": "{:.3f}",
    "idle_mw": "{:.0f}",
    "run_mw": "{:.0f}",
    "sustained_change": "{:+.1%}",
    "cooldown_s": "{:.0f}",
    "cooldown_from_c": "{:.1f}",
    "zone_max_c": "{:.1f}",
    "battery_c": "{:.1f}",
    "cpu_max_mhz": "{:.0f}",
    "t_start_s": "{:.1f}",
    "t_end_s": "{:.1f}",
}


def class_column(name: str) -> str:
    """The quality.csv column of a class: ``iou_`` + its name, unchanged (NFC form)."""
    return QUALITY_CLASS_PREFIX + unicodedata.normalize("NFC", str(name))


def column_class(column: str) -> str:
    """The class name of a per-class column (the inverse of :func:`class_column`)."""
    return column[len(QUALITY_CLASS_PREFIX) :]


def quality_columns(class_names, device: bool = False) -> tuple[str, ...]:
    """The quality.csv header for these classes; two classes with one name are an error
    (one column would hold both and a value would be lost)."""
    from ..errors import ReportError

    columns = tuple(class_column(c) for c in class_names)
    if len(set(columns)) < len(columns):
        twice = next(column_class(c) for c in columns if columns.count(c) > 1)
        raise ReportError(
            f"the class name {twice!r} appears twice in {list(class_names)}: a report keeps one IoU "
            "column per class name; give every class its own name"
        )
    return QUALITY_COLUMNS + (QUALITY_DEVICE_COLUMNS if device else ()) + columns


def column_format(column: str) -> str | None:
    if column in FORMATS:
        return FORMATS[column]
    if column.startswith(QUALITY_CLASS_PREFIX):
        return "{:.4f}"
    if column.endswith("_ms"):
        return "{:.2f}"
    return None
