"""Atomic file writes and checksums: a killed process never leaves a half-written file."""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .errors import OutputError


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
    # the temporary name fits the file system even when the file's own name is near its limit
    fd, tmp = tempfile.mkstemp(prefix=f".{fit_name(path.name, 200)}.", suffix=".tmp", dir=path.parent)
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
    """Typed records (a Manifest: ``to_dict``) and mappings as objects; anything else JSON
    does not know as its text."""
    if hasattr(o, "to_dict"):
        return o.to_dict()
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


class OutputPathError(OutputError):
    """An output path cannot be created or written; the message says why and what to do.
    An :class:`edgeseg.errors.EdgesegError`, so every command shows it as one line."""


#: free space a report folder needs at least (its CSVs, plots and HTML page are well under this)
REPORT_MIN_FREE = 2_000_000


def _limits(folder: str | os.PathLike) -> tuple[int, int]:
    try:
        return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        return 255, 4096


def _shown(part: str) -> str:
    return part if len(part) <= 40 else f"{part[:20]}...{part[-12:]}"


def fit_name(name: str, limit: int = 255, keep: str = "") -> str:
    """``name`` shortened to at most ``limit`` bytes (a file system's per-name limit) by
    cutting its middle and putting a short hash of the whole name there, so two long names
    stay two names; ``keep`` (a suffix such as ``.png``) is kept whole."""
    if len(os.fsencode(name + keep)) <= limit:
        return name + keep
    tag = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    room = max(0, limit - len(os.fsencode(tag + keep)))
    head = os.fsencode(name)[:room].decode("utf-8", errors="ignore")  # never half a character
    return head + tag + keep


def free_bytes(folder: str | os.PathLike) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except (OSError, ValueError):
        return None


def disk_error(exc: OSError) -> bool:
    """Whether ``exc`` says the disk (or the quota) is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def check_writable_output(
    path: str | os.PathLike,
    what: str = "the output",
    kind: str | None = None,
    min_free: int = 0,
    extra_name: int = 0,
) -> Path:
    """Check up front, before any long work, that ``path`` (a file or folder to create or
    write into) can be made: every name in it fits the file system (``PC_NAME_MAX``, and the
    whole path ``PC_PATH_MAX``), checked before anything is asked of the file system about
    the path itself; no part of it is a file where a folder is needed; ``kind="folder"``: the
    path itself is not a file, ``kind="file"``: not a folder; the nearest existing folder
    takes new entries (``os.access`` and a real probe file, which also catches read-only
    mounts) and has ``min_free`` bytes free. ``extra_name``: bytes a name written inside the
    folder adds (a report's time stamp). Nothing is created; returns the absolute path.
    Raises :class:`OutputPathError` whose message names ``what`` (e.g. ``"--out"``)."""
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    existing = path
    while not os.path.exists(existing) and existing != existing.parent:  # os.path.exists never raises
        existing = existing.parent
    name_max, path_max = _limits(existing if os.path.isdir(existing) else existing.parent)
    for part in path.parts[1:]:
        size = len(os.fsencode(part))
        if size > name_max:
            raise OutputPathError(
                f"{what} {_shown(part)!r} is a name of {size} bytes; the file system of {existing} allows "
                f"at most {name_max} per name: choose a shorter {what}"
            )
    if path_max and len(os.fsencode(str(path))) + 64 + extra_name > path_max:  # 64: room for the files inside
        raise OutputPathError(
            f"{what} {path} is {len(os.fsencode(str(path)))} bytes long; paths on this file system "
            f"are limited to {path_max}: choose a shorter {what}"
        )
    if os.path.exists(existing) and not os.path.isdir(existing) and existing != path:
        raise OutputPathError(
            f"{what} {path}: {existing} is a file, not a folder, so nothing can be created "
            f"under it; choose another {what}"
        )
    if kind == "folder" and existing == path and not os.path.isdir(path):
        raise OutputPathError(
            f"{what} {path} is a file, not a folder: name a folder (or a new name), or move the file away"
        )
    if kind == "file" and existing == path and os.path.isdir(path):
        raise OutputPathError(f"{what} {path} is a folder; name the file to write")
    folder = existing if os.path.isdir(existing) else existing.parent
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
    if os.path.isdir(path) and path != folder and not os.access(path, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path} is not writable (permission denied); choose another {what}")
    free = free_bytes(folder) if min_free else None
    if free is not None and free < min_free:
        raise OutputPathError(
            f"{what} {path}: only {_mb(free)} free on the file system of {folder}, and about {_mb(min_free)} "
            f"is needed; free some space or choose another {what}"
        )
    return path


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} KB"


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


# -- output claims: one writer per output file, across processes ------------------------------

#: the outputs this process has claimed: absolute path -> (its lock, the folders the claim created)
_CLAIMS: dict[Path, tuple[FileLock, list[Path]]] = {}


def claim_path(out: str | os.PathLike) -> Path:
    """The lock file of ``out``'s claim: ``.STEM.lock`` beside it (never longer a name than ``out``'s
    with a longer suffix, so a name that fits leaves room for it)."""
    out = Path(out)
    return out.parent / f".{out.stem}.lock"


def claim_file(out: str | os.PathLike, what: str = "--out") -> None:
    """Claim ``out`` for this process before any work, until :func:`release_claims` (or the
    process ends): another process claiming the same file (a second ``edgeseg quantize`` into
    the same ``--out``) fails at once with an :class:`OutputError` naming the holder's pid. A
    claim this process holds is held again at no cost. The folders it creates for the lock are
    removed, if still empty, when it is released."""
    key = Path(os.path.abspath(out))
    if key in _CLAIMS:
        return
    created = []
    for folder in reversed([key.parent, *key.parent.parents]):
        if not folder.exists():
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                _remove_empty(created)
                raise OutputPathError(f"cannot create {folder} for {what} {out}: {exc.strerror or exc}") from None
            created.append(folder)
    lock_path = claim_path(key)
    while True:
        lock = FileLock(lock_path)
        try:
            lock.acquire()
        except LockedError as exc:
            _remove_empty(created)
            holder = f"process {exc.pid}" if exc.pid else "a process whose pid it did not write"
            raise OutputError(
                f"{what} {out} is being written by another edgeseg ({holder}, holding {lock_path}): "
                "wait for it to finish, or write to another file"
            ) from None
        except OSError as exc:
            _remove_empty(created)
            raise OutputPathError(f"cannot create {lock_path} to claim {out}: {exc.strerror or exc}") from None
        if lock._fd is None:  # no fcntl: nothing to check
            break
        try:  # the holder before us may have removed the file between our open and our lock
            if os.stat(lock_path).st_ino == os.fstat(lock._fd).st_ino:
                break
        except FileNotFoundError:
            pass
        lock.release()
    _CLAIMS[key] = (lock, created)


def release_claims(paths: Iterable[Path] | None = None) -> None:
    """Release the claims of ``paths`` (default: all this process holds), removing their lock
    files and the empty folders they created."""
    for key in list(_CLAIMS) if paths is None else [Path(os.path.abspath(p)) for p in paths]:
        if key in _CLAIMS:
            lock, created = _CLAIMS.pop(key)
            lock.release(remove=True)
            _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def claims_released():
    """The claims taken inside the block are released when it ends, however it ends."""
    before = set(_CLAIMS)
    try:
        yield
    finally:
        release_claims([k for k in _CLAIMS if k not in before])


def releases_claims(fn):
    """A function (an export, a compile) whose output claims end with it."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with claims_released():
            return fn(*args, **kwargs)

    return wrapper


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
