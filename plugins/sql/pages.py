"""List requests on the SQL store: pages, pushed-down filters, totals, keyset cursors.

``Pages`` is the read half of ``SqlStore`` (store.py mixes it in): unfiltered
lists and one-attribute ``eq`` lookups use prebuilt statements run on the
driver, other filters compile to SQL (compile.py), and what SQL cannot express
goes to the reference evaluator over the rows SQL narrowed down to.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, null, or_, select

from scimserver import jsontext
from scimserver.protocol import errors
from scimserver.protocol.cursor import (
    decode_cursor,
    encode_cursor,
)
from scimserver.protocol.filter_ast import Compare
from scimserver.protocol.schema import ResourceType
from scimserver.scan import evaluated_page
from scimserver.store import Page, Query, Resource

from .compile import COLUMNS, compile_filter, sort_column
from .engine import read_once, unavailable
from .raw import RawRead
from .rows import RETAINED, PageRow, doc_of, set_groups
from .tables import counts, resources

R, C = resources.c, counts.c

_COUNTED = {"exclude": C.live, "only": C.retained, "include": C.live + C.retained}
COUNT = {
    mode: select(func.coalesce(func.sum(column), 0)).where(
        C.org == bindparam("org"), C.rtype == bindparam("rtype")
    )
    for mode, column in _COUNTED.items()
}


class Pages:
    """The query half of SqlStore; the attributes below are SqlStore's."""

    engine: Engine
    _postgres: bool
    _groups: Any  # the users' groups column (rows.groups_column)
    _counts: dict[str, RawRead]  # COUNT per retained mode, prebuilt
    _pages: dict[tuple[str, str, str | None], RawRead]  # see _prepared

    if TYPE_CHECKING:

        def _attach(
            self, conn: Connection, rtype: ResourceType, docs: dict[int, Resource], members: bool
        ) -> None: ...

    @unavailable
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
        docs = {row.seq: doc_of(row.data, row.retained_at) for row in rows}
        if users:
            for row in rows:
                set_groups(docs[row.seq], row.groups)
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
                return [PageRow(*row) for row in page.run(None, params, many=True)]
            (packed,) = page.run(None, params)
        elif conn is None:
            raise TypeError("a built page needs a connection")
        elif self._postgres:
            return list(conn.execute(page, params).all())
        else:
            packed = conn.scalar(page, params)
        return [PageRow(*row) for row in jsontext.loads(packed)]

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
        docs = {row.seq: doc_of(row.data, row.retained_at) for row in rows}
        self._attach(conn, rtype, docs, True)
        return evaluated_page(docs.items(), query, rest)


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
