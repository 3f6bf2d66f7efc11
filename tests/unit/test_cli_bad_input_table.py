"""Every command, driven through its CLI by a table of bad inputs, one class of bad input per
group: the output a file where a folder goes (and a folder where a file goes), an output folder
that is not writable, a name too long for the file system, an input folder named like a file,
and files read back that hold the wrong thing (run.json, report CSVs, manifests, a run's
config.json and history.csv). Each ends in exit 1 or 2, one line naming the input, no
traceback, and nothing new on disk. No TensorFlow runs here: the table is in the default suite."""

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import minimal_tflite

from edgeseg.cli import main

LONG = "r" * 260


@pytest.fixture
def world(tmp_path, segnet_dataset):
    """A small world of inputs: an artifact with a manifest, a run folder (config only), a
    report folder, a dataset, a file where folders go and a folder named like an artifact."""
    from edgeseg.artifact import write_manifest
    from edgeseg.reporting.tables import write_report

    art = tmp_path / "m.tflite"
    art.write_bytes(minimal_tflite())
    write_manifest(art, model="resunet", recipe="float32", classes=["a", "b"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(
        json.dumps(
            {
                "edgeseg_version": "0.3.0",
                "model": "resunet",
                "input_size": [32, 48],
                "classes": ["a", "b"],
                "model_config": {},
            }
        )
    )
    row = {"artifact": "m", "device": "host", "delegate": "xnnpack", "median_ms": 5.0, "runs": 10, "status": "ok"}
    rep = write_report(tmp_path / "reports", "bench_host", [row], [])
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    (tmp_path / "dir.tflite").mkdir()
    return {
        "ART": art,
        "RUN": run,
        "REP": rep,
        "DATA": segnet_dataset,
        "BLOCKER": blocker,
        "DIRART": tmp_path / "dir.tflite",
        "T": tmp_path,
    }


def tree(root: Path) -> dict:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            out[str(p)] = None if p.is_dir() else p.read_bytes()
    return out


def check(world, args, exit_codes, *fragments):
    """Run the command; exit in ``exit_codes``, no traceback, every fragment (with the
    world's paths put in) in the output, and nothing under the world changed."""
    fill = {k: str(v) for k, v in world.items()}
    names = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(fill, key=len, reverse=True)) + r")(?![A-Za-z0-9_])")

    def sub(a):  # one pass: a path put in is not read again
        return names.sub(lambda m: fill[m.group(1)], str(a))

    before = tree(world["T"])
    res = CliRunner().invoke(main, [sub(a) for a in args])
    assert res.exit_code in exit_codes, (args, res.exit_code, res.output, res.exc_info)
    assert "Traceback" not in res.output
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), res.exc_info
    for f in fragments:
        assert sub(f) in res.output, (args, res.output)
    assert tree(world["T"]) == before, f"{args} left something behind"
    return res


# -- outputs: a file where a folder goes, a folder where a file goes ----------------------------

FILE_WHERE_A_FOLDER_GOES = [
    (["bench", "ART", "--device", "host", "--reports", "BLOCKER"], "--reports BLOCKER is a file, not a folder"),
    (["bench", "ART", "--device", "pixel", "--reports", "BLOCKER"], "--reports BLOCKER is a file, not a folder"),
    (["report", "REP", "--reports", "BLOCKER"], "--reports BLOCKER is a file, not a folder"),
    (["report", "REP", "--reports", "BLOCKER/sub"], "BLOCKER is a file, not a folder, so nothing can be created"),
    (
        ["eval", "ART", "--data", "DATA", "--device", "pixel", "--reports", "BLOCKER"],
        "--reports BLOCKER is a file, not a folder",
    ),
    (["quickstart", "--reports", "BLOCKER/qs"], "BLOCKER is a file, not a folder, so nothing can be created"),
    (["quickstart", "--workdir", "BLOCKER"], "--workdir BLOCKER is a file, not a folder"),
    (["train", "--data", "DATA", "--out", "BLOCKER"], "--out BLOCKER is a file, not a folder"),
    (["quantize", "RUN", "--float32", "--out", "BLOCKER/x.tflite"], "BLOCKER is a file, not a folder"),
    (["quantize", "RUN", "--float32", "--out", "DIRART"], "--out DIRART is a folder; name the file to write"),
]


