"""What the commands print: the text views of the API's results.

Each function takes a result and two writers, ``out`` (the result: stdout) and ``err``
(notes, warnings and failures: stderr), so the CLI stays a parser and the library never
prints by itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from .schema import NOISY_SPREAD
from .tables import class_table, describe_conditions, format_table

Write = Callable[[str], None]


def inspect(ds, hist: dict, out: Write) -> None:
    out(f"dataset  {ds.root}")
    out(f"layout   {ds.layout} ({ds.mask_kind} masks, ignore index {ds.ignore_index})")
    out("images   " + ", ".join(f"{k} {len(v)}" for k, v in ds.splits.items()))
    out(f"classes  {ds.num_classes}")
    for i, name in enumerate(ds.class_names):
        out(f"  {i:>3}  {name:<24} {100 * hist['share'][name]:6.2f} %")
    out(f"  ign  {'<ignore>':<24} {100 * hist['share']['<ignore>']:6.2f} %")


def compiled(res, out: Write, err: Write) -> None:
    for r in res.compiled:
        c = r["compiled"]
        left = ", ".join(f"{k} x{v}" for k, v in c["ops_left_on_cpu"].items()) or "none"
        out(
            f"{r['artifact']}: {c['ops_compiled']}/{c['ops_total']} ops compiled for {c['manufacturer']} "
            f"{c['soc']} in {c['partitions']} partition(s), left on the CPU: {left}; {c['seconds']:.1f} s"
            + (f"; SDK {c['sdk']}" if c["sdk"] else "")
        )
        for n in r["notes"]:
            err(f"note: {n}")


def evaluated(res, out: Write, err: Write) -> None:
    r = res.data
    if r.get("rows") is not None:
        return device_evaluated(res, out, err)
    if r.get("recorded") is False and r.get("record_note"):
        err(f"note: {r['record_note']}")
    head = f"{r['artifact']} on {r['dataset']} [{r['split']}], {r['images']} images ({r['backend']})"
    if res.signatures:
        out(head + ", one row per configuration:")
        out(
            format_table(
                [{"signature": k, **v} for k, v in res.signatures.items()],
                ["signature", "miou", "dice", "pixel_accuracy"],
                floats=4,
            )
        )
        return
    out(head)
    out(f"mIoU {r['miou']:.4f}  Dice {r['dice']:.4f}  pixel accuracy {r['pixel_accuracy']:.4f}")
    for name, v in r["per_class_iou"].items():
        out(f"  {name:<24} IoU {'-' if v is None else f'{v:.4f}'}")


def device_evaluated(res, out: Write, err: Write) -> None:
    """`edgeseg eval --device`: one line per (artifact, delegate) row and the host's."""
    from .plots import eval_summary

    r = res.data
    bounds = r.get("status_bounds") or {}
    a, m = bounds.get("argmax_agreement_below"), bounds.get("miou_delta_beyond")
    out(
        f"{r['artifact']} on {r['dataset']} [{r['split']}], {r['images']} frame(s); numerics-differ: argmax "
        f"agreement < {a} with |mIoU delta| <= {m} (quality kept); diverged: |mIoU delta| > {m} or NaN/inf outputs"
    )
    out(
        format_table(
            r["rows"],
            [
                "artifact",
                "where",
                "device",
                "delegate",
                "frames",
                "miou",
                "miou_delta_vs_host",
                "argmax_agreement",
                "max_abs_diff",
                "mean_abs_diff",
                "seconds",
                "status",
            ],
            floats=4,
        )
    )
    for row in r["rows"]:
        if row.get("reason"):
            err(f"{row['status']}: {row['artifact']} on {row['delegate']}: {row['reason']}")
    differ = [row for row in r["rows"] if row.get("status") == "numerics-differ"]
    if differ:
        err(
            f"warning: {len(differ)} row(s) numerics-differ: the device's class maps differ from the host's beyond "
            f"the bound with quality kept; "
            + (
                "they fail the command (--fail-on-numerics)"
                if r.get("fail_on_numerics")
                else "a warning, not a failure (--fail-on-numerics makes it one)"
            )
        )
    out(eval_summary(r["rows"]))
    out(f"report: {r['report']}")


