"""Per-layer numerics without TensorFlow: the metrics (max abs diff, cosine, SNR) and their
dequantization, the thresholds and the first-bad-op rule, the tensor matching rule, the
debug copy's flatbuffer rewrite (on a graph built here with LiteRT's schema module) and the
output-file decoder, the --threshold parser and the eval join."""

import math
from pathlib import Path

import numpy as np
import pytest

from edgeseg.runtime.debugcopy import TensorSpec
from edgeseg.runtime.numerics import (
    TensorError,
    dequantize,
    first_bad,
    match_tensors,
    thresholds,
)

# -- metrics ---------------------------------------------------------------------------------


def test_snr_cosine_and_max_abs_diff_are_accumulated_over_frames():
    rng = np.random.default_rng(0)
    refs = [rng.normal(size=(4, 5)) for _ in range(3)]
    noise = [0.1 * rng.normal(size=(4, 5)) for _ in range(3)]
    e = TensorError()
    for r, n in zip(refs, noise):
        e.update(r, r + n)
    got = e.result()
    r, t = np.concatenate([x.ravel() for x in refs]), np.concatenate([(x + n).ravel() for x, n in zip(refs, noise)])
    assert got["frames"] == 3 and not got["identical"]
    assert got["snr_db"] == pytest.approx(10 * math.log10((r @ r) / ((t - r) @ (t - r))))
    assert got["cosine"] == pytest.approx((r @ t) / math.sqrt((r @ r) * (t @ t)))
    assert got["max_abs_diff"] == pytest.approx(np.abs(t - r).max())
    assert 15 < got["snr_db"] < 25  # noise at 0.1 of a unit signal: 20 dB


def test_equal_tensors_are_identical_with_no_snr_and_a_zero_reference_with_error_is_bad():
    e = TensorError()
    e.update(np.ones(6), np.ones(6))
    got = e.result()
    assert got["identical"] and got["snr_db"] is None and got["cosine"] == 1.0 and got["max_abs_diff"] == 0.0
    assert not thresholds("delegate").bad(got)
    z = TensorError()
    z.update(np.zeros(6), np.full(6, 0.5))  # a dead ReLU on the reference, alive under test
    got = z.result()
    assert got["snr_db"] is None and not got["identical"] and thresholds("delegate").bad(got)
    s = TensorError()
    s.update(np.zeros(6), np.zeros(6))
    assert s.result()["identical"] and not thresholds("quantization").bad(s.result())


def test_sizes_that_differ_are_an_error_and_nan_is_not_a_measurement():
    with pytest.raises(ValueError, match="tensor sizes differ"):
        TensorError().update(np.ones(4), np.ones(5))
    e = TensorError()
    e.update(np.ones(3), np.array([1.0, np.nan, 1.0]))
    assert e.result()["snr_db"] is None and e.result()["cosine"] is None and not e.finite


def test_dequantize_uses_the_tensors_scale_and_zero_point_per_tensor_and_per_channel():
    spec = TensorSpec(0, "t", "ADD", 0, (1, 2), "int8", scale=(0.5,), zero_point=(-3,))
    assert dequantize(np.array([[-3, 1]], np.int8), spec).tolist() == [[0.0, 2.0]]
    per_channel = TensorSpec(0, "w", "CONV_2D", 0, (2, 3), "int8", scale=(1.0, 0.1), zero_point=(0, 0), axis=0)
    got = dequantize(np.array([[1, 2, 3], [10, 20, 30]], np.int8), per_channel)
    assert np.allclose(got, [[1, 2, 3], [1, 2, 3]])
    plain = TensorSpec(0, "f", "ADD", 0, (2,), "float32", scale=(0.5,), zero_point=(1,))
    assert dequantize(np.array([1.5, 2.0], np.float32), plain).tolist() == [1.5, 2.0]  # float: as it is


# -- thresholds and the first bad op ------------------------------------------------------------


