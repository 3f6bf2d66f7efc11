"""Issue 25, class 8 (the rest): a delegate one profile of a sweep lacks is that profile's
error, not a lost device; `report --compare` judges device_miou rules on `eval --device`
folders; `devices list` shows what --device takes beside a profile's name key and warns when
two files share a name; a --cooldown that could not read a thermal zone does not say it cooled
down. None of these needs a phone."""

import json

from click.testing import CliRunner
from conftest import minimal_tflite
from test_device_eval_status import rows as eval_rows

from edgeseg.cli import main

TCP = 'transport = "tcp"\naddress = "127.0.0.1:1"\n'


def test_a_delegate_missing_from_one_profile_of_a_sweep_names_it_and_the_profiles_delegates(tmp_path, monkeypatch):
    """Before: the sweep connected, the profile's check failed inside the device's thread and
    the summary said "device b was lost: profile 'b' has no delegate 'gpu'" (exit 1)."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "a.toml").write_text(TCP + "[delegates.cpu]\n[delegates.gpu]\n")
    (lab / "b.toml").write_text(TCP + "[delegates.cpu]\n[delegates.nnapi]\n")
    monkeypatch.setenv("EDGESEG_DEVICES", str(lab))
    art = tmp_path / "m.tflite"
    art.write_bytes(minimal_tflite())
    res = CliRunner().invoke(
        main,
        ["bench", str(art), "--device", "a", "--device", "b", "--delegate", "gpu", "--reports", str(tmp_path / "r")],
    )
    assert res.exit_code == 2, res.output
    assert (
        f"profile 'b' ({lab / 'b.toml'}) has no delegate 'gpu' (which a of this sweep has); it has cpu, nnapi: "
        "leave b out of this sweep, or add [delegates.gpu] to its profile" in res.output
    ), res.output
    assert "lost" not in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


def test_device_miou_rules_are_judged_on_eval_device_folders(tmp_path):
    """Before: "holds no latency rows: compare two `edgeseg bench` report folders", advice
    that cannot work (a bench folder holds no device mIoU)."""
    from edgeseg.reporting.tables import write_report

    base = write_report(tmp_path, "eval_a", [], eval_rows(("nnapi", "ok", 0.99, -0.001, None)))
    new = write_report(tmp_path, "eval_b", [], eval_rows(("nnapi", "ok", 0.98, -0.05, None)))
    res = CliRunner().invoke(main, ["report", "--compare", str(base), str(new), "--fail-if", "device_miou<-0.01"])
    assert res.exit_code == 1, res.output
    assert "breach: device_miou<-0.01: m_int8 on Pixel/nnapi: 0.2090 -> 0.1600" in res.output, res.output
    assert "compare two `edgeseg bench`" not in res.output
    res = CliRunner().invoke(main, ["report", "--compare", str(base), str(base), "--fail-if", "device_miou<-0.01"])
    assert res.exit_code == 0, res.output
    empty = write_report(tmp_path, "eval_c", [], [r for r in eval_rows() if r["where"] == "host"])
    res = CliRunner().invoke(main, ["report", "--compare", str(base), str(empty)])
    assert res.exit_code == 1 and "or two `edgeseg eval --device` folders (device_miou rules)" in res.output


def test_devices_list_shows_the_file_name_beside_a_different_name_key_and_warns_on_shared_names(tmp_path, monkeypatch):
    """Before: the list showed `name` keys only ("pixel" twice), while --device finds files."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab-phone-1.toml").write_text(TCP + 'name = "pixel"\n')
    (lab / "lab-phone-2.toml").write_text(TCP + 'name = "pixel"\n')
    monkeypatch.setenv("EDGESEG_DEVICES", str(lab))
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb: profiles only
    res = CliRunner().invoke(main, ["devices", "list"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    one = next(ln for ln in lines if ln.split()[:1] == ["lab-phone-1"])
    assert f'(name = "pixel" in {lab / "lab-phone-1.toml"}: reports call it that)' in one
    assert any(ln.split()[:2] == ["pixel", "adb-server"] and "name =" not in ln for ln in lines)  # bundled: same
    assert f"warning: {lab / 'lab-phone-1.toml'}, {lab / 'lab-phone-2.toml'}, " in res.output
    assert 'all say name = "pixel": reports show their rows under one name' in res.output
    rows = json.loads(CliRunner().invoke(main, ["devices", "list", "--json"]).output.split("\nwarning")[0])["profiles"]
    assert {"name": "pixel", "device": "lab-phone-2"}.items() <= next(
        r for r in rows if r["device"] == "lab-phone-2"
    ).items()


def test_cooldown_without_a_readable_zone_does_not_say_it_cooled_down():
    from edgeseg.reporting.tables import describe_conditions

    run = {"device": {"profile": "p", "model": "Phone", "cooldown_unreadable": True}, "bench": {"cooldown": True}}
    text = describe_conditions(run)
    assert "--cooldown could not cool down between rows: no thermal zone of the profile reads" in text
    assert "; cooled down between rows" not in text
    run["device"]["cooldown_unreadable"] = False
    assert describe_conditions(run).endswith("cooled down between rows")
