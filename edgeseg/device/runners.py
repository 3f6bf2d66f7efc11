"""The benchmark runners, one row each in :data:`RUNNERS`.

A row prepares what its rows need on the device (pushes a binary or a script, once per
sweep), builds the command of one (artifact, delegate) row, parses what the command printed
into a latency row, and says what it can do: an op profile, its own timed window on the
boot clock (for the power sampler), which delegates it runs. :func:`edgeseg.device.bench.bench_device`
runs every row the same way: one shell session per row with the sampler around the command
(:func:`edgeseg.device.bench.session_script`); the host row runs in this process instead.

Which row runs a delegate: the delegate's ``runner`` in the profile (a row that runs single
delegates, e.g. ``litert``; default from :data:`edgeseg.delegates.DELEGATES`), else the
profile's ``runner``. A new runner is one row here.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..artifact import Manifest, read_manifest
from ..delegates import HOST_DELEGATES, INTERPRETER_DELEGATES, delegating, join_names
from ..errors import DeviceError
from ..runner import FRAME_TAG
from .deploy import deploy, ensure_file
from .npu import (
    BUILD_SUFFIX,
    NPU_VENDORS,
    build_mismatch,
    clear_other_dispatch_command,
    explain_failure,
    parse_probe,
    probe_command,
    recorded_build,
    unrecorded,
    vendor_for,
    with_library_path,
)
from .parse import delegation_status, parse_benchmark_output
from .session import DeviceSession
from .shell import q

if TYPE_CHECKING:  # the profile's types
    from .spec import DelegateSpec, DeviceProfile

RUNNER_FILE = Path(__file__).resolve().parents[1] / "runner.py"


@dataclass
class BenchContext:
    """One sweep's settings, and what each runner prepared (``state[runner name]``)."""

    session: DeviceSession
    info: dict  # the device's properties (edgeseg.device.session.read_props)
    threads: int
    runs: int
    min_secs: float
    op_profile: bool = False
    require_full: bool = False
    benchmark_binary: str | None = None  # --benchmark-binary
    say: Callable[[str], None] = lambda s: None
    progress_factory: object = None
    state: dict = field(default_factory=dict)

    @property
    def profile(self) -> DeviceProfile:
        return self.session.profile


@dataclass
class Invocation:
    """One row's command and what its parse needs to know."""

    command: str
    delegate: str
    op_profile: bool = False  # the command asks for an op profile
    extra: dict = field(default_factory=dict)  # the runner's own (litert: the compiled model's manifest)


@dataclass(frozen=True)
class TensorIo:
    """What `edgeseg eval --device` asks of a runner (:meth:`Runner.tensor_io_command`): run
    the graph once per frame of ``in_dir`` (``frames``: the file names, each the raw bytes of
    the input tensor) and leave the raw bytes of its outputs under the same names in
    ``out_dir`` (benchmark_model's --output_filepath format: every output tensor, in the
    subgraph's output order). Paths are the device's."""

    in_dir: str
    out_dir: str
    frames: tuple[str, ...]
    input_name: str
    input_shape: tuple[int, ...]
    signature: str | None = None


