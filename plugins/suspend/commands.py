"""``scimserver users suspended|restore|purge``: the operator's side of the policy."""

from __future__ import annotations

import sys
from typing import Any

import click

from scimserver.durations import ago
from scimserver.protocol import errors
from scimserver.protocol.core_schemas import USER_TYPE
from scimserver.protocol.filter_ast import Compare
from scimserver.protocol.validate import now
from scimserver.store import Query, Resource
from scimserver.tenancy import TenancyError

ACTIVE = USER_TYPE.resolve("active")
PAGE = 500


def _org_id(obj: Any, slug: str) -> str:
    try:
        return obj.server.tenancy.org(slug).id
    except TenancyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _all(obj: Any, org_id: str, query: Query) -> list[Resource]:
    """Every match, a page at a time (retained sets can be large)."""
    out: list[Resource] = []
    cursor = ""
    while cursor is not None:
        page = obj.server.store.query(
            org_id,
            USER_TYPE,
            Query(
                filter=query.filter,
                count=PAGE,
                cursor=cursor,
                retained=query.retained,
                members=False,
            ),
        )
        out.extend(page.resources)
        cursor = page.next_cursor
    return out


def _line(doc: Resource, state: str) -> str:
    since = doc["meta"].get("retained") or doc["meta"]["lastModified"]
    return f"{doc['id']}\t{doc.get('userName', '')}\t{state}\tsince {since}"


@click.group()
def users() -> None:
    """Users the suspend policy keeps: list, restore, purge."""


@users.command("suspended")
@click.argument("slug")
@click.pass_obj
def suspended(obj: Any, slug: str) -> None:
    """List suspended users: retained (deleted by the IdP, hidden) and inactive ones."""
    org_id = _org_id(obj, slug)
    retained = _all(obj, org_id, Query(retained="only"))
    inactive = _all(obj, org_id, Query(filter=Compare(ACTIVE, "eq", False)))
    for doc in retained:
        click.echo(_line(doc, "retained"))
    for doc in inactive:
        click.echo(_line(doc, "inactive"))
    click.echo(f"{len(retained)} retained, {len(inactive)} inactive.", err=True)


@users.command("restore")
@click.argument("slug")
@click.argument("id")
@click.pass_obj
def restore(obj: Any, slug: str, id: str) -> None:
    """Bring a retained user back into SCIM's view (still suspended: the IdP reactivates)."""
    org_id = _org_id(obj, slug)

    def touch(doc: Resource) -> Resource:
        doc["meta"] = {**doc["meta"], "lastModified": now()}
        return doc

    try:
        obj.server.store.get(org_id, USER_TYPE, id, retained=True)
        restored = obj.server.store.update(
            org_id, USER_TYPE, id, touch, members=False, retain=False
        )
    except errors.NotFound:
        click.echo(f"error: no user {id!r} in {slug}.", err=True)
        sys.exit(1)
    click.echo(f"Restored {restored.get('userName')} ({id}); active={restored.get('active')}.")


@users.command("purge")
@click.argument("slug")
@click.option(
    "--older-than", "older_than", required=True, help="Retained for longer than this, e.g. 90d."
)
@click.option("--yes", is_flag=True, help="Really delete; without it, only list.")
@click.pass_obj
def purge(obj: Any, slug: str, older_than: str, yes: bool) -> None:
    """Delete for good the users retained for longer than --older-than."""
    try:
        cutoff = ago(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from exc
    org_id = _org_id(obj, slug)
    due = [d for d in _all(obj, org_id, Query(retained="only")) if d["meta"]["retained"] < cutoff]
    for doc in due:
        click.echo(_line(doc, "purged" if yes else "would purge"))
        if yes:
            obj.server.store.delete(org_id, USER_TYPE, doc["id"])
    verb = "Purged" if yes else "Dry run: would purge"
    click.echo(
        f"{verb} {len(due)} user(s) retained before {cutoff}."
        + ("" if yes else " Add --yes to delete them.")
    )
