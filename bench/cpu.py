"""CPU time per request, in process: scimserver's app vs Flask's hello-world.

No gunicorn, no sockets, one thread: each scenario of bench/run.py is replayed
through Flask's test client and timed with ``time.process_time``, so the figure
is the app's own cost and hardly moves when other work loads the machine (wall
clock does). A quick check while optimising a hot spot; ``run.py`` remains the
benchmark.

    .venv/bin/python bench/cpu.py                    # every scenario, 2,000 requests each
    .venv/bin/python bench/cpu.py get list -n 500 --cprofile   # + the top of cProfile
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from hello import app as hello_app  # noqa: E402
from users import user_body  # noqa: E402

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SCENARIOS = ["create", "get", "filter", "patch", "list", "bulk"]
POOL = 1000


def user(n: int) -> dict[str, Any]:
    return user_body(f"cpu-{n:07d}@bench.example", n)


def build() -> tuple[Any, dict[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(root))
    from scimserver.app import build_server, create_app
    from scimserver.config import load

    url = f"sqlite:///{root / 'scim.db'}"
    (root / "scimserver.toml").write_text(
        f'[control]\nurl = "{url}"\n[store]\nbackend = "sql"\n[store.sql]\nurl = "{url}"\n'
    )
    config = load(root / "scimserver.toml", environ={})
    admin = build_server(config)
    admin.tenancy.create_org("bench", "Bench", enterprise=True)
    admin.tenancy.enable_provisioning("bench")
    _, token = admin.tenancy.issue_token("bench", "onelogin", regenerate=False)
    return create_app(config), {"Authorization": f"Bearer {token}"}


class Driver:
    def __init__(self, client: Any, headers: dict[str, str], ids: list[str]) -> None:
        self.client, self.headers, self.ids = client, headers, ids
        self.n = 10_000_000

    def one(self, scenario: str) -> int:
        c, h, self.n = self.client, self.headers, self.n + 1
        i, base = self.n, "/scim/v2"
        if scenario == "create":
            r = c.post(f"{base}/Users", json=user(i), headers=h)
        elif scenario == "get":
            r = c.get(f"{base}/Users/{self.ids[i % POOL]}", headers=h)
        elif scenario == "filter":
            name = f"cpu-{i % POOL:07d}@bench.example"
            r = c.get(f"{base}/Users?filter=userName%20eq%20%22{name}%22", headers=h)
        elif scenario == "patch":
            op = {"op": "replace", "path": "active", "value": bool(i % 2)}
            body = {"schemas": [PATCH_OP], "Operations": [op]}
            r = c.patch(f"{base}/Users/{self.ids[i % POOL]}", json=body, headers=h)
        elif scenario == "list":
            r = c.get(f"{base}/Users?count=100", headers=h)
        elif scenario == "bulk":
            ops = [
                {"method": "POST", "path": "/Users", "bulkId": f"b{k}", "data": user(i * 100 + k)}
                for k in range(100)
            ]
            r = c.post(f"{base}/Bulk", json={"schemas": [BULK], "Operations": ops}, headers=h)
            self.n += 1
        else:
            raise SystemExit(f"unknown scenario {scenario}")
        if r.status_code >= 300:
            raise RuntimeError(f"{scenario}: {r.status_code} {r.get_data(as_text=True)[:300]}")
        return 100 if scenario == "bulk" else 1


def cpu_per_op(fn: Any, count: int) -> float:
    ops = 0
    started = time.process_time()
    for _ in range(count):
        ops += fn()
    return (time.process_time() - started) / ops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", default=SCENARIOS)
    parser.add_argument("-n", type=int, default=2000, help="requests per scenario")
    parser.add_argument("--cprofile", action="store_true", help="print cProfile's top 25")
    args = parser.parse_args()

    app, headers = build()
    client = app.test_client()
    ids = []
    for n in range(POOL):
        r = client.post("/scim/v2/Users", json=user(n), headers=headers)
        ids.append(r.get_json()["id"])
    driver = Driver(client, headers, ids)
    hello = hello_app.test_client()
    hello_get = lambda: hello.get("/scim/v2/Users/x").status_code and 1  # noqa: E731
    for _ in range(200):
        hello_get()
    base = cpu_per_op(hello_get, args.n)
    print(f"{'hello-world GET':24} {base:8.0f} us CPU per request (test client, 1 thread)")
    for scenario in args.scenarios:
        count = max(1, args.n // 100) if scenario == "bulk" else args.n
        for _ in range(min(50, count)):
            driver.one(scenario)  # warm caches and pools
        cost = cpu_per_op(lambda s=scenario: driver.one(s), count)
        unit = "per user" if scenario == "bulk" else "per request"
        print(f"{scenario:24} {cost:8.0f} us CPU {unit}  ({cost / base:5.1f}x hello-world)")
        if args.cprofile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(count):
                driver.one(scenario)
            prof.disable()
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("cumulative").print_stats(r"scimserver|plugins", 25)
            stats.sort_stats("tottime").print_stats(15)
            print(out.getvalue())


if __name__ == "__main__":
    main()
