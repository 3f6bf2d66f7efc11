"""`edgeseg quantize` and `edgeseg compile` as functions: their configs (each option a field),
typed results, and the work (edgeseg.quantize.ptq / qat / controlled / pta_export / aot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import option
from ..errors import EdgesegError, UsageError
from ..iospec import LAYOUTS, NORMALISATIONS, OUTPUT_KINDS
from ..results import Result, Say, _pick, _quiet
from .recipes import DEFAULT_HEAD, HEADS, IO_TYPES, PTQ_TOOLS, RECIPES, needs_calibration

if TYPE_CHECKING:
    from ..artifact import Manifest


def _recipes() -> tuple[str, ...]:
    from .recipes import RECIPES

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
    num_calib: int | None = option(None, "Calibration images to use (default 200).", min=1)
    io: str = option(IO_TYPES[0], "Input/output type of int8 recipes.", choices=IO_TYPES)
    head: str = option(DEFAULT_HEAD, "; ".join(f"{k}: {v}" for k, v in HEADS.items()) + ".", choices=HEADS)
    ptq: str | None = option(
        None,
        "--int8: calibrate with the TFLite converter (from the Keras model), or with "
        "ai-edge-quantizer from the float32 .tflite (same mIoU on CamVid; faster, and it reuses a "
        "float32 export of the same weights). "
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
        min=0,
    )
    data: str | None = option(
        None, "Dataset for --max-drop evaluation and --qat fine-tuning (default for --qat: the run's)."
    )
    max_steps: int = option(8, "--max-drop: step limit.", min=1)
    epochs: int = option(2, "--qat: fine-tune epochs.", min=1)
    lr: float = option(1e-4, "--qat: initial learning rate.", min=0, min_open=True)
    resume: bool = option(False, "--qat: continue RUN/qat from its last finished epoch.")
    limit: int | None = option(None, "--qat/--max-drop: use at most N images per split.", min=1)
    pta_configs: tuple[str, ...] | None = option(
        None,
        "unet-pta runs: comma list of configurations (e.g. "
        "LLL,HLH,HHH,BBB) exported as one multi-signature .tflite plus "
        "one file each.",
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
        if self.recipe != "qat" and not needs_calibration(self.recipe) and explicit:
            raise UsageError(
                f"--{self.recipe} needs no calibration: --calib/--num-calib are for "
                + " and ".join(f"--{r}" for r in RECIPES if needs_calibration(r))
            )
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
        if str(self.run).endswith(".tflite"):
            self._check_artifact_options()
        elif Path(self.run).is_file():
            raise UsageError(f"{self.run} is a file: quantize a run folder, or a float .tflite with its manifest")

    def _check_artifact_options(self) -> None:
        """A .tflite is quantized as a file (--int8 with ai-edge-quantizer): the options that
        work on a run's Keras model do not apply, and are refused rather than ignored."""
        run_only = {
            "qat": self.recipe == "qat",
            "max_drop": self.max_drop is not None,
            "pta_configs": bool(self.pta_configs),
            "head": self.head != DEFAULT_HEAD,
            "ptq": self.ptq not in (None, "aeq"),
        }
        given = [k for k, v in run_only.items() if v]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UsageError(
                f"{flags} work(s) on a run's model; a .tflite ({self.run}) is quantized as a file: "
                "--int8 --calib DIR [--num-calib N] [--io int8|float] [--out FILE]"
            )

    @property
    def path(self) -> str:
        """Which export path the config takes: artifact (a float .tflite, e.g. an imported
        one), qat, pta, controlled or ptq."""
        if str(self.run).endswith(".tflite"):
            return "artifact"
        if self.recipe == "qat":
            return "qat"
        if self.pta_configs:
            return "pta"
        return "controlled" if self.max_drop is not None else "ptq"


@dataclass(frozen=True)
class ExportResult(Result):
    artifact: str
    manifest: Manifest
    warnings: list


def export(config: ExportConfig, *, say: Say = _quiet, progress=None, on_epoch=None, on_batch=None) -> ExportResult:
    """Export (quantize) a run's best checkpoint to ``.tflite`` with its manifest; with
    ``config.lint`` the delegate lint of the result is in ``data["lint"]``."""
    from ..fileio import scratch_dir

    with scratch_dir("edgeseg-export-"):  # the converter's SavedModel goes, Ctrl-C and SIGTERM included
        res = _export(config, say, progress, on_epoch, on_batch)
    return _pick(ExportResult, res)


def _export(c: ExportConfig, say, progress, on_epoch, on_batch) -> dict:
    num_calib = c.num_calib or ExportConfig.DEFAULT_NUM_CALIB
    if c.path == "artifact":
        from .importer import quantize_artifact

        res = quantize_artifact(c.run, c.recipe, c.calib, num_calib, c.io, c.out, c.force, c.seed, progress)
    elif c.path == "qat":
        from .qat import quantize_qat

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
        from .pta_export import export_pta

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
        from .controlled import controlled_int8

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
        from .ptq import DEFAULT_PTQ, quantize_run

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
        for note in res.get("notes", ()):
            say(note)
    res = dict(res)
    res["artifact"] = str(res["artifact"])
    if c.lint:
        from .lint import lint_artifact

        res["lint"] = lint_artifact(res["artifact"])
    return res


