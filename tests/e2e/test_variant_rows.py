"""Variants are table rows, not branches on names: a new delegate, runner, power source or
transport is one row in one file, and every choice list is built from its table.

Each "new row" test registers a row (monkeypatch on the table) and runs it end to end
through the real code path: the loopback adbd of tests/adbd.py with its busybox (or mksh +
toybox) shell, the real bench_device / bench_rows / lint."""

import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from adbd import I_IDLE, V_BATT, AdbDaemon, SensorDriver, need_shell
from conftest import bench_config

from edgeseg import delegates as dl
from edgeseg.config import finite_or_none
from edgeseg.device import power as pw
from edgeseg.device import profiles as pr
from edgeseg.device import runners as rn
from edgeseg.device import session as se
from edgeseg.device.profiles import PowerSpec, load_profile, parse_profile
from edgeseg.errors import DeviceError

REPO = Path(__file__).resolve().parents[2]


# -- the tables and what is read from them ---------------------------------------------------------


def test_the_tables_name_what_exists():
    assert list(dl.DELEGATES) == ["cpu", "xnnpack", "gpu", "nnapi", "litert-npu"]
    assert list(rn.RUNNERS) == ["benchmark_model", "litert", "python", "host"]
    assert list(pw.SOURCES) == ["rails", "hal", "battery"]
    assert list(se.TRANSPORTS) == ["tcp", "usb", "adb-server"]
    for table in (dl.DELEGATES, rn.RUNNERS, pw.SOURCES, se.TRANSPORTS):
        assert all(row.name == name for name, row in table.items())


def test_every_choice_list_is_built_from_its_table(monkeypatch):
    """What profiles accept and what the CLI offers come from the tables (a row added at run
    time shows up in each): delegates, runners, power sources, transports."""
    from edgeseg.runtime import hostbench

    assert pr.choices("TRANSPORTS") == tuple(se.TRANSPORTS) == ("tcp", "usb", "adb-server")
    assert pr.choices("RUNNERS") == rn.profile_runner_names() == ("benchmark_model", "python")
    assert pr.choices("DELEGATE_RUNNERS") == ("profile", *rn.delegate_runner_names()) == ("profile", "litert")
    assert pr.choices("POWER_SOURCE_NAMES") == tuple(pw.SOURCES)
    assert (
        pr.choices("POWER_SOURCES")
        == pw.source_choices()
        == ("auto", "none", "battery+rails", "rails", "hal", "battery")
    )
    assert hostbench.HOST_DELEGATES is dl.HOST_DELEGATES
    assert dl.host_delegate_names() == tuple(hostbench.HOST_DELEGATES) == ("xnnpack", "cpu")  # the default first
    assert dl.host_default() == "xnnpack" and dl.delegate_names() == tuple(dl.DELEGATES)
    assert dict(dl.INTERPRETER_DELEGATES) == {"cpu": "builtin", "xnnpack": "default"}
    assert list(dl.LINTED_DELEGATES) == ["xnnpack", "gpu", "nnapi"]

    monkeypatch.setitem(dl.DELEGATES, "newdel", dl.Delegate("newdel", "New", "a new one", interpreter="default"))
    monkeypatch.setitem(rn.RUNNERS, "newrun", rn.Runner("newrun", "new runner", "", profile_runner=True))
    monkeypatch.setitem(rn.RUNNERS, "newone", rn.Runner("newone", "per delegate", "", single_delegates=True))
    monkeypatch.setitem(pw.SOURCES, "newsrc", pw.CounterSource("newsrc", "a new source", "N", probe=lambda p, t: ""))
    monkeypatch.setitem(se.TRANSPORTS, "newtr", se.Transport("newtr", "a new transport", se._connect_adb_server))
    assert "newdel" in dl.delegate_names() and "newdel" in hostbench.HOST_DELEGATES
    assert dl.INTERPRETER_DELEGATES["newdel"] == "default"
    assert pr.choices("RUNNERS")[-1] == "newrun" and pr.choices("DELEGATE_RUNNERS")[-1] == "newone"
    assert pr.choices("POWER_SOURCE_NAMES")[-1] == "newsrc" and pr.choices("POWER_SOURCES")[-1] == "newsrc"
    assert pr.choices("TRANSPORTS")[-1] == "newtr"
    p = parse_profile(
        {
            "transport": "newtr",
            "runner": "newrun",
            "power": {"source": "battery+newsrc"},
            "delegates": {"x": {"runner": "newone"}},
        },
        "p",
    )
    assert (p.transport, p.runner, p.delegates["x"].runner) == ("newtr", "newrun", "newone")
    assert pw.allowed_sources(p.power) == ["battery", "newsrc"]


