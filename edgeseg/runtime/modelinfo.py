"""Parameters, multiply-accumulates and op counts of a .tflite model (no TensorFlow)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from .interpreter import load_interpreter


def _prod(shape) -> int:
    return int(np.prod([int(s) for s in shape])) if len(shape) else 1


def op_macs(name: str, inputs: list[int], outputs: list[int], tensors: dict) -> int:
    """Multiply-accumulates of one op from its tensors' shapes (``tensors``: index -> detail
    with ``shape``): CONV_2D = outputs x kh x kw x cin, DEPTHWISE_CONV_2D = outputs x kh x kw,
    FULLY_CONNECTED = outputs x in_features, TRANSPOSE_CONV = inputs x kh x kw x cout; 0 for
    every other op."""
    out_shape = tensors[outputs[0]]["shape"] if outputs else []
    if name == "CONV_2D":
        w = tensors[inputs[1]]["shape"]  # [cout, kh, kw, cin]
        return _prod(out_shape) * int(w[1]) * int(w[2]) * int(w[3])
    if name == "DEPTHWISE_CONV_2D":
        w = tensors[inputs[1]]["shape"]  # [1, kh, kw, cout]
        return _prod(out_shape) * int(w[1]) * int(w[2])
    if name == "FULLY_CONNECTED":
        w = tensors[inputs[1]]["shape"]  # [out, in]
        return _prod(out_shape) * int(w[-1])
    if name == "TRANSPOSE_CONV":
        w = tensors[inputs[1]]["shape"]  # [cout, kh, kw, cin]
        return _prod(tensors[inputs[2]]["shape"]) * int(w[0]) * int(w[1]) * int(w[2])
    return 0


def model_info(path: str | Path) -> dict:
    """Parameters, MACs (:func:`op_macs` per op) and op counts. Parameters are the elements of
    constant tensors (read by some op, produced by none, not a graph input)."""
    interp, _ = load_interpreter(path, xnnpack=False)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = [op for op in interp._get_ops_details() if op["op_name"] != "DELEGATE"]
    produced = {int(t) for op in ops for t in op["outputs"]}
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    macs = 0
    per_op = Counter()
    for op in ops:
        name = op["op_name"]
        ins = [int(t) for t in op["inputs"] if int(t) >= 0]
        macs += op_macs(name, ins, [int(t) for t in op["outputs"]], tensors)
        per_op[name] += 1
    consts = {int(t) for op in ops for t in op["inputs"] if int(t) >= 0} - produced - graph_inputs
    params = sum(_prod(tensors[t]["shape"]) for t in consts)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    return {
        "path": str(path),
        "size_bytes": Path(path).stat().st_size,
        "params": int(params),
        "macs": int(macs),
        "gmacs": macs / 1e9,
        "ops": dict(sorted(per_op.items())),
        "nodes": len(ops),
        "input": {"shape": [int(s) for s in inp["shape"]], "dtype": np.dtype(inp["dtype"]).name},
        "output": {"shape": [int(s) for s in out["shape"]], "dtype": np.dtype(out["dtype"]).name},
    }
