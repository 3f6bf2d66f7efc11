"""The `edgeseg` command: a thin click layer over the public API (:mod:`edgeseg.api`).

Each command parses its options, builds the API's config, makes that one call and prints
the result. Choices and their ``--help`` lists are read from the library's tables. TensorFlow
is only imported by commands that train, convert or evaluate Keras checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path

import click

from . import api
from .config import format_size, parse_size
from .data.pipeline import AUGMENTATIONS, RESIZE_MODES
from .data.synth import IMAGE_FORMATS, SYNTH_SIZE
from .device.profiles import TRANSPORTS
from .errors import EdgesegError, TrainInterrupted, UsageError
from .models.registry import DEFAULT_MODEL, MODELS
from .quantize.ptq import HEADS, IO_TYPES, PTQ_TOOLS, RECIPES
from .runtime.hostbench import HOST_DELEGATES
from .training.losses import LOSSES
from .training.recipe import SCHEDULES
from .version import __version__


class EdgesegGroup(click.Group):
    """Turns the library's errors into one line: a usage error exits 2, Ctrl-C 130, any other
    :class:`EdgesegError` 1. Anything else is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TrainInterrupted as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(130)  # the shell's code for "stopped by Ctrl-C"
        except UsageError as exc:
            if exc.param:
                raise click.BadParameter(str(exc), param_hint=exc.param) from None
            raise click.UsageError(str(exc)) from None
        except EdgesegError as exc:
            raise click.ClickException(str(exc)) from None


def _progress(quiet: bool = False):
    from .progress import bar  # noqa: PLC0415

    return None if quiet else bar()


def _size(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_size(value)
    except EdgesegError as exc:
        raise click.BadParameter(str(exc)) from None


def _given(ctx, name: str) -> bool:
    """Whether option ``name`` was set on the command line (or its environment variable)."""
    from click.core import ParameterSource  # noqa: PLC0415

    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _choices(table) -> click.Choice:
    return click.Choice(list(table))


def _listing(table) -> str:
    return ", ".join(table)


def _finite(ctx, param, value):
    """A float option's callback that refuses nan and inf (click's FloatRange lets both through)."""
    if value is not None and (value != value or value in (float("inf"), float("-inf"))):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj.to_dict() if isinstance(obj, api.Result) else obj, indent=2, default=_json_default))


def _json_default(o):
    import numpy as np  # noqa: PLC0415

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def _err(message: str) -> None:
    click.echo(message, err=True)


