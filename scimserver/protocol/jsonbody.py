"""Strict JSON for request bodies (RFC 8259): UTF-8 only, no NaN or Infinity, no
duplicate names, bounded nesting. (Lone surrogates are refused where they are used:
as attribute names, values, paths or filters, each with its own error.)

Python's json module is lenient on each of these; a lenient parse would store
``"inf"`` for ``1e400`` or let the last of two ``userName`` keys silently win.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import InvalidSyntax, InvalidValue

MAX_DEPTH = 64


def _no_constants(name: str) -> Any:
    raise InvalidSyntax(f"{name} is not JSON (RFC 8259 §6).")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InvalidValue(f"The number {text[:40]} is out of range.")
    return value


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise InvalidSyntax(f"The name {name!r} appears twice in one object.")
            seen.add(name)
    return out


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def parse_json(raw: bytes) -> Any:
    """The body's JSON value, or a SCIM 400 saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSyntax(f"The request body is not UTF-8 (byte {exc.start}).") from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark may be ignored (RFC 8259 §8.1)
    try:
        value = json.loads(
            text, parse_constant=_no_constants, parse_float=_finite, object_pairs_hook=_unique_names
        )
    except json.JSONDecodeError as exc:
        raise InvalidSyntax(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}."
        ) from None
    except RecursionError:
        raise InvalidSyntax(f"The request body nests deeper than {MAX_DEPTH} levels.") from None
    if isinstance(value, dict | list) and not _depth_ok(value):
        raise InvalidSyntax(f"The request body nests deeper than {MAX_DEPTH} levels.")
    return value
