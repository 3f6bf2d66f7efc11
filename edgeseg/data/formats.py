"""Dataset layouts on disk and the readers that turn them into (image, mask) arrays.

Every reader returns masks as uint8 class indices with the dataset's own ignore value
mapped to :data:`edgeseg.config.IGNORE` (255), so the rest of the pipeline has one
convention.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..config import IGNORE
from ..errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = ("train", "val", "test")

CAMVID_CLASSES = (
    "sky", "building", "pole", "road", "pavement", "tree",
    "sign_symbol", "fence", "car", "pedestrian", "bicyclist",
)
CAMVID_COLOURS = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
#: Class names that an RGB ``class_dict.csv`` may use for "not labelled"; mapped to ignore.
VOID_NAMES = frozenset({"void", "unlabelled", "unlabeled", "ignore", "background_ignore"})
#: RGB distance beyond which a mask colour matches no class and becomes ignore.
DEFAULT_COLOUR_TOLERANCE = 40.0

TOML_KEYS = ("layout", "classes", "colours", "ignore_index", "mask", "colour_tolerance")


@dataclass(frozen=True)
class Sample:
    image: Path
    mask: Path | None
    split: str


@dataclass
class Dataset:
    """A dataset on disk: where its files are and how to decode its masks."""

    root: Path
    layout: str
    class_names: tuple[str, ...]
    mask_kind: str  # "index" (class-index or palette PNG) or "rgb" (colour masks)
    ignore_index: int | None = None  # the dataset's own ignore value in index masks
    colours: tuple[tuple[int, int, int], ...] | None = None
    void_colours: tuple[tuple[int, int, int], ...] = ()
    colour_tolerance: float = DEFAULT_COLOUR_TOLERANCE
    splits: dict[str, list[Sample]] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def samples(self, split: str) -> list[Sample]:
        if split not in self.splits or not self.splits[split]:
            have = ", ".join(f"{k} ({len(v)})" for k, v in self.splits.items() if v) or "none"
            raise DataError(f"dataset {self.root} has no '{split}' split; splits found: {have}")
        return self.splits[split]

    # -- decoding ---------------------------------------------------------------------
    def read_image(self, path: Path) -> np.ndarray:
        return read_rgb(path)

    def read_mask(self, path: Path, expect_size: tuple[int, int] | None = None) -> np.ndarray:
        """Decode a mask into uint8 class indices with ignore = 255; validate it."""
        try:
            with Image.open(path) as im:
                im.load()
                size = (im.height, im.width)
                if self.mask_kind == "rgb":
                    arr = np.asarray(im.convert("RGB"))
                    out = map_colours(arr, self.colours, self.colour_tolerance, self.void_colours)
                else:
                    if im.mode in ("RGB", "RGBA"):
                        raise DataError(
                            f"mask {path} is an RGB image but the dataset uses class-index masks; "
                            "add class_dict.csv (name,r,g,b) or dataset.toml with mask = \"rgb\""
                        )
                    raw = np.asarray(im if im.mode in ("P", "L") else im.convert("L"))
                    out = self._index_to_internal(raw, path)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot read mask {path}: {exc}") from None
        if expect_size is not None and size != tuple(expect_size):
            raise DataError(
                f"mask {path} is {size[1]}x{size[0]} (WxH) but its image is "
                f"{expect_size[1]}x{expect_size[0]}; masks must have their image's size"
            )
        return out

    def _index_to_internal(self, raw: np.ndarray, path: Path) -> np.ndarray:
        raw = raw.astype(np.int64)
        out = raw.copy()
        if self.ignore_index is not None:
            out[raw == self.ignore_index] = IGNORE
        bad = (out != IGNORE) & ((out < 0) | (out >= self.num_classes))
        if bad.any():
            ids = sorted(set(np.unique(raw[bad]).tolist()))
            ign = f" and ignore index {self.ignore_index}" if self.ignore_index is not None else ""
            raise DataError(
                f"mask {path} has class id(s) {ids[:8]} outside the class list "
                f"(0-{self.num_classes - 1}{ign}); fix the mask or declare the classes in dataset.toml"
            )
        return out.astype(np.uint8)

    def read_sample(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        if sample.mask is None:
            raise DataError(f"image {sample.image} has no mask (looked for the same file stem)")
        image = self.read_image(sample.image)
        mask = self.read_mask(sample.mask, expect_size=image.shape[:2])
        return image, mask

    def describe(self) -> dict:
        return {
            "root": str(self.root),
            "layout": self.layout,
            "mask": self.mask_kind,
            "classes": list(self.class_names),
            "ignore_index": self.ignore_index,
            "splits": {k: len(v) for k, v in self.splits.items()},
        }


def read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def map_colours(
    rgb: np.ndarray,
    colours,
    tolerance: float = DEFAULT_COLOUR_TOLERANCE,
    void_colours=(),
) -> np.ndarray:
    """Map an RGB mask to class indices by nearest class colour.

    Anti-aliased edges take the nearest class colour; a pixel farther than ``tolerance``
    (Euclidean RGB distance) from every class colour, or nearest to a void colour, becomes
    ignore.
    """
    if not colours:
        raise DataError("RGB colour masks need class colours (class_dict.csv or dataset.toml colours)")
    table = np.asarray(list(colours) + list(void_colours), dtype=np.float64)
    n_real = len(colours)
    flat = rgb.reshape(-1, 3).astype(np.int64)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, inverse = np.unique(packed, return_inverse=True)
    u_rgb = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.float64)
    dist = np.sqrt(((u_rgb[:, None, :] - table[None, :, :]) ** 2).sum(-1))
    nearest = dist.argmin(1)
    ok = (dist[np.arange(len(uniq)), nearest] <= tolerance) & (nearest < n_real)
    labels = np.where(ok, nearest, IGNORE).astype(np.uint8)
    return labels[inverse].reshape(rgb.shape[:2])


# -- layout detection -------------------------------------------------------------------


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _mask_for(image: Path, mask_dir: Path) -> Path | None:
    for suffix in (".png", image.suffix, ".bmp"):
        cand = mask_dir / (image.stem + suffix)
        if cand.is_file():
            return cand
    return None


def _segnet_splits(root: Path) -> dict[str, list[Sample]]:
    splits = {}
    for split in SPLITS:
        images = _images_in(root / split)
        if images:
            splits[split] = [Sample(p, _mask_for(p, root / f"{split}annot"), split) for p in images]
    return splits


def _read_list(path: Path) -> list[str]:
    return [ln.strip().split()[0] for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def _generic_splits(root: Path) -> dict[str, list[Sample]]:
    images = {p.stem: p for p in _images_in(root / "images")}
    masks = root / "masks"
    split_dir = root / "splits"
    lists = {s: split_dir / f"{s}.txt" for s in SPLITS if (split_dir / f"{s}.txt").is_file()}
    splits: dict[str, list[Sample]] = {}
    if lists:
        for split, lst in lists.items():
            stems = [Path(s).stem for s in _read_list(lst)]
            missing = [s for s in stems if s not in images]
            if missing:
                raise DataError(f"{lst} names {len(missing)} image(s) not in {root / 'images'}, e.g. {missing[0]}")
            splits[split] = [Sample(images[s], _mask_for(images[s], masks), split) for s in stems]
    else:
        # No split lists: every 10th image (sorted by name) is validation, deterministically.
        ordered = [images[k] for k in sorted(images)]
        splits["train"] = [Sample(p, _mask_for(p, masks), "train") for i, p in enumerate(ordered) if i % 10 != 9]
        splits["val"] = [Sample(p, _mask_for(p, masks), "val") for i, p in enumerate(ordered) if i % 10 == 9]
    return splits


def _voc_splits(root: Path) -> dict[str, list[Sample]]:
    jpeg, seg, sets = root / "JPEGImages", root / "SegmentationClass", root / "ImageSets" / "Segmentation"
    splits: dict[str, list[Sample]] = {}
    for split, names in (("train", ("train",)), ("val", ("val",)), ("test", ("test",))):
        for name in names:
            lst = sets / f"{name}.txt"
            if lst.is_file():
                samples = []
                for stem in _read_list(lst):
                    img = next((jpeg / f"{stem}{s}" for s in (".jpg", ".jpeg", ".png") if (jpeg / f"{stem}{s}").is_file()), None)
                    if img is None:
                        raise DataError(f"{lst} names '{stem}' but {jpeg} has no such image")
                    samples.append(Sample(img, _mask_for(img, seg), split))
                splits[split] = samples
    return splits


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    detect: Callable[[Path], bool]
    splits: Callable[[Path], dict[str, list[Sample]]]
    default_classes: tuple[str, ...] | None
    default_ignore: int | None
    default_colours: tuple[tuple[int, int, int], ...] | None = None


LAYOUTS: dict[str, Layout] = {
    "segnet": Layout(
        "segnet", "SegNet/CamVid: train/ trainannot/ val/ valannot/ [test/ testannot/], class-index PNG masks",
        lambda r: (r / "train").is_dir() and (r / "trainannot").is_dir()
        or (r / "val").is_dir() and (r / "valannot").is_dir(),
        _segnet_splits, CAMVID_CLASSES, 11, CAMVID_COLOURS,
    ),
    "voc": Layout(
        "voc", "Pascal VOC: JPEGImages/ SegmentationClass/ ImageSets/Segmentation/*.txt, palette PNG masks",
        lambda r: (r / "JPEGImages").is_dir() and (r / "SegmentationClass").is_dir(),
        _voc_splits, VOC_CLASSES, 255,
    ),
    "generic": Layout(
        "generic", "generic: images/ masks/ [splits/train.txt val.txt test.txt]",
        lambda r: (r / "images").is_dir() and (r / "masks").is_dir(),
        _generic_splits, None, None,
    ),
}


def _read_class_dict(path: Path):
    names, colours, voids = [], [], []
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:4]] != ["name", "r", "g", "b"]:
            raise DataError(f"{path} must start with the header name,r,g,b (found {header})")
        for lineno, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            try:
                name, rgb = row[0].strip(), tuple(int(v) for v in row[1:4])
            except (ValueError, IndexError):
                raise DataError(f"{path}:{lineno}: expected name,r,g,b with integer colours, got {row}") from None
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise DataError(f"{path}:{lineno}: colour {rgb} must be three values in 0-255")
            if name.lower() in VOID_NAMES:
                voids.append(rgb)
            else:
                names.append(name)
                colours.append(rgb)
    if not names:
        raise DataError(f"{path} lists no classes")
    return tuple(names), tuple(colours), tuple(voids)


def _read_toml(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown:
        import difflib  # noqa: PLC0415

        key = unknown[0]
        near = difflib.get_close_matches(key, TOML_KEYS, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(TOML_KEYS)}"
        raise DataError(f"{path}: unknown key '{key}'{hint}")
    return data


def open_dataset(root: str | Path) -> Dataset:
    """Detect the layout of ``root`` and return a :class:`Dataset` (no pixel is read yet)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    cfg = _read_toml(root / "dataset.toml") if (root / "dataset.toml").is_file() else {}
    if "layout" in cfg:
        if cfg["layout"] not in LAYOUTS:
            raise DataError(f"{root / 'dataset.toml'}: layout '{cfg['layout']}' is not one of {', '.join(LAYOUTS)}")
        layout = LAYOUTS[cfg["layout"]]
    else:
        layout = next((lay for lay in LAYOUTS.values() if lay.detect(root)), None)
        if layout is None:
            raise DataError(
                f"{root} matches no dataset layout. Expected one of:\n  "
                + "\n  ".join(lay.description for lay in LAYOUTS.values())
                + "\nor a dataset.toml with layout = \"segnet\" | \"voc\" | \"generic\"."
            )
    splits = layout.splits(root)
    if not any(splits.values()):
        raise DataError(f"{root} looks like the {layout.name} layout but holds no images")

    names, colours, voids = layout.default_classes, layout.default_colours, ()
    ignore = layout.default_ignore
    mask_kind = "index"
    class_dict = root / "class_dict.csv"
    if class_dict.is_file():
        names, colours, voids = _read_class_dict(class_dict)
        mask_kind, ignore = "rgb", None
    if "classes" in cfg:
        names = tuple(str(c) for c in cfg["classes"])
        colours = None if "colours" not in cfg else colours
    if "colours" in cfg:
        colours = tuple(tuple(int(v) for v in c) for c in cfg["colours"])
        if names and len(colours) != len(names):
            raise DataError(f"{root / 'dataset.toml'}: {len(names)} classes but {len(colours)} colours")
    if "ignore_index" in cfg:
        ignore = int(cfg["ignore_index"])
    if "mask" in cfg:
        if cfg["mask"] not in ("index", "palette", "rgb"):
            raise DataError(f"{root / 'dataset.toml'}: mask must be \"index\", \"palette\" or \"rgb\"")
        mask_kind = "rgb" if cfg["mask"] == "rgb" else "index"
    if not names:
        raise DataError(
            f"{root} ({layout.name} layout) does not say its classes: add dataset.toml with "
            "classes = [\"background\", ...] or a class_dict.csv (name,r,g,b)"
        )
    return Dataset(
        root=root, layout=layout.name, class_names=tuple(names), mask_kind=mask_kind,
        ignore_index=ignore, colours=colours, void_colours=voids,
        colour_tolerance=float(cfg.get("colour_tolerance", DEFAULT_COLOUR_TOLERANCE)), splits=splits,
    )