def test_the_cli_choices_are_the_tables():
    """Every click.Choice of the CLI about a table offers exactly that table's rows."""
    import click

    from edgeseg.cli import main

    expect = {
        "transport": tuple(se.TRANSPORTS),
        "runner": rn.profile_runner_names(),
        "power_source": pw.source_choices(),
        "delegate": dl.delegate_names(),
    }
    seen = []

    def walk(cmd):
        for param in cmd.params:
            if isinstance(param.type, click.Choice) and param.name in expect:
                seen.append((cmd.name, param.name, tuple(param.type.choices)))
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(main)
    assert seen, "no choice option of the CLI concerns a table"
    for name, param, choices in seen:
        assert choices == expect[param], f"{name} --{param}: {choices} is not its table {expect[param]}"


def test_the_delegate_table_is_a_bottom_layer():
    tree = ast.parse((REPO / "edgeseg/delegates.py").read_text())
    mods = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    mods |= {("." * node.level) + (node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert all(
        m in (".errors", ".config") or not m.startswith(".") and m.split(".")[0] in sys.stdlib_module_names
        for m in mods
    ), mods


def test_default_delegates_ask_each_runner(tmp_path, tiny_tflite_bytes):
    from edgeseg.artifact import write_manifest

    p = parse_profile({"delegates": {"cpu": {}, "litert-npu": {"soc": "MT6989"}}}, "x")
    assert p.delegates["litert-npu"].runner == "litert"  # from its row
    art = tmp_path / "m.tflite"
    art.write_bytes(tiny_tflite_bytes)
    assert rn.default_delegates(p, [art]) == ["cpu"]
    compiled = tmp_path / "m_MediaTek_MT6989.tflite"
    compiled.write_bytes(tiny_tflite_bytes)
    write_manifest(compiled, model="m", recipe="int8", compiled={"soc": "MT6989", "source": art.name})
    assert rn.default_delegates(p, [art]) == ["cpu", "litert-npu"]
    with pytest.raises(DeviceError, match=r"a litert delegate needs soc"):
        parse_profile({"delegates": {"litert-npu": {}}}, "x")


def test_power_rows_have_their_own_tags():
    tags = [t for row in pw.SOURCES.values() for t in row.log_tags()]
    assert len(tags) == len(set(tags)) and not set(tags) & set(pw.RESERVED_TAGS)
    probe_tags = [row.tag for row in pw.SOURCES.values()]
    assert len(probe_tags) == len(set(probe_tags))


def test_the_board_runner_stays_standalone_and_agrees_with_the_delegate_table():
    """edgeseg/runner.py runs on boards without edgeseg: it imports only the standard
    library and NumPy at the top, and its own small table of kernels (for running it by
    hand) agrees with the table of record; edgeseg passes --kernels from that table."""
    from edgeseg import runner

    tree = ast.parse((REPO / "edgeseg/runner.py").read_text())
    top = {a.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for a in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= {"__future__", "argparse", "json", "sys", "time", "numpy"}, top
    for name, kernels in runner.KERNELS.items():
        assert dl.DELEGATES[name].interpreter == kernels, name
    assert set(runner.KERNELS.values()) <= set(dl.INTERPRETER_KERNELS)
    assert all(d.interpreter in (None, *dl.INTERPRETER_KERNELS) for d in dl.DELEGATES.values())
    cmd = rn.python_runner_command("python3", "r.py", "g.tflite", "newdel", 2, 5, 1.0, kernels="default")
    assert cmd.endswith("--delegate newdel --kernels default")


def test_a_new_power_source_row_is_probed_sampled_parsed_and_judged(monkeypatch):
    """The shell each row sends is what the loops assemble, and its lines come back to it."""
    monkeypatch.setitem(pw.SOURCES, "pmic", PMIC)
    power = PowerSpec(source="pmic")
    assert pw.allowed_sources(power) == ["pmic"]
    probe = pw.probe_command(power, ["pmic"])
    assert probe.count(f"read x < {PMIC_FILE}") == 2 and 'echo "E1 $t $x"' in probe and 'echo "E2 $t $x"' in probe
    sampler = pw.sampler_start(power, pr.ThermalSpec(), "/data/l", "/data/s", ["pmic"])
    assert f'read x < {PMIC_FILE}; echo "E $t $x"; sleep 0.100;' in sampler
    ok = pw.check_sources("U1 1.0\nE1 1.0 1000 990\nU2 1.5\nE2 1.5 1600 1490\n", power, ["pmic"])
    assert ok == {"usable": ["pmic"], "skipped": {}}
    stuck = pw.check_sources("U1 1.0\nE1 1.0 1000\nU2 1.5\nE2 1.5 1000\n", power, ["pmic"])
    assert stuck["skipped"]["pmic"] == "its energy counters did not advance in 0.5 s (stuck or not updated)"
    missing = pw.check_sources("U1 1.0\nE1 1.0\nU2 1.5\n", power, ["pmic"])
    assert missing["skipped"]["pmic"] == f"no readable {PMIC_FILE}"
    log = pw.parse_power_log(
        "M idle_start 0.0\n"
        + "".join(f"E {t / 10} {1000 * t if t <= 10 else 10000 + 5000 * (t - 10)}\n" for t in range(21)),
        power,
    )
    assert len(log.counters["pmic"]) == 21
    e = pw.energy(log, (0.0, 1.0), (1.0, 2.0), 20.0, sources=["pmic"])
    assert e["energy_source"] == "pmic" and (e["idle_mw"], e["run_mw"]) == (pytest.approx(10.0), pytest.approx(50.0))


# -- a new delegate: one row, run on the device, the board, the host and in the lint ------------------


NEW_DELEGATE = dl.Delegate(
    "xnnpack-fp16",
    "XNNPACK fp16",
    "XNNPACK with fp16 inference forced",
    flags=("--use_xnnpack=true", "--xnnpack_force_fp16=true"),
    interpreter="default",
    lint="measured",
)

# A stand-in for benchmark_model: records its flags, prints a published-format output
# (full XNNPACK delegation) for any flags.
FAKE_BENCHMARK_MODEL = r"""#!/bin/sh
echo "$@" >> "$(dirname "$0")/.invocations"
cat <<'OUT'
INFO: Replacing 50 out of 50 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the whole graph.
count=50 first=58154 curr=53809 min=53077 max=60727 avg=55043.2 std=1562
Inference timings in us: Init: 18777, First inference: 64791, Warmup (avg): 57758.2, Inference (avg): 55043.2
OUT
"""


@pytest.fixture
def key(tmp_path):
    from edgeseg.device import adbproto as P

    return P.load_or_create_key(tmp_path / "adbkey")


def profile_file(tmp_path, port, runner, delegates, source="none", **top) -> Path:
    lines = [
        'name = "rows"',
        'transport = "tcp"',
        f'address = "127.0.0.1:{port}"',
        f'runner = "{runner}"',
        f'python = "{sys.executable}"',
        "threads = 2",
        *[f"{k} = {json.dumps(v)}" for k, v in top.items()],
        *[f"[delegates.{d}]" for d in delegates],
        "[power]",
        f'source = "{source}"',
        "rate_hz = 20",
        "idle_secs = 1.0",
        "[thermal]",
        'zones = ["/sys/class/thermal/thermal_zone1/temp"]',
        "cooldown_above_c = 80",
    ]
    path = tmp_path / "rows.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def session(profile: Path, tmp_path) -> se.DeviceSession:
    return se.DeviceSession(load_profile(str(profile)), key_path=str(tmp_path / "adbkey"))


@pytest.mark.e2e
def test_a_new_delegate_row_runs_on_benchmark_model_with_its_flags(monkeypatch, tmp_path, tiny_tflite_bytes):
    from edgeseg.device.bench import bench_device

    monkeypatch.setitem(dl.DELEGATES, NEW_DELEGATE.name, NEW_DELEGATE)
    art = tmp_path / "m.tflite"
    art.write_bytes(tiny_tflite_bytes)
    with AdbDaemon(tmp_path / "phone") as phone:
        binary = tmp_path / "benchmark_model"
        binary.write_text(FAKE_BENCHMARK_MODEL.replace("#!/bin/sh", phone.sandbox.shebang, 1))
        profile = profile_file(tmp_path, phone.port, "benchmark_model", ["xnnpack-fp16"])  # no flags: the row's
        assert load_profile(str(profile)).delegates["xnnpack-fp16"].flags == NEW_DELEGATE.flags
        with session(profile, tmp_path) as s:
            res = bench_device(
                s,
                bench_config(
                    runs=3, min_secs=0, power=False, benchmark_binary=str(binary), require_full_delegation=True
                ),
                [art],
                ["xnnpack-fp16"],
            )
        (call,) = (phone.sandbox.root / "data/local/tmp/edgeseg/.invocations").read_text().splitlines()
    (row,) = res["latency"]
    assert row["status"] == "ok" and row["runner"] == "benchmark_model" and row["delegate"] == "xnnpack-fp16"
    assert row["mean_ms"] == pytest.approx(55.0432) and (row["delegated_ops"], row["total_ops"]) == (50, 50)
    for flag in ("--use_xnnpack=true", "--xnnpack_force_fp16=true", "--require_full_delegation=true"):
        assert flag in call.split()


@pytest.mark.e2e
def test_a_new_delegate_row_runs_on_the_board_runner_the_host_and_in_the_lint(monkeypatch, tmp_path, tiny_tflite):
    """The Python runner gets the row's kernels on its command line (runner.py itself has
    no entry for it); the host bench and the lint list it from the row."""
    from edgeseg.device.bench import bench_device, bench_rows
    from edgeseg.quantize.lint import format_lint, lint_artifact

    monkeypatch.setitem(dl.DELEGATES, NEW_DELEGATE.name, NEW_DELEGATE)
    with AdbDaemon(tmp_path / "phone") as phone:
        profile = profile_file(tmp_path, phone.port, "python", ["cpu", "xnnpack-fp16"])
        with session(profile, tmp_path) as s:
            res = bench_device(s, bench_config(runs=3, min_secs=0, power=False), [tiny_tflite], ["xnnpack-fp16"])
    (row,) = res["latency"]
    assert row["status"] in ("ok", "fallback") and row["runner"] == "python-runner", row
    assert row["delegate"] == "xnnpack-fp16" and row["runs"] >= 3 and row["total_ops"] > 0

    (host,) = bench_rows(
        [tiny_tflite], bench_config(device="host", threads=1, runs=3, min_secs=0.0), delegates=("xnnpack-fp16",)
    )
    assert host["status"] in ("ok", "fallback") and host["runner"] == "ai_edge_litert (host)", host

    lint = lint_artifact(tiny_tflite)
    assert list(lint["delegates"]) == ["xnnpack", "gpu", "nnapi", "xnnpack-fp16"]
    assert lint["delegates"]["xnnpack-fp16"]["total_ops"] == lint["delegates"]["xnnpack"]["total_ops"]
    assert "  xnnpack-fp16 " in format_lint(lint) and all("xnnpack-fp16" in o for o in lint["ops"])


# -- a new runner: one row ----------------------------------------------------------------------------


FAKE_RUNNER = r"""#!/bin/sh
# a stand-in benchmark tool: "fakebench GRAPH DELEGATE RUNS" prints one result line
[ -r "$1" ] || { echo "no graph $1" >&2; exit 2; }
echo "fakebench graph=$1 delegate=$2 runs=$3 mean_ms=1.25"
"""


@dataclass(frozen=True)
class FakeBenchRunner(rn.Runner):
    """A runner row as a new one would be written: push its tool, build its command, parse it."""

    tool: str = ""  # the local file to push

    def why_not(self, delegate):
        return None if delegate == "cpu" else f"fakebench runs cpu only, not {delegate}"

    def prepare(self, ctx):
        ctx.state[self.name] = rn.ensure_file(ctx.session, self.tool, "fakebench", mode=0o755)["remote"]

    def command(self, ctx, artifact, remote, spec):
        return rn.Invocation(" ".join(rn.q(a) for a in [ctx.state[self.name], remote, spec.name, ctx.runs]), spec.name)

    def parse(self, ctx, sec, inv):
        m = re.search(r"runs=(\d+) mean_ms=([\d.]+)", sec["out"])
        if sec["rc"] != 0 or not m:
            return {"status": "failed", "error": (sec["err"].strip() or f"exit status {sec['rc']}")}, [], None
        return (
            {"status": "ok", "runs": int(m.group(1)), "mean_ms": float(m.group(2)), "median_ms": float(m.group(2))},
            [],
            None,
        )


@pytest.mark.e2e
@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_a_new_runner_row_is_a_profile_runner(monkeypatch, tmp_path, tiny_tflite_bytes, shell):
    from edgeseg.device.bench import bench_device

    need_shell(shell)
    art = tmp_path / "m.tflite"
    art.write_bytes(tiny_tflite_bytes)
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        tool = tmp_path / "fakebench"
        tool.write_text(FAKE_RUNNER.replace("#!/bin/sh", phone.sandbox.shebang, 1))
        monkeypatch.setitem(
            rn.RUNNERS,
            "fakebench",
            FakeBenchRunner("fakebench", "fakebench", "a stand-in tool", profile_runner=True, tool=str(tool)),
        )
        profile = profile_file(tmp_path, phone.port, "fakebench", ["cpu", "gpu"])
        with session(profile, tmp_path) as s:
            res = bench_device(s, bench_config(runs=7, min_secs=0, power=False), [art], ["cpu", "gpu"])
    cpu, gpu = res["latency"]
    assert (cpu["status"], cpu["runner"], cpu["runs"], cpu["mean_ms"]) == ("ok", "fakebench", 7, 1.25), cpu
    assert gpu["status"] == "failed" and gpu["error"] == "fakebench runs cpu only, not gpu"
    with pytest.raises(DeviceError, match='runner = "nope": expected one of benchmark_model, python, fakebench'):
        parse_profile({"runner": "nope"}, "x")


# -- a new power source: one row -------------------------------------------------------------------


PMIC_FILE = "/sys/kernel/pmic/energy_uws"


def _pmic_readings(lines):
    """``(t, "<accumulated uWs> <its own boot-clock ms>")`` -> readings of the one channel."""
    out = []
    for t, text in lines:
        vals = [finite_or_none(x) for x in text.split()]
        if vals and vals[0] is not None:
            out.append({"t": t, "t_ms": vals[1] if len(vals) > 1 else None, "uws": {"pmic": vals[0]}})
    return sorted(out, key=lambda r: r["t"])


PMIC = pw.CounterSource(
    "pmic",
    "a PMIC's accumulated-energy counter in sysfs: uWs and its timestamp (boot-clock ms)",
    "E",
    probe=lambda power, tag: f'x=; read x < {PMIC_FILE}; echo "{tag} $t $x"; ',
    sample=lambda power: f'x=; read x < {PMIC_FILE}; echo "E $t $x"; ',
    readings=_pmic_readings,
    unreadable=lambda power: f"no readable {PMIC_FILE}",
)


@pytest.mark.e2e
@pytest.mark.parametrize("shell", ["busybox", "toybox"])
def test_a_new_power_source_row_gives_the_energy_on_device_shells(monkeypatch, tmp_path, tiny_tflite, shell):
    """The driven trace through a counter file only the new row knows: probed, sampled in
    the real sampler on busybox ash (or mksh + toybox), parsed, judged, and its energy per
    inference within 2% of the trace's integral."""
    from edgeseg.device.bench import bench_device

    need_shell(shell)
    monkeypatch.setitem(pw.SOURCES, "pmic", PMIC)
    with AdbDaemon(tmp_path / "phone", shell=shell) as phone:
        work = phone.sandbox.root / "data/local/tmp/edgeseg"
        work.mkdir(parents=True, exist_ok=True)
        (phone.sandbox.root / "sys/kernel/pmic").mkdir(parents=True)
        write_rails = phone.sandbox.write_rails

        def also_the_pmic(t_ms):  # the PMIC's counter: the driven rails' energy, summed, when the driver sets it
            write_rails(t_ms)
            phone.sandbox.write(PMIC_FILE.lstrip("/"), f"{int(sum(phone.sandbox.rail_uws.values()))} {int(t_ms)}")

        monkeypatch.setattr(phone.sandbox, "write_rails", also_the_pmic)
        driver = SensorDriver(phone.sandbox, work)  # the profile's only source is the pmic: the rails go unread
        driver.thread.start()
        from phones import record_switches  # the loopback tests' watcher of the driven trace

        switches = record_switches(driver)
        profile = profile_file(tmp_path, phone.port, "python", ["cpu"], source="pmic")
        said = []
        try:
            with session(profile, tmp_path) as s:
                res = bench_device(s, bench_config(runs=20, min_secs=2), [tiny_tflite], ["cpu"], say=said.append)
        finally:
            driver.stop.set()
    (row,), (power,) = res["latency"], res["power"]
    assert "power: pmic" in said, said
    assert power["status"] == "ok" and power["energy_source"] == "pmic", power
    expect = driver.analytic_energy_mj(power["window_start_s"], power["window_end_s"], switches[0], row["mean_ms"])
    got = power["energy_mj_per_inference"]
    print(f"{shell} pmic: {got:.4f} mJ vs analytic {expect:.4f} mJ ({got / expect - 1:+.2%})")
    assert got == pytest.approx(expect, rel=0.02)
    assert power["idle_mw"] == pytest.approx(I_IDLE * V_BATT, rel=0.02)
