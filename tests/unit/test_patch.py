"""PATCH (RFC 7644 §3.5.2) as the real clients send it (shared/clients.md).

Each client-quirk test is named after the client whose habit it pins down;
the RFC tests follow the examples of §3.5.2.1-3; then atomicity, primary,
mutability, a corpus of bad bodies, and the member plan for big groups.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scimserver.protocol import errors
from scimserver.protocol.core_schemas import ENTERPRISE_USER, GROUP_TYPE, USER_TYPE
from scimserver.protocol.patch import (
    PATCH_OP,
    Member,
    MemberPlan,
    apply_patch,
    parse_operations,
    plan_members,
)

ALICE = "2819c223-7f76-453a-919d-413861904646"
BOB = "902c246b-6245-4190-8e05-00816be7344a"
CAROL = "08e1d05d-121c-4561-8b96-473d93df9210"
DAVE = "d3a9c1e0-5f9a-4f5e-9a5e-3c9b1e0a7d11"


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def user() -> dict[str, Any]:
    return {
        "id": "u-1",
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara Jensen"},
        "displayName": "Babs Jensen",
        "active": True,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "addresses": [
            {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"},
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"},
        ],
        ENTERPRISE_USER: {"employeeNumber": "701984", "department": "Tour Operations"},
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "version": 'W/"1"'},
    }


def bare_user() -> dict[str, Any]:
    return {"id": "u-2", "userName": "jsmith", "active": True}


def group(*ids: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "g-1", "displayName": "Tour Guides"}
    if ids:
        out["members"] = [{"value": i, "type": "User"} for i in ids]
    return out


def member_ids(resource: dict[str, Any]) -> list[str]:
    return [m["value"] for m in resource.get("members", [])]


def patch_user(*operations: dict[str, Any], resource: dict[str, Any] | None = None) -> dict:
    return apply_patch(resource if resource is not None else user(), body(*operations), USER_TYPE)


def patch_group(resource: dict[str, Any], *operations: dict[str, Any]) -> dict:
    return apply_patch(resource, body(*operations), GROUP_TYPE)


# --------------------------------------------------------------------- OneLogin


def test_onelogin_lowercase_add_members() -> None:
    out = patch_group(
        group(ALICE),
        {"op": "add", "path": "members", "value": [{"value": BOB}, {"value": CAROL}]},
    )
    assert member_ids(out) == [ALICE, BOB, CAROL]


def test_onelogin_string_true_for_active() -> None:
    resource = {**bare_user(), "active": False}
    out = patch_user({"op": "replace", "path": "active", "value": "true"}, resource=resource)
    assert out["active"] is True


def test_onelogin_single_email_object_instead_of_list() -> None:
    out = patch_user(
        {"op": "replace", "path": "emails", "value": {"value": "j@example.com", "type": "work"}},
        resource=bare_user(),
    )
    assert out["emails"] == [{"value": "j@example.com", "type": "work"}]


def test_onelogin_legacy_enterprise_urn_path() -> None:
    out = patch_user(
        {
            "op": "replace",
            "path": "urn:scim:schemas:extension:enterprise:2.0:department",
            "value": "Finance",
        }
    )
    assert out[ENTERPRISE_USER]["department"] == "Finance"
    assert "urn:scim:schemas:extension:enterprise:2.0" not in out


def test_onelogin_reapplied_patch_is_safe_to_repeat() -> None:
    patch = body(
        {"op": "add", "path": "members", "value": [{"value": BOB}]},
        {"op": "replace", "path": "displayName", "value": "Guides"},
        {"op": "remove", "path": f'members[value eq "{ALICE}"]'},
    )
    once = apply_patch(group(ALICE, CAROL), patch, GROUP_TYPE)
    twice = apply_patch(once, patch, GROUP_TYPE)
    assert once == twice
    assert member_ids(twice) == [CAROL, BOB]


# ------------------------------------------------------------------------- Okta


def test_okta_pathless_replace_active_false() -> None:
    out = patch_user({"op": "replace", "value": {"active": False}})
    assert out["active"] is False
    assert out["userName"] == "bjensen"


def test_okta_group_rename_carrying_id_is_ignored_silently() -> None:
    out = patch_group(
        group(ALICE), {"op": "replace", "value": {"id": "g-1", "displayName": "Renamed"}}
    )
    assert out["displayName"] == "Renamed"
    assert out["id"] == "g-1"
    assert member_ids(out) == [ALICE]


def test_okta_pathless_replace_carrying_meta_is_ignored_silently() -> None:
    original = user()
    out = patch_user(
        {"op": "replace", "value": {"id": "u-1", "meta": {"version": 'W/"0"'}, "title": "Boss"}},
        resource=original,
    )
    assert out["meta"] == original["meta"]
    assert out["title"] == "Boss"


def test_okta_pathless_replace_with_a_different_id_is_mutability() -> None:
    with pytest.raises(errors.Mutability):
        patch_group(group(), {"op": "replace", "value": {"id": "other", "displayName": "X"}})


def test_okta_membership_remove_filter_plus_add() -> None:
    out = patch_group(
        group(ALICE, BOB),
        {"op": "remove", "path": f'members[value eq "{ALICE}"]'},
        {"op": "add", "path": "members", "value": [{"value": CAROL, "display": "Carol"}]},
    )
    assert member_ids(out) == [BOB, CAROL]
    assert "display" not in out["members"][1]  # readOnly: dropped by coercion


def test_okta_full_replace_of_members() -> None:
    out = patch_group(
        group(ALICE, BOB), {"op": "replace", "path": "members", "value": [{"value": CAROL}]}
    )
    assert out["members"] == [{"value": CAROL}]


def test_okta_replace_members_with_empty_list_clears_them() -> None:
    out = patch_group(group(ALICE), {"op": "replace", "path": "members", "value": []})
    assert "members" not in out


# ------------------------------------------------------------------------ Entra


def test_entra_capitalised_ops_and_string_false() -> None:
    out = patch_user(
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Remove", "path": "title"},
    )
    assert out["active"] is False
    assert out["nickName"] == "Babs"


def test_entra_pathless_replace_with_string_false() -> None:
    out = patch_user({"op": "Replace", "value": {"active": "False"}})
    assert out["active"] is False


def test_entra_add_on_single_valued() -> None:
    out = patch_user(
        {"op": "Add", "path": "displayName", "value": "Barbara J."},
        {"op": "Add", "path": "title", "value": "Tour Guide"},
        {"op": "Add", "path": "name.givenName", "value": "Babs"},
    )
    assert out["displayName"] == "Barbara J."
    assert out["title"] == "Tour Guide"
    assert out["name"]["givenName"] == "Babs"
    assert out["name"]["familyName"] == "Jensen"


def test_entra_filtered_email_path_creates_entry() -> None:
    for op in ("Add", "Replace"):
        out = patch_user(
            {"op": op, "path": 'emails[type eq "work"].value', "value": "js@example.com"},
            resource=bare_user(),
        )
        assert out["emails"] == [{"type": "work", "value": "js@example.com"}]


def test_entra_filtered_email_path_creates_entry_beside_others() -> None:
    resource = {**bare_user(), "emails": [{"value": "j@home.example", "type": "home"}]}
    out = patch_user(
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "js@example.com"},
        resource=resource,
    )
    assert out["emails"] == [
        {"value": "j@home.example", "type": "home"},
        {"type": "work", "value": "js@example.com"},
    ]


def test_entra_filtered_email_path_updates_existing_entry() -> None:
    out = patch_user(
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "new@example.com"}
    )
    assert out["emails"][0] == {"value": "new@example.com", "type": "work", "primary": True}
    assert len(out["emails"]) == 2


def test_entra_filtered_address_sub_attribute_creates_entry() -> None:
    out = patch_user(
        {"op": "Add", "path": 'addresses[type eq "work"].formatted', "value": "Columbus"},
        resource=bare_user(),
    )
    assert out["addresses"] == [{"type": "work", "formatted": "Columbus"}]


def test_entra_extension_urn_path() -> None:
    out = patch_user(
        {
            "op": "Replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "value": "42",
        },
        {
            "op": "Add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": {"value": "boss-id", "displayName": "The Boss"},
        },
    )
    assert out[ENTERPRISE_USER]["employeeNumber"] == "42"
    assert out[ENTERPRISE_USER]["manager"] == {"value": "boss-id"}  # displayName is readOnly


def test_entra_extension_urn_path_on_user_without_extension() -> None:
    out = patch_user(
        {
            "op": "Add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "value": "Sales",
        },
        resource=bare_user(),
    )
    assert out[ENTERPRISE_USER] == {"department": "Sales"}


def test_entra_remove_of_last_extension_attribute_drops_the_extension_object() -> None:
    resource = {**bare_user(), ENTERPRISE_USER: {"department": "Sales"}}
    out = patch_user({"op": "Remove", "path": f"{ENTERPRISE_USER}:department"}, resource=resource)
    assert ENTERPRISE_USER not in out


def test_remove_with_value_list_keeps_other_members() -> None:
    # Entra's default member removal: Remove on `members` with a value list.
    out = patch_group(
        group(ALICE, BOB, CAROL),
        {"op": "Remove", "path": "members", "value": [{"value": BOB}, {"value": DAVE}]},
    )
    assert member_ids(out) == [ALICE, CAROL]


def test_remove_with_empty_value_list_removes_nobody() -> None:
    out = patch_group(group(ALICE, BOB), {"op": "Remove", "path": "members", "value": []})
    assert member_ids(out) == [ALICE, BOB]


def test_entra_aadopt_lowercase_remove_member_by_filter() -> None:
    out = patch_group(group(ALICE, BOB), {"op": "remove", "path": f'members[value eq "{BOB}"]'})
    assert member_ids(out) == [ALICE]


def test_entra_aadopt_pathless_replace_with_dotted_and_extension_keys() -> None:
    out = patch_user(
        {
            "op": "replace",
            "value": {
                "displayName": "Babs",
                "name.givenName": "Barb",
                "name.familyName": "Jensen-Smith",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "9",
                'emails[type eq "work"].value': "barb@example.com",
                "active": False,
            },
        }
    )
    assert out["displayName"] == "Babs"
    assert out["name"] == {
        "givenName": "Barb",
        "familyName": "Jensen-Smith",
        "formatted": "Ms. Barbara Jensen",
    }
    assert out[ENTERPRISE_USER] == {"employeeNumber": "9", "department": "Tour Operations"}
    assert out["emails"][0]["value"] == "barb@example.com"
    assert out["active"] is False


def test_pathless_extension_object_sets_only_its_attributes() -> None:
    out = patch_user({"op": "replace", "value": {ENTERPRISE_USER: {"department": "Finance"}}})
    assert out[ENTERPRISE_USER] == {"employeeNumber": "701984", "department": "Finance"}


def test_pathless_add_with_legacy_extension_urn_key() -> None:
    out = patch_user(
        {"op": "add", "value": {"urn:scim:schemas:extension:enterprise:2.0": {"division": "X"}}},
        resource=bare_user(),
    )
    assert out[ENTERPRISE_USER] == {"division": "X"}


def test_re_adding_existing_member_is_not_an_error() -> None:
    out = patch_group(
        group(ALICE, BOB),
        {"op": "add", "path": "members", "value": [{"value": ALICE}, {"value": CAROL}]},
        {"op": "add", "path": "members", "value": [{"value": CAROL, "type": "User"}]},
    )
    assert member_ids(out) == [ALICE, BOB, CAROL]


def test_re_adding_existing_email_changes_nothing() -> None:
    original = user()
    out = patch_user(
        {"op": "add", "path": "emails", "value": [{"value": "BJensen@example.com"}]},
        resource=original,
    )
    assert out == original


def test_group_patch_may_carry_unknown_body_members() -> None:
    out = apply_patch(
        group(),
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": ALICE}]}],
            "id": "ignored",
        },
        GROUP_TYPE,
    )
    assert member_ids(out) == [ALICE]


# ------------------------------------------------------------- RFC 7644 §3.5.2


def test_rfc_add_members_example() -> None:  # §3.5.2.1
    out = patch_group(
        group(),
        {
            "op": "add",
            "path": "members",
            "value": [
                {
                    "display": "Babs Jensen",
                    "$ref": f"https://example.com/v2/Users/{ALICE}",
                    "value": ALICE,
                }
            ],
        },
    )
    assert out["members"] == [{"$ref": f"https://example.com/v2/Users/{ALICE}", "value": ALICE}]


def test_rfc_pathless_add_example() -> None:  # §3.5.2.1
    out = patch_user(
        {
            "op": "add",
            "value": {
                "emails": [
                    {"value": "babs@jensen.org", "type": "home"},
                    {"value": "b@other.org", "type": "other"},
                ],
                "nickname": "Babs",
            },
        }
    )
    assert out["nickName"] == "Babs"  # names are case-insensitive, stored canonical
    assert [e["value"] for e in out["emails"]] == [
        "bjensen@example.com",
        "babs@jensen.org",
        "b@other.org",
    ]


def test_rfc_add_complex_merges_sub_attributes() -> None:  # §3.5.2.1
    out = patch_user({"op": "add", "path": "name", "value": {"middleName": "Ann"}})
    assert out["name"]["middleName"] == "Ann"
    assert out["name"]["givenName"] == "Barbara"


def test_rfc_add_to_attribute_without_value_adds_it() -> None:
    out = patch_user(
        {"op": "add", "path": "phoneNumbers", "value": [{"value": "555-1234", "type": "work"}]},
        resource=bare_user(),
    )
    assert out["phoneNumbers"] == [{"value": "555-1234", "type": "work"}]


def test_rfc_remove_single_member() -> None:  # §3.5.2.2
    out = patch_group(group(ALICE, BOB), {"op": "remove", "path": f'members[value eq "{ALICE}"]'})
    assert member_ids(out) == [BOB]


def test_rfc_remove_all_members() -> None:  # §3.5.2.2
    out = patch_group(group(ALICE, BOB), {"op": "remove", "path": "members"})
    assert "members" not in out


def test_rfc_remove_with_complex_filter() -> None:  # §3.5.2.2
    out = patch_user({"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'})
    assert out["emails"] == [{"value": "babs@jensen.org", "type": "home"}]


def test_rfc_remove_then_add_replaces_all_members() -> None:  # §3.5.2.2
    out = patch_group(
        group(ALICE, BOB),
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": CAROL}, {"value": DAVE}]},
    )
    assert member_ids(out) == [CAROL, DAVE]


def test_rfc_remove_without_path_is_no_target() -> None:  # §3.5.2.2
    with pytest.raises(errors.NoTarget):
        patch_user({"op": "remove"})


def test_rfc_remove_filtered_sub_attribute() -> None:
    out = patch_user({"op": "remove", "path": 'addresses[type eq "work"].locality'})
    assert out["addresses"][0] == {"type": "work", "streetAddress": "100 Universal City Plaza"}
    assert out["addresses"][1]["locality"] == "Hollywood"


def test_rfc_remove_sub_attribute_of_complex() -> None:
    out = patch_user({"op": "remove", "path": "name.formatted"})
    assert out["name"] == {"givenName": "Barbara", "familyName": "Jensen"}


def test_remove_with_no_match_is_a_no_op() -> None:
    original = user()
    out = patch_user({"op": "remove", "path": 'emails[type eq "other"]'}, resource=original)
    assert out == original
    assert patch_user({"op": "remove", "path": "nickName"}, resource=original) == original


def test_remove_last_element_unassigns_the_attribute() -> None:
    out = patch_user({"op": "remove", "path": 'emails[value co "@"]'})
    assert "emails" not in out


def test_rfc_replace_members_example() -> None:  # §3.5.2.3
    out = patch_group(
        group(ALICE),
        {"op": "replace", "path": "members", "value": [{"value": BOB}, {"value": CAROL}]},
    )
    assert member_ids(out) == [BOB, CAROL]


def test_rfc_replace_filtered_element() -> None:  # §3.5.2.3
    out = patch_user(
        {
            "op": "replace",
            "path": 'addresses[type eq "work"]',
            "value": {
                "type": "work",
                "streetAddress": "911 Universal City Plaza",
                "locality": "Hollywood",
                "primary": True,
            },
        }
    )
    assert out["addresses"][0] == {
        "type": "work",
        "streetAddress": "911 Universal City Plaza",
        "locality": "Hollywood",
        "primary": True,
    }
    assert out["addresses"][1]["type"] == "home"


def test_rfc_replace_filtered_sub_attribute() -> None:  # §3.5.2.3
    out = patch_user(
        {
            "op": "replace",
            "path": 'addresses[type eq "work"].streetAddress',
            "value": "1010 Broadway Ave",
        }
    )
    assert out["addresses"][0]["streetAddress"] == "1010 Broadway Ave"
    assert out["addresses"][1]["streetAddress"] == "456 Hollywood Blvd"


def test_rfc_pathless_replace_example() -> None:  # §3.5.2.3
    out = patch_user(
        {
            "op": "replace",
            "value": {
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": True},
                    {"value": "babs@jensen.org", "type": "home"},
                ],
                "nickname": "Babs",
            },
        },
        resource=bare_user(),
    )
    assert len(out["emails"]) == 2
    assert out["nickName"] == "Babs"


def test_rfc_replace_multi_valued_replaces_all_values() -> None:  # §3.5.2.3
    out = patch_user({"op": "replace", "path": "emails", "value": [{"value": "x@y.org"}]})
    assert out["emails"] == [{"value": "x@y.org"}]


def test_rfc_replace_of_missing_attribute_adds_it() -> None:  # §3.5.2.3
    out = patch_user({"op": "replace", "path": "nickName", "value": "JJ"}, resource=bare_user())
    assert out["nickName"] == "JJ"


def test_rfc_replace_with_filter_and_no_match_is_no_target() -> None:  # §3.5.2.3
    with pytest.raises(errors.NoTarget):
        patch_user({"op": "replace", "path": 'emails[value co "nowhere"].type', "value": "work"})
    with pytest.raises(errors.NoTarget):
        patch_user(
            {"op": "add", "path": 'emails[type ne "work"].value', "value": "a@b.c"},
            resource=bare_user(),
        )


def test_replace_with_null_unassigns() -> None:
    out = patch_user({"op": "replace", "path": "displayName", "value": None})
    assert "displayName" not in out


def test_add_with_null_or_empty_changes_nothing() -> None:
    original = user()
    assert patch_user({"op": "add", "path": "emails", "value": []}, resource=original) == original
    assert patch_user({"op": "add", "path": "title", "value": None}, resource=original) == original


def test_add_with_eq_conjunction_creates_element_with_every_comparison() -> None:
    out = patch_user(
        {
            "op": "add",
            "path": 'phoneNumbers[type eq "mobile" and primary eq true].value',
            "value": "555-0000",
        },
        resource=bare_user(),
    )
    assert out["phoneNumbers"] == [{"type": "mobile", "primary": True, "value": "555-0000"}]


def test_filtered_add_without_sub_attribute_merges_into_created_element() -> None:
    out = patch_user(
        {"op": "add", "path": 'emails[type eq "work"]', "value": {"value": "w@example.com"}},
        resource=bare_user(),
    )
    assert out["emails"] == [{"type": "work", "value": "w@example.com"}]


def test_schemas_path_is_ignored() -> None:
    original = bare_user()
    out = patch_user(
        {"op": "add", "path": "schemas", "value": [ENTERPRISE_USER]}, resource=original
    )
    assert out == original


def test_whole_extension_path() -> None:
    out = patch_user({"op": "replace", "path": ENTERPRISE_USER, "value": {"division": "D"}})
    assert out[ENTERPRISE_USER]["division"] == "D"
    out = patch_user({"op": "remove", "path": ENTERPRISE_USER})
    assert ENTERPRISE_USER not in out


def test_core_schema_path_cannot_be_removed() -> None:
    with pytest.raises(errors.InvalidPath):
        patch_user({"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User"})


def test_write_only_password_can_be_replaced() -> None:
    out = patch_user({"op": "replace", "path": "password", "value": "s3cret!"})
    assert out["password"] == "s3cret!"


# --------------------------------------------------------------------- primary


def test_adding_a_primary_email_clears_the_old_primary() -> None:
    out = patch_user(
        {"op": "add", "path": "emails", "value": [{"value": "n@ex.org", "primary": True}]}
    )
    primaries = [e["value"] for e in out["emails"] if e.get("primary")]
    assert primaries == ["n@ex.org"]


def test_making_an_element_primary_by_filter_clears_the_others() -> None:
    out = patch_user({"op": "replace", "path": 'emails[type eq "home"].primary', "value": True})
    assert out["emails"][0] == {"value": "bjensen@example.com", "type": "work"}
    assert out["emails"][1]["primary"] is True


def test_two_primaries_at_once_is_invalid_value() -> None:
    with pytest.raises(errors.InvalidValue):
        patch_user(
            {
                "op": "replace",
                "path": "emails",
                "value": [
                    {"value": "a@x.org", "primary": True},
                    {"value": "b@x.org", "primary": "true"},
                ],
            }
        )


# ------------------------------------------------------------------ atomicity


def test_failing_second_operation_leaves_input_untouched() -> None:
    original = user()
    snapshot = copy.deepcopy(original)
    with pytest.raises(errors.InvalidPath) as caught:
        patch_user(
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "add", "path": "emails", "value": [{"value": "x@y.org"}]},
            {"op": "remove", "path": 'emails[type eq "home"]'},
            {"op": "replace", "path": "noSuchAttribute", "value": 1},
            resource=original,
        )
    assert original == snapshot
    assert "Operations[3]" in caught.value.detail


def test_failing_operation_in_group_patch_leaves_members_untouched() -> None:
    original = group(ALICE, BOB)
    snapshot = copy.deepcopy(original)
    with pytest.raises(errors.InvalidValue):
        patch_group(
            original,
            {"op": "remove", "path": "members"},
            {"op": "remove", "path": "displayName"},
        )
    assert original == snapshot


def test_patch_body_is_not_modified() -> None:
    patch = body({"op": "add", "path": "emails", "value": [{"value": "n@ex.org", "primary": True}]})
    snapshot = copy.deepcopy(patch)
    patch_user(*patch["Operations"])
    apply_patch(user(), patch, USER_TYPE)
    assert patch == snapshot


# ------------------------------------------------------------------ mutability


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "id", "value": "new-id"},
        {"op": "add", "path": "id", "value": "u-1"},
        {"op": "replace", "path": "meta.lastModified", "value": "2024-01-01T00:00:00Z"},
        {"op": "remove", "path": "meta"},
        {"op": "add", "path": "groups", "value": [{"value": "g-1"}]},
        {"op": "remove", "path": "groups"},
        {"op": "replace", "path": f"{ENTERPRISE_USER}:manager.displayName", "value": "X"},
        {"op": "replace", "value": {"id": "someone-else"}},
        {"op": "replace", "value": {"groups": [{"value": "g-9"}]}},
    ],
)
def test_mutability_violations_on_user(operation: dict[str, Any]) -> None:
    with pytest.raises(errors.Mutability):
        patch_user(operation)


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": f'members[value eq "{ALICE}"].value', "value": BOB},
        {"op": "replace", "path": f'members[value eq "{ALICE}"]', "value": {"value": BOB}},
        {"op": "remove", "path": f'members[value eq "{ALICE}"].type'},
        {"op": "replace", "path": f'members[value eq "{ALICE}"].type', "value": "Group"},
        {"op": "replace", "path": "members.display", "value": "x"},
    ],
)
def test_mutability_violations_on_group(operation: dict[str, Any]) -> None:
    with pytest.raises(errors.Mutability):
        patch_group(group(ALICE), operation)


def test_immutable_sub_attribute_may_be_set_when_absent() -> None:
    out = patch_group(
        {"id": "g-1", "displayName": "G", "members": [{"value": ALICE}]},
        {"op": "add", "path": f'members[value eq "{ALICE}"].type', "value": "User"},
        {"op": "replace", "path": f'members[value eq "{ALICE}"].type', "value": "User"},
    )
    assert out["members"] == [{"value": ALICE, "type": "User"}]


def test_readonly_pathless_values_equal_to_current_are_ignored() -> None:
    out = patch_user({"op": "replace", "value": {"groups": [], "nickName": "B"}})
    assert out["nickName"] == "B"


# ------------------------------------------------------------------ bad bodies

BAD_BODIES: list[tuple[str, Any, type[errors.ScimError]]] = [
    ("not an object", [], errors.InvalidSyntax),
    ("a string", "add", errors.InvalidSyntax),
    ("null", None, errors.InvalidSyntax),
    (
        "wrong schema",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "Operations": [{"op": "add", "path": "title", "value": "x"}],
        },
        errors.InvalidSyntax,
    ),
    (
        "schemas not a list",
        {"schemas": 5, "Operations": [{"op": "remove", "path": "title"}]},
        errors.InvalidSyntax,
    ),
    ("no Operations", {"schemas": [PATCH_OP]}, errors.InvalidSyntax),
    (
        "Operations not a list",
        {"schemas": [PATCH_OP], "Operations": {"op": "add"}},
        errors.InvalidSyntax,
    ),
    ("empty Operations", {"schemas": [PATCH_OP], "Operations": []}, errors.InvalidSyntax),
    ("operation not an object", body("add"), errors.InvalidSyntax),
    ("op missing", body({"path": "title", "value": "x"}), errors.InvalidSyntax),
    ("op unknown", body({"op": "delete", "path": "title"}), errors.InvalidSyntax),
    (
        "JSON-Patch op",
        body({"op": "move", "from": "title", "path": "nickName"}),
        errors.InvalidSyntax,
    ),
    ("op not a string", body({"op": 1, "path": "title"}), errors.InvalidSyntax),
    ("add without value", body({"op": "add", "path": "title"}), errors.InvalidValue),
    ("replace without value", body({"op": "replace"}), errors.InvalidValue),
    ("path not a string", body({"op": "add", "path": 5, "value": "x"}), errors.InvalidPath),
    ("unknown attribute", body({"op": "add", "path": "bogus", "value": "x"}), errors.InvalidPath),
    (
        "unknown sub-attribute",
        body({"op": "add", "path": "name.bogus", "value": "x"}),
        errors.InvalidPath,
    ),
    (
        "unknown schema",
        body({"op": "add", "path": "urn:x:y:foo", "value": "x"}),
        errors.InvalidPath,
    ),
    (
        "filter on single-valued",
        body({"op": "remove", "path": 'userName[value eq "x"]'}),
        errors.InvalidPath,
    ),
    ("stray bracket", body({"op": "remove", "path": "emails]"}), errors.InvalidPath),
    (
        "unterminated filter",
        body({"op": "remove", "path": 'emails[type eq "work"'}),
        errors.InvalidFilter,
    ),
    (
        "unknown attribute in filter",
        body({"op": "remove", "path": "emails[bogus eq 1]"}),
        errors.InvalidFilter,
    ),
    ("remove without path", body({"op": "remove"}), errors.NoTarget),
    ("path-less value a string", body({"op": "replace", "value": "x"}), errors.InvalidValue),
    (
        "path-less value a list",
        body({"op": "add", "value": [{"active": False}]}),
        errors.InvalidValue,
    ),
    (
        "path-less unknown key",
        body({"op": "replace", "value": {"favouriteColour": "red"}}),
        errors.InvalidSyntax,
    ),
    (
        "path-less unknown dotted key",
        body({"op": "replace", "value": {"name.nick": "x"}}),
        errors.InvalidSyntax,
    ),
    (
        "path-less extension not an object",
        body({"op": "add", "value": {ENTERPRISE_USER: 5}}),
        errors.InvalidValue,
    ),
    (
        "boolean not a boolean",
        body({"op": "replace", "path": "active", "value": "maybe"}),
        errors.InvalidValue,
    ),
    (
        "complex given a string",
        body({"op": "add", "path": "name", "value": "Babs"}),
        errors.InvalidValue,
    ),
    (
        "single-valued given a list",
        body({"op": "add", "path": "title", "value": ["a", "b"]}),
        errors.InvalidValue,
    ),
    (
        "unknown sub-attribute in value",
        body({"op": "add", "path": "emails", "value": [{"value": "a@b.c", "bogus": 1}]}),
        errors.InvalidSyntax,
    ),
]


@pytest.mark.parametrize(
    ("patch", "expected"), [(b, e) for _, b, e in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES]
)
def test_bad_bodies(patch: Any, expected: type[errors.ScimError]) -> None:
    original = user()
    with pytest.raises(expected):
        apply_patch(original, patch, USER_TYPE)
    assert original == user()


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (body({"op": "add", "path": "members", "value": [{"type": "User"}]}), errors.InvalidValue),
        (
            body({"op": "add", "path": "members", "value": [{"value": 5, "bogus": 1}]}),
            errors.InvalidSyntax,
        ),
        (
            body({"op": "remove", "path": "members", "value": [{"display": "Bob"}]}),
            errors.InvalidValue,
        ),
        (body({"op": "add", "value": {"members": [{"display": "Bob"}]}}), errors.InvalidValue),
    ],
)
def test_bad_member_values(patch: Any, expected: type[errors.ScimError]) -> None:
    with pytest.raises(expected):
        apply_patch(group(ALICE), patch, GROUP_TYPE)
    with pytest.raises(expected):
        plan_members(patch, GROUP_TYPE)


def test_lenient_body_shapes() -> None:
    """No ``schemas``, keys in any case, ``path: null`` or ``""`` as no path."""
    ops = parse_operations(
        {
            "operations": [
                {"OP": " Replace ", "Path": "", "Value": {"active": False}},
                {"op": "add", "path": None, "value": {"title": "T"}},
            ]
        }
    )
    assert [(o.op, o.path) for o in ops] == [("replace", None), ("add", None)]
    out = apply_patch(
        user(), {"Operations": [{"op": "replace", "value": {"active": False}}]}, USER_TYPE
    )
    assert out["active"] is False


# ---------------------------------------------------------------- member plan


def apply_plan(resource: dict[str, Any], plan: MemberPlan) -> dict[str, Any]:
    """What a store does with a plan: members by id, then the other operations."""
    out = plan.apply_rest({k: v for k, v in resource.items() if k != "members"}, GROUP_TYPE)
    current = [Member(m["value"], m.get("type")) for m in resource.get("members", [])]
    if plan.replace is not None:
        current = list(plan.replace)
    else:
        current = [m for m in current if m.value not in plan.remove]
        known = {m.value for m in current}
        current += [m for m in plan.add if m.value not in known]
    if current:
        out["members"] = [
            {"value": m.value, **({"type": m.type} if m.type else {})} for m in current
        ]
    return out


def test_plan_onelogin_add_members() -> None:
    plan = plan_members(
        body(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": ALICE}, {"value": BOB, "type": "User"}],
            }
        ),
        GROUP_TYPE,
    )
    assert plan == MemberPlan(None, (Member(ALICE), Member(BOB, "User")), frozenset(), [])


def test_plan_entra_remove_with_value_list() -> None:
    plan = plan_members(
        body({"op": "Remove", "path": "members", "value": [{"value": ALICE}, {"value": BOB}]}),
        GROUP_TYPE,
    )
    assert plan is not None
    assert plan.replace is None and plan.add == ()
    assert plan.remove == {ALICE, BOB}


def test_plan_okta_remove_filter_then_add() -> None:
    plan = plan_members(
        body(
            {"op": "remove", "path": f'members[value eq "{ALICE}"]'},
            {"op": "add", "path": "members", "value": [{"value": BOB}]},
        ),
        GROUP_TYPE,
    )
    assert plan == MemberPlan(None, (Member(BOB),), frozenset({ALICE}), [])


def test_plan_remove_filter_with_or() -> None:
    plan = plan_members(
        body({"op": "remove", "path": f'members[value eq "{ALICE}" or value eq "{BOB}"]'}),
        GROUP_TYPE,
    )
    assert plan is not None and plan.remove == {ALICE, BOB}


def test_plan_later_add_cancels_earlier_remove_and_vice_versa() -> None:
    plan = plan_members(
        body(
            {"op": "remove", "path": "members", "value": [{"value": ALICE}, {"value": BOB}]},
            {"op": "add", "path": "members", "value": [{"value": ALICE}, {"value": CAROL}]},
            {"op": "remove", "path": f'members[value eq "{CAROL}"]'},
        ),
        GROUP_TYPE,
    )
    assert plan == MemberPlan(None, (Member(ALICE),), frozenset({BOB, CAROL}), [])


def test_plan_replace_then_add_and_remove_edit_the_new_list() -> None:
    plan = plan_members(
        body(
            {"op": "replace", "path": "members", "value": [{"value": ALICE}, {"value": BOB}]},
            {"op": "add", "path": "members", "value": [{"value": CAROL}, {"value": ALICE}]},
            {"op": "remove", "path": f'members[value eq "{BOB}"]'},
        ),
        GROUP_TYPE,
    )
    assert plan == MemberPlan((Member(ALICE), Member(CAROL)), (), frozenset(), [])


def test_plan_remove_all_is_an_empty_replace() -> None:
    plan = plan_members(body({"op": "remove", "path": "members"}), GROUP_TYPE)
    assert plan == MemberPlan((), (), frozenset(), [])


def test_plan_pathless_members_and_rename() -> None:
    plan = plan_members(
        body(
            {
                "op": "replace",
                "value": {"id": "g-1", "displayName": "New", "members": [{"value": ALICE}]},
            }
        ),
        GROUP_TYPE,
    )
    assert plan is not None
    assert plan.replace == (Member(ALICE),)
    assert plan.rest == [{"op": "replace", "value": {"id": "g-1", "displayName": "New"}}]
    assert plan.apply_rest(group(), GROUP_TYPE) == {"id": "g-1", "displayName": "New"}


def test_plan_pathless_add_members() -> None:
    plan = plan_members(body({"op": "Add", "value": {"members": [{"value": BOB}]}}), GROUP_TYPE)
    assert plan == MemberPlan(None, (Member(BOB),), frozenset(), [])


def test_plan_without_member_operations() -> None:
    plan = plan_members(body({"op": "replace", "path": "displayName", "value": "X"}), GROUP_TYPE)
    assert plan is not None and not plan.touches_members
    assert plan.rest == [{"op": "replace", "path": "displayName", "value": "X"}]


def test_plan_drops_readonly_display_and_keeps_type() -> None:
    plan = plan_members(
        body(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": ALICE, "display": "Alice", "type": "User"}],
            }
        ),
        GROUP_TYPE,
    )
    assert plan is not None and plan.add == (Member(ALICE, "User"),)


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": 'members[type eq "Group"]'},
        {"op": "remove", "path": 'members[display co "Bob"]'},
        {"op": "remove", "path": f'members[value eq "{ALICE}" and type eq "User"]'},
        {"op": "remove", "path": f'members[value eq "{ALICE}"].type'},
        {"op": "add", "path": f'members[value eq "{ALICE}"].type', "value": "User"},
        {"op": "replace", "path": f'members[value eq "{ALICE}"]', "value": {"type": "User"}},
        {"op": "replace", "path": "members.type", "value": "User"},
        {"op": "replace", "value": {"members.type": "User"}},
        {"op": "replace", "value": {'members[value eq "x"].type': "User"}},
        {
            "op": "add",
            "path": "urn:ietf:params:scim:schemas:core:2.0:Group",
            "value": {"members": [{"value": ALICE}]},
        },
    ],
)
def test_plan_needs_current_members(operation: dict[str, Any]) -> None:
    patch = body({"op": "add", "path": "members", "value": [{"value": BOB}]}, operation)
    assert plan_members(patch, GROUP_TYPE) is None


@pytest.mark.parametrize("name, patch, expected", BAD_BODIES[:15])
def test_plan_checks_the_body_like_apply_patch(
    name: str, patch: Any, expected: type[errors.ScimError]
) -> None:
    if name == "remove without path":  # left in `rest` for apply_patch to answer
        return
    with pytest.raises(expected):
        plan_members(patch, GROUP_TYPE)


PLANNABLE = [
    body({"op": "add", "path": "members", "value": [{"value": CAROL}, {"value": ALICE}]}),
    body({"op": "Remove", "path": "members", "value": [{"value": ALICE}, {"value": DAVE}]}),
    body(
        {"op": "remove", "path": f'members[value eq "{BOB}"]'},
        {"op": "add", "path": "members", "value": [{"value": BOB}, {"value": DAVE}]},
    ),
    body(
        {"op": "add", "path": "members", "value": [{"value": DAVE}]},
        {"op": "remove", "path": "members", "value": [{"value": DAVE}, {"value": ALICE}]},
    ),
    body(
        {"op": "replace", "path": "members", "value": [{"value": CAROL}]},
        {"op": "add", "path": "members", "value": [{"value": DAVE}]},
        {"op": "replace", "path": "displayName", "value": "Renamed"},
    ),
    body(
        {"op": "remove", "path": "members"},
        {"op": "add", "value": {"members": [{"value": ALICE}], "displayName": "D"}},
    ),
    body({"op": "replace", "value": {"members": []}}),
]


@pytest.mark.parametrize("patch", PLANNABLE)
def test_plan_agrees_with_apply_patch(patch: dict[str, Any]) -> None:
    start = group(ALICE, BOB)
    plan = plan_members(patch, GROUP_TYPE)
    assert plan is not None
    by_plan = apply_plan(start, plan)
    by_patch = apply_patch(start, patch, GROUP_TYPE)
    assert sorted(member_ids(by_plan)) == sorted(member_ids(by_patch))
    assert {k: v for k, v in by_plan.items() if k != "members"} == {
        k: v for k, v in by_patch.items() if k != "members"
    }


def test_plan_rest_errors_surface_in_apply_rest() -> None:
    plan = plan_members(
        body(
            {"op": "add", "path": "members", "value": [{"value": ALICE}]},
            {"op": "remove", "path": "displayName"},
        ),
        GROUP_TYPE,
    )
    assert plan is not None
    with pytest.raises(errors.InvalidValue):
        plan.apply_rest(group(), GROUP_TYPE)


def test_a_bare_member_id_is_taken_as_its_value() -> None:
    # Entra sends single references (a manager, a member) as the bare id.
    plan = plan_members(body({"op": "add", "path": "members", "value": "just-an-id"}), GROUP_TYPE)
    assert plan is not None and [m.value for m in plan.add] == ["just-an-id"]


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "userName"},
        {"op": "replace", "path": "userName", "value": None},
    ],
)
def test_removing_a_required_attribute_is_invalid_value(operation: dict[str, Any]) -> None:
    # "A required value was missing" (RFC 7644 §3.12), as a PUT without it answers.
    with pytest.raises(errors.InvalidValue):
        patch_user(operation, resource=user())
