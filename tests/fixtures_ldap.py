"""Session fixtures for the LDAP backend: one real slapd per test run.

slapd gets the Debian schemas, the project's own (``scimserver.schema``, shipped
with the plugin) and the overlays the store relies on, configured as docs/ldap.md
tells operators to: ``unique`` in serialize mode over ``scimUniqueName`` (userName
per organization, displayName per organization), ``sssvlv`` for sorted pages,
``deref`` for groups' members.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest
from servers import SlapdServer, slapd_server

from scimserver_plugins.ldap_store import schema_path

SUFFIX = "dc=example,dc=com"

# The indexes docs/ldap.md recommends.
INDEXES = [
    "index scimId eq",
    "index scimNameKey eq,sub",
    "index scimDisplayNameKey eq",
    "index scimEmailKey eq",
    "index scimExternalId eq",
    "index scimUniqueName eq",
    "index scimRetained pres",
    "index scimSeq eq",
    "index member eq",
]
OVERLAYS = {
    # serialize: without it two simultaneous adds can both pass the check.
    "unique": [f'unique_uri "serialize ldap:///{SUFFIX}?scimUniqueName?sub"'],
    # Every view's sorted result is held until its connection closes.
    "sssvlv": ["sssvlv-max 64"],
    # Group reads get their members' entries in the same search (the dereference control).
    "deref": [],
}
EXTRA = [*INDEXES, "sizelimit unlimited"]


def ldap_server() -> AbstractContextManager[SlapdServer]:
    """A slapd configured for the LDAP store (also for tests wanting their own)."""
    return slapd_server([schema_path()], OVERLAYS, EXTRA)


@pytest.fixture(scope="session")
def slapd_srv() -> Iterator[SlapdServer]:
    """A running slapd on a free loopback port; stores share it, each under its
    own sub-base (tests/backends.py). Outage tests stop() and start() it."""
    with ldap_server() as server:
        yield server
