#!/usr/bin/env python3
"""Push throughput over loopback: edgeseg's ADB client vs Google's `adb` binary, same daemon.

Starts the test suite's adbd on 127.0.0.1, pushes one random file (50 MB by default) with
each client, alternating, checks every copy byte for byte on the "device", and prints a
table of MB/s with the ratio to adb; writes the rows as CSV.

    python benchmarks/adb_push.py [--mb 50] [--rounds 3] [--csv benchmarks/results/adb_push.csv]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from adbd import AdbDaemon  # noqa: E402

from edgeseg.device import adbproto as P  # noqa: E402
from edgeseg.device.transport import AdbTcpConnection  # noqa: E402
from edgeseg.fileio import atomic_write_csv  # noqa: E402
from edgeseg.reporting.tables import format_table  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--csv", default="benchmarks/results/adb_push.csv")
    args = ap.parse_args(argv)
    adb = shutil.which("adb")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        blob = tmp / "blob.bin"
        blob.write_bytes(os.urandom(args.mb * 1024 * 1024))
        digest = hashlib.sha256(blob.read_bytes()).hexdigest()
        env = {**os.environ, "HOME": str(tmp), "ANDROID_ADB_SERVER_PORT": "15071"}
        times = {"edgeseg (adb protocol, pure Python)": [], "adb binary (server 29.0.6)": []}
        with AdbDaemon(tmp / "phone") as d:
            target = d.sandbox.root / "data/local/tmp/blob.bin"
            key = P.load_or_create_key(tmp / "adbkey")
            conn = AdbTcpConnection.connect("127.0.0.1", d.port, key)
            serial = f"127.0.0.1:{d.port}"
            if adb:
                for _ in range(3):
                    subprocess.run([adb, "connect", serial], env=env, capture_output=True, timeout=30)
                    if (
                        f"{serial}\tdevice"
                        in subprocess.run([adb, "devices"], env=env, capture_output=True, text=True).stdout
                    ):
                        break
                    time.sleep(0.3)
            for _ in range(args.rounds):
                target.unlink(missing_ok=True)
                t0 = time.perf_counter()
                conn.push(blob, "/data/local/tmp/blob.bin")
                times["edgeseg (adb protocol, pure Python)"].append(time.perf_counter() - t0)
                assert hashlib.sha256(target.read_bytes()).hexdigest() == digest, "edgeseg push corrupted the file"
                if adb:
                    target.unlink(missing_ok=True)
                    t0 = time.perf_counter()
                    r = subprocess.run(
                        [adb, "-s", serial, "push", str(blob), "/data/local/tmp/blob.bin"],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=600,
                    )
                    times["adb binary (server 29.0.6)"].append(time.perf_counter() - t0)
                    assert r.returncode == 0, r.stderr
                    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest, "adb push corrupted the file"
            conn.close()
            if adb:
                subprocess.run([adb, "kill-server"], env=env, capture_output=True)
    rows = []
    ref = statistics.median(times["adb binary (server 29.0.6)"]) if times["adb binary (server 29.0.6)"] else None
    for name, ts in times.items():
        if not ts:
            continue
        med = statistics.median(ts)
        rows.append(
            {
                "client": name,
                "mb": args.mb,
                "rounds": len(ts),
                "median_s": med,
                "mb_per_s": args.mb / med,
                "time_vs_adb": med / ref if ref else None,
                "byte_exact": True,
            }
        )
    cols = ["client", "mb", "rounds", "median_s", "mb_per_s", "time_vs_adb", "byte_exact"]
    print(format_table(rows, cols))
    atomic_write_csv(args.csv, cols, rows)
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
