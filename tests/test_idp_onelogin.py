"""OneLogin's SCIM Provisioner connectors, replayed over HTTP (shared/clients.md).

Bodies are what the admin's JSON template produces: legacy schema URNs with the
enterprise attributes under the legacy key, ``emails`` as one object, ``active``
as a string, no ``externalId``. Requests may carry an empty ``User-Agent``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote_plus

from conftest import ENTERPRISE, GROUP, PATCH_OP, USER, Scim

LEGACY_CORE = "urn:scim:schemas:core:2.0"
LEGACY_ENTERPRISE = "urn:scim:schemas:extension:enterprise:2.0"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ONELOGIN = {"User-Agent": ""}


def _lookup(scim: Scim, user_name: str) -> Any:
    """OneLogin's lookup: ``+`` for spaces, ``%22`` quotes and a trailing ``&``."""
    return scim.get(
        "/Users?filter=" + quote_plus(f'userName eq "{user_name}"') + "&", headers=ONELOGIN
    )


def _template(
    user_name: str,
    *,
    active: str = "true",
    title: str = "Engineer",
    department: str = "Engineering",
) -> dict[str, Any]:
    """The SCIM v2 Enterprise connector's template, placeholders filled in."""
    return {
        "schemas": [LEGACY_CORE, LEGACY_ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": {"value": user_name, "type": "work", "primary": True},
        "title": title,
        "active": active,
        LEGACY_ENTERPRISE: {"department": department, "manager": {"value": "48151623"}},
    }


def _stored(
    user_name: str, *, active: bool = True, title: str = "Engineer", department: str = "Engineering"
) -> dict[str, Any]:
    """What ``_template`` must be stored as: RFC URNs, typed values, a list of emails."""
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "title": title,
        "active": active,
        ENTERPRISE: {"department": department, "manager": {"value": "48151623"}},
    }


def _create(scim: Scim, user_name: str, **kw: Any) -> dict[str, Any]:
    r = scim.post("/Users", _template(user_name, **kw), headers=ONELOGIN)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def _state(scim: Scim, path: str) -> dict[str, Any]:
    """The resource as stored, without ``id`` and ``meta`` (which every write moves)."""
    r = scim.get(path, headers=ONELOGIN)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    body.pop("meta")
    body.pop("id")
    return body


def _member_ids(scim: Scim, group_id: str) -> set[str]:
    body = scim.get(f"/Groups/{group_id}").get_json()
    return {m["value"] for m in body.get("members", [])}


def _add_members(ids: list[str]) -> dict[str, Any]:
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": i} for i in ids]}],
    }


# -- lookup ---------------------------------------------------------------------


def test_onelogin_enable_lookup_of_unknown_user_is_an_empty_list(scim: Scim) -> None:
    r = _lookup(scim, "nobody@example.com")
    assert r.status_code == 200
    assert r.mimetype == "application/scim+json"
    assert r.get_json() == {
        "schemas": [LIST],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }


def test_onelogin_lookup_with_plus_spaces_and_trailing_ampersand_finds_the_user(
    scim: Scim,
) -> None:
    created = _create(scim, "ada.lovelace@example.com")
    r = scim.get("/Users?filter=userName+eq+%22ada.lovelace%40example.com%22&", headers=ONELOGIN)
    assert r.status_code == 200
    body = r.get_json()
    assert body["totalResults"] == 1
    assert [u["id"] for u in body["Resources"]] == [created["id"]]


def test_onelogin_lookup_matches_a_username_containing_a_space(scim: Scim) -> None:
    created = _create(scim, "Ada Lovelace")
    r = scim.get("/Users?filter=userName+eq+%22Ada+Lovelace%22&", headers=ONELOGIN)
    assert r.status_code == 200
    assert [u["id"] for u in r.get_json()["Resources"]] == [created["id"]]


def test_onelogin_lookup_of_a_plus_addressed_username(scim: Scim) -> None:
    created = _create(scim, "ada+scim@example.com")
    r = scim.get("/Users?filter=userName+eq+%22ada%2Bscim%40example.com%22&", headers=ONELOGIN)
    assert [u["id"] for u in r.get_json()["Resources"]] == [created["id"]]


def test_onelogin_bad_token_gets_a_json_401(scim: Scim) -> None:
    r = scim.get(
        "/Users?filter=userName+eq+%22a%40example.com%22&",
        headers={**ONELOGIN, "Authorization": "Bearer not-the-token"},
    )
    assert r.status_code == 401
    assert r.mimetype == "application/scim+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert (r.get_json()["schemas"], r.get_json()["status"]) == ([ERROR], "401")