@click.group(cls=EdgesegGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeseg")
@click.option("-v", "--verbose", is_flag=True,
              help="Show library log messages and TensorFlow's native logs (otherwise kept in "
                   "~/.cache/edgeseg/native.log).")
def main(verbose: bool) -> None:
    """edgeseg: train a segmenter, quantize it, run it on a phone, and measure latency,
    power and quality of the exact deployed artifact.

    Start with `edgeseg quickstart` (synthetic data, this host as the device)."""
    if not verbose:
        from .nativelog import quiet_native_logs  # noqa: PLC0415

        quiet_native_logs()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", module=r"(tensorflow|tf_keras|keras|tensorflow_model_optimization|absl)")
        for name in ("absl", "tensorflow", "h5py"):
            logging.getLogger(name).setLevel(logging.ERROR)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s")


# -- data -------------------------------------------------------------------------------


@main.group()
def data() -> None:
    """Datasets: synthesize lane scenes, inspect a dataset folder."""


@data.command("synth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--count", default=200, show_default=True, type=click.IntRange(1), help="Number of scenes.")
@click.option("--size", default=format_size(SYNTH_SIZE), show_default=True, callback=_size, help="HxW.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--val-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--format", "image_format", type=_choices(IMAGE_FORMATS), default=IMAGE_FORMATS[0], show_default=True,
              help="Image file format (masks are always PNG).")
@click.option("--force", is_flag=True, help="Replace the dataset already in OUT (its split folders and dataset.toml).")
def data_synth(out, count, size, seed, val_fraction, image_format, force) -> None:
    """Procedural road scenes with 6 lane classes, in the SegNet layout."""
    from .data.synth import synthesize  # noqa: PLC0415

    res = synthesize(out, count=count, size=size, seed=seed, val_fraction=val_fraction, image_format=image_format,
                     progress=_progress(), force=force)
    click.echo(f"wrote {res['train']} train + {res['val']} val scenes ({format_size(size)}, seed {seed}) to {out}")


@data.command("inspect")
@click.argument("dataset", type=click.Path())
@click.option("--max-per-split", type=click.IntRange(1), default=None, help="Scan at most this many samples per split.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def data_inspect(dataset, max_per_split, as_json) -> None:
    """Layout, class names, images per split and pixel share per class. Every image and
    mask is checked as `edgeseg train` checks it; exit status 1 names every bad file."""
    from .data.formats import class_pixel_share, open_dataset  # noqa: PLC0415

    ds = open_dataset(dataset)
    hist = class_pixel_share(ds, max_per_split=max_per_split, progress=_progress(as_json), check=True)
    if as_json:
        _echo_json({**ds.describe(), "pixel_share": hist["share"], "pixels": hist["pixels"],
                    "bad_files": [{"file": f, "error": e} for f, e in hist["bad"]]})
    else:
        click.echo(f"dataset  {ds.root}")
        click.echo(f"layout   {ds.layout} ({ds.mask_kind} masks, ignore index {ds.ignore_index})")
        click.echo("images   " + ", ".join(f"{k} {len(v)}" for k, v in ds.splits.items()))
        click.echo(f"classes  {ds.num_classes}")
        for i, name in enumerate(ds.class_names):
            click.echo(f"  {i:>3}  {name:<24} {100 * hist['share'][name]:6.2f} %")
        click.echo(f"  ign  {'<ignore>':<24} {100 * hist['share']['<ignore>']:6.2f} %")
    if hist["bad"]:
        for _, error in hist["bad"]:
            _err(f"bad file: {error}")
        raise click.ClickException(f"{len(hist['bad'])} bad file(s) in {ds.root}: `edgeseg train` stops at the first; "
                                   "fix or remove them, or train with --skip-bad to leave them out")


# -- train ------------------------------------------------------------------------------

_MODEL_OPTIONS = ("depth", "base", "l2", "encoder_weights", "freeze_encoder")
#: CLI option name -> TrainConfig field, where they differ.
_TRAIN_FIELDS = {"data_dir": "data", "decay": "decay_rate"}


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Dataset folder.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder to create (or resume).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help=f"{_listing(MODELS)} (the table: edgeseg/models/registry.py).")
@click.option("--input-size", default=None, callback=_size,
              help="HxW. Default: the model's (" + ", ".join(f"{k} {format_size(v.input_size)}"
                                                            for k, v in MODELS.items()) + ").")
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(1))
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True), callback=_finite,
              help="Peak learning rate of Adam (after the warm-up).")
@click.option("--schedule", type=_choices(SCHEDULES), default="constant", show_default=True,
              help="constant (with the EMA, the best measured at 35 CamVid epochs); cosine / poly: warm-up then decay "
                   "to the last step; exp: the seed's (x --decay every --decay-epochs).")
@click.option("--warmup-epochs", default=1.0, show_default=True, type=click.FloatRange(0), callback=_finite,
              help="Linear warm-up (cosine, poly).")
@click.option("--decay", default=0.8, show_default=True, type=click.FloatRange(0, 1, min_open=True), callback=_finite,
              help="--schedule exp: LR factor every --decay-epochs.")
@click.option("--decay-epochs", default=3.0, show_default=True, type=click.FloatRange(0, min_open=True), callback=_finite)
@click.option("--ema", default=0.99, show_default=True, type=click.FloatRange(0, 1, max_open=True), callback=_finite,
              help="Decay of the exponential moving average of the weights, the model that is validated, saved and "
                   "exported (0 = off: the raw weights).")
@click.option("--loss", type=_choices(LOSSES), default=None,
              help="ce = cross-entropy (+ L2 from --l2), dice = soft Dice, ce_dice = both, ohem = cross-entropy of "
                   "the hardest pixels. Default: the model's (" + ", ".join(f"{k} {v.loss}" for k, v in MODELS.items())
                   + ").")
@click.option("--class-weights", is_flag=True,
              help="Median-frequency (class-balanced) weights in the cross-entropy (ce, ce_dice).")
@click.option("--augment", default="flip", show_default=True,
              help=f"Comma list of {','.join(AUGMENTATIONS)}, or 'none'; 'default' = all {len(AUGMENTATIONS)} (scale: "
                   "random zoom 0.75-1.5x and crop; scale=MIN-MAX sets the range).")
@click.option("--resize", type=_choices(RESIZE_MODES), default=RESIZE_MODES[0], show_default=True)
@click.option("--depth", type=click.IntRange(1, 6), default=None, help="Encoder levels (default 4).")
@click.option("--base", type=click.IntRange(2), default=None, help="Width of the first level (default 16).")
@click.option("--l2", type=click.FloatRange(0), default=None, callback=_finite, help="L2 weight decay on conv kernels (default 1e-5).")
@click.option("--encoder-weights", type=str, default=None,
              help="unet-<encoder>: local .h5 of the encoder's no-top weights, or 'imagenet' (Keras download).")
