"""`edgeseg import`: third-party-shaped models (built here with tf_keras, not from edgeseg's
zoo) through import -> host eval -> int8 PTQ -> bench on the host and on the loopback phone
with power -> `eval --device` on two delegates -> report. The host mIoU of each imported
model is checked against the framework's own forward pass (tf_keras ``model.predict``) on
the same frames; the agreement (max abs diff, argmax agreement) is printed (run with -s)."""

import json
import os

import numpy as np
import pytest
from adbd import AdbDaemon, SensorDriver
from click.testing import CliRunner
from phones import loopback_profile

from edgeseg.cli import main

pytestmark = pytest.mark.e2e
SIZE = (32, 48)


def _cli(*args, code=0):
    """Run the CLI; ``code="error"``: a one-line error, exit 1 (a library error) or 2 (a usage error)."""
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if code == "error":
        assert res.exit_code in (1, 2) and "Error:" in res.output, res.output
        assert "Traceback" not in res.output
    else:
        assert res.exit_code == code, res.output
    return res


def _json(res) -> dict:
    return json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])


@pytest.fixture(scope="module")
def lanes(tmp_path_factory):
    root = tmp_path_factory.mktemp("import") / "lanes"
    _cli("data", "synth", root, "--count", "16", "--size", "32x48")
    return root


def _frames(lanes, split="val"):
    from edgeseg.data.formats import open_dataset
    from edgeseg.data.pipeline import load_split

    ds = open_dataset(lanes)
    return ds, load_split(ds, split, SIZE, "letterbox", keep_source=True)


