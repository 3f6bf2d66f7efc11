"""The `edgeseg` command: a thin click layer over the library.

Each command parses options, calls one library function and prints. TensorFlow is only
imported by commands that train, convert or evaluate Keras checkpoints.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import sys
import warnings
from pathlib import Path

import click

from .version import __version__
from .config import DEFAULT_INPUT_SIZE, format_size, parse_size
from .errors import EdgesegError


class EdgesegGroup(click.Group):
    """Turns :class:`EdgesegError` into a one-line error and exit status 1."""

    def invoke(self, ctx):
        from .errors import TrainInterrupted  # noqa: PLC0415

        try:
            return super().invoke(ctx)
        except TrainInterrupted as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(130)  # the shell's code for "stopped by Ctrl-C"
        except EdgesegError as exc:
            raise click.ClickException(str(exc)) from None


def _progress(ctx_quiet: bool = False):
    from .progress import bar  # noqa: PLC0415

    return None if ctx_quiet else bar()


def _size(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_size(value)
    except EdgesegError as exc:
        raise click.BadParameter(str(exc)) from None


def _given(ctx, name: str) -> bool:
    """Whether option ``name`` was set on the command line (or its environment variable),
    not left at its default."""
    from click.core import ParameterSource  # noqa: PLC0415

    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _delegate_list(text: str, known, where: str) -> list[str]:
    """``--delegate a,b`` checked against the delegates ``where`` has: a typo is a usage
    error with the nearest name, not a failed row."""
    names = [d.strip() for d in text.split(",") if d.strip()]
    if not names:
        raise click.BadParameter("name at least one delegate", param_hint="--delegate")
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise click.BadParameter(f"{where} has no delegate '{name}'{hint}; it has {', '.join(known)}",
                                     param_hint="--delegate")
    return names


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o):
    import numpy as np  # noqa: PLC0415

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def native_log_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg" / "native.log"


#: A filter process between file descriptor 2 and the terminal: every native line goes to
#: the log; the known chatter of TensorFlow, absl and the TFLite runtime stops there, the
#: rest (errors, a crash's last words) reaches the terminal, even when the process aborts.
_NATIVE_FILTER = r"""
import re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for edgeseg; the filter ends at EOF, after its last words
noise = re.compile(r"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ |E\d{4} .*(?:cuInit|cuda)|WARNING: All log messages "
                   r"before absl::InitializeLog|INFO: |fully_quantize: |Skipping the delay kernel)")
log = open(sys.argv[1], "w", errors="replace") if sys.argv[1] else None
for raw in sys.stdin.buffer:
    text = raw.decode("utf-8", "replace")
    if log:
        log.write(text)
        log.flush()
    if not noise.match(text):
        sys.stderr.write(text)
        sys.stderr.flush()
