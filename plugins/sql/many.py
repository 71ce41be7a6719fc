"""Many rows in one INSERT: a Bulk import's hundreds of users.

SQLite takes SQLAlchemy's multi-row ``VALUES``. On PostgreSQL that statement
grows with the rows (14,000 placeholders for 1,000 users) and psycopg re-parses
it on every call; array parameters cost psycopg a regex per element. Instead
the rows travel as one JSON text (orjson writes it), which PostgreSQL turns back
into rows of the table's type (``json_populate_recordset``): one short statement
and one parameter, whatever the row count.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scimserver import jsontext


def insert_many(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    returning: tuple[str, ...] = (),
    skip_conflicts: bool = False,
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (all with the same keys) in order; rows a unique index
    refuses are skipped when ``skip_conflicts``. Returns ``returning`` columns of
    the rows inserted."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if conn.dialect.name != "postgresql":
        stmt: Any = sqlite_insert(table)
        if skip_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
            return [tuple(row) for row in conn.execute(stmt, rows)]
        conn.execute(stmt, rows)
        return []
    sql = _recordset_sql(table, columns, returning, skip_conflicts)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, (jsontext.dumps_text(rows),))
        return list(cursor.fetchall()) if returning else []
    finally:
        cursor.close()


@cache
def _recordset_sql(
    table: Table, columns: tuple[str, ...], returning: tuple[str, ...], skip_conflicts: bool
) -> str:
    names = ", ".join(columns)
    # WITH ORDINALITY keeps the callers' order: writers that sort their rows the
    # same way take row locks in the same order and cannot deadlock.
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM json_populate_recordset(NULL::{table.name}, %s::json) WITH ORDINALITY "
        "ORDER BY ordinality"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(returning)
    return sql
