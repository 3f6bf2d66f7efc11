"""Per-tensor error between two runs of a graph on the same frames, and the first tensor
where it crosses a threshold ("first bad op").

Metrics (:class:`TensorError`), accumulated over every element of every frame, with ``r`` the
reference tensor and ``t`` the tensor under test, both in real values (a quantized tensor is
dequantized with its own scale and zero point first, :func:`dequantize`):

* ``max_abs_diff``: max |t - r|;
* ``cosine``: sum(r t) / sqrt(sum(r^2) sum(t^2));
* ``snr_db``: 10 log10(sum(r^2) / sum((t - r)^2)), the signal-to-noise ratio of the reference
  against the error. Equal tensors have no SNR (infinite): ``identical`` says so and the value
  is left empty; a reference that is all zeros with a non-zero error has none either, and is bad.

Thresholds (:data:`THRESHOLDS`), one pair per comparison, because the two errors live on
different scales:

* ``quantization`` (the host int8/float16 artifact against the float reference): bad when
  cosine < 0.99 or SNR < 20 dB. Rounding one tensor to 8 bits over its calibrated range costs
  about 6 dB per bit less the range left unused, 30-45 dB on a well-calibrated activation; the
  error then accumulates through the layers. 20 dB is an error whose RMS is 10% of the
  signal's; a cosine of 0.99 is about 17 dB, so it fires on tensors whose direction, not only
  whose scale, is lost.
* ``delegate`` (a device delegate against the host running the same file): bad when cosine <
  0.999 or SNR < 30 dB. Two correct kernels for the same graph differ by rounding only:
  float16 arithmetic keeps about 11 bits (~66 dB per op), an int8 kernel that rounds a value
  one step the other way leaves tens of dB more than 30. 30 dB is an error RMS of 3% of the
  signal; a cosine of 0.999 is about 27 dB.

The first bad op of a run is the first tensor in execution order (the producing op's position
in the graph) that is bad (:func:`first_bad`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: comparison -> (cosine below, SNR dB below): either makes a tensor bad.
THRESHOLDS = {"quantization": (0.99, 20.0), "delegate": (0.999, 30.0)}


@dataclass(frozen=True)
class Thresholds:
    cosine: float
    snr_db: float

    def bad(self, err: dict) -> bool:
        """Whether one tensor's error (:meth:`TensorError.result`) crosses these thresholds."""
        if err.get("identical"):
            return False
        if err.get("snr_db") is None:  # a zero reference with a non-zero error
            return True
        cos = err.get("cosine")
        return (cos is not None and cos < self.cosine) or err["snr_db"] < self.snr_db

    def describe(self) -> str:
        return f"cosine < {self.cosine:g} or SNR < {self.snr_db:g} dB"


def thresholds(kind: str, cosine: float | None = None, snr_db: float | None = None) -> Thresholds:
    c, s = THRESHOLDS[kind]
    return Thresholds(c if cosine is None else cosine, s if snr_db is None else snr_db)


def dequantize(raw: np.ndarray, spec) -> np.ndarray:
    """A tensor's real values (float64): ``(q - zero_point) * scale``, per channel along the
    spec's axis when it has several scales; float tensors as they are."""
    x = np.asarray(raw).astype(np.float64)
    if not spec.quantized:
        return x
    scale, zp = np.asarray(spec.scale, np.float64), np.asarray(spec.zero_point or [0], np.float64)
    if scale.size > 1:
        shape = [1] * x.ndim
        shape[spec.axis] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape) if zp.size > 1 else zp
    return (x - zp) * scale


class TensorError:
    """Error of one tensor against its reference, accumulated over frames."""

    def __init__(self):
        self.rr = self.tt = self.rt = self.ee = 0.0
        self.max_abs = 0.0
        self.frames = 0
        self.finite = True

    def update(self, ref: np.ndarray, test: np.ndarray) -> None:
        r, t = np.asarray(ref, np.float64).ravel(), np.asarray(test, np.float64).ravel()
        if r.shape != t.shape:
            raise ValueError(f"tensor sizes differ: reference {r.size} values, test {t.size}")
        if not (np.isfinite(r).all() and np.isfinite(t).all()):
            self.finite = False
            self.frames += 1
            return
        e = t - r
        self.rr += float(r @ r)
        self.tt += float(t @ t)
        self.rt += float(r @ t)
        self.ee += float(e @ e)
        self.max_abs = max(self.max_abs, float(np.abs(e).max()) if e.size else 0.0)
        self.frames += 1

    def result(self) -> dict:
        """``max_abs_diff``, ``cosine``, ``snr_db`` (None when undefined: see the module),
        ``identical``, ``frames``."""
        if not self.finite:
            return {"max_abs_diff": None, "cosine": None, "snr_db": None, "identical": False, "frames": self.frames}
        identical = self.ee == 0.0
        norm = math.sqrt(self.rr * self.tt)
        cosine = self.rt / norm if norm > 0 else (1.0 if identical else None)
        snr = None if identical or self.rr == 0.0 else 10.0 * math.log10(self.rr / self.ee)
        return {
            "max_abs_diff": self.max_abs,
            "cosine": None if cosine is None else min(1.0, max(-1.0, cosine)),
            "snr_db": snr,
            "identical": identical,
            "frames": self.frames,
        }


def first_bad(rows: list[dict]) -> dict | None:
    """The first row in execution order (``depth``, then output order) whose ``status`` is ``bad``."""
    bad = [(r["depth"], k, r) for k, r in enumerate(rows) if r.get("status") == "bad"]
    return min(bad, key=lambda b: (b[0], b[1]))[2] if bad else None


