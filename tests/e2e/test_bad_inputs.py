"""Bad inputs end in one clear error (exit status and exact text) and leave nothing behind.

Fast tests: no training step runs here (those are in test_e2e_host.py)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import save

from edgeseg.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# -- option ranges and combinations ------------------------------------------------------------


def test_quantize_recipes_are_mutually_exclusive(tmp_path):
    res = run("quantize", tmp_path, "--int8", "--float16")
    assert res.exit_code == 2
    assert (
        "Error: --float16 and --int8 are mutually exclusive: one recipe per call (run `edgeseg quantize` once "
        "per recipe)"
    ) in res.output


def test_qat_refuses_calibration_options(tmp_path):
    res = run("quantize", tmp_path, "--qat", "--num-calib", "50")
    assert res.exit_code == 2
    assert (
        "--num-calib calibrate the PTQ recipes; --qat learns its int8 ranges during the fine-tune and uses no "
        "calibration set"
    ) in res.output
    res = run("quantize", tmp_path, "--float16", "--calib", tmp_path)
    assert res.exit_code == 2
    assert "--float16 needs no calibration: --calib/--num-calib are for --int8 and --int16x8" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--lr", "-1"], "Invalid value for '--lr': -1.0 is not in the range x>0."),
        (["train", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
        (["train", "--decay", "1.5"], "Invalid value for '--decay': 1.5 is not in the range 0<x<=1."),
        (
            ["quantize", "RUN", "--int8", "--max-drop", "-1"],
            "Invalid value for '--max-drop': -1.0 is not in the range x>=0.",
        ),
        (["quantize", "RUN", "--qat", "--lr", "0"], "Invalid value for '--lr': 0.0 is not in the range x>0."),
        (["eval", "RUN", "--data", "D", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
    ],
)
def test_out_of_range_values_are_usage_errors(tmp_path, args, message):
    args = [str(tmp_path) if a in ("RUN", "D") else a for a in args]
    if args[0] == "train":
        args += ["--data", str(tmp_path), "--out", str(tmp_path / "r")]
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "r").exists()


def test_dice_with_class_weights_is_refused(tmp_path, segnet_dataset):
    res = run("train", "--data", segnet_dataset, "--out", tmp_path / "r", "--loss", "dice", "--class-weights")
    assert res.exit_code == 2
    assert (
        "--class-weights weights the cross-entropy of --loss ce or ce_dice, and --loss dice does not use them: "
        "use --loss ce or --loss ce_dice with --class-weights, or drop --class-weights"
    ) in res.output
    assert not (tmp_path / "r").exists()


# -- artifacts ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_truncated_and_random_tflite_give_the_same_kind_of_error(tiny_tflite, tmp_path):
    data = tiny_tflite.read_bytes()
    check = run("bench", tiny_tflite, "--device", "host", "--runs", "1", "--min-secs", "0", "--no-report")
    assert check.exit_code == 0, check.output  # the whole file is fine
    for frac in (0.5, 0.9, 0.99):
        cut = tmp_path / f"cut{int(frac * 100)}.tflite"
        cut.write_bytes(data[: int(len(data) * frac)])
        res = run("bench", cut, "--device", "host", "--no-report")
        assert res.exit_code == 1, (frac, res.output)
        assert res.output.startswith(f"Error: {cut} is truncated or corrupt ({cut.stat().st_size} bytes: "), res.output
        assert res.output.rstrip().endswith("; copy or export it again")
        res = run("eval", cut, "--data", tmp_path)
        assert res.exit_code == 1 and "is truncated or corrupt" in res.output
    noise = tmp_path / "noise.tflite"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())
    res = run("bench", noise, "--device", "host", "--no-report")
    assert res.exit_code == 1
    assert res.output.startswith(f"Error: {noise} is not a TFLite model (no 'TFL3' identifier in its first 8 bytes")


def test_unknown_delegate_is_a_usage_error_with_the_nearest_name(tmp_path, tiny_tflite_bytes):
    art = tmp_path / "m.tflite"
    art.write_bytes(tiny_tflite_bytes)
    res = run("bench", art, "--device", "host", "--delegate", "xnnpak", "--reports", tmp_path / "r")
    assert res.exit_code == 2
    assert (
        "Error: Invalid value for --delegate: the host has no delegate 'xnnpak' (did you mean 'xnnpack'?); it has "
        "xnnpack, cpu" in res.output
    )
    res = run("bench", art, "--device", "pixel", "--delegate", "npu", "--reports", tmp_path / "r")
    assert res.exit_code == 2 and "profile 'pixel' has no delegate 'npu'" in res.output
    assert not (tmp_path / "r").exists()


# -- datasets -------------------------------------------------------------------------------------


def test_synth_refuses_a_folder_with_another_dataset(tmp_path):
    out = tmp_path / "lanes"
    assert run("data", "synth", out, "--count", "3", "--size", "16x16").exit_code == 0
    toml = (out / "dataset.toml").read_text()
    again = run("data", "synth", out, "--count", "3", "--size", "16x16")  # the same synthesis: resumable
    assert again.exit_code == 0, again.output
    res = run("data", "synth", out, "--count", "3", "--size", "32x32")
    assert res.exit_code == 1
    assert res.output == (
        f"Error: {out} already holds a dataset (synthetic lane scenes: edgeseg data synth --count 3 "
        "--size 16x16 --seed 0 --val-fraction 0.2 --format png): pass --force to replace its "
        "dataset, or choose an empty folder\n"
    )
    assert (out / "dataset.toml").read_text() == toml  # untouched
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.txt").write_text("mine")
    res = run("data", "synth", tmp_path / "photos", "--count", "3", "--size", "16x16")
    assert res.exit_code == 1 and "already holds 1 entries" in res.output
    res = run("data", "synth", out, "--count", "4", "--size", "32x32", "--force")
    assert res.exit_code == 0, res.output
    from PIL import Image

    sizes = {Image.open(p).size for p in (out / "train").iterdir()} | {
        Image.open(p).size for p in (out / "val").iterdir()
    }
    assert sizes == {(32, 32)} and len(list((out / "train").iterdir())) == 3


def test_inspect_runs_the_training_checks_and_names_every_bad_file(segnet_dataset):
    save(segnet_dataset / "trainannot" / "img0.png", np.full((8, 12), 40, np.uint8), mode="L")
    save(segnet_dataset / "valannot" / "img1.png", np.zeros((4, 4), np.uint8), mode="L")
    (segnet_dataset / "train" / "img2.png").write_bytes(b"not a png")
    res = run("data", "inspect", segnet_dataset)
    assert res.exit_code == 1
    lines = res.output.splitlines()
    bad = [ln for ln in lines if ln.startswith("bad file: ")]
    assert len(bad) == 3
    assert any("trainannot/img0.png has class id(s) [40] outside the class list" in ln for ln in bad)
    assert any("valannot/img1.png is 4x4 (WxH) but its image is 12x8" in ln for ln in bad)
    assert any("cannot read image" in ln and "train/img2.png" in ln for ln in bad)
    assert lines[-1] == (
        f"Error: 3 bad file(s) in {segnet_dataset}: `edgeseg train` stops at the first; fix or remove "
        "them, or train with --skip-bad to leave them out"
    )
    res = run("data", "inspect", segnet_dataset, "--json")
    assert res.exit_code == 1
    assert len(json.loads(res.output[: res.output.rindex("}") + 1])["bad_files"]) == 3


# -- what a piped or CI log shows -----------------------------------------------------------------


def test_progress_in_a_pipe_is_plain_lines():
    import io

    from edgeseg.progress import bar

    stream = io.StringIO()
    progress = bar(stream=stream, every_s=0.0)
    assert list(progress(range(3), desc="calibrate", total=3)) == [0, 1, 2]
    lines = stream.getvalue().splitlines()
    assert lines[:3] == ["calibrate 1/3 (0 s)", "calibrate 2/3 (0 s)", "calibrate 3/3 (0 s)"]
    assert "\r" not in stream.getvalue()


def test_training_steps_in_a_pipe_and_on_a_terminal():
    import io

    from edgeseg.progress import StepReporter

    piped = io.StringIO()
    rep = StepReporter(piped, every_s=0.0, tty=False)
    rep.batch({"epoch": 1, "epochs": 2, "batch": 5, "steps": 40, "loss": 0.5})
    rep.line("epoch 1/2  loss 0.5000")
    assert piped.getvalue() == "epoch 1/2  batch 5/40  loss 0.5000\nepoch 1/2  loss 0.5000\n"
    term = io.StringIO()
    rep = StepReporter(term, tty=True)
    rep.batch({"epoch": 1, "epochs": 2, "batch": 1, "steps": 40, "loss": 0.5})
    rep.line("epoch 1/2  loss 0.5000")
    before, _, after = term.getvalue().rpartition("epoch 1/2  loss 0.5000")
    assert after == "\n" and before.endswith("\r")  # the bar was cleared: the summary starts its own line


@pytest.mark.e2e
def test_no_native_log_noise_without_verbose(tiny_tflite, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "edgeseg.cli", "info", str(tiny_tflite), "--delegates"]
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "XNNPACK delegate" not in quiet.stderr and quiet.stderr == ""
    assert "Created TensorFlow Lite XNNPACK delegate" in (tmp_path / "cache/edgeseg/native.log").read_text()
    loud = subprocess.run(cmd[:3] + ["-v"] + cmd[3:], capture_output=True, text=True, timeout=300, env=env)
    assert "Created TensorFlow Lite XNNPACK delegate" in loud.stderr


CRASH_AFTER_SETUP = """
import ctypes, os, sys
from edgeseg import cli
def crash(*a, **k):
    os.write(2, b"Fatal glibc error: malloc assertion failure (simulated)\\n")  # what a native crash prints
    ctypes.string_at(0)
