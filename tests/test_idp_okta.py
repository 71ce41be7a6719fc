"""Okta's SCIM 2.0 provisioning, replayed over HTTP (shared/clients.md).

Okta sends ``Accept: application/scim+json`` and ``Content-Type:
application/scim+json; charset=utf-8`` (its spec test posts ``application/json``),
URL-encodes filters with ``%20``, always pages with ``startIndex``/``count``,
updates profiles by GET then a full PUT echoing ``id``/``meta``/``groups``,
deactivates with a path-less replace, and never DELETEs users.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from conftest import GROUP, PATCH_OP, USER, Scim

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
OKTA = {
    "Accept": "application/scim+json",
    "Content-Type": "application/scim+json; charset=utf-8",
    "User-Agent": "Okta SCIM Client 1.0.0",
}


def _okta_user(user_name: str, external_id: str = "00u1dhhb1fkIGP7RL1d8") -> dict[str, Any]:
    """Okta's create body, as its SCIM 2.0 guide shows it."""
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Isabella", "familyName": "Lee"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Isabella Lee",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def _create(scim: Scim, user_name: str, **kw: Any) -> dict[str, Any]:
    r = scim.post("/Users", _okta_user(user_name, **kw), headers=OKTA)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def _lookup(scim: Scim, user_name: str) -> Any:
    expr = quote(f'userName eq "{user_name}"', safe="")
    return scim.get(f"/Users?filter={expr}&startIndex=1&count=100", headers=OKTA)


def _ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def _state(scim: Scim, path: str) -> dict[str, Any]:
    r = scim.get(path, headers=OKTA)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    body.pop("meta")
    return body


def _member_ids(scim: Scim, group_id: str) -> list[str]:
    body = scim.get(f"/Groups/{group_id}", headers=OKTA).get_json()
    return sorted(m["value"] for m in body.get("members", []))


def _member(user: dict[str, Any]) -> dict[str, str]:
    return {"value": user["id"], "display": user["userName"]}


# -- lookup and create -----------------------------------------------------------------


def test_okta_lookup_of_unknown_user_is_an_empty_list(scim: Scim) -> None:
    r = _lookup(scim, "isabella@example.com")
    assert r.status_code == 200
    assert r.mimetype == "application/scim+json"
    assert r.get_json() == {
        "schemas": [LIST],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }


def test_okta_lookup_with_percent20_and_paging_params_finds_the_user(scim: Scim) -> None:
    created = _create(scim, "isabella@example.com")
    r = scim.get(
        "/Users?filter=userName%20eq%20%22isabella%40example.com%22&startIndex=1&count=100",
        headers=OKTA,
    )
    assert r.status_code == 200
    body = r.get_json()
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (1, 1, 1)
    assert [u["id"] for u in body["Resources"]] == [created["id"]]


def test_okta_username_filter_matches_in_another_letter_case(scim: Scim) -> None:
    created = _create(scim, "Isabella.Lee@Example.com")
    for spelling in ("isabella.lee@example.com", "ISABELLA.LEE@EXAMPLE.COM"):
        body = _lookup(scim, spelling).get_json()
        assert [u["id"] for u in body["Resources"]] == [created["id"]]
        assert body["Resources"][0]["userName"] == "Isabella.Lee@Example.com"


def test_okta_create_with_password_external_id_locale_and_empty_groups(scim: Scim) -> None:
    r = scim.post("/Users", _okta_user("isabella@example.com"), headers=OKTA)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.mimetype == "application/scim+json"
    created = r.get_json()
    assert "password" not in created
    expected = {
        "schemas": [USER],
        "id": created["id"],
        "userName": "isabella@example.com",
        "name": {"givenName": "Isabella", "familyName": "Lee"},
        "emails": [{"primary": True, "value": "isabella@example.com", "type": "work"}],
        "displayName": "Isabella Lee",
        "locale": "en-US",
        "externalId": "00u1dhhb1fkIGP7RL1d8",
        "active": True,
    }
    assert _state(scim, f"/Users/{created['id']}") == expected