def test_default_thresholds_and_which_errors_cross_them():
    d, q = thresholds("delegate"), thresholds("quantization")
    assert (d.cosine, d.snr_db, q.cosine, q.snr_db) == (0.999, 30.0, 0.99, 20.0)
    err = {"snr_db": 25.0, "cosine": 0.9999, "identical": False}
    assert d.bad(err) and not q.bad(err)  # 25 dB: a wrong delegate, a fine int8 tensor
    assert q.bad({"snr_db": 40.0, "cosine": 0.98, "identical": False})  # direction lost, scale kept
    assert thresholds("delegate", snr_db=20.0).bad(err) is False
    assert d.describe() == "cosine < 0.999 or SNR < 30 dB"


def test_first_bad_is_the_first_in_execution_order_not_in_row_order():
    rows = [
        {"depth": 5, "status": "bad"},
        {"depth": 2, "status": "ok"},
        {"depth": 3, "status": "bad"},
        {"depth": 3, "status": "bad"},  # a second output of the same op: output order breaks the tie
        {"depth": 1, "status": "unmatched"},
    ]
    assert first_bad(rows) is rows[2]
    assert first_bad([{"depth": 0, "status": "ok"}]) is None


def test_comparison_rows_mark_exactly_one_first_bad():
    from edgeseg.runtime.numerics import Comparison

    specs = [TensorSpec(i, f"t{i}", "ADD", i, (3,), "float32") for i in range(4)]
    comp = Comparison(specs, specs, {k: (k, "same") for k in range(4)})
    ref = [np.array([1.0, 2.0, 3.0])] * 4
    test = [ref[0], ref[1] * -1, ref[2] + 0.5, ref[3]]
    comp.update(test, ref)
    rows = comp.rows(thresholds("delegate"), lambda depth: "cpu")
    assert [r["status"] for r in rows] == ["ok", "bad", "bad", "ok"]
    assert [r["first_bad"] for r in rows] == [False, True, False, False]
    assert rows[1]["cosine"] == pytest.approx(-1.0) and rows[0]["identical"] and rows[0]["partition"] == "cpu"


# -- matching float and int8 graphs ---------------------------------------------------------------


def test_tensors_match_by_name_then_by_op_and_shape_in_order():
    ref = [
        TensorSpec(1, "conv_a", "CONV_2D", 0, (1, 4, 4, 8), "float32"),
        TensorSpec(2, "pool", "MAX_POOL_2D", 1, (1, 2, 2, 8), "float32"),
        TensorSpec(3, "conv_b_float_name", "CONV_2D", 2, (1, 2, 2, 8), "float32"),
        TensorSpec(4, "conv_c_float_name", "CONV_2D", 3, (1, 2, 2, 8), "float32"),
    ]
    test = [
        TensorSpec(9, "quantized_input", "QUANTIZE", 0, (1, 4, 4, 3), "int8"),
        TensorSpec(10, "conv_a", "CONV_2D", 1, (1, 4, 4, 8), "int8"),
        TensorSpec(11, "pool", "MAX_POOL_2D", 2, (1, 2, 2, 8), "int8"),
        TensorSpec(12, "conv_b_int8_name", "CONV_2D", 3, (1, 2, 2, 8), "int8"),
        TensorSpec(13, "conv_c_int8_name", "CONV_2D", 4, (1, 2, 2, 8), "int8"),
    ]
    pairs = match_tensors(ref, test)
    assert pairs == {1: (0, "name"), 2: (1, "name"), 3: (2, "position"), 4: (3, "position")}
    assert 0 not in pairs  # QUANTIZE has no float partner
    # a name whose shape differs is no match by name
    other = [TensorSpec(1, "conv_a", "CONV_2D", 0, (1, 8, 8, 8), "float32")]
    assert match_tensors(other, test[1:2]) == {}


# -- the debug copy: a graph built with LiteRT's schema module -------------------------------------