@dataclass(frozen=True)
class Runner:
    """A row of :data:`RUNNERS` (subclass it for the behaviour)."""

    name: str
    label: str  # the latency row's "runner" column
    description: str
    where: str = "device"  # "device": a shell session on the device per row; "host": this process
    profile_runner: bool = False  # a profile's ``runner`` may name it
    single_delegates: bool = False  # a profile's ``[delegates.NAME]`` may name it as its ``runner``
    op_profile: bool = False  # gives per-op times with --op-profile
    power_window: bool = False  # reports its own timed window on the boot clock (else: the markers around it)
    #: its output lines are stamped with the boot clock on the device as they are printed, and
    #: :meth:`phases` reads where init, warm-up and the timed runs begin and end from them
    stamped_output: bool = False
    tensor_io: bool = False  # feeds given input tensors and writes its raw outputs (edgeseg eval --device)
    no_tensor_io: str = "this runner cannot feed given inputs or write its outputs"  # why not, when not

    def check_delegate(self, spec: DelegateSpec) -> str | None:
        """What a profile delegate that names this runner lacks (checked when the profile loads)."""
        return None

    def why_not(self, delegate: str) -> str | None:
        """Why this runner cannot run ``delegate`` (a failed row), or None."""
        return None

    def ready(self, spec: DelegateSpec, artifacts: list[Path]) -> bool:
        """Whether a sweep over ``artifacts`` that names no delegates includes ``spec``."""
        return True

    def prepare(self, ctx: BenchContext) -> None:
        """Push what every row needs, once per sweep, before the first row (its errors end the sweep)."""

    def command(self, ctx: BenchContext, artifact: Path, remote: str, spec: DelegateSpec) -> Invocation:
        """The shell command of one row (``remote``: the deployed artifact). May push more."""
        raise NotImplementedError

    def parse(self, ctx: BenchContext, sec: dict, inv: Invocation) -> tuple[dict, list, tuple | None]:
        """``(latency row, ops rows, timed window or None)`` from the command's sections
        (``out``, ``err``, ``rc``); a failed run is ``{"status": "failed", "error": ...}``."""
        raise NotImplementedError

    def facts(self, ctx: BenchContext) -> dict:
        """What the report's device section says about this runner (even when unused)."""
        return {}

    def phases(self, ctx: BenchContext, sec: dict, row: dict, window: tuple | None) -> tuple[dict, str | None]:
        """Where the timed runs (and, where known, init and warm-up) begin and end on the
        device's boot clock: ``({"timed_start", "timed_end", ...}, None)``, or ``(what is known,
        why the timed window is not)``. Default: the runner's own window (``power_window``)."""
        if self.power_window and window:
            return {"timed_start": window[0], "timed_end": window[1]}, None
        if self.stamped_output:
            from .parse import benchmark_phases

            return benchmark_phases(sec.get("stamped") or [], row.get("runs"), row.get("mean_ms"))
        return {}, f"the {self.label} runner does not say when its timed runs begin and end"

    def tensor_io_command(self, ctx: BenchContext, graph: str, spec: DelegateSpec, io: TensorIo) -> str:
        """The shell command that runs ``graph`` on every frame of ``io`` (rows with ``tensor_io``)."""
        raise NotImplementedError


# -- benchmark_model (Android) -----------------------------------------------------------------


def benchmark_model_command(
    binary: str,
    graph: str,
    delegate_spec,
    threads: int,
    runs: int,
    min_secs: float,
    op_profile: bool,
    require_full: bool,
) -> str:
    flags = [
        f"--graph={graph}",
        f"--num_threads={threads}",
        f"--num_runs={runs}",
        f"--min_secs={min_secs}",
        "--warmup_runs=1",
        "--warmup_min_secs=0.5",
        *delegate_spec.flags,
    ]
    if delegate_spec.accelerator:
        flags.append(f"--nnapi_accelerator_name={delegate_spec.accelerator}")
    if delegate_spec.execution_preference:
        flags.append(f"--nnapi_execution_preference={delegate_spec.execution_preference}")
    if op_profile:
        flags.append("--enable_op_profiling=true")
    if require_full and delegating(delegate_spec.name):
        flags.append("--require_full_delegation=true")
    return " ".join(q(a) for a in [binary, *flags])


