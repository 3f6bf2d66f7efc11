"""`edgeseg bench` (measure, then write its report folder), `edgeseg report` (merge, or
`--compare` as a gate) and `edgeseg select` as functions: configs, typed results and the work.
Bench lives here, not in the device layer, because it writes a report (this layer) from what
the device layer measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import option
from ..device.commands import EvalConfig, EvalResult
from ..device.config import BenchConfig, check_delegates
from ..errors import UsageError
from ..results import Result, Say, _pick, _quiet


@dataclass(frozen=True)
class BenchResult(Result):
    rows: list
    power: list
    report: str | None
    failed: list
    failed_power: list
    conditions: str | None
    noisy: list
    devices: list | None = None  # per device of the sweep: label, profile, serial, model, soc, status (ok, lost), error
    lost: list | None = None  # the devices of ``devices`` that were lost or never reached
    sustained: list | None = None  # --sustained: one record per window of each row (sustained.csv)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.failed_power and not self.lost

    def failure_summary(self) -> str | None:
        """One line naming the lost devices and the failed rows, or None when every row is measured."""
        if self.ok:
            return None
        several = len(self.devices or []) > 1
        what = [
            f"device {d['label']}" + (f" ({d['serial']})" if d.get("serial") else "") + f" was lost: {d['error']}"
            for d in self.lost or []
            if several
        ]
        if self.failed:
            what.append(
                f"{len(self.failed)} of {len(self.rows)} row(s) failed ("
                + ", ".join(
                    f"{r['artifact']}/{r['delegate']}" + (f" on {r['device']}" if several else "")
                    for r in self.failed[:6]
                )
                + (", ..." if len(self.failed) > 6 else "")
                + ")"
            )
        if self.failed_power:
            what.append(
                f"{len(self.failed_power)} of {len(self.power)} power row(s) gave no energy (failed or uncertain)"
            )
        return "; ".join(what) + ("; the report was written" if self.report else "")


def bench(
    config: BenchConfig, *, say: Say = _quiet, on_row: Callable[[dict], None] | None = None, progress_factory=None
) -> BenchResult:
    """Latency (and on devices power and energy) of each artifact, one row per delegate; a
    failed combination is a row, never an aborted sweep. Writes one report folder."""
    from ..artifact import artifact_sizes, check_tflite_file, quality_from_manifests
    from ..fileio import REPORT_MIN_FREE, check_writable_output
    from ..version import __version__
    from .tables import (
        describe_conditions,
        host_environment,
        latency_spread,
        load_average,
        noisy_row,
        write_report,
    )

    c = config
    paths = [check_tflite_file(a) for a in c.artifacts]
    if c.write_report:
        check_writable_output(c.reports, "--reports", kind="folder", min_free=REPORT_MIN_FREE)  # before the sweep
    load_before = load_average()
    from ..device.fleet import bench_sweep

    sweep = bench_sweep(c, paths, say, progress_factory, on_row=on_row)  # the host is one target of it
    rows, power_rows, ops, trace, device_info = (sweep[k] for k in ("latency", "power", "ops", "trace", "device"))
    windows = sweep.get("sustained") or []
    delegates, started_server, devices = sweep["delegates"], sweep["started"], sweep["devices"]
    threads = sweep.get("threads", c.threads)
    bench_info = {
        "threads": threads,
        "runs": c.runs,
        "min_secs": c.min_secs,
        "repeat": c.repeat,
        "delegates": list(delegates),
        "load_before": load_before,
        "load_after": load_average(),
    }
    if c.sustained:
        from ..device.sustained import window_count

        bench_info["sustained"] = {
            "duration_s": c.sustained,
            "window_s": c.window,
            "windows": window_count(c.sustained, c.window),
        }
    if c.cooldown:
        bench_info["cooldown"] = True
    report = None
    if c.write_report:
        report = write_report(
            c.reports,
            c.report_name or f"bench_{device_info.get('profile', 'host')}",
            rows,
            quality_from_manifests(paths),
            power=power_rows,
            ops=ops,
            trace=trace,
            sizes=artifact_sizes(paths),
            sustained=windows,
            extra=_sustained_plot(windows),
            run_info={
                "command": c.command or f"edgeseg.bench({c.artifacts!r}, device={c.device!r})",
                "device": device_info,
                "bench": bench_info,
                "runner_version": f"edgeseg {__version__}",
                **(c.run_info or {}),
            },
        )
    conditions = describe_conditions({"host": host_environment(), "bench": bench_info}) if c.device == "host" else None
    data = {
        "rows": rows,
        "power": power_rows,
        "ops": ops,
        "report": str(report) if report else None,
        "sustained": windows,
        "device": device_info,
        "bench": bench_info,
        "started_adb_server": started_server,
        "devices": devices,
        "lost": [d for d in devices if d["status"] != "ok"],
        "failed": [r for r in rows if r.get("status") == "failed"],
        # a power row whose energy is not given: failed, or uncertain (too few gauge updates to bound it)
        "failed_power": [r for r in power_rows if r.get("status") in ("failed", "uncertain")],
        "conditions": conditions,
        "noisy": [r for r in rows if noisy_row(r, latency_spread(r))],
    }
    return _pick(BenchResult, data)


def _sustained_plot(windows: list):
    """The report's ``extra``: sustained.png when the sweep has sustained windows."""
    if not windows:
        return None

    def extra(folder):
        from .plots import sustained_plot

        sustained_plot(windows, Path(folder) / "sustained.png")

    return extra


