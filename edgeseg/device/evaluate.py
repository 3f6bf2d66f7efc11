"""Quality of the exact artifact on a device, per delegate, against the host on the same frames.

Frames are preprocessed on the host by the code host evaluation uses
(:func:`edgeseg.data.pipeline.load_split` with ``keep_source``), written as the artifact's
input tensor (its dtype, and for int8/uint8 inputs its scale and zero point: the host
predictor's own quantization), pushed once into the device's work folder (checked by sha256
and reused while unchanged), run on the device with the delegate's flags by the delegate's
row of :data:`edgeseg.device.runners.RUNNERS` (a row with ``tensor_io``; the others give an
``unsupported`` row saying why), pulled back, decoded with the output tensor's dtype, shape
and quantization, and scored at label resolution by :func:`edgeseg.training.metrics.score_labels`,
the accumulation host evaluation uses. The host runs the same input bytes in the same call.

Row statuses (:func:`device_status`): ``ok``; ``numerics-differ`` when the device's class maps
agree with the host's on fewer than :data:`AGREEMENT_BOUND` of the pixels while its mIoU stays
within :data:`MIOU_BOUND` of the host's: a warning, the numerics differ (another kernel, another
rounding), the quality does not; ``diverged`` when the quality does: its mIoU differs from the
host's by more than :data:`MIOU_BOUND` (a drop: quality lost; a rise: the reason says so), or its
outputs hold NaN/inf, or its mIoU cannot be computed; the row's ``reason`` says which.
``unsupported`` (the runner cannot feed inputs or run that delegate, and why); ``failed`` (the
run or its output files: the runner's own last error lines, and how many frames completed). A
delegate that breaks the model is never ``ok``; `edgeseg eval --device` exits 1 on ``diverged``
and ``failed`` rows, and on ``numerics-differ`` ones only with ``--fail-on-numerics``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DeviceError
from ..runner import FRAME_TAG
from ..training.metrics import argmax_agreement, score_labels
from .deploy import deploy
from .runners import BenchContext, TensorIo, runner_for
from .session import DeviceSession
from .shell import q
from .transport import DeviceConnectionError

log = logging.getLogger(__name__)

#: A device row whose argmax agreement with the host is below this is not ``ok``: ``numerics-differ``
#: while its quality holds (:func:`device_status`) ...
AGREEMENT_BOUND = 0.99
#: ... and the tolerance on its mIoU against the host's on the same frames (a fraction): beyond
#: it, either way, the row is ``diverged``.
MIOU_BOUND = 0.01
#: The device folder (under the profile's work dir) of the frames and the outputs.
EVAL_DIR = "eval"


def device_status(
    agreement: float | None,
    delta: float | None,
    finite: bool = True,
    agreement_bound: float = AGREEMENT_BOUND,
    miou_bound: float = MIOU_BOUND,
) -> tuple[str, str | None]:
    """``(status, reason)`` of a device row compared with the host on the same frames.

    ``agreement`` is the fraction of pixels whose class is the host's, ``delta`` the device's
    mIoU minus the host's (None when either is NaN), ``finite`` whether every output value is.
    Two findings, two names:

    * ``diverged``, the quality is not the host's: outputs holding NaN/inf, a mIoU that cannot
      be computed, or a mIoU further than ``miou_bound`` from the host's, whatever the agreement;
    * ``numerics-differ``, numerics that differ with quality kept: agreement below
      ``agreement_bound`` while the mIoU is within ``miou_bound`` of the host's;
    * ``ok`` otherwise (``reason`` None).

    A mIoU *higher* than the host's beyond the tolerance is ``diverged`` too, the reason saying
    it rose: on the same frames the host's mIoU is the artifact's, so a device that scores
    otherwise runs another model, and a rise is no sign the delegate is sound. On a barely
    trained model a broken delegate moves the mIoU either way: a delegate that swaps two class
    channels (tests/fake_benchmark_model.py, mode "swap") agrees with the host on 60% of the
    pixels and raises the 1-epoch test model's mIoU by 0.034. Calling that a warning would let
    a broken delegate exit 0.

    Both reasons give the agreement and the mIoU delta against their bounds."""
    a = "nan" if agreement is None or agreement != agreement else f"{agreement:.4f}"
    low = agreement is None or not agreement >= agreement_bound
    agree = f"argmax agreement with the host {a} {'<' if low else '>='} {agreement_bound}"
    if not finite:
        return "diverged", f"the outputs hold NaN or inf; {agree}"
    if delta is None or delta != delta:
        return "diverged", f"mIoU - host mIoU = nan (the device's mIoU cannot be computed); {agree}"
    d = f"mIoU - host mIoU = {delta:+.4f}"
    if delta < -miou_bound:
        return "diverged", f"quality lost: {d} < -{miou_bound}; {agree}"
    if delta > miou_bound:
        return "diverged", f"quality changed: {d} > +{miou_bound} (the mIoU rose: not the host's model); {agree}"
    if low:
        return "numerics-differ", f"{agree}, quality within tolerance ({d}, within +/-{miou_bound})"
    return "ok", None


# -- tensors ------------------------------------------------------------------------------


def tensor_nbytes(detail: dict) -> int:
    return int(np.prod([int(v) for v in detail["shape"]])) * np.dtype(detail["dtype"]).itemsize


def encode_frame(predict, image: np.ndarray) -> bytes:
    """One frame (uint8 HxWx3 at the input size) as the raw bytes of the input tensor: the
    host predictor's own normalisation and quantization (int8/uint8 with the input's scale and
    zero point, float32 as it is), in the tensor's shape and layout ([1,H,W,3] or [1,3,H,W])."""
    x = np.ascontiguousarray(predict.preprocess(image)[None])
    shape = [int(v) for v in predict.inp["shape"]]
    if list(x.shape) != shape or x.dtype != np.dtype(predict.inp["dtype"]):
        raise DeviceError(
            f"frame encoded as {list(x.shape)} {x.dtype} but the input tensor is {shape} "
            f"{np.dtype(predict.inp['dtype']).name}"
        )
    return x.tobytes()


