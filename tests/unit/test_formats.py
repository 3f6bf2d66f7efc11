"""Dataset layout readers, nearest-colour mapping and bad-input errors."""

import numpy as np
import pytest
from conftest import save

from edgeseg.config import IGNORE
from edgeseg.data.formats import CAMVID_CLASSES, VOC_CLASSES, class_pixel_share, map_colours, open_dataset
from edgeseg.data.pipeline import load_split
from edgeseg.errors import DataError


def test_segnet_reader_maps_void_to_ignore(segnet_dataset):
    ds = open_dataset(segnet_dataset)
    assert ds.layout == "segnet"
    assert ds.class_names == CAMVID_CLASSES and ds.ignore_index == 11
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 3, "val": 2}
    image, mask = ds.read_sample(ds.samples("train")[0])
    assert image.shape == (8, 12, 3) and mask.shape == (8, 12)
    assert mask[0, 0] == IGNORE and mask[mask != IGNORE].max() <= 10


def test_generic_layout_with_and_without_split_lists(tmp_path):
    root = tmp_path / "gen"
    for i in range(12):
        save(root / "images" / f"a{i:02d}.jpg", np.full((6, 6, 3), i * 10, np.uint8))
        save(root / "masks" / f"a{i:02d}.png", np.full((6, 6), i % 3, np.uint8), mode="L")
    (root / "dataset.toml").write_text('classes = ["bg", "one", "two"]\n')
    ds = open_dataset(root)
    assert ds.layout == "generic" and ds.num_classes == 3
    # every 10th image (sorted) is validation
    assert [s.image.name for s in ds.splits["val"]] == ["a09.jpg"]
    assert len(ds.splits["train"]) == 11
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("a00\na01\n")
    (root / "splits" / "val.txt").write_text("a05.jpg\n")
    ds = open_dataset(root)
    assert [s.image.stem for s in ds.splits["train"]] == ["a00", "a01"]
    assert [s.image.stem for s in ds.splits["val"]] == ["a05"]


def test_generic_without_classes_says_how_to_declare_them(tmp_path):
    root = tmp_path / "gen"
    save(root / "images" / "a.png", np.zeros((4, 4, 3), np.uint8))
    save(root / "masks" / "a.png", np.zeros((4, 4), np.uint8), mode="L")
    with pytest.raises(DataError, match=r"does not say its classes: add dataset.toml"):
        open_dataset(root)


def test_voc_palette_masks(tmp_path):
    root = tmp_path / "voc"
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9)
    palette[255 * 3 : 255 * 3 + 3] = [224, 224, 192]
    mask = np.array([[0, 1, 2, 255]], np.uint8).repeat(4, 0)
    for stem in ("2007_000032", "2007_000039"):
        save(root / "JPEGImages" / f"{stem}.jpg", np.zeros((4, 4, 3), np.uint8))
        save(root / "SegmentationClass" / f"{stem}.png", mask, mode="P", palette=palette)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000032\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000039\n")
    ds = open_dataset(root)
    assert ds.layout == "voc" and ds.class_names == VOC_CLASSES
    _, m = ds.read_sample(ds.samples("val")[0])
    assert m[0].tolist() == [0, 1, 2, IGNORE]


def test_nearest_colour_mapping_handles_antialiasing_and_far_colours():
    colours = [(0, 0, 0), (255, 0, 0), (0, 0, 255)]
    rgb = np.array([[[0, 0, 0], [250, 8, 3], [10, 0, 240], [128, 128, 128], [255, 0, 0]]], np.uint8)
    out = map_colours(rgb, colours, tolerance=40)
    assert out.tolist() == [[0, 1, 2, IGNORE, 1]]
    # a pixel nearest to a void colour is ignore even when close
    out = map_colours(np.array([[[60, 40, 222]]], np.uint8), colours, 200, void_colours=[(64, 64, 220)])
    assert out.tolist() == [[IGNORE]]


