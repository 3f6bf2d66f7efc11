"""The `edgeseg` command: a thin click layer over the public API (:mod:`edgeseg.api`).

Each command parses its options, builds the API's config, makes that one call and prints
the result. Choices and their ``--help`` lists are read from the library's tables. TensorFlow
is only imported by commands that train, convert or evaluate Keras checkpoints.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path

import click

from . import api
from .config import format_size
from .data.tables import InspectConfig, SynthConfig
from .errors import UsageError
from .flow import QuickstartConfig
from .models.registry import ModelOptions, training_option_classes, training_options
from .options import EdgesegGroup, choices, finite, json_option, options_from, size_option  # noqa: F401
from .options import given as option_given
from .quantize.recipes import RECIPES
from .reporting import console
from .reporting.compare import INCONCLUSIVE
from .version import __version__


def _progress(quiet: bool = False):
    from .progress import bar

    return None if quiet else bar()


#: The option fields of DeviceConfig (how to reach a device), shared by every device command.
_DEVICE_FIELDS = ("serial", "transport", "address", "key", "adb_server")


def _echo_json(obj) -> None:
    click.echo(console.as_json(obj.to_dict() if isinstance(obj, api.Result) else obj))


def _err(message: str) -> None:
    click.echo(message, err=True)


@click.group(cls=EdgesegGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeseg")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show library log messages and TensorFlow's native logs (otherwise kept in ~/.cache/edgeseg/native.log).",
)
def main(verbose: bool) -> None:
    """edgeseg: train a segmenter, quantize it, run it on a phone, and measure latency,
    power and quality of the exact deployed artifact.

    Start with `edgeseg quickstart` (synthetic data, this host as the device)."""
    if not verbose:
        from .nativelog import quiet_native_logs

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
@options_from(SynthConfig)
def data_synth(out, **options) -> None:
    """Procedural road scenes with 6 lane classes, in the SegNet layout."""
    from .data.synth import synthesize

    c = SynthConfig(out=out, **options)
    res = synthesize(out, **{k: v for k, v in vars(c).items() if k != "out"}, progress=_progress())
    click.echo(f"wrote {res['train']} train + {res['val']} val scenes ({format_size(c.size)}, seed {c.seed}) to {out}")


@data.command("inspect")
@click.argument("dataset", type=click.Path())
@options_from(InspectConfig)
@json_option
def data_inspect(dataset, max_per_split, as_json) -> None:
    """Layout, class names, images per split and pixel share per class. Every image and
    mask is checked as `edgeseg train` checks it; exit status 1 names every bad file."""
    from .data.formats import class_pixel_share, open_dataset

    ds = open_dataset(dataset)
    hist = class_pixel_share(ds, max_per_split=max_per_split, progress=_progress(as_json), check=True)
    if as_json:
        _echo_json(
            {
                **ds.describe(),
                "pixel_share": hist["share"],
                "pixels": hist["pixels"],
                "bad_files": [{"file": f, "error": e} for f, e in hist["bad"]],
            }
        )
    else:
        console.inspect(ds, hist, click.echo)
    if hist["bad"]:
        for _, error in hist["bad"]:
            _err(f"bad file: {error}")
        raise click.ClickException(
            f"{len(hist['bad'])} bad file(s) in {ds.root}: `edgeseg train` stops at the first; "
            "fix or remove them, or train with --skip-bad to leave them out"
        )


# -- train ------------------------------------------------------------------------------

_MODEL_OPTIONS = tuple(f.name for f in dataclasses.fields(ModelOptions))


def _model_training_options(f):
    """The options of the models' own training hooks (registry rows' ``training``)."""
    for cls in training_option_classes():
        f = options_from(cls)(f)
    return f


@main.command()
@options_from(api.TrainConfig)
@options_from(ModelOptions)
@_model_training_options
@click.option(
    "--resume",
    is_flag=True,
    help=(
        "Continue the run in --out from its last finished epoch, with its own options (only --epochs, "
        "--time-budget and --val-every may change; a budgeted run gets its budget again)."
    ),
)
@click.pass_context
def train(ctx, resume, **options) -> None:
    """Train a segmentation model; keeps best and last checkpoints and history.csv."""
    from .progress import StepReporter

    model_options = {k: options.pop(k) for k in _MODEL_OPTIONS}
    own = {k: options.pop(k) for k in training_options()}
    if not model_options["freeze_encoder"]:
        model_options["freeze_encoder"] = None
    out = options.pop("out")
    resuming = resume and (Path(out) / "config.json").is_file()
    # resuming: only the options given on the command line (the rest are the run's own, and the given ones must match)
    given = {k: v for k, v in options.items() if not resuming or option_given(ctx, k)}
    mo = {k: v for k, v in model_options.items() if v is not None and (not resuming or option_given(ctx, k))}
    given["model_training"] = {k: v for k, v in own.items() if v is not None and (not resuming or option_given(ctx, k))}
    cfg = (
        api.resume_config(out, **given, model_options=mo)
        if resuming
        else api.TrainConfig(out=out, **given, model_options=mo)
    )
    say = StepReporter()

    try:
        res = api.train(
            cfg,
            resume=resume,
            on_epoch=lambda r: say.line(console.epoch_line(r)),
            on_batch=say.batch,
            progress=_progress(),
        )
    finally:
        say.close()
    who = f"{res.data['worker']} (the chief writes the run): " if res.data.get("worker") else ""
    click.echo(f"{who}best val mIoU {res.best_val_miou:.4f} at epoch {res.best_epoch}; run in {res.run}")
    if res.budget:
        b = res.budget
        click.echo(
            f"{who}time budget {b['budget_s']:.0f} s: used {b['used_s']:.0f} s, {res.epochs_trained} epochs, "
            f"{res.images_seen} training images seen"
        )


# -- quantize ---------------------------------------------------------------------------


def _recipe_flags(f):
    """One flag per recipe of the table (--float32, --dynamic, ...), and --qat."""
    for name in reversed(api.RECIPE_CHOICES):
        text = (
            RECIPES[name].description
            if name in RECIPES
            else "Quantization-aware fine-tune of the float checkpoint (RUN/qat), then int8."
        )
        f = click.option(f"--{name}", f"r_{name}", is_flag=True, help=text[0].upper() + text[1:] + ".")(f)
    return f


@main.command()
@click.argument("run", type=click.Path(exists=True))
@_recipe_flags
@options_from(api.ExportConfig)
@json_option
def quantize(run, as_json, **options) -> None:
    """Export RUN's best checkpoint to .tflite with a manifest beside it (PTQ, accuracy-
    controlled int8 with --int8 --max-drop, or QAT with --qat). RUN may also be a float32
    .tflite with a manifest (an imported model): --int8 --calib DIR quantizes the file itself."""
    from .progress import StepReporter

    chosen = [name for name in api.RECIPE_CHOICES if options.pop(f"r_{name}")]
    if len(chosen) > 1:
        raise click.UsageError(
            f"{' and '.join('--' + c for c in chosen)} are mutually exclusive: one recipe per "
            "call (run `edgeseg quantize` once per recipe)"
        )
    if not chosen:
        raise click.UsageError(
            "choose a recipe: "
            + ", ".join("--" + r for r in api.RECIPE_CHOICES[:-1])
            + f" or --{api.RECIPE_CHOICES[-1]}"
        )
    cfg = api.ExportConfig(run=run, recipe=chosen[0], **options)
    say = _err if not as_json else (lambda m: None)
    steps = StepReporter(enabled=not as_json)

    def on_epoch(r):
        steps.close()
        say(console.epoch_line(r, "qat "))

    try:
        res = api.export(cfg, say=say, progress=_progress(as_json), on_epoch=on_epoch, on_batch=steps.batch)
    finally:
        steps.close()
    for w in res.warnings:
        _err(f"warning: {w}")
    if as_json:
        return _echo_json(res)
    console.exported(res, cfg.path == "pta", cfg.lint, click.echo, say)


@main.command("import")
@click.argument("model", type=click.Path())
@options_from(api.ImportConfig)
@json_option
def import_cmd(model, as_json, **options) -> None:
    """Import a model edgeseg did not train: a .tflite as it is, a Keras model (.keras, .h5)
    or a SavedModel converted with the LiteRT converter, a PyTorch model with litert-torch
    (pip install 'edgeseg[torch]'). What the file cannot show (normalisation, classes, an
    ambiguous layout or output kind) must be stated; every other command then takes the
    artifact as its own."""
    res = api.import_model(api.ImportConfig(model=model, **options))
    if as_json:
        return _echo_json(res)
    m = res.manifest
    inp, out = m.input or {}, m.output or {}
    click.echo(f"wrote {res.artifact} ({res.source}, {m.recipe}, {m.size_bytes / 1e6:.2f} MB)")
    click.echo(
        f"  input {inp.get('shape')} {inp.get('dtype')} {inp.get('layout')}, "
        f"normalisation {inp.get('normalisation', {}).get('name')}"
    )
    click.echo(
        f"  output {out.get('shape')} {out.get('dtype')}: {out.get('kind')}, {out.get('layout')}, "
        f"stride {out.get('stride')} ({out.get('upsample')} upsampling for scoring)"
    )
    click.echo(f"  classes {', '.join(m.classes or [])}")


@main.command("compile")
@click.argument("artifact", type=click.Path())
@options_from(api.CompileConfig)
@json_option
def compile_cmd(artifact, as_json, **options) -> None:
    """Compile an artifact ahead of time for NPU SoCs with LiteRT's compiler plugins; writes
    ARTIFACT_<target>.tflite and its manifest beside it (for `bench --delegate litert-npu`
    and `eval`)."""
    res = api.compile(api.CompileConfig(artifact=artifact, **options))
    if as_json:
        _echo_json(res)
    else:
        console.compiled(res, click.echo, _err)
    for e in res.errors:
        _err(f"error: {e}")
    if res.errors:
        sys.exit(1)


# -- eval / info ------------------------------------------------------------------------


@main.command("eval")
@click.argument("target", type=click.Path(exists=True))
@options_from(api.EvalConfig)
@options_from(api.DeviceConfig)
@json_option
def eval_cmd(target, as_json, **options) -> None:
    """Quality of an artifact (LiteRT interpreter) or a run (Keras), at label resolution;
    every configuration of a multi-signature (PTA) artifact. With --device: the artifact on
    the device per delegate against the host on the same frames (exit 1 when a row diverged,
    its mIoU beyond the tolerance of the host's, or failed; a numerics-differ row, agreement
    below the bound with quality kept, is a warning unless --fail-on-numerics)."""

    _device_from(options)
    cfg = api.EvalConfig(target=target, command=api.command_line(), **options)
    res = api.evaluate(cfg, progress=None if as_json else _progress(), say=_err)
    if as_json:
        _echo_json(res)
    else:
        console.evaluated(res, click.echo, _err)
    if not res.ok:  # --device: a diverged or failed delegate row (numerics-differ with --fail-on-numerics)
        sys.exit(1)


def _device_from(options: dict) -> None:
    """``options["device"]`` (a profile name or None) becomes a DeviceConfig with the options
    that say how to reach it, which are a usage error without --device."""
    reach = {k: options.pop(k) for k in _DEVICE_FIELDS}
    if options["device"] is not None:
        options["device"] = api.DeviceConfig(options["device"], **reach)
    elif given := next((k for k, v in reach.items() if v is not None), None):
        flag = "--adb-key" if given == "key" else "--" + given.replace("_", "-")
        raise UsageError(f"{flag} goes with --device: it says how to reach the device", param=flag)


@main.command("numerics")
@click.argument("target", type=click.Path(exists=True))
@options_from(api.NumericsConfig)
@options_from(api.DeviceConfig)
@json_option
def numerics_cmd(target, as_json, **options) -> None:
    """Per-layer error of an artifact: every tensor (or block boundary) on the host against its
    float reference (quantization error) and, with --device, per delegate against the host
    (delegate error); numerics.csv, a plot of error against depth and the first bad op of each
    run in a report folder. Exit 1 when a run has a bad tensor or failed."""
    _device_from(options)
    cfg = api.NumericsConfig(target=target, command=api.command_line(), **options)
    res = api.numerics(cfg, say=_err, progress=None if as_json else _progress())
    if as_json:
        _echo_json(res)
    else:
        console.numerics_done(res, click.echo, _err)
    if not res.ok:
        sys.exit(1)


@main.command()
@click.argument("target", type=click.Path(exists=True))
@options_from(api.InfoConfig)
@json_option
def info(target, delegates, android_api, as_json) -> None:
    """Parameters, MACs at the input size and ops of an artifact or run."""
    res = api.info(api.InfoConfig(target=target, delegates=delegates, android_api=android_api)).data
    if as_json:
        return _echo_json(res)
    console.model_info(res, delegates, click.echo)


# -- devices / deploy / bench ---------------------------------------------------------------


#: --serial, --transport, --address, --adb-key, --adb-server: the fields of the API's DeviceConfig.
_device_options = options_from(api.DeviceConfig)


@main.group(invoke_without_command=True)
@click.pass_context
def devices(ctx) -> None:
    """Device profiles and attached devices."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(devices_list)