cli.data_inspect.callback = crash
sys.argv = ["edgeseg", "data", "inspect", "somewhere"]
cli.main()
"""


def test_a_native_crash_still_reaches_the_terminal(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_SETUP], capture_output=True, text=True, timeout=120, env=env
    )
    assert res.returncode < 0 or res.returncode >= 128  # killed by the signal
    assert "Fatal glibc error: malloc assertion failure (simulated)" in res.stderr
    assert "malloc assertion failure" in (tmp_path / "cache/edgeseg/native.log").read_text()


# -- every bad input a clear error: masks, orientation, labels, class names, paths, locks, signals --------


def _set_exif_orientation(path, arr, orientation):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    return path


def test_16bit_mask_ids_are_checked_before_any_conversion(segnet_dataset):
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import load_split
    from edgeseg.errors import DataError

    mask = np.zeros((8, 12), np.uint16)
    mask[3, 4] = 300  # Pillow's 8-bit conversion clipped this to 255: "ignore", and training ran on
    path = save(segnet_dataset / "trainannot" / "img0.png", mask)  # mode I;16
    before = path.read_bytes()
    message = (
        f"mask {path} has class id(s) [300] outside the class list (0-10 and ignore index 11); fix the mask or "
        "declare the classes in dataset.toml"
    )
    with pytest.raises(DataError) as info:
        load_split(open_dataset(segnet_dataset), "train", (8, 12))
    assert str(info.value) == message
    res = run("data", "inspect", segnet_dataset)
    assert res.exit_code == 1
    assert f"bad file: {message}" in res.output.splitlines()
    assert path.read_bytes() == before


def test_1bit_palette_and_16bit_masks_keep_their_ids(tmp_path):
    from edgeseg.data.formats import open_dataset

    root = tmp_path / "gen"
    (root / "dataset.toml").parent.mkdir(parents=True)
    (root / "dataset.toml").write_text('classes = ["bg", "road", "car"]\n')
    ids = np.array([[0, 1], [1, 0]], np.uint8)
    for stem, arr, mode in (
        ("bits", ids.astype(bool), None),
        ("grey16", (ids * 2).astype(np.uint16), None),
        ("grey8", ids, "L"),
    ):
        save(root / "images" / f"{stem}.png", np.zeros((2, 2, 3), np.uint8))
        save(root / "masks" / f"{stem}.png", arr, mode=mode)
    ds = open_dataset(root)
    masks = {s.image.stem: ds.read_sample(s)[1].tolist() for s in ds.splits["train"]}
    assert masks == {"bits": [[0, 1], [1, 0]], "grey16": [[0, 2], [2, 0]], "grey8": [[0, 1], [1, 0]]}


def test_16bit_mask_in_a_colour_dataset_is_an_error(tmp_path):
    from edgeseg.data.formats import open_dataset
    from edgeseg.errors import DataError

    root = tmp_path / "rgb"
    save(root / "train" / "x.png", np.zeros((2, 2, 3), np.uint8))
    path = save(root / "trainannot" / "x.png", np.array([[0, 300], [0, 0]], np.uint16))
    (root / "class_dict.csv").write_text("name,r,g,b\nroad,128,64,128\nsky,255,255,255\n")
    with pytest.raises(DataError) as info:
        open_dataset(root).read_mask(path)
    assert str(info.value) == (
        f"mask {path} is a I;16 greyscale image with the value 300, which is no RGB colour, but the dataset's masks "
        'are RGB colours (class_dict.csv or mask = "rgb"): save the masks as 8-bit RGB, or declare class-index '
        'masks (mask = "index" in dataset.toml)'
    )


def test_exif_orientation_is_applied_to_images(segnet_dataset, tmp_path):
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import calibration_images

    upright = np.zeros((16, 16, 3), np.uint8)
    upright[:, 8:] = 250  # bright right half, as shown; the mask says the same
    mask = np.zeros((16, 16), np.uint8)
    mask[:, 8:] = 1
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # a phone stores it sideways: bright top half
    root = tmp_path / "phone"
    (root / "dataset.toml").parent.mkdir(parents=True)
    (root / "dataset.toml").write_text('classes = ["bg", "lane"]\n')
    _set_exif_orientation(root / "images" / "p.jpg", stored, 6)
    save(root / "masks" / "p.png", mask, mode="L")
    ds = open_dataset(root)
    image, m = ds.read_sample(ds.splits["train"][0])
    assert np.abs(image.astype(int) - upright).mean() < 8  # not 125: the pixels and the mask agree
    assert (m == mask).all()
    calib = calibration_images(root / "images", (16, 16), "stretch")
    assert np.abs(calib[0].astype(int) - upright).mean() < 8


def test_exif_rotated_image_that_no_longer_fits_its_mask(tmp_path):
    from edgeseg.data.formats import open_dataset
    from edgeseg.errors import DataError

    root = tmp_path / "phone"
    (root / "dataset.toml").parent.mkdir(parents=True)
    (root / "dataset.toml").write_text('classes = ["bg", "lane"]\n')
    img = _set_exif_orientation(root / "images" / "p.jpg", np.zeros((8, 16, 3), np.uint8), 6)
    msk = save(root / "masks" / "p.png", np.zeros((8, 16), np.uint8), mode="L")  # drawn on the stored pixels
    ds = open_dataset(root)
    with pytest.raises(DataError) as info:
        ds.read_sample(ds.splits["train"][0])
    assert str(info.value) == (
        f"image {img} is stored 16x8 (WxH) with EXIF orientation 6 (rotated 90 degrees clockwise when shown), so it "
        f"is 8x16 as shown, but its mask {msk} is 16x8: masks must match their image as shown. Turn the mask the same "
        "way, or save the image upright without the orientation tag (e.g. `mogrify -auto-orient IMAGE`)"
    )


def _unlabel(root, split):
    for p in (root / f"{split}annot").iterdir():
        save(p, np.full((8, 12), 11, np.uint8), mode="L")  # 11: CamVid's void, everywhere


UNLABELLED_VAL = (
    "split 'val' of {root} has no labelled pixel: all 2 of its masks are the ignore value 11 (or 255) "
    "everywhere, so it can be neither learnt from nor scored (its mIoU would be nan); label its masks, "
    "check the dataset's ignore value (ignore_index in dataset.toml), or use another split"
)


def test_a_split_without_a_labelled_pixel_is_an_error(segnet_dataset):
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import load_split
    from edgeseg.errors import DataError

    _unlabel(segnet_dataset, "val")
    res = run("data", "inspect", segnet_dataset)
    assert res.exit_code == 1
    assert res.output.splitlines()[-1] == "Error: " + UNLABELLED_VAL.format(root=segnet_dataset)
    with pytest.raises(DataError) as info:  # what train, eval and QAT decode with: refused before any step
        load_split(open_dataset(segnet_dataset), "val", (8, 12), keep_source=True)
    assert str(info.value) == UNLABELLED_VAL.format(root=segnet_dataset)
    load_split(open_dataset(segnet_dataset), "train", (8, 12))  # the labelled split is fine


def test_class_names_of_any_script_survive_every_csv_and_table(tmp_path):
    import csv
    import os
    import subprocess
    import sys

    from edgeseg.reporting.tables import class_table, format_table, read_report, write_report

    names = ["车道", "线", "stræde"]
    quality = [
        {
            "artifact": f"m_{recipe}",
            "recipe": recipe,
            "dataset": "d",
            "split": "val",
            "images": 2,
            "miou": 0.5,
            "per_class_iou": dict(zip(names, ious)),
        }
        for recipe, ious in (("float32", (0.5, 0.25, 0.75)), ("int8", (0.4, 0.0, 0.7)))
    ]
    folder = write_report(tmp_path / "reports", "unicode", latency=[], quality=quality)
    header = (folder / "quality.csv").read_bytes().decode("utf-8").splitlines()[0]
    assert (
        header
        == "artifact,recipe,dataset,split,images,miou,dice,pixel_accuracy,backend,iou_车道,iou_线,iou_stræde,run_id"
    )
    with open(folder / "per_class.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["class"] for r in rows] == names * 2
    assert {(r["artifact"], r["class"]): r["iou"] for r in rows}[("m_int8", "线")] == "0"
    rep = read_report(folder)
    assert [r["class"] for r in rep["per_class"]] == names * 2
    cols, view = class_table(rep["per_class"])
    text = format_table(view, cols)
    assert [ln.split()[0] for ln in text.splitlines()[2:]] == names
    from edgeseg.reporting.tables import display_width

    assert len({display_width(ln) for ln in text.splitlines()}) == 1  # aligned on a terminal: 车 takes two columns
    # read back under a locale that is not UTF-8 (LC_ALL=C without Python's UTF-8 mode)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    code = (
        "import json, sys; from edgeseg.reporting.tables import read_report; "
        "print(json.dumps([r['class'] for r in read_report(sys.argv[1])['per_class']]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == names * 2


def test_class_names_that_would_share_a_column_are_an_error(segnet_dataset):
    from edgeseg.data.formats import open_dataset
    from edgeseg.errors import DataError

    (segnet_dataset / "dataset.toml").write_text('classes = ["café", "cafe\\u0301"]\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        open_dataset(segnet_dataset)
    assert str(info.value) == (
        f"{segnet_dataset / 'dataset.toml'}: classes 0 and 1 are both named 'café' (class 1 "
        "writes it 'cafe\\u0301', the same text in another Unicode form); give every class its "
        "own name (reports keep one column and row per class name)"
    )


def test_calibration_folder_under_a_folder_named_annot(tmp_path, segnet_dataset):
    from edgeseg.data.formats import image_folder
    from edgeseg.data.pipeline import calibration_images
    from edgeseg.errors import DataError

    calib = tmp_path / "lane_annot" / "calib"
    for i in range(12):
        save(calib / f"{i}.png", np.full((8, 12, 3), i, np.uint8))
    assert len(calibration_images(calib, (8, 12))) == 12  # was "found 0 calibration image(s)"
    # inside a plain folder, only a dataset's own mask folders are left out
    save(segnet_dataset / "masks" / "not_a_mask.png", np.zeros((8, 12, 3), np.uint8))  # segnet: masks/ is a folder
    found = {p.relative_to(segnet_dataset).as_posix() for p in image_folder(segnet_dataset)}
    assert found == {
        "train/img0.png",
        "train/img1.png",
        "train/img2.png",
        "val/img0.png",
        "val/img1.png",
        "masks/not_a_mask.png",
    }
    with pytest.raises(DataError) as info:
        calibration_images(segnet_dataset / "trainannot", (8, 12))
    assert str(info.value) == (
        f"calibration source {segnet_dataset / 'trainannot'} is a mask folder of the dataset in "
        f"{segnet_dataset}: calibrate with the dataset ({segnet_dataset}, its train images) or "
        "a folder of images"
    )


def test_train_output_under_a_file_is_refused_before_any_work(tmp_path, segnet_dataset):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")  # fails as root too
    res = run("train", "--data", segnet_dataset, "--out", blocker / "run")
    assert res.exit_code == 1
    assert res.output == (
        f"Error: --out {blocker / 'run'}: {blocker} is a file, not a folder, so nothing can be "
        "created under it; choose another --out\n"
    )
    assert blocker.read_text() == "a file where a folder should be"


def test_train_output_in_an_unwritable_folder_is_refused_before_any_work(tmp_path, segnet_dataset, monkeypatch):
    import os
    from pathlib import Path

    ro = tmp_path / "rodir"
    ro.mkdir()
    real_access = os.access
    # root may write anywhere, so the read-only folder is what os.access says of it
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == ro else real_access(p, mode, **kw))
    res = run("train", "--data", segnet_dataset, "--out", ro / "run")
    assert res.exit_code == 1
    assert res.output == (
        f"Error: --out {ro / 'run'}: {ro} is not writable (permission denied); make it writable or "
        "choose another --out\n"
    )
    assert list(ro.iterdir()) == []


def test_train_output_name_too_long_is_refused_before_any_work(tmp_path, segnet_dataset):
    res = run("train", "--data", segnet_dataset, "--out", tmp_path / ("r" * 260))
    assert res.exit_code == 1
    assert res.output == (
        f"Error: --out '{'r' * 20}...{'r' * 12}' is a name of 260 bytes; the file system of "
        f"{tmp_path} allows at most 255 per name: choose a shorter --out\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["segnet"]


HOLD_LOCK = """
import sys, time
from edgeseg.fileio import FileLock
FileLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_run_folder_in_use_is_refused_naming_the_process(tmp_path, segnet_dataset):
    import subprocess
    import sys

    from edgeseg.fileio import FileLock

    out = tmp_path / "run"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "locked\n"
        res = run("train", "--data", segnet_dataset, "--out", out, "--epochs", "1")
        assert res.exit_code == 1
        assert res.output == (
            f"Error: {out} is in use: process {other.pid} is training into it (it holds "
            f"{out / '.lock'}); wait for it to finish or stop it (kill {other.pid}), or choose "
            "another --out\n"
        )
        assert [p.name for p in out.iterdir()] == [".lock"]  # the other training's folder is untouched
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
    with FileLock(out / ".lock"):  # a dead holder frees it
        pass


