"""`edgeseg eval ARTIFACT --device PROFILE --delegate ...`: the exact artifact on the loopback
phone, fed the frames the host evaluates, its outputs pulled, decoded and scored against the
host on the same frames. The phone's benchmark_model is tests/fake_benchmark_model.py, which
runs the model with the host's interpreter behind benchmark_model's flags and file formats,
so the device's mIoU must be the host's; doubles that swap two class channels, cut the output
file short, write none or die half-way must give ``diverged`` and clear ``failed`` rows (the
status rule itself, ``numerics-differ`` against ``diverged``: tests/unit/test_device_eval_status.py)."""

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeseg.cli import main

HERE = Path(__file__).resolve().parents[1]  # tests/: the shared doubles


# -- without a device: the bounds and the file formats ---------------------------------------


class _Stub:
    """The parts of a host predictor the decoder reads (an int8 output with scale/zero point)."""

    runner = None
    out = {"index": 7, "shape": [1, 2, 3, 4], "dtype": np.int8, "quantization": (0.5, -3)}

    def postprocess(self, y):
        return (y.astype(np.float32) - (-3)) * 0.5


def test_decode_output_dequantizes_and_refuses_a_truncated_file():
    from edgeseg.device.evaluate import decode_output
    from edgeseg.errors import DeviceError

    y = np.arange(24, dtype=np.int8).reshape(1, 2, 3, 4)
    got = decode_output(y.tobytes(), _Stub(), (0, 24), "frame 0")
    assert got.shape == (2, 3, 4) and got[0, 0, 1] == pytest.approx((1 + 3) * 0.5)
    with pytest.raises(
        DeviceError,
        match=r"frame 0 is truncated: 10 bytes but the model's outputs are 24 bytes "
        r"\(output \[1, 2, 3, 4\] int8\)",
    ):
        decode_output(y.tobytes()[:10], _Stub(), (0, 24), "frame 0")
    # a second output before ours: the file holds both, in output order (benchmark_model's OutputSaver)
    both = b"\x00" * 8 + y.tobytes()
    assert np.array_equal(decode_output(both, _Stub(), (8, 32), "f"), got)


def test_eval_device_options_go_together():
    from edgeseg.api import EvalConfig
    from edgeseg.errors import UsageError

    with pytest.raises(UsageError, match="--delegate goes with --device"):
        EvalConfig(target="a.tflite", data="d", delegates="gpu")
    with pytest.raises(UsageError, match="--frames goes with --device"):
        EvalConfig(target="a.tflite", data="d", frames=3)
    with pytest.raises(UsageError, match="not --limit"):
        EvalConfig(target="a.tflite", data="d", device="p", limit=3)
    with pytest.raises(UsageError, match="plain `edgeseg eval`"):
        EvalConfig(target="a.tflite", data="d", device="host")
    assert EvalConfig(target="a.tflite", data="d", device="p", delegates="xnnpack, gpu").delegates == ("xnnpack", "gpu")


def test_runner_rows_say_whether_they_feed_inputs():
    from edgeseg.device.runners import RUNNERS

    assert RUNNERS["benchmark_model"].tensor_io and RUNNERS["python"].tensor_io
    assert not RUNNERS["litert"].tensor_io and "--input_layer_value_range" in RUNNERS["litert"].no_tensor_io


# -- the loopback phone --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lanes_artifacts(tmp_path_factory):
    """A tiny run on synthetic lanes (32x48, 1 epoch) exported to float32 and int8."""
    root = tmp_path_factory.mktemp("deveval")
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
    arts = {}
    for recipe, extra in (("float32", []), ("int8", ["--num-calib", "8"])):
        out = root / f"tiny_{recipe}.tflite"
        res = runner.invoke(
            main, ["quantize", str(root / "run"), f"--{recipe}", "--no-lint", "--out", str(out), *extra]
        )
        assert res.exit_code == 0, res.output
        arts[recipe] = out
    return arts, root / "lanes"


@pytest.fixture
def phone(tmp_path):
    from adbd import AdbDaemon

    d = AdbDaemon(tmp_path / "phone")
    d.start()
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    yield d
    os.environ.pop("ADB_KEY_PATH", None)
    d.stop()


