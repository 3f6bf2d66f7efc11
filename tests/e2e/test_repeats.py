"""`edgeseg bench --repeat K`: the sweep run K times with rows interleaved, each row folded into
one with every repeat's median, which report --compare tests (tests/e2e/test_compare.py)."""

import csv

import pytest
from click.testing import CliRunner

from edgeseg.cli import main
from edgeseg.device.bench import fold_power_repeats, fold_repeats
from edgeseg.device.config import BenchConfig
from edgeseg.errors import UsageError


def row(k, median, delegate="xnnpack", status="ok", **more):
    return {
        "artifact": "m",
        "device": "host",
        "delegate": delegate,
        "repeat": k,
        "median_ms": median,
        "p90_ms": None if median is None else median + 1,
        "std_ms": None if median is None else 0.5,
        "runs": 50,
        "status": status,
        **more,
    }


def test_repeats_fold_into_one_row_per_key_with_each_median_in_the_order_run():
    rows = [
        row(1, 10.0),
        row(1, 20.0, "gpu"),
        row(2, 12.0),
        row(2, 21.0, "gpu"),
        row(3, 11.0),
        row(3, None, "gpu", "failed", error="lost"),
    ]
    a, b = fold_repeats(rows)
    assert (a["delegate"], a["median_ms"], a["repeats"], a["repeat_medians_ms"], a["runs"]) == (
        "xnnpack",
        11.0,
        3,
        "10;12;11",
        150,
    )
    assert "repeat" not in a and a["p90_ms"] == 12.0
    assert b["repeats"] == 2 and b["repeat_medians_ms"] == "20;21" and b["median_ms"] == 20.5
    assert b["note"] == "repeat(s) 3 of 3 failed: lost"
    (failed,) = fold_repeats([row(1, None, status="failed", error="boom"), row(2, None, status="failed", error="x")])
    assert failed["status"] == "failed" and failed["error"] == "boom" and "repeats" not in failed


def test_power_repeats_average_the_energy_and_combine_the_errors():
    p = [
        {
            "artifact": "m",
            "device": "P",
            "delegate": "gpu",
            "repeat": k,
            "status": "ok",
            "energy_mj_per_inference": e,
            "energy_mj_err": 0.3,
        }
        for k, e in ((1, 4.0), (2, 5.0), (3, 6.0))
    ]
    (got,) = fold_power_repeats(p)
    assert got["energy_mj_per_inference"] == pytest.approx(5.0)
    assert got["energy_mj_err"] == pytest.approx((3 * 0.09) ** 0.5 / 3)
    assert got["repeat_energies_mj"] == "4;5;6" and got["repeats"] == 3


def test_repeat_is_a_usage_rule():
    with pytest.raises(UsageError, match="--repeat repeats normal bench rows"):
        BenchConfig(device="pixel", artifacts=("m.tflite",), repeat=3, sustained="1m")
    res = CliRunner().invoke(main, ["bench", "m.tflite", "--repeat", "0"])
    assert res.exit_code == 2 and "--repeat" in res.output


@pytest.mark.e2e
def test_a_host_bench_with_repeats_writes_each_repeats_median(tiny_tflite, tmp_path):
    res = CliRunner().invoke(
        main,
        [
            "bench",
            str(tiny_tflite),
            "--device",
            "host",
            "--runs",
            "3",
            "--min-secs",
            "0",
            "--repeat",
            "3",
            "--reports",
            str(tmp_path / "r"),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    (folder,) = (tmp_path / "r").iterdir()
    (r,) = csv.DictReader(open(folder / "latency.csv", newline=""))
    medians = [float(x) for x in r["repeat_medians_ms"].split(";")]
    assert r["repeats"] == "3" and len(medians) == 3 and float(r["median_ms"]) == sorted(medians)[1]
    assert r["host_load_1m"] != "" and int(r["host_cores"]) >= 1
    # achieved throughput on the folded median, and this CPU's float32 peak on the row's threads
    from edgeseg.host import cpu_flags, peak_gmacs
    from edgeseg.runtime.modelinfo import model_info

    macs = model_info(tiny_tflite)["macs"]
    assert macs > 0
    assert float(r["gmac_per_s"]) == pytest.approx(macs / (float(r["median_ms"]) / 1e3) / 1e9, rel=1e-3)
    peak = peak_gmacs("float32", int(r["threads"]), cpu_flags()).get("peak_gmac_per_s")
    assert (r["peak_gmac_per_s"] == "") if peak is None else float(r["peak_gmac_per_s"]) == pytest.approx(peak)
    assert "throughput, GMAC/s" in res.output or peak is None