#: How tensors of two graphs are paired (``match`` column), in this order.
MATCH_RULE = (
    "by name: the converter names a tensor after the ops fused into it, and a float and an int8 export of one "
    "model keep those names; the others by position: the k-th tensor produced by the same op type with the "
    "same shape in one graph is paired with the k-th such tensor of the other, in execution order; a tensor "
    "left over has no partner (QUANTIZE/DEQUANTIZE of an int8 graph, ops the converter fused differently)"
)


def match_tensors(ref: list, test: list) -> dict[int, tuple[int, str]]:
    """``{test position: (reference position, "name" | "position")}`` for two graphs'
    :class:`~edgeseg.runtime.debugcopy.TensorSpec` lists (:data:`MATCH_RULE`)."""
    by_name: dict[str, int] = {}
    for k, s in enumerate(ref):
        by_name.setdefault(s.name, k)
    pairs: dict[int, tuple[int, str]] = {}
    used: set[int] = set()
    for k, s in enumerate(test):
        j = by_name.get(s.name)
        if j is not None and j not in used and tuple(ref[j].shape) == tuple(s.shape):
            pairs[k], _ = (j, "name"), used.add(j)

    def key(s):
        return s.op, tuple(s.shape)

    free_ref: dict[tuple, list[int]] = {}
    for j in sorted((j for j in range(len(ref)) if j not in used), key=lambda j: ref[j].depth):
        free_ref.setdefault(key(ref[j]), []).append(j)
    for k in sorted((k for k in range(len(test)) if k not in pairs), key=lambda k: test[k].depth):
        queue = free_ref.get(key(test[k]))
        if queue:
            pairs[k] = (queue.pop(0), "position")
    return pairs


# -- running a debug copy on the host -------------------------------------------------------


class HostGraph:
    """A debug copy (:func:`edgeseg.runtime.debugcopy.debug_copy`) in the host's interpreter,
    XNNPACK applied as host evaluation applies it: every output of every frame, and which
    XNNPACK partition ran each op (:func:`edgeseg.runner.delegation` over the op list)."""

    def __init__(self, data: bytes, specs: list, threads: int | None = None, what: str = "the debug copy"):
        from ..errors import ArtifactError
        from ..runner import delegation
        from .interpreter import load_interpreter

        self.interp, self.backend = load_interpreter(model_content=data, threads=threads)
        self.specs = specs
        self.outputs = self.interp.get_output_details()
        if [int(o["index"]) for o in self.outputs] != [s.index for s in specs]:
            raise ArtifactError(f"the interpreter lists other outputs for {what} than its graph has")
        self.inp = self.interp.get_input_details()[0]
        self.delegation = delegation(self.interp._get_ops_details())

    def partition(self, depth: int) -> str:
        """Where the host ran the op at ``depth``: ``xnnpack:K`` (its partition) or ``cpu``."""
        k = self.delegation["node_partitions"].get(depth)
        return "cpu" if k is None else f"xnnpack:{k}"

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Every output's raw values for one input tensor (a copy: the next run reuses the arena)."""
        self.interp.set_tensor(self.inp["index"], x)
        self.interp.invoke()
        return [np.array(self.interp.get_tensor(o["index"])) for o in self.outputs]


def decode_outputs(raw: bytes, specs: list, what: str) -> list[np.ndarray]:
    """The outputs of one frame from benchmark_model's --output_filepath file: every output's
    raw bytes in the subgraph's output order, each read with its spec's dtype and shape."""
    from ..errors import DeviceError

    total = sum(s.nbytes for s in specs)
    if len(raw) != total:
        kind = "truncated: " if len(raw) < total else ""
        raise DeviceError(f"{what} is {kind}{len(raw)} bytes but the debug copy's {len(specs)} outputs are {total}")
    out, at = [], 0
    for s in specs:
        out.append(np.frombuffer(raw, dtype=np.dtype(s.dtype), count=int(np.prod(s.shape)), offset=at).reshape(s.shape))
        at += s.nbytes
    return out


class Comparison:
    """Per-tensor error of one run against another over frames: ``pairs`` maps a position in
    the tested outputs to ``(reference position, how matched)``."""

    def __init__(self, test_specs: list, ref_specs: list, pairs: dict[int, tuple[int, str]]):
        self.test_specs, self.ref_specs, self.pairs = test_specs, ref_specs, pairs
        self.errors = {k: TensorError() for k in pairs}

    def update(self, test: list[np.ndarray], ref: list[np.ndarray]) -> None:
        for k, (j, _) in self.pairs.items():
            self.errors[k].update(dequantize(ref[j], self.ref_specs[j]), dequantize(test[k], self.test_specs[k]))

    def rows(self, limits: Thresholds, partition=lambda depth: None) -> list[dict]:
        """One row per tested tensor in execution order; ``status`` ``bad`` / ``ok`` /
        ``unmatched``, ``first_bad`` on the first bad one (:func:`first_bad`)."""
        rows = []
        for k, s in sorted(enumerate(self.test_specs), key=lambda e: (e[1].depth, e[0])):
            row = {
                "depth": s.depth,
                "tensor": s.name,
                "op": s.op,
                "shape": "x".join(str(d) for d in s.shape),
                "dtype": s.dtype,
                "partition": partition(s.depth),
            }
            if k not in self.pairs:
                rows.append({**row, "match": None, "status": "unmatched", "first_bad": False})
                continue
            err = self.errors[k].result()
            bad = limits.bad(err) if self.errors[k].finite else True
            reason = None if self.errors[k].finite else "NaN or inf in the reference or the tested tensor"
            rows.append({**row, **err, "match": self.pairs[k][1], "status": "bad" if bad else "ok", "reason": reason})
        first = first_bad(rows)
        for r in rows:
            r["first_bad"] = r is first
        return rows