def test_sigterm_raises_like_ctrl_c_inside_the_guard_only():
    import os
    import signal
    import time

    from edgeseg.interrupt import Terminated, sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as info:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here, at once
    assert isinstance(info.value, Terminated)
    assert signal.getsignal(signal.SIGTERM) is before


# -- the same, through a real (tiny) training ------------------------------------------------------------

TINY_TRAIN = [
    "--input-size",
    "16x16",
    "--depth",
    "2",
    "--base",
    "4",
    "--batch",
    "1",
    "--augment",
    "none",
    "--model",
    "resunet",
    "--loss",
    "ce",
]


@pytest.mark.e2e
def test_train_refuses_a_val_split_without_labels(tmp_path, segnet_dataset):
    _unlabel(segnet_dataset, "val")
    out = tmp_path / "run"
    res = run("train", "--data", segnet_dataset, "--out", out, "--epochs", "2", *TINY_TRAIN)
    assert res.exit_code == 1
    assert res.output.splitlines()[-1] == "Error: " + UNLABELLED_VAL.format(root=segnet_dataset)
    assert not out.exists()


@pytest.mark.e2e
def test_a_nan_val_score_is_never_best(tmp_path, segnet_dataset, monkeypatch):
    import edgeseg.training.loop as loop

    real = loop.score_split
    monkeypatch.setattr(loop, "score_split", lambda *a, **k: {**real(*a, **k), "miou": float("nan")})
    out = tmp_path / "run"
    res = run("train", "--data", segnet_dataset, "--out", out, "--epochs", "1", *TINY_TRAIN)
    assert res.exit_code == 1
    assert res.output.splitlines()[-1] == (
        f"Error: no epoch of {out} gave a finite val mIoU, so none was saved as best: the val split has no labelled "
        "pixel to score (run `edgeseg data inspect` on the dataset)"
    )
    assert not (out / "best.json").exists() and not (out / "best.weights.h5").exists()


