"""Quoting for the commands edgeseg sends to a device: one home for it. Device shells are
busybox ash or mksh (POSIX sh, no bash), where single quotes are the only quoting that leaves
every byte alone; shlex.quote writes exactly that."""

from __future__ import annotations

import shlex


def q(arg) -> str:
    """``arg`` as one word of a POSIX shell command line."""
    return shlex.quote(str(arg))
