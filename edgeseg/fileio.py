"""Atomic file writes and checksums: a killed process never leaves a half-written file."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temporary file beside ``path``, fsync, rename. The file gets the mode a
    plain ``open()`` would give it (mkstemp's 0600 would hide reports from other users)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    """Mappings (a Manifest) as objects; anything else JSON does not know as its text."""
    return dict(o) if isinstance(o, Mapping) else str(o)


def csv_text(columns: Sequence[str], rows: Iterable[Mapping]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    known = set(columns)
    for row in rows:
        extra = set(row) - known
        if extra:
            raise ValueError(f"row has columns outside the schema: {sorted(extra)}")
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    return buf.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def atomic_write_csv(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Mapping]) -> Path:
    return atomic_write_text(path, csv_text(columns, rows))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


# -- output paths and locks -----------------------------------------------------------------


class OutputPathError(ValueError):
    """An output path cannot be created or written; the message says why and what to do.
    Callers turn it into their own :class:`edgeseg.errors.EdgesegError`."""


def check_writable_output(path: str | os.PathLike, what: str = "the output") -> Path:
    """Check up front, before any long work, that ``path`` (a file or folder to create or
    write into) can be made: every name in it fits the file system (``PC_NAME_MAX``, and the
    whole path ``PC_PATH_MAX``), no part of it is a file where a folder is needed, and the
    nearest existing folder takes new entries (``os.access`` and a real probe file, which
    also catches read-only mounts). Nothing is created; returns the absolute path.
    Raises :class:`OutputPathError` whose message names ``what`` (e.g. ``"--out"``)."""
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    existing = path
    while not os.path.exists(existing) and existing != existing.parent:  # (Path.exists raises ENAMETOOLONG)
        existing = existing.parent
    if existing.exists() and not existing.is_dir() and existing != path:
        raise OutputPathError(
            f"{what} {path}: {existing} is a file, not a folder, so nothing can be created "
            f"under it; choose another {what}"
        )
    folder = existing if existing.is_dir() else existing.parent
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        name_max, path_max = 255, 4096
    for part in path.relative_to(existing).parts if existing != path else ():
        size = len(os.fsencode(part))
        if size > name_max:
            shown = part if len(part) <= 40 else f"{part[:20]}...{part[-12:]}"
            raise OutputPathError(
                f"{what} {shown!r} is a name of {size} bytes; the file system of {folder} allows at "
                f"most {name_max} per name: choose a shorter {what}"
            )
    if path_max and len(os.fsencode(str(path))) + 64 > path_max:  # 64: room for the files written inside
        raise OutputPathError(
            f"{what} {path} is {len(os.fsencode(str(path)))} bytes long; paths on this file system "
            f"are limited to {path_max}: choose a shorter {what}"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"{what} {path}: {folder} is not writable (permission denied); make it writable or choose another {what}"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgeseg-write-check-", dir=folder)
    except OSError as exc:
        raise OutputPathError(
            f"{what} {path}: cannot create files in {folder} ({exc.strerror or exc}); make it "
            f"writable or choose another {what}"
        ) from None
    os.close(fd)
    os.unlink(probe)
    if path.exists() and path.is_dir() and path != folder and not os.access(path, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path} is not writable (permission denied); choose another {what}")
    return path


class LockedError(RuntimeError):
    """Another process holds the lock; ``pid`` is its process id (None when unknown)."""

    def __init__(self, path: Path, pid: int | None):
        super().__init__(f"{path} is locked by process {pid if pid else '(unknown)'}")
        self.path, self.pid = path, pid


class FileLock:
    """An exclusive advisory lock (``fcntl.flock``) on ``path``, held while the object is
    in a ``with`` block or until :meth:`release`; the file holds the holder's pid. The lock
    goes with the process (a killed holder frees it); the file stays, empty of meaning, so
    taking the lock never races with removing it. Without ``fcntl`` (Windows) it locks
    nothing. :meth:`acquire` raises :class:`LockedError` naming the holder's pid."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    @staticmethod
    def holder(path: str | os.PathLike) -> int | None:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def acquire(self) -> FileLock:
        try:
            import fcntl
        except ImportError:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(self.path, self.holder(self.path)) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self, remove: bool = False) -> None:
        """Free the lock; with ``remove`` also delete the file (while still holding it)."""
        if self._fd is None:
            return
        try:
            if remove:
                self.path.unlink(missing_ok=True)
            else:
                os.ftruncate(self._fd, 0)
        finally:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


@contextlib.contextmanager
def scratch_dir(prefix: str = "edgeseg-"):
    """A private temporary folder that Python's ``tempfile`` and child code using ``TMPDIR``
    write into for the duration (TensorFlow's converter leaves an 11 MB SavedModel in the
    temp folder if the process is stopped inside it); removed on the way out, Ctrl-C and
    SIGTERM included."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix=prefix)
    before_env, before_mod = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = path, path
    try:
        yield Path(path)
    finally:
        tempfile.tempdir = before_mod
        if before_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before_env
        shutil.rmtree(path, ignore_errors=True)
