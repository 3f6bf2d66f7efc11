"""`edgeseg numerics ARTIFACT --device PROFILE --delegate ...`: the debug copy of a real (tiny)
artifact on the loopback phone, run by the benchmark_model double (tests/fake_benchmark_model.py:
the host's interpreter behind benchmark_model's flags and files) in busybox ash and in mksh +
toybox. A delegate double that writes ONE named intermediate tensor wrong must be reported with
that tensor's op as the first bad op, and nothing before it bad; an honest delegate has no bad
op; a `diverged` device-eval row of the same file names the first bad op from numerics.csv; host
int8 vs float per-layer error on CamVid val frames (realdata)."""

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from adbd import AdbDaemon, need_shell
from click.testing import CliRunner
from conftest import camvid_root, save
from phones import loopback_profile

from edgeseg.cli import main

HERE = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    """4 val frames at the tiny artifact's input size (32x48), its 3 classes (conftest.tiny_tflite)."""
    from edgeseg.data.synth import write_dataset_toml

    root = tmp_path_factory.mktemp("numerics") / "abc"
    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for i in range(4):
            save(root / split / f"f{i}.png", rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
            save(root / f"{split}annot" / f"f{i}.png", rng.integers(0, 3, (32, 48)).astype(np.uint8), mode="L")
    write_dataset_toml(root, classes=("a", "b", "c"), colours=((0, 0, 0), (255, 0, 0), (0, 255, 0)))
    return root


def double(tmp_path, mode="ok", perturb="") -> Path:
    path = tmp_path / f"benchmark_model_{mode}"
    text = (HERE / "fake_benchmark_model.py").read_text().replace('MODE = "ok"', f'MODE = "{mode}"', 1)
    text = text.replace('PERTURB = ""', f"PERTURB = {perturb!r}", 1)
    path.write_text(f"#!{sys.executable}\n" + text)
    path.chmod(0o755)
    return path


def run_numerics(art, data, prof, delegates, out, *extra):
    res = CliRunner().invoke(
        main,
        [
            "numerics",
            str(art),
            "--data",
            str(data),
            "--device",
            str(prof),
            "--delegate",
            delegates,
            "--frames",
            "2",
            "--reports",
            str(out),
            "--json",
            *extra,
        ],
        catch_exceptions=False,
    )
    return res, json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])


def victim(art: Path, op: str = "CONV_2D"):
    """The tensor the bad delegate corrupts: the output of the first ``op`` after the first
    max-pool (the middle of the graph, with ops before and after it)."""
    from edgeseg.runtime.debugcopy import graph_tensors

    specs = graph_tensors(art.read_bytes(), "all")
    pool = next(s.depth for s in specs if s.op == "MAX_POOL_2D")
    return next(s for s in sorted(specs, key=lambda s: s.depth) if s.op == op and s.depth >= pool)


def numerics_on(tmp_path, shell, art, data, mode, name, delegates="gpu"):
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
        try:
            prof = loopback_profile(
                tmp_path, phone.port, runner="benchmark_model", benchmark_binary=str(double(tmp_path, mode, name))
            )
            return run_numerics(art, data, prof, delegates, tmp_path / "reports")
        finally:
            os.environ.pop("ADB_KEY_PATH", None)