"""


def _quiet_native_logs() -> Path | None:
    """TensorFlow, absl and the TFLite runtime write INFO lines ("failed call to cuInit",
    "fully_quantize: ...", "Created TensorFlow Lite XNNPACK delegate") from C++ straight to
    file descriptor 2. Without -v, descriptor 2 goes through :data:`_NATIVE_FILTER` (all of
    it into the log file, only what is not known chatter to the terminal) while Python's
    stderr (errors, warnings, progress) goes to the terminal directly. Only for a real
    process whose stderr is descriptor 2 (not under a test runner)."""
    import atexit  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    try:
        if sys.stderr.fileno() != 2:
            return None
    except (AttributeError, ValueError, OSError):
        return None
    path = native_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    except OSError:
        path = None
    sys.stderr.flush()
    terminal = os.dup(2)
    try:
        proc = subprocess.Popen([sys.executable, "-c", _NATIVE_FILTER, str(path or "")], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=terminal, close_fds=True)
    except OSError:
        os.close(terminal)
        return None
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                           errors="backslashreplace")
    os.dup2(proc.stdin.fileno(), 2)
    proc.stdin.close()

    def finish():
        os.dup2(terminal, 2)  # the pipe's last writer goes: the filter reads EOF and ends
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()

    atexit.register(finish)
    return path


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
        _quiet_native_logs()
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
@click.option("--size", default=format_size(DEFAULT_INPUT_SIZE), show_default=True, callback=_size, help="HxW.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--val-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--format", "image_format", type=click.Choice(["png", "jpg"]), default="png", show_default=True,
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
            click.echo(f"bad file: {error}", err=True)
        raise click.ClickException(f"{len(hist['bad'])} bad file(s) in {ds.root}: `edgeseg train` stops at the first; "
                                   "fix or remove them, or train with --skip-bad to leave them out")


# -- train ------------------------------------------------------------------------------


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Dataset folder.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder to create (or resume).")
@click.option("--model", default="resunet", show_default=True,
              help="resunet, unet, unetpp, deeplabv3plus, unet-vgg16, unet-resnet50, unet-densenet121, "
                   "unet-mobilenetv2, unet-pta (the table: edgeseg/models/registry.py).")
@click.option("--input-size", default=format_size(DEFAULT_INPUT_SIZE), show_default=True, callback=_size)
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(1))
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Peak learning rate of Adam (after the warm-up).")
@click.option("--schedule", type=click.Choice(["cosine", "poly", "exp", "constant"]), default="constant",
              show_default=True, help="constant (with the EMA, the best measured at 35 CamVid epochs); cosine / poly: "
                                      "warm-up then decay to the last step; exp: the seed's (x --decay every "
                                      "--decay-epochs).")
@click.option("--warmup-epochs", default=1.0, show_default=True, type=click.FloatRange(0),
              help="Linear warm-up (cosine, poly).")
@click.option("--decay", default=0.8, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="--schedule exp: LR factor every --decay-epochs.")
@click.option("--decay-epochs", default=3.0, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--ema", default=0.99, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Decay of the exponential moving average of the weights, the model that is validated, saved and "
                   "exported (0 = off: the raw weights).")
@click.option("--loss", type=click.Choice(["ce", "dice", "ce_dice", "ohem"]), default=None,
              help="ce = cross-entropy (+ L2 from --l2), dice = soft Dice, ce_dice = both, ohem = cross-entropy of "
                   "the hardest pixels. Default: the model's (ohem for resunet, dice for unet-pta, ce otherwise).")
@click.option("--class-weights", is_flag=True,
              help="Median-frequency (class-balanced) weights in the cross-entropy (ce, ce_dice).")
@click.option("--augment", default="flip", show_default=True,
              help="Comma list of flip,brightness,noise,scale,color, or 'none'; 'default' = all five (scale: random "
                   "zoom 0.75-1.5x and crop; scale=MIN-MAX sets the range).")
@click.option("--resize", type=click.Choice(["letterbox", "stretch"]), default="letterbox", show_default=True)
@click.option("--depth", type=click.IntRange(1, 6), default=None, help="Encoder levels (default 4).")
@click.option("--base", type=click.IntRange(2), default=None, help="Width of the first level (default 16).")
@click.option("--l2", type=click.FloatRange(0), default=None, help="L2 weight decay on conv kernels (default 1e-5).")
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
def train(ctx, data_dir, out, model, input_size, epochs, batch, lr, schedule, warmup_epochs, decay, decay_epochs, ema,
          loss, class_weights, augment, resize, depth, base, l2, encoder_weights, freeze_encoder, pta_sampling, seed,
          limit, skip_bad, resume) -> None:
    """Train a segmentation model; keeps best and last checkpoints and history.csv."""
    from .models.registry import MODELS  # noqa: PLC0415
    from .training.loop import TrainConfig, train as run_train  # noqa: PLC0415

    if model not in MODELS:
        near = difflib.get_close_matches(model, list(MODELS), n=1)
        raise click.BadParameter(f"unknown model '{model}'{f' (did you mean {near[0]!r}?)' if near else ''}; "
                                 f"choose from {', '.join(MODELS)}", param_hint="--model")
    options = {k: v for k, v in (("depth", depth), ("base", base), ("l2", l2), ("encoder_weights", encoder_weights),
                                 ("freeze_encoder", True if freeze_encoder else None)) if v is not None}
    values = dict(data=data_dir, model=model, input_size=input_size, epochs=epochs, batch=batch, lr=lr,
                  schedule=schedule, warmup_epochs=warmup_epochs, ema=ema,
                  decay_rate=decay, decay_epochs=decay_epochs, loss=loss or MODELS[model].loss,
                  class_weights=class_weights, augment=augment, resize=resize, seed=seed, skip_bad=skip_bad,
                  limit=limit, model_options=options, pta_sampling=pta_sampling)
    if resume and (Path(out) / "config.json").is_file():
        # options left out take the run's own values; options given must match them (checked by train)
        from .training.loop import stored_train_config  # noqa: PLC0415

        stored = stored_train_config(out)
        param_of = {"data": "data_dir", "decay_rate": "decay", "model_options": None}
        for key, value in stored.items():
            if key in ("out", "epochs") or key not in values:
                continue
            if key == "model_options":
                given = {o for o in ("depth", "base", "l2", "encoder_weights", "freeze_encoder") if _given(ctx, o)}
                values[key] = {**value, **{k: v for k, v in options.items() if k in given}}
            elif key == "loss" and not _given(ctx, "loss"):
                values[key] = value
            elif not _given(ctx, param_of.get(key, key)):
                values[key] = value
    if values["class_weights"] and values["loss"] not in ("ce", "ce_dice"):
        raise click.UsageError(f"--class-weights weights the cross-entropy of --loss ce or ce_dice, and --loss "
                               f"{values['loss']} does not use them: use --loss ce or --loss ce_dice with "
                               "--class-weights, or drop --class-weights")
    cfg = TrainConfig(out=out, **values)
    from .progress import StepReporter  # noqa: PLC0415

    say = StepReporter()

    def on_epoch(r):
        mark = "  *best" if r["best"] else ""
        say.line(f"epoch {r['epoch']}/{r['epochs']}  loss {r['loss']:.4f}  val mIoU {r['val_miou']:.4f}  "
                 f"dice {r['val_dice']:.4f}  acc {r['val_pixel_accuracy']:.4f}  {r['images_per_s']:.1f} img/s{mark}")

    try:
        res = run_train(cfg, resume=resume, on_epoch=on_epoch, on_batch=say.batch, progress=_progress())
    finally:
        say.close()
    click.echo(f"best val mIoU {res['best_val_miou']:.4f} at epoch {res['best_epoch']}; run in {res['run']}")


# -- quantize ---------------------------------------------------------------------------


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--float32", "r_float32", is_flag=True, help="Plain float32 export.")
@click.option("--dynamic", "r_dynamic", is_flag=True, help="Dynamic-range (int8 weights).")
@click.option("--float16", "r_float16", is_flag=True, help="float16 weights.")
@click.option("--int8", "r_int8", is_flag=True, help="Full-integer int8 (calibrated).")
@click.option("--int16x8", "r_int16x8", is_flag=True, help="int16 activations, int8 weights (calibrated).")
@click.option("--qat", "r_qat", is_flag=True,
              help="Quantization-aware fine-tune of the float checkpoint (RUN/qat), then int8.")
@click.option("--calib", type=click.Path(exists=True), default=None,
              help="Calibration images: a dataset (train split) or a folder of images. Default: the run's dataset.")
@click.option("--num-calib", default=200, show_default=True, type=click.IntRange(1))
@click.option("--io", type=click.Choice(["int8", "uint8", "float"]), default="int8", show_default=True,
              help="Input/output type of int8 recipes.")
@click.option("--head", type=click.Choice(["probabilities", "logits", "argmax"]), default="logits",
              show_default=True, help="Exported output: softmax scores, logits, or a uint8 class map.")
@click.option("--max-drop", type=click.FloatRange(0), default=None,
              help="--int8 only: keep the most sensitive layers in float until the val mIoU drop vs float32 is at "
                   "most this many points (needs --data).")
@click.option("--data", "data_dir", type=click.Path(exists=True), default=None,
              help="Dataset for --max-drop evaluation and --qat fine-tuning (default for --qat: the run's).")
@click.option("--max-steps", default=8, show_default=True, type=click.IntRange(1), help="--max-drop: step limit.")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1), help="--qat: fine-tune epochs.")
@click.option("--lr", default=1e-4, show_default=True, type=click.FloatRange(0, min_open=True),
              help="--qat: initial learning rate.")
@click.option("--resume", is_flag=True, help="--qat: continue RUN/qat from its last finished epoch.")
@click.option("--limit", type=click.IntRange(1), default=None, help="--qat/--max-drop: use at most N images per split.")
@click.option("--pta-configs", default=None,
              help="unet-pta runs: comma list of configurations (e.g. LLL,HLH,HHH,BBB) exported as one multi-signature "
                   ".tflite plus one file each.")
@click.option("--ptq", type=click.Choice(["converter", "aeq"]), default=None,
              help="--int8: calibrate with the TFLite converter (from the Keras model), or with ai-edge-quantizer "
                   "from the float32 .tflite (3x faster on CamVid, same mIoU). Default: aeq, or the converter for "
                   "--io uint8, --head argmax and graphs AEQ refuses (the manifest's ptq.tool says which).")
@click.option("--lint/--no-lint", default=True, show_default=True, help="Print the delegate lint after conversion.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output .tflite (default RUN/artifacts/). With --pta-configs: the multi-signature file; each "
                   "configuration's own file goes beside it as NAME_CFG.tflite.")
@click.option("--force", is_flag=True, help="Replace an existing artifact (and its manifest with recorded quality).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quantize(ctx, run, r_float32, r_dynamic, r_float16, r_int8, r_int16x8, r_qat, calib, num_calib, io, head, max_drop,
             data_dir, max_steps, epochs, lr, resume, limit, pta_configs, ptq, lint, out, force, as_json) -> None:
    """Export RUN's best checkpoint to .tflite with a manifest beside it (PTQ, accuracy-
    controlled int8 with --int8 --max-drop, or QAT with --qat)."""
    chosen = [name for name, on in (("float32", r_float32), ("dynamic", r_dynamic), ("float16", r_float16),
                                    ("int8", r_int8), ("int16x8", r_int16x8), ("qat", r_qat)) if on]
    if not chosen:
        raise click.UsageError("choose a recipe: --float32, --dynamic, --float16, --int8, --int16x8 or --qat")
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join('--' + c for c in chosen)} are mutually exclusive: one recipe per "
                               "call (run `edgeseg quantize` once per recipe)")
    recipe = chosen[0]
    explicit = {name for name in ("calib", "num_calib") if _given(ctx, name)}
    if recipe == "qat" and explicit:
        raise click.UsageError(f"{' and '.join('--' + n.replace('_', '-') for n in sorted(explicit))} calibrate the PTQ "
                               "recipes; --qat learns its int8 ranges during the fine-tune and uses no calibration set")
    if recipe not in ("int8", "int16x8") and explicit:
        raise click.UsageError(f"--{recipe} needs no calibration: --calib/--num-calib are for --int8 and --int16x8")
    if ptq is not None and (recipe != "int8" or pta_configs or max_drop is not None):
        raise click.UsageError("--ptq chooses how plain --int8 is calibrated (not with --pta-configs or --max-drop)")
    if pta_configs and recipe == "qat":
        raise click.UsageError("--pta-configs exports a PTQ artifact (--int8, --float32, ...); QAT keeps no run-time "
                               "switch between configurations")
    if max_drop is not None and recipe != "int8":
        raise click.UsageError("--max-drop works with --int8")
    if max_drop is not None and data_dir is None:
        raise click.UsageError("--max-drop needs --data DATASET to measure the mIoU drop on")
    say = (lambda m: click.echo(m, err=True)) if not as_json else (lambda m: None)
    if recipe == "qat":
        from .quantize.qat import quantize_qat  # noqa: PLC0415

        from .progress import StepReporter  # noqa: PLC0415

        steps = StepReporter(enabled=not as_json)

        def on_epoch(r):
            steps.close()
            say(f"qat epoch {r['epoch']}/{r['epochs']}  loss {r['loss']:.4f}  val mIoU (fake-quant) {r['val_miou']:.4f}"
                f"  {r['images_per_s']:.1f} img/s{'  *best' if r['best'] else ''}")

        try:
            res = quantize_qat(run, epochs=epochs, lr=lr, io=io, head=head, out=out, data=data_dir, limit=limit,
                               resume=resume, on_epoch=on_epoch, progress=_progress(as_json), on_batch=steps.batch,
                               force=force)
        finally:
            steps.close()
    elif pta_configs:
        from .quantize.pta_export import export_pta  # noqa: PLC0415

        res = export_pta(run, pta_configs.split(","), recipe, calib=calib, num_calib=num_calib, io=io,
                         out=out, head=head, progress=_progress(as_json), force=force)
        for c, v in res["pta"]["configs"].items():
            say(f"  {c}: {v['macs'] / 1e6:,.1f} M MACs, {v['params']:,} params  ({v['file']})")
        say(f"  lightest {res['pta']['lightest']} needs {100 * res['pta']['mac_saving_lightest_vs_heaviest']:.1f}% "
            f"fewer MACs than heaviest {res['pta']['heaviest']}")
    elif max_drop is not None:
        from .quantize.controlled import controlled_int8  # noqa: PLC0415

        res = controlled_int8(run, data_dir, max_drop=max_drop, calib=calib, num_calib=num_calib, io=io, head=head,
                              out=out, limit=limit, max_steps=max_steps, say=say, progress=_progress(as_json),
                              force=force)
    else:
        from .quantize.ptq import DEFAULT_PTQ, quantize_run  # noqa: PLC0415

        res = quantize_run(run, recipe, calib=calib, num_calib=num_calib, io=io, out=out, progress=_progress(as_json),
                           head=head, force=force, ptq=ptq or DEFAULT_PTQ)
    for w in res["warnings"]:
        click.echo(f"warning: {w}", err=True)
    if lint:
        from .quantize.lint import format_lint, lint_artifact  # noqa: PLC0415

        res["lint"] = lint_artifact(res["artifact"])
    if as_json:
        _echo_json(res)
        return
    m = res["manifest"]
    click.echo(f"{res['artifact']}  ({m['size_bytes'] / 1024:.0f} KB, {m['recipe']}, input {m['input']['dtype']}, "
               f"output {m['output']['kind']} {m['output']['dtype']})")
    if lint:
        click.echo(format_lint(res["lint"], short=True))
        click.echo(f"(full report: edgeseg info {res['artifact']} --delegates)")


@main.command("compile")
@click.argument("artifact", type=click.Path())
@click.option("--soc", "socs", multiple=True, required=True,
              help="Target SoC as LiteRT names it (MT6989 for the Dimensity 9300, SM8650, Tensor_G4, LNL, ...); "
                   "repeat for several.")
@click.option("--openvino-device", type=click.Choice(["auto", "npu", "gpu", "cpu"]), default="auto", show_default=True,
              help="Intel targets: the OpenVINO device to compile for (auto: the NPU when its compiler is "
                   "installed, else the CPU plugin).")
@click.option("--force", is_flag=True, help="Replace an existing compiled file.")
@click.option("--json", "as_json", is_flag=True)
def compile_cmd(artifact, socs, openvino_device, force, as_json) -> None:
    """Compile an artifact ahead of time for NPU SoCs with LiteRT's compiler plugins; writes
    ARTIFACT_<target>.tflite and its manifest beside it (for `bench --delegate litert-npu`
    and `eval`)."""
    from .quantize.aot import compile_artifact  # noqa: PLC0415

    results, errors = [], []
    for soc in socs:
        try:
            res = compile_artifact(artifact, soc, force=force, openvino_device=openvino_device)
        except EdgesegError as exc:
            if len(socs) == 1:
                raise
            errors.append(f"{soc}: {exc}")
            continue
        results.append(res)
        if not as_json:
            c = res["compiled"]
            left = ", ".join(f"{k} x{v}" for k, v in c["ops_left_on_cpu"].items()) or "none"
            click.echo(f"{res['artifact']}: {c['ops_compiled']}/{c['ops_total']} ops compiled for {c['manufacturer']} "
                       f"{c['soc']} in {c['partitions']} partition(s), left on the CPU: {left}; {c['seconds']:.1f} s"
                       + (f"; SDK {c['sdk']}" if c["sdk"] else ""))
            for n in res["notes"]:
                click.echo(f"note: {n}", err=True)
    if as_json:
        _echo_json({"compiled": results, "errors": errors})
    for e in errors:
        click.echo(f"error: {e}", err=True)
    if errors:
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
    from .runtime.evaluate import evaluate  # noqa: PLC0415

    res = evaluate(target, data_dir, split, limit=limit, threads=threads, skip_bad=skip_bad,
                   progress=None if as_json else _progress(), signature=signature, record=record)
    if as_json:
        _echo_json(res)
        return
    if res.get("recorded") is False and res.get("record_note"):
        click.echo(f"note: {res['record_note']}", err=True)
    if "signatures" in res:
        click.echo(f"{res['artifact']} on {res['dataset']} [{split}], {res['images']} images ({res['backend']}), "
                   "one row per configuration:")
        click.echo(format_table([{"signature": k, **v} for k, v in res["signatures"].items()],
                                ["signature", "miou", "dice", "pixel_accuracy"], floats=4))
        return
    click.echo(f"{res['artifact']} on {res['dataset']} [{split}], {res['images']} images ({res['backend']})")
    click.echo(f"mIoU {res['miou']:.4f}  Dice {res['dice']:.4f}  pixel accuracy {res['pixel_accuracy']:.4f}")
    for name, v in res["per_class_iou"].items():
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
    import tempfile  # noqa: PLC0415

    from .runtime.modelinfo import model_info  # noqa: PLC0415

    path = Path(target)
    if delegates and path.is_dir():
        raise click.UsageError("--delegates reads an artifact: pass a .tflite (export one with `edgeseg quantize`)")
    if path.is_dir():
        from .quantize.ptq import convert  # noqa: PLC0415
        from .training.loop import load_run_model  # noqa: PLC0415

        model, cfg = load_run_model(path)
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "model.tflite"
            f.write_bytes(convert(model, tuple(cfg["input_size"]), "float32"))
            res = model_info(f)
        res.update(path=str(path), keras_params=int(model.count_params()), size_bytes=None)
    else:
        from .artifact import read_manifest, signatures_of  # noqa: PLC0415

        res = model_info(path)
        manifest = read_manifest(path)
        if signatures_of(manifest):  # the counts above are the primary subgraph's; each configuration's:
            res["signatures"] = {s: manifest["pta"]["configs"][s] for s in signatures_of(manifest)}
    if delegates:
        from .quantize.lint import lint_artifact  # noqa: PLC0415

        res["lint"] = lint_artifact(path, nnapi_api=android_api)
        if res.get("signatures"):
            from .quantize.lint import lint_signatures  # noqa: PLC0415

            res["lint_signatures"] = lint_signatures(path, manifest, nnapi_api=android_api)
    if as_json:
        _echo_json(res)
        return
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


def _session(device, serial, transport, address, key):
    from .device.profiles import load_profile  # noqa: PLC0415
    from .device.session import DeviceSession  # noqa: PLC0415

    return DeviceSession(load_profile(device), serial=serial, transport=transport, address=address, key_path=key)


def _device_options(f):
    f = click.option("--adb-key", "key", type=click.Path(dir_okay=False), default=None,
                     help="adb private key (default ~/.android/adbkey, created if missing).")(f)
    f = click.option("--address", default=None, help="HOST:PORT for tcp (overrides the profile).")(f)
    f = click.option("--transport", type=click.Choice(["tcp", "adb-server"]), default=None,
                     help="tcp: our ADB client to HOST:PORT; adb-server: through the `adb` binary (USB).")(f)
    f = click.option("--serial", default=None, help="Device serial when several are attached (or ANDROID_SERIAL).")(f)
    return f


def _push_bar(total, name):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"push {name}", leave=False, file=sys.stderr,
                disable=not sys.stderr.isatty())


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
    from .device.session import describe_attached  # noqa: PLC0415

    from .device.session import adb_server_running  # noqa: PLC0415

    profiles = all_profiles()
    was_running = adb_server_running()
    attached = describe_attached()
    if as_json:
        _echo_json({"profiles": [{"name": p.name, "description": p.description, "transport": p.transport,
                                  "path": str(p.path)} for p in profiles], "attached": attached})
        return
    click.echo("profiles:")
    for p in profiles:
        click.echo(f"  {p.name:<16} {p.transport:<10} {p.description}")
    click.echo("attached (adb server):" if attached else "attached: none (no device on the adb server, or adb is not installed; tcp "
               "profiles connect on use)")
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
        with _session(name, serial, transport, address, key) as s:
            info = s.getprops()
        click.echo(f"  device     {info['manufacturer']} {info['model']} ({info['serial']}), SoC {info['soc']}, "
                   f"Android {info['android']} (SDK {info['sdk']}), {info['abi']}")


@main.command()
@click.argument("artifact", type=click.Path())
@click.option("--device", required=True, help="Profile name or path to a profile .toml.")
@_device_options
def deploy(artifact, device, serial, transport, address, key) -> None:
    """Push an artifact and its manifest to the device's work dir, verified by sha256."""
    from .device.deploy import deploy as run_deploy  # noqa: PLC0415

    with _session(device, serial, transport, address, key) as s:
        res = run_deploy(s, artifact, _push_bar)
    state = "already on the device (same sha256)" if res["skipped"] else f"pushed and verified ({res['attempts']} attempt(s))"
    click.echo(f"{res['remote']}: {state}, sha256 {res['sha256'][:16]}")
    _adb_server_note(s.started_adb_server)


