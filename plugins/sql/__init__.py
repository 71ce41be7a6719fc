"""Built-in plugin: the SQL store (SQLite, PostgreSQL) and the SQL control store."""

from __future__ import annotations

from typing import Any

from scimserver.hookspecs import hookimpl
from scimserver.store import StoreFactory

from .control import SqlControlStore
from .store import SqlStore


def _build(options: dict[str, Any]) -> SqlStore:
    options = dict(options)
    return SqlStore(options.pop("url", "sqlite:///var/scimserver.db"), **options)


@hookimpl
def scimserver_register_stores() -> list[StoreFactory]:
    return [StoreFactory("sql", _build, "SQLite or PostgreSQL through SQLAlchemy")]


@hookimpl(trylast=True)
def scimserver_control_store(config: dict[str, Any]) -> SqlControlStore:
    return SqlControlStore(config.get("control", {}).get("url", "sqlite:///var/scimserver.db"))
