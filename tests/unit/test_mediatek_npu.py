"""The MediaTek NPU path's pieces without a device or TensorFlow: the probe and clean-up commands
(run in busybox ash and in mksh with toybox, the shells of boards and phones), the probe's parse,
the recorded LiteRT builds, the translation of LiteRT's failure lines, and the SoC table that
follows LiteRT's source."""

import subprocess
from pathlib import Path

import pytest
from adbd import PhoneSandbox, need_shell

from edgeseg.device import npu
from edgeseg.errors import DeviceError, QuantizeError

MTK = npu.NPU_VENDORS["mediatek"]


@pytest.fixture(params=["busybox", "toybox"])
def device_sh(request, tmp_path):
    """Run a command as the loopback phone would: that shell, its applets only on PATH."""
    need_shell(request.param)
    sb = PhoneSandbox(tmp_path / "phone", shell=request.param, board=True)

    def run(command, env=None):
        full = {"PATH": sb.path, **(env or {})}
        res = subprocess.run([*sb.shell_cmd, "-c", command], capture_output=True, text=True, env=full, timeout=60)
        return res.returncode, res.stdout, res.stderr

    return run


def test_the_probe_lists_the_adapters_and_dispatch_libraries_present(device_sh, tmp_path):
    adapters = tmp_path / "sys ext's/lib64"  # a space and a quote: the command quotes its paths
    adapters.mkdir(parents=True)
    (adapters / "libneuron_adapter.so").write_bytes(b"\x7fELF")
    (adapters / "libneuronusdk_adapter.mtk.so").write_bytes(b"\x7fELF")
    dispatch = tmp_path / "vendor_libs"
    dispatch.mkdir()
    (dispatch / "libLiteRtDispatch_MediaTek.so").write_bytes(b"\x7fELF")
    (dispatch / "libLiteRtDispatch_MediaTek.so.litert_build").write_text("2.3.0")
    rc, out, err = device_sh(npu.probe_command(str(adapters), MTK.adapter_libs, str(dispatch)))
    assert rc == 0 and err == ""
    probe = npu.parse_probe(out)
    assert probe == npu.Probe(
        True, ("libneuronusdk_adapter.mtk.so", "libneuron_adapter.so"), ("libLiteRtDispatch_MediaTek.so",)
    )
    rc, out, _ = device_sh(npu.probe_command(str(tmp_path / "none"), MTK.adapter_libs, str(tmp_path / "empty")))
    assert rc == 0 and npu.parse_probe(out) == npu.Probe(False, (), ())
    assert npu.probe_command(None, (), None) == "true"


def test_the_probe_parse_ignores_other_lines():
    text = "WARNING: linker: something\nadapter_dir yes\nadapter libneuron_adapter.so\n\ndispatch \nadapter_dir\n"
    assert npu.parse_probe(text) == npu.Probe(False, ("libneuron_adapter.so",), ())


def test_other_dispatch_libraries_are_removed_from_edgesegs_folder_subfolders_too(device_sh, tmp_path):
    folder = tmp_path / "work dir/litert"
    (folder / "old").mkdir(parents=True)
    for rel in ("libLiteRtDispatch_MediaTek.so", "libLiteRtDispatch_Qualcomm.so", "old/libLiteRtDispatch_MediaTek.so"):
        (folder / rel).write_bytes(b"\x7fELF")
    (folder / "benchmark_model").write_bytes(b"\x7fELF")
    rc, _, err = device_sh(npu.clear_other_dispatch_command(str(folder), ("libLiteRtDispatch_MediaTek.so",)))
    assert rc == 0 and err == ""
    left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert left == ["benchmark_model", "libLiteRtDispatch_MediaTek.so"]
    rc, _, err = device_sh(npu.clear_other_dispatch_command(str(tmp_path / "absent"), ("x.so",)))
    assert rc == 0 and err == ""


def test_the_adapter_folder_goes_first_on_the_library_path_and_keeps_the_devices(device_sh):
    cmd = npu.with_library_path("env", "/system_ext/lib64")  # what the started program sees
    assert cmd.startswith("LD_LIBRARY_PATH=/system_ext/lib64")

    def seen(env=None):
        rc, out, _ = device_sh(cmd, env)
        return rc, [ln for ln in out.splitlines() if ln.startswith("LD_LIBRARY_PATH=")]

    assert seen() == (0, ["LD_LIBRARY_PATH=/system_ext/lib64"])
    assert seen({"LD_LIBRARY_PATH": "/vendor/lib64"}) == (0, ["LD_LIBRARY_PATH=/system_ext/lib64:/vendor/lib64"])
    assert npu.with_library_path("x", None) == "x"


def test_recorded_builds_and_their_comparison(tmp_path):
    binary, lib = tmp_path / "benchmark_model", tmp_path / "libLiteRtDispatch_MediaTek.so"
    assert npu.recorded_build(binary) is None
    Path(str(binary) + npu.BUILD_SUFFIX).write_text("2.3.0\nfetched 2026-12-01\n")
    Path(str(lib) + npu.BUILD_SUFFIX).write_text("  \n")
    assert npu.recorded_build(binary) == "2.3.0" and npu.recorded_build(lib) is None
    b = {"path": str(binary), "build": "2.3.0"}
    assert npu.build_mismatch(b, [{"path": str(lib), "build": None}]) is None
    assert npu.unrecorded(b, [{"path": str(lib), "build": None}]) == [str(lib)]
    assert npu.build_mismatch(b, [{"path": str(lib), "build": "2.3.0"}]) is None
    why = npu.build_mismatch(b, [{"path": str(lib), "build": "2.2.0"}])
    assert why.startswith("libLiteRtDispatch_MediaTek.so is from LiteRT build 2.2.0 (") and "\n" not in why
    assert "the benchmark binary is from 2.3.0" in why


