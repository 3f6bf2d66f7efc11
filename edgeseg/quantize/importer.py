"""`edgeseg import`: a model edgeseg did not train becomes an artifact like its own.

The source's format is a row of :data:`SOURCES` (its suffix -> how it becomes a .tflite);
then one reader turns the .tflite and what the user stated into the manifest: input size,
dtype and layout read from the file, normalisation stated, output kind read where it is
unambiguous (an integer map without a channel axis is an argmax) else stated, output stride
read from the shapes, classes from a file or a dataset, and the source's path, sha256 and
converter. What can be neither read nor was stated is an error naming the option.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifact import Manifest, check_tflite_file, claim_output, write_manifest
from ..errors import ArtifactError, QuantizeError, UsageError
from ..fileio import releases_claims
from ..iospec import UPSAMPLE, Normalisation


@dataclass(frozen=True)
class Source:
    """One source format: ``convert(model_path, stated, workdir) -> .tflite path`` and the
    distribution whose version is recorded as the converter (None: copied as it is)."""

    format: str
    convert: Callable
    converter: str | None
    description: str


def _copy(path: Path, stated, work: Path) -> Path:
    return check_tflite_file(path)


def _tf():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    return tf


def _fixed_size(shape, stated, what: str) -> tuple[int, int]:
    """The (H, W) of an image input: read from a static shape, else ``--input-size``."""
    layout = stated.layout or "nhwc"
    dims = list(shape)[2:4] if layout == "nchw" else list(shape)[1:3]
    if len(list(shape)) != 4:
        raise ArtifactError(f"{what} takes input {list(shape)}, not one image [1,H,W,3] or [1,3,H,W]")
    if all(d is not None and int(d) > 0 for d in dims):
        size = (int(dims[0]), int(dims[1]))
        if stated.input_size and tuple(stated.input_size) != size:
            raise UsageError(
                f"--input-size {stated.input_size[0]}x{stated.input_size[1]} but {what} takes {size[0]}x{size[1]}"
            )
        return size
    if not stated.input_size:
        raise UsageError(f"{what} takes any image size ({list(shape)}): pass --input-size HxW to fix one")
    return tuple(stated.input_size)


def _convert_tf(tf, fn, spec, work: Path) -> Path:
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function(spec)])
    try:
        data = conv.convert()
    except Exception as exc:
        raise QuantizeError(
            f"the LiteRT converter refused the model: {str(exc).strip().splitlines()[0][:300]}"
        ) from None
    out = work / "converted.tflite"
    out.write_bytes(data)
    return out


def _input_spec(tf, shape, stated, what):
    h, w = _fixed_size(shape, stated, what)
    dims = [1, 3, h, w] if stated.layout == "nchw" else [1, h, w, 3]
    return tf.TensorSpec(dims, tf.float32)


def _keras(path: Path, stated, work: Path) -> Path:
    tf = _tf()
    import tf_keras

    try:
        model = tf_keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise ArtifactError(
            f"tf_keras cannot load {path}: {str(exc).strip().splitlines()[0][:300]} (a model with custom layers "
            "needs them importable; or export a SavedModel and import that)"
        ) from None
    spec = _input_spec(tf, model.input_shape, stated, str(path))
    return _convert_tf(tf, tf.function(lambda x: model(x, training=False)), spec, work)


def _saved_model(path: Path, stated, work: Path) -> Path:
    tf = _tf()
    try:
        loaded = tf.saved_model.load(str(path))
        sig = loaded.signatures["serving_default"]
    except Exception as exc:
        raise ArtifactError(f"cannot load the SavedModel {path}: {str(exc).strip().splitlines()[0][:300]}") from None
    (name, tensor), *more = sig.structured_input_signature[1].items()
    if more:
        raise ArtifactError(f"{path}'s serving_default takes {1 + len(more)} inputs; edgeseg imports one image input")
    outs = list(sig.structured_outputs)
    if len(outs) != 1:
        raise ArtifactError(f"{path}'s serving_default has outputs {outs}; edgeseg imports one output")
    spec = _input_spec(tf, tensor.shape.as_list(), stated, str(path))
    return _convert_tf(tf, tf.function(lambda x: sig(**{name: x})[outs[0]]), spec, work)


def _torch(path: Path, stated, work: Path) -> Path:
    import sys

    if "tensorflow" in sys.modules and "litert_torch" not in sys.modules:
        # measured (torch 2.14.1, triton 3.8.0, TF 2.21): triton's native module segfaults when it
        # loads after TensorFlow's in one process; litert-torch first, TensorFlow after, works
        raise UsageError(
            "litert-torch cannot load after TensorFlow in one process (triton's native library crashes): "
            "run `edgeseg import` in a process of its own, or import litert_torch before tensorflow"
        )
    try:
        import litert_torch
        import torch
    except ImportError as exc:
        raise UsageError(
            f"importing a PyTorch model needs litert-torch ({exc.name} is not installed): "
            "pip install 'edgeseg[torch]' (see docs/byo-model.md for its install cost)"
        ) from None
    module, example = _torch_module(torch, path, stated)
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its progress lines are no output of ours (--json)
            edge = litert_torch.convert(module.eval(), (example,))
            out = work / "converted.tflite"
            edge.export(str(out))
    except Exception as exc:
        raise QuantizeError(
            f"litert-torch could not convert {path}: {str(exc).strip().splitlines()[0][:300]}"
        ) from None
    return out


def _torch_module(torch, path: Path, stated):
    """``(module, example input)``: a torch.export archive (.pt2) carries its example inputs;
    ``--entry module:function`` names a function returning both (MODEL: its folder or file)."""
    if stated.entry:
        import importlib
        import sys

        mod_name, _, fn_name = stated.entry.partition(":")
        folder = str(path if path.is_dir() else path.parent)
        sys.path.insert(0, folder)
        try:
            module, example = getattr(importlib.import_module(mod_name), fn_name)()
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            raise UsageError(
                f"--entry {stated.entry}: {exc} (it must return (torch.nn.Module, example input))"
            ) from None
        finally:
            sys.path.remove(folder)
        return module, example
    if path.suffix == ".pt2":
        ep = torch.export.load(str(path))
        return ep.module(), ep.example_inputs[0][0]
    raise UsageError(
        f"{path} is a pickled PyTorch file: pass --entry module:function returning (module, example input), "
        "or save a torch.export archive (.pt2)"
    )


#: onnx2tf checks its conversion on sample images it fetches from GitHub into its working folder
#: on first use; edgeseg keeps them here (offline: put the file there).
ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def _onnx_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg" / "onnx2tf"


def _onnx(path: Path, stated, work: Path) -> Path:
    """ONNX through onnx2tf, where it is installed: its declared pins (tensorflow 2.19, numpy
    1.26) conflict with edgeseg's, so it is no extra; installed with --no-deps it converted our
    test nets under tensorflow 2.21 (docs/byo-model.md). Its output is NHWC: the layout is read."""
    try:
        import onnx2tf
    except ImportError:
        raise UsageError(
            "importing ONNX needs onnx2tf, which is no edgeseg extra (its pins, tensorflow 2.19 and numpy 1.26, "
            "conflict with ours): pip install --no-deps onnx2tf && pip install onnx onnxruntime onnx-graphsurgeon "
            "sng4onnx psutil (docs/byo-model.md#onnx), or convert it to .tflite elsewhere and import that"
        ) from None
    import contextlib
    import io

    cached = _onnx_cache() / ONNX2TF_SAMPLE
    if cached.is_file():
        shutil.copyfile(cached, work / ONNX2TF_SAMPLE)
    out_dir, here = work / "onnx2tf", os.getcwd()
    os.chdir(work)  # onnx2tf reads and writes its sample images in the working folder
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            onnx2tf.convert(
                input_onnx_file_path=str(path.resolve()),
                output_folder_path=str(out_dir),
                not_use_onnxsim=True,
                non_verbose=True,
            )
    except Exception as exc:
        offline = "github.com" in str(exc) or type(exc).__name__ == "ConnectionError"
        raise QuantizeError(
            f"onnx2tf cannot fetch its sample images ({ONNX2TF_SAMPLE}) from GitHub: put that file in {cached.parent}"
            if offline
            else f"onnx2tf could not convert {path}: {str(exc).strip().splitlines()[0][:300]}"
        ) from None
    finally:
        os.chdir(here)
    if (work / ONNX2TF_SAMPLE).is_file() and not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / ONNX2TF_SAMPLE, cached)
    found = sorted(out_dir.glob("*_float32.tflite"))
    if not found:
        raise QuantizeError(f"onnx2tf wrote no float32 .tflite for {path} (in {out_dir})")
    return found[0]


#: Source formats by suffix (a folder holding saved_model.pb is "savedmodel").
SOURCES: dict[str, Source] = {
    ".tflite": Source("tflite", _copy, None, "taken as it is (float32, float16, dynamic or int8)"),
    ".keras": Source("keras", _keras, "tensorflow", "tf_keras model, converted with the LiteRT converter"),
    ".h5": Source("keras", _keras, "tensorflow", "tf_keras HDF5 model, converted with the LiteRT converter"),
    "savedmodel": Source("savedmodel", _saved_model, "tensorflow", "SavedModel folder (serving_default)"),
    ".pt2": Source("torch", _torch, "litert-torch", "torch.export archive, converted with litert-torch"),
    ".py": Source("torch", _torch, "litert-torch", "a script: --entry module:function returns (module, example)"),
    ".pt": Source("torch", _torch, "litert-torch", "with --entry module:function"),
    ".onnx": Source("onnx", _onnx, "onnx2tf", "ONNX, converted with onnx2tf where installed (no extra: see docs)"),
}


def source_of(path: Path, entry: str | None) -> Source:
    if path.is_dir():
        key = "savedmodel" if (path / "saved_model.pb").is_file() else (".py" if entry else None)
    else:
        key = path.suffix.lower()
    if key not in SOURCES:
        raise ArtifactError(
            f"{path} is not a model edgeseg imports: "
            + ", ".join(k for k in SOURCES if k.startswith("."))
            + " files, or a SavedModel folder"
        )
    return SOURCES[key]


def source_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _version(dist: str | None) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist) if dist else None
    except metadata.PackageNotFoundError:
        return None


# -- reading the .tflite --------------------------------------------------------------------


def _q(detail) -> dict | None:
    scale, zp = detail.get("quantization", (0.0, 0))
    return {"scale": float(scale), "zero_point": int(zp)} if scale else None


def input_layout(shape, stated: str | None, what) -> str:
    """The input's layout: stated, else read from where the 3 channels are (an error when both
    or neither axis could be them)."""
    shape = [int(v) for v in shape]
    if len(shape) != 4:
        raise ArtifactError(f"{what} takes input {shape}, not one image [1,H,W,3] or [1,3,H,W]")
    fits = [k for k, axis in (("nhwc", 3), ("nchw", 1)) if shape[axis] == 3]
    if stated:
        if stated not in fits:
            raise ArtifactError(f"{what} takes input {shape}, not a {stated.upper()} RGB image: check --layout")
        return stated
    if len(fits) != 1:
        raise UsageError(f"{what} takes input {shape}: pass --layout nhwc or --layout nchw")
    return fits[0]


def output_rule(out: dict, in_size: tuple[int, int], layout: str, stated, what) -> dict:
    """The manifest's output entry: kind (read for integer maps without a channel axis, else
    stated), layout (the one whose spatial axes fit the input), stride (read from the shapes)."""
    shape = [int(v) for v in out["shape"]]
    dtype = np.dtype(out["dtype"])
    integer_map = dtype.kind in "iu" and not _q(out)
    if len(shape) == 3:
        kind = stated.output or ("argmax" if integer_map else None)
        if kind is None:
            raise UsageError(f"{what} outputs {shape} {dtype.name}: pass --output argmax if it is a class map")
        if kind != "argmax":
            raise ArtifactError(
                f"{what} outputs {shape} (no class axis): that is a class map, not {kind}; pass --output argmax"
            )
        spatial = {layout: (shape[1], shape[2])}
    elif len(shape) == 4:
        kind = stated.output
        if kind is None:
            raise UsageError(
                f"{what} outputs {shape} {dtype.name}: edgeseg cannot tell scores from a class map; "
                "pass --output logits|probabilities|argmax"
            )
        spatial = {"nhwc": (shape[1], shape[2]), "nchw": (shape[2], shape[3])}
    else:
        raise ArtifactError(f"{what} outputs {shape}: not a segmentation map [1,H,W,C], [1,C,H,W] or [1,H,W]")
    strides = {k: _stride(hw, in_size, stated.output_stride) for k, hw in spatial.items()}
    fitting = [k for k, s in strides.items() if s]
    if not fitting:
        raise ArtifactError(
            f"{what} outputs {shape} for a {in_size[0]}x{in_size[1]} input: no layout gives a map at the input "
            f"size or an integer stride{' ' + str(stated.output_stride) if stated.output_stride else ''}; check "
            "--output-stride and --layout"
        )
    out_layout = layout if layout in fitting else fitting[0]  # both fit: the input's (stated or read) layout
    if kind == "argmax" and len(shape) == 4 and (shape[3] if out_layout == "nhwc" else shape[1]) != 1:
        raise ArtifactError(f"{what} outputs {shape}: an argmax map has one channel; check --output")
    return {
        "name": out["name"],
        "kind": kind,
        "layout": out_layout,
        "stride": strides[out_layout],
        "upsample": UPSAMPLE[kind],
        "shape": shape,
        "dtype": dtype.name,
        "quantization": _q(out),
    }


def _stride(hw, in_size, stated: int | None) -> int | None:
    """The stride at which ``hw`` is a map of an ``in_size`` image (ceil or floor of size / s)."""
    candidates = [stated] if stated else sorted({in_size[0] // max(hw[0], 1), -(-in_size[0] // max(hw[0], 1))})
    for s in candidates:
        if s and all(n in (full, -(-full // s), full // s) for n, full in zip(hw, in_size)):
            return s if (hw[0], hw[1]) != tuple(in_size) else 1
    return None


def recipe_of_file(interp, inp, out) -> str:
    """float32, float16, dynamic or int8, from the tensors and ops of the file."""
    from ..runtime.interpreter import op_names

    dtypes = {np.dtype(d["dtype"]) for d in interp.get_tensor_details()}
    ops = set(op_names(interp))
    if np.dtype(inp["dtype"]).kind in "iu" and _q(inp) or "QUANTIZE" in ops and np.dtype(np.int8) in dtypes:
        return "int8"
    if np.dtype(np.int8) in dtypes:
        return "dynamic"
    if np.dtype(np.float16) in dtypes:
        return "float16"
    return "float32"


def read_classes(stated) -> tuple[list[str], list | None]:
    """Class names (and colours) from ``--classes FILE`` (one name a line, or name,r,g,b) or a dataset."""
    if stated.classes and stated.classes_from:
        raise UsageError("--classes and --classes-from both name the classes: pass one")
    if stated.classes_from:
        from ..data.formats import open_dataset

        ds = open_dataset(stated.classes_from)
        return list(ds.class_names), [list(c) for c in ds.colours] if ds.colours else None
    if not stated.classes:
        raise UsageError("pass --classes FILE (one name a line, or name,r,g,b) or --classes-from DATASET")
    path = Path(stated.classes)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--classes {path}: cannot read it ({exc})", param="--classes") from None
    if lines and lines[0].lower().replace(" ", "") == "name,r,g,b":
        lines = lines[1:]
    names, colours = [], []
    for n, line in enumerate(lines, 1):
        parts = [p.strip() for p in line.split(",")]
        names.append(parts[0])
        if len(parts) == 4:
            try:
                rgb = [int(v) for v in parts[1:]]
            except ValueError:
                rgb = [-1]
            if not all(0 <= v <= 255 for v in rgb):
                raise UsageError(f"--classes {path}: line {n} {line!r}: colours are 0..255 integers", param="--classes")
            colours.append(rgb)
        elif len(parts) != 1:
            raise UsageError(f"--classes {path}: line {n} {line!r}: expected a name or name,r,g,b", param="--classes")
    if not names:
        raise UsageError(f"--classes {path} holds no class names", param="--classes")
    if colours and len(colours) != len(names):
        raise UsageError(f"--classes {path}: give a colour for every class or for none", param="--classes")
    return names, colours or None


def describe_import(tflite: Path, stated, norm: Normalisation, what=None) -> dict:
    """The manifest fields of an imported .tflite: what the file shows plus what was stated
    (``what`` names the model in messages: the source, not a converter's temporary file)."""
    from ..runtime.interpreter import load_interpreter

    interp, _ = load_interpreter(tflite)
    tflite = what or tflite
    ins, outs = interp.get_input_details(), interp.get_output_details()
    if len(ins) != 1:
        raise ArtifactError(f"{tflite} takes {len(ins)} inputs; edgeseg imports models with one image input")
    inp, out = ins[0], outs[0]
    if len(outs) > 1 and stated.output is None:
        raise UsageError(
            f"{tflite} has {len(outs)} outputs; edgeseg scores the first: pass --output to confirm its kind"
        )
    if any(int(d) < 0 for d in inp.get("shape_signature", inp["shape"])):  # benchmark_model needs a fixed size too
        raise ArtifactError(
            f"{tflite} takes any image size ({[int(d) for d in inp['shape_signature']]}): export it at a fixed "
            "size (or import its Keras, SavedModel or PyTorch source with --input-size HxW)"
        )
    layout = input_layout(inp["shape"], stated.layout, tflite)
    shape = [int(v) for v in inp["shape"]]
    in_size = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    if stated.input_size and tuple(stated.input_size) != in_size:
        raise UsageError(
            f"--input-size {stated.input_size[0]}x{stated.input_size[1]} but {tflite} takes {in_size[0]}x{in_size[1]}"
        )
    output = output_rule(out, in_size, layout, stated, tflite)
    classes, colours = read_classes(stated)
    n_out = None if output["kind"] == "argmax" else output["shape"][1 if output["layout"] == "nchw" else 3]
    if n_out is not None and n_out != len(classes):
        raise UsageError(f"{tflite} outputs {n_out} classes but {len(classes)} class names were given (--classes)")
    return {
        "model": "imported",
        "input": {
            "name": inp["name"],
            "shape": shape,
            "dtype": np.dtype(inp["dtype"]).name,
            "normalisation": norm.to_manifest(),
            "quantization": _q(inp),
            "resize": "letterbox",
            "layout": layout,
        },
        "output": output,
        "classes": classes,
        "colours": colours,
        "recipe": recipe_of_file(interp, inp, out),
        "signatures": {k: dict(v) for k, v in interp.get_signature_list().items()},
    }


@releases_claims
def import_model(stated, norm: Normalisation | None) -> dict:
    """Write ``stated.out`` (the .tflite, copied or converted) and its manifest."""
    src_path = Path(stated.model)
    if not src_path.exists():
        raise ArtifactError(f"{src_path} does not exist")
    source = source_of(src_path, stated.entry)
    if stated.entry and source.format != "torch":
        raise UsageError(f"--entry names a PyTorch function; {src_path} is a {source.format} model", param="--entry")
    if norm is None:
        raise UsageError(
            f"{src_path.name}: the input normalisation cannot be read from a model file: pass --normalize "
            "unit|imagenet|minus1to1, or --mean R,G,B --std R,G,B"
        )
    out = claim_output(stated.out, stated.force)
    with tempfile.TemporaryDirectory(prefix="edgeseg-import-") as tmp:
        tflite = source.convert(src_path, stated, Path(tmp))
        what = src_path.name if source.converter is None else f"{src_path.name} (converted)"
        fields = describe_import(tflite, stated, norm, what)
        signatures = fields.pop("signatures")
        if Path(tflite).resolve() != out.resolve():
            part = out.with_name(f".{out.name}.part")
            shutil.copyfile(tflite, part)
            os.replace(part, out)
    imported = {
        "path": str(src_path.resolve()),
        "sha256": source_digest(src_path),
        "format": source.format,
        "converter": source.converter,
        "converter_version": _version(source.converter),
        "signatures": signatures,
        "stated": {k: v for k, v in stated.stated_options().items() if v is not None},
    }
    manifest = write_manifest(out, imported=imported, **fields)
    return {"artifact": str(out), "manifest": manifest, "source": source.format}


# -- quantizing an imported float .tflite ------------------------------------------------------


@releases_claims
def quantize_artifact(
    path: str | Path,
    recipe: str,
    calib: str | None,
    num_calib: int,
    io: str = "int8",
    out: str | Path | None = None,
    force: bool = False,
    seed: int = 0,
    progress=None,
) -> dict:
    """int8 PTQ of a float32 .tflite with a manifest (an imported one): ai-edge-quantizer on
    the file itself, calibrated with images preprocessed by the manifest's own input rule."""
    from ..artifact import read_manifest, verify_manifest
    from ..data.pipeline import calibration_images
    from ..runtime.tensors import normalise_pixels
    from .aeq import quantize_int8_aeq
    from .ptq import check_calibration_count, ptq_tool_version

    path = check_tflite_file(path)
    manifest = read_manifest(path, required=True)
    if manifest.sha256:
        verify_manifest(path, manifest)
    if recipe != "int8":
        raise UsageError(
            f"--{recipe} of a .tflite is not offered: edgeseg quantizes a float .tflite to --int8 (ai-edge-quantizer); "
            "for other recipes import the Keras/SavedModel source and convert it yourself"
        )
    if manifest.recipe not in (None, "float32"):
        raise QuantizeError(f"{path} is already {manifest.recipe}: quantize a float32 artifact")
    if not calib:
        raise UsageError(
            f"{path.name} has no run folder to take calibration images from: pass --calib DIR", param="--calib"
        )
    if io not in ("int8", "float"):
        raise UsageError(f"--io {io}: a .tflite is quantized with ai-edge-quantizer, which writes int8 or float I/O")
    layout, inp = manifest.layout, dict(manifest.input or {})
    shape = list(inp.get("shape") or [])
    size = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    out = claim_output(out or path.with_name(f"{path.stem}_int8.tflite"), force)
    images = calibration_images(Path(calib), size, manifest.resize, num_calib, seed)
    warnings = check_calibration_count(len(images), calib)
    x = normalise_pixels(images, manifest.normalisation)
    if layout == "nchw":
        x = np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    from ..iospec import input_range

    t0 = __import__("time").perf_counter()
    data = quantize_int8_aeq(path.read_bytes(), x, input_range(manifest.normalisation), io, progress)
    seconds = round(__import__("time").perf_counter() - t0, 2)
    part = out.with_name(f".{out.name}.part")
    part.write_bytes(data)
    os.replace(part, out)
    fields = _requantized_fields(out, manifest)
    manifest = write_manifest(
        out,
        **fields,
        recipe="int8",
        io=io,
        calibration={"source": str(Path(calib).resolve()), "count": len(images), "seed": seed},
        ptq={"tool": "aeq", "version": ptq_tool_version("aeq"), "seconds": seconds},
        source_checkpoint=str(path.resolve()),
    )
    return {"artifact": str(out), "manifest": manifest, "warnings": warnings}


def _requantized_fields(out: Path, source: Manifest) -> dict:
    """The source manifest's input/output rules, classes and provenance, with the new file's
    tensor types and quantization."""
    from ..runtime.interpreter import load_interpreter

    interp, _ = load_interpreter(out)
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    new_in = {**(source.input or {}), "dtype": np.dtype(inp["dtype"]).name, "quantization": _q(inp)}
    new_out = {**(source.output or {}), "dtype": np.dtype(outp["dtype"]).name, "quantization": _q(outp)}
    keep = {k: getattr(source, k) for k in ("model", "model_config", "classes", "colours", "imported", "training_data")}
    return {**{k: v for k, v in keep.items() if v is not None}, "input": new_in, "output": new_out}