def _adb_server_note(started: bool) -> None:
    """Say so when this command started Google's adb server: it keeps running afterwards."""
    from .device.session import ADB_SERVER_NOTE, adb_server_port, adb_server_running  # noqa: PLC0415

    if started and adb_server_running():
        click.echo("note: " + ADB_SERVER_NOTE.format(port=adb_server_port()), err=True)


@main.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@click.option("--device", default="host", show_default=True, help="'host' or a device profile name/path.")
@click.option("--delegate", default=None, help="Comma list. Host: xnnpack,cpu. Device: cpu,xnnpack,gpu,nnapi.")
@click.option("--threads", default=None, type=click.IntRange(1), help="Default: 2 on the host, the profile's on devices.")
@click.option("--runs", default=50, show_default=True, type=click.IntRange(1))
@click.option("--min-secs", default=2.0, show_default=True, type=float)
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
def bench(artifacts, device, delegate, threads, runs, min_secs, op_profile, power, benchmark_binary,
          require_full_delegation, serial, transport, address, key, reports, no_report, as_json) -> None:
    """Latency (and on devices power and energy) of each artifact, one row per delegate."""
    from .artifact import artifact_sizes, quality_from_manifests
    from .runtime.hostbench import bench_rows  # noqa: PLC0415
    from .artifact import check_tflite_file  # noqa: PLC0415
    from .reporting.tables import describe_conditions, format_table, host_environment, load_average, write_report  # noqa: PLC0415

    paths = [check_tflite_file(a) for a in artifacts]
    power_rows, ops, trace, device_info = [], [], [], {"name": "host"}
    load_before = load_average()
    if device == "host":
        from .runtime.hostbench import HOST_DELEGATES  # noqa: PLC0415

        delegates = _delegate_list(delegate or "xnnpack", HOST_DELEGATES, "the host")
        threads = threads or 2
        rows = bench_rows(paths, "host", threads, runs, min_secs, delegates, say=None if as_json else _bench_line)
    else:
        from .device.bench import bench_device  # noqa: PLC0415
        from .device.profiles import load_profile  # noqa: PLC0415

        profile = load_profile(device)
        delegates = _delegate_list(delegate, profile.delegates, f"profile '{profile.name}'") if delegate \
            else _default_delegates(profile, paths)
        with _session(device, serial, transport, address, key) as s:
            res = bench_device(s, paths, delegates, threads, runs, min_secs, op_profile, power, benchmark_binary,
                               require_full_delegation, say=lambda m: click.echo(m, err=True),
                               progress_factory=_push_bar)
        _adb_server_note(s.started_adb_server)
        rows, power_rows, ops, trace, device_info = res["latency"], res["power"], res["ops"], res["trace"], res["device"]
    bench_info = {"threads": threads, "runs": runs, "min_secs": min_secs, "delegates": list(delegates),
                  "load_before": load_before, "load_after": load_average()}
    report = None
    if not no_report:
        from .version import __version__ as version  # noqa: PLC0415

        report = write_report(reports, f"bench_{device_info.get('profile', 'host')}", rows, quality_from_manifests(paths),
                              power=power_rows, ops=ops, trace=trace,
                              sizes=artifact_sizes(paths),
                              run_info={"command": " ".join(sys.argv), "device": device_info, "bench": bench_info,
                                        "runner_version": f"edgeseg {version}"})
    failed = [r for r in rows if r.get("status") == "failed"]
    failed_power = [r for r in power_rows if r.get("status") == "failed"]
    if as_json:
        _echo_json({"rows": rows, "power": power_rows, "report": str(report) if report else None})
    else:
        click.echo(format_table(rows, ["artifact", "delegate", "threads", "init_ms", "first_ms", "median_ms", "p5_ms",
                                       "p90_ms", "p95_ms", "runs", "delegated_ops", "total_ops", "partitions",
                                       "status"]))
        if power_rows:
            click.echo(format_table(power_rows, ["artifact", "delegate", "idle_mw", "run_mw", "energy_mj_per_inference",
                                                 "energy_source", "samples", "charging", "status"]))
            for r in power_rows:
                if r.get("source_note") and r.get("status") != "failed":
                    click.echo(f"power of {r['artifact']} on {r['delegate']} from {r['energy_source']}; not used: "
                               f"{r['source_note']}", err=True)
        if device == "host":
            click.echo(f"conditions: {describe_conditions({'host': host_environment(), 'bench': bench_info})}")
        _noisy_warning(rows, device == "host")
        for r in failed:
            click.echo(f"failed: {r['artifact']} on {r['delegate']}: {r.get('error')}", err=True)
        if report:
            click.echo(f"report: {report}")
    for r in failed_power:
        click.echo(f"power failed: {r['artifact']} on {r['delegate']}: {r.get('error')}", err=True)
    if failed or failed_power:
        what = []
        if failed:
            what.append(f"{len(failed)} of {len(rows)} row(s) failed ("
                        + ", ".join(f"{r['artifact']}/{r['delegate']}" for r in failed[:6])
                        + (", ..." if len(failed) > 6 else "") + ")")
        if failed_power:
            what.append(f"{len(failed_power)} of {len(power_rows)} power row(s) failed")
        click.echo(f"error: {'; '.join(what)}" + ("; the report was written" if report else ""), err=True)
        sys.exit(1)


