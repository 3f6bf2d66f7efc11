"""`edgeseg import` of a PyTorch segmenter through litert-torch (the optional `[torch]` extra):
an ImageNet-normalised NCHW net with a stride-2 body and a bilinear upsampling head, trained a
few steps on the synthetic lanes, given as ``--entry module:function``. The host mIoU of the
imported artifact must equal the one from torch's own forward pass on the same frames.

litert-torch pulls torch (with CUDA wheels, ~5 GB installed) and must load before TensorFlow
in a process (triton's native library crashes otherwise), so the conversion and torch's
forward pass run in subprocesses of the venv that has the extra: ``EDGESEG_TORCH_PYTHON``
(default: this interpreter); the test is skipped where that venv has no litert-torch."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
PYTHON = os.environ.get("EDGESEG_TORCH_PYTHON", sys.executable)
SIZE = (32, 48)

NET = textwrap.dedent(
    """
    import numpy as np
    import torch
    from torch import nn

    MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


    class Net(nn.Module):
        def __init__(self, n=6):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
            self.head = nn.Conv2d(16, n, 1)

        def forward(self, x):
            y = torch.relu(self.down(torch.relu(self.stem(x))))
            return nn.functional.interpolate(self.head(y), scale_factor=2, mode="bilinear", align_corners=False)


    def pre(pixels):  # uint8 [N,H,W,3] -> ImageNet-normalised NCHW
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
        return (x - MEAN) / STD


    def build():
        torch.manual_seed(0)
        net = Net()
        net.load_state_dict(torch.load(__file__.replace(".py", ".pt")))
        return net.eval(), torch.zeros(1, 3, 32, 48)
    """
)

TRAIN = textwrap.dedent(
    """
    import sys, numpy as np, torch
    sys.path.insert(0, sys.argv[1])
    import segnet
    data = np.load(sys.argv[2])
    torch.manual_seed(0)
    net = segnet.Net()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    x, y = segnet.pre(data["images"]), torch.from_numpy(data["masks"].astype(np.int64))
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y, ignore_index=255)
        loss.backward()
        opt.step()
    torch.save(net.state_dict(), sys.argv[1] + "/segnet.pt")
    net.eval()
    with torch.no_grad():
        out = net(segnet.pre(np.load(sys.argv[3])["images"])).numpy()
    np.save(sys.argv[4], out)
    if len(sys.argv) > 5:  # the same net as ONNX, for onnx2tf
        torch.onnx.export(net, (torch.zeros(1, 3, 32, 48),), sys.argv[5], opset_version=17, dynamo=False)
    """
)


def _run(*args, env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    res = subprocess.run([PYTHON, *map(str, args)], capture_output=True, text=True, env=env, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _need(module: str, how: str) -> None:
    probe = subprocess.run([PYTHON, "-c", f"import {module}"], capture_output=True, timeout=600)
    if probe.returncode != 0:
        pytest.skip(f"{PYTHON} has no {module}: {how} (or set EDGESEG_TORCH_PYTHON)")


def _trained(tmp_path, onnx=False):
    """The lanes, the net's folder and torch's own outputs on the val frames [N,C,H,W]."""
    from click.testing import CliRunner

    from edgeseg.cli import main
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import load_split

    lanes = tmp_path / "lanes"
    assert CliRunner().invoke(main, ["data", "synth", str(lanes), "--count", "16", "--size", "32x48"]).exit_code == 0
    ds = open_dataset(lanes)
    train = load_split(ds, "train", SIZE, "letterbox")
    val = load_split(ds, "val", SIZE, "letterbox", keep_source=True)
    np.savez(tmp_path / "train.npz", images=train.images, masks=train.masks)
    np.savez(tmp_path / "val.npz", images=val.images)
    src = tmp_path / "model"
    src.mkdir()
    (src / "segnet.py").write_text(NET)
    (tmp_path / "train.py").write_text(TRAIN)
    extra = [tmp_path / "segnet.onnx"] if onnx else []
    _run(tmp_path / "train.py", src, tmp_path / "train.npz", tmp_path / "val.npz", tmp_path / "torch_out.npy", *extra)
    return lanes, ds, val, src, np.load(tmp_path / "torch_out.npy")


def _compare(name, art, lanes, ds, val, ref, env_extra=None):
    """The imported artifact on the host against torch's forward pass: printed, and asserted equal."""
    from edgeseg.artifact import read_manifest
    from edgeseg.runtime.evaluate import artifact_predictor
    from edgeseg.training.metrics import argmax_agreement, score_labels

    predict = artifact_predictor(art, read_manifest(art), ds)
    raw = [predict._run_one(predict.preprocess(img)[None])[0] for img in val.images]
    scores = [predict.postprocess(r) for r in raw]  # [H,W,C], whatever the file's layout
    diff = max(float(np.abs(s.astype(np.float64) - np.transpose(r, (1, 2, 0))).max()) for s, r in zip(scores, ref))
    agree = argmax_agreement([s.argmax(-1) for s in scores], list(ref.argmax(1)))
    want = score_labels(list(ref.argmax(1)), val, ds.num_classes, ds.class_names)["miou"]
    host = _run("-m", "edgeseg.cli", "eval", art, "--data", lanes, "--json", env_extra=env_extra).stdout
    got = json.loads(host[host.index("{") : host.rindex("}") + 1])["miou"]
    print(f"\n{name}: max abs diff {diff:.3g}, argmax agreement {agree:.4%}, mIoU {got:.4f} vs {want:.4f}")
    assert agree >= 0.999 and got == pytest.approx(want, abs=1e-3)


