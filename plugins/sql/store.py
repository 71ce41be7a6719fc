"""The SQL store: SQLite (embedded default) or PostgreSQL through SQLAlchemy Core.

Atomicity comes from the database: a write is one transaction that locks the
row it changes (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serializes
writers with ``BEGIN IMMEDIATE``), uniqueness from unique indexes.
"""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any, NamedTuple, ParamSpec, TypeVar

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from scimserver import jsontext
from scimserver.protocol import errors
from scimserver.protocol.cursor import (
    decode_cursor,
    encode_cursor,
    key_from_json,
    key_to_json,
    resume_after,
)
from scimserver.protocol.etag import etag_matches, weak_etag
from scimserver.protocol.evaluate import matches, sort_key
from scimserver.protocol.filter_ast import Compare
from scimserver.protocol.schema import ResourceType
from scimserver.protocol.validate import now
from scimserver.store import Capabilities, MemberChange, Mutation, Page, Query, Resource

from .compile import COLUMNS, compile_filter, sort_column
from .engine import WRITE, create_tables, make_engine, read_once
from .many import insert_many
from .raw import RawRead
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
RETAINED = {
    "exclude": (R.retained_at.is_(None),),
    "only": (R.retained_at.is_not(None),),
    "include": (),
}
BY_ID = (R.org == bindparam("org"), R.rtype == bindparam("rtype"), R.id == bindparam("id"))
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
_COUNTED = {"exclude": C.live, "only": C.retained, "include": C.live + C.retained}
COUNT = {
    mode: select(func.coalesce(func.sum(column), 0)).where(
        C.org == bindparam("org"), C.rtype == bindparam("rtype")
    )
    for mode, column in _COUNTED.items()
}

P = ParamSpec("P")
T = TypeVar("T")


def _unavailable(fn: Callable[P, T]) -> Callable[P, T]:
    """Connection failures become 503 Unavailable, with Retry-After."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            raise errors.Unavailable(f"The database is unavailable: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise errors.Unavailable(f"The database connection was lost: {exc.orig}") from exc
            raise

    return wrapper


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class _UserRow(NamedTuple):
    seq: int
    version: int
    retained_at: str | None
    data: str
    groups: list[Any] | str | None

    @classmethod
    def _make_or_none(cls, row: tuple[Any, ...] | None) -> _UserRow | None:
        return None if row is None else cls._make(row)


class _PageRow(NamedTuple):
    seq: int
    data: Resource
    retained_at: str | None
    sort_value: Any
    groups: list[Any] | str | None = None


def _doc(data: str | Resource, retained_at: str | None) -> Resource:
    doc = jsontext.loads(data) if isinstance(data, str) else data
    if retained_at:
        doc["meta"]["retained"] = retained_at
    return doc


def _groups_column(dialect: str) -> Any:
    """A User's groups as one JSON array of [seq, id, display], read with its row."""
    g = resources.alias("gr")
    if dialect == "sqlite":
        agg = func.json_group_array(func.json_array(g.c.seq, g.c.id, g.c.display))
    else:
        agg = func.json_agg(func.json_build_array(g.c.seq, g.c.id, g.c.display))
    joined = memberships.join(g, g.c.seq == M.group_seq)
    return select(agg).select_from(joined).where(M.member_seq == R.seq).scalar_subquery()


def _set_groups(doc: Resource, value: str | list[Any] | None) -> None:
    doc.pop("groups", None)
    if value == "[]":
        return
    rows = jsontext.loads(value) if isinstance(value, str) else value
    if rows:
        rows.sort(key=lambda row: row[0])  # in group creation order, as GROUPS_OF reads them
        doc["groups"] = [{"value": i, "display": d, "type": "direct"} for _, i, d in rows]


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


