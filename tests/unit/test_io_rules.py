"""The input and output rules of an imported model (edgeseg.iospec, applied by
edgeseg.runtime.tensors): per-channel normalisation, NCHW input, argmax maps scored as they
are, probabilities argmax'd like logits, low-stride outputs upsampled (bilinear on scores,
nearest on class maps), NCHW outputs; and older manifests read as before. NumPy only."""

import numpy as np
import pytest

from edgeseg.errors import ArtifactError, UsageError
from edgeseg.iospec import NORMALISATIONS, OutputRule, input_range, layout_of, normalisation_for, scale_offset
from edgeseg.runtime import tensors

PIX = np.array([[[0, 128, 255], [10, 20, 30]]], np.uint8)  # [1,2,3]


def _float_in(shape):
    return {"shape": shape, "dtype": np.float32, "quantization": (0.0, 0)}


def test_named_normalisations_are_the_stated_formulas():
    x = PIX.astype(np.float64)
    unit = tensors.normalise_pixels(PIX, NORMALISATIONS["unit"].to_manifest())
    assert np.allclose(unit, x / 255, atol=1e-6)
    m11 = tensors.normalise_pixels(PIX, NORMALISATIONS["minus1to1"].to_manifest())
    assert np.allclose(m11, x / 127.5 - 1, atol=1e-6) and m11.min() >= -1 and m11.max() <= 1
    imn = tensors.normalise_pixels(PIX, NORMALISATIONS["imagenet"].to_manifest())
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    assert np.allclose(imn, (x / 255 - mean) / std, atol=1e-5)
    custom = normalisation_for(None, "0.5,0.25,0", "0.5,0.5,1")
    assert np.allclose(tensors.normalise_pixels(PIX, custom.to_manifest()), (x / 255 - [0.5, 0.25, 0]) / [0.5, 0.5, 1])


def test_an_old_scalar_normalisation_reads_as_before():
    old = {"scale": 1 / 255.0, "offset": 0.0}
    assert scale_offset(old) == ([1 / 255.0] * 3, [0.0] * 3)
    got = tensors.normalise_pixels(PIX, old)
    assert np.array_equal(got, PIX.astype(np.float32) * np.float32(1 / 255.0) + np.float32(0.0))
    assert scale_offset(None) == scale_offset(old)
    assert input_range(NORMALISATIONS["minus1to1"].to_manifest()) == pytest.approx((-1.0, 1.0))


def test_stated_normalisation_errors_name_the_option():
    with pytest.raises(UsageError, match="--mean and --std go together"):
        normalisation_for(None, "0.5,0.5,0.5", None)
    with pytest.raises(UsageError, match="one or the other"):
        normalisation_for("unit", "0.5,0.5,0.5", "1,1,1")
    with pytest.raises(UsageError, match="--std takes three"):
        normalisation_for(None, "0.5,0.5,0.5", "1,1")
    with pytest.raises(UsageError, match="--std values must be positive"):
        normalisation_for(None, "0,0,0", "1,0,1")
    with pytest.raises(UsageError, match="--normalize caffe is not one of unit, imagenet, minus1to1"):
        normalisation_for("caffe")
    assert normalisation_for(None) is None


def test_nchw_input_is_transposed_and_int8_input_quantized():
    x = tensors.preprocess(PIX, None, "nchw", _float_in([1, 3, 1, 2]))
    assert x.shape == (3, 1, 2) and x[2, 0, 0] == pytest.approx(1.0)
    q = tensors.preprocess(
        PIX, None, "nhwc", {"shape": [1, 1, 2, 3], "dtype": np.int8, "quantization": (1 / 255, -128)}
    )
    assert q.dtype == np.int8 and q[0, 0, 0] == -128 and q[0, 0, 2] == 127
    with pytest.raises(ArtifactError, match="without quantization parameters"):
        tensors.preprocess(PIX, None, "nhwc", {"shape": [1, 1, 2, 3], "dtype": np.uint8, "quantization": (0.0, 0)})


