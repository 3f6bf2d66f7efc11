"""QAT, accuracy-controlled int8, output heads and the delegate lint: formulas as unit
tests, then end to end on a tiny model with real TensorFlow, tfmot and LiteRT."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgeseg.cli import main
from edgeseg.quantize.controlled import step_sizes
from edgeseg.quantize.lint import Graph, Node, _nnapi_check, predict_partitions

TINY = ["--input-size", "64x96", "--depth", "2", "--base", "8", "--batch", "4", "--augment", "flip"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# -- formulas -------------------------------------------------------------------------------


def test_predict_partitions_counts_runs_and_applies_the_cap():
    sup = [True, True, False, True, False, False, True, True, True]
    p = predict_partitions(sup)
    assert (p["partitions"], p["supported_ops"], p["delegated_ops"]) == (3, 6, 6)
    capped = predict_partitions(sup, 1)  # GPU default: only the largest partition
    assert (capped["partitions"], capped["delegated_partitions"], capped["delegated_ops"]) == (3, 1, 3)
    assert predict_partitions([False, False])["partitions"] == 0


def test_step_sizes_double_and_stop_at_the_layer_count():
    assert step_sizes(10, 8) == [0, 1, 2, 4, 8, 10]
    assert step_sizes(100, 3) == [0, 1, 2, 4]
    assert step_sizes(0, 5) == [0]


def _graph(op, in_dtype, out_dtype="int8", options=None, n_inputs=1, scales=None):
    tensors = {}
    for i in range(n_inputs + 1):
        s = (scales or [0.1] * (n_inputs + 1))[i]
        tensors[i] = {
            "name": f"t{i}",
            "dtype": in_dtype if i < n_inputs else out_dtype,
            "shape": [1, 4, 4, 3],
            "scale": s,
            "zero_point": 0,
            "const": False,
        }
    node = Node(0, op, list(range(n_inputs)), [n_inputs], options or {})
    return Graph([node], tensors), node


def test_nnapi_rules_from_the_delegate_validation():
    g, n = _graph("QUANTIZE", "int8")
    assert "requantize" in _nnapi_check(g, n, 33)
    g, n = _graph("QUANTIZE", "float32")
    assert _nnapi_check(g, n, 30) is None
    g, n = _graph("RESIZE_BILINEAR", "int8", options={"halfPixelCenters": True})
    assert "API 30" in _nnapi_check(g, n, 29) and _nnapi_check(g, n, 30) is None
    g, n = _graph("RESIZE_NEAREST_NEIGHBOR", "float32")
    assert "29" in _nnapi_check(g, n, 28)
    g, n = _graph("CONCATENATION", "uint8", "uint8", n_inputs=2, scales=[0.1, 0.2, 0.1])
    assert "different scales" in _nnapi_check(g, n, 28) and _nnapi_check(g, n, 29) is None
    g, n = _graph("CUMSUM", "float32", "float32")
    assert "no NNAPI operation" in _nnapi_check(g, n, 34)


# -- end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lanes(tmp_path_factory):
    out = tmp_path_factory.mktemp("qdepth") / "lanes"
    assert cli("data", "synth", out, "--count", "30", "--size", "64x96", "--seed", "3").exit_code == 0
    return out


@pytest.fixture(scope="module")
def run(lanes):
    run = lanes.parent / "run"
    res = cli("train", "--data", lanes, "--out", run, "--epochs", "1", *TINY)
    assert res.exit_code == 0, res.output
    return run


def _eval(art, lanes):
    res = cli("eval", art, "--data", lanes, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.e2e
@pytest.mark.slow  # about 1 min: three heads exported and evaluated
def test_heads_export_and_eval_to_the_same_quality(run, lanes, tmp_path):
    from edgeseg.runtime.interpreter import load_interpreter

    scores = {}
    for head in ("probabilities", "logits", "argmax"):
        art = tmp_path / f"m_{head}.tflite"
        res = cli("quantize", run, "--float32", "--head", head, "--out", art, "--no-lint")
        assert res.exit_code == 0, res.output
        man = json.loads(art.with_suffix(".json").read_text())
        assert man["output"]["kind"] == head
        out = load_interpreter(art)[0].get_output_details()[0]
        if head == "argmax":
            assert out["dtype"] == np.uint8 and list(out["shape"]) == [1, 64, 96]
        else:
            assert list(out["shape"]) == [1, 64, 96, 6]
        scores[head] = _eval(art, lanes)["miou"]
    # argmax(softmax(z)) = argmax(z): three heads, one segmentation
    assert scores["probabilities"] == pytest.approx(scores["logits"], abs=1e-9)
    assert scores["probabilities"] == pytest.approx(scores["argmax"], abs=1e-9)


@pytest.mark.e2e
@pytest.mark.slow  # about 1.5 min: QAT fine-tune, export, resume
def test_qat_one_epoch_to_int8_artifact_then_eval_and_resume(run, lanes):
    res = cli("quantize", run, "--qat", "--epochs", "1", "--head", "argmax")
    assert res.exit_code == 0, res.output
    art = run / "artifacts" / "resunet_64x96_int8_qat_argmax.tflite"
    man = json.loads(art.with_suffix(".json").read_text())
    assert man["recipe"] == "int8_qat" and man["input"]["dtype"] == "int8" and man["output"]["kind"] == "argmax"
    assert man["qat"]["epochs"] == 1 and man["source_checkpoint"].endswith("qat/best.weights.h5")
    for f in ("config.json", "history.csv", "best.weights.h5", "ckpt"):
        assert (run / "qat" / f).exists()
    q = _eval(art, lanes)
    assert 0 <= q["miou"] <= 1 and q["images"] == 6
    # a second call without --resume refuses to overwrite the fine-tune
    again = CliRunner().invoke(main, ["quantize", str(run), "--qat", "--epochs", "1"])
    assert again.exit_code != 0 and "--resume" in again.output
    # --resume with the epochs already done re-exports from the QAT checkpoint (loaded in quantize scope),
    # replacing the artifact only with --force
    res = CliRunner().invoke(main, ["quantize", str(run), "--qat", "--epochs", "1", "--resume", "--head", "argmax"])
    assert res.exit_code == 1 and "already exists" in res.output and "pass --force to replace it" in res.output
    res = cli("quantize", run, "--qat", "--epochs", "1", "--resume", "--head", "argmax", "--no-lint", "--force")
    assert res.exit_code == 0, res.output
    assert _eval(art, lanes)["miou"] == pytest.approx(q["miou"], abs=1e-9)


@pytest.mark.e2e
def test_qat_wraps_a_layer_tfmot_cannot_with_an_explicit_config():
    from edgeseg.config import import_keras, import_tf
    from edgeseg.quantize.qat import make_qat_model

    tf, keras = import_tf(), import_keras()

    @keras.utils.register_keras_serializable(package="edgeseg_test")
    class ClipSix(keras.layers.Layer):  # a custom layer: not in tfmot's 8-bit registry
        def call(self, x):
            return tf.clip_by_value(x, 0.0, 6.0)

    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c")(inp)
    x = ClipSix(name="clip")(x)
    m = keras.Model(inp, keras.layers.Softmax(name="probabilities")(x))
    qat, explicit = make_qat_model(m)
    assert explicit == ["clip"]
    y = qat(np.random.rand(1, 16, 16, 3).astype(np.float32)).numpy()
    assert y.shape == (1, 16, 16, 4) and np.allclose(y.sum(-1), 1, atol=1e-3)


@pytest.mark.e2e
@pytest.mark.slow  # about 40 s: the accuracy-controlled search
def test_accuracy_control_with_a_forced_budget_keeps_layers_in_float(run, lanes):
    from edgeseg.quantize.controlled import controlled_int8

    # a budget no model meets (int8 must beat float32 by 100 points; the CLI refuses a negative
    # --max-drop, the library takes it) forces the loop to run
    out = controlled_int8(run, lanes, max_drop=-100, calib=lanes, num_calib=10, max_steps=2)
    man = out["manifest"]
    assert man.recipe == "int8_controlled"
    assert out["within_budget"] is False and out["stopped"]
    assert [s["float_layers"] for s in out["steps"]][:2] == [0, 1]
    assert len(out["steps"]) >= 2 and man.accuracy_control["max_drop_points"] == -100
    chosen = man.accuracy_control["chosen_step"]
    assert len(man.float_layers) == out["steps"][chosen]["float_layers"]
    # make the chosen artifact one with float layers: force step 1 by a budget it meets
    res = cli(
        "quantize",
        run,
        "--int8",
        "--max-drop",
        "100",
        "--data",
        lanes,
        "--calib",
        lanes,
        "--num-calib",
        "10",
        "--force",
        "--json",
    )
    ok = json.loads(res.output[res.output.index("{") :])
    assert ok["within_budget"] and ok["manifest"]["float_layers"] == [] and ok["stopped"] == "within budget"
    q = _eval(out["artifact"], lanes)
    assert 0 <= q["miou"] <= 1


@pytest.mark.e2e
@pytest.mark.slow  # the accuracy-controlled search again
def test_accuracy_control_lists_denylisted_layers_and_the_artifact_runs(run, lanes, tmp_path):
    from edgeseg.quantize.controlled import controlled_int8
    from edgeseg.runtime.interpreter import load_interpreter, op_names

    msgs = []
    res = controlled_int8(
        run, lanes, max_drop=-100, calib=lanes, num_calib=10, max_steps=1, out=tmp_path / "c.tflite", say=msgs.append
    )
    # with one step allowed the loop compares 0 and 1 float layers and keeps the better one
    man = json.loads((tmp_path / "c.json").read_text())
    assert [s["float_layers"] for s in res["steps"]] == [0, 1]
    if man["accuracy_control"]["chosen_step"] == 1:
        assert len(man["float_layers"]) == 1
        assert "DEQUANTIZE" in op_names(load_interpreter(tmp_path / "c.tflite")[0])
    assert any("step 1:" in m for m in msgs) and any("budget" in m for m in msgs)
    assert man["accuracy_control"]["ranking"][0]["error_steps"] >= man["accuracy_control"]["ranking"][-1]["error_steps"]


@pytest.mark.e2e
@pytest.mark.slow  # about 20 s: three graphs converted
def test_lint_warns_bilinear_and_int8_softmax_but_not_resunet_extras(run, lanes, tmp_path):
    from edgeseg.config import import_keras
    from edgeseg.quantize.lint import lint_artifact
    from edgeseg.quantize.ptq import convert

    keras = import_keras()
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = keras.layers.Conv2D(4, 1)(x)
    m = keras.Model(inp, keras.layers.Softmax(name="probabilities")(x))
    calib = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    f = tmp_path / "bilinear_int8.tflite"
    f.write_bytes(convert(m, (32, 32), "int8", "int8", calib, head="probabilities"))
    codes = {w["code"] for w in lint_artifact(f)["warnings"]}
    assert {"resize-bilinear", "int8-softmax-head"} <= codes

    art = tmp_path / "resunet_int8.tflite"
    res = cli("quantize", run, "--int8", "--calib", lanes, "--num-calib", "10", "--out", art)
    assert res.exit_code == 0, res.output
    assert "xnnpack" in res.output and "nnapi" in res.output  # the short lint after conversion
    lint = lint_artifact(art)
    codes = {w["code"] for w in lint["warnings"]}
    # the default model (max-pool down, transposed-conv up, logits head) gives the lint nothing to say
    assert codes == set(), lint["warnings"]
    assert lint["delegates"]["nnapi"]["partitions"] == 1 and lint["delegates"]["gpu"]["partitions"] == 1
    xnn = lint["delegates"]["xnnpack"]
    assert xnn["partitions"] == 1 and xnn["delegated_ops"] == xnn["total_ops"], xnn
    full = cli("info", art, "--delegates")
    assert full.exit_code == 0 and "->" not in full.output, full.output


@pytest.mark.e2e
@pytest.mark.slow
def test_qat_wraps_densenet_preactivation_batchnorm_and_converts_to_int8():
    """DenseNet's BN after a concat matches none of tfmot's conv+BN folds: it gets the
    output-only config, the BNs after convolutions stay for tfmot to fold."""
    from edgeseg.config import import_tf
    from edgeseg.models.registry import build_model
    from edgeseg.quantize.ptq import make_converter, run_converter
    from edgeseg.quantize.qat import make_qat_model, quantize_scope
    from edgeseg.runtime.interpreter import load_interpreter

    tf = import_tf()
    m = build_model("unet-densenet121", (32, 32), 3)
    qat, explicit = make_qat_model(m)
    assert "conv2_block1_0_bn" in explicit  # after the stem's pooling/concat: standalone
    assert "conv2_block1_1_bn" not in explicit  # after conv2_block1_1_conv: folded by tfmot
    with quantize_scope():
        conv = make_converter(qat, (32, 32), "float32", "int8", "probabilities")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.inference_input_type = conv.inference_output_type = tf.int8
        data = run_converter(conv, "the QAT model")
    interp, _ = load_interpreter(model_content=data)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], np.int8))
    interp.invoke()
    assert tuple(interp.get_tensor(out["index"]).shape) == (1, 32, 32, 3)


def test_qat_refuses_a_pta_run_with_what_to_do(tmp_path):
    from edgeseg.errors import QuantizeError
    from edgeseg.quantize.qat import qat_finetune

    (tmp_path / "config.json").write_text(
        json.dumps({"model": "unet-pta", "input_size": [64, 64], "classes": ["a", "b"], "model_config": {}})
    )
    with pytest.raises(QuantizeError, match="--pta-configs"):
        qat_finetune(tmp_path, epochs=1)
    res = CliRunner().invoke(main, ["quantize", str(tmp_path), "--qat", "--pta-configs", "LLL"])
    assert res.exit_code == 2 and "QAT keeps no run-time switch" in res.output


@pytest.mark.e2e
@pytest.mark.slow  # about 1 min: both int8 tools on one run
def test_int8_defaults_to_ai_edge_quantizer_with_the_converters_scales_and_no_requantize(run, lanes, tmp_path):
    """--int8 calibrates with ai-edge-quantizer by default (the manifest says so), keeps the
    fixed 1/255 input scale and one partition (no requantize op before a concat), scores
    like the converter's; --head argmax falls back to the converter, --ptq converter asks for it."""
    from edgeseg.quantize.lint import lint_artifact
    from edgeseg.runtime.interpreter import load_interpreter, op_names

    arts = {}
    for name, extra in (("aeq", []), ("converter", ["--ptq", "converter"]), ("argmax", ["--head", "argmax"])):
        arts[name] = tmp_path / f"{name}.tflite"
        res = cli(
            "quantize", run, "--int8", "--calib", lanes, "--num-calib", "10", "--out", arts[name], "--no-lint", *extra
        )
        assert res.exit_code == 0, res.output
    tools = {k: json.loads(v.with_suffix(".json").read_text())["ptq"] for k, v in arts.items()}
    assert tools["aeq"]["tool"] == "aeq" and tools["aeq"]["version"].startswith("ai-edge-quantizer ")
    assert tools["converter"]["tool"] == "converter" and tools["argmax"]["tool"] == "converter"
    assert all(t["seconds"] > 0 for t in tools.values())
    interp, _ = load_interpreter(arts["aeq"])
    inp = interp.get_input_details()[0]
    assert inp["dtype"] == np.int8 and inp["quantization"] == pytest.approx((1 / 255, -128))
    assert "QUANTIZE" not in op_names(interp) and "DEQUANTIZE" not in op_names(interp)
    lint = lint_artifact(arts["aeq"])
    assert lint["delegates"]["xnnpack"]["partitions"] == 1 and lint["delegates"]["nnapi"]["partitions"] == 1
    a, c = _eval(arts["aeq"], lanes), _eval(arts["converter"], lanes)
    assert abs(a["miou"] - c["miou"]) <= 0.02, (a["miou"], c["miou"])
    res = cli(
        "quantize",
        run,
        "--int8",
        "--calib",
        lanes,
        "--ptq",
        "aeq",
        "--io",
        "uint8",
        "--out",
        tmp_path / "u.tflite",
        "--no-lint",
    )
    assert res.exit_code == 1 and "--ptq aeq writes int8 or float I/O, not uint8: use --ptq converter" in res.output
    assert not (tmp_path / "u.tflite").exists()