def model_info(res: dict, delegates: bool, out: Write) -> None:
    from ..quantize.lint import format_lint

    out(f"{res['path']}")
    out(
        f"input {res['input']['shape']} {res['input']['dtype']}  output {res['output']['shape']} {res['output']['dtype']}"
    )
    out(f"params {res['params']:,}  MACs {res['macs']:,} ({res['gmacs']:.3f} G)  nodes {res['nodes']}")
    out("ops    " + ", ".join(f"{k} x{v}" for k, v in res["ops"].items()))
    if res.get("signatures"):
        out("signatures (one subgraph each; the counts above are the first subgraph's):")
        for s, v in res["signatures"].items():
            out(f"  {s:<6} params {v['params']:,}  MACs {v['macs']:,} ({v['macs'] / 1e9:.3f} G)")
    if delegates:
        out("delegates (primary subgraph):" if res.get("signatures") else "delegates:")
        out(format_lint(res["lint"]))
        for sig, lint in res.get("lint_signatures", {}).items():
            if "error" in lint:
                out(f"delegates of configuration {sig}: {lint['error']}")
            else:
                out(f"delegates of configuration {sig} (its own file {Path(lint['artifact']).name}):")
                out(format_lint(lint, short=True))


def bench(res, host: bool, out: Write, err: Write) -> None:
    several = len(res.devices or []) > 1
    dev = ["device", "serial"] if several else []
    out(
        format_table(
            res.rows,
            [
                "artifact",
                *dev,
                "delegate",
                "threads",
                "init_ms",
                "first_ms",
                "median_ms",
                "p5_ms",
                "p90_ms",
                "p95_ms",
                "runs",
                "delegated_ops",
                "total_ops",
                "partitions",
                "status",
            ],
        )
    )
    if several:
        out(format_table(res.devices, ["label", "profile", "serial", "model", "soc", "status", "error"]))
    for r in res.rows:  # --sustained: one line per row with its verdict
        if r.get("throttling"):
            out(
                f"sustained {r['artifact']} on {r['device'] + '/' if several else ''}{r['delegate']}: {r['throttling']}: "
                f"{r.get('throttling_evidence') or '-'}"
            )
    if res.power:
        out(
            format_table(
                res.power,
                [
                    "artifact",
                    *dev[:1],
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
                    "status",
                ],
            )
        )
        for r in res.power:
            if r.get("source_note") and r.get("status") != "failed":
                err(
                    f"power of {r['artifact']} on {r['delegate']} from {r['energy_source']}; not used: "
                    f"{r['source_note']}"
                )
    if res.conditions:
        out(f"conditions: {res.conditions}")
    elif not host and res.report:  # a phone bench: the phone's conditions, from its run.json
        try:
            import json

            run = json.loads((Path(res.report) / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            run = {}
        if describe_conditions(run):
            out(f"conditions: {describe_conditions(run)}")
    if res.noisy:
        where = "this machine was busy" if host else "the device was busy or throttling"
        loads = sorted({r["host_load_1m"] for r in res.noisy if r.get("host_load_1m") is not None})
        if host and loads:
            where += f": 1-minute load {loads[-1]:g} on {res.noisy[0].get('host_cores')} cores"
        err(
            f"warning: {len(res.noisy)} row(s) are noisy (p90 more than {NOISY_SPREAD:g}x the median, or measured "
            f"on a busy host; {where}): "
            + ", ".join(f"{r['artifact']}/{r['delegate']}" for r in res.noisy[:6])
            + "; compare them with care, or measure again on an idle machine with more --runs / --min-secs"
        )
    if host:
        notes, rates = host_precision_lines(res.rows)
        for line in notes:
            err(line)
        if rates:
            out(rates)
    for r in res.failed:
        err(f"failed: {r['artifact']} on {r['device'] + '/' if several else ''}{r['delegate']}: {r.get('error')}")
    if res.report:
        out(f"report: {res.report}")


def host_precision_lines(rows) -> tuple[list[str], str | None]:
    """What this CPU cannot show of a precision (once per recipe), and one line of each host
    row's achieved GMAC/s with its share of this CPU's peak for the recipe's arithmetic."""
    from ..host import precision_note

    said = {}
    for r in rows:
        note = precision_note(r.get("recipe"))
        if note and note not in said.values():
            said[r.get("recipe")] = note
    rates = [
        f"{r['artifact']} {float(r['gmac_per_s']):.1f} ({100 * float(r['gmac_per_s']) / float(r['peak_gmac_per_s']):.0f}%)"
        for r in rows
        if r.get("gmac_per_s") not in (None, "") and r.get("peak_gmac_per_s") not in (None, "")
    ]
    line = "throughput, GMAC/s (% of this CPU's peak for the recipe's arithmetic): " + ", ".join(rates)
    return [f"note: {recipe} rows: {note}" for recipe, note in said.items()], line if rates else None


def selected(res, artifact, device: str, out: Write) -> None:
    from .select import SELECT_VIEW

    d = res.data
    budget = f"{d['budget_ms']:g} ms" + (
        f" and {d['energy_budget_mj']:g} mJ" if d.get("energy_budget_mj") is not None else ""
    )
    if res.devices is not None:
        selected_per_device(res, artifact, budget, out)
        return
    out(f"{Path(artifact).name} on {device}, budget {budget}; rows from {', '.join(res.reports)}")
    out(format_table(res.rows, SELECT_VIEW, floats=3))
    c = res.chosen
    if c:
        energy = (
            f", {float(c['energy_mj_per_inference']):.2f} mJ"
            if c.get("energy_mj_per_inference") not in (None, "")
            else ""
        )
        out(
            f"selected: {c['artifact']} on {c['delegate']}: mIoU {float(c['miou']):.4f}, "
            f"{float(c['median_ms']):.2f} ms{energy}"
        )


SELECT_DEVICES_VIEW = ["device", "artifact", "delegate", "median_ms", "energy_mj_per_inference", "miou", "why_not"]


def selected_per_device(res, artifact, budget: str, out: Write) -> None:
    """`edgeseg select ... --device all`: one table row per device, its choice (configuration,
    delegate, latency, energy, mIoU) or why none fits."""
    out(
        f"{Path(artifact).name} on {len(res.devices)} device(s), budget {budget} on each; rows from "
        f"{', '.join(res.reports)}"
    )
    view = [{**(d["chosen"] or {}), "device": d["device"], "why_not": d["why_not"]} for d in res.devices]
    out(format_table(view, SELECT_DEVICES_VIEW, floats=3))


def merged(res, out: Write, err: Write) -> None:
    from .compose import SUMMARY_VIEW

    out(format_table(res.summary, SUMMARY_VIEW))
    cols, class_view = res.data["class_table"]
    if class_view:
        out("\nper-class IoU (fractions; deltas against the float32 artifact of the same model):")
        out(format_table(class_view, cols))
    for c in res.conditions:
        out(f"conditions: {c}")
    for n in res.notes:
        err(f"note: {n}")
    out(f"report: {res.report} ({', '.join(res.files)})")


def compared(res, out: Write, err: Write) -> None:
    """`edgeseg report --compare BASE NEW`: one row per (artifact, device, delegate), changes in percent."""
    from .compare import COMPARE_VIEW

    def pct(v):
        return None if v is None else f"{100 * v:+.1f}%"

    view = [
        {
            **r,
            "median_ms_change": pct(r.get("median_ms_change")),
            "median_ms_change_lo": pct(r.get("median_ms_change_lo")),
            "median_ms_change_hi": pct(r.get("median_ms_change_hi")),
            "energy_mj_change": pct(r.get("energy_mj_change")),
            **{k: None if r.get(k) is None else f"{r[k]:+.4f}" for k in ("miou_delta", "device_miou_delta")},
        }
        for r in res.rows
    ]
    out(f"{res.data['new']} against {res.data['base']}:")
    out(format_table(view, COMPARE_VIEW))
    for n in res.notes:
        err(f"note: {n}")
    for b in res.breaches:
        err(b if b.startswith("inconclusive: ") else f"breach: {b}")
    for u in res.inconclusive if not any(b.startswith("inconclusive: ") for b in res.breaches) else ():
        err(f"inconclusive (passed by --inconclusive pass): {u}")
    if res.data["rules"]:
        out(
            f"{len(res.breaches)} breach(es) of {', '.join(res.data['rules'])}"
            if res.breaches
            else f"no breach of {', '.join(res.data['rules'])}"
        )


def quickstart(res, out: Write) -> None:
    from .compose import report_notes
    from .tables import read_report

    rep = read_report(res.report)
    out(
        format_table(
            res.summary,
            [
                "artifact",
                "size_kb",
                "delegate",
                "median_ms",
                "noisy",
                "latency_vs_float32",
                "miou",
                "miou_delta_vs_float32",
                "delegated_ops",
                "total_ops",
                "partitions",
                "status",
            ],
        )
    )
    cols, class_view = class_table(rep["per_class"])
    out("\nper-class IoU on the synthetic val split (fractions; deltas against float32):")
    out(format_table(class_view, cols))
    out(f"conditions: {describe_conditions(rep['run'])}")
    notes, rates = host_precision_lines(rep["latency"])
    if rates:
        out(rates)
    for n in [*report_notes(rep["summary"], rep["power"], rep["per_class"]), *notes]:
        out(n if n.startswith("note: ") else f"note: {n}")
    t = res.timings
    phases = ", ".join(
        f"{name} {t[key]:.0f} s"
        for name, key in (("data", "synth_s"), ("train", "train_s"), ("export", "export_s"), ("eval", "eval_s"))
        if key in t
    )
    out(f"total {t['total_s']:.0f} s ({phases}, bench {t.get('bench_s', 0):.0f} s); report: {res.report}")


def exported(res, pta: bool, lint: bool, out: Write, err: Write) -> None:
    if pta:
        p = res.data["pta"]
        for c, v in p["configs"].items():
            err(f"  {c}: {v['macs'] / 1e6:,.1f} M MACs, {v['params']:,} params  ({v['file']})")
        err(
            f"  lightest {p['lightest']} needs {100 * p['mac_saving_lightest_vs_heaviest']:.1f}% fewer MACs than "
            f"heaviest {p['heaviest']}"
        )
    m = res.manifest
    out(
        f"{res.artifact}  ({m.size_bytes / 1024:.0f} KB, {m.recipe}, input {m.input['dtype']}, "
        f"output {m.output['kind']} {m.output['dtype']})"
    )
    if lint:
        from ..quantize.lint import format_lint

        out(format_lint(res.data["lint"], short=True))
        out(f"(full report: edgeseg info {res.artifact} --delegates)")


def devices(profiles, attached: list[dict], out: Write) -> None:
    """Profiles (a bad one marked BAD, with its error) and attached devices."""
    out("profiles (the first column is what --device takes: the file's name):")
    for p in profiles:
        if getattr(p, "error", None):
            out(f"  {p.name:<16} {'BAD':<10} {p.error}")
        else:
            named = f' (name = "{p.name}" in {p.path}: reports call it that)' if p.name != device_arg(p) else ""
            out(f"  {device_arg(p):<16} {p.transport:<10} {p.description}{named}")
    out(
        "attached (adb server):"
        if attached
        else "attached: none (no device on the adb server, or adb is not installed; tcp profiles connect on use)"
    )
    for d in attached:
        acc = ",".join(d.get("nnapi_accelerators") or []) or "unknown until a bench with --delegate nnapi"
        out(
            f"  {d['serial']:<22} {d['state']:<8} {d.get('model', '')} | SoC {d.get('soc', '?')} | "
            f"Android {d.get('android', '?')} | {d.get('abi', '?')} | NNAPI {acc}"
        )


def device_arg(profile) -> str:
    """What ``--device`` finds a profile by: its file's name (``devices/NAME.toml``), which its
    ``name`` key (what reports call the device) may not be."""
    return profile.path.stem if getattr(profile, "path", None) else profile.name


def shared_names(profiles) -> list[str]:
    """One warning per ``name`` that two or more profile files give (their rows would be told
    apart by nothing in a report)."""
    by_name: dict[str, list] = {}
    for p in profiles:
        if not getattr(p, "error", None):
            by_name.setdefault(p.name, []).append(p)
    return [
        f'{", ".join(str(p.path) for p in ps)} all say name = "{n}": reports show their rows under one name; '
        "give each profile its own name"
        for n, ps in by_name.items()
        if len(ps) > 1
    ]


def profile_rows(profiles) -> list[dict]:
    """The profiles of `devices list --json`: a bad one with its error instead of a transport;
    ``device`` is what --device takes (the file's name), ``name`` the profile's name key."""
    return [
        {"name": p.name, "device": device_arg(p), "path": str(p.path), "error": p.error}
        if getattr(p, "error", None)
        else {
            "name": p.name,
            "device": device_arg(p),
            "description": p.description,
            "transport": p.transport,
            "path": str(p.path),
        }
        for p in profiles
    ]


def probed(info: dict, out: Write) -> None:
    out(
        f"  device     {info['manufacturer']} {info['model']} ({info['serial']}), SoC {info['soc']}, "
        f"Android {info['android']} (SDK {info['sdk']}), {info['abi']}"
    )


def adb_server_note(started: bool, err: Write) -> None:
    """Say so when a command started Google's adb server on this machine: it keeps running."""
    from ..device.session import ADB_SERVER, ADB_SERVER_NOTE, adb_server_port, adb_server_running

    if started and not ADB_SERVER["said"] and adb_server_running():
        ADB_SERVER["said"] = True
        port = adb_server_port()
        err("note: " + ADB_SERVER_NOTE.format(port=port, port_flag="" if port == 5037 else f" -P {port}"))


def push_bar(total, name):
    """A byte progress bar for a push (on a terminal only)."""
    import sys

    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=f"push {name}",
        leave=False,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    )


def profile(p, out: Write) -> None:
    lab = f" (adb server {p.adb_server})" if getattr(p, "adb_server", None) else ""
    out(f"{p.name}: {p.description}\n  file       {p.path}\n  transport  {p.transport} {p.address or ''}{lab}")
    out(f"  work dir   {p.work_dir}\n  runner     {p.runner}  threads {p.threads}  abi {p.abi}")
    for d in p.delegates.values():
        extra = f" accelerator={d.accelerator}" if d.accelerator else ""
        if d.runner != "profile":  # a single-delegate runner (litert): its SoC and NPU set-up
            keys = (("runner", d.runner), ("soc", d.soc), ("dispatch_libs", ",".join(d.dispatch_libs) or None))
            keys += (("dispatch_dir", d.dispatch_dir), ("adapter_dir", d.adapter_dir))
            extra += "".join(f" {k}={v}" for k, v in keys if v)
        out(f"  delegate   {d.name:<8} {' '.join(d.flags)}{extra}".rstrip())
    out(
        f"  power      {p.power.source} at {p.power.rate_hz:g} Hz, idle {p.power.idle_secs:g} s, "
        f"current {p.power.current_unit} sign {p.power.current_sign:+d}"
    )


def as_json(obj) -> str:
    """``obj`` as indented JSON (NumPy scalars as numbers, paths as strings)."""

    def default(o):
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, Path):
            return str(o)
        if hasattr(o, "to_dict"):  # a Manifest
            return o.to_dict()
        if isinstance(o, Mapping):
            return dict(o)
        raise TypeError(type(o))

    return json.dumps(obj, indent=2, default=default)