def tiny_graph() -> bytes:
    """input [1,4,4,2] -> ADD(x, x) -> t1 -> MUL(t1, t1) -> t2 -> ADD(t2, x) -> output; float32."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name, buffer=0):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4, 4, 2], s.TensorType.FLOAT32, buffer, name
        return t

    def op(code, inputs, outputs, options_type, options):
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code, inputs, outputs
        o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    codes = []
    for b in (s.BuiltinOperator.ADD, s.BuiltinOperator.MUL):
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = b, b, 1
        codes.append(c)
    sg = s.SubGraphT()
    sg.tensors = [tensor("x"), tensor("double"), tensor("square"), tensor("out")]
    sg.inputs, sg.outputs = [0], [3]
    sg.operators = [
        op(0, [0, 0], [1], s.BuiltinOptions.AddOptions, s.AddOptionsT()),
        op(1, [1, 1], [2], s.BuiltinOptions.MulOptions, s.MulOptionsT()),
        op(0, [2, 0], [3], s.BuiltinOptions.AddOptions, s.AddOptionsT()),
    ]
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, codes, [sg], [s.BufferT()]
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_the_debug_copy_appends_every_intermediate_tensor_after_the_outputs():
    from ai_edge_litert import schema_py_generated as s

    from edgeseg.artifact import flatbuffer_problem
    from edgeseg.runtime.debugcopy import debug_copy

    data = tiny_graph()
    copy, specs = debug_copy(data, "all")
    assert flatbuffer_problem(copy) is None and copy[4:8] == b"TFL3"
    assert [(sp.name, sp.op, sp.depth, sp.original) for sp in specs] == [
        ("out", "ADD", 2, True),
        ("double", "ADD", 0, False),
        ("square", "MUL", 1, False),
    ]
    model = s.Model.GetRootAs(copy, 0)
    sg = model.Subgraphs(0)
    assert [sg.Outputs(i) for i in range(sg.OutputsLength())] == [3, 1, 2]
    assert [sg.Inputs(i) for i in range(sg.InputsLength())] == [0]  # the input is never an extra output
    assert sg.OperatorsLength() == 3 and specs[0].nbytes == 4 * 4 * 2 * 4
    # blocks: the ADD outputs only (MUL is no block boundary); the original output stays first
    copy_b, blocks = debug_copy(data, "blocks")
    assert [sp.name for sp in blocks] == ["out", "double"]
    # a graph with nothing to add comes back as it was
    _, again = debug_copy(copy, "all")
    assert [sp.name for sp in again] == ["out", "double", "square"]


def test_the_debug_copy_runs_and_decodes_in_the_interpreter():
    from ai_edge_litert.interpreter import Interpreter

    from edgeseg.runtime.debugcopy import debug_copy
    from edgeseg.runtime.numerics import decode_outputs

    copy, specs = debug_copy(tiny_graph(), "all")
    interp = Interpreter(model_content=copy)
    interp.allocate_tensors()
    x = np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2) / 10
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    outs = [interp.get_tensor(d["index"]) for d in interp.get_output_details()]
    assert np.allclose(outs[1], 2 * x) and np.allclose(outs[2], (2 * x) ** 2) and np.allclose(outs[0], 4 * x * x + x)
    raw = b"".join(np.ascontiguousarray(o).tobytes() for o in outs)  # benchmark_model's output file
    got = decode_outputs(raw, specs, "frame 0")
    assert all(np.array_equal(a, b) for a, b in zip(got, outs))
    from edgeseg.errors import DeviceError

    with pytest.raises(DeviceError, match="frame 0 is truncated: 100 bytes but the debug copy's 3 outputs are 384"):
        decode_outputs(raw[:100], specs, "frame 0")


def test_bad_inputs_to_the_debug_copy_are_clear_errors():
    from edgeseg.errors import ArtifactError, UsageError
    from edgeseg.runtime.debugcopy import debug_copy

    with pytest.raises(UsageError, match="--tensors must be one of all, blocks"):
        debug_copy(tiny_graph(), "layers")
    with pytest.raises(ArtifactError, match="cannot read the model's flatbuffer"):
        debug_copy(b"\x00" * 16, "all")


# -- the command's options and the eval join ------------------------------------------------------


def test_threshold_option_parses_and_refuses_unknown_keys():
    from edgeseg.errors import UsageError
    from edgeseg.reporting.numerics import NumericsConfig, parse_thresholds

    got = parse_thresholds("snr_db=25, quant-cosine=0.95")
    assert (got["delegate"].snr_db, got["delegate"].cosine) == (25.0, 0.999)
    assert (got["quantization"].snr_db, got["quantization"].cosine) == (20.0, 0.95)
    with pytest.raises(UsageError, match="the keys are cosine, snr_db, quant_cosine, quant_snr_db"):
        parse_thresholds("psnr=3")
    with pytest.raises(UsageError, match="'x' is not a number"):
        parse_thresholds("snr_db=x")
    with pytest.raises(UsageError, match=r"a cosine lies in \[-1, 1\]"):
        parse_thresholds("cosine=2")
    with pytest.raises(UsageError, match="--delegate goes with --device"):
        NumericsConfig(target="a.tflite", data="d", delegates="gpu")


def test_eval_rows_name_the_newest_numerics_first_bad_op_of_the_same_file_and_device(tmp_path):
    from edgeseg.fileio import atomic_write_csv
    from edgeseg.reporting.numerics import join_first_bad
    from edgeseg.reporting.schema import NUMERICS_COLUMNS

    def numerics(folder, sha, delegate, tensor, first, device="Phone"):
        row = {
            "artifact": "m",
            "artifact_sha256": sha,
            "comparison": "delegate",
            "where": "device",
            "device": device,
            "delegate": delegate,
            "depth": 4,
            "tensor": tensor,
            "op": "CONV_2D",
            "snr_db": 3.5,
            "status": "bad" if first else "ok",
            "first_bad": first,
        }
        (tmp_path / folder).mkdir()
        atomic_write_csv(tmp_path / folder / "numerics.csv", NUMERICS_COLUMNS, [row])

    numerics("20260101T000000Z_numerics_m", "aa", "gpu", "old", True)
    numerics("20260202T000000Z_numerics_m", "aa", "gpu", "conv3", True)
    numerics("20260303T000000Z_numerics_m", "bb", "gpu", "other file", True)
    numerics("20260404T000000Z_numerics_m", "aa", "nnapi", "x", False, device="Another")
    rows = [
        {"where": "host", "delegate": "xnnpack", "status": "ok"},
        {"where": "device", "device": "Phone", "delegate": "gpu", "status": "diverged", "reason": "quality lost"},
        {"where": "device", "device": "Phone", "delegate": "nnapi", "status": "diverged", "reason": "r"},
        {"where": "device", "device": "Phone", "delegate": "xnnpack", "status": "ok", "reason": None},
    ]
    got = join_first_bad(rows, tmp_path, "aa")
    assert got[1]["first_bad_op"] == "conv3 (CONV_2D, depth 4)"
    assert got[1]["reason"].startswith("quality lost; first bad op: conv3 (CONV_2D, depth 4), SNR 3.5 dB")
    assert "20260202T000000Z_numerics_m" in got[1]["reason"]
    assert "first_bad_op" not in got[2]  # nnapi's numerics ran on another device
    assert got[0] == rows[0] and got[3] == rows[3]
    assert join_first_bad(rows, tmp_path / "none", "aa") == rows


def graph_with_weights_after_the_flatbuffer() -> tuple[bytes, np.ndarray]:
    """input [1,4] -> ADD(x, w) -> y -> MUL(y, y) -> output, with w stored after the
    flatbuffer (a buffer's offset and size into the file, as ai-edge-quantizer writes weights)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    w = np.array([[1.0, -2.0, 3.0, 0.5]], np.float32)

    def tensor(name, buffer=0):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4], s.TensorType.FLOAT32, buffer, name
        return t

    codes = []
    for b in (s.BuiltinOperator.ADD, s.BuiltinOperator.MUL):
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = b, b, 1
        codes.append(c)
    ops = []
    for code, ins, outs, kind, opts in (
        (0, [0, 1], [2], s.BuiltinOptions.AddOptions, s.AddOptionsT()),
        (1, [2, 2], [3], s.BuiltinOptions.MulOptions, s.MulOptionsT()),
    ):
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs, o.builtinOptionsType, o.builtinOptions = code, ins, outs, kind, opts
        ops.append(o)
    sg = s.SubGraphT()
    sg.tensors = [tensor("x"), tensor("w", 1), tensor("y"), tensor("out")]
    sg.inputs, sg.outputs, sg.operators = [0], [3], ops
    outside = s.BufferT()
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, codes, [sg], [s.BufferT(), outside]

    def pack(offset):
        outside.offset, outside.size = offset, w.nbytes
        b = flatbuffers.Builder(256)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    head = pack(1 << 20)
    at = (len(head) + 15) // 16 * 16
    head = pack(at)
    assert len(head) <= at
    return head + b"\0" * (at - len(head)) + w.tobytes(), w


