"""A device profile plus a live connection, with bounded reconnects.

Picks the transport: ``tcp`` (our ADB client, `host:port`), or the `adb` server (USB
devices, or ``--transport adb-server``). A USB device is reached through the adb server
because that server, when running, holds the USB interface exclusively.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..errors import DeviceError
from .transport import AdbServerConnection, AdbTcpConnection, DeviceConnectionError, ShellResult

if TYPE_CHECKING:  # the schema's types; profiles reads this module's table at run time
    from .profiles import DeviceProfile

log = logging.getLogger(__name__)

PROPS = {
    "model": "ro.product.model", "manufacturer": "ro.product.manufacturer", "device": "ro.product.device",
    "soc_manufacturer": "ro.soc.manufacturer", "soc_model": "ro.soc.model", "platform": "ro.board.platform",
    "hardware": "ro.hardware", "android": "ro.build.version.release", "sdk": "ro.build.version.sdk",
    "abi": "ro.product.cpu.abi", "fingerprint": "ro.build.fingerprint", "serial": "ro.serialno",
}


def q(arg) -> str:
    return shlex.quote(str(arg))


def read_props(shell: Callable[[str], ShellResult]) -> dict:
    """Model, SoC, Android version, ABI ... in one shell round trip."""
    res = shell("; ".join(f"echo \"$(getprop {k})\"" for k in PROPS.values()))
    values = res.text.splitlines()
    out = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(PROPS)}
    out["soc"] = " ".join(v for v in (out["soc_manufacturer"], out["soc_model"]) if v) or out["platform"] or out["hardware"]
    return out


def adb_server_port() -> int:
    try:
        return int(os.environ.get("ANDROID_ADB_SERVER_PORT") or 5037)
    except ValueError:
        return 5037


def adb_server_running() -> bool:
    """Whether an adb server listens on its port (ANDROID_ADB_SERVER_PORT, default 5037):
    the first adb command starts one (``adb fork-server``) that keeps running after it."""
    import socket  # noqa: PLC0415

    try:
        with socket.create_connection(("127.0.0.1", adb_server_port()), timeout=0.5):
            return True
    except OSError:
        return False


ADB_SERVER_NOTE = ("started the adb server (`adb fork-server`, port {port}), which Google's adb keeps running for the "
                   "next commands and which owns the USB devices while it runs; stop it with `adb kill-server`")


def adb_devices(adb: str | None = None) -> list[dict]:
    """Devices attached to the adb server (``adb devices -l``); [] when adb is missing."""
    adb = adb or shutil.which("adb")
    if not adb:
        return []
    try:
        out = subprocess.run([adb, "devices", "-l"], capture_output=True, text=True, timeout=15).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            rows.append({"serial": parts[0], "state": parts[1],
                         **dict(p.split(":", 1) for p in parts[2:] if ":" in p)})
    return rows


class DeviceSession:
    def __init__(self, profile: DeviceProfile, serial: str | None = None, transport: str | None = None,
                 address: str | None = None, key_path: str | None = None, retries: int = 3,
                 read_timeout: float = 30.0, connect_timeout: float = 5.0, auth_timeout: float = 30.0):
        self.profile = profile
        self.transport = transport or profile.transport
        self.serial = serial or os.environ.get("ANDROID_SERIAL") or profile.serial
        self.address = address or profile.address
        self.key_path, self.retries = key_path, retries
        self.read_timeout, self.connect_timeout, self.auth_timeout = read_timeout, connect_timeout, auth_timeout
        self.conn = None
        self.reconnects = 0
        self.started_adb_server = False  # whether this session's adb calls started the adb server

    # -- connection -----------------------------------------------------------------------
    def connect(self):
        if self.conn is not None:
            return self.conn
        if self.transport not in TRANSPORTS:
            raise DeviceError(f"transport must be one of {', '.join(TRANSPORTS)}, got '{self.transport}'")
        self.conn = TRANSPORTS[self.transport].connect(self)
        return self.conn

    def reconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.reconnects += 1
        conn = self.connect()
        if isinstance(conn, AdbServerConnection):
            conn.reconnect()  # the adb server must see the device again (adb connect HOST:PORT, wait for it)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def with_retry(self, fn: Callable, what: str):
        """Run ``fn(conn)``; on a dropped connection reconnect (backoff 0.5, 1, 2 s...) and
        try again, at most ``retries`` times. Only for idempotent work."""
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return fn(self.connect())
            except DeviceConnectionError as exc:
                if attempt == self.retries:
                    raise DeviceConnectionError(
                        f"{what}: the connection to the device failed {attempt + 1} times ({exc}). Check the cable "
                        "or network, `adb devices`, and that the phone is unlocked, then run the command again") from None
                log.warning("%s: %s; reconnecting (%d/%d)", what, exc, attempt + 1, self.retries)
                time.sleep(delay)
                delay *= 2
                try:
                    self.reconnect()
                except DeviceConnectionError:
                    continue

    # -- helpers ----------------------------------------------------------------------------
    def shell(self, command: str, timeout: float | None = 60, idle_timeout: float | None = -1.0,
              retry: bool = True) -> ShellResult:
        if retry:
            return self.with_retry(lambda c: c.shell(command, timeout=timeout, idle_timeout=idle_timeout), "shell")
        return self.connect().shell(command, timeout=timeout, idle_timeout=idle_timeout)

    def getprops(self) -> dict:
        return read_props(self.shell)

    def sha256(self, remote: str) -> str | None:
        res = self.shell(f"sha256sum {q(remote)} 2>/dev/null")
        token = res.text.split()[:1]
        return token[0] if res.exit_code == 0 and token and len(token[0]) == 64 else None


def _connect_tcp(session: DeviceSession):
    """Our ADB client straight to the device's adbd (wireless debugging, boards)."""
    if not session.address or ":" not in session.address:
        raise DeviceError(f"profile '{session.profile.name}' uses tcp but has no address HOST:PORT")
    host, port = session.address.rsplit(":", 1)
    from .adbproto import load_or_create_key  # noqa: PLC0415

    key = load_or_create_key(session.key_path)
    return AdbTcpConnection.connect(host, int(port), key, session.connect_timeout, session.auth_timeout,
                                    session.read_timeout)


