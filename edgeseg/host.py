"""What this machine is: its CPU's name and instruction-set flags, read from /proc/cpuinfo."""

from __future__ import annotations

import platform
from pathlib import Path


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's marketing name (x86 ``model name``, Arm ``Hardware``), else the platform's."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.lower().startswith(("model name", "hardware", "processor\t:")) and ":" in line:
            value = line.split(":", 1)[1].strip()
            if value and not value.isdigit():
                return value
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The first CPU's ``flags`` (x86) or ``Features`` (Arm)."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


#: A host whose 1-minute load average (before our own work starts) is at least this many per
#: core is busy: its latency is the other work's as much as the model's (``noisy`` rows, and
#: report --compare's note).
BUSY_LOAD_PER_CORE = 0.5


def load_now() -> tuple[float | None, int | None]:
    """``(1-minute load average, cores)`` of this host, None where the platform has none."""
    import os

    try:
        return round(os.getloadavg()[0], 2), os.cpu_count()
    except (OSError, AttributeError):
        return None, os.cpu_count()


def busy_host(load: float | None, cores: int | None) -> bool:
    """Whether ``load`` on ``cores`` is a busy host (:data:`BUSY_LOAD_PER_CORE`)."""
    return load is not None and bool(cores) and load >= BUSY_LOAD_PER_CORE * cores