@click.option("--freeze-encoder", is_flag=True, help="unet-<encoder>: train the decoder only.")
@click.option("--pta-sampling", default=None,
              help="unet-pta: configurations sampled per training step, CONFIG:WEIGHT,... (default: the seed's "
                   "HHH:0.45,LHH:0.15,HLH:0.15,HHL:0.15,LLL:0.10).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--limit", type=click.IntRange(1), default=None, help="Use at most N images per split.")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable or inconsistent files with a warning.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last finished epoch, with its own options (only --epochs "
                   "may change).")
@click.pass_context
def train(ctx, out, resume, **options) -> None:
    """Train a segmentation model; keeps best and last checkpoints and history.csv."""
    from .progress import StepReporter  # noqa: PLC0415

    model_options = {k: options.pop(k) for k in _MODEL_OPTIONS}
    if not model_options["freeze_encoder"]:
        model_options["freeze_encoder"] = None
    resuming = resume and (Path(out) / "config.json").is_file()
    # resuming: only the options given on the command line (the rest are the run's own, and the given ones must match)
    given = {_TRAIN_FIELDS.get(k, k): v for k, v in options.items() if not resuming or _given(ctx, k)}
    mo = {k: v for k, v in model_options.items() if v is not None and (not resuming or _given(ctx, k))}
    cfg = api.resume_config(out, **given, model_options=mo) if resuming \
        else api.TrainConfig(out=out, **given, model_options=mo)
    say = StepReporter()

    def on_epoch(r):
        say.line(f"epoch {r['epoch']}/{r['epochs']}  loss {r['loss']:.4f}  val mIoU {r['val_miou']:.4f}  "
                 f"dice {r['val_dice']:.4f}  acc {r['val_pixel_accuracy']:.4f}  {r['images_per_s']:.1f} img/s"
                 + ("  *best" if r["best"] else ""))

    try:
        res = api.train(cfg, resume=resume, on_epoch=on_epoch, on_batch=say.batch, progress=_progress())
    finally:
        say.close()
    click.echo(f"best val mIoU {res.best_val_miou:.4f} at epoch {res.best_epoch}; run in {res.run}")


# -- quantize ---------------------------------------------------------------------------


def _recipe_flags(f):
    """One flag per recipe of the table (--float32, --dynamic, ...), and --qat."""
    for name in reversed(api.RECIPE_CHOICES):
        text = RECIPES[name].description if name in RECIPES else \
            "Quantization-aware fine-tune of the float checkpoint (RUN/qat), then int8."
        f = click.option(f"--{name}", f"r_{name}", is_flag=True, help=text[0].upper() + text[1:] + ".")(f)
    return f


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@_recipe_flags
@click.option("--calib", type=click.Path(exists=True), default=None,
              help="Calibration images: a dataset (train split) or a folder of images. Default: the run's dataset.")
@click.option("--num-calib", default=None, type=click.IntRange(1),
              help=f"Calibration images to use (default {api.ExportConfig.DEFAULT_NUM_CALIB}).")
@click.option("--io", type=_choices(IO_TYPES), default=IO_TYPES[0], show_default=True,
              help="Input/output type of int8 recipes.")
@click.option("--head", type=_choices(HEADS), default="logits", show_default=True,
              help="; ".join(f"{k}: {v}" for k, v in HEADS.items()) + ".")
@click.option("--max-drop", type=click.FloatRange(0), default=None, callback=_finite,
              help="--int8 only: keep the most sensitive layers in float until the val mIoU drop vs float32 is at "
                   "most this many points (needs --data).")
@click.option("--data", "data_dir", type=click.Path(exists=True), default=None,
              help="Dataset for --max-drop evaluation and --qat fine-tuning (default for --qat: the run's).")
@click.option("--max-steps", default=8, show_default=True, type=click.IntRange(1), help="--max-drop: step limit.")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1), help="--qat: fine-tune epochs.")
@click.option("--lr", default=1e-4, show_default=True, type=click.FloatRange(0, min_open=True), callback=_finite,
              help="--qat: initial learning rate.")
@click.option("--resume", is_flag=True, help="--qat: continue RUN/qat from its last finished epoch.")
@click.option("--limit", type=click.IntRange(1), default=None, help="--qat/--max-drop: use at most N images per split.")
@click.option("--pta-configs", default=None,
              help="unet-pta runs: comma list of configurations (e.g. LLL,HLH,HHH,BBB) exported as one multi-signature "
                   ".tflite plus one file each.")