def output_layout(predict) -> tuple[int, int]:
    """``(offset, total)`` of the scored output in an output file: benchmark_model writes
    every output tensor, in the subgraph's output order, one after the other."""
    if predict.runner is not None:  # one signature: its outputs
        details = list(predict.runner.get_output_details().values())
    elif getattr(predict, "interp", None) is not None:
        details = list(predict.interp.get_output_details())
    else:  # CompiledModel: the manifest's one output
        return 0, tensor_nbytes(predict.out)
    offset, total = 0, 0
    for d in details:
        if d["index"] == predict.out["index"]:
            offset = total
        total += tensor_nbytes(d)
    return offset, total


def decode_output(raw: bytes, predict, layout: tuple[int, int], what: str) -> np.ndarray:
    """The scored output of one frame from an output file: checked against the outputs'
    total size, read with the output tensor's dtype and shape, dequantized like on the host."""
    offset, total = layout
    if len(raw) != total:
        kind = "truncated: " if len(raw) < total else ""
        raise DeviceError(
            f"{what} is {kind}{len(raw)} bytes but the model's outputs are {total} bytes (output "
            f"{[int(v) for v in predict.out['shape']]} {np.dtype(predict.out['dtype']).name})"
        )
    dtype = np.dtype(predict.out["dtype"])
    shape = [int(v) for v in predict.out["shape"]]
    y = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)
    return np.asarray(predict.postprocess(y[0]))


def labels_of(out: np.ndarray, scores: bool) -> np.ndarray:
    return out.argmax(-1) if scores else out.astype(np.int64)


# -- the device -----------------------------------------------------------------------------


def frame_name(k: int) -> str:
    return f"{k:06d}.bin"


