"""The model zoo: every registry name builds, trains one step on real TensorFlow, converts
to int8 and runs in the LiteRT interpreter with the right output shape; the PTA U-Net
exports several configurations into one multi-signature .tflite."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgeseg.models.pta import ALL_CONFIGS, TRAIN_DISTRIBUTION, check_config, parse_distribution, sample_configs
from edgeseg.models.registry import MODELS, build_model

SMALL = {"unet": {"base": 8}, "unetpp": {"base": 8}, "deeplabv3plus": {"aspp_filters": 32, "width": 0.35}}
# 1.5-3.5 minutes each on 2 cores (the Keras applications encoders, the PTA bank), 30-50 s each
# for the small ones: the default suite keeps the default model's, `-m slow` (run by .ci/run) the rest
SLOW_MODELS = {
    "unet-densenet121",
    "unet-resnet50",
    "unet-mobilenetv2",
    "unet-pta",
    "deeplabv3plus",
    "unetpp",
    "resunet-seed",
    "unet-vgg16",
    "unet",
}


def test_registry_table_is_complete():
    for name, spec in MODELS.items():
        assert spec.name == name and spec.description and spec.stride in (16, 32)
        h, w = spec.input_size
        assert h % spec.stride == 0 and w % spec.stride == 0, name
    assert {
        "unet",
        "unetpp",
        "deeplabv3plus",
        "unet-vgg16",
        "unet-resnet50",
        "unet-densenet121",
        "unet-mobilenetv2",
        "unet-pta",
    } <= set(MODELS)


def test_pta_sampling_follows_the_seed_distribution():
    draws = sample_configs(20000, 0)
    for cfg, p in TRAIN_DISTRIBUTION.items():
        assert abs(draws.count(cfg) / len(draws) - p) < 0.015
    assert len(ALL_CONFIGS) == 27 and check_config("hlb") == "HLB"
    with pytest.raises(Exception, match="3 letters"):
        check_config("HX")


def test_pta_sampling_distribution_parser():
    assert parse_distribution(None) == TRAIN_DISTRIBUTION == parse_distribution("seed")
    assert parse_distribution("hhh:1, LLL:3") == {"HHH": 0.25, "LLL": 0.75}
    assert parse_distribution("HHH:1,LLL:0") == {"HHH": 1.0}  # a zero weight is never sampled
    for bad, msg in (
        ("HHH", "CONFIG:WEIGHT"),
        ("HHX:1", "3 letters"),
        ("HHH:x", "not a number"),
        ("HHH:-1", ">= 0"),
        ("HHH:nan", ">= 0"),
        ("HHH:1,hhh:2", "twice"),
        ("HHH:0", "sum to 0"),
    ):
        with pytest.raises(Exception, match=msg):
            parse_distribution(bad)
    draws = sample_configs(4000, 3, parse_distribution("LLL:1,HHH:1"))
    assert set(draws) == {"LLL", "HHH"} and abs(draws.count("LLL") / 4000 - 0.5) < 0.03


def test_pta_sampling_is_refused_for_other_models_before_reading_data(tmp_path):
    from click.testing import CliRunner

    from edgeseg.cli import main

    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "r"),
            "--model",
            "resunet",
            "--pta-sampling",
            "LLL:1",
        ],
    )
    assert r.exit_code != 0 and "--pta-sampling is for unet-pta runs" in r.output
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "r"),
            "--model",
            "unet-pta",
            "--pta-sampling",
            "LLL",
        ],
    )
    assert r.exit_code != 0 and "CONFIG:WEIGHT" in r.output
    assert not (tmp_path / "r").exists()


@pytest.mark.e2e
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_MODELS else n for n in MODELS])
def test_model_builds_trains_a_step_converts_to_int8_and_runs(name):
    from edgeseg.config import import_keras
    from edgeseg.quantize.ptq import convert
    from edgeseg.runtime.interpreter import load_interpreter
    from edgeseg.training.losses import make_loss

    keras = import_keras()
    size, n = (64, 64), 5
    model = build_model(name, size, n, SMALL.get(name))
    assert model.output.shape[1:] == (64, 64, n)
    rng = np.random.default_rng(0)
    x = rng.random((2, 64, 64, 3), dtype=np.float32)
    y = rng.integers(0, n, (2, 64, 64)).astype(np.int32)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=make_loss(MODELS[name].loss))
    hist = model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    calib = rng.integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    interp, _ = load_interpreter(model_content=convert(model, size, "int8", "int8", calib))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and list(out["shape"]) == [1, 64, 64, n]
    interp.set_tensor(inp["index"], rng.integers(-128, 127, (1, 64, 64, 3), dtype=np.int8))
    interp.invoke()
    assert interp.get_tensor(out["index"]).shape == (1, 64, 64, n)
    if not MODELS[name].fixed_size:  # `train --progressive` trains these layers at smaller sizes
        from edgeseg.training.loop import _any_size

        trainer = _any_size(keras, model)
        assert {id(v) for v in trainer.weights} == {id(v) for v in model.weights}  # the same variables
        assert trainer.predict(x[:, :32, :32], verbose=0).shape == (2, 32, 32, n)


@pytest.mark.e2e
@pytest.mark.slow  # 3.5 minutes on 2 cores: train, resume, export, eval, bench and select of a PTA run
def test_pta_two_configurations_in_one_multi_signature_file(tmp_path):
    from click.testing import CliRunner

    from edgeseg.cli import main
    from edgeseg.runtime.interpreter import load_interpreter

    data, run = tmp_path / "syn", tmp_path / "pta"
    r = CliRunner().invoke(main, ["data", "synth", str(data), "--count", "16", "--size", "64x64"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(run),
            "--model",
            "unet-pta",
            "--input-size",
            "64x64",
            "--epochs",
            "1",
            "--batch",
            "4",
            "--pta-sampling",
            "HHH:0.5,LLL:0.5",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    train_cfg = json.loads((run / "config.json").read_text())["train"]
    assert train_cfg["loss"] == "dice" and train_cfg["pta_sampling"] == "HHH:0.5,LLL:0.5"  # the model's own loss
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(run),
            "--model",
            "unet-pta",
            "--input-size",
            "64x64",
            "--epochs",
            "2",
            "--batch",
            "4",
            "--resume",
            "--pta-sampling",
            "seed",
        ],
    )  # another distribution, asked for explicitly
    assert r.exit_code != 0 and "pta_sampling: run 'HHH:0.5,LLL:0.5', this call 'seed'" in r.output
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(run),
            "--model",
            "unet-pta",
            "--input-size",
            "64x64",
            "--epochs",
            "2",
            "--batch",
            "4",
            "--resume",
            "--pta-sampling",
            "lll:1,hhh:1",
        ],
    )  # the same ratios, written differently
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        main,
        ["quantize", str(run), "--float32", "--pta-configs", "LLL,HHH", "--no-lint", "--json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    res = json.loads(r.output[r.output.index("{") :])
    pta = res["manifest"]["pta"]
    assert pta["signatures"] == ["LLL", "HHH"] and pta["lightest"] == "LLL"
    assert pta["mac_saving_lightest_vs_heaviest"] >= 0.25
    assert pta["configs"]["LLL"]["macs"] < pta["configs"]["HHH"]["macs"]
    interp, _ = load_interpreter(res["artifact"])
    assert set(interp.get_signature_list()) == {"LLL", "HHH"}
    x = np.random.default_rng(1).random((1, 64, 64, 3), dtype=np.float32)
    outs = {k: interp.get_signature_runner(k)(image=x)["logits"] for k in ("LLL", "HHH")}  # the default head
    assert outs["LLL"].shape == outs["HHH"].shape == (1, 64, 64, 6)
    assert not np.allclose(outs["LLL"], outs["HHH"])
    # the shared weights are stored once: the two-signature file is smaller than the two files
    single = sum(
        (run / "artifacts" / f).stat().st_size for f in (pta["configs"]["LLL"]["file"], pta["configs"]["HHH"]["file"])
    )
    assert (run / "artifacts" / res["artifact"].split("/")[-1]).stat().st_size < single

    # info --delegates lints each configuration from its own file (the graph a device delegates)
    r = CliRunner().invoke(main, ["info", res["artifact"], "--delegates", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lints = json.loads(r.output[r.output.index("{") :])["lint_signatures"]
    assert set(lints) == {"LLL", "HHH"}
    assert lints["LLL"]["delegates"]["xnnpack"]["total_ops"] < lints["HHH"]["delegates"]["xnnpack"]["total_ops"]
    (run / "artifacts" / pta["configs"]["HHH"]["file"]).rename(tmp_path / "moved.tflite")
    r = CliRunner().invoke(main, ["info", res["artifact"], "--delegates"], catch_exceptions=False)
    assert r.exit_code == 0 and "delegates of configuration LLL (its own file" in r.output
    assert "configuration HHH as its own file) is missing; export it again" in r.output
    (tmp_path / "moved.tflite").rename(run / "artifacts" / pta["configs"]["HHH"]["file"])

    # eval scores every configuration and records each in the manifest
    art = res["artifact"]
    r = CliRunner().invoke(main, ["eval", art, "--data", str(data), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    ev = json.loads(r.output[r.output.index("{") :])
    assert set(ev["signatures"]) == {"LLL", "HHH"}
    manifest = json.loads(Path(art).with_suffix(".json").read_text())
    recorded = manifest["quality"]["syn:val"]["signatures"]
    assert {k: v["miou"] for k, v in recorded.items()} == {k: v["miou"] for k, v in ev["signatures"].items()}
    # bench: one row per configuration, each with its own delegation columns
    reports = tmp_path / "reports"
    r = CliRunner().invoke(
        main,
        ["bench", art, "--runs", "3", "--min-secs", "0", "--reports", str(reports), "--json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    rows = {row["artifact"].split(":")[1]: row for row in json.loads(r.output[r.output.index("{") :])["rows"]}
    assert set(rows) == {"LLL", "HHH"}
    assert all(row["status"] in ("ok", "fallback") and row["total_ops"] for row in rows.values())
    assert rows["LLL"]["total_ops"] < rows["HHH"]["total_ops"]  # the light branch has fewer nodes
    # select: a generous budget takes the best mIoU; an impossible one selects nothing (exit 1)
    r = CliRunner().invoke(
        main,
        ["select", art, "--device", "host", "--budget-ms", "100000", "--report", str(reports), "--json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    chosen = json.loads(r.output[r.output.index("{") :])["chosen"]
    best = max(ev["signatures"].values(), key=lambda v: v["miou"])["miou"]
    assert float(chosen["miou"]) == pytest.approx(best)
    r = CliRunner().invoke(
        main, ["select", art, "--device", "host", "--budget-ms", "0.000001", "--report", str(reports)]
    )
    assert r.exit_code == 1 and "no configuration fits" in r.output

    # --out and --head are honoured: the multi-signature file where --out says, each configuration beside it
    out = tmp_path / "exported" / "pta_logits.tflite"
    r = CliRunner().invoke(
        main,
        [
            "quantize",
            str(run),
            "--float32",
            "--pta-configs",
            "LLL,HHH",
            "--head",
            "logits",
            "--out",
            str(out),
            "--no-lint",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.parent.glob("*.tflite")) == [
        "pta_logits.tflite",
        "pta_logits_HHH.tflite",
        "pta_logits_LLL.tflite",
    ]
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["output"]["kind"] == "logits" and m["pta"]["configs"]["LLL"]["file"] == "pta_logits_LLL.tflite"
    interp, _ = load_interpreter(out)
    logits = interp.get_signature_runner("LLL")(image=x)["logits"]
    assert logits.min() < 0 or logits.max() > 1  # scores before the softmax


@pytest.mark.e2e
@pytest.mark.slow
def test_pta_lightest_configuration_needs_30_percent_fewer_macs_at_256():
    """The acceptance figure, counted by `edgeseg info`'s MAC counter on the exported graphs."""
    import tempfile

    from edgeseg.models.pta import config_model
    from edgeseg.quantize.ptq import convert
    from edgeseg.runtime.modelinfo import model_info

    model = build_model("unet-pta", (256, 256), 12)
    macs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for c in ("LLL", "HHH", "BBB"):
            f = Path(tmp) / f"{c}.tflite"
            f.write_bytes(convert(config_model(model, c), (256, 256), "float32"))
            macs[c] = model_info(f)["macs"]
    assert 1 - macs["LLL"] / macs["HHH"] >= 0.30
    assert 1 - macs["LLL"] / macs["BBB"] >= 0.30


@pytest.mark.e2e
def test_encoder_batchnorm_uses_the_models_momentum():
    """keras.applications' MobileNetV2 builds BN with momentum 0.999, which leaves the moving
    statistics unusable after a short schedule from scratch; the encoder takes bn_momentum."""
    import tf_keras as keras

    model = build_model("unet-mobilenetv2", (64, 64), 3, {"bn_momentum": 0.8})
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) > 40 and {b.momentum for b in bns} == {0.8}
