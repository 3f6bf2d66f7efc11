"""A device profile plus a live connection, with bounded reconnects.

Picks the transport: ``tcp`` (our ADB client, `host:port`), or the `adb` server (USB
devices, or ``--transport adb-server``). A USB device is reached through the adb server
because that server, when running, holds the USB interface exclusively.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DeviceError
from .shell import q
from .transport import AdbServerConnection, AdbTcpConnection, DeviceConnectionError, ShellResult, split_host_port

if TYPE_CHECKING:  # the profile's types
    from .spec import DeviceProfile

log = logging.getLogger(__name__)

PROPS = {
    "model": "ro.product.model",
    "manufacturer": "ro.product.manufacturer",
    "device": "ro.product.device",
    "soc_manufacturer": "ro.soc.manufacturer",
    "soc_model": "ro.soc.model",
    "platform": "ro.board.platform",
    "hardware": "ro.hardware",
    "android": "ro.build.version.release",
    "sdk": "ro.build.version.sdk",
    "abi": "ro.product.cpu.abi",
    "fingerprint": "ro.build.fingerprint",
    "serial": "ro.serialno",
}


def read_props(shell: Callable[[str], ShellResult]) -> dict:
    """Model, SoC, Android version, ABI ... in one shell round trip."""
    res = shell("; ".join(f'echo "$(getprop {k})"' for k in PROPS.values()))
    values = res.text.splitlines()
    out = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(PROPS)}
    out["soc"] = (
        " ".join(v for v in (out["soc_manufacturer"], out["soc_model"]) if v) or out["platform"] or out["hardware"]
    )
    return out


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def adb_server_address(override: str | None = None) -> tuple[str, int, str]:
    """(host, port, where it came from) of the adb server, by adb's own conventions:
    ``override`` (a profile's ``adb_server``, ``--adb-server``), else ``ADB_SERVER_SOCKET=tcp:HOST:PORT``,
    else ``ANDROID_ADB_SERVER_ADDRESS`` and ``ANDROID_ADB_SERVER_PORT``, else localhost:5037. A
    value that is not HOST:PORT is an error naming it."""
    env = os.environ
    if override:
        text, where = override, "adb_server"
    elif env.get("ADB_SERVER_SOCKET"):
        text, where = env["ADB_SERVER_SOCKET"], "ADB_SERVER_SOCKET"
        if not text.startswith("tcp:"):
            raise DeviceError(
                f"ADB_SERVER_SOCKET={text}: edgeseg reaches adb servers over TCP only; set it to "
                "tcp:HOST:PORT (or unset it)"
            )
        text = text[4:]
    else:
        port = (env.get("ANDROID_ADB_SERVER_PORT") or "5037").strip()
        text, where = f"{env.get('ANDROID_ADB_SERVER_ADDRESS') or 'localhost'}:{port}", "ANDROID_ADB_SERVER_PORT"
        if env.get("ANDROID_ADB_SERVER_ADDRESS"):
            where = "ANDROID_ADB_SERVER_ADDRESS"
        elif not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
            raise DeviceError(
                f"ANDROID_ADB_SERVER_PORT={port!r} is not a port number (1 to 65535): set it to the port of "
                "your adb server (adb's default is 5037), or unset it"
            )
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise DeviceError(f"{where} = {text!r} is not {exc}") from None
    return host, port, where


def adb_server_port() -> int:
    try:
        return adb_server_address()[1]
    except DeviceError:
        return 5037


def adb_server_running(override: str | None = None) -> bool:
    """Whether an adb server listens at its address (see :func:`adb_server_address`): the
    first adb command starts one on this machine (``adb fork-server``) that keeps running."""
    import socket

    try:
        host, port, _ = adb_server_address(override)
    except DeviceError:
        return False
    try:
        with socket.create_connection(("127.0.0.1" if host == "localhost" else host, port), timeout=0.5):
            return True
    except OSError:
        return False


def adb_server_spec(override: str | None = None) -> str | None:
    """``tcp:HOST:PORT`` for adb's ``-L`` when the server is not the default local one
    (set by ``override`` or the environment), else None (adb's defaults, and its own port variable)."""
    host, port, where = adb_server_address(override)
    if where in ("default", "ANDROID_ADB_SERVER_PORT"):
        return None
    return f"tcp:[{host}]:{port}" if ":" in host else f"tcp:{host}:{port}"


ADB_SERVER_NOTE = (
    "started the adb server (`adb fork-server`, port {port}), which Google's adb keeps running for the "
    "next commands and which owns the USB devices while it runs; stop it with `adb{port_flag} kill-server`"
)


#: whether this process started this machine's adb server (any adb command starts one, and it
#: keeps running), and whether the user was told (edgeseg.reporting.console.adb_server_note):
#: the CLI says it at the end of every command, failed ones included
ADB_SERVER = {"started": False, "said": False}


def _local_server(server: str | None) -> bool:
    try:
        return adb_server_address(server)[0] in LOCAL_HOSTS
    except DeviceError:
        return False


def adb_devices(adb: str | None = None, server: str | None = None) -> list[dict]:
    """Devices attached to the adb server (``adb devices -l``; ``server``: HOST:PORT of
    another machine's server); [] when adb is missing or the server is unreachable."""
    adb = adb or shutil.which("adb")
    if not adb:
        return []
    spec = adb_server_spec(server)
    if _local_server(server) and not adb_server_running(server):
        ADB_SERVER["started"] = True  # `adb devices` forks the server
    try:
        out = subprocess.run(
            [adb, *(["-L", spec] if spec else []), "devices", "-l"],
            capture_output=True,
            text=True,
            timeout=15,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            rows.append({"serial": parts[0], "state": parts[1], **dict(p.split(":", 1) for p in parts[2:] if ":" in p)})
    return rows


class DeviceSession:
    def __init__(
        self,
        profile: DeviceProfile,
        serial: str | None = None,
        transport: str | None = None,
        address: str | None = None,
        key_path: str | None = None,
        retries: int = 3,
        read_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        auth_timeout: float = 30.0,
        adb_server: str | None = None,
    ):
        self.profile = profile
        self.transport = transport or profile.transport
        self.serial = serial or os.environ.get("ANDROID_SERIAL") or profile.serial
        self.address = address or profile.address
        self.adb_server = adb_server or getattr(profile, "adb_server", None)  # HOST:PORT of a lab's adb server
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
                        "or network, `adb devices`, and that the phone is unlocked, then run the command again"
                    ) from None
                log.warning("%s: %s; reconnecting (%d/%d)", what, exc, attempt + 1, self.retries)
                time.sleep(delay)
                delay *= 2
                try:
                    self.reconnect()
                except DeviceConnectionError:
                    continue

    # -- helpers ----------------------------------------------------------------------------
    def shell(
        self, command: str, timeout: float | None = 60, idle_timeout: float | None = -1.0, retry: bool = True
    ) -> ShellResult:
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
    if not session.address:
        raise DeviceError(f"profile '{session.profile.name}' uses tcp but has no address HOST:PORT")
    try:
        host, port = split_host_port(session.address)
    except ValueError as exc:
        raise DeviceError(f"address {session.address!r} of profile '{session.profile.name}' is not {exc}") from None
    from .adbproto import load_or_create_key

    key = load_or_create_key(session.key_path)
    return AdbTcpConnection.connect(
        host, port, key, session.connect_timeout, session.auth_timeout, session.read_timeout
    )


def _connect_adb_server(session: DeviceSession):
    """Through the `adb` server, which holds USB devices exclusively while it runs: this
    machine's, or a lab's on another machine (``adb_server``, ADB_SERVER_SOCKET, ...). The
    first connect checks the serial against the attached devices (a typo fails at once,
    listing them); a reconnect leaves waiting for the device to the connection."""
    host, port, where = adb_server_address(session.adb_server)
    spec = adb_server_spec(session.adb_server)
    local = host in LOCAL_HOSTS
    if not local and not adb_server_running(session.adb_server):
        raise DeviceError(
            f"no adb server answers at {host}:{port} (from {where}): start it on the lab machine "
            f"with `adb -a -P {port} nodaemon server` (it must listen beyond localhost), check "
            "the network, or fix the address"
        )
    session.started_adb_server = session.started_adb_server or (local and not adb_server_running(session.adb_server))
    ADB_SERVER["started"] = ADB_SERVER["started"] or session.started_adb_server
    serial = session.serial
    if session.reconnects == 0 and shutil.which("adb"):
        every = adb_devices(server=session.adb_server)
        attached = [d for d in every if d["state"] == "device"]
        if serial is None:
            if len(attached) > 1:
                raise DeviceError(
                    "several devices are attached ("
                    + ", ".join(d["serial"] for d in attached)
                    + "): pick one with --serial or ANDROID_SERIAL"
                )
            if not attached:
                raise DeviceConnectionError(
                    "no device is attached to the adb server: plug the phone in, enable "
                    "USB debugging, and check `adb devices`"
                )
        elif serial not in {d["serial"] for d in every} and ":" not in serial:  # HOST:PORT: `adb connect` on retry
            listed = (
                ", ".join(f"{d['serial']} ({d['state']})" for d in sorted(every, key=lambda d: d["serial"])) or "none"
            )
            raise DeviceError(
                f"no device with serial '{serial}' is attached to the adb server at {host}:{port} "
                f"(attached: {listed}): check --serial / ANDROID_SERIAL / the profile's serial "
                "against `adb devices`"
            )
    return AdbServerConnection(serial, server_spec=spec)  # a network serial not yet connected: reconnect() connects it


@dataclass(frozen=True)
class Transport:
    """A row of :data:`TRANSPORTS`: how a session reaches the device."""

    name: str
    description: str
    connect: Callable[[DeviceSession], object]  # the session -> an open connection (shell, push, pull, stat)
    needs_address: bool = False  # the profile must give address = "HOST:PORT"
    via_adb_server: bool = False  # reached through an adb server (which lists its devices and serials)
    signs_with_key: bool = False  # our own client: it signs the ADB handshake with the user's adb key


#: How a device is reached (a profile's ``transport``, ``--transport``), in the order listed.
TRANSPORTS: dict[str, Transport] = {
    "tcp": Transport(
        "tcp",
        "our ADB client over TCP to the device's adbd (wireless debugging, boards)",
        _connect_tcp,
        needs_address=True,
        signs_with_key=True,
    ),
    "usb": Transport(
        "usb",
        "a USB device, through the adb server (which owns USB devices while it runs)",
        _connect_adb_server,
        via_adb_server=True,
    ),
    "adb-server": Transport(
        "adb-server",
        "whatever the running adb server reaches (USB, or `adb connect`ed)",
        _connect_adb_server,
        via_adb_server=True,
    ),
}


def _cache_path():
    from pathlib import Path

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg" / "devices.json"


def remember_device(serial: str, **facts) -> None:
    """Keep what a benchmark learned about a device (e.g. its NNAPI accelerators)."""
    import json

    from ..fileio import atomic_write_json

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
    import json

    try:
        return json.loads(_cache_path().read_text()).get(serial, {})
    except (OSError, ValueError):
        return {}


def describe_attached(server: str | None = None) -> list[dict]:
    """Attached devices with model, SoC, Android version, ABI and (when a benchmark has seen
    them) NNAPI accelerators."""
    rows = []
    for d in adb_devices(server=server):
        row = {"serial": d["serial"], "state": d["state"], "model": d.get("model", "")}
        if d["state"] == "device":
            try:
                props = read_props(AdbServerConnection(d["serial"], server_spec=adb_server_spec(server)).shell)
                row.update(model=props["model"], soc=props["soc"], android=props["android"], abi=props["abi"])
            except DeviceError as exc:
                row["error"] = str(exc)
        row["nnapi_accelerators"] = known_device(d["serial"]).get("nnapi_accelerators")
        rows.append(row)
    return rows
