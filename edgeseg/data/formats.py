"""Dataset layouts on disk and the readers that turn them into (image, mask) arrays.

Every reader returns masks as uint8 class indices with the dataset's own ignore value
mapped to :data:`edgeseg.config.IGNORE` (255), so the rest of the pipeline has one
convention.
"""

from __future__ import annotations

import csv
import os
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..config import IGNORE
from ..errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = ("train", "val", "test")

CAMVID_CLASSES = (
    "sky",
    "building",
    "pole",
    "road",
    "pavement",
    "tree",
    "sign_symbol",
    "fence",
    "car",
    "pedestrian",
    "bicyclist",
)
CAMVID_COLOURS = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
)
VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
#: Class names that an RGB ``class_dict.csv`` may use for "not labelled"; mapped to ignore.
VOID_NAMES = frozenset({"void", "unlabelled", "unlabeled", "ignore", "background_ignore"})
#: RGB distance beyond which a mask colour matches no class and becomes ignore.
DEFAULT_COLOUR_TOLERANCE = 40.0

TOML_KEYS = ("layout", "classes", "colours", "ignore_index", "mask", "colour_tolerance")

#: The EXIF tag that says how a viewer turns the stored pixels before showing them, and what
#: each of its values (2-8) asks for; 1 (or no tag) is upright.
EXIF_ORIENTATION = 0x0112
ORIENTATIONS = {
    2: "mirrored left-right",
    3: "rotated 180 degrees",
    4: "mirrored top-bottom",
    5: "mirrored and rotated 90 degrees",
    6: "rotated 90 degrees clockwise",
    7: "mirrored and rotated 270 degrees",
    8: "rotated 90 degrees counter-clockwise",
}
#: Orientations that swap width and height.
TRANSPOSING = frozenset({5, 6, 7, 8})
#: Mask modes whose stored value per pixel is the class id: read as stored, never converted
#: (a conversion to 8 bits would clip 16-bit ids to 255, "ignore"; 1-bit 1 would become 255).
INDEX_MASK_MODES = ("1", "L", "P", "LA", "PA", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
#: Mask modes a colour (class_dict.csv) mask may have: converting them to RGB keeps every
#: colour as it is shown.
COLOUR_MASK_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "L", "LA", "1")


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
        """Decode a mask into uint8 class indices with ignore = 255; validate it.

        The mask is read as it is shown (its EXIF orientation applied, as for images) and
        its stored values are checked against the class list before anything converts
        them: a 16-bit id 300 is an error naming the file and 300, never a clipped 255."""
        try:
            with Image.open(path) as im:
                im.load()
                im, _ = upright(im)
                size = (im.height, im.width)
                if self.mask_kind == "rgb":
                    arr = _colour_mask_values(im, path)
                    out = map_colours(arr, self.colours, self.colour_tolerance, self.void_colours)
                else:
                    out = self._index_to_internal(_index_mask_values(im, path), path)
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
        image, orientation, stored_hw = _read_rgb(sample.image)
        mask = self.read_mask(sample.mask)
        if mask.shape != image.shape[:2]:
            raise DataError(_size_mismatch(sample, mask.shape, image.shape[:2], orientation, stored_hw))
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
    """An image file as uint8 RGB pixels the way a viewer shows it: its EXIF orientation
    applied (a phone's portrait JPEG is stored sideways with orientation 6)."""
    return _read_rgb(path)[0]


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation of an opened image (1 when it has none or an unknown one)."""
    try:
        value = im.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:
        return 1
    return value if value in ORIENTATIONS else 1


def upright(im: Image.Image) -> tuple[Image.Image, int]:
    """``im`` as shown (:func:`PIL.ImageOps.exif_transpose`) and the orientation applied."""
    orientation = exif_orientation(im)
    if orientation == 1:
        return im, 1
    return ImageOps.exif_transpose(im), orientation


def _read_rgb(path: Path) -> tuple[np.ndarray, int, tuple[int, int]]:
    """(RGB pixels as shown, EXIF orientation, stored (H, W))."""
    try:
        with Image.open(path) as im:
            im.load()
            stored = (im.height, im.width)
            im, orientation = upright(im)
            return _rgb_values(im, path), orientation, stored
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def _rgb_values(im: Image.Image, path: Path) -> np.ndarray:
    """uint8 RGB of an image without clipping: 16-bit greyscale is scaled to 8 bits (Pillow's
    own conversion would clip every value above 255 to white)."""
    if im.mode.startswith("I;16"):
        grey = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if im.mode in ("I", "F"):
        arr = np.asarray(im)
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255):
            raise DataError(
                f"image {path} is a {'32-bit integer' if im.mode == 'I' else 'floating-point'} "
                f"greyscale image with values {arr.min():g}..{arr.max():g}, outside 0..255; save it as "
                "8-bit RGB (or 8/16-bit greyscale)"
            )
        return np.repeat(np.round(arr).astype(np.uint8)[..., None], 3, axis=-1)
    return np.asarray(im.convert("RGB"))


def _index_mask_values(im: Image.Image, path: Path) -> np.ndarray:
    """The class ids a class-index mask stores, as int64, with no conversion that could
    change one (1-bit, 8-bit, palette indices, 16- and 32-bit greyscale; an alpha band is
    dropped, never mixed in)."""
    if im.mode in ("RGB", "RGBA"):
        raise DataError(
            f"mask {path} is an RGB image but the dataset uses class-index masks; "
            'add class_dict.csv (name,r,g,b) or dataset.toml with mask = "rgb"'
        )
    if im.mode not in INDEX_MASK_MODES:
        raise DataError(
            f"mask {path} is a {im.mode} image; class-index masks are single-channel images (1-bit, "
            "8-bit, palette, 16-bit greyscale) whose values are the class ids"
        )
    if im.mode in ("LA", "PA"):
        im = im.getchannel(0)
    arr = np.asarray(im)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise DataError(
                f"mask {path} holds the non-integer value {arr[bad].flat[0]!r}; class ids are whole "
                "numbers: save the mask as an 8- or 16-bit integer image"
            )
        arr = np.round(arr)
    return arr.astype(np.int64)


def _colour_mask_values(im: Image.Image, path: Path) -> np.ndarray:
    """uint8 RGB of a colour mask, refusing conversions that would change a colour."""
    if im.mode in COLOUR_MASK_MODES:
        return np.asarray(im.convert("RGB"))
    if im.mode in INDEX_MASK_MODES:  # 16/32-bit greyscale or float: only exact 8-bit greys are colours
        arr = _index_mask_values(im, path)
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            value = int(arr.max() if arr.max() > 255 else arr.min())
            raise DataError(
                f"mask {path} is a {im.mode} greyscale image with the value {value}, which is no RGB "
                'colour, but the dataset\'s masks are RGB colours (class_dict.csv or mask = "rgb"): '
                'save the masks as 8-bit RGB, or declare class-index masks (mask = "index" in '
                "dataset.toml)"
            )
        return np.repeat(arr.astype(np.uint8)[..., None], 3, axis=-1)
    raise DataError(f"mask {path} is a {im.mode} image; colour masks must be RGB, RGBA or palette images")


def _wh(hw) -> str:
    return f"{hw[1]}x{hw[0]}"


def _size_mismatch(sample: Sample, mask_hw, image_hw, orientation: int, stored_hw) -> str:
    """Why a mask does not fit its image, saying when the image's EXIF orientation is why."""
    if orientation != 1 and tuple(mask_hw) == tuple(stored_hw) != tuple(image_hw):
        return (
            f"image {sample.image} is stored {_wh(stored_hw)} (WxH) with EXIF orientation {orientation} "
            f"({ORIENTATIONS[orientation]} when shown), so it is {_wh(image_hw)} as shown, but its mask "
            f"{sample.mask} is {_wh(mask_hw)}: masks must match their image as shown. Turn the mask the same way, "
            "or save the image upright without the orientation tag (e.g. `mogrify -auto-orient IMAGE`)"
        )
    shown = f" (as shown, after its EXIF orientation {orientation})" if orientation != 1 else ""
    return (
        f"mask {sample.mask} is {_wh(mask_hw)} (WxH) but its image is {_wh(image_hw)}{shown}; masks must have "
        "their image's size"
    )


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