def test_layouts_old_and_new():
    assert layout_of({"layout": "NHWC RGB"}) == "nhwc" and layout_of(None) == "nhwc"
    assert layout_of({"layout": "nchw"}) == "nchw"
    with pytest.raises(ArtifactError, match="not one of nhwc, nchw"):
        layout_of({"layout": "chw"})


def test_argmax_maps_are_scored_as_they_are():
    rule = OutputRule("argmax")
    labels = np.array([[0, 2], [1, 1]], np.uint8)
    for dtype in (np.uint8, np.int32):
        got = tensors.postprocess(labels.astype(dtype), {"shape": [1, 2, 2], "dtype": dtype}, rule, (2, 2))
        assert got.dtype == np.int64 and np.array_equal(got, labels)
    # [1,H,W,1] with kind argmax is a class map too (not one-class scores)
    detail = {"shape": [1, 2, 2, 1], "dtype": np.int32, "quantization": (0.0, 0)}
    assert tensors.is_class_map(detail["shape"], rule) and not tensors.is_class_map(
        detail["shape"], OutputRule("logits")
    )
    assert np.array_equal(tensors.postprocess(labels[..., None].astype(np.int32), detail, rule, (2, 2)), labels)
    # at stride 2: nearest, never a blend of class ids
    up = tensors.postprocess(labels, {"shape": [1, 2, 2], "dtype": np.uint8}, OutputRule("argmax", stride=2), (4, 4))
    assert np.array_equal(up, np.kron(labels, np.ones((2, 2), np.int64)))


