"""The number format training computes in, as rows of one table.

``bf16`` is Keras mixed precision with the ``mixed_bfloat16`` policy: layers compute in
bfloat16 and keep their variables in float32 (so the optimizer, the checkpoints, the saved
weights and the moving average of the weights are float32). The head stays float32: the
1x1 convolutions that make the class logits, anything between them and the softmax, and the
softmax itself, so the loss sees float32 probabilities. bfloat16 has float32's exponent
range, so no loss scaling is needed (Keras' mixed precision guide: loss scaling is for
float16). The exported artifacts do not change: export builds the network in float32 and
loads the float32 weights.

On x86, bfloat16 matmuls and convolutions are fast where the CPU has AMX-BF16 or
AVX512-BF16 (oneDNN uses them); elsewhere bf16 emulation is slower than float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from ..host import cpu_flags


@dataclass(frozen=True)
class PrecisionRow:
    name: str
    policy: str  # the Keras mixed precision policy
    description: str
    #: a mixed policy: the model's head, softmax and loss are cloned in float32 (float32_head)
    mixed: bool = False
    #: CPU instruction sets that run it natively (any one); empty: native everywhere. Without
    #: one (and without a GPU) training warns that the format is emulated here.
    cpu_flags: tuple[str, ...] = ()
    #: measured cost when emulated, for that warning
    emulated_note: str = ""


#: name -> `edgeseg train --precision NAME`
PRECISIONS = {
    row.name: row
    for row in (
        PrecisionRow("float32", "float32", "float32 everywhere"),
        PrecisionRow(
            "bf16",
            "mixed_bfloat16",
            "bfloat16 compute, float32 variables, float32 head, softmax and loss "
            "(fast on CPUs with AMX-BF16 / AVX512-BF16)",
            mixed=True,
            cpu_flags=("amx_bf16", "avx512_bf16"),
            emulated_note="benchmarks/train_throughput.py measured 6-10x slower than float32 on an AVX2-only AMD EPYC",
        ),
    )
}


def native_flags(name: str, cpuinfo: str | None = None) -> list[str]:
    """The instruction sets of row ``name``'s ``cpu_flags`` that this CPU has."""
    have = cpu_flags(cpuinfo)
    return [f for f in PRECISIONS[name].cpu_flags if f in have]


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The bfloat16 instruction sets this CPU has (amx_bf16, avx512_bf16 in /proc/cpuinfo)."""
    return native_flags("bf16", cpuinfo)


@contextlib.contextmanager
def policy(name: str):
    """Keras' global dtype policy set to row ``name``'s for the block, then restored."""
    from ..config import import_keras

    keras = import_keras()
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(PRECISIONS[name].policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def head_layers(model) -> set[str]:
    """The layers from the last convolutions to the ``probabilities`` softmax: walk back
    from the softmax through layers without weights (averages, resizes) to the first layer
    with weights on each branch."""
    out, todo = set(), [model.get_layer("probabilities")]
    while todo:
        layer = todo.pop()
        if layer.name in out:
            continue
        out.add(layer.name)
        if layer.weights and layer.name != "probabilities":
            continue  # the logits' own convolution: stop here
        for node in layer._inbound_nodes:
            inbound = node.inbound_layers
            todo.extend(inbound if isinstance(inbound, (list, tuple)) else [inbound])
    return {n for n in out if not n.startswith("input")}


def float32_head(keras, model):
    """``model`` (built under a mixed policy) with its head in float32, same layer names and
    weights layout, so weights move between it and the float32 network by name or order."""
    head = head_layers(model)

    def clone(layer):
        cfg = layer.get_config()
        if layer.name in head:
            cfg["dtype"] = "float32"
        return layer.__class__.from_config(cfg)

    new = keras.models.clone_model(model, clone_function=clone)
    new.set_weights(model.get_weights())
    return new
