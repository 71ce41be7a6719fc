"""The provisioning log: what is recorded, per organization, retention, the CLI."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import USER, Scim, backend_config, new_org
from flask import Flask
from sqlalchemy import func, inspect, select

from scimserver.app import SetupError, create_app
from scimserver.cli import cli
from scimserver.events import RequestInfo, RequestRecord
from scimserver_plugins.provlog import scimserver_cli_commands
from scimserver_plugins.provlog.log import PLUGIN_NAME, ProvisioningLog, entries, stamp

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HINT = "stale id: re-apply mappings in the IdP; it looks the user up by userName"
UNKNOWN = "2819c223-7f76-453a-919d-413861904646"

scimserver_cli_commands(cli)  # as the console script does; adding it twice is harmless


def _log(app: Flask) -> ProvisioningLog:
    found = app.extensions["scimserver"].pm.get_plugin(PLUGIN_NAME)
    assert isinstance(found, ProvisioningLog)
    return found


def _org_id(app: Flask, slug: str) -> str:
    return app.extensions["scimserver"].tenancy.org(slug).id


def _entries(client: Scim, **kw: Any) -> list[dict[str, Any]]:
    return _log(client.app).query(_org_id(client.app, client.org), **kw)


def _count(app: Flask, slug: str | None = None) -> int:
    provlog = _log(app)
    stmt = select(func.count()).select_from(entries)
    if slug is not None:
        stmt = stmt.where(entries.c.org_id == _org_id(app, slug))
    with provlog.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def _old_entry(app: Flask, slug: str, age: timedelta, path: str = "/scim/v2/Users") -> None:
    """A row written ``age`` ago, straight through the log (no request)."""
    org = app.extensions["scimserver"].tenancy.org(slug)
    record = RequestRecord(
        request=RequestInfo(id="old-request", method="POST", path=path),
        org=org,
        integration=None,
        status=201,
        resource_type="User",
        resource_id="old-id",
        user_name="old@example.com",
    )
    _log(app).add(record, at=stamp(datetime.now(UTC) - age))


# What is recorded, on the shared apps (both store backends).


def test_writes_are_recorded_with_every_field(scim: Scim) -> None:
    r = scim.post(
        "/Users",
        {"schemas": [USER], "userName": "ada@example.com"},
        headers={"X-Request-Id": "req-create-1"},
    )
    assert r.status_code == 201
    uid = r.get_json()["id"]
    assert scim.patch(f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ada"}],
    }).status_code == 200  # fmt: skip
    put = {"schemas": [USER], "userName": "ada@example.com", "displayName": "Ada L."}
    assert scim.put(f"/Users/{uid}", put).status_code == 200
    assert scim.delete(f"/Users/{uid}").status_code == 204

    rows = _entries(scim)
    assert [(e["method"], e["status"]) for e in rows] == [
        ("DELETE", 204),
        ("PUT", 200),
        ("PATCH", 200),
        ("POST", 201),
    ]
    created = rows[-1]
    assert STAMP.match(created["time"])
    assert created == {
        "time": created["time"],
        "integration": "onelogin",
        "method": "POST",
        "path": "/scim/v2/Users",
        "status": 201,
        "scimType": None,
        "resourceType": "User",
        "resourceId": uid,
        "userName": "ada@example.com",
        "detail": None,
        "requestId": "req-create-1",
        "durationMs": created["durationMs"],
        "hint": None,
    }
    assert created["durationMs"] > 0
    for each in rows:
        assert each["resourceId"] == uid and each["resourceType"] == "User"
        assert each["path"] in ("/scim/v2/Users", f"/scim/v2/Users/{uid}")
        assert each["requestId"]  # generated when the client sends none
    assert rows[1]["userName"] == "ada@example.com"  # the PUT
    assert [e["time"] for e in rows] == sorted((e["time"] for e in rows), reverse=True)


def test_successful_reads_are_not_recorded(scim: Scim) -> None:
    user = scim.user("grace@example.com")
    assert scim.get("/Users").status_code == 200
    assert scim.get(f"/Users/{user['id']}").status_code == 200
    assert scim.get('/Users?filter=userName eq "grace@example.com"').status_code == 200
    assert scim.post("/Users/.search", {"filter": 'userName sw "g"'}).status_code == 200
    assert scim.get("/ServiceProviderConfig").status_code == 200
    group = scim.group("Readers", [user["id"]])
    assert scim.get(f"/Groups/{group['id']}").status_code == 200
    assert [(e["method"], e["resourceType"]) for e in _entries(scim)] == [
        ("POST", "Group"),
        ("POST", "User"),
    ]


def test_failed_requests_are_recorded_with_scim_type(scim: Scim) -> None:
    scim.user("dup@example.com")
    r = scim.post("/Users", {"schemas": [USER], "userName": "dup@example.com"})
    assert r.status_code == 409
    assert scim.get("/Users?filter=userName+zz+%22x%22").status_code == 400

    failed = _entries(scim, failed=True)
    assert [(e["method"], e["status"], e["scimType"]) for e in failed] == [
        ("GET", 400, "invalidFilter"),
        ("POST", 409, "uniqueness"),
    ]
    conflict = failed[1]
    assert conflict["userName"] == "dup@example.com"  # from the body of the failed create
    assert conflict["detail"] == r.get_json()["detail"]
    assert conflict["hint"] is None
    assert len(_entries(scim)) == 3  # and the first create


def test_stale_id_calls_are_logged_with_the_hint(scim: Scim) -> None:
    """design.md §5: the IdP holds a stale id; the operator sees the failed calls."""
    body = {"schemas": [USER], "userName": "stale@example.com"}
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    answers = [
        scim.get(f"/Users/{UNKNOWN}"),
        scim.put(f"/Users/{UNKNOWN}", body),
        scim.patch(f"/Users/{UNKNOWN}", patch),
    ]
    for r in answers:
        assert r.status_code == 404
        assert "re-apply its mappings" in r.get_json()["detail"]

    rows = _entries(scim, failed=True)
    assert [e["method"] for e in rows] == ["PATCH", "PUT", "GET"]
    for row, answer in zip(rows, reversed(answers), strict=True):
        assert row["status"] == 404
        assert row["resourceType"] == "User" and row["resourceId"] == UNKNOWN
        assert row["detail"] == answer.get_json()["detail"]
        assert "re-apply its mappings" in row["detail"]
        assert row["hint"] == HINT
    assert rows[1]["userName"] == "stale@example.com"  # the PUT named the user

    # Re-applying mappings: the IdP finds the user by userName and goes on; no hint.
    user = scim.user("stale@example.com")
    found = scim.get('/Users?filter=userName eq "stale@example.com"').get_json()
    assert found["Resources"][0]["id"] == user["id"]
    assert _entries(scim)[0]["hint"] is None


def test_groups_get_their_own_hint_and_unknown_endpoints_none(scim: Scim) -> None:
    assert scim.get(f"/Groups/{UNKNOWN}").status_code == 404
    assert scim.get("/Schemas/urn:nothing").status_code == 404
    rows = _entries(scim, failed=True)
    assert rows[0]["resourceType"] is None
    assert rows[0]["hint"] is None  # an unknown schema: not a stale id
    assert rows[1]["hint"] == (
        "stale id: re-apply mappings in the IdP; it looks the group up by displayName"
    )


def test_long_values_are_cut(scim: Scim) -> None:
    long_id = "x" * 1200
    assert scim.get(f"/Users/{long_id}").status_code == 404
    row = _entries(scim)[0]
    assert len(row["resourceId"]) == 255
    assert len(row["path"]) <= 2000
    r = scim.post("/Users", {"userName": "long@example.com", "a" * 1200: 1})
    assert r.status_code == 400 and len(r.get_json()["detail"]) > 1200
    row = _entries(scim)[0]
    assert len(row["detail"]) == 500 and row["detail"].endswith("…")


def test_organizations_never_see_each_other(scim: Scim, other: Scim) -> None:
    scim.user("mine@example.com")
    other.user("theirs@example.com")
    assert other.get(f"/Users/{UNKNOWN}").status_code == 404
    # A's token on B's user: 404 for A, recorded for A only.
    theirs = other.get('/Users?filter=userName eq "theirs@example.com"').get_json()
    assert scim.get(f"/Users/{theirs['Resources'][0]['id']}").status_code == 404

    mine = _entries(scim)
    assert [e["userName"] for e in mine if e["userName"]] == ["mine@example.com"]
    assert all("theirs" not in json.dumps(e) for e in mine)
    assert [e["status"] for e in mine] == [404, 201]
    assert [e["status"] for e in _entries(other)] == [404, 201]


def test_requests_without_an_organization_are_not_recorded(scim: Scim) -> None:
    before = _count(scim.app)
    for headers in ({"Authorization": "Bearer scim_not-a-token"}, {"Authorization": ""}):
        r = scim.http.post("/scim/v2/Users", json={"userName": "x"}, headers=headers)
        assert r.status_code == 401
    assert _count(scim.app) == before


# Apps of our own: retention, switched off, broken storage, the CLI.


def _config(
    backend: str, request: pytest.FixtureRequest, root: Path, **provlog: Any
) -> dict[str, Any]:
    """backend_config; on PostgreSQL the control database (and so the log) is too."""
    root.mkdir(parents=True, exist_ok=True)
    config = backend_config(backend, request, root)
    if backend == "postgres":
        config["control"]["url"] = config["store"]["sql"]["url"]
    if provlog:
        config["provisioning_log"] = provlog
    return config


@pytest.fixture
def build(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    built: list[Flask] = []

    def make(**provlog: Any) -> Flask:
        app = create_app(_config(backend, request, tmp_path / str(len(built)), **provlog))
        built.append(app)
        return app

    yield make
    for app in built:
        _log_or_none = app.extensions["scimserver"].pm.get_plugin(PLUGIN_NAME)
        if _log_or_none is not None:
            _log_or_none.close()
        app.extensions["scimserver"].close()


def _client(app: Flask) -> Scim:
    slug, token = new_org(app)
    return Scim(app, token, slug)


def test_retention_by_row_count_is_amortized(build: Any) -> None:
    app = build(max_rows=2, prune_every=3)
    a, b = _client(app), _client(app)
    b.user("b1@example.com")
    a.user("u1@example.com")  # an organization's first insert in a process prunes
    a.user("u2@example.com")
    a.user("u3@example.com")
    assert _count(app, a.org) == 3  # over the cap until the third insert since
    a.user("u4@example.com")
    assert _count(app, a.org) == 2
    assert [e["userName"] for e in _entries(a)] == ["u4@example.com", "u3@example.com"]
    for n in range(5, 11):
        a.user(f"u{n}@example.com")
    assert [e["userName"] for e in _entries(a)] == ["u10@example.com", "u9@example.com"]
    assert _count(app, a.org) <= 2 + 2
    assert _count(app, b.org) == 1  # pruning is per organization


def test_retention_by_row_count_keeps_the_newest_within_one_millisecond(build: Any) -> None:
    app = build(max_rows=3, prune_every=1)
    a = _client(app)
    same = stamp()
    for _ in range(6):
        _old_entry(app, a.org, timedelta(0))
    with _log(app).engine.connect() as conn:  # all in one millisecond
        conn.execute(entries.update().values(at=same))
        conn.commit()
    _log(app).prune(_org_id(app, a.org))
    assert _count(app, a.org) == 3


def test_retention_by_age(build: Any) -> None:
    app = build(max_age="1d", prune_every=1000)
    a, b = _client(app), _client(app)
    _old_entry(app, a.org, timedelta(days=2))
    _old_entry(app, a.org, timedelta(hours=20))
    _old_entry(app, b.org, timedelta(days=3))
    # Not pruned yet, but past max_age rows are never shown.
    assert [e["requestId"] for e in _entries(a)] == ["old-request"]
    assert _count(app, a.org) == 2
    a.user("fresh@example.com")  # first insert of the org in this process: prunes
    assert _count(app, a.org) == 2  # the 20h-old row and the new one
    assert [e["userName"] for e in _entries(a)] == ["fresh@example.com", "old@example.com"]
    assert _count(app, b.org) == 1  # b has not written since: untouched until it does
    b.user("b@example.com")
    assert _count(app, b.org) == 1


def test_disabled_by_config(build: Any) -> None:
    app = build(enabled=False)
    server = app.extensions["scimserver"]
    assert server.pm.get_plugin(PLUGIN_NAME) is None
    assert not server.pm.hook.scimserver_request_done.get_hookimpls()
    a = _client(app)
    a.user("quiet@example.com")
    assert a.get(f"/Users/{UNKNOWN}").status_code == 404
    engine = server.tenancy.control.engine
    assert entries.name not in inspect(engine).get_table_names()


def test_bad_config_fails_at_start_up(backend: str, request: pytest.FixtureRequest, tmp_path: Path):
    for bad, message in (
        ({"max_age": "soon"}, "max_age"),
        ({"max_rows": 0}, "max_rows"),
        ({"enabled": "maybe"}, "enabled"),
    ):
        with pytest.raises(SetupError, match=message):
            create_app(_config(backend, request, tmp_path / message, **bad))


def test_a_failing_insert_never_fails_the_request(
    build: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = build()
    a = _client(app)
    a.user("before@example.com")
    with _log(app).engine.connect() as conn:
        entries.drop(conn)
        conn.commit()
    with caplog.at_level(logging.ERROR, logger="scimserver_plugins.provlog"):
        r = a.post("/Users", {"schemas": [USER], "userName": "after@example.com"})
        assert r.status_code == 201
        assert a.get(f"/Users/{UNKNOWN}").status_code == 404
    assert a.get(f"/Users/{r.get_json()['id']}").status_code == 200
    assert "provisioning log: could not record request" in caplog.text


def test_hostile_text_is_recorded_escaped(build: Any) -> None:
    """NUL (PostgreSQL refuses it) and lone surrogates (no codec takes them) come from
    clients; the row that shows such a request must not be lost to them."""
    app = build()
    a = _client(app)
    raw = json.dumps({"schemas": [USER], "userName": "x\ud800y\u0000z"})  # JSON escapes
    r = a.put("/Users/a%00b", raw=raw)
    assert r.status_code >= 400
    row = _entries(a)[0]
    assert row["method"] == "PUT" and row["status"] == r.status_code
    assert row["resourceId"] == "a\\x00b"
    assert "\x00" not in row["path"] and row["path"].endswith("a\\x00b")
    r = a.post("/Users", raw=raw)
    assert r.status_code == 400
    assert _entries(a)[0]["userName"] == "x\\ud800y\\x00z"


# The CLI.


def _config_file(app: Flask, path: Path, **provlog: Any) -> str:
    """The app's config as a TOML file (scalars as JSON literals, which TOML reads)."""
    config = app.extensions["scimserver"].config

    def table(name: str, values: dict[str, Any]) -> list[str]:
        lines = [f"[{name}]"]
        for key, value in values.items():
            if isinstance(value, dict):
                continue
            lines.append(f"{key} = {json.dumps(value)}")
        for key, value in values.items():
            if isinstance(value, dict):
                lines += table(f"{name}.{key}", value)
        return lines

    lines = table("control", config["control"]) + table("store", config["store"])
    lines += table("provisioning_log", provlog)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_log(build: Any, tmp_path: Path) -> None:
    app = build()
    a, b = _client(app), _client(app)
    user = a.user("cli@example.com")
    a.ops(f"/Users/{user['id']}", {"op": "replace", "path": "displayName", "value": "C"})
    assert a.get(f"/Users/{UNKNOWN}").status_code == 404
    stale = a.put(f"/Users/{UNKNOWN}", {"schemas": [USER], "userName": "x@example.com"})
    assert stale.status_code == 404
    b.user("other-org@example.com")
    _old_entry(app, a.org, timedelta(hours=2), path="/scim/v2/Users/two-hours-ago")
    config = _config_file(app, tmp_path / "scim.toml")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["--config", config, "log", *args])

    plain = run(a.org)
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    assert lines[0].split() == [
        "TIME", "KIND", "METHOD", "PATH", "STATUS", "SCIMTYPE", "ID", "USERNAME", "MS",
    ]  # fmt: skip
    assert f"hint:   {HINT}" in plain.stdout
    assert "re-apply its mappings" in plain.stdout  # the detail line
    assert "cli@example.com" in plain.stdout and "two-hours-ago" in plain.stdout
    assert "other-org@example.com" not in plain.stdout
    assert "5 entries, newest first." in plain.stderr

    as_json = [json.loads(line) for line in run(a.org, "--json").stdout.splitlines()]
    assert [(e["method"], e["status"]) for e in as_json] == [
        ("PUT", 404),
        ("GET", 404),
        ("PATCH", 200),
        ("POST", 201),
        ("POST", 201),
    ]
    assert all(e["org"] == a.org for e in as_json)
    assert as_json[0]["hint"] == HINT and as_json[2]["hint"] is None
    assert as_json[3]["resourceId"] == user["id"] and as_json[3]["integration"] == "onelogin"

    failed = [json.loads(line) for line in run(a.org, "--failed", "--json").stdout.splitlines()]
    assert [e["method"] for e in failed] == ["PUT", "GET"]
    assert all(e["status"] >= 400 and e["hint"] == HINT for e in failed)

    recent = [
        json.loads(line) for line in run(a.org, "--since", "1h", "--json").stdout.splitlines()
    ]
    assert len(recent) == 4 and all("two-hours-ago" not in e["path"] for e in recent)
    assert len(run(a.org, "--since", "3h", "--json").stdout.splitlines()) == 5
    assert len(run(a.org, "--limit", "2", "--json").stdout.splitlines()) == 2

    failed_plain = run(a.org, "--failed")
    assert "PATCH" not in failed_plain.stdout and failed_plain.stdout.count("hint:") == 2

    assert run(a.org, "--since", "soon").exit_code == 2
    missing = run("no-such-org")
    assert missing.exit_code == 1 and "No organization 'no-such-org'" in missing.stderr
    fresh = _client(app)
    empty = run(fresh.org)
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "No provisioning log entries" in empty.stderr


def test_cli_log_when_disabled(build: Any, tmp_path: Path) -> None:
    app = build()
    a = _client(app)
    config = _config_file(app, tmp_path / "off.toml", enabled=False)
    result = CliRunner().invoke(cli, ["--config", config, "log", a.org])
    assert result.exit_code == 1 and "provisioning log is off" in result.stderr