def test_probabilities_are_argmaxed_like_logits():
    logits = np.random.default_rng(0).normal(size=(4, 4, 3)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    d = _float_in([1, 4, 4, 3])
    a = tensors.postprocess(logits, d, OutputRule("logits"), (4, 4)).argmax(-1)
    b = tensors.postprocess(probs, d, OutputRule("probabilities"), (4, 4)).argmax(-1)
    assert np.array_equal(a, b)


def test_nchw_output_is_channels_last_and_int8_scores_dequantized():
    y = np.arange(2 * 3 * 4, dtype=np.int8).reshape(3, 2, 4)  # [C,H,W]
    detail = {"shape": [1, 3, 2, 4], "dtype": np.int8, "quantization": (0.5, 1)}
    got = tensors.postprocess(y, detail, OutputRule("logits", layout="nchw"), (2, 4))
    assert got.shape == (2, 4, 3) and got[1, 2, 0] == pytest.approx((y[0, 1, 2] - 1) * 0.5)
    assert tensors.num_classes_of(detail["shape"], OutputRule("logits", layout="nchw")) == 3


def test_low_stride_scores_are_upsampled_bilinear_with_half_pixel_centres():
    # a ramp along x: bilinear half-pixel upsampling of [0, 1] to 4 gives 0, .25, .75, 1
    s = np.array([[[0.0], [1.0]]], np.float32)  # [1,2,1]
    got = tensors.postprocess(s, _float_in([1, 1, 2, 1]), OutputRule("logits", stride=2), (2, 4))
    assert got.shape == (2, 4, 1)
    assert np.allclose(got[0, :, 0], [0, 0.25, 0.75, 1.0]) and np.allclose(got[1], got[0])
    # scored on the upsampled scores: the boundary falls between the two source pixels
    two = np.concatenate([s, 1 - s], -1)
    lab = tensors.postprocess(two, _float_in([1, 1, 2, 2]), OutputRule("logits", stride=2), (2, 4)).argmax(-1)
    assert lab[0].tolist() == [1, 1, 0, 0]


def test_an_output_that_does_not_fit_the_stated_stride_names_the_option():
    tensors.check_output_fits([1, 8, 8, 3], OutputRule("logits", stride=8), (64, 64), "m.tflite")
    tensors.check_output_fits([1, 3, 8, 8], OutputRule("logits", layout="nchw", stride=8), (64, 64), "m.tflite")
    tensors.check_output_fits([1, 5, 5, 3], OutputRule("logits", stride=8), (33, 33), "m.tflite")  # ceil
    with pytest.raises(ArtifactError, match="import it with --output-stride 8"):
        tensors.check_output_fits([1, 8, 8, 3], OutputRule("logits"), (64, 64), "m.tflite")
    with pytest.raises(ArtifactError, match="--output-stride N"):
        tensors.check_output_fits([1, 7, 8, 3], OutputRule("logits", stride=8), (64, 64), "m.tflite")
    with pytest.raises(ArtifactError, match="not a segmentation map"):
        tensors.check_output_fits([1, 10], OutputRule("logits"), (64, 64), "m.tflite")


def test_output_rule_reads_old_and_new_manifests():
    assert OutputRule.from_manifest({"kind": "logits", "shape": [1, 4, 4, 3]}) == OutputRule("logits")
    r = OutputRule.from_manifest({"kind": "argmax", "layout": "nchw", "stride": 4})
    assert (r.kind, r.layout, r.stride, r.upsample) == ("argmax", "nchw", 4, "nearest")
    assert OutputRule.from_manifest(None).kind is None
    with pytest.raises(ArtifactError, match="output kind 'softmax'"):
        OutputRule.from_manifest({"kind": "softmax"})


def test_manifest_schema_reads_old_manifests_and_checks_the_new_fields():
    from edgeseg.artifact import Manifest

    old = {"name": "m", "input": {"normalisation": {"scale": 1 / 255, "offset": 0.0}, "layout": "NHWC RGB"}}
    m = Manifest.from_dict({**old, "output": {"kind": "logits", "shape": [1, 4, 4, 3]}})
    assert m.layout == "nhwc" and m.output_kind == "logits" and m.imported is None
    new = {
        "name": "m",
        "input": {"normalisation": NORMALISATIONS["imagenet"].to_manifest(), "layout": "nchw"},
        "output": {"kind": "argmax", "layout": "nchw", "stride": 8, "upsample": "nearest"},
        "classes": ["a", "b"],
        "colours": [[0, 0, 0], [255, 0, 0]],
        "imported": {"path": "/x.pt2", "sha256": "ab", "format": "torch", "converter": "litert-torch"},
    }
    m = Manifest.from_dict(new)
    assert m.layout == "nchw" and m.to_dict()["imported"]["format"] == "torch" and m.colours[1] == [255, 0, 0]
    bad = [
        ({"output": {"kind": "softmax"}}, "output.kind"),
        ({"output": {"stride": 0}}, "output.stride"),
        ({"input": {"layout": "chw"}}, "input.layout"),
        ({"input": {"normalisation": {"scale": [1, 2], "offset": 0}}}, "input.normalisation.scale"),
        ({"input": {"normalisation": {"scale": float("nan"), "offset": 0}}}, "input.normalisation.scale"),
        ({"colours": [[0, 0, 300]]}, "colours"),
        ({"imported": {"path": "x"}}, "imported"),
    ]
    for fields, where in bad:
        with pytest.raises(ArtifactError, match=where.replace(".", r"\.")):
            Manifest.from_dict({"name": "m", **fields}, "m.json")


def test_quantize_of_a_tflite_refuses_the_options_of_a_run():
    from edgeseg.quantize.commands import ExportConfig

    for kw, flag in (
        ({"recipe": "qat"}, "--qat"),
        ({"recipe": "int8", "max_drop": 0.5, "data": "d"}, "--max-drop"),
        ({"recipe": "int8", "head": "argmax"}, "--head"),
        ({"recipe": "int8", "ptq": "converter"}, "--ptq"),
    ):
        with pytest.raises(UsageError, match=f"{flag} work\\(s\\) on a run's model; a .tflite"):
            ExportConfig(run="imported.tflite", **kw)
    assert ExportConfig(run="imported.tflite", recipe="int8", calib="c").path == "artifact"
    assert ExportConfig(run="runs/a", recipe="int8").path == "ptq"