def double(tmp_path, mode="ok") -> Path:
    """The benchmark_model double as a device binary (this interpreter in its shebang)."""
    path = tmp_path / f"benchmark_model_{mode}"
    text = (HERE / "fake_benchmark_model.py").read_text().replace('MODE = "ok"', f'MODE = "{mode}"', 1)
    path.write_text(f"#!{sys.executable}\n" + text)
    path.chmod(0o755)
    return path


def profile(tmp_path, port, runner="benchmark_model", binary=None, name="loopeval") -> Path:
    lines = [
        f'name = "{name}"',
        'transport = "tcp"',
        f'address = "127.0.0.1:{port}"',
        f'runner = "{runner}"',
        f'python = "{sys.executable}"',
        "threads = 2",
        'work_dir = "/data/local/tmp/edgeseg"',
        *([f'benchmark_binary = "{binary}"'] if binary else []),
        "[delegates.cpu]",
        "[delegates.xnnpack]",
        "[delegates.gpu]",
        "[delegates.npu]",
        'runner = "litert"',
        'soc = "SM8650"',
        "[power]",
        'source = "none"',
    ]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_eval(art, data, prof, delegates, tmp_path, *extra):
    res = CliRunner().invoke(
        main,
        [
            "eval",
            str(art),
            "--device",
            str(prof),
            "--delegate",
            delegates,
            "--data",
            str(data),
            "--frames",
            "4",
            "--reports",
            str(tmp_path / "reports"),
            "--json",
            *extra,
        ],
        catch_exceptions=False,
    )
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    return res, out, {(r["where"], r["delegate"]): r for r in out["rows"]}


@pytest.mark.e2e
@pytest.mark.parametrize("recipe", ["float32", "int8"])
def test_device_miou_is_the_hosts_through_benchmark_model_files(lanes_artifacts, phone, tmp_path, recipe):
    arts, lanes = lanes_artifacts
    prof = profile(tmp_path, phone.port, binary=double(tmp_path))
    res, out, rows = run_eval(arts[recipe], lanes, prof, "xnnpack,gpu,npu", tmp_path)
    assert res.exit_code == 0, res.output
    host = rows[("host", "xnnpack")]
    assert host["frames"] == 4 and host["status"] == "ok"
    for d in ("xnnpack", "gpu"):
        r = rows[("device", d)]
        print(
            f"{recipe} {d}: device mIoU {r['miou']:.6f} vs host {host['miou']:.6f}, agreement "
            f"{r['argmax_agreement']:.4f}, max |diff| {r['max_abs_diff']:.3g}"
        )
        assert r["status"] == "ok" and r["device"] == "Loopback Phone" and r["frames"] == 4
        assert abs(r["miou"] - host["miou"]) < 0.001 and r["miou_delta_vs_host"] == pytest.approx(0, abs=0.001)
        assert r["argmax_agreement"] == 1.0 and r["max_abs_diff"] < 1e-3
    npu = rows[("device", "npu")]
    assert npu["status"] == "unsupported" and "benchmark_litert_model" in npu["reason"]
    assert "xnnpack: frame 4/4" in res.output and "gpu: frame 4/4" in res.output  # streamed as the frames run
    folder = Path(out["report"])
    q = list(csv.DictReader(open(folder / "quality.csv")))
    assert [(r["where"], r["delegate"], r["status"]) for r in q] == [
        ("host", "xnnpack", "ok"),
        ("device", "xnnpack", "ok"),
        ("device", "gpu", "ok"),
        ("device", "npu", "unsupported"),
    ]
    assert {
        "miou_delta_vs_host",
        "argmax_agreement",
        "max_abs_diff",
        "mean_abs_diff",
        "seconds",
        "reason",
        "iou_main_lane",
    } <= set(q[0])
    run = json.loads((folder / "run.json").read_text())
    assert run["eval"]["frames"] == {"frames": 4, "pushed": 4, "reused": 0}
    assert (folder / "report.html").is_file() and list(folder.glob("disagree_*.png"))
    (frame_set,) = (phone.sandbox.root / "data/local/tmp/edgeseg/eval/in").iterdir()  # one folder per frame set
    assert sorted(p.name for p in frame_set.iterdir()) == [f"{k:06d}.bin" for k in range(4)]
    assert not list((phone.sandbox.root / "data/local/tmp/edgeseg/eval/out").iterdir())  # each call removes its outputs
    # again: the frames are on the phone already (same sha256), nothing is pushed but nothing is stale
    pushes = phone.pushes_started
    res, out, rows = run_eval(arts[recipe], lanes, prof, "xnnpack", tmp_path)
    assert res.exit_code == 0, res.output
    assert phone.pushes_started == pushes
    assert json.loads((Path(out["report"]) / "run.json").read_text())["eval"]["frames"]["reused"] == 4