def parse_benchmark_model(sec: dict, delegate: str, op_profile: bool) -> tuple[dict, list, None]:
    """A latency row from benchmark_model's output (classic or LiteRT's CompiledModel one)."""
    parsed = parse_benchmark_output(sec["out"] + "\n" + sec["err"], op_profile=op_profile)
    if sec["rc"] not in (0, None) or "mean_ms" not in parsed:
        errs = (
            list(dict.fromkeys(parsed["errors"]))
            or (sec["err"].strip().splitlines() or [f"exit status {sec['rc']}"])[-1:]
        )
        return {"status": "failed", "error": " | ".join(errs)[:500], "accelerators": parsed["accelerators"]}, [], None
    row = {
        k: parsed.get(k) for k in ("init_ms", "first_ms", "warmup_ms", "mean_ms", "std_ms", "runs", "p5_ms", "p95_ms")
    }
    notes = list(parsed["warnings"])
    row["median_ms"] = parsed.get("median_ms")
    if row["median_ms"] is None:
        row["median_ms"] = parsed["mean_ms"]
        notes.append("median_ms is the mean: this benchmark_model prints no percentiles")
    row["p90_ms"] = None  # benchmark_model prints p5/median/p95 at most, never p90
    row.update(delegation_status(parsed, delegate))
    row["accelerators"] = parsed["accelerators"]
    row["note"] = "; ".join(notes) or None
    ops = [{"table": "node_type", **o} for o in parsed["ops"]] + [
        {"table": "run_order", **o} for o in parsed["op_nodes"]
    ]
    return row, ops, None


def benchmark_binary_for(session: DeviceSession, info: dict, given: str | None, say, progress_factory=None) -> dict:
    """The benchmark_model to push: ``--benchmark-binary``, else the profile's, else the
    official prebuilt build for the device's ABI from the user cache (downloaded once)."""
    from .binaries import ensure_binary, local_binary, platform_for

    p = session.profile
    if given or p.benchmark_binary:
        return local_binary(given or p.benchmark_binary)
    abi = info.get("abi") or p.abi
    res = ensure_binary("benchmark_model", platform_for(abi), progress=progress_factory)
    what = {"downloaded": "downloaded", "cache": "cached"}[res["source"]]
    say(
        f"benchmark_model: {what} official build for {abi} ({res['url']}, sha256 {res['sha256'][:16]}) at {res['path']}"
    )
    return res


@dataclass(frozen=True)
class BenchmarkModelRunner(Runner):
    """TFLite's benchmark_model, pushed once (the official build for the ABI, or yours)."""

    def prepare(self, ctx):
        binary = benchmark_binary_for(ctx.session, ctx.info, ctx.benchmark_binary, ctx.say, ctx.progress_factory)
        remote = ensure_file(ctx.session, binary["path"], "benchmark_model", mode=0o755)["remote"]
        ctx.state[self.name] = {"binary": binary, "remote": remote}

    def command(self, ctx, artifact, remote, spec):
        cmd = benchmark_model_command(
            ctx.state[self.name]["remote"],
            remote,
            spec,
            ctx.threads,
            ctx.runs,
            ctx.min_secs,
            ctx.op_profile,
            ctx.require_full,
        )
        return Invocation(cmd, spec.name, ctx.op_profile)

    def parse(self, ctx, sec, inv):
        return parse_benchmark_model(sec, inv.delegate, inv.op_profile)

    def facts(self, ctx):
        return {"benchmark_binary": ctx.state.get(self.name, {}).get("binary")}

    def tensor_io_command(self, ctx, graph, spec, io):
        """One benchmark_model per frame, one run each (tflite/tools/benchmark in google-ai-edge/LiteRT:
        benchmark_tflite_model.cc reads each --input_layer_value_files entry NAME:FILE as the whole
        tensor, refusing a file whose size is not the tensor's bytes, a ':' in NAME written '::';
        inputs match the model's by position, --input_layer_shape resizes them; OutputSaver writes
        the raw bytes of every output after the last run; a multi-signature model needs
        --signature_to_run_for. benchmark_model.cc: --warmup_runs=0 --warmup_min_secs=0 --num_runs=1
        --min_secs=0 is exactly one invocation)."""
        flags = [
            f"--graph={graph}",
            f"--num_threads={ctx.threads}",
            "--num_runs=1",
            "--min_secs=0",
            "--warmup_runs=0",
            "--warmup_min_secs=0",
            f"--input_layer={io.input_name}",
            "--input_layer_shape=" + ",".join(str(int(d)) for d in io.input_shape),
            *spec.flags,
        ]
        if spec.accelerator:
            flags.append(f"--nnapi_accelerator_name={spec.accelerator}")
        if spec.execution_preference:
            flags.append(f"--nnapi_execution_preference={spec.execution_preference}")
        if io.signature:
            flags.append(f"--signature_to_run_for={io.signature}")
        log = q(posixpath.join(io.out_dir, ".log"))
        one = " ".join(q(a) for a in [ctx.state[self.name]["remote"], *flags])
        one += " " + q(f"--input_layer_value_files={io.input_name.replace(':', '::')}:{io.in_dir}/") + '"$f"'
        one += " " + q(f"--output_filepath={io.out_dir}/") + '"$f"'
        return (
            f"k=0; for f in {' '.join(q(f) for f in io.frames)}; do {one} > {log} 2>&1 || {{ rc=$?; "
            f'echo "frame $f: benchmark_model exit status $rc" >&2; tail -n 20 {log} >&2; exit $rc; }}; '
            f'k=$((k+1)); echo "{FRAME_TAG} $k/{len(io.frames)}"; done'
        )


