#!/usr/bin/env python3
"""A device-side ADB daemon on loopback, serving a sandboxed folder shaped like a phone.

Speaks the real protocol (CNXN, AUTH with RSA signature checks, OPEN/OKAY/WRTE/CLSE with
flow control, shell v1 and v2, exec, sync STAT/LIST/SEND/RECV) and is cross-checked against
Debian's `adb` client in tests/e2e/test_adb_realclient.py.

Shell commands run the way a device runs them, not in the host's GNU userland (which
hid a `date +%N` bug once): ``shell="busybox"`` (default) runs Debian's busybox ash with
busybox applets only on PATH, like a board; ``shell="toybox"`` runs mksh with toybox
applets, like Android's /system/bin/sh; ``shell="host"`` keeps /bin/sh and the host's
tools. Absolute device paths (/data, /sys, /proc, /sdcard, /vendor, /system_ext) are mapped into the
sandbox, /proc/uptime is the real boot clock, and `getprop`, `dumpsys battery` and
`dumpsys android.hardware.power.stats.IPowerStats/default` are scripts reading the
sandbox's files, whose values the tests drive. Faults can be injected: drop the
connection mid-push, refuse a push, stall, accept TCP and never answer, go offline and
come back.

    python tests/adbd.py --root /tmp/phone --port 5555   # a loopback "phone" for manual use
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.device import adbproto as P

DEVICE_PREFIXES = ("/data/", "/sys/", "/proc/", "/sdcard/", "/vendor/", "/system_ext/", "/data")
_PATH_RE = re.compile(r"(?<![\w.\-/])(/(?:data|system_ext|sys|proc|sdcard|vendor))(?=/|\b)")

SHELLS = ("busybox", "toybox", "host")


def shell_command(mode: str) -> list[str]:
    """The interpreter that runs device commands in ``mode`` (raises when not installed)."""
    if mode == "host":
        return ["/bin/sh"]
    tool = "busybox" if mode == "busybox" else "mksh"
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(
            f"{tool} is not installed (apt-get install -y "
            f"{'busybox-static' if mode == 'busybox' else 'mksh toybox'}); the {mode} device shell needs it"
        )
    if mode == "toybox" and shutil.which("toybox") is None:
        raise RuntimeError("toybox is not installed (apt-get install -y toybox); the toybox device shell needs it")
    return [path, "sh"] if mode == "busybox" else [path]


def applets(mode: str) -> tuple[str, list[str]]:
    """(multi-call binary, its applet names) for the device's tools in ``mode``."""
    tool = shutil.which("busybox" if mode == "busybox" else "toybox")
    out = subprocess.run([tool, "--list"] if mode == "busybox" else [tool], capture_output=True, text=True).stdout
    return tool, [a for a in out.split() if a and a not in ("sh", "ash", "toybox", "busybox")]


GETPROP = r"""#!/bin/sh
if [ $# -eq 0 ]; then sed 's/^\([^=]*\)=\(.*\)$/[\1]: [\2]/' "$EDGESEG_SANDBOX/props.txt"; exit 0; fi
v=$(grep -m1 "^$1=" "$EDGESEG_SANDBOX/props.txt" | cut -d= -f2-)
echo "${v:-$2}"
"""

DUMPSYS = r"""#!/bin/sh
b="$EDGESEG_SANDBOX/sys/class/power_supply/battery"
if [ "$1" = "battery" ]; then
  case "$(cat $b/status)" in Charging) st=2;; Discharging) st=3;; "Not charging") st=4;; Full) st=5;; *) st=1;; esac
  usb=$(cat "$EDGESEG_SANDBOX/dumpsys_usb" 2>/dev/null || cat "$EDGESEG_SANDBOX/sys/class/power_supply/usb/online")
  echo "Current Battery Service state:"
  echo "  AC powered: false"
  if [ "$usb" = "1" ]; then echo "  USB powered: true"; else echo "  USB powered: false"; fi
  echo "  Wireless powered: false"
  echo "  status: $st"
  echo "  health: 2"
  echo "  present: true"
  echo "  level: $(cat $b/capacity)"
  echo "  scale: 100"
  echo "  voltage: $(( $(cat $b/voltage_now) / 1000 ))"
  echo "  temperature: $(cat $b/temp)"
  echo "  technology: Li-ion"
  exit 0
fi
if [ "$1" = "android.hardware.power.stats.IPowerStats/default" ] && [ -f "$EDGESEG_SANDBOX/hal_trace.txt" ]; then
  # the driven trace's energy at the moment of this call, on the boot clock (centiseconds, as
  # /proc/uptime gives it): segment start t0, energy then (uWs), power (mW) and its slope (mW/s)
  read now _u < /proc/uptime
  read t0 e0 p0 s0 < "$EDGESEG_SANDBOX/hal_trace.txt"
  n=${now%.*}${now#*.}; z=${t0%.*}${t0#*.}
  d=$(( n - z )); [ "$d" -lt 0 ] && d=0
  e=$(( e0 + p0 * 10 * d + s0 * d * d / 20 ))
  echo ""
  echo "============= PowerStats HAL 2.0 energy meter =============="
  for r in "S4M_VDD_CPUCL0 CPU(LITTLE) 7" "S5M_VDD_INT INT 3"; do
    set -- $r
    v=$(( e * $3 / 10 ))
    printf "  %32s   %11d.%02d mWs\n" "[$1]:$2" $(( v / 1000 )) $(( v % 1000 / 10 ))
  done
  echo "========== End of PowerStats HAL 2.0 energy meter =========="
  exit 0
fi
if [ "$1" = "android.hardware.power.stats.IPowerStats/default" ] && [ -f "$EDGESEG_SANDBOX/hal_meter.txt" ]; then
  cat "$EDGESEG_SANDBOX/hal_meter.txt"
  exit 0
fi
echo "Can't find service: $1" >&2
exit 1
"""