# -- create -----------------------------------------------------------------------


def test_onelogin_legacy_enterprise_template_is_stored_under_rfc_urns(scim: Scim) -> None:
    r = scim.post("/Users", _template("ada@example.com"), headers=ONELOGIN)
    assert r.status_code == 201
    assert r.mimetype == "application/scim+json"
    created = r.get_json()
    assert created["schemas"] == [USER, ENTERPRISE]
    assert LEGACY_ENTERPRISE not in created
    assert _state(scim, f"/Users/{created['id']}") == _stored("ada@example.com")


def test_onelogin_template_without_external_id_creates_a_user_without_one(scim: Scim) -> None:
    created = _create(scim, "noext@example.com")
    assert "externalId" not in created
    assert "externalId" not in _state(scim, f"/Users/{created['id']}")


def test_onelogin_core_template_single_email_object_is_stored_as_a_list(scim: Scim) -> None:
    body = {
        "schemas": [LEGACY_CORE],
        "userName": "core@example.com",
        "name": {"givenName": "Core", "familyName": "Only"},
        "emails": {"value": "core@example.com", "type": "work", "primary": True},
        "active": "true",
    }
    r = scim.post("/Users", body, headers=ONELOGIN)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert _state(scim, f"/Users/{r.get_json()['id']}") == {
        "schemas": [USER],
        "userName": "core@example.com",
        "name": {"givenName": "Core", "familyName": "Only"},
        "emails": [{"value": "core@example.com", "type": "work", "primary": True}],
        "active": True,
    }


def test_onelogin_string_active_false_on_create_is_stored_as_boolean(scim: Scim) -> None:
    created = _create(scim, "off@example.com", active="false")
    assert created["active"] is False
    assert _state(scim, f"/Users/{created['id']}")["active"] is False


def test_onelogin_later_calls_use_the_id_the_server_returned(scim: Scim) -> None:
    created = _create(scim, "keeps@example.com")
    r = scim.get(f"/Users/{created['id']}", headers=ONELOGIN)
    assert r.status_code == 200
    assert r.get_json()["id"] == created["id"]
    assert r.get_json()["userName"] == "keeps@example.com"


def test_onelogin_custom_admin_headers_are_ignored(scim: Scim) -> None:
    headers = {**ONELOGIN, "X-OneLogin-Tenant": "acme", "X-Custom": "anything"}
    r = scim.post("/Users", _template("custom@example.com"), headers=headers)
    assert r.status_code == 201
    assert _state(scim, f"/Users/{r.get_json()['id']}") == _stored("custom@example.com")


# -- update: full PUT with a trailing "?" -----------------------------------------


def test_onelogin_update_is_a_full_put_with_trailing_question_mark(scim: Scim) -> None:
    created = _create(scim, "put@example.com")
    body = _template("put@example.com", title="Lead", department="Research")
    r = scim.put(f"/Users/{created['id']}?", body, headers=ONELOGIN)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/scim+json"
    assert r.get_json()["id"] == created["id"]
    assert r.get_json()[ENTERPRISE] == {"department": "Research", "manager": {"value": "48151623"}}
    expected = _stored("put@example.com", title="Lead", department="Research")
    assert _state(scim, f"/Users/{created['id']}") == expected


def test_onelogin_put_without_the_legacy_extension_drops_it(scim: Scim) -> None:
    created = _create(scim, "drop@example.com")
    body = _template("drop@example.com")
    del body[LEGACY_ENTERPRISE]
    body["schemas"] = [LEGACY_CORE]
    r = scim.put(f"/Users/{created['id']}?", body, headers=ONELOGIN)
    assert r.status_code == 200
    state = _state(scim, f"/Users/{created['id']}")
    assert state["schemas"] == [USER]
    assert ENTERPRISE not in state


def test_onelogin_suspend_and_reactivate_via_put_with_string_active(scim: Scim) -> None:
    created = _create(scim, "suspend@example.com")
    path = f"/Users/{created['id']}?"
    r = scim.put(path, _template("suspend@example.com", active="false"), headers=ONELOGIN)
    assert r.status_code == 200
    assert r.get_json()["active"] is False
    assert _state(scim, f"/Users/{created['id']}") == _stored("suspend@example.com", active=False)
    r = scim.put(path, _template("suspend@example.com", active="true"), headers=ONELOGIN)
    assert r.status_code == 200
    assert _state(scim, f"/Users/{created['id']}") == _stored("suspend@example.com")