# -- LiteRT's CompiledModel benchmark_model (NPU) ------------------------------------------------


def compiled_for(artifact: Path, soc: str) -> tuple[Path, Manifest]:
    """The file `edgeseg compile ARTIFACT --soc SOC` wrote beside ``artifact``, and its manifest."""
    for cand in sorted(artifact.parent.glob(f"{artifact.stem}_*.tflite")):
        manifest = read_manifest(cand)
        if manifest is not None and manifest.compiled_from(soc, artifact.name):
            return cand, manifest
    raise DeviceError(
        f"no copy of {artifact.name} compiled for {soc} beside it: run `edgeseg compile {artifact} "
        f"--soc {soc}` first (it needs the vendor's compiler SDK)"
    )


def compiled_delegation(compiled: dict) -> dict:
    """Delegation columns of a compiled model's row: what the compiler put on the NPU."""
    left = sum((compiled.get("ops_left_on_cpu") or {}).values())
    return {
        "delegated_ops": compiled.get("ops_compiled"),
        "total_ops": compiled.get("ops_total"),
        "partitions": compiled.get("partitions"),
        "status": "ok" if compiled.get("fully_compiled") and not left else "fallback",
    }


#: The folder of the work dir that holds LiteRT's benchmark binary and the dispatch libraries beside it
#: (its --dispatch_library_path: LiteRT searches it, subfolders too, for libLiteRtDispatch*.so)
LITERT_DIR = "litert"