def push_frames(session: DeviceSession, frames: list[bytes], remote_dir: str) -> dict:
    """Make ``remote_dir`` hold exactly these frame files: one ``sha256sum`` says which the
    device already has, only the others are pushed (as ``.part``, checked, then renamed), and
    files of an earlier, longer set are removed."""
    digests = {frame_name(k): hashlib.sha256(b).hexdigest() for k, b in enumerate(frames)}
    session.shell(f"mkdir -p {q(remote_dir)}").check("creating the frames folder")
    have = _remote_digests(session, remote_dir, "*.bin")
    todo = [n for n, d in digests.items() if have.get(n) != d]
    stale = [n for n in have if n not in digests]
    if todo:
        with tempfile.TemporaryDirectory(prefix="edgeseg-frames-") as tmp:
            for name in todo:
                local = Path(tmp) / name
                local.write_bytes(frames[int(name[:6])])
                part = posixpath.join(remote_dir, name + ".part")
                session.with_retry(lambda c, lo=local, pa=part: c.push(lo, pa), f"pushing frame {name}")
        got = _remote_digests(session, remote_dir, "*.bin.part")
        bad = [n for n in todo if got.get(n + ".part") != digests[n]]
        if bad:
            raise DeviceError(
                f"checksum mismatch on the device after pushing {len(bad)} frame file(s) "
                f"({', '.join(bad[:3])}); run the command again"
            )
        session.shell(f"cd {q(remote_dir)} && for f in {' '.join(todo)}; do mv -f $f.part $f; done").check(
            "installing the frames"
        )
    if stale:
        session.shell(f"cd {q(remote_dir)} && rm -f {' '.join(q(n) for n in stale)}").check("removing old frames")
    return {"frames": len(frames), "pushed": len(todo), "reused": len(frames) - len(todo)}


def _remote_digests(session: DeviceSession, remote_dir: str, pattern: str) -> dict:
    res = session.shell(f"cd {q(remote_dir)} && sha256sum {pattern} 2>/dev/null")
    out = {}
    for line in res.text.splitlines():
        bits = line.split()
        if len(bits) == 2 and len(bits[0]) == 64:
            out[bits[1].lstrip("*")] = bits[0]
    return out