def need_shell(mode: str) -> None:
    """In a test: skip when the device shell ``mode`` is not installed, fail under CI (whose
    .ci/run installs it)."""
    import pytest

    try:
        shell_command(mode)
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (.ci/run installs it)", pytrace=False)
        pytest.skip(str(exc))


class PhoneSandbox:
    """A folder laid out like the parts of a phone edgeseg reads and writes."""

    def __init__(
        self,
        root: str | Path,
        props: dict | None = None,
        rails: bool = True,
        shell: str = "busybox",
        board=False,
        npu: str | None = None,
    ):
        """``board``: a Linux board (the emulated arm64 one): no battery, no USB power supply, no
        cpufreq or thermal files and no dumpsys, so nothing reads phone conditions it does not have.
        ``npu="mediatek"``: a Dimensity phone's vendor folders (:data:`MEDIATEK_LAYOUT`)."""
        self.root = Path(root)
        self.shell = shell
        self.board = board
        self.shell_cmd = shell_command(shell)
        self.props = {
            "ro.product.model": "Loopback Phone",
            "ro.product.manufacturer": "edgeseg",
            "ro.product.device": "loopback",
            "ro.soc.manufacturer": "Google",
            "ro.soc.model": "Tensor G3",
            "ro.build.version.release": "14",
            "ro.build.version.sdk": "34",
            "ro.product.cpu.abi": "arm64-v8a",
            "ro.build.fingerprint": "edgeseg/loopback/loopback:14/UQ1A/1:user/release-keys",
            "ro.serialno": "LOOPBACK0001",
            **(props or {}),
        }
        phone_only = (
            "sys/class/power_supply/battery",
            "sys/class/power_supply/usb",
            "sys/class/thermal/thermal_zone0",
            "sys/class/thermal/thermal_zone1",
            "sys/devices/system/cpu/cpu0/cpufreq",
            "sys/devices/system/cpu/cpu4/cpufreq",
        )
        for d in ("data/local/tmp", "system/bin", "proc", *(() if board else phone_only)):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self.write_props()
        for name, text in (("getprop", GETPROP), *(() if board else (("dumpsys", DUMPSYS),))):
            p = self.root / "system/bin" / name
            p.write_text(text.replace("#!/bin/sh", self.shebang, 1))
            p.chmod(0o755)
        if shell != "host":  # the device's tools, and nothing of the host's
            tool, names = applets(shell)
            xbin = self.root / "system/xbin"
            xbin.mkdir(parents=True, exist_ok=True)
            for name in names:
                link = xbin / name
                if not link.exists():
                    link.symlink_to(tool)
        if npu == "mediatek":
            self.props.update(MEDIATEK_PROPS)
            self.write_props()
            for rel in MEDIATEK_LAYOUT:
                self.put_library(rel)
        if not (self.root / "proc/uptime").exists():
            (self.root / "proc/uptime").symlink_to("/proc/uptime")  # the real boot clock
        self.rail_uws = {"S4M_VDD_CPUCL0": 0.0, "S5M_VDD_INT": 0.0}
        if board:
            return
        self.set_battery(current_ua=-250_000, voltage_uv=4_000_000, status="Discharging", usb_online=False)
        self.write("sys/class/power_supply/battery/temp", "285")
        self.write("sys/class/power_supply/battery/capacity", "80")
        self.write("sys/class/thermal/thermal_zone0/type", "battery")
        self.write("sys/class/thermal/thermal_zone0/temp", "28500")
        self.write("sys/class/thermal/thermal_zone1/type", "soc_therm")
        self.write("sys/class/thermal/thermal_zone1/temp", "41000")
        for cpu, cur, top in (("cpu0", "1704000", "1803000"), ("cpu4", "2367000", "2850000")):
            d = f"sys/devices/system/cpu/{cpu}/cpufreq/"
            self.write(d + "scaling_cur_freq", cur)
            self.write(d + "scaling_governor", "schedutil")
            self.write(d + "cpuinfo_max_freq", top)
            self.write(d + "scaling_max_freq", top)
        if rails:
            (self.root / "sys/bus/iio/devices/iio:device0").mkdir(parents=True, exist_ok=True)
            self.write_rails(0)

    @property
    def shebang(self) -> str:
        return "#!" + " ".join(self.shell_cmd)

    @property
    def path(self) -> str:
        """PATH for device commands: the sandbox's own bin folders (and the host's in host mode)."""
        bins = f"{self.root / 'system/bin'}:{self.root / 'system/xbin'}"
        return f"{bins}:{os.environ.get('PATH', '/usr/bin:/bin')}" if self.shell == "host" else bins

    def write(self, rel: str, text: str) -> None:
        """Replace a file atomically (as sysfs values change: a reader never sees half)."""
        path = self.root / rel
        tmp = path.with_name(f".{path.name}.w")
        tmp.write_text(text + "\n")
        os.replace(tmp, path)

    def write_props(self) -> None:
        self.write("props.txt", "\n".join(f"{k}={v}" for k, v in self.props.items()))

    def set_battery(self, current_ua=None, voltage_uv=None, status=None, usb_online=None) -> None:
        b = "sys/class/power_supply/battery/"
        if current_ua is not None:
            self.write(b + "current_now", str(int(current_ua)))
        if voltage_uv is not None:
            self.write(b + "voltage_now", str(int(voltage_uv)))
        if status is not None:
            self.write(b + "status", status)
        if usb_online is not None:
            self.write("sys/class/power_supply/usb/online", "1" if usb_online else "0")

    def write_rails(self, t_ms: int) -> None:
        """Pixel 6+ ODPM format (drivers/iio/power/odpm.c): ``t=<timestamp ms>``, then
        ``CH<n>(T=<duration ms>)[<rail>], <accumulated uWs>`` per rail."""
        lines = [f"t={int(t_ms)}"] + [
            f"CH{i}(T={int(t_ms)})[{name}], {int(v)}" for i, (name, v) in enumerate(self.rail_uws.items())
        ]
        self.write("sys/bus/iio/devices/iio:device0/energy_value", "\n".join(lines))

    def write_hal(self) -> None:
        """The Pixel power-stats HAL's dump (hardware/google/pixel/powerstats, dumpEnergyMeter):
        the same rails, cumulative energy in mWs."""
        lines = [
            "",
            "============= PowerStats HAL 2.0 energy meter ==============",
            "  %32s   %18s" % ("Channel", "Cumulative Energy"),
        ]
        lines += [
            "  %32s   %14.2f mWs" % (f"[{name}]:{sub}", v / 1000.0)
            for (name, v), sub in zip(self.rail_uws.items(), ("CPU(LITTLE)", "INT"))
        ]
        lines.append("========== End of PowerStats HAL 2.0 energy meter ==========")
        self.write("hal_meter.txt", "\n".join(lines))

    def put_library(self, rel: str, loadable: bool = True) -> Path:
        """A shared library's stand-in at ``rel`` (an ELF header and padding; ``loadable=False``: a
        file of that name that no linker would load, e.g. a truncated copy)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((b"\x7fELF\x02\x01\x01" if loadable else b"") + bytes(57 if loadable else 0))
        return path

    def host_path(self, device_path: str) -> Path:
        if not device_path.startswith("/"):
            device_path = "/data/local/tmp/" + device_path
        return self.root / device_path.lstrip("/")

    def translate(self, command: str) -> str:
        return _PATH_RE.sub(lambda m: str(self.root) + m.group(1), command)


#: A Dimensity phone's vendor folders: the NeuroPilot adapter where current builds keep it (the
#: first name LiteRT's MediaTek dispatch library tries, litert/vendors/mediatek/neuron_adapter_api.cc).
MEDIATEK_LAYOUT = ("system_ext/lib64/libneuronusdk_adapter.mtk.so",)
MEDIATEK_PROPS = {
    "ro.soc.manufacturer": "Mediatek",
    "ro.soc.model": "MT6989",
    "ro.product.model": "Loopback Dimensity",
    "ro.hardware": "mt6989",
}

V_BATT = 3.9  # volts
I_IDLE = 200.0  # mA
I_RUN0, I_RUN_SLOPE = 600.0, 100.0  # mA, mA/s: a ramp while the benchmark runs


def boot_clock() -> float:
    """The clock of /proc/uptime, which the device-side sampler reads."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class SensorDriver:
    """Drives the sandbox's battery gauge and power rails from a known trace: idle current
    until the benchmark marks its run, then a ramp, back to idle at the end of the run.
    ``rails``: "sysfs" (ODPM files), "hal" (the power-stats HAL's dump only), "stuck" (ODPM
    files whose counters never advance) or None. ``trigger``: what starts and ends the run
    trace: "marker" (the sampler log's run_start / run_end markers: the whole benchmark
    process) or "load" (the work folder's ``.load`` file, ``1`` / ``0``, written by a fake
    benchmark at the start of its warm-up and the end of its timed runs: its model load and
    delegate init stay at idle power). ``charger_ma``: a charger's current into the phone
    (the gauge reads the phone's draw minus it; negative = net charging). ``constant_gauge``:
    the gauge reads its first value forever (a cached or simulated current_now); a number: that
    current (mA) forever. ``gauge_period_s``: a sample-and-hold gauge (common on phones): its file
    changes only every ``gauge_period_s``, to the mean current since its previous update (the
    sampler reads the held value many times per update); 0: it shows every step.

    The phone's current is what the driver last wrote: each step holds the trace's value at
    that step until the next one, the gauge file shows it, and the rail counters integrate
    it. On a busy host the steps come late, and the held current lags the ideal ramp; the
    truth of the gauge and the rails (:meth:`analytic_energy_mj`) is the integral of that
    held current, from the log of every step, so a lagging driver moves the truth with the
    readings instead of away from them. The HAL's trace is computed from the boot clock at
    the moment it is read, so its truth is the ideal ramp."""

    def __init__(
        self,
        sandbox: PhoneSandbox,
        work_dir: Path,
        rails: str | None = "sysfs",
        trigger: str = "marker",
        charger_ma: float = 0.0,
        constant_gauge: bool | float = False,
        gauge_period_s: float = 0.0,
    ):
        self.sb, self.work, self.rails = sandbox, work_dir, rails
        self.trigger, self.charger_ma, self.constant_gauge = trigger, charger_ma, constant_gauge
        self.gauge_period_s = gauge_period_s
        self.t_switch = None
        self.held: list[tuple[float, float]] = []  # (boot clock, mA) of every step: the current from then on
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        if rails != "sysfs" and rails != "stuck":
            shutil.rmtree(sandbox.root / "sys/bus/iio", ignore_errors=True)

    # -- the HAL's trace: energy as a function of the boot clock, in whole centiseconds ----------
    @staticmethod
    def _cs(t: float) -> int:
        return int(t * 100)

    def _hal_energy(self, seg, n_cs: int) -> int:
        """uWs at tick ``n_cs`` on segment ``(t0_cs, e0, p0 mW, s0 mW/s)``: the dumpsys script's sum."""
        t0, e0, p0, s0 = seg
        d = max(0, n_cs - t0)
        return e0 + p0 * 10 * d + s0 * d * d // 20

    def _hal_segment(self, n: int, running: bool) -> None:
        """Start a segment of the HAL's trace at tick ``n`` (idle, or the run's ramp): the trace
        steps there, exactly, on the device's own clock."""
        e = self._hal_energy(self._seg, n) if getattr(self, "_seg", None) else 0
        p0 = round((I_RUN0 if running else I_IDLE) * V_BATT)
        s0 = round(I_RUN_SLOPE * V_BATT) if running else 0
        self._seg = (n, e, p0, s0)
        self.sb.write("hal_trace.txt", f"{n // 100}.{n % 100:02d} {e} {p0} {s0}")

    def current(self, t: float) -> float:
        if self.t_switch is None:
            return I_IDLE
        return I_RUN0 + I_RUN_SLOPE * (t - self.t_switch)

    def loop(self):
        last = boot_clock()
        running, finished = None, set()
        gauge_written = False
        gauge_from, gauge_mas = last, 0.0  # the held gauge: its last update, and the charge (mA s) since
        hal_running = False
        if self.rails == "hal":
            self._hal_segment(self._cs(last), False)
        while not self.stop.is_set():
            now = boot_clock()
            # the energy since the last step: the current held since then (see the class doc)
            step_ma = self.held[-1][1] if self.held else I_IDLE
            step_mj = step_ma * V_BATT * (now - last)
            gauge_mas += step_ma * (now - last)
            # the HAL's trace steps on a /proc/uptime tick: the switch is that tick's time
            switch = self._cs(now) / 100.0 if self.rails == "hal" else now
            if self.trigger == "load":
                try:
                    load = (self.work / ".load").read_text().strip()
                except FileNotFoundError:
                    load = "0"
                if load == "1" and self.t_switch is None:
                    self.t_switch = switch
                elif load != "1":
                    self.t_switch = None
            for log in self.work.glob(".power_*.log") if self.trigger == "marker" else ():
                if log.name in finished:
                    continue
                try:
                    text = log.read_text()
                except FileNotFoundError:
                    continue
                if running is None and "M run_start" in text:
                    self.t_switch, running = switch, log.name
                if running == log.name and "M run_end" in text:
                    self.t_switch, running = None, None
                    finished.add(log.name)
            if self.rails == "hal" and (self.t_switch is not None) != hal_running:
                hal_running = self.t_switch is not None
                self._hal_segment(self._cs(now), hal_running)
            i_ma = self.current(now)
            self.held.append((now, i_ma))
            for rail, share in (("S4M_VDD_CPUCL0", 0.7), ("S5M_VDD_INT", 0.3)):
                self.sb.rail_uws[rail] += step_mj * 1e3 * share
            last = now
            shown = i_ma  # the gauge's file: what it shows from now on (None: unchanged)
            if gauge_written and self.constant_gauge is not False:
                shown = None  # a constant gauge: its first value forever
            elif not isinstance(self.constant_gauge, bool):
                shown = float(self.constant_gauge)
            elif gauge_written and self.gauge_period_s:
                shown = None
                if now - gauge_from >= self.gauge_period_s:  # the held gauge's update: the mean since the last one
                    shown = gauge_mas / (now - gauge_from)
                    gauge_from, gauge_mas = now, 0.0
            if shown is not None:
                self.sb.set_battery(current_ua=-(shown - self.charger_ma) * 1000, voltage_uv=V_BATT * 1e6)
                gauge_written = True
            if self.rails == "sysfs":
                self.sb.write_rails(now * 1000)
            time.sleep(0.002)

    def analytic_energy_mj(self, window_start, window_end, switch, mean_ms, source: str | None = None) -> float:
        """Energy per inference above idle over the window, as the phone drew it: the held
        current's integral (the gauge and the rails), or the HAL's ideal ramp from ``switch``
        (``source="hal"``)."""
        if source == "hal":
            mid = (window_start + window_end) / 2 - switch
            run_mw = (I_RUN0 + I_RUN_SLOPE * mid) * V_BATT
        else:
            run_mw = self.held_mean_ma(window_start, window_end) * V_BATT
        return (run_mw - I_IDLE * V_BATT) * mean_ms / 1e3

    def held_mean_ma(self, a: float, b: float) -> float:
        """The mean of the held current over [a, b] on the boot clock (idle before the first step)."""
        steps = list(self.held)
        total = I_IDLE * max(0.0, min(b, steps[0][0] if steps else b) - a)
        for k, (t, i_ma) in enumerate(steps):
            lo, hi = max(a, t), min(b, steps[k + 1][0] if k + 1 < len(steps) else b)
            if hi > lo:
                total += i_ma * (hi - lo)
        return total / (b - a)


