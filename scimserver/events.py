"""What lifecycle hooks receive: the context of a write and the event after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .tenancy import Integration, Organization

# Operations a write can be, as hooks see them.
CREATE, REPLACE, PATCH, DELETE = "create", "replace", "patch", "delete"
DEACTIVATE, REACTIVATE, SUSPEND, REVIVE = "deactivate", "reactivate", "suspend", "revive"
MEMBERSHIP = "membership"


@dataclass(frozen=True)
class RequestInfo:
    """The HTTP request behind a write, without Flask objects (hooks stay testable)."""

    id: str
    method: str
    path: str
    remote_addr: str | None = None
    user_agent: str | None = None


@dataclass
class WriteContext:
    """Handed to ``scimserver_before_write``.

    ``resource`` is the resource as it will be stored; a hook may change it in
    place, or raise a ``ScimError`` to veto the write (nothing is written).
    ``before`` is the stored resource for updates, ``None`` for a create.
    """

    operation: str
    resource_type: str
    org: Organization
    integration: Integration | None
    request: RequestInfo | None
    resource: dict[str, Any]
    before: dict[str, Any] | None = None


@dataclass(frozen=True)
class WriteEvent:
    """Handed to ``scimserver_after_write`` once the write is committed."""

    operation: str
    resource_type: str
    id: str
    org: Organization
    integration: Integration | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class RequestRecord:
    """Handed to ``scimserver_request_done`` for every SCIM request answered."""

    request: RequestInfo
    org: Organization | None
    integration: Integration | None
    status: int
    scim_type: str | None = None
    detail: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    user_name: str | None = None
    duration_ms: float = 0.0