@dataclass(frozen=True)
class ReportConfig:
    folders: tuple[str, ...]
    reports: str = option("reports", "Where the merged report folder is created.")
    html: bool = option(False, "Also write one self-contained report.html.")

    def __post_init__(self):
        if isinstance(self.folders, (str, Path)):
            object.__setattr__(self, "folders", (str(self.folders),))
        if not self.folders:
            raise UsageError("name at least one report folder")


@dataclass(frozen=True)
class ReportResult(Result):
    report: str
    summary: list
    notes: list
    conditions: list
    files: list


def report(config: ReportConfig) -> ReportResult:
    """Merge report folders (or folders of them) into one new report folder: summary,
    plots, and with ``html`` a self-contained report.html."""
    from ..fileio import REPORT_MIN_FREE, check_writable_output
    from .compose import compose

    check_writable_output(config.reports, "--reports", kind="folder", min_free=REPORT_MIN_FREE)
    return _pick(ReportResult, compose(list(config.folders), config.reports, config.html))


@dataclass(frozen=True)
class CompareConfig:
    """A regression gate: report folder ``new`` against ``base`` per (artifact, device,
    delegate); ``fail_if`` rules (edgeseg.reporting.compare) make the result not ok."""

    base: str
    new: str
    fail_if: tuple[str, ...] = ()
    #: what a rule whose outcome the data cannot decide does to the gate: "fail" (the default:
    #: a gate never passes what it cannot judge) or "pass"
    inconclusive: str = "fail"

    def __post_init__(self):
        from .compare import INCONCLUSIVE, parse_rule

        if self.inconclusive not in INCONCLUSIVE:
            raise UsageError(
                f"inconclusive must be 'fail' or 'pass', got {self.inconclusive!r}", param="--inconclusive"
            )

        object.__setattr__(self, "fail_if", (self.fail_if,) if isinstance(self.fail_if, str) else tuple(self.fail_if))
        for rule in self.fail_if:
            parse_rule(rule)
        for name in ("base", "new"):
            if not Path(getattr(self, name)).is_dir():
                raise UsageError(f"{getattr(self, name)} is not a report folder", param="--compare")


@dataclass(frozen=True)
class CompareResult(Result):
    rows: list
    breaches: list
    notes: list
    inconclusive: list  # rule outcomes the data could not decide (breaches too unless inconclusive="pass")

    @property
    def ok(self) -> bool:
        return not self.breaches


def compare(config: CompareConfig) -> CompareResult:
    """Median latency, energy per inference, host and device mIoU of ``new`` against
    ``base``, each change an interval (repeat medians by a rank test, else each median's
    uncertainty); the breaches of the rules, inconclusive outcomes among them unless
    ``inconclusive="pass"``."""
    from .compare import compare_reports

    return _pick(
        CompareResult, compare_reports(config.base, config.new, config.fail_if, inconclusive=config.inconclusive)
    )


@dataclass(frozen=True)
class SelectConfig:
    artifact: str
    device: str = option(
        None,
        "'host', a device profile name, the device model or serial in the reports, or 'all': "
        "one choice per device in the reports.",
        required=True,
    )
    budget_ms: float = option(None, "Latency budget: median ms per inference.", min=0, min_open=True, required=True)
    energy_budget_mj: float | None = option(
        None, "Energy budget: mJ per inference (device rows).", min=0, min_open=True
    )
    delegate: str | None = option(None, "Consider this delegate only (default: every measured one).")
    reports: str = option(
        "reports", "A report folder, or the folder of report folders written by `edgeseg bench`.", flag="--report"
    )

    def __post_init__(self):
        for name in ("budget_ms", "energy_budget_mj"):
            v = getattr(self, name)
            if v is not None and not (0 < float(v) < float("inf")):  # also refuses nan
                raise UsageError(
                    f"--{name.replace('_', '-')} must be a positive finite number, got {v}",
                    param="--" + name.replace("_", "-"),
                )


