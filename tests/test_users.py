"""Users over HTTP (RFC 7644 §3.3-§3.6), on every backend."""

from __future__ import annotations

from conftest import ENTERPRISE, USER, Scim


def test_create_returns_201_with_location_etag_and_meta(scim: Scim) -> None:
    r = scim.post(
        "/Users",
        {
            "schemas": [USER],
            "userName": "ada@example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
        },
    )
    assert r.status_code == 201
    assert r.mimetype == "application/scim+json"
    body = r.get_json()
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"http://localhost/scim/v2/Users/{body['id']}"
    assert r.headers["Location"] == meta["location"]
    assert r.headers["ETag"] == meta["version"]
    assert meta["created"] == meta["lastModified"]
    assert body["name"] == {"givenName": "Ada", "familyName": "Lovelace"}


def test_get_returns_what_was_created(scim: Scim) -> None:
    created = scim.user("grace@example.com", displayName="Grace", active=True)
    r = scim.get(f"/Users/{created['id']}")
    assert r.status_code == 200
    assert r.get_json() == created


def test_password_is_accepted_and_never_returned(scim: Scim) -> None:
    created = scim.user("p@example.com", password="s3cret!")
    assert "password" not in created
    assert "password" not in scim.get(f"/Users/{created['id']}").get_json()
    r = scim.get(f"/Users/{created['id']}?attributes=password")
    assert "password" not in r.get_json()


def test_read_only_attributes_in_input_are_ignored(scim: Scim) -> None:
    created = scim.user(
        "ro@example.com",
        id="mine",
        meta={"created": "2000-01-01T00:00:00Z"},
        groups=[{"value": "x"}],
    )
    assert created["id"] != "mine"
    assert created["meta"]["created"] != "2000-01-01T00:00:00Z"
    assert "groups" not in created


def test_username_is_unique_case_insensitively(scim: Scim) -> None:
    scim.user("Dup@Example.com")
    r = scim.post("/Users", {"schemas": [USER], "userName": "dup@example.COM"})
    assert r.status_code == 409
    body = r.get_json()
    assert body["scimType"] == "uniqueness"
    assert body["status"] == "409"


def test_enterprise_extension_round_trips(scim: Scim) -> None:
    manager = scim.user("boss@example.com")
    created = scim.user(
        "emp@example.com",
        **{
            "schemas": [USER, ENTERPRISE],
            ENTERPRISE: {
                "employeeNumber": "42",
                "department": "R&D",
                "manager": {"value": manager["id"]},
            },
        },
    )
    assert created["schemas"] == [USER, ENTERPRISE]
    assert created[ENTERPRISE]["employeeNumber"] == "42"
    assert created[ENTERPRISE]["manager"]["value"] == manager["id"]


def test_put_replaces_and_keeps_active_when_absent(scim: Scim) -> None:
    created = scim.user("put@example.com", active=False, title="Eng", nickName="P")
    r = scim.put(
        f"/Users/{created['id']}",
        {"schemas": [USER], "userName": "put@example.com", "title": "Lead"},
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["title"] == "Lead"
    assert "nickName" not in body
    assert body["active"] is False
    assert body["meta"]["version"] != created["meta"]["version"]
    assert body["meta"]["created"] == created["meta"]["created"]


def test_put_to_unknown_id_is_404_and_creates_nothing(scim: Scim) -> None:
    r = scim.put("/Users/does-not-exist", {"schemas": [USER], "userName": "ghost@example.com"})
    assert r.status_code == 404
    assert scim.get('/Users?filter=userName eq "ghost@example.com"').get_json()["totalResults"] == 0


def test_put_to_a_taken_username_is_409(scim: Scim) -> None:
    scim.user("a@example.com")
    b = scim.user("b@example.com")
    r = scim.put(f"/Users/{b['id']}", {"schemas": [USER], "userName": "A@example.com"})
    assert r.status_code == 409
    assert r.get_json()["scimType"] == "uniqueness"
    assert scim.get(f"/Users/{b['id']}").get_json()["userName"] == "b@example.com"


def test_delete_then_404(scim: Scim) -> None:
    created = scim.user("gone@example.com")
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert scim.get(f"/Users/{created['id']}").status_code == 404
    assert scim.delete(f"/Users/{created['id']}").status_code == 404


def test_if_match_and_if_none_match(scim: Scim) -> None:
    created = scim.user("etag@example.com")
    path, etag = f"/Users/{created['id']}", created["meta"]["version"]
    assert scim.get(path, headers={"If-None-Match": etag}).status_code == 304
    body = {"schemas": [USER], "userName": "etag@example.com", "title": "x"}
    assert scim.put(path, body, headers={"If-Match": 'W/"999"'}).status_code == 412
    r = scim.put(path, body, headers={"If-Match": etag})
    assert r.status_code == 200
    assert scim.get(path, headers={"If-None-Match": etag}).status_code == 200
    assert scim.delete(path, headers={"If-Match": etag}).status_code == 412


def test_attributes_and_excluded_attributes(scim: Scim) -> None:
    created = scim.user(
        "proj@example.com",
        name={"givenName": "P", "familyName": "Q"},
        emails=[{"value": "proj@example.com", "type": "work"}],
    )
    path = f"/Users/{created['id']}"
    only = scim.get(f"{path}?attributes=name.givenName").get_json()
    assert only == {"schemas": [USER], "id": created["id"], "name": {"givenName": "P"}}
    without = scim.get(f"{path}?excludedAttributes=emails,name").get_json()
    assert "emails" not in without and "name" not in without
    assert without["userName"] == "proj@example.com"


def test_groups_attribute_is_computed_from_membership(scim: Scim) -> None:
    user = scim.user("member@example.com")
    group = scim.group("Readers", [user["id"]])
    body = scim.get(f"/Users/{user['id']}").get_json()
    assert body["groups"] == [
        {
            "value": group["id"],
            "display": "Readers",
            "type": "direct",
            "$ref": f"http://localhost/scim/v2/Groups/{group['id']}",
        }
    ]
