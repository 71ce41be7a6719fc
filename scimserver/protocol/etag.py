"""Versions and ETags (RFC 7644 §3.14, RFC 7232)."""

from __future__ import annotations


def weak_etag(version: int | str) -> str:
    return f'W/"{version}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def etag_matches(header: str, current: str) -> bool:
    """Whether an If-Match / If-None-Match header names ``current`` (weak comparison)."""
    header = header.strip()
    if header == "*":
        return True
    wanted = _opaque(current)
    return any(_opaque(part) == wanted for part in header.split(","))