class FrameProgress:
    """The runners' ``@@frame K/N`` lines as they arrive (streamed from the device's stdout):
    a progress line every 10% of the frames, or every 30 s, whichever comes first."""

    def __init__(self, say: Callable[[str], None], delegate: str, every_s: float = 30.0):
        self.say, self.delegate, self.every_s = say, delegate, every_s
        self.buf, self.t0, self.last_t, self.last_k = b"", time.monotonic(), time.monotonic(), 0
        self.done = 0  # the frames the runner said it finished

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            k, n = self.parse(line.decode("utf-8", "replace"))
            if k is None:
                continue
            self.done = max(self.done, k)
            now = time.monotonic()
            if k == n or k - self.last_k >= max(1, n // 10) or now - self.last_t >= self.every_s:
                self.say(f"      {self.delegate}: frame {k}/{n} ({now - self.t0:.0f} s)")
                self.last_t, self.last_k = now, k

    @staticmethod
    def parse(line: str) -> tuple[int | None, int | None]:
        bits = line.strip().split()
        if len(bits) == 2 and bits[0] == FRAME_TAG and "/" in bits[1]:
            k, _, n = bits[1].partition("/")
            if k.isdigit() and n.isdigit():
                return int(k), int(n)
        return None, None


class RunFailed(DeviceError):
    """The runner's command on the device exited non-zero; ``done``: the frames it finished."""

    def __init__(self, message: str, done: int):
        super().__init__(message)
        self.done = done


def run_on_device(ctx: BenchContext, runner, graph: str, delegate: str, io: TensorIo, seen=None) -> None:
    """Run the runner's tensor-IO command for one delegate; raises :class:`RunFailed` with what
    the device said (:func:`failure_reason`) when it fails. ``seen``: the :class:`FrameProgress`
    its stdout is streamed to (one is made when None)."""
    spec = ctx.profile.delegate(delegate)
    cmd = runner.tensor_io_command(ctx, graph, spec, io)
    script = (
        f"cd {q(ctx.profile.work_dir)} || exit 97; rm -rf {q(io.out_dir)} && mkdir -p {q(io.out_dir)} || exit 96; {cmd}"
    )
    seen = seen or FrameProgress(ctx.say, delegate)
    res = ctx.session.with_retry(
        lambda c: c.shell(script, timeout=3600, idle_timeout=None, on_stdout=seen.feed), f"eval on {delegate}"
    )
    if res.exit_code != 0:
        said, done = failure_reason(res.stderr.decode("utf-8", "replace"), res.text, res.exit_code, len(io.frames))
        raise RunFailed(f"{runner.label} failed on {delegate}: {said}", done)


#: Lines of a runner's output that are progress or chatter, never the error: benchmark_model's
#: INFO/VERBOSE log lines, its timing and memory summaries (tflite/tools/benchmark).
CHATTER_PREFIXES = (
    "INFO:",
    "VERBOSE:",
    "count=",
    "Inference timings",
    "Running benchmark for",
    "Initialized session",
    "The input model file size",
    "Memory footprint",
    "Overall peak memory",
)
#: Words of an error line (benchmark_model's ``ERROR:``, a shell's "not found" or "Segmentation
#: fault", a Python exception, the runner's own "frame F: ... exit status N").
ERROR_WORDS = re.compile(
    r"error|fatal|abort|fault|killed|exception|traceback|not found|no such file|permission denied|cannot|can't|"
    r"failed|exit status|^[EF]\d{4} ",
    re.IGNORECASE,
)


def failure_reason(stderr: str, stdout: str, exit_code: int, total: int, keep: int = 4) -> tuple[str, int]:
    """``(reason, done)`` of a tensor-IO run that exited ``exit_code``: ``done`` the frames it
    finished (its last ``@@frame K/N`` line), ``reason`` the runner's own last error lines (at
    most ``keep``; those that read as errors first, else its last other lines), never the
    progress lines or benchmark_model's INFO chatter, after the exit status and the count; a
    Python runner's JSON error line is read as its ``error``."""
    lines, done = [], 0
    for raw in (stderr + "\n" + stdout).splitlines():
        line = raw.strip()
        k, _ = FrameProgress.parse(line)
        if k is not None:
            done = max(done, k)
            continue
        if not line or line.startswith(CHATTER_PREFIXES):
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and obj.get("error"):
                line = str(obj["error"])
        lines.append(line)
    said = ([ln for ln in lines if ERROR_WORDS.search(ln)] or lines)[-keep:]
    head = f"exit status {exit_code} after {done} of {total} frame(s)"
    return (head + (": " + " | ".join(said) if said else ""))[:600], done


def pull_outputs(session: DeviceSession, out_dir: str, n: int, local_dir: Path) -> list[bytes]:
    """The output file of every frame; a frame without one is an error naming it."""
    blobs = []
    for k in range(n):
        remote, local = posixpath.join(out_dir, frame_name(k)), local_dir / frame_name(k)
        try:
            session.with_retry(lambda c, r=remote, lo=local: c.pull(r, lo), f"pulling {frame_name(k)}")
        except DeviceConnectionError:
            raise
        except DeviceError as exc:
            raise DeviceError(
                f"no output file for frame {k} ({remote}): the runner exited 0 but wrote nothing there ({exc})"
            ) from None
        blobs.append(local.read_bytes())
    return blobs


def compare(device_outs: list[np.ndarray], host: dict, cache, ds, scores: bool) -> dict:
    """Scores of the device's outputs and how they differ from the host's on the same frames."""
    labels = [labels_of(o, scores) for o in device_outs]
    res = score_labels(labels, cache, ds.num_classes, ds.class_names)
    finite = all(np.isfinite(o).all() for o in device_outs)
    agreement = argmax_agreement(labels, host["labels"])
    per_frame = [float(np.mean(a == b)) for a, b in zip(labels, host["labels"])]
    diffs = [np.abs(o.astype(np.float64) - h.astype(np.float64)) for o, h in zip(device_outs, host["outputs"])]
    delta = res["miou"] - host["miou"] if np.isfinite(res["miou"]) and np.isfinite(host["miou"]) else None
    status, why = device_status(agreement, delta, finite)
    res.update(
        {
            "miou_delta_vs_host": delta,
            "argmax_agreement": agreement,
            "max_abs_diff": float(max(d.max() for d in diffs)) if scores else None,
            "mean_abs_diff": float(np.mean([d.mean() for d in diffs])) if scores else None,
            "per_class_delta_vs_host": {
                c: (
                    v - host["per_class_iou"][c] if v is not None and host["per_class_iou"].get(c) is not None else None
                )
                for c, v in res["per_class_iou"].items()
            },
            "status": status,
            "reason": why,
            "frame_agreement": per_frame,
            "labels": labels,
        }
    )
    return res


def host_reference(predict, frames: list[bytes], cache, ds, scores: bool) -> dict:
    """The host interpreter on the very input bytes the device gets."""
    t0 = time.perf_counter()
    outs = []
    dtype, shape = np.dtype(predict.inp["dtype"]), [int(v) for v in predict.inp["shape"]]
    for b in frames:
        y = predict._run_one(np.frombuffer(b, dtype=dtype).reshape(shape))
        outs.append(np.asarray(predict.postprocess(y[0])))
    seconds = time.perf_counter() - t0
    labels = [labels_of(o, scores) for o in outs]
    res = score_labels(labels, cache, ds.num_classes, ds.class_names)
    res.update(outputs=outs, labels=labels, seconds=seconds)
    return res


def evaluate_on_device(
    session: DeviceSession,
    artifact: Path,
    predict,
    cache,
    ds,
    delegates: list[str],
    threads: int | None = None,
    benchmark_binary: str | None = None,
    signature: str | None = None,
    say: Callable[[str], None] = lambda s: None,
    base: dict | None = None,
) -> dict:
    """Host and device rows for one artifact (one signature of it): ``{"rows", "device",
    "frames", "labels"}``; ``rows[0]`` is the host's. Each delegate is a row whatever
    happens to it (``ok``, ``numerics-differ``, ``diverged``, ``unsupported``, ``failed``:
    :func:`device_status`)."""
    # long: one (artifact, delegate) row after the other, each a try with its own failed row
    p = session.profile
    info = session.getprops()
    device_name = info.get("model") or p.name
    ctx = BenchContext(session, info, threads or p.threads, 1, 0.0, benchmark_binary=benchmark_binary, say=say)
    scores = predict.scores  # scores [H,W,C] (argmax taken) or a class map, as the manifest's output rule says
    frames = [encode_frame(predict, img) for img in cache.images]
    base = dict(base or {})
    host = host_reference(predict, frames, cache, ds, scores)
    rows = [
        {
            **base,
            **_public(host),
            "where": "host",
            "device": "host",
            "delegate": "xnnpack",
            "backend": predict.backend,
            "frames": len(frames),
            "miou_delta_vs_host": 0.0,
            "argmax_agreement": 1.0,
            "max_abs_diff": 0.0 if scores else None,
            "mean_abs_diff": 0.0 if scores else None,
            "seconds": host["seconds"],
            "status": "ok",
            "reason": None,
        }
    ]
    # each frame set has its own folder (reused when the same frames come again) and each call
    # its own output folder: two evals on one device at once never read or overwrite each other's
    set_digest = hashlib.sha256(b"".join(hashlib.sha256(f).digest() for f in frames)).hexdigest()[:16]
    in_dir, out_root = f"{EVAL_DIR}/in/{set_digest}", f"{EVAL_DIR}/out/{secrets.token_hex(4)}"
    pushed = None
    label = base.get("artifact", artifact.stem)
    say(
        f"push {len(frames)} frame(s) of {[int(v) for v in predict.inp['shape']]} {np.dtype(predict.inp['dtype']).name}"
    )
    pushed = push_frames(session, frames, p.remote(in_dir))
    graph = deploy(session, artifact)["remote"]
    layout = output_layout(predict)
    prepared: dict[str, str | None] = {}
    labels = {"host": host["labels"]}
    for delegate in delegates:
        runner = runner_for(p, delegate)
        row = {
            **base,
            "where": "device",
            "device": device_name,
            "delegate": delegate,
            "backend": runner.label,
            "frames": len(frames),
        }
        why = None if runner.tensor_io else runner.no_tensor_io
        why = why or runner.why_not(delegate)
        if why:
            rows.append({**row, "status": "unsupported", "reason": why})
            say(f"unsupported: {label} on {delegate}: {why}")
            continue
        t0 = time.monotonic()
        seen, ran = FrameProgress(say, delegate), None  # ran: the frames run, once the run completed
        try:
            if runner.name not in prepared:
                try:
                    runner.prepare(ctx)
                    prepared[runner.name] = None
                except DeviceError as exc:
                    prepared[runner.name] = f"preparing {runner.label} failed: {exc}"
            if prepared[runner.name]:
                raise DeviceError(prepared[runner.name])
            out_dir = f"{out_root}/{delegate}"
            io = TensorIo(
                in_dir,
                out_dir,
                tuple(frame_name(k) for k in range(len(frames))),
                str(predict.inp["name"]),
                tuple(int(v) for v in predict.inp["shape"]),
                signature,
            )
            say(f"eval {label} on {delegate} ({len(frames)} frame(s))")
            run_on_device(ctx, runner, graph, delegate, io, seen)
            ran = len(frames)
            with tempfile.TemporaryDirectory(prefix="edgeseg-outputs-") as tmp:
                blobs = pull_outputs(session, p.remote(out_dir), len(frames), Path(tmp))
            outs = [
                decode_output(b, predict, layout, f"the output file of frame {k} ({out_dir}/{frame_name(k)})")
                for k, b in enumerate(blobs)
            ]
            res = compare(outs, host, cache, ds, scores)
        except DeviceConnectionError as exc:
            lost = str(exc)
            done = seen.done if ran is None else ran
            rows.append({**row, "frames": done, "status": "failed", "reason": lost, "seconds": time.monotonic() - t0})
            rows += [
                {**row, "delegate": d, "frames": 0, "status": "failed", "reason": f"not run: {lost}"}
                for d in delegates[delegates.index(delegate) + 1 :]
            ]
            break
        except DeviceError as exc:
            # ``frames`` of a failed row: the frames the device finished, never more
            done = exc.done if isinstance(exc, RunFailed) else seen.done if ran is None else ran
            rows.append(
                {**row, "frames": done, "status": "failed", "reason": str(exc), "seconds": time.monotonic() - t0}
            )
            say(f"failed: {label} on {delegate}: {exc}")
            continue
        labels[delegate] = res.pop("labels")
        rows.append(
            {
                **row,
                **{k: v for k, v in res.items() if k != "frame_agreement"},
                "frame_agreement": res["frame_agreement"],
                "seconds": time.monotonic() - t0,
            }
        )
        if res["status"] != "ok":
            say(f"{res['status']}: {label} on {delegate}: {res['reason']}")
    try:
        session.shell(f"rm -rf {q(p.remote(out_root))}", timeout=60)
    except DeviceError as exc:
        log.warning("could not remove %s on the device: %s", out_root, exc)
    facts = {k: v for r in {runner_for(p, d) for d in delegates} for k, v in r.facts(ctx).items()}
    return {"rows": rows, "labels": labels, "frames": pushed, "device": {**info, "profile": p.name, **facts}}


def _public(res: dict) -> dict:
    return {k: v for k, v in res.items() if k not in ("outputs", "labels")}


def evaluate_artifact_on_device(
    session: DeviceSession,
    target,
    data,
    split: str = "val",
    frames: int | None = None,
    delegates: list[str] = (),
    threads: int | None = None,
    skip_bad: bool = False,
    signature: str | None = None,
    classes_from: str | None = None,
    benchmark_binary: str | None = None,
    say: Callable[[str], None] = lambda s: None,
    progress=None,
) -> dict:
    """Every delegate's row (and the host's) for an artifact on ``data``/``split``: the first
    ``frames`` images (default all), loaded and checked as host evaluation does. A
    multi-signature artifact gives rows per signature (``--signature_to_run_for``)."""
    from ..runtime.artifact_io import open_artifact
    from ..runtime.evaluate import artifact_predictor

    art = open_artifact(target, data, signature, classes_from)
    target, ds = art.path, art.dataset
    cache, rows, labels, out = None, [], {}, {}
    for sig in art.signatures:
        predict = artifact_predictor(target, art.manifest, ds, threads, sig)
        if cache is None:
            cache = art.load_split(split, predict.input_size, skip_bad, frames, progress)
        label = art.label(sig)
        base = art.base_row(split, sig)
        out = evaluate_on_device(
            session, target, predict, cache, ds, list(delegates), threads, benchmark_binary, sig, say, base
        )
        rows += out["rows"]
        labels[label] = out["labels"]
    return {
        "rows": rows,
        "labels": labels,
        "device": out.get("device"),
        "frames": out.get("frames"),
        "cache": cache,
        "dataset": str(ds.root),
        "artifact": target.stem,
        "split": split,
    }