@pytest.mark.parametrize("args, message", FILE_WHERE_A_FOLDER_GOES, ids=lambda v: " ".join(v)[:40])
def test_an_output_of_the_wrong_kind_is_refused_before_any_work(world, args, message):
    check(world, args, (1,), f"Error: {message}" if not message.startswith("BLOCKER") else message)


# -- outputs: not writable (root writes anywhere, so os.access says so) -------------------------

UNWRITABLE = [
    ["bench", "ART", "--device", "host", "--reports", "RO/reports"],
    ["report", "REP", "--reports", "RO/merged"],
    ["eval", "ART", "--data", "DATA", "--device", "pixel", "--reports", "RO/ev"],
    ["quickstart", "--reports", "RO/qs", "--workdir", "T/qw"],
    ["train", "--data", "DATA", "--out", "RO/run"],
    ["quantize", "RUN", "--float32", "--out", "RO/x.tflite"],
    ["data", "synth", "RO/lanes"],
]


@pytest.mark.parametrize("args", UNWRITABLE, ids=lambda v: " ".join(v)[:40])
def test_an_unwritable_output_folder_is_one_line(world, args, monkeypatch):
    ro = world["T"] / "ro"
    ro.mkdir()
    world = {**world, "RO": ro}
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == ro else real_access(p, mode, **kw))
    check(world, args, (1,), "RO is not writable (permission denied)")


# -- outputs: names longer than the file system allows -------------------------------------------

TOO_LONG = [
    ["bench", "ART", "--device", "host", "--reports", f"T/{LONG}"],
    ["report", "REP", "--reports", f"T/{LONG}"],
    ["eval", "ART", "--data", "DATA", "--device", "pixel", "--reports", f"T/{LONG}"],
    ["quickstart", "--reports", f"T/{LONG}"],
    ["train", "--data", "DATA", "--out", f"T/{LONG}"],
    ["quantize", "RUN", "--float32", "--out", f"T/{LONG}.tflite"],
    ["data", "synth", f"T/{LONG}"],
]


@pytest.mark.parametrize("args", TOO_LONG, ids=lambda v: v[0])
def test_a_name_too_long_is_refused_before_anything_stats_it(world, args):
    check(world, args, (1,), "is a name of 26", "bytes; the file system of T allows at most 255 per name")


def test_compile_refuses_an_artifact_whose_compiled_name_would_be_too_long(world):
    from edgeseg.artifact import write_manifest

    art = world["T"] / ("a" * 240 + ".tflite")
    art.write_bytes(minimal_tflite())
    write_manifest(art, model="resunet", recipe="float32", classes=["a", "b"])
    check(
        world,
        ["compile", art, "--soc", "MT6989"],
        (1,),
        f"Error: the compiled file of {art.name} for MT6989 would be named aaaaaaaaaaaaaaaaaaaa...",
        "copy or rename the artifact (and its .json) to a shorter name and compile that",
    )


# -- inputs: a folder named like an artifact -----------------------------------------------------

FOLDER_NAMED_LIKE_A_FILE = [
    ["bench", "DIRART", "--device", "host", "--no-report"],
    ["deploy", "DIRART", "--device", "pixel"],
    ["compile", "DIRART", "--soc", "MT6989"],
]


@pytest.mark.parametrize("args", FOLDER_NAMED_LIKE_A_FILE, ids=lambda v: v[0])
def test_a_folder_named_like_an_artifact_is_called_a_folder(world, args):
    check(world, args, (1,), "Error: DIRART is a folder, not a .tflite file; name the artifact file inside it")


def test_eval_on_a_device_names_the_folder_it_was_given(world):
    check(
        world,
        ["eval", "DIRART", "--data", "DATA", "--device", "pixel"],
        (2,),
        "Error: --device runs an artifact, and DIRART is a folder: pass a .tflite",
    )


# -- files read back: report folders -----------------------------------------------------------