def _read_utf8(path: Path, encoding: str = "utf-8") -> str:
    """A dataset text file (TOML, split list, class_dict.csv) as UTF-8, whatever the locale."""
    try:
        return path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None


def _read_list(path: Path) -> list[str]:
    return [ln.strip().split()[0] for ln in _read_utf8(path).splitlines() if ln.strip() and not ln.startswith("#")]


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
                    img = next(
                        (jpeg / f"{stem}{s}" for s in (".jpg", ".jpeg", ".png") if (jpeg / f"{stem}{s}").is_file()),
                        None,
                    )
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
    #: The layout's own mask folders (relative to the dataset root): never read as images.
    mask_folders: tuple[str, ...] = ()


LAYOUTS: dict[str, Layout] = {
    "segnet": Layout(
        "segnet",
        "SegNet/CamVid: train/ trainannot/ val/ valannot/ [test/ testannot/], class-index PNG masks",
        lambda r: any((r / s).is_dir() and (r / f"{s}annot").is_dir() for s in SPLITS),  # any one split
        _segnet_splits,
        CAMVID_CLASSES,
        11,
        CAMVID_COLOURS,
        tuple(f"{s}annot" for s in SPLITS),
    ),
    "voc": Layout(
        "voc",
        "Pascal VOC: JPEGImages/ SegmentationClass/ ImageSets/Segmentation/*.txt, palette PNG masks",
        lambda r: (r / "JPEGImages").is_dir() and (r / "SegmentationClass").is_dir(),
        _voc_splits,
        VOC_CLASSES,
        255,
        None,
        ("SegmentationClass", "SegmentationObject"),
    ),
    "generic": Layout(
        "generic",
        "generic: images/ masks/ [splits/train.txt val.txt test.txt]",
        lambda r: (r / "images").is_dir() and (r / "masks").is_dir(),
        _generic_splits,
        None,
        None,
        None,
        ("masks",),
    ),
}


