"""After every SCIM request: a RequestRecord for ``scimserver_request_done``."""

from __future__ import annotations

import logging
import time

from flask import Response, g, request

from ..app import server
from ..events import RequestRecord
from .auth import request_info

log = logging.getLogger(__name__)


def start_clock() -> None:
    g.scim_started = time.perf_counter()


def _user_name(response: Response) -> str | None:
    for source in (g.get("scim_resource"), g.get("scim_body")):
        if isinstance(source, dict) and isinstance(source.get("userName"), str):
            return source["userName"]
    return None


def _resource_type(endpoint: str) -> str | None:
    name = endpoint.partition("_")[0]  # views are named "<ResourceType>_<action>"
    return name if name in server().registry.resource_types else None


def record(response: Response) -> Response:
    response.headers["X-Request-Id"] = request_info().id
    hook = server().pm.hook.scimserver_request_done
    if not hook.get_hookimpls():
        return response
    caller = g.get("caller")
    error = g.get("scim_error")
    resource = g.get("scim_resource")
    args = request.view_args or {}
    endpoint = (request.endpoint or "").split(".")[-1]
    started = g.get("scim_started", time.perf_counter())
    entry = RequestRecord(
        request=request_info(),
        org=caller.org if caller else None,
        integration=caller.integration if caller else None,
        status=response.status_code,
        scim_type=error.scim_type if error else None,
        detail=error.detail if error else None,
        resource_type=_resource_type(endpoint),
        resource_id=(resource or {}).get("id") or args.get("id"),
        user_name=_user_name(response),
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    for impl in reversed(hook.get_hookimpls()):
        try:
            impl.function(record=entry)
        except Exception:  # a log that fails must not turn a good answer into a 500
            log.exception("request_done hook of %s failed", impl.plugin_name)
    return response