def _default_delegates(profile, artifacts) -> list[str]:
    """Every delegate of the profile; a litert one (an NPU through a compiled model) only when
    one of the artifacts has been compiled for its SoC."""
    from .device.bench import compiled_for  # noqa: PLC0415

    def compiled(spec) -> bool:
        for a in artifacts:
            try:
                compiled_for(Path(a), spec.soc)
                return True
            except EdgesegError:
                pass
        return False

    return [name for name, spec in profile.delegates.items() if spec.runner != "litert" or compiled(spec)]


def _bench_line(row: dict) -> None:
    if row.get("status") == "failed":
        click.echo(f"bench {row['artifact']} on {row['delegate']}: failed", err=True)
    else:
        click.echo(f"bench {row['artifact']} on {row['delegate']}: median {row['median_ms']:.2f} ms "
                   f"({row.get('runs')} runs, {row.get('status')})", err=True)


def _noisy_warning(rows: list[dict], host: bool) -> None:
    from .reporting.schema import NOISY_SPREAD  # noqa: PLC0415
    from .reporting.tables import latency_spread  # noqa: PLC0415

    noisy = [r for r in rows if (latency_spread(r) or 0) > NOISY_SPREAD]
    if noisy:
        where = "this machine was busy" if host else "the device was busy or throttling"
        click.echo(f"warning: {len(noisy)} row(s) are noisy (p90 more than {NOISY_SPREAD:g}x the median: {where}): "
                   + ", ".join(f"{r['artifact']}/{r['delegate']}" for r in noisy[:6])
                   + "; compare them with care, or measure again on an idle machine with more --runs / --min-secs",
                   err=True)