def test_onelogin_suspend_via_patch_with_string_active(scim: Scim) -> None:
    created = _create(scim, "psuspend@example.com")
    r = scim.ops(
        f"/Users/{created['id']}",
        {"op": "replace", "path": "active", "value": "false"},
        headers=ONELOGIN,
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["active"] is False
    expected = _stored("psuspend@example.com", active=False)
    assert _state(scim, f"/Users/{created['id']}") == expected


def test_onelogin_stale_id_gets_a_json_404_and_lookup_recovers(scim: Scim) -> None:
    created = _create(scim, "stale@example.com")
    body = _template("stale@example.com", title="Lead")
    r = scim.put("/Users/0b8f6d0e-stale-id?", body, headers=ONELOGIN)
    assert r.status_code == 404
    assert r.mimetype == "application/scim+json"
    error = r.get_json()
    assert error["schemas"] == [ERROR]
    assert error["status"] == "404"
    assert "0b8f6d0e-stale-id" in error["detail"]
    # "reapply mappings": look the user up again by userName, then PUT with the real id.
    found = _lookup(scim, "stale@example.com").get_json()["Resources"]
    assert [u["id"] for u in found] == [created["id"]]
    r = scim.put(f"/Users/{created['id']}?", body, headers=ONELOGIN)
    assert r.status_code == 200
    assert _state(scim, f"/Users/{created['id']}") == _stored("stale@example.com", title="Lead")


def test_onelogin_provisioning_flow_lookup_create_lookup_update(scim: Scim) -> None:
    assert _lookup(scim, "flow@example.com").get_json()["totalResults"] == 0
    created = _create(scim, "flow@example.com")
    found = _lookup(scim, "flow@example.com").get_json()
    assert found["totalResults"] == 1
    user_id = found["Resources"][0]["id"]
    assert user_id == created["id"]
    r = scim.put(f"/Users/{user_id}?", _template("flow@example.com", title="CTO"), headers=ONELOGIN)
    assert r.status_code == 200
    assert _state(scim, f"/Users/{user_id}") == _stored("flow@example.com", title="CTO")


# -- "reapply mappings": every operation safe to repeat ---------------------------


def test_onelogin_reapply_mappings_repeated_puts_give_the_same_state(scim: Scim) -> None:
    created = _create(scim, "burst@example.com")
    body = _template("burst@example.com", title="Lead", department="Ops")
    states = []
    for _ in range(3):
        r = scim.put(f"/Users/{created['id']}?", body, headers=ONELOGIN)
        assert r.status_code == 200, r.get_data(as_text=True)
        states.append(_state(scim, f"/Users/{created['id']}"))
    assert states == [_stored("burst@example.com", title="Lead", department="Ops")] * 3


def test_onelogin_reapply_mappings_repeated_suspend_puts_and_patches(scim: Scim) -> None:
    created = _create(scim, "resuspend@example.com")
    off = _template("resuspend@example.com", active="false")
    patch = {"op": "replace", "path": "active", "value": "false"}
    for _ in range(2):
        assert scim.put(f"/Users/{created['id']}?", off, headers=ONELOGIN).status_code == 200
        assert scim.ops(f"/Users/{created['id']}", patch, headers=ONELOGIN).status_code == 200
    expected = _stored("resuspend@example.com", active=False)
    assert _state(scim, f"/Users/{created['id']}") == expected


def test_onelogin_reapply_mappings_repeated_email_add_does_not_duplicate(scim: Scim) -> None:
    created = _create(scim, "mail@example.com")
    op = {
        "op": "add",
        "path": "emails",
        "value": [{"value": "mail@example.com", "type": "work", "primary": True}],
    }
    for _ in range(3):
        r = scim.ops(f"/Users/{created['id']}", op, headers=ONELOGIN)
        assert r.status_code == 200, r.get_data(as_text=True)
    assert _state(scim, f"/Users/{created['id']}") == _stored("mail@example.com")


def test_onelogin_reapply_mappings_concurrent_burst_never_errors(scim: Scim) -> None:
    user = _create(scim, "concurrent@example.com")
    other = _create(scim, "concurrent2@example.com")
    group = scim.group("Concurrent")
    put = _template("concurrent@example.com", active="false", title="Lead")
    add = _add_members([user["id"], other["id"]])

    def reapply(_: int) -> tuple[int, int]:
        client = Scim(scim.app, scim.token, scim.org)  # one test client per worker
        r1 = client.put(f"/Users/{user['id']}?", put, headers=ONELOGIN)
        r2 = client.patch(f"/Groups/{group['id']}", add, headers=ONELOGIN)
        return r1.status_code, r2.status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(reapply, range(8))) == [(200, 200)] * 8
    expected = _stored("concurrent@example.com", active=False, title="Lead")
    assert _state(scim, f"/Users/{user['id']}") == {
        **expected,
        "groups": [
            {
                "value": group["id"],
                "display": "Concurrent",
                "type": "direct",
                "$ref": f"http://localhost/scim/v2/Groups/{group['id']}",
            }
        ],
    }
    assert _member_ids(scim, group["id"]) == {user["id"], other["id"]}


