"""Latency of a .tflite on this host through the LiteRT interpreter.

The protocol (init, first inference, warm-up, timed runs until both a run count and a
minimum time are reached) lives in :mod:`edgeseg.runner`, which also runs on Linux boards,
so host and board numbers come from the same code.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EdgesegError
from ..runner import latency_stats, random_input, run_benchmark  # noqa: F401  (re-exported)
from .interpreter import load_interpreter

HOST_DELEGATES = {
    "xnnpack": "LiteRT default: XNNPACK delegate where it applies, builtin kernels for the rest",
    "cpu": "builtin reference kernels only (no default delegate)",
}


def bench_host(artifact: str | Path, threads: int = 2, runs: int = 50, min_secs: float = 1.0,
               warmup_runs: int = 5, warmup_secs: float = 0.5, delegate: str = "xnnpack", seed: int = 0) -> dict:
    if delegate not in HOST_DELEGATES:
        raise EdgesegError(f"host delegate '{delegate}' is not one of {', '.join(HOST_DELEGATES)}")

    def open_fn(graph, n_threads, xnnpack):
        return load_interpreter(graph, threads=n_threads, xnnpack=xnnpack)

    res = run_benchmark(str(artifact), threads, runs, min_secs, warmup_runs, warmup_secs, delegate, seed, open_fn)
    res.pop("timed_start")
    res.pop("timed_end")
    return res
