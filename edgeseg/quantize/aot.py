"""Ahead-of-time compilation of an artifact for an NPU SoC with LiteRT's compiler plugins.

NNAPI is deprecated from Android 15; MediaTek's, Qualcomm's and Google's NPUs are reached
through LiteRT instead: ``ai_edge_litert.aot.aot_compile`` runs the vendor's compiler plugin
(shipped in the ai-edge-litert wheel) on the .tflite, which then holds one ``DISPATCH_OP``
per compiled partition and runs with the ``CompiledModel`` runtime and the vendor's dispatch
library. The plugins load the vendor SDK at compile time (MediaTek: NeuroPilot's
``libneuron_adapter.so``), which pip fetches from the vendor with
``ai-edge-litert-sdk-<vendor>``; without it the compile fails, and this module says what to
install or where to point. The Intel OpenVINO plugin compiles on any x86 host with
``openvino`` installed (its CPU plugin), which is how the path is tested here.

The compiled file is written beside the artifact only once it is complete and parsed
(never an empty or half file), with a manifest: SoC, SDK version, ops compiled and left on
the CPU, partitions, compile time.
"""

from __future__ import annotations

import collections
import contextlib
import difflib
import glob
import io
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..artifact import is_compiled, op_counts  # noqa: F401 (used by compile_artifact)
from ..errors import QuantizeError
from ..fileio import releases_claims, sha256_file
from .socs import MEDIATEK_SOCS, docs_only, source_note

#: Product names of MediaTek SoCs, for messages (the compiler takes the MTxxxx name): the table
#: that follows LiteRT's source (edgeseg.quantize.socs, which cites the files and notes where
#: LiteRT's docs disagree).
PRODUCT_NAMES = {name: row.product for name, row in MEDIATEK_SOCS.items() if row.product and not row.source_name}

#: What each vendor's compile needs beyond the ai-edge-litert wheel.
SDK_HELP = {
    "mediatek": (
        "the MediaTek NeuroPilot SDK (libneuron_adapter.so)",
        "ai-edge-litert-sdk-mediatek",
        "LD_LIBRARY_PATH=/path/to/neuro_pilot/v8_0_10/host/lib",
    ),
    "qualcomm": (
        "the Qualcomm QNN SDK (libQnnHtp.so)",
        "ai-edge-litert-sdk-qualcomm",
        "LD_LIBRARY_PATH=/path/to/qairt/lib/x86_64-linux-clang",
    ),
    "GOOGLE": (
        "the Google Tensor compiler (liblitert_plugin_compiler.so)",
        "ai-edge-litert-sdk-google-tensor",
        "GOOGLE_TENSOR_COMPILER_LIB=/path/to/liblitert_plugin_compiler.so",
    ),
    "intel_openvino": (
        "OpenVINO 2026.3.1 (and for the NPU backend the NPU compiler)",
        "openvino==2026.3.1",
        "LD_LIBRARY_PATH=/path/to/openvino/libs",
    ),
    "samsung": ("the Samsung ENN SDK", "ai-edge-litert-sdk-samsung", "LD_LIBRARY_PATH=/path/to/enn/lib"),
}


@dataclass(frozen=True)
class Soc:
    name: str  # as the compiler takes it, e.g. MT6989
    vendor: str  # LiteRT backend id, e.g. mediatek
    manufacturer: str  # e.g. MediaTek
    target_id: str  # e.g. MediaTek_MT6989 (in file names)
    target: object  # the ai_edge_litert Target


def _aot():
    try:
        from ai_edge_litert.aot import aot_compile as aot_lib
        from ai_edge_litert.aot.vendors import import_vendor
    except ImportError as exc:
        raise QuantizeError(
            f"LiteRT's AOT compiler is not available ({exc}): pip install 'ai-edge-litert>=2.3'"
        ) from None
    return aot_lib, import_vendor


def soc_table() -> dict[str, Soc]:
    """Every SoC the installed LiteRT can target, by upper-case name."""
    _, import_vendor = _aot()
    backend = import_vendor.AllRegisteredBackend.create({"backend_id": "all"})
    out = {}
    for b in backend.specialize():
        t = b.target
        model = getattr(t, "soc_model", None)
        if model is None:
            continue  # the fallback backend
        name = str(getattr(model, "value", model))
        manufacturer = str(getattr(getattr(t, "soc_manufacturer", ""), "value", "")) or b.id()
        out[name.upper()] = Soc(name, t.backend_id(), manufacturer, repr(t), t)
    return out


