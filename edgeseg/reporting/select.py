"""`edgeseg select`: from measured rows, the best-quality configuration of an artifact that
fits a latency budget (and an energy budget) on one device.

The rows are the summary rows of the bench reports (one per configuration x delegate for a
multi-signature PTA artifact); quality is the host-evaluated mIoU recorded in the
artifact's manifest by `edgeseg eval` (the exact artifact, per signature). :func:`choose`
is the rule and works on any list of rows, so it is tested on a given table.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ReportError
from .tables import _num, read_report

SELECT_VIEW = ["artifact", "delegate", "median_ms", "energy_mj_per_inference", "miou", "status", "fits", "why_not"]


def choose(rows: list[dict], budget_ms: float, energy_budget_mj: float | None = None) -> dict:
    """Mark each row ``fits`` (with ``why_not`` when it does not) and return
    ``{"chosen": row or None, "rows": rows}``: the highest mIoU among the rows within the
    latency budget (and the energy budget when given); ties go to the faster row.

    A row without a latency, without quality, that failed, or (with an energy budget)
    without an energy figure, or with energy measured while charging, never fits."""
    if budget_ms <= 0:
        raise ReportError(f"--budget-ms must be positive, not {budget_ms}")
    marked = []
    for r in rows:
        why = []
        if r.get("status") == "failed":
            why.append("failed")
        if not _num(r.get("median_ms")):
            why.append("no latency")
        elif float(r["median_ms"]) > budget_ms:
            why.append(f"{float(r['median_ms']):.2f} ms > {budget_ms:g} ms")
        if energy_budget_mj is not None:
            if str(r.get("status")) == "charging" or str(r.get("charging")).lower() == "true":
                why.append("energy measured while charging")
            elif not _num(r.get("energy_mj_per_inference")):
                why.append("no energy measured")
            elif float(r["energy_mj_per_inference"]) > energy_budget_mj:
                why.append(f"{float(r['energy_mj_per_inference']):.2f} mJ > {energy_budget_mj:g} mJ")
        if not _num(r.get("miou")):
            why.append("no quality (run `edgeseg eval ARTIFACT --data DATASET`)")
        marked.append({**r, "fits": not why, "why_not": "; ".join(why) or None})
    fitting = [r for r in marked if r["fits"]]
    chosen = max(fitting, key=lambda r: (float(r["miou"]), -float(r["median_ms"]))) if fitting else None
    return {"chosen": chosen, "rows": marked}


def _report_folders(root: Path) -> list[Path]:
    if (root / "summary.csv").is_file() or (root / "latency.csv").is_file():
        return [root]
    if not root.is_dir():
        raise ReportError(f"{root} does not exist; run `edgeseg bench ARTIFACT --device NAME` first")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and ((p / "summary.csv").is_file() or (p / "latency.csv").is_file()))


def measured_rows(artifact: str | Path, device: str, reports: str | Path = "reports",
                  delegate: str | None = None) -> tuple[list[dict], list[str]]:
    """Summary rows of ``artifact`` (every signature) measured on ``device`` (a profile name,
    the device model, or ``host``) in the report folders under ``reports``. Where several
    reports measured the same configuration and delegate, the newest (folder names start
    with the UTC time) wins. Quality comes from the artifact's manifest when it has it."""
    from ..artifact import quality_from_manifests  # noqa: PLC0415
    from ..artifact import check_tflite_file, split_label  # noqa: PLC0415

    artifact = check_tflite_file(artifact)
    stem = artifact.stem
    wanted = device.strip().lower()
    by_key, used = {}, []
    for folder in _report_folders(Path(reports)):
        rep = read_report(folder)
        dev = rep["run"].get("device") or {}
        names = {str(dev.get(k, "")).lower() for k in ("profile", "model", "name", "serial")} - {""}
        rows = [r for r in rep["summary"] if split_label(r.get("artifact", ""))[0] == stem
                and (wanted in names or str(r.get("device", "")).lower() == wanted)
                and (delegate is None or r.get("delegate") == delegate)]
        if rows:
            used.append(str(folder))
        charging = {(p.get("artifact"), p.get("delegate")): p.get("charging") for p in rep["power"]}
        for r in rows:
            by_key[(r["artifact"], r.get("delegate"))] = {**r, "charging": charging.get((r["artifact"], r.get("delegate")))}
    if not by_key:
        raise ReportError(f"no measured rows for {stem} on '{device}' in {reports}; run "
                          f"`edgeseg bench {artifact} --device {device}` first")
    quality = {q["artifact"]: q for q in quality_from_manifests([artifact])}
    rows = []
    for (label, _), r in sorted(by_key.items()):
        q = quality.get(label)
        if q and _num(q.get("miou")):
            r = {**r, "miou": q["miou"], "quality_source": f"manifest ({q.get('dataset')}:{q.get('split')})"}
        else:
            r = {**r, "quality_source": "report" if _num(r.get("miou")) else None}
        rows.append(r)
    return rows, used


def select(artifact: str | Path, device: str, budget_ms: float, energy_budget_mj: float | None = None,
           reports: str | Path = "reports", delegate: str | None = None) -> dict:
    rows, used = measured_rows(artifact, device, reports, delegate)
    res = choose(rows, budget_ms, energy_budget_mj)
    return {**res, "reports": used, "budget_ms": budget_ms, "energy_budget_mj": energy_budget_mj, "device": device}
