#!/usr/bin/env python3
"""An emulated arm64 Linux board on this x86 machine: LiteRT's real aarch64 kernels
(ai-edge-litert's aarch64 wheel, its XNNPACK and builtin kernels) run by qemu-user, served
over the loopback ADB daemon (tests/adbd.py) so that `edgeseg eval --device` and
`edgeseg bench` drive it like any Linux board with the Python runner.

What it needs (Debian/Ubuntu host, as root; the Debian mirror apt uses and PyPI):

    apt-get update && apt-get install -y mmdebstrap qemu-user-static   # or debootstrap

What `setup` does (each step cached; a second run only checks):

1. an arm64 Debian root (mmdebstrap --variant=extract: packages unpacked, no maintainer
   scripts, so no binfmt_misc is needed) with python3 and libstdc++6, under the cache
   folder (default ~/.cache/edgeseg/arm64-board; --cache or $EDGESEG_ARM64_CACHE);
2. the aarch64 wheels of ai-edge-litert and NumPy, the versions of this venv, and their
   dependencies, fetched with `pip download --platform manylinux_2_27_aarch64
   --only-binary=:all: --python-version <the root's>` and installed into the root's
   /usr/local/lib/python3.X/dist-packages by the host's pip (--target, same flags);
3. ROOT/proc/cpuinfo, an aarch64 one (Cortex-A76 cores, as many as the host's): under
   qemu-user the guest reads the host's x86 /proc/cpuinfo (qemu 7.2 fakes none for aarch64),
   pytorch/cpuinfo in LiteRT then finds no ARM core and allocate_tensors() dies of SIGSEGV
   (a NULL read at 0x8); qemu's -L prefix serves ROOT/proc/cpuinfo instead;
4. `qemu-aarch64-static -L ROOT ROOT/usr/bin/python3 -c 'import ai_edge_litert, numpy'`
   (qemu called explicitly, binfmt_misc not assumed), and a wrapper, CACHE/bin/python3-aarch64,
   that runs the root's python3 under qemu (a profile's `python` is one word: the runners
   quote it) with -cpu cortex-a76 (--cpu): qemu's default `max` CPU has SVE and SME, and
   LiteRT's kernels picked for them ran about 2-3x slower under emulation than its NEON ones. It marks the process as emulated ($EDGESEG_EMULATION) so that edgeseg/runner.py
   notes on its latency rows that they were measured under emulation.

The setup's timings, versions and paths go to CACHE/board.json.

    .venv/bin/python benchmarks/arm64_board.py setup [--cache DIR] [--suite bookworm] [--mirror URL]
    .venv/bin/python benchmarks/arm64_board.py check                 # the import check only
    .venv/bin/python benchmarks/arm64_board.py serve [--port 15555]  # the board, until Ctrl-C
    edgeseg eval ART --device devices/arm64-qemu.toml --delegate xnnpack --data DATA --frames 50
    edgeseg bench ART --device devices/arm64-qemu.toml --delegate cpu,xnnpack

`serve` runs tests/adbd.py's AdbDaemon (shell="host": commands run in this machine's /bin/sh,
/data paths mapped into CACHE/sandbox) and puts the wrapper on the board's PATH as
python3-aarch64, which devices/arm64-qemu.toml names. Latency under emulation is the speed of
qemu on this CPU, not a device figure; accuracy (mIoU, argmax agreement, output differences)
is the aarch64 kernels' own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(os.environ.get("EDGESEG_ARM64_CACHE", "~/.cache/edgeseg/arm64-board")).expanduser()
PLATFORMS = ("manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
PACKAGES = ("python3", "libstdc++6", "ca-certificates")
WRAPPER = "python3-aarch64"
CPU = "cortex-a76"
#: one core of ROOT/proc/cpuinfo (an Arm Cortex-A76, what --cpu cortex-a76 emulates)
CPUINFO = (
    "processor\t: {i}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
    "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
    "CPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
)
DEFAULT_PORT = 15555


def paths(cache: Path) -> dict:
    return {
        "cache": cache,
        "root": cache / "root",
        "wheels": cache / "wheels",
        "bin": cache / "bin",
        "wrapper": cache / "bin" / WRAPPER,
        "meta": cache / "board.json",
        "sandbox": cache / "sandbox",
    }


def say(msg: str) -> None:
    print(msg, flush=True)


def need(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        sys.exit(f"{tool} is not installed: {hint}")
    return path


def qemu() -> str:
    return need("qemu-aarch64-static", "apt-get install -y qemu-user-static")


def host_version(dist: str) -> str:
    """The version of ``dist`` in this Python: the board's wheels follow edgeseg's venv, so a
    Python without it (the system's ``python``) is told to use the venv's, before any work."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        sys.exit(
            f"error: {dist} is not installed for {sys.executable}: run this with the Python of edgeseg's venv, "
            f"`.venv/bin/python benchmarks/arm64_board.py setup` (the board gets the venv's versions)"
        )


