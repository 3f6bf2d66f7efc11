"""Delegate and partition lint: which ops of an artifact run on XNNPACK, GPU and NNAPI,
how the graph would split, and segmentation-specific warnings with a suggestion each.

- XNNPACK is measured: the artifact is loaded in the host LiteRT interpreter with its
  default XNNPACK delegate and the delegated nodes are read back (:func:`runner.delegation`).
- GPU is predicted from the op parsers of the TFLite GPU delegate
  (tensorflow/lite/delegates/gpu/common/model_builder.cc, ``NewOperationParser``; the
  op list on https://www.tensorflow.org/lite/performance/gpu is older and omits e.g.
  RESIZE_NEAREST_NEIGHBOR, MEAN and HARD_SWISH) and its tensor rule: every non-constant
  tensor must be float32/float16, or int8/uint8 for quantized models. The TFLite analyzer's
  own GPU check (``gpu_compatibility=True``) is run too and shown, but the pip builds of
  TF 2.21 and ai-edge-litert 2.3 report every model compatible (measured here: a graph of
  FLOOR_MOD, TOPK_V2 and REDUCE_PROD passes), so it cannot be the prediction on its own.
- NNAPI is predicted from :data:`NNAPI_OPS`, written from the NNAPI operation reference
  (https://developer.android.com/ndk/reference/group/neural-networks, "Available since API
  level N") and the TFLite NNAPI delegate's validation rules
  (tensorflow/lite/delegates/nnapi/nnapi_delegate.cc, ``NNAPIDelegateKernel::Validate``).

Partitions are predicted as maximal runs of supported nodes in execution order; the GPU
delegate keeps only its largest partition by default (``max_delegated_partitions = 1``,
tensorflow/lite/delegates/gpu/delegate_options.cc) and the NNAPI delegate its three largest
(``max_number_delegated_partitions = 3``, tensorflow/lite/delegates/nnapi/nnapi_delegate.h);
the rest runs on the CPU.

Which delegates are reported, with which method (a row of :data:`PREDICTORS`) and partition
limit, is the ``lint`` and ``max_partitions`` of their rows in edgeseg.delegates.DELEGATES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..delegates import DELEGATES, LINTED_DELEGATES

if TYPE_CHECKING:
    from ..artifact import Manifest

GPU_OPS = frozenset(
    {
        "ABS",
        "ADD",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "CONCATENATION",
        "CONV_2D",
        "COS",
        "DEPTHWISE_CONV_2D",
        "DEQUANTIZE",
        "DIV",
        "ELU",
        "EXP",
        "FULLY_CONNECTED",
        "HARD_SWISH",
        "LOGISTIC",
        "LOG",
        "LSTM",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MIRROR_PAD",
        "MUL",
        "NEG",
        "PACK",
        "PAD",
        "POW",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "REDUCE_PROD",
        "QUANTIZE",
        "RELU",
        "RELU6",
        "LEAKY_RELU",
        "PRELU",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SIN",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT_V",
        "SQRT",
        "SQUARE",
        "SQUARED_DIFFERENCE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
    }
)
GPU_TENSOR_TYPES = ("float32", "float16", "int8", "uint8")

#: TFLite op -> the Android API level from which NNAPI has it (27 = NNAPI 1.0, 28 = 1.1,
#: 29 = 1.2, 30 = 1.3). Constraints that depend on the node are in :func:`_nnapi_check`.
NNAPI_OPS = {
    "ADD": 27,
    "AVERAGE_POOL_2D": 27,
    "CONCATENATION": 27,
    "CONV_2D": 27,
    "DEPTHWISE_CONV_2D": 27,
    "DEPTH_TO_SPACE": 27,
    "DEQUANTIZE": 27,
    "FULLY_CONNECTED": 27,
    "LOGISTIC": 27,
    "MAX_POOL_2D": 27,
    "MUL": 27,
    "RELU": 27,
    "RELU6": 27,
    "RESHAPE": 27,
    "RESIZE_BILINEAR": 27,
    "SOFTMAX": 27,
    "SPACE_TO_DEPTH": 27,
    "TANH": 27,
    "L2_NORMALIZATION": 27,
    "BATCH_TO_SPACE_ND": 28,
    "DIV": 28,
    "MEAN": 28,
    "PAD": 28,
    "SPACE_TO_BATCH_ND": 28,
    "SQUEEZE": 28,
    "STRIDED_SLICE": 28,
    "SUB": 28,
    "TRANSPOSE": 28,
    "ARG_MAX": 29,
    "ARG_MIN": 29,
    "CAST": 29,
    "RESIZE_NEAREST_NEIGHBOR": 29,
    "TRANSPOSE_CONV": 29,
    "QUANTIZE": 29,
    "PRELU": 29,
    "MAXIMUM": 29,
    "MINIMUM": 29,
    "SLICE": 29,
    "SPLIT": 29,
    "EXP": 29,
    "HARD_SWISH": 30,
}

INT_TYPES = ("int8", "uint8")


@dataclass
class Node:
    index: int
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    nodes: list[Node]
    tensors: dict  # index -> {"name", "dtype", "shape", "scale", "zero_point", "const"}

    def in_type(self, node: Node, k: int = 0) -> str:
        return self.tensors[node.inputs[k]]["dtype"] if len(node.inputs) > k else ""

    def out_type(self, node: Node) -> str:
        return self.tensors[node.outputs[0]]["dtype"] if node.outputs else ""


def _options_by_node(model_bytes: bytes) -> list[dict]:
    """Builtin options of each operator of subgraph 0 (e.g. align_corners), read from the
    flatbuffer with the schema module shipped in ai-edge-litert (or TensorFlow)."""
    schema = None
    for name in ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated"):
        try:
            schema = __import__(name, fromlist=["Model"])
            break
        except ImportError:
            continue
    if schema is None:
        return []
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model_bytes, 0))
    out = []
    for op in model.subgraphs[0].operators or []:
        opts = op.builtinOptions
        out.append({k: v for k, v in vars(opts).items() if isinstance(v, (bool, int, float))} if opts else {})
    return out


def read_graph(path: str | Path) -> Graph:
    from ..runtime.interpreter import load_interpreter

    interp, _ = load_interpreter(path, xnnpack=False)
    options = _options_by_node(Path(path).read_bytes())
    ops = [op for op in interp._get_ops_details() if op["op_name"] != "DELEGATE"]
    produced = {int(t) for op in ops for t in op["outputs"]}
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    tensors = {}
    for t in interp.get_tensor_details():
        scale, zp = t.get("quantization", (0.0, 0))
        tensors[t["index"]] = {
            "name": t["name"],
            "dtype": np.dtype(t["dtype"]).name,
            "shape": [int(s) for s in t["shape"]],
            "scale": float(scale),
            "zero_point": int(zp),
            "const": t["index"] not in produced and t["index"] not in graph_inputs,
        }
    nodes = [
        Node(
            op["index"],
            op["op_name"],
            [int(t) for t in op["inputs"] if int(t) >= 0],
            [int(t) for t in op["outputs"]],
            options[i] if i < len(options) else {},
        )
        for i, op in enumerate(ops)
    ]
    return Graph(nodes, tensors)


def _nnapi_check(g: Graph, n: Node, api: int) -> str | None:
    """None when NNAPI at ``api`` takes the node, else the reason."""
    need = NNAPI_OPS.get(n.op)
    if need is None:
        return "no NNAPI operation for this op"
    if api < need:
        return f"needs Android API {need}+"
    t_in = g.in_type(n)
    if n.op in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR") and api <= 29:
        if n.options.get("alignCorners"):
            return "align_corners=True needs Android API 30+"
        if n.options.get("halfPixelCenters"):
            return "half_pixel_centers=True needs Android API 30+"
    if n.op == "QUANTIZE" and t_in != "float32":
        return f"QUANTIZE from {t_in} (a requantize) is not an NNAPI op: only float32 input is accepted"
    if n.op == "ARG_MAX" and g.out_type(n) != "int32":
        return "NNAPI ARG_MAX only outputs int32"
    if n.op == "CONCATENATION" and api < 29 and t_in in INT_TYPES:
        scales = {(g.tensors[t]["scale"], g.tensors[t]["zero_point"]) for t in n.inputs}
        if len(scales) > 1:
            return "quantized inputs with different scales need Android API 29+"
    if n.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and api < 29 and t_in == "int8":
        return "signed int8 needs Android API 29+"
    if n.op == "CONV_2D" and len(n.inputs) < 3:
        return "CONV_2D without a bias input is not taken by the NNAPI delegate"
    if n.op == "SOFTMAX" and len(g.tensors[n.inputs[0]]["shape"]) > 4:
        return "softmax input rank above 4"
    return None


def _gpu_check(g: Graph, n: Node) -> str | None:
    if n.op not in GPU_OPS:
        return "no GPU delegate op parser"
    bad = [
        g.tensors[t]["dtype"]
        for t in n.inputs + n.outputs
        if not g.tensors[t]["const"] and g.tensors[t]["dtype"] not in GPU_TENSOR_TYPES
    ]
    if bad:
        return f"{bad[0]} tensors are not allowed"
    return None


def predict_partitions(supported: list[bool], sizes_cap: int | None = None) -> dict:
    """Maximal runs of supported nodes in execution order; with ``sizes_cap`` only the
    largest runs are delegated (the delegates' default partition limit)."""
    runs, cur = [], 0
    for ok in supported:
        if ok:
            cur += 1
        elif cur:
            runs.append(cur)
            cur = 0
    if cur:
        runs.append(cur)
    kept = sorted(runs, reverse=True)[:sizes_cap] if sizes_cap else runs
    return {
        "partitions": len(runs),
        "delegated_partitions": len(kept),
        "delegated_ops": int(sum(kept)),
        "supported_ops": int(sum(runs)),
        "total_ops": len(supported),
    }


def _xnnpack_measured(path) -> dict:
    from ..runner import delegation
    from ..runtime.interpreter import load_interpreter

    interp, _ = load_interpreter(path, xnnpack=True)
    return delegation(interp._get_ops_details())


def _gpu_analyzer_verdict(path) -> str:
    """The TFLite analyzer's GPU compatibility line (shown, not trusted alone: see module doc)."""
    for name in ("ai_edge_litert._pywrap_analyzer_wrapper", "tensorflow.lite.python._pywrap_analyzer_wrapper"):
        try:
            mod = __import__(name, fromlist=["ModelAnalyzer"])
        except ImportError:
            continue
        text = mod.ModelAnalyzer(str(path), True, True)
        lines = [ln.strip() for ln in text.splitlines() if "GPU" in ln and ("compatib" in ln or "WARNING" in ln)]
        return lines[0] if lines else "no GPU verdict printed"
    return "analyzer not available"


@dataclass
class Warning_:
    code: str
    nodes: list[int]
    message: str
    suggestion: str

    def as_dict(self) -> dict:
        return {"code": self.code, "nodes": self.nodes, "message": self.message, "suggestion": self.suggestion}


def _warnings(
    g: Graph, xnn_cpu_nodes: set[int], nnapi_api: int, why: dict[str, dict], preds: dict[str, dict]
) -> list[Warning_]:
    """``xnn_cpu_nodes``: the nodes XNNPACK (measured) leaves to the CPU; ``why``: per linted
    delegate, node -> why it does not take it (None: it does); ``preds``: per predicted
    delegate, its partition prediction."""
    # long: one rule after another, each a few lines reading the same op list; a table of rules would hide
    # their reasons, which are the point
    out: list[Warning_] = []
    by_op: dict[str, list[Node]] = {}
    for n in g.nodes:
        by_op.setdefault(n.op, []).append(n)
    producer = {t: n for n in g.nodes for t in n.outputs}

    nearest = by_op.get("RESIZE_NEAREST_NEIGHBOR", [])
    left = [n.index for n in nearest if n.index in xnn_cpu_nodes]
    if left:
        out.append(
            Warning_(
                "resize-nearest-cpu",
                left,
                f"{len(left)} RESIZE_NEAREST_NEIGHBOR node(s) left to builtin CPU kernels by XNNPACK (measured): each one "
                "cuts the XNNPACK graph into another partition",
                "upsample with a stride-2 transposed convolution, or bilinear resize with align_corners=False, which "
                "XNNPACK, GPU and NNAPI all take",
            )
        )
    groups: dict[tuple, list[int]] = {}
    for n in by_op.get("RESIZE_BILINEAR", []) + nearest:
        names = tuple(
            name
            for key, name in (("alignCorners", "align_corners"), ("halfPixelCenters", "half_pixel_centers"))
            if n.options.get(key)
        )
        if n.op == "RESIZE_BILINEAR" or names:
            groups.setdefault((n.op, names), []).append(n.index)
    for (op, names), idx in groups.items():
        what = " and ".join(f"{x}=True" for x in names) or "align_corners=False, half_pixel_centers=False"
        msg = f"{len(idx)} {op} node(s) with {what}."
        if names:
            msg += (
                " NNAPI before Android 11 (API 30) rejects them, so on Android 10 devices the NNAPI graph splits there."
            )
        if op == "RESIZE_BILINEAR":
            msg += (
                " Bilinear upsampling of int8 features or class scores interpolates between quantized values and "
                "smears thin classes (poles, lane lines) at their borders"
            )
            tip = (
                "keep half_pixel_centers/align_corners False where Android 10 matters; upsample the scores "
                "nearest (or export --head argmax) and compare both with `edgeseg eval`"
            )
        else:
            tip = "set half_pixel_centers=False/align_corners=False if Android 10 NNAPI devices matter"
        out.append(Warning_("resize-" + ("bilinear" if op == "RESIZE_BILINEAR" else "nearest-mode"), idx, msg, tip))
    for n in by_op.get("CONCATENATION", []):
        if g.tensors[n.outputs[0]]["dtype"] not in INT_TYPES:
            continue
        out_q = (g.tensors[n.outputs[0]]["scale"], g.tensors[n.outputs[0]]["zero_point"])
        differing = [t for t in n.inputs if (g.tensors[t]["scale"], g.tensors[t]["zero_point"]) != out_q]
        requant = [
            producer[t].index
            for t in n.inputs
            if t in producer and producer[t].op == "QUANTIZE" and g.in_type(producer[t]) in INT_TYPES
        ]
        if differing or requant:
            out.append(
                Warning_(
                    "concat-scales",
                    [n.index] + requant,
                    f"CONCATENATION node {n.index} joins int8 inputs on different scales: the converter inserts "
                    f"{len(requant)} requantize op(s) (QUANTIZE int8->int8), which NNAPI does not take (only float32 "
                    "input), so each one splits the NNAPI partition; CPU kernels requantize on every run",
                    "give the skip and the upsampled branch the same activation range (same activation and BN before "
                    "both), or fine-tune with --qat so the ranges are learned together",
                )
            )
    for n in by_op.get("QUANTIZE", []):
        if g.in_type(n) in INT_TYPES and not any(w.code == "concat-scales" and n.index in w.nodes for w in out):
            out.append(
                Warning_(
                    "requantize",
                    [n.index],
                    f"QUANTIZE node {n.index} requantizes {g.in_type(n)} -> {g.out_type(n)}; NNAPI does "
                    "not take it, so the partition splits there",
                    "align the ranges of the tensors it joins, or use --qat",
                )
            )
    for n in by_op.get("SOFTMAX", []):
        if g.in_type(n) in INT_TYPES:
            on_cpu = n.index in xnn_cpu_nodes
            out.append(
                Warning_(
                    "int8-softmax-head",
                    [n.index],
                    f"int8 SOFTMAX (node {n.index}) over {g.tensors[n.outputs[0]]['shape'][-1]} classes at full "
                    "resolution"
                    + (", left to builtin CPU kernels by XNNPACK (measured)" if on_cpu else "")
                    + "; its int8 probabilities are coarse (1/256 steps) and argmax(softmax) = argmax(logits)",
                    "export with --head argmax (uint8 class map, smallest output to copy) or --head logits",
                )
            )
    for n in by_op.get("ARG_MAX", []):
        parts = [
            PREDICTORS[DELEGATES[name].lint].says(DELEGATES[name].title, w[n.index])
            for name, w in why.items()
            if w[n.index]
        ]
        if parts:
            out.append(
                Warning_(
                    "argmax-head",
                    [n.index],
                    f"ARG_MAX head (node {n.index}): " + "; ".join(parts) + ". It reads C scores per pixel once and "
                    "writes 1 byte, so on CPU it costs little next to copying [H,W,C] scores off the accelerator",
                    "keep it when the output copy dominates (measure both with `edgeseg bench`); otherwise use --head "
                    "logits and take the argmax in the app",
                )
            )
    pools = [n.index for n in by_op.get("AVERAGE_POOL_2D", []) if g.in_type(n) in INT_TYPES]
    left = [i for i in pools if i in xnn_cpu_nodes]
    if left:
        out.append(
            Warning_(
                "int8-average-pool",
                left,
                f"{len(left)} int8 AVERAGE_POOL_2D node(s) left to builtin CPU kernels by XNNPACK (measured)",
                "downsample with MaxPooling2D or a stride-2 convolution in int8 models",
            )
        )
    for name, pred in preds.items():
        row = DELEGATES[name]
        too_many = PREDICTORS[row.lint].too_many
        if too_many and row.max_partitions and pred["partitions"] > row.max_partitions:
            out.append(Warning_(f"{name}-partitions", [], *too_many(pred, row.max_partitions, nnapi_api)))
    return out


def lint_artifact(path: str | Path, nnapi_api: int = 30) -> dict:
    """The delegate/partition report of one .tflite (see the module doc)."""
    g = read_graph(path)
    why, delegates, preds = {}, {}, {}
    for name, row in LINTED_DELEGATES.items():  # each row of edgeseg.delegates.DELEGATES with a lint method
        method = PREDICTORS[row.lint]
        why[name], delegates[name] = method.run(path, g, row, nnapi_api)
        if method.check is not None:
            preds[name] = delegates[name]
    ops = [
        {
            "index": n.index,
            "op": n.op,
            "dtype": g.out_type(n),
            **{name: PREDICTORS[DELEGATES[name].lint].cell(w[n.index]) for name, w in why.items()},
        }
        for n in g.nodes
    ]
    measured = [w for name, w in why.items() if PREDICTORS[DELEGATES[name].lint].check is None]
    xnn_cpu = {i for i, w in measured[0].items() if w} if measured else set()
    warnings = _warnings(g, xnn_cpu, nnapi_api, why, preds)
    return {"artifact": str(path), "ops": ops, "delegates": delegates, "warnings": [w.as_dict() for w in warnings]}


def lint_signatures(path: str | Path, manifest: Manifest | None, nnapi_api: int = 30) -> dict:
    """The delegate report of every configuration of a multi-signature (PTA) artifact, each
    read from its own file exported beside it: the interpreter and benchmark_model list the
    primary subgraph's nodes only, so the separate file is the graph a device delegates.
    A configuration whose file is missing maps to ``{"error": what to do}``."""
    from ..artifact import ArtifactError, separate_file, signatures_of

    out = {}
    for sig in signatures_of(manifest):
        try:
            out[sig] = lint_artifact(separate_file(path, manifest, sig), nnapi_api=nnapi_api)
        except ArtifactError as e:
            out[sig] = {"error": str(e)}
    return out


def format_lint(res: dict, short: bool = False) -> str:
    d = res["delegates"]
    lines = [_predictor_of(name, x).line(name, x) for name, x in d.items()]
    if not short:
        lines += [f"  {name} analyzer says: {x['analyzer']}" for name, x in d.items() if "analyzer" in x]
    for w in res["warnings"]:
        lines.append(f"  warning [{w['code']}] {w['message']}")
        if not short:
            lines.append(f"    -> {w['suggestion']}")
    if not short:
        lines.append("  ops:")
        for o in res["ops"]:
            cells = [f"{name} {_cell_text(o[name], pad=i < len(d) - 1)}" for i, name in enumerate(d)]
            lines.append(f"    {o['index']:>3} {o['op']:<24} {o['dtype']:<8} " + " ".join(cells))
    return "\n".join(lines)


def _cell_text(value, pad: bool = False) -> str:
    """An op's cell: a measured delegate's yes/no (padded to 4), a predicted one's reason (to 5)."""
    if isinstance(value, bool):
        return f"{'yes' if value else 'no':<4}" if pad else ("yes" if value else "no")
    return f"{value:<5}" if pad else value


def _predictor_of(name: str, summary: dict) -> Predictor:
    row = DELEGATES.get(name)
    if row is not None and row.lint in PREDICTORS:
        return PREDICTORS[row.lint]
    return PREDICTORS["measured" if "cpu_ops" in summary else "gpu-op-parsers"]  # a report from a delegate no row has


# -- the lint methods: how a delegate's row tells which nodes it takes ----------------------------


@dataclass(frozen=True)
class Predictor:
    """A row of :data:`PREDICTORS` (a delegate row's ``lint`` names one)."""

    source: Callable[[int], str]  # what the report is based on, given the Android API level
    #: node -> None when the delegate takes it, else why not (``(graph, node, api)``); None:
    #: measured on the host interpreter instead of predicted
    check: Callable[[Graph, Node, int], str | None] | None = None
    #: ``(prediction, partition limit, api) -> (message, suggestion)`` of the "too many partitions" warning
    too_many: Callable[[dict, int, int], tuple[str, str]] | None = None
    analyzer: bool = False  # the report shows the TFLite analyzer's GPU verdict too
    source_in_line: bool = False  # the short report's line names the source

    def run(self, path, g: Graph, row, api: int) -> tuple[dict[int, str | None], dict]:
        """``(node -> why the delegate does not take it or None, the delegate's report)``."""
        if self.check is None:
            xnn = _xnnpack_measured(path)
            on_cpu = {n.index for n in g.nodes} - set(xnn.get("delegated_nodes", []))
            why = {
                n.index: "leaves it to a builtin CPU kernel (measured)" if n.index in on_cpu else None for n in g.nodes
            }
            return why, {
                "source": self.source(api),
                "delegated_ops": xnn["delegated_ops"],
                "total_ops": xnn["total_ops"],
                "partitions": xnn["partitions"],
                "cpu_ops": sorted({n.op for n in g.nodes if n.index in on_cpu}),
            }
        why = {n.index: self.check(g, n, api) for n in g.nodes}
        pred = predict_partitions([why[n.index] is None for n in g.nodes], row.max_partitions)
        report = {
            "source": self.source(api),
            **({"analyzer": _gpu_analyzer_verdict(path)} if self.analyzer else {}),
            **pred,
            "unsupported": sorted({f"{n.op}: {why[n.index]}" for n in g.nodes if why[n.index]}),
        }
        return why, report

    def cell(self, why: str | None):
        """The delegate's cell in the op list: measured yes/no (bool), else the reason or "yes"."""
        return why is None if self.check is None else (why or "yes")

    def says(self, title: str, why: str) -> str:
        """How a warning says that the delegate ``title`` does not take a node."""
        return f"{title} {why}" if self.check is None else f"{title}: {why}"

    def line(self, name: str, d: dict) -> str:
        """The delegate's line of the short report."""
        if self.check is None:
            return (
                f"  {name:<8} {d['delegated_ops']}/{d['total_ops']} ops in {d['partitions']} partition(s) "
                "[measured]" + (f"; CPU: {', '.join(d['cpu_ops'])}" if d["cpu_ops"] else "")
            )
        return (
            f"  {name:<8} {d['delegated_ops']}/{d['total_ops']} ops, {d['partitions']} partition(s) predicted"
            + (f" ({d['source']})" if self.source_in_line else "")
            + (f"; unsupported: {'; '.join(d['unsupported'])}" if d["unsupported"] else "")
        )


def _nnapi_too_many(pred: dict, limit: int, api: int) -> tuple[str, str]:
    return (
        f"NNAPI (API {api}) would split the graph into {pred['partitions']} partitions; the NNAPI delegate keeps "
        f"the {limit} largest by default and runs the rest on the CPU "
        f"({pred['supported_ops'] - pred['delegated_ops']} supported ops fall back)",
        "remove the ops listed as unsupported for NNAPI, or raise max_number_delegated_partitions",
    )


def _gpu_too_many(pred: dict, limit: int, api: int) -> tuple[str, str]:
    largest = "the largest" if limit == 1 else f"the {limit} largest"
    return (
        f"the GPU delegate would see {pred['partitions']} partitions and by default takes only {largest} "
        f"({pred['supported_ops'] - pred['delegated_ops']} supported ops stay on the CPU)",
        "replace the ops listed as unsupported for GPU",
    )


#: How the lint tells where a delegate's ops run, by the name a delegate row's ``lint`` gives.
PREDICTORS: dict[str, Predictor] = {
    "measured": Predictor(lambda api: "measured (host LiteRT interpreter)"),
    "gpu-op-parsers": Predictor(
        lambda api: "GPU delegate op parsers (model_builder.cc)",
        lambda g, n, api: _gpu_check(g, n),
        _gpu_too_many,
        analyzer=True,
    ),
    "nnapi-table": Predictor(
        lambda api: f"NNAPI table at Android API {api}", _nnapi_check, _nnapi_too_many, source_in_line=True
    ),
}