def find_soc(name: str) -> Soc:
    """A SoC by its name (``MT6989``, ``mediatek:mt6989``, ``MediaTek_MT6989``), or a clear
    error with the nearest names."""
    why = docs_only(name.strip().split(":")[-1])
    if why:
        raise QuantizeError(f"no SoC '{name}' in LiteRT's target table: {why}")
    table = soc_table()
    key = name.strip().split(":")[-1].upper()
    if key in table:
        return table[key]
    by_id = {s.target_id.upper(): s for s in table.values()}
    if key in by_id:
        return by_id[key]
    near = difflib.get_close_matches(name.upper(), list(table), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    vendors = collections.defaultdict(list)
    for s in table.values():
        vendors[s.manufacturer].append(s.name)
    listing = "; ".join(f"{v}: {', '.join(sorted(n))}" for v, n in sorted(vendors.items()))
    raise QuantizeError(f"no SoC '{name}' in LiteRT's target table{hint} (known: {listing})")


def sdk_version(vendor: str) -> str | None:
    """The vendor SDK's version as far as Python can tell (the plugins report their API
    version only)."""
    from importlib import metadata

    dist = {
        "intel_openvino": "openvino",
        "mediatek": "ai-edge-litert-sdk-mediatek",
        "qualcomm": "ai-edge-litert-sdk-qualcomm",
        "GOOGLE": "ai-edge-litert-sdk-google-tensor",
        "samsung": "ai-edge-litert-sdk-samsung",
    }.get(vendor)
    try:
        return f"{dist} {metadata.version(dist)}" if dist else None
    except metadata.PackageNotFoundError:
        return None


def intel_npu_compiler_installed() -> bool:
    from importlib import util

    return util.find_spec("ai_edge_litert_sdk_intel") is not None


def _error_detail(message: str) -> str:
    """The telling lines of the compiler's log (its path is in LiteRT's message); the log,
    which LiteRT leaves in the temp folder, is removed once read."""
    m = re.search(r"See (\S+\.error)", message)
    if not m or not Path(m.group(1)).is_file():
        return ""
    log = Path(m.group(1))
    lines = [
        ln.strip()
        for ln in log.read_text(errors="replace").splitlines()
        if re.search(r"ERROR|cannot open shared object|Failed to load|not found|not supported", ln)
    ]
    log.unlink(missing_ok=True)
    cleaned = []
    for ln in lines:
        ln = re.sub(r"^(?:ERROR|INFO|WARNING): \[[^\]]+\]\s*", "", ln)
        last = ln.split(": ")[-1].strip()  # "Failed to load X: Failed to load X" -> once
        if last and last not in cleaned and not last.startswith("ERROR: [litert/") and "[litert/" not in last:
            cleaned.append(last)
    return "; ".join(cleaned[:3])


def _missing_sdk_error(soc: Soc, detail: str) -> QuantizeError:
    what, package, env = SDK_HELP.get(
        soc.vendor, ("the vendor SDK", f"ai-edge-litert-sdk-{soc.vendor}", "LD_LIBRARY_PATH=...")
    )
    product = f" ({PRODUCT_NAMES[soc.name]})" if soc.name in PRODUCT_NAMES else ""
    return QuantizeError(
        f"compiling for {soc.manufacturer} {soc.name}{product} needs {what}, which is not installed here"
        + (f" ({detail})" if detail else "")
        + f". With network access: pip install {package} (it downloads the SDK "
        f"from the vendor at install time). With a local copy of the SDK: {env} edgeseg compile ... --soc {soc.name}. "
        "Nothing was written"
    )


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


@releases_claims
def compile_artifact(
    artifact: str | Path,
    soc_name: str,
    out: str | Path | None = None,
    force: bool = False,
    openvino_device: str = "auto",
) -> dict:
    """Compile ``artifact`` for one SoC; write ``<stem>_<target_id>.tflite`` and its
    manifest beside it. Returns ``{"artifact", "manifest", "compiled", "notes"}``."""
    from ..artifact import (
        check_tflite_file,
        claim_output,
        read_manifest,
        write_manifest,
    )

    artifact = check_tflite_file(artifact)
    soc = find_soc(soc_name)
    source = read_manifest(artifact)
    if source is not None and source.compiled:
        raise QuantizeError(
            f"{artifact} is already compiled for {source.compiled_soc}: compile the artifact it came from"
        )
    if out is None:
        out = artifact.with_name(f"{artifact.stem}_{soc.target_id}.tflite")
        size = len(os.fsencode(out.name))
        limit = _name_max(artifact.parent)
        if size > limit:
            raise QuantizeError(
                f"the compiled file of {artifact.name} for {soc.name} would be named {out.name[:20]}..."
                f"{out.name[-24:]} ({size} bytes), longer than the {limit} bytes a name may have in "
                f"{artifact.parent}: copy or rename the artifact (and its .json) to a shorter name and compile that"
            )
    out = claim_output(out, force, what="the compiled file")
    notes, options = [note for note in (source_note(soc.name),) if note], {}
    if soc.vendor == "intel_openvino":
        device = openvino_device
        if device == "auto":
            device = "npu" if intel_npu_compiler_installed() else "cpu"
            if device == "cpu":
                notes.append(
                    "compiled for OpenVINO's CPU plugin: the Intel NPU compiler is not installed "
                    "(ai-edge-litert-sdk-intel); --openvino-device npu once it is"
                )
        options["intel_openvino_graph_backends"] = device
    aot_lib, _ = _aot()
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "tempdir_dla.*")))
    with tempfile.TemporaryDirectory(prefix="edgeseg-aot-") as tmp:
        t0 = time.perf_counter()
        try:
            chatter = io.StringIO()  # the compiler's own progress bars and "Skipping failed ..." lines
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                res = aot_lib.aot_compile(str(artifact), output_dir=tmp, target=soc.target, keep_going=True, **options)
        except Exception as exc:
            raise QuantizeError(
                f"the LiteRT compiler failed for {soc.target_id}: {str(exc).splitlines()[0][:300]}"
            ) from exc
        finally:
            for d in set(glob.glob(os.path.join(tempfile.gettempdir(), "tempdir_dla.*"))) - before:
                shutil.rmtree(d, ignore_errors=True)  # MediaTek's plugin leaves its dump folder behind
        seconds = time.perf_counter() - t0
        if res.failed_backends or not res.models:
            message = res.failed_backends[0][1] if res.failed_backends else "no compiled model"
            detail = _error_detail(str(message))
            if re.search(r"cannot open shared object|Failed to load|Loaded 0 plugins|not found", detail + message):
                raise _missing_sdk_error(soc, detail)
            raise QuantizeError(
                f"the LiteRT compiler could not compile {artifact.name} for {soc.target_id}: "
                f"{detail or message}. Nothing was written"
            )
        model = res.models[0]
        compiled_tmp = Path(tmp) / "compiled.tflite"
        model.save(str(compiled_tmp)) if getattr(model, "in_memory", False) else shutil.copyfile(
            model.path, compiled_tmp
        )
        if compiled_tmp.stat().st_size == 0:
            raise QuantizeError(f"the LiteRT compiler wrote an empty file for {soc.target_id}; nothing was written")
        check_tflite_file(compiled_tmp)
        counts = op_counts(compiled_tmp)
        stats = getattr(model, "partition_stats", None)
        subgraphs = list(getattr(stats, "subgraph_stats", []) or [])
        offloaded = sum(int(getattr(s, "num_ops_offloaded", 0)) for s in subgraphs) if subgraphs else None
        total = sum(int(getattr(s, "num_total_ops", 0)) for s in subgraphs) if subgraphs else None
        partitions = counts.get("CUSTOM:DISPATCH_OP", 0)
        on_cpu = {k: v for k, v in counts.items() if k != "CUSTOM:DISPATCH_OP"}
        from ..fileio import atomic_write_bytes

        atomic_write_bytes(out, compiled_tmp.read_bytes())
    compiled = {
        "soc": soc.name,
        "manufacturer": soc.manufacturer,
        "vendor": soc.vendor,
        "target_id": soc.target_id,
        "product": PRODUCT_NAMES.get(soc.name),
        "sdk": sdk_version(soc.vendor),
        "litert": _litert_version(),
        "options": options,
        "ops_compiled": offloaded,
        "ops_total": total,
        "partitions": partitions,
        "ops_left_on_cpu": on_cpu,
        "fully_compiled": not on_cpu and partitions > 0,
        "seconds": round(seconds, 3),
        "source": artifact.name,
        "source_sha256": sha256_file(artifact),
    }
    kept = (
        "model",
        "model_config",
        "input",
        "output",
        "classes",
        "colours",
        "imported",
        "recipe",
        "io",
        "calibration",
        "source_checkpoint",
        "source_checkpoint_sha256",
        "training_data",
        "float_layers",
        "qat",
        "pta",
    )
    fields = {k: getattr(source, k) for k in kept if source is not None and getattr(source, k) is not None}
    manifest = write_manifest(out, **fields, compiled=compiled)
    return {"artifact": str(out), "manifest": manifest, "compiled": compiled, "notes": notes}


def _litert_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        return None