@dataclass(frozen=True)
class LiteRtRunner(Runner):
    """The model compiled for ``spec.soc`` (and the dispatch libraries the profile names) on
    LiteRT's CompiledModel benchmark_model on the NPU (--use_npu, no CPU fallback: a graph
    the NPU cannot run whole fails instead of silently running elsewhere). Its binary is
    fetched at the first row whose compiled model is there. The dispatch libraries are pushed
    beside it, checked to come from its LiteRT build, and the vendor runtime's folder is probed
    and put on LD_LIBRARY_PATH (edgeseg.device.npu: what each vendor needs, and its errors).

    Flags as LiteRT 2.x's tool takes them (litert/tools/benchmark_litert_model.h, DefaultParams and
    GetFlags, google-ai-edge/LiteRT@f67457790c9c2ab67347d6fe53270e8d3df20868): --use_npu,
    --use_cpu, --require_full_delegation (with --use_cpu=true it aborts), --dispatch_library_path
    (a folder: the environment's kDispatchLibraryDir, benchmark_litert_model.cc), --use_profiler."""

    def check_delegate(self, spec):
        if not spec.soc:
            return (
                f'a {self.name} delegate needs soc = "..." (the SoC the model is compiled for with '
                "`edgeseg compile --soc`)"
            )
        return None

    def ready(self, spec, artifacts):
        """Only when one of the artifacts has been compiled for the delegate's SoC."""
        for a in artifacts:
            try:
                compiled_for(Path(a), spec.soc)
                return True
            except DeviceError:
                pass
        return False

    def _binary(self, ctx) -> str:
        state = ctx.state.setdefault(self.name, {})
        if "remote" not in state:
            from .binaries import ensure_binary, local_binary, platform_for

            p = ctx.profile
            if p.litert_benchmark_binary:
                state["binary"] = local_binary(p.litert_benchmark_binary)
            else:
                abi = ctx.info.get("abi") or p.abi
                b = state["binary"] = ensure_binary(
                    "litert_benchmark_model", platform_for(abi), progress=ctx.progress_factory
                )
                ctx.say(f"LiteRT benchmark_model: {b['source']} official build ({b['url']}, sha256 {b['sha256'][:16]})")
            state["binary"]["litert_build"] = recorded_build(state["binary"]["path"])
            state["remote"] = ensure_file(
                ctx.session, state["binary"]["path"], f"{LITERT_DIR}/benchmark_model", mode=0o755
            )["remote"]
        return state["remote"]

    def _dispatch(self, ctx, spec) -> dict:
        """The delegate's dispatch set-up, once per sweep (a failure is every row's failure)."""
        done = ctx.state.setdefault(self.name, {}).setdefault("dispatch", {})
        if spec.name not in done:
            try:
                done[spec.name] = set_up_dispatch(ctx, spec, self._binary(ctx), ctx.state[self.name]["binary"])
            except DeviceError as exc:
                done[spec.name] = exc
        if isinstance(done[spec.name], DeviceError):
            raise done[spec.name]
        return done[spec.name]

    def command(self, ctx, artifact, remote, spec):
        from ..quantize.socs import docs_only

        why = docs_only(spec.soc)
        if why:
            raise DeviceError(f'[delegates.{spec.name}] soc = "{spec.soc}": {why}')
        path, manifest = compiled_for(artifact, spec.soc)
        binary = self._binary(ctx)
        setup = self._dispatch(ctx, spec)
        graph = deploy(ctx.session, path, ctx.progress_factory)["remote"]
        flags = [
            f"--graph={graph}",
            "--use_npu=true",
            "--use_cpu=false",
            "--require_full_delegation=true",
            f"--num_threads={ctx.threads}",
            f"--num_runs={ctx.runs}",
            f"--min_secs={ctx.min_secs}",
            "--warmup_runs=1",
            *spec.flags,
        ]
        if setup["dispatch_dir"]:
            flags.append(f"--dispatch_library_path={setup['dispatch_dir']}")
        if ctx.op_profile:
            flags.append("--use_profiler=true")
        cmd = with_library_path(" ".join(q(a) for a in [binary, *dict.fromkeys(flags)]), setup["adapter_dir"])
        extra = {"compiled": manifest.compiled, "setup": setup}
        return Invocation(cmd, spec.name, ctx.op_profile, extra)

    def parse(self, ctx, sec, inv):
        row, ops, window = parse_benchmark_model(sec, inv.delegate, inv.op_profile)
        if row.get("status") != "failed":
            row.update(compiled_delegation(inv.extra["compiled"]))
            return row, ops, window
        setup = inv.extra["setup"]
        p = ctx.profile
        known = explain_failure(
            NPU_VENDORS.get(setup["vendor"]),
            sec["out"] + "\n" + sec["err"],
            dir=setup["dispatch_dir"] or "(no --dispatch_library_path)",
            adapter_dir=setup["adapter_dir"],
            delegate=inv.delegate,
            profile=p.path or f"the profile '{p.name}'",
        )
        if known:
            row["error"] = f"{known[1]} (device: {row['error']})"[:1000]
        return row, ops, window

    def facts(self, ctx):
        state = ctx.state.get(self.name, {})
        setups = {k: v["facts"] for k, v in state.get("dispatch", {}).items() if isinstance(v, dict)}
        return {"litert_benchmark_binary": state.get("binary"), **({"litert_dispatch": setups} if setups else {})}


