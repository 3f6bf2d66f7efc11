"""Standalone benchmark runner: ``python3 runner.py --graph M.tflite [options]`` prints one
JSON object with the latency statistics, the timed window and delegation coverage. With
``--inputs DIR --outputs DIR`` it runs every input tensor file of DIR once instead and writes
the raw output tensors (benchmark_model's ``--input_layer_value_files`` / ``--output_filepath``
formats, see :func:`run_tensor_io`), for `edgeseg eval --device` on boards.

This file imports only the standard library, NumPy and a TFLite interpreter
(ai_edge_litert, else tflite_runtime, else tensorflow.lite), so `edgeseg bench` can push it
to a Linux board (runner 2) and run it there; the host benchmark uses the same functions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def load_interpreter_module():
    errors = []
    for name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            mod = __import__(name, fromlist=["Interpreter"])
            return name.split(".")[0], mod
        except Exception as exc:
            errors.append(f"{name}: {exc}")
    try:
        import tensorflow as tf

        return "tensorflow", tf.lite
    except Exception as exc:
        errors.append(f"tensorflow.lite: {exc}")
    raise RuntimeError("no TFLite interpreter: pip install ai-edge-litert (" + "; ".join(errors) + ")")


def boot_clock() -> float | None:
    """Seconds since boot (CLOCK_BOOTTIME, the clock of /proc/uptime that the power sampler
    reads on the device), or None where the platform has no such clock."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else None


def emulation() -> str | None:
    """What emulates this process, where something says so: ``$EDGESEG_EMULATION``, set by the
    qemu-user wrapper of the emulated arm64 board (benchmarks/arm64_board.py)."""
    import os

    return os.environ.get("EDGESEG_EMULATION") or None


def emulation_note(what: str | None) -> dict:
    """The latency row's note when the runner runs under emulation (its latency is the emulator's
    speed on the host's CPU, not a device figure); nothing otherwise."""
    if not what:
        return {}
    return {"emulated": what, "note": f"measured under emulation ({what}): latency is not a device figure"}


def latency_stats(times_s) -> dict:
    a = np.asarray(times_s, dtype=np.float64) * 1e3
    if a.size == 0:
        raise ValueError("no timed runs")
    return {
        "mean_ms": float(a.mean()),
        "median_ms": float(np.median(a)),
        "p5_ms": float(np.percentile(a, 5)),
        "p90_ms": float(np.percentile(a, 90)),
        "p95_ms": float(np.percentile(a, 95)),
        "std_ms": float(a.std()),
        "min_ms": float(a.min()),
        "max_ms": float(a.max()),
        "runs": int(a.size),
    }


def delegation(ops) -> dict:
    """Delegation coverage from an interpreter's op list after delegates were applied.

    The op list keeps every original node and appends one ``DELEGATE`` node per partition.
    A partition covers the original nodes on the paths from its input tensors to its output
    tensors, found by walking producers backwards from its outputs.
    """
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in original for t in op["outputs"]}
    by_index = {op["index"]: op for op in original}
    covered: set = set()
    partition_of: dict = {}  # original node -> the partition (0, 1, ... in DELEGATE node order) that runs it
    for k, d in enumerate(delegates):
        stop = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        seen = set()
        while stack:
            t = stack.pop()
            if t in stop or t in seen:
                continue
            seen.add(t)
            node = producer.get(t)
            if node is None or node in covered:
                continue
            covered.add(node)
            partition_of[node] = k
            stack.extend(int(x) for x in by_index[node]["inputs"])
    left = sorted({by_index[i]["op_name"] for i in by_index if i not in covered})
    return {
        "total_ops": len(original),
        "delegated_ops": len(covered),
        "partitions": len(delegates),
        "cpu_ops": left,
        "delegated_nodes": sorted(covered),
        "node_partitions": partition_of,
    }


#: How the interpreter runs the delegates this file knows by itself, for ``runner.py
#: --delegate cpu`` typed by hand: "builtin" kernels only, or the "default" delegates
#: (XNNPACK). The table of record is edgeseg.delegates.DELEGATES (this file runs on boards
#: without edgeseg, so it cannot import it): edgeseg passes ``--kernels`` from it with every
#: run, and tests/e2e/test_variant_rows.py checks that these rows agree with it.
KERNELS = {"cpu": "builtin", "xnnpack": "default"}


def kernels_for(delegate: str, kernels: str | None = None) -> str:
    """``kernels`` when given, else the kernels of ``delegate`` from :data:`KERNELS`."""
    kernels = kernels or KERNELS.get(delegate)
    if kernels not in ("builtin", "default"):
        raise ValueError(f"no interpreter kernels for delegate '{delegate}': pass --kernels builtin or default")
    return kernels


def coverage_status(cover: dict, kernels: str) -> str:
    """``ok``, or ``fallback`` when a delegate was asked for (``kernels`` "default") and some
    nodes run without it; with the builtin kernels nothing is delegated, so always ``ok``."""
    return "ok" if kernels == "builtin" or cover["delegated_ops"] == cover["total_ops"] else "fallback"