@main.command()
@click.argument("artifact", type=click.Path())
@click.option("--device", required=True, help="'host', a device profile name, or the device model in the reports.")
@click.option("--budget-ms", required=True, type=float, help="Latency budget: median ms per inference.")
@click.option("--energy-budget-mj", type=float, default=None, help="Energy budget: mJ per inference (device rows).")
@click.option("--delegate", default=None, help="Consider this delegate only (default: every measured one).")
@click.option("--report", "reports", default="reports", show_default=True, type=click.Path(),
              help="A report folder, or the folder of report folders written by `edgeseg bench`.")
@click.option("--json", "as_json", is_flag=True)
def select(artifact, device, budget_ms, energy_budget_mj, delegate, reports, as_json) -> None:
    """The best-quality configuration (and delegate) of ARTIFACT that fits the budget on
    DEVICE, from measured bench rows; prints the table it chose from. Exit status 1 when
    nothing fits."""
    from .reporting.select import SELECT_VIEW, select as run_select  # noqa: PLC0415
    from .reporting.tables import format_table  # noqa: PLC0415

    res = run_select(artifact, device, budget_ms, energy_budget_mj, reports, delegate)
    if as_json:
        _echo_json(res)
    else:
        budget = f"{budget_ms:g} ms" + (f" and {energy_budget_mj:g} mJ" if energy_budget_mj is not None else "")
        click.echo(f"{Path(artifact).name} on {device}, budget {budget}; rows from {', '.join(res['reports'])}")
        click.echo(format_table(res["rows"], SELECT_VIEW, floats=3))
        c = res["chosen"]
        if c:
            energy = f", {float(c['energy_mj_per_inference']):.2f} mJ" if c.get("energy_mj_per_inference") not in (None, "") else ""
            click.echo(f"selected: {c['artifact']} on {c['delegate']}: mIoU {float(c['miou']):.4f}, "
                       f"{float(c['median_ms']):.2f} ms{energy}")
    if not res["chosen"]:
        fastest = min((r for r in res["rows"] if r.get("median_ms") not in (None, "")),
                      key=lambda r: float(r["median_ms"]), default=None)
        hint = f" (fastest measured: {fastest['artifact']} on {fastest['delegate']}, {float(fastest['median_ms']):.2f} ms)" \
            if fastest else ""
        click.echo(f"error: no configuration fits the budget{hint}", err=True)
        sys.exit(1)