@pytest.mark.e2e
def test_a_diverging_loss_stops_the_run(tmp_path, segnet_dataset):
    import re

    out = tmp_path / "run"
    res = run(
        "train",
        "--data",
        segnet_dataset,
        "--out",
        out,
        "--epochs",
        "3",
        "--lr",
        "1e30",
        "--ema",
        "0",
        "--warmup-epochs",
        "0",
        *TINY_TRAIN,
    )
    assert res.exit_code == 1, res.output
    last = res.output.splitlines()[-1]
    assert re.fullmatch(
        r"Error: training diverged: the (training loss|weights) became (nan|inf|-inf) at epoch 1, "
        r"step \d+ \(learning rate 1e\+30\); lower --lr \(e\.g\. 0\.001\), or keep the warm-up "
        r"\(--warmup-epochs\) and the weight average \(--ema\) on, and train again; no epoch "
        r"finished, so nothing was kept",
        last,
    ), last
    assert not out.exists()  # no NaN run to export


@pytest.mark.e2e
@pytest.mark.slow  # about 40 s: a training process killed mid-save
def test_sigterm_while_saving_weights_leaves_no_partial_file(tmp_path, segnet_dataset, monkeypatch):
    import os
    import signal

    import tf_keras

    real = tf_keras.Model.save_weights
    lasts = []

    def save_then_sigterm(self, path, *a, **k):  # SIGTERM arrives while epoch 2's last weights are a temp file
        real(self, path, *a, **k)
        if "last" in str(path):
            lasts.append(path)
            if len(lasts) == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(tf_keras.Model, "save_weights", save_then_sigterm)
    out = tmp_path / "run"
    res = run("train", "--data", segnet_dataset, "--out", out, "--epochs", "3", *TINY_TRAIN)
    assert res.exit_code == 143, res.output  # SIGTERM: 128 + 15, after the same cleanup as Ctrl-C
    assert res.output.splitlines()[-1] == (
        f"Error: interrupted (SIGTERM); {out} keeps 1 finished epoch(s): `edgeseg train ... --out {out} --resume` "
        "continues from epoch 2 (the last finished epoch is 1)"
    )
    assert ".tmp-last.weights.h5" in str(lasts[-1])
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".lock"]  # no partial file
    assert (out / "last.weights.h5").is_file() and (out / "best.json").is_file()
    monkeypatch.setattr(tf_keras.Model, "save_weights", real)
    res = run("train", "--data", segnet_dataset, "--out", out, "--epochs", "2", "--resume")  # the lock file is no run
    assert res.exit_code == 0, res.output
    res = run("quantize", out, "--float32", "--out", tmp_path / "m.tflite", "--no-lint")
    assert res.exit_code == 0, res.output


