"""What this machine is: its CPU's name and instruction-set flags, read from /proc/cpuinfo."""

from __future__ import annotations

import platform
from dataclasses import dataclass, replace
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


def precision_note(recipe: str | None, flags: set[str] | None = None) -> str | None:
    """What a host row of ``recipe`` cannot show on this CPU, or None (float32, or the
    instructions are there)."""
    base = (recipe or "").split("_")[0]
    have = cpu_flags() if flags is None else flags
    for row in PRECISION_ACCELERATION:
        if base in row.recipes and not have & set(row.flags):
            return row.without
    return None


@dataclass(frozen=True)
class VectorPeak:
    """A row of :data:`VECTOR_PEAKS`: multiply-accumulates per cycle per core that one
    precision's widest instructions give on a CPU with all of ``flags``."""

    precision: str  # float32, int8 or float16 (the arithmetic the kernels run in)
    flags: tuple[str, ...]
    macs_per_cycle: int
    how: str
    beats_float32: bool = True  # False: the baseline instructions, about as fast as float32 per value


#: Peak MACs per cycle per core, best row first within a precision: vector lanes times
#: two vector multiply-add ports (x86 since Haswell / Zen 2; Arm Cortex-A76 and later), for
#: the instruction the kernels use. AMD Zen 4 (family 25) runs 512-bit instructions as two
#: 256-bit halves, so its AVX-512 rows count as 256-bit (:func:`vector_peak`). Figures are
#: upper bounds from the instruction widths, not measurements: a real convolution reaches a
#: fraction (memory, im2col, requantization).
VECTOR_PEAKS = (
    VectorPeak("float32", ("avx512f",), 32, "AVX-512 FMA: 16 float32 lanes x 2 ports"),
    VectorPeak("float32", ("avx2", "fma"), 16, "AVX2 FMA: 8 float32 lanes x 2 ports"),
    VectorPeak("float32", ("asimd",), 8, "NEON FMLA: 4 float32 lanes x 2 ports"),
    VectorPeak("float32", ("sse2",), 8, "SSE: 4 float32 lanes, multiply and add x 2 ports"),
    VectorPeak("int8", ("amx_int8",), 1024, "AMX TMUL: 1024 int8 MACs per cycle"),
    VectorPeak("int8", ("avx512_vnni",), 128, "AVX-512 VNNI VPDPBUSD: 64 int8 MACs x 2 ports"),
    VectorPeak("int8", ("avx_vnni",), 64, "AVX-VNNI VPDPBUSD: 32 int8 MACs x 2 ports"),
    VectorPeak("int8", ("avx2",), 32, "AVX2 VPMADDUBSW + VPMADDWD: 32 int8 MACs per 2 instructions x 2 ports", False),
    VectorPeak("int8", ("i8mm",), 64, "Arm SMMLA: 32 int8 MACs x 2 ports"),
    VectorPeak("int8", ("asimddp",), 32, "Arm SDOT: 16 int8 MACs x 2 ports"),
    VectorPeak("int8", ("asimd",), 16, "NEON SMLAL: 8 int8 MACs x 2 ports", False),
    VectorPeak("float16", ("avx512_fp16",), 64, "AVX512-FP16 FMA: 32 lanes x 2 ports"),
    VectorPeak("float16", ("asimdhp",), 16, "Arm FP16 FMLA: 8 lanes x 2 ports"),
)


@dataclass(frozen=True)
class PrecisionAcceleration:
    """A row of :data:`PRECISION_ACCELERATION`: the recipes whose kernels run in
    ``arithmetic``, and what to say where the CPU has no instruction that makes it beat float32
    (the :data:`VECTOR_PEAKS` rows of that arithmetic marked ``beats_float32``)."""

    recipes: tuple[str, ...]
    arithmetic: str
    without: str

    @property
    def flags(self) -> tuple[str, ...]:
        """Any one of them accelerates ``arithmetic`` (x86 /proc/cpuinfo flags, Arm Features)."""
        return tuple(f for r in VECTOR_PEAKS if r.precision == self.arithmetic and r.beats_float32 for f in r.flags)


