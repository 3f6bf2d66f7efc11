"""The MediaTek NPU path end to end on the loopback phone with a Dimensity vendor layout
(tests/adbd.py PhoneSandbox(npu="mediatek")) and LiteRT's CompiledModel benchmark_model double
(tests/fake_litert_benchmark_model.py, which looks for the dispatch library and the NeuroPilot
adapter where LiteRT does and fails with LiteRT's log lines), on busybox and on mksh+toybox.

The three ways it breaks (dispatch library missing, dispatch library from another LiteRT build,
adapter folder missing) each end in an edgeseg error naming the fix: caught before the run where
the host or the probe can see it, else translated from what the device printed. The working path
benches the compiled copy of an artifact: as `edgeseg compile --soc MT6989` would leave it (the
MediaTek compiler needs NeuroPilot's SDK, absent here, so the copy is the artifact's own graph under
the compiled manifest, as test_device_loopback's litert test makes it), run by the double with the
host interpreter."""

import json
import os
import sys
from pathlib import Path

import pytest
from adbd import AdbDaemon, PhoneSandbox, need_shell
from click.testing import CliRunner
from phones import loopback_profile

from edgeseg.cli import main
from edgeseg.reporting.tables import describe_conditions

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parents[1]
SHELLS = ["busybox", "toybox"]


@pytest.fixture(params=SHELLS)
def phone(request, tmp_path):
    need_shell(request.param)
    d = AdbDaemon(PhoneSandbox(tmp_path / "phone", shell=request.param, npu="mediatek"))
    d.start()
    os.environ["ADB_KEY_PATH"] = str(tmp_path / "adbkey")
    yield d
    os.environ.pop("ADB_KEY_PATH", None)
    d.stop()


@pytest.fixture
def compiled(tmp_path, tiny_tflite):
    """``(artifact, its copy compiled for MT6989)`` with their manifests."""
    from edgeseg.artifact import read_manifest, write_manifest

    folder = tmp_path / "arts"
    folder.mkdir()
    art = folder / "m_int8.tflite"
    art.write_bytes(tiny_tflite.read_bytes())
    keep = ("model", "recipe", "classes")
    write_manifest(art, **{k: v for k, v in read_manifest(tiny_tflite).to_dict().items() if k in keep})
    out = folder / "m_int8_MediaTek_MT6989.tflite"  # as `edgeseg compile --soc MT6989` names it
    out.write_bytes(tiny_tflite.read_bytes())
    write_manifest(
        out,
        model="resunet",
        recipe="float32",
        compiled={
            "soc": "MT6989",
            "manufacturer": "MediaTek",
            "target_id": "MediaTek_MT6989",
            "ops_compiled": 12,
            "ops_total": 12,
            "partitions": 1,
            "ops_left_on_cpu": {},
            "fully_compiled": True,
            "source": art.name,
        },
    )
    return art, out


def litert_binary(tmp_path, build: str | None = "2.3.0", api: str = "0.1.0") -> Path:
    """The benchmark double as the phone's binary; ``build``: the LiteRT build recorded beside it."""
    path = tmp_path / "litert" / "benchmark_model"
    path.parent.mkdir(exist_ok=True)
    text = (HERE / "fake_litert_benchmark_model.py").read_text()
    path.write_text(f"#!{sys.executable}\n" + text.replace('API_VERSION = "0.1.0"', f'API_VERSION = "{api}"', 1))
    path.chmod(0o755)
    if build:
        Path(str(path) + ".litert_build").write_text(build + "\n")
    return path


def dispatch_lib(tmp_path, build: str | None = "2.3.0", api: str = "0.1.0", name="libLiteRtDispatch_MediaTek.so"):
    """A stand-in for the dispatch library of LiteRT ``build`` (its Dispatch API version ``api``)."""
    path = tmp_path / "dist" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57) + f"LiteRtDispatchApi {api}\0".encode())
    if build:
        Path(str(path) + ".litert_build").write_text(build + "\n")
    return path


def bench(tmp_path, phone, art, binary, **delegate):
    keys = {"runner": "litert", "soc": "MT6989", **delegate}
    profile = loopback_profile(
        tmp_path,
        phone.port,
        file="dimensity-loop.toml",
        runner="benchmark_model",
        litert_benchmark_binary=str(binary),
        delegates={"litert-npu": keys},
        power={"source": "none"},
    )
    args = ["bench", str(art), "--device", str(profile), "--delegate", "litert-npu", "--runs", "5"]
    res = CliRunner().invoke(main, [*args, "--reports", str(tmp_path / "r"), "--json"], catch_exceptions=False)
    out = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    (row,) = out["rows"]
    return res, row, out


