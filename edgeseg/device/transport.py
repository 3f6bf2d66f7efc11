"""Talking to a device: the ADB protocol over TCP (pure Python), or the `adb` server.

Our own client rather than adb-shell 0.4.4, whose defects sit in its core I/O loop:
TCP writes that ignore short sends (silent truncation of large pushes), a dropped
connection that spins until the read timeout, a 10 s default read timeout that a silent
benchmark exceeds, and shell v1 only (no exit status, stderr mixed into stdout). Here every
write is ``sendall``, EOF is an immediate :class:`DeviceConnectionError`, each call has an
idle timeout and an overall deadline of its own, and shell uses the v2 protocol (exit code,
separate stderr) whenever the device offers it, with a v1 fallback that still recovers the
exit status.
"""

from __future__ import annotations

import os
import secrets
import select
import shlex
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError
from . import adbproto as P


def split_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as (host, port); ValueError saying what is expected."""
    host, sep, port = str(text).strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    # isascii: str.isdigit takes '²' and '٣', which int() refuses or reads as another number
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError("HOST:PORT with a port from 1 to 65535")
    return host, int(port)


class DeviceConnectionError(DeviceError):
    """The device is unreachable or the connection dropped."""


class DeviceAuthError(DeviceError):
    """The device did not accept our key."""


class DeviceTimeout(DeviceError):
    """The device stayed silent for longer than allowed."""


@dataclass
class ShellResult:
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def check(self, what: str) -> ShellResult:
        if self.exit_code != 0:
            err = (self.stderr or self.stdout).decode("utf-8", "replace").strip().splitlines()
            raise DeviceError(f"{what} failed on the device (exit {self.exit_code}): {err[-1] if err else 'no output'}")
        return self


class _Stream:
    def __init__(self, conn: AdbTcpConnection, local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.closed = False
        self.buffer = bytearray()

    def write(self, data: bytes, deadline: float | None = None, last: bool = False) -> None:
        """Send ``data`` with flow control. ``last``: the peer may close the stream as its
        answer (sync QUIT), which then counts as acknowledged."""
        view = memoryview(data)
        step = self.conn.max_payload
        for off in range(0, len(view), step):
            if self.closed:
                raise DeviceConnectionError("the device closed the stream while we were writing")
            self.conn._send(P.Message(P.A_WRTE, self.local_id, self.remote_id, bytes(view[off : off + step])))
            self.conn._wait_okay(self, deadline, closing_ok=last)

    def read_some(self, deadline: float | None = None, idle: float | None = None) -> bytes | None:
        """Next chunk of data, or None when the stream is closed."""
        while not self.buffer and not self.closed:
            self.conn._pump(self, deadline, idle)
        if self.buffer:
            out = bytes(self.buffer)
            self.buffer.clear()
            return out
        return None

    def read_exactly(self, n: int, deadline: float | None = None, idle: float | None = None) -> bytes:
        while len(self.buffer) < n:
            if self.closed:
                raise DeviceConnectionError(f"stream closed after {len(self.buffer)} of {n} bytes")
            self.conn._pump(self, deadline, idle)
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.conn._send(P.Message(P.A_CLSE, self.local_id, self.remote_id))
            except DeviceError:
                pass


class AdbTcpConnection:
    """One authenticated ADB connection to a device's adbd over TCP."""

    def __init__(self, sock: socket.socket, banner: dict, max_payload: int, address: str, read_timeout: float):
        self.sock, self.banner, self.max_payload, self.address = sock, banner, max_payload, address
        self.read_timeout = read_timeout
        self._next_id = 1
        self._okay_pending: set[int] = set()

    # -- connection setup ---------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        key=None,
        connect_timeout: float = 5.0,
        auth_timeout: float = 30.0,
        read_timeout: float = 30.0,
    ) -> AdbTcpConnection:
        address = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise DeviceConnectionError(
                f"cannot reach {address}: {exc.strerror or exc}. Is the device on this network with "
                "wireless debugging (or `adb tcpip 5555`) enabled?"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self = cls(sock, {}, P.MAX_PAYLOAD_V1, address, read_timeout)
        self._send(P.Message(P.A_CNXN, P.A_VERSION, P.MAX_PAYLOAD, b"host::features=shell_v2,cmd\0"))
        if key is None:
            key = P.load_or_create_key()
        sent_pubkey = signed = heard = False
        start = time.monotonic()
        deadline = start + auth_timeout
        while True:
            try:
                # an adbd answers a CNXN at once (CNXN or an AUTH token); only then may the
                # user take up to auth_timeout to accept the prompt
                msg = self._recv(deadline=deadline if heard else min(deadline, start + connect_timeout), idle=None)
            except DeviceTimeout:
                self.close()
                if not heard:
                    raise DeviceConnectionError(
                        f"{address} accepted the TCP connection but said nothing for {connect_timeout:.0f} s: it is "
                        "not an adbd, or the adbd is hung. Check HOST:PORT (wireless debugging shows its own port "
                        "under 'IP address & Port'), or toggle debugging off and on, then run again"
                    ) from None
                raise DeviceAuthError(
                    f"{address} did not accept this computer's adb key within {auth_timeout:.0f} s: unlock the "
                    "phone and accept the 'Allow USB debugging?' prompt (tick 'Always allow'), then run again"
                ) from None
            except DeviceConnectionError:
                if sent_pubkey:
                    raise DeviceAuthError(
                        f"{address} closed the connection when shown our adb key: the prompt was dismissed or "
                        "debugging authorisations were revoked; accept the prompt on the device and retry"
                    ) from None
                raise
            heard = True
            if msg.command == P.A_CNXN:
                self.banner = P.parse_banner(msg.data)
                self.max_payload = min(msg.arg1, P.MAX_PAYLOAD) or P.MAX_PAYLOAD_V1
                return self
            if msg.command == P.A_AUTH and msg.arg0 == P.AUTH_TOKEN:
                if not signed:
                    signed = True
                    self._send(P.Message(P.A_AUTH, P.AUTH_SIGNATURE, 0, P.sign_token(key, msg.data)))
                elif not sent_pubkey:
                    sent_pubkey = True
                    pub = P.encode_public_key(key.public_key()) + b" edgeseg@host\0"
                    self._send(P.Message(P.A_AUTH, P.AUTH_RSAPUBLICKEY, 0, pub))
                continue
            raise DeviceConnectionError(f"{address} sent {msg.name} during the handshake; is that an adbd?")

    @property
    def features(self) -> set[str]:
        return self.banner.get("features", set())

    # -- message I/O ----------------------------------------------------------------------
    def _send(self, msg: P.Message) -> None:
        try:
            self.sock.sendall(msg.pack())
        except OSError as exc:
            raise DeviceConnectionError(f"connection to {self.address} dropped while sending: {exc}") from None

    def _read_n(self, n: int, deadline: float | None, idle: float | None) -> bytes:
        chunks, got = [], 0
        while got < n:
            now = time.monotonic()
            waits = [w for w in (idle, None if deadline is None else deadline - now) if w is not None]
            wait = max(0.0, min(waits)) if waits else None
            try:  # poll, not select: select() fails for descriptors above 1023 (a long sweep, a device lab)
                poller = select.poll()
                poller.register(self.sock, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)
                ready = poller.poll(None if wait is None else wait * 1000.0)
            except (OSError, ValueError) as exc:
                raise DeviceConnectionError(f"connection to {self.address} is closed: {exc}") from None
            if not ready:
                raise DeviceTimeout(f"{self.address} sent nothing for {wait:.1f} s")
            try:
                chunk = self.sock.recv(n - got)
            except OSError as exc:
                raise DeviceConnectionError(f"connection to {self.address} dropped: {exc}") from None
            if not chunk:
                raise DeviceConnectionError(f"connection to {self.address} dropped (the device closed it)")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _recv(self, deadline: float | None = None, idle: float | None = -1.0) -> P.Message:
        idle = self.read_timeout if idle == -1.0 else idle
        try:
            command, a0, a1, length, _ = P.unpack_header(self._read_n(P.HEADER.size, deadline, idle))
        except P.ProtocolError as exc:
            raise DeviceConnectionError(f"{self.address}: {exc}") from None
        data = self._read_n(length, deadline, idle) if length else b""
        return P.Message(command, a0, a1, data)

    def _pump(self, stream: _Stream, deadline=None, idle=-1.0) -> None:
        msg = self._recv(deadline, idle)
        if msg.arg1 != stream.local_id:
            if msg.command == P.A_WRTE:  # a stale stream: refuse politely
                self._send(P.Message(P.A_CLSE, 0, msg.arg0))
            return
        if msg.command == P.A_WRTE:
            stream.buffer += msg.data
            self._send(P.Message(P.A_OKAY, stream.local_id, stream.remote_id))
        elif msg.command == P.A_OKAY:
            self._okay_pending.discard(stream.local_id)
        elif msg.command == P.A_CLSE:
            stream.closed = True

    def _wait_okay(self, stream: _Stream, deadline=None, closing_ok: bool = False) -> None:
        self._okay_pending.add(stream.local_id)
        while stream.local_id in self._okay_pending:
            if stream.closed:
                self._okay_pending.discard(stream.local_id)
                if closing_ok:
                    return
                raise DeviceConnectionError("the device closed the stream before acknowledging our data")
            self._pump(stream, deadline)

    def open(self, service: str, deadline: float | None = None) -> _Stream:
        local = self._next_id
        self._next_id += 1
        self._send(P.Message(P.A_OPEN, local, 0, service.encode() + b"\0"))
        while True:
            msg = self._recv(deadline)
            if msg.arg1 != local:
                continue
            if msg.command == P.A_OKAY:
                return _Stream(self, local, msg.arg0)
            if msg.command == P.A_CLSE:
                raise DeviceError(f"the device refused the service '{service.split(':')[0]}'")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # -- services -------------------------------------------------------------------------
    def shell(
        self,
        command: str,
        timeout: float | None = None,
        idle_timeout: float | None = -1.0,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> ShellResult:
        """Run ``command``; return exit code, stdout and stderr. ``timeout`` bounds the whole
        call; ``idle_timeout`` (default: the connection's read timeout, None = no limit) bounds
        silence."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if "shell_v2" in self.features:
            return self._shell_v2(command, deadline, idle_timeout, on_stdout)
        return self._shell_v1(command, deadline, idle_timeout, on_stdout)

    def _shell_v2(self, command, deadline, idle, on_stdout) -> ShellResult:
        stream = self.open(f"shell,v2,raw:{command}", deadline)
        out, err, code = bytearray(), bytearray(), None
        try:
            while True:
                try:
                    head = stream.read_exactly(P.SHELL_HEADER.size, deadline, idle)
                except DeviceConnectionError:
                    if stream.closed and not stream.buffer:
                        break
                    raise
                pid, length = P.SHELL_HEADER.unpack(head)
                data = stream.read_exactly(length, deadline, idle) if length else b""
                if pid == P.SHELL_STDOUT:
                    out += data
                    if on_stdout:
                        on_stdout(data)
                elif pid == P.SHELL_STDERR:
                    err += data
                elif pid == P.SHELL_EXIT:
                    code = data[0] if data else 255
                    break
        finally:
            stream.close()
        if code is None:
            raise DeviceConnectionError(f"the shell on {self.address} ended without an exit status")
        return ShellResult(code, bytes(out), bytes(err))

    def _shell_v1(self, command, deadline, idle, on_stdout) -> ShellResult:
        marker = f"__EDGESEG_RC_{secrets.token_hex(6)}="
        stream = self.open(f"shell:( {command}\n) 2>&1; echo {marker}$?", deadline)
        out = bytearray()
        while (chunk := stream.read_some(deadline, idle)) is not None:
            out += chunk
            if on_stdout:
                on_stdout(chunk)
        stream.close()
        text = bytes(out)
        idx = text.rfind(marker.encode())
        if idx < 0:
            raise DeviceConnectionError(f"the shell on {self.address} ended without an exit status")
        code = int(text[idx + len(marker) :].strip() or b"255")
        return ShellResult(code, text[:idx], b"")

    def stat(self, remote: str) -> tuple[int, int, int]:
        """(mode, size, mtime); mode 0 means the path does not exist."""
        stream = self.open("sync:")
        try:
            stream.write(P.sync_request(b"STAT", remote.encode()))
            reply = stream.read_exactly(16)
            if reply[:4] != b"STAT":
                raise DeviceError(f"unexpected sync reply {reply[:4]!r} to STAT")
            stream.write(P.sync_request(b"QUIT", 0), last=True)
            return struct.unpack("<III", reply[4:])
        finally:
            stream.close()

    def push(
        self,
        local: str | os.PathLike,
        remote: str,
        mode: int = 0o644,
        progress: Callable[[int], None] | None = None,
        timeout: float | None = None,
    ) -> int:
        """Send a file with sync SEND; return the bytes sent. The caller verifies the checksum."""
        deadline = None if timeout is None else time.monotonic() + timeout
        stream = self.open("sync:", deadline)
        sent = 0
        try:
            stream.write(P.sync_request(b"SEND", f"{remote},{mode}".encode()), deadline)
            with open(local, "rb") as fh:
                while block := fh.read(P.SYNC_DATA_MAX):
                    stream.write(P.sync_request(b"DATA", block), deadline)
                    sent += len(block)
                    if progress:
                        progress(len(block))
            stream.write(P.sync_request(b"DONE", int(time.time())), deadline)
            reply = stream.read_exactly(8, deadline)
            if reply[:4] == b"FAIL":
                n = struct.unpack("<I", reply[4:])[0]
                raise DeviceError(
                    f"the device refused the push to {remote}: "
                    f"{stream.read_exactly(n, deadline).decode('utf-8', 'replace')}"
                )
            if reply[:4] != b"OKAY":
                raise DeviceError(f"unexpected sync reply {reply[:4]!r} to SEND")
            stream.write(P.sync_request(b"QUIT", 0), deadline, last=True)
        finally:
            stream.close()
        return sent

    def pull(self, remote: str, local: str | os.PathLike, timeout: float | None = None) -> int:
        """Receive a file with sync RECV into ``local`` atomically; return its size."""
        deadline = None if timeout is None else time.monotonic() + timeout
        local = Path(local)
        tmp = local.with_name(f".{local.name}.part")
        stream = self.open("sync:", deadline)
        size = 0
        try:
            stream.write(P.sync_request(b"RECV", remote.encode()), deadline)
            with open(tmp, "wb") as fh:
                while True:
                    head = stream.read_exactly(8, deadline)
                    tag, n = head[:4], struct.unpack("<I", head[4:])[0]
                    if tag == b"DATA":
                        fh.write(stream.read_exactly(n, deadline))
                        size += n
                    elif tag == b"DONE":
                        break
                    elif tag == b"FAIL":
                        raise DeviceError(f"cannot pull {remote}: {stream.read_exactly(n).decode('utf-8', 'replace')}")
                    else:
                        raise DeviceError(f"unexpected sync reply {tag!r} to RECV")
            stream.write(P.sync_request(b"QUIT", 0), deadline, last=True)
            os.replace(tmp, local)
        finally:
            stream.close()
            tmp.unlink(missing_ok=True)
        return size


#: What Google's adb prints (on stdout or stderr, depending on the version and the
#: command) when the device or the connection to it is gone, as opposed to a refusal by the
#: device (permission, full disk) that retrying cannot fix.
ADB_CONNECTION_ERRORS = (
    "no devices",
    "device offline",
    "not found",
    "device still connecting",
    "closed",
    "protocol fault",
    "connection reset",
    "connection refused",
    "failed to connect",
    "broken pipe",
    "unexpected eof",
    "cannot connect",
    "failed to read",
    "failed to write",
    "connection timed out",
    "transport",
    "disconnected",
    "couldn't read from device",
    "couldn't write to device",
)
ADB_AUTH_ERRORS = ("unauthorized", "authenticat")
#: A device that stays ``unauthorized`` this long after (re)connecting is waiting for the user
#: (the 'Allow USB debugging?' prompt); a shorter spell is the key exchange of a new connection.
AUTH_SETTLE_S = 3.0


class AdbServerConnection:
    """The same calls through Google's `adb` binary and its server (USB devices held by a
    running adb server, or `--transport adb-server`). adb's errors are read from stdout and
    stderr together; a lost device is a :class:`DeviceConnectionError` (retried by the
    session and by deploy, like the TCP transport), an unaccepted key a
    :class:`DeviceAuthError`, and a refusal a :class:`DeviceError` with the device's
    reason."""

    def __init__(
        self, serial: str | None, adb: str | None = None, server_port: int | None = None, server_spec: str | None = None
    ):
        self.adb = adb or shutil.which("adb")
        if not self.adb:
            raise DeviceError(
                "the adb binary is not installed: install Android platform-tools "
                "(Debian/Ubuntu: apt-get install adb) or use --transport tcp"
            )
        self.serial, self.server_port = serial, server_port
        self.server_spec = server_spec  # adb's -L tcp:HOST:PORT: another machine's adb server (a device lab)
        self.address = serial or "adb-server"
        self.banner = {"features": {"shell_v2"}}
        self.features = self.banner["features"]

    def _server_args(self) -> list[str]:
        if self.server_spec:
            return ["-L", self.server_spec]
        return ["-P", str(self.server_port)] if self.server_port else []

    def _base(self) -> list[str]:
        cmd = [self.adb, *self._server_args()]
        if self.serial:
            cmd += ["-s", self.serial]
        return cmd

    def _run(self, args, timeout=None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(self._base() + args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeviceTimeout(f"adb {' '.join(args[:1])} on {self.address} took longer than {timeout:g} s") from None

    @staticmethod
    def adb_lines(res: subprocess.CompletedProcess) -> list[str]:
        """adb's own error lines (``error: ...``, ``adb: ...``), from both streams: Debian's
        adb writes push errors to stdout."""
        text = (res.stderr or b"").decode("utf-8", "replace") + "\n" + (res.stdout or b"").decode("utf-8", "replace")
        return [ln.strip() for ln in text.splitlines() if ln.strip().lower().startswith(("error:", "adb:"))]

    @classmethod
    def adb_message(cls, res: subprocess.CompletedProcess) -> str:
        own = cls.adb_lines(res)
        if own:
            return " | ".join(own)
        text = (res.stderr or b"").decode("utf-8", "replace") + "\n" + (res.stdout or b"").decode("utf-8", "replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return " | ".join(lines[-2:]) or f"adb exited with status {res.returncode} and said nothing"

    def _fail(self, what: str, res: subprocess.CompletedProcess) -> DeviceError:
        msg = self.adb_message(res)
        low = " ".join(self.adb_lines(res)).lower()
        if any(k in low for k in ADB_AUTH_ERRORS):
            return DeviceAuthError(
                f"{self.address} has not accepted this computer's adb key ({msg}): unlock the "
                "phone and accept the 'Allow USB debugging?' prompt (tick 'Always allow'), then "
                "run again"
            )
        if any(k in low for k in ADB_CONNECTION_ERRORS):
            return DeviceConnectionError(f"{what} on {self.address}: {msg}")
        return DeviceError(f"{what} failed: {msg}")

    def shell(self, command: str, timeout=None, idle_timeout=None, on_stdout=None) -> ShellResult:
        res = self._run(["shell", command], timeout)
        if res.returncode != 0 and self.adb_lines(res):
            # adb's own failure to reach the device (a non-zero status alone is the command's)
            err = self._fail("adb shell", res)
            if isinstance(err, (DeviceConnectionError, DeviceAuthError)):
                raise err
        if on_stdout:
            on_stdout(res.stdout)
        return ShellResult(res.returncode, res.stdout, res.stderr)

    def push(self, local, remote, mode=0o644, progress=None, timeout=None) -> int:
        res = self._run(["push", str(local), remote], timeout)
        if res.returncode != 0:
            raise self._fail(f"adb push of {Path(local).name}", res)
        size = Path(local).stat().st_size
        if progress:
            progress(size)
        return size

    def pull(self, remote, local, timeout=None) -> int:
        local = Path(local)
        tmp = local.with_name(f".{local.name}.part")
        res = self._run(["pull", remote, str(tmp)], timeout)
        if res.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise self._fail(f"adb pull of {remote}", res)
        os.replace(tmp, local)
        return local.stat().st_size

    def stat(self, remote: str):
        res = self.shell(f"stat -c '%f %s %Y' {shlex.quote(remote)} 2>/dev/null")
        if res.exit_code != 0:
            return (0, 0, 0)
        mode, size, mtime = res.text.split()
        return (int(mode, 16), int(size), int(mtime))

    def state(self) -> str:
        res = self._run(["get-state"], timeout=15)
        return (res.stdout or b"").decode().strip() if res.returncode == 0 else self.adb_message(res)

    def reconnect(self, timeout: float = 15.0) -> None:
        """Bring the device back on the adb server: ``adb connect`` again for a network
        device (HOST:PORT), then wait until it is a ``device`` again (bounded)."""
        deadline = time.monotonic() + timeout
        state, unauthorized_since = "", None
        while time.monotonic() < deadline:
            if self.serial and ":" in self.serial and "unauthorized" not in state:
                if state and state != "device":  # adb retries an offline network device slowly: start over
                    self._run_plain(["disconnect", self.serial])
                self._run_plain(["connect", self.serial])
            state = self.state()
            if state == "device":
                return
            if "unauthorized" not in state:
                unauthorized_since = None
            elif unauthorized_since is None:  # a fresh connection is unauthorized until its key exchange ends
                unauthorized_since = time.monotonic()
            elif time.monotonic() - unauthorized_since >= AUTH_SETTLE_S or time.monotonic() + 0.5 >= deadline:
                raise DeviceAuthError(
                    f"{self.address} is unauthorized on the adb server: accept the 'Allow USB "
                    "debugging?' prompt on the phone, then run again"
                )
            time.sleep(0.5)
        raise DeviceConnectionError(
            f"{self.address} did not come back on the adb server within {timeout:.0f} s (state: {state or 'unknown'})"
        )

    def _run_plain(self, args) -> None:
        cmd = [self.adb, *self._server_args(), *args]
        try:
            subprocess.run(cmd, capture_output=True, timeout=15, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        pass
