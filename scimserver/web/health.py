"""Outside ``/scim/v2``: ``/healthz`` (alive), ``/readyz`` (the store answers), ``/metrics``."""

from __future__ import annotations

import time

from flask import Blueprint, Response, g, request

from ..app import server
from ..metrics import REQUESTS, exposition
from ..protocol import errors
from ..protocol.core_schemas import USER_TYPE
from ..store import Query
from .http import scim_response

ops = Blueprint("ops", __name__)
PROBE_ORG = "-readyz-"  # no organization has this id: the probe reads nothing real


@ops.get("/healthz")
def healthz() -> Response:
    return scim_response({"status": "ok"})


@ops.get("/readyz")
def readyz() -> Response:
    try:
        server().store.query(PROBE_ORG, USER_TYPE, Query(count=0))
    except errors.Unavailable as exc:
        return scim_response(
            {"status": "unavailable", "detail": exc.detail},
            503,
            {"Retry-After": exc.headers.get("Retry-After", "5")},
        )
    return scim_response({"status": "ready"})


@ops.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, mimetype=content_type.split(";")[0])


def start_timer() -> None:
    g.metrics_started = time.perf_counter()


def observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response
