"""RFC 9865 cursors: opaque to clients, a keyset position to stores.

A cursor is base64url JSON of the last resource returned — its sort key and a
store's tie-breaker — so the next page starts right after it even when
resources are created or deleted between pages (an offset would repeat or
skip them). ``resume_after`` does it for lists sorted by the reference
evaluator; stores that sort natively build the same condition in their query.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from .errors import InvalidCursor

T = TypeVar("T")


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Iterable[str]) -> dict[str, Any]:
    """The position in ``cursor``; 400 invalidCursor unless it has exactly ``keys``."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(f"Cursor {cursor!r} is not one this server issued.") from exc
    if not isinstance(position, dict) or set(position) != set(keys):
        raise InvalidCursor(f"Cursor {cursor!r} is not one this server issued.")
    return position


def key_to_json(key: Sequence[Any]) -> list[Any]:
    """An ``evaluate.sort_key`` tuple as JSON (datetimes and decimals tagged)."""
    out: list[Any] = []
    for part in key:
        if isinstance(part, datetime):
            out.append({"d": part.isoformat()})
        elif isinstance(part, Decimal):
            out.append({"m": str(part)})
        else:
            out.append(part)
    return out


def key_from_json(data: Any) -> tuple[Any, ...]:
    if not isinstance(data, list):
        raise InvalidCursor("The cursor's sort position is malformed.")
    out: list[Any] = []
    for part in data:
        if isinstance(part, dict) and set(part) == {"d"}:
            out.append(datetime.fromisoformat(part["d"]))
        elif isinstance(part, dict) and set(part) == {"m"}:
            out.append(Decimal(part["m"]))
        elif isinstance(part, str | int | float | bool):
            out.append(part)
        else:
            raise InvalidCursor("The cursor's sort position is malformed.")
    return tuple(out)


def resume_after(
    items: list[tuple[tuple[Any, ...], int, T]], key: tuple[Any, ...], tie: int, descending: bool
) -> list[tuple[tuple[Any, ...], int, T]]:
    """The items after position (key, tie) in a list sorted by key (reversed when
    ``descending``) with ties in ascending ``tie`` order. Empty keys (no sortBy)
    order by ``tie`` alone, descending too."""
    if not isinstance(tie, int):
        raise InvalidCursor("The cursor's position is malformed.")
    if not key:
        return [item for item in items if (item[1] < tie if descending else item[1] > tie)]

    def after(item: tuple[tuple[Any, ...], int, T]) -> bool:
        item_key, item_tie, _ = item
        try:
            beyond = item_key < key if descending else item_key > key
        except TypeError:  # a key of another shape: the cursor came from another query
            raise InvalidCursor("The cursor does not belong to this query.") from None
        return beyond or (item_key == key and item_tie > tie)

    return [item for item in items if after(item)]
