"""Load a TFLite interpreter: ai_edge_litert first, then tflite_runtime, then tf.lite.

tflite-runtime 2.14 fails to import with NumPy 2; ai-edge-litert is the maintained
successor and applies XNNPACK by default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError, RuntimeBackendError
from ..quantize.artifact import check_tflite_file
from ..runner import delegation  # noqa: F401  (re-exported: one implementation, also used on devices)
from ..runner import interpreter_kwargs, load_interpreter_module


def load_interpreter(model_path: str | Path | None = None, model_content: bytes | None = None,
                     threads: int | None = None, xnnpack: bool = True):
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
        interp = mod.Interpreter(model_path=str(model_path) if model_path else None, model_content=model_content, **kwargs)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        where = model_path or "the model bytes"
        raise ArtifactError(f"the {name} interpreter refused {where}: {str(exc).strip().splitlines()[0]}") from None
    return interp, name


def op_names(interp) -> list[str]:
    return [op["op_name"] for op in interp._get_ops_details()]  # noqa: SLF001 (stable across LiteRT releases)


class ArtifactPredictor:
    """Run a .tflite segmenter one image at a time: uint8 pixels in, float scores
    [N,H,W,C] out (logits or probabilities heads) or class maps [N,H,W] (argmax head)."""

    def __init__(self, path: str | Path, normalisation: dict | None = None, threads: int | None = None,
                 signature: str | None = None):
        self.interp, self.backend = load_interpreter(path, threads=threads)
        self.runner = None
        if signature:  # one configuration of a multi-signature artifact
            names = list(self.interp.get_signature_list())
            if signature not in names:
                raise ArtifactError(f"{path} has no signature '{signature}' (it has {', '.join(names)})")
            self.runner = self.interp.get_signature_runner(signature)
            (self.in_name, self.inp), = self.runner.get_input_details().items()
            (self.out_name, self.out), = self.runner.get_output_details().items()
        else:
            self.inp = self.interp.get_input_details()[0]
            self.out = self.interp.get_output_details()[0]
        shape = [int(v) for v in self.inp["shape"]]
        if len(shape) != 4 or shape[-1] != 3:
            raise ArtifactError(f"{path} takes input {shape}; edgeseg expects one NHWC RGB image [1,H,W,3]")
        self.input_size = (shape[1], shape[2])
        self.norm = normalisation or {"scale": 1 / 255.0, "offset": 0.0}

    def _quantize_input(self, pixels: np.ndarray) -> np.ndarray:
        x = pixels.astype(np.float32) * np.float32(self.norm["scale"]) + np.float32(self.norm["offset"])
        dtype = self.inp["dtype"]
        if dtype == np.float32:
            return x
        scale, zp = self.inp["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zp), info.min, info.max).astype(dtype)

    def _dequantize_output(self, y: np.ndarray) -> np.ndarray:
        """Scores come back as float; a class map (argmax head: [H,W] integers with no
        quantization parameters) comes back as it is."""
        if self.out["dtype"] == np.float32:
            return y
        scale, zp = self.out["quantization"]
        if not scale:
            return y
        return (y.astype(np.float32) - zp) * scale

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if images.shape[1:3] != self.input_size:
            raise ArtifactError(f"images are {images.shape[1:3]} but the artifact takes {self.input_size}")
        outs = []
        for img in images:
            x = self._quantize_input(img)[None]
            if self.runner is not None:
                y = self.runner(**{self.in_name: x})[self.out_name]
            else:
                self.interp.set_tensor(self.inp["index"], x)
                self.interp.invoke()
                y = self.interp.get_tensor(self.out["index"])
            outs.append(self._dequantize_output(y[0]))
        return np.stack(outs)