@dataclass(frozen=True)
class CompileConfig:
    artifact: str
    socs: tuple[str, ...] = option(
        (),
        "Target SoC as LiteRT names it (MT6989 for the Dimensity 9300, SM8650, Tensor_G4, LNL, ...); "
        "repeat for several.",
        flag="--soc",
        multiple=True,
        required=True,
    )
    openvino_device: str = option(
        "auto",
        "Intel targets: the OpenVINO device to compile for (auto: the NPU when its compiler is installed, "
        "else the CPU plugin).",
        choices=("auto", "npu", "gpu", "cpu"),
    )
    force: bool = option(False, "Replace an existing compiled file.")

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
    from .aot import compile_artifact

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


# -- info -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InfoConfig:
    target: str
    delegates: bool = option(
        False, "Per delegate (XNNPACK measured; GPU, NNAPI predicted) which ops run there, partitions, warnings."
    )
    android_api: int = option(30, "Android API level for the NNAPI prediction.", min=27, max=40)

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
    from ..runtime.modelinfo import model_info

    path = Path(config.target)
    manifest = None
    if path.is_dir():
        import tempfile

        from ..run import load_run_model
        from .ptq import convert

        model, cfg = load_run_model(path)
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "model.tflite"
            f.write_bytes(convert(model, tuple(cfg["input_size"]), "float32"))
            res = model_info(f)
        res.update(path=str(path), keras_params=int(model.count_params()), size_bytes=None)
    else:
        from ..artifact import read_manifest, signatures_of

        res = model_info(path)
        manifest = read_manifest(path)
        if signatures_of(manifest):  # the counts above are the primary subgraph's; each configuration's:
            res["signatures"] = {s: manifest.pta_configs[s] for s in signatures_of(manifest)}
    if config.delegates:
        from .lint import lint_artifact, lint_signatures

        res["lint"] = lint_artifact(path, nnapi_api=config.android_api)
        if res.get("signatures"):
            res["lint_signatures"] = lint_signatures(path, manifest, nnapi_api=config.android_api)
    return _pick(InfoResult, res)


# -- import -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportConfig:
    """`edgeseg import MODEL --out FILE.tflite`: what the user states about a model edgeseg
    did not train (edgeseg.iospec); the rest is read from the file. Nothing is guessed."""

    model: str
    out: str = option(None, "The artifact to write (.tflite; its manifest goes beside it).", required=True)
    normalize: str | None = option(
        None,
        "Input normalisation: " + "; ".join(f"{k}: {v.description}" for k, v in NORMALISATIONS.items()) + ".",
        choices=tuple(NORMALISATIONS),
    )
    mean: tuple[float, ...] | None = option(
        None, "Per-channel mean R,G,B in [0,1] units (with --std): x = (pixel/255 - mean) / std.", metavar="R,G,B"
    )
    std: tuple[float, ...] | None = option(None, "Per-channel std R,G,B in [0,1] units (with --mean).", metavar="R,G,B")
    layout: str | None = option(
        None,
        "Input layout: " + "; ".join(f"{k}: {v}" for k, v in LAYOUTS.items()) + ". Default: read from the file.",
        choices=tuple(LAYOUTS),
    )
    output: str | None = option(
        None,
        "Output kind: "
        + "; ".join(f"{k}: {v}" for k, v in OUTPUT_KINDS.items())
        + ". Default: read where unambiguous.",
        choices=tuple(OUTPUT_KINDS),
    )
    output_stride: int | None = option(
        None, "The output's stride (input size / output size); read from the shapes when not given.", min=1
    )
    classes: str | None = option(None, "Class names: a text file, one name a line (or name,r,g,b).")
    classes_from: str | None = option(None, "Take the class names and colours from this dataset.", metavar="DATASET")
    input_size: tuple[int, int] | None = option(
        None, "HxW for a model that takes any size (checked against the file otherwise).", size=True
    )
    entry: str | None = option(
        None, "PyTorch: module:function returning (torch.nn.Module, example input); MODEL is its file or folder."
    )
    force: bool = option(False, "Replace an existing artifact.")

    def __post_init__(self):
        from ..config import parse_size

        if isinstance(self.input_size, str):
            object.__setattr__(self, "input_size", parse_size(self.input_size))
        if self.entry is not None and ":" not in self.entry:
            raise UsageError(f"--entry {self.entry}: write it module:function", param="--entry")
        for name, table in (("normalize", NORMALISATIONS), ("layout", LAYOUTS), ("output", OUTPUT_KINDS)):
            v = getattr(self, name)
            if v is not None and v not in table:
                raise UsageError(f"--{name} {v} is not one of {', '.join(table)}", param="--" + name)

    def normalisation(self):
        from ..iospec import normalisation_for

        return normalisation_for(self.normalize, self.mean, self.std)

    def stated_options(self) -> dict:
        """What the user stated (recorded in the manifest's provenance)."""
        keys = (
            "normalize",
            "mean",
            "std",
            "layout",
            "output",
            "output_stride",
            "classes",
            "classes_from",
            "input_size",
            "entry",
        )
        return {k: (list(v) if isinstance(v, tuple) else v) for k in keys if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class ImportResult(Result):
    artifact: str
    manifest: Manifest
    source: str


def import_model(config: ImportConfig) -> ImportResult:
    """Import a model edgeseg did not train (.tflite as it is; Keras, SavedModel converted with
    the LiteRT converter; PyTorch with litert-torch): the artifact and its manifest."""
    from .importer import import_model as _import

    norm = config.normalisation()  # a usage error before any file is read
    return _pick(ImportResult, _import(config, norm))
