"""The app factory: config -> plugins -> schemas -> store -> Flask app.

Nothing is built at import time; every ``create_app`` call has its own plugin
manager, store and tenancy, so tests build as many apps as they like.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pluggy
from flask import Flask, current_app

from . import config as config_mod
from .metrics import TimedStore
from .plugins import build_manager, check
from .protocol.schema import Extension, Registry, ResourceType
from .resources import Resources
from .store import Store, StoreFactory
from .tenancy import Tenancy

log = logging.getLogger(__name__)


class SetupError(Exception):
    pass


@dataclass
class Server:
    """Everything one app needs, built once at start-up."""

    config: dict[str, Any]
    pm: pluggy.PluginManager
    registry: Registry
    store: Store
    tenancy: Tenancy
    resources: Resources

    def close(self) -> None:
        self.store.close()
        self.tenancy.control.close()


def _registry(pm: pluggy.PluginManager) -> Registry:
    types: list[ResourceType] = [t for batch in pm.hook.scimserver_resource_types() for t in batch]
    extended = []
    for rtype in types:
        extra: list[Extension] = [
            e
            for batch in pm.hook.scimserver_schema_extensions(resource_type=rtype.name)
            for e in batch
        ]
        if extra:
            rtype = ResourceType(
                rtype.name,
                rtype.endpoint,
                rtype.schema,
                (*rtype.extensions, *extra),
                rtype.description,
                rtype.aliases,
            )
        extended.append(rtype)
    return Registry(extended)


def _store(pm: pluggy.PluginManager, config: dict[str, Any]) -> Store:
    factories: dict[str, StoreFactory] = {
        f.name: f for batch in pm.hook.scimserver_register_stores() for f in batch
    }
    backend = config_mod.section(config, "store").get("backend", "sql")
    if backend not in factories:
        known = ", ".join(sorted(factories)) or "none"
        raise SetupError(f"Unknown store backend {backend!r} (registered: {known}).")
    store = factories[backend].build(config_mod.section(config, f"store.{backend}"))
    return TimedStore(store, backend)  # type: ignore[return-value]


def build_server(config: dict[str, Any]) -> Server:
    pm = build_manager(config)
    registry = _registry(pm)
    store = _store(pm, config)
    control = pm.hook.scimserver_control_store(config=config)
    if control is None:
        raise SetupError("No plugin provides a control store.")
    server = Server(config, pm, registry, store, Tenancy(control), Resources(store, pm))
    pm.hook.scimserver_startup(server=server)
    check(pm)  # per-app objects registered at start-up are checked too
    return server


def create_app(config: dict[str, Any] | str | None = None) -> Flask:
    """A Flask app serving SCIM at ``/scim/v2``; ``config`` is a dict or a file path."""
    from .web import init_app

    if not isinstance(config, dict):
        config = config_mod.load(config)
    server = build_server(config)
    app = Flask("scimserver", static_folder=None)
    server_conf = config.get("server", {})
    app.config["MAX_CONTENT_LENGTH"] = int(server_conf.get("max_payload_bytes", 1_048_576))
    app.extensions["scimserver"] = server
    init_app(app, server)
    server.pm.hook.scimserver_app_ready(app=app)
    return app


def server() -> Server:
    """The Server of the app handling the current request."""
    return current_app.extensions["scimserver"]
