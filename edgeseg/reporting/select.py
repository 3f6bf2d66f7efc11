"""`edgeseg select`: from measured rows, the best-quality configuration of an artifact that
fits a latency budget (and an energy budget) on one device, or on each device of the reports.

The rows are the summary rows of the bench reports (one per configuration x delegate for a
multi-signature PTA artifact); quality is the host-evaluated mIoU recorded in the
artifact's manifest by `edgeseg eval` (the exact artifact, per signature). :func:`choose`
is the rule and works on any list of rows, so it is tested on a given table.
"""

from __future__ import annotations

from pathlib import Path

from ..config import is_finite_number
from ..errors import ReportError
from .tables import read_report

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
        if not is_finite_number(r.get("median_ms")):
            why.append("no latency")
        elif float(r["median_ms"]) > budget_ms:
            why.append(f"{float(r['median_ms']):.2f} ms > {budget_ms:g} ms")
        if energy_budget_mj is not None:
            if str(r.get("status")) == "charging" or str(r.get("charging")).lower() == "true":
                why.append("energy measured while charging")
            elif not is_finite_number(r.get("energy_mj_per_inference")):
                why.append("no energy measured")
            elif float(r["energy_mj_per_inference"]) > energy_budget_mj:
                why.append(f"{float(r['energy_mj_per_inference']):.2f} mJ > {energy_budget_mj:g} mJ")
        if not is_finite_number(r.get("miou")):
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
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and ((p / "summary.csv").is_file() or (p / "latency.csv").is_file())
    )


ALL_DEVICES = "all"


def _run_of(rep: dict, row: dict) -> dict:
    """The run.json that wrote ``row``: the report's own, or in a merged report (`edgeseg
    report`) the one of ``merged_from`` with the row's run_id."""
    run = rep["run"] or {}
    if isinstance(run.get("merged_from"), list):
        return next((m for m in run["merged_from"] if isinstance(m, dict) and m.get("run_id") == row.get("run_id")), {})
    return run


def _device_of(rep: dict, row: dict, latency: dict) -> tuple[str, set[str]]:
    """The device that measured ``row``: a key (the sweep's label, else the profile name,
    else the row's device column) and the names it answers to (that key, the device column,
    and the profile, model, name, serial and label of THAT device in run.json; in a sweep's
    run.json each device is an entry of ``device.devices``, and the sweep's own profile and
    name, 'pixel+dimensity' and '2 devices', name no device)."""
    column = str(row.get("device") or "")
    run = _run_of(rep, row)
    dev = run.get("device")
    entries = dev if isinstance(dev, list) else dev.get("devices") if isinstance(dev, dict) else None
    if not isinstance(entries, list) and isinstance(run.get("devices"), list):
        entries = run["devices"]
    if isinstance(entries, list):
        dev = next(
            (
                e
                for e in entries
                if isinstance(e, dict) and column and column in (str(e.get("label") or ""), str(e.get("profile") or ""))
            ),
            {},
        )
    dev = dev if isinstance(dev, dict) else {}
    key = str(dev.get("label") or dev.get("profile") or column)
    names = {key, column} | {str(dev.get(k) or "") for k in ("profile", "model", "name", "serial", "label")}
    names |= {str(latency.get(k) or "") for k in ("serial", "model")}  # the row's latency row says it too
    return key, {n.strip().lower() for n in names} - {""}


def _artifact_rows(artifact: Path, reports: str | Path, delegate: str | None) -> list[tuple[str, str, set, dict]]:
    """(folder, device key, device names, row) of each summary row of ``artifact`` (every
    signature) in the report folders, oldest folder first; a row's ``charging`` is its power
    row's (same device)."""
    from ..artifact import split_label

    out = []
    for folder in _report_folders(Path(reports)):
        rep = read_report(folder)
        charging = {(p.get("artifact"), p.get("device"), p.get("delegate")): p.get("charging") for p in rep["power"]}
        ident = {(r.get("artifact"), r.get("device"), r.get("delegate")): r for r in rep["latency"]}
        for r in rep["summary"]:
            if split_label(r.get("artifact", ""))[0] != artifact.stem or delegate not in (None, r.get("delegate")):
                continue
            where = (r["artifact"], r.get("device"), r.get("delegate"))
            key, names = _device_of(rep, r, ident.get(where, {}))
            out.append((str(folder), key, names, {**r, "charging": charging.get(where, r.get("charging"))}))
    return out


