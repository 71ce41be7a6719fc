"""SCIM errors (RFC 7644 §3.12): one exception class per ``scimType``.

Raise these anywhere below the web layer; its error handler turns them into a
SCIM error body with ``status`` as a string. Nothing else reaches a client.
"""

from __future__ import annotations

from typing import Any, ClassVar

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """Base class: an HTTP status, an optional ``scimType`` and a detail."""

    status: ClassVar[int] = 400
    scim_type: ClassVar[str | None] = None

    def __init__(
        self, detail: str, *, headers: dict[str, str] | None = None, status: int | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        if status is not None:
            self.status = status  # type: ignore[misc]  # a generic error with its own code

    def to_scim(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class TooMany(ScimError):
    scim_type = "tooMany"


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class Mutability(ScimError):
    scim_type = "mutability"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidVersion(ScimError):
    scim_type = "invalidVers"  # RFC 7644 §3.12 spells it so


class Sensitive(ScimError):
    scim_type = "sensitive"


class InvalidCursor(ScimError):
    """RFC 9865 §3: the cursor is malformed or unknown."""

    scim_type = "invalidCursor"


class ExpiredCursor(ScimError):
    scim_type = "expiredCursor"


class Unauthorized(ScimError):
    status = 401

    def __init__(self, detail: str = "A valid bearer token is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scim"'})


class Forbidden(ScimError):
    status = 403


class NotFound(ScimError):
    status = 404


class MethodNotAllowed(ScimError):
    status = 405


class NotAcceptable(ScimError):
    status = 406


class Conflict(ScimError):
    status = 409


class PreconditionFailed(ScimError):
    status = 412

    def __init__(self, detail: str = "The resource has changed (ETag mismatch).") -> None:
        super().__init__(detail)


class PayloadTooLarge(ScimError):
    status = 413


class UnsupportedMediaType(ScimError):
    status = 415


class NotImplementedByServer(ScimError):
    status = 501


class Unavailable(ScimError):
    """The backing store cannot be reached; the client should retry."""

    status = 503

    def __init__(
        self, detail: str = "The store is unavailable; retry later.", retry_after: int = 5
    ):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
