"""What running a compiled model on a phone's NPU through LiteRT needs on the device, one row per
vendor in :data:`NPU_VENDORS`: the dispatch library's name, the vendor runtime the dispatch
library loads (MediaTek: the NeuroPilot adapter) and the folder it sits in, and how the device's
failures read, each turned into an error that names the fix.

What the rows follow (google-ai-edge/LiteRT at f67457790c9c2ab67347d6fe53270e8d3df20868):

* litert/core/dynamic_loading.cc ``FindLiteRtDispatchSharedLibs``: ``--dispatch_library_path``
  is a folder, searched recursively for files named ``libLiteRtDispatch*.so``; with several, it
  warns "Multiple dispatch libraries found" and takes the first one listed. So edgeseg pushes the
  dispatch library into a folder of its own beside the benchmark binary and removes any other
  dispatch library from it.
* litert/runtime/dispatch/litert_dispatch.cc: none found is "No dispatch library found in DIR";
  a library whose Dispatch API version is not the runtime's (``IsSameVersionAsRuntime``, major,
  minor and patch equal, litert/core/version.h) is "Unsupported dispatch runtime version".
* litert/vendors/mediatek/neuron_adapter_api.cc ``LoadSymbols``: the MediaTek dispatch library
  dlopen()s the NeuroPilot adapter by bare name, trying libneuronusdk_adapter.mtk.so,
  libneuronusdk_adapter.9.mtk.so, libneuronusdk_adapter.so, libneuron_adapter_mgvi.so and
  libneuron_adapter.so (the dynamic linker searches LD_LIBRARY_PATH); none loads: "Failed to load
  NeuronAdapter shared library".

LiteRT's native libraries carry no release version a host can read: LITERT_API_VERSION is three
integers compiled in (litert/c/litert_common.h), the release numbers of litert/version.bzl only
name the pip and Maven packages, and the ai-edge-litert 2.3.0 wheel's libraries have no GNU
build-id note (their .comment names only the toolchain, "clang version 18.1.8"). So the build a
file comes from is what was recorded when it was fetched or built: a one-line ``FILE.litert_build``
beside it (the release, e.g. ``2.3.0``, or the source commit). Two recorded builds that differ
stop the row before it runs; an unrecorded one is said and the device's own version check is the
guard (its error is translated like the others).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from .shell import q

#: The sidecar that records the LiteRT build a binary or library comes from.
BUILD_SUFFIX = ".litert_build"


@dataclass(frozen=True)
class DeviceFailure:
    """A line the device prints when a part is missing, and what edgeseg says instead."""

    kind: str  # "dispatch-missing", "version-mismatch", "adapter-missing"
    pattern: str  # a regular expression on the runner's output
    fix: str  # the error's text: {dir}, {adapter_dir}, {profile}, {libs} are filled in


@dataclass(frozen=True)
class NpuVendor:
    """A vendor's NPU path through LiteRT's dispatch library."""

    name: str
    dispatch_lib: str  # the dispatch library's file name
    runtime: str  # what messages call the vendor runtime the dispatch library loads
    adapter_libs: tuple[str, ...]  # the names the dispatch library tries, in its order
    adapter_dir: str  # the folder that holds one on current builds (a profile's adapter_dir overrides)
    failures: tuple[DeviceFailure, ...]


DISPATCH_FAILURES = (
    DeviceFailure(
        "dispatch-missing",
        r"No dispatch library found in (?P<dir>\S*)",
        "the device found no libLiteRtDispatch*.so in {dir}: list the dispatch library in dispatch_libs of "
        "[delegates.{delegate}] in {profile} (host path, pushed beside the benchmark binary), or set dispatch_dir to "
        "the device folder that holds it",
    ),
    DeviceFailure(
        "version-mismatch",
        r"Unsupported dispatch runtime version|Found Dispatch API with an unsupported version",
        "the dispatch library is not from the LiteRT build of the benchmark binary (the device refused it: "
        "'Unsupported dispatch runtime version'): take libLiteRtDispatch and benchmark_model from one LiteRT "
        "release or build, and record it in FILE" + BUILD_SUFFIX + " beside each so edgeseg checks it before running",
    ),
)

#: The vendors, by the LiteRT backend id of the SoC's vendor.
NPU_VENDORS: dict[str, NpuVendor] = {
    "mediatek": NpuVendor(
        "mediatek",
        "libLiteRtDispatch_MediaTek.so",
        "NeuroPilot adapter",
        (
            "libneuronusdk_adapter.mtk.so",
            "libneuronusdk_adapter.9.mtk.so",
            "libneuronusdk_adapter.so",
            "libneuron_adapter_mgvi.so",
            "libneuron_adapter.so",
        ),
        "/system_ext/lib64",
        (
            *DISPATCH_FAILURES,
            DeviceFailure(
                "adapter-missing",
                r"Failed to load NeuronAdapter shared library",
                "the dispatch library could not load the NeuroPilot adapter ({libs}) from LD_LIBRARY_PATH="
                "{adapter_dir}: set adapter_dir in [delegates.{delegate}] of {profile} to the folder that holds a "
                "loadable one (look with `adb shell ls -l /system_ext/lib64 /vendor/lib64`)",
            ),
        ),
    ),
}


def vendor_for(soc: str | None) -> NpuVendor | None:
    """The vendor row of a SoC (None where edgeseg knows no device-side needs for it)."""
    from ..quantize.socs import is_mediatek

    return NPU_VENDORS["mediatek"] if is_mediatek(soc) else None


# -- on the device: the probe ------------------------------------------------------------------


def probe_command(adapter_dir: str | None, adapter_libs: tuple[str, ...], dispatch_dir: str | None) -> str:
    """A POSIX sh command (busybox ash or mksh; test and a glob only, no GNU options) that prints
    ``adapter_dir yes|no``, ``adapter NAME`` for each adapter library present in ``adapter_dir``,
    and ``dispatch NAME`` for each libLiteRtDispatch*.so directly in ``dispatch_dir``."""
    parts = []
    if adapter_dir:
        d = q(adapter_dir)
        parts.append(f"if [ -d {d} ]; then echo 'adapter_dir yes'; else echo 'adapter_dir no'; fi")
        names = " ".join(q(n) for n in adapter_libs)
        parts.append(f'for n in {names}; do if [ -e {d}/"$n" ]; then echo "adapter $n"; fi; done')
    if dispatch_dir:
        parts.append(
            f'for f in {q(dispatch_dir)}/libLiteRtDispatch*.so; do if [ -e "$f" ]; then echo "dispatch ${{f##*/}}"; '
            "fi; done"
        )
    return "; ".join(parts) or "true"


@dataclass(frozen=True)
class Probe:
    adapter_dir: bool  # the folder exists
    adapters: tuple[str, ...]  # the adapter libraries found in it
    dispatch: tuple[str, ...]  # the dispatch libraries found in the dispatch folder


def parse_probe(text: str) -> Probe:
    """What :func:`probe_command` printed (other lines, e.g. a shell's warnings, are ignored)."""
    found = {"adapter_dir": False, "adapter": [], "dispatch": []}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "adapter_dir":
            found["adapter_dir"] = value == "yes"
        elif key in ("adapter", "dispatch") and value:
            found[key].append(value)
    return Probe(found["adapter_dir"], tuple(found["adapter"]), tuple(found["dispatch"]))


def clear_other_dispatch_command(folder: str, keep: tuple[str, ...]) -> str:
    """Remove every libLiteRtDispatch*.so under ``folder`` (edgeseg's own, subfolders too) except
    ``keep`` directly in it: LiteRT searches the folder recursively and takes the first library it
    lists, so a stale one could run instead of the one pushed. POSIX find -name, sh case."""
    keep_pattern = "|".join(q(posixpath.join(folder, k)) for k in keep) or "''"
    return (
        f"if [ -d {q(folder)} ]; then find {q(folder)} -name 'libLiteRtDispatch*.so' | while IFS= read -r f; do "
        f'case "$f" in {keep_pattern}) ;; *) rm -f "$f" ;; esac; done; fi'
    )


def with_library_path(command: str, folder: str | None) -> str:
    """``command`` with ``folder`` first on LD_LIBRARY_PATH (the device's own entries kept after it)."""
    if not folder:
        return command
    return f'LD_LIBRARY_PATH={q(folder)}"${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" {command}'


# -- on the host: the LiteRT build of each file --------------------------------------------------


def recorded_build(path: str | Path) -> str | None:
    """The LiteRT build recorded beside ``path`` (``PATH.litert_build``, its first line), or None."""
    stamp = Path(str(path) + BUILD_SUFFIX)
    try:
        line = stamp.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return line[0].strip() if line and line[0].strip() else None


def build_mismatch(binary: dict, libs: list[dict]) -> str | None:
    """Why the dispatch libraries cannot run with the benchmark binary (both builds recorded and
    different), or None. ``binary`` and each of ``libs``: ``{"path", "build"}``."""
    for lib in libs:
        if binary.get("build") and lib.get("build") and lib["build"] != binary["build"]:
            name = posixpath.basename(str(lib["path"]))
            return (
                f"{name} is from LiteRT build {lib['build']} ({lib['path']}{BUILD_SUFFIX}) but the benchmark binary is "
                f"from {binary['build']} ({binary['path']}{BUILD_SUFFIX}); a dispatch library from another build fails "
                "at load ('Unsupported dispatch runtime version'): use the libLiteRtDispatch of the benchmark "
                "binary's release or build"
            )
    return None


def unrecorded(binary: dict, libs: list[dict]) -> list[str]:
    """The files whose LiteRT build is not recorded (so the check cannot be made)."""
    return [str(f["path"]) for f in [binary, *libs] if not f.get("build")]


# -- the device's failure, translated ------------------------------------------------------------


def explain_failure(vendor: NpuVendor | None, text: str, **where) -> tuple[str, str] | None:
    """``(kind, error)`` for the first of the vendor's known failures in the runner's ``text``
    (``where`` fills the message: dir, adapter_dir, delegate, profile), else None."""
    failures = vendor.failures if vendor else DISPATCH_FAILURES
    for f in failures:
        m = re.search(f.pattern, text)
        if m:
            fill = {"libs": ", ".join(vendor.adapter_libs) if vendor else "", **where, **m.groupdict()}
            fill["adapter_dir"] = fill.get("adapter_dir") or "(not set)"
            return f.kind, f.fix.format(**fill)
    return None
