"""Built-in plugin: the provisioning log (``[provisioning_log]``).

Every SCIM write and every failed request of an organization is kept in a table of
the ``[control]`` database: time, integration, method, path, status, scimType,
resource type and id, userName, a short detail, request id and duration. Operators
read it with ``scimserver log SLUG`` when an IdP shows "Provisioning state failed".

Config::

    [provisioning_log]
    enabled = true        # false: nothing is recorded (and nothing runs per request)
    max_age = "30d"       # rows older than this are pruned
    max_rows = 100000     # per organization; the oldest beyond it are pruned
    prune_every = 500     # inserts of an organization between two prunes (per worker)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scimserver.app import SetupError
from scimserver.config import section
from scimserver.durations import parse_duration
from scimserver.hookspecs import hookimpl

from .commands import log_command
from .log import PLUGIN_NAME, ProvisioningLog, Settings

if TYPE_CHECKING:
    import click

    from scimserver.app import Server

SECTION = "provisioning_log"


def _positive(conf: dict[str, object], key: str, default: int) -> int:
    value = conf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SetupError(f"[{SECTION}] {key} must be a positive integer, not {value!r}.")
    return value


def settings(config: dict[str, object]) -> Settings | None:
    """The plugin's settings, or None when it is off; SetupError on a bad value."""
    conf = section(config, SECTION)
    enabled = conf.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SetupError(f"[{SECTION}] enabled must be true or false, not {enabled!r}.")
    if not enabled:
        return None
    try:
        max_age = parse_duration(str(conf.get("max_age", "30d")))
    except ValueError as exc:
        raise SetupError(f"[{SECTION}] max_age: {exc}") from exc
    return Settings(
        max_age=max_age,
        max_rows=_positive(conf, "max_rows", 100_000),
        prune_every=_positive(conf, "prune_every", 500),
    )


@hookimpl
def scimserver_startup(server: Server) -> None:
    wanted = settings(server.config)
    if wanted is None:
        return  # unregistered: the request record is not even built for us
    url = section(server.config, "control").get("url", "sqlite:///var/scimserver.db")
    server.pm.register(
        ProvisioningLog.for_server(server.tenancy.control, url, wanted), name=PLUGIN_NAME
    )


@hookimpl
def scimserver_cli_commands(cli: click.Group) -> None:
    cli.add_command(log_command)