@devices.command("list")
@json_option
def devices_list(as_json) -> None:
    """The profiles, and the devices attached to the adb server. A profile that does not
    load is listed as BAD with its error (exit status 1); the others are still listed."""
    from .device.profiles import scan_profiles
    from .device.session import adb_server_running, describe_attached

    profiles, was_running = scan_profiles(), adb_server_running()
    attached = describe_attached()
    if as_json:
        _echo_json({"profiles": console.profile_rows(profiles), "attached": attached})
    else:
        console.devices(profiles, attached, click.echo)
    for w in console.shared_names(profiles):
        _err(f"warning: {w}")
    console.adb_server_note(not was_running, _err)
    bad = [p for p in profiles if getattr(p, "error", None)]
    if bad:
        raise click.ClickException(f"{len(bad)} bad device profile(s): " + ", ".join(str(p.path) for p in bad))


@devices.command("show")
@click.argument("name")
@_device_options
@click.option("--probe", is_flag=True, help="Connect and read the device's properties.")
def devices_show(name, probe, **options) -> None:
    """One profile (and with --probe the connected device: model, SoC, Android, ABI)."""
    from .device.profiles import load_profile

    console.profile(load_profile(name), click.echo)
    if probe:
        with api.DeviceConfig(name, **options).session() as s:
            console.probed(s.getprops(), click.echo)
        console.adb_server_note(s.started_adb_server, _err)


