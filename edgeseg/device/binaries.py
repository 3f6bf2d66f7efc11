"""The official prebuilt benchmark binaries: where they are published, a user cache, and
what to do without network access.

LiteRT publishes nightly builds of the classic TFLite ``benchmark_model`` (delegate flags:
--use_xnnpack, --use_gpu, --use_nnapi; https://ai.google.dev/edge/litert/models/measurement,
"Download the nightly pre-built native command-line binaries") and of the CompiledModel
``benchmark_model`` (--use_gpu, --use_npu with a dispatch library;
https://ai.google.dev/edge/litert/next/benchmark). The URLs name ``latest`` and no checksum
is published, so edgeseg records the URL and the sha256 of what it fetched (in the cache
index and in every report's run.json): a result can always be traced to the exact binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError
from ..fileio import atomic_write_json, sha256_file

GCS = "https://storage.googleapis.com"
CLASSIC = f"{GCS}/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/nightly/latest"
LITERT = f"{GCS}/litert/binaries/latest"


@dataclass(frozen=True)
class Binary:
    tool: str
    platform: str
    url: str
    doc: str


#: (tool, platform) -> the official build.
BINARIES: dict[tuple[str, str], Binary] = {
    (b.tool, b.platform): b
    for b in (
        Binary(
            "benchmark_model",
            "android-arm64",
            f"{CLASSIC}/android_aarch64_benchmark_model",
            "https://ai.google.dev/edge/litert/models/measurement",
        ),
        Binary(
            "benchmark_model",
            "android-arm",
            f"{CLASSIC}/android_arm_benchmark_model",
            "https://ai.google.dev/edge/litert/models/measurement",
        ),
        Binary(
            "benchmark_model",
            "linux-arm64",
            f"{CLASSIC}/linux_aarch64_benchmark_model",
            "https://ai.google.dev/edge/litert/models/measurement",
        ),
        Binary(
            "benchmark_model",
            "linux-x86_64",
            f"{CLASSIC}/linux_x86-64_benchmark_model",
            "https://ai.google.dev/edge/litert/models/measurement",
        ),
        Binary(
            "litert_benchmark_model",
            "android-arm64",
            f"{LITERT}/android_arm64/benchmark_model",
            "https://ai.google.dev/edge/litert/next/benchmark",
        ),
        Binary(
            "litert_benchmark_model",
            "linux-arm64",
            f"{LITERT}/linux_arm64/benchmark_model",
            "https://ai.google.dev/edge/litert/next/benchmark",
        ),
        Binary(
            "litert_benchmark_model",
            "linux-x86_64",
            f"{LITERT}/linux_x86_64/benchmark_model",
            "https://ai.google.dev/edge/litert/next/benchmark",
        ),
    )
}

#: Android ABI (ro.product.cpu.abi) -> platform of the prebuilt binaries.
ABI_PLATFORMS = {"arm64-v8a": "android-arm64", "armeabi-v7a": "android-arm", "armeabi": "android-arm"}


def platform_for(abi: str) -> str:
    if abi in ABI_PLATFORMS:
        return ABI_PLATFORMS[abi]
    raise DeviceError(
        f"no prebuilt benchmark_model is published for the ABI '{abi}' (there are "
        f"{', '.join(sorted(ABI_PLATFORMS))}): build it for this device and pass --benchmark-binary PATH"
    )


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg" / "bin"


def mirror_url(url: str) -> str:
    """``EDGESEG_BINARY_MIRROR`` replaces https://storage.googleapis.com (a local mirror)."""
    mirror = os.environ.get("EDGESEG_BINARY_MIRROR")
    return mirror.rstrip("/") + url[len(GCS) :] if mirror and url.startswith(GCS) else url


def cached_path(binary: Binary) -> Path:
    return cache_dir() / binary.platform / binary.tool


def _index_path() -> Path:
    return cache_dir() / "index.json"


def _read_index() -> dict:
    try:
        return json.loads(_index_path().read_text())
    except (OSError, ValueError):
        return {}


def _looks_executable(head: bytes) -> bool:
    return head.startswith(b"\x7fELF") or head.startswith(b"#!")


def local_binary(path: str | Path) -> dict:
    """A binary the user gave: checked, described like a downloaded one."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DeviceError(f"benchmark binary {path} does not exist")
    with open(path, "rb") as fh:
        if not _looks_executable(fh.read(4)):
            raise DeviceError(
                f"{path} is not an executable (no ELF header): pass the benchmark_model binary built for the device"
            )
    return {"path": str(path), "source": "local", "url": None, "sha256": sha256_file(path), "size": path.stat().st_size}


def ensure_binary(tool: str, platform: str, timeout: float = 60.0, progress=None) -> dict:
    """The cached official ``tool`` for ``platform``, downloaded on first use. Returns
    ``{path, source: cache|downloaded, url, sha256, size, fetched}``; without network access
    a :class:`DeviceError` says where to put a copy fetched elsewhere."""
    binary = BINARIES.get((tool, platform))
    if binary is None:
        have = ", ".join(sorted(p for t, p in BINARIES if t == tool))
        raise DeviceError(f"no official {tool} build for {platform} (published: {have}); pass --benchmark-binary PATH")
    path = cached_path(binary)
    key = f"{binary.platform}/{binary.tool}"
    entry = _read_index().get(key)
    if path.is_file():
        if entry and entry.get("sha256") == sha256_file(path):
            return {"path": str(path), "source": "cache", **entry}
        return adopt_copy(tool, platform)  # put there by hand (the offline route), or replaced: record what it is
    url = mirror_url(binary.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as fh:
            total = int(resp.headers.get("Content-Length") or 0)
            bar = progress(total, f"download {tool}") if progress else None
            while block := resp.read(1 << 20):
                if size == 0 and not _looks_executable(block[:4]):
                    raise DeviceError(
                        f"{url} did not return an executable (it starts with {block[:16]!r}: a "
                        "proxy or captive portal page?)"
                    )
                fh.write(block)
                digest.update(block)
                size += len(block)
                if bar:
                    bar.update(len(block))
            if bar:
                bar.close()
        if total and size != total:
            raise DeviceError(f"the download of {url} stopped after {size} of {total} bytes; run the command again")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise DeviceError(
            f"cannot download {binary.url} ({reason}). Without network access here: download that URL on a machine "
            f"that has it (the list of builds: {binary.doc}), copy the file to {path} and run the command again, or "
            "pass --benchmark-binary PATH"
        ) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.chmod(part, 0o755)
    os.replace(part, path)
    entry = {
        "url": binary.url,
        "sha256": digest.hexdigest(),
        "size": size,
        "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    index = _read_index()
    index[key] = entry
    atomic_write_json(_index_path(), index)
    return {"path": str(path), "source": "downloaded", **entry}


def adopt_copy(tool: str, platform: str) -> dict | None:
    """A copy the user put at the cache path by hand (the offline route): checked and
    indexed with its sha256 and the URL it stands for. None when there is none."""
    binary = BINARIES.get((tool, platform))
    if binary is None:
        return None
    path = cached_path(binary)
    if not path.is_file():
        return None
    info = local_binary(path)
    entry = {"url": binary.url, "sha256": info["sha256"], "size": info["size"], "fetched": "placed by hand"}
    index = _read_index()
    index[f"{binary.platform}/{binary.tool}"] = entry
    atomic_write_json(_index_path(), index)
    return {"path": str(path), "source": "cache", **entry}
