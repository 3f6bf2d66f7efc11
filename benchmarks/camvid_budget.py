#!/usr/bin/env python3
"""What a training time budget buys on CamVid: recipes trained side by side under the same
``--time-budget``, each pinned to its own CPU core (so that each gets one core, and every run
has the same neighbour: another training), and their val mIoU at label resolution.

    # train: one run per recipe and budget, side by side (one core each)
    python benchmarks/camvid_budget.py train --data ../shared/datasets/camvid --out /tmp/bud \\
        --budget 30m --recipe default= --recipe progressive=--progressive
    # the table of finished runs (LABEL=RUN), e.g. the ones above
    python benchmarks/camvid_budget.py table default-30m=/tmp/bud/default-30m ...

A recipe is ``LABEL=EXTRA TRAIN OPTIONS`` (empty: the default recipe). Every run trains
``resunet`` at 192x256 with seed 0 and ``--time-budget``; the default recipe with a budget is
today's epoch-based default stopped at the budget (its constant learning rate does not depend
on the epoch count). The table gives each run's budget, the wall and CPU seconds it used
(CPU from the process's rusage, or ``RUN/cpu_s`` written by ``train``), epochs, images seen,
the sizes it trained at, its best and last val mIoU, and the load average around it.

Prints the table and writes benchmarks/results/camvid_budget.csv.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from itertools import groupby
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeseg.errors import TrainError  # noqa: E402
from edgeseg.fileio import atomic_write_csv, atomic_write_json  # noqa: E402
from edgeseg.reporting.tables import Shown, format_table, host_environment, load_average  # noqa: E402
from edgeseg.run import read_history, read_run_config  # noqa: E402
from edgeseg.schemas import read_json  # noqa: E402
from edgeseg.training.budget import parse_duration  # noqa: E402

COLUMNS = (
    "run",
    "recipe",
    "budget_s",
    "used_s",
    "cpu_s",
    "epochs",
    "images_seen",
    "train_sizes",
    "best_val_miou",
    "best_epoch",
    "last_val_miou",
    "load_before",
    "load_after",
)
#: What every run of this benchmark trains (the CamVid recipe table's model and size).
BASE = ("--model", "resunet", "--input-size", "192x256", "--seed", "0")


def train_side_by_side(data: str, out: Path, budget: str, recipes: dict[str, str]) -> list[Path]:
    """Start one ``edgeseg train`` per recipe, each pinned to its own core, and wait for all;
    each run folder gets ``bench.json`` (command, CPU seconds, wall seconds, load)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(recipes) > len(cores):
        sys.exit(f"{len(recipes)} recipes need {len(recipes)} cores side by side; this process may use {len(cores)}")
    exe = str(Path(sys.executable).with_name("edgeseg"))
    procs = []
    load_before = load_average()
    for core, (label, extra) in zip(cores, recipes.items()):
        run = out / f"{label}-{budget}"
        cmd = [exe, "train", "--data", data, "--out", str(run), "--time-budget", budget, *BASE, *shlex.split(extra)]
        log = open(out / f"{label}-{budget}.log", "w")
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda c=core: os.sched_setaffinity(0, {c})
        )
        procs.append((proc, run, cmd, core, time.monotonic()))
        print(f"core {core}: {shlex.join(cmd)}", flush=True)
    runs = []
    for proc, run, cmd, core, t0 in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{run}: train exited with {os.waitstatus_to_exitcode(status)}; see {run}.log")
        atomic_write_json(
            run / "bench.json",
            {
                "command": shlex.join(cmd),
                "core": core,
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                "wall_s": round(wall, 1),
                "load_before": load_before,
                "load_after": load_average(),
            },
        )
        runs.append(run)
    return runs


def summarise(label: str, run: Path) -> dict:
    """One table row from a finished run's own files, read through edgeseg's checked readers."""
    rows = read_history(run / "history.csv")
    config = read_run_config(run)["train"]
    fix = "train the run again"
    best = read_json(run / "best.json", TrainError, fix)
    bench = read_json(run / "bench.json", TrainError, fix) if (run / "bench.json").is_file() else {}
    scored = [r for r in rows if r.get("val_miou")]
    sizes = [
        (size, len(list(epochs))) for size, epochs in groupby(r.get("train_size") or config["input_size"] for r in rows)
    ]
    recipe = f"{'progressive' if config.get('progressive') else 'one size'}, {config.get('schedule', 'exp')} rate"
    if int(config.get("val_every") or 1) > 1:
        recipe += f", val every {config['val_every']}"
    load = [bench.get("load_before"), bench.get("load_after")]
    return {
        "run": label,
        "recipe": recipe,
        "budget_s": round(parse_duration(config["time_budget"])) if config.get("time_budget") else "",
        "used_s": bench.get("wall_s", round(sum(float(r["seconds"]) for r in rows), 1)),
        "cpu_s": bench.get("cpu_s", ""),
        "epochs": len(rows),
        "images_seen": rows[-1].get("images_seen", ""),
        "train_sizes": " ".join(f"{size} x{n}" for size, n in sizes),
        "best_val_miou": f"{float(best['miou']):.4f}",
        "best_epoch": best["epoch"],
        "last_val_miou": f"{float(scored[-1]['val_miou']):.4f}" if scored else "",
        "load_before": load[0][0] if load[0] else "",  # 1-minute load averages
        "load_after": load[1][0] if load[1] else "",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--csv", default=str(ROOT / "benchmarks" / "results" / "camvid_budget.csv"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", parents=[common], help="train the recipes side by side, then print the table")
    tr.add_argument("--data", required=True)
    tr.add_argument("--out", required=True)
    tr.add_argument("--budget", required=True, help="e.g. 30m")
    tr.add_argument("--recipe", action="append", required=True, help="LABEL=EXTRA TRAIN OPTIONS")
    tb = sub.add_parser("table", parents=[common], help="the table of finished runs")
    tb.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    args = ap.parse_args(argv)
    if args.cmd == "train":
        recipes = dict(r.split("=", 1) for r in args.recipe)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        runs = train_side_by_side(args.data, out, args.budget, recipes)
        pairs = [(f"{label}-{args.budget}", run) for label, run in zip(recipes, runs)]
    else:
        pairs = [(a.split("=", 1)[0], Path(a.split("=", 1)[1])) for a in args.runs]
    rows = [summarise(label, run) for label, run in pairs]
    print(host_environment())
    print(format_table([{k: Shown(v) if k.endswith("miou") else v for k, v in r.items()} for r in rows], COLUMNS))
    atomic_write_csv(Path(args.csv), COLUMNS, rows)
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