# -- numbers, class names, SIGTERM in every command --------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["bench", "M", "--runs", "1", "--min-secs", "inf"],
            "Invalid value for '--min-secs': inf is not a finite number",
        ),
        (["bench", "M", "--min-secs", "nan"], "Invalid value for '--min-secs': nan is not a finite number"),
        (
            ["select", "M", "--device", "host", "--budget-ms", "nan"],
            "Invalid value for '--budget-ms': nan is not a finite",
        ),
        (
            ["select", "M", "--device", "host", "--budget-ms", "inf"],
            "Invalid value for '--budget-ms': inf is not a finite",
        ),
        (["train", "--data", "D", "--out", "O", "--lr", "nan"], "Invalid value for '--lr': nan is not a finite number"),
        (["train", "--data", "D", "--out", "O", "--warmup-epochs", "inf"], "'--warmup-epochs': inf is not a finite"),
        (["quantize", "D", "--qat", "--lr", "inf"], "Invalid value for '--lr': inf is not a finite number"),
    ],
)
def test_float_options_refuse_nan_and_inf(tmp_path, args, message, tiny_tflite_bytes):
    (tmp_path / "m.tflite").write_bytes(tiny_tflite_bytes)
    args = [
        str(tmp_path / "m.tflite")
        if a == "M"
        else str(tmp_path)
        if a == "D"
        else str(tmp_path / "o")
        if a == "O"
        else a
        for a in args
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "reports").exists()


