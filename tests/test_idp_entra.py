"""Microsoft Entra ID's provisioning service, replayed over HTTP (shared/clients.md).

Two dialects: the default one (capitalised ops, ``"False"`` strings, ``Add`` on
single-valued attributes, ``Remove`` of members with a value list) and the
``aadOptscim062020`` one (lowercase ops, real booleans, ``members[value eq ...]``
removal, path-less replace with dotted and URN-qualified keys). Bodies follow
Microsoft's SCIM validation examples.
"""

from __future__ import annotations

from typing import Any

from conftest import ENTERPRISE, GROUP, PATCH_OP, USER, Scim

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
ENTRA = {"Content-Type": "application/scim+json"}


def _entra_user(user_name: str, external_id: str) -> dict[str, Any]:
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Jane Young", "familyName": "Young", "givenName": "Jane"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
    }


def _create(scim: Scim, user_name: str, external_id: str = "jyoung") -> dict[str, Any]:
    r = scim.post("/Users", _entra_user(user_name, external_id), headers=ENTRA)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def _ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def _patch(scim: Scim, path: str, *operations: dict[str, Any]) -> Any:
    r = scim.patch(path, _ops(*operations), headers=ENTRA)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def _group_patch(scim: Scim, group_id: str, *operations: dict[str, Any]) -> None:
    """Entra takes 200 or 204 for a group PATCH; either way the GET tells what stuck."""
    r = scim.patch(f"/Groups/{group_id}", _ops(*operations), headers=ENTRA)
    assert r.status_code in (200, 204), r.get_data(as_text=True)


def _state(scim: Scim, path: str) -> dict[str, Any]:
    r = scim.get(path, headers=ENTRA)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    body.pop("meta")
    return body


def _ids(scim: Scim, query: str) -> list[str]:
    r = scim.get(query, headers=ENTRA)
    assert r.status_code == 200, r.get_data(as_text=True)
    return [res["id"] for res in r.get_json()["Resources"]]


def _member_ids(scim: Scim, group_id: str) -> list[str]:
    return sorted(m["value"] for m in _state(scim, f"/Groups/{group_id}").get("members", []))


def _entra_group(scim: Scim, name: str, external_id: str = "8aa1a0c0") -> dict[str, Any]:
    body = {
        "schemas": [GROUP, MS_GROUP],
        "externalId": external_id,
        "displayName": name,
        "meta": {"resourceType": "Group"},
    }
    r = scim.post("/Groups", body, headers=ENTRA)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


# -- users: create and query ------------------------------------------------------


def test_entra_create_user_with_enterprise_extension_meta_and_empty_roles(scim: Scim) -> None:
    created = _create(scim, "jane.young@example.com")
    assert _state(scim, f"/Users/{created['id']}") == {
        "schemas": [USER, ENTERPRISE],
        "id": created["id"],
        "externalId": "jyoung",
        "userName": "jane.young@example.com",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "jane.young@example.com"}],
        "name": {"formatted": "Jane Young", "familyName": "Young", "givenName": "Jane"},
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
    }


def test_entra_query_of_non_existent_user_is_an_empty_list(scim: Scim) -> None:
    r = scim.get('/Users?filter=userName eq "non-existent user"', headers=ENTRA)
    assert r.status_code == 200
    body = r.get_json()
    assert (body["schemas"], body["totalResults"], body["Resources"]) == ([LIST], 0, [])


def test_entra_queries_users_by_username_and_by_external_id(scim: Scim) -> None:
    user = _create(scim, "jane.young@example.com", "jyoung")
    _create(scim, "other@example.com", "other")
    assert _ids(scim, '/Users?filter=userName eq "jane.young@example.com"') == [user["id"]]
    assert _ids(scim, '/Users?filter=externalId eq "jyoung"') == [user["id"]]


def test_entra_queries_users_by_external_id_and_username(scim: Scim) -> None:
    user = _create(scim, "jane.young@example.com", "jyoung")
    _create(scim, "jane2@example.com", "jyoung2")
    q = '/Users?filter=externalId eq "jyoung" and userName eq "jane.young@example.com"'
    assert _ids(scim, q) == [user["id"]]
    q = '/Users?filter=externalId eq "jyoung" and userName eq "jane2@example.com"'
    assert _ids(scim, q) == []


