"""Latency of a .tflite on this host through the LiteRT interpreter.

Follows benchmark_model's protocol: init (load + allocate), first inference, warm-up runs,
then timed runs until both a run count and a minimum time are reached.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import EdgesegError
from .interpreter import delegation, load_interpreter

HOST_DELEGATES = {
    "xnnpack": "LiteRT default: XNNPACK delegate where it applies, builtin kernels for the rest",
    "cpu": "builtin reference kernels only (no default delegate)",
}


def latency_stats(times_s: list[float]) -> dict:
    a = np.asarray(times_s, dtype=np.float64) * 1e3
    if a.size == 0:
        raise ValueError("no timed runs")
    return {"mean_ms": float(a.mean()), "median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
            "std_ms": float(a.std()), "min_ms": float(a.min()), "max_ms": float(a.max()), "runs": int(a.size)}


def _random_input(detail, rng) -> np.ndarray:
    shape, dtype = detail["shape"], detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.random(size=shape, dtype=np.float32).astype(dtype)


def bench_host(artifact: str | Path, threads: int = 2, runs: int = 50, min_secs: float = 1.0,
               warmup_runs: int = 5, warmup_secs: float = 0.5, delegate: str = "xnnpack", seed: int = 0) -> dict:
    if delegate not in HOST_DELEGATES:
        raise EdgesegError(f"host delegate '{delegate}' is not one of {', '.join(HOST_DELEGATES)}")
    t0 = time.perf_counter()
    interp, backend = load_interpreter(artifact, threads=threads, xnnpack=delegate == "xnnpack")
    init_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(seed)
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], _random_input(d, rng))
    t0 = time.perf_counter()
    interp.invoke()
    first_ms = (time.perf_counter() - t0) * 1e3
    warm = []
    start = time.perf_counter()
    while len(warm) < warmup_runs or time.perf_counter() - start < warmup_secs:
        t0 = time.perf_counter()
        interp.invoke()
        warm.append(time.perf_counter() - t0)
    timed = []
    start = time.perf_counter()
    while len(timed) < runs or time.perf_counter() - start < min_secs:
        t0 = time.perf_counter()
        interp.invoke()
        timed.append(time.perf_counter() - t0)
    cover = delegation(interp._get_ops_details())  # noqa: SLF001
    if delegate == "cpu":
        status = "ok"
    else:
        status = "ok" if cover["delegated_ops"] == cover["total_ops"] else "fallback"
    return {"init_ms": init_ms, "first_ms": first_ms, "warmup_ms": float(np.mean(warm) * 1e3), **latency_stats(timed),
            "threads": threads, "delegate": delegate, "backend": backend, **cover, "status": status}
