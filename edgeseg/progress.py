"""Progress bars for long work (tqdm on stderr; silent when disabled or not a terminal in CI logs)."""

from __future__ import annotations

import os
import sys


def bar(enabled: bool | None = None):
    """Return a ``progress(iterable, desc=..., total=...)`` wrapper, or ``None`` when off."""
    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("CI")
    if not enabled:
        return None
    from tqdm import tqdm  # noqa: PLC0415

    def progress(iterable, desc: str = "", total: int | None = None):
        return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stderr)

    return progress
