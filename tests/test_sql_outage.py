"""PostgreSQL going away and coming back: 503 with Retry-After, then recovery.

The control database (token lookups) and the store share the server, as in
production; both paths are read on the driver directly (plugins/sql/raw.py) and
through SQLAlchemy, and each must turn a lost connection into 503, never 500.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import USER, Scim, new_org
from servers import PostgresServer, postgres_server

from scimserver.app import create_app


@pytest.fixture
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, to stop and start."""
    with postgres_server() as server:
        yield server


def test_an_outage_is_503_with_retry_after_and_heals_by_itself(own_pg: PostgresServer) -> None:
    url = own_pg.create_database("outage")
    app = create_app(
        {
            "server": {"public_url": ""},
            "control": {"url": url},
            "store": {"backend": "sql", "sql": {"url": url}},
        }
    )
    try:
        slug, token = new_org(app)
        scim = Scim(app, token, slug)
        user = scim.user("steady@example.com")
        own_pg.stop()
        for r in (
            scim.get(f"/Users/{user['id']}"),
            scim.get("/Users?filter=userName%20eq%20%22steady@example.com%22"),
            scim.get("/Users"),
            scim.post("/Users", {"schemas": [USER], "userName": "during@example.com"}),
        ):
            assert r.status_code == 503, r.get_data(as_text=True)
            assert r.headers["Retry-After"] == "5"
            assert r.get_json()["status"] == "503"
        own_pg.start()
        # The pool's dead connections are replaced; nothing was written meanwhile.
        assert scim.get(f"/Users/{user['id']}").get_json()["userName"] == "steady@example.com"
        assert scim.get("/Users").get_json()["totalResults"] == 1
        r = scim.post("/Users", {"schemas": [USER], "userName": "after@example.com"})
        assert r.status_code == 201
    finally:
        app.extensions["scimserver"].close()