@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_a_delegate_that_computes_one_op_wrong_is_named_as_the_first_bad_op(
    tmp_path, tiny_tflite, three_classes, shell
):
    """The double runs the victim conv with its weights negated: that tensor and what is computed
    from it are wrong, every tensor before it is the CPU's. The first bad op is the victim, not
    the last tensor or the output the eval row sees."""
    need_shell(shell)
    bad = victim(tiny_tflite)
    res, out = numerics_on(tmp_path, shell, tiny_tflite, three_classes, "perturb", bad.name)
    assert res.exit_code == 1, res.output
    (run,) = [r for r in out["first_bad"] if r["comparison"] == "delegate"]
    assert run["delegate"] == "gpu" and run["status"] == "bad"
    assert run["tensor"] == bad.name and run["first_bad_op"] == "CONV_2D" and run["first_bad_depth"] == bad.depth
    from edgeseg.reporting.tables import read_csv
    from edgeseg.runtime.debugcopy import graph_tensors

    rows = read_csv(Path(out["report"]) / "numerics.csv", "numerics")  # read back through its schema
    dev = [r for r in rows if r["comparison"] == "delegate"]
    specs = graph_tensors(tiny_tflite.read_bytes(), "all")
    assert len(dev) == len(specs) and [int(r["depth"]) for r in dev] == sorted(int(r["depth"]) for r in dev)
    before = [r for r in dev if int(r["depth"]) < bad.depth]
    after = [r for r in dev if int(r["depth"]) > bad.depth]
    assert before and all(r["identical"] == "True" and r["status"] == "ok" for r in before)  # the CPU's, bit for bit
    assert sum(r["status"] == "bad" for r in after) >= 2  # the error flows downstream, to the output
    assert [r["tensor"] for r in dev if r["first_bad"] == "True"] == [bad.name]
    victim_row = next(r for r in dev if r["tensor"] == bad.name)
    assert float(victim_row["snr_db"]) < 30 and float(victim_row["cosine"]) < 0.999
    assert all(r["device"] == "Loopback Phone" and r["frames"] == "2" for r in dev)
    assert specs[0].original and not any(s.original for s in specs[1:])  # the artifact's own output first
    assert (Path(out["report"]) / "numerics_depth.png").is_file()
    page = (Path(out["report"]) / "report.html").read_text()
    assert "the first bad op of each run" in page and bad.name in page


def test_a_delegate_that_writes_one_tensor_wrong_has_that_tensor_alone_bad(tmp_path, tiny_tflite, three_classes):
    """The double writes the first max-pool's output shifted (nothing downstream changes): that
    tensor alone is bad, every other one identical."""
    bad = victim(tiny_tflite, "MAX_POOL_2D")
    res, out = numerics_on(tmp_path, "busybox", tiny_tflite, three_classes, "shift", bad.name)
    assert res.exit_code == 1, res.output
    (run,) = [r for r in out["first_bad"] if r["comparison"] == "delegate"]
    assert (run["tensor"], run["first_bad_op"], run["bad"]) == (bad.name, "MAX_POOL_2D", 1)
    rows = [r for r in out["rows"] if r["comparison"] == "delegate"]
    assert all(r["identical"] for r in rows if r["tensor"] != bad.name)


@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_an_honest_delegate_has_no_bad_op(tmp_path, tiny_tflite, three_classes, shell):
    need_shell(shell)
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
        try:
            prof = loopback_profile(
                tmp_path, phone.port, runner="benchmark_model", benchmark_binary=str(double(tmp_path))
            )
            res, out = run_numerics(tiny_tflite, three_classes, prof, "xnnpack,gpu", tmp_path / "reports")
        finally:
            os.environ.pop("ADB_KEY_PATH", None)
    assert res.exit_code == 0, res.output
    runs = {r["delegate"]: r for r in out["first_bad"] if r["comparison"] == "delegate"}
    assert set(runs) == {"xnnpack", "gpu"}
    for r in runs.values():
        assert r["status"] == "ok" and r["tensor"] is None and r["bad"] == 0 and r["tensors"] > 20
    # the phone's work folder keeps the frames for the next run, not the outputs
    assert not list((phone.sandbox.root / "data/local/tmp/edgeseg/eval/out").iterdir())


