"""Fast seeding of a SQLite store: many users per transaction, no HTTP.

One user is created the normal way (``Resources.create``: validation, hooks,
store), and its stored document is the template every seeded user is stamped
from, so seeded rows are what the server itself would have written. Rows are
built with the SQL store's own column mapping (``SqlStore._columns`` and
``_indexed_values``) and inserted with ``executemany``, one transaction per
batch.

Seeded users are ``seed-0000001@bench.example`` .. ``seed-NNNNNNN@...``
(lua/scim.lua's ``filter_seeded`` scenario picks among them at random).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from users import user_body

from scimserver.app import Server
from scimserver.protocol.core_schemas import USER_TYPE
from scimserver.resources import Caller
from scimserver_plugins.sql.store import SqlStore
from scimserver_plugins.sql.tables import resources, values

BATCH = 50_000
_RES_COLS = [c.name for c in resources.columns if c.name != "seq"]
_VAL_COLS = [c.name for c in values.columns]


def seed_name(n: int) -> str:
    return f"seed-{n:07d}@bench.example"


def _body(n: int) -> dict[str, Any]:
    return user_body(seed_name(n), n)


def _stamp(template: str, n: int, when: str) -> dict[str, Any]:
    doc = json.loads(template)  # a fresh copy, faster than deepcopy
    name = seed_name(n)
    doc["id"] = str(uuid.uuid4())
    doc["userName"] = name
    doc["externalId"] = f"ext-{name}"
    doc["name"]["familyName"] = f"User {n}"
    doc["displayName"] = f"Seed User {n}"
    doc["emails"][0]["value"] = name
    doc["meta"]["created"] = doc["meta"]["lastModified"] = when
    return doc


COUNT_SQL = (
    "INSERT INTO scim_counts (org, rtype, shard, live, retained) VALUES (?, 'User', 0, ?, 0) "
    "ON CONFLICT (org, rtype, shard) DO UPDATE SET live = live + excluded.live"
)


def seed_users(server: Server, org_slug: str, db_path: str, upto: int, log=print) -> float:
    """Make the organization hold seeded users 1..``upto``; returns seconds spent.

    Continues from the highest seed already there, so 10k then 1M seeds only
    the difference.
    """
    org = server.tenancy.org(org_slug)
    started = time.perf_counter()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # seeding only; the server's own writes are NORMAL
    db.execute("PRAGMA cache_size=-262144")  # 256 MiB for the index b-trees while seeding
    have = db.execute(  # an index range: the seeds are "seed-..." and nothing else is
        "SELECT count(*) FROM scim_resources WHERE org=? AND rtype='User'"
        " AND unique_key >= 'seed-' AND unique_key < 'seed.'",
        (org.id,),
    ).fetchone()[0]
    if have == 0:
        # The template: one real create through the server's own write path.
        server.resources.create(Caller(org), USER_TYPE, _body(1))
        have = 1
    template = db.execute(
        "SELECT data FROM scim_resources WHERE org=? AND rtype='User' AND unique_key=?",
        (org.id, seed_name(1)),
    ).fetchone()[0]
    res_sql = (
        f"INSERT INTO scim_resources (seq, {', '.join(_RES_COLS)}) "
        f"VALUES ({', '.join('?' * (len(_RES_COLS) + 1))})"
    )
    val_sql = (
        f"INSERT INTO scim_values ({', '.join(_VAL_COLS)}) "
        f"VALUES ({', '.join('?' * len(_VAL_COLS))})"
    )
    base = datetime(2024, 1, 1, tzinfo=UTC)
    n = have + 1
    while n <= upto:
        end = min(upto, n + BATCH - 1)
        seq = (db.execute("SELECT coalesce(max(seq), 0) FROM scim_resources").fetchone()[0]) + 1
        res_rows, val_rows = [], []
        for i in range(n, end + 1):
            when = (base + timedelta(milliseconds=i)).isoformat(timespec="milliseconds")
            doc = _stamp(template, i, when.replace("+00:00", "Z"))
            cols = SqlStore._columns(USER_TYPE, doc)
            cols.update(org=org.id, rtype="User", id=doc["id"], version=1, retained_at=None)
            res_rows.append((seq, *(cols[c] for c in _RES_COLS)))
            for attr, value in SqlStore._indexed_values(USER_TYPE, doc):
                row = {"resource_seq": seq, "org": org.id, "rtype": "User"}
                row.update(attr=attr, value_ci=value)
                val_rows.append(tuple(row[c] for c in _VAL_COLS))
            seq += 1
        db.execute("BEGIN IMMEDIATE")
        db.executemany(res_sql, res_rows)
        db.executemany(val_sql, val_rows)
        db.execute(COUNT_SQL, (org.id, len(res_rows)))  # the store's own per-org count
        db.execute("COMMIT")
        n = end + 1
        if (end // BATCH) % 4 == 0 or end == upto:
            log(f"  seeded {end:,} users ({time.perf_counter() - started:.0f} s)")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - started
