"""What this machine is: its CPU's name and instruction-set flags, read from /proc/cpuinfo."""

from __future__ import annotations

import platform
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PrecisionAcceleration:
    """A row of :data:`PRECISION_ACCELERATION`: the CPU instruction sets that make a recipe
    faster than float32 on a CPU, and what to say where none is present."""

    recipes: tuple[str, ...]
    flags: tuple[str, ...]  # any one of them (x86 /proc/cpuinfo flags, Arm Features)
    without: str


#: Which CPU instructions let a quantized or half-precision artifact beat float32 on this host.
#: Without them the host shows no advantage the phone may well have (Arm cores with dot-product
#: or fp16 arithmetic), so its ratio would mislead.
PRECISION_ACCELERATION = (
    PrecisionAcceleration(
        ("int8", "int16x8"),
        ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"),
        "this CPU has no int8 dot-product instructions (VNNI, AMX-INT8, Arm dot product): int8 runs "
        "about as fast as float32 here, which says nothing of a phone with them; measure it there "
        "(edgeseg bench --device)",
    ),
    PrecisionAcceleration(
        ("float16",),
        ("avx512_fp16", "asimdhp"),
        "this CPU has no float16 arithmetic: the float16 weights are widened to float32 when loaded, "
        "so it runs as float32 here; a phone's GPU or fp16 cores may run it faster (edgeseg bench --device)",
    ),
)


def precision_note(recipe: str | None, flags: set[str] | None = None) -> str | None:
    """What a host row of ``recipe`` cannot show on this CPU, or None (float32, or the
    instructions are there)."""
    base = (recipe or "").split("_")[0]
    have = cpu_flags() if flags is None else flags
    for row in PRECISION_ACCELERATION:
        if base in row.recipes and not have & set(row.flags):
            return row.without
    return None
