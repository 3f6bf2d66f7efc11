"""What a device profile may name, read from the tables each time (a row added to a table is
valid at once): transports (edgeseg.device.session.TRANSPORTS), runners (the rows of
edgeseg.device.runners.RUNNERS that can be a profile's runner, and per delegate "profile" or a
row that runs single delegates), power sources (edgeseg.device.power.SOURCES: ``auto``,
``none``, ``battery+rails``, or a comma or + list of source names)."""

from __future__ import annotations

from .power import SOURCES, source_choices
from .runners import delegate_runner_names, profile_runner_names
from .session import TRANSPORTS


def choices(name: str) -> tuple[str, ...]:
    """The names a profile may give for ``name`` (TRANSPORTS, RUNNERS, DELEGATE_RUNNERS,
    POWER_SOURCE_NAMES, POWER_SOURCES)."""
    if name == "TRANSPORTS":
        return tuple(TRANSPORTS)
    if name in ("RUNNERS", "DELEGATE_RUNNERS"):
        return profile_runner_names() if name == "RUNNERS" else ("profile", *delegate_runner_names())
    return tuple(SOURCES) if name == "POWER_SOURCE_NAMES" else source_choices()