def set_up_dispatch(ctx, spec, binary_remote: str, binary: dict) -> dict:
    """Push ``spec``'s dispatch libraries beside the benchmark binary (``binary_remote``), after
    checking them (they exist, LiteRT would find them by name, their recorded LiteRT build is the
    binary's), and probe the vendor runtime's folder on the device. Returns ``{vendor,
    dispatch_dir, adapter_dir, facts}``; a DeviceError names what is missing and the fix."""
    from ..quantize.socs import source_note

    vendor = vendor_for(spec.soc)
    p = ctx.profile
    where = f"[delegates.{spec.name}] of {p.path or f'the profile {p.name!r}'}"
    libs = [dispatch_lib(lib, where) for lib in spec.dispatch_libs]
    if vendor and not libs and not spec.dispatch_dir:
        raise DeviceError(
            f'{where} names no dispatch library: set dispatch_libs = ["/path/to/{vendor.dispatch_lib}"] (from the '
            "LiteRT release or build of the benchmark binary; edgeseg pushes it beside the binary), or dispatch_dir = "
            '"DEVICE_FOLDER" that holds it'
        )
    bin_info = {"path": binary["path"], "sha256": binary.get("sha256"), "build": binary.get("litert_build")}
    mismatch = build_mismatch(bin_info, libs)
    if mismatch:
        raise DeviceError(mismatch)
    folder = posixpath.dirname(binary_remote)
    if libs:
        ctx.session.shell(clear_other_dispatch_command(folder, tuple(lib["name"] for lib in libs))).check(
            "removing other dispatch libraries"
        )
        for lib in libs:
            lib["remote"] = ensure_file(ctx.session, lib["path"], f"{LITERT_DIR}/{lib['name']}")["remote"]
    adapter_dir = (spec.adapter_dir or vendor.adapter_dir) if vendor else spec.adapter_dir
    probed_dispatch = spec.dispatch_dir if not libs else None
    text = ctx.session.shell(
        probe_command(adapter_dir if vendor else None, vendor.adapter_libs if vendor else (), probed_dispatch),
        timeout=30,
    ).text
    probe = parse_probe(text)
    if vendor and probed_dispatch and vendor.dispatch_lib not in probe.dispatch:
        raise DeviceError(
            f"{vendor.dispatch_lib} is not in {probed_dispatch} on the device (dispatch_dir of {where}): push it "
            f"there, or list its host path in dispatch_libs (edgeseg pushes it beside the benchmark binary)"
        )
    if vendor and not probe.adapters:
        missing = "" if probe.adapter_dir else " (the folder does not exist)"
        raise DeviceError(
            f"none of the {vendor.runtime} libraries {vendor.dispatch_lib} loads ({', '.join(vendor.adapter_libs)}) is "
            f'in {adapter_dir} on the device{missing}: set adapter_dir = "FOLDER" in {where} to the folder that '
            "holds one (look with `adb shell ls /system_ext/lib64 /vendor/lib64`); without it the dispatch library "
            "fails with 'Failed to load NeuronAdapter shared library'"
        )
    unknown = unrecorded(bin_info, libs) if libs else []
    if unknown:
        ctx.say(
            f"{spec.name}: cannot check that the dispatch library comes from the benchmark binary's LiteRT build: no "
            f"build recorded for {', '.join(unknown)} (write the release or commit to FILE{BUILD_SUFFIX} beside each); "
            "the device's own version check still applies"
        )
    note = source_note(spec.soc)
    if note:
        ctx.say(f"{spec.name}: {note}")
    dispatch_dir = folder if libs else spec.dispatch_dir
    facts = {
        "soc": spec.soc,
        "vendor": vendor.name if vendor else None,
        "benchmark_binary": bin_info,
        "dispatch_libs": [{k: lib[k] for k in ("name", "path", "sha256", "build", "remote")} for lib in libs],
        "dispatch_dir": dispatch_dir,
        "same_build": None if unknown or not libs else True,
        "unrecorded": unknown,
        "adapter_dir": adapter_dir,
        "adapters_found": list(probe.adapters),
    }
    return {
        "vendor": vendor.name if vendor else None,
        "dispatch_dir": dispatch_dir,
        "adapter_dir": adapter_dir,
        "facts": facts,
    }


