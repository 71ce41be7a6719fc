"""PostgreSQL going away and coming back: 503 with Retry-After, then recovery.

The control database (token lookups) and the store share the server, as in
production; both paths are read on the driver directly (plugins/sql/raw.py) and
through SQLAlchemy, and each must turn a lost connection into 503, never 500.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from outage import assert_outage_answers_503_then_heals
from servers import PostgresServer, postgres_server

from scimserver.app import create_app


@pytest.fixture
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, to stop and start."""
    with postgres_server() as server:
        yield server


def test_an_outage_is_503_with_retry_after_and_heals_by_itself(own_pg: PostgresServer) -> None:
    url = own_pg.create_database("outage")
    config = {
        "server": {"public_url": ""},
        "control": {"url": url},
        "store": {"backend": "sql", "sql": {"url": url}},
    }
    assert_outage_answers_503_then_heals(create_app(config), own_pg.stop, own_pg.start)
