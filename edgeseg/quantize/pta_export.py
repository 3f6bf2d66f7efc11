"""Export configurations of one trained PTA model (see :mod:`edgeseg.models.pta`).

- One .tflite with one signature per configuration: a tf.Module with a tf.function per
  configuration over the same Keras layers is saved and converted with
  ``from_saved_model(dir, signature_keys=[...])``; the weights are stored once and
  ``get_signature_runner(config)`` switches at run time.
- One .tflite per configuration for runtimes without signatures (benchmark_model, NNAPI
  tooling), each with its own manifest.
For int8 the representative dataset names the signature of every sample
(``yield key, {"image": x}``): with unnamed samples only one signature gets quantized.
The manifest lists each configuration with its parameters and MACs (counted from its
separate file).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..config import format_size, import_tf
from ..data.pipeline import normalise
from ..errors import QuantizeError
from ..fileio import releases_claims
from ..models.pta import check_config, config_model
from ..run import load_run_model, read_run_config
from ..runtime.modelinfo import model_info
from .ptq import (
    DEFAULT_HEAD,
    RECIPES,
    calibration_for,
    claim_output,
    convert,
    head_function,
    run_converter,
    write_artifact,
)


def _signature_function(tf, keras_model, spec, head: str):
    f = head_function(tf, keras_model, head)

    def run(image):
        return {head: f(image)}

    return tf.function(run, input_signature=[spec])


@releases_claims
def export_pta(
    run: str | Path,
    configs: list[str],
    recipe: str = "float32",
    calib=None,
    num_calib: int = 200,
    io: str = "int8",
    out: str | Path | None = None,
    seed: int = 0,
    progress=None,
    head: str = DEFAULT_HEAD,
    force: bool = False,
) -> dict:
    """Export ``configs`` of a PTA run: one multi-signature file (``out``, default
    ``RUN/artifacts/<model>_<HxW>_<recipe>_<CFG-CFG>.tflite``) and one file per configuration
    beside it (``<stem>_<CFG>.tflite``, or ``<out stem>_<CFG>.tflite``)."""
    # long: the PTA export is one sequence (build the tf.Module, convert, quantize, check, write), each step short
    if recipe not in ("float32", "dynamic", "float16", "int8"):
        raise QuantizeError(f"PTA export supports float32, dynamic, float16 and int8, not {recipe}")
    run = Path(run)
    configs = [check_config(c) for c in configs]
    if len(set(configs)) != len(configs):
        raise QuantizeError(f"--pta-configs lists a configuration twice: {','.join(configs)}")
    cfg = read_run_config(run)
    if cfg.get("model") != "unet-pta":
        raise QuantizeError(f"{run} trained '{cfg.get('model')}', not unet-pta: --pta-configs needs a PTA run")
    needs_calib = RECIPES[recipe].needs_calibration
    if not needs_calib:
        io = "float"
    size = tuple(cfg["input_size"])
    suffix = recipe if head == DEFAULT_HEAD else f"{recipe}_{head}"
    if out:
        multi_path = Path(out)
        stem = multi_path.stem
    else:
        stem = f"{cfg['model']}_{format_size(size)}_{suffix}"
        multi_path = run / "artifacts" / f"{stem}_{'-'.join(configs)}.tflite"
    separate_paths = {c: multi_path.parent / f"{stem}_{c}.tflite" for c in configs}
    for path in [multi_path, *separate_paths.values()]:
        claim_output(path, force)
    model, cfg = load_run_model(run)
    if not hasattr(model, "pta_bank"):
        raise QuantizeError(f"{run} trained '{cfg['model']}', not unet-pta: --pta-configs needs a PTA run")
    tf = import_tf()
    images = calib_info = None
    warnings: list[str] = []
    if needs_calib:
        images, calib_info, warnings = calibration_for(cfg, calib, num_calib, seed)
    per_config = {}
    for c in configs:  # separate files first: they give each configuration's MACs
        f = separate_paths[c]
        cm = config_model(model, c)
        write_artifact(
            convert(cm, size, recipe, io, images, progress, head),
            f,
            cfg,
            recipe,
            io,
            head,
            calib_info,
            run,
            pta={"configs": [c]},
        )
        info = model_info(f)
        per_config[c] = {"file": f.name, "params": info["params"], "macs": info["macs"]}

    spec = tf.TensorSpec([1, *size, 3], tf.float32, name="image")
    module = tf.Module()
    module.shared_variables = list(model.variables)  # tracked once: every signature reads these
    signatures = {}
    for c in configs:
        cm = config_model(model, c)
        fn = _signature_function(tf, cm, spec, head)
        setattr(module, f"f_{c}", fn)
        signatures[c] = fn.get_concrete_function()
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures=signatures)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=configs)
        RECIPES[recipe].configure(tf, conv, io)
        if needs_calib:
            data = normalise(images)

            def representative():
                for img in progress(data, desc="calibrate (all signatures)", total=len(data)) if progress else data:
                    for c in configs:
                        yield c, {"image": img[None]}

            conv.representative_dataset = representative
        multi = run_converter(conv, "the multi-signature PTA model")
    macs = {c: per_config[c]["macs"] for c in configs}
    pta = {
        "signatures": configs,
        "configs": per_config,
        "lightest": min(macs, key=macs.get),
        "heaviest": max(macs, key=macs.get),
        "mac_saving_lightest_vs_heaviest": 1 - min(macs.values()) / max(macs.values()),
    }
    manifest = write_artifact(multi, multi_path, cfg, recipe, io, head, calib_info, run, pta=pta)
    return {
        "artifact": str(multi_path),
        "manifest": manifest,
        "separate": [str(p) for p in separate_paths.values()],
        "pta": pta,
        "warnings": warnings,
    }
