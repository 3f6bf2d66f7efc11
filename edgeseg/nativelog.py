"""Keeping TensorFlow's, absl's and the TFLite runtime's native log lines off the terminal
(they go to ``~/.cache/edgeseg/native.log``), while anything else written to file
descriptor 2 (errors, a crash's last words) still reaches it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def native_log_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg" / "native.log"


#: A filter process between file descriptor 2 and the terminal: every native line goes to
#: the log; the known chatter of TensorFlow, absl and the TFLite runtime stops there, the
#: rest (errors, a crash's last words) reaches the terminal, even when the process aborts.
_NATIVE_FILTER = r"""
import re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for edgeseg; the filter ends at EOF, after its last words
noise = re.compile(r"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ |E\d{4} .*(?:cuInit|cuda)|WARNING: All log messages "
                   r"before absl::InitializeLog|INFO: |fully_quantize: |Skipping the delay kernel)")
log = open(sys.argv[1], "w", errors="replace") if sys.argv[1] else None
for raw in sys.stdin.buffer:
    text = raw.decode("utf-8", "replace")
    if log:
        log.write(text)
        log.flush()
    if not noise.match(text):
        sys.stderr.write(text)
        sys.stderr.flush()
"""


def quiet_native_logs() -> Path | None:
    """TensorFlow, absl and the TFLite runtime write INFO lines ("failed call to cuInit",
    "fully_quantize: ...", "Created TensorFlow Lite XNNPACK delegate") from C++ straight to
    file descriptor 2. Without -v, descriptor 2 goes through :data:`_NATIVE_FILTER` (all of
    it into the log file, only what is not known chatter to the terminal) while Python's
    stderr (errors, warnings, progress) goes to the terminal directly. Only for a real
    process whose stderr is descriptor 2 (not under a test runner)."""
    import atexit
    import subprocess

    try:
        if sys.stderr.fileno() != 2:
            return None
    except (AttributeError, ValueError, OSError):
        return None
    path = native_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    except OSError:
        path = None
    sys.stderr.flush()
    terminal = os.dup(2)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _NATIVE_FILTER, str(path or "")],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
            close_fds=True,
        )
    except OSError:
        os.close(terminal)
        return None
    sys.stderr = os.fdopen(
        os.dup(terminal), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace"
    )
    os.dup2(proc.stdin.fileno(), 2)
    proc.stdin.close()

    def finish():
        os.dup2(terminal, 2)  # the pipe's last writer goes: the filter reads EOF and ends
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()

    atexit.register(finish)
    return path
