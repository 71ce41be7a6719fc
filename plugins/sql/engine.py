"""Engines for SQLite (embedded default) and PostgreSQL, set up for concurrency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from .tables import metadata

WRITE = {"scimserver_write": True}


def make_engine(url: str, **options: Any) -> Engine:
    """An engine; SQLite gets WAL and writer serialization, PostgreSQL a pool."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    return create_engine(
        url,
        pool_size=int(options.get("pool_size", 10)),
        max_overflow=int(options.get("max_overflow", 20)),
        pool_pre_ping=True,
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling is off, so BEGIN below decides.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A writer takes the write lock up front: two deferred transactions that
        # both try to upgrade would fail at once instead of waiting their turn.
        write = conn.get_execution_options().get("scimserver_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def create_tables(engine: Engine) -> None:
    """Create missing tables; tolerate another worker doing it at the same time."""
    for attempt in range(3):
        try:
            with engine.connect().execution_options(**WRITE) as conn, conn.begin():
                metadata.create_all(conn, checkfirst=True)
            return
        except (OperationalError, ProgrammingError):
            if attempt == 2:
                raise