def test_eval_compares_the_models_class_names_with_the_datasets(tmp_path):
    from types import SimpleNamespace

    from edgeseg.errors import DataError
    from edgeseg.runtime.evaluate import same_classes

    ds = SimpleNamespace(num_classes=3, class_names=("road", "car", "sky"), root=tmp_path)
    same_classes(["road", "car", "sky"], ds, "m.tflite")  # the same list
    with pytest.raises(
        DataError,
        match=r"m.tflite was trained on other classes than .* \(1: 'lane' vs 'car'; 2: "
        r"'line' vs 'sky'\): evaluate on the dataset it was trained for, or pass "
        r"--classes-from dataset",
    ):
        same_classes(["road", "lane", "line"], ds, "m.tflite")
    same_classes(["road", "lane", "line"], ds, "m.tflite", classes_from="dataset")


@pytest.mark.e2e
def test_eval_refuses_a_dataset_with_other_class_names(tmp_path, tiny_run_artifact):
    art, data = tiny_run_artifact
    toml = data / "dataset.toml"
    text = toml.read_text()
    renamed = tmp_path / "renamed"
    import shutil

    shutil.copytree(data, renamed)
    (renamed / "dataset.toml").write_text(text.replace('"main_lane"', '"sidewalk"'))
    res = CliRunner().invoke(main, ["eval", str(art), "--data", str(renamed), "--no-record"])
    assert (
        res.exit_code == 1
        and "was trained on other classes than" in res.output
        and "'main_lane' vs 'sidewalk'" in res.output
    )
    res = CliRunner().invoke(
        main, ["eval", str(art), "--data", str(renamed), "--no-record", "--classes-from", "dataset", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert "sidewalk" in json.loads(res.output)["per_class_iou"]


@pytest.fixture(scope="module")
def tiny_run_artifact(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinyrun")
    runner = CliRunner()
    assert (
        runner.invoke(main, ["data", "synth", str(root / "lanes"), "--count", "20", "--size", "32x48"]).exit_code == 0
    )
    res = runner.invoke(
        main,
        [
            "train",
            "--data",
            str(root / "lanes"),
            "--out",
            str(root / "run"),
            "--epochs",
            "1",
            "--input-size",
            "32x48",
            "--depth",
            "2",
            "--base",
            "4",
            "--batch",
            "4",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["quantize", str(root / "run"), "--float32", "--no-lint"])
    assert res.exit_code == 0, res.output
    return next((root / "run" / "artifacts").glob("*.tflite")), root / "lanes"


@pytest.mark.e2e
def test_sigterm_during_quantize_leaves_no_artifact_and_no_temp_folder(tmp_path, tiny_run_artifact):
    import os
    import signal
    import subprocess
    import sys
    import time

    art, _ = tiny_run_artifact
    run = art.parent.parent
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "new.tflite"
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeseg.cli", "quantize", str(run), "--int8", "--out", str(out), "--no-lint"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(tmp.iterdir()):  # the export's scratch folder: inside the work
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted (SIGTERM)" in err
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert list(tmp.iterdir()) == []


@pytest.mark.e2e
def test_a_truncated_weights_file_is_one_line_naming_it(tmp_path, tiny_run_artifact):
    """Issue 25, class 3: a run whose best weights were cut short gave `OSError: Unable to
    synchronously open file` from quantize. Now: exit 1, the file named, nothing written."""
    import shutil

    art, _ = tiny_run_artifact
    run = tmp_path / "run"
    shutil.copytree(art.parent.parent, run, ignore=shutil.ignore_patterns("artifacts"))
    weights = run / "best.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    res = CliRunner().invoke(
        main, ["quantize", str(run), "--float32", "--no-lint", "--out", str(tmp_path / "x.tflite")]
    )
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and f"{weights} cannot be loaded" in res.output
    assert not (tmp_path / "x.tflite").exists() and not (tmp_path / "x.json").exists()


@pytest.mark.e2e
def test_a_run_folder_removed_while_training_is_one_line(tmp_path, tiny_run_artifact):
    """Issue 25, class 3: deleting the run folder under a running `train` ended in a TensorFlow
    error. Now the next checkpoint write says what happened, and nothing is recreated."""
    import shutil

    import edgeseg

    _, lanes = tiny_run_artifact
    out = tmp_path / "run"

    def remove_after_first_epoch(row):
        if row["epoch"] == 1:
            shutil.rmtree(out)

    cfg = edgeseg.TrainConfig(data=str(lanes), out=str(out), epochs=2, input_size=(32, 48), batch=4)
    cfg.model_options = {"depth": 2, "base": 4}
    with pytest.raises(edgeseg.errors.TrainError, match=r"was removed while training; nothing of this run is left"):
        edgeseg.train(cfg, on_epoch=remove_after_first_epoch)
    assert not out.exists()