def test_rgb_masks_with_class_dict(tmp_path):
    root = tmp_path / "rgb"
    save(root / "train" / "x.png", np.zeros((2, 3, 3), np.uint8))
    save(
        root / "trainannot" / "x.png",
        np.array([[[128, 64, 128], [0, 0, 0], [64, 0, 128]], [[130, 66, 126], [1, 2, 3], [200, 200, 10]]], np.uint8),
    )
    (root / "class_dict.csv").write_text("name,r,g,b\nroad,128,64,128\ncar,64,0,128\nVoid,0,0,0\n")
    ds = open_dataset(root)
    assert ds.mask_kind == "rgb" and ds.class_names == ("road", "car")
    _, m = ds.read_sample(ds.samples("train")[0])
    assert m.tolist() == [[0, IGNORE, 1], [0, IGNORE, IGNORE]]


def test_class_dict_with_bad_header_is_rejected(tmp_path):
    root = tmp_path / "rgb"
    save(root / "train" / "x.png", np.zeros((2, 2, 3), np.uint8))
    (root / "trainannot").mkdir()
    (root / "class_dict.csv").write_text("label;colour\n")
    with pytest.raises(DataError, match=r"class_dict.csv must start with the header name,r,g,b"):
        open_dataset(root)


def test_dataset_toml_unknown_key_names_nearest(tmp_path, segnet_dataset):
    (segnet_dataset / "dataset.toml").write_text('clases = ["a", "b"]\n')
    with pytest.raises(DataError, match=r"unknown key 'clases'; did you mean 'classes'\?"):
        open_dataset(segnet_dataset)


def test_unknown_layout_lists_the_expected_ones(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DataError, match=r"matches no dataset layout. Expected one of:"):
        open_dataset(tmp_path / "stuff")
    with pytest.raises(DataError, match=r"does not exist"):
        open_dataset(tmp_path / "nope")


def test_bad_files_name_the_file(segnet_dataset):
    ds = open_dataset(segnet_dataset)
    # class id outside the list
    save(segnet_dataset / "trainannot" / "img1.png", np.full((8, 12), 14, np.uint8), mode="L")
    with pytest.raises(
        DataError,
        match=r"trainannot/img1.png has class id\(s\) \[14\] outside the class list \(0-10 and ignore index 11\)",
    ):
        load_split(ds, "train", (8, 12))
    # wrong mask size
    save(segnet_dataset / "trainannot" / "img1.png", np.zeros((4, 12), np.uint8), mode="L")
    with pytest.raises(DataError, match=r"img1.png is 12x4 \(WxH\) but its image is 12x8"):
        load_split(ds, "train", (8, 12))
    # unreadable image
    (segnet_dataset / "train" / "img2.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot read image .*train/img2.png"):
        ds.read_sample(ds.samples("train")[2])
    # image without mask
    save(segnet_dataset / "train" / "img9.png", np.zeros((8, 12, 3), np.uint8))
    ds = open_dataset(segnet_dataset)
    lonely = [s for s in ds.samples("train") if s.image.name == "img9.png"][0]
    with pytest.raises(DataError, match=r"img9.png has no mask"):
        ds.read_sample(lonely)


def test_skip_bad_keeps_good_files_and_counts_the_rest(segnet_dataset, caplog):
    (segnet_dataset / "train" / "img2.png").write_bytes(b"\x89PNG truncated")
    save(segnet_dataset / "trainannot" / "img1.png", np.zeros((3, 3), np.uint8), mode="L")
    ds = open_dataset(segnet_dataset)
    cache = load_split(ds, "train", (8, 12), skip_bad=True)
    assert len(cache) == 1 and len(cache.skipped) == 2
    assert "skipped 2 bad file(s)" in caplog.text


def test_pixel_share_sums_to_one(segnet_dataset):
    ds = open_dataset(segnet_dataset)
    hist = class_pixel_share(ds)
    assert hist["pixels"] == 5 * 8 * 12
    assert abs(sum(hist["share"].values()) - 1) < 1e-9
    assert hist["ignored"] == 5
