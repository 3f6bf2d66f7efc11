"""Load a TFLite interpreter: ai_edge_litert first, then tflite_runtime, then tf.lite.

tflite-runtime 2.14 fails to import with NumPy 2; ai-edge-litert is the maintained
successor and applies XNNPACK by default.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, RuntimeBackendError
from ..quantize.artifact import check_tflite_file
from ..runner import delegation  # noqa: F401  (re-exported: one implementation, also used on devices)

BACKENDS = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


def _backend():
    errors = []
    for name in BACKENDS:
        try:
            mod = importlib.import_module(name)
            if name == "tensorflow.lite":
                from ..config import import_tf  # noqa: PLC0415

                mod = import_tf().lite
            return name.split(".")[0], mod
        except Exception as exc:  # ImportError, or tflite_runtime's NumPy 2 failure
            errors.append(f"{name}: {exc}")
    raise RuntimeBackendError("no TFLite interpreter could be imported; `pip install ai-edge-litert`.\n" + "\n".join(errors))


def load_interpreter(model_path: str | Path | None = None, model_content: bytes | None = None,
                     threads: int | None = None, xnnpack: bool = True):
    """Return ``(interpreter, backend_name)`` with tensors allocated.

    ``xnnpack=False`` uses the builtin reference kernels only (no default delegate); that
    op list is the model's own node count, used to measure delegation.
    """
    if model_path is not None:
        check_tflite_file(model_path)
    name, mod = _backend()
    kwargs = {"num_threads": threads}
    if not xnnpack:
        resolver = getattr(mod, "OpResolverType", None) or getattr(getattr(mod, "experimental", None), "OpResolverType", None)
        if resolver is None:
            raise RuntimeBackendError(f"backend {name} cannot disable the default delegates")
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
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
    """Run a .tflite segmenter one image at a time: uint8 pixels in, float scores out."""

    def __init__(self, path: str | Path, normalisation: dict | None = None, threads: int | None = None):
        self.interp, self.backend = load_interpreter(path, threads=threads)
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
        if self.out["dtype"] == np.float32:
            return y
        scale, zp = self.out["quantization"]
        return (y.astype(np.float32) - zp) * scale

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if images.shape[1:3] != self.input_size:
            raise ArtifactError(f"images are {images.shape[1:3]} but the artifact takes {self.input_size}")
        outs = []
        for img in images:
            self.interp.set_tensor(self.inp["index"], self._quantize_input(img)[None])
            self.interp.invoke()
            outs.append(self._dequantize_output(self.interp.get_tensor(self.out["index"])[0]))
        return np.stack(outs)