RUN_JSON = [
    (b"[1, 2]", "REP/run.json is not a JSON object (it holds a list)"),
    (b"\xff\xfe{}", "REP/run.json is not UTF-8 text (byte 0)"),
    (b'{"bench": "fast"}', "REP/run.json: bench is 'fast' (input should be a valid dictionary"),
    (b'{"run_id": 5, "merged_from": "x"}', "REP/run.json: run_id is 5 (input should be a valid string)"),
    (b'{"device": 3}', "REP/run.json: device is 3 (input should be a valid dictionary or a valid list)"),
    (b"{", "REP/run.json is not valid JSON (Expecting property name enclosed in double quotes at line 1)"),
]
REPORT_READERS = [
    ["report", "REP", "--reports", "T/merged"],
    ["report", "--compare", "REP", "REP", "--fail-if", "median_ms>+5%"],
    ["select", "ART", "--device", "host", "--budget-ms", "10", "--report", "REP"],
]


@pytest.mark.parametrize("content, message", RUN_JSON, ids=lambda v: str(v)[:16])
@pytest.mark.parametrize("args", REPORT_READERS, ids=lambda v: " ".join(v[:2]))
def test_a_damaged_run_json_is_one_line_naming_it(world, args, content, message):
    (world["REP"] / "run.json").write_bytes(content)
    check(world, args, (1,), f"Error: {message}")


@pytest.mark.parametrize("args", REPORT_READERS, ids=lambda v: " ".join(v[:2]))
def test_a_cell_that_is_no_number_is_one_line_naming_file_line_and_column(world, args):
    path = world["REP"] / "latency.csv"
    path.write_text(path.read_text().replace(",5,", ",fast,", 1))
    check(world, args, (1,), "Error: REP/latency.csv line 2: median_ms is 'fast', not a number")


# -- files read back: manifests -------------------------------------------------------------------

MANIFESTS = [
    ({"input": "rgb"}, "ART_JSON: input is 'rgb' (input should be a valid dictionary"),
    ({"quality": "good"}, "ART_JSON: quality is 'good' (input should be a valid dictionary"),
    ({"classes": "road"}, "ART_JSON: classes is 'road' (input should be a valid list"),
    ({"input": {"shape": "1x32"}}, "ART_JSON: input.shape is '1x32' (input should be a valid list"),
]
MANIFEST_READERS = [
    ["eval", "ART", "--data", "DATA"],
    ["compile", "ART", "--soc", "MT6989"],
    ["bench", "ART", "--device", "host", "--no-report"],
]