@pytest.mark.parametrize(
    "line, kind, says",
    [
        (
            "ERROR: [litert/runtime/dispatch/litert_dispatch.cc:122] No dispatch library found in /data/x",
            "dispatch-missing",
            "the device found no libLiteRtDispatch*.so in /data/x: list the dispatch library in dispatch_libs",
        ),
        (
            "ERROR: [litert/runtime/dispatch/litert_dispatch.cc:187] Unsupported dispatch runtime version",
            "version-mismatch",
            "the dispatch library is not from the LiteRT build of the benchmark binary",
        ),
        (
            "ERROR: Found Dispatch API with an unsupported version",
            "version-mismatch",
            "take libLiteRtDispatch and benchmark_model from one LiteRT release or build",
        ),
        (
            "ERROR: [litert/vendors/mediatek/neuron_adapter_api.cc:64] Failed to load NeuronAdapter shared library: x",
            "adapter-missing",
            "could not load the NeuroPilot adapter (libneuronusdk_adapter.mtk.so, libneuronusdk_adapter.9.mtk.so, "
            "libneuronusdk_adapter.so, libneuron_adapter_mgvi.so, libneuron_adapter.so) from "
            "LD_LIBRARY_PATH=/system_ext/lib64: set adapter_dir in [delegates.litert-npu] of p.toml",
        ),
    ],
)
def test_litert_failure_lines_become_errors_naming_the_fix(line, kind, says):
    where = {"dir": "(unused)", "adapter_dir": "/system_ext/lib64", "delegate": "litert-npu", "profile": "p.toml"}
    got_kind, error = npu.explain_failure(
        MTK, "INFO: Loading model\n" + line + "\nERROR: Benchmarking failed.", **where
    )
    assert got_kind == kind and says in error and "\n" not in error


def test_unknown_failures_are_left_as_they_are_and_other_vendors_get_the_dispatch_ones():
    where = {"dir": "d", "adapter_dir": None, "delegate": "npu", "profile": "p"}
    assert npu.explain_failure(MTK, "ERROR: Node number 3 (CONV_2D) failed to invoke.", **where) is None
    assert npu.explain_failure(None, "Failed to load NeuronAdapter shared library", **where) is None
    assert npu.explain_failure(None, "No dispatch library found in d", **where)[0] == "dispatch-missing"


def test_the_vendor_row_of_a_soc():
    assert npu.vendor_for("MT6989") is MTK and npu.vendor_for("mediatek:mt6993") is MTK
    assert npu.vendor_for("SM8650") is None and npu.vendor_for(None) is None


# -- the SoC table follows LiteRT's source -------------------------------------------------------


def test_the_soc_table_follows_litert_source_and_keeps_the_docs_names_readable():
    from edgeseg.quantize import socs

    assert socs.product_name("MT6993") == "Dimensity 9500" and socs.product_name("mt6989") == "Dimensity 9300"
    in_csv = {n for n, r in socs.MEDIATEK_SOCS.items() if r.soc_csv}
    assert "MT6993" in in_csv and "MT6878" not in in_csv and "MT6990" not in in_csv
    assert socs.MEDIATEK_SOCS["MT6993"].neuropilot == "v9" and socs.MEDIATEK_SOCS["MT6878"].plugin
    why = socs.docs_only("MT6990")
    assert why.startswith("MT6990 is the Dimensity 9500's name in LiteRT's docs") and why.endswith("write MT6993")
    assert socs.docs_only("MT6993") is None and socs.docs_only("SM8650") is None
    assert "not in litert/vendors/mediatek/supported_soc.csv" in socs.source_note("MT6878")
    assert "compiler plugin" in socs.source_note("MT8196") and socs.source_note("MT6989") is None


def test_compile_for_the_docs_name_of_the_dimensity_9500_names_the_source_name(tmp_path):
    from edgeseg.quantize.aot import PRODUCT_NAMES, find_soc

    with pytest.raises(QuantizeError, match=r"no SoC 'MT6990' in LiteRT's target table: .* write MT6993$"):
        find_soc("MT6990")
    assert PRODUCT_NAMES["MT6993"] == "Dimensity 9500" and "MT6990" not in PRODUCT_NAMES


def test_the_shipped_dimensity_profile_and_a_bad_adapter_dir(tmp_path):
    from edgeseg.device.profiles import load_profile

    spec = load_profile("dimensity").delegate("litert-npu")
    assert (spec.runner, spec.soc, spec.adapter_dir) == ("litert", "MT6989", "/system_ext/lib64")
    from click.testing import CliRunner

    from edgeseg.cli import main

    shown = CliRunner().invoke(main, ["devices", "show", "dimensity"]).output.splitlines()
    assert "  delegate   litert-npu  runner=litert soc=MT6989 adapter_dir=/system_ext/lib64" in shown
    bad = tmp_path / "p.toml"
    bad.write_text('[delegates.litert-npu]\nrunner = "litert"\nsoc = "MT6989"\nadapter_dir = "system_ext/lib64"\n')
    with pytest.raises(DeviceError) as exc:
        load_profile(str(bad))
    assert str(exc.value) == (
        f'{bad} [delegates.litert-npu]: adapter_dir = "system_ext/lib64": expected an absolute folder on the '
        "device, e.g. /system_ext/lib64"
    )
