"""The ADB wire protocol: messages, RSA authentication, shell v2 packets, sync requests.

Follows AOSP's protocol.txt / SYNC.TXT / shell_protocol.h (packages/modules/adb). Shared by
the client (transport.py) and the test suite's device-side daemon, which is cross-checked
against Debian's real `adb` client so that this is the real protocol, not a private one.
"""

from __future__ import annotations

import base64
import errno
import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError

A_SYNC, A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH, A_STLS = (
    0x434E5953,
    0x4E584E43,
    0x4E45504F,
    0x59414B4F,
    0x45534C43,
    0x45545257,
    0x48545541,
    0x534C5453,
)
COMMAND_NAMES = {
    A_SYNC: "SYNC",
    A_CNXN: "CNXN",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
    A_AUTH: "AUTH",
    A_STLS: "STLS",
}
A_VERSION_MIN = 0x01000000
A_VERSION = 0x01000001  # skip checksums
MAX_PAYLOAD = 1024 * 1024
MAX_PAYLOAD_V1 = 4096
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
TOKEN_SIZE = 20
HEADER = struct.Struct("<6I")

# shell protocol v2 packet ids
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = range(6)
SHELL_HEADER = struct.Struct("<BI")

SYNC_DATA_MAX = 64 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not ADB."""


@dataclass
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, hex(self.command))

    def pack(self, checksum: bool = False) -> bytes:
        crc = sum(self.data) & 0xFFFFFFFF if checksum else 0
        return (
            HEADER.pack(self.command, self.arg0, self.arg1, len(self.data), crc, self.command ^ 0xFFFFFFFF) + self.data
        )


def unpack_header(raw: bytes) -> tuple[int, int, int, int, int]:
    command, arg0, arg1, length, crc, magic = HEADER.unpack(raw)
    if command not in COMMAND_NAMES or magic != command ^ 0xFFFFFFFF:
        other = what_answered(raw)
        if other:
            raise ProtocolError(f"{other} answered, not an adbd: check the address and port of the device")
        raise ProtocolError(f"bad ADB header {raw.hex()} (not an adbd, or the stream lost sync)")
    return command, arg0, arg1, length, crc


#: the first bytes of replies that are not ADB, and what sends them
OTHER_PROTOCOLS = ((b"HTTP/", "an HTTP server"), (b"SSH-", "an SSH server"), (b"\x16\x03", "a TLS server"))


def what_answered(raw: bytes) -> str | None:
    """What sent ``raw`` where an ADB header was expected, when it is recognisably something
    else: a known protocol's greeting, or text (shown, up to its first line end)."""
    for prefix, name in OTHER_PROTOCOLS:
        if raw.startswith(prefix):
            line = raw.split(b"\r")[0].split(b"\n")[0].decode("ascii", "replace")
            return f"{name} ({line!r})" if prefix != b"\x16\x03" else name
    text = raw.split(b"\n")[0].rstrip(b"\r")
    if len(text) >= 4 and all(32 <= b < 127 or b == 9 for b in text):
        return f"a service that speaks text ({text.decode('ascii')!r})"
    return None


def parse_banner(data: bytes) -> dict:
    """``device::ro.product.model=Pixel 8;features=shell_v2,cmd`` -> dict with 'kind' and props."""
    text = data.rstrip(b"\0").decode("utf-8", "replace")
    kind, _, rest = text.partition(":")
    _, _, props = rest.partition(":")
    out = {"kind": kind}
    for item in props.split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k] = v
    out["features"] = set(filter(None, out.get("features", "").split(",")))
    return out


# -- RSA keys (compatible with Google's adb: ~/.android/adbkey PEM, adbkey.pub Android format) --


def default_key_path() -> Path:
    return Path(os.environ.get("ADB_KEY_PATH") or Path.home() / ".android" / "adbkey")