def _keras_model(stride: int, n: int):
    """A tiny segmenter trained a few epochs on [-1, 1] inputs: full-size logits, or logits at
    ``stride`` (three stride-2 convolutions for 8)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    x = inp = keras.Input((*SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    s = 1
    while s < stride:
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        s *= 2
    out = keras.layers.Conv2D(n, 1)(x)
    return keras.Model(inp, out)


def _minus1to1(pixels):
    return pixels.astype(np.float32) / 127.5 - 1


def _imagenet_nchw(pixels):
    x = (pixels.astype(np.float32) / 255 - np.float32([0.485, 0.456, 0.406])) / np.float32([0.229, 0.224, 0.225])
    return np.transpose(x, (0, 3, 1, 2))


def _nchw_model(n: int):
    """Channels first in and out, as a PyTorch export gives (the model trains in NCHW: its
    loss sees the scores channels last)."""
    import tf_keras as keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((3, *SIZE))
    x = keras.layers.Permute((2, 3, 1))(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(n, 1)(x)
    return keras.Model(inp, keras.layers.Permute((3, 1, 2))(x))


def _fit(model, lanes, stride, pre=_minus1to1):
    import tensorflow as tf

    ds, cache = _frames(lanes, "train")
    x = pre(cache.images)
    y = cache.masks.astype(np.int32)
    y = np.where(y == 255, 0, y)
    if stride > 1:
        y = y[:, stride // 2 :: stride, stride // 2 :: stride]
    channels_first = model.output_shape[1] == 6 and model.output_shape[-1] != 6
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if channels_first:
        model.compile("adam", lambda t, p: loss(t, tf.transpose(p, (0, 2, 3, 1))))
    else:
        model.compile("adam", loss)
    model.fit(x, y, epochs=15, batch_size=4, verbose=0)
    return model


def _to_tflite(fn, shape) -> bytes:
    import tensorflow as tf

    cf = tf.function(fn).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    return tf.lite.TFLiteConverter.from_concrete_functions([cf]).convert()


@pytest.fixture(scope="module")
def sources(lanes, tmp_path_factory):
    """Each source: (model file, import options, the framework's forward pass on [N,H,W,3] pixels
    -> (raw outputs, class maps at the input size))."""
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("sources")
    n = 6
    full = _fit(_keras_model(1, n), lanes, 1)
    full.save(folder / "m11.keras")
    low = _fit(_keras_model(8, n), lanes, 8)
    (folder / "argmax.tflite").write_bytes(
        _to_tflite(lambda x: tf.cast(tf.argmax(full(x, training=False), -1), tf.uint8), [1, *SIZE, 3])
    )
    (folder / "stride8.tflite").write_bytes(_to_tflite(lambda x: low(x, training=False), [1, *SIZE, 3]))
    # a PyTorch-shaped model: ImageNet mean/std, NCHW in, NCHW scores out
    nchw = _fit(_nchw_model(n), lanes, 1, _imagenet_nchw)
    (folder / "nchw.tflite").write_bytes(_to_tflite(lambda x: nchw(x, training=False), [1, 3, *SIZE]))
    pre = _minus1to1

    def keras_full(pixels):
        y = full.predict(pre(pixels), verbose=0)
        return y, y.argmax(-1)

    def keras_argmax(pixels):
        y = full.predict(pre(pixels), verbose=0).argmax(-1)
        return y, y

    def keras_low(pixels):
        y = low.predict(pre(pixels), verbose=0)
        up = tf.image.resize(y, SIZE, method="bilinear").numpy()  # TensorFlow's own upsampling, half-pixel
        return y, up.argmax(-1)

    def keras_nchw(pixels):
        y = nchw.predict(_imagenet_nchw(pixels), verbose=0)  # [N,C,H,W]
        return y, y.argmax(1)

    common = ["--normalize", "minus1to1", "--classes-from", lanes]
    return {
        "keras": (folder / "m11.keras", [*common, "--output", "logits"], keras_full),
        "argmax_uint8": (folder / "argmax.tflite", [*common], keras_argmax),
        "stride8": (folder / "stride8.tflite", [*common, "--output", "logits"], keras_low),
        "nchw_imagenet": (
            folder / "nchw.tflite",
            [
                "--mean",
                "0.485,0.456,0.406",
                "--std",
                "0.229,0.224,0.225",
                "--classes-from",
                lanes,
                "--output",
                "logits",
            ],
            keras_nchw,
        ),
    }


def _agreement(art, frames, reference):
    """The imported artifact on the host against the framework's forward pass on the same frames."""
    from edgeseg.artifact import read_manifest
    from edgeseg.runtime.evaluate import artifact_predictor
    from edgeseg.training.metrics import argmax_agreement

    ds, cache = frames
    predict = artifact_predictor(art, read_manifest(art), ds)
    raw = []
    for img in cache.images:
        raw.append(predict._run_one(predict.preprocess(img)[None])[0])
    ref_raw, ref_labels = reference(cache.images)
    labels = [predict.postprocess(r) for r in raw]
    labels = [lab.argmax(-1) if lab.ndim == 3 else lab for lab in labels]
    diff = max(float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max()) for a, b in zip(raw, ref_raw))
    return diff, argmax_agreement(labels, list(ref_labels)), ref_labels


@pytest.fixture
def phone(tmp_path):
    d = AdbDaemon(tmp_path / "phone")
    d.start()
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    yield d
    os.environ.pop("ADB_KEY_PATH", None)
    d.stop()