@click.option("--ptq", type=_choices(PTQ_TOOLS), default=None,
              help="--int8: calibrate with the TFLite converter (from the Keras model), or with ai-edge-quantizer "
                   "from the float32 .tflite (3x faster on CamVid, same mIoU). Default: aeq, or the converter for "
                   "--io uint8, --head argmax and graphs AEQ refuses (the manifest's ptq.tool says which).")
@click.option("--lint/--no-lint", default=True, show_default=True, help="Print the delegate lint after conversion.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output .tflite (default RUN/artifacts/). With --pta-configs: the multi-signature file; each "
                   "configuration's own file goes beside it as NAME_CFG.tflite.")
@click.option("--force", is_flag=True, help="Replace an existing artifact (and its manifest with recorded quality).")
@click.option("--json", "as_json", is_flag=True)
def quantize(run, as_json, data_dir, **options) -> None:
    """Export RUN's best checkpoint to .tflite with a manifest beside it (PTQ, accuracy-
    controlled int8 with --int8 --max-drop, or QAT with --qat)."""
    from .progress import StepReporter  # noqa: PLC0415

    chosen = [name for name in api.RECIPE_CHOICES if options.pop(f"r_{name}")]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join('--' + c for c in chosen)} are mutually exclusive: one recipe per "
                               "call (run `edgeseg quantize` once per recipe)")
    if not chosen:
        raise click.UsageError("choose a recipe: " + ", ".join("--" + r for r in api.RECIPE_CHOICES[:-1])
                               + f" or --{api.RECIPE_CHOICES[-1]}")
    cfg = api.ExportConfig(run=run, recipe=chosen[0], data=data_dir, **options)
    say = _err if not as_json else (lambda m: None)
    steps = StepReporter(enabled=not as_json)

    def on_epoch(r):
        steps.close()
        say(f"qat epoch {r['epoch']}/{r['epochs']}  loss {r['loss']:.4f}  val mIoU (fake-quant) {r['val_miou']:.4f}"
            f"  {r['images_per_s']:.1f} img/s{'  *best' if r['best'] else ''}")

    try:
        res = api.export(cfg, say=say, progress=_progress(as_json), on_epoch=on_epoch, on_batch=steps.batch)
    finally:
        steps.close()
    for w in res.warnings:
        _err(f"warning: {w}")
    if as_json:
        return _echo_json(res)
    pta = res.data.get("pta")
    if cfg.path == "pta":
        for c, v in pta["configs"].items():
            say(f"  {c}: {v['macs'] / 1e6:,.1f} M MACs, {v['params']:,} params  ({v['file']})")
        say(f"  lightest {pta['lightest']} needs {100 * pta['mac_saving_lightest_vs_heaviest']:.1f}% fewer MACs than "
            f"heaviest {pta['heaviest']}")
    m = res.manifest
    click.echo(f"{res.artifact}  ({m['size_bytes'] / 1024:.0f} KB, {m['recipe']}, input {m['input']['dtype']}, "
               f"output {m['output']['kind']} {m['output']['dtype']})")
    if cfg.lint:
        from .quantize.lint import format_lint  # noqa: PLC0415

        click.echo(format_lint(res.data["lint"], short=True))
        click.echo(f"(full report: edgeseg info {res.artifact} --delegates)")


@main.command("compile")
@click.argument("artifact", type=click.Path())
@click.option("--soc", "socs", multiple=True, required=True,
              help="Target SoC as LiteRT names it (MT6989 for the Dimensity 9300, SM8650, Tensor_G4, LNL, ...); "
                   "repeat for several.")
@click.option("--openvino-device", type=_choices(api.CompileConfig.OPENVINO_DEVICES), default="auto",
              show_default=True, help="Intel targets: the OpenVINO device to compile for (auto: the NPU when its "
                                      "compiler is installed, else the CPU plugin).")
@click.option("--force", is_flag=True, help="Replace an existing compiled file.")
@click.option("--json", "as_json", is_flag=True)
def compile_cmd(artifact, socs, openvino_device, force, as_json) -> None:
    """Compile an artifact ahead of time for NPU SoCs with LiteRT's compiler plugins; writes
    ARTIFACT_<target>.tflite and its manifest beside it (for `bench --delegate litert-npu`
    and `eval`)."""
    res = api.compile(api.CompileConfig(artifact=artifact, socs=socs, openvino_device=openvino_device, force=force))
    if as_json:
        _echo_json(res)
    else:
        for r in res.compiled:
            c = r["compiled"]
            left = ", ".join(f"{k} x{v}" for k, v in c["ops_left_on_cpu"].items()) or "none"
            click.echo(f"{r['artifact']}: {c['ops_compiled']}/{c['ops_total']} ops compiled for {c['manufacturer']} "
                       f"{c['soc']} in {c['partitions']} partition(s), left on the CPU: {left}; {c['seconds']:.1f} s"
                       + (f"; SDK {c['sdk']}" if c["sdk"] else ""))
            for n in r["notes"]:
                _err(f"note: {n}")
    for e in res.errors:
        _err(f"error: {e}")
    if res.errors:
        sys.exit(1)


