"""Load a TFLite interpreter: ai_edge_litert first, then tflite_runtime, then tf.lite.

tflite-runtime 2.14 fails to import with NumPy 2; ai-edge-litert is the maintained
successor and applies XNNPACK by default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifact import Manifest, check_tflite_file
from ..errors import ArtifactError, RuntimeBackendError
from ..iospec import DEFAULT_NORMALISATION, OutputRule, layout_of
from ..runner import (
    delegation,  # noqa: F401  (re-exported: one implementation, also used on devices)
    interpreter_kwargs,
    load_interpreter_module,
)
from .tensors import is_class_map, postprocess, preprocess


def load_interpreter(
    model_path: str | Path | None = None,
    model_content: bytes | None = None,
    threads: int | None = None,
    xnnpack: bool = True,
):
    """Return ``(interpreter, backend_name)`` with tensors allocated.

    The backend choice and constructor options come from :mod:`edgeseg.runner` (the same
    code runs on Linux boards); here errors become edgeseg errors that say what to do.
    """
    if model_path is not None:
        check_tflite_file(model_path)
    try:
        name, mod = load_interpreter_module()
        kwargs = interpreter_kwargs(name, mod, threads, xnnpack)
    except RuntimeError as exc:
        raise RuntimeBackendError(str(exc)) from None
    try:
        interp = mod.Interpreter(
            model_path=str(model_path) if model_path else None, model_content=model_content, **kwargs
        )
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        where = model_path or "the model bytes"
        raise ArtifactError(f"the {name} interpreter refused {where}: {str(exc).strip().splitlines()[0]}") from None
    return interp, name


def op_names(interp) -> list[str]:
    return [op["op_name"] for op in interp._get_ops_details()]


class ArtifactPredictor:
    """Run a .tflite segmenter one image at a time: uint8 pixels in, float scores
    [N,H,W,C] out (logits or probabilities heads) or class maps [N,H,W] (argmax head)."""

    def __init__(
        self,
        path: str | Path,
        normalisation: dict | None = None,
        threads: int | None = None,
        signature: str | None = None,
        layout: str = "nhwc",
        rule: OutputRule | None = None,
    ):
        self.interp, self.backend = load_interpreter(path, threads=threads)
        self.runner = None
        if signature:  # one configuration of a multi-signature artifact
            names = list(self.interp.get_signature_list())
            if signature not in names:
                raise ArtifactError(f"{path} has no signature '{signature}' (it has {', '.join(names)})")
            self.runner = self.interp.get_signature_runner(signature)
            ((self.in_name, self.inp),) = self.runner.get_input_details().items()
            ((self.out_name, self.out),) = self.runner.get_output_details().items()
        else:
            self.inp = self.interp.get_input_details()[0]
            self.out = self.interp.get_output_details()[0]
        self._set_io(path, normalisation, layout, rule)

    def _set_io(self, path, normalisation, layout, rule) -> None:
        """The input size read from the input tensor in ``layout``, and the rules of
        edgeseg.runtime.tensors that :meth:`preprocess` and :meth:`postprocess` apply."""
        self.layout = layout
        self.rule = rule or OutputRule(None)
        shape = [int(v) for v in self.inp["shape"]]
        channels = shape[1] if layout == "nchw" else shape[-1] if shape else None
        if len(shape) != 4 or channels != 3:
            other = "nhwc" if layout == "nchw" else "nchw"
            raise ArtifactError(
                f"{path} takes input {shape}; as {layout.upper()} that is not one RGB image "
                f"[1,{'3,H,W' if layout == 'nchw' else 'H,W,3'}] (import it with --layout {other} if it is {other.upper()})"
            )
        self.input_size = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
        self.norm = normalisation or dict(DEFAULT_NORMALISATION)
        self.scores = not is_class_map(self.out["shape"], self.rule)

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """One frame [H,W,3] uint8 as the input tensor (no batch axis)."""
        return preprocess(pixels, self.norm, self.layout, self.inp)

    def postprocess(self, y: np.ndarray) -> np.ndarray:
        """One frame's raw output (no batch axis) -> scores [H,W,C] or a class map [H,W] at the input size."""
        return postprocess(y, self.out, self.rule, self.input_size)

    _quantize_input = preprocess  # the names scripts and doubles used before
    _dequantize_output = postprocess

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        if self.runner is not None:
            return self.runner(**{self.in_name: x})[self.out_name]
        self.interp.set_tensor(self.inp["index"], x)
        self.interp.invoke()
        return self.interp.get_tensor(self.out["index"])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if images.shape[1:3] != self.input_size:
            raise ArtifactError(f"images are {images.shape[1:3]} but the artifact takes {self.input_size}")
        outs = []
        for img in images:
            y = self._run_one(self.preprocess(img)[None])
            outs.append(self.postprocess(y[0]))
        return np.stack(outs)


