"""Device-eval row statuses without a device: numerics that differ with quality kept
(``numerics-differ``, a warning, exit 0 unless --fail-on-numerics) are another finding than
quality lost or changed (``diverged``, exit 1); a ``failed`` row says the runner's own last error, not its
progress lines, and how many frames it finished; the report's summary sentence follows the rows."""

import numpy as np
import pytest
from click.testing import CliRunner

from edgeseg.device.evaluate import AGREEMENT_BOUND, MIOU_BOUND, device_status, failure_reason

# -- the status rule -----------------------------------------------------------------------


def test_bounds_keep_their_names_and_defaults():
    assert (AGREEMENT_BOUND, MIOU_BOUND) == (0.99, 0.01)


def test_the_findings_int8_cpu_row_is_numerics_differ_not_diverged():
    # int8 on builtin kernels, a barely trained model: 94.75% of the pixels agree, the same mIoU
    status, why = device_status(0.9475, -0.0002)
    assert status == "numerics-differ"
    assert why == (
        "argmax agreement with the host 0.9475 < 0.99, quality within tolerance (mIoU - host mIoU = -0.0002, "
        "within +/-0.01)"
    )


def test_quality_lost_is_diverged_whatever_the_agreement():
    status, why = device_status(0.9475, -0.05)
    assert status == "diverged"
    assert why == "quality lost: mIoU - host mIoU = -0.0500 < -0.01; argmax agreement with the host 0.9475 < 0.99"
    status, why = device_status(0.999, -0.02)  # every pixel but a few agree, and those were a small class
    assert status == "diverged" and why.startswith("quality lost: mIoU - host mIoU = -0.0200 < -0.01")
    assert "0.9990 >= 0.99" in why


def test_non_finite_outputs_or_no_miou_are_diverged():
    assert device_status(1.0, 0.0, finite=False) == (
        "diverged",
        "the outputs hold NaN or inf; argmax agreement with the host 1.0000 >= 0.99",
    )
    status, why = device_status(0.2, None)
    assert status == "diverged" and "nan" in why and "0.2000 < 0.99" in why
    status, why = device_status(float("nan"), float("nan"))
    assert status == "diverged" and "argmax agreement with the host nan < 0.99" in why


def test_a_miou_that_rose_beyond_the_tolerance_is_diverged_and_says_it_rose():
    # a delegate that swaps two class channels of a barely trained model: 60% agreement, mIoU +0.034
    status, why = device_status(0.597, 0.0336)
    assert status == "diverged"
    assert why == (
        "quality changed: mIoU - host mIoU = +0.0336 > +0.01 (the mIoU rose: not the host's model); "
        "argmax agreement with the host 0.5970 < 0.99"
    )
    assert device_status(0.995, 0.02)[0] == "diverged"


def test_ok_within_both_bounds_and_on_them():
    assert device_status(1.0, 0.0) == ("ok", None)
    assert device_status(0.995, -0.009) == ("ok", None)
    assert device_status(AGREEMENT_BOUND, -MIOU_BOUND) == ("ok", None)
    assert device_status(AGREEMENT_BOUND, MIOU_BOUND) == ("ok", None)
    assert device_status(0.9899, 0.0)[0] == "numerics-differ"


# -- exit codes ----------------------------------------------------------------------------


def rows(*device):
    host = {
        "artifact": "m_int8",
        "where": "host",
        "device": "host",
        "delegate": "xnnpack",
        "frames": 8,
        "miou": 0.21,
        "miou_delta_vs_host": 0.0,
        "argmax_agreement": 1.0,
        "status": "ok",
        "reason": None,
    }
    out = [host]
    for delegate, status, agreement, delta, reason in device:
        out.append(
            {
                **host,
                "where": "device",
                "device": "Pixel",
                "delegate": delegate,
                "miou": None if delta is None else 0.21 + delta,
                "miou_delta_vs_host": delta,
                "argmax_agreement": agreement,
                "status": status,
                "reason": reason,
            }
        )
    return out


def result(rows, fail_on_numerics=False):
    from edgeseg.api import EvalResult
    from edgeseg.results import _pick

    data = {
        "artifact": "m_int8",
        "dataset": "lanes",
        "split": "val",
        "images": 8,
        "miou": 0.21,
        "per_class_iou": {},
        "rows": rows,
        "report": "reports/eval_x",
        "status_bounds": {"argmax_agreement_below": AGREEMENT_BOUND, "miou_delta_beyond": MIOU_BOUND},
        "fail_on_numerics": fail_on_numerics,
    }
    return _pick(EvalResult, data)


