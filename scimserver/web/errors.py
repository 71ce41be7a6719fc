"""Every failure as a SCIM error body (RFC 7644 §3.12); never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from ..protocol import errors
from .http import scim_response

log = logging.getLogger(__name__)

_HTTP: dict[int, type[errors.ScimError]] = {
    400: errors.InvalidSyntax,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    406: errors.NotAcceptable,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
}


def error_response(error: errors.ScimError) -> Response:
    g.scim_error = error
    return scim_response(error.to_scim(), error.status, error.headers)


def _http(exc: HTTPException) -> Response:
    status = exc.code or 500
    kind = _HTTP.get(status)
    detail = {
        404: "No such endpoint.",
        405: "Method not allowed on this endpoint.",
        413: "The request body is larger than maxPayloadSize.",
    }.get(status, exc.description or exc.name)
    if kind is None:
        error = errors.ScimError(detail, status=status)
    else:
        error = kind(detail) if kind is not errors.Unauthorized else kind()
    response = error_response(error)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("Unhandled error")
    error = errors.ScimError("Internal server error.", status=500)
    return error_response(error)


def init_app(app: Flask) -> None:
    app.register_error_handler(errors.ScimError, error_response)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(Exception, _unexpected)
