"""The plugin manager: built-ins, then entry points, then modules from config.

Built-in behaviour is itself a set of plugins, so a third-party plugin can
replace any of it, and ``[plugins] disable`` can switch a built-in off.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "scimserver"

# Name under which each built-in registers, and the module implementing it.
BUILTINS: dict[str, str] = {
    "schemas": "scimserver.default_schemas",
    "auth": "scimserver.default_auth",
    "sql": "scimserver_plugins.sql",
    "suspend": "scimserver_plugins.suspend",
    "provlog": "scimserver_plugins.provlog",
    "redis": "scimserver_plugins.redis_store",
    "ldap": "scimserver_plugins.ldap_store",
}


class PluginError(Exception):
    pass


def build_manager(config: dict[str, Any]) -> pluggy.PluginManager:
    """A plugin manager for one app; never a global, so tests build their own."""
    pm = pluggy.PluginManager("scimserver")
    pm.add_hookspecs(hookspecs)
    plugins_conf = config.get("plugins", {})
    disabled = set(plugins_conf.get("disable", []))
    for name, module in BUILTINS.items():
        if name not in disabled:
            pm.register(importlib.import_module(module), name=name)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for module in plugins_conf.get("modules", []):
        try:
            pm.register(importlib.import_module(module), name=module)
        except ImportError as exc:
            raise PluginError(f"Cannot import plugin module {module!r}: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"Plugin {module!r}: {exc}") from exc
    for name in disabled:
        plugin = pm.get_plugin(name)
        if plugin is not None:
            pm.unregister(plugin)
    check(pm)
    return pm


# Hooks the core calls one implementation at a time: a wrapper would never run.
OBSERVER_HOOKS = ("scimserver_after_write", "scimserver_request_done")


def check(pm: pluggy.PluginManager) -> None:
    """Fail on implementations of hooks that do not exist (a misspelt name), and on
    wrappers around the observer hooks."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"Plugin {pm.get_name(exc.plugin)!r}: {exc}") from exc
    for name in OBSERVER_HOOKS:
        for impl in getattr(pm.hook, name).get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                raise PluginError(f"Plugin {impl.plugin_name!r}: {name} cannot be a wrapper.")


def origin(pm: pluggy.PluginManager, plugin: object) -> str:
    """Where a plugin came from: built-in, a distribution, or config. A per-app
    object ("suspend.policy") comes from the plugin that registered it ("suspend")."""
    name = pm.get_name(plugin) or "?"
    owner, dot, _ = name.partition(".")
    if dot and pm.get_plugin(owner) is not None:
        return origin(pm, pm.get_plugin(owner))
    if name in BUILTINS:
        return "built-in"
    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return f"entry point ({dist.project_name} {dist.version})"
    return "config"
