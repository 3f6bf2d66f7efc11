"""Device profiles are checked as a schema (issue 20): every key's type, range and shape,
each error naming the file, the key, the value and what is expected; a bad file never hides
the other profiles; the adb key's own failures say what to do."""

import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeseg.cli import main
from edgeseg.device import adbproto as P
from edgeseg.device.profiles import BadProfile, load_profile, parse_profile, scan_profiles
from edgeseg.errors import DeviceError

TCP = 'transport = "tcp"\naddress = "127.0.0.1:5555"\n'


def profile_file(tmp_path, text, name="bad"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, error",
    [
        ('threads = "four"\n', 'threads = "four": expected an integer from 1 to 1024'),
        ("threads = 0\n", "threads = 0: expected an integer from 1 to 1024"),
        ("threads = 2.5\n", "threads = 2.5: expected an integer from 1 to 1024"),
        (
            "[power]\nsource = 1\n",
            "[power]: source = 1: expected a string: auto, none, or a comma list of rails, hal, battery",
        ),
        (
            '[power]\nsource = "batery"\n',
            '[power]: source = "batery": expected auto, none, or a comma list of rails, hal, battery',
        ),
        ('delegates = "cpu"\n', 'delegates = "cpu": expected one table per delegate, e.g. [delegates.cpu]'),
        ('[delegates]\ncpu = "x"\n', 'delegates.cpu = "x": expected a table, [delegates.cpu] with its keys'),
        (
            '[delegates.gpu]\nflags = "--use_gpu=true"\n',
            '[delegates.gpu]: flags = "--use_gpu=true": expected a list of strings, e.g. ["a", "b"]',
        ),
        (
            'transport = "tcp"\naddress = "127.0.0.1:70000"\n',
            'address = "127.0.0.1:70000": expected HOST:PORT with a port from 1 to 65535',
        ),
        ('transport = "tcp"\naddress = "127.0.0.1"\n', 'address = "127.0.0.1": expected HOST:PORT with a port from 1'),
        (
            'transport = "tcp"\naddress = "127.0.0.1:0"\n',
            'address = "127.0.0.1:0": expected HOST:PORT with a port from 1',
        ),
        ('adb_server = "lab:99999"\n', 'adb_server = "lab:99999": expected HOST:PORT with a port from 1 to 65535'),
        ("serial = 1234\n", "serial = 1234: expected a string"),
        ("name = []\n", "name = []: expected a non-empty string"),
        ("[power]\nrate_hz = nan\n", "[power]: rate_hz = nan: expected a finite number from 0.5 to 100"),
        ("[power]\nrate_hz = inf\n", "[power]: rate_hz = inf: expected a finite number from 0.5 to 100"),
        ("[power]\nrate_hz = 0\n", "[power]: rate_hz = 0: expected a finite number from 0.5 to 100"),
        ("[power]\nidle_secs = -1\n", "[power]: idle_secs = -1: expected a finite number from 0 to 3600"),
        ("[power]\ncurrent_sign = 0\n", "[power]: current_sign = 0: expected -1 or 1"),
        ('[power]\ncurrent_unit = "A"\n', '[power]: current_unit = "A": expected one of uA, mA'),
        ("[power]\ncurrent_path = 3\n", "[power]: current_path = 3: expected a non-empty string"),
        (
            '[thermal]\nzones = "/sys/class/thermal/thermal_zone0/temp"\n',
            '[thermal]: zones = "/sys/class/thermal/thermal_zone0/temp": expected a list of strings',
        ),
        (
            "[thermal]\ncooldown_above_c = nan\n",
            "[thermal]: cooldown_above_c = nan: expected a finite number from -40 to 150",
        ),
        (
            "[thermal]\ncooldown_max_secs = true\n",
            "[thermal]: cooldown_max_secs = true: expected a finite number from 0",
        ),
        ("power = 3\n", "power = 3: expected a table, [power] with its keys under it"),
        (
            'work_dir = "/sdcard/x"\n',
            'work_dir = "/sdcard/x": expected a folder under /data/local/tmp (this is /sdcard/x)',
        ),
        ('runner = "onnx"\n', 'runner = "onnx": expected one of benchmark_model, python'),
        ('[delegates.npu]\nrunner = "tflite"\n', '[delegates.npu]: runner = "tflite": expected one of profile, litert'),
    ],
)
def test_each_bad_value_names_file_key_value_and_what_is_expected(tmp_path, text, error):
    path = profile_file(tmp_path, text)
    with pytest.raises(DeviceError) as exc:
        load_profile(str(path))
    sep = " " if error.startswith("[") else ": "
    assert str(exc.value).startswith(f"{path}{sep}{error}"), str(exc.value)