def dispatch_lib(path: str, where: str) -> dict:
    """A host dispatch library of ``dispatch_libs``, checked: it exists and LiteRT would find it by
    its name (litert/core/dynamic_loading.cc: files named libLiteRtDispatch*.so)."""
    from ..fileio import sha256_file

    lp = Path(path).expanduser()
    if not lp.is_file():
        raise DeviceError(
            f"the dispatch library {lp} (dispatch_libs of {where}) does not exist: point dispatch_libs at the "
            "libLiteRtDispatch_*.so of the benchmark binary's LiteRT release or build"
        )
    if not (lp.name.startswith("libLiteRtDispatch") and lp.suffix == ".so"):
        raise DeviceError(
            f"{lp.name} (dispatch_libs of {where}) is not named libLiteRtDispatch*.so, the only names LiteRT loads "
            "from --dispatch_library_path: give the vendor's library under its own name"
        )
    return {"name": lp.name, "path": str(lp), "sha256": sha256_file(lp), "build": recorded_build(lp)}


#: Why the litert row has no tensor IO (read in google-ai-edge/LiteRT litert/tools/benchmark_litert_model.h/.cc).
LITERT_NO_TENSOR_IO = (
    "LiteRT's CompiledModel benchmark_model (litert/tools/benchmark_litert_model.h) fills its "
    "inputs with random values (its only input flag is --input_layer_value_range) and has no flag "
    "that writes its outputs, so it cannot be fed the frames or give their outputs back"
)


# -- the Python runner (Linux boards) ------------------------------------------------------------


def python_runner_command(
    python: str,
    runner: str,
    graph: str,
    delegate: str,
    threads: int,
    runs: int,
    min_secs: float,
    kernels: str | None = None,
) -> str:
    args = [
        python,
        runner,
        "--graph",
        graph,
        "--threads",
        threads,
        "--runs",
        runs,
        "--min-secs",
        min_secs,
        "--delegate",
        delegate,
    ]
    return " ".join(q(a) for a in args + (["--kernels", kernels] if kernels else []))


def check_python(session) -> None:
    """The profile's ``python`` runs on the device, else a DeviceError saying which key to set
    (every row would fail with ``sh: python3: not found``)."""
    p = session.profile
    found = session.shell(f"command -v {q(p.python)}", timeout=30).text.strip()
    if not found:
        where = p.path or f"the profile '{p.name}'"
        raise DeviceError(
            f"the profile's python ({p.python}) is not on the device's PATH: set python = \"/path/to/python3\" "
            f"in {where}, a Python with ai-edge-litert and numpy (for the loopback daemon, tests/adbd.py: "
            "the absolute path of this machine's venv python, e.g. /path/to/edgeseg/.venv/bin/python)"
        )


def parse_runner_json(sec: dict) -> tuple[dict, list, tuple | None]:
    """A latency row from the one JSON object edgeseg/runner.py prints, and its timed window."""
    line = next((ln for ln in reversed(sec["out"].splitlines()) if ln.startswith("{")), None)
    if line is None:
        err = (sec["err"].strip().splitlines() or [f"exit status {sec['rc']}"])[-1]
        return {"status": "failed", "error": f"runner produced no result: {err}"}, [], None
    r = json.loads(line)
    if r.get("status") == "failed":
        return {"status": "failed", "error": r.get("error")}, [], None
    start, end = r.pop("timed_start"), r.pop("timed_end")
    # the device's boot clock, the sampler's clock (older runners: wall clock)
    window = (r.pop("timed_start_boot", start), r.pop("timed_end_boot", end))
    r.pop("cpu_ops", None)
    return r, [], window


