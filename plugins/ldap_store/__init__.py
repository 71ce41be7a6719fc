"""Built-in plugin: the LDAP directory store (``[store] backend = "ldap"``).

SCIM Users and Groups become inetOrgPerson and groupOfNames entries under one
subtree per organization; see docs/ldap.md for the layout, the schema to load
(``scimserver.schema`` next to this file) and the options. ldap3 is imported only
when the store is built, so the server starts without the ``ldap`` extra when
another backend is configured.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from scimserver.hookspecs import hookimpl
from scimserver.store import Store, StoreFactory

SCHEMA_FILE = "scimserver.schema"
SCHEMA_LDIF = "scimserver.ldif"


def schema_path(name: str = SCHEMA_FILE) -> Path:
    """Where the LDAP schema shipped with the plugin is (package data)."""
    return Path(str(resources.files(__name__).joinpath(name)))


def _build(options: dict[str, Any]) -> Store:
    from .config import LdapConfig
    from .store import LdapStore

    return LdapStore(LdapConfig.from_options(options))


@hookimpl
def scimserver_register_stores() -> list[StoreFactory]:
    return [StoreFactory("ldap", _build, "An LDAP directory (OpenLDAP) through ldap3")]
