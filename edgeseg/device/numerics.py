"""A debug copy of an artifact (every chosen tensor an output) on a device, per delegate:
the outputs of every frame, as `edgeseg eval --device` gets them.

The frames are pushed, the copy deployed and run by the delegate's row of
:data:`edgeseg.device.runners.RUNNERS` with the same tensor-IO command device evaluation uses
(benchmark_model: one ``--input_layer_value_files`` / ``--output_filepath`` run per frame), the
output files pulled back and split into tensors by the copy's output list. What the device's
log says of the delegation (``Replacing X out of Y node(s) with delegate``, the last frame's
log) comes back with them.
"""

from __future__ import annotations

import hashlib
import posixpath
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import DeviceError
from .deploy import deploy
from .evaluate import EVAL_DIR, FrameProgress, RunFailed, frame_name, pull_outputs, push_frames, run_on_device
from .runners import BenchContext, TensorIo, runner_for
from .session import DeviceSession
from .shell import q
from .transport import DeviceConnectionError


def device_delegation(session: DeviceSession, out_dir: str, delegate: str) -> dict:
    """``delegated_ops``, ``total_ops``, ``partitions`` as the run's log on the device says
    them (benchmark_model's own lines), or {} when there is no log to read."""
    from .parse import delegation_status, parse_benchmark_output

    with tempfile.TemporaryDirectory(prefix="edgeseg-log-") as tmp:
        try:
            session.with_retry(lambda c: c.pull(posixpath.join(out_dir, ".log"), Path(tmp) / "log"), "pulling the log")
        except DeviceError:
            return {}
        text = (Path(tmp) / "log").read_text("utf-8", "replace")
    cover = delegation_status(parse_benchmark_output(text), delegate)
    return {k: cover.get(k) for k in ("delegated_ops", "total_ops", "partitions")}


def run_debug_copy(
    session: DeviceSession,
    copy: Path,
    frames: list[bytes],
    input_name: str,
    input_shape: tuple[int, ...],
    delegates: list[str],
    threads: int | None = None,
    benchmark_binary: str | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> dict:
    """``{delegate: {"outputs": [bytes per frame]} | {"status", "reason"}, "_device": info}``:
    each delegate's output files, or why there are none (``unsupported``, ``failed``)."""
    p = session.profile
    info = session.getprops()
    ctx = BenchContext(session, info, threads or p.threads, 1, 0.0, benchmark_binary=benchmark_binary, say=say)
    digest = hashlib.sha256(b"".join(hashlib.sha256(f).digest() for f in frames)).hexdigest()[:16]
    in_dir, out_root = f"{EVAL_DIR}/in/{digest}", f"{EVAL_DIR}/out/{secrets.token_hex(4)}"
    push_frames(session, frames, p.remote(in_dir))
    graph = deploy(session, copy)["remote"]
    res: dict = {"_device": {**info, "profile": p.name}}
    try:
        for delegate in delegates:
            res[delegate] = _one_delegate(
                ctx, graph, delegate, in_dir, f"{out_root}/{delegate}", frames, input_name, input_shape
            )
            if "reason" in res[delegate]:
                say(f"{res[delegate]['status']}: numerics on {delegate}: {res[delegate]['reason']}")
    finally:
        try:
            session.shell(f"rm -rf {q(p.remote(out_root))}", timeout=60)
        except DeviceError:
            pass
    return res


def _one_delegate(ctx, graph, delegate, in_dir, out_dir, frames, input_name, input_shape) -> dict:
    p = ctx.profile
    runner = runner_for(p, delegate)
    why = (None if runner.tensor_io else runner.no_tensor_io) or runner.why_not(delegate)
    if why:
        return {"status": "unsupported", "reason": why}
    io = TensorIo(in_dir, out_dir, tuple(frame_name(k) for k in range(len(frames))), input_name, input_shape)
    try:
        if runner.name not in ctx.state:
            runner.prepare(ctx)
        ctx.say(f"numerics on {delegate} ({len(frames)} frame(s))")
        run_on_device(ctx, runner, graph, delegate, io, FrameProgress(ctx.say, delegate))
        with tempfile.TemporaryDirectory(prefix="edgeseg-numerics-") as tmp:
            blobs = pull_outputs(ctx.session, p.remote(out_dir), len(frames), Path(tmp))
        return {"outputs": blobs, **device_delegation(ctx.session, p.remote(out_dir), delegate)}
    except DeviceConnectionError:
        raise
    except (RunFailed, DeviceError) as exc:
        return {"status": "failed", "reason": str(exc)}
