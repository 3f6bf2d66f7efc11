"""benchmark_model output parsing, on real published outputs (sources cited per fixture)."""

import re
from pathlib import Path

import pytest

from edgeseg.device.parse import delegation_status, parse_benchmark_output, parse_stat_line

# tensorflow/tensorflow issue #43541 ("NNAPI Delegate BUG"), comment by yizhaoyanbo:
# GPU delegate, whole graph delegated, current-format timings line.
GPU_FULL = """STARTING!
Log parameter values verbosely: [0]
Min num runs: [50]
Num threads: [4]
Min warmup runs: [1]
Graph: [/data/local/tmp/tflite/denoising_32bit.tflite]
Enable op profiling: [1]
#threads used for CPU inference: [4]
Use gpu: [1]
Loaded model /data/local/tmp/tflite/denoising_32bit.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite delegate for GPU.
INFO: Initialized OpenCL-based API.
INFO: Created 1 GPU delegate kernels.
Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.
The input model file size (MB): 7.07479
Initialized session in 870.557ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=4 first=130565 curr=120829 min=117370 max=130565 avg=122373 std=4930

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=119212 curr=118055 min=113737 max=124776 avg=119375 std=1948

Inference timings in us: Init: 870557, First inference: 130565, Warmup (avg): 122373, Inference (avg): 119375
"""

# tensorflow/tensorflow issue #42507 ("Timing discrepancy between tflite benchmark tool and
# android"): CPU run with op profiling and the peak-memory line.
CPU_PEAK_MEM = """STARTING!
Duplicate flags: num_threads
Log parameter values verbosely: [0]
Num threads: [4]
Graph: [/data/local/tmp/espcn_harmonic_2x_slim_w_cl.tflite]
Enable op profiling: [1]
#threads used for CPU inference: [4]
Loaded model /data/local/tmp/espcn_harmonic_2x_slim_w_cl.tflite
The input model file size (MB): 0.004448
Initialized session in 0.855ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=15 first=49060 curr=33682 min=32825 max=49060 avg=34825.1 std=3930

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=32891 curr=33978 min=32641 max=34005 avg=33209.4 std=450

Inference timings in us: Init: 855, First inference: 49060, Warmup (avg): 34825.1, Inference (avg): 33209.4
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Peak memory footprint (MB): init=0 overall=12.8672
"""

# tensorflow/tensorflow issue #56301 ("Tflite model not work correctly on NNAPI-GPU
# delegate"): logcat lines, NNAPI applied but the graph is not executed by it.
NNAPI_NONE = """05-31 10:31:13.023 21767 21767 I tflite  : Use NNAPI: [1]
05-31 10:31:13.036 21767 21767 I tflite  : NNAPI accelerators available: [ipuadaptor,nnapi-reference]
05-31 10:31:13.036 21767 21767 I tflite  : Use xnnpack: [0]
05-31 10:31:13.037 21767 21767 I tflite  : Loaded model /data/local/tmp/model.tflite
05-31 10:31:13.037 21767 21767 I tflite  : Initialized TensorFlow Lite runtime.
05-31 10:31:13.041 21767 21767 I tflite  : Created TensorFlow Lite delegate for NNAPI.
05-31 10:31:13.042 21767 21767 I tflite  : NNAPI delegate created.
05-31 10:31:13.157 21767 21767 I tflite  : Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.
05-30 13:04:39.021 25935 25935 I tflite  : Memory footprint delta from the start of the tool (MB): init=2.03516 overall=2.03516
"""

# tensorflow/tensorflow issue #60234: the accelerator list on a Pixel (Tensor) phone.
PIXEL_ACCELERATORS = (
    "2023-04-04 17:24:18.480 19036-19036 tflite                  pid-19036                            "
    "I  NNAPI accelerators available: [qti-default,qti-dsp,qti-gpu,google-edgetpu,nnapi-reference]"
)

# asus4/tf-lite-unity-sample pull request #214: the XNNPACK partition line in logcat.
XNNPACK_REPLACING = (
    "05-10 14:58:14.957 12439 12461 I tflite  : Replacing 269 node(s) with delegate "
    "(TfLiteXNNPackDelegate) node, yielding 13 partitions."
)