@pytest.mark.parametrize("name", ["keras", "argmax_uint8", "stride8", "nchw_imagenet"])
def test_imported_model_through_every_command(name, sources, lanes, phone, tmp_path):
    from edgeseg.training.metrics import score_labels

    src, options, reference = sources[name]
    art = tmp_path / f"{name}.tflite"
    _cli("import", src, "--out", art, *options)
    m = json.loads(art.with_suffix(".json").read_text())
    assert m["imported"]["format"] == ("keras" if name == "keras" else "tflite")
    layout = "nchw" if name == "nchw_imagenet" else "nhwc"
    assert m["input"]["normalisation"]["name"] == ("custom" if name == "nchw_imagenet" else "minus1to1")
    assert m["input"]["layout"] == layout and m["output"]["layout"] == layout  # both read from the shapes
    assert m["output"]["kind"] == ("argmax" if name == "argmax_uint8" else "logits")
    assert m["output"]["stride"] == (8 if name == "stride8" else 1)

    # host eval equals the framework's own forward pass on the same frames
    frames = _frames(lanes)
    diff, agree, ref_labels = _agreement(art, frames, reference)
    ds, cache = frames
    ref = score_labels(ref_labels, cache, ds.num_classes, ds.class_names)
    host = _json(_cli("eval", art, "--data", lanes, "--json"))
    print(
        f"\n{name}: max abs diff {diff:.3g}, argmax agreement {agree:.4%}, mIoU {host['miou']:.4f} vs {ref['miou']:.4f}"
    )
    assert agree >= 0.999 and host["miou"] == pytest.approx(ref["miou"], abs=1e-3)
    if name == "keras":  # the stated normalisation is what makes it agree: [0, 1] inputs do not
        wrong = tmp_path / "wrong.tflite"
        _cli("import", src, "--out", wrong, "--normalize", "unit", *options[2:])
        assert _agreement(wrong, frames, reference)[1] < 0.99

    # int8 PTQ of the imported float file, calibrated with its own input rule
    q = tmp_path / f"{name}_int8.tflite"
    _cli("quantize", art, "--int8", "--calib", lanes, "--num-calib", "8", "--out", q, "--no-lint")
    qm = json.loads(q.with_suffix(".json").read_text())
    assert qm["recipe"] == "int8" and qm["output"]["kind"] == m["output"]["kind"] and qm["imported"] == m["imported"]
    qhost = _json(_cli("eval", q, "--data", lanes, "--json"))
    assert qhost["miou"] > host["miou"] - 0.1

    _cli("info", q, "--delegates")
    reports = tmp_path / "reports"
    _cli("bench", art, q, "--device", "host", "--runs", "3", "--min-secs", "0", "--reports", reports)
    _cli("select", q, "--device", "host", "--budget-ms", "10000", "--report", reports)

    # the loopback phone: bench with power, then eval --device on two delegates
    prof = loopback_profile(
        tmp_path,
        phone.port,
        delegates={"cpu": {}, "xnnpack": {}},
        power={"source": "battery+rails", "rate_hz": 20, "idle_secs": 0.5},
    )
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    work.mkdir(parents=True, exist_ok=True)
    driver = SensorDriver(phone.sandbox, work)
    driver.thread.start()
    try:
        out = _json(
            _cli(
                "bench",
                q,
                "--device",
                prof,
                "--delegate",
                "xnnpack",
                "--runs",
                "10",
                "--min-secs",
                "1",
                "--reports",
                reports,
                "--json",
            )
        )
    finally:
        driver.stop.set()
    assert out["rows"][0]["status"] in ("ok", "fallback") and out["power"][0]["energy_mj_per_inference"] > 0
    ev = _json(
        _cli(
            "eval",
            q,
            "--device",
            prof,
            "--delegate",
            "cpu,xnnpack",
            "--data",
            lanes,
            "--frames",
            "4",
            "--reports",
            reports,
            "--json",
        )
    )
    rows = {(r["where"], r["delegate"]): r for r in ev["rows"]}
    for d in ("cpu", "xnnpack"):
        assert rows[("device", d)]["status"] == "ok", rows[("device", d)]  # agreement with the host within the bound
    _cli("report", reports)