def _with_quality(artifact: Path, found: list[tuple[str, dict]]) -> tuple[list[dict], list[str]]:
    """One device's rows, the newest report's per configuration and delegate (folder names
    start with the UTC time), with the manifest's quality where it has it; and the folders used."""
    from ..artifact import quality_from_manifests

    by_key, used = {}, []
    for folder, r in found:
        by_key[(r["artifact"], r.get("delegate"))] = r
        if folder not in used:
            used.append(folder)
    quality = {q["artifact"]: q for q in quality_from_manifests([artifact])}
    rows = []
    for (label, _), r in sorted(by_key.items()):
        q = quality.get(label)
        if q and is_finite_number(q.get("miou")):
            r = {**r, "miou": q["miou"], "quality_source": f"manifest ({q.get('dataset')}:{q.get('split')})"}
        else:
            r = {**r, "quality_source": "report" if is_finite_number(r.get("miou")) else None}
        rows.append(r)
    return rows, used


def device_rows(
    artifact: str | Path, reports: str | Path = "reports", delegate: str | None = None
) -> dict[str, tuple[list[dict], list[str]]]:
    """Per device found in the reports (its key: a sweep's label or the profile name, else
    the row's device column), the rows of ``artifact`` measured there and the folders used,
    as :func:`measured_rows` gives them for one device."""
    from ..artifact import check_tflite_file

    artifact = check_tflite_file(artifact)
    found: dict[str, list] = {}
    for folder, key, _, r in _artifact_rows(artifact, reports, delegate):
        found.setdefault(key, []).append((folder, r))
    if not found:
        raise ReportError(
            f"no measured rows for {artifact.stem} on any device in {reports}; run "
            f"`edgeseg bench {artifact} --device NAME` first"
        )
    return {key: _with_quality(artifact, rows) for key, rows in sorted(found.items())}


def measured_rows(
    artifact: str | Path, device: str, reports: str | Path = "reports", delegate: str | None = None
) -> tuple[list[dict], list[str]]:
    """Summary rows of ``artifact`` (every signature) measured on ``device`` in the report
    folders under ``reports``. A row is the device's when ``device`` is the row's device
    column or the profile name, model, serial or name of the device that measured it (in a
    multi-device report, that row's device, not any device of the sweep); ``host`` for the
    host. Where several reports measured the same configuration and delegate, the newest
    (folder names start with the UTC time) wins. Quality comes from the artifact's manifest
    when it has it. A name that matches rows of two devices is an error naming them."""
    from ..artifact import check_tflite_file

    artifact = check_tflite_file(artifact)
    wanted = device.strip().lower()
    found = [
        (folder, key, r) for folder, key, names, r in _artifact_rows(artifact, reports, delegate) if wanted in names
    ]
    if not found:
        raise ReportError(
            f"no measured rows for {artifact.stem} on '{device}' in {reports}; run "
            f"`edgeseg bench {artifact} --device {device}` first"
        )
    keys = sorted({key for _, key, _ in found})
    if len(keys) > 1:
        raise ReportError(
            f"'{device}' names {len(keys)} devices in {reports} ({', '.join(keys)}): select on one "
            "of them with --device NAME, or on each with --device all"
        )
    return _with_quality(artifact, [(folder, r) for folder, _, r in found])


def no_fit_message(rows: list[dict]) -> str:
    """Why nothing was chosen, naming the fastest measured row."""
    fastest = min(
        (r for r in rows if is_finite_number(r.get("median_ms"))), key=lambda r: float(r["median_ms"]), default=None
    )
    hint = (
        f" (fastest measured: {fastest['artifact']} on {fastest['delegate']}, {float(fastest['median_ms']):.2f} ms)"
        if fastest
        else ""
    )
    return f"no configuration fits the budget{hint}"


def select(
    artifact: str | Path,
    device: str,
    budget_ms: float,
    energy_budget_mj: float | None = None,
    reports: str | Path = "reports",
    delegate: str | None = None,
) -> dict:
    """The choice on ``device``, or with ``device='all'`` one choice per device found in the
    reports (``devices``: device, chosen, rows, reports and ``why_not`` when nothing fits),
    each with the same budgets; ``chosen`` is then None and ``rows`` every device's rows."""
    budgets = {"budget_ms": budget_ms, "energy_budget_mj": energy_budget_mj}
    if device.strip().lower() != ALL_DEVICES:
        rows, used = measured_rows(artifact, device, reports, delegate)
        return {**choose(rows, budget_ms, energy_budget_mj), "reports": used, **budgets, "device": device}
    per_device = []
    for key, (rows, used) in device_rows(artifact, reports, delegate).items():
        res = choose(rows, budget_ms, energy_budget_mj)
        per_device.append(
            {
                "device": key,
                "chosen": res["chosen"],
                "rows": res["rows"],
                "reports": used,
                "why_not": None if res["chosen"] else no_fit_message(res["rows"]),
            }
        )
    used = list(dict.fromkeys(f for d in per_device for f in d["reports"]))
    return {
        "chosen": None,
        "rows": [r for d in per_device for r in d["rows"]],
        "reports": used,
        **budgets,
        "device": ALL_DEVICES,
        "devices": per_device,
    }
