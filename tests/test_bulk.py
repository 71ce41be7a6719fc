"""POST /Bulk (RFC 7644 §3.7): bulkId references, failOnErrors, limits."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import GROUP, USER, Scim

from scimserver.protocol import errors

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def _bulk(scim: Scim, operations: list[dict], **extra) -> dict:
    r = scim.post("/Bulk", {"schemas": [BULK], "Operations": operations, **extra})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def _user_op(bulk_id: str, name: str) -> dict:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id,
            "data": {"schemas": [USER], "userName": name}}


def test_bulk_creates_and_reports_locations(scim: Scim) -> None:
    body = _bulk(scim, [_user_op("a", "a@x.org"), _user_op("b", "b@x.org")])
    ops = body["Operations"]
    assert [o["status"] for o in ops] == ["201", "201"]
    assert [o["bulkId"] for o in ops] == ["a", "b"]
    for op in ops:
        assert scim.get(op["location"].removeprefix("http://localhost/scim/v2")).status_code == 200


def test_group_members_may_reference_users_created_later(scim: Scim) -> None:
    group = {"method": "POST", "path": "/Groups", "bulkId": "g",
             "data": {"schemas": [GROUP], "displayName": "Team",
                      "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}}
    body = _bulk(scim, [group, _user_op("u1", "u1@x.org"), _user_op("u2", "u2@x.org")])
    statuses = {o["bulkId"]: o["status"] for o in body["Operations"]}
    assert statuses == {"g": "201", "u1": "201", "u2": "201"}
    gid = next(o for o in body["Operations"] if o["bulkId"] == "g")["location"].rsplit("/", 1)[1]
    members = scim.get(f"/Groups/{gid}").get_json()["members"]
    assert len(members) == 2


def test_patch_and_delete_through_bulk_ids(scim: Scim) -> None:
    ops = [_user_op("u", "p@x.org"),
           {"method": "PATCH", "path": "/Users/bulkId:u",
            "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}}]
    body = _bulk(scim, ops)
    assert [o["status"] for o in body["Operations"]] == ["201", "200"]
    uid = body["Operations"][0]["location"].rsplit("/", 1)[1]
    assert scim.get(f"/Users/{uid}").get_json()["title"] == "Boss"
    body = _bulk(scim, [{"method": "DELETE", "path": f"/Users/{uid}"}])
    assert body["Operations"][0]["status"] == "204"


def test_fail_on_errors_stops_after_the_given_count(scim: Scim) -> None:
    ops = [_user_op("a", "dup@x.org"), _user_op("b", "dup@x.org"), _user_op("c", "dup@x.org"),
           _user_op("d", "fine@x.org")]
    body = _bulk(scim, ops, failOnErrors=1)
    assert [o["status"] for o in body["Operations"]] == ["201", "409"]
    assert body["Operations"][1]["response"]["scimType"] == "uniqueness"
    assert scim.get('/Users?filter=userName eq "fine@x.org"').get_json()["totalResults"] == 0


def test_unresolvable_and_circular_references_fail_with_409(scim: Scim) -> None:
    ops = [{"method": "POST", "path": "/Groups", "bulkId": "x",
            "data": {"schemas": [GROUP], "displayName": "X", "members": [{"value": "bulkId:y"}]}},
           {"method": "POST", "path": "/Groups", "bulkId": "y",
            "data": {"schemas": [GROUP], "displayName": "Y", "members": [{"value": "bulkId:x"}]}},
           {"method": "PATCH", "path": "/Users/bulkId:nobody", "data": {"Operations": []}}]
    body = _bulk(scim, ops)
    assert {o["status"] for o in body["Operations"]} == {"409"}
    assert scim.get("/Groups").get_json()["totalResults"] == 0


def test_limits_are_announced_and_enforced(scim: Scim) -> None:
    spc = scim.get("/ServiceProviderConfig").get_json()["bulk"]
    assert spc["supported"] is True and spc["maxOperations"] >= 1
    too_many = [_user_op(f"u{i}", f"u{i}@x.org") for i in range(spc["maxOperations"] + 1)]
    r = scim.post("/Bulk", {"schemas": [BULK], "Operations": too_many})
    assert r.status_code == 413
    big = scim.post("/Bulk", raw="{" + " " * (spc["maxPayloadSize"] + 10) + "}")
    assert big.status_code == 413
    assert big.get_json()["status"] == "413"


def test_malformed_bulk_requests_are_400(scim: Scim) -> None:
    for body in ({}, {"Operations": []}, {"Operations": [{"method": "GET", "path": "/Users"}]},
                 {"Operations": [{"method": "POST", "path": "/Users", "data": {}}]}):
        r = scim.post("/Bulk", body)
        assert r.status_code == 400, body
        assert r.get_json()["scimType"] == "invalidSyntax"


def test_consecutive_creates_are_answered_one_by_one(scim: Scim) -> None:
    scim.user("taken@x.org")
    ops = [_user_op("a", "a@x.org"), _user_op("b", "TAKEN@x.org"), _user_op("c", "c@x.org"),
           _user_op("d", "C@X.org"), {**_user_op("e", "e@x.org"), "data": {"schemas": [USER]}}]
    body = _bulk(scim, ops)
    assert [(o["bulkId"], o["status"]) for o in body["Operations"]] == [
        ("a", "201"), ("b", "409"), ("c", "201"), ("d", "409"), ("e", "400")]
    assert body["Operations"][1]["response"]["scimType"] == "uniqueness"
    names = [u["userName"] for u in scim.get("/Users").get_json()["Resources"]]
    assert sorted(names) == ["a@x.org", "c@x.org", "taken@x.org"]


def test_a_bulk_create_revives_a_retained_user(scim: Scim) -> None:
    old = scim.user("back@x.org", externalId="hr-7")
    assert scim.delete(f"/Users/{old['id']}").status_code == 204
    ops = [_user_op("n", "new@x.org"), {**_user_op("b", "BACK@x.org")},
           {**_user_op("x", "other@x.org"), "data": {"schemas": [USER], "userName": "other@x.org",
                                                     "externalId": "hr-7"}}]
    body = _bulk(scim, ops)
    # the first create naming the retained user revives it; the next meets it live
    assert [o["status"] for o in body["Operations"]] == ["201", "201", "201"]
    revived = body["Operations"][1]["location"].rsplit("/", 1)[1]
    assert revived == old["id"]
    assert body["Operations"][2]["location"].rsplit("/", 1)[1] != old["id"]
    assert scim.get(f"/Users/{old['id']}").get_json()["userName"] == "BACK@x.org"


def test_racing_imports_of_the_same_names_create_each_once(scim: Scim) -> None:
    names = [f"race-{n:03d}@x.org" for n in range(120)]
    orders = [names, names[::-1], names[40:] + names[:40]]

    def run(order: list[str]) -> list[str]:
        client = Scim(scim.app, scim.token, scim.org)  # a test client per thread
        return [o["status"] for o in _bulk(client, [_user_op(n, n) for n in order])["Operations"]]

    with ThreadPoolExecutor(len(orders)) as pool:
        statuses = [s for result in pool.map(run, orders) for s in result]
    assert Counter(statuses) == {"201": len(names), "409": len(names) * (len(orders) - 1)}
    assert scim.get("/Users?count=0").get_json()["totalResults"] == len(names)


def test_a_batch_that_fails_as_a_whole_leaves_earlier_results(
    scim: Scim, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = scim.user("kept@x.org")["id"]

    def down(*args: object, **kwargs: object) -> None:
        raise errors.Unavailable("The database is unavailable: test")

    monkeypatch.setattr(scim.app.extensions["scimserver"].resources, "create_many", down)
    patch = {"method": "PATCH", "path": f"/Users/{uid}",
             "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "title", "value": "Kept"}]}}
    body = _bulk(scim, [patch, _user_op("a", "a@x.org"), _user_op("b", "b@x.org")])
    assert [o["status"] for o in body["Operations"]] == ["200", "503", "503"]
    assert scim.get(f"/Users/{uid}").get_json()["title"] == "Kept"