def test_okta_spec_test_create_with_plain_application_json(scim: Scim) -> None:
    r = scim.post(
        "/Users",
        _okta_user("spec@example.com"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["userName"] == "spec@example.com"
    assert _lookup(scim, "spec@example.com").get_json()["totalResults"] == 1


def test_okta_utf8_body_with_charset_is_read_as_utf8(scim: Scim) -> None:
    for content_type in ("application/scim+json; charset=utf-8", "application/json; charset=utf-8"):
        user_name = f"zoe.{len(content_type)}@example.com"
        body = {**_okta_user(user_name), "name": {"givenName": "Zoë", "familyName": "Ångström"}}
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        r = scim.post("/Users", raw=raw, headers={**OKTA, "Content-Type": content_type})
        assert r.status_code == 201, r.get_data(as_text=True)
        state = _state(scim, f"/Users/{r.get_json()['id']}")
        assert state["name"] == {"givenName": "Zoë", "familyName": "Ångström"}


def test_okta_duplicate_create_is_409_with_status_as_a_string(scim: Scim) -> None:
    _create(scim, "dup@example.com")
    r = scim.post("/Users", _okta_user("dup@example.com", external_id="00uother"), headers=OKTA)
    assert r.status_code == 409
    assert r.mimetype == "application/scim+json"
    body = r.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "409"
    assert body["scimType"] == "uniqueness"
    assert _lookup(scim, "dup@example.com").get_json()["totalResults"] == 1


def test_okta_unknown_user_is_404_with_status_as_a_string(scim: Scim) -> None:
    r = scim.get("/Users/00u-not-here", headers=OKTA)
    assert r.status_code == 404
    body = r.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "404"


# -- profile update: GET, then a full PUT of what came back ----------------------------


def test_okta_profile_update_puts_back_the_get_with_id_meta_and_groups(scim: Scim) -> None:
    created = _create(scim, "profile@example.com")
    group = scim.group("Everyone", [created["id"]])
    path = f"/Users/{created['id']}"
    body = scim.get(path, headers=OKTA).get_json()
    assert [g["value"] for g in body["groups"]] == [group["id"]]
    body["name"]["givenName"] = "Bella"
    body["title"] = "Director"
    r = scim.put(path, body, headers=OKTA)
    assert r.status_code == 200, r.get_data(as_text=True)
    state = _state(scim, path)
    assert state["name"] == {"givenName": "Bella", "familyName": "Lee"}
    assert state["title"] == "Director"
    assert state["id"] == created["id"]
    assert [g["value"] for g in state["groups"]] == [group["id"]]
    assert _member_ids(scim, group["id"]) == [created["id"]]


def test_okta_repeated_full_puts_give_the_same_state(scim: Scim) -> None:
    created = _create(scim, "again@example.com")
    path = f"/Users/{created['id']}"
    body = scim.get(path, headers=OKTA).get_json()
    body["title"] = "Manager"
    states = []
    for _ in range(3):
        r = scim.put(path, body, headers=OKTA)
        assert r.status_code == 200, r.get_data(as_text=True)
        states.append(_state(scim, path))
    assert states[0]["title"] == "Manager"
    assert states == [states[0]] * 3


def test_okta_put_changing_only_the_letter_case_of_username(scim: Scim) -> None:
    created = _create(scim, "case@example.com")
    path = f"/Users/{created['id']}"
    body = scim.get(path, headers=OKTA).get_json()
    body["userName"] = "Case@Example.com"
    r = scim.put(path, body, headers=OKTA)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _state(scim, path)["userName"] == "Case@Example.com"
    assert [u["id"] for u in _lookup(scim, "case@example.com").get_json()["Resources"]] == [
        created["id"]
    ]


def test_okta_put_of_a_stale_version_of_the_user_is_still_accepted(scim: Scim) -> None:
    # Okta echoes meta.version but sends no If-Match: no precondition applies.
    created = _create(scim, "old@example.com")
    path = f"/Users/{created['id']}"
    stale = scim.get(path, headers=OKTA).get_json()
    assert scim.ops(path, {"op": "replace", "path": "title", "value": "x"}).status_code == 200
    stale["title"] = "From Okta"
    r = scim.put(path, stale, headers=OKTA)
    assert r.status_code == 200
    assert _state(scim, path)["title"] == "From Okta"


# -- deactivate / reactivate ----------------------------------------------------------


def test_okta_deactivate_is_a_pathless_replace_of_active_false(scim: Scim) -> None:
    created = _create(scim, "deact@example.com")
    path = f"/Users/{created['id']}"
    before = _state(scim, path)
    for _ in range(2):  # safe to repeat
        r = scim.patch(path, _ops({"op": "replace", "value": {"active": False}}), headers=OKTA)
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.get_json()["active"] is False
    assert _state(scim, path) == {**before, "active": False}


def test_okta_reactivate_is_a_pathless_replace_of_active_true(scim: Scim) -> None:
    created = _create(scim, "react@example.com")
    path = f"/Users/{created['id']}"
    before = _state(scim, path)
    off = _ops({"op": "replace", "value": {"active": False}})
    on = _ops({"op": "replace", "value": {"active": True}})
    assert scim.patch(path, off, headers=OKTA).status_code == 200
    r = scim.patch(path, on, headers=OKTA)
    assert r.status_code == 200
    assert r.get_json()["active"] is True
    assert _state(scim, path) == before


def test_okta_deactivated_user_is_still_found_by_lookup(scim: Scim) -> None:
    created = _create(scim, "inactive@example.com")
    off = _ops({"op": "replace", "value": {"active": False}})
    assert scim.patch(f"/Users/{created['id']}", off, headers=OKTA).status_code == 200
    found = _lookup(scim, "inactive@example.com").get_json()["Resources"]
    assert [(u["id"], u["active"]) for u in found] == [(created["id"], False)]


# -- groups (Group Push) -----------------------------------------------------------


def test_okta_group_push_creates_a_group_with_empty_members(scim: Scim) -> None:
    r = scim.post(
        "/Groups", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}, headers=OKTA
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    group = r.get_json()
    assert group["displayName"] == "Test SCIMv2"
    assert group.get("members", []) == []
    r = scim.get(
        "/Groups?filter="
        + quote('displayName eq "Test SCIMv2"', safe="")
        + "&startIndex=1&count=100",
        headers=OKTA,
    )
    assert [g["id"] for g in r.get_json()["Resources"]] == [group["id"]]


def test_okta_group_rename_is_a_replace_with_id_and_display_name(scim: Scim) -> None:
    user = _create(scim, "member@example.com")
    group = scim.group("Test SCIMv2", [user["id"]])
    body = _ops(
        {"op": "replace", "value": {"id": group["id"], "displayName": "Test SCIMv2 renamed"}}
    )
    for _ in range(2):  # safe to repeat
        r = scim.patch(f"/Groups/{group['id']}", body, headers=OKTA)
        assert r.status_code == 200, r.get_data(as_text=True)
    state = _state(scim, f"/Groups/{group['id']}")
    assert state["id"] == group["id"]
    assert state["displayName"] == "Test SCIMv2 renamed"
    assert [m["value"] for m in state["members"]] == [user["id"]]


def test_okta_group_membership_remove_by_value_filter_plus_add(scim: Scim) -> None:
    a, b, c = (_create(scim, f"{n}@example.com", external_id=n) for n in "abc")
    group = scim.group("Push", [a["id"], b["id"]])
    body = _ops(
        {"op": "remove", "path": f'members[value eq "{a["id"]}"]'},
        {"op": "add", "path": "members", "value": [_member(c)]},
    )
    for _ in range(2):  # safe to repeat
        r = scim.patch(f"/Groups/{group['id']}", body, headers=OKTA)
        assert r.status_code == 200, r.get_data(as_text=True)
    assert _member_ids(scim, group["id"]) == sorted([b["id"], c["id"]])


def test_okta_group_membership_full_replace(scim: Scim) -> None:
    a, b, c = (_create(scim, f"r{n}@example.com", external_id=n) for n in "abc")
    group = scim.group("Replace", [a["id"], b["id"]])
    body = _ops({"op": "replace", "path": "members", "value": [_member(b), _member(c)]})
    for _ in range(2):  # safe to repeat
        r = scim.patch(f"/Groups/{group['id']}", body, headers=OKTA)
        assert r.status_code == 200, r.get_data(as_text=True)
    assert _member_ids(scim, group["id"]) == sorted([b["id"], c["id"]])
    assert _state(scim, f"/Groups/{group['id']}")["displayName"] == "Replace"


def test_okta_group_full_replace_with_no_members_empties_the_group(scim: Scim) -> None:
    a = _create(scim, "only@example.com")
    group = scim.group("Emptied", [a["id"]])
    body = _ops({"op": "replace", "path": "members", "value": []})
    r = scim.patch(f"/Groups/{group['id']}", body, headers=OKTA)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert _member_ids(scim, group["id"]) == []


def test_okta_group_push_unlink_deletes_the_group(scim: Scim) -> None:
    user = _create(scim, "stays@example.com")
    group = scim.group("Unlinked", [user["id"]])
    assert scim.delete(f"/Groups/{group['id']}", headers=OKTA).status_code == 204
    assert scim.get(f"/Groups/{group['id']}", headers=OKTA).status_code == 404
    assert "groups" not in _state(scim, f"/Users/{user['id']}")


# -- paging ------------------------------------------------------------------------


def test_okta_pages_users_by_100_with_integers_and_a_stable_order(scim: Scim) -> None:
    ids = {
        _create(scim, f"page{i:03}@example.com", external_id=f"00u{i}")["id"] for i in range(150)
    }
    first = scim.get("/Users?startIndex=1&count=100", headers=OKTA).get_json()
    second = scim.get("/Users?startIndex=101&count=100", headers=OKTA).get_json()
    assert (first["totalResults"], first["itemsPerPage"], first["startIndex"]) == (150, 100, 1)
    assert (second["totalResults"], second["itemsPerPage"], second["startIndex"]) == (150, 50, 101)
    for page in (first, second):
        assert all(type(page[k]) is int for k in ("totalResults", "itemsPerPage", "startIndex"))
    seen = [u["id"] for u in first["Resources"] + second["Resources"]]
    assert len(seen) == len(set(seen)) == 150
    assert set(seen) == ids
    # An import pages while users change: the order must not move.
    first_id = first["Resources"][0]["id"]
    assert (
        scim.ops(
            f"/Users/{first_id}", {"op": "replace", "path": "title", "value": "moved?"}
        ).status_code
        == 200
    )
    again = scim.get("/Users?startIndex=1&count=100", headers=OKTA).get_json()
    assert [u["id"] for u in again["Resources"]] == [u["id"] for u in first["Resources"]]
    beyond = scim.get("/Users?startIndex=201&count=100", headers=OKTA).get_json()
    assert (beyond["totalResults"], beyond["itemsPerPage"], beyond["Resources"]) == (150, 0, [])


def test_okta_pages_groups_by_100(scim: Scim) -> None:
    ids = [scim.group(f"Group {i:03}")["id"] for i in range(5)]
    r = scim.get("/Groups?startIndex=1&count=100", headers=OKTA)
    assert r.status_code == 200
    body = r.get_json()
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (5, 5, 1)
    assert sorted(g["id"] for g in body["Resources"]) == sorted(ids)