def test_entra_external_id_is_matched_case_exactly(scim: Scim) -> None:
    user = _create(scim, "exact@example.com", "JYoung")
    assert _ids(scim, '/Users?filter=externalId eq "JYoung"') == [user["id"]]
    assert _ids(scim, '/Users?filter=externalId eq "jyoung"') == []


def test_entra_unquoted_filter_value_as_in_its_docs(scim: Scim) -> None:
    user = _create(scim, "jane.young@example.com", "jyoung")
    assert _ids(scim, "/Users?filter=externalId eq jyoung") == [user["id"]]


# -- users: default dialect -------------------------------------------------------------


def test_entra_capitalised_replace_on_filtered_email_and_name(scim: Scim) -> None:
    created = _create(scim, "jane.young@example.com")
    path = f"/Users/{created['id']}"
    _patch(
        scim,
        path,
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@example.com",
        },
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    )
    state = _state(scim, path)
    assert state["emails"] == [
        {"primary": True, "type": "work", "value": "updatedEmail@example.com"}
    ]
    assert state["name"] == {
        "formatted": "Jane Young",
        "familyName": "updatedFamilyName",
        "givenName": "Jane",
    }


def test_entra_disable_with_string_false_keeps_user_visible_to_get_and_filters(
    scim: Scim,
) -> None:
    created = _create(scim, "disabled@example.com", "dis")
    path = f"/Users/{created['id']}"
    body = _patch(scim, path, {"op": "Replace", "path": "active", "value": "False"})
    assert body["active"] is False
    assert _state(scim, path)["active"] is False
    assert _ids(scim, '/Users?filter=userName eq "disabled@example.com"') == [created["id"]]
    assert _ids(scim, '/Users?filter=externalId eq "dis"') == [created["id"]]
    assert _ids(scim, "/Users?filter=active eq false") == [created["id"]]
    _patch(scim, path, {"op": "Replace", "path": "active", "value": "True"})
    assert _state(scim, path)["active"] is True


def test_entra_add_on_single_valued_attributes_sets_them(scim: Scim) -> None:
    created = _create(scim, "add@example.com")
    path = f"/Users/{created['id']}"
    _patch(
        scim,
        path,
        {"op": "Add", "path": "displayName", "value": "Jane Young"},
        {"op": "Add", "path": "title", "value": "Tour Lead"},
        {"op": "Add", "path": "name.givenName", "value": "Janet"},
    )
    state = _state(scim, path)
    assert (state["displayName"], state["title"]) == ("Jane Young", "Tour Lead")
    assert state["name"]["givenName"] == "Janet"
    _patch(scim, path, {"op": "Add", "path": "title", "value": "Tour Director"})
    assert _state(scim, path)["title"] == "Tour Director"


def test_entra_enterprise_urn_paths_add_replace_and_remove(scim: Scim) -> None:
    created = _create(scim, "ent@example.com")
    path = f"/Users/{created['id']}"
    _patch(
        scim,
        path,
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "99"},
        {"op": "Add", "path": f"{ENTERPRISE}:costCenter", "value": "CC-7"},
        {"op": "Remove", "path": f"{ENTERPRISE}:department"},
    )
    state = _state(scim, path)
    assert state[ENTERPRISE] == {"employeeNumber": "99", "costCenter": "CC-7"}
    assert state["schemas"] == [USER, ENTERPRISE]


def test_entra_add_on_filtered_email_path_creates_the_email(scim: Scim) -> None:
    r = scim.post("/Users", {"schemas": [USER], "userName": "noemail@example.com"}, headers=ENTRA)
    path = f"/Users/{r.get_json()['id']}"
    _patch(
        scim,
        path,
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "w@example.com"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555"},
    )
    state = _state(scim, path)
    assert state["emails"] == [{"type": "work", "value": "w@example.com"}]
    assert state["phoneNumbers"] == [{"type": "mobile", "value": "+1 555"}]