def differ_row():
    status, why = device_status(0.9475, -0.0002)
    return ("cpu", status, 0.9475, -0.0002, why)


def test_numerics_differ_passes_unless_asked_diverged_and_failed_fail():
    assert result(rows(differ_row())).ok
    assert not result(rows(differ_row()), fail_on_numerics=True).ok
    status, why = device_status(0.9475, -0.05)
    assert not result(rows(("cpu", status, 0.9475, -0.05, why))).ok
    assert not result(rows(("gpu", "failed", None, None, "exit status 1 after 2 of 8 frame(s)"))).ok
    assert result(rows(("npu", "unsupported", None, None, "no tensor files"))).ok


def test_fail_on_numerics_goes_with_device():
    from edgeseg.api import EvalConfig
    from edgeseg.errors import UsageError

    with pytest.raises(UsageError, match="--fail-on-numerics goes with --device"):
        EvalConfig(target="a.tflite", data="d", fail_on_numerics=True)
    assert EvalConfig(target="a.tflite", data="d", device="p", fail_on_numerics=True).fail_on_numerics


@pytest.mark.parametrize(
    "device_rows, flags, code, warned",
    [
        ([differ_row()], [], 0, "a warning, not a failure (--fail-on-numerics makes it one)"),
        ([differ_row()], ["--fail-on-numerics"], 1, "they fail the command (--fail-on-numerics)"),
        ([("cpu", "diverged", 0.9, -0.05, "quality lost: ...")], [], 1, None),
    ],
)
def test_eval_cli_exit_code_and_warning_line(monkeypatch, tmp_path, device_rows, flags, code, warned):
    from edgeseg import api
    from edgeseg.cli import main

    art = tmp_path / "m_int8.tflite"
    art.write_bytes(b"x")
    seen = {}

    def fake_evaluate(cfg, progress=None, say=None):
        seen["cfg"] = cfg
        return result(rows(*device_rows), fail_on_numerics=cfg.fail_on_numerics)

    monkeypatch.setattr(api, "evaluate", fake_evaluate)
    res = CliRunner().invoke(main, ["eval", str(art), "--data", str(tmp_path), "--device", "p", *flags])
    assert res.exit_code == code, res.output
    assert seen["cfg"].fail_on_numerics is bool(flags)
    assert "numerics-differ: argmax agreement < 0.99 with |mIoU delta| <= 0.01 (quality kept)" in res.output
    assert "diverged: |mIoU delta| > 0.01 or NaN/inf outputs" in res.output
    if warned:
        assert "warning: 1 row(s) numerics-differ" in res.output and warned in res.output
        assert "m_int8 on cpu: numerics differ (94.75% of the pixels agree with the host), quality kept" in res.output
    else:
        assert "warning:" not in res.output and "m_int8 on cpu diverged: quality lost" in res.output
    assert "agree on every pixel of every frame" not in res.output


# -- failed rows: the runner's own error ------------------------------------------------------

#: What run_on_device gets back when benchmark_model (one process per frame, runners.py's loop)
#: fails on the sixth of eight frames: the loop's line and the tail of that frame's log on
#: stderr, the progress lines of the five frames that ran on stdout.
BENCHMARK_MODEL_STDERR = """frame 000005.bin: benchmark_model exit status 1
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/edgeseg/m_int8.tflite]
INFO: Input layers: [serving_default_input:0]
INFO: Use xnnpack: [0]
INFO: Loaded model /data/local/tmp/edgeseg/m_int8.tflite
INFO: The input model file size (MB): 0.214
INFO: Initialized session in 12.3ms.
INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
ERROR: Node number 17 (CONV_2D) failed to invoke.
ERROR: Benchmarking failed.
"""
BENCHMARK_MODEL_STDOUT = "".join(f"@@frame {k}/8\n" for k in range(1, 6))


def test_failed_reason_is_the_binarys_error_not_its_progress():
    reason, done = failure_reason(BENCHMARK_MODEL_STDERR, BENCHMARK_MODEL_STDOUT, 1, 8)
    assert done == 5
    assert reason == (
        "exit status 1 after 5 of 8 frame(s): frame 000005.bin: benchmark_model exit status 1 | "
        "ERROR: Node number 17 (CONV_2D) failed to invoke. | ERROR: Benchmarking failed."
    )
    assert "@@frame" not in reason and "INFO" not in reason and "8 of 8" not in reason


def test_failed_reason_with_nothing_but_progress_says_the_exit_status_and_the_count():
    assert failure_reason("", "@@frame 1/8\n@@frame 2/8\n\n", 139, 8) == ("exit status 139 after 2 of 8 frame(s)", 2)
    assert failure_reason("", "", 97, 8) == ("exit status 97 after 0 of 8 frame(s)", 0)


