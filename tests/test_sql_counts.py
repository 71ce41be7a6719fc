"""totalResults without counting rows: the SQL store's scim_counts table.

Every write keeps the per-organization counts of live and retained rows in its
own transaction; an unfiltered list reads them instead of counting the
organization, and a filtered one counts only when its page cannot tell.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import stored_user
from sqlalchemy import event, func, select

from scimserver.protocol.core_schemas import GROUP_TYPE, USER_TYPE
from scimserver.protocol.filter import parse_filter
from scimserver.store import Query, Retained
from scimserver_plugins.sql.store import SqlStore
from scimserver_plugins.sql.tables import counts, resources


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('counts') / 'scim.db'}"
    return request.getfixturevalue("pg").create_database(f"counts_{uuid.uuid4().hex}")


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    built = SqlStore(url)
    yield built
    built.close()


def total(
    store: SqlStore, org: str, retained: Retained = "exclude", text: str | None = None
) -> int:
    flt = parse_filter(text, USER_TYPE) if text else None
    return store.query(org, USER_TYPE, Query(filter=flt, count=0, retained=retained)).total


def row_count(store: SqlStore, org: str, *where: Any) -> int:
    with store.engine.connect() as conn:
        stmt = select(func.count()).select_from(resources)
        return conn.scalar(stmt.where(resources.c.org == org, *where)) or 0


def selects(store: SqlStore, fn: Callable[[], Any]) -> list[str]:
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        fn()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    return seen


def retain(store: SqlStore, org: str, id: str, retained: bool) -> None:
    store.update(org, USER_TYPE, id, lambda doc: doc, members=False, retain=retained)


def test_counts_follow_every_write(store: SqlStore) -> None:
    org = f"org-{uuid.uuid4()}"
    made = [store.create(org, USER_TYPE, stored_user(f"u{n}@example.com")) for n in range(5)]
    store.create_many(
        org, USER_TYPE, [stored_user("b1@example.com"), stored_user("U0@example.com")]
    )
    group = {**stored_user("team"), "schemas": [GROUP_TYPE.schema.id], "displayName": "Team"}
    del group["userName"]
    store.create(org, GROUP_TYPE, {**group, "meta": {**group["meta"], "resourceType": "Group"}})
    retain(store, org, made[0]["id"], True)
    retain(store, org, made[1]["id"], True)
    retain(store, org, made[1]["id"], False)  # revived
    store.delete(org, USER_TYPE, made[2]["id"])  # live
    retain(store, org, made[3]["id"], True)
    store.delete(org, USER_TYPE, made[3]["id"])  # retained, purged
    assert (total(store, org), total(store, org, "only"), total(store, org, "include")) == (3, 1, 4)
    retained = resources.c.retained_at.is_not(None)
    users = resources.c.rtype == "User"
    assert total(store, org) == row_count(store, org, users, ~retained)
    assert total(store, org, "only") == row_count(store, org, users, retained)


def test_an_unfiltered_list_counts_no_rows(store: SqlStore) -> None:
    org = f"org-{uuid.uuid4()}"
    store.create_many(org, USER_TYPE, [stored_user(f"u{n}@example.com") for n in range(30)])
    sent = selects(store, lambda: store.query(org, USER_TYPE, Query(count=10)))
    assert not any("count(" in s.lower() and "scim_resources" in s for s in sent), sent
    assert total(store, org) == 30


def test_a_filter_whose_page_holds_every_match_is_not_counted(store: SqlStore) -> None:
    org = f"org-{uuid.uuid4()}"
    store.create_many(org, USER_TYPE, [stored_user(f"u{n}@example.com") for n in range(30)])
    page: list[Any] = []
    one = parse_filter('userName eq "u7@example.com"', USER_TYPE)
    sent = selects(store, lambda: page.append(store.query(org, USER_TYPE, Query(filter=one))))
    assert page[0].total == 1
    assert not any("count(" in s.lower() for s in sent), sent  # the page and users' groups
    several = parse_filter('userName sw "u1"', USER_TYPE)  # u1, u10..u19
    for start, size in ((1, 5), (9, 5), (20, 5), (1, 20)):
        got = store.query(org, USER_TYPE, Query(filter=several, start_index=start, count=size))
        assert got.total == 11, (start, size)


def test_a_database_made_before_the_counts_is_counted_once(url: str) -> None:
    first = SqlStore(url)
    org = f"org-{uuid.uuid4()}"
    made = first.create_many(org, USER_TYPE, [stored_user(f"u{n}@example.com") for n in range(6)])
    retain(first, org, made[0]["id"], True)  # type: ignore[index]
    with first.engine.begin() as conn:
        counts.drop(conn)
    first.close()
    for _ in range(2):  # the second start finds the table and leaves it alone
        again = SqlStore(url)
        assert (total(again, org), total(again, org, "only"), total(again, org, "include")) == (
            5,
            1,
            6,
        )
        again.close()


def test_concurrent_writers_keep_the_counts_exact(store: SqlStore) -> None:
    org = f"org-{uuid.uuid4()}"

    def work(worker: int) -> None:
        ids = [store.create(org, USER_TYPE, stored_user(f"w{worker}-{n}"))["id"] for n in range(20)]
        for id in ids[:5]:
            store.delete(org, USER_TYPE, id)
        for id in ids[5:8]:
            retain(store, org, id, True)
        store.create_many(org, USER_TYPE, [stored_user(f"w{worker}-{n}") for n in range(15, 25)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert total(store, org) == row_count(store, org, resources.c.retained_at.is_(None)) == 8 * 17
    assert total(store, org, "only") == 8 * 3