def random_input(detail, rng) -> np.ndarray:
    shape, dtype = detail["shape"], detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.random(size=shape, dtype=np.float32).astype(dtype)


def interpreter_kwargs(backend: str, mod, threads: int | None, xnnpack: bool) -> dict:
    """Constructor options; ``xnnpack=False`` keeps the builtin kernels only (no default
    delegate), whose op list is the model's own node count."""
    kwargs = {"num_threads": threads}
    if not xnnpack:
        resolver = getattr(mod, "OpResolverType", None) or getattr(
            getattr(mod, "experimental", None), "OpResolverType", None
        )
        if resolver is None:
            raise RuntimeError(f"the {backend} interpreter cannot disable its default delegates")
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return kwargs


def open_interpreter(graph: str, threads: int, xnnpack: bool):
    backend, mod = load_interpreter_module()
    interp = mod.Interpreter(model_path=graph, **interpreter_kwargs(backend, mod, threads, xnnpack))
    interp.allocate_tensors()
    return interp, backend


def signature_invoker(interp, signature: str, rng):
    """Set random inputs on one signature of a multi-signature model and return
    ``(invoke, subgraph_index)``: ``invoke()`` runs that signature's subgraph alone, as
    ``interp.invoke()`` runs the primary one (inputs are set once, as benchmark_model does)."""
    if signature not in interp.get_signature_list():
        raise ValueError(f"the model has no signature '{signature}' (it has {', '.join(interp.get_signature_list())})")
    runner = interp.get_signature_runner(signature)
    runner(**{name: random_input(d, rng) for name, d in runner.get_input_details().items()})  # allocate + set
    wrapper, index = getattr(interp, "_interpreter", None), getattr(runner, "_subgraph_index", None)
    if wrapper is not None and index is not None and hasattr(wrapper, "Invoke"):
        return (lambda: wrapper.Invoke(index)), index
    inputs = {name: interp.get_tensor(d["index"], index or 0) for name, d in runner.get_input_details().items()}
    return (lambda: runner(**inputs)), index  # older interpreters: the public call (re-sets inputs each run)


def run_benchmark(
    graph: str,
    threads: int = 2,
    runs: int = 50,
    min_secs: float = 1.0,
    warmup_runs: int = 5,
    warmup_secs: float = 0.5,
    delegate: str = "xnnpack",
    seed: int = 0,
    open_fn=None,
    signature: str | None = None,
    kernels: str | None = None,
) -> dict:
    """benchmark_model's protocol: init, first inference, warm-up, then timed runs until both
    ``runs`` and ``min_secs`` are reached. Wall-clock (epoch) times of the timed window are
    returned so that power samples can be matched to it.

    ``signature`` runs one signature of a multi-signature model. The interpreter lists the
    nodes of the primary subgraph only, so for any other signature the delegation columns
    are None (the caller measures them on the configuration's separate file).

    ``kernels`` ("builtin" or "default") says how the interpreter runs ``delegate``; by
    default it is looked up in :data:`KERNELS`."""
    kernels = kernels_for(delegate, kernels)
    t0 = time.perf_counter()
    interp, backend = (open_fn or open_interpreter)(graph, threads, kernels == "default")
    init_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(seed)
    subgraph = 0
    if signature:
        invoke, subgraph = signature_invoker(interp, signature, rng)
    else:
        for d in interp.get_input_details():
            interp.set_tensor(d["index"], random_input(d, rng))
        invoke = interp.invoke
    t0 = time.perf_counter()
    invoke()
    first_ms = (time.perf_counter() - t0) * 1e3
    warm = []
    start = time.perf_counter()
    while len(warm) < warmup_runs or time.perf_counter() - start < warmup_secs:
        t0 = time.perf_counter()
        invoke()
        warm.append(time.perf_counter() - t0)
    timed = []
    window_start, boot_start = time.time(), boot_clock()
    start = time.perf_counter()
    while len(timed) < runs or time.perf_counter() - start < min_secs:
        t0 = time.perf_counter()
        invoke()
        timed.append(time.perf_counter() - t0)
    window_end, boot_end = time.time(), boot_clock()
    if subgraph in (0, None):
        cover = delegation(interp._get_ops_details())
        cover.pop("delegated_nodes")
        cover.pop("node_partitions")
        status = coverage_status(cover, kernels)
    else:
        cover = {"total_ops": None, "delegated_ops": None, "partitions": None, "cpu_ops": None}
        status = "ok"
    return {
        "init_ms": init_ms,
        "first_ms": first_ms,
        "warmup_ms": float(np.mean(warm) * 1e3),
        **latency_stats(timed),
        "threads": threads,
        "delegate": delegate,
        "backend": backend,
        **cover,
        "status": status,
        "timed_start": window_start,
        "timed_end": window_end,
        "timed_start_boot": boot_start,
        "timed_end_boot": boot_end,
        **emulation_note(emulation()),
    }


#: The progress line of the tensor files mode (``--progress``), one per frame: ``@@frame K/N``.
FRAME_TAG = "@@frame"