def _read_class_dict(path: Path):
    names, colours, voids = [], [], []
    import io

    with io.StringIO(_read_utf8(path, "utf-8-sig"), newline="") as fh:  # -sig: a spreadsheet's BOM
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
        data = tomllib.loads(_read_utf8(path))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown:
        import difflib

        key = unknown[0]
        near = difflib.get_close_matches(key, TOML_KEYS, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(TOML_KEYS)}"
        raise DataError(f"{path}: unknown key '{key}'{hint}")
    return data


def _layout_of(root: Path) -> Layout | None:
    """The layout ``root`` holds, as :func:`open_dataset` decides it (None: no dataset)."""
    toml = root / "dataset.toml"
    if toml.is_file():
        try:
            name = _read_toml(toml).get("layout")
        except DataError:
            name = None
        if name in LAYOUTS:
            return LAYOUTS[name]
    return next((lay for lay in LAYOUTS.values() if lay.detect(root)), None)


def dataset_mask_folders(root: str | Path) -> list[Path]:
    """The mask folders of the dataset in ``root`` (``trainannot/``, ``masks/``,
    ``SegmentationClass/`` ...): empty when ``root`` holds no dataset layout."""
    root = Path(root)
    layout = _layout_of(root) if root.is_dir() else None
    return [root / m for m in layout.mask_folders if (root / m).is_dir()] if layout else []


