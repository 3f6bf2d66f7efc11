"""`edgeseg report`: merge report folders into one new folder with the summary, plots and
(optionally) a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from ..fileio import atomic_write_csv, atomic_write_json, atomic_write_text
from . import plots
from .schema import LATENCY_COLUMNS, POWER_COLUMNS, SUMMARY_COLUMNS
from .tables import ReportFolder, merge_reports, utc_stamp

SUMMARY_VIEW = ["artifact", "device", "delegate", "median_ms", "latency_vs_float32", "miou", "miou_delta_vs_float32",
                "energy_mj_per_inference", "delegated_ops", "total_ops", "partitions", "status"]


def compose(folders: list[str | Path], reports_root: str | Path = "reports", with_html: bool = False) -> dict:
    merged = merge_reports(folders)
    notes = []
    if any(str(r.get("charging")).lower() == "true" for r in merged["power"]):
        notes.append("Some power rows were measured while the phone was charging: their energy is not what the "
                     "model draws (see power.csv, column charging).")
    fallback = [r for r in merged["summary"] if r.get("status") == "fallback"]
    if fallback:
        notes.append(f"{len(fallback)} row(s) ran partly or wholly on the CPU although a delegate was asked for "
                     "(status fallback): compare delegated_ops with total_ops.")
    with ReportFolder(reports_root, "report") as rep:
        atomic_write_csv(rep.path / "summary.csv", SUMMARY_COLUMNS, merged["summary"])
        if merged["latency"]:
            atomic_write_csv(rep.path / "latency.csv", LATENCY_COLUMNS, merged["latency"])
        if merged["power"]:
            atomic_write_csv(rep.path / "power.csv", POWER_COLUMNS, merged["power"])
        images = [p for p in (
            plots.latency_plot(merged["summary"], rep.path / "latency.png"),
            plots.power_trace_plot(merged["power_trace"], rep.path / "power_trace.png"),
            plots.pareto_plot(merged["summary"], rep.path / "pareto.png"),
        ) if p]
        if with_html:
            page = plots.html_page(
                "edgeseg report", [("Summary", merged["summary"], SUMMARY_VIEW),
                                   ("Power", merged["power"], ["artifact", "device", "delegate", "idle_mw", "run_mw",
                                                               "energy_mj_per_inference", "energy_source", "samples",
                                                               "charging", "temp_start_c", "temp_end_c"])],
                images, notes, merged["folders"])
            atomic_write_text(rep.path / "report.html", page)
        atomic_write_json(rep.path / "run.json", {"created": utc_stamp(), "merged_from": merged["runs"]})
    final = rep.final
    return {"report": str(final), "summary": merged["summary"], "notes": notes,
            "files": sorted(p.name for p in final.iterdir())}