@pytest.mark.parametrize("change, message", MANIFESTS, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("args", MANIFEST_READERS, ids=lambda v: v[0])
def test_a_hand_edited_manifest_is_one_line_naming_the_key(world, args, change, message):
    path = world["ART"].with_suffix(".json")
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    check({**world, "ART_JSON": path}, args, (1,), f"Error: {message}", "re-export the artifact")


# -- files read back: run folders -----------------------------------------------------------------

RUN_CONFIGS = [
    (b"{not json", "RUN/config.json is not valid JSON (Expecting property name enclosed in double quotes at line 1)"),
    (b"[]", "RUN/config.json is not a JSON object (it holds a list)"),
    (b'{"model": "resunet", "input_size": "32x48", "classes": ["a"]}', "RUN/config.json: input_size is '32x48'"),
    (b'{"model": "resunet", "input_size": [32, 48], "classes": "ab"}', "RUN/config.json: classes is 'ab'"),
    (b'{"model": "resunet", "input_size": [32, 0], "classes": ["a"]}', "RUN/config.json: input_size.1 is 0"),
    (b'{"input_size": [32, 48], "classes": ["a"]}', "RUN/config.json: model is missing (missing: edgeseg writes it)"),
]
RUN_READERS = [
    ["quantize", "RUN", "--float32"],
    ["quantize", "RUN", "--qat"],
    ["eval", "RUN", "--data", "DATA"],
    ["info", "RUN"],
    ["train", "--data", "DATA", "--out", "RUN", "--resume"],
]


@pytest.mark.parametrize("content, message", RUN_CONFIGS, ids=lambda v: str(v)[:16])
@pytest.mark.parametrize("args", RUN_READERS, ids=lambda v: " ".join(v[:3]))
def test_a_damaged_run_config_is_one_line_naming_it(world, args, content, message):
    (world["RUN"] / "config.json").write_bytes(content)
    check(world, args, (1,), f"Error: {message}", "train it again")


def test_a_damaged_history_is_one_line_naming_it(world):
    (world["RUN"] / "history.csv").write_bytes(b"epoch,loss\nfirst,0.5\n")
    check(
        world,
        ["train", "--data", "DATA", "--out", "RUN", "--resume"],
        (1,),
        "Error: RUN/history.csv line 2: epoch is 'first' (input should be a valid integer",
    )


# -- report folders: a full disk, free space, rows counted twice ---------------------------------


def test_a_disk_that_fills_while_writing_a_report_leaves_nothing_and_keeps_the_rows(world, monkeypatch, tmp_path):
    import errno

    from edgeseg.reporting import compose, tables

    real = tables.atomic_write_json

    def full(path, obj):
        if Path(path).name == "run.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, obj)

    monkeypatch.setattr(tables, "atomic_write_json", full)
    monkeypatch.setattr(compose, "atomic_write_json", full)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "kept"))
    (tmp_path / "kept").mkdir()
    reports = world["T"] / "reports"
    before = sorted(p.name for p in reports.iterdir())
    res = CliRunner().invoke(main, ["report", str(world["REP"]), "--reports", str(reports)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith(f"Error: cannot write the merged report in {reports}: the disk is full; nothing was")
    assert sorted(p.name for p in reports.iterdir()) == before  # no half-written folder, no .tmp- folder
    row = {"artifact": "m", "device": "host", "delegate": "xnnpack", "median_ms": 5.0, "status": "ok"}
    with pytest.raises(Exception) as info:
        tables.write_report(reports, "bench_host", [row], [])
    kept = next((tmp_path / "kept").iterdir())
    assert str(info.value) == (
        f"cannot write the report in {reports}: the disk is full; nothing was left there. Measured: 1 latency "
        f"row(s); the rows are kept in {kept}. Free some space (or choose another --reports) and run again"
    )
    assert json.loads(kept.read_text())["latency"][0]["median_ms"] == 5.0
    assert sorted(p.name for p in reports.iterdir()) == before


def test_too_little_free_space_for_a_report_is_refused_before_the_sweep(world, monkeypatch):
    import collections
    import shutil

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 16_000, 16_000))
    res = check(world, ["bench", "ART", "--device", "host", "--reports", "T/new"], (1,))
    assert res.output == (
        f"Error: --reports {world['T'] / 'new'}: only 16 KB free on the file system of {world['T']}, and about "
        "2.0 MB is needed; free some space or choose another --reports\n"
    )


def test_report_reads_a_folder_once_and_a_merged_report_is_not_counted_again(world):
    rep = world["REP"]
    res = CliRunner().invoke(main, ["report", str(rep), str(rep), "--reports", str(world["T"] / "m1")])
    assert res.exit_code == 0, res.output
    merged = next((world["T"] / "m1").iterdir())
    assert (merged / "latency.csv").read_text().count("\nm,") == 1
    assert f"note: Read once, not twice (a folder named twice, or a merged report read back): {rep} (named twice)" in (
        res.output
    )
    # the README's flow: bench and report both default to reports/, so the merge is read back next time
    reports = world["T"] / "reports"
    first = CliRunner().invoke(main, ["report", str(reports), "--reports", str(reports)])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["report", str(reports), "--reports", str(reports)])
    assert again.exit_code == 0, again.output
    newest = sorted(p for p in reports.iterdir() if p.name.endswith("_report"))[-1]
    assert (newest / "latency.csv").read_text().count("\nm,") == 1
    assert "(already read from" in again.output


def test_figure_and_folder_names_fit_the_file_system():
    from edgeseg.fileio import fit_name

    a, b = fit_name("x" * 300 + "a", keep=".png"), fit_name("x" * 300 + "b", keep=".png")
    assert len(a.encode()) <= 255 and a.endswith(".png") and a != b
    assert fit_name("short", keep=".png") == "short.png"
    assert len(fit_name("车" * 200, keep=".png").encode()) <= 255


