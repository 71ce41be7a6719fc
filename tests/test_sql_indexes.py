"""Filters on userName, externalId, displayName and emails.value use an index.

The statements the SQL store really sends are captured and handed back to the
database's own planner (EXPLAIN); a full scan of the resources table fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from scimserver.protocol.core_schemas import GROUP_TYPE, USER_TYPE
from scimserver.protocol.filter import parse_filter
from scimserver.protocol.validate import now
from scimserver.store import Query
from scimserver_plugins.sql.raw import RawRead
from scimserver_plugins.sql.store import SqlStore

# filter -> the index its lookup must go through
FILTERS = [
    (USER_TYPE, 'userName eq "ada@example.com"', "ix_scim_resources_key"),
    (USER_TYPE, 'userName sw "ada"', "ix_scim_resources_key"),
    (USER_TYPE, 'externalId eq "00u1"', "ix_scim_resources_external_id"),
    (USER_TYPE, 'displayName eq "Ada"', "ix_scim_resources_display"),
    (USER_TYPE, 'emails.value eq "ada@example.com"', "ix_scim_values_lookup"),
    (USER_TYPE, 'emails[value eq "ada@example.com"]', "ix_scim_values_lookup"),
    (GROUP_TYPE, 'displayName eq "Admins"', "ix_scim_resources_key"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('idx') / 'scim.db'}"
    else:
        url = request.getfixturevalue("pg").create_database(f"idx_{uuid.uuid4().hex}")
    built = SqlStore(url)
    _seed(built)
    yield built
    built.close()


def _doc(rtype, **values: Any) -> dict[str, Any]:
    stamp = now()
    return {
        "schemas": [rtype.schema.id],
        "id": str(uuid.uuid4()),
        **values,
        "meta": {"resourceType": rtype.name, "created": stamp, "lastModified": stamp},
    }


def _seed(store: SqlStore, users: int = 800) -> None:
    """Enough rows, in two organizations, for planners to prefer a selective index."""
    for org in ("org", "other"):
        for i in range(users):
            store.create(
                org,
                USER_TYPE,
                _doc(
                    USER_TYPE,
                    userName=f"user{i}@example.com",
                    displayName=f"User {i}",
                    externalId=f"ext{i}",
                    emails=[{"value": f"user{i}@example.com", "type": "work"}],
                ),
            )
        for i in range(users // 10):
            store.create(org, GROUP_TYPE, _doc(GROUP_TYPE, displayName=f"Group {i}"))
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _captured(store: SqlStore, fn: Any) -> list[tuple[str, Any]]:
    """Every SELECT sent: through SQLAlchemy, and the hot reads sent on the driver."""
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    run = RawRead.run

    def capture_raw(self: RawRead, conn: Any, params: dict[str, Any], **kw: Any) -> Any:
        args = self.args(params)
        seen.append((self.sql, tuple(args) if isinstance(args, list) else args))
        return run(self, conn, params, **kw)

    event.listen(store.engine, "before_cursor_execute", capture)
    RawRead.run = capture_raw  # type: ignore[method-assign]
    try:
        fn()
    finally:
        RawRead.run = run  # type: ignore[method-assign]
        event.remove(store.engine, "before_cursor_execute", capture)
    return seen


def _plan(store: SqlStore, statement: str, parameters: Any) -> str:
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return "\n".join(str(r[-1]) for r in rows)
        rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
        return "\n".join(r[0] for r in rows)


@pytest.mark.parametrize(("rtype", "filter_text", "index"), FILTERS, ids=[f for _, f, _ in FILTERS])
def test_indexed_filters_go_through_their_index(store: SqlStore, rtype, filter_text, index) -> None:
    query = Query(filter=parse_filter(filter_text, rtype), count=10)
    statements = _captured(store, lambda: store.query("org", rtype, query))
    plans = [_plan(store, s, p) for s, p in statements if "scim_resources" in s]
    assert plans, "the store sent no SELECT"
    # Both the count and the page must use it.
    assert all(index in plan for plan in plans), plans


def test_an_unindexed_filter_does_not_name_those_indexes(store: SqlStore) -> None:
    """The check above can fail: a filter on title finds no index of its own."""
    query = Query(filter=parse_filter('title eq "x"', USER_TYPE), count=10)
    statements = _captured(store, lambda: store.query("org", USER_TYPE, query))
    plans = [_plan(store, s, p) for s, p in statements if "scim_resources" in s]
    assert plans and not any(name in plan for plan in plans for _, _, name in FILTERS)
