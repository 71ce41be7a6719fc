"""The HTTP side: one blueprint at ``/scim/v2``, rules built from the registry."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Flask

from . import bulk, discovery, health, views
from .auth import authenticate
from .errors import init_app as init_errors
from .record import record, start_clock

PREFIX = "/scim/v2"


def init_app(app: Flask, server: object) -> None:
    from ..app import Server

    assert isinstance(server, Server)
    bp = Blueprint("scim", __name__, url_prefix=PREFIX)
    bp.before_request(start_clock)
    bp.before_request(authenticate)
    bp.after_request(record)
    bp.add_url_rule("/ServiceProviderConfig", "spc", discovery.service_provider_config)
    bp.add_url_rule("/Schemas", "schemas", discovery.schemas)
    bp.add_url_rule("/Schemas/<path:id>", "schema", discovery.schema)
    bp.add_url_rule("/ResourceTypes", "resource_types", discovery.resource_types)
    bp.add_url_rule("/ResourceTypes/<id>", "resource_type", discovery.resource_type)
    bp.add_url_rule("/.search", "search", views.search, methods=["POST"])
    bp.add_url_rule("/Bulk", "bulk", bulk.bulk, methods=["POST"])
    me_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    bp.add_url_rule("/Me", "me", views.me, methods=me_methods)
    bp.add_url_rule("/Me/<path:rest>", "me_rest", views.me, methods=me_methods)
    for name, rtype in server.registry.resource_types.items():
        path = rtype.endpoint
        bp.add_url_rule(path, f"{name}_list", partial(views.list_resources, rtype))
        bp.add_url_rule(path, f"{name}_create", partial(views.create, rtype), methods=["POST"])
        bp.add_url_rule(
            f"{path}/.search", f"{name}_search", partial(views.search, rtype), methods=["POST"]
        )
        item = f"{path}/<id>"
        bp.add_url_rule(item, f"{name}_get", partial(views.get, rtype))
        bp.add_url_rule(item, f"{name}_replace", partial(views.replace, rtype), methods=["PUT"])
        bp.add_url_rule(item, f"{name}_patch", partial(views.patch, rtype), methods=["PATCH"])
        bp.add_url_rule(item, f"{name}_delete", partial(views.delete, rtype), methods=["DELETE"])
    app.register_blueprint(bp)
    app.register_blueprint(health.ops)
    app.before_request(health.start_timer)
    app.after_request(health.observe)
    init_errors(app)
