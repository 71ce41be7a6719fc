"""Operator commands: ``scimserver org ...``, ``scimserver integration ...``, ``serve``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import config as config_mod
from .app import Server, build_server
from .tenancy import Integration, TenancyError

DEMO_ORG = "demo"


class Context:
    """Builds the server lazily, so ``--help`` needs no database."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: dict[str, Any] | None = None
        self._server: Server | None = None

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = config_mod.load(self.config_path)
        return self._config

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = build_server(self.config)
        return self._server


def base_url(config: dict[str, Any], host: str = "127.0.0.1", port: int = 8000) -> str:
    public = config.get("server", {}).get("public_url")
    return public.rstrip("/") if public else f"http://{host}:{port}/scim/v2"


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _show_token(integration: Integration, token: str, base: str, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "org": integration.org.slug,
                    "kind": integration.kind,
                    "base_url": base,
                    "token": token,
                }
            )
        )
        return
    click.echo(f"Organization: {integration.org.slug}")
    click.echo(f"Integration:  {integration.kind}")
    click.echo(f"SCIM base URL: {base}")
    click.echo(f"Access token:  {token}")
    click.echo("The token is shown this once; only its hash is kept.")


class PluginGroup(click.Group):
    """The top-level group; plugins add their commands (``scimserver_cli_commands``)
    the first time a command is looked up, with the config the operator named."""

    _loaded = False

    def _load(self, ctx: click.Context) -> None:
        if self._loaded:
            return
        self._loaded = True
        from .plugins import build_manager

        try:
            plugin_config = config_mod.load(ctx.params.get("config_path"))
        except config_mod.ConfigError:
            plugin_config = {}
        build_manager(plugin_config).hook.scimserver_cli_commands(cli=self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(ctx)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load(ctx)
        return super().list_commands(ctx)


@click.group(cls=PluginGroup)
@click.option(
    "--config",
    "config_path",
    envvar="SCIMSERVER_CONFIG",
    default=None,
    help="TOML config file (default config/default.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Operate a scimserver: organizations, integrations, the server itself."""
    ctx.obj = Context(config_path)


@cli.group()
def org() -> None:
    """Organizations."""


@org.command("create")
@click.argument("slug")
@click.option("--name", default=None, help="Display name (default: the slug).")
@click.option("--enterprise", is_flag=True, help="An Enterprise organization.")
@click.pass_obj
def org_create(obj: Context, slug: str, name: str | None, enterprise: bool) -> None:
    """Create an organization."""
    try:
        created = obj.server.tenancy.create_org(slug, name, enterprise)
    except TenancyError as exc:
        _fail(str(exc))
    kind = "Enterprise" if created.enterprise else "standard"
    click.echo(f"Created organization {created.slug} ({kind}).")


@org.command("enable-provisioning")
@click.argument("slug")
@click.pass_obj
def org_enable(obj: Context, slug: str) -> None:
    """Turn SCIM provisioning on (Enterprise organizations only)."""
    try:
        obj.server.tenancy.enable_provisioning(slug)
    except TenancyError as exc:
        _fail(str(exc))
    click.echo(f"Provisioning enabled for {slug}.")


@org.command("list")
@click.pass_obj
def org_list(obj: Context) -> None:
    """List organizations."""
    for each in obj.server.tenancy.control.list_orgs():
        flags = [
            f
            for f, on in (("enterprise", each.enterprise), ("provisioning", each.provisioning))
            if on
        ]
        click.echo(f"{each.slug}\t{each.name}\t{','.join(flags) or '-'}")


@cli.group()
def integration() -> None:
    """Provisioning integrations and their access tokens."""


def _issue(obj: Context, slug: str, kind: str, as_json: bool, regenerate: bool) -> None:
    try:
        found, token = obj.server.tenancy.issue_token(slug, kind, regenerate=regenerate)
    except TenancyError as exc:
        _fail(str(exc))
    _show_token(found, token, base_url(obj.config), as_json)


@integration.command("add")
@click.argument("slug")
@click.option("--kind", default="onelogin", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def integration_add(obj: Context, slug: str, kind: str, as_json: bool) -> None:
    """Add an integration; prints the SCIM base URL and its token once."""
    _issue(obj, slug, kind, as_json, regenerate=False)


@integration.command("regenerate")
@click.argument("slug")
@click.option("--kind", default="onelogin", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def integration_regenerate(obj: Context, slug: str, kind: str, as_json: bool) -> None:
    """Issue a new token; the old one stops working at once."""
    _issue(obj, slug, kind, as_json, regenerate=True)


@integration.command("list")
@click.argument("slug")
@click.pass_obj
def integration_list(obj: Context, slug: str) -> None:
    """List an organization's integrations (tokens are never shown again)."""
    try:
        found = obj.server.tenancy.org(slug)
    except TenancyError as exc:
        _fail(str(exc))
    for each in obj.server.tenancy.control.list_integrations(found):
        click.echo(f"{each.kind}\tcreated {each.created}")


@cli.group()
def plugins() -> None:
    """Installed plugins."""


@plugins.command("list")
@click.pass_obj
def plugins_list(obj: Context) -> None:
    """Each plugin, where it came from, and the hooks it implements."""
    from .plugins import origin

    pm = obj.server.pm
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or ())
        click.echo(f"{name}\t{origin(pm, plugin)}\t{', '.join(hooks) or '-'}")


def bootstrap_demo(server: Server, base: str) -> None:
    """On an empty control store: a demo Enterprise org with a OneLogin integration."""
    tenancy = server.tenancy
    if tenancy.control.list_orgs():
        return
    tenancy.create_org(DEMO_ORG, "Demo organization", enterprise=True)
    tenancy.enable_provisioning(DEMO_ORG)
    found, token = tenancy.issue_token(DEMO_ORG, "onelogin", regenerate=False)
    click.echo("Bootstrapped a demo Enterprise organization with provisioning on.")
    _show_token(found, token, base, as_json=False)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Bootstrap a demo organization on an empty store.")
@click.pass_obj
def serve(obj: Context, host: str, port: int, workers: int, demo: bool) -> None:
    """Run the server under gunicorn."""
    from gunicorn.app.base import BaseApplication

    from .app import create_app

    config = obj.config
    if demo:
        bootstrap_demo(obj.server, base_url(config, host, port))
    click.echo(f"Serving SCIM at {base_url(config, host, port)}")

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 8)
            self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            return create_app(config)

    _Gunicorn().run()


def main() -> None:
    """The ``scimserver`` console script."""
    cli()