# -- report ---------------------------------------------------------------------------------


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--html", "with_html", is_flag=True, help="Also write one self-contained report.html.")
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where the merged report folder is created.")
def report(folders, with_html, reports) -> None:
    """Merge report folders (or a folder of them) into a summary table, PNG plots and HTML."""
    from .reporting.compose import SUMMARY_VIEW, compose  # noqa: PLC0415
    from .reporting.tables import format_table  # noqa: PLC0415

    res = compose(folders, reports, with_html)
    click.echo(format_table(res["summary"], SUMMARY_VIEW))
    cols, class_view = res["class_table"]
    if class_view:
        click.echo("\nper-class IoU (fractions; deltas against the float32 artifact of the same model):")
        click.echo(format_table(class_view, cols))
    for c in res["conditions"]:
        click.echo(f"conditions: {c}")
    for n in res["notes"]:
        click.echo(f"note: {n}", err=True)
    click.echo(f"report: {res['report']} ({', '.join(res['files'])})")


# -- quickstart -------------------------------------------------------------------------


@main.command()
@click.option("--workdir", default="edgeseg-quickstart", show_default=True, type=click.Path(file_okay=False))
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--count", default=300, show_default=True, type=click.IntRange(20))
@click.option("--size", default=format_size(DEFAULT_INPUT_SIZE), show_default=True, callback=_size)
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(1))
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True, type=int)
def quickstart(workdir, reports, count, size, epochs, threads, seed) -> None:
    """The whole flow on the embedded default: synthetic lanes, train, export float32 /
    dynamic / float16 / int8, evaluate and benchmark each on this host, write a report."""
    from .flow import quickstart as run_quickstart  # noqa: PLC0415
    from .reporting.tables import format_table  # noqa: PLC0415

    from .progress import StepReporter  # noqa: PLC0415

    steps = StepReporter()
    try:
        res = run_quickstart(workdir, reports, count=count, size=size, epochs=epochs, threads=threads, seed=seed,
                             log=steps.line, progress=_progress(), on_batch=steps.batch)
    finally:
        steps.close()
    from .reporting.compose import report_notes  # noqa: PLC0415
    from .reporting.tables import class_table, describe_conditions, read_report  # noqa: PLC0415

    rep = read_report(res["report"])
    click.echo(format_table(res["summary"], ["artifact", "size_kb", "delegate", "median_ms", "noisy",
                                              "latency_vs_float32", "miou", "miou_delta_vs_float32", "delegated_ops",
                                              "total_ops", "partitions", "status"]))
    cols, class_view = class_table(rep["per_class"])
    click.echo("\nper-class IoU on the synthetic val split (fractions; deltas against float32):")
    click.echo(format_table(class_view, cols))
    click.echo(f"conditions: {describe_conditions(rep['run'])}")
    for n in report_notes(rep["summary"], rep["power"], rep["per_class"]):
        click.echo(f"note: {n}")
    click.echo(f"total {res['timings']['total_s']:.0f} s; report: {res['report']}")


if __name__ == "__main__":  # pragma: no cover
    main()