class SqlStore:
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
        self._groups = _groups_column(self.engine.dialect.name).label("groups")
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
            row = _UserRow._make_or_none(found)
            doc = _doc(_found(row, rtype, id, retained).data, row.retained_at)
            _set_groups(doc, row.groups)
        else:
            row = conn.execute(LOCATE_FOR_UPDATE if lock else LOCATE, params).first()
            doc = _doc(_found(row, rtype, id, retained).data, row.retained_at)
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

    @_unavailable
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

    @_unavailable
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
            row = _found(
                _UserRow._make_or_none(self._raw_user.run(None, params)), rtype, id, retained
            )
            doc = _doc(row.data, row.retained_at)
            _set_groups(doc, row.groups)
            return doc
        # A group without members is one statement: no transaction needed.
        with read_once(self.engine) if not members else self.engine.connect() as conn, conn.begin():
            _, _, _, doc = self._locate(
                conn, org, rtype, id, lock=False, retained=retained, members=members
            )
            return doc

    @_unavailable
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

    @_unavailable
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

    @_unavailable
    def query(self, org: str, rtype: ResourceType, query: Query) -> Page:
        prepared = self._prepared(org, rtype, query)
        # A prepared shape compiles whole; it is compiled only if a count needs it.
        pushed, rest = compile_filter(org, rtype.name, query.filter) if not prepared else ([], None)

        def where() -> Any:  # built only when a statement needs it
            conditions = compile_filter(org, rtype.name, query.filter)[0] if prepared else pushed
            return and_(R.org == org, R.rtype == rtype.name, *conditions, *RETAINED[query.retained])

        column = sort_column(rtype.name, query.sort_by) if query.sort_by else None
        if rest is not None or (query.sort_by is not None and column is None):
            with self.engine.connect() as conn, conn.begin():
                return self._query_scan(conn, rtype, query, where(), rest)
        with ExitStack() as stack:  # a connection is opened if a statement needs one

            def conn() -> Connection:
                if not opened:
                    opened.append(stack.enter_context(read_once(self.engine)))
                return opened[0]

            opened: list[Connection] = []
            if query.filter is not None:  # counted after the page, if the page cannot tell
                return self._query_sql(conn, org, rtype, query, where, column, None, prepared)
            # The kept count and the page are two statements, like any two reads
            # under PostgreSQL's READ COMMITTED: writes between them may show in one.
            counted = self._counts[query.retained].run(None, {"org": org, "rtype": rtype.name})
            if query.count == 0:
                return Page([], counted[0])
            return self._query_sql(conn, org, rtype, query, where, column, counted[0], prepared)

    def _query_sql(
        self,
        conn: Callable[[], Connection],
        org: str,
        rtype: ResourceType,
        query: Query,
        where: Callable[[], Any],
        column: Any,
        total: int | None,
        prepared: tuple[RawRead, dict[str, Any]] | None,
    ) -> Page:
        def counted() -> int:
            stmt = select(func.count()).select_from(resources).where(where())
            return conn().scalar(stmt) or 0

        if query.count == 0:
            return Page([], counted() if total is None else total)
        users = rtype.name == "User"
        if prepared is not None:
            rows = self._fetch_page(None, *prepared)
        else:
            sort_value = column if column is not None else R.seq
            stmt = self._selected(users, sort_value).where(where())
            if query.cursor:
                stmt = stmt.where(
                    _after(column, query.descending, decode_cursor(query.cursor, ("v", "s")))
                )
            elif query.cursor is None:
                stmt = stmt.offset(query.start_index - 1)
            if column is not None:
                # Missing values last in both directions, as evaluate.sort_key orders them.
                order = (
                    column.desc().nulls_last() if query.descending else column.asc().nulls_last()
                )
                stmt = stmt.order_by(order, R.seq)
            else:
                stmt = stmt.order_by(R.seq.desc() if query.descending else R.seq)
            rows = self._fetch_page(conn(), self._packed(stmt.limit(query.count + 1), users), {})
        more = len(rows) > query.count
        rows = rows[: query.count]
        if total is None:
            # The last page of index paging holds what is left: the total follows
            # (the IdPs' `userName eq` lookups then cost one statement).
            skipped = query.start_index - 1
            last = query.cursor is None and not more and (rows or not skipped)
            total = skipped + len(rows) if last else counted()
        docs = {row.seq: _doc(row.data, row.retained_at) for row in rows}
        if users:
            for row in rows:
                _set_groups(docs[row.seq], row.groups)
        elif docs:
            self._attach(conn(), rtype, docs, query.members)
        next_cursor = None
        if query.cursor is not None and more:
            next_cursor = encode_cursor({"v": rows[-1].sort_value, "s": rows[-1].seq})
        return Page(list(docs.values()), total, next_cursor)

    def _selected(self, users: bool, sort_value: Any) -> Any:
        shown = [R.seq, R.data, R.retained_at, sort_value.label("sort_value")]
        return select(*shown, *([self._groups] if users else []))

    def _packed(self, page: Any, users: bool) -> Any:
        """On SQLite, the page as one JSON value: each row fetched is a call into
        SQLite that hands the GIL to another thread and waits to get it back."""
        if self._postgres:
            return page
        sub = page.subquery()
        groups = func.json(sub.c.groups) if users else null()
        item = func.json_array(
            sub.c.seq, func.json(sub.c.data), sub.c.retained_at, sub.c.sort_value, groups
        )
        return select(func.json_group_array(item))

    def _fetch_page(self, conn: Connection | None, page: Any, params: dict[str, Any]) -> list[Any]:
        """A prepared page (``RawRead``, run on a connection of its own) or a built one."""
        if isinstance(page, RawRead):
            if self._postgres:
                return [_PageRow(*row) for row in page.run(None, params, many=True)]
            (packed,) = page.run(None, params)
        elif conn is None:
            raise TypeError("a built page needs a connection")
        elif self._postgres:
            return list(conn.execute(page, params).all())
        else:
            packed = conn.scalar(page, params)
        return [_PageRow(*row) for row in jsontext.loads(packed)]

    def _prepared(
        self, org: str, rtype: ResourceType, query: Query
    ) -> tuple[RawRead, dict[str, Any]] | None:
        """Prebuilt pages for what IdPs send all day: an unfiltered list, and a
        lookup by one indexed attribute (``userName eq "x"``). Building and
        cache-keying a statement costs more than SQLite takes to run it."""
        if query.sort_by is not None or query.descending or query.cursor is not None:
            return None
        flt, value, column = query.filter, None, None
        if flt is not None:
            if not (isinstance(flt, Compare) and flt.op == "eq" and isinstance(flt.value, str)):
                return None
            column = COLUMNS.get(rtype.name, {}).get(flt.attr.dotted)
            if column is None:
                return None
            value = flt.value.lower() if column[1] else flt.value
        key = (rtype.name, query.retained, flt.attr.dotted if flt is not None else None)
        page = self._pages.get(key)
        if page is None:
            where = [R.org == bindparam("org"), R.rtype == bindparam("rtype")]
            if column is not None:
                where.append(column[0] == bindparam("value"))
            stmt = self._selected(rtype.name == "User", R.seq).where(
                *where, *RETAINED[query.retained]
            )
            stmt = stmt.order_by(R.seq).offset(bindparam("offset")).limit(bindparam("limit"))
            page = self._pages[key] = RawRead(self.engine, self._packed(stmt, rtype.name == "User"))
        params = {"org": org, "rtype": rtype.name, "value": value}
        return page, params | {"offset": query.start_index - 1, "limit": query.count + 1}

    def _query_scan(
        self, conn: Connection, rtype: ResourceType, query: Query, where: Any, rest: Any
    ) -> Page:
        """The reference evaluator over the rows SQL could narrow down to."""
        rows = conn.execute(select(R.seq, R.data, R.retained_at).where(where).order_by(R.seq)).all()
        docs = {row.seq: _doc(row.data, row.retained_at) for row in rows}
        self._attach(conn, rtype, docs, True)
        sort_by, descending = query.sort_by, query.descending
        found = [
            (sort_key(doc, sort_by, descending=descending) if sort_by else (), seq, doc)
            for seq, doc in docs.items()
            if rest is None or matches(rest, doc)
        ]
        if sort_by is not None:
            found.sort(key=lambda item: item[0], reverse=descending)
        elif descending:
            found.reverse()
        total = len(found)
        if query.cursor:
            position = decode_cursor(query.cursor, ("k", "s"))
            found = resume_after(
                found,
                key_from_json(position["k"]),
                position["s"],
                descending and sort_by is not None,
            )
            if sort_by is None and descending:
                found = [item for item in found if item[1] < position["s"]]
        elif query.cursor is None:
            found = found[query.start_index - 1 :]
        page = found[: query.count]
        if not query.members:
            for _, _, doc in page:
                doc.pop("members", None)
        next_cursor = None
        if query.cursor is not None and len(found) > len(page) and page:
            key, seq, _ = page[-1]
            next_cursor = encode_cursor({"k": key_to_json(key), "s": seq})
        return Page([doc for _, _, doc in page], total, next_cursor)


def _found(row: Any, rtype: ResourceType, id: str, retained: bool) -> Any:
    if row is None or (row.retained_at and not retained):
        raise errors.NotFound(f"{rtype.name} {id!r} not found.")
    return row


def _after(column: Any, descending: bool, position: dict[str, Any]) -> Any:
    """Rows after the cursor's (sort value, seq) in the query's order (nulls last)."""
    value, seq = position["v"], position["s"]
    if not isinstance(seq, int):
        raise errors.InvalidCursor("The cursor's position is malformed.")
    if column is None:
        return R.seq < seq if descending else R.seq > seq
    if value is None:  # past the last value: only the rows without one remain
        return and_(column.is_(None), R.seq > seq)
    if not isinstance(value, str | bool | int | float):
        raise errors.InvalidCursor("The cursor's position is malformed.")
    beyond = column < value if descending else column > value
    return or_(beyond, and_(column == value, R.seq > seq), column.is_(None))