def _detail(spec: dict) -> dict:
    """An interpreter-style tensor detail from a manifest's input/output entry."""
    q = spec.get("quantization") or {}
    return {
        "shape": list(spec["shape"]),
        "dtype": np.dtype(spec["dtype"]).type,
        "quantization": (float(q.get("scale", 0.0)), int(q.get("zero_point", 0))),
    }


class CompiledPredictor(ArtifactPredictor):
    """A compiled artifact (``edgeseg compile``: DISPATCH_OP nodes) through LiteRT's
    CompiledModel and the vendor's dispatch library found in the ai-edge-litert wheel (on
    this host: Intel OpenVINO's, which runs the CPU plugin's blobs). A compiled model can
    load, report itself fully accelerated, and still fail at its first run when the dispatch
    library is missing, so one inference is run at load: a failure there is a clear error."""

    def __init__(self, path: str | Path, manifest: Manifest | None, normalisation: dict | None = None):
        try:
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        except ImportError as exc:
            raise RuntimeBackendError(
                f"running a compiled model needs LiteRT's CompiledModel ({exc}): pip install 'ai-edge-litert>=2.3'"
            ) from None
        compiled = (manifest.compiled if manifest is not None else None) or {}
        what = f"{Path(path).name} (compiled for {compiled.get('manufacturer', '?')} {compiled.get('soc', '?')})"
        if manifest is None or manifest.input is None or manifest.output is None:
            raise ArtifactError(f"{what} has no manifest with its input and output: compile it with `edgeseg compile`")
        try:
            self.model = CompiledModel.from_file(
                str(path), hardware_accel=HardwareAccelerator.NPU | HardwareAccelerator.CPU
            )
            self.ins, self.outs = self.model.create_input_buffers(0), self.model.create_output_buffers(0)
        except Exception as exc:
            raise ArtifactError(
                f"LiteRT's CompiledModel cannot load {what}: {str(exc).splitlines()[0][:300]}; the "
                f"dispatch library of {compiled.get('manufacturer', 'its vendor')} is needed to run it "
                "(on the device: bench it with --delegate litert-npu)"
            ) from None
        self.inp, self.out = _detail(manifest.input), _detail(manifest.output)
        self.runner = None
        self.backend = f"ai_edge_litert CompiledModel ({compiled.get('manufacturer', 'NPU')} dispatch)"
        self.fully_accelerated = bool(self.model.is_fully_accelerated())
        shape = self.inp["shape"]
        self._set_io(path, normalisation, layout_of(manifest.input), OutputRule.from_manifest(manifest.output))
        try:  # the first inference is the real test
            self._run_one(np.zeros(shape, self.inp["dtype"]))
        except Exception as exc:
            raise ArtifactError(
                f"{what} loads but fails at its first inference: {str(exc).splitlines()[0][:300]} "
                "(is the vendor's dispatch library installed?)"
            ) from None

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        self.ins[0].write(np.ascontiguousarray(x))
        self.model.run_by_index(0, self.ins, self.outs)
        n = int(np.prod(self.out["shape"]))
        return self.outs[0].read(n, self.out["dtype"]).reshape(self.out["shape"])
