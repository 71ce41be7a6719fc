"""Configuration: a TOML file, then ``SCIMSERVER_<SECTION>_<KEY>`` variables.

The file is named by ``SCIMSERVER_CONFIG`` (default ``config/default.toml``).
An environment variable walks the existing sections greedily, so
``SCIMSERVER_STORE_SQL_URL`` sets ``[store.sql] url`` and
``SCIMSERVER_SERVER_PUBLIC_URL`` sets ``[server] public_url``. Values are
read as TOML literals when they parse (``true``, ``8``, ``["a"]``), else as text.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "SCIMSERVER_"
DEFAULT_PATH = "config/default.toml"

# What a config file may leave out.
DEFAULTS: dict[str, Any] = {
    "server": {
        "public_url": "",
        "max_payload_bytes": 1_048_576,
        "max_results": 1000,
        "default_count": 100,
        "bulk_max_operations": 1000,
    },
    "control": {"url": "sqlite:///var/scimserver.db"},
    "store": {"backend": "sql", "sql": {"url": "sqlite:///var/scimserver.db"}},
    "plugins": {"modules": [], "disable": []},
    "policy": {"suspend": {"enabled": True, "mode": "hidden"}},
    "provisioning_log": {"enabled": True, "max_age": "30d", "max_rows": 100000, "prune_every": 500},
}


class ConfigError(Exception):
    pass


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _literal(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_env(config: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("_")
        node = config
        # Walk down the sections; at each level take the longest run of parts that
        # names one (SCIMSERVER_PROVISIONING_LOG_MAX_AGE -> [provisioning_log] max_age).
        while len(parts) > 1:
            for size in range(len(parts) - 1, 0, -1):
                key = "_".join(parts[:size])
                if isinstance(node.get(key), dict):
                    node, parts = node[key], parts[size:]
                    break
            else:
                break
        if node is config:
            continue  # a key needs a section: SCIMSERVER_FOO alone means nothing
        node["_".join(parts)] = _literal(raw)


def load(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The effective configuration: defaults, the file, then the environment."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_PREFIX + "CONFIG") or DEFAULT_PATH
    config = copy.deepcopy(DEFAULTS)
    file = Path(path)
    if file.exists():
        try:
            _merge(config, tomllib.loads(file.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from exc
    elif path != DEFAULT_PATH:
        raise ConfigError(f"Config file {file} does not exist.")
    _apply_env(config, environ)
    return config


def section(config: Mapping[str, Any], dotted: str) -> dict[str, Any]:
    """A (possibly nested) section, ``{}`` when absent: ``section(c, "store.sql")``."""
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return dict(node) if isinstance(node, Mapping) else {}
