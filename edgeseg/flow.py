"""The embedded-default flow: synthetic lanes -> train -> export 4 ways -> host eval ->
host bench -> one report, composed of the public API's calls (so it trains, exports and
measures exactly what `edgeseg train`, `quantize`, `eval` and `bench` would). Everything a new
user needs to see the whole product work on a machine with no phone and no dataset."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import api
from .config import format_size, option, parse_size
from .delegates import host_default
from .models.registry import DEFAULT_MODEL, MODELS
from .quantize.recipes import needs_calibration

#: The recipes the quickstart exports, in the order its tables show them.
QUICKSTART_RECIPES = ("float32", "dynamic", "float16", "int8")
#: The quickstart's scene size: smaller than the default model's own (192x320) so that the
#: whole flow fits in five minutes on a 2-core CPU; at 5 epochs of 240 scenes it reaches the
#: same val mIoU (0.90 at both sizes, measured side by side). ``--size`` takes the model's.
QUICKSTART_SIZE = (128, 224)


@dataclass(frozen=True)
class QuickstartConfig:
    workdir: str = option("edgeseg-quickstart", "Folder for the synthetic data and the run.")
    reports: str = option("reports", "Where the report folder is created.")
    count: int = option(300, "Synthetic scenes.", min=20)
    size: tuple[int, int] | None = option(
        None,
        f"HxW. Default: {format_size(QUICKSTART_SIZE)}, to finish in minutes ({DEFAULT_MODEL}'s own input size is "
        f"{format_size(MODELS[DEFAULT_MODEL].input_size)}).",
        size=True,
    )
    epochs: int = option(5, "Training epochs.", min=1)
    batch: int = 8
    threads: int = option(2, "Threads for eval and bench.", min=1)
    seed: int = option(0, "Seed of the scenes and the training.")
    calib_count: int = 100
    #: the bench: each precision in ``repeat`` interleaved rounds of at least ``runs`` runs and
    #: ``min_secs`` (so that machine drift hits every precision alike)
    runs: int = 20
    min_secs: float = 0.5
    repeat: int = 3

    def __post_init__(self):
        size = parse_size(self.size) if self.size is not None else QUICKSTART_SIZE
        object.__setattr__(self, "size", tuple(size))
        if self.count < 20:
            raise api.UsageError("--count must be at least 20 (a val split of at least 4 scenes)", param="--count")


@dataclass(frozen=True)
class QuickstartResult(api.Result):
    report: str
    summary: list
    timings: dict
    artifacts: list


def quickstart(
    config: QuickstartConfig = QuickstartConfig(),
    *,
    log: Callable[[str], None] = lambda s: None,
    progress=None,
    on_batch=None,
) -> QuickstartResult:
    """Synthesize, train, export, evaluate and bench on this host; one report folder."""
    from .data.synth import synthesize
    from .fileio import REPORT_MIN_FREE, check_writable_output
    from .reporting.tables import read_report
    from .run import finished_epochs, has_best

    c = config
    check_writable_output(c.workdir, "--workdir", kind="folder", min_free=50_000_000)
    check_writable_output(c.reports, "--reports", kind="folder", min_free=REPORT_MIN_FREE)
    t_start = time.perf_counter()
    workdir = Path(c.workdir)
    data, run = workdir / "lanes", workdir / "run"
    timings = {}

    t = time.perf_counter()
    log(f"[1/5] synthesizing {c.count} lane scenes at {format_size(c.size)} -> {data}")
    synthesize(data, count=c.count, size=c.size, seed=c.seed, progress=progress)
    timings["synth_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[2/5] training {DEFAULT_MODEL} for {c.epochs} epochs -> {run}")
    resume = (run / "config.json").exists()
    cfg = api.TrainConfig(
        data=str(data),
        out=str(run),
        input_size=c.size,
        epochs=c.epochs,
        batch=c.batch,
        seed=c.seed,
        augment="flip,brightness",
    )
    if resume and has_best(run) and finished_epochs(run) >= c.epochs:
        log(f"      {run} already trained for {c.epochs} epochs; reusing it")
    else:
        api.train(
            cfg,
            resume=resume,
            progress=progress,
            on_batch=on_batch,
            on_epoch=lambda r: log(
                f"      epoch {r['epoch']}/{r['epochs']}  loss {r['loss']:.3f}  "
                f"val mIoU {r['val_miou']:.3f}  {r['images_per_s']:.1f} img/s"
            ),
        )
    timings["train_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[3/5] exporting {', '.join(QUICKSTART_RECIPES)} (int8 calibrated on {data}/train)")
    artifacts = []
    for recipe in QUICKSTART_RECIPES:
        calibrated = needs_calibration(recipe)
        res = api.export(
            api.ExportConfig(
                run=str(run),
                recipe=recipe,
                calib=str(data) if calibrated else None,
                num_calib=c.calib_count if calibrated else None,
                seed=c.seed,
                force=True,
                lint=False,
            ),  # the quickstart owns its workdir
            progress=progress,
        )
        for w in res.warnings:
            log(f"      warning: {w}")
        artifacts.append(Path(res.artifact))
    timings["export_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log("[4/5] evaluating each artifact on the synthetic val split (LiteRT interpreter, label resolution)")
    for art in artifacts:  # the training data's val split: recorded in each manifest, where bench reads it
        q = api.evaluate(
            api.EvalConfig(target=str(art), data=str(data), split="val", threads=c.threads), progress=progress
        )
        log(f"      {art.name:<34} mIoU {q.miou:.4f}")
    timings["eval_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(
        f"[5/5] benchmarking each artifact on this host ({c.threads} threads, "
        f"{c.repeat} interleaved round{'s' if c.repeat > 1 else ''})"
    )

    def row_line(r):
        log(
            f"      {r['artifact']:<34} median {r['median_ms']:.2f} ms ({r['status']})"
            if r.get("status") != "failed"
            else f"      {r['artifact']}: failed"
        )

    bench = api.bench(
        api.BenchConfig(
            artifacts=tuple(str(a) for a in artifacts),
            device="host",
            delegates=(host_default(),),
            threads=c.threads,
            runs=c.runs,
            min_secs=c.min_secs,
            repeat=c.repeat,
            reports=c.reports,
            report_name="quickstart",
            command="edgeseg quickstart",
            run_info={
                "workdir": str(workdir),
                "timings": dict(timings),
                "train": {"epochs": c.epochs, "count": c.count, "size": list(c.size)},
            },
        ),
        on_row=row_line,
    )
    timings["bench_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_start
    data_out = {
        "report": bench.report,
        "summary": read_report(bench.report)["summary"],
        "timings": timings,
        "artifacts": [str(a) for a in artifacts],
    }
    return QuickstartResult(data=data_out, **data_out)