@main.command()
@click.argument("artifact", type=click.Path())
@options_from(api.DeployConfig)
def deploy(artifact, device, **options) -> None:
    """Push an artifact and its manifest to the device's work dir, verified by sha256."""
    res = api.deploy(api.DeployConfig(device, **options, artifact=artifact), progress_factory=console.push_bar)
    state = "already on the device (same sha256)" if res.skipped else f"pushed and verified ({res.attempts} attempt(s))"
    click.echo(f"{res.remote}: {state}, sha256 {res.sha256[:16]}")
    console.adb_server_note(res.started_adb_server, _err)


@main.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@options_from(api.BenchConfig)
@json_option
def bench(artifacts, as_json, **options) -> None:
    """Latency (and on devices power and energy) of each artifact, one row per delegate."""
    cfg = api.BenchConfig(artifacts=artifacts, command=api.command_line(), **options)
    res = api.bench(
        cfg,
        say=_err,
        on_row=None if as_json else lambda r: _err(console.bench_line(r)),
        progress_factory=console.push_bar,
    )
    console.adb_server_note(res.data["started_adb_server"], _err)
    if as_json:
        _echo_json(
            {
                "rows": res.rows,
                "power": res.power,
                "report": res.report,
                "devices": res.devices,
                "sustained": res.sustained,
            }
        )
    else:
        console.bench(res, cfg.device == "host", click.echo, _err)
    for r in res.failed_power:
        _err(f"power {r.get('status')}: {r['artifact']} on {r['delegate']}: {r.get('error')}")
    if not res.ok:
        _err(f"error: {res.failure_summary()}")
        sys.exit(1)