def test_entra_repeated_user_patches_give_the_same_state(scim: Scim) -> None:
    created = _create(scim, "retry@example.com")
    path = f"/Users/{created['id']}"
    ops = (
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "r@example.com"},
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": f"{ENTERPRISE}:employeeNumber", "value": "7"},
    )
    states = []
    for _ in range(3):  # retried with back-off after a timeout
        _patch(scim, path, *ops)
        states.append(_state(scim, path))
    assert states[0]["emails"] == [{"primary": True, "type": "work", "value": "r@example.com"}]
    assert states == [states[0]] * 3


def test_entra_hard_delete_removes_user_and_its_membership(scim: Scim) -> None:
    created = _create(scim, "gone@example.com", "gone")
    group = _entra_group(scim, "Leavers")
    _group_patch(
        scim, group["id"], {"op": "Add", "path": "members", "value": [{"value": created["id"]}]}
    )
    r = scim.delete(f"/Users/{created['id']}", headers=ENTRA)
    assert r.status_code == 204
    assert scim.get(f"/Users/{created['id']}", headers=ENTRA).status_code == 404
    assert _ids(scim, '/Users?filter=externalId eq "gone"') == []
    assert _member_ids(scim, group["id"]) == []


# -- users: aadOptscim062020 ------------------------------------------------------------


def test_entra_aadopt_lowercase_ops_with_real_booleans(scim: Scim) -> None:
    created = _create(scim, "flag@example.com")
    path = f"/Users/{created['id']}"
    assert (
        _patch(scim, path, {"op": "replace", "path": "active", "value": False})["active"] is False
    )
    assert _state(scim, path)["active"] is False
    _patch(scim, path, {"op": "replace", "path": "active", "value": True})
    assert _state(scim, path)["active"] is True


def test_entra_aadopt_pathless_replace_with_dotted_and_extension_keys(scim: Scim) -> None:
    created = _create(scim, "dotted@example.com")
    path = f"/Users/{created['id']}"
    value = {
        "displayName": "Jane Q. Young",
        'emails[type eq "work"].value': "jq@example.com",
        "name.givenName": "JaneQ",
        "name.familyName": "Young-Smith",
        "externalId": "jqyoung",
        f"{ENTERPRISE}:employeeNumber": "42",
        f"{ENTERPRISE}:department": "Finance",
        "active": False,
    }
    _patch(scim, path, {"op": "replace", "value": value})
    assert _state(scim, path) == {
        "schemas": [USER, ENTERPRISE],
        "id": created["id"],
        "externalId": "jqyoung",
        "userName": "dotted@example.com",
        "displayName": "Jane Q. Young",
        "active": False,
        "emails": [{"primary": True, "type": "work", "value": "jq@example.com"}],
        "name": {"formatted": "Jane Young", "familyName": "Young-Smith", "givenName": "JaneQ"},
        ENTERPRISE: {"employeeNumber": "42", "department": "Finance"},
    }


def test_entra_aadopt_repeated_pathless_replace_is_idempotent(scim: Scim) -> None:
    created = _create(scim, "same@example.com")
    path = f"/Users/{created['id']}"
    op = {"op": "replace", "value": {"name.givenName": "J", f"{ENTERPRISE}:department": "D"}}
    states = []
    for _ in range(3):
        _patch(scim, path, op)
        states.append(_state(scim, path))
    assert states[0]["name"]["givenName"] == "J"
    assert states[0][ENTERPRISE]["department"] == "D"
    assert states == [states[0]] * 3


# -- groups -------------------------------------------------------------------------


