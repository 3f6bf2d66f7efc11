"""Progress on stderr for long work: tqdm bars on a terminal, plain lines in a pipe or a CI
log (so a log is never silent for minutes, and never fills with bar redraws)."""

from __future__ import annotations

import sys
import time

#: In a pipe, at most one progress line per task this often (seconds), plus one at its end.
LINE_EVERY_S = 10.0


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bar(enabled: bool | None = None, stream=None, every_s: float = LINE_EVERY_S):
    """Return a ``progress(iterable, desc=..., total=...)`` wrapper, or ``None`` when off.

    On a terminal: a tqdm bar that disappears when done. Otherwise: a line
    ``desc i/total (s)`` every ``every_s`` seconds and one when the work ends."""
    if enabled is False:
        return None
    stream = stream or sys.stderr
    if _isatty(stream):
        from tqdm import tqdm

        def progress(iterable, desc: str = "", total: int | None = None):
            return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=stream)

        return progress

    def lines(iterable, desc: str = "", total: int | None = None):
        total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        start = last = time.monotonic()
        i = 0
        for i, item in enumerate(iterable, start=1):
            yield item
            now = time.monotonic()
            if now - last >= every_s:
                last = now
                print(
                    f"{desc} {i}/{total if total is not None else '?'} ({now - start:.0f} s)", file=stream, flush=True
                )
        if time.monotonic() - start >= 1.0:
            print(
                f"{desc} {i}/{total if total is not None else i} done ({time.monotonic() - start:.0f} s)",
                file=stream,
                flush=True,
            )

    return lines


class StepReporter:
    """Per-step training progress: on a terminal a bar that is cleared before each epoch
    line (the two never share a line); in a pipe a line every ``every_s`` seconds."""

    def __init__(self, stream=None, every_s: float = 30.0, tty: bool | None = None, enabled: bool = True):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.every_s = every_s
        self._bar = None
        self._last = time.monotonic()

    def batch(self, r: dict) -> None:
        if not self.enabled:
            return
        if self.tty:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=r["steps"],
                    desc=f"epoch {r['epoch']}/{r['epochs']}",
                    leave=False,
                    dynamic_ncols=True,
                    file=self.stream,
                )
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{r['loss']:.4f}", refresh=False)
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            print(
                f"epoch {r['epoch']}/{r['epochs']}  batch {r['batch']}/{r['steps']}  loss {r['loss']:.4f}",
                file=self.stream,
                flush=True,
            )

    def line(self, text: str) -> None:
        self.close()
        print(text, file=self.stream, flush=True)
        self._last = time.monotonic()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