@dataclass(frozen=True)
class PythonRunner(Runner):
    """edgeseg/runner.py pushed to the board and run by its Python with the LiteRT
    interpreter: the delegates the interpreter runs, told how by ``--kernels``."""

    def why_not(self, delegate):
        if delegate not in INTERPRETER_DELEGATES:
            return (
                f"the Python runner runs {join_names(INTERPRETER_DELEGATES)} only; use a benchmark_model "
                f"profile for {delegate}"
            )
        return None

    def prepare(self, ctx):
        check_python(ctx.session)
        ctx.state[self.name] = {"remote": ensure_file(ctx.session, RUNNER_FILE, "edgeseg_runner.py")["remote"]}

    def command(self, ctx, artifact, remote, spec):
        cmd = python_runner_command(
            ctx.profile.python,
            ctx.state[self.name]["remote"],
            remote,
            spec.name,
            ctx.threads,
            ctx.runs,
            ctx.min_secs,
            kernels=INTERPRETER_DELEGATES[spec.name],
        )
        return Invocation(cmd, spec.name)

    def parse(self, ctx, sec, inv):
        return parse_runner_json(sec)

    def tensor_io_command(self, ctx, graph, spec, io):
        """edgeseg/runner.py --inputs/--outputs: every frame in one interpreter, benchmark_model's file formats."""
        args = [
            ctx.profile.python,
            ctx.state[self.name]["remote"],
            "--graph",
            graph,
            "--threads",
            ctx.threads,
            "--delegate",
            spec.name,
            "--kernels",
            INTERPRETER_DELEGATES[spec.name],
            "--inputs",
            io.in_dir,
            "--outputs",
            io.out_dir,
            "--progress",
        ] + (["--signature", io.signature] if io.signature else [])
        return " ".join(q(a) for a in args)


# -- the host ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRunner(Runner):
    """The LiteRT interpreter in this process (`edgeseg bench` without --device): no shell,
    no power; the same protocol as the Python runner (edgeseg/runner.py)."""

    def why_not(self, delegate):
        if delegate not in HOST_DELEGATES:
            return f"host delegate '{delegate}' is not one of {', '.join(HOST_DELEGATES)}"
        return None

    def measure(
        self, artifact, delegate: str, threads: int, runs: int, min_secs: float, signature: str | None = None
    ) -> dict:
        from ..runtime.hostbench import bench_host

        return bench_host(
            artifact, threads=threads, runs=runs, min_secs=min_secs, delegate=delegate, signature=signature
        )


#: The table of runners, in the order they are listed.
RUNNERS: dict[str, Runner] = {
    "benchmark_model": BenchmarkModelRunner(
        "benchmark_model",
        "benchmark_model",
        "TFLite's benchmark_model on Android (official build or yours)",
        profile_runner=True,
        op_profile=True,
        tensor_io=True,
        stamped_output=True,
    ),
    "litert": LiteRtRunner(
        "litert",
        "litert benchmark_model (CompiledModel)",
        "LiteRT's CompiledModel benchmark_model: the model compiled for the SoC, on the NPU with the vendor's "
        "dispatch library",
        single_delegates=True,
        op_profile=True,
        no_tensor_io=LITERT_NO_TENSOR_IO,
        stamped_output=True,
    ),
    "python": PythonRunner(
        "python",
        "python-runner",
        "edgeseg/runner.py on a Linux board's Python with the LiteRT interpreter",
        profile_runner=True,
        power_window=True,
        tensor_io=True,
    ),
    "host": HostRunner("host", "ai_edge_litert (host)", "the LiteRT interpreter on this host", where="host"),
}


def profile_runner_names() -> tuple[str, ...]:
    """What a profile's ``runner`` may be."""
    return tuple(n for n, r in RUNNERS.items() if r.profile_runner)


def delegate_runner_names() -> tuple[str, ...]:
    """What a profile delegate's ``runner`` may be besides ``profile``."""
    return tuple(n for n, r in RUNNERS.items() if r.single_delegates)


def device_runners() -> list[Runner]:
    return [r for r in RUNNERS.values() if r.where == "device"]


def runner_for(profile: DeviceProfile, delegate: str) -> Runner:
    """The row that runs ``delegate`` on ``profile``'s device."""
    spec = profile.delegates.get(delegate)
    kind = spec.runner if spec is not None else "profile"
    return RUNNERS[profile.runner if kind == "profile" else kind]


def default_delegates(profile: DeviceProfile, artifacts: list[Path]) -> list[str]:
    """A sweep's delegates when none are named: every delegate of the profile whose runner is
    ready for these artifacts (a litert one only when an artifact was compiled for its SoC)."""
    return [name for name, spec in profile.delegates.items() if runner_for(profile, name).ready(spec, artifacts)]
