"""Plots of a report (PNG, matplotlib with the Agg backend) and the one-page HTML report."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .tables import _num


def _plt():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _f(v):
    return float(v) if _num(v) else None


def latency_plot(summary: list[dict], out: Path) -> Path | None:
    rows = [r for r in summary if _f(r.get("median_ms")) is not None]
    if not rows:
        return None
    plt = _plt()
    labels = [f"{r['artifact']}\n{r['delegate']} @ {r['device']}" for r in rows]
    vals = [_f(r["median_ms"]) for r in rows]
    colours = ["#4c72b0" if r.get("status") == "ok" else "#dd8452" for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    ax.barh(range(len(rows)), vals, color=colours)
    for i, r in enumerate(rows):
        p90 = _f(r.get("p90_ms"))
        if p90:
            ax.plot([p90, p90], [i - 0.35, i + 0.35], color="black", lw=1)
        ax.text(vals[i], i, f" {vals[i]:.1f} ms" + ("" if r.get("status") == "ok" else f" ({r.get('status')})"),
                va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median latency (ms); tick = p90; orange = partial/no delegation")
    ax.set_title("Latency per artifact and delegate")
    ax.set_xlim(0, max(vals) * 1.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def power_trace_plot(trace: list[dict], out: Path) -> Path | None:
    rows = [r for r in trace if _f(r.get("power_mw")) is not None]
    if not rows:
        return None
    plt = _plt()
    groups = {}
    for r in rows:
        groups.setdefault((r["artifact"], r["delegate"]), []).append(r)
    n = len(groups)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.2 * n + 0.5), squeeze=False)
    for ax, ((art, dele), rs) in zip(axes[:, 0], groups.items()):
        t = [_f(r["t_s"]) for r in rs]
        p = [_f(r["power_mw"]) for r in rs]
        ax.plot(t, p, lw=1, color="#4c72b0")
        run_t = [_f(r["t_s"]) for r in rs if r.get("phase") == "run"]
        idle_t = [_f(r["t_s"]) for r in rs if r.get("phase") == "idle"]
        if idle_t:
            ax.axvspan(min(idle_t), max(idle_t), color="#cccccc", alpha=0.4, label="idle baseline")
        if run_t:
            ax.axvspan(min(run_t), max(run_t), color="#dd8452", alpha=0.25, label="timed run")
        ax.set_title(f"{art} on {dele}", fontsize=9)
        ax.set_ylabel("mW")
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def pareto_plot(summary: list[dict], out: Path) -> Path | None:
    """mIoU against median latency, one colour per device; marker area = energy per
    inference where known; the dashed line joins the points no other point beats on both."""
    rows = [r for r in summary if _f(r.get("miou")) is not None and _f(r.get("median_ms")) is not None
            and r.get("status") != "failed"]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    energies = [_f(r.get("energy_mj_per_inference")) for r in rows]
    known = [e for e in energies if e and e > 0]
    emax = max(known) if known else None
    devices = list(dict.fromkeys(r["device"] for r in rows))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    pts = sorted(((_f(r["median_ms"]), _f(r["miou"]) * 100, r, e) for r, e in zip(rows, energies)), key=lambda x: x[0])
    for i, (x, y, r, e) in enumerate(pts):
        size = 30 + 400 * (e / emax) if e and emax and e > 0 else 30
        ax.scatter(x, y, s=size, alpha=0.6, color=colours[devices.index(r["device"]) % len(colours)])
        label = f"{r.get('recipe') or r['artifact']}/{r['delegate']}" + (f" {e:.0f} mJ" if e else "")
        ax.annotate(label, (x, y), fontsize=7, xytext=(5, 6 if i % 2 else -10), textcoords="offset points")
    front, best = [], -1.0
    for x, y, _, _ in pts:
        if y > best:
            front.append((x, y))
            best = y
    if len(front) > 1:
        ax.plot([p[0] for p in front], [p[1] for p in front], "--", color="grey", lw=1)
    for d in devices:
        ax.scatter([], [], color=colours[devices.index(d) % len(colours)], label=d)
    ys = [p[1] for p in pts]
    pad = max(0.5, (max(ys) - min(ys)) * 0.3)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_xlim(0, max(p[0] for p in pts) * 1.25)
    ax.set_xlabel("median latency (ms)")
    ax.set_ylabel("mIoU of the deployed artifact (%)")
    ax.set_title("Quality vs latency" + (" (area = energy/inference)" if known else ""), fontsize=10)
    ax.legend(fontsize=7, title="device", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def html_page(title: str, tables: list[tuple[str, list[dict], list[str]]], images: list[Path], notes: list[str],
              sources: list[str] = ()) -> str:
    """One self-contained page: tables inline, PNGs embedded as data URIs."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
             "margin-bottom:1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
             "th{background:#f2f2f2}td:first-child{text-align:left}.warn{color:#a33}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for n in notes:
        parts.append(f"<p class='warn'>{html.escape(n)}</p>")
    if sources:
        parts.append(f"<p>Merged from: {html.escape(', '.join(sources))}</p>")
    for name, rows, cols in tables:
        if not rows:
            continue
        parts.append(f"<h2>{html.escape(name)}</h2><table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for r in rows:
            cells = []
            for c in cols:
                v = r.get(c)
                v = "" if v is None else (f"{float(v):.3f}" if _num(v) and isinstance(v, (float, str)) and "." in str(v) else str(v))
                cells.append(f"<td>{html.escape(v)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    for img in images:
        data = base64.b64encode(Path(img).read_bytes()).decode()
        parts.append(f"<h2>{html.escape(Path(img).stem.replace('_', ' '))}</h2><img src='data:image/png;base64,{data}' "
                     f"alt='{html.escape(Path(img).name)}' style='max-width:100%'>")
    parts.append("</body></html>")
    return "\n".join(parts)