# TI Processor SDK Linux documentation, "TensorFlow Lite" page (TFLite 1.12 benchmark_model):
# the old summary line and the all-same statistics form.
OLD_NO_STATS = """Loaded model mobilenet_v1_1.0_224_quant.tflite
resolved reporter
Initialized session in 4.452ms
Running benchmark for 1 iterations
count=1 curr=146161

Running benchmark for 50 iterations
count=50 first=137789 curr=137254 min=137079 max=143416 avg=137722 std=896

Average inference timings in us: Warmup: 146161, Init: 4452, no stats: 137722
"""

# tensorflow/tensorflow, tensorflow/lite/tools/benchmark/android/README.md (benchmark app in logcat).
OLD_INFERENCE = "... tflite  : Average inference timings in us: Warmup: 91471, Init: 4108, Inference: 80660.1"

# tensorflow/tensorflow issue #27948: op profiling table (Run Order) from the TF 1.13 era.
RUN_ORDER_ONLY = """count=50 first=948543 curr=944078 min=944078 max=955061 avg=947350 std=2060

============================== Run Order ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t       DEPTHWISE_CONV_2D\t            0.000\t  538.139\t  536.830\t 56.668%\t 56.668%\t     0.000\t        1\t[srnetwork/Conv/Relu]
"""


def test_gpu_full_delegation():
    r = parse_benchmark_output(GPU_FULL)
    assert r["init_ms"] == pytest.approx(870.557) and r["first_ms"] == pytest.approx(130.565)
    assert r["warmup_ms"] == pytest.approx(122.373) and r["mean_ms"] == pytest.approx(119.375)
    assert r["runs"] == 50 and r["std_ms"] == pytest.approx(1.948) and r["min_ms"] == pytest.approx(113.737)
    assert r["delegation"] == {"delegate": "GPU", "coverage": "full"}
    assert delegation_status(r, "gpu")["status"] == "ok"


def test_cpu_with_peak_memory():
    r = parse_benchmark_output(CPU_PEAK_MEM)
    assert r["mean_ms"] == pytest.approx(33.2094) and r["peak_mem_mb"] == pytest.approx(12.8672)
    assert delegation_status(r, "cpu")["status"] == "ok"


def test_nnapi_not_executed_is_fallback():
    r = parse_benchmark_output(NNAPI_NONE)
    assert r["accelerators"] == ["ipuadaptor", "nnapi-reference"]
    assert r["delegation"]["coverage"] == "none"
    assert r["mem_delta_mb"] == pytest.approx(2.03516)
    st = delegation_status(r, "nnapi")
    assert st["status"] == "fallback" and st["delegated_ops"] == 0


def test_accelerator_list_on_pixel():
    assert parse_benchmark_output(PIXEL_ACCELERATORS)["accelerators"][3] == "google-edgetpu"


def test_replacing_line_without_total():
    r = parse_benchmark_output(XNNPACK_REPLACING)
    assert r["delegates"] == [
        {"delegate": "TfLiteXNNPackDelegate", "delegated_ops": 269, "total_ops": None, "partitions": 13}
    ]
    assert delegation_status(r, "xnnpack")["status"] == "fallback"  # unknown total: not proven complete


def test_replacing_line_with_total():
    text = "INFO: Replacing 41 out of 50 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 9 partitions for the whole graph."
    r = parse_benchmark_output(text)
    assert delegation_status(r, "xnnpack") == {
        "delegated_ops": 41,
        "total_ops": 50,
        "partitions": 9,
        "status": "fallback",
    }
    r = parse_benchmark_output(text.replace("41 out", "50 out").replace("9 partitions", "1 partitions"))
    assert delegation_status(r, "xnnpack")["status"] == "ok"


def test_old_formats():
    r = parse_benchmark_output(OLD_NO_STATS)
    assert r["warmup_ms"] == pytest.approx(146.161) and r["init_ms"] == pytest.approx(4.452)
    assert r["mean_ms"] == pytest.approx(137.722) and r["runs"] == 50
    assert r["stats"][0] == {
        "count": 1,
        "curr": 146161.0,
        "first": 146161.0,
        "min": 146161.0,
        "max": 146161.0,
        "avg": 146161.0,
        "median": 146161.0,
        "p5": 146161.0,
        "p95": 146161.0,
        "std": 0.0,
    }
    r = parse_benchmark_output(OLD_INFERENCE)
    assert r["mean_ms"] == pytest.approx(80.6601) and r["init_ms"] == pytest.approx(4.108)
    r = parse_benchmark_output(RUN_ORDER_ONLY)
    assert r["mean_ms"] == pytest.approx(947.35)