#: Which recipes a host without the instructions that make them beat float32 cannot show:
#: the phone may well have them (Arm cores with dot-product or fp16 arithmetic), so the host's
#: ratio would mislead.
PRECISION_ACCELERATION = (
    PrecisionAcceleration(
        ("int8", "int16x8"),
        "int8",
        "this CPU has no int8 dot-product instructions (VNNI, AMX-INT8, Arm dot product): int8 runs "
        "about as fast as float32 here, which says nothing of a phone with them; measure it there "
        "(edgeseg bench --device)",
    ),
    PrecisionAcceleration(
        ("float16",),
        "float16",
        "this CPU has no float16 arithmetic: the float16 weights are widened to float32 when loaded, "
        "so it runs as float32 here; a phone's GPU or fp16 cores may run it faster (edgeseg bench --device)",
    ),
)


#: The arithmetic each recipe's kernels run in (XNNPACK): dynamic-range int8 quantizes the
#: activations on the fly and runs int8 kernels; float16 without fp16 arithmetic is widened
#: to float32 when loaded.
RECIPE_ARITHMETIC = {"float32": "float32", "float16": "float16", "dynamic": "int8", "int8": "int8", "int16x8": "int8"}


def _cpuinfo_field(name: str, cpuinfo: str | None = None) -> str | None:
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.split(":", 1)[0].strip() == name and ":" in line:
            return line.split(":", 1)[1].strip()
    return None


def clock_ghz(
    cpuinfo: str | None = None, sysfs: Path = Path("/sys/devices/system/cpu/cpu0/cpufreq")
) -> tuple[float, str]:
    """The core clock for a peak figure and where it was read: cpufreq's maximum (boost
    included) where the kernel exposes it, else /proc/cpuinfo's ``cpu MHz`` (on a virtual
    machine: the clock the hypervisor reports). ``(0.0, "unknown")`` if neither exists."""
    try:
        khz = int((sysfs / "cpuinfo_max_freq").read_text().strip())
        return khz / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    mhz = _cpuinfo_field("cpu MHz", cpuinfo)
    try:
        return float(
            mhz
        ) / 1e3, "/proc/cpuinfo cpu MHz, the reported clock: a core that boosts above it can exceed 100%"
    except (TypeError, ValueError):
        return 0.0, "unknown"


def vector_peak(arithmetic: str, flags: set[str], cpuinfo: str | None = None) -> VectorPeak | None:
    """The best :data:`VECTOR_PEAKS` row of ``arithmetic`` this CPU has (float16 without its
    own instructions: float32's, as it runs), halved for AVX-512 rows on AMD Zen 4."""
    zen4 = _cpuinfo_field("vendor_id", cpuinfo) == "AuthenticAMD" and _cpuinfo_field("cpu family", cpuinfo) == "25"
    for row in VECTOR_PEAKS:
        if row.precision == arithmetic and set(row.flags) <= flags:
            if zen4 and any(f.startswith("avx512") for f in row.flags):
                return replace(row, macs_per_cycle=row.macs_per_cycle // 2, how=row.how + " (Zen 4: 256-bit halves)")
            return row
    return vector_peak("float32", flags, cpuinfo) if arithmetic == "float16" else None


def peak_gmacs(recipe: str | None, threads: int, flags: set[str] | None = None, cpuinfo: str | None = None) -> dict:
    """``{peak_gmac_per_s, peak_how}`` of ``recipe`` on ``threads`` cores of this CPU:
    cores x MACs per cycle (:func:`vector_peak`) x clock (:func:`clock_ghz`); empty when a
    figure is missing."""
    arithmetic = RECIPE_ARITHMETIC.get((recipe or "").split("_")[0])
    have = cpu_flags(cpuinfo) if flags is None else flags
    row = vector_peak(arithmetic, have, cpuinfo) if arithmetic else None
    ghz, source = clock_ghz(cpuinfo)
    if row is None or ghz <= 0:
        return {}
    cores = max(1, min(threads, _cores()))
    return {
        "peak_gmac_per_s": cores * row.macs_per_cycle * ghz,
        "peak_how": f"{cores} core(s) x {row.macs_per_cycle} MAC/cycle ({row.how}) x {ghz:.2f} GHz ({source})",
    }


def _cores() -> int:
    import os

    return os.cpu_count() or 1