def test_onnx_through_onnx2tf_matches_torchs_forward_pass(tmp_path):
    _need("onnx2tf", "pip install --no-deps onnx2tf && pip install onnx onnxruntime onnx-graphsurgeon sng4onnx psutil")
    lanes, ds, val, _, ref = _trained(tmp_path, onnx=True)
    cache = tmp_path / "cache"
    (cache / "edgeseg" / "onnx2tf").mkdir(parents=True)
    # onnx2tf's self-check images come from GitHub; offline, any 20x128x128x3 float32 sample does
    np.save(
        cache / "edgeseg/onnx2tf/calibration_image_sample_data_20x128x128x3_float32.npy",
        np.zeros((20, 128, 128, 3), np.float32),
    )
    art = tmp_path / "onnx.tflite"
    env = {"XDG_CACHE_HOME": str(cache)}
    res = _run(
        "-m", "edgeseg.cli", "import", tmp_path / "segnet.onnx", "--out", art, "--normalize", "imagenet",
        "--classes-from", lanes, "--output", "logits", "--json", env_extra=env,
    )  # fmt: skip
    m = json.loads(res.stdout[res.stdout.index("{") : res.stdout.rindex("}") + 1])["manifest"]
    assert m["imported"]["format"] == "onnx" and m["input"]["layout"] == "nhwc"  # onnx2tf writes NHWC
    _compare("onnx (onnx2tf)", art, lanes, ds, val, ref, env)


def test_torch_segmenter_matches_torchs_forward_pass(tmp_path):
    _need("litert_torch", "pip install 'edgeseg[torch]'")
    lanes, ds, val, src, ref = _trained(tmp_path)
    art = tmp_path / "torch.tflite"
    res = _run(
        "-m", "edgeseg.cli", "import", src, "--entry", "segnet:build", "--out", art, "--normalize", "imagenet",
        "--classes-from", lanes, "--output", "logits", "--json",
    )  # fmt: skip
    m = json.loads(res.stdout)["manifest"]
    assert m["imported"]["format"] == "torch" and m["imported"]["converter"] == "litert-torch"
    assert m["input"]["layout"] == "nchw" and m["output"]["layout"] == "nchw"

    _compare("torch (litert-torch)", art, lanes, ds, val, ref)