@pytest.mark.e2e
def test_a_delegate_with_wrong_numerics_is_diverged(lanes_artifacts, phone, tmp_path):
    arts, lanes = lanes_artifacts
    prof = profile(tmp_path, phone.port, binary=double(tmp_path, "swap"))
    res, out, rows = run_eval(arts["float32"], lanes, prof, "gpu", tmp_path)
    assert res.exit_code == 1, res.output
    r = rows[("device", "gpu")]
    print(
        f"swapped channels: device mIoU {r['miou']:.4f} vs host {rows[('host', 'xnnpack')]['miou']:.4f}, "
        f"agreement {r['argmax_agreement']:.4f}"
    )
    # the 1-epoch model is worse than chance: the swap raises its mIoU, and the row is diverged all the same
    assert r["status"] == "diverged" and r["argmax_agreement"] < 0.99 and abs(r["miou_delta_vs_host"]) > 0.01
    assert r["reason"].startswith("quality ") and "mIoU - host mIoU = " in r["reason"]
    assert "argmax agreement with the host" in r["reason"] and "< 0.99" in r["reason"]
    assert f"diverged: tiny_float32 on gpu: {r['reason']}" in res.output
    # --fail-on-numerics changes nothing for a row that lost quality: it is diverged either way
    res, out, rows = run_eval(arts["float32"], lanes, prof, "gpu", tmp_path, "--fail-on-numerics")
    assert res.exit_code == 1 and rows[("device", "gpu")]["status"] == "diverged" and out["fail_on_numerics"]


@pytest.mark.e2e
def test_int8_on_builtin_kernels_is_numerics_differ_with_quality_kept(lanes_artifacts, phone, tmp_path):
    """The finding: int8 on `cpu` (builtin kernels, not XNNPACK) of a barely trained model
    disagrees with the host (XNNPACK) on a few percent of the pixels, near-ties rounded the
    other way, at the same mIoU: a warning and exit 0, exit 1 only with --fail-on-numerics."""
    arts, lanes = lanes_artifacts
    prof = profile(tmp_path, phone.port, binary=double(tmp_path))
    res, out, rows = run_eval(arts["int8"], lanes, prof, "cpu,xnnpack", tmp_path)
    r = rows[("device", "cpu")]
    print(f"int8 cpu: agreement {r['argmax_agreement']:.4f}, mIoU delta {r['miou_delta_vs_host']:+.4f}")
    assert r["argmax_agreement"] < 0.99 and abs(r["miou_delta_vs_host"]) <= 0.01, r
    assert r["status"] == "numerics-differ" and "quality within tolerance" in r["reason"]
    assert res.exit_code == 0, res.output
    assert f"numerics-differ: tiny_int8 on cpu: {r['reason']}" in res.output
    assert rows[("device", "xnnpack")]["status"] == "ok" and rows[("device", "xnnpack")]["argmax_agreement"] == 1.0
    page = (Path(out["report"]) / "report.html").read_text()
    assert "device and host agree on every pixel" not in page
    assert (
        "tiny_int8 on xnnpack agrees with the host on every pixel of every frame; tiny_int8 on cpu: numerics " in page
    )
    # asked to: the same row fails the command; the console says so
    res = CliRunner().invoke(
        main,
        ["eval", str(arts["int8"]), "--device", str(prof), "--delegate", "cpu", "--data", str(lanes)]
        + ["--frames", "4", "--reports", str(tmp_path / "reports"), "--fail-on-numerics"],
        catch_exceptions=False,
    )
    assert res.exit_code == 1, res.output
    assert (
        "warning: 1 row(s) numerics-differ" in res.output and "they fail the command (--fail-on-numerics)" in res.output
    )
    assert "tiny_int8 on cpu: numerics differ (" in res.output and "quality kept (mIoU " in res.output


