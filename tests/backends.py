"""Every store backend the suites run on, in one place.

A backend is a name and a function giving the ``[store]`` config for a fresh,
empty store; the API suites (conftest ``backend``), the Store contract suite
and the filter-equivalence suite all parametrize over ``ENABLED``. A new store
joins every suite by adding one entry to ``STORES``.

``SCIMSERVER_TEST_BACKENDS=sqlite,redis`` narrows a run to some of them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

StoreConfig = Callable[[pytest.FixtureRequest, Path], dict[str, Any]]


def _sqlite(request: pytest.FixtureRequest, root: Path) -> dict[str, Any]:
    return {"backend": "sql", "sql": {"url": f"sqlite:///{root / f'scim-{uuid.uuid4().hex}.db'}"}}


def _postgres(request: pytest.FixtureRequest, root: Path) -> dict[str, Any]:
    pg = request.getfixturevalue("pg")
    return {"backend": "sql", "sql": {"url": pg.create_database(f"scim_{uuid.uuid4().hex}")}}


def _redis(request: pytest.FixtureRequest, root: Path) -> dict[str, Any]:
    url = request.getfixturevalue("redis_srv").url
    return {"backend": "redis", "redis": {"url": url, "key_prefix": f"t{uuid.uuid4().hex[:8]}:"}}


def _ldap(request: pytest.FixtureRequest, root: Path) -> dict[str, Any]:
    slapd = request.getfixturevalue("slapd_srv")  # fixtures_ldap.py
    base = f"ou=t{uuid.uuid4().hex[:12]},{slapd.base_dn}"  # created on first use
    options = {"url": slapd.url, "bind_dn": slapd.bind_dn, "password": slapd.password}
    return {"backend": "ldap", "ldap": {**options, "base_dn": base}}


STORES: dict[str, StoreConfig] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
    "redis": _redis,
    "ldap": _ldap,
}

_wanted = os.environ.get("SCIMSERVER_TEST_BACKENDS")
ENABLED: list[str] = (
    [name for name in _wanted.split(",") if name in STORES] if _wanted else list(STORES)
)


def store_config(name: str, request: pytest.FixtureRequest, root: Path) -> dict[str, Any]:
    return STORES[name](request, root)


def build_store(name: str, request: pytest.FixtureRequest, root: Path) -> Any:
    """A Store built the way the app builds it: through the registered plugin."""
    from scimserver.app import _store
    from scimserver.plugins import build_manager

    config = {"store": store_config(name, request, root)}
    return _store(build_manager(config), config)
