"""Durations as operators type them: ``90d``, ``12h``, ``30m``, ``2w``, ``45s``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``"90d"`` -> 90 days; ValueError with a readable message otherwise."""
    text = text.strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit():
        raise ValueError(f"{text!r} is not a duration like 90d, 12h, 30m, 2w or 45s")
    return timedelta(**{_UNITS[unit]: int(number)})


def ago(text: str) -> str:
    """The instant ``text`` ago, formatted like stored timestamps (UTC, ms, Z)."""
    moment = datetime.now(UTC) - parse_duration(text)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
