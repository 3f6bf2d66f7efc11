"""Plots of a report (PNG, matplotlib with the Agg backend) and the one-page HTML report."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..config import finite_or_none
from ..fileio import fit_name
from .schema import NOISY_SPREAD
from .tables import format_cell

#: Bar colour per row status, named in each plot's legend.
STATUS_COLOURS = {"ok": "#4c72b0", "fallback": "#dd8452", "failed": "#c44e52", "charging": "#8172b3"}
#: The Pareto plot's y axis spans at least this many mIoU points, so that a difference of a
#: fraction of a point never looks like a cliff.
MIN_MIOU_SPAN_POINTS = 5.0


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _noisy(r) -> bool:
    return str(r.get("noisy")).lower() == "true"


def latency_plot(summary: list[dict], out: Path) -> Path | None:
    """Median latency per row as horizontal bars (colour = status, hatched = noisy), the
    p90 as a tick, the value at the end of each bar; labels on the y axis, one row each."""
    rows = [r for r in summary if finite_or_none(r.get("median_ms")) is not None]
    if not rows:
        return None
    plt = _plt()
    from matplotlib.patches import Patch

    labels = [f"{r['artifact']}\n{r['delegate']} @ {r['device']}" for r in rows]
    vals = [finite_or_none(r["median_ms"]) for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.62 * len(rows) + 1.9))
    for i, r in enumerate(rows):
        ax.barh(
            i,
            vals[i],
            color=STATUS_COLOURS.get(r.get("status"), "#999999"),
            height=0.7,
            hatch="///" if _noisy(r) else None,
            edgecolor="white" if _noisy(r) else None,
            linewidth=0,
        )
        p90 = finite_or_none(r.get("p90_ms"))
        if p90:
            ax.plot([p90, p90], [i - 0.35, i + 0.35], color="black", lw=1.2)
        ax.text(
            max(vals[i], p90 or 0),
            i,
            f"  median {vals[i]:.2f} ms" + (f", p90 {p90:.2f}" if p90 else ""),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("median latency per inference (ms); black tick = p90")
    ax.set_title("Latency per artifact and delegate", fontsize=10)
    right = max(max(vals), max((finite_or_none(r.get("p90_ms")) or 0) for r in rows))
    ax.set_xlim(0, right * 1.45)
    seen = list(dict.fromkeys(r.get("status") for r in rows))
    handles = [
        Patch(
            color=STATUS_COLOURS.get(s, "#999999"),
            label={
                "ok": "ok: whole graph on the delegate",
                "fallback": "fallback: part of the graph on the CPU",
                "failed": "failed",
                "charging": "charging",
            }.get(s, str(s)),
        )
        for s in seen
    ]
    if any(_noisy(r) for r in rows):
        handles.append(
            Patch(facecolor="#bbbbbb", hatch="///", edgecolor="white", label=f"noisy: p90 > {NOISY_SPREAD:g} x median")
        )
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


#: Shading per phase of a row's session in the trace plot (edgeseg.device.bench.PHASES).
PHASE_STYLE = {
    "idle": ("#cccccc", "idle baseline"),
    "init": ("#8172b3", "model load + delegate init"),
    "warmup": ("#ccb974", "warm-up"),
    "timed": ("#dd8452", "timed runs (energy window)"),
    "exit": ("#64b5cd", "exit"),
    "process": ("#c44e52", "process (timed runs not known)"),
}


def power_trace_plot(trace: list[dict], out: Path) -> Path | None:
    """Power against time per row, each run of each row on its own axes (a merged report's
    runs are never joined into one line), with each phase of the session shaded."""
    rows = [r for r in trace if finite_or_none(r.get("power_mw")) is not None]
    if not rows:
        return None
    plt = _plt()
    groups = {}
    for r in rows:
        groups.setdefault((r.get("run_id") or "", r["artifact"], r["delegate"]), []).append(r)
    n = len(groups)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.2 * n + 0.5), squeeze=False)
    for ax, ((run, art, dele), rs) in zip(axes[:, 0], groups.items()):
        t = [finite_or_none(r["t_s"]) for r in rs]
        p = [finite_or_none(r["power_mw"]) for r in rs]
        ax.plot(t, p, lw=1, color="#4c72b0")
        for phase, (colour, label) in PHASE_STYLE.items():
            pt = [finite_or_none(r["t_s"]) for r in rs if r.get("phase") == phase]
            if pt:
                ax.axvspan(min(pt), max(pt), color=colour, alpha=0.3, label=label)
        ax.set_title(f"{art} on {dele}" + (f" ({run})" if run else ""), fontsize=9)
        ax.set_ylabel("power (mW)")
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def sustained_plot(windows: list[dict], out: Path) -> Path | None:
    """A ``--sustained`` run against time: each row's median latency per window (solid, at the
    window's middle; left axis) and its hottest thermal zone at each window's end (dashed, same
    colour; right axis), one line per row (a merged report's runs are never joined into one)."""
    rows = [r for r in windows if finite_or_none(r.get("median_ms")) is not None and r.get("status") != "failed"]
    if not rows:
        return None
    plt = _plt()
    groups = {}
    for r in rows:
        groups.setdefault((r.get("run_id") or "", r["artifact"], r.get("device") or "", r["delegate"]), []).append(r)
    several_runs = len({k[0] for k in groups}) > 1
    fig, ax = plt.subplots(figsize=(9, 4.6))
    hot = ax.twinx()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    any_zone = False
    for i, ((run, art, dev, dele), rs) in enumerate(groups.items()):
        colour = colours[i % len(colours)]
        label = f"{art} on {dele}" + (f" @ {dev}" if dev else "") + (f" ({run})" if several_runs and run else "")
        mid = [
            (finite_or_none(r.get("t_start_s")) + finite_or_none(r.get("t_end_s"))) / 2
            if finite_or_none(r.get("t_start_s")) is not None and finite_or_none(r.get("t_end_s")) is not None
            else finite_or_none(r.get("window"))
            for r in rs
        ]
        ax.plot(mid, [finite_or_none(r["median_ms"]) for r in rs], marker="o", ms=4, lw=1.4, color=colour, label=label)
        zone = [
            (finite_or_none(r.get("t_end_s")), finite_or_none(r.get("zone_max_c")))
            for r in rs
            if finite_or_none(r.get("t_end_s")) is not None and finite_or_none(r.get("zone_max_c")) is not None
        ]
        if zone:
            any_zone = True
            hot.plot(*zip(*zone), ls="--", lw=1.1, color=colour, label=f"{label}: hottest zone")
    ax.set_xlabel("time from the row's start (s)")
    ax.set_ylabel("median latency per window (ms), solid")
    hot.set_ylabel("hottest thermal zone (C), dashed" if any_zone else "no thermal zone read")
    ax.set_title("Sustained run: latency and temperature against time", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _place_labels(ax, fig, points, texts, fontsize=7):
    """Put each text next to its point where it overlaps neither another label nor any
    point: candidate offsets are tried in order and the first free one is taken."""
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    marks = [to_px(p) for p in points]
    placed = []
    offsets = [
        (8, 6),
        (8, -12),
        (-8, 6),
        (-8, -12),
        (8, 16),
        (8, -22),
        (-8, 16),
        (-8, -22),
        (14, -3),
        (-14, -3),
        (8, 28),
        (8, -34),
    ]
    for i, ((x, y), text) in enumerate(zip(points, texts)):
        best = None
        others = [m for j, m in enumerate(marks) if j != i]
        for dx, dy in offsets:
            far = abs(dy) > 12
            ann = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=fontsize,
                ha="left" if dx >= 0 else "right",
                va="bottom",
                arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.5} if far else None,
            )
            box = ann.get_window_extent(renderer).expanded(1.05, 1.15)
            if far:  # the text's own box, without the leader line
                box = ann.get_window_extent(renderer)
            clash = any(box.overlaps(b) for b in placed) or any(
                box.x0 - 5 <= m[0] <= box.x1 + 5 and box.y0 - 5 <= m[1] <= box.y1 + 5 for m in others
            )
            if not clash:
                best = (ann, box)
                break
            ann.remove()
        if best is None:  # nothing free: the first choice, drawn over
            dx, dy = offsets[0]
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize)
            best = (ann, ann.get_window_extent(renderer))
        placed.append(best[1])


