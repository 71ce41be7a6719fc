"""Built-in plugin: suspend instead of delete (``[policy.suspend]``).

With the policy on (the default) a ``DELETE /Users/{id}`` never removes data:

* mode ``hidden`` (default, RFC 7644 §3.6): the user is suspended and retained —
  it answers 404 and is left out of lists and of its groups' members, while the
  record, its attributes and memberships stay in the store. A later POST with
  the same ``userName`` (or ``externalId``) revives it: same id, new attributes.
* mode ``visible``: the user is suspended (``active: false``) and stays visible.

Operators list, restore and (after a retention period) purge retained users
with ``scimserver users ...``; nothing is removed without that command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scimserver.config import section
from scimserver.hookspecs import hookimpl

from .commands import users
from .policy import MODES, SuspendPolicy

if TYPE_CHECKING:
    import click

    from scimserver.app import Server


@hookimpl
def scimserver_startup(server: Server) -> None:
    conf = section(server.config, "policy.suspend")
    if not conf.get("enabled", True):
        return
    mode = conf.get("mode", "hidden")
    if mode not in MODES:
        raise ValueError(f"[policy.suspend] mode must be one of {', '.join(MODES)}, not {mode!r}")
    server.pm.register(SuspendPolicy(server.store, mode), name="suspend.policy")


@hookimpl
def scimserver_cli_commands(cli: click.Group) -> None:
    cli.add_command(users)