def _connect_adb_server(session: DeviceSession):
    """Through the `adb` server, which holds USB devices exclusively while it runs."""
    session.started_adb_server = session.started_adb_server or not adb_server_running()
    serial = session.serial
    if serial is None:
        attached = [d for d in adb_devices() if d["state"] == "device"]
        if len(attached) > 1:
            raise DeviceError("several devices are attached (" + ", ".join(d["serial"] for d in attached)
                              + "): pick one with --serial or ANDROID_SERIAL")
        if not attached and shutil.which("adb"):
            raise DeviceConnectionError("no device is attached to the adb server: plug the phone in, enable "
                                        "USB debugging, and check `adb devices`")
    return AdbServerConnection(serial)


@dataclass(frozen=True)
class Transport:
    """A row of :data:`TRANSPORTS`: how a session reaches the device."""

    name: str
    description: str
    connect: Callable[[DeviceSession], object]  # the session -> an open connection (shell, push, pull, stat)
    needs_address: bool = False  # the profile must give address = "HOST:PORT"


#: How a device is reached (a profile's ``transport``, ``--transport``), in the order listed.
TRANSPORTS: dict[str, Transport] = {
    "tcp": Transport("tcp", "our ADB client over TCP to the device's adbd (wireless debugging, boards)",
                     _connect_tcp, needs_address=True),
    "usb": Transport("usb", "a USB device, through the adb server (which owns USB devices while it runs)",
                     _connect_adb_server),
    "adb-server": Transport("adb-server", "whatever the running adb server reaches (USB, or `adb connect`ed)",
                            _connect_adb_server),
}


def _cache_path():
    from pathlib import Path  # noqa: PLC0415

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg" / "devices.json"


def remember_device(serial: str, **facts) -> None:
    """Keep what a benchmark learned about a device (e.g. its NNAPI accelerators)."""
    import json  # noqa: PLC0415

    from ..fileio import atomic_write_json  # noqa: PLC0415

    path = _cache_path()
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    data.setdefault(serial, {}).update({k: v for k, v in facts.items() if v is not None})
    try:
        atomic_write_json(path, data)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)


def known_device(serial: str) -> dict:
    import json  # noqa: PLC0415

    try:
        return json.loads(_cache_path().read_text()).get(serial, {})
    except (OSError, ValueError):
        return {}


def describe_attached() -> list[dict]:
    """Attached devices with model, SoC, Android version, ABI and (when a benchmark has seen
    them) NNAPI accelerators."""
    rows = []
    for d in adb_devices():
        row = {"serial": d["serial"], "state": d["state"], "model": d.get("model", "")}
        if d["state"] == "device":
            try:
                props = read_props(AdbServerConnection(d["serial"]).shell)
                row.update(model=props["model"], soc=props["soc"], android=props["android"], abi=props["abi"])
            except DeviceError as exc:
                row["error"] = str(exc)
        row["nnapi_accelerators"] = known_device(d["serial"]).get("nnapi_accelerators")
        rows.append(row)
    return rows