@pytest.mark.e2e
@pytest.mark.parametrize(
    "mode, message",
    [
        (
            "truncate",
            r"the output file of frame 0 \(eval/out/[0-9a-f]{8}/xnnpack/000000.bin\) is truncated: \d+ bytes but the "
            r"model's outputs are \d+ bytes \(output \[1, 32, 48, 6\] float32\)",
        ),
        (
            "missing",
            r"no output file for frame 0 \(/data/local/tmp/edgeseg/eval/out/[0-9a-f]{8}/xnnpack/000000.bin\): the runner "
            r"exited 0 but wrote nothing there",
        ),
    ],
)
def test_broken_output_files_are_failed_rows(lanes_artifacts, phone, tmp_path, mode, message):
    arts, lanes = lanes_artifacts
    prof = profile(tmp_path, phone.port, binary=double(tmp_path, mode))
    res, out, rows = run_eval(arts["float32"], lanes, prof, "xnnpack", tmp_path)
    assert res.exit_code == 1, res.output
    r = rows[("device", "xnnpack")]
    assert r["status"] == "failed" and r.get("miou") is None
    assert __import__("re").search(message, r["reason"]), r["reason"]


@pytest.mark.e2e
def test_a_binary_that_dies_half_way_is_a_failed_row_with_its_own_error(lanes_artifacts, phone, tmp_path):
    arts, lanes = lanes_artifacts
    prof = profile(tmp_path, phone.port, binary=double(tmp_path, "die"))  # frames 0 and 1 run, frame 2 fails
    res, out, rows = run_eval(arts["int8"], lanes, prof, "xnnpack", tmp_path)
    assert res.exit_code == 1, res.output
    r = rows[("device", "xnnpack")]
    print(f"died half-way: {r['reason']}")
    assert r["status"] == "failed" and r.get("miou") is None and r["frames"] == 2
    assert r["reason"] == (
        "benchmark_model failed on xnnpack: exit status 1 after 2 of 4 frame(s): frame 000002.bin: benchmark_model "
        "exit status 1 | ERROR: Node number 3 (CONV_2D) failed to invoke. | ERROR: Benchmarking failed."
    )
    assert "xnnpack: frame 2/4" in res.output and "frame 4/4" not in res.output  # the progress went to the console
    folder = Path(out["report"])
    q = {(x["where"], x["delegate"]): x for x in csv.DictReader(open(folder / "quality.csv"))}
    assert q[("device", "xnnpack")]["frames"] == "2" and q[("device", "xnnpack")]["status"] == "failed"
    page = (folder / "report.html").read_text()
    assert "agree on every pixel" not in page and "tiny_int8 on xnnpack failed: not compared with the host" in page


@pytest.mark.e2e
def test_input_files_of_the_wrong_dtype_or_shape_are_refused(lanes_artifacts, phone, tmp_path, monkeypatch):
    from edgeseg.device import evaluate as dev
    from edgeseg.device.runners import TensorIo

    arts, lanes = lanes_artifacts
    prof = profile(tmp_path, phone.port, binary=double(tmp_path))
    # int8 model, the frames on the phone written as float32: 4x the bytes benchmark_model expects
    real = dev.push_frames
    monkeypatch.setattr(
        dev,
        "push_frames",
        lambda s, frames, where: real(
            s, [np.frombuffer(b, np.int8).astype(np.float32).tobytes() for b in frames], where
        ),
    )
    res, out, rows = run_eval(arts["int8"], lanes, prof, "xnnpack", tmp_path)
    r = rows[("device", "xnnpack")]
    assert res.exit_code == 1 and r["status"] == "failed"
    assert "frame 000000.bin: benchmark_model exit status 134" in r["reason"]
    assert __import__("re").search(
        r"The size of eval/in/[0-9a-f]{16}/000000.bin is 18432 bytes. It should be 4608 bytes.", r["reason"]
    )
    monkeypatch.undo()
    # the wrong shape: benchmark_model resizes the input to it, and the file no longer fits
    monkeypatch.setattr(dev, "TensorIo", lambda i, o, f, n, shape, sig: TensorIo(i, o, f, n, (1, 16, 48, 3), sig))
    res, out, rows = run_eval(arts["int8"], lanes, prof, "xnnpack", tmp_path)
    r = rows[("device", "xnnpack")]
    assert res.exit_code == 1 and r["status"] == "failed"
    assert __import__("re").search(
        r"The size of eval/in/[0-9a-f]{16}/000000.bin is 4608 bytes. It should be 2304 bytes.", r["reason"]
    )


