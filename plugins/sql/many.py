"""Many rows in one INSERT: a Bulk import's hundreds of users.

SQLite takes a multi-row ``VALUES`` on the driver (SQLAlchemy's own machinery
for it costs more than the insert, for one row as for many). On PostgreSQL that
statement grows with the rows (14,000 placeholders for 1,000 users) and psycopg
re-parses it on every call; array parameters cost psycopg a regex per element.
Instead the rows travel as one JSON text (orjson writes it), which PostgreSQL
turns back into rows of the table's type (``json_populate_recordset``): one
short statement and one parameter, whatever the row count.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Table

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
    cursor = conn.connection.driver_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            sql = _recordset_sql(table, columns, returning, skip_conflicts)
            cursor.execute(sql, (jsontext.dumps_text(rows),))
            return list(cursor.fetchall()) if returning else []
        found: list[tuple[Any, ...]] = []
        step = max(1, SQLITE_VARIABLES // len(columns))
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            sql = _values_sql(table, columns, len(chunk), returning, skip_conflicts)
            cursor.execute(sql, [row[name] for row in chunk for name in columns])
            found += cursor.fetchall()
        return found
    finally:
        cursor.close()


SQLITE_VARIABLES = 30_000  # parameters per statement; SQLite allows 32,766


@cache
def _values_sql(
    table: Table, columns: tuple[str, ...], count: int, returning: tuple[str, ...], skip: bool
) -> str:
    row = "(" + ", ".join("?" * len(columns)) + ")"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {', '.join([row] * count)}"
    return sql + _tail(returning, skip)


def _tail(returning: tuple[str, ...], skip_conflicts: bool) -> str:
    tail = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    return tail + (" RETURNING " + ", ".join(returning) if returning else "")


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
    return sql + _tail(returning, skip_conflicts)