def test_weights_stored_after_the_flatbuffer_move_into_the_copy():
    from ai_edge_litert.interpreter import Interpreter

    from edgeseg.runtime.debugcopy import debug_copy

    data, w = graph_with_weights_after_the_flatbuffer()
    copy, specs = debug_copy(data, "all")
    assert [sp.name for sp in specs] == ["out", "y"]
    x = np.array([[0.5, 0.5, -1.0, 2.0]], np.float32)
    got = []
    for model in (data, copy):
        interp = Interpreter(model_content=model)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        got.append([interp.get_tensor(d["index"]) for d in interp.get_output_details()])
    assert np.allclose(got[0][0], (x + w) ** 2) and np.array_equal(got[1][0], got[0][0])
    assert np.allclose(got[1][1], x + w)  # the intermediate, with the moved weights
    from edgeseg.errors import ArtifactError

    with pytest.raises(ArtifactError, match="cannot read the model's flatbuffer: weight buffer 1 ends at byte"):
        debug_copy(data[: len(data) - 8], "all")  # a file cut short


def numerics_rows():
    base = {"artifact": "m", "artifact_sha256": "aa", "comparison": "delegate", "where": "device", "device": "Phone"}
    rows = []
    for delegate, bad_at in (("gpu", 2), ("xnnpack", None)):
        for depth in range(4):
            bad = depth == bad_at
            rows.append(
                {
                    **base,
                    "delegate": delegate,
                    "depth": depth,
                    "tensor": f"t{depth}",
                    "op": "CONV_2D",
                    "partition": None,
                    "frames": 2,
                    "max_abs_diff": 0.5 if bad else 0.0,
                    "cosine": 0.9 if bad else 1.0,
                    "snr_db": 12.0 if bad else None,
                    "identical": not bad,
                    "threshold": "cosine < 0.999 or SNR < 30 dB",
                    "status": "bad" if bad else "ok",
                    "first_bad": bad,
                }
            )
    return rows