def root_python(root: Path) -> str:
    """The root's python3.X, from its file name (nothing run)."""
    names = sorted(p.name for p in (root / "usr/bin").glob("python3.*") if p.name[8:].isdigit())
    if not names:
        sys.exit(f"{root} has no usr/bin/python3.X")
    return names[-1][len("python") :]


def run_arm(root: Path, *args: str, cpu: str = CPU, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [qemu(), "-cpu", cpu, "-L", str(root), str(root / "usr/bin/python3"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def host_cpus() -> list[int]:
    """The host's possible CPUs (what cpuinfo reads from /sys, which qemu does not redirect)."""
    try:
        text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    except OSError:
        return list(range(os.cpu_count() or 1))
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out


def write_cpuinfo(root: Path) -> None:
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/cpuinfo").write_text("".join(CPUINFO.format(i=i) for i in host_cpus()))


def make_root(p: dict, suite: str, mirror: str) -> float:
    root = p["root"]
    if (root / ".edgeseg-root-done").exists():
        say(f"root: {root} (cached)")
        return 0.0
    if os.geteuid() != 0:
        sys.exit("building the arm64 root needs root (mmdebstrap/debootstrap write device files and owners)")
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if shutil.which("mmdebstrap"):
        cmd = [
            "mmdebstrap",
            "--arch=arm64",
            "--variant=extract",
            f"--include={','.join(PACKAGES)}",
            suite,
            str(root),
            mirror,
        ]
    else:
        need("debootstrap", "apt-get install -y mmdebstrap (or debootstrap)")
        # first stage only: packages unpacked, no maintainer scripts (they would need binfmt_misc)
        cmd = [
            "debootstrap",
            "--arch=arm64",
            "--foreign",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            suite,
            str(root),
            mirror,
        ]
    say("root: " + " ".join(cmd))
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    (root / ".edgeseg-root-done").write_text(" ".join(cmd) + "\n")
    return time.monotonic() - t0


def install_wheels(p: dict) -> tuple[float, dict]:
    root, wheels = p["root"], p["wheels"]
    pyver = root_python(root)
    site = root / f"usr/local/lib/python{pyver}/dist-packages"
    pins = {"ai-edge-litert": host_version("ai-edge-litert"), "numpy": host_version("numpy")}
    stamp = site / ".edgeseg-wheels.json"
    want = {"python": pyver, **pins}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        say(f"wheels: {site} (cached: {want})")
        return 0.0, want
    t0 = time.monotonic()
    flags = [f"--platform={pl}" for pl in PLATFORMS] + [
        "--only-binary=:all:",
        f"--python-version={pyver}",
        "--implementation=cp",
    ]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    reqs = [f"{k}=={v}" for k, v in pins.items()]
    wheels.mkdir(parents=True, exist_ok=True)
    # the two wheels themselves (--no-deps), then their dependencies resolved for aarch64
    for args in (
        ["download", "--no-deps", "-d", str(wheels), *flags, *reqs],
        ["download", "-d", str(wheels), *flags, *reqs],
    ):
        say("wheels: pip " + " ".join(args))
        res = subprocess.run(pip + args, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"pip download failed:\n{res.stderr[-3000:]}")
    if site.exists():
        shutil.rmtree(site)
    args = ["install", "--no-index", "--find-links", str(wheels), "--no-compile", "--target", str(site), *flags, *reqs]
    say("wheels: pip " + " ".join(args))
    res = subprocess.run(pip + args, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"pip install --target failed:\n{res.stderr[-3000:]}")
    stamp.write_text(json.dumps(want))
    return time.monotonic() - t0, want


def write_wrapper(p: dict, cpu: str = CPU) -> None:
    p["bin"].mkdir(parents=True, exist_ok=True)
    root = p["root"]
    p["wrapper"].write_text(
        "#!/bin/sh\n# edgeseg's emulated arm64 board: the arm64 root's python3 under qemu-user "
        "(benchmarks/arm64_board.py)\n"
        f"export EDGESEG_EMULATION=qemu-aarch64/{cpu}\n"
        f'exec {qemu()} -cpu {cpu} -L {root} {root}/usr/bin/python3 "$@"\n'
    )
    p["wrapper"].chmod(0o755)


def check(p: dict, cpu: str = CPU) -> dict:
    code = (
        "import platform, numpy, ai_edge_litert, json; from ai_edge_litert.interpreter import Interpreter; "
        "print(json.dumps({'machine': platform.machine(), 'python': platform.python_version(), "
        "'numpy': numpy.__version__, 'ai_edge_litert': ai_edge_litert.__file__}))"
    )
    t0 = time.monotonic()
    res = run_arm(p["root"], "-c", code, cpu=cpu)
    if res.returncode != 0:
        sys.exit(
            f"qemu-aarch64-static -L {p['root']} python3 -c 'import ai_edge_litert, numpy' failed:\n"
            f"{res.stderr[-3000:]}"
        )
    got = json.loads(res.stdout.strip().splitlines()[-1])
    if got["machine"] != "aarch64":
        sys.exit(f"the root's python says it runs on {got['machine']}, not aarch64")
    got["import_s"] = round(time.monotonic() - t0, 2)
    say(f"check: {got}")
    return got


def cmd_setup(a) -> None:
    for dist in ("ai-edge-litert", "numpy"):  # before the root is built: the wheels follow these
        host_version(dist)
    p = paths(a.cache)
    qemu()
    t0 = time.monotonic()
    t_root = make_root(p, a.suite, a.mirror)
    t_wheels, versions = install_wheels(p)
    write_cpuinfo(p["root"])
    write_wrapper(p, a.cpu)
    got = check(p, a.cpu)
    total = time.monotonic() - t0
    meta = json.loads(p["meta"].read_text()) if p["meta"].exists() else {}
    if t_root or t_wheels or not meta:  # a fresh build: its times; a cached one keeps them
        meta = {
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "root_s": round(t_root, 1),
            "wheels_s": round(t_wheels, 1),
            "setup_s": round(total, 1),
            "suite": a.suite,
            "mirror": a.mirror,
        }
    meta.update(
        {
            "cache": str(p["cache"]),
            "root": str(p["root"]),
            "python_wrapper": str(p["wrapper"]),
            "qemu": qemu(),
            "qemu_cpu": a.cpu,
            "versions": versions,
            "check": got,
            "root_mb": round(
                sum(f.stat().st_size for f in p["root"].rglob("*") if f.is_file() and not f.is_symlink()) / 2**20, 1
            ),
        }
    )
    p["meta"].write_text(json.dumps(meta, indent=2) + "\n")
    say(
        f"arm64 board ready in {total:.1f} s (first build: {meta['setup_s']} s): root {p['root']} "
        f"({meta['root_mb']} MB), python {p['wrapper']}; {p['meta']}"
    )


def cmd_check(a) -> None:
    check(paths(a.cache), a.cpu)


def cmd_serve(a) -> None:
    p = paths(a.cache)
    if not p["wrapper"].exists():
        sys.exit(f"no arm64 board at {a.cache}: run `.venv/bin/python benchmarks/arm64_board.py setup` first")
    sys.path.insert(0, str(REPO / "tests"))
    from adbd import AdbDaemon

    d = AdbDaemon(
        p["sandbox"],
        port=a.port,
        shell="host",
        board=True,  # a board: no battery, cpufreq or thermal files to make up phone conditions from
        props={
            "ro.product.model": "qemu-aarch64 (emulated)",
            "ro.product.manufacturer": "edgeseg",
            "ro.product.device": "arm64-qemu",
            "ro.soc.manufacturer": "QEMU",
            "ro.soc.model": "qemu-user aarch64",
            "ro.serialno": "ARM64QEMU0001",
        },
    )
    link = d.sandbox.root / "system/bin" / WRAPPER
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(p["wrapper"])
    port = d.start()
    say(f"arm64 board (qemu-aarch64) listening on 127.0.0.1:{port}, sandbox {d.sandbox.root}; Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        d.stop()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"cache folder (default {DEFAULT_CACHE}; $EDGESEG_ARM64_CACHE)",
    )
    sub = ap.add_subparsers(dest="cmd")
    s = sub.add_parser("setup", help="build (or check) the arm64 root, its wheels and the python wrapper")
    s.add_argument("--suite", default="bookworm")
    s.add_argument("--mirror", default="http://deb.debian.org/debian")
    s.add_argument("--cpu", default=CPU, help=f"qemu's -cpu for the wrapper (default {CPU})")
    c = sub.add_parser("check", help="qemu-aarch64-static -L ROOT python3 -c 'import ai_edge_litert, numpy'")
    c.add_argument("--cpu", default=CPU)
    v = sub.add_parser("serve", help="serve the board over the loopback ADB daemon until Ctrl-C")
    v.add_argument("--port", type=int, default=DEFAULT_PORT)
    a = ap.parse_args(argv)
    a.cache = a.cache.expanduser().resolve()
    if a.cmd is None:  # plain `arm64_board.py`: setup with its defaults
        a.suite, a.mirror, a.cpu = s.get_default("suite"), s.get_default("mirror"), CPU
    {"setup": cmd_setup, "check": cmd_check, "serve": cmd_serve, None: cmd_setup}[a.cmd](a)


if __name__ == "__main__":
    main()
