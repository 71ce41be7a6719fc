"""Request bodies in, SCIM JSON out."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g, request

from ..app import server
from ..protocol import errors

SCIM_JSON = "application/scim+json"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def read_json() -> Any:
    """The request body as JSON. Both SCIM and plain JSON media types are accepted
    (Okta's tests post application/json); a body that is not JSON is 400."""
    mimetype = request.mimetype
    if mimetype and not (mimetype.endswith("+json") or mimetype.endswith("/json")):
        raise errors.UnsupportedMediaType(
            f"Content-Type {mimetype!r} is not supported; send {SCIM_JSON}."
        )
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise errors.InvalidSyntax("The request body is empty.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.InvalidSyntax(f"The request body is not valid JSON: {exc}") from exc
    g.scim_body = body  # for the request record (userName of a failed create)
    return body


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    response = Response(data, status=status, mimetype=SCIM_JSON)
    if headers:
        response.headers.update(headers)
    return response


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(status=status)
    if headers:
        response.headers.update(headers)
    return response


def base_url() -> str:
    """The SCIM base URL: ``[server] public_url`` or the one the request came to."""
    public = server().config.get("server", {}).get("public_url")
    if public:
        return public.rstrip("/")
    return request.host_url.rstrip("/") + "/scim/v2"