def test_the_values_that_fit_load_as_before():
    for name in ("pixel", "dimensity", "linux-board", "generic-android"):
        p = load_profile(name)
        assert p.threads == 4 and isinstance(p.thermal.zones, tuple)
        assert all(isinstance(d.flags, tuple) for d in p.delegates.values())
    p = parse_profile(
        {
            "transport": "tcp",
            "address": "[::1]:5555",
            "threads": 8,
            "adb_server": "lab-pc:5037",
            "power": {"rate_hz": 20.5, "idle_secs": 0},
        },
        "x",
    )
    assert (p.threads, p.adb_server, p.power.rate_hz) == (8, "lab-pc:5037", 20.5)


def test_a_bad_port_never_reaches_a_socket(tmp_path):
    """Before: address = "127.0.0.1:70000" was split and handed on (and wrapped to 4464 where a
    stack truncates it); now the profile does not load, and --address is a usage error."""
    path = profile_file(tmp_path, 'transport = "tcp"\naddress = "127.0.0.1:70000"\n')
    res = CliRunner().invoke(main, ["devices", "show", str(path), "--probe"])
    assert res.exit_code == 1
    assert 'address = "127.0.0.1:70000": expected HOST:PORT with a port from 1 to 65535' in res.output
    good = profile_file(tmp_path, TCP, "good")
    res = CliRunner().invoke(main, ["devices", "show", str(good), "--probe", "--address", "127.0.0.1:70000"])
    assert res.exit_code == 2
    assert "'127.0.0.1:70000' is not HOST:PORT with a port from 1 to 65535" in res.output


def test_devices_list_shows_a_bad_profile_as_bad_and_lists_the_others(tmp_path, monkeypatch):
    lab = tmp_path / "lab"
    lab.mkdir()
    profile_file(lab, 'threads = "four"\n', "broken")
    profile_file(lab, TCP + 'description = "fine"\n', "fine")
    (lab / "garbled.toml").write_text("threads = = 4\n")
    monkeypatch.setenv("EDGESEG_DEVICES", str(lab))
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb: profiles only
    res = CliRunner().invoke(main, ["devices", "list"])
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    assert any(
        ln.split()[:2] == ["broken", "BAD"]
        and f'{lab / "broken.toml"}: threads = "four": expected an integer from 1 to 1024' in ln
        for ln in lines
    ), res.output
    assert any(ln.split()[:2] == ["garbled", "BAD"] and "is not valid TOML" in ln for ln in lines)
    assert any(ln.split()[:3] == ["fine", "tcp", "fine"] for ln in lines)
    assert any(ln.split()[:2] == ["pixel", "adb-server"] for ln in lines)  # the bundled ones too
    assert "Error: 2 bad device profile(s): " in res.output
    kinds = {p.name: type(p) for p in scan_profiles()}
    assert kinds["broken"] is BadProfile and kinds["pixel"] is not BadProfile
    res = CliRunner().invoke(main, ["devices", "list", "--json"])
    assert '"error": "' in res.output and '"name": "fine"' in res.output


def _read_only_home(tmp_path) -> Path:
    if os.geteuid() == 0:  # root writes anywhere a mode allows: /sys refuses new folders even to root
        return Path("/sys")
    home = tmp_path / "ro-home"
    home.mkdir()
    home.chmod(0o500)
    return home


