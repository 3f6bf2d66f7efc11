"""edgeseg: from a segmentation dataset to measured latency, power and quality on a phone.

The public API is one function per command, each taking a typed config and returning a
typed result (see :mod:`edgeseg.api`)::

    import edgeseg
    res = edgeseg.train(edgeseg.TrainConfig(data="lanes", out="run", epochs=5))

Its names are loaded on first use, so ``import edgeseg`` (and the CLI's ``--help``) stays light.
"""

from .version import __version__

#: name -> module that defines it (loaded on first attribute access)
_API = {
    name: "api"
    for name in (
        "TrainConfig",
        "TrainResult",
        "train",
        "resume_config",
        "ExportConfig",
        "ExportResult",
        "export",
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
        "DeviceConfig",
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
        "NumericsConfig",
        "NumericsResult",
        "numerics",
        "Result",
    )
}
_API.update(QuickstartConfig="flow", QuickstartResult="flow", quickstart="flow")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgeseg' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
