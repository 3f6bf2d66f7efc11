"""Latency of a .tflite on this host through the LiteRT interpreter.

The protocol (init, first inference, warm-up, timed runs until both a run count and a
minimum time are reached) lives in :mod:`edgeseg.runner`, which also runs on Linux boards,
so host and board numbers come from the same code.
"""

from __future__ import annotations

from pathlib import Path

from ..delegates import DELEGATES, HOST_DELEGATES
from ..errors import EdgesegError
from ..runner import latency_stats, random_input, run_benchmark  # noqa: F401  (re-exported)
from .interpreter import load_interpreter


def bench_host(
    artifact: str | Path,
    threads: int = 2,
    runs: int = 50,
    min_secs: float = 1.0,
    warmup_runs: int = 5,
    warmup_secs: float = 0.5,
    delegate: str = "xnnpack",
    seed: int = 0,
    signature: str | None = None,
) -> dict:
    """Latency of ``artifact`` (or of one ``signature`` of a multi-signature artifact, run
    through its own subgraph in that very file)."""
    if delegate not in HOST_DELEGATES:
        raise EdgesegError(f"host delegate '{delegate}' is not one of {', '.join(HOST_DELEGATES)}")
    from ..artifact import is_compiled

    if is_compiled(artifact):
        raise EdgesegError(
            f"{Path(artifact).name} is compiled for an NPU (DISPATCH_OP nodes), which the host "
            "interpreter cannot run: bench it on the device with --delegate litert-npu (and `edgeseg "
            "eval` it, which runs it through CompiledModel)"
        )

    def open_fn(graph, n_threads, xnnpack):
        return load_interpreter(graph, threads=n_threads, xnnpack=xnnpack)

    try:
        res = run_benchmark(
            str(artifact),
            threads,
            runs,
            min_secs,
            warmup_runs,
            warmup_secs,
            delegate,
            seed,
            open_fn,
            signature=signature,
            kernels=DELEGATES[delegate].interpreter,
        )
    except ValueError as exc:  # an unknown signature
        raise EdgesegError(f"{artifact}: {exc}") from None
    for key in ("timed_start", "timed_end", "timed_start_boot", "timed_end_boot"):
        res.pop(key, None)
    if signature and res["total_ops"] is None:
        res.update(_separate_file_delegation(artifact, signature, threads, delegate))
    return res


def _separate_file_delegation(artifact, signature: str, threads: int, delegate: str) -> dict:
    """Delegation of a non-primary signature, measured on the configuration's separate file
    (the same graph): the interpreter lists the primary subgraph's nodes only."""
    from ..artifact import read_manifest, separate_file
    from ..runner import coverage_status, delegation

    try:
        f = separate_file(artifact, read_manifest(artifact), signature)
    except EdgesegError:
        return {}
    kernels = DELEGATES[delegate].interpreter
    interp, _ = load_interpreter(f, threads=threads, xnnpack=kernels == "default")
    cover = delegation(interp._get_ops_details())
    cover.pop("delegated_nodes")
    cover.pop("node_partitions")
    return {**cover, "status": coverage_status(cover, kernels)}