@dataclass(frozen=True)
class SelectResult(Result):
    """``chosen`` and ``rows`` on the named device; with ``device='all'``, ``devices`` holds
    one entry per device (device, chosen, rows, reports, why_not), ``chosen`` is None and
    ``rows`` every device's rows."""

    chosen: dict | None
    rows: list
    reports: list
    devices: list | None = None

    @property
    def ok(self) -> bool:
        """Something fits: on the named device, or with ``all`` on every device."""
        return all(d["chosen"] for d in self.devices) if self.devices is not None else bool(self.chosen)

    def no_fit_message(self) -> str:
        from .select import no_fit_message

        if self.devices is None:
            return no_fit_message(self.rows)
        return "; ".join(f"on {d['device']}: {d['why_not']}" for d in self.devices if not d["chosen"])


def select(config: SelectConfig) -> SelectResult:
    """The best-quality measured configuration of an artifact that fits the budget, on the
    named device or (``device='all'``) on each device in the reports."""
    from .select import select as run_select

    c = config
    return _pick(SelectResult, run_select(c.artifact, c.device, c.budget_ms, c.energy_budget_mj, c.reports, c.delegate))


# -- eval: on the host, or on a device per delegate against the host (a report folder) ----------


def evaluate(config: EvalConfig, *, progress=None, say: Say = _quiet) -> EvalResult:
    """Quality of an artifact (LiteRT interpreter) or a run (Keras) at label resolution; with
    ``device``, of the artifact on the device per delegate, against the host on the same frames."""
    from ..runtime.evaluate import evaluate as run_evaluate

    c = config
    if c.device is not None:
        return _evaluate_device(c, say, progress)
    res = run_evaluate(
        c.target,
        c.data,
        c.split,
        limit=c.limit,
        threads=c.threads,
        skip_bad=c.skip_bad,
        progress=progress,
        signature=c.signature,
        record=c.record,
        classes_from=c.classes_from,
    )
    return _pick(EvalResult, dict(res))


def _evaluate_device(c: EvalConfig, say: Say, progress) -> EvalResult:
    from ..artifact import check_tflite_file
    from ..device.evaluate import AGREEMENT_BOUND, MIOU_BOUND, evaluate_artifact_on_device
    from ..device.profiles import load_profile
    from ..device.runners import default_delegates
    from ..fileio import REPORT_MIN_FREE, check_writable_output
    from ..version import __version__
    from .plots import eval_figures
    from .tables import write_report

    path = check_tflite_file(c.target)
    profile = load_profile(c.device_name)
    delegates = (
        check_delegates(c.delegates, profile.delegates, f"profile '{profile.name}'")
        if c.delegates
        else default_delegates(profile, [path])
    )
    check_writable_output(c.reports, "--reports", kind="folder", min_free=REPORT_MIN_FREE)
    with c.device_config().session() as s:
        res = evaluate_artifact_on_device(
            s,
            path,
            c.data,
            c.split,
            c.frames,
            delegates,
            c.threads,
            c.skip_bad,
            c.signature,
            c.classes_from,
            c.benchmark_binary,
            say,
            progress,
        )
    # a diverged / numerics-differ row names its delegate's first bad op when a numerics.csv of the
    # same file on the same device is in the reports folder (edgeseg.reporting.numerics)
    from ..artifact import sha256_file
    from .numerics import join_first_bad

    res["rows"] = join_first_bad(res["rows"], c.reports, sha256_file(path))
    rows = [{k: v for k, v in r.items() if k != "frame_agreement"} for r in res["rows"]]
    # numerics-differ: agreement below the first with |mIoU delta| within the second (quality kept);
    # diverged: |mIoU delta| beyond the second, or NaN/inf outputs (edgeseg.device.evaluate.device_status)
    bounds = {"argmax_agreement_below": AGREEMENT_BOUND, "miou_delta_beyond": MIOU_BOUND}
    run_info = {
        "command": c.command or f"edgeseg.evaluate({c.target!r}, device={c.device_name!r})",
        "device": res["device"],
        "runner_version": f"edgeseg {__version__}",
        "eval": {"delegates": list(delegates), "frames": res["frames"], "split": c.split, "status_bounds": bounds},
    }
    report = write_report(
        c.reports, f"eval_{profile.name}", [], rows, run_info=run_info, extra=lambda folder: eval_figures(folder, res)
    )
    host = next(r for r in rows if r["where"] == "host")
    data = {
        **{k: host.get(k) for k in ("miou", "per_class_iou", "dice", "pixel_accuracy")},
        "artifact": res["artifact"],
        "dataset": res["dataset"],
        "split": c.split,
        "images": host.get("frames"),
        "rows": rows,
        "report": str(report),
        "device": res["device"],
        "status_bounds": bounds,
        "fail_on_numerics": c.fail_on_numerics,
    }
    return _pick(EvalResult, data)
