"""JSON text on the hot paths: orjson, and the standard library where orjson refuses.

orjson writes compact UTF-8 like ``json.dumps(..., separators=(",", ":"),
ensure_ascii=False)``, several times faster. It refuses integers beyond 64 bits
and lone UTF-16 surrogates (an error detail may quote a client's); those go
through the standard library, ASCII-escaped. Reading, it would turn integers
beyond 64 bits into floats: validation keeps them out of stored documents.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, separators=(",", ":")).encode()


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


loads = orjson.loads