# -- eval / info ------------------------------------------------------------------------


@main.command("eval")
@click.argument("target", type=click.Path(exists=True))
@click.option("--data", "data_dir", required=True, type=click.Path())
@click.option("--split", default="val", show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None)
@click.option("--limit", type=click.IntRange(1), default=None, help="Evaluate at most N images.")
@click.option("--skip-bad", is_flag=True)
@click.option("--signature", default=None,
              help="Multi-signature (PTA) artifact: evaluate this configuration only (default: every one).")
@click.option("--record/--no-record", default=None,
              help="Store the result in the artifact's manifest (where bench, report and select read quality). "
                   "Default: only for the val split of the dataset the model was trained on.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
def eval_cmd(target, data_dir, split, threads, limit, skip_bad, signature, record, as_json) -> None:
    """Quality of an artifact (LiteRT interpreter) or a run (Keras), at label resolution;
    every configuration of a multi-signature (PTA) artifact."""
    from .reporting.tables import format_table  # noqa: PLC0415

    res = api.evaluate(api.EvalConfig(target=target, data=data_dir, split=split, threads=threads, limit=limit,
                                      skip_bad=skip_bad, signature=signature, record=record),
                       progress=None if as_json else _progress())
    if as_json:
        return _echo_json(res)
    r = res.data
    if r.get("recorded") is False and r.get("record_note"):
        _err(f"note: {r['record_note']}")
    head = f"{r['artifact']} on {r['dataset']} [{split}], {r['images']} images ({r['backend']})"
    if res.signatures:
        click.echo(head + ", one row per configuration:")
        click.echo(format_table([{"signature": k, **v} for k, v in res.signatures.items()],
                                ["signature", "miou", "dice", "pixel_accuracy"], floats=4))
        return
    click.echo(head)
    click.echo(f"mIoU {r['miou']:.4f}  Dice {r['dice']:.4f}  pixel accuracy {r['pixel_accuracy']:.4f}")
    for name, v in r["per_class_iou"].items():
        click.echo(f"  {name:<24} IoU {'-' if v is None else f'{v:.4f}'}")


@main.command()
@click.argument("target", type=click.Path(exists=True))
@click.option("--delegates", is_flag=True,
              help="Per delegate (XNNPACK measured; GPU, NNAPI predicted) which ops run there, partitions, warnings.")
@click.option("--android-api", default=30, show_default=True, type=click.IntRange(27, 40),
              help="Android API level for the NNAPI prediction.")
@click.option("--json", "as_json", is_flag=True)
def info(target, delegates, android_api, as_json) -> None:
    """Parameters, MACs at the input size and ops of an artifact or run."""
    res = api.info(api.InfoConfig(target=target, delegates=delegates, android_api=android_api)).data
    if as_json:
        return _echo_json(res)
    click.echo(f"{res['path']}")
    click.echo(f"input {res['input']['shape']} {res['input']['dtype']}  output {res['output']['shape']} {res['output']['dtype']}")
    click.echo(f"params {res['params']:,}  MACs {res['macs']:,} ({res['gmacs']:.3f} G)  nodes {res['nodes']}")
    click.echo("ops    " + ", ".join(f"{k} x{v}" for k, v in res["ops"].items()))
    if res.get("signatures"):
        click.echo("signatures (one subgraph each; the counts above are the first subgraph's):")
        for s, v in res["signatures"].items():
            click.echo(f"  {s:<6} params {v['params']:,}  MACs {v['macs']:,} ({v['macs'] / 1e9:.3f} G)")
    if delegates:
        from .quantize.lint import format_lint  # noqa: PLC0415

        click.echo("delegates (primary subgraph):" if res.get("signatures") else "delegates:")
        click.echo(format_lint(res["lint"]))
        for sig, lint in res.get("lint_signatures", {}).items():
            if "error" in lint:
                click.echo(f"delegates of configuration {sig}: {lint['error']}")
            else:
                click.echo(f"delegates of configuration {sig} (its own file {Path(lint['artifact']).name}):")
                click.echo(format_lint(lint, short=True))


# -- devices / deploy / bench ---------------------------------------------------------------


def _device_options(f):
    f = click.option("--adb-key", "key", type=click.Path(dir_okay=False), default=None,
                     help="adb private key (default ~/.android/adbkey, created if missing).")(f)
    f = click.option("--address", default=None, help="HOST:PORT for tcp (overrides the profile).")(f)
    f = click.option("--transport", type=_choices(TRANSPORTS), default=None,
                     help="tcp: our ADB client to HOST:PORT; usb / adb-server: through the `adb` binary.")(f)
    f = click.option("--serial", default=None, help="Device serial when several are attached (or ANDROID_SERIAL).")(f)
    return f


def _push_bar(total, name):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"push {name}", leave=False, file=sys.stderr,
                disable=not sys.stderr.isatty())


