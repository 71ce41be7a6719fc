"""The pitfalls other SCIM servers fell into (shared/clients.md), one test or more each."""

from __future__ import annotations

from typing import Any

from conftest import ENTERPRISE, GROUP, PATCH_OP, USER, Scim

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def _state(scim: Scim, path: str) -> dict[str, Any]:
    body = _ok(scim.get(path))
    body.pop("meta")
    return body


def _member_ids(scim: Scim, group_id: str) -> list[str]:
    return sorted(m["value"] for m in _state(scim, f"/Groups/{group_id}").get("members", []))


def _lookup(scim: Scim, user_name: str) -> list[str]:
    body = _ok(scim.get(f'/Users?filter=userName eq "{user_name}"'))
    return [u["id"] for u in body["Resources"]]


def _assert_uniqueness(r: Any) -> None:
    assert r.status_code == 409, r.get_data(as_text=True)
    body = r.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "409"
    assert body["scimType"] == "uniqueness"


# -- capitalised ops rejected ----------------------------------------------------------


def test_capitalised_ops_are_accepted(scim: Scim) -> None:
    user = scim.user("caps@example.com", title="Old", nickName="N")
    path = f"/Users/{user['id']}"
    _ok(
        scim.ops(
            path,
            {"op": "Replace", "path": "title", "value": "New"},
            {"op": "Add", "path": "displayName", "value": "Caps"},
            {"op": "Remove", "path": "nickName"},
        )
    )
    state = _state(scim, path)
    assert (state["title"], state["displayName"]) == ("New", "Caps")
    assert "nickName" not in state


def test_upper_case_ops_are_accepted(scim: Scim) -> None:
    user = scim.user("upper@example.com")
    _ok(scim.ops(f"/Users/{user['id']}", {"op": "REPLACE", "path": "title", "value": "T"}))
    assert _state(scim, f"/Users/{user['id']}")["title"] == "T"


def test_an_unknown_op_is_400_invalid_syntax(scim: Scim) -> None:
    user = scim.user("badop@example.com")
    r = scim.ops(f"/Users/{user['id']}", {"op": "Update", "path": "title", "value": "T"})
    assert r.status_code == 400
    assert (r.get_json()["status"], r.get_json()["scimType"]) == ("400", "invalidSyntax")


# -- string booleans rejected ----------------------------------------------------------


def test_string_booleans_are_accepted_in_post_put_and_patch(scim: Scim) -> None:
    r = scim.post("/Users", {"schemas": [USER], "userName": "sb@example.com", "active": "False"})
    assert r.status_code == 201, r.get_data(as_text=True)
    path = f"/Users/{r.get_json()['id']}"
    assert _state(scim, path)["active"] is False
    _ok(scim.put(path, {"schemas": [USER], "userName": "sb@example.com", "active": "true"}))
    assert _state(scim, path)["active"] is True
    _ok(scim.ops(path, {"op": "replace", "path": "active", "value": "False"}))
    assert _state(scim, path)["active"] is False
    _ok(scim.ops(path, {"op": "replace", "value": {"active": "TRUE"}}))
    assert _state(scim, path)["active"] is True


def test_string_boolean_primary_in_emails_is_accepted(scim: Scim) -> None:
    emails = [{"value": "p@example.com", "type": "work", "primary": "true"}]
    r = scim.post("/Users", {"schemas": [USER], "userName": "p@example.com", "emails": emails})
    assert r.status_code == 201, r.get_data(as_text=True)
    assert _state(scim, f"/Users/{r.get_json()['id']}")["emails"] == [
        {"value": "p@example.com", "type": "work", "primary": True}
    ]


def test_a_non_boolean_string_for_active_is_400_invalid_value(scim: Scim) -> None:
    r = scim.post("/Users", {"schemas": [USER], "userName": "nb@example.com", "active": "maybe"})
    assert r.status_code == 400
    assert (r.get_json()["status"], r.get_json()["scimType"]) == ("400", "invalidValue")
    assert _lookup(scim, "nb@example.com") == []


# -- remove with a value list emptying the whole group -------------------------------------


def test_remove_members_with_a_value_list_keeps_the_others(scim: Scim) -> None:
    users = [scim.user(f"m{i}@example.com") for i in range(4)]
    group = scim.group("Big", [u["id"] for u in users])
    r = scim.ops(
        f"/Groups/{group['id']}",
        {
            "op": "remove",
            "path": "members",
            "value": [{"value": users[0]["id"]}, {"value": users[2]["id"]}],
        },
    )
    assert r.status_code in (200, 204), r.get_data(as_text=True)
    assert _member_ids(scim, group["id"]) == sorted([users[1]["id"], users[3]["id"]])


