"""The server as production runs it, for tests: gunicorn workers, an HTTP client,
and the public compliance tools. Stdlib only on the client side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import GunicornServer, gunicorn_server

from scimserver.app import build_server

BIN = Path(sys.executable).parent


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def call(method: str, url: str, token: str, body: Any = None, timeout: float = 30) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
            "Accept": "application/scim+json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status, headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, headers = error.read(), error.code, dict(error.headers)
    return Reply(status, headers, json.loads(raw) if raw else None)


def parallel(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(0..n-1)`` from n threads at once."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


@dataclass
class Live:
    server: GunicornServer
    token: str
    config: dict[str, Any]
    org: str  # the organization's id, as stores see it

    @property
    def base(self) -> str:
        return self.server.base_url


@contextmanager
def live_server(config: dict[str, Any], root: Path, workers: int = 2) -> Iterator[Live]:
    """gunicorn on ``config`` (written to ``root``), with an organization and its token."""
    from conftest import write_toml

    path = write_toml(config, root / "scimserver.toml")
    admin = build_server(config)
    try:
        admin.tenancy.create_org("acme", "Acme", enterprise=True)
        admin.tenancy.enable_provisioning("acme")
        _, token = admin.tenancy.issue_token("acme", "onelogin", regenerate=False)
        org = admin.tenancy.org("acme").id
        with gunicorn_server(path, workers=workers) as server:
            yield Live(server, token, config, org)
    finally:
        admin.close()


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; `pip install -e .[test]` brings it")
    return found


def assert_scim2_tester_passes(live: Live) -> None:
    """scim2-tester: every check SUCCESS (anything else fails the run)."""
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {live.token}"}
    run = subprocess.run(
        [_tool("scim"), "--url", live.base, "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = run.stdout.splitlines()
    bad = [
        line
        for line in lines
        if line.split(" ", 1)[0] in ("ERROR", "CRITICAL", "WARNING", "SKIPPED")
    ]
    assert run.returncode == 0 and not bad, run.stdout[-4000:] + run.stderr[-2000:]
    assert sum(line.startswith("SUCCESS") for line in lines) > 100


def assert_scim_sanity_passes(live: Live) -> None:
    """scim-sanity probe: every check that is not skipped passes."""
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


def concurrent_member_adds(live: Live, n: int = 40) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A group and ``n`` users, then ``n`` concurrent PATCHes each adding one of them;
    every PATCH must answer 200. Returns the group (as created) and the users."""
    schemas = "urn:ietf:params:scim:schemas:core:2.0:"
    group = call(
        "POST",
        f"{live.base}/Groups",
        live.token,
        {"schemas": [schemas + "Group"], "displayName": "Crowd", "members": []},
    ).body
    users = parallel(
        n,
        lambda i: (
            call(
                "POST",
                f"{live.base}/Users",
                live.token,
                {"schemas": [schemas + "User"], "userName": f"crowd{i}@x.org"},
            ).body
        ),
    )

    def add(i: int) -> Reply:
        operation = {"op": "add", "path": "members", "value": [{"value": users[i]["id"]}]}
        return call(
            "PATCH",
            f"{live.base}/Groups/{group['id']}?excludedAttributes=members",
            live.token,
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [operation],
            },
        )

    statuses = {r.status for r in parallel(n, add)}
    assert statuses == {200}, statuses
    return group, users
