"""A double of LiteRT's CompiledModel benchmark_model on a MediaTek phone's NPU, for the loopback
phone (tests/adbd.py, PhoneSandbox(npu="mediatek")): it takes the real tool's flags, looks for the
dispatch library and the NeuroPilot adapter where LiteRT looks, fails with LiteRT's own log lines
when one is missing, and otherwise runs the graph with the host's ai_edge_litert interpreter (there
is no APU here) and prints the tool's timing lines.

What it follows (google-ai-edge/LiteRT at f67457790c9c2ab67347d6fe53270e8d3df20868):
* litert/tools/benchmark_litert_model.h/.cc: --graph, --use_npu, --use_cpu,
  --require_full_delegation (--use_cpu=true with it aborts: "Requesting full delegation and CPU
  acceleration are incompatible."), --dispatch_library_path (a folder), --num_runs, --warmup_runs;
  a failed Init logs "Failed to compile model." and benchmark_litert_model_main.cc logs
  "Benchmarking failed." and exits with EXIT_FAILURE (1);
* litert/core/dynamic_loading.cc: the folder is searched recursively for libLiteRtDispatch*.so;
* litert/runtime/dispatch/litert_dispatch.cc: "No dispatch library found in DIR" (line 122) and
  "Unsupported dispatch runtime version" (line 187) when the library's Dispatch API version is not
  the runtime's (litert/core/version.h: major, minor and patch equal);
* litert/vendors/mediatek/neuron_adapter_api.cc: the adapter is dlopen()ed by bare name in the
  order of ADAPTERS (the dynamic linker searches LD_LIBRARY_PATH, then the system's folders); none:
  "Failed to load NeuronAdapter shared library" (line 64), then dispatch_api.cc's
  "Initialization failure: ..." (line 123).

The Dispatch API version a real runtime reads from the library (LiteRtDispatchGetApi) is read here
from the library file's bytes, ``LiteRtDispatchApi X.Y.Z`` (the test's fake libraries carry it);
API_VERSION is this "build's" own. A loadable adapter is a file that starts with an ELF header.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

API_VERSION = "0.1.0"  # LITERT_API_VERSION_MAJOR.MINOR.PATCH of this "build" (litert/c/litert_common.h)
ADAPTERS = (
    "libneuronusdk_adapter.mtk.so",
    "libneuronusdk_adapter.9.mtk.so",
    "libneuronusdk_adapter.so",
    "libneuron_adapter_mgvi.so",
    "libneuron_adapter.so",
)
SYSTEM_LIB_DIRS = ("/system/lib64",)  # the linker's default folders for a shell binary (not /system_ext)


def flags(argv):
    out = {}
    for a in argv:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[k] = v
    return out


def log(level, where, msg):
    print(
        f"{level}: [{where}] {msg}" if where else f"{level}: {msg}", file=sys.stderr if level == "ERROR" else sys.stdout
    )


def fail(*lines):
    for where, msg in lines:
        log("ERROR" if not msg.startswith("Initialization failure") else "INFO", where, msg)
    log("ERROR", "", "Failed to compile model.")
    log("ERROR", "", "Benchmarking failed.")
    sys.stdout.flush()
    sys.exit(1)


def dispatch_library(folder):
    found = sorted(p for p in Path(folder).rglob("libLiteRtDispatch*.so") if p.is_file()) if folder else []
    if not found:
        fail(("litert/runtime/dispatch/litert_dispatch.cc:122", f"No dispatch library found in {folder}"))
    if len(found) > 1:
        log("WARNING", "litert/runtime/dispatch/litert_dispatch.cc:126", "Multiple dispatch libraries found")
    log("INFO", "litert/runtime/dispatch/litert_dispatch.cc:158", f"Loading shared library: {found[0]}")
    data = found[0].read_bytes()
    i = data.find(b"LiteRtDispatchApi ")
    version = data[i + 18 : i + 40].split(b"\0")[0].decode() if i >= 0 else "?"
    if version != API_VERSION:
        fail(("litert/runtime/dispatch/litert_dispatch.cc:187", "Unsupported dispatch runtime version"))


def neuron_adapter():
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d] + list(SYSTEM_LIB_DIRS)
    for name in ADAPTERS:
        for d in dirs:
            p = Path(d) / name
            try:
                with open(p, "rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        log(
                            "INFO",
                            "litert/vendors/mediatek/neuron_adapter_api.cc:139",
                            f"Loading MediaTek NeuronAdapter .so from: {name}",
                        )
                        return
            except OSError:
                continue
    msg = "Failed to load NeuronAdapter shared library"
    fail(
        ("litert/vendors/mediatek/neuron_adapter_api.cc:64", f"{msg}: {msg}"),
        ("litert/vendors/mediatek/dispatch/dispatch_api.cc:123", f"Initialization failure: {msg}"),
    )


def stat_line(times_us):
    t = np.asarray(times_us)
    return (
        f"count={len(t)} first={t[0]:.0f} curr={t[-1]:.0f} min={t.min():.0f} max={t.max():.0f} avg={t.mean():.3f} "
        f"std={t.std():.0f} p5={np.percentile(t, 5):.0f} median={np.median(t):.0f} p95={np.percentile(t, 95):.0f}"
    )


def main(argv):
    f = flags(argv)
    t0 = time.perf_counter()
    if f.get("use_cpu", "true") == "true" and f.get("require_full_delegation") == "true":
        log(
            "ERROR",
            "litert/tools/benchmark_litert_model.cc:110",
            "Requesting full delegation and CPU acceleration are incompatible.",
        )
        sys.stdout.flush()
        os.abort()
    if f.get("use_npu") == "true":
        log(
            "INFO",
            "litert/tools/benchmark_litert_model.cc:270",
            f"dispatch_library_path: {f.get('dispatch_library_path', '')}",
        )
        dispatch_library(f.get("dispatch_library_path", ""))
        neuron_adapter()
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=f["graph"], num_threads=int(f.get("num_threads", "1")))
    interp.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], rng.random(d["shape"], dtype=np.float32).astype(d["dtype"]))
    init_ms = (time.perf_counter() - t0) * 1e3
    log("INFO", "", f"Initialized session in {init_ms:.3f}ms.")

    def runs(n):
        out = []
        for _ in range(n):
            t = time.perf_counter()
            interp.invoke()
            out.append((time.perf_counter() - t) * 1e6)
        return out

    warm = runs(max(1, int(f.get("warmup_runs", "1"))))
    log(
        "INFO",
        "",
        "Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.",
    )
    log("INFO", "", stat_line(warm))
    reg = runs(max(1, int(f.get("num_runs", "50"))))
    log(
        "INFO",
        "",
        f"Running benchmark for at least {len(reg)} iterations and at least 1 seconds but terminate if exceeding 150 seconds.",
    )
    log("INFO", "", stat_line(reg))
    h = "./litert/tools/benchmark_litert_model.h"
    print(f"INFO: [{h}:81] \n========== BENCHMARK RESULTS ==========")
    log("INFO", f"{h}:82", f"Model initialization: {init_ms:.2f} ms")
    log("INFO", f"{h}:84", f"Warmup (first):       {warm[0] / 1e3:.2f} ms")
    log("INFO", f"{h}:86", f"Warmup (avg):         {np.mean(warm) / 1e3:.2f} ms ({len(warm)} runs)")
    log("INFO", f"{h}:88", f"Inference (avg):      {np.mean(reg) / 1e3:.2f} ms ({len(reg)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
