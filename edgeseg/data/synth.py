"""Procedural road scenes with lane-marking masks (no download, no external data).

The six classes follow the MediaTek low-power lane-segmentation task: background, main
lane, alternative lane, double line, dashed line, single line. Each scene is a pinhole
camera over a flat road: every pixel below the horizon is back-projected to a ground point
(lateral offset x, distance z), the road geometry (curvature, heading, lane widths,
marking types) is evaluated there, and the label and colour follow. Vehicles occlude the
road, lighting, shadows and sensor noise vary per image. The same seed gives the same
images, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ..fileio import OutputPathError, atomic_write_text, check_writable_output
from .tables import IMAGE_FORMATS, SYNTH_SIZE  # noqa: F401

LANE_CLASSES = ("background", "main_lane", "alternative_lane", "double_line", "dashed_line", "single_line")
LANE_COLOURS = ((0, 0, 0), (128, 64, 128), (64, 160, 64), (255, 200, 0), (255, 255, 255), (0, 128, 255))
BACKGROUND, MAIN_LANE, ALT_LANE, DOUBLE_LINE, DASHED_LINE, SINGLE_LINE = range(6)


def render_scene(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (uint8 HxWx3 image, uint8 HxW mask)."""
    # long: one scene is drawn in one pass (road, lanes, markings, noise) from one random stream; split up, the
    # draw order and the random stream would have to be threaded through every piece
    h, w = size
    horizon = rng.uniform(0.36, 0.5) * h
    focal = rng.uniform(0.9, 1.3) * w
    cam_height = rng.uniform(1.2, 1.6)
    curvature = rng.uniform(-2.5e-3, 2.5e-3)
    heading = rng.uniform(-0.06, 0.06)
    offset = rng.uniform(-0.6, 0.6)  # camera offset inside the ego lane (m)
    lane_w = rng.uniform(3.0, 3.8)
    n_left = int(rng.integers(0, 3))
    n_right = int(rng.integers(0, 3))
    if n_left == n_right == 0:
        n_left = 1
    line_w = rng.uniform(0.12, 0.2)
    dash_len, gap_len = rng.uniform(2.5, 4.5), rng.uniform(5.0, 9.0)
    dash_phase = rng.uniform(0, dash_len + gap_len)
    # Opposite-direction traffic on the left half: the boundary between ego side and it is a
    # double line when there is at least one lane on the left.
    double_at = 0 if n_left and rng.random() < 0.5 else None

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    ground = ys > horizon + 0.5
    z = np.where(ground, focal * cam_height / np.maximum(ys - horizon, 1e-3), 1e4)  # sky: far away
    x_world = (xs - w / 2) * z / focal + offset - (curvature * z**2 + heading * z)
    x_lane = x_world / lane_w + 0.5  # ego lane occupies [0, 1); lane k occupies [k, k+1)
    lane_idx = np.floor(x_lane)
    on_road = ground & (lane_idx >= -n_left) & (lane_idx <= n_right) & (z < 120)

    mask = np.zeros((h, w), np.uint8)
    mask[on_road & (lane_idx == 0)] = MAIN_LANE
    mask[on_road & (lane_idx != 0)] = ALT_LANE

    # Lane boundaries at integer x_lane from -n_left to n_right + 1.
    pix_per_m = focal / np.maximum(z, 1e-3)
    half_line = np.maximum(line_w / 2, 0.6 / pix_per_m)  # at least ~1 px wide
    dashed_on = ((z + dash_phase) % (dash_len + gap_len)) < dash_len
    for b in range(-n_left, n_right + 2):
        dist_m = np.abs(x_world - (b - 0.5) * lane_w)
        if b in (-n_left, n_right + 1):
            cls, hit = SINGLE_LINE, dist_m < half_line
        elif double_at is not None and b == double_at:
            # Two parallel solid lines one line-width apart; far away they merge into one.
            gap = line_w
            cls, hit = DOUBLE_LINE, np.abs(dist_m - gap) < half_line
        else:
            cls, hit = DASHED_LINE, (dist_m < half_line) & dashed_on
        mask[ground & hit & (z < 120)] = cls

    # -- colours ---------------------------------------------------------------------------
    light = rng.uniform(0.55, 1.25)
    sky_top = np.array([rng.uniform(90, 150), rng.uniform(140, 190), rng.uniform(200, 250)])
    sky_bot = np.array([200.0, 210.0, 220.0]) * rng.uniform(0.8, 1.05)
    t = np.clip(ys / max(horizon, 1), 0, 1)[..., None]
    img = sky_top * (1 - t) + sky_bot * t
    verge = np.array([rng.uniform(60, 110), rng.uniform(90, 140), rng.uniform(40, 80)])
    img = np.where(ground[..., None], verge, img)
    asphalt = rng.uniform(70, 115)
    road_tex = asphalt + rng.normal(0, 6, (h, w))
    img = np.where(on_road[..., None], np.stack([road_tex, road_tex, road_tex * 1.03], -1), img)
    paint_white = np.array([235.0, 235.0, 230.0]) * rng.uniform(0.8, 1.0)
    paint_yellow = np.array([230.0, 190.0, 40.0]) * rng.uniform(0.8, 1.0)
    for cls, colour in ((DASHED_LINE, paint_white), (SINGLE_LINE, paint_white), (DOUBLE_LINE, paint_yellow)):
        img = np.where((mask == cls)[..., None], colour, img)

    # Shadows across the road (trees, bridges): dark bands in ground distance.
    for _ in range(int(rng.integers(0, 3))):
        z0, dz = rng.uniform(5, 40), rng.uniform(1, 6)
        band = ground & (z > z0) & (z < z0 + dz)
        img = np.where(band[..., None], img * rng.uniform(0.45, 0.75), img)

    # Vehicles ahead: boxes standing on the road that occlude lanes (labelled background).
    for _ in range(int(rng.integers(0, 4))):
        vz = rng.uniform(8, 60)
        lane = rng.integers(-n_left, n_right + 1)
        vx = (lane + rng.uniform(-0.15, 0.15)) * lane_w + curvature * vz**2 + heading * vz - offset
        px = w / 2 + vx * focal / vz
        py = horizon + focal * cam_height / vz
        vw, vh = 1.9 * focal / vz, rng.uniform(1.4, 2.2) * focal / vz
        x0, x1 = int(px - vw / 2), int(px + vw / 2)
        y0, y1 = int(py - vh), int(py)
        if x1 <= 0 or x0 >= w or y1 <= 0 or y0 >= h:
            continue
        x0, x1, y0, y1 = max(x0, 0), min(x1, w), max(y0, 0), min(y1, h)
        body = rng.uniform(20, 230, 3)
        img[y0:y1, x0:x1] = body
        img[y0 + (y1 - y0) * 2 // 3 : y1, x0:x1] *= 0.5  # darker lower part / wheels
        mask[y0:y1, x0:x1] = BACKGROUND

    img = img * light
    img = img + rng.normal(0, rng.uniform(2, 8), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def write_dataset_toml(out: Path, classes=LANE_CLASSES, colours=LANE_COLOURS, note: str = "") -> None:
    lines = [
        f"# {note}" if note else "# edgeseg dataset description",
        'layout = "segnet"',
        'mask = "index"',
        "ignore_index = 255",
        "classes = [" + ", ".join(json.dumps(c, ensure_ascii=False) for c in classes) + "]",  # TOML strings
        "colours = [" + ", ".join(f"[{r}, {g}, {b}]" for r, g, b in colours) + "]",
        "",
    ]
    atomic_write_text(out / "dataset.toml", "\n".join(lines))


SYNTH_FOLDERS = ("train", "trainannot", "val", "valannot", "test", "testannot")


def synth_note(count: int, size: tuple[int, int], seed: int, val_fraction: float, image_format: str) -> str:
    return (
        f"synthetic lane scenes: edgeseg data synth --count {count} --size {size[0]}x{size[1]} --seed {seed} "
        f"--val-fraction {val_fraction:g} --format {image_format}"
    )


def _claim_folder(out: Path, note: str, force: bool) -> None:
    """An empty (or missing) folder, the same synthesis again (resumable: same files), or
    ``force``, which removes the dataset there first. Anything else is refused: mixing
    scenes of two sizes or seeds in one dataset is never what a user wants."""
    import shutil

    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(f"{out} is a file, not a folder: choose another OUT")
    content = [p for p in out.iterdir() if not p.name.startswith(".")]
    if not content:
        return
    toml = out / "dataset.toml"
    first = toml.read_text().splitlines()[0] if toml.is_file() else ""
    if first == f"# {note}":
        return
    if not force:
        images = sum(1 for d in SYNTH_FOLDERS if (out / d).is_dir() for _ in (out / d).iterdir())
        what = (
            f"a dataset ({first[2:]})"
            if first.startswith("# ")
            else f"{len(content)} entries ({images} files in split folders)"
        )
        raise DataError(f"{out} already holds {what}: pass --force to replace its dataset, or choose an empty folder")
    for d in SYNTH_FOLDERS:
        if (out / d).is_dir():
            shutil.rmtree(out / d)
    toml.unlink(missing_ok=True)


def synthesize(
    out: str | Path,
    count: int = 200,
    size: tuple[int, int] = SYNTH_SIZE,
    seed: int = 0,
    val_fraction: float = 0.2,
    image_format: str = "png",
    progress=None,
    force: bool = False,
) -> dict:
    """Write ``count`` scenes in the SegNet layout (train/ trainannot/ val/ valannot/).

    Image ``i`` depends only on ``(seed, i)``, so an interrupted synthesis can be run again
    with the same options and the same seed always gives the same files. A folder that
    holds anything else is refused unless ``force`` (which replaces its dataset).
    """
    out = Path(out)
    note = synth_note(count, size, seed, val_fraction, image_format)
    try:
        check_writable_output(out, "OUT", kind="folder")
    except OutputPathError as exc:
        raise DataError(str(exc)) from None
    _claim_folder(out, note, force)
    n_val = int(round(count * val_fraction)) if count > 1 else 0
    n_train = count - n_val
    for d in ("train", "trainannot", "val", "valannot"):
        (out / d).mkdir(parents=True, exist_ok=True)
    write_dataset_toml(out, note=note)
    indices = range(count)
    for i in progress(indices, desc="synthesize", total=count) if progress else indices:
        rng = np.random.default_rng([seed, i])
        image, mask = render_scene(rng, size)
        split = "train" if i < n_train else "val"
        stem = f"lane_{seed}_{i:05d}"
        ext = "jpg" if image_format == "jpg" else "png"
        _save_atomic(Image.fromarray(image), out / split / f"{stem}.{ext}")
        _save_atomic(Image.fromarray(mask, mode="L"), out / f"{split}annot" / f"{stem}.png")
    return {"out": str(out), "train": n_train, "val": n_val, "size": list(size), "seed": seed}


def _save_atomic(im: Image.Image, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fmt = "JPEG" if path.suffix == ".jpg" else "PNG"
    try:
        im.save(tmp, format=fmt, **({"quality": 92} if fmt == "JPEG" else {"optimize": False}))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # interrupted (Ctrl-C, SIGTERM) or a full disk: no partial file
