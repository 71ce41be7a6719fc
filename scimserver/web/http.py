"""Request bodies in, SCIM JSON out."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request

from .. import jsontext
from ..app import server
from ..protocol import errors
from ..protocol.jsonbody import parse_json

SCIM_JSON = "application/scim+json"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


ACCEPTED = ("application/scim+json", "application/json")


def read_json() -> Any:
    """The request body as strict JSON. SCIM's and plain JSON's media types are both
    accepted (Okta's tests post application/json); anything else is 415."""
    mimetype = request.mimetype
    if mimetype and mimetype not in ACCEPTED:
        raise errors.UnsupportedMediaType(
            f"Content-Type {mimetype!r} is not supported; send {SCIM_JSON}."
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise errors.UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported.")
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise errors.InvalidSyntax("The request body is empty.")
    body = parse_json(raw)
    g.scim_body = body  # for the request record (userName of a failed create)
    return body


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(jsontext.dumps(body), status=status, mimetype=SCIM_JSON)
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
    base = g.get("scim_base_url")
    if base is None:
        public = server().config.get("server", {}).get("public_url")
        base = public.rstrip("/") if public else request.host_url.rstrip("/") + "/scim/v2"
        g.scim_base_url = base
    return base
