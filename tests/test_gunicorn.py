"""The server as production runs it: ``gunicorn wsgi:app`` with two workers, on
every backend. Concurrency is checked across worker processes (no lost updates,
uniqueness held by the store), and the public compliance tools run against it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import backends
import pytest
from live import (
    Live,
    assert_scim2_tester_passes,
    assert_scim_sanity_passes,
    call,
    concurrent_member_adds,
    live_server,
)
from live import parallel as _parallel

from scimserver.app import build_server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=backends.ENABLED)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    root = tmp_path_factory.mktemp(f"live-{request.param}")
    config = {
        "control": {"url": f"sqlite:///{root / 'control.db'}"},
        "store": backends.store_config(request.param, request, root),
    }
    with live_server(config, root) as server:
        yield server


def test_racing_creates_of_one_username_give_one_201(live: Live) -> None:
    body = {"schemas": [USER], "userName": "race@example.com"}
    replies = _parallel(32, lambda _: call("POST", f"{live.base}/Users", live.token, body))
    statuses = Counter(r.status for r in replies)
    assert statuses == {201: 1, 409: 31}
    assert all(r.body["scimType"] == "uniqueness" for r in replies if r.status == 409)
    found = call("GET", f"{live.base}/Users?filter=userName+eq+%22RACE@example.com%22", live.token)
    assert found.body["totalResults"] == 1


def test_concurrent_member_adds_lose_nothing(live: Live) -> None:
    group, users = concurrent_member_adds(live)
    members = call("GET", f"{live.base}/Groups/{group['id']}", live.token).body["members"]
    assert {m["value"] for m in members} == {u["id"] for u in users}
    for user in users:
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


def test_scim2_tester_passes_every_check(live: Live) -> None:
    assert_scim2_tester_passes(live)


def test_scim_sanity_passes_every_non_skipped_check(live: Live) -> None:
    assert_scim_sanity_passes(live)
