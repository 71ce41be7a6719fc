"""Session fixtures for the Redis backend: one real redis-server per test run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import RedisServer, redis_server


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisServer]:
    """A running ``redis-server`` on a free loopback port; stores share it, each
    under its own key prefix. Outage tests stop() and start() it."""
    with redis_server() as server:
        yield server
