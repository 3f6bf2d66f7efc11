"""Every option comes from its config: the click default is the config field's default, the click
type follows the field's annotation, and commands that share a config share its options."""

import dataclasses

import click
import pytest

from edgeseg import api
from edgeseg.cli import main
from edgeseg.config import parse_size
from edgeseg.data.tables import InspectConfig, SynthConfig
from edgeseg.models.registry import ModelOptions

#: command path -> the configs whose option fields it must offer
COMMANDS = {
    ("train",): (api.TrainConfig, ModelOptions),
    ("data", "synth"): (SynthConfig,),
    ("data", "inspect"): (InspectConfig,),
    ("compile",): (api.CompileConfig,),
    ("info",): (api.InfoConfig,),
    ("quantize",): (api.ExportConfig,),
    ("eval",): (api.EvalConfig, api.DeviceConfig),
    ("bench",): (api.BenchConfig,),
    ("deploy",): (api.DeployConfig,),
    ("devices", "show"): (api.DeviceConfig,),
    ("select",): (api.SelectConfig,),
    ("report",): (api.ReportConfig,),
}


def command(path):
    cmd = main
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def option_fields(cls):
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_option_field_is_an_option_with_the_fields_default(path):
    params = {p.name: p for p in command(path).params}
    for cls in COMMANDS[path]:
        for f in option_fields(cls):
            assert f.name in params, f"edgeseg {' '.join(path)} has no option for {cls.__name__}.{f.name}"
            default = None if f.default is dataclasses.MISSING else f.default
            if f.default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            p = params[f.name]
            if f.metadata.get("size") and isinstance(p.default, str):  # HxW text on the command line
                assert tuple(parse_size(p.default)) == tuple(default)
                continue
            assert p.default == default or (p.multiple and tuple(p.default or ()) == tuple(default or ())), (
                f"edgeseg {' '.join(path)} --{f.name}: click default {p.default!r}, config default {default!r}"
            )


def test_the_click_type_follows_the_annotation():
    params = {p.name: p for p in command(("bench",)).params}
    assert isinstance(params["runs"].type, click.types.IntRange)  # int
    assert isinstance(params["min_secs"].type, click.types.FloatRange)  # float
    assert params["power"].is_flag and params["cooldown"].is_flag  # bool
    assert params["threads"].type.name == "integer range"  # int | None
    assert params["device"].multiple  # str | tuple[str, ...], repeatable
    quantize = {p.name: p for p in command(("quantize",)).params}
    ctx = click.Context(command(("quantize",)))
    assert quantize["pta_configs"].process_value(ctx, "LLL, HHH,") == ("LLL", "HHH")  # a tuple, not text


def test_device_commands_share_one_set_of_device_options():
    fields = [f.name for f in option_fields(api.DeviceConfig)]
    seen = {}
    for path in (("bench",), ("deploy",), ("devices", "show"), ("eval",)):
        params = {p.name: p for p in command(path).params}
        seen[path] = [(tuple(params[n].opts), params[n].help) for n in fields]
    first = next(iter(seen.values()))
    assert all(v == first for v in seen.values()), seen
    assert ("--adb-server",) in [opts for opts, _ in first]


def test_an_interrupt_a_library_turned_into_its_own_error_is_still_an_interrupt():
    """SIGTERM arriving while numpy imports surfaces as ImportError("numpy._core.multiarray failed
    to import") with the Terminated behind it: the command stops as interrupted (143), not with
    a traceback (seen in CI on `quantize` stopped early)."""
    from click.testing import CliRunner

    from edgeseg.interrupt import Terminated
    from edgeseg.options import EdgesegGroup

    @click.group(cls=EdgesegGroup)
    def group():
        pass

    @group.command()
    def work():
        try:
            raise Terminated()
        except KeyboardInterrupt:
            raise ImportError("numpy._core.multiarray failed to import") from None

    @group.command()
    def bug():
        raise ImportError("a real bug keeps its traceback")

    res = CliRunner().invoke(group, ["work"])
    assert res.exit_code == 143 and "interrupted (SIGTERM)" in res.output, res.output
    res = CliRunner().invoke(group, ["bug"])
    assert isinstance(res.exception, ImportError)