def test_the_compiled_artifact_runs_on_the_npu_with_the_pushed_dispatch_library(tmp_path, phone, compiled):
    art, out = compiled
    work = phone.sandbox.root / "data/local/tmp/edgeseg"
    stale = work / "litert/old/libLiteRtDispatch_Qualcomm.so"  # LiteRT searches subfolders too: it must go
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\x7fELF")
    lib = dispatch_lib(tmp_path)
    res, row, report = bench(tmp_path, phone, art, litert_binary(tmp_path), dispatch_libs=[str(lib)])
    assert res.exit_code == 0, res.output
    assert row["status"] == "ok" and row["runner"] == "litert benchmark_model (CompiledModel)"
    assert (row["delegated_ops"], row["total_ops"], row["partitions"]) == (12, 12, 1)
    assert row["mean_ms"] > 0 and row["runs"] == 5
    assert (work / "litert/libLiteRtDispatch_MediaTek.so").read_bytes() == lib.read_bytes()  # beside the binary
    assert (work / "litert/benchmark_model").is_file() and not stale.exists()
    assert (work / out.name).read_bytes() == out.read_bytes()
    run = json.loads((Path(report["report"]) / "run.json").read_text())
    facts = run["device"]["litert_dispatch"]["litert-npu"]
    assert facts["same_build"] is True and facts["benchmark_binary"]["build"] == "2.3.0"
    assert [(d["name"], d["build"]) for d in facts["dispatch_libs"]] == [("libLiteRtDispatch_MediaTek.so", "2.3.0")]
    assert facts["adapter_dir"] == "/system_ext/lib64" and facts["adapters_found"] == ["libneuronusdk_adapter.mtk.so"]
    assert run["device"]["litert_benchmark_binary"]["litert_build"] == "2.3.0"
    assert (
        "litert-npu on MT6989: dispatch libLiteRtDispatch_MediaTek.so, same LiteRT build as the benchmark binary "
        "(2.3.0), adapter folder /system_ext/lib64"
    ) in describe_conditions(run)


def test_no_dispatch_library_is_an_error_naming_the_key_to_set(tmp_path, phone, compiled):
    art, _ = compiled
    res, row, _ = bench(tmp_path, phone, art, litert_binary(tmp_path), dispatch_libs=[])
    assert res.exit_code == 1 and row["status"] == "failed"
    assert 'names no dispatch library: set dispatch_libs = ["/path/to/libLiteRtDispatch_MediaTek.so"]' in row["error"]
    gone = tmp_path / "nowhere/libLiteRtDispatch_MediaTek.so"
    res, row, _ = bench(tmp_path, phone, art, litert_binary(tmp_path), dispatch_libs=[str(gone)])
    assert res.exit_code == 1 and row["error"].startswith(f"the dispatch library {gone} (dispatch_libs of ")
    # a device folder that does not hold it: the probe says so before anything runs
    res, row, _ = bench(tmp_path, phone, art, litert_binary(tmp_path), dispatch_dir="/data/local/tmp/vendor_libs")
    assert res.exit_code == 1
    assert row["error"].startswith("libLiteRtDispatch_MediaTek.so is not in /data/local/tmp/vendor_libs on the device")


def test_a_dispatch_library_of_another_litert_build_is_refused_before_the_run(tmp_path, phone, compiled):
    art, _ = compiled
    lib = dispatch_lib(tmp_path, build="2.2.0")
    res, row, _ = bench(tmp_path, phone, art, litert_binary(tmp_path, build="2.3.0"), dispatch_libs=[str(lib)])
    assert res.exit_code == 1 and row["status"] == "failed"
    assert row["error"].startswith("libLiteRtDispatch_MediaTek.so is from LiteRT build 2.2.0")
    assert "the benchmark binary is from 2.3.0" in row["error"] and "use the libLiteRtDispatch of" in row["error"]
    assert not (phone.sandbox.root / "data/local/tmp/edgeseg/litert/libLiteRtDispatch_MediaTek.so").exists()


def test_an_unrecorded_mismatch_fails_on_the_device_and_is_translated(tmp_path, phone, compiled):
    art, _ = compiled
    lib = dispatch_lib(tmp_path, build=None, api="0.0.9")
    res, row, report = bench(tmp_path, phone, art, litert_binary(tmp_path, build=None), dispatch_libs=[str(lib)])
    assert "cannot check that the dispatch library comes from the benchmark binary's LiteRT build" in res.output
    run = json.loads((Path(report["report"]) / "run.json").read_text())
    assert run["device"]["litert_dispatch"]["litert-npu"]["same_build"] is None
    assert "LiteRT build not recorded for benchmark_model, libLiteRtDispatch_MediaTek.so" in describe_conditions(run)
    assert res.exit_code == 1 and row["status"] == "failed"
    assert row["error"].startswith("the dispatch library is not from the LiteRT build of the benchmark binary")
    assert "Unsupported dispatch runtime version" in row["error"].split("(device: ", 1)[1]