class _Stream:
    def __init__(self, conn, local_id, remote_id):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.inbox: queue.Queue = queue.Queue()
        self.okay = threading.Event()
        self.closed = threading.Event()
        self.buffer = bytearray()
        self.proc = None

    def write(self, data: bytes) -> None:
        for off in range(0, len(data), self.conn.max_payload):
            if self.closed.is_set():
                return
            self.okay.clear()
            self.conn.send(P.Message(P.A_WRTE, self.local_id, self.remote_id, data[off : off + self.conn.max_payload]))
            while not self.okay.wait(0.5):
                if self.closed.is_set() or self.conn.dead:
                    return

    def read_exactly(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            chunk = self.inbox.get()
            if chunk is None:
                return None
            self.buffer += chunk
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.conn.send(P.Message(P.A_CLSE, self.local_id, self.remote_id))
            self.conn.streams.pop(self.local_id, None)

    def abort(self) -> None:
        """The peer closed the stream or the connection dropped: stop the service."""
        self.closed.set()
        self.inbox.put(None)
        if self.proc and self.proc.poll() is None and self.conn.daemon.kill_on_close:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass


class _Connection:
    def __init__(self, daemon: AdbDaemon, sock: socket.socket):
        self.daemon, self.sock = daemon, sock
        self.lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.max_payload = P.MAX_PAYLOAD_V1
        self.dead = False
        self.token = b""

    def send(self, msg: P.Message) -> None:
        with self.lock:
            try:
                self.sock.sendall(msg.pack(checksum=self.checksum))
            except OSError:
                self.kill()

    def kill(self) -> None:
        if not self.dead:
            self.dead = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            for s in list(self.streams.values()):
                s.abort()

    def recv_exact(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    checksum = False

    def banner(self) -> bytes:
        props = self.daemon.sandbox.props
        feats = ",".join(self.daemon.features)
        return (
            f"device::ro.product.name={props['ro.product.device']};ro.product.model={props['ro.product.model']};"
            f"ro.product.device={props['ro.product.device']};features={feats}"
        ).encode()

    def send_token(self) -> None:
        self.token = secrets.token_bytes(P.TOKEN_SIZE)
        self.send(P.Message(P.A_AUTH, P.AUTH_TOKEN, 0, self.token))

    def serve(self) -> None:
        try:
            while not self.dead:
                head = self.recv_exact(P.HEADER.size)
                if head is None:
                    break
                try:
                    command, a0, a1, length, _ = P.unpack_header(head)
                except P.ProtocolError:
                    break
                data = self.recv_exact(length) if length else b""
                if data is None:
                    break
                self.daemon.log.append((P.COMMAND_NAMES[command], a0, a1, len(data)))
                self.handle(P.Message(command, a0, a1, data))
        finally:
            self.kill()

    def handle(self, m: P.Message) -> None:
        d = self.daemon
        if m.command == P.A_CNXN:
            self.max_payload = min(m.arg1, P.MAX_PAYLOAD)
            self.checksum = m.arg0 < P.A_VERSION
            if d.require_auth:
                self.send_token()
            else:
                self.send(P.Message(P.A_CNXN, min(m.arg0, P.A_VERSION), P.MAX_PAYLOAD, self.banner()))
        elif m.command == P.A_AUTH and m.arg0 == P.AUTH_SIGNATURE:
            if any(P.verify_token(k, self.token, m.data) for k in d.known_keys):
                self.send(P.Message(P.A_CNXN, P.A_VERSION, P.MAX_PAYLOAD, self.banner()))
            else:
                self.send_token()
        elif m.command == P.A_AUTH and m.arg0 == P.AUTH_RSAPUBLICKEY:
            d.offered_keys.append(m.data)
            if d.auth_mode == "accept":
                d.known_keys.append(P.decode_public_key(m.data))
                self.send(P.Message(P.A_CNXN, P.A_VERSION, P.MAX_PAYLOAD, self.banner()))
            elif d.auth_mode == "close":
                self.kill()
            # "ignore": the prompt stays unanswered on the phone; say nothing
        elif m.command == P.A_OPEN:
            if d.stall_secs:
                stall, d.stall_secs = d.stall_secs, 0
                time.sleep(stall)
            service = m.data.rstrip(b"\0").decode("utf-8", "replace")
            handler = self.daemon.service_for(service)
            if handler is None:
                self.send(P.Message(P.A_CLSE, 0, m.arg0))
                return
            local = self.next_id
            self.next_id += 1
            stream = _Stream(self, local, m.arg0)
            self.streams[local] = stream
            self.send(P.Message(P.A_OKAY, local, m.arg0))
            threading.Thread(target=self._run_service, args=(handler, stream, service), daemon=True).start()
        elif m.command == P.A_WRTE:
            s = self.streams.get(m.arg1)
            if s is None:
                self.send(P.Message(P.A_CLSE, 0, m.arg0))
                return
            # acknowledge first (as adbd does once the packet is queued), then hand it over:
            # the service may finish and close the stream as soon as it sees the data
            self.send(P.Message(P.A_OKAY, s.local_id, s.remote_id))
            s.inbox.put(m.data)
        elif m.command == P.A_OKAY:
            s = self.streams.get(m.arg1)
            if s:
                s.okay.set()
        elif m.command == P.A_CLSE:
            s = self.streams.pop(m.arg1, None)
            if s:
                s.abort()

    def _run_service(self, handler, stream, service) -> None:
        try:
            handler(self, stream, service)
        except Exception as exc:  # a broken service must not take the daemon down
            self.daemon.errors.append(f"{service}: {exc!r}")
        finally:
            stream.close()


class AdbDaemon:
    """Loopback adbd. ``auth_mode``: what happens to an unknown key offered by the client:
    'accept' (user taps Allow), 'ignore' (prompt left unanswered), 'close' (refused)."""

    def __init__(
        self,
        root: str | Path,
        port: int = 0,
        auth_mode: str = "accept",
        require_auth: bool = True,
        known_keys=(),
        features=("shell_v2", "cmd"),
        props: dict | None = None,
        shell: str | None = None,
        board: bool = False,
        npu: str | None = None,
    ):
        shell = shell or os.environ.get("EDGESEG_DEVICE_SHELL", "busybox")
        self.sandbox = (
            root if isinstance(root, PhoneSandbox) else PhoneSandbox(root, props, shell=shell, board=board, npu=npu)
        )
        self.port, self.auth_mode, self.require_auth = port, auth_mode, require_auth
        self.known_keys = list(known_keys)
        self.offered_keys: list[bytes] = []
        self.features = list(features)
        self.log: list = []
        self.errors: list[str] = []
        # fault injection
        self.drop_push_after: int | None = None  # close the connection after this many pushed bytes (once)
        self.refuse_pushes = 0  # answer FAIL to this many SENDs
        self.stall_secs = 0.0  # say nothing for this long at the next OPEN
        self.mute = False  # accept TCP connections and never say a word (a hung adbd, or not an adbd)
        # kill a shell's process group when its stream closes; False: like a phone, where what a
        # shell started in the background (a sampler loop writing to a file) outlives the connection
        self.kill_on_close = True
        self.pushes_started = 0
        self._server: socket.socket | None = None
        self._conns: list[_Connection] = []
        self._stop = threading.Event()
        self._offline_until = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> int:
        self._listen()
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self.port

    def _listen(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(8)
        srv.settimeout(0.2)
        self.port = srv.getsockname()[1]
        self._server = srv

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() < self._offline_until or self._server is None:
                time.sleep(0.05)
                if self._server is None and time.monotonic() >= self._offline_until and not self._stop.is_set():
                    self._listen()
                continue
            try:
                sock, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, sock)
            self._conns.append(conn)
            if self.mute:
                continue  # the socket stays open, unread, until stop()
            threading.Thread(target=conn.serve, daemon=True).start()

    def go_offline(self, secs: float) -> None:
        """Drop every connection and refuse new ones for ``secs`` seconds (a phone that
        leaves Wi-Fi, or a USB cable pulled), then listen again on the same port."""
        self._offline_until = time.monotonic() + secs
        srv, self._server = self._server, None
        if srv:
            srv.close()
        for c in self._conns:
            c.kill()

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.close()
        for c in self._conns:
            c.kill()
        if getattr(self, "_held", None) is not None:
            self._held.close()
            self._held = None

    def vanish(self) -> None:
        """The phone is gone: stop serving and keep the port bound without listening, so a
        reconnect is refused as for a phone that left, and no other daemon (another test's, in
        parallel) can be handed the port and answer in its place. :meth:`stop` frees it."""
        port = self.port
        self._stop.set()
        if self._server:
            try:
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it, so the port is free
            except OSError:
                pass
            self._server.close()
        for c in self._conns:
            c.kill()
        self._held = socket.socket()
        self._held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(200):  # the accept thread lets go of the listening socket within moments
            try:
                self._held.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"port {port} was not released by the stopped daemon")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- services -------------------------------------------------------------------------
    def service_for(self, service: str):
        if service.startswith("shell,") or service.startswith("shell:"):
            head, _, _ = service.partition(":")
            return self._shell_v2 if "v2" in head.split(",") else self._shell_v1
        if service.startswith("exec:"):
            return self._exec
        if service == "sync:":
            return self._sync
        return None

    def _popen(self, command: str, merge: bool):
        env = {
            **os.environ,
            "EDGESEG_SANDBOX": str(self.sandbox.root),
            "PATH": self.sandbox.path,
            "TMPDIR": str(self.sandbox.root / "data/local/tmp"),
        }
        return subprocess.Popen(
            [*self.sandbox.shell_cmd, "-c", self.sandbox.translate(command) or "true"],
            cwd=self.sandbox.root / "data/local/tmp",
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge else subprocess.PIPE,
            start_new_session=True,
        )

    def _untranslate(self, data: bytes) -> bytes:
        return data.replace(str(self.sandbox.root).encode(), b"")

    def _pump_stdin(self, stream, proc, v2: bool) -> None:
        buf = bytearray()
        while True:
            chunk = stream.inbox.get()
            if chunk is None:
                break
            if not v2:
                try:
                    proc.stdin.write(chunk)
                    proc.stdin.flush()
                except OSError:
                    break
                continue
            buf += chunk
            while len(buf) >= P.SHELL_HEADER.size:
                pid, n = P.SHELL_HEADER.unpack(buf[: P.SHELL_HEADER.size])
                if len(buf) < P.SHELL_HEADER.size + n:
                    break
                data = bytes(buf[P.SHELL_HEADER.size : P.SHELL_HEADER.size + n])
                del buf[: P.SHELL_HEADER.size + n]
                try:
                    if pid == P.SHELL_STDIN:
                        proc.stdin.write(data)
                        proc.stdin.flush()
                    elif pid == P.SHELL_CLOSE_STDIN:
                        proc.stdin.close()
                except (OSError, ValueError):
                    pass

    def _shell_v2(self, conn, stream, service) -> None:
        command = service.partition(":")[2]
        proc = stream.proc = self._popen(command, merge=False)
        threading.Thread(target=self._pump_stdin, args=(stream, proc, True), daemon=True).start()

        def reader(pipe, pid):
            while chunk := os.read(pipe.fileno(), 65536):
                stream.write(P.shell_packet(pid, self._untranslate(chunk)))

        ts = [
            threading.Thread(target=reader, args=(proc.stdout, P.SHELL_STDOUT), daemon=True),
            threading.Thread(target=reader, args=(proc.stderr, P.SHELL_STDERR), daemon=True),
        ]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        code = proc.wait()
        stream.write(P.shell_packet(P.SHELL_EXIT, bytes([code & 0xFF if code >= 0 else 128 + (-code)])))

    def _shell_v1(self, conn, stream, service) -> None:
        self._raw(stream, service.partition(":")[2], merge=True)

    def _exec(self, conn, stream, service) -> None:
        self._raw(stream, service.partition(":")[2], merge=False)

    def _raw(self, stream, command, merge) -> None:
        proc = stream.proc = self._popen(command, merge=merge)
        threading.Thread(target=self._pump_stdin, args=(stream, proc, False), daemon=True).start()
        while chunk := os.read(proc.stdout.fileno(), 65536):
            stream.write(self._untranslate(chunk))
        proc.wait()

    def _sync(self, conn, stream, service) -> None:
        def fail(msg: str):
            stream.write(b"FAIL" + struct.pack("<I", len(msg)) + msg.encode())

        while True:
            head = stream.read_exactly(8)
            if head is None:
                return
            cmd, n = head[:4], struct.unpack("<I", head[4:])[0]
            if cmd == b"QUIT":
                return
            arg = stream.read_exactly(n)
            if arg is None:
                return
            if cmd == b"STAT":
                try:
                    st = os.stat(self.sandbox.host_path(arg.decode()))
                    stream.write(b"STAT" + struct.pack("<III", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
                except OSError:
                    stream.write(b"STAT" + struct.pack("<III", 0, 0, 0))
            elif cmd == b"LIST":
                folder = self.sandbox.host_path(arg.decode())
                for entry in sorted(os.listdir(folder)) if folder.is_dir() else []:
                    st = os.lstat(folder / entry)
                    name = entry.encode()
                    stream.write(
                        b"DENT"
                        + struct.pack("<IIII", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name))
                        + name
                    )
                stream.write(b"DONE" + struct.pack("<IIII", 0, 0, 0, 0))
            elif cmd == b"SEND":
                if not self._recv_file(stream, arg.decode(), conn, fail):
                    return
            elif cmd == b"RECV":
                path = self.sandbox.host_path(arg.decode())
                if not path.is_file():
                    fail("No such file or directory")
                    continue
                with open(path, "rb") as fh:
                    while block := fh.read(P.SYNC_DATA_MAX):
                        stream.write(b"DATA" + struct.pack("<I", len(block)) + block)
                stream.write(b"DONE" + struct.pack("<I", 0))
            else:
                fail(f"unknown sync command {cmd!r}")
                return

    def _recv_file(self, stream, spec: str, conn, fail) -> bool:
        remote, _, mode = spec.rpartition(",")
        path = self.sandbox.host_path(remote)
        self.pushes_started += 1
        refuse = self.refuse_pushes > 0
        if refuse:
            self.refuse_pushes -= 1
        received = 0
        fh = None
        if not refuse:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "wb")
        try:
            while True:
                head = stream.read_exactly(8)
                if head is None:
                    return False
                tag, n = head[:4], struct.unpack("<I", head[4:])[0]
                if tag == b"DATA":
                    data = stream.read_exactly(n)
                    if data is None:
                        return False
                    if fh:
                        fh.write(data)
                    received += n
                    if self.drop_push_after is not None and received >= self.drop_push_after:
                        self.drop_push_after = None
                        conn.kill()  # the cable is pulled mid-push: a partial file stays behind
                        return False
                elif tag == b"DONE":
                    break
                else:
                    fail(f"unexpected {tag!r} during SEND")
                    return False
        finally:
            if fh:
                fh.close()
        if refuse:
            fail("couldn't create file: Permission denied")
            return True
        try:
            os.chmod(path, int(mode) & 0o777 if mode.isdigit() else 0o644)
        except (OSError, ValueError):
            pass
        stream.write(b"OKAY" + struct.pack("<I", 0))
        return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="sandbox folder (created)")
    ap.add_argument("--port", type=int, default=5555)
    ap.add_argument("--auth", choices=["accept", "ignore", "close"], default="accept")
    ap.add_argument("--no-auth", action="store_true", help="skip AUTH (like a userdebug build)")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0 = until Ctrl-C)")
    ap.add_argument(
        "--shell",
        choices=SHELLS,
        default="busybox",
        help="what runs device commands: busybox ash + applets, mksh + toybox, or the host's /bin/sh",
    )
    ap.add_argument(
        "--drive-power",
        action="store_true",
        help="drive the battery gauge and power rails: idle current, a ramp while a benchmark runs",
    )
    ap.add_argument(
        "--rails",
        choices=["sysfs", "hal", "stuck", "none"],
        default="sysfs",
        help="with --drive-power: where the rail counters are (or that they never advance)",
    )
    args = ap.parse_args()
    d = AdbDaemon(args.root, port=args.port, auth_mode=args.auth, require_auth=not args.no_auth, shell=args.shell)
    d.start()
    if args.drive_power:
        work = d.sandbox.root / "data/local/tmp/edgeseg"
        work.mkdir(parents=True, exist_ok=True)
        SensorDriver(d.sandbox, work, rails=None if args.rails == "none" else args.rails).thread.start()
    print(f"adbd listening on 127.0.0.1:{d.port}, sandbox {d.sandbox.root}", flush=True)
    try:
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    d.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