def test_onelogin_repeated_lookup_after_create_never_creates_twice(scim: Scim) -> None:
    created = _create(scim, "once@example.com")
    r = scim.post("/Users", _template("once@example.com"), headers=ONELOGIN)
    assert r.status_code == 409
    assert r.get_json()["status"] == "409"
    assert r.get_json()["scimType"] == "uniqueness"
    found = _lookup(scim, "once@example.com").get_json()
    assert [u["id"] for u in found["Resources"]] == [created["id"]]


# -- groups -------------------------------------------------------------------------


def test_onelogin_group_patch_adds_members_with_empty_user_agent(scim: Scim) -> None:
    a, b = _create(scim, "ga@example.com"), _create(scim, "gb@example.com")
    group = scim.group("Engineering")
    r = scim.patch(
        f"/Groups/{group['id']}",
        _add_members([a["id"], b["id"]]),
        headers={"User-Agent": "", "Content-Type": "application/scim+json"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/scim+json"
    assert {m["value"] for m in r.get_json()["members"]} == {a["id"], b["id"]}
    assert _member_ids(scim, group["id"]) == {a["id"], b["id"]}


def test_onelogin_reapply_mappings_repeated_group_adds_are_no_ops(scim: Scim) -> None:
    a, b = _create(scim, "ra@example.com"), _create(scim, "rb@example.com")
    group = scim.group("Repeat", [a["id"]])
    for _ in range(3):
        r = scim.patch(f"/Groups/{group['id']}", _add_members([a["id"], b["id"]]), headers=ONELOGIN)
        assert r.status_code == 200, r.get_data(as_text=True)
    body = scim.get(f"/Groups/{group['id']}").get_json()
    assert sorted(m["value"] for m in body["members"]) == sorted([a["id"], b["id"]])
    assert body["displayName"] == "Repeat"
    assert body["schemas"] == [GROUP]


def test_onelogin_repeated_group_member_removal_is_safe(scim: Scim) -> None:
    a, b = _create(scim, "xa@example.com"), _create(scim, "xb@example.com")
    group = scim.group("Removal", [a["id"], b["id"]])
    op = {"op": "remove", "path": "members", "value": [{"value": a["id"]}]}
    for _ in range(3):
        r = scim.ops(f"/Groups/{group['id']}", op, headers=ONELOGIN)
        assert r.status_code == 200, r.get_data(as_text=True)
    assert _member_ids(scim, group["id"]) == {b["id"]}


# -- deprovisioning -------------------------------------------------------------------


def test_onelogin_delete_action_takes_the_user_out_of_lookups(scim: Scim) -> None:
    created = _create(scim, "leaver@example.com")
    r = scim.delete(f"/Users/{created['id']}", headers=ONELOGIN)
    assert r.status_code == 204
    assert r.get_data() == b""
    assert _lookup(scim, "leaver@example.com").get_json()["totalResults"] == 0
    assert scim.get(f"/Users/{created['id']}").status_code == 404


def test_onelogin_empty_placeholders_are_not_stored(scim: Scim) -> None:
    r = scim.post(
        "/Users",
        {
            "schemas": ["urn:scim:schemas:core:2.0"],
            "userName": "e@x.org",
            "title": "",
            "name": {"givenName": "", "familyName": "E"},
        },
    )
    assert r.status_code == 201
    body = scim.get(f"/Users/{r.get_json()['id']}").get_json()
    assert "title" not in body
    assert body["name"] == {"familyName": "E"}
