"""Put files on the device: verified by sha256 on the device, resumable, never half-written.

Each file goes to ``NAME.part`` first, is checked on the device, then renamed into place:
a dropped connection or a refused push leaves the previous good file (or nothing), never a
corrupted one under the real name. A file the device already holds with the same checksum
is not sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..artifact import check_tflite_file, manifest_path
from ..errors import DeviceError
from ..fileio import sha256_file
from .session import DeviceSession
from .shell import q
from .transport import DeviceConnectionError

log = logging.getLogger(__name__)


def ensure_file(
    session: DeviceSession,
    local: str | Path,
    name: str | None = None,
    mode: int = 0o644,
    progress: Callable[[int], None] | None = None,
    attempts: int = 3,
) -> dict:
    """Make ``work_dir/name`` on the device hold exactly ``local``. Returns what happened."""
    local = Path(local)
    digest = sha256_file(local)
    remote = session.profile.remote(name or local.name)
    part = remote + ".part"
    session.shell(f"mkdir -p {q(session.profile.work_dir)}").check("creating the work dir")
    if session.sha256(remote) == digest:
        return {"remote": remote, "sha256": digest, "skipped": True, "attempts": 0, "bytes": local.stat().st_size}
    last = None
    for attempt in range(1, attempts + 1):
        try:
            session.connect().push(local, part, mode=mode, progress=progress)
            got = session.sha256(part)
            if got != digest:
                last = DeviceError(
                    f"checksum mismatch on the device after pushing {local.name} "
                    f"({(got or 'no file')[:12]} vs {digest[:12]})"
                )
                log.warning("%s; pushing again (%d/%d)", last, attempt, attempts)
                continue
            session.shell(f"chmod {mode:o} {q(part)} && mv -f {q(part)} {q(remote)}").check(f"installing {local.name}")
            return {
                "remote": remote,
                "sha256": digest,
                "skipped": False,
                "attempts": attempt,
                "bytes": local.stat().st_size,
            }
        except DeviceConnectionError as exc:
            last = exc
            log.warning("push of %s interrupted (%s); reconnecting (%d/%d)", local.name, exc, attempt, attempts)
            try:
                session.reconnect()
            except DeviceConnectionError as again:
                last = again
        except DeviceError as exc:  # refused: permission, disk full ... retrying will not help
            _cleanup(session, part)
            raise DeviceError(f"pushing {local.name} to {remote} failed: {exc}") from None
    _cleanup(session, part)
    raise DeviceError(f"pushing {local.name} to {remote} failed after {attempts} attempts: {last}")


def _cleanup(session: DeviceSession, part: str) -> None:
    try:
        session.shell(f"rm -f {q(part)}", retry=False)
    except DeviceError:
        pass


def deploy(session: DeviceSession, artifact: str | Path, progress_factory=None) -> dict:
    """Push an artifact and its manifest to the profile's work dir."""
    artifact = check_tflite_file(artifact)
    bar = progress_factory(artifact.stat().st_size, artifact.name) if progress_factory else None
    res = ensure_file(session, artifact, progress=bar.update if bar else None)
    if bar:
        bar.close()
    man = manifest_path(artifact)
    res["manifest"] = ensure_file(session, man)["remote"] if man.is_file() else None
    return res
