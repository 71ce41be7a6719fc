"""``scimserver log SLUG``: an organization's provisioning log, newest first."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scimserver.durations import ago
from scimserver.tenancy import TenancyError

from .log import PLUGIN_NAME, ProvisioningLog

PREFIX = "/scim/v2"
# (heading, entry key, widest shown)
COLUMNS = (
    ("TIME", "time", 24),
    ("KIND", "integration", 16),
    ("METHOD", "method", 6),
    ("PATH", "path", 48),
    ("STATUS", "status", 6),
    ("SCIMTYPE", "scimType", 16),
    ("ID", "resourceId", 36),
    ("USERNAME", "userName", 32),
    ("MS", "durationMs", 9),
)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _cell(item: dict[str, Any], key: str, width: int) -> str:
    value = item.get(key)
    if value is None or value == "":
        return "-"
    if key == "path" and isinstance(value, str) and value.startswith(PREFIX + "/"):
        value = value[len(PREFIX) :]
    text = f"{value:.1f}" if key == "durationMs" else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(items: list[dict[str, Any]]) -> None:
    cells = [[_cell(item, key, width) for _, key, width in COLUMNS] for item in items]
    widths = [
        max(len(heading), *(len(row[i]) for row in cells))
        for i, (heading, _, _) in enumerate(COLUMNS)
    ]
    header = "  ".join(h.ljust(w) for (h, _, _), w in zip(COLUMNS, widths, strict=True))
    click.echo(header.rstrip())
    for item, row in zip(items, cells, strict=True):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if item.get("detail"):
            click.echo(f"    detail: {item['detail']}")
        if item.get("hint"):
            click.echo(f"    hint:   {item['hint']}")


@click.command("log")
@click.argument("slug")
@click.option("--failed", is_flag=True, help="Only failed requests (status >= 400).")
@click.option("--since", default=None, help="Only entries newer than this, e.g. 1h, 7d.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many entries.",
)
@click.pass_obj
def log_command(
    obj: Any, slug: str, failed: bool, since: str | None, as_json: bool, limit: int
) -> None:
    """An organization's provisioning log: its SCIM writes and failed requests, newest
    first. A 404 on a resource id carries a hint: the IdP holds a stale id."""
    try:
        cutoff = ago(since) if since is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    server = obj.server
    try:
        org = server.tenancy.org(slug)
    except TenancyError as exc:
        _fail(str(exc))
    provlog = server.pm.get_plugin(PLUGIN_NAME)
    if not isinstance(provlog, ProvisioningLog):
        _fail("The provisioning log is off ([provisioning_log] enabled = false).")
    items = provlog.query(org.id, failed=failed, since=cutoff, limit=limit)
    if as_json:
        for item in items:
            click.echo(json.dumps({"org": org.slug, **item}, ensure_ascii=False))
        return
    if not items:
        click.echo(f"No provisioning log entries for {slug}.", err=True)
        return
    _table(items)
    click.echo(f"{len(items)} entr{'y' if len(items) == 1 else 'ies'}, newest first.", err=True)