def test_remove_members_without_value_empties_the_group(scim: Scim) -> None:
    users = [scim.user(f"e{i}@example.com") for i in range(2)]
    group = scim.group("Cleared", [u["id"] for u in users])
    _ok(scim.ops(f"/Groups/{group['id']}", {"op": "remove", "path": "members"}))
    assert _member_ids(scim, group["id"]) == []


def test_remove_of_one_email_by_value_list_keeps_the_others(scim: Scim) -> None:
    emails = [
        {"value": "a@example.com", "type": "work"},
        {"value": "b@example.com", "type": "home"},
    ]
    user = scim.user("emails@example.com", emails=emails)
    _ok(
        scim.ops(
            f"/Users/{user['id']}",
            {
                "op": "remove",
                "path": "emails",
                "value": [{"value": "b@example.com", "type": "home"}],
            },
        )
    )
    assert _state(scim, f"/Users/{user['id']}")["emails"] == [emails[0]]


# -- filtered and extension-prefixed paths unsupported -------------------------------------


def test_filtered_paths_are_supported(scim: Scim) -> None:
    user = scim.user(
        "f@example.com",
        emails=[
            {"value": "w@example.com", "type": "work"},
            {"value": "h@example.com", "type": "home"},
        ],
    )
    path = f"/Users/{user['id']}"
    _ok(
        scim.ops(
            path,
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w2@example.com"},
        )
    )
    assert _state(scim, path)["emails"] == [
        {"value": "w2@example.com", "type": "work"},
        {"value": "h@example.com", "type": "home"},
    ]
    _ok(scim.ops(path, {"op": "remove", "path": 'emails[type eq "home"]'}))
    assert _state(scim, path)["emails"] == [{"value": "w2@example.com", "type": "work"}]


def test_extension_prefixed_paths_are_supported(scim: Scim) -> None:
    user = scim.user("x@example.com")
    path = f"/Users/{user['id']}"
    _ok(
        scim.ops(
            path,
            {"op": "add", "path": f"{ENTERPRISE}:department", "value": "Ops"},
            {"op": "replace", "path": f"{ENTERPRISE}:manager.value", "value": "boss"},
        )
    )
    state = _state(scim, path)
    assert state["schemas"] == [USER, ENTERPRISE]
    assert state[ENTERPRISE] == {"department": "Ops", "manager": {"value": "boss"}}
    _ok(
        scim.ops(
            path,
            {"op": "remove", "path": f"{ENTERPRISE}:department"},
            {"op": "remove", "path": f"{ENTERPRISE}:manager"},
        )
    )
    state = _state(scim, path)
    assert state["schemas"] == [USER]
    assert ENTERPRISE not in state


def test_a_path_to_an_unknown_attribute_is_400_invalid_path(scim: Scim) -> None:
    user = scim.user("unknown@example.com")
    r = scim.ops(
        f"/Users/{user['id']}", {"op": "replace", "path": "favouriteColour", "value": "blue"}
    )
    assert r.status_code == 400
    assert (r.get_json()["status"], r.get_json()["scimType"]) == ("400", "invalidPath")


# -- add on a filtered path with no match not creating the entry ---------------------------


def test_add_on_a_filtered_path_with_no_match_creates_the_entry(scim: Scim) -> None:
    user = scim.user("new@example.com", emails=[{"value": "h@example.com", "type": "home"}])
    path = f"/Users/{user['id']}"
    _ok(
        scim.ops(
            path, {"op": "add", "path": 'emails[type eq "work"].value', "value": "w@example.com"}
        )
    )
    assert _state(scim, path)["emails"] == [
        {"value": "h@example.com", "type": "home"},
        {"type": "work", "value": "w@example.com"},
    ]


