"""The public API and the CLI are one thing: for every command, the Python call and the
command line give the same result on the same inputs, get the same defaults, and every
choice the CLI offers is read from the library's table."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import edgeseg
from edgeseg import api
from edgeseg.cli import main
from edgeseg.errors import UsageError


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def strip(d: dict, *keys) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


# -- the package and its defaults (no TensorFlow) ----------------------------------------------


def test_import_edgeseg_gives_one_function_per_command():
    for name in ("train", "export", "compile", "evaluate", "info", "bench", "deploy", "report", "select", "quickstart"):
        assert callable(getattr(edgeseg, name)), name
    import importlib

    for sub in ("edgeseg.reporting.tables", "edgeseg.training.loop", "edgeseg.flow"):
        importlib.import_module(sub)  # a subpackage import must not replace the API's names

    assert callable(edgeseg.train) and callable(edgeseg.report) and callable(edgeseg.quickstart)


def test_a_config_built_in_python_takes_the_models_defaults():
    from edgeseg.models.registry import MODELS

    for name, spec in MODELS.items():
        cfg = api.TrainConfig(data="d", out="o", model=name)
        assert cfg.loss == spec.loss and cfg.input_size == spec.input_size, name
    assert api.TrainConfig(data="d", out="o").loss == "ohem"  # the default model's, as the README says
    assert api.TrainConfig(data="d", out="o", model="unet-pta").input_size == (256, 256)
    assert api.TrainConfig(data="d", out="o", loss="ce", input_size="64x96").input_size == (64, 96)


def test_the_cli_builds_the_same_train_config_as_python(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(
        api,
        "train",
        lambda cfg, **kw: seen.append(cfg) or api.TrainResult(data={}, run=cfg.out, best_epoch=1, best_val_miou=0.5),
    )
    for extra in ([], ["--model", "unet-pta"], ["--model", "unet", "--loss", "dice", "--epochs", "3"]):
        res = cli("train", "--data", tmp_path / "d", "--out", tmp_path / "o", *extra)
        assert res.exit_code == 0, res.output
    assert seen[0] == api.TrainConfig(data=str(tmp_path / "d"), out=str(tmp_path / "o"))
    assert seen[1].input_size == (256, 256) and seen[1].loss == "dice"  # unet-pta without --input-size: its row
    assert seen[2] == api.TrainConfig(
        data=str(tmp_path / "d"), out=str(tmp_path / "o"), model="unet", loss="dice", epochs=3
    )


def test_the_cli_quickstart_uses_the_configs_defaults(monkeypatch):
    import edgeseg.flow as flow

    seen = []
    monkeypatch.setattr(
        flow, "quickstart", lambda cfg, **kw: seen.append(cfg) or (_ for _ in ()).throw(UsageError("stop here"))
    )
    cli("quickstart")
    assert seen == [flow.QuickstartConfig()]
    assert seen[0].size == flow.QUICKSTART_SIZE == (128, 224)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: api.ExportConfig(run="r", recipe="float16", calib="c"), "--float16 needs no calibration"),
        (lambda: api.ExportConfig(run="r", recipe="qat", num_calib=5), "--num-calib calibrate the PTQ recipes"),
        (lambda: api.ExportConfig(run="r", recipe="int8", max_drop=0.5), "--max-drop needs --data DATASET"),
        (lambda: api.ExportConfig(run="r", recipe="float32", ptq="aeq"), "--ptq chooses how plain --int8"),
        (lambda: api.ExportConfig(run="r", recipe="int4"), "choose a recipe"),
        (lambda: api.TrainConfig(data="d", out="o", loss="ohem", class_weights=True), "--class-weights weights"),
        (lambda: api.TrainConfig(data="d", out="o", model="resnet"), "unknown model 'resnet'"),
        (lambda: api.BenchConfig(artifacts=("a.tflite",), min_secs=float("inf")), "--min-secs must be a finite"),
        (
            lambda: api.SelectConfig(artifact="a", device="host", budget_ms=float("nan")),
            "--budget-ms must be a positive",
        ),
    ],
)
def test_usage_rules_live_in_the_library(make, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        make()


def test_the_cli_shows_the_librarys_usage_rule_as_a_usage_error(tmp_path):
    res = cli("quantize", tmp_path, "--float16", "--calib", tmp_path)
    assert res.exit_code == 2 and "--float16 needs no calibration" in res.output


# -- choices come from tables -------------------------------------------------------------------


def _tables():
    from edgeseg.data.pipeline import RESIZE_MODES
    from edgeseg.data.synth import IMAGE_FORMATS
    from edgeseg.device.session import TRANSPORTS
    from edgeseg.iospec import LAYOUTS, NORMALISATIONS, OUTPUT_KINDS
    from edgeseg.quantize.ptq import HEADS, IO_TYPES, PTQ_TOOLS
    from edgeseg.reporting.compare import INCONCLUSIVE
    from edgeseg.runtime.debugcopy import SELECTIONS
    from edgeseg.training.distribute import STRATEGIES
    from edgeseg.training.losses import LOSSES
    from edgeseg.training.precision import PRECISIONS
    from edgeseg.training.recipe import SCHEDULES

    return {
        ("train", "schedule"): SCHEDULES,
        ("train", "loss"): LOSSES,
        ("train", "resize"): RESIZE_MODES,
        ("quantize", "io"): IO_TYPES,
        ("quantize", "head"): HEADS,
        ("quantize", "ptq"): PTQ_TOOLS,
        ("train", "strategy"): STRATEGIES,
        ("train", "precision"): PRECISIONS,
        ("synth", "image_format"): IMAGE_FORMATS,
        ("compile", "openvino_device"): api.CompileConfig.OPENVINO_DEVICES,
        ("eval", "classes_from"): ("dataset",),
        ("numerics", "tensors"): SELECTIONS,
        ("numerics", "classes_from"): ("dataset",),
        ("report", "inconclusive"): INCONCLUSIVE,
        ("import", "normalize"): NORMALISATIONS,
        ("import", "layout"): LAYOUTS,
        ("import", "output"): OUTPUT_KINDS,
        **{(c, "transport"): TRANSPORTS for c in ("deploy", "bench", "show", "eval", "numerics")},
    }


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield name, cmd


def test_every_choice_is_read_from_its_table():
    tables = _tables()
    seen = set()
    for name, cmd in _commands(main):
        for p in cmd.params:
            if isinstance(p.type, click.Choice):
                assert (name, p.name) in tables, f"{name} --{p.name}: a choice with no table in this test"
                assert list(p.type.choices) == list(tables[(name, p.name)]), (name, p.name)
                seen.add((name, p.name))
    assert seen == set(tables)


def test_recipe_flags_are_the_recipe_table_and_qat():
    from edgeseg.quantize.ptq import RECIPES

    flags = [p.name[2:] for p in main.commands["quantize"].params if p.name.startswith("r_")]
    assert flags == [*RECIPES, "qat"]


def test_help_lists_come_from_the_tables():
    from edgeseg.models.registry import MODELS
    from edgeseg.runtime.hostbench import HOST_DELEGATES

    assert all(m in cli("train", "--help").output.replace("\n", " ").replace("  ", "") for m in MODELS)
    help_text = " ".join(cli("bench", "--help").output.split())
    assert ", ".join(HOST_DELEGATES) in help_text


# -- the same result from both (TensorFlow-free commands) -------------------------------------


def _report_folder(tmp_path):
    from edgeseg.reporting.tables import write_report

    lat = [
        {
            "artifact": "m_int8",
            "recipe": "int8",
            "device": "host",
            "delegate": "xnnpack",
            "threads": 2,
            "median_ms": 10.0,
            "p90_ms": 11.0,
            "runs": 50,
            "status": "ok",
        },
        {
            "artifact": "m_float32",
            "recipe": "float32",
            "device": "host",
            "delegate": "xnnpack",
            "threads": 2,
            "median_ms": 30.0,
            "p90_ms": 31.0,
            "runs": 50,
            "status": "ok",
        },
    ]
    q = [
        {"artifact": "m_int8", "recipe": "int8", "dataset": "d", "split": "val", "miou": 0.61},
        {"artifact": "m_float32", "recipe": "float32", "dataset": "d", "split": "val", "miou": 0.62},
    ]
    return write_report(tmp_path / "reports", "bench_host", lat, q)


def test_report_cli_and_python_give_the_same_summary(tmp_path):
    folder = _report_folder(tmp_path)
    res = cli("report", folder, "--reports", tmp_path / "a")
    assert res.exit_code == 0, res.output
    made = api.report(api.ReportConfig(folders=(str(folder),), reports=str(tmp_path / "b")))
    from edgeseg.reporting.tables import read_report

    by_cli = read_report(next((tmp_path / "a").iterdir()))["summary"]
    by_py = read_report(made.report)["summary"]
    assert strip_run(by_cli) == strip_run(by_py) and by_py and len(made.summary) == len(by_py)


def strip_run(rows):
    return [strip(r, "run_id", "report", "run") for r in rows]


def test_select_cli_and_python_choose_the_same_row(tmp_path, tiny_tflite_bytes):
    folder = _report_folder(tmp_path)
    art = tmp_path / "m_int8.tflite"
    art.write_bytes(tiny_tflite_bytes)
    res = cli("select", art, "--device", "host", "--budget-ms", "20", "--report", folder, "--json")
    py = api.select(api.SelectConfig(artifact=str(art), device="host", budget_ms=20, reports=str(folder)))
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == json.loads(json.dumps(py.to_dict(), default=str))
    assert py.chosen["artifact"] == "m_int8"


# -- the same result from both (real TensorFlow and interpreter) -------------------------------


TINY = ["--input-size", "64x96", "--depth", "2", "--base", "8", "--batch", "4"]


@pytest.fixture(scope="module")
def twin_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    lanes = root / "lanes"
    assert cli("data", "synth", lanes, "--count", "24", "--size", "64x96", "--seed", "3").exit_code == 0
    res = cli("train", "--data", lanes, "--out", root / "cli_run", "--epochs", "1", *TINY)
    assert res.exit_code == 0, res.output
    py = edgeseg.train(
        api.TrainConfig(
            data=str(lanes),
            out=str(root / "py_run"),
            epochs=1,
            input_size=(64, 96),
            batch=4,
            model_options={"depth": 2, "base": 8},
        )
    )
    return root, lanes, py


@pytest.mark.e2e
def test_train_cli_and_python_write_the_same_run_config(twin_runs):
    root, _, py = twin_runs
    a = json.loads((root / "cli_run" / "config.json").read_text())
    b = json.loads((root / "py_run" / "config.json").read_text())
    assert strip(a["train"], "out") == strip(b["train"], "out")
    assert a["train"]["loss"] == "ohem"  # the model's loss, from Python as from the CLI
    assert strip(a, "train", "created") == strip(b, "train", "created")
    assert py.run == str(root / "py_run") and py.best_epoch == 1


@pytest.mark.e2e
def test_export_eval_info_bench_cli_and_python_agree(twin_runs, tmp_path):
    root, lanes, _ = twin_runs
    run = root / "cli_run"
    res = cli("quantize", run, "--float32", "--out", tmp_path / "cli.tflite", "--json")
    assert res.exit_code == 0, res.output
    by_cli = json.loads(res.output[res.output.index("{") :])
    py = edgeseg.export(api.ExportConfig(run=str(run), recipe="float32", out=str(tmp_path / "py.tflite")))
    keys = ("recipe", "input", "output", "classes", "io", "source_checkpoint", "size_bytes", "sha256")
    assert {k: by_cli["manifest"].get(k) for k in keys} == {k: getattr(py.manifest, k) for k in keys}
    assert (
        by_cli["lint"] == json.loads(json.dumps(py.data["lint"], default=str))
        or by_cli["lint"].keys() == py.data["lint"].keys()
    )

    res = cli("eval", tmp_path / "cli.tflite", "--data", lanes, "--json", "--no-record")
    assert res.exit_code == 0, res.output
    q = edgeseg.evaluate(api.EvalConfig(target=str(tmp_path / "py.tflite"), data=str(lanes), record=False))
    assert json.loads(res.output)["miou"] == pytest.approx(q.miou, abs=1e-12)

    res = cli("info", tmp_path / "cli.tflite", "--json")
    info = edgeseg.info(api.InfoConfig(target=str(tmp_path / "py.tflite")))
    assert strip(json.loads(res.output), "path") == json.loads(json.dumps(strip(info.data, "path"), default=str))

    res = cli(
        "bench", tmp_path / "cli.tflite", "--runs", "3", "--min-secs", "0", "--reports", tmp_path / "r1", "--json"
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output[res.output.index("{") :])["rows"]
    b = edgeseg.bench(
        api.BenchConfig(artifacts=(str(tmp_path / "py.tflite"),), runs=3, min_secs=0, reports=str(tmp_path / "r2"))
    )
    same = ("delegate", "threads", "runs", "delegated_ops", "total_ops", "partitions", "status")
    assert [{k: r.get(k) for k in same} for r in rows] == [{k: r.get(k) for k in same} for r in b.rows]
    assert b.ok and Path(b.report).is_dir()


@pytest.mark.e2e
def test_compile_cli_and_python_refuse_the_same_soc(tiny_tflite):
    res = cli("compile", tiny_tflite, "--soc", "MT6998")
    with pytest.raises(Exception) as exc:
        edgeseg.compile(api.CompileConfig(artifact=str(tiny_tflite), socs=("MT6998",)))
    assert res.exit_code == 1 and str(exc.value) in res.output


@pytest.mark.e2e
def test_deploy_cli_and_python_push_the_same_file(tmp_path, tiny_tflite):
    from adbd import AdbDaemon
    from phones import loopback_profile

    d = AdbDaemon(tmp_path / "phone")
    d.start()
    try:
        profile = loopback_profile(tmp_path, d.port)
        py = edgeseg.deploy(api.DeployConfig(str(profile), key=str(tmp_path / "adbkey"), artifact=str(tiny_tflite)))
        res = cli("deploy", tiny_tflite, "--device", profile, "--adb-key", tmp_path / "adbkey")
        assert res.exit_code == 0, res.output
        assert f"{py.remote}: already on the device (same sha256), sha256 {py.sha256[:16]}" in res.output
        assert d.sandbox.host_path(py.remote).read_bytes() == tiny_tflite.read_bytes()
    finally:
        d.stop()
