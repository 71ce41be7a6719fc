"""Stored rows as documents: what the SQL store's writes and its pages share."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select

from scimserver import jsontext
from scimserver.protocol import errors
from scimserver.protocol.schema import ResourceType
from scimserver.store import Resource

from .tables import memberships, resources

R, M = resources.c, memberships.c

RETAINED = {
    "exclude": (R.retained_at.is_(None),),
    "only": (R.retained_at.is_not(None),),
    "include": (),
}
BY_ID = (R.org == bindparam("org"), R.rtype == bindparam("rtype"), R.id == bindparam("id"))


class UserRow(NamedTuple):
    seq: int
    version: int
    retained_at: str | None
    data: str
    groups: list[Any] | str | None

    @classmethod
    def from_driver(cls, row: tuple[Any, ...] | None) -> UserRow | None:
        return None if row is None else cls._make(row)


class PageRow(NamedTuple):
    seq: int
    data: Resource
    retained_at: str | None
    sort_value: Any
    groups: list[Any] | str | None = None


def doc_of(data: str | Resource, retained_at: str | None) -> Resource:
    doc = jsontext.loads(data) if isinstance(data, str) else data
    if retained_at:
        doc["meta"]["retained"] = retained_at
    return doc


def groups_column(dialect: str) -> Any:
    """A User's groups as one JSON array of [seq, id, display], read with its row."""
    g = resources.alias("gr")
    if dialect == "sqlite":
        agg = func.json_group_array(func.json_array(g.c.seq, g.c.id, g.c.display))
    else:
        agg = func.json_agg(func.json_build_array(g.c.seq, g.c.id, g.c.display))
    joined = memberships.join(g, g.c.seq == M.group_seq)
    return select(agg).select_from(joined).where(M.member_seq == R.seq).scalar_subquery()


def set_groups(doc: Resource, value: str | list[Any] | None) -> None:
    doc.pop("groups", None)
    if value == "[]":
        return
    rows = jsontext.loads(value) if isinstance(value, str) else value
    if rows:
        rows.sort(key=lambda row: row[0])  # in group creation order, as GROUPS_OF reads them
        doc["groups"] = [{"value": i, "display": d, "type": "direct"} for _, i, d in rows]


def found_or_404(row: Any, rtype: ResourceType, id: str, retained: bool) -> Any:
    if row is None or (row.retained_at and not retained):
        raise errors.NotFound(f"{rtype.name} {id!r} not found.")
    return row