def epoch_line(r: dict, what: str = "") -> str:
    """One finished epoch of training (``what`` = "qat " for the QAT fine-tune, whose val mIoU
    is fake-quant); an epoch that --val-every skips says so instead of its scores."""
    head = f"{what}epoch {r['epoch']}/{r['epochs']}  loss {r['loss']:.4f}  "
    at = f" at {r['train_size']}" if r.get("progressive") and r.get("train_size") else ""  # --progressive
    tail = f"{r['images_per_s']:.1f} img/s{at}" + ("  *best" if r.get("best") else "")
    if r.get("val_miou") is None:
        return head + "(not validated)  " + tail
    if what:
        return head + f"val mIoU (fake-quant) {r['val_miou']:.4f}  " + tail
    return head + f"val mIoU {r['val_miou']:.4f}  dice {r['val_dice']:.4f}  acc {r['val_pixel_accuracy']:.4f}  " + tail


def bench_line(row: dict) -> str:
    """One measured bench row, as it is measured."""
    if row.get("status") == "failed":
        return f"bench {row['artifact']} on {row['delegate']}: failed"
    return (
        f"bench {row['artifact']} on {row['delegate']}: median {row['median_ms']:.2f} ms "
        f"({row.get('runs')} runs, {row.get('status')})"
    )


def numerics_done(res, out: Write, err: Write) -> None:
    """`edgeseg numerics`: each run's first bad op (or none) and where the report is."""
    r = res.data
    out(f"per-layer numerics of {r['artifact']}" + (f" against {r['reference']}" if r.get("reference") else ""))
    for run in res.first_bad:
        what = (
            "quantization (host vs float reference)"
            if run["comparison"] == "quantization"
            else (f"{run['delegate']} on {run['device']} vs host")
        )
        if run["status"] in ("failed", "unsupported"):
            err(f"  {what}: {run['status']}: {run['reason']}")
            continue
        snr = "-" if run.get("min_snr_db") is None else f"{run['min_snr_db']:.1f} dB"
        if run.get("tensor") is None:
            out(f"  {what}: no bad op ({run['tensors']} tensors; lowest SNR {snr}; bad when {run['threshold']})")
        else:
            out(
                f"  {what}: first bad op {run['first_bad_op']} at depth {run['first_bad_depth']} ({run['tensor']}); "
                f"{run['bad']} of {run['tensors']} tensors bad (bad when {run['threshold']}); lowest SNR {snr}"
            )
    out(f"report: {r['report']} (numerics.csv, numerics_depth.png, report.html)")
