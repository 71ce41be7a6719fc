"""Example scimserver plugin: users' ``userName`` must be in their organization's domains.

Configure it with a section mapping organization slugs to allowed email domains;
organizations not listed are not guarded::

    [domain_guard]
    acme = ["acme.com", "acme.co.uk"]

It shows the three things a plugin usually does: read its config section at
start-up and register a per-app object, veto or amend a write before it is
stored (``scimserver_before_write``), and observe it once committed
(``scimserver_after_write``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scimserver import events
from scimserver.config import section
from scimserver.hookspecs import hookimpl
from scimserver.protocol.errors import InvalidValue

if TYPE_CHECKING:
    from scimserver.app import Server
    from scimserver.events import WriteContext, WriteEvent

# Writes that set a userName. A PUT or PATCH that flips ``active`` is reported as
# deactivate/reactivate, and may change userName too.
GUARDED = {
    events.CREATE,
    events.REPLACE,
    events.PATCH,
    events.REVIVE,
    events.DEACTIVATE,
    events.REACTIVATE,
}


class DomainGuard:
    """One per app, holding that app's config (no module-level state)."""

    def __init__(self, domains: dict[str, list[str]]) -> None:
        self.domains = {org: {d.lower() for d in allowed} for org, allowed in domains.items()}
        self.events: list[tuple[str, str, str]] = []

    @hookimpl
    def scimserver_before_write(self, context: WriteContext) -> None:
        allowed = self.domains.get(context.org.slug)
        guarded = context.resource_type == "User" and context.operation in GUARDED
        if allowed is None or not guarded:
            return
        user_name = context.resource.get("userName", "")
        local, at, domain = user_name.rpartition("@")
        if not at or domain.lower() not in allowed:
            raise InvalidValue(
                f"userName {user_name!r} is not in a domain of organization "
                f"{context.org.slug!r} (allowed: {', '.join(sorted(allowed))})."
            )
        context.resource["userName"] = f"{local}@{domain.lower()}"  # amend in place

    @hookimpl
    def scimserver_after_write(self, event: WriteEvent) -> None:
        self.events.append((event.operation, event.resource_type, event.id))


@hookimpl
def scimserver_startup(server: Server) -> None:
    domains = section(server.config, "domain_guard")
    if domains:  # without its section the plugin stays out of the way
        server.pm.register(DomainGuard(domains), name="domain_guard.guard")
