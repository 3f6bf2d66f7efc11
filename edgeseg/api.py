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

import sys

from .device.commands import DeployConfig, DeployResult, EvalConfig, EvalResult, deploy
from .device.config import BenchConfig, DeviceConfig, check_delegates
from .quantize.commands import (
    RECIPE_CHOICES,
    CompileConfig,
    CompileResult,
    ExportConfig,
    ExportResult,
    ImportConfig,
    ImportResult,
    InfoConfig,
    InfoResult,
    compile,
    export,
    import_model,
    info,
)
from .reporting.commands import (
    BenchResult,
    CompareConfig,
    CompareResult,
    ReportConfig,
    ReportResult,
    SelectConfig,
    SelectResult,
    bench,
    compare,
    evaluate,
    report,
    select,
)
from .reporting.numerics import NumericsConfig, NumericsResult, numerics
from .results import Result, Say
from .training.commands import TrainConfig, TrainResult, resume_config, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "train",
    "resume_config",
    "ExportConfig",
    "ExportResult",
    "export",
    "RECIPE_CHOICES",
    "ImportConfig",
    "ImportResult",
    "import_model",
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
    "NumericsConfig",
    "NumericsResult",
    "numerics",
    "CompareConfig",
    "CompareResult",
    "compare",
    "SelectConfig",
    "SelectResult",
    "select",
    "DeviceConfig",
    "check_delegates",
    "Result",
    "Say",
]


def command_line() -> str:
    """The command as typed, for run.json."""
    return " ".join(sys.argv)
