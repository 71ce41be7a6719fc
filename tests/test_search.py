"""POST .search (RFC 7644 §3.4.3), per type and at the root."""

from __future__ import annotations

from conftest import Scim

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def _search(scim: Scim, path: str, **body) -> dict:
    r = scim.post(path, {"schemas": [SEARCH], **body})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_search_per_type_with_attributes_list(scim: Scim) -> None:
    scim.user("s1@example.com", title="A")
    body = _search(scim, "/Users/.search", filter='userName sw "s1"', attributes=["title"])
    assert body["totalResults"] == 1
    assert set(body["Resources"][0]) == {"schemas", "id", "title"}


def test_root_search_pages_across_types_in_one_index_space(scim: Scim) -> None:
    for i in range(3):
        scim.user(f"r{i}@example.com")
    for i in range(2):
        scim.group(f"G{i}")
    whole = _search(scim, "/.search", count=10)
    assert whole["totalResults"] == 5 and whole["itemsPerPage"] == 5
    ids = [r["id"] for r in whole["Resources"]]
    seen = []
    for start in (1, 3, 5):
        page = _search(scim, "/.search", startIndex=start, count=2)
        assert page["totalResults"] == 5
        seen += [r["id"] for r in page["Resources"]]
    assert seen == ids


def test_root_search_filter_on_a_user_attribute_skips_groups(scim: Scim) -> None:
    scim.user("only@example.com")
    scim.group("Only")
    body = _search(scim, "/.search", filter='userName eq "only@example.com"')
    assert body["totalResults"] == 1
    assert body["Resources"][0]["userName"] == "only@example.com"