def pareto_plot(summary: list[dict], out: Path) -> Path | None:
    """mIoU (percent) against median latency, one colour per device; marker area = energy
    per inference where known; the dashed line joins the points no other point beats on
    both. The y axis spans at least :data:`MIN_MIOU_SPAN_POINTS` points."""
    rows = [
        r
        for r in summary
        if finite_or_none(r.get("miou")) is not None
        and finite_or_none(r.get("median_ms")) is not None
        and r.get("status") != "failed"
    ]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    energies = [finite_or_none(r.get("energy_mj_per_inference")) for r in rows]
    known = [e for e in energies if e and e > 0]
    emax = max(known) if known else None
    devices = list(dict.fromkeys(r["device"] for r in rows))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    pts = sorted(
        ((finite_or_none(r["median_ms"]), finite_or_none(r["miou"]) * 100, r, e) for r, e in zip(rows, energies)),
        key=lambda x: x[0],
    )
    for x, y, r, e in pts:
        size = 30 + 400 * (e / emax) if e and emax and e > 0 else 30
        ax.scatter(x, y, s=size, alpha=0.7, color=colours[devices.index(r["device"]) % len(colours)], zorder=3)
    front, best = [], -1.0
    for x, y, _, _ in pts:
        if y > best:
            front.append((x, y))
            best = y
    if len(front) > 1:
        ax.plot([p[0] for p in front], [p[1] for p in front], "--", color="grey", lw=1, zorder=2, label="Pareto front")
    for d in devices:
        ax.scatter([], [], color=colours[devices.index(d) % len(colours)], label=f"device: {d}")
    ys = [p[1] for p in pts]
    mid, span = (max(ys) + min(ys)) / 2, max(MIN_MIOU_SPAN_POINTS, (max(ys) - min(ys)) * 1.4)
    ax.set_ylim(mid - span / 2, mid + span / 2)
    ax.set_xlim(0, max(p[0] for p in pts) * 1.35)
    ax.set_xlabel("median latency per inference (ms)")
    ax.set_ylabel("mIoU of the deployed artifact (%, points)")
    ax.set_title("Quality vs latency" + (" (marker area = energy per inference)" if known else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()  # before the labels: placing them needs the final axes geometry
    _place_labels(
        ax,
        fig,
        [(x, y) for x, y, _, _ in pts],
        [f"{r.get('recipe') or r['artifact']}/{r['delegate']}" + (f" {e:.2f} mJ" if e else "") for _, _, r, e in pts],
    )
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def html_page(
    title: str,
    tables: list[tuple[str, list[dict], list[str]]],
    images: list[Path],
    notes: list[str],
    sources: list[str] = (),
    conditions: list[str] = (),
) -> str:
    """One self-contained page: notes, measurement conditions, tables (values formatted as
    in the text tables), PNGs embedded as data URIs."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
        "margin-bottom:1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "th{background:#f2f2f2}td:first-child{text-align:left}.warn{color:#a33}.flag{background:#fde2e1}"
        ".cond{color:#444;font-size:13px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for n in notes:
        parts.append(f"<p class='warn'>{html.escape(n)}</p>")
    for c in conditions:
        parts.append(f"<p class='cond'>Latency measured on: {html.escape(c)}</p>")
    if sources:
        parts.append(f"<p class='cond'>Merged from: {html.escape(', '.join(sources))}</p>")
    for name, rows, cols in tables:
        if not rows:
            continue
        cols = [c for c in cols if c in ("artifact", "class") or any(r.get(c) not in (None, "") for r in rows)]
        parts.append(
            f"<h2>{html.escape(name)}</h2><div style='overflow-x:auto'><table><tr>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
            + "</tr>"
        )
        for r in rows:
            cells = []
            for c in cols:
                text = format_cell(c, r.get(c), 3)
                flagged = (
                    (c == "flag" and text != "-")
                    or (c == "status" and r.get(c) in ("fallback", "failed", "diverged", "numerics-differ"))
                    or (c == "noisy" and text == "yes")
                    or (c in ("iou", "miou") and finite_or_none(r.get(c)) == 0.0)
                )
                cells.append(f"<td{' class=flag' if flagged else ''}>{html.escape(text)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table></div>")
    for img in images:
        data = base64.b64encode(Path(img).read_bytes()).decode()
        parts.append(
            f"<h2>{html.escape(Path(img).stem.replace('_', ' '))}</h2><img src='data:image/png;base64,{data}' "
            f"alt='{html.escape(Path(img).name)}' style='max-width:100%'>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


# -- `edgeseg eval --device`: where device and host disagree --------------------------------

#: Overlay colours per class id (cycled), the ignore label transparent.
CLASS_COLOURS = (
    (0, 0, 0),
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
)
#: Frames shown per device row: the ones whose class maps agree least with the host's.
WORST_FRAMES = 3


def _overlay(image, labels):
    """Class colours blended over the image (uint8 HxWx3); labels at the image's size."""
    import numpy as np

    lut = np.array([CLASS_COLOURS[i % len(CLASS_COLOURS)] for i in range(256)], np.float32)
    lab = np.asarray(labels).astype(np.int64).clip(0, 255)
    out = image.astype(np.float32) * 0.45 + lut[lab] * 0.55
    out[lab == 255] = image[lab == 255]
    return out.clip(0, 255).astype(np.uint8)


def disagreement_strip(image, truth, host, device, out: Path, scale: int = 4) -> Path:
    """image | ground truth | host prediction | device prediction, side by side, as a PNG."""
    import numpy as np
    from PIL import Image

    gap = np.full((image.shape[0], 2, 3), 255, np.uint8)
    tiles = [image, _overlay(image, truth), _overlay(image, host), _overlay(image, device)]
    strip = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
    im = Image.fromarray(strip)
    im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    im.save(out)
    return out


def class_delta_plot(rows: list[dict], out: Path) -> Path | None:
    """Per-class IoU change of each device row against the host on the same frames (bars)."""
    rows = [r for r in rows if r.get("per_class_delta_vs_host")]
    if not rows:
        return None
    plt = _plt()
    names = list(rows[0]["per_class_delta_vs_host"])
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names) + 2), 3.6))
    for i, r in enumerate(rows):
        vals = [(r["per_class_delta_vs_host"].get(n) or 0.0) * 100 for n in names]
        ax.bar(
            [k + i * width for k in range(len(names))],
            vals,
            width,
            label=f"{r['artifact']} {r['delegate']} ({r['status']})",
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(names))], names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("IoU device - host (points)")
    ax.set_title("Per-class IoU on the device against the host, same frames", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def eval_summary(rows: list[dict]) -> str:
    """The summary sentence of `edgeseg eval --device` rows (report.html, the console, a
    composed report's notes), following the rows' statuses: "device and host agree on every
    pixel of every frame" only when every device row was compared, is ``ok`` and agrees on
    every pixel (argmax agreement 1.0); otherwise what each row that does not did (numerics
    differ, diverged, failed, not run)."""
    dev = [r for r in rows if r.get("where") == "device"]
    if not dev:
        return "no device rows"

    def pct(v):
        return "?" if finite_or_none(v) is None else f"{100 * finite_or_none(v):.2f}%"

    def delta(v):
        return "nan" if finite_or_none(v) is None else f"{finite_or_none(v):+.4f}"

    exact = [r for r in dev if r.get("status") == "ok" and finite_or_none(r.get("argmax_agreement")) == 1.0]
    if len(exact) == len(dev):
        return "device and host agree on every pixel of every frame"
    parts = []
    if exact:
        names = ", ".join(f"{r.get('artifact')} on {r.get('delegate')}" for r in exact)
        parts.append(f"{names} agree{'s' if len(exact) == 1 else ''} with the host on every pixel of every frame")
    for r in dev:
        if any(r is e for e in exact):
            continue
        name, status = f"{r.get('artifact')} on {r.get('delegate')}", r.get("status")
        a, d = pct(r.get("argmax_agreement")), delta(r.get("miou_delta_vs_host"))
        if status == "ok":
            parts.append(f"{name} agrees with the host on {a} of the pixels (ok)")
        elif status == "numerics-differ":
            parts.append(f"{name}: numerics differ ({a} of the pixels agree with the host), quality kept (mIoU {d})")
        elif status == "diverged":
            what = "changed" if (finite_or_none(r.get("miou_delta_vs_host")) or 0.0) > 0 else "lost"
            parts.append(f"{name} diverged: quality {what} (mIoU {d}, {a} of the pixels agree with the host)")
        elif status == "failed":
            parts.append(f"{name} failed: not compared with the host")
        elif status == "unsupported":
            parts.append(f"{name} not run (unsupported)")
        else:
            parts.append(f"{name}: {status}")
    return "; ".join(parts)


def eval_figures(folder: Path, res: dict) -> list[Path]:
    """The figures of an `edgeseg eval --device` report folder and its report.html: the
    per-class deltas, and for each device row the frames where it disagrees most with the host
    (image | ground truth | host | device, class-coloured)."""
    import numpy as np

    from ..data.pipeline import resize_mask
    from .schema import QUALITY_DEVICE_COLUMNS

    folder = Path(folder)
    cache, rows = res["cache"], res["rows"]
    device_rows = [r for r in rows if r.get("where") == "device" and r.get("frame_agreement")]
    figures = []
    bars = class_delta_plot(device_rows, folder / "class_delta_vs_host.png")
    if bars:
        figures.append(bars)
    strips = []
    for r in device_rows:
        labels = res["labels"][r["artifact"]]
        order = np.argsort(r["frame_agreement"])[:WORST_FRAMES]
        for k in order:
            k = int(k)
            truth = resize_mask(cache.source_masks[k], cache.geometries[k])
            name = fit_name(f"disagree_{r['artifact']}_{r['delegate']}_{k:06d}".replace(":", "-"), keep=".png")
            disagreement_strip(cache.images[k], truth, labels["host"][k], labels[r["delegate"]][k], folder / name)
            strips.append((r, k, name))
    summary = eval_summary(rows)
    fine = all(r.get("status") in ("ok", "unsupported") for r in rows if r.get("where") == "device")
    page = html_page(
        f"On-device quality: {res['artifact']} on {res['dataset']} [{res['split']}]",
        [
            (
                "quality (device rows against the host on the same frames)",
                rows,
                [
                    "artifact",
                    *(c for c in QUALITY_DEVICE_COLUMNS if c not in ("reason", "first_bad_op")),
                    "miou",
                    "first_bad_op",
                    "reason",
                ],
            )
        ],
        figures,
        [],
    ).replace("</body></html>", "")
    # the summary sentence first, under the title (html_page writes one h1)
    parts = [page.replace("</h1>", f"</h1>\n<p class='{'cond' if fine else 'warn'}'>{html.escape(summary)}.</p>", 1)]
    if strips:
        # the worst frames of a row agree on every pixel: so do all its frames (only the compared rows have strips)
        all_agree = all(r["frame_agreement"][k] >= 1.0 for r, k, _ in strips)
        parts.append(
            "<h2>Frames where device and host disagree most</h2><p class='cond'>image | ground truth | "
            "host prediction | device prediction"
            + (
                "; the rows shown agree with the host on every pixel of every frame: these are their first "
                "frames, for reference"
                if all_agree
                else ""
            )
            + "</p>"
        )
    for r, k, name in strips:
        parts.append(
            f"<p>{html.escape(r['artifact'])} on {html.escape(r['delegate'])}, frame {k}: "
            f"{r['frame_agreement'][k]:.4f} of the pixels agree</p><img src='{html.escape(name)}' "
            f"alt='{html.escape(name)}' style='max-width:100%;height:auto'>"
        )
    parts.append("</body></html>")
    (folder / "report.html").write_text("\n".join(parts), encoding="utf-8")
    return figures + [folder / n for _, _, n in strips]


# -- `edgeseg numerics`: error against depth --------------------------------------------------

#: Where a tensor equal to its reference (no finite SNR) is drawn, above every measured point.
IDENTICAL_HEADROOM_DB = 10.0


def _spans(rows: list[dict]) -> list[tuple[float, float, str]]:
    """``(first depth, last depth, partition)`` of the runs of consecutive tensors run by one partition."""
    spans: list = []
    for r in rows:
        part, depth = r.get("partition"), finite_or_none(r.get("depth"))
        if not part or depth is None:
            continue
        if spans and spans[-1][2] == part:
            spans[-1] = (spans[-1][0], depth, part)
        else:
            spans.append((depth, depth, part))
    return spans


def numerics_plot(rows: list[dict], out: Path) -> Path | None:
    """SNR of every tensor against the depth of the op that produced it, one panel per run
    (the quantization run and each delegate), the run's SNR threshold dashed, its first bad op
    marked; the host's XNNPACK partitions shaded (CPU ops red), where the runtime said them."""
    runs: dict = {}
    for r in rows:
        if r.get("status") in ("ok", "bad"):
            runs.setdefault((r.get("comparison"), r.get("device"), r.get("delegate")), []).append(r)
    if not runs:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.6 * len(runs) + 0.6), sharex=True, squeeze=False)
    for ax, ((comparison, device, delegate), rs) in zip(axes[:, 0], runs.items()):
        rs = sorted(rs, key=lambda r: finite_or_none(r.get("depth")) or 0)
        snr = [(finite_or_none(r["depth"]), finite_or_none(r.get("snr_db"))) for r in rs]
        measured = [s for _, s in snr if s is not None]
        top = (max(measured) if measured else 60.0) + IDENTICAL_HEADROOM_DB
        labelled = set()
        for k, (a, b, part) in enumerate(_spans(rs)):
            colour = "#f4c7c3" if part == "cpu" else ("#d9e6f5" if k % 2 == 0 else "#e8f0e0")
            kind = "ops run on the CPU" if part == "cpu" else "an XNNPACK partition (shaded)"
            label = None if kind in labelled else kind
            labelled.add(kind)
            ax.axvspan(a - 0.5, b + 0.5, color=colour, lw=0, zorder=0, label=label)
        pts = [(d, s) for d, s in snr if s is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, lw=1, color="#4c72b0", label="SNR (dB)")
        same = [d for (d, s), r in zip(snr, rs) if s is None and str(r.get("identical")).lower() == "true"]
        if same:
            ax.plot(same, [top] * len(same), "^", ms=4, color="#55a868", label="identical to the reference")
        limit = _threshold_snr(rs[0].get("threshold"))
        if limit is not None:
            ax.axhline(limit, ls="--", lw=1, color="#c44e52", label=f"threshold {limit:g} dB")
        bad = next((r for r in rs if str(r.get("first_bad")).lower() == "true"), None)
        if bad is not None:
            ax.axvline(finite_or_none(bad["depth"]), color="#c44e52", lw=1.2)
            ax.annotate(
                f"first bad: {bad.get('op')} @ {bad['depth']}",
                (finite_or_none(bad["depth"]), top),
                fontsize=7,
                color="#c44e52",
                ha="left",
                va="top",
            )
        what = (
            "int8/fp16 artifact vs float reference (host)"
            if comparison == "quantization"
            else f"{delegate} on {device} vs host"
        )
        shaded = "" if any(r.get("partition") for r in rs) else "; partitions not reported by this runtime"
        ax.set_title(f"{what}{shaded}", fontsize=9)
        ax.set_ylabel("SNR (dB)")
        ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    axes[-1, 0].set_xlabel("depth (position of the producing op in execution order)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _threshold_snr(text) -> float | None:
    """The SNR bound of a row's ``threshold`` text (``cosine < C or SNR < S dB``)."""
    import re

    m = re.search(r"SNR < ([-0-9.eE+]+) dB", str(text or ""))
    return float(m.group(1)) if m else None
