"""Built-in plugin: bearer tokens issued by ``scimserver integration add``."""

from __future__ import annotations

from .hookspecs import hookimpl
from .tenancy import Integration, Tenancy


@hookimpl(trylast=True)
def scimserver_authenticate(token: str, tenancy: Tenancy) -> Integration | None:
    return tenancy.authenticate(token)