def test_entra_group_is_created_empty_with_an_extra_microsoft_schema(scim: Scim) -> None:
    group = _entra_group(scim, "Tour Guides", "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159")
    assert group["schemas"] == [GROUP]
    assert group.get("members", []) == []
    assert _state(scim, f"/Groups/{group['id']}") == {
        "schemas": [GROUP],
        "id": group["id"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Tour Guides",
    }


def test_entra_group_lookup_excluding_members_by_display_name(scim: Scim) -> None:
    user = _create(scim, "m@example.com")
    group = _entra_group(scim, "Tour Guides")
    _group_patch(
        scim, group["id"], {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}
    )
    r = scim.get(
        '/Groups?excludedAttributes=members&filter=displayName eq "Tour Guides"', headers=ENTRA
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["totalResults"] == 1
    assert [g["id"] for g in body["Resources"]] == [group["id"]]
    assert "members" not in body["Resources"][0]


def test_entra_get_group_excluding_members(scim: Scim) -> None:
    user = _create(scim, "x@example.com")
    group = _entra_group(scim, "Quiet")
    _group_patch(
        scim, group["id"], {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}
    )
    r = scim.get(f"/Groups/{group['id']}?excludedAttributes=members", headers=ENTRA)
    assert r.status_code == 200
    assert "members" not in r.get_json()
    assert r.get_json()["displayName"] == "Quiet"


def test_entra_checks_membership_by_id_and_member_value_filter(scim: Scim) -> None:
    a, b = _create(scim, "a@example.com", "a"), _create(scim, "b@example.com", "b")
    group = _entra_group(scim, "Checked")
    _group_patch(scim, group["id"], {"op": "Add", "path": "members", "value": [{"value": a["id"]}]})
    q = '/Groups?filter=id eq "{}" and members[value eq "{}"]&excludedAttributes=members'
    assert _ids(scim, q.format(group["id"], a["id"])) == [group["id"]]
    assert _ids(scim, q.format(group["id"], b["id"])) == []


def test_entra_group_rename_with_capitalised_replace(scim: Scim) -> None:
    group = _entra_group(scim, "Old Name")
    _group_patch(scim, group["id"], {"op": "Replace", "path": "displayName", "value": "New Name"})
    assert _state(scim, f"/Groups/{group['id']}")["displayName"] == "New Name"


def test_entra_group_add_members_capitalised(scim: Scim) -> None:
    a, b = _create(scim, "a@example.com", "a"), _create(scim, "b@example.com", "b")
    group = _entra_group(scim, "Added")
    for _ in range(2):  # retried: safe to repeat
        _group_patch(
            scim,
            group["id"],
            {"op": "Add", "path": "members", "value": [{"value": a["id"]}, {"value": b["id"]}]},
        )
    assert _member_ids(scim, group["id"]) == sorted([a["id"], b["id"]])


def test_entra_remove_members_with_a_value_list_removes_only_those(scim: Scim) -> None:
    users = [_create(scim, f"u{i}@example.com", f"u{i}") for i in range(3)]
    group = _entra_group(scim, "Partial")
    _group_patch(
        scim,
        group["id"],
        {"op": "Add", "path": "members", "value": [{"value": u["id"]} for u in users]},
    )
    for _ in range(2):  # retried: safe to repeat
        _group_patch(
            scim,
            group["id"],
            {"op": "Remove", "path": "members", "value": [{"value": users[0]["id"]}]},
        )
    assert _member_ids(scim, group["id"]) == sorted([users[1]["id"], users[2]["id"]])


def test_entra_aadopt_member_removal_by_value_filter(scim: Scim) -> None:
    a, b = _create(scim, "a@example.com", "a"), _create(scim, "b@example.com", "b")
    group = _entra_group(scim, "Filtered")
    _group_patch(
        scim,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": a["id"]}, {"value": b["id"]}]},
    )
    for _ in range(2):  # retried: safe to repeat
        _group_patch(scim, group["id"], {"op": "remove", "path": f'members[value eq "{a["id"]}"]'})
    assert _member_ids(scim, group["id"]) == [b["id"]]


def test_entra_disabled_user_stays_a_group_member(scim: Scim) -> None:
    user = _create(scim, "off@example.com")
    group = _entra_group(scim, "Keeps")
    _group_patch(
        scim, group["id"], {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}
    )
    _patch(scim, f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "False"})
    assert _member_ids(scim, group["id"]) == [user["id"]]


def test_entra_manager_sent_as_a_bare_id_is_stored_as_its_value(scim: Scim) -> None:
    boss, user = scim.user("boss@example.com"), scim.user("report@example.com")
    manager_path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
    r = scim.ops(f"/Users/{user['id']}", {"op": "Add", "path": manager_path, "value": boss["id"]})
    assert r.status_code == 200
    stored = scim.get(f"/Users/{user['id']}").get_json()
    assert stored["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"] == {
        "value": boss["id"]
    }
