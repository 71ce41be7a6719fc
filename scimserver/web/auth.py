"""Bearer-token authentication: the token decides the organization."""

from __future__ import annotations

import uuid

from flask import g, request

from ..app import server
from ..events import RequestInfo
from ..protocol import errors
from ..resources import Caller


def request_info() -> RequestInfo:
    info = g.get("scim_request")
    if info is None:
        info = RequestInfo(
            id=request.headers.get("X-Request-Id") or uuid.uuid4().hex,
            method=request.method,
            path=request.full_path.rstrip("?") if request.query_string else request.path,
            remote_addr=request.remote_addr,
            user_agent=request.headers.get("User-Agent") or None,
        )
        g.scim_request = info
    return info


def authenticate() -> None:
    """Run before every SCIM request; sets ``g.caller`` or raises 401."""
    info = request_info()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.Unauthorized()
    srv = server()
    integration = srv.pm.hook.scimserver_authenticate(token=token, tenancy=srv.tenancy)
    if integration is None:
        raise errors.Unauthorized("The bearer token is not valid.")
    g.caller = Caller(integration.org, integration, info)
