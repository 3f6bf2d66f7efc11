"""The embedded-default flow: synthetic lanes -> train -> export 4 ways -> host eval ->
host bench -> one report. Everything a new user needs to see the whole product work on a
machine with no phone and no dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .config import format_size
from .artifact import signature_label

QUICKSTART_RECIPES = ("float32", "dynamic", "float16", "int8")


def quickstart(workdir: str | Path = "edgeseg-quickstart", reports: str | Path = "reports", count: int = 300,
               size: tuple[int, int] = (192, 320), epochs: int = 5, batch: int = 8, threads: int = 2,
               seed: int = 0, calib_count: int = 100, log: Callable[[str], None] = lambda s: None,
               progress=None, on_batch=None) -> dict:
    from .data.synth import synthesize  # noqa: PLC0415
    from .quantize.ptq import quantize_run  # noqa: PLC0415
    from .reporting.tables import load_average, write_report  # noqa: PLC0415
    from .runtime.evaluate import evaluate  # noqa: PLC0415
    from .training.loop import TrainConfig, train  # noqa: PLC0415

    t_start = time.perf_counter()
    workdir = Path(workdir)
    data = workdir / "lanes"
    run = workdir / "run"
    timings = {}

    t = time.perf_counter()
    log(f"[1/5] synthesizing {count} lane scenes at {format_size(size)} -> {data}")
    synthesize(data, count=count, size=size, seed=seed, progress=progress)
    timings["synth_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[2/5] training resunet for {epochs} epochs -> {run}")
    resume = (run / "config.json").exists()
    cfg = TrainConfig(data=str(data), out=str(run), input_size=size, epochs=epochs, batch=batch, seed=seed,
                      augment="flip,brightness")
    done = len((run / "history.csv").read_text().splitlines()) - 1 if (run / "history.csv").exists() else 0
    if resume and (run / "best.json").exists() and done >= epochs:
        log(f"      {run} already trained for {epochs} epochs; reusing it")
    else:
        train(cfg, resume=resume, progress=progress, on_batch=on_batch,
              on_epoch=lambda r: log(f"      epoch {r['epoch']}/{r['epochs']}  loss {r['loss']:.3f}  "
                                     f"val mIoU {r['val_miou']:.3f}  {r['images_per_s']:.1f} img/s"))
    timings["train_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[3/5] exporting {', '.join(QUICKSTART_RECIPES)} (int8 calibrated on {data}/train)")
    artifacts = []
    for recipe in QUICKSTART_RECIPES:
        res = quantize_run(run, recipe, calib=data if recipe == "int8" else None, num_calib=calib_count, seed=seed,
                           progress=progress, force=True)  # the quickstart owns its workdir
        for w in res["warnings"]:
            log(f"      warning: {w}")
        artifacts.append(Path(res["artifact"]))
    timings["export_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log("[4/5] evaluating each artifact on the synthetic val split (LiteRT interpreter, label resolution)")
    quality = []
    for art in artifacts:
        q = evaluate(art, data, "val", threads=threads, progress=progress)
        quality.append(q)
        log(f"      {art.name:<34} mIoU {q['miou']:.4f}")
    timings["eval_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[5/5] benchmarking each artifact on this host ({threads} threads)")
    load_before = load_average()
    latency = bench_rows(artifacts, "host", threads, runs=50, min_secs=2.0,
                         say=lambda r: log(f"      {r['artifact']:<34} median {r['median_ms']:.2f} ms ({r['status']})"
                                           if r.get("status") != "failed" else f"      {r['artifact']}: failed"))
    bench_info = {"threads": threads, "runs": 50, "min_secs": 2.0, "delegates": ["xnnpack"],
                  "load_before": load_before, "load_after": load_average()}
    timings["bench_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_start
    sizes = {a.stem: a.stat().st_size for a in artifacts}
    report = write_report(reports, "quickstart", latency, quality, sizes=sizes,
                          run_info={"command": "edgeseg quickstart", "workdir": str(workdir), "timings": timings,
                                    "bench": bench_info,
                                    "train": {"epochs": epochs, "count": count, "size": list(size)}})
    from .reporting.tables import read_report  # noqa: PLC0415

    return {"report": str(report), "summary": read_report(report)["summary"], "timings": timings,
            "artifacts": [str(a) for a in artifacts]}