def image_folder(root: str | Path) -> list[Path]:
    """All images in a plain folder (recursively), for calibration from unlabelled images."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.endswith("annot") or part in ("masks", "SegmentationClass") for part in p.parts))


def class_pixel_share(ds: Dataset, splits=SPLITS, max_per_split: int | None = None, progress=None,
                      check: bool = False) -> dict:
    """Count mask pixels per class (ignore counted separately) over the given splits.

    With ``check``, every sample goes through the same reading and validation as training
    (:meth:`Dataset.read_sample`: the image decodes, it has a mask of its size whose ids are
    all classes or ignore), and each bad file is listed in ``bad`` as ``(path, reason)``
    instead of stopping at the first."""
    counts = np.zeros(ds.num_classes + 1, dtype=np.int64)
    bad: list[tuple[str, str]] = []
    for split in splits:
        samples = ds.splits.get(split, [])[: max_per_split or None]
        for s in progress(samples, desc=f"scan {split}") if progress else samples:
            if s.mask is None and not check:
                continue
            try:
                m = (ds.read_sample(s)[1] if check else ds.read_mask(s.mask)).ravel()
            except DataError as exc:
                bad.append((str(s.image), str(exc)))
                continue
            m = np.where(m == IGNORE, ds.num_classes, m)
            counts += np.bincount(m, minlength=ds.num_classes + 1)
    total = counts.sum()
    share = {name: (counts[i] / total if total else 0.0) for i, name in enumerate(ds.class_names)}
    share["<ignore>"] = counts[-1] / total if total else 0.0
    return {"pixels": int(total), "counts": counts[:-1].tolist(), "ignored": int(counts[-1]), "share": share,
            "bad": bad}
