"""This CPU's peak MACs per precision (edgeseg.host.peak_gmacs), from made-up /proc/cpuinfo
texts: the rows of VECTOR_PEAKS, the Zen 4 halving, the clock's source."""

from __future__ import annotations

import pytest

from edgeseg.host import clock_ghz, peak_gmacs, vector_peak

ZEN4 = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\ncpu MHz\t\t: 2600.000\n"
XEON = "vendor_id\t: GenuineIntel\ncpu family\t: 6\ncpu MHz\t\t: 2000.000\n"
AVX512 = {"avx2", "fma", "avx512f", "avx512_vnni", "sse2"}
AVX2 = {"avx2", "fma", "sse2"}


def test_float32_and_int8_rows_by_flags():
    assert vector_peak("float32", AVX2, XEON).macs_per_cycle == 16
    assert vector_peak("float32", AVX512, XEON).macs_per_cycle == 32
    assert vector_peak("int8", AVX2, XEON).macs_per_cycle == 32  # no VNNI: maddubs + maddwd
    assert vector_peak("int8", AVX512, XEON).macs_per_cycle == 128
    assert vector_peak("int8", AVX2 | {"amx_int8"}, XEON).macs_per_cycle == 1024
    assert vector_peak("int8", {"asimd", "asimddp"}, "").macs_per_cycle == 32


def test_zen4_runs_avx512_in_256_bit_halves():
    f32 = vector_peak("float32", AVX512, ZEN4)
    assert f32.macs_per_cycle == 16 and "Zen 4" in f32.how
    assert vector_peak("int8", AVX512, ZEN4).macs_per_cycle == 64
    assert vector_peak("float32", AVX2, ZEN4).macs_per_cycle == 16  # a 256-bit row is not halved


def test_float16_without_fp16_arithmetic_runs_as_float32():
    assert vector_peak("float16", AVX2, XEON) == vector_peak("float32", AVX2, XEON)
    assert vector_peak("float16", AVX2 | {"avx512_fp16"}, XEON).macs_per_cycle == 64


def test_peak_is_cores_times_macs_times_clock(tmp_path, monkeypatch):
    monkeypatch.setattr("edgeseg.host._cores", lambda: 2)
    monkeypatch.setattr("edgeseg.host.clock_ghz", lambda cpuinfo=None: (2.6, "/proc/cpuinfo cpu MHz"))
    one = peak_gmacs("float32", 1, AVX512, ZEN4)
    assert one["peak_gmac_per_s"] == pytest.approx(16 * 2.6)
    assert "1 core(s) x 16 MAC/cycle" in one["peak_how"] and "cpu MHz" in one["peak_how"]
    assert peak_gmacs("float32", 8, AVX512, ZEN4)["peak_gmac_per_s"] == pytest.approx(2 * 16 * 2.6)  # 2 cores here
    assert peak_gmacs("int8_controlled", 2, AVX512, ZEN4)["peak_gmac_per_s"] == pytest.approx(2 * 64 * 2.6)
    assert peak_gmacs("dynamic", 1, AVX2, XEON)["peak_gmac_per_s"] == pytest.approx(32 * 2.6)  # int8 kernels
    assert peak_gmacs("float32", 1, set(), XEON) == {}  # no row for a CPU without vector flags
    assert peak_gmacs("qat", 1, AVX2, XEON) == {}  # a recipe without a known arithmetic


def test_clock_from_cpufreq_else_cpuinfo(tmp_path):
    (tmp_path / "cpuinfo_max_freq").write_text("3500000\n")
    assert clock_ghz(ZEN4, sysfs=tmp_path) == (3.5, "cpufreq cpuinfo_max_freq")
    ghz, source = clock_ghz(ZEN4, sysfs=tmp_path / "none")
    assert ghz == 2.6 and source.startswith("/proc/cpuinfo cpu MHz") and "exceed 100%" in source
    assert clock_ghz("", sysfs=tmp_path / "none") == (0.0, "unknown")