def run_tensor_io(
    graph: str,
    inputs_dir: str,
    outputs_dir: str,
    threads: int = 2,
    delegate: str = "xnnpack",
    kernels: str | None = None,
    signature: str | None = None,
    open_fn=None,
    on_frame=None,
) -> dict:
    """The Python twin of benchmark_model's ``--input_layer_value_files`` and
    ``--output_filepath`` (tflite/tools/benchmark/benchmark_tflite_model.cc in
    google-ai-edge/LiteRT: LoadInputTensorData refuses a file whose size is not the input
    tensor's byte size; OutputSaver writes the raw bytes of every output tensor, in the
    subgraph's output order, one after the other), for every frame at once: each ``*.bin`` of
    ``inputs_dir`` (sorted) is one frame, the raw bytes of the model's single input tensor;
    the outputs of that frame go to ``outputs_dir`` under the same name. The interpreter is
    opened once for all frames. ``on_frame(k, n)`` is called after each frame is written."""
    import os

    kernels = kernels_for(delegate, kernels)
    interp, backend = (open_fn or open_interpreter)(graph, threads, kernels == "default")
    if signature:
        if signature not in interp.get_signature_list():
            raise ValueError(
                f"the model has no signature '{signature}' (it has {', '.join(interp.get_signature_list())})"
            )
        runner = interp.get_signature_runner(signature)
        ins = list(runner.get_input_details().items())
        outs = list(runner.get_output_details())
    else:
        runner, ins = None, [(d["name"], d) for d in interp.get_input_details()]
    if len(ins) != 1:
        raise ValueError(f"the model has {len(ins)} inputs; tensor files feed models with one input")
    name, detail = ins[0]
    shape, dtype = [int(v) for v in detail["shape"]], np.dtype(detail["dtype"])
    want = int(np.prod(shape)) * dtype.itemsize
    frames = sorted(f for f in os.listdir(inputs_dir) if f.endswith(".bin"))
    if not frames:
        raise ValueError(f"no *.bin input files in {inputs_dir}")
    os.makedirs(outputs_dir, exist_ok=True)
    for done, f in enumerate(frames, 1):
        path = os.path.join(inputs_dir, f)
        size = os.path.getsize(path)
        if size != want:  # benchmark_model's own words
            raise ValueError(
                f"The size of {path} is {size} bytes. It should be {want} bytes (input {name}: {shape} {dtype.name})."
            )
        x = np.fromfile(path, dtype=dtype).reshape(shape)
        if runner is not None:
            res = runner(**{name: x})
            blobs = [np.ascontiguousarray(res[k]).tobytes() for k in outs]
        else:
            interp.set_tensor(detail["index"], x)
            interp.invoke()
            blobs = [np.ascontiguousarray(interp.get_tensor(d["index"])).tobytes() for d in interp.get_output_details()]
        tmp = os.path.join(outputs_dir, f".{f}.part")
        with open(tmp, "wb") as fh:
            for b in blobs:
                fh.write(b)
        os.replace(tmp, os.path.join(outputs_dir, f))
        if on_frame is not None:
            on_frame(done, len(frames))
    return {
        "status": "ok",
        "frames": len(frames),
        "delegate": delegate,
        "backend": backend,
        "threads": threads,
        **({"emulated": emulation()} if emulation() else {}),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="edgeseg on-device benchmark runner (prints one JSON object)")
    ap.add_argument("--graph", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--min-secs", type=float, default=1.0)
    ap.add_argument("--delegate", default="xnnpack", help="The delegate's name (reported in the result).")
    ap.add_argument(
        "--kernels",
        choices=["builtin", "default"],
        default=None,
        help="builtin: no default delegate; default: the default delegate (XNNPACK). Default: the "
        f"kernels of --delegate ({', '.join(f'{k}: {v}' for k, v in KERNELS.items())}).",
    )
    ap.add_argument("--signature", default=None, help="Run this signature of a multi-signature model.")
    ap.add_argument(
        "--inputs",
        default=None,
        metavar="DIR",
        help="Tensor files mode (no timing): run every DIR/*.bin (the raw bytes of the input tensor) "
        "once and write the raw bytes of the outputs to --outputs DIR under the same names.",
    )
    ap.add_argument("--outputs", default=None, metavar="DIR", help="With --inputs: where the output files go.")
    ap.add_argument("--progress", action="store_true", help="With --inputs: a line '@@frame K/N' after each frame.")
    args = ap.parse_args(argv)
    if (args.inputs is None) != (args.outputs is None):
        ap.error("--inputs and --outputs go together")
    try:
        if args.inputs is not None:
            res = run_tensor_io(
                args.graph,
                args.inputs,
                args.outputs,
                args.threads,
                delegate=args.delegate,
                kernels=args.kernels,
                signature=args.signature,
                on_frame=(lambda k, n: print(f"{FRAME_TAG} {k}/{n}", flush=True)) if args.progress else None,
            )
            print(json.dumps(res))
            return 0
        res = run_benchmark(
            args.graph,
            args.threads,
            args.runs,
            args.min_secs,
            delegate=args.delegate,
            signature=args.signature,
            kernels=args.kernels,
        )
    except Exception as exc:
        print(json.dumps({"status": "failed", "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
