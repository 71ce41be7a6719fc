"""Built-in plugin: serve the RFC 7643 User (with Enterprise User) and Group."""

from __future__ import annotations

from .hookspecs import hookimpl
from .protocol.core_schemas import GROUP_TYPE, USER_TYPE
from .protocol.schema import ResourceType


@hookimpl(trylast=True)
def scimserver_resource_types() -> list[ResourceType]:
    return [USER_TYPE, GROUP_TYPE]