def check_class_names(names, where) -> tuple[str, ...]:
    """Class names as given (any script), refused when a report could not keep them apart:
    empty, with control characters, equal to another (after Unicode NFC normalisation), or
    more than the 255 ids a uint8 mask holds beside ignore."""
    names = tuple(names)
    if len(names) > IGNORE:
        raise DataError(
            f"{where} lists {len(names)} classes; edgeseg masks hold at most {IGNORE} (ids 0-{IGNORE - 1}, "
            f"{IGNORE} is ignore): merge classes, or map the rest to the ignore index"
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name.strip():
            raise DataError(f"{where}: class {i} has an empty name; give every class a name")
        if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
            raise DataError(
                f"{where}: class {i} name {name!r} holds a control character; class names are one line "
                "of printable text"
            )
        key = unicodedata.normalize("NFC", name)
        if key in seen:
            first = names[seen[key]]
            form = (
                f" (class {i} writes it {ascii(name)}, the same text in another Unicode form)" if name != first else ""
            )
            raise DataError(
                f"{where}: classes {seen[key]} and {i} are both named {first!r}{form}; give every class "
                "its own name (reports keep one column and row per class name)"
            )
        seen[key] = i
    return names


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
                + '\nor a dataset.toml with layout = "segnet" | "voc" | "generic".'
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
            raise DataError(f'{root / "dataset.toml"}: mask must be "index", "palette" or "rgb"')
        mask_kind = "rgb" if cfg["mask"] == "rgb" else "index"
    if not names:
        raise DataError(
            f"{root} ({layout.name} layout) does not say its classes: add dataset.toml with "
            'classes = ["background", ...] or a class_dict.csv (name,r,g,b)'
        )
    names = check_class_names(
        names,
        root / "dataset.toml"
        if "classes" in cfg
        else class_dict
        if class_dict.is_file()
        else f"the {layout.name} layout's classes",
    )
    return Dataset(
        root=root,
        layout=layout.name,
        class_names=tuple(names),
        mask_kind=mask_kind,
        ignore_index=ignore,
        colours=colours,
        void_colours=voids,
        colour_tolerance=float(cfg.get("colour_tolerance", DEFAULT_COLOUR_TOLERANCE)),
        splits=splits,
    )


def image_folder(root: str | Path) -> list[Path]:
    """All images in a plain folder (recursively), for calibration from unlabelled images.

    Only the mask folders of a dataset found inside ``root`` (or at it) are left out, by
    that dataset's layout (:func:`dataset_mask_folders`); what the folders above ``root``
    or any other folder is called never matters (``lane_annot/calib`` is a folder of
    images). Hidden files and folders are skipped."""
    root = Path(root)
    found: list[Path] = []
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        st = here.stat()
        if (st.st_dev, st.st_ino) in visited:  # a symlink loop
            dirnames[:] = []
            continue
        visited.add((st.st_dev, st.st_ino))
        masks = {m.name for m in dataset_mask_folders(here)}
        dirnames[:] = sorted(d for d in dirnames if d not in masks and not d.startswith("."))
        found += [
            here / f
            for f in filenames
            if Path(f).suffix.lower() in IMAGE_SUFFIXES and not f.startswith(".") and (here / f).is_file()
        ]
    return sorted(found)


def class_pixel_share(
    ds: Dataset, splits=SPLITS, max_per_split: int | None = None, progress=None, check: bool = False
) -> dict:
    """Count mask pixels per class (ignore counted separately) over the given splits.

    With ``check``, every sample goes through the same reading and validation as training
    (:meth:`Dataset.read_sample`: the image decodes, it has a mask of its size whose ids are
    all classes or ignore), and each bad file is listed in ``bad`` as ``(path, reason)``
    instead of stopping at the first.

    A split whose masks were read but hold no labelled pixel (all ignore) is listed in
    ``unlabelled`` as ``(split, masks read)``; with ``check`` it is a :class:`DataError`
    naming the split (training refuses such a split, see :func:`unlabelled_split_message`)."""
    counts = np.zeros(ds.num_classes + 1, dtype=np.int64)
    bad: list[tuple[str, str]] = []
    unlabelled: list[tuple[str, int]] = []
    scanned: dict[str, tuple[int, int]] = {}
    for split in splits:
        all_samples = ds.splits.get(split, [])
        samples = all_samples[: max_per_split or None]
        read = labelled = 0
        for s in progress(samples, desc=f"scan {split}") if progress else samples:
            if s.mask is None and not check:
                continue
            try:
                m = (ds.read_sample(s)[1] if check else ds.read_mask(s.mask)).ravel()
            except DataError as exc:
                bad.append((str(s.image), str(exc)))
                continue
            read += 1
            labelled += int(np.count_nonzero(m != IGNORE))
            m = np.where(m == IGNORE, ds.num_classes, m)
            counts += np.bincount(m, minlength=ds.num_classes + 1)
        if read and not labelled:
            unlabelled.append((split, read))
            scanned[split] = (len(samples), len(all_samples))
    if check and unlabelled:
        split, read = unlabelled[0]
        shown, size = scanned[split]
        note = f" scanned (--max-per-split: the first {shown} of {size})" if shown < size else ""
        others = [u for u, _ in unlabelled[1:]]
        also = f"; so has split {', '.join(repr(u) for u in others)}" if others else ""
        bad_note = f"; {len(bad)} file(s) are bad as well, e.g. {bad[0][1]}" if bad else ""
        raise DataError(unlabelled_split_message(ds, split, read, note) + also + bad_note)
    total = counts.sum()
    share = {name: (counts[i] / total if total else 0.0) for i, name in enumerate(ds.class_names)}
    share["<ignore>"] = counts[-1] / total if total else 0.0
    return {
        "pixels": int(total),
        "counts": counts[:-1].tolist(),
        "ignored": int(counts[-1]),
        "share": share,
        "bad": bad,
        "unlabelled": unlabelled,
    }


def unlabelled_split_message(ds: Dataset, split: str, masks: int, note: str = "") -> str:
    """The error for a split whose masks are all ignore: nothing to learn from or score."""
    if ds.mask_kind == "rgb":
        what = "void or no class colour"
    elif ds.ignore_index not in (None, IGNORE):
        what = f"the ignore value {ds.ignore_index} (or {IGNORE})"
    else:
        what = f"the ignore value {IGNORE}"
    return (
        f"split '{split}' of {ds.root} has no labelled pixel: all {masks} of its masks{note} are {what} "
        "everywhere, so it can be neither learnt from nor scored (its mIoU would be nan); label its masks, check "
        "the dataset's ignore value (ignore_index in dataset.toml), or use another split"
    )