def test_read_only_home_without_a_key_says_to_pass_adb_key(tmp_path, monkeypatch):
    home = _read_only_home(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("ADB_KEY_PATH", raising=False)
    with pytest.raises(DeviceError) as exc:
        P.load_or_create_key()
    assert str(exc.value).startswith(f"cannot create the adb key {home / '.android' / 'adbkey'} (")
    assert str(exc.value).endswith(
        "pass --adb-key PATH (an existing adb private key, or a path in a writable folder "
        "where one is created) or set ADB_KEY_PATH"
    )
    path = profile_file(tmp_path, TCP, "phone")
    res = CliRunner().invoke(main, ["devices", "show", str(path), "--probe"])
    assert res.exit_code == 1 and "pass --adb-key PATH" in res.output and "Traceback" not in res.output


def test_a_key_that_is_not_pem_says_so(tmp_path):
    (tmp_path / "adbkey").write_text("not a key")
    with pytest.raises(DeviceError, match="adbkey is not an unencrypted PEM private key"):
        P.load_or_create_key(tmp_path / "adbkey")


def test_sessions_racing_on_a_fresh_home_share_one_key(tmp_path):
    """Before: O_EXCL in every thread, the losers died with FileExistsError."""
    path = tmp_path / "home" / ".android" / "adbkey"
    keys, errors, start = [], [], threading.Barrier(8)

    def make():
        start.wait()
        try:
            keys.append(P.load_or_create_key(path).public_key().public_numbers())
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(keys) == 8 and all(k == keys[0] for k in keys)
    assert P.decode_public_key((path.parent / "adbkey.pub").read_bytes()).public_numbers() == keys[0]
    assert sorted(p.name for p in path.parent.iterdir()) == ["adbkey", "adbkey.pub"]  # no temporary file left


def test_the_schema_is_pydantic_and_its_keys_are_the_dataclasses_fields():
    """Issue 25: the profile's hand-written checkers gave way to pydantic models
    (edgeseg.device.profile_schema.ProfileFile and its tables), which carry no defaults: the dataclasses in
    edgeseg.device.spec stay their one source, and no key is in one and not the other."""
    import dataclasses

    from edgeseg.device import profile_schema as schemas
    from edgeseg.device import profiles
    from edgeseg.device.spec import DelegateSpec, DeviceProfile, PowerSpec, ThermalSpec

    pairs = [
        (schemas.ProfileFile, DeviceProfile, {"path"}),
        (schemas.DelegateTable, DelegateSpec, {"name"}),
        (schemas.PowerTable, PowerSpec, set()),
        (schemas.ThermalTable, ThermalSpec, set()),
    ]
    for model, dc, not_keys in pairs:
        assert set(model.model_fields) == {f.name for f in dataclasses.fields(dc)} - not_keys, model
        assert all(f.default is None for f in model.model_fields.values()), model  # defaults: spec.py
    assert not hasattr(profiles, "TOP_SCHEMA") and not hasattr(profiles, "_check_table")
    p = parse_profile({"threads": 2, "power": {"rate_hz": 5}, "thermal": {}}, "x")
    assert (p.threads, p.python, p.power.rate_hz, p.power.idle_secs) == (2, "python3", 5, PowerSpec().idle_secs)
    assert p.thermal == ThermalSpec() and isinstance(p.delegates["cpu"].flags, tuple)


@pytest.mark.parametrize(
    "data, error",
    [
        ({"threads": True}, "threads = true: expected an integer from 1 to 1024"),
        ({"threads": 4.0}, "threads = 4.0: expected an integer from 1 to 1024"),
        ({"power": {"current_sign": True}}, "[power]: current_sign = true: expected -1 or 1"),
        ({"name": "   "}, 'name = "   ": expected a non-empty string'),
        (
            {"delegates": {"gpu": {"flags": ["--a", 3]}}},
            '[delegates.gpu]: flags = ["--a", 3]: expected a list of strings',
        ),
        ({"thermal": {"zonez": []}}, "[thermal]: unknown key 'zonez'; did you mean 'zones'?"),
        (
            {"thermal": {"zones": [], "cooldown_above_c": 200}, "thrmal": 1},
            "unknown key 'thrmal'; did you mean 'thermal'?",
        ),
    ],
)
def test_more_bad_values_in_the_same_words(data, error):
    with pytest.raises(DeviceError) as exc:
        parse_profile(data, "x")
    assert str(exc.value).startswith((f"profile x: {error}", f"profile x {error}")), str(exc.value)
