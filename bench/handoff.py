"""What one call into SQLite costs a request when 8 threads share the GIL.

Flask's hello-world through the test client, with N indexed SQLite reads added
to each request, on 1 thread and then on 8: the CPU per request, and what each
added read costs. sqlite3 lets go of the GIL for every step of a statement; with
other threads waiting, each let-go is a hand-off to another thread and back.
That price, not SQLite's own work, is what bench/ANALYSIS.md means by "GIL
hand-offs".

    .venv/bin/python bench/handoff.py            # 0, 2 and 6 reads per request
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hello import app

REQUESTS = 8000


def run(path: Path, reads: int, threads: int) -> float:
    """CPU microseconds per request."""
    local = threading.local()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        return local.db

    def work(count: int) -> None:
        client = app.test_client()
        for _ in range(count):
            client.get("/")
            for _ in range(reads):
                connection().execute("SELECT v FROM t WHERE id = 1").fetchone()

    workers = [threading.Thread(target=work, args=(REQUESTS // threads,)) for _ in range(threads)]
    started = time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.process_time() - started) / REQUESTS * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.db"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            db.execute("INSERT INTO t VALUES (1, 'x')")
        run(path, 2, 8)  # warm-up: imports, caches, the CPU's clock

        def best(reads: int, threads: int) -> float:  # least disturbed of three
            return min(run(path, reads, threads) for _ in range(3))

        base = {threads: best(0, threads) for threads in (1, 8)}
        print("reads/request  1 thread  8 threads   per read: 1 thread  8 threads  (us CPU)")
        for reads in (0, 2, 6):
            one, eight = best(reads, 1), best(reads, 8)
            per = (one - base[1]) / reads if reads else 0.0
            per8 = (eight - base[8]) / reads if reads else 0.0
            print(f"{reads:13d}  {one:8.0f}  {eight:9.0f}   {per:18.1f}  {per8:9.1f}")


if __name__ == "__main__":
    main()
