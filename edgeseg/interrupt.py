"""SIGTERM handled like Ctrl-C: the code that cleans up after KeyboardInterrupt (temporary
files, a message saying how to resume) runs for ``kill``, ``timeout`` and job schedulers too,
instead of the process dying with a half-written file."""

from __future__ import annotations

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives inside :func:`sigterm_as_interrupt`;
    a :class:`KeyboardInterrupt`, so every ``except KeyboardInterrupt`` cleans up for it."""

    signal_name = "SIGTERM"


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` (once; a second SIGTERM during
    the cleanup is ignored so the cleanup finishes). Outside the main thread, or where the
    process was started with SIGTERM ignored, nothing changes. Nests: the handler in place
    before is restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        yield
        return
    fired = False

    def handler(signum, frame):
        nonlocal fired
        if fired:
            return
        fired = True
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def interrupted_by(exc: BaseException) -> str:
    """How a KeyboardInterrupt came: ``"SIGTERM"`` or ``"Ctrl-C"``."""
    return "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
