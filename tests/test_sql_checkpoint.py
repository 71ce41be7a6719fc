"""SQLite checkpoints happen in the checkpoint thread, not in a request's COMMIT."""

from __future__ import annotations

import gc
import time
from pathlib import Path

from conftest import stored_user

from scimserver.protocol.core_schemas import USER_TYPE
from scimserver_plugins.sql import checkpoint
from scimserver_plugins.sql.store import SqlStore


def test_request_connections_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "scim.db"
    store = SqlStore(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == checkpoint.BACKSTOP_PAGES  # far beyond what this test writes
        empty = path.stat().st_size
        store.create_many("org", USER_TYPE, [stored_user(f"u{n}@example.com") for n in range(3000)])
        # Until a checkpoint copies them, new pages live in the WAL alone: the
        # database file grows only when the thread has done its work.
        deadline = time.monotonic() + checkpoint.INTERVAL * 10
        while path.stat().st_size < empty + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= empty + 1_000_000, "nothing was checkpointed"
    finally:
        store.close()


def test_the_thread_ends_with_the_last_engine(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'gone.db'}")
    store.close()
    del store
    gc.collect()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        watched = checkpoint.CHECKPOINTER._files
        if str((tmp_path / "gone.db").resolve()) not in watched:
            return
        time.sleep(0.1)
    raise AssertionError("the checkpoint thread still watches a database nobody uses")
