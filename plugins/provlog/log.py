"""The provisioning log itself: its table, the per-server recorder, reads and retention.

One row per SCIM write and per failed request of an organization, in its own
table in the ``[control]`` database. The request path pays one small INSERT;
retention is a per-organization, index-driven DELETE run every ``prune_every``
inserts (and at least hourly while the organization writes), never a scan.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from scimserver.events import RequestRecord
from scimserver.hookspecs import hookimpl
from scimserver_plugins.sql.engine import WRITE, make_engine, writing
from scimserver_plugins.sql.raw import RawRead

log = logging.getLogger(__name__)

PLUGIN_NAME = "provlog.log"  # the per-server object's name in the plugin manager
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRUNE_INTERVAL = 3600.0  # seconds: an organization that writes is pruned at least hourly
DETAIL_MAX = 500

metadata = MetaData()

LENGTHS = {
    "org_id": 64,
    "at": 32,
    "integration": 64,
    "method": 16,
    "scim_type": 64,
    "resource_type": 64,
    "resource_id": 255,
    "user_name": 255,
    "request_id": 128,
    "path": 2000,
    "detail": DETAIL_MAX,
}

entries = Table(
    "scim_provisioning_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("org_id", String(LENGTHS["org_id"]), nullable=False),
    Column("at", String(LENGTHS["at"]), nullable=False),  # UTC, ms, "Z": sorts as text
    Column("integration", String(LENGTHS["integration"]), nullable=True),
    Column("method", String(LENGTHS["method"]), nullable=False),
    Column("path", Text, nullable=False),  # Text columns: cut to LENGTHS too
    Column("status", Integer, nullable=False),
    Column("scim_type", String(LENGTHS["scim_type"]), nullable=True),
    Column("resource_type", String(LENGTHS["resource_type"]), nullable=True),
    Column("resource_id", String(LENGTHS["resource_id"]), nullable=True),
    Column("user_name", String(LENGTHS["user_name"]), nullable=True),
    Column("detail", Text, nullable=True),
    Column("request_id", String(LENGTHS["request_id"]), nullable=True),
    Column("duration_ms", Float, nullable=False),
    # Reads (newest first) and retention both walk one organization's rows by time;
    # seq breaks ties within a millisecond.
    Index("ix_scim_provisioning_log_org_at", "org_id", "at", "seq"),
)
C = entries.c
# Every column named, so the statement compiles once; RETURNING makes it a RawRead.
INSERT = insert(entries).values({c.name: bindparam(c.name) for c in entries.c if c.name != "seq"})

LOOKUP_KEY = {"User": "userName", "Group": "displayName"}


def stamp(moment: datetime | None = None) -> str:
    """An instant as stored: UTC ISO 8601, milliseconds, ``Z`` (as ``meta`` stamps)."""
    moment = moment or datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cut(value: str | None, limit: int) -> str | None:
    """Text any database stores, at most ``limit`` characters. Request text is the
    client's: NUL (PostgreSQL refuses it) and lone surrogates (``"\\ud800"`` in JSON;
    no codec takes them) are written as escapes, so the row that shows the bad
    request is not lost to it."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    try:
        value.encode()
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def wanted(record: RequestRecord) -> bool:
    """A write, or a failure, of an organization.

    Requests without an organization (a missing or bad token: 401) are left out:
    they belong to no tenant, and anyone can send them, so a row per request would
    let an anonymous caller fill the database. The access log has them.
    A ``POST .search`` is a read, so a successful one is left out like a GET.
    """
    if record.org is None:
        return False
    if record.status >= 400:
        return True
    method = record.request.method.upper()
    if method in READ_METHODS:
        return False
    return not (method == "POST" and record.request.path.partition("?")[0].endswith("/.search"))


def hint(resource_type: str | None, resource_id: str | None, status: int) -> str | None:
    """What an operator does about a 404 on a resource id: the IdP holds a stale id."""
    if status != 404 or not resource_type or not resource_id:
        return None
    noun = resource_type.lower()
    key = LOOKUP_KEY.get(resource_type, "its unique attribute")
    return f"stale id: re-apply mappings in the IdP; it looks the {noun} up by {key}"


@dataclass(frozen=True)
class Settings:
    max_age: timedelta
    max_rows: int
    prune_every: int


def _create_table(engine: Engine) -> None:
    """Create the table if missing; tolerate another worker doing it at the same time."""
    for attempt in range(3):
        try:
            with engine.connect().execution_options(**WRITE) as conn, conn.begin():
                metadata.create_all(conn, checkfirst=True)
            return
        except (OperationalError, ProgrammingError):
            if attempt == 2:
                raise


