"""Shared helpers of the loopback-phone tests: one writer of device profiles for the loopback
phone (tests/adbd.py), and the watcher of the power rig's driven trace. Test modules import
these, never each other."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path


def toml_value(v) -> str:
    """A TOML value for the profiles' simple types (strings, numbers, booleans, lists of them)."""
    return json.dumps(v)


def loopback_profile(
    folder: Path,
    port: int,
    *,
    file: str = "loopback.toml",
    name: str = "loopback",
    runner: str = "python",
    delegates: dict | None = None,
    power: dict | None = None,
    thermal: dict | None = None,
    **top,
) -> Path:
    """A profile for the loopback phone on ``port`` (transport tcp), written to ``folder/file``:
    ``runner`` (the python board runner by default, with this interpreter), ``delegates``
    (name -> its keys; default cpu, xnnpack and gpu), ``power`` and ``thermal`` tables, and
    any other top-level keys."""
    top = {
        "name": name,
        "transport": "tcp",
        "address": f"127.0.0.1:{port}",
        "runner": runner,
        "python": sys.executable,
        "threads": 2,
        "work_dir": "/data/local/tmp/edgeseg",
        **top,
    }
    delegates = {"cpu": {}, "xnnpack": {}, "gpu": {"flags": ["--use_gpu=true"]}} if delegates is None else delegates
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items() if v is not None]
    for d, keys in delegates.items():
        lines += [f"[delegates.{d}]", *[f"{k} = {toml_value(v)}" for k, v in keys.items()]]
    for table, keys in (("power", power), ("thermal", thermal)):
        if keys is not None:
            lines += [f"[{table}]", *[f"{k} = {toml_value(v)}" for k, v in keys.items()]]
    path = Path(folder) / file
    path.write_text("\n".join(lines) + "\n")
    return path


def record_switches(driver) -> list:
    """The times at which the power rig's driver switched from idle to the run trace."""
    switches = []

    def watch():
        while not driver.stop.is_set():
            if driver.t_switch is not None and (not switches or switches[-1] != driver.t_switch):
                switches.append(driver.t_switch)
            time.sleep(0.001)

    threading.Thread(target=watch, daemon=True).start()
    return switches
