"""Every scimserver hook. Implement them with ``@scimserver.hookimpl``.

Hook names start with ``scimserver_``; a misspelt implementation fails at
start-up. docs/plugins.md documents each hook with an example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Sequence

    import click
    from flask import Flask

    from .app import Server
    from .events import RequestRecord, WriteContext, WriteEvent
    from .protocol.schema import Extension, ResourceType
    from .store import StoreFactory
    from .tenancy import ControlStore, Integration, Tenancy

hookspec = pluggy.HookspecMarker("scimserver")
hookimpl = pluggy.HookimplMarker("scimserver")


@hookspec
def scimserver_register_stores() -> list[StoreFactory]:
    """Return store factories; ``[store] backend`` picks one by name."""


@hookspec(firstresult=True)
def scimserver_control_store(config: dict[str, Any]) -> ControlStore | None:
    """Return the store for organizations and integrations (firstresult)."""


@hookspec
def scimserver_resource_types() -> list[ResourceType]:
    """Return resource types to serve (the built-in schemas plugin gives User and Group)."""


@hookspec
def scimserver_schema_extensions(resource_type: str) -> list[Extension]:
    """Return schema extensions to add to ``resource_type``."""


@hookspec(firstresult=True)
def scimserver_authenticate(token: str, tenancy: Tenancy) -> Integration | None:
    """Return the integration a bearer token belongs to, or None (firstresult)."""


@hookspec
def scimserver_before_write(context: WriteContext) -> None:
    """Amend ``context.resource`` in place, or raise a ScimError to veto the write."""


@hookspec
def scimserver_after_write(event: WriteEvent) -> None:
    """Observe a committed write; an exception here is logged, never returned."""


@hookspec(firstresult=True)
def scimserver_delete_action(context: WriteContext) -> str | None:
    """Answer what a DELETE does (firstresult): "delete" (the default), "suspend"
    (set active false, stay visible) or "retain" (suspend and hide, RFC 7644 §3.6)."""


@hookspec(firstresult=True)
def scimserver_create_targets(contexts: Sequence[WriteContext]) -> list[str | None] | None:
    """For each create (a Bulk request passes many at once), the id of a retained
    record it should revive instead, or None (firstresult)."""


@hookspec
def scimserver_request_done(record: RequestRecord) -> None:
    """Observe every answered SCIM request (the provisioning log uses it)."""


@hookspec
def scimserver_cli_commands(cli: click.Group) -> None:
    """Add commands to the ``scimserver`` CLI."""


@hookspec
def scimserver_startup(server: Server) -> None:
    """Called once per server built: read config, register per-app plugin objects."""


@hookspec
def scimserver_app_ready(app: Flask) -> None:
    """Called once the app is built: add routes, extensions, start-up checks."""