def test_a_diverged_eval_row_names_the_first_bad_op_of_its_numerics(tmp_path, tiny_tflite, three_classes):
    """numerics with a delegate that computes one op wrong, then eval --device of the same file
    with the same broken delegate into the same reports folder: its diverged (or numerics-differ)
    row names the op numerics found; the row of a delegate numerics never ran (cpu, broken alike
    by the double) names none."""
    bad = victim(tiny_tflite)
    reports = tmp_path / "reports"
    with AdbDaemon(tmp_path / "phone") as phone:
        os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
        try:
            prof = loopback_profile(
                tmp_path,
                phone.port,
                runner="benchmark_model",
                benchmark_binary=str(double(tmp_path, "perturb", bad.name)),
            )
            res, _ = run_numerics(tiny_tflite, three_classes, prof, "gpu", reports)
            assert res.exit_code == 1, res.output
            res = CliRunner().invoke(
                main,
                [
                    "eval",
                    str(tiny_tflite),
                    "--device",
                    str(prof),
                    "--delegate",
                    "gpu,cpu",
                    "--data",
                    str(three_classes),
                    "--frames",
                    "4",
                    "--reports",
                    str(reports),
                    "--json",
                ],
                catch_exceptions=False,
            )
        finally:
            os.environ.pop("ADB_KEY_PATH", None)
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    rows = {(r["where"], r["delegate"]): r for r in out["rows"]}
    gpu, cpu = rows[("device", "gpu")], rows[("device", "cpu")]
    print(f"eval --device with the broken delegate: gpu {gpu['status']}: {gpu['reason']}")
    assert gpu["status"] in ("diverged", "numerics-differ"), gpu
    assert gpu["first_bad_op"] == f"{bad.name} (CONV_2D, depth {bad.depth})"
    assert "first bad op: " + bad.name in gpu["reason"] and "(numerics " in gpu["reason"]
    assert cpu["status"] in ("diverged", "numerics-differ") and not cpu.get("first_bad_op")  # no numerics of cpu
    q = list(csv.DictReader(open(Path(out["report"]) / "quality.csv")))
    assert [r["first_bad_op"] for r in q if r["delegate"] == "gpu" and r["where"] == "device"] == [gpu["first_bad_op"]]


# -- host: int8 against float per layer on CamVid -------------------------------------------------

CAMVID = camvid_root()


@pytest.mark.realdata
@pytest.mark.skipif(
    CAMVID is None, reason="CamVid not found: set EDGESEG_CAMVID or place it at ../shared/datasets/camvid"
)
def test_int8_against_float_per_layer_on_camvid_val_frames(tmp_path_factory):
    """The default model (resunet, its default width and depth; not trained: the test checks the
    path, the measured profile of a trained one is in the docs) exported to float32 and to int8
    calibrated on CamVid train frames, compared per layer on 3 CamVid val frames."""
    from edgeseg.artifact import write_manifest
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import load_split
    from edgeseg.models.registry import build_model
    from edgeseg.quantize.ptq import convert

    folder = tmp_path_factory.mktemp("camvid_numerics")
    ds = open_dataset(CAMVID)
    size = (96, 128)
    model = build_model("resunet", size, ds.num_classes)
    calib = load_split(ds, "train", size, limit=8).images
    for recipe in ("float32", "int8"):
        out = folder / f"resunet_{recipe}.tflite"
        out.write_bytes(convert(model, size, recipe, calib=calib if recipe == "int8" else None))
        write_manifest(out, model="resunet", recipe=recipe, classes=list(ds.class_names), source_checkpoint="ckpt")
    res = CliRunner().invoke(
        main,
        [
            "numerics",
            str(folder / "resunet_int8.tflite"),
            "--data",
            str(CAMVID),
            "--frames",
            "3",
            "--reports",
            str(folder / "reports"),
            "--json",
        ],
        catch_exceptions=False,
    )
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    assert out["reference"] == "resunet_float32.tflite"  # found beside it: same run, recipe float32
    rows = [r for r in out["rows"] if r["comparison"] == "quantization"]
    matched = [r for r in rows if r["status"] in ("ok", "bad")]
    assert len(matched) >= 0.9 * len(rows) and all(r["frames"] == 3 for r in matched)
    assert {r["match"] for r in matched} <= {"name", "position"}
    for r in matched:
        assert r["dtype"] == "int8" and r["partition"].startswith(("xnnpack:", "cpu"))
        assert r["snr_db"] is None or np.isfinite(r["snr_db"])
        assert -1.0 <= r["cosine"] <= 1.0 and r["max_abs_diff"] >= 0
    snrs = [r["snr_db"] for r in matched if r["snr_db"] is not None]
    print(f"int8 vs float32 per layer on 3 CamVid val frames: SNR min {min(snrs):.1f} median {np.median(snrs):.1f} dB")
    # int8 error is real: some tensor is not identical to the float one, and no tensor is noise
    assert min(snrs) < 60 and np.median(snrs) > 0


