"""A debug copy of a .tflite whose intermediate tensors are extra outputs of its graph.

The copy is the artifact's flatbuffer, read and written with LiteRT's own generated schema
module (``ai_edge_litert.schema_py_generated``, the object API: ``ModelT``), with the chosen
tensors appended to the main subgraph's outputs (and to its signature's outputs, so that a
signature runner shows them too). The original outputs come first and keep their order, so
the scored output stays where `edgeseg eval --device` reads it; every extra output follows, in
execution order (the subgraph's operator order).

A tensor that is a graph output must be written to memory: a runtime can no longer fuse the op
that produces it with the next one, or keep it inside a delegate's partition only. The copy's
numerics can therefore differ from the artifact's where a runtime fuses ops (XNNPACK and GPU
delegates do); the docs say so (docs/device-accuracy.md).

Which tensors (``select``):

* ``all``: the output of every operator, in execution order;
* ``blocks``: block boundaries only, the outputs of the ops where a network's blocks end
  (:data:`BOUNDARY_OPS`: residual additions, concatenations of skips, pooling and resizing,
  transposed convolutions), and the graph's outputs. The rule reads the graph, not layer
  names, so imported models get it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError, UsageError

#: Ops whose outputs are block boundaries (``select="blocks"``).
BOUNDARY_OPS = frozenset(
    {
        "ADD",
        "CONCATENATION",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "RESIZE_NEAREST_NEIGHBOR",
        "RESIZE_BILINEAR",
        "TRANSPOSE_CONV",
    }
)
SELECTIONS = ("all", "blocks")

#: TensorType codes of the schema -> numpy dtype names.
TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
    12: "uint64",
    15: "uint32",
    16: "uint16",
}


@dataclass(frozen=True)
class TensorSpec:
    """One output of a debug copy: where it is in the graph and how to read its bytes."""

    index: int  # the tensor's index in the subgraph
    name: str
    op: str  # the op that produces it ("" for a graph output that no op produces)
    depth: int  # the producing op's position in execution order (0-based)
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...] = ()  # quantization: one scale per tensor (or per channel)
    zero_point: tuple[int, ...] = ()
    axis: int = 0  # the quantized dimension of a per-channel tensor
    original: bool = False  # an output of the artifact itself

    @property
    def nbytes(self) -> int:
        import numpy as np

        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    @property
    def quantized(self) -> bool:
        return bool(self.scale) and any(s != 0 for s in self.scale) and self.dtype in ("int8", "uint8", "int16")


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover (older wheels)
        try:
            from tensorflow.lite.python import schema_py_generated as schema
        except ImportError:
            raise ArtifactError(
                "reading a .tflite's graph needs LiteRT's schema module: pip install ai-edge-litert"
            ) from None
    return schema


def _op_names(schema, model) -> list[str]:
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for code in model.operatorCodes or []:
        name = names.get(max(code.builtinCode or 0, code.deprecatedBuiltinCode or 0), "?")
        custom = code.customCode
        out.append(f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}" if custom else name)
    return out


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v or "")


def _spec(t, index: int, op: str, depth: int, original: bool) -> TensorSpec:
    q = t.quantization
    scale = tuple(float(s) for s in (q.scale if q is not None and q.scale is not None else ()))
    zp = tuple(int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
    dtype = TENSOR_TYPES.get(int(t.type))
    if dtype is None:
        raise ArtifactError(f"tensor {_text(t.name)!r} has a type (code {t.type}) that edgeseg cannot read")
    return TensorSpec(
        index=index,
        name=_text(t.name),
        op=op,
        depth=depth,
        shape=tuple(int(d) for d in (t.shape if t.shape is not None else ())),
        dtype=dtype,
        scale=scale,
        zero_point=zp,
        axis=int(q.quantizedDimension or 0) if q is not None else 0,
        original=original,
    )


def load_model(data: bytes):
    """The model's object tree (``ModelT``); an artifact whose weights sit after the flatbuffer
    (models over 2 GB) is refused: the object API would drop them."""
    from ..artifact import flatbuffer_problem

    problem = flatbuffer_problem(bytes(data))
    if problem:
        raise ArtifactError(f"cannot read the model's flatbuffer: {problem}; export the artifact again")
    schema = _schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:
        raise ArtifactError(f"cannot read the model's flatbuffer: {exc}") from None
    _inline_buffers(model, data)
    if not model.subgraphs:
        raise ArtifactError("the model has no subgraph")
    return schema, model


#: The largest flatbuffer the object API writes (its offsets are 32-bit signed).
FLATBUFFER_LIMIT = 2**31 - 1


def _inline_buffers(model, data: bytes) -> None:
    """Weights stored after the flatbuffer (a buffer's ``offset``/``size``, as ai-edge-quantizer
    writes them) move into the buffers themselves: writing the copy moves the flatbuffer's end,
    so an offset into the old file would point elsewhere."""
    import numpy as np

    outside = [b for b in model.buffers or [] if (b.offset or 0) > 1]
    if sum(int(b.size or 0) for b in outside) + len(data) > FLATBUFFER_LIMIT:
        raise ArtifactError("the model's weights are over 2 GB: a debug copy cannot hold them inside the flatbuffer")
    for b in outside:
        start, size = int(b.offset), int(b.size or 0)
        if start + size > len(data):
            raise ArtifactError(f"a buffer of the model points past the end of the file ({start}+{size} > {len(data)})")
        b.data, b.offset, b.size = np.frombuffer(data, np.uint8, size, start).copy(), 0, 0


def graph_tensors(data: bytes, select: str = "all") -> list[TensorSpec]:
    """The tensors a debug copy of ``data`` exposes, in output order (see :func:`debug_copy`)."""
    return debug_copy(data, select)[1]


def debug_copy(data: bytes, select: str = "all") -> tuple[bytes, list[TensorSpec]]:
    """``(flatbuffer bytes, outputs)``: the model with the ``select``-ed intermediate tensors
    appended to its main subgraph's outputs; ``outputs`` describes every output of the copy, in
    the order the runtime writes them (the artifact's own first)."""
    if select not in SELECTIONS:
        raise UsageError(f"--tensors must be one of {', '.join(SELECTIONS)} (got {select!r})", param="--tensors")
    schema, model = load_model(data)
    if len(model.signatureDefs or []) > 1:
        raise UsageError(
            f"the artifact has {len(model.signatureDefs)} signatures; per-layer numerics runs single-graph "
            "artifacts (export each configuration on its own)"
        )
    sg = model.subgraphs[0]
    ops = _op_names(schema, model)
    outputs = [int(i) for i in (sg.outputs if sg.outputs is not None else [])]
    inputs = {int(i) for i in (sg.inputs if sg.inputs is not None else [])}
    producer: dict[int, tuple[str, int]] = {}
    order: list[int] = []
    for depth, op in enumerate(sg.operators or []):
        name = ops[op.opcodeIndex]
        for t in op.outputs if op.outputs is not None else []:
            t = int(t)
            if t >= 0 and t not in producer:
                producer[t] = (name, depth)
                order.append(t)
    extra = [
        t
        for t in order
        if t not in outputs
        and t not in inputs
        and (select == "all" or producer[t][0] in BOUNDARY_OPS)
        and sg.tensors[t].shape is not None
        and len(sg.tensors[t].shape) > 0
    ]
    specs = [
        _spec(sg.tensors[t], t, *producer.get(t, ("", len(sg.operators or []))), original=True) for t in outputs
    ] + [_spec(sg.tensors[t], t, *producer[t], original=False) for t in extra]
    if not extra:
        return bytes(data), specs
    sg.outputs = outputs + extra
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex in (0, None):
            taken = {_text(m.name) for m in sig.outputs or []}
            for t in extra:
                m = schema.TensorMapT()
                m.name, m.tensorIndex = _unique(f"numerics_{t}", taken), t
                taken.add(m.name)
                sig.outputs = [*(sig.outputs or []), m]
    return pack(model), specs


def _unique(name: str, taken: set) -> str:
    k, out = 1, name
    while out in taken:
        k, out = k + 1, f"{name}_{k}"
    return out


def pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write_debug_copy(artifact: str | Path, out: str | Path, select: str = "all") -> list[TensorSpec]:
    """Write the debug copy of ``artifact`` to ``out``; returns its outputs."""
    data, specs = debug_copy(Path(artifact).read_bytes(), select)
    Path(out).write_bytes(data)
    return specs