def test_failed_reason_reads_the_python_runners_json_error_and_keeps_other_last_lines():
    out = '@@frame 1/3\n{"status": "failed", "error": "ValueError: The size of in/000001.bin is 100 bytes."}\n'
    assert failure_reason("", out, 1, 3) == (
        "exit status 1 after 1 of 3 frame(s): ValueError: The size of in/000001.bin is 100 bytes.",
        1,
    )
    # no line reads as an error: the last other lines, still never the progress
    reason, _ = failure_reason("WARN: a\nsomething odd\n", "@@frame 4/8\n", 2, 8)
    assert reason == "exit status 2 after 4 of 8 frame(s): WARN: a | something odd"


# -- the summary sentence follows the rows -----------------------------------------------------


def test_summary_claims_agreement_only_when_every_device_row_is_ok_and_exact():
    from edgeseg.reporting.plots import eval_summary

    both = rows(("xnnpack", "ok", 1.0, 0.0, None), ("gpu", "ok", 1.0, 0.0, None))
    assert eval_summary(both) == "device and host agree on every pixel of every frame"
    failed = rows(("xnnpack", "ok", 1.0, 0.0, None), ("gpu", "failed", None, None, "exit status 1 after 2 of 8"))
    text = eval_summary(failed)
    assert "device and host agree" not in text
    assert text == (
        "m_int8 on xnnpack agrees with the host on every pixel of every frame; "
        "m_int8 on gpu failed: not compared with the host"
    )
    assert eval_summary(rows(differ_row(), ("npu", "unsupported", None, None, "no"))) == (
        "m_int8 on cpu: numerics differ (94.75% of the pixels agree with the host), quality kept (mIoU -0.0002); "
        "m_int8 on npu not run (unsupported)"
    )
    assert eval_summary(rows(("gpu", "ok", 0.995, 0.001, None))) == (
        "m_int8 on gpu agrees with the host on 99.50% of the pixels (ok)"
    )
    assert eval_summary(rows(("gpu", "diverged", None, None, "the outputs hold NaN"))) == (
        "m_int8 on gpu diverged: quality lost (mIoU nan, ? of the pixels agree with the host)"
    )
    assert eval_summary(rows(("gpu", "diverged", 0.597, 0.0336, "quality changed: ..."))) == (
        "m_int8 on gpu diverged: quality changed (mIoU +0.0336, 59.70% of the pixels agree with the host)"
    )
    # quality.csv as read back (strings) reads the same
    as_csv = [{k: "" if v is None else str(v) for k, v in r.items()} for r in failed]
    assert eval_summary(as_csv) == text


def test_report_html_does_not_claim_agreement_when_a_row_failed(tmp_path):
    from edgeseg.data.pipeline import Cached, geometry
    from edgeseg.reporting.plots import eval_figures

    n, h, w = 2, 8, 12
    images = np.zeros((n, h, w, 3), np.uint8)
    masks = [np.zeros((h, w), np.uint8) for _ in range(n)]
    cache = Cached(images, None, [], source_masks=masks, geometries=[geometry((h, w), (h, w), "stretch")] * n)
    labels = [np.zeros((h, w), np.int64) for _ in range(n)]
    table = rows(("xnnpack", "ok", 1.0, 0.0, None), ("gpu", "failed", None, None, "exit status 1 after 1 of 2"))
    table[1]["frame_agreement"] = [1.0, 1.0]
    res = {
        "cache": cache,
        "rows": table,
        "labels": {"m_int8": {"host": labels, "xnnpack": labels}},
        "artifact": "m_int8",
        "dataset": "lanes",
        "split": "val",
    }
    eval_figures(tmp_path, res)
    page = (tmp_path / "report.html").read_text()
    assert "device and host agree on every pixel" not in page
    assert "m_int8 on gpu failed: not compared with the host" in page
    assert "the rows shown agree with the host on every pixel of every frame" in page
    # every row ok and exact: the sentence says so
    table.pop()
    eval_figures(tmp_path, res)
    assert "device and host agree on every pixel of every frame." in (tmp_path / "report.html").read_text()


def test_a_composed_report_notes_device_rows_that_are_not_ok():
    from edgeseg.reporting.compose import report_notes

    quality = [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows(differ_row())]
    (note,) = report_notes([], [], [], quality)
    assert note.startswith("On-device quality (`edgeseg eval --device`): m_int8 on cpu: numerics differ (94.75%")
    assert report_notes([], [], [], rows(("xnnpack", "ok", 1.0, 0.0, None))) == []
    assert report_notes([], [], []) == []