@pytest.mark.e2e
def test_python_board_runner_feeds_files_and_says_what_it_cannot_run(lanes_artifacts, phone, tmp_path):
    arts, lanes = lanes_artifacts
    prof = profile(tmp_path, phone.port, runner="python", name="board")
    res, out, rows = run_eval(arts["float32"], lanes, prof, "cpu,xnnpack,gpu", tmp_path)
    assert res.exit_code == 0, res.output
    host = rows[("host", "xnnpack")]
    for d in ("cpu", "xnnpack"):
        r = rows[("device", d)]
        print(f"python runner {d}: device mIoU {r['miou']:.6f} vs host {host['miou']:.6f}")
        assert r["status"] == "ok" and abs(r["miou"] - host["miou"]) < 0.001 and r["backend"] == "python-runner"
    gpu = rows[("device", "gpu")]
    assert gpu["status"] == "unsupported" and "Python runner runs cpu and xnnpack only" in gpu["reason"]
    assert "unsupported: tiny_float32 on gpu" in res.output
    # without --json: the table, the reasons and the report folder
    res = CliRunner().invoke(
        main,
        [
            "eval",
            str(arts["float32"]),
            "--device",
            str(prof),
            "--delegate",
            "cpu,gpu",
            "--data",
            str(lanes),
            "--frames",
            "2",
            "--reports",
            str(tmp_path / "reports"),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert "argmax_agreement" in res.output
    assert "numerics-differ: argmax agreement < 0.99 with |mIoU delta| <= 0.01 (quality kept)" in res.output
    assert "diverged: |mIoU delta| > 0.01 or NaN/inf outputs" in res.output
    assert "unsupported: tiny_float32 on gpu: the Python runner runs" in res.output and "report: " in res.output
    assert (
        "tiny_float32 on cpu agrees with the host on every pixel of every frame; tiny_float32 on gpu not run "
        "(unsupported)" in res.output
    )


@pytest.mark.e2e
def test_board_runner_tensor_files_mode_refuses_a_file_of_another_size(lanes_artifacts, tmp_path):
    from edgeseg import runner

    arts, _ = lanes_artifacts
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "000000.bin").write_bytes(np.zeros((1, 32, 48, 3), np.float32).tobytes())
    res = runner.run_tensor_io(str(arts["float32"]), str(tmp_path / "in"), str(tmp_path / "out"), delegate="cpu")
    assert res["frames"] == 1 and (tmp_path / "out" / "000000.bin").stat().st_size == 32 * 48 * 6 * 4
    (tmp_path / "in" / "000001.bin").write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match=r"The size of .*000001.bin is 100 bytes. It should be 18432 bytes"):
        runner.run_tensor_io(str(arts["float32"]), str(tmp_path / "in"), str(tmp_path / "out"), delegate="cpu")


def test_frame_progress_lines_arrive_in_any_chunks():
    from edgeseg.device.evaluate import FrameProgress

    said = []
    fp = FrameProgress(said.append, "xnnpack", every_s=1e9)
    text = "".join(f"@@frame {k}/20\n" for k in range(1, 21)).encode() + b"@@frame 3/2"  # a torn last line waits
    for i in range(0, len(text), 7):  # the stream cuts lines anywhere
        fp.feed(text[i : i + 7])
    assert [s.split("(")[0].strip() for s in said] == [f"xnnpack: frame {k}/20" for k in range(2, 21, 2)]
    assert FrameProgress.parse("@@frame x/2") == (None, None) and FrameProgress.parse("noise") == (None, None)
