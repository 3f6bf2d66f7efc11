import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def _device_shell() -> str:
    """The shell the loopback device runs commands in: busybox (like a board) where it is
    installed; in CI it must be (.ci/run installs it); elsewhere the host's /bin/sh, said in
    the test summary (it hides non-POSIX commands: install busybox-static)."""
    import shutil

    if os.environ.get("EDGESEG_DEVICE_SHELL"):
        return os.environ["EDGESEG_DEVICE_SHELL"]
    if shutil.which("busybox") or os.environ.get("CI"):
        return "busybox"
    return "host"


os.environ["EDGESEG_DEVICE_SHELL"] = _device_shell()


def pytest_report_header(config):
    return f"loopback device shell: {os.environ['EDGESEG_DEVICE_SHELL']}"


def pytest_terminal_summary(terminalreporter):
    if os.environ.get("EDGESEG_DEVICE_SHELL") == "host":
        terminalreporter.write_line(
            "warning: the loopback device ran commands in the host's /bin/sh because busybox "
            "is not installed; install busybox-static to test what boards and phones run"
        )


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_raises():
    """Ctrl-C is KeyboardInterrupt in every test process, as in an interactive shell. A test run
    started in the background of a non-interactive shell (a CI script's `cmd &`) inherits SIGINT
    ignored, and Python then installs no handler: the tests that send themselves SIGINT would
    wait for an interrupt that never comes."""
    import signal

    old = signal.getsignal(signal.SIGINT)
    if old is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.fixture(scope="session", autouse=True)
def own_adb_server_port():
    """The tests' adb calls (edgeseg's adb-server transport, `devices list`) use an adb
    server port of their own, never the user's 5037, and the server any of them started
    is killed at the end: no `adb fork-server` is left running."""
    import shutil
    import socket
    import subprocess

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    old = os.environ.get("ANDROID_ADB_SERVER_PORT")
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(port)
    yield port
    adb = shutil.which("adb")
    if adb:
        subprocess.run([adb, "-P", str(port), "kill-server"], capture_output=True, timeout=30)
    if old is None:
        os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
    else:
        os.environ["ANDROID_ADB_SERVER_PORT"] = old


def camvid_root() -> Path | None:
    env = os.environ.get("EDGESEG_CAMVID")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets" / "camvid"]:
        if (cand / "train").is_dir() and (cand / "trainannot").is_dir():
            return cand
    return None


def save(path: Path, arr: np.ndarray, mode=None, palette=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr, mode=mode) if mode else Image.fromarray(arr)
    if palette is not None:
        im.putpalette(palette)
    im.save(path)
    return path


@pytest.fixture
def segnet_dataset(tmp_path):
    """3 train + 2 val images (8x12) with class-index masks, CamVid conventions (ignore 11)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "segnet"
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            save(root / split / f"img{i}.png", rng.integers(0, 255, (8, 12, 3), dtype=np.uint8))
            mask = rng.integers(0, 11, (8, 12)).astype(np.uint8)
            mask[0, 0] = 11  # void
            save(root / f"{split}annot" / f"img{i}.png", mask, mode="L")
    return root


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory):
    """A real (tiny) resunet exported to float32 .tflite with its manifest."""
    from edgeseg.artifact import write_manifest
    from edgeseg.models.registry import build_model
    from edgeseg.quantize.ptq import convert

    out = tmp_path_factory.mktemp("tiny") / "tiny_fp32.tflite"
    model = build_model("resunet", (32, 48), 3, {"depth": 2, "base": 4})
    out.write_bytes(convert(model, (32, 48), "float32"))
    write_manifest(out, model="resunet", recipe="float32", classes=["a", "b", "c"])
    return out


@pytest.fixture
def tiny_tflite_bytes():
    """A minimal valid TFLite flatbuffer (no TensorFlow needed): the bytes of a model with
    one empty subgraph, built by hand from the schema."""
    return minimal_tflite()


def minimal_tflite() -> bytes:
    import struct

    # root offset, "TFL3", then the Model table with subgraphs (field 2) = [one empty SubGraph]
    # and buffers (field 4) = [one empty Buffer], all offsets relative to where they are read.
    out = bytearray(b"\0" * 8)
    out[4:8] = b"TFL3"
    # vtable for Model: size 4+2*5, table size 12, fields 0..4 (only 2 and 4 set)
    vt_model = len(out)
    out += struct.pack("<HHHHHHH", 14, 12, 0, 0, 4, 0, 8)
    out += b"\0\0"  # pad to 4
    model = len(out)
    out += struct.pack("<i", model - vt_model) + b"\0" * 8
    vec_sub = len(out)
    out += struct.pack("<I", 1) + b"\0" * 4
    vec_buf = len(out)
    out += struct.pack("<I", 1) + b"\0" * 4
    vt_empty = len(out)
    out += struct.pack("<HH", 4, 4)
    sub = len(out)
    out += struct.pack("<i", sub - vt_empty)
    buf = len(out)
    out += struct.pack("<i", buf - vt_empty)
    struct.pack_into("<I", out, 0, model)
    struct.pack_into("<I", out, model + 4, vec_sub - (model + 4))
    struct.pack_into("<I", out, model + 8, vec_buf - (model + 8))
    struct.pack_into("<I", out, vec_sub + 4, sub - (vec_sub + 4))
    struct.pack_into("<I", out, vec_buf + 4, buf - (vec_buf + 4))
    return bytes(out)


def bench_config(**settings):
    """A BenchConfig for calling edgeseg.device.bench directly (the artifacts are passed beside it)."""
    from edgeseg.device.config import BenchConfig

    return BenchConfig(**{"device": "loopback", "artifacts": ("tests",), **settings})