def test_percentiles_and_scientific_notation():
    # tsl::StatWithPercentiles appends p5/median/p95; ostream prints >= 1e6 in scientific form
    s = parse_stat_line(
        "count=12 first=1.20448e+06 curr=1.19e+06 min=1.18e+06 max=1.3e+06 avg=1.21933e+06 "
        "std=32000 p5=1180000 median=1.2e+06 p95=1.29e+06"
    )
    assert s["avg"] == pytest.approx(1219330) and s["median"] == 1.2e6 and s["p95"] == 1.29e6
    assert parse_stat_line("count=3 curr=250(all same)")["std"] == 0.0
    with pytest.raises(ValueError):
        parse_stat_line("Running benchmark")


def test_op_profile_summary_by_node_type():
    text = """============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t         AllocateTensors\t        1\t     0.040\t   100.000%\t   100.000%\t     0.000\t        1

============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t   TfLiteXNNPackDelegate\t        9\t    15.210\t    80.000%\t    80.000%\t     0.000\t        9
\t  RESIZE_NEAREST_NEIGHBOR\t        4\t     3.802\t    20.000%\t   100.000%\t     0.000\t        4

Timings (microseconds): count=50 first=19010 curr=19100 min=18900 max=20100 avg=19012 std=240
"""
    r = parse_benchmark_output(text, op_profile=True)
    assert [o["node_type"] for o in r["ops"]] == ["TfLiteXNNPackDelegate", "RESIZE_NEAREST_NEIGHBOR"]
    assert r["warnings"] == ["the op profile has no 'Run Order' table: no per-node times, only the per-type summary"]
    assert r["ops"][1]["avg_ms"] == pytest.approx(3.802) and r["ops"][1]["cdf_percent"] == 100.0


def test_errors_are_collected():
    text = """ERROR: Following operations are not supported by GPU delegate:
ERROR: Failed to apply GPU delegate.
Benchmarking failed."""
    r = parse_benchmark_output(text)
    assert len(r["errors"]) == 3 and "Failed to apply GPU delegate" in r["errors"][1]


# -- published outputs of both generations (tests/data/benchmark_model/README.md cites each) ----

DATA = Path(__file__).resolve().parents[1] / "data" / "benchmark_model"


def test_classic_tflite_2_20_with_percentiles():
    r = parse_benchmark_output((DATA / "tflite_2.20_cpu_ti.txt").read_text())
    assert r["format"] == "classic" and r["runs"] == 50
    assert r["init_ms"] == pytest.approx(5.579) and r["first_ms"] == pytest.approx(1357.602)
    assert r["mean_ms"] == pytest.approx(1240.27) and r["std_ms"] == pytest.approx(2.565)
    assert (r["p5_ms"], r["median_ms"], r["p95_ms"]) == (
        pytest.approx(1238.753),
        pytest.approx(1239.807),
        pytest.approx(1247.415),
    )
    x = parse_benchmark_output((DATA / "tflite_2.20_xnnpack_ti.txt").read_text())
    assert x["delegation"] == {"delegate": "XNNPACK", "coverage": "partial", "kernels": 1}
    assert delegation_status(x, "xnnpack")["status"] == "fallback"
    assert (x["p5_ms"], x["median_ms"], x["p95_ms"]) == (
        pytest.approx(898.333),
        pytest.approx(899.281),
        pytest.approx(904.305),
    )


def test_litert_compiled_model_benchmark():
    r = parse_benchmark_output((DATA / "litert_compiled_model_profiler.txt").read_text(), op_profile=True)
    assert r["format"] == "litert" and r["runs"] == 2112
    assert r["init_ms"] == pytest.approx(4.478) and r["first_ms"] == pytest.approx(1.03)  # "Initialized session in"
    assert r["warmup_ms"] == pytest.approx(0.47) and r["mean_ms"] == pytest.approx(0.46)
    assert (r["p5_ms"], r["median_ms"], r["p95_ms"]) == (
        pytest.approx(0.460),
        pytest.approx(0.462),
        pytest.approx(0.478),
    )
    assert r["delegates"] == [
        {"delegate": "TfLiteXNNPackDelegate", "delegated_ops": 1, "total_ops": 1, "partitions": 1}
    ]
    assert delegation_status(r, "xnnpack")["status"] == "ok"
    # the profile tables in the layout without [start] (xla/tsl stats_calculator)
    assert [o["node_type"] for o in r["ops"]][:2] == [
        "Fully Connected (NC, PF32) GEMM",
        "LiteRT::Run[buffer registration]",
    ]
    assert r["ops"][0] == {
        "node_type": "Fully Connected (NC, PF32) GEMM",
        "count": 1,
        "avg_ms": 0.382,
        "percent": 93.171,
        "cdf_percent": 93.171,
    }
    gemm = next(n for n in r["op_nodes"] if n["node_type"].startswith("Fully Connected"))
    assert gemm["name"] == "Delegate/Fully Connected (NC, PF32) GEMM:1" and gemm["first_ms"] == 0.538
    assert r["warnings"] == []


