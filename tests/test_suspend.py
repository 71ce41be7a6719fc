"""Suspend instead of delete: hidden and visible modes, revive on POST, operator CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import USER, Scim, backend_config, new_org, write_toml
from flask import Flask

from scimserver.app import create_app
from scimserver.cli import cli


def _app(mode: str | None, backend: str, request: pytest.FixtureRequest, root: Path) -> Flask:
    config = backend_config(backend, request, root)
    config["policy"] = {"suspend": {"enabled": mode is not None, "mode": mode or "hidden"}}
    return create_app(config)


@pytest.fixture(scope="module")
def apps(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str | None, Flask]]:
    built = {
        mode: _app(mode, backend, request, tmp_path_factory.mktemp(f"suspend-{mode}"))
        for mode in ("hidden", "visible", None)
    }
    yield built
    for app in built.values():
        app.extensions["scimserver"].close()


def _client(app: Flask) -> Scim:
    slug, token = new_org(app)
    return Scim(app, token, slug)


@pytest.fixture
def hidden(apps: dict[str | None, Flask]) -> Scim:
    return _client(apps["hidden"])


@pytest.fixture
def visible(apps: dict[str | None, Flask]) -> Scim:
    return _client(apps["visible"])


@pytest.fixture
def disabled(apps: dict[str | None, Flask]) -> Scim:
    return _client(apps[None])


def test_patch_active_false_suspends_and_true_reactivates(hidden: Scim) -> None:
    user = hidden.user("pat@example.com")
    path = f"/Users/{user['id']}"
    r = hidden.ops(path, {"op": "replace", "path": "active", "value": False})
    assert r.get_json()["active"] is False
    assert hidden.get(path).get_json()["active"] is False
    assert hidden.get("/Users?filter=active eq false").get_json()["totalResults"] == 1
    r = hidden.ops(path, {"op": "replace", "path": "active", "value": True})
    assert r.get_json()["active"] is True


def test_put_active_false_suspends(hidden: Scim) -> None:
    user = hidden.user("put@example.com", active=True)
    r = hidden.put(
        f"/Users/{user['id']}", {"schemas": [USER], "userName": "put@example.com", "active": False}
    )
    assert r.get_json()["active"] is False


def test_hidden_delete_keeps_the_record_but_answers_404(hidden: Scim) -> None:
    user = hidden.user("hid@example.com", title="Eng", externalId="ext-1")
    group = hidden.group("Team", [user["id"]])
    assert hidden.delete(f"/Users/{user['id']}").status_code == 204
    assert hidden.get(f"/Users/{user['id']}").status_code == 404
    assert hidden.get('/Users?filter=userName eq "hid@example.com"').get_json()["totalResults"] == 0
    assert hidden.get("/Users").get_json()["totalResults"] == 0
    # Left out of its group's members as SCIM shows them.
    assert "members" not in hidden.get(f"/Groups/{group['id']}").get_json()
    store = hidden.app.extensions["scimserver"].store
    org = hidden.app.extensions["scimserver"].tenancy.org(hidden.org)
    from scimserver.protocol.core_schemas import USER_TYPE

    kept = store.get(org.id, USER_TYPE, user["id"], retained=True)
    assert kept["active"] is False and kept["title"] == "Eng" and kept["meta"]["retained"]


def test_post_with_the_same_username_revives_the_record(hidden: Scim) -> None:
    user = hidden.user("back@example.com", title="Old")
    group = hidden.group("Crew", [user["id"]])
    hidden.delete(f"/Users/{user['id']}")
    r = hidden.post("/Users", {"schemas": [USER], "userName": "back@example.com", "title": "New"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["id"] == user["id"]
    assert body["title"] == "New" and body["active"] is True
    assert [g["value"] for g in body["groups"]] == [group["id"]]
    members = hidden.get(f"/Groups/{group['id']}").get_json()["members"]
    assert [m["value"] for m in members] == [user["id"]]


def test_post_with_the_same_external_id_revives_the_record(hidden: Scim) -> None:
    user = hidden.user("old-name@example.com", externalId="00u1")
    hidden.delete(f"/Users/{user['id']}")
    r = hidden.post(
        "/Users", {"schemas": [USER], "userName": "new-name@example.com", "externalId": "00u1"}
    )
    assert r.status_code == 201
    assert r.get_json()["id"] == user["id"]
    assert r.get_json()["userName"] == "new-name@example.com"


def test_visible_mode_keeps_the_user_visible_and_inactive(visible: Scim) -> None:
    user = visible.user("vis@example.com")
    assert visible.delete(f"/Users/{user['id']}").status_code == 204
    body = visible.get(f"/Users/{user['id']}").get_json()
    assert body["active"] is False
    r = visible.post("/Users", {"schemas": [USER], "userName": "vis@example.com"})
    assert r.status_code == 409
    assert r.get_json()["scimType"] == "uniqueness"


def test_policy_disabled_delete_removes_user_and_memberships(disabled: Scim) -> None:
    user = disabled.user("del@example.com")
    group = disabled.group("Gone", [user["id"]])
    assert disabled.delete(f"/Users/{user['id']}").status_code == 204
    assert "members" not in disabled.get(f"/Groups/{group['id']}").get_json()
    r = disabled.post("/Users", {"schemas": [USER], "userName": "del@example.com"})
    assert r.status_code == 201
    assert r.get_json()["id"] != user["id"]


def test_groups_are_deleted_even_with_the_policy_on(hidden: Scim) -> None:
    group = hidden.group("Temp")
    assert hidden.delete(f"/Groups/{group['id']}").status_code == 204
    r = hidden.post(
        "/Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Temp"},
    )
    assert r.status_code == 201 and r.get_json()["id"] != group["id"]


def _config_file(app: Flask, path: Path) -> str:
    config = app.extensions["scimserver"].config
    return str(write_toml({"control": config["control"], "store": config["store"]}, path))


def test_operator_lists_restores_and_purges(hidden: Scim, tmp_path: Path) -> None:
    runner = CliRunner()
    config = _config_file(hidden.app, tmp_path / "scim.toml")
    keep, drop = hidden.user("keep@example.com"), hidden.user("drop@example.com")
    hidden.user("off@example.com", active=False)
    for user in (keep, drop):
        hidden.delete(f"/Users/{user['id']}")

    listed = runner.invoke(cli, ["--config", config, "users", "suspended", hidden.org])
    assert listed.exit_code == 0, listed.output
    assert "keep@example.com\tretained" in listed.output
    assert "off@example.com\tinactive" in listed.output

    restored = runner.invoke(cli, ["--config", config, "users", "restore", hidden.org, keep["id"]])
    assert restored.exit_code == 0, restored.output
    assert hidden.get(f"/Users/{keep['id']}").get_json()["active"] is False

    dry = runner.invoke(
        cli, ["--config", config, "users", "purge", hidden.org, "--older-than", "0s"]
    )
    assert "would purge" in dry.output and "drop@example.com" in dry.output
    assert "keep@example.com" not in dry.output
    young = runner.invoke(
        cli, ["--config", config, "users", "purge", hidden.org, "--older-than", "90d", "--yes"]
    )
    assert "Purged 0" in young.output
    gone = runner.invoke(
        cli, ["--config", config, "users", "purge", hidden.org, "--older-than", "0s", "--yes"]
    )
    assert "Purged 1" in gone.output, gone.output
    # Purged for good: the userName is free and a POST makes a new record.
    r = hidden.post("/Users", {"schemas": [USER], "userName": "drop@example.com"})
    assert r.status_code == 201 and r.get_json()["id"] != drop["id"]
