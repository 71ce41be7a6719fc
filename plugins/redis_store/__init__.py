"""Built-in plugin: the Redis store (``[store] backend = "redis"``).

Config::

    [store.redis]
    url = "redis://127.0.0.1:6379/0"   # or rediss://user:password@host:6380/0 (TLS)
    key_prefix = "scim:"                # every key starts with it; no braces
    connect_timeout = 2.0               # seconds
    socket_timeout = 5.0                # seconds, per command
    retry_after = 5                     # Retry-After of the 503 while Redis is away
    max_scan = 100000                   # unindexed filters examine at most this many
    cluster = false                     # true: Redis Cluster (redis-py RedisCluster)

redis-py is imported only when a Redis store is built, so this module loads
(as every built-in does at start-up) on installs without the ``redis`` extra.
See ``store.py`` for the layout, atomicity and the cost of each operation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scimserver.hookspecs import hookimpl
from scimserver.store import StoreFactory

if TYPE_CHECKING:
    from .store import RedisStore

OPTIONS = {
    "url": "redis://127.0.0.1:6379/0",
    "key_prefix": "scim:",
    "connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "retry_after": 5,
    "max_scan": 100_000,
    "cluster": False,
}


def _build(options: dict[str, Any]) -> RedisStore:
    try:
        from .store import RedisStore
    except ImportError as exc:  # pragma: no cover - depends on the install
        from scimserver.app import SetupError

        raise SetupError(
            f'The Redis store needs redis-py: pip install "scimserver[redis]" ({exc}).'
        ) from exc
    options = dict(options)
    try:
        return RedisStore(options.pop("url", OPTIONS["url"]), **options)
    except (TypeError, ValueError) as exc:
        from scimserver.app import SetupError

        raise SetupError(f"[store.redis]: {exc}") from exc


@hookimpl
def scimserver_register_stores() -> list[StoreFactory]:
    return [StoreFactory("redis", _build, "Redis 7+ through redis-py", dict(OPTIONS))]
