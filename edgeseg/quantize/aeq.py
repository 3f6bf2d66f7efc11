"""Static int8 from the float32 .tflite with Google's ai-edge-quantizer (AEQ).

The TFLite converter calibrates with its reference kernels, which is slow on full-size
segmenters; AEQ calibrates the float32 .tflite in the LiteRT interpreter (its profiler-based
mode keeps the statistics in C++). Three things make its int8 model match the converter's:

- global min/max over the calibration set (``qsv_utils.min_max_update``; AEQ's default is a
  moving average, which clips more);
- the input range pinned to the normalisation's (pixels 0..255 -> int8 scale 1/255, zero
  point -128), as the converter's int8 input;
- one range per concatenation group: a concat's inputs and output (and tensors that must
  share their scale, like a max-pool's input and output) get the union of their ranges,
  so no requantize op (QUANTIZE int8->int8) is inserted before a concat. AEQ inserts one
  per concat otherwise, and NNAPI does not take requantize ops: each would split the graph.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import QuantizeError

#: Ops whose output must keep their input's quantization.
SAME_SCALE_OPS = ("MAX_POOL_2D", "RESHAPE")


def _aeq():
    try:
        from ai_edge_quantizer import calibrator, quantizer, recipe, recipe_manager
        from ai_edge_quantizer.calibrator import CalibrationMode
        from ai_edge_quantizer.utils import qsv_utils, tfl_flatbuffer_utils
    except ImportError as exc:
        raise QuantizeError(
            f"--ptq aeq needs ai-edge-quantizer ({exc}): pip install ai-edge-quantizer, or use --ptq converter"
        ) from None
    return calibrator, quantizer, recipe, recipe_manager, CalibrationMode, qsv_utils, tfl_flatbuffer_utils


def concat_groups(model_path: str | Path, fbu) -> list[set[str]]:
    """Sets of tensor names that must share one quantization range because of a
    concatenation (union-find over concat inputs/outputs and same-scale ops)."""
    model = fbu.read_model(str(model_path))
    parent: dict[str, str] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        parent[find(a)] = find(b)

    concat_roots = set()
    for sg in model.subgraphs:

        def name(i):
            n = sg.tensors[i].name
            return n.decode() if isinstance(n, bytes) else n

        for op in sg.operators:
            op_name = fbu.TFL_OP_CODE_TO_NAME.get(model.operatorCodes[op.opcodeIndex].builtinCode)
            if op_name == "CONCATENATION":
                out = name(op.outputs[0])
                for i in op.inputs:
                    union(name(i), out)
                concat_roots.add(out)
            elif op_name in SAME_SCALE_OPS and len(op.inputs) and len(op.outputs):
                union(name(op.outputs[0]), name(op.inputs[0]))
    groups: dict[str, set[str]] = {}
    for t in parent:
        groups.setdefault(find(t), set()).add(t)
    roots = {find(c) for c in concat_roots}
    return [g for r, g in groups.items() if r in roots]


def with_signature(tflite: bytes) -> bytes:
    """``tflite`` with a ``serving_default`` signature over its inputs and outputs when it has
    none (a model converted from a concrete function, or exported by another tool):
    ai-edge-quantizer calibrates by signature. A model with signatures is returned as it is."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    if model.signatureDefs:
        return tflite
    graph = model.subgraphs[0]

    def tensor_map(index: int):
        t = schema.TensorMapT()
        name = graph.tensors[index].name
        t.name = name.decode() if isinstance(name, bytes) else name
        t.tensorIndex = int(index)
        return t

    sig = schema.SignatureDefT()
    sig.signatureKey = "serving_default"
    sig.subgraphIndex = 0
    sig.inputs = [tensor_map(i) for i in graph.inputs]
    sig.outputs = [tensor_map(i) for i in graph.outputs]
    model.signatureDefs = [sig]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def quantize_int8_aeq(
    float_tflite: bytes, calib: np.ndarray, input_range: tuple[float, float], io: str = "int8", progress=None
) -> bytes:
    """int8 weights and activations (int8 I/O, or float I/O with ``io="float"``) from a
    float32 .tflite and normalised calibration images ``calib`` [N,H,W,3]."""
    import warnings

    with warnings.catch_warnings():  # AEQ's interpreters keep every tensor, and each says so
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")
        return _quantize_int8_aeq(with_signature(float_tflite), calib, input_range, io, progress)


def _quantize_int8_aeq(float_tflite, calib, input_range, io, progress) -> bytes:
    if io not in ("int8", "float"):
        raise QuantizeError(f"--ptq aeq writes int8 or float I/O, not {io}: use --ptq converter for {io}")
    calibrator, quantizer, recipe, recipe_manager, CalibrationMode, qsv_utils, fbu = _aeq()
    import tempfile

    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory(prefix="edgeseg-aeq-") as tmp:
        fp32 = Path(tmp) / "float32.tflite"
        fp32.write_bytes(float_tflite)
        interp = Interpreter(model_path=str(fp32))
        signatures = interp.get_signature_list()
        key = next(iter(signatures)) if signatures else "serving_default"
        input_name = signatures[key]["inputs"][0] if signatures else "image"
        input_tensor = interp.get_input_details()[0]["name"]
        rcp = recipe.static_wi8_ai8()
        rm = recipe_manager.RecipeManager()
        rm.load_quantization_recipe(rcp)
        if io == "float":
            from ai_edge_quantizer import algorithm_manager, qtyping

            for boundary in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
                rm.add_quantization_config(
                    regex=".*", operation_name=boundary, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE
                )
        import contextlib
        import io as _io

        samples = [{input_name: img[None].astype(np.float32)} for img in calib]
        chunk = 10
        starts = range(0, len(samples), chunk)
        try:
            cal = calibrator.Calibrator(
                float_tflite,
                num_threads=max(1, os.cpu_count() or 1),
                mode=CalibrationMode.CALIBRATION_PROFILER_BASED,
                qsv_update_func=qsv_utils.min_max_update,
            )
            for start in (
                progress(starts, desc="calibrate (ai-edge-quantizer)", total=len(starts)) if progress else starts
            ):
                with contextlib.redirect_stderr(_io.StringIO()):  # AEQ's own per-op progress bar
                    cal.calibrate({key: samples[start : start + chunk]}, rm)
        except Exception as exc:
            raise QuantizeError(
                f"ai-edge-quantizer could not calibrate this model ({str(exc).splitlines()[0][:300]}); "
                "use --ptq converter"
            ) from exc
        qsvs = dict(cal.get_model_qsvs())
        lo, hi = input_range
        qsvs[input_tensor] = {"min": np.array([lo], np.float32), "max": np.array([hi], np.float32)}
        for group in concat_groups(fp32, fbu):
            known = [qsvs[t] for t in group if t in qsvs]
            if not known:
                continue
            shared = {
                "min": np.array([min(float(np.min(q["min"])) for q in known)], np.float32),
                "max": np.array([max(float(np.max(q["max"])) for q in known)], np.float32),
            }
            for t in group:
                if t in qsvs:
                    qsvs[t] = shared
        qt = quantizer.Quantizer(float_tflite)
        qt.load_quantization_recipe(rm.get_quantization_recipe())
        try:
            with contextlib.redirect_stderr(_io.StringIO()):  # "Applying Transformations to tensors" bar
                result = qt.quantize(qsvs, enable_progress_report=False)
        except Exception as exc:
            raise QuantizeError(
                f"ai-edge-quantizer could not quantize this model ({str(exc).splitlines()[0][:300]}); "
                "use --ptq converter"
            ) from exc
        return bytes(result.quantized_model)