def test_replace_on_a_filtered_path_with_no_match_creates_the_entry(scim: Scim) -> None:
    user = scim.user("rep@example.com")
    path = f"/Users/{user['id']}"
    _ok(
        scim.ops(
            path,
            {"op": "replace", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0100"},
        )
    )
    assert _state(scim, path)["phoneNumbers"] == [{"type": "work", "value": "+1 555 0100"}]


def test_repeated_add_on_a_filtered_path_creates_the_entry_once(scim: Scim) -> None:
    user = scim.user("once@example.com")
    path = f"/Users/{user['id']}"
    op = {"op": "add", "path": 'emails[type eq "work"].value', "value": "w@example.com"}
    for _ in range(3):
        _ok(scim.ops(path, op))
    assert _state(scim, path)["emails"] == [{"type": "work", "value": "w@example.com"}]


# -- Okta's path-less value {active: false} --------------------------------------------------


def test_pathless_replace_of_active_false_deactivates(scim: Scim) -> None:
    user = scim.user("okta@example.com", active=True, title="T")
    path = f"/Users/{user['id']}"
    before = _state(scim, path)
    body = _ok(scim.ops(path, {"op": "replace", "value": {"active": False}}))
    assert body["active"] is False
    assert _state(scim, path) == {**before, "active": False}


# -- PATCH on Groups not implemented (405) -------------------------------------------------


def test_patch_on_groups_is_implemented(scim: Scim) -> None:
    group = scim.group("Patchable")
    r = scim.ops(
        f"/Groups/{group['id']}", {"op": "replace", "path": "displayName", "value": "Patched"}
    )
    assert r.status_code in (200, 204), r.get_data(as_text=True)
    assert _state(scim, f"/Groups/{group['id']}")["displayName"] == "Patched"


def test_patch_on_an_unknown_group_is_404_not_405(scim: Scim) -> None:
    r = scim.ops("/Groups/no-such-group", {"op": "add", "path": "members", "value": []})
    assert r.status_code == 404
    assert r.get_json()["status"] == "404"


# -- re-adding an existing member answered 409 ---------------------------------------------


def test_re_adding_an_existing_member_is_a_no_op(scim: Scim) -> None:
    a, b = scim.user("a@example.com"), scim.user("b@example.com")
    group = scim.group("Again", [a["id"]])
    for _ in range(2):
        r = scim.ops(
            f"/Groups/{group['id']}",
            {"op": "add", "path": "members", "value": [{"value": a["id"]}, {"value": b["id"]}]},
        )
        assert r.status_code in (200, 204), r.get_data(as_text=True)
    members = _state(scim, f"/Groups/{group['id']}")["members"]
    assert sorted(m["value"] for m in members) == sorted([a["id"], b["id"]])
    assert len(members) == 2


def test_re_adding_an_existing_member_path_less_is_a_no_op(scim: Scim) -> None:
    a = scim.user("pl@example.com")
    group = scim.group("PathLess", [a["id"]])
    r = scim.ops(
        f"/Groups/{group['id']}", {"op": "add", "value": {"members": [{"value": a["id"]}]}}
    )
    assert r.status_code in (200, 204), r.get_data(as_text=True)
    assert _member_ids(scim, group["id"]) == [a["id"]]


def test_creating_a_group_listing_a_member_twice_keeps_one(scim: Scim) -> None:
    a = scim.user("twice@example.com")
    group = scim.group("Twice", [a["id"], a["id"]])
    assert [m["value"] for m in group["members"]] == [a["id"]]
    assert _member_ids(scim, group["id"]) == [a["id"]]


# -- deleted users invisible to the lookup but still conflicting on create ------------------


def test_deleted_user_is_gone_from_lookup_and_can_be_created_again(scim: Scim) -> None:
    user = scim.user("again@example.com", externalId="ext-1")
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert _lookup(scim, "again@example.com") == []
    assert _ok(scim.get('/Users?filter=externalId eq "ext-1"'))["totalResults"] == 0
    r = scim.post(
        "/Users",
        {
            "schemas": [USER],
            "userName": "again@example.com",
            "externalId": "ext-1",
            "title": "Back",
        },
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    back = r.get_json()
    assert _lookup(scim, "again@example.com") == [back["id"]]
    assert _state(scim, f"/Users/{back['id']}")["title"] == "Back"


def test_deleted_group_name_can_be_created_again(scim: Scim) -> None:
    group = scim.group("Recycled")
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    r = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Recycled"})
    assert r.status_code == 201, r.get_data(as_text=True)


# -- a 409 without scimType "uniqueness" ---------------------------------------------------


def test_duplicate_user_create_is_409_uniqueness(scim: Scim) -> None:
    scim.user("taken@example.com")
    _assert_uniqueness(scim.post("/Users", {"schemas": [USER], "userName": "taken@example.com"}))


def test_put_to_a_taken_username_is_409_uniqueness(scim: Scim) -> None:
    scim.user("first@example.com")
    second = scim.user("second@example.com")
    r = scim.put(f"/Users/{second['id']}", {"schemas": [USER], "userName": "First@example.com"})
    _assert_uniqueness(r)
    assert _state(scim, f"/Users/{second['id']}")["userName"] == "second@example.com"


def test_patch_to_a_taken_username_is_409_uniqueness(scim: Scim) -> None:
    scim.user("one@example.com")
    two = scim.user("two@example.com")
    r = scim.ops(
        f"/Users/{two['id']}", {"op": "replace", "path": "userName", "value": "one@example.com"}
    )
    _assert_uniqueness(r)
    assert _state(scim, f"/Users/{two['id']}")["userName"] == "two@example.com"


def test_duplicate_group_name_is_409_uniqueness(scim: Scim) -> None:
    scim.group("Admins")
    _assert_uniqueness(scim.post("/Groups", {"schemas": [GROUP], "displayName": "Admins"}))


def test_group_rename_to_a_taken_name_is_409_uniqueness(scim: Scim) -> None:
    scim.group("Taken")
    other = scim.group("Free")
    r = scim.ops(
        f"/Groups/{other['id']}", {"op": "replace", "path": "displayName", "value": "Taken"}
    )
    _assert_uniqueness(r)
    assert _state(scim, f"/Groups/{other['id']}")["displayName"] == "Free"


def test_same_username_in_another_organization_is_not_a_conflict(scim: Scim, other: Scim) -> None:
    scim.user("shared@example.com")
    r = other.post("/Users", {"schemas": [USER], "userName": "shared@example.com"})
    assert r.status_code == 201, r.get_data(as_text=True)


# -- listing that fails without startIndex/count -------------------------------------------


def test_listing_users_without_start_index_or_count(scim: Scim) -> None:
    ids = [scim.user(f"l{i}@example.com")["id"] for i in range(3)]
    body = _ok(scim.get("/Users"))
    assert body["schemas"] == [LIST]
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (3, 3, 1)
    assert sorted(u["id"] for u in body["Resources"]) == sorted(ids)


def test_listing_groups_without_start_index_or_count(scim: Scim) -> None:
    group = scim.group("Listed")
    body = _ok(scim.get("/Groups"))
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (1, 1, 1)
    assert [g["id"] for g in body["Resources"]] == [group["id"]]


def test_listing_with_only_count_or_only_start_index(scim: Scim) -> None:
    ids = [scim.user(f"o{i}@example.com")["id"] for i in range(3)]
    only_count = _ok(scim.get("/Users?count=2"))
    assert (only_count["totalResults"], only_count["itemsPerPage"]) == (3, 2)
    assert only_count["startIndex"] == 1
    only_start = _ok(scim.get("/Users?startIndex=2"))
    assert (only_start["totalResults"], only_start["itemsPerPage"]) == (3, 2)
    assert only_start["startIndex"] == 2
    got = [u["id"] for u in only_count["Resources"]] + [only_start["Resources"][-1]["id"]]
    assert sorted(got) == sorted(ids)


def test_listing_with_empty_start_index_and_count_values(scim: Scim) -> None:
    scim.user("empty@example.com")
    body = _ok(scim.get("/Users?startIndex=&count="))
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (1, 1, 1)


def test_listing_with_out_of_range_start_index_and_count_is_clamped(scim: Scim) -> None:
    scim.user("clamp@example.com")
    body = _ok(scim.get("/Users?startIndex=0&count=-5"))
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (1, 0, 1)
    assert body["Resources"] == []


def test_count_zero_returns_only_the_total(scim: Scim) -> None:
    scim.user("z1@example.com")
    scim.user("z2@example.com")
    body = _ok(scim.get("/Users?count=0"))
    assert (body["totalResults"], body["itemsPerPage"], body["Resources"]) == (2, 0, [])


def test_patch_op_without_schemas_member_is_accepted(scim: Scim) -> None:
    user = scim.user("noschemas@example.com")
    r = scim.patch(
        f"/Users/{user['id']}", {"Operations": [{"op": "replace", "path": "title", "value": "T"}]}
    )
    _ok(r)
    assert _state(scim, f"/Users/{user['id']}")["title"] == "T"


def test_patch_body_with_the_patch_op_urn_only(scim: Scim) -> None:
    user = scim.user("urn@example.com")
    r = scim.patch(
        f"/Users/{user['id']}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "nickName", "value": "U"}]},
    )
    _ok(r)
    assert _state(scim, f"/Users/{user['id']}")["nickName"] == "U"