def test_classic_op_profile_skips_the_initialisation_tables():
    r = parse_benchmark_output((DATA / "tflite_op_profile_classic.txt").read_text(), op_profile=True)
    assert r["mean_ms"] == pytest.approx(2950.34) and "p5_ms" not in r  # an older build: no percentiles
    assert [o["node_type"] for o in r["ops"]] == [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "SOFTMAX",
        "SQUEEZE",
    ]
    assert r["ops"][0]["count"] == 15 and r["ops"][0]["avg_ms"] == pytest.approx(2651.853)
    assert len(r["op_nodes"]) == 31 and r["op_nodes"][0]["name"] == "[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]:0"
    assert r["op_nodes"][0]["avg_ms"] == pytest.approx(60.957) and "AllocateTensors" not in {
        n["node_type"] for n in r["op_nodes"]
    }


def test_run_order_only_gives_summed_node_types_and_says_so():
    # the classic sample with its "Summary by node type" tables cut out
    text = (DATA / "tflite_op_profile_classic.txt").read_text()
    cut = re.sub(r"=+ Summary by node type =+\n(?:\t.*\n)+", "", text)
    r = parse_benchmark_output(cut, op_profile=True)
    assert r["warnings"] == [
        "the op profile has no 'Summary by node type' table: the per-type rows are sums of its 'Run Order' table"
    ]
    conv = next(o for o in r["ops"] if o["node_type"] == "CONV_2D")
    assert conv["count"] == 15 and conv["avg_ms"] == pytest.approx(2651.853, abs=0.01)
    none = parse_benchmark_output((DATA / "tflite_2.20_cpu_ti.txt").read_text(), op_profile=True)
    assert none["ops"] == [] and "printed no op-profiling table" in none["warnings"][0]


@pytest.mark.parametrize(
    "name", ["tflite_2.20_xnnpack_ti.txt", "tflite_2.20_cpu_ti.txt", "litert_compiled_model_profiler.txt"]
)
def test_phases_of_published_outputs_stamped_line_by_line(name):
    """Each published output, stamped as the device's shell loop stamps it (boot-clock seconds,
    10 ms ticks): the timed runs start at the second 'Running benchmark for at least' line and
    end at the statistics line after it, whichever tool printed it."""
    from edgeseg.device.parse import benchmark_phases, unstamp

    lines = (Path(__file__).resolve().parents[1] / "data/benchmark_model" / name).read_text().splitlines()
    stamped_text = (
        "\n".join(f"{100 + i * 0.01:.2f} {line}" for i, line in enumerate(lines)) + "\n123.45 __EDGESEG_RC__ 0"
    )
    plain, stamped, rc = unstamp(stamped_text)
    assert rc == 0 and plain.splitlines() == lines
    parsed = parse_benchmark_output(plain)
    phases, why = benchmark_phases(stamped)  # no runs x latency check: the stamps here are synthetic
    assert why is None, why
    running = [i for i, line in enumerate(lines) if "Running benchmark for at least" in line]
    first_stat = next(
        i
        for i, line in enumerate(lines)
        if i > running[-1] and re.sub(r"^(INFO|VERBOSE): (\[[^\]]*\]\s*)?", "", line).strip().startswith("count=")
    )
    assert phases["timed_start"] == pytest.approx(100 + running[-1] * 0.01)
    assert phases["warmup_start"] == pytest.approx(100 + running[-2] * 0.01)
    assert phases["timed_end"] == pytest.approx(100 + first_stat * 0.01)
    assert "init_end" in phases and parsed["mean_ms"] > 0