def test_what_the_file_cannot_show_must_be_stated(sources, lanes, tmp_path):
    """Each missing or contradicting statement is a one-line error naming the option; nothing is written."""
    keras_src, argmax_src, low_src = sources["keras"][0], sources["argmax_uint8"][0], sources["stride8"][0]
    out = tmp_path / "x.tflite"
    classes = ["--classes-from", lanes]
    cases = [
        ((argmax_src, *classes), "pass --normalize unit|imagenet|minus1to1, or --mean R,G,B --std R,G,B"),
        ((argmax_src, "--normalize", "unit"), "pass --classes FILE (one name a line, or name,r,g,b) or --classes-from"),
        ((low_src, "--normalize", "unit", *classes), "pass --output logits|probabilities|argmax"),
        ((argmax_src, "--normalize", "unit", *classes, "--output", "logits"), "that is a class map, not logits"),
        (
            (low_src, "--normalize", "unit", *classes, "--output", "logits", "--output-stride", "4"),
            "check --output-stride",
        ),
        ((low_src, "--normalize", "unit", *classes, "--output", "logits", "--layout", "nchw"), "check --layout"),
        ((low_src, "--normalize", "unit", *classes, "--output", "logits", "--input-size", "64x64"), "takes 32x48"),
        ((argmax_src, "--mean", "0.5,0.5,0.5", *classes), "--mean and --std go together"),
        ((argmax_src, "--normalize", "unit", "--mean", "0,0,0", "--std", "1,1,1", *classes), "one or the other"),
        (
            (keras_src, "--normalize", "unit", *classes, "--output", "logits", "--entry", "m:f"),
            "--entry names a PyTorch",
        ),
    ]
    for args, message in cases:
        res = _cli("import", *args, "--out", out, code="error")
        assert message in res.output and "Traceback" not in res.output, (args, res.output)
        assert not out.exists() and not out.with_suffix(".json").exists()
    names = tmp_path / "names.txt"
    names.write_text("a\nb\n")
    res = _cli(
        "import", low_src, "--normalize", "unit", "--classes", names, "--output", "logits", "--out", out, code="error"
    )
    assert "outputs 6 classes but 2 class names were given (--classes)" in res.output
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\x08\x07")
    res = _cli("import", onnx, "--normalize", "unit", *classes, "--out", out, code="error")
    assert "importing ONNX needs onnx2tf, which is no edgeseg extra" in res.output
    res = _cli("import", tmp_path / "none.keras", "--normalize", "unit", *classes, "--out", out, code="error")
    assert "none.keras does not exist" in res.output


def test_quantize_of_an_imported_file_names_what_it_needs(sources, lanes, tmp_path):
    art = tmp_path / "a.tflite"
    _cli("import", sources["argmax_uint8"][0], "--normalize", "minus1to1", "--classes-from", lanes, "--out", art)
    res = _cli("quantize", art, "--int8", "--no-lint", code="error")
    assert "has no run folder to take calibration images from: pass --calib DIR" in res.output
    res = _cli("quantize", art, "--float16", "--no-lint", code="error")
    assert "--float16 of a .tflite is not offered" in res.output
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(art.read_bytes())
    res = _cli("quantize", bare, "--int8", "--calib", lanes, "--no-lint", code="error")
    assert "bare.json is missing" in res.output


def test_a_model_of_any_size_needs_input_size(lanes, tmp_path):
    """A Keras model with no fixed height and width converts at --input-size; a .tflite of any
    size cannot be fixed by an import (the phone's runner needs the size in the file)."""
    import tensorflow as tf
    import tf_keras as keras

    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(6, 1)(inp))
    src = tmp_path / "any.keras"
    model.save(src)
    out = tmp_path / "any.tflite"
    stated = ["--normalize", "unit", "--classes-from", lanes, "--output", "logits", "--out", out]
    res = _cli("import", src, *stated, code="error")
    assert "takes any image size" in res.output and "pass --input-size HxW" in res.output and not out.exists()
    _cli("import", src, *stated, "--input-size", "32x48")
    assert json.loads(out.with_suffix(".json").read_text())["input"]["shape"] == [1, 32, 48, 3]
    dynamic = tmp_path / "dynamic.tflite"
    dynamic.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    res = _cli("import", dynamic, *stated[:-1], tmp_path / "d.tflite", code="error")
    assert "takes any image size" in res.output and "export it at a fixed size" in res.output


def test_a_savedmodel_imports_like_its_keras_model(sources, lanes, tmp_path):
    import tf_keras as keras

    src, options, reference = sources["keras"]
    saved = tmp_path / "saved"
    keras.models.load_model(src, compile=False).save(saved, save_format="tf")
    art = tmp_path / "saved.tflite"
    _cli("import", saved, "--out", art, *options)
    m = json.loads(art.with_suffix(".json").read_text())
    assert m["imported"]["format"] == "savedmodel" and m["imported"]["converter"] == "tensorflow"
    diff, agree, _ = _agreement(art, _frames(lanes), reference)
    print(f"\nsavedmodel: max abs diff {diff:.3g}, argmax agreement {agree:.4%}")
    assert agree >= 0.999
