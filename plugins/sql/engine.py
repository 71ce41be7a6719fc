"""Engines for SQLite (embedded default) and PostgreSQL, set up for concurrency."""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from scimserver.protocol import errors

from .checkpoint import BACKSTOP_PAGES, CHECKPOINTER
from .tables import counts, metadata, resources

R = resources.c

WRITE = {"scimserver_write": True}
_ONE_STATEMENT = {"scimserver_one_statement": True}


def read_once(engine: Engine) -> Connection:
    """A connection for one statement: that is atomic and a snapshot on its own, so
    it needs no BEGIN and COMMIT (round trips, and on SQLite GIL hand-offs)."""
    if engine.dialect.name == "sqlite":
        return engine.connect().execution_options(**_ONE_STATEMENT)
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def writing(engine: Engine) -> Iterator[None]:
    """For one write made past SQLAlchemy (plugins/sql/raw.py): take the SQLite
    writer queue's turn, as ``WRITE`` transactions do. Nothing on PostgreSQL."""
    writers = _ENGINE_WRITERS.get(engine)
    if writers is None:
        yield
        return
    if not writers.acquire(timeout=30):
        raise OperationalError("write", None, TimeoutError("write lock"))
    try:
        yield
    finally:
        writers.release()


def make_engine(url: str, **options: Any) -> Engine:
    """An engine; SQLite gets WAL and writer serialization, PostgreSQL a pool."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, int(options.get("pool_size", 64)))
    return create_engine(
        url,
        pool_size=int(options.get("pool_size", 10)),
        max_overflow=int(options.get("max_overflow", 20)),
        pool_pre_ping=True,
    )


_WRITER_LOCKS: dict[str, threading.Lock] = {}
_ENGINE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(database: str | None) -> threading.Lock:
    if not database or database == ":memory:":
        return threading.Lock()  # a private database per engine
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(os.path.realpath(database), threading.Lock())


def _sqlite_engine(url: str, database: str | None, pool_size: int) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Connections are kept, never opened per request: a new one costs its PRAGMAs,
    # a schema parse and a cold statement cache (about 1 ms).
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling is off, so BEGIN below decides.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if watched:  # checkpoints come from the checkpoint thread (checkpoint.py)
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    watched = bool(database) and database != ":memory:"
    if watched:
        CHECKPOINTER.watch(str(database), engine)

    # Writers of one process queue here rather than in SQLite's busy handler, which
    # sleeps between retries; other processes still wait on the file lock. One lock
    # per file: the store, the control store and the log may share one.
    writers = _ENGINE_WRITERS[engine] = _writer_lock(database)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A writer takes the write lock up front: two deferred transactions that
        # both try to upgrade would fail at once instead of waiting their turn.
        options = conn.get_execution_options()
        if not options.get("scimserver_write"):
            if not options.get("scimserver_one_statement"):  # else its own transaction
                conn.exec_driver_sql("BEGIN")
            return
        if not writers.acquire(timeout=30):
            raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("write lock"))
        conn.info["scimserver_writer"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn: Any) -> None:
        if conn.info.pop("scimserver_writer", False):
            writers.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)
    return engine


# SQLite's planner, without statistics, takes (org, rtype) for selective and would
# read a whole organization for `userName eq x or externalId eq y`. These figures
# describe a large organization; a later ANALYZE replaces them with measured ones.
_SQLITE_STATS = {
    ("scim_resources", "ix_scim_resources_order"): "1000000 100000 50000 50000 1",
    ("scim_resources", "ix_scim_resources_id"): "1000000 100000 50000 1",
    ("scim_resources", "ix_scim_resources_key"): "1000000 100000 50000 1",
    ("scim_resources", "ix_scim_resources_external_id"): "1000000 100000 50000 2",
    ("scim_resources", "ix_scim_resources_display"): "1000000 100000 50000 2",
    ("scim_resources", "ix_scim_resources_created"): "1000000 100000 50000 5",
    ("scim_resources", "ix_scim_resources_modified"): "1000000 100000 50000 5",
    ("scim_values", "ix_scim_values_lookup"): "1000000 100000 50000 50000 1",
    ("scim_values", "ix_scim_values_resource"): "1000000 2",
    ("scim_memberships", "ix_scim_memberships_member"): "1000000 5",
}


def _seed_sqlite_stats(conn: Any) -> None:
    conn.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    known = conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'scim_resources'"
    ).scalar()
    if known:
        return
    conn.exec_driver_sql(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
        [(tbl, idx, stat) for (tbl, idx), stat in _SQLITE_STATS.items()],
    )
    conn.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads them


def _backfill_counts(conn: Any) -> None:
    """Count the rows of a database made before scim_counts existed."""
    conn.execute(
        insert(counts).from_select(
            ["org", "rtype", "shard", "live", "retained"],
            select(
                R.org,
                R.rtype,
                literal(0),
                func.count() - func.count(R.retained_at),
                func.count(R.retained_at),
            ).group_by(R.org, R.rtype),
        )
    )


def create_tables(engine: Engine) -> None:
    """Create missing tables; tolerate another worker doing it at the same time."""
    for attempt in range(3):
        try:
            with engine.connect().execution_options(**WRITE) as conn, conn.begin():
                had_counts = inspect(conn).has_table(counts.name)
                metadata.create_all(conn, checkfirst=True)
                if not had_counts:
                    _backfill_counts(conn)
                if engine.dialect.name == "sqlite":
                    _seed_sqlite_stats(conn)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == 2:
                raise


P = ParamSpec("P")
T = TypeVar("T")


def unavailable(fn: Callable[P, T]) -> Callable[P, T]:
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
