"""The SQL store: SQLite (embedded default) or PostgreSQL through SQLAlchemy Core.

Atomicity comes from the database: a write is one transaction that locks the
row it changes (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serializes
writers with ``BEGIN IMMEDIATE``), uniqueness from unique indexes.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from scimserver import jsontext
from scimserver.protocol import errors
from scimserver.protocol.etag import etag_matches, weak_etag
from scimserver.protocol.schema import ResourceType
from scimserver.protocol.validate import now
from scimserver.store import Capabilities, MemberChange, Mutation, Resource

from .engine import WRITE, create_tables, make_engine, read_once, unavailable
from .many import insert_many
from .pages import COUNT, Pages
from .raw import RawRead
from .rows import BY_ID, UserRow, doc_of, found_or_404, groups_column, set_groups
from .tables import INDEXED_VALUES, counts, memberships, resources, values

R, M, V, C = resources.c, memberships.c, values.c, counts.c
CHUNK = 500  # parameters per IN (...) list; SQLite caps a statement's variables
PG_COUNT_SHARDS = 16  # rows per (org, rtype) in scim_counts on PostgreSQL

# The statements of the hot paths, built once: building them per call costs
# more than SQLite takes to run them.
_GROUP, _MEMBER = resources.alias("g"), resources.alias("m")
GROUPS_OF = (
    select(M.member_seq, _GROUP.c.id, _GROUP.c.display)
    .select_from(memberships.join(_GROUP, _GROUP.c.seq == M.group_seq))
    .where(M.member_seq.in_(bindparam("seqs", expanding=True)))
    .order_by(_GROUP.c.seq)
)
MEMBERS_OF = (
    select(M.group_seq, _MEMBER.c.id, _MEMBER.c.rtype)
    .select_from(memberships.join(_MEMBER, _MEMBER.c.seq == M.member_seq))
    .where(M.group_seq.in_(bindparam("seqs", expanding=True)), _MEMBER.c.retained_at.is_(None))
    .order_by(_MEMBER.c.seq)
)
LOCATE = select(R.seq, R.version, R.retained_at, R.data).where(*BY_ID)
LOCATE_FOR_UPDATE = LOCATE.with_for_update()
# What a write sets: every column but the row's identity (seq, org, rtype, id).
UPDATED = ("version", "retained_at", "created", "modified", "unique_key", "display_ci")
UPDATED += ("display", "external_id", "active", "data")
UPDATE_ROW = (
    update(resources)
    .where(R.seq == bindparam("row_seq"))
    .values({name: bindparam(name) for name in UPDATED})
    .returning(R.seq)
)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


class SqlStore(Pages):
    """A Store on one SQLAlchemy engine."""

    capabilities = Capabilities(cursor=True, sort=True)

    def __init__(self, url: str, **options: Any) -> None:
        self.engine = make_engine(url, **options)
        self._postgres = self.engine.dialect.name == "postgresql"
        dialect_insert = pg_insert if self._postgres else sqlite_insert
        bump = dialect_insert(counts)
        self._bump = bump.on_conflict_do_update(
            index_elements=[C.org, C.rtype, C.shard],
            set_={
                "live": C.live + bump.excluded.live,
                "retained": C.retained + bump.excluded.retained,
            },
        )
        self._shards = PG_COUNT_SHARDS if self._postgres else 1  # SQLite has one writer anyway
        self._groups = groups_column(self.engine.dialect.name).label("groups")
        self._get_user = select(R.seq, R.version, R.retained_at, R.data, self._groups).where(*BY_ID)
        self._lock_user = self._get_user.with_for_update()  # locks the user's row alone
        self._raw_user = RawRead(self.engine, self._get_user)
        self._raw_lock_user = RawRead(self.engine, self._lock_user)
        self._raw_update = RawRead(self.engine, UPDATE_ROW)
        self._counts = {mode: RawRead(self.engine, stmt) for mode, stmt in COUNT.items()}
        self._pages: dict[tuple[str, str, str | None], RawRead] = {}  # see _prepared
        create_tables(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- rows and documents ---------------------------------------------------

    @staticmethod
    def _columns(rtype: ResourceType, doc: Resource) -> dict[str, Any]:
        meta = doc["meta"]
        if rtype.name == "Group":
            key, display, display_ci = _lower(doc.get("displayName")), doc.get("displayName"), None
        else:
            user_name = doc.get("userName")
            key, display_ci = _lower(user_name), _lower(doc.get("displayName"))
            display = doc.get("displayName") or user_name
        active = doc.get("active")
        return {
            "unique_key": key,
            "display_ci": display_ci,
            "display": display,
            "external_id": doc.get("externalId") or None,
            "active": active if isinstance(active, bool) else None,
            "created": meta["created"],
            "modified": meta["lastModified"],
            "data": jsontext.dumps_text(doc),
        }

    @staticmethod
    def _indexed_values(rtype: ResourceType, doc: Resource) -> Iterator[tuple[str, str]]:
        for attr, sub in INDEXED_VALUES.get(rtype.name, ()):
            seen: set[str] = set()
            for element in doc.get(attr) or ():
                value = _lower(element.get(sub)) if isinstance(element, dict) else None
                if value and value not in seen:
                    seen.add(value)
                    yield f"{attr}.{sub}", value

    def _value_rows(
        self, org: str, rtype: ResourceType, seq: int, doc: Resource
    ) -> list[dict[str, Any]]:
        return [
            {"resource_seq": seq, "org": org, "rtype": rtype.name, "attr": a, "value_ci": v}
            for a, v in self._indexed_values(rtype, doc)
        ]

    def _write_values(
        self, conn: Connection, org: str, rtype: ResourceType, seq: int, doc: Resource
    ) -> None:
        """Replace the resource's rows in scim_values."""
        if rtype.name not in INDEXED_VALUES:
            return
        conn.execute(delete(values).where(V.resource_seq == seq))
        rows = self._value_rows(org, rtype, seq, doc)
        if rows:
            conn.execute(insert(values), rows)

    def _attach(
        self, conn: Connection, rtype: ResourceType, docs: dict[int, Resource], members: bool
    ) -> None:
        """Fill in Users' ``groups`` or Groups' ``members`` for these rows."""
        if not docs:
            return
        seqs = list(docs)
        if rtype.name == "User":
            for doc in docs.values():
                doc.pop("groups", None)
            for chunk in _chunks(seqs):
                for member_seq, gid, display in conn.execute(GROUPS_OF, {"seqs": chunk}):
                    docs[member_seq].setdefault("groups", []).append(
                        {"value": gid, "display": display, "type": "direct"}
                    )
        elif rtype.name == "Group" and members:
            for chunk in _chunks(seqs):
                for group_seq, mid, mtype in conn.execute(MEMBERS_OF, {"seqs": chunk}):
                    docs[group_seq].setdefault("members", []).append({"value": mid, "type": mtype})

    def _member_rows(self, conn: Connection, org: str, ids: Iterable[str]) -> dict[str, int]:
        """Row numbers of the member ids that exist in this organization.

        Ids are server-made, so an unknown one can never become valid later: it is
        dropped (RFC 7644 does not ask for referential checks, and IdPs retry
        forever on a 400 here).
        """
        wanted = list(dict.fromkeys(ids))
        found: dict[str, int] = {}
        for chunk in _chunks(wanted):
            rows = conn.execute(
                select(R.id, R.seq).where(
                    R.org == org, R.rtype.in_(("User", "Group")), R.id.in_(chunk)
                )
            )
            found.update({rid: seq for rid, seq in rows})
        return found

    def _insert_members(self, conn: Connection, group_seq: int, member_seqs: Iterable[int]) -> None:
        rows = [{"group_seq": group_seq, "member_seq": s} for s in member_seqs]
        if not rows:
            return
        stmt = (pg_insert if self._postgres else sqlite_insert)(memberships)
        conn.execute(stmt.on_conflict_do_nothing(), rows)

    def _delete_members(self, conn: Connection, group_seq: int, member_seqs: Iterable[int]) -> None:
        for chunk in _chunks(list(member_seqs)):
            conn.execute(
                delete(memberships).where(M.group_seq == group_seq, M.member_seq.in_(chunk))
            )

    def _visible_member_seqs(self, conn: Connection, group_seq: int) -> set[int]:
        m = resources.alias("m")
        return set(
            conn.scalars(
                select(M.member_seq)
                .select_from(memberships.join(m, m.c.seq == M.member_seq))
                .where(M.group_seq == group_seq, m.c.retained_at.is_(None))
            )
        )

    def _set_members(
        self, conn: Connection, org: str, group_seq: int, wanted: list[dict[str, Any]]
    ) -> None:
        """Make the visible members exactly ``wanted`` (retained ones are kept)."""
        target = set(self._member_rows(conn, org, (m["value"] for m in wanted)).values())
        current = self._visible_member_seqs(conn, group_seq)
        self._delete_members(conn, group_seq, current - target)
        self._insert_members(conn, group_seq, target - current)

    def _apply_member_change(
        self, conn: Connection, org: str, group_seq: int, change: MemberChange
    ) -> None:
        if change.replace is not None:
            self._set_members(conn, org, group_seq, [{"value": m.value} for m in change.replace])
        if change.remove:
            gone = conn.scalars(select(R.seq).where(R.org == org, R.id.in_(list(change.remove))))
            self._delete_members(conn, group_seq, list(gone))
        if change.add:
            rows = self._member_rows(conn, org, (m.value for m in change.add))
            self._insert_members(conn, group_seq, rows.values())

    def _locate(
        self,
        conn: Connection,
        org: str,
        rtype: ResourceType,
        id: str,
        *,
        lock: bool,
        retained: bool,
        members: bool,
    ) -> tuple[int, int, str | None, Resource]:
        """The row (locked for a write), users with their groups, groups with their
        members when ``members``."""
        params = {"org": org, "rtype": rtype.name, "id": id}
        if rtype.name == "User":
            found = (self._raw_lock_user if lock else self._raw_user).run(conn, params)
            row = UserRow.from_driver(found)
            doc = doc_of(found_or_404(row, rtype, id, retained).data, row.retained_at)
            set_groups(doc, row.groups)
        else:
            row = conn.execute(LOCATE_FOR_UPDATE if lock else LOCATE, params).first()
            doc = doc_of(found_or_404(row, rtype, id, retained).data, row.retained_at)
            self._attach(conn, rtype, {row.seq: doc}, members)
        return row.seq, row.version, row.retained_at, doc

    def _count(
        self, conn: Connection, org: str, rtype: ResourceType, live: int, retained: int = 0
    ) -> None:
        """Add to the organization's counts of live and retained rows."""
        if live or retained:
            shard = random.randrange(self._shards)
            row = {"org": org, "rtype": rtype.name, "shard": shard}
            conn.execute(self._bump, {**row, "live": live, "retained": retained})

    def _uniqueness(self, rtype: ResourceType, doc: Resource) -> errors.Uniqueness:
        name = "displayName" if rtype.name == "Group" else "userName"
        return errors.Uniqueness(f"{rtype.name} {name} {doc.get(name)!r} is already taken.")

    # -- the Store contract -----------------------------------------------------

    def create(self, org: str, rtype: ResourceType, resource: Resource) -> Resource:
        result = self.create_many(org, rtype, [resource])[0]
        if isinstance(result, errors.ScimError):
            raise result
        return result

    @unavailable
    def create_many(
        self, org: str, rtype: ResourceType, batch: list[Resource]
    ) -> list[Resource | errors.ScimError]:
        """One transaction: a multi-row INSERT that skips taken names, then their values."""
        # New top-level dicts: members, groups and meta.version change only in the copies.
        docs = [{**resource, "meta": {**resource["meta"]}} for resource in batch]
        wanted: dict[str, list[dict[str, Any]]] = {}
        rows = []
        for doc in docs:
            wanted[doc["id"]] = doc.pop("members", None) or []
            doc.pop("groups", None)
            doc["meta"]["version"] = weak_etag(1)
            rows.append(
                {"org": org, "rtype": rtype.name, "id": doc["id"], "version": 1}
                | self._columns(rtype, doc)
            )
        # Every writer inserts names in one order, so two imports racing over the
        # same names queue behind each other instead of deadlocking (PostgreSQL).
        rows.sort(key=lambda row: (row["unique_key"] is None, row["unique_key"] or ""))
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            new = insert_many(conn, resources, rows, returning=("id", "seq"), skip_conflicts=True)
            seqs: dict[str, int] = dict(new)
            inserted = {seqs[doc["id"]]: doc for doc in docs if doc["id"] in seqs}
            value_rows = [
                row
                for seq, doc in inserted.items()
                for row in self._value_rows(org, rtype, seq, doc)
            ]
            insert_many(conn, values, value_rows)
            self._count(conn, org, rtype, len(inserted))
            with_members = {seq: doc for seq, doc in inserted.items() if wanted[doc["id"]]}
            for seq, doc in with_members.items():
                rows_of = self._member_rows(conn, org, (m["value"] for m in wanted[doc["id"]]))
                self._insert_members(conn, seq, rows_of.values())
            self._attach(conn, rtype, with_members, True)
        # A new resource belongs to no group yet: nothing else to read.
        return [doc if doc["id"] in seqs else self._uniqueness(rtype, doc) for doc in docs]

    @unavailable
    def get(
        self,
        org: str,
        rtype: ResourceType,
        id: str,
        *,
        members: bool = True,
        retained: bool = False,
    ) -> Resource:
        if rtype.name == "User":  # the hottest read of all: one statement, on the driver
            params = {"org": org, "rtype": rtype.name, "id": id}
            fetched = UserRow.from_driver(self._raw_user.run(None, params))
            row = found_or_404(fetched, rtype, id, retained)
            doc = doc_of(row.data, row.retained_at)
            set_groups(doc, row.groups)
            return doc
        # A group without members is one statement: no transaction needed.
        with read_once(self.engine) if not members else self.engine.connect() as conn, conn.begin():
            _, _, _, doc = self._locate(
                conn, org, rtype, id, lock=False, retained=retained, members=members
            )
            return doc

    @unavailable
    def update(
        self,
        org: str,
        rtype: ResourceType,
        id: str,
        mutate: Mutation,
        *,
        if_match: str | None = None,
        members: bool = True,
        member_change: MemberChange | None = None,
        retain: bool | None = None,
    ) -> Resource:
        try:
            with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                seq, version, retained_at, current = self._locate(
                    conn, org, rtype, id, lock=True, retained=retain is False, members=members
                )
                if if_match is not None and not etag_matches(if_match, weak_etag(version)):
                    raise errors.PreconditionFailed()
                doc = mutate(copy.deepcopy(current))
                wanted = doc.pop("members", None) if rtype.name == "Group" else None
                doc.pop("groups", None)
                doc["meta"]["version"] = weak_etag(version + 1)
                doc["meta"].pop("retained", None)  # a column, not part of the document
                was_retained = retained_at is not None
                if retain is True:
                    retained_at = retained_at or now()
                elif retain is False:
                    retained_at = None
                if was_retained != (retained_at is not None):
                    moved = 1 if was_retained else -1
                    self._count(conn, org, rtype, live=moved, retained=-moved)
                row = {"row_seq": seq, "version": version + 1, "retained_at": retained_at}
                self._raw_update.run(conn, row | self._columns(rtype, doc))
                if set(self._indexed_values(rtype, doc)) != set(
                    self._indexed_values(rtype, current)
                ):
                    self._write_values(conn, org, rtype, seq, doc)
                if rtype.name == "Group":
                    if members:
                        self._set_members(conn, org, seq, wanted or [])
                    if member_change is not None and not member_change.empty:
                        self._apply_member_change(conn, org, seq, member_change)
                    self._attach(conn, rtype, {seq: doc}, members)
                elif "groups" in current:  # a write never changes the groups a user is in
                    doc["groups"] = current["groups"]
                if retained_at:
                    doc["meta"]["retained"] = retained_at
                return doc
        except IntegrityError as exc:
            raise self._uniqueness(rtype, doc) from exc

    @unavailable
    def delete(
        self, org: str, rtype: ResourceType, id: str, *, if_match: str | None = None
    ) -> None:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            seq, version, retained_at, _ = self._locate(
                conn, org, rtype, id, lock=True, retained=True, members=False
            )
            if if_match is not None and not etag_matches(if_match, weak_etag(version)):
                raise errors.PreconditionFailed()
            conn.execute(delete(memberships).where((M.group_seq == seq) | (M.member_seq == seq)))
            conn.execute(delete(values).where(V.resource_seq == seq))
            conn.execute(delete(resources).where(R.seq == seq))
            if retained_at is None:
                self._count(conn, org, rtype, live=-1)
            else:
                self._count(conn, org, rtype, live=0, retained=-1)