def _adb_server_note(started: bool) -> None:
    """Say so when this command started Google's adb server: it keeps running afterwards."""
    from .device.session import ADB_SERVER_NOTE, adb_server_port, adb_server_running  # noqa: PLC0415

    if started and adb_server_running():
        _err("note: " + ADB_SERVER_NOTE.format(port=adb_server_port()))


@main.group(invoke_without_command=True)
@click.pass_context
def devices(ctx) -> None:
    """Device profiles and attached devices."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(devices_list)


@devices.command("list")
@click.option("--json", "as_json", is_flag=True)
def devices_list(as_json) -> None:
    """The profiles, and the devices attached to the adb server."""
    from .device.profiles import all_profiles  # noqa: PLC0415
    from .device.session import adb_server_running, describe_attached  # noqa: PLC0415

    profiles = all_profiles()
    was_running = adb_server_running()
    attached = describe_attached()
    if as_json:
        return _echo_json({"profiles": [{"name": p.name, "description": p.description, "transport": p.transport,
                                         "path": str(p.path)} for p in profiles], "attached": attached})
    click.echo("profiles:")
    for p in profiles:
        click.echo(f"  {p.name:<16} {p.transport:<10} {p.description}")
    click.echo("attached (adb server):" if attached else "attached: none (no device on the adb server, or adb is not "
               "installed; tcp profiles connect on use)")
    for d in attached:
        acc = ",".join(d.get("nnapi_accelerators") or []) or "unknown until a bench with --delegate nnapi"
        click.echo(f"  {d['serial']:<22} {d['state']:<8} {d.get('model', '')} | SoC {d.get('soc', '?')} | "
                   f"Android {d.get('android', '?')} | {d.get('abi', '?')} | NNAPI {acc}")
    _adb_server_note(not was_running)


@devices.command("show")
@click.argument("name")
@_device_options
@click.option("--probe", is_flag=True, help="Connect and read the device's properties.")
def devices_show(name, serial, transport, address, key, probe) -> None:
    """One profile (and with --probe the connected device: model, SoC, Android, ABI)."""
    from .device.profiles import load_profile  # noqa: PLC0415

    p = load_profile(name)
    click.echo(f"{p.name}: {p.description}\n  file       {p.path}\n  transport  {p.transport} {p.address or ''}")
    click.echo(f"  work dir   {p.work_dir}\n  runner     {p.runner}  threads {p.threads}  abi {p.abi}")
    for d in p.delegates.values():
        extra = f" accelerator={d.accelerator}" if d.accelerator else ""
        click.echo(f"  delegate   {d.name:<8} {' '.join(d.flags)}{extra}")
    click.echo(f"  power      {p.power.source} at {p.power.rate_hz:g} Hz, idle {p.power.idle_secs:g} s, "
               f"current {p.power.current_unit} sign {p.power.current_sign:+d}")
    if probe:
        with api.DeviceConfig(name, serial, transport, address, key).session() as s:
            info = s.getprops()
        click.echo(f"  device     {info['manufacturer']} {info['model']} ({info['serial']}), SoC {info['soc']}, "
                   f"Android {info['android']} (SDK {info['sdk']}), {info['abi']}")


@main.command()
@click.argument("artifact", type=click.Path())
@click.option("--device", required=True, help="Profile name or path to a profile .toml.")
@_device_options
def deploy(artifact, device, serial, transport, address, key) -> None:
    """Push an artifact and its manifest to the device's work dir, verified by sha256."""
    res = api.deploy(api.DeployConfig(device, serial, transport, address, key, artifact=artifact),
                     progress_factory=_push_bar)
    state = "already on the device (same sha256)" if res.skipped else f"pushed and verified ({res.attempts} attempt(s))"
    click.echo(f"{res.remote}: {state}, sha256 {res.sha256[:16]}")
    _adb_server_note(res.started_adb_server)


@main.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@click.option("--device", default="host", show_default=True, help="'host' or a device profile name/path.")
@click.option("--delegate", default=None,
              help=f"Comma list. Host: {_listing(HOST_DELEGATES)} (default xnnpack). Device: the profile's "
                   "(`edgeseg devices show NAME`; default all, litert-npu where the artifact is compiled for it).")