# -- bad inputs: one line naming the fix, nothing written ------------------------------------------


def test_bad_inputs_are_one_line_errors_that_name_the_fix(tmp_path, tiny_tflite, three_classes):
    import shutil

    from edgeseg.artifact import write_manifest

    def run(*args):
        return CliRunner().invoke(main, ["numerics", *map(str, args), "--reports", str(tmp_path / "reports")])

    res = run(tiny_tflite, "--data", three_classes, "--threshold", "psnr=3")
    assert res.exit_code == 2 and "the keys are cosine, snr_db, quant_cosine, quant_snr_db" in res.output
    res = run(tiny_tflite, "--data", three_classes, "--delegate", "gpu")
    assert res.exit_code == 2 and "--delegate goes with --device" in res.output
    res = run(tiny_tflite, "--data", three_classes, "--tensors", "layers")
    assert res.exit_code == 2 and "'layers' is not one of 'all', 'blocks'" in res.output
    not_tflite = tmp_path / "notes.tflite"
    not_tflite.write_text("not a model")
    res = run(not_tflite, "--data", three_classes)
    assert res.exit_code == 1 and "Traceback" not in res.output and "notes.tflite" in res.output
    # an int8 artifact with no float32 of its run beside it, and no --reference
    alone = tmp_path / "alone" / "m_int8.tflite"
    alone.parent.mkdir()
    shutil.copy(tiny_tflite, alone)
    write_manifest(alone, model="resunet", recipe="int8", classes=["a", "b", "c"], source_checkpoint="run/best.h5")
    res = run(alone, "--data", three_classes)
    assert res.exit_code == 1 and "pass --reference FLOAT_ARTIFACT" in res.output
    assert len(res.output.strip().splitlines()) == 1
    # a reference at another input size
    other = tmp_path / "other_fp32.tflite"
    from edgeseg.models.registry import build_model
    from edgeseg.quantize.ptq import convert

    other.write_bytes(convert(build_model("resunet", (16, 24), 3, {"depth": 2, "base": 4}), (16, 24), "float32"))
    write_manifest(other, model="resunet", recipe="float32", classes=["a", "b", "c"])
    res = run(alone, "--data", three_classes, "--reference", other)
    assert res.exit_code == 1 and "the reference must be the same model at the same input size" in res.output
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())  # nothing written


def test_a_float_artifact_against_itself_is_identical_everywhere_and_blocks_are_fewer(
    tmp_path, tiny_tflite, three_classes
):
    """Host only: the same file as its own reference gives identical tensors (no SNR, no bad op);
    --tensors blocks compares the block boundaries only."""
    out = {}
    for tensors in ("all", "blocks"):
        res = CliRunner().invoke(
            main,
            [
                "numerics",
                str(tiny_tflite),
                "--data",
                str(three_classes),
                "--reference",
                str(tiny_tflite),
                "--tensors",
                tensors,
                "--frames",
                "2",
                "--reports",
                str(tmp_path / "reports"),
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        out[tensors] = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    rows = out["all"]["rows"]
    assert rows and all(r["identical"] and r["snr_db"] is None and r["status"] == "ok" for r in rows)
    assert all(r["match"] == "name" for r in rows)
    blocks = out["blocks"]["rows"]
    assert {r["op"] for r in blocks[:-1]} <= {"ADD", "MAX_POOL_2D", "TRANSPOSE_CONV", "CONCATENATION", "CONV_2D"}
    assert 1 < len(blocks) < len(rows)


def test_a_float_artifact_with_nothing_to_compare_is_a_usage_error(tmp_path, tiny_tflite, three_classes):
    res = CliRunner().invoke(
        main, ["numerics", str(tiny_tflite), "--data", str(three_classes), "--reports", str(tmp_path)]
    )
    assert res.exit_code == 2 and "pass --reference FLOAT_ARTIFACT or --device PROFILE" in res.output