# -- device addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["abc", "50²7", "99999"])
def test_an_adb_server_port_that_is_no_port_is_said_so_not_a_missing_phone(world, monkeypatch, port):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    res = check(world, ["deploy", "ART", "--device", "pixel"], (1,))
    assert res.output == (
        f"Error: ANDROID_ADB_SERVER_PORT={port!r} is not a port number (1 to 65535): set it to the port of your adb "
        "server (adb's default is 5037), or unset it\n"
    )


def test_a_port_with_a_digit_int_refuses_is_said_to_be_no_port():
    from edgeseg.device.transport import split_host_port

    with pytest.raises(ValueError, match="HOST:PORT with a port from 1 to 65535"):
        split_host_port("phone:55²5")


# -- the third sweep's rest: profiles, sweeps, eval folders, concurrent writers ---------------------


@pytest.fixture
def lab(world):
    """Two tcp profiles (one without gpu), a profile with a value of the wrong type, two eval
    --device folders with no device rows, and an output claimed by another process."""
    from edgeseg.reporting.tables import write_report

    t = world["T"]
    (t / "a.toml").write_text('transport = "tcp"\naddress = "127.0.0.1:1"\n[delegates.cpu]\n[delegates.gpu]\n')
    (t / "b.toml").write_text('transport = "tcp"\naddress = "127.0.0.1:1"\n[delegates.cpu]\n')
    (t / "typed.toml").write_text("threads = true\n[power]\ncurrent_sign = true\n")
    host = {"artifact": "m", "where": "host", "device": "host", "delegate": "xnnpack", "miou": 0.2, "status": "ok"}
    ev = write_report(t / "ev", "eval_a", [], [host])
    return {**world, "EV": ev}


LAB = [
    (
        ["bench", "ART", "--device", "T/a.toml", "--device", "T/b.toml", "--delegate", "gpu", "--reports", "T/r"],
        (2,),
        "profile 'b' (T/b.toml) has no delegate 'gpu' (which a of this sweep has); it has cpu",
    ),
    (["devices", "show", "T/typed.toml"], (1,), "T/typed.toml: threads = true: expected an integer from 1 to 1024"),
    (
        ["report", "--compare", "EV", "EV", "--fail-if", "device_miou<-0.01"],
        (1,),
        "EV holds no latency rows and no on-device quality rows",
    ),
]


@pytest.mark.parametrize("args, codes, message", LAB, ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else None)
def test_profiles_sweeps_and_eval_folders(lab, args, codes, message):
    check(lab, args, codes, message)


def test_an_output_another_process_writes_is_refused_naming_it(world):
    import subprocess
    import sys

    lock = world["T"] / ".x.lock"
    hold = "import sys; from edgeseg.fileio import FileLock; FileLock(sys.argv[1]).acquire(); print('held', flush=True); sys.stdin.read()"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", hold, str(lock)], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        check(
            world,
            ["quantize", "RUN", "--float32", "--out", "T/x.tflite"],
            (1,),
            f"(process {proc.pid}, holding T/.x.lock)",
        )
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_report_html_of_a_report_holding_nan_and_inf_cells(tmp_path):
    """Issue 25, class 4: nan in a report's median_ms crashed `report --html` in the plot. Cells
    that are no finite number are read as missing: the report, its plots and HTML are written."""
    from click.testing import CliRunner

    from edgeseg.cli import main
    from edgeseg.reporting.tables import write_report

    rows = [
        {
            "artifact": "m_fp32",
            "recipe": "float32",
            "device": "host",
            "delegate": "xnnpack",
            "status": "ok",
            "median_ms": 10.0,
            "p90_ms": 11.0,
            "runs": 50,
        },
        {
            "artifact": "m_int8",
            "recipe": "int8",
            "device": "host",
            "delegate": "xnnpack",
            "status": "ok",
            "median_ms": float("nan"),
            "p90_ms": float("inf"),
            "runs": 50,
        },
    ]
    quality = [{"artifact": "m_fp32", "recipe": "float32", "dataset": "d", "split": "val", "images": 4, "miou": 0.5}]
    folder = write_report(tmp_path / "reports", "nan", rows, quality)
    res = CliRunner().invoke(main, ["report", str(folder), "--html", "--reports", str(tmp_path / "merged")])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    (merged,) = (tmp_path / "merged").iterdir()
    assert (merged / "report.html").is_file() and (merged / "latency.png").is_file()