def test_numerics_csv_is_read_back_through_its_schema_and_shown_by_report(tmp_path):
    from edgeseg.errors import ReportError
    from edgeseg.reporting.compose import compose
    from edgeseg.reporting.numerics import summarize_runs, write_numerics
    from edgeseg.reporting.tables import read_report, write_report

    rows = numerics_rows()
    runs = summarize_runs(rows)
    assert [(r["delegate"], r["tensor"], r["status"], r["bad"]) for r in runs] == [
        ("gpu", "t2", "bad", 1),
        ("xnnpack", None, "ok", 0),
    ]
    folder = write_report(
        tmp_path / "reports", "numerics_m", [], [], extra=lambda f: write_numerics(f, rows, runs, "m")
    )
    back = read_report(folder)["numerics"]
    assert len(back) == 8 and back[2]["first_bad"] == "True" and back[0]["run_id"] == folder.name
    assert (folder / "numerics_depth.png").is_file() and "t2" in (folder / "report.html").read_text()
    res = compose([folder], tmp_path / "merged", with_html=True)
    assert "numerics.csv" in res["files"] and "numerics_depth.png" in res["files"]
    page = (Path(res["report"]) / "report.html").read_text()
    assert "the first bad op of each run" in page and "t2" in page
    text = (folder / "numerics.csv").read_text().splitlines()
    text[3] = text[3].replace(",12,", ",twelve,")
    (folder / "numerics.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(ReportError, match=r"numerics.csv line 4: snr_db is 'twelve', not a number"):
        read_report(folder)
