"""The public Python API: one function per command, a typed config in, a typed result out.

``edgeseg train``, ``edgeseg quantize`` ... are thin parsers over these functions: the CLI
builds the config from its options, makes the one call and prints the result. The usage
rules (which options go together, which delegates a device has, what a default is) live
here and in the configs, and raise :class:`~edgeseg.errors.UsageError`, so a Python user
gets exactly what the command line gets::

    import edgeseg
    run = edgeseg.train(edgeseg.TrainConfig(data="lanes", out="run", epochs=5))
    art = edgeseg.export(edgeseg.ExportConfig(run=run.run, recipe="int8"))
    q = edgeseg.evaluate(edgeseg.EvalConfig(target=art.artifact, data="lanes"))
    b = edgeseg.bench(edgeseg.BenchConfig(artifacts=[art.artifact], device="host"))

Heavy modules (TensorFlow above all) are imported inside the functions that need them:
importing this module costs no more than the stages' light tables.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import option
from .device.config import BenchConfig, DeviceConfig, check_delegates
from .device.profiles import TRANSPORTS
from .errors import EdgesegError, UsageError
from .quantize.recipes import DEFAULT_HEAD, HEADS, IO_TYPES, PTQ_TOOLS
from .training.config import TrainConfig

__all__ = [
    "TrainConfig",
    "TrainResult",
    "train",
    "resume_config",
    "ExportConfig",
    "ExportResult",
    "export",
    "RECIPE_CHOICES",
    "CompileConfig",
    "CompileResult",
    "compile",
    "EvalConfig",
    "EvalResult",
    "evaluate",
    "InfoConfig",
    "InfoResult",
    "info",
    "BenchConfig",
    "BenchResult",
    "bench",
    "DeployConfig",
    "DeployResult",
    "deploy",
    "ReportConfig",
    "ReportResult",
    "report",
    "CompareConfig",
    "CompareResult",
    "compare",
    "SelectConfig",
    "SelectResult",
    "select",
]

Say = Callable[[str], None]


def _quiet(_message: str) -> None:
    """The default ``say``: library calls print nothing unless asked."""


@dataclass(frozen=True)
class Result:
    """A command's result. ``data`` is the whole record (what ``--json`` prints); the typed
    fields are the parts a caller usually wants."""

    data: dict = field(repr=False)

    def to_dict(self) -> dict:
        return dict(self.data)


def _pick(cls, data: dict, **extra):
    names = {f.name for f in dataclasses.fields(cls)} - {"data"}
    return cls(data=data, **{k: data.get(k) for k in names if k not in extra}, **extra)


# -- train ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainResult(Result):
    run: str
    best_epoch: int
    best_val_miou: float


#: The options a resumed run may set without being compared with its own (see resume_config).
_RESUME_FREE = ("out", "epochs")


def resume_config(out: str | Path, **given) -> TrainConfig:
    """The config to resume the run in ``out`` with: the run's own options, overridden by
    those ``given`` (which must then match, except ``epochs``; :func:`train` checks)."""
    from .training.loop import stored_train_config

    stored = stored_train_config(out)
    if "model_options" in given:
        given = {**given, "model_options": {**(stored.get("model_options") or {}), **given["model_options"]}}
    return TrainConfig(**{**stored, **given, "out": str(out)})


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch=None,
    progress=None,
) -> TrainResult:
    """Train ``config.model`` on ``config.data`` into the run folder ``config.out``."""
    from .training.loop import train as run_train

    res = run_train(config, resume=resume, on_epoch=on_epoch, on_batch=on_batch, progress=progress)
    return _pick(TrainResult, dict(res))


# -- export (quantize) -----------------------------------------------------------------------


def _recipes() -> tuple[str, ...]:
    from .quantize.recipes import RECIPES

    return (*RECIPES, "qat")


#: Every recipe `edgeseg quantize` takes: the PTQ table's rows, and QAT.
RECIPE_CHOICES = _recipes()


@dataclass(frozen=True)
class ExportConfig:
    """How to turn a run into an artifact. ``recipe`` picks the path: ``qat`` fine-tunes,
    ``pta_configs`` exports a multi-signature file, ``max_drop`` keeps sensitive layers in
    float, anything else is plain PTQ. ``calib``/``num_calib`` left at None mean "not given"
    (the run's dataset, 200 images) so that giving them where they do nothing is an error."""

    run: str
    recipe: str
    calib: str | None = option(
        None, "Calibration images: a dataset (train split) or a folder of images. Default: the run's dataset."
    )
    num_calib: int | None = option(None, "Calibration images to use (default 200).", kind=int, min=1)
    io: str = option(IO_TYPES[0], "Input/output type of int8 recipes.", choices=IO_TYPES)
    head: str = option(DEFAULT_HEAD, "; ".join(f"{k}: {v}" for k, v in HEADS.items()) + ".", choices=HEADS)
    ptq: str | None = option(
        None,
        "--int8: calibrate with the TFLite converter (from the Keras model), or with "
        "ai-edge-quantizer from the float32 .tflite (3x faster on CamVid, same mIoU). "
        "Default: aeq, or the converter for --io uint8, --head argmax and graphs AEQ "
        "refuses (the manifest's ptq.tool says which).",
        choices=PTQ_TOOLS,
    )
    out: str | None = option(
        None,
        "Output .tflite (default RUN/artifacts/). With --pta-configs: the multi-signature "
        "file; each configuration's own file goes beside it as NAME_CFG.tflite.",
    )
    force: bool = option(False, "Replace an existing artifact (and its manifest with recorded quality).")
    max_drop: float | None = option(
        None,
        "--int8 only: keep the most sensitive layers in float until the val mIoU "
        "drop vs float32 is at most this many points (needs --data).",
        kind=float,
        min=0,
    )
    data: str | None = option(
        None, "Dataset for --max-drop evaluation and --qat fine-tuning (default for --qat: the run's)."
    )
    max_steps: int = option(8, "--max-drop: step limit.", min=1)
    epochs: int = option(2, "--qat: fine-tune epochs.", min=1)
    lr: float = option(1e-4, "--qat: initial learning rate.", min=0, min_open=True)
    resume: bool = option(False, "--qat: continue RUN/qat from its last finished epoch.")
    limit: int | None = option(None, "--qat/--max-drop: use at most N images per split.", kind=int, min=1)
    pta_configs: tuple[str, ...] | None = option(
        None,
        "unet-pta runs: comma list of configurations (e.g. "
        "LLL,HLH,HHH,BBB) exported as one multi-signature .tflite plus "
        "one file each.",
        kind=str,
    )
    lint: bool = option(True, "Print the delegate lint after conversion.", flag="--lint/--no-lint")
    seed: int = 0

    DEFAULT_NUM_CALIB = 200

    def __post_init__(self):
        if self.recipe not in RECIPE_CHOICES:
            raise UsageError(f"choose a recipe: {', '.join('--' + r for r in RECIPE_CHOICES)}")
        for name, table in (("io", IO_TYPES), ("head", HEADS), ("ptq", (*PTQ_TOOLS, None))):
            if getattr(self, name) not in table:
                raise UsageError(
                    f"--{name} {getattr(self, name)} is not one of {', '.join(str(t) for t in table if t)}",
                    param="--" + name,
                )
        explicit = [n for n in ("calib", "num_calib") if getattr(self, n) is not None]
        if self.recipe == "qat" and explicit:
            raise UsageError(
                f"{' and '.join('--' + n.replace('_', '-') for n in explicit)} calibrate the PTQ "
                "recipes; --qat learns its int8 ranges during the fine-tune and uses no calibration set"
            )
        if self.recipe not in ("int8", "int16x8", "qat") and explicit:
            raise UsageError(f"--{self.recipe} needs no calibration: --calib/--num-calib are for --int8 and --int16x8")
        if self.ptq is not None and (self.recipe != "int8" or self.pta_configs or self.max_drop is not None):
            raise UsageError("--ptq chooses how plain --int8 is calibrated (not with --pta-configs or --max-drop)")
        if self.pta_configs and self.recipe == "qat":
            raise UsageError(
                "--pta-configs exports a PTQ artifact (--int8, --float32, ...); QAT keeps no run-time "
                "switch between configurations"
            )
        if self.max_drop is not None and self.recipe != "int8":
            raise UsageError("--max-drop works with --int8")
        if self.max_drop is not None and self.data is None:
            raise UsageError("--max-drop needs --data DATASET to measure the mIoU drop on")
        if isinstance(self.pta_configs, str):
            object.__setattr__(self, "pta_configs", tuple(c for c in self.pta_configs.split(",") if c))

    @property
    def path(self) -> str:
        """Which export path the config takes: qat, pta, controlled or ptq."""
        if self.recipe == "qat":
            return "qat"
        if self.pta_configs:
            return "pta"
        return "controlled" if self.max_drop is not None else "ptq"


@dataclass(frozen=True)
class ExportResult(Result):
    artifact: str
    manifest: dict
    warnings: list


def export(config: ExportConfig, *, say: Say = _quiet, progress=None, on_epoch=None, on_batch=None) -> ExportResult:
    """Export (quantize) a run's best checkpoint to ``.tflite`` with its manifest; with
    ``config.lint`` the delegate lint of the result is in ``data["lint"]``."""
    from .fileio import scratch_dir

    with scratch_dir("edgeseg-export-"):  # the converter's SavedModel goes, Ctrl-C and SIGTERM included
        res = _export(config, say, progress, on_epoch, on_batch)
    return _pick(ExportResult, res)


def _export(c: ExportConfig, say, progress, on_epoch, on_batch) -> dict:
    num_calib = c.num_calib or ExportConfig.DEFAULT_NUM_CALIB
    if c.path == "qat":
        from .quantize.qat import quantize_qat

        res = quantize_qat(
            c.run,
            epochs=c.epochs,
            lr=c.lr,
            io=c.io,
            head=c.head,
            out=c.out,
            data=c.data,
            limit=c.limit,
            resume=c.resume,
            on_epoch=on_epoch,
            progress=progress,
            on_batch=on_batch,
            force=c.force,
        )
    elif c.path == "pta":
        from .quantize.pta_export import export_pta

        res = export_pta(
            c.run,
            list(c.pta_configs),
            c.recipe,
            calib=c.calib,
            num_calib=num_calib,
            io=c.io,
            out=c.out,
            head=c.head,
            progress=progress,
            force=c.force,
        )
    elif c.path == "controlled":
        from .quantize.controlled import controlled_int8

        res = controlled_int8(
            c.run,
            c.data,
            max_drop=c.max_drop,
            calib=c.calib,
            num_calib=num_calib,
            io=c.io,
            head=c.head,
            out=c.out,
            limit=c.limit,
            max_steps=c.max_steps,
            say=say,
            progress=progress,
            force=c.force,
        )
    else:
        from .quantize.ptq import DEFAULT_PTQ, quantize_run

        res = quantize_run(
            c.run,
            c.recipe,
            calib=c.calib,
            num_calib=num_calib,
            io=c.io,
            out=c.out,
            progress=progress,
            head=c.head,
            force=c.force,
            ptq=c.ptq or DEFAULT_PTQ,
            seed=c.seed,
        )
    res = dict(res)
    res["artifact"] = str(res["artifact"])
    if c.lint:
        from .quantize.lint import lint_artifact

        res["lint"] = lint_artifact(res["artifact"])
    return res


# -- compile ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompileConfig:
    artifact: str
    socs: tuple[str, ...]
    openvino_device: str = "auto"
    force: bool = False

    OPENVINO_DEVICES = ("auto", "npu", "gpu", "cpu")

    def __post_init__(self):
        if isinstance(self.socs, str):
            object.__setattr__(self, "socs", (self.socs,))
        if not self.socs:
            raise UsageError("name at least one --soc", param="--soc")
        if self.openvino_device not in self.OPENVINO_DEVICES:
            raise UsageError(
                f"--openvino-device {self.openvino_device} is not one of {', '.join(self.OPENVINO_DEVICES)}",
                param="--openvino-device",
            )


@dataclass(frozen=True)
class CompileResult(Result):
    compiled: list
    errors: list


def compile(config: CompileConfig) -> CompileResult:
    """Compile an artifact ahead of time for each SoC. With one SoC its error is raised; with
    several, each failure is an entry of ``errors`` and the others still compile."""
    from .quantize.aot import compile_artifact

    results, errors = [], []
    for soc in config.socs:
        try:
            results.append(
                compile_artifact(config.artifact, soc, force=config.force, openvino_device=config.openvino_device)
            )
        except EdgesegError as exc:
            if len(config.socs) == 1:
                raise
            errors.append(f"{soc}: {exc}")
    return CompileResult(data={"compiled": results, "errors": errors}, compiled=results, errors=errors)


# -- evaluate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    target: str
    data: str = option(None, "Dataset folder.", required=True)
    split: str = option("val", "Split to score.")
    threads: int | None = option(None, "Interpreter threads.", kind=int, min=1)
    limit: int | None = option(None, "Evaluate at most N images.", kind=int, min=1)
    skip_bad: bool = option(False, "Skip unreadable or inconsistent files with a warning.")
    signature: str | None = option(
        None, "Multi-signature (PTA) artifact: evaluate this configuration only (default: every one)."
    )
    classes_from: str | None = option(
        None,
        "The model's class names must be the dataset's; 'dataset' scores "
        "under the dataset's names when they differ (same count).",
        choices=("dataset",),
    )
    record: bool | None = option(
        None,
        "Store the result in the artifact's manifest (where bench, report and select "
        "read quality). Default: only for the val split of the dataset the model was "
        "trained on.",
        kind=bool,
        flag="--record/--no-record",
    )
    device: str | None = option(
        None,
        "Run the artifact on this device profile (name or .toml) with each --delegate, "
        "and score it against the host on the same frames (quality.csv in a report "
        "folder).",
    )
    delegates: tuple[str, ...] | None = option(
        None, "--device: comma list of the profile's delegates (default: every one).", kind=str, flag="--delegate"
    )
    frames: int | None = option(None, "--device: the first N frames of the split (default: all).", kind=int, min=1)
    fail_on_numerics: bool = option(
        False,
        "--device: exit 1 on a numerics-differ row too (argmax agreement with the host below the "
        "bound, quality kept; by default a warning and exit 0).",
    )
    benchmark_binary: str | None = option(
        None,
        "--device: benchmark_model for the device's ABI (default: the "
        "profile's, else LiteRT's official build, as `edgeseg bench`).",
    )
    reports: str = option("reports", "--device: where the report folder is created.")
    serial: str | None = option(None, "--device: device serial when several are attached (or ANDROID_SERIAL).")
    transport: str | None = option(
        None, "--device: tcp (our ADB client to HOST:PORT), usb / adb-server (the `adb` binary).", choices=TRANSPORTS
    )
    address: str | None = option(None, "--device: HOST:PORT for tcp (overrides the profile).")
    key: str | None = option(None, "--device: adb private key (default ~/.android/adbkey).", flag="--adb-key")
    command: str | None = None  # what run.json records as the command (the CLI passes its argv)

    def __post_init__(self):
        if isinstance(self.delegates, str):
            object.__setattr__(self, "delegates", tuple(d.strip() for d in self.delegates.split(",") if d.strip()))
        elif self.delegates is not None:
            object.__setattr__(self, "delegates", tuple(str(d) for d in self.delegates))
        if self.device is None:
            flags = {
                "delegates": "--delegate",
                "frames": "--frames",
                "benchmark_binary": "--benchmark-binary",
                "serial": "--serial",
                "transport": "--transport",
                "address": "--address",
                "key": "--adb-key",
                "fail_on_numerics": "--fail-on-numerics",
            }
            given = [
                flag for f, flag in flags.items() if getattr(self, f) is not None and getattr(self, f) is not False
            ]
            if given:
                raise UsageError(
                    f"{given[0]} goes with --device (on the host: plain `edgeseg eval`, --limit N for fewer images)",
                    param=given[0],
                )
            return
        if self.device == "host":
            raise UsageError("--device host: plain `edgeseg eval` (without --device) is the host", param="--device")
        if Path(self.target).is_dir():
            raise UsageError("--device runs an artifact: pass a .tflite (export one with `edgeseg quantize`)")
        if self.delegates is not None and not self.delegates:
            raise UsageError("name at least one delegate", param="--delegate")
        if self.limit is not None:
            raise UsageError("--device takes --frames N (the frames run on the device and on the host), not --limit")
        if self.record:
            raise UsageError("--record stores host quality in the manifest; --device rows go to the report folder")

    def device_config(self) -> DeviceConfig:
        return DeviceConfig(self.device, self.serial, self.transport, self.address, self.key)


@dataclass(frozen=True)
class EvalResult(Result):
    artifact: str
    dataset: str
    split: str
    miou: float | None
    per_class_iou: dict | None
    signatures: dict | None
    rows: list | None = None  # --device: the host's and each delegate's rows (quality.csv)
    report: str | None = None
    fail_on_numerics: bool | None = None  # --device: a numerics-differ row fails the command too

    @property
    def ok(self) -> bool:
        """No device row ``diverged`` (quality lost or changed) or ``failed``; ``ok``, ``unsupported`` (which
        says why) and ``numerics-differ`` (a warning: quality kept) pass, the last unless
        ``fail_on_numerics``."""
        passing = ("ok", "unsupported") + (() if self.fail_on_numerics else ("numerics-differ",))
        return all(r.get("status") in passing for r in self.rows or [])


def evaluate(config: EvalConfig, *, progress=None, say: Say = _quiet) -> EvalResult:
    """Quality of an artifact (LiteRT interpreter) or a run (Keras) at label resolution; with
    ``device``, of the artifact on the device per delegate, against the host on the same frames."""
    from .runtime.evaluate import evaluate as run_evaluate

    c = config
    if c.device is not None:
        return _evaluate_device(c, say, progress)
    res = run_evaluate(
        c.target,
        c.data,
        c.split,
        limit=c.limit,
        threads=c.threads,
        skip_bad=c.skip_bad,
        progress=progress,
        signature=c.signature,
        record=c.record,
        classes_from=c.classes_from,
    )
    return _pick(EvalResult, dict(res))


def _evaluate_device(c: EvalConfig, say: Say, progress) -> EvalResult:
    from .artifact import check_tflite_file
    from .device.evaluate import AGREEMENT_BOUND, MIOU_BOUND, evaluate_artifact_on_device
    from .device.profiles import load_profile
    from .device.runners import default_delegates
    from .fileio import check_writable_output
    from .reporting.plots import eval_figures
    from .reporting.tables import write_report
    from .version import __version__

    path = check_tflite_file(c.target)
    profile = load_profile(c.device)
    delegates = (
        check_delegates(c.delegates, profile.delegates, f"profile '{profile.name}'")
        if c.delegates
        else default_delegates(profile, [path])
    )
    check_writable_output(c.reports, "--reports")
    with c.device_config().session() as s:
        res = evaluate_artifact_on_device(
            s,
            path,
            c.data,
            c.split,
            c.frames,
            delegates,
            c.threads,
            c.skip_bad,
            c.signature,
            c.classes_from,
            c.benchmark_binary,
            say,
            progress,
        )
    rows = [{k: v for k, v in r.items() if k != "frame_agreement"} for r in res["rows"]]
    # numerics-differ: agreement below the first with |mIoU delta| within the second (quality kept);
    # diverged: |mIoU delta| beyond the second, or NaN/inf outputs (edgeseg.device.evaluate.device_status)
    bounds = {"argmax_agreement_below": AGREEMENT_BOUND, "miou_delta_beyond": MIOU_BOUND}
    run_info = {
        "command": c.command or f"edgeseg.evaluate({c.target!r}, device={c.device!r})",
        "device": res["device"],
        "runner_version": f"edgeseg {__version__}",
        "eval": {"delegates": list(delegates), "frames": res["frames"], "split": c.split, "status_bounds": bounds},
    }
    report = write_report(
        c.reports, f"eval_{profile.name}", [], rows, run_info=run_info, extra=lambda folder: eval_figures(folder, res)
    )
    host = next(r for r in rows if r["where"] == "host")
    data = {
        **{k: host.get(k) for k in ("miou", "per_class_iou", "dice", "pixel_accuracy")},
        "artifact": res["artifact"],
        "dataset": res["dataset"],
        "split": c.split,
        "images": host.get("frames"),
        "rows": rows,
        "report": str(report),
        "device": res["device"],
        "status_bounds": bounds,
        "fail_on_numerics": c.fail_on_numerics,
    }
    return _pick(EvalResult, data)


# -- info ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InfoConfig:
    target: str
    delegates: bool = False
    android_api: int = 30

    def __post_init__(self):
        if self.delegates and Path(self.target).is_dir():
            raise UsageError("--delegates reads an artifact: pass a .tflite (export one with `edgeseg quantize`)")


@dataclass(frozen=True)
class InfoResult(Result):
    path: str
    params: int
    macs: int
    ops: dict


def info(config: InfoConfig) -> InfoResult:
    """Parameters, MACs and ops of an artifact or a run; with ``delegates`` the delegate lint
    (XNNPACK measured; GPU and NNAPI predicted)."""
    from .runtime.modelinfo import model_info

    path = Path(config.target)
    manifest = None
    if path.is_dir():
        import tempfile

        from .quantize.ptq import convert
        from .run import load_run_model

        model, cfg = load_run_model(path)
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "model.tflite"
            f.write_bytes(convert(model, tuple(cfg["input_size"]), "float32"))
            res = model_info(f)
        res.update(path=str(path), keras_params=int(model.count_params()), size_bytes=None)
    else:
        from .artifact import read_manifest, signatures_of

        res = model_info(path)
        manifest = read_manifest(path)
        if signatures_of(manifest):  # the counts above are the primary subgraph's; each configuration's:
            res["signatures"] = {s: manifest["pta"]["configs"][s] for s in signatures_of(manifest)}
    if config.delegates:
        from .quantize.lint import lint_artifact, lint_signatures

        res["lint"] = lint_artifact(path, nnapi_api=config.android_api)
        if res.get("signatures"):
            res["lint_signatures"] = lint_signatures(path, manifest, nnapi_api=config.android_api)
    return _pick(InfoResult, res)


# -- devices: deploy and bench ----------------------------------------------------------------


@dataclass(frozen=True)
class DeployConfig(DeviceConfig):
    artifact: str = ""


@dataclass(frozen=True)
class DeployResult(Result):
    remote: str
    sha256: str
    skipped: bool
    attempts: int
    started_adb_server: bool


def deploy(config: DeployConfig, *, progress_factory=None) -> DeployResult:
    """Push an artifact and its manifest to the device's work folder, verified by sha256."""
    from .device.deploy import deploy as run_deploy

    with config.session() as s:
        res = run_deploy(s, config.artifact, progress_factory)
    return _pick(DeployResult, {**res, "started_adb_server": bool(s.started_adb_server)})


@dataclass(frozen=True)
class BenchResult(Result):
    rows: list
    power: list
    report: str | None
    failed: list
    failed_power: list
    conditions: str | None
    noisy: list
    devices: list | None = None  # per device of the sweep: label, profile, serial, model, soc, status (ok, lost), error
    lost: list | None = None  # the devices of ``devices`` that were lost or never reached
    sustained: list | None = None  # --sustained: one record per window of each row (sustained.csv)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.failed_power and not self.lost

    def failure_summary(self) -> str | None:
        """One line naming the lost devices and the failed rows, or None when every row is measured."""
        if self.ok:
            return None
        several = len(self.devices or []) > 1
        what = [
            f"device {d['label']}" + (f" ({d['serial']})" if d.get("serial") else "") + f" was lost: {d['error']}"
            for d in self.lost or []
            if several
        ]
        if self.failed:
            what.append(
                f"{len(self.failed)} of {len(self.rows)} row(s) failed ("
                + ", ".join(
                    f"{r['artifact']}/{r['delegate']}" + (f" on {r['device']}" if several else "")
                    for r in self.failed[:6]
                )
                + (", ..." if len(self.failed) > 6 else "")
                + ")"
            )
        if self.failed_power:
            what.append(f"{len(self.failed_power)} of {len(self.power)} power row(s) failed")
        return "; ".join(what) + ("; the report was written" if self.report else "")


def bench(
    config: BenchConfig, *, say: Say = _quiet, on_row: Callable[[dict], None] | None = None, progress_factory=None
) -> BenchResult:
    """Latency (and on devices power and energy) of each artifact, one row per delegate; a
    failed combination is a row, never an aborted sweep. Writes one report folder."""
    from .artifact import artifact_sizes, check_tflite_file, quality_from_manifests
    from .fileio import check_writable_output
    from .reporting.tables import (
        describe_conditions,
        host_environment,
        latency_spread,
        load_average,
        noisy_row,
        write_report,
    )
    from .version import __version__

    c = config
    paths = [check_tflite_file(a) for a in c.artifacts]
    if c.write_report:
        check_writable_output(c.reports, "--reports")  # before the sweep, not after it
    power_rows, ops, trace, device_info, started_server, devices = [], [], [], {"name": "host"}, False, []
    windows = []
    load_before = load_average()
    if c.device == "host":
        from .delegates import HOST_DELEGATES, host_default
        from .device.bench import bench_rows

        delegates = check_delegates(c.delegates or (host_default(),), HOST_DELEGATES, "the host")
        threads = c.threads or BenchConfig.HOST_THREADS
        rows = bench_rows(paths, c, delegates, say=on_row)
    else:
        from .device.fleet import bench_sweep

        sweep = bench_sweep(c, paths, say, progress_factory)
        rows, power_rows, ops, trace, device_info = (sweep[k] for k in ("latency", "power", "ops", "trace", "device"))
        windows = sweep.get("sustained") or []
        delegates, threads, started_server, devices = sweep["delegates"], c.threads, sweep["started"], sweep["devices"]
    bench_info = {
        "threads": threads,
        "runs": c.runs,
        "min_secs": c.min_secs,
        "repeat": c.repeat,
        "delegates": list(delegates),
        "load_before": load_before,
        "load_after": load_average(),
    }
    if c.sustained:
        from .device.sustained import window_count

        bench_info["sustained"] = {
            "duration_s": c.sustained,
            "window_s": c.window,
            "windows": window_count(c.sustained, c.window),
        }
    if c.cooldown:
        bench_info["cooldown"] = True
    report = None
    if c.write_report:
        report = write_report(
            c.reports,
            c.report_name or f"bench_{device_info.get('profile', 'host')}",
            rows,
            quality_from_manifests(paths),
            power=power_rows,
            ops=ops,
            trace=trace,
            sizes=artifact_sizes(paths),
            sustained=windows,
            extra=_sustained_plot(windows),
            run_info={
                "command": c.command or f"edgeseg.bench({c.artifacts!r}, device={c.device!r})",
                "device": device_info,
                "bench": bench_info,
                "runner_version": f"edgeseg {__version__}",
                **(c.run_info or {}),
            },
        )
    conditions = describe_conditions({"host": host_environment(), "bench": bench_info}) if c.device == "host" else None
    data = {
        "rows": rows,
        "power": power_rows,
        "ops": ops,
        "report": str(report) if report else None,
        "sustained": windows,
        "device": device_info,
        "bench": bench_info,
        "started_adb_server": started_server,
        "devices": devices,
        "lost": [d for d in devices if d["status"] != "ok"],
        "failed": [r for r in rows if r.get("status") == "failed"],
        "failed_power": [r for r in power_rows if r.get("status") == "failed"],
        "conditions": conditions,
        "noisy": [r for r in rows if noisy_row(r, latency_spread(r))],
    }
    return _pick(BenchResult, data)


def _sustained_plot(windows: list):
    """The report's ``extra``: sustained.png when the sweep has sustained windows."""
    if not windows:
        return None

    def extra(folder):
        from .reporting.plots import sustained_plot

        sustained_plot(windows, Path(folder) / "sustained.png")

    return extra


@dataclass(frozen=True)
class ReportConfig:
    folders: tuple[str, ...]
    reports: str = option("reports", "Where the merged report folder is created.")
    html: bool = option(False, "Also write one self-contained report.html.")

    def __post_init__(self):
        if isinstance(self.folders, (str, Path)):
            object.__setattr__(self, "folders", (str(self.folders),))
        if not self.folders:
            raise UsageError("name at least one report folder")


@dataclass(frozen=True)
class ReportResult(Result):
    report: str
    summary: list
    notes: list
    conditions: list
    files: list


def report(config: ReportConfig) -> ReportResult:
    """Merge report folders (or folders of them) into one new report folder: summary,
    plots, and with ``html`` a self-contained report.html."""
    from .fileio import check_writable_output
    from .reporting.compose import compose

    check_writable_output(config.reports, "--reports")
    return _pick(ReportResult, compose(list(config.folders), config.reports, config.html))


@dataclass(frozen=True)
class CompareConfig:
    """A regression gate: report folder ``new`` against ``base`` per (artifact, device,
    delegate); ``fail_if`` rules (edgeseg.reporting.compare) make the result not ok."""

    base: str
    new: str
    fail_if: tuple[str, ...] = ()
    #: what a rule whose outcome the data cannot decide does to the gate: "fail" (the default:
    #: a gate never passes what it cannot judge) or "pass"
    inconclusive: str = "fail"

    def __post_init__(self):
        from .reporting.compare import INCONCLUSIVE, parse_rule

        if self.inconclusive not in INCONCLUSIVE:
            raise UsageError(
                f"inconclusive must be 'fail' or 'pass', got {self.inconclusive!r}", param="--inconclusive"
            )

        object.__setattr__(self, "fail_if", (self.fail_if,) if isinstance(self.fail_if, str) else tuple(self.fail_if))
        for rule in self.fail_if:
            parse_rule(rule)
        for name in ("base", "new"):
            if not Path(getattr(self, name)).is_dir():
                raise UsageError(f"{getattr(self, name)} is not a report folder", param="--compare")


@dataclass(frozen=True)
class CompareResult(Result):
    rows: list
    breaches: list
    notes: list
    inconclusive: list  # rule outcomes the data could not decide (breaches too unless inconclusive="pass")

    @property
    def ok(self) -> bool:
        return not self.breaches


def compare(config: CompareConfig) -> CompareResult:
    """Median latency, energy per inference, host and device mIoU of ``new`` against
    ``base``, each change an interval (repeat medians by a rank test, else each median's
    uncertainty); the breaches of the rules, inconclusive outcomes among them unless
    ``inconclusive="pass"``."""
    from .reporting.compare import compare_reports

    return _pick(
        CompareResult, compare_reports(config.base, config.new, config.fail_if, inconclusive=config.inconclusive)
    )


@dataclass(frozen=True)
class SelectConfig:
    artifact: str
    device: str = option(
        None,
        "'host', a device profile name, the device model or serial in the reports, or 'all': "
        "one choice per device in the reports.",
        required=True,
    )
    budget_ms: float = option(
        None, "Latency budget: median ms per inference.", kind=float, min=0, min_open=True, required=True
    )
    energy_budget_mj: float | None = option(
        None, "Energy budget: mJ per inference (device rows).", kind=float, min=0, min_open=True
    )
    delegate: str | None = option(None, "Consider this delegate only (default: every measured one).")
    reports: str = option(
        "reports", "A report folder, or the folder of report folders written by `edgeseg bench`.", flag="--report"
    )

    def __post_init__(self):
        for name in ("budget_ms", "energy_budget_mj"):
            v = getattr(self, name)
            if v is not None and not (0 < float(v) < float("inf")):  # also refuses nan
                raise UsageError(
                    f"--{name.replace('_', '-')} must be a positive finite number, got {v}",
                    param="--" + name.replace("_", "-"),
                )


@dataclass(frozen=True)
class SelectResult(Result):
    """``chosen`` and ``rows`` on the named device; with ``device='all'``, ``devices`` holds
    one entry per device (device, chosen, rows, reports, why_not), ``chosen`` is None and
    ``rows`` every device's rows."""

    chosen: dict | None
    rows: list
    reports: list
    devices: list | None = None

    @property
    def ok(self) -> bool:
        """Something fits: on the named device, or with ``all`` on every device."""
        return all(d["chosen"] for d in self.devices) if self.devices is not None else bool(self.chosen)

    def no_fit_message(self) -> str:
        from .reporting.select import no_fit_message

        if self.devices is None:
            return no_fit_message(self.rows)
        return "; ".join(f"on {d['device']}: {d['why_not']}" for d in self.devices if not d["chosen"])


def select(config: SelectConfig) -> SelectResult:
    """The best-quality measured configuration of an artifact that fits the budget, on the
    named device or (``device='all'``) on each device in the reports."""
    from .reporting.select import select as run_select

    c = config
    return _pick(SelectResult, run_select(c.artifact, c.device, c.budget_ms, c.energy_budget_mj, c.reports, c.delegate))


def command_line() -> str:
    """The command as typed, for run.json."""
    return " ".join(sys.argv)