@click.option("--threads", default=None, type=click.IntRange(1),
              help=f"Default: {api.BenchConfig.HOST_THREADS} on the host, the profile's on devices.")
@click.option("--runs", default=50, show_default=True, type=click.IntRange(1))
@click.option("--min-secs", default=2.0, show_default=True, type=click.FloatRange(0), callback=_finite)
@click.option("--op-profile", is_flag=True, help="benchmark_model op profiling into ops.csv.")
@click.option("--power/--no-power", default=True, show_default=True, help="Sample power on the device.")
@click.option("--benchmark-binary", type=click.Path(dir_okay=False), default=None,
              help="benchmark_model built for the device's ABI (pushed once, cached by checksum). Default: the "
                   "profile's, else LiteRT's official nightly build for the device's ABI, downloaded once into "
                   "~/.cache/edgeseg/bin (URL and sha256 recorded in run.json).")
@click.option("--require-full-delegation", is_flag=True, help="Fail a delegate row unless it runs the whole graph.")
@_device_options
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where the report folder is created.")
@click.option("--no-report", is_flag=True, help="Do not write a report folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def bench(artifacts, delegate, no_report, as_json, **options) -> None:
    """Latency (and on devices power and energy) of each artifact, one row per delegate."""
    from .reporting.schema import NOISY_SPREAD  # noqa: PLC0415
    from .reporting.tables import format_table  # noqa: PLC0415

    cfg = api.BenchConfig(artifacts=artifacts, delegates=delegate, write_report=not no_report,
                          command=api.command_line(), **options)
    res = api.bench(cfg, say=_err, on_row=None if as_json else _bench_line, progress_factory=_push_bar)
    _adb_server_note(res.data["started_adb_server"])
    if as_json:
        _echo_json({"rows": res.rows, "power": res.power, "report": res.report})
    else:
        click.echo(format_table(res.rows, ["artifact", "delegate", "threads", "init_ms", "first_ms", "median_ms",
                                           "p5_ms", "p90_ms", "p95_ms", "runs", "delegated_ops", "total_ops",
                                           "partitions", "status"]))
        if res.power:
            click.echo(format_table(res.power, ["artifact", "delegate", "idle_mw", "run_mw", "energy_mj_per_inference",
                                                "energy_source", "samples", "charging", "status"]))
            for r in res.power:
                if r.get("source_note") and r.get("status") != "failed":
                    _err(f"power of {r['artifact']} on {r['delegate']} from {r['energy_source']}; not used: "
                         f"{r['source_note']}")
        if res.conditions:
            click.echo(f"conditions: {res.conditions}")
        if res.noisy:
            where = "this machine was busy" if cfg.device == "host" else "the device was busy or throttling"
            _err(f"warning: {len(res.noisy)} row(s) are noisy (p90 more than {NOISY_SPREAD:g}x the median: {where}): "
                 + ", ".join(f"{r['artifact']}/{r['delegate']}" for r in res.noisy[:6])
                 + "; compare them with care, or measure again on an idle machine with more --runs / --min-secs")
        for r in res.failed:
            _err(f"failed: {r['artifact']} on {r['delegate']}: {r.get('error')}")
        if res.report:
            click.echo(f"report: {res.report}")
    for r in res.failed_power:
        _err(f"power failed: {r['artifact']} on {r['delegate']}: {r.get('error')}")
    if not res.ok:
        _err(f"error: {res.failure_summary()}")
        sys.exit(1)


def _bench_line(row: dict) -> None:
    if row.get("status") == "failed":
        _err(f"bench {row['artifact']} on {row['delegate']}: failed")
    else:
        _err(f"bench {row['artifact']} on {row['delegate']}: median {row['median_ms']:.2f} ms "
             f"({row.get('runs')} runs, {row.get('status')})")


@main.command()
@click.argument("artifact", type=click.Path())
@click.option("--device", required=True, help="'host', a device profile name, or the device model in the reports.")
@click.option("--budget-ms", required=True, type=click.FloatRange(0, min_open=True), callback=_finite,
              help="Latency budget: median ms per inference.")
@click.option("--energy-budget-mj", type=click.FloatRange(0, min_open=True), default=None, callback=_finite,
              help="Energy budget: mJ per inference (device rows).")
@click.option("--delegate", default=None, help="Consider this delegate only (default: every measured one).")
@click.option("--report", "reports", default="reports", show_default=True, type=click.Path(),
              help="A report folder, or the folder of report folders written by `edgeseg bench`.")
@click.option("--json", "as_json", is_flag=True)
def select(artifact, device, budget_ms, energy_budget_mj, delegate, reports, as_json) -> None:
    """The best-quality configuration (and delegate) of ARTIFACT that fits the budget on
    DEVICE, from measured bench rows; prints the table it chose from. Exit status 1 when
    nothing fits."""
    from .reporting.select import SELECT_VIEW  # noqa: PLC0415
    from .reporting.tables import format_table  # noqa: PLC0415

    res = api.select(api.SelectConfig(artifact=artifact, device=device, budget_ms=budget_ms,
                                      energy_budget_mj=energy_budget_mj, delegate=delegate, reports=reports))
    if as_json:
        _echo_json(res)
    else:
        budget = f"{budget_ms:g} ms" + (f" and {energy_budget_mj:g} mJ" if energy_budget_mj is not None else "")
        click.echo(f"{Path(artifact).name} on {device}, budget {budget}; rows from {', '.join(res.reports)}")
        click.echo(format_table(res.rows, SELECT_VIEW, floats=3))
        c = res.chosen
        if c:
            energy = f", {float(c['energy_mj_per_inference']):.2f} mJ" \
                if c.get("energy_mj_per_inference") not in (None, "") else ""
            click.echo(f"selected: {c['artifact']} on {c['delegate']}: mIoU {float(c['miou']):.4f}, "
                       f"{float(c['median_ms']):.2f} ms{energy}")
    if not res.chosen:
        fastest = min((r for r in res.rows if r.get("median_ms") not in (None, "")),
                      key=lambda r: float(r["median_ms"]), default=None)
        hint = f" (fastest measured: {fastest['artifact']} on {fastest['delegate']}, " \
               f"{float(fastest['median_ms']):.2f} ms)" if fastest else ""
        _err(f"error: no configuration fits the budget{hint}")
        sys.exit(1)


# -- report / quickstart ----------------------------------------------------------------------


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--html", "with_html", is_flag=True, help="Also write one self-contained report.html.")
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where the merged report folder is created.")
def report(folders, with_html, reports) -> None:
    """Merge report folders (or a folder of them) into a summary table, PNG plots and HTML."""
    from .reporting.compose import SUMMARY_VIEW  # noqa: PLC0415
    from .reporting.tables import format_table  # noqa: PLC0415

    res = api.report(api.ReportConfig(folders=folders, reports=reports, html=with_html))
    click.echo(format_table(res.summary, SUMMARY_VIEW))
    cols, class_view = res.data["class_table"]
    if class_view:
        click.echo("\nper-class IoU (fractions; deltas against the float32 artifact of the same model):")
        click.echo(format_table(class_view, cols))
    for c in res.conditions:
        click.echo(f"conditions: {c}")
    for n in res.notes:
        _err(f"note: {n}")
    click.echo(f"report: {res.report} ({', '.join(res.files)})")


@main.command()
@click.option("--workdir", default="edgeseg-quickstart", show_default=True, type=click.Path(file_okay=False))
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--count", default=300, show_default=True, type=click.IntRange(20))
@click.option("--size", default=None, callback=_size,
              help=f"HxW. Default: {DEFAULT_MODEL}'s input size ({format_size(MODELS[DEFAULT_MODEL].input_size)}).")
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(1))
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True, type=int)
def quickstart(**options) -> None:
    """The whole flow on the embedded default: synthetic lanes, train, export float32 /
    dynamic / float16 / int8, evaluate and benchmark each on this host, write a report."""
    from .progress import StepReporter  # noqa: PLC0415
    from .flow import QuickstartConfig, quickstart as run_quickstart  # noqa: PLC0415
    from .reporting.compose import report_notes  # noqa: PLC0415
    from .reporting.tables import class_table, describe_conditions, format_table, read_report  # noqa: PLC0415

    steps = StepReporter()
    try:
        res = run_quickstart(QuickstartConfig(**options), log=steps.line, progress=_progress(), on_batch=steps.batch)
    finally:
        steps.close()
    rep = read_report(res.report)
    click.echo(format_table(res.summary, ["artifact", "size_kb", "delegate", "median_ms", "noisy",
                                          "latency_vs_float32", "miou", "miou_delta_vs_float32", "delegated_ops",
                                          "total_ops", "partitions", "status"]))
    cols, class_view = class_table(rep["per_class"])
    click.echo("\nper-class IoU on the synthetic val split (fractions; deltas against float32):")
    click.echo(format_table(class_view, cols))
    click.echo(f"conditions: {describe_conditions(rep['run'])}")
    for n in report_notes(rep["summary"], rep["power"], rep["per_class"]):
        click.echo(f"note: {n}")
    click.echo(f"total {res.timings['total_s']:.0f} s; report: {res.report}")


if __name__ == "__main__":  # pragma: no cover
    main()