class ProvisioningLog:
    """Registered per server (``provlog.log``) by the plugin's start-up hook."""

    def __init__(self, engine: Engine, settings: Settings, *, owns_engine: bool = False) -> None:
        self.engine = engine
        self.settings = settings
        self.owns_engine = owns_engine
        self._lock = threading.Lock()
        # org id -> (inserts since the last prune, monotonic time of the last prune)
        self._since_prune: dict[str, tuple[int, float]] = {}
        _create_table(engine)
        self._insert = RawRead(engine, INSERT.returning(C.seq))

    @classmethod
    def for_server(cls, control: Any, url: str, settings: Settings) -> ProvisioningLog:
        """Share the control store's engine when it is on the same database (one pool,
        closed with the server); else open one of our own, with a small pool."""
        engine = getattr(control, "engine", None)
        if isinstance(engine, Engine) and engine.url == make_url(url):
            return cls(engine, settings)
        return cls(make_engine(url, pool_size=2, max_overflow=8), settings, owns_engine=True)

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()

    # The request path.

    @hookimpl
    def scimserver_request_done(self, record: RequestRecord) -> None:
        if not wanted(record):
            return
        assert record.org is not None
        try:
            self.add(record)
        except Exception:  # the log must never fail the request it records
            log.exception("provisioning log: could not record request %s", record.request.id)
            return
        if self._prune_due(record.org.id):
            try:
                self.prune(record.org.id)
            except Exception:
                log.exception("provisioning log: could not prune organization %s", record.org.id)

    def add(self, record: RequestRecord, at: str | None = None) -> None:
        """One INSERT, its own transaction."""
        assert record.org is not None
        info = record.request
        row: dict[str, Any] = {
            "org_id": record.org.id,
            "at": at or stamp(),
            "integration": record.integration.kind if record.integration else None,
            "method": info.method.upper(),
            "path": info.path,
            "scim_type": record.scim_type,
            "resource_type": record.resource_type,
            "resource_id": record.resource_id,
            "user_name": record.user_name,
            "detail": record.detail,
            "request_id": info.id,
        }
        row = {name: _cut(value, LENGTHS[name]) for name, value in row.items()}
        row["status"] = record.status
        row["duration_ms"] = round(record.duration_ms, 3)
        with writing(self.engine):
            self._insert.run(None, row)

    def _prune_due(self, org_id: str) -> bool:
        """Every ``prune_every`` inserts of an organization (and on its first insert in
        this process, and hourly): counted in memory, per worker."""
        clock = time.monotonic()
        with self._lock:
            seen = self._since_prune.get(org_id)
            if seen is None:
                due, count, last = True, 0, clock
            else:
                count, last = seen[0] + 1, seen[1]
                due = count >= self.settings.prune_every or clock - last >= PRUNE_INTERVAL
            self._since_prune[org_id] = (0, clock) if due else (count, last)
        return due

    # Retention.

    def prune(self, org_id: str) -> int:
        """Drop one organization's rows older than ``max_age`` and beyond ``max_rows``;
        both walk the (org_id, at) index. Returns the number of rows deleted."""
        oldest = stamp(datetime.now(UTC) - self.settings.max_age)
        with self.engine.connect() as conn:
            # The newest row past the cap: it and everything older goes.
            edge = conn.execute(
                select(C.at, C.seq)
                .where(C.org_id == org_id)
                .order_by(C.at.desc(), C.seq.desc())
                .offset(self.settings.max_rows)
                .limit(1)
            ).first()
        condition = C.at < oldest
        if edge is not None:
            condition = or_(condition, C.at < edge.at, and_(C.at == edge.at, C.seq <= edge.seq))
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            deleted = conn.execute(delete(entries).where(C.org_id == org_id, condition)).rowcount
        if deleted:
            log.debug("provisioning log: pruned %d row(s) of organization %s", deleted, org_id)
        return deleted

    # Reads (the CLI).

    def query(
        self,
        org_id: str,
        *,
        failed: bool = False,
        since: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """An organization's entries, newest first; rows past ``max_age`` that are not
        pruned yet are not shown."""
        oldest = stamp(datetime.now(UTC) - self.settings.max_age)
        if since is not None and since > oldest:
            oldest = since
        stmt = select(entries).where(C.org_id == org_id, C.at >= oldest)
        if failed:
            stmt = stmt.where(C.status >= 400)
        stmt = stmt.order_by(C.at.desc(), C.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [entry(row) for row in rows]


def entry(row: Any) -> dict[str, Any]:
    """A row as the CLI shows it (``--json``: one of these per line)."""
    return {
        "time": row.at,
        "integration": row.integration,
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "scimType": row.scim_type,
        "resourceType": row.resource_type,
        "resourceId": row.resource_id,
        "userName": row.user_name,
        "detail": row.detail,
        "requestId": row.request_id,
        "durationMs": row.duration_ms,
        "hint": hint(row.resource_type, row.resource_id, row.status),
    }
