"""Shared fixtures: real backends, one app per backend, a fresh organization per test.

Every test gets its own organization and token, so tests share a database
(one PostgreSQL server per run) without seeing each other's data — the same
isolation production tenants rely on.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import ENABLED, store_config
from flask import Flask
from flask.testing import FlaskClient
from servers import PostgresServer, postgres_server

from scimserver.app import create_app
from scimserver.protocol.validate import now

_orgs = itertools.count(1)
pytest_plugins = ["fixtures_redis", "fixtures_ldap"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``one_backend`` check the HTTP layer alone: they run on the first
    enabled backend, not on each (the suite stays fast as stores are added)."""
    first = ENABLED[0] if ENABLED else None
    keep, drop = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        if item.get_closest_marker("one_backend") and backend not in (None, first):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="scimserver-tests-") as name:
        yield Path(name)


def backend_config(name: str, request: pytest.FixtureRequest, root: Path) -> dict[str, Any]:
    """The config of a complete server on one backend, control data in SQLite."""
    return {
        "server": {"public_url": "", "max_payload_bytes": 65536, "max_results": 200},
        "control": {"url": f"sqlite:///{root / 'control.db'}"},
        "store": store_config(name, request, root),
    }


@pytest.fixture(scope="session", params=ENABLED)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def app(backend: str, request: pytest.FixtureRequest, tmp_root: Path) -> Iterator[Flask]:
    root = tmp_root / backend
    root.mkdir(exist_ok=True)
    application = create_app(backend_config(backend, request, root))
    yield application
    application.extensions["scimserver"].close()


class Scim:
    """A SCIM client for one organization, on Flask's test client."""

    def __init__(self, app: Flask, token: str, org: str) -> None:
        self.app = app
        self.http: FlaskClient = app.test_client()
        self.token = token
        self.org = org
        self.base = "/scim/v2"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}
        out.update(extra or {})
        return out

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | str | None = None,
    ) -> Any:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        return self.http.open(
            self.base + path, method=method, data=data, headers=self.headers(headers)
        )

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    # Shorthands for test set-up.
    def user(self, user_name: str, **attrs: Any) -> dict[str, Any]:
        r = self.post("/Users", {"schemas": [USER], "userName": user_name, **attrs})
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()

    def group(self, name: str, members: list[str] = (), **attrs: Any) -> dict[str, Any]:
        body = {
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"value": m} for m in members],
            **attrs,
        }
        r = self.post("/Groups", body)
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()

    def ops(self, path: str, *operations: dict[str, Any], **kw: Any) -> Any:
        return self.patch(path, {"schemas": [PATCH_OP], "Operations": list(operations)}, **kw)


USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def stored_user(user_name: str) -> dict[str, Any]:
    """A minimal User as the core hands it to a store (id and meta set)."""
    stamp = now()
    return {
        "schemas": [USER],
        "id": str(uuid.uuid4()),
        "userName": user_name,
        "meta": {"resourceType": "User", "created": stamp, "lastModified": stamp},
    }


def write_toml(config: dict[str, Any], path: Path) -> Path:
    """A config dict as a TOML file (sections of scalars, strings and lists)."""
    lines: list[str] = []

    def section(name: str, values: dict[str, Any]) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
        if scalars:
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in scalars.items())
        for key, value in values.items():
            if isinstance(value, dict):
                section(f"{name}.{key}", value)

    for name, values in config.items():
        section(name, values)
    path.write_text("\n".join(lines) + "\n")
    return path


def new_org(app: Flask, *, enterprise: bool = True) -> tuple[str, str]:
    """A fresh Enterprise organization with provisioning on; (slug, token)."""
    tenancy = app.extensions["scimserver"].tenancy
    slug = f"org{next(_orgs)}"
    tenancy.create_org(slug, slug, enterprise)
    tenancy.enable_provisioning(slug)
    _, token = tenancy.issue_token(slug, "onelogin", regenerate=False)
    return slug, token


@pytest.fixture
def scim(app: Flask) -> Scim:
    slug, token = new_org(app)
    return Scim(app, token, slug)


@pytest.fixture
def other(app: Flask) -> Scim:
    """A second organization on the same server."""
    slug, token = new_org(app)
    return Scim(app, token, slug)