@main.command()
@click.argument("artifact", type=click.Path())
@options_from(api.SelectConfig)
@json_option
def select(artifact, as_json, **options) -> None:
    """The best-quality configuration (and delegate) of ARTIFACT that fits the budget on
    DEVICE (with 'all', on each device in the reports: one row each), from measured bench
    rows; prints the table it chose from. Exit status 1 when nothing fits (on some device)."""
    res = api.select(api.SelectConfig(artifact=artifact, **options))
    if as_json:
        _echo_json(res)
    else:
        console.selected(res, artifact, options["device"], click.echo)
    if not res.ok:
        _err(f"error: {res.no_fit_message()}")
        sys.exit(1)


# -- report / quickstart ----------------------------------------------------------------------


@main.command()
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False))
@options_from(api.ReportConfig)
@click.option(
    "--compare",
    nargs=2,
    type=click.Path(exists=True, file_okay=False),
    default=None,
    metavar="BASE NEW",
    help="Instead of merging: NEW against BASE per (artifact, device, delegate), each change judged "
    "against the row's noise (same / slower / faster ...).",
)
@click.option(
    "--fail-if",
    "fail_if",
    multiple=True,
    metavar="RULE",
    help="With --compare, exit 1 naming each breach "
    "(repeatable): 'median_ms>+5%', 'miou<-0.005', 'energy_mj>+10%', a budget 'median_ms>20'.",
)
@click.option(
    "--inconclusive",
    type=click.Choice(INCONCLUSIVE),
    default=INCONCLUSIVE[0],
    show_default=True,
    help="With --fail-if: what a rule does when the change's interval straddles its value (the data cannot tell).",
)
def report(folders, compare, fail_if, inconclusive, **options) -> None:
    """Merge report folders (or a folder of them) into a summary table, PNG plots and HTML;
    or with --compare BASE NEW, a regression gate between two report folders."""
    if compare and folders or fail_if and not compare:
        raise click.UsageError(
            "--compare BASE NEW takes no other folders" if compare else "--fail-if goes with --compare"
        )
    if compare:
        res = api.compare(api.CompareConfig(*compare, fail_if=fail_if, inconclusive=inconclusive))
        console.compared(res, click.echo, _err)
        sys.exit(0 if res.ok else 1)
    res = api.report(api.ReportConfig(folders=folders, **options))
    console.merged(res, click.echo, _err)


@main.command()
@options_from(QuickstartConfig)
def quickstart(**options) -> None:
    """The whole flow on the embedded default: synthetic lanes, train, export float32 /
    dynamic / float16 / int8, evaluate and benchmark each on this host, write a report."""
    from .flow import quickstart as run_quickstart
    from .progress import StepReporter

    steps = StepReporter()
    try:
        res = run_quickstart(QuickstartConfig(**options), log=steps.line, progress=_progress(), on_batch=steps.batch)
    finally:
        steps.close()
    console.quickstart(res, click.echo)


if __name__ == "__main__":  # pragma: no cover
    main()