def load_or_create_key(path: str | os.PathLike | None = None):
    """Load the user's adb private key, creating it (mode 0600, plus adbkey.pub) if missing.

    Created atomically: the key is written whole to a temporary file that is then linked to
    its name, which fails if another process (a parallel session) got there first; that
    key is then the one used. Errors (a read-only HOME, a key that is not PEM) say what to do."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = Path(path) if path else default_key_path()
    if not path.is_file():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        try:
            _create_key_file(path, key)
        except OSError as exc:
            raise DeviceError(
                f"cannot create the adb key {path} ({exc.strerror or exc}): pass --adb-key PATH (an existing adb "
                "private key, or a path in a writable folder where one is created) or set ADB_KEY_PATH"
            ) from None
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise DeviceError(
            f"cannot read the adb key {path} ({exc.strerror or exc}): make it readable, or pass --adb-key PATH"
        ) from None
    except (ValueError, TypeError) as exc:
        raise DeviceError(
            f"{path} is not an unencrypted PEM private key ({exc}): pass --adb-key PATH with adb's "
            "key (~/.android/adbkey), or move the file away to have a new one created"
        ) from None


def _create_key_file(path: Path, key) -> None:
    """Write ``key`` (and its .pub) at ``path`` unless a key is already there; safe when
    several threads or processes do it at once (the first one's key wins, whole)."""
    from cryptography.hazmat.primitives import serialization

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and refuses to replace a key another session just wrote
        except FileExistsError:
            return
        except OSError as exc:  # a file system without hard links: exclusive create, written whole before it is read
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            try:
                fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd2, "wb") as fh:
                fh.write(pem)
        pub_tmp = tmp.with_suffix(".pub")
        pub_tmp.write_bytes(encode_public_key(key.public_key()) + b" edgeseg@host\n")
        os.replace(pub_tmp, Path(str(path) + ".pub"))
    finally:
        tmp.unlink(missing_ok=True)


def encode_public_key(pub) -> bytes:
    """Android's RSAPublicKey struct (len, n0inv, n[], rr[], exponent), base64."""
    nums = pub.public_numbers()
    n, e = nums.n, nums.e
    words = pub.key_size // 32
    n0inv = (-pow(n, -1, 1 << 32)) % (1 << 32)
    rr = pow(2, 2 * pub.key_size, n)
    raw = struct.pack("<II", words, n0inv)
    raw += b"".join(struct.pack("<I", (n >> (32 * i)) & 0xFFFFFFFF) for i in range(words))
    raw += b"".join(struct.pack("<I", (rr >> (32 * i)) & 0xFFFFFFFF) for i in range(words))
    raw += struct.pack("<I", e)
    return base64.b64encode(raw)


def decode_public_key(b64: bytes):
    from cryptography.hazmat.primitives.asymmetric import rsa

    raw = base64.b64decode(b64.strip().split(b" ")[0].rstrip(b"\0"))
    words = struct.unpack_from("<I", raw, 0)[0]
    if len(raw) != 8 + 8 * words + 4:
        raise ProtocolError("malformed Android RSA public key")
    n = sum(struct.unpack_from("<I", raw, 8 + 4 * i)[0] << (32 * i) for i in range(words))
    e = struct.unpack_from("<I", raw, 8 + 8 * words)[0]
    return rsa.RSAPublicNumbers(e, n).public_key()


def sign_token(key, token: bytes) -> bytes:
    """adbd verifies RSA PKCS#1 v1.5 over the token taken as a SHA-1 digest."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    return key.sign(token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))


def verify_token(pub, token: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    try:
        pub.verify(signature, token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
        return True
    except (InvalidSignature, ValueError):
        return False


# -- shell v2 and sync framing --------------------------------------------------------------


def shell_packet(packet_id: int, data: bytes) -> bytes:
    return SHELL_HEADER.pack(packet_id, len(data)) + data


def sync_request(cmd: bytes, payload: bytes | int = b"") -> bytes:
    if isinstance(payload, int):
        return cmd + struct.pack("<I", payload)
    return cmd + struct.pack("<I", len(payload)) + payload
