"""Groups and membership over HTTP, on every backend."""

from __future__ import annotations

from conftest import GROUP, Scim


def _member_ids(body: dict) -> set[str]:
    return {m["value"] for m in body.get("members", [])}


def test_create_group_with_members_and_refs(scim: Scim) -> None:
    a, b = scim.user("a@example.com", displayName="A"), scim.user("b@example.com")
    group = scim.group("Team", [a["id"], b["id"]])
    assert _member_ids(group) == {a["id"], b["id"]}
    first = next(m for m in group["members"] if m["value"] == a["id"])
    assert first == {
        "value": a["id"],
        "type": "User",
        "$ref": f"http://localhost/scim/v2/Users/{a['id']}",
    }


def test_group_display_name_is_unique(scim: Scim) -> None:
    scim.group("Admins")
    r = scim.post("/Groups", {"schemas": [GROUP], "displayName": "admins"})
    assert r.status_code == 409
    assert r.get_json()["scimType"] == "uniqueness"


def test_unknown_member_ids_are_ignored(scim: Scim) -> None:
    # Ids are made by the server, so an unknown one can never become valid.
    user = scim.user("real@example.com")
    group = scim.group("Ghosts", ["no-such-user", user["id"]])
    assert _member_ids(group) == {user["id"]}
    r = scim.ops(f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                            "value": [{"value": "fake-member-id"}]})
    assert r.status_code == 200
    assert _member_ids(r.get_json()) == {user["id"]}


def test_patch_add_and_remove_members(scim: Scim) -> None:
    users = [scim.user(f"u{i}@example.com") for i in range(3)]
    group = scim.group("G", [users[0]["id"]])
    path = f"/Groups/{group['id']}"
    r = scim.ops(
        path,
        {
            "op": "add",
            "path": "members",
            "value": [{"value": users[1]["id"]}, {"value": users[2]["id"]}],
        },
    )
    assert r.status_code == 200
    assert _member_ids(r.get_json()) == {u["id"] for u in users}
    r = scim.ops(path, {"op": "remove", "path": f'members[value eq "{users[0]["id"]}"]'})
    assert _member_ids(r.get_json()) == {users[1]["id"], users[2]["id"]}


def test_patch_with_excluded_members_does_not_return_them(scim: Scim) -> None:
    user = scim.user("x@example.com")
    group = scim.group("Quiet")
    r = scim.ops(
        f"/Groups/{group['id']}?excludedAttributes=members",
        {"op": "add", "path": "members", "value": [{"value": user["id"]}]},
    )
    assert r.status_code == 200
    assert "members" not in r.get_json()
    assert _member_ids(scim.get(f"/Groups/{group['id']}").get_json()) == {user["id"]}


def test_put_without_members_keeps_them_and_empty_list_clears(scim: Scim) -> None:
    user = scim.user("keep@example.com")
    group = scim.group("Keep", [user["id"]])
    path = f"/Groups/{group['id']}"
    r = scim.put(path, {"schemas": [GROUP], "displayName": "Kept"})
    assert r.get_json()["displayName"] == "Kept"
    assert _member_ids(r.get_json()) == {user["id"]}
    r = scim.put(path, {"schemas": [GROUP], "displayName": "Kept", "members": []})
    assert _member_ids(r.get_json()) == set()


def test_deleting_a_user_removes_its_memberships(scim: Scim, app) -> None:
    if app.extensions["scimserver"].config.get("policy", {}).get("suspend", {}).get("enabled"):
        # With the suspend policy on, DELETE keeps memberships (see test_suspend).
        pass
    user = scim.user("leaver@example.com")
    group = scim.group("Leavers", [user["id"]])
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert _member_ids(scim.get(f"/Groups/{group['id']}").get_json()) == set()


def test_groups_list_excluding_members(scim: Scim) -> None:
    user = scim.user("l@example.com")
    scim.group("Listed", [user["id"]])
    r = scim.get('/Groups?excludedAttributes=members&filter=displayName eq "Listed"')
    body = r.get_json()
    assert body["totalResults"] == 1
    assert "members" not in body["Resources"][0]