def test_a_missing_adapter_folder_is_found_by_the_probe(tmp_path, phone, compiled):
    art, _ = compiled
    lib = dispatch_lib(tmp_path)
    res, row, _ = bench(
        tmp_path, phone, art, litert_binary(tmp_path), dispatch_libs=[str(lib)], adapter_dir="/vendor/lib64/mt"
    )
    assert res.exit_code == 1 and row["status"] == "failed"
    assert row["error"].startswith(
        "none of the NeuroPilot adapter libraries libLiteRtDispatch_MediaTek.so loads (libneuronusdk_adapter.mtk.so, "
    )
    assert "is in /vendor/lib64/mt on the device (the folder does not exist): set adapter_dir" in row["error"]
    # the default folder, present, without an adapter in it
    (phone.sandbox.root / "system_ext/lib64/libneuronusdk_adapter.mtk.so").unlink()
    res, row, _ = bench(tmp_path, phone, art, litert_binary(tmp_path), dispatch_libs=[str(lib)])
    assert res.exit_code == 1 and "is in /system_ext/lib64 on the device: set adapter_dir" in row["error"]


def test_an_adapter_the_device_cannot_load_is_translated(tmp_path, phone, compiled):
    """The probe sees a file of the adapter's name; the device's linker cannot load it."""
    art, _ = compiled
    phone.sandbox.put_library("system_ext/lib64/libneuronusdk_adapter.mtk.so", loadable=False)
    res, row, _ = bench(tmp_path, phone, art, litert_binary(tmp_path), dispatch_libs=[str(dispatch_lib(tmp_path))])
    assert res.exit_code == 1 and row["status"] == "failed"
    assert row["error"].startswith(
        "the dispatch library could not load the NeuroPilot adapter (libneuronusdk_adapter.mtk.so, "
    )
    assert "from LD_LIBRARY_PATH=/system_ext/lib64: set adapter_dir in [delegates.litert-npu]" in row["error"]
    assert "Failed to load NeuronAdapter shared library" in row["error"].split("(device: ", 1)[1]


def test_a_soc_named_as_the_docs_name_it_says_the_source_name(tmp_path, phone, compiled):
    art, _ = compiled
    res, row, _ = bench(tmp_path, phone, art, litert_binary(tmp_path), soc="MT6990")
    assert res.exit_code == 1 and row["status"] == "failed"
    assert row["error"].startswith('[delegates.litert-npu] soc = "MT6990": MT6990 is the Dimensity 9500')
    assert row["error"].endswith("write MT6993")


def test_the_double_fails_as_litert_does_without_the_adapter_folder_on_the_library_path(tmp_path, phone, compiled):
    """The device side alone: the double, run by the phone's shell, without edgeseg's set-up."""
    from edgeseg.device.profiles import load_profile
    from edgeseg.device.session import DeviceSession

    art, out = compiled
    work = phone.sandbox.root / "data/local/tmp/edgeseg/litert"
    work.mkdir(parents=True)
    (work / "benchmark_model").write_text(litert_binary(tmp_path).read_text())
    (work / "benchmark_model").chmod(0o755)
    (work / "graph.tflite").write_bytes(out.read_bytes())
    profile = loopback_profile(tmp_path, phone.port, runner="benchmark_model")
    session = DeviceSession(load_profile(str(profile)), key_path=str(tmp_path / "adbkey"))
    base = "/data/local/tmp/edgeseg/litert/benchmark_model --graph=/data/local/tmp/edgeseg/litert/graph.tflite "
    npu = base + "--use_npu=true --use_cpu=false --require_full_delegation=true --num_runs=2 "
    res = session.shell(npu + "--dispatch_library_path=/data/local/tmp/edgeseg/litert 2>&1; echo rc=$?")
    assert "No dispatch library found in /data/local/tmp/edgeseg/litert" in res.text and "rc=1" in res.text
    (work / "libLiteRtDispatch_MediaTek.so").write_bytes(dispatch_lib(tmp_path).read_bytes())
    res = session.shell(npu + "--dispatch_library_path=/data/local/tmp/edgeseg/litert 2>&1; echo rc=$?")
    assert "Failed to load NeuronAdapter shared library" in res.text and "rc=1" in res.text
    res = session.shell(
        "LD_LIBRARY_PATH=/system_ext/lib64 " + npu + "--dispatch_library_path=/data/local/tmp/edgeseg/litert 2>&1; "
        "echo rc=$?"
    )
    assert "Loading MediaTek NeuronAdapter .so from: libneuronusdk_adapter.mtk.so" in res.text
    assert "Inference (avg)" in res.text and "rc=0" in res.text
    res = session.shell(base + "--use_cpu=true --require_full_delegation=true 2>&1; echo rc=$?")
    assert "Requesting full delegation and CPU acceleration are incompatible." in res.text and "rc=134" in res.text
