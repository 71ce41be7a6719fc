"""The server as production runs it: ``gunicorn wsgi:app`` with two workers.

Concurrency is checked across worker processes (no lost updates, uniqueness
held by the database), and the public compliance tools run against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from live import call
from servers import GunicornServer, PostgresServer, gunicorn_server

from scimserver.app import build_server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@dataclass
class Live:
    server: GunicornServer
    token: str
    config: dict

    @property
    def base(self) -> str:
        return self.server.base_url


def _write_config(path: Path, store_url: str, control_url: str) -> dict:
    path.write_text(
        "[control]\n"
        f'url = "{control_url}"\n'
        "[store]\n"
        'backend = "sql"\n'
        "[store.sql]\n"
        f'url = "{store_url}"\n'
    )
    return {"control": {"url": control_url}, "store": {"backend": "sql", "sql": {"url": store_url}}}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    root = tmp_path_factory.mktemp(f"live-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'scim.db'}"
        control = url
    else:
        pg: PostgresServer = request.getfixturevalue("pg")
        url = control = pg.create_database(f"live_{os.getpid()}")
    config = _write_config(root / "scimserver.toml", url, control)
    admin = build_server(config)
    admin.tenancy.create_org("acme", "Acme", enterprise=True)
    admin.tenancy.enable_provisioning("acme")
    _, token = admin.tenancy.issue_token("acme", "onelogin", regenerate=False)
    with gunicorn_server(root / "scimserver.toml", workers=2) as server:
        yield Live(server, token, config)
    admin.close()


def _parallel(n: int, fn) -> list:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def test_racing_creates_of_one_username_give_one_201(live: Live) -> None:
    body = {"schemas": [USER], "userName": "race@example.com"}
    replies = _parallel(32, lambda _: call("POST", f"{live.base}/Users", live.token, body))
    statuses = Counter(r.status for r in replies)
    assert statuses == {201: 1, 409: 31}
    assert all(r.body["scimType"] == "uniqueness" for r in replies if r.status == 409)
    found = call("GET", f"{live.base}/Users?filter=userName+eq+%22race@example.com%22", live.token)
    assert found.body["totalResults"] == 1


def test_concurrent_member_adds_lose_nothing(live: Live) -> None:
    group = call(
        "POST",
        f"{live.base}/Groups",
        live.token,
        {"schemas": [GROUP], "displayName": "Crowd", "members": []},
    ).body
    users = _parallel(
        40,
        lambda i: (
            call(
                "POST",
                f"{live.base}/Users",
                live.token,
                {"schemas": [USER], "userName": f"crowd{i}@x.org"},
            ).body
        ),
    )

    def add(i: int):
        return call(
            "PATCH",
            f"{live.base}/Groups/{group['id']}?excludedAttributes=members",
            live.token,
            {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": users[i]["id"]}]}
                ],
            },
        )

    assert {r.status for r in _parallel(40, add)} == {200}
    members = call("GET", f"{live.base}/Groups/{group['id']}", live.token).body["members"]
    assert {m["value"] for m in members} == {u["id"] for u in users}
    for user in users[:5]:
        groups = call("GET", f"{live.base}/Users/{user['id']}", live.token).body["groups"]
        assert [g["value"] for g in groups] == [group["id"]]


def test_a_regenerated_token_stops_working_on_every_worker(live: Live) -> None:
    admin = build_server(live.config)
    try:
        _, new_token = admin.tenancy.issue_token("acme", "onelogin", regenerate=True)
    finally:
        admin.close()
    old = _parallel(16, lambda _: call("GET", f"{live.base}/Users?count=1", live.token))
    assert {r.status for r in old} == {401}
    live.token = new_token
    fresh = _parallel(16, lambda _: call("GET", f"{live.base}/Users?count=1", live.token))
    assert {r.status for r in fresh} == {200}


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} is not installed; `pip install -e .[test]` brings it")
        return found
    return str(path)


def test_scim2_tester_passes_every_check(live: Live) -> None:
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {live.token}"}
    run = subprocess.run(
        [_tool("scim"), "--url", live.base, "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = run.stdout.splitlines()
    failed = [
        line
        for line in lines
        if line.split(" ", 1)[0] in ("ERROR", "CRITICAL", "WARNING", "SKIPPED")
    ]
    assert run.returncode == 0 and not failed, run.stdout[-4000:] + run.stderr[-2000:]
    assert sum(line.startswith("SUCCESS") for line in lines) > 100


def test_scim_sanity_passes_every_non_skipped_check(live: Live) -> None:
    run = subprocess.run(
        [
            _tool("scim-sanity"),
            "probe",
            live.base,
            "--token",
            live.token,
            "--i-accept-side-effects",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "[FAIL]" not in run.stdout and "[ERROR]" not in run.stdout
    assert "All tests passed" in run.stdout
