"""The hottest statements, run straight on a pooled DBAPI connection.

SQLAlchemy's execution path (Connection, execution context, Result) costs about
50 us a statement; the indexed reads every request makes (the token lookup, a
user by id, an IdP's lookup page) take SQLite about 10. A ``RawRead`` is compiled
once for the engine's dialect and run on the driver's cursor; connection
failures still become ``Unavailable``, and a broken connection leaves the pool.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Executable

from scimserver.protocol import errors


class RawRead:
    """One statement that returns rows (a SELECT, or DML with RETURNING), with named
    bind parameters; the result is the driver's tuples."""

    def __init__(self, engine: Engine, statement: Executable) -> None:
        self.engine = engine
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        # Anonymous binds (a literal 0 in coalesce, ...) keep their compiled value.
        self.defaults = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self.order = compiled.positiontup  # qmark drivers (sqlite3) take a sequence
        self.dbapi = engine.dialect.loaded_dbapi
        self.postgres = engine.dialect.name == "postgresql"

    def run(self, conn: Connection | None, params: dict[str, Any], *, many: bool = False) -> Any:
        """The first row (or every row): on ``conn``, within whatever transaction it
        has, or on a connection of its own, outside any."""
        if conn is not None:
            return self._execute(conn.connection, params, many)
        try:
            pooled = self.engine.pool.connect()
        except self.dbapi.Error as exc:  # the pool could not open a connection
            raise errors.Unavailable(f"The database is unavailable: {exc}") from exc
        try:
            if not self.postgres:
                return self._execute(pooled, params, many)
            pooled.driver_connection.autocommit = True  # one statement: no BEGIN, no ROLLBACK
            try:
                return self._execute(pooled, params, many)
            finally:
                if pooled.is_valid:
                    pooled.driver_connection.autocommit = False
        finally:
            pooled.close()

    def args(self, params: dict[str, Any]) -> list[Any] | dict[str, Any]:
        """The driver's parameters: a sequence for qmark (sqlite3), else the mapping."""
        values = self.defaults | params if self.defaults else params
        return [values[name] for name in self.order] if self.order is not None else values

    def _execute(self, pooled: PoolProxiedConnection, params: dict[str, Any], many: bool) -> Any:
        try:
            cursor = pooled.driver_connection.cursor()
            try:
                cursor.execute(self.sql, self.args(params))
                return cursor.fetchall() if many else cursor.fetchone()
            finally:
                cursor.close()
        except self.dbapi.IntegrityError as exc:  # a unique index: the caller's to answer
            raise IntegrityError(self.sql, None, exc) from exc
        except self.dbapi.Error as exc:
            pooled.invalidate(exc)  # whatever broke, the next request gets a new connection
            if isinstance(exc, self.dbapi.OperationalError | self.dbapi.InterfaceError):
                raise errors.Unavailable(f"The database is unavailable: {exc}") from exc
            raise
