"""SQLite WAL checkpoints off the request path.

By default SQLite checkpoints inside the COMMIT that takes the WAL past 1,000
pages: that commit copies the pages into the database file and fsyncs it while
its request still holds the store's write lock, so every other writer waits. On
a 1.5 GB database that was up to a second (bench: PATCH p99 1.1 s at 1,000,000
users). Request connections therefore leave checkpoints to one thread per
process, which checkpoints each database it watches twice a second, PASSIVE:
it never blocks readers or writers. Their own automatic checkpoint stays as a
backstop, far out (``BACKSTOP_PAGES``), should that thread fall behind.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref

from sqlalchemy import Engine

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between two checkpoints of one database
BACKSTOP_PAGES = 100_000  # wal_autocheckpoint of request connections (about 400 MB)


class _Watched:
    def __init__(self) -> None:
        self.engines: weakref.WeakSet[Engine] = weakref.WeakSet()
        self.conn: sqlite3.Connection | None = None


class Checkpointer:
    """The process's checkpoint thread; it ends when it watches nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, _Watched] = {}
        self._thread: threading.Thread | None = None

    def watch(self, path: str, engine: Engine) -> None:
        """Checkpoint ``path`` for as long as ``engine`` (or another on it) lives."""
        with self._lock:
            self._files.setdefault(os.path.realpath(path), _Watched()).engines.add(engine)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="scimserver-sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(INTERVAL)
            with self._lock:
                for path in [p for p, w in self._files.items() if not w.engines]:
                    self._close(self._files.pop(path))  # every engine on it is gone
                if not self._files:
                    self._thread = None
                    return
                watched = list(self._files.items())
            for path, entry in watched:
                self.checkpoint(path, entry)

    @staticmethod
    def _close(entry: _Watched) -> None:
        if entry.conn is not None:
            entry.conn.close()
            entry.conn = None

    @classmethod
    def checkpoint(cls, path: str, entry: _Watched) -> None:
        if not os.path.exists(path):  # not made yet, or removed: hold no handle on it
            cls._close(entry)
            return
        try:
            if entry.conn is None:
                entry.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            entry.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # a busy or vanished file: the next round tries again
            log.debug("checkpoint of %s: %s", path, exc)


CHECKPOINTER = Checkpointer()
