"""Latency of a .tflite on this host through the LiteRT interpreter.

The protocol (init, first inference, warm-up, timed runs until both a run count and a
minimum time are reached) lives in :mod:`edgeseg.runner`, which also runs on Linux boards,
so host and board numbers come from the same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import EdgesegError
from ..runner import latency_stats, random_input, run_benchmark  # noqa: F401  (re-exported)
from .interpreter import load_interpreter

HOST_DELEGATES = {
    "xnnpack": "LiteRT default: XNNPACK delegate where it applies, builtin kernels for the rest",
    "cpu": "builtin reference kernels only (no default delegate)",
}


def bench_host(artifact: str | Path, threads: int = 2, runs: int = 50, min_secs: float = 1.0,
               warmup_runs: int = 5, warmup_secs: float = 0.5, delegate: str = "xnnpack", seed: int = 0,
               signature: str | None = None) -> dict:
    """Latency of ``artifact`` (or of one ``signature`` of a multi-signature artifact, run
    through its own subgraph in that very file)."""
    if delegate not in HOST_DELEGATES:
        raise EdgesegError(f"host delegate '{delegate}' is not one of {', '.join(HOST_DELEGATES)}")
    from ..artifact import is_compiled  # noqa: PLC0415

    if is_compiled(artifact):
        raise EdgesegError(f"{Path(artifact).name} is compiled for an NPU (DISPATCH_OP nodes), which the host "
                           "interpreter cannot run: bench it on the device with --delegate litert-npu (and `edgeseg "
                           "eval` it, which runs it through CompiledModel)")

    def open_fn(graph, n_threads, xnnpack):
        return load_interpreter(graph, threads=n_threads, xnnpack=xnnpack)

    try:
        res = run_benchmark(str(artifact), threads, runs, min_secs, warmup_runs, warmup_secs, delegate, seed, open_fn,
                            signature=signature)
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
    from ..artifact import read_manifest, separate_file  # noqa: PLC0415
    from ..runner import coverage_status, delegation  # noqa: PLC0415

    try:
        f = separate_file(artifact, read_manifest(artifact) or {}, signature)
    except EdgesegError:
        return {}
    interp, _ = load_interpreter(f, threads=threads, xnnpack=delegate != "cpu")
    cover = delegation(interp._get_ops_details())  # noqa: SLF001
    cover.pop("delegated_nodes")
    return {**cover, "status": coverage_status(cover, delegate)}


def bench_rows(artifacts: list[Path], device: str, threads: int, runs: int, min_secs: float,
               delegates=("xnnpack",), say: Callable[[dict], None] | None = None) -> list[dict]:
    """Host benchmark of each artifact x delegate; a failure is a row, never an abort.
    ``say`` gets each row as soon as it is measured."""
    from ..artifact import read_manifest, signature_label, signatures_of  # noqa: PLC0415
    from ..errors import EdgesegError  # noqa: PLC0415

    rows = []
    for art in artifacts:
        manifest = read_manifest(art) or {}
        for signature in signatures_of(manifest) or [None]:  # one row per configuration of a PTA artifact
            for delegate in delegates:
                base = {"artifact": signature_label(art, signature), "recipe": manifest.get("recipe", "unknown"),
                        "device": device, "delegate": delegate, "threads": threads, "runner": "ai_edge_litert (host)"}
                try:
                    rows.append({**base, **bench_host(art, threads=threads, runs=runs, min_secs=min_secs,
                                                      delegate=delegate, signature=signature)})
                except EdgesegError as exc:
                    rows.append({**base, "status": "failed", "error": str(exc)})
                if say:
                    say(rows[-1])
    return rows
