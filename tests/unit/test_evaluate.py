"""Specification of the reference evaluator and sort order (RFC 7644 §3.4.2.2-3).

Store compilers (SQL, Redis, LDAP) must give the same answers as these.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from scimserver.protocol.core_schemas import ENTERPRISE_USER, GROUP_TYPE, USER_TYPE
from scimserver.protocol.evaluate import (
    case_exact,
    element_matches,
    matches,
    sort_key,
    sort_resources,
)
from scimserver.protocol.filter import parse_filter, parse_path
from scimserver.protocol.filter_ast import Compare, Not, Present, ValuePath
from scimserver.protocol.schema import (
    BINARY,
    DECIMAL,
    INTEGER,
    Attribute,
    Resolved,
    ResourceType,
    Schema,
)

BJENSEN: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "JYoung",
    "userName": "BJensen",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs Jensen",
    "nickName": "",
    "title": None,
    "userType": "Employee",
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "ims": [],
    "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
    "x509Certificates": [{"value": "TUlJRERqQ0NBZmFnQXdJQkFn"}],
    "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T06:42:34+02:00",  # = 04:42:34Z
        "version": 'W/"3694e05e9dff591"',
    },
    ENTERPRISE_USER: {
        "employeeNumber": "701984",
        "department": "Tour Operations",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"},
    },
}
MINIMAL: dict[str, Any] = {"id": "m1", "userName": "minimal"}


def m(text: str, resource: dict[str, Any] = BJENSEN) -> bool:
    return matches(parse_filter(text, USER_TYPE), resource)


# ------------------------------------------------------------------ strings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "bjensen"', True),  # caseExact false: both sides lowered
        ('userName eq "BJENSEN"', True),
        ('userName eq "bjensen2"', False),
        ('userName co "JENS"', True),
        ('userName sw "bj"', True),
        ('userName ew "SEN"', True),
        ('userName sw "jensen"', False),
        ('name.familyName eq "jensen"', True),
        ('displayName co "babs j"', True),
        ('nickName eq ""', True),
    ],
)
def test_strings_compare_case_insensitively(text: str, expected: bool) -> None:
    assert m(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('externalId eq "JYoung"', True),
        ('externalId eq "jyoung"', False),
        ("externalId eq jyoung", False),  # Entra's bare value, still caseExact
        ("externalId eq JYoung", True),
        ('externalId sw "JY"', True),
        ('externalId sw "jy"', False),
        ('id eq "2819c223-7f76-453a-919d-413861904646"', True),
        ('id eq "2819C223-7F76-453A-919D-413861904646"', False),
        ('meta.resourceType eq "User"', True),
        ('meta.resourceType eq "user"', False),
    ],
)
def test_case_exact_attributes_compare_exactly(text: str, expected: bool) -> None:
    assert m(text) is expected


def test_binary_is_always_case_exact() -> None:
    # RFC 7643 §2.3.6: base64 is case-sensitive, whatever caseExact says.
    assert m('x509Certificates eq "TUlJRERqQ0NBZmFnQXdJQkFn"')
    assert not m('x509Certificates eq "tuljrerqq0nbzmfnqxdjqkfn"')
    assert case_exact(Attribute("blob", BINARY))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName gt "BA"', True),  # "bjensen" > "ba"
        ('userName gt "bk"', False),
        ('userName ge "BJENSEN"', True),
        ('userName le "bjensen"', True),
        ('userName lt "c"', True),
        ('userName lt "B"', False),
        # caseExact: plain codepoint order, "J" (0x4a) < "j" (0x6a)
        ('externalId lt "jyoung"', True),
        ('externalId gt "Jz"', False),
        ('externalId gt "JY"', True),
    ],
)
def test_string_ordering_is_codepoint_order_of_the_compared_forms(
    text: str, expected: bool
) -> None:
    assert m(text) is expected


# ---------------------------------------------------------------- datetimes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('meta.lastModified eq "2011-05-13T04:42:34Z"', True),  # same instant, other offset
        ('meta.lastModified eq "2011-05-13T00:42:34-04:00"', True),
        ('meta.lastModified eq "2011-05-13T06:42:34Z"', False),
        ('meta.lastModified gt "2011-05-13T04:42:33Z"', True),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', False),
        ('meta.lastModified ge "2011-05-13T04:42:34Z"', True),
        ('meta.lastModified lt "2011-05-13T05:00:00+00:00"', True),
        ('meta.created lt "2011-01-01"', True),
        ('meta.created le "2010-01-23T04:56:22"', True),  # no offset means UTC
        ('meta.created gt "2010-01-23T05:56:21+01:00"', True),
    ],
)
def test_datetimes_compare_as_instants(text: str, expected: bool) -> None:
    assert m(text) is expected


def test_a_stored_datetime_without_offset_is_utc_and_garbage_never_matches() -> None:
    naive = {"meta": {"created": "2011-05-13T04:42:34"}}
    assert m('meta.created eq "2011-05-13T04:42:34Z"', naive)
    garbage = {"meta": {"created": "last tuesday"}}
    assert not m('meta.created eq "2011-05-13T04:42:34Z"', garbage)
    assert not m('meta.created lt "9999-01-01T00:00:00Z"', garbage)
    assert m('meta.created ne "2011-05-13T04:42:34Z"', garbage)


# ------------------------------------------------------- multi-valued, paths


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('emails co "jensen.org"', True),  # any value matches
        ('emails.value ew "example.com"', True),
        ('emails.type eq "home"', True),
        ('emails.type eq "other"', False),
        ('emails[type eq "work" and value co "@example.com"]', True),
        ('emails[type eq "home" and value co "@example.com"]', False),
        # the same two conditions outside a value path may hold on different elements
        ('emails.type eq "home" and emails.value co "@example.com"', True),
        ('emails[type eq "work" and primary eq true]', True),
        ('emails[type eq "home" and primary eq true]', False),
        ('emails[not (type eq "work")]', True),
        ('emails[type eq "work"] and phoneNumbers[type eq "work"]', True),
        ('ims[type eq "xmpp"]', False),
        ('schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"', True),
    ],
)
def test_multi_valued_attributes_match_if_any_value_matches(text: str, expected: bool) -> None:
    assert m(text) is expected


def test_element_matches_evaluates_a_value_filter_on_one_element() -> None:
    patch = parse_path('members[value eq "2819c223"]', GROUP_TYPE)
    assert patch.filter is not None
    assert element_matches(patch.filter, {"value": "2819c223", "type": "User"})
    assert not element_matches(patch.filter, {"value": "2819C223"})  # members.value caseExact
    assert not element_matches(patch.filter, {"type": "User"})
    emails = parse_path('emails[type eq "WORK" and not (primary eq false)]', USER_TYPE)
    assert emails.filter is not None
    assert element_matches(emails.filter, {"type": "work", "primary": True})
    assert element_matches(emails.filter, {"type": "work"})
    assert not element_matches(emails.filter, {"type": "work", "primary": False})


def test_element_matches_agrees_with_matches_on_a_value_path() -> None:
    vp = parse_filter('emails[type eq "work" and value co "@example.com"]', USER_TYPE)
    assert isinstance(vp, ValuePath)
    hits = [element_matches(vp.filter, el) for el in BJENSEN["emails"]]
    assert hits == [True, False]
    assert matches(vp, BJENSEN) is any(hits)


# ----------------------------------------------- extensions and common attrs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'{ENTERPRISE_USER}:employeeNumber eq "701984"', True),
        (f"{ENTERPRISE_USER}:employeeNumber eq 701984", True),
        (f'{ENTERPRISE_USER}:department sw "tour"', True),
        (f'{ENTERPRISE_USER}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"', True),
        (f"{ENTERPRISE_USER}:manager.value pr", True),
        (f"{ENTERPRISE_USER}:costCenter pr", False),
        ('urn:scim:schemas:extension:enterprise:2.0:department eq "Tour Operations"', True),
        # "department" without its URN names nothing in the core schema
    ],
)
def test_enterprise_extension_attributes(text: str, expected: bool) -> None:
    assert m(text) is expected


def test_extension_attributes_are_read_only_from_their_urn_key() -> None:
    misplaced = {"employeeNumber": "701984"}  # at top level: not the extension's
    assert not m(f'{ENTERPRISE_USER}:employeeNumber eq "701984"', misplaced)
    assert not m(f'{ENTERPRISE_USER}:employeeNumber eq "701984"', MINIMAL)
    assert m(f'{ENTERPRISE_USER}:employeeNumber ne "701984"', MINIMAL)


# ------------------------------------------------------- not, ne, pr, null


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('title ne "Tour Guide"', True),  # title is null: ne on missing is true
        ('title eq "Tour Guide"', False),
        ('title co ""', False),  # any other comparison with missing is false
        ('title gt "a"', False),
        ('title lt "a"', False),
        ('not (title eq "Tour Guide")', True),
        ('not (title ne "Tour Guide")', False),
        ('userType ne "Employee"', False),
        ('userType ne "employee"', False),
        ('emails.type ne "home"', False),  # ne is exactly "not eq": some email is home
        ('emails.type ne "other"', True),
        ("not (not (userName pr))", True),
        (f'{ENTERPRISE_USER}:costCenter ne "x"', True),
    ],
)
def test_ne_is_not_eq_and_missing_attributes_compare_false(text: str, expected: bool) -> None:
    assert m(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("userName pr", True),
        ("title pr", False),  # null
        ("nickName pr", False),  # empty string
        ("ims pr", False),  # empty list
        ("locale pr", False),  # absent
        ("emails pr", True),
        ("emails.display pr", False),
        ("name pr", True),
        ("name.middleName pr", False),
        ("title eq null", True),  # eq null is "not pr"
        ("nickName eq null", True),
        ("userName eq null", False),
        ("userName ne null", True),  # ne null is "pr"
        ("ims ne null", False),
        ("not (title pr)", True),
    ],
)
def test_pr_and_null(text: str, expected: bool) -> None:
    assert m(text) is expected
    if text.endswith(" pr"):
        attr = text.removesuffix(" pr")
        assert m(f"{attr} eq null") is not expected


def test_pr_treats_empty_objects_and_lists_of_nulls_as_absent() -> None:
    assert not m("name pr", {"name": {}})
    assert not m("emails.value pr", {"emails": [{"value": None}, {"type": "work"}]})
    assert not m("emails pr", {"emails": [None]})


# ------------------------------------------------------------ other types


def test_booleans() -> None:
    assert m("active eq true")
    assert not m("active eq false")
    assert m('active eq "TRUE"')
    assert m("active ne false")
    assert not m("active eq true", {"active": "true"})  # a string is not a boolean


DEVICE_TYPE = ResourceType(
    "Device",
    "/Devices",
    Schema(
        "urn:example:params:scim:schemas:core:2.0:Device",
        "Device",
        "Device",
        (Attribute("ports", INTEGER), Attribute("weight", DECIMAL)),
    ),
)


@pytest.mark.parametrize(
    ("text", "resource", "expected"),
    [
        ("ports eq 8", {"ports": 8}, True),
        ("ports gt 7", {"ports": 8}, True),
        ("ports lt 10", {"ports": 8}, True),  # numeric, not "10" < "8"
        ("ports eq 8", {"ports": 8.0}, True),
        ("ports eq 8", {"ports": "8"}, False),  # wrong stored type matches nothing
        ("ports eq 1", {"ports": True}, False),  # a boolean is not a number
        ("weight eq 1.50", {"weight": Decimal("1.5")}, True),
        ("weight gt 1.25", {"weight": 1.5}, True),
        ("weight le 2", {"weight": 2}, True),
        ("weight gt 1", {"weight": float("nan")}, False),
        ("ports ne 8", {}, True),
    ],
)
def test_numbers_compare_numerically(text: str, resource: dict[str, Any], expected: bool) -> None:
    assert matches(parse_filter(text, DEVICE_TYPE), resource) is expected


# ------------------------------------------------------------- robustness


def test_hand_built_ast_with_mismatched_types_never_raises() -> None:
    user_name = USER_TYPE.resolve("userName")
    created = USER_TYPE.resolve("meta", "created")
    assert user_name is not None and created is not None
    assert not matches(Compare(user_name, "gt", 5), BJENSEN)
    assert not matches(Compare(user_name, "co", 5), BJENSEN)
    assert matches(Compare(created, "lt", "2011-01-01T00:00:00Z"), BJENSEN)
    assert not matches(Compare(created, "lt", "not a date"), BJENSEN)
    assert matches(Not(Present(user_name)), MINIMAL) is False


ODD_SHAPES: list[Any] = [
    {},
    {"userName": ["a", None, 3], "emails": "not a list", "name": [1, 2], "meta": None},
    {"emails": [1, "x", None, {"value": 5}], "active": "yes", ENTERPRISE_USER: "oops"},
    {ENTERPRISE_USER: {"manager": ["x"]}, "meta": {"created": 12345}},
    {"x509Certificates": {"value": "AAAA"}, "name": {"givenName": {"nested": True}}},
]


def test_odd_resource_shapes_never_raise() -> None:
    rng = random.Random(7)
    texts = [
        'userName eq "a"', 'userName gt "a"', "emails pr", 'emails co "x"',
        'emails[type eq "work" or value pr]', f'{ENTERPRISE_USER}:manager eq "x"',
        'meta.created gt "2011-05-13T04:42:34Z"', "active eq true", "name.givenName pr",
        'x509Certificates eq "AAAA"', "not (title eq null)", 'userName ne "a"',
    ]  # fmt: skip
    filters = [parse_filter(t, USER_TYPE) for t in texts]
    for resource in ODD_SHAPES:
        for f in filters:
            assert isinstance(matches(f, resource), bool)
    for _ in range(200):
        element = {rng.choice(["value", "type", "primary"]): rng.choice([1, "x", None, [], {}])}
        vp = filters[4]
        assert isinstance(vp, ValuePath)
        assert isinstance(element_matches(vp.filter, element), bool)


# ------------------------------------------------------------------ sorting


def resolved(path: str) -> Resolved:
    found = USER_TYPE.resolve_path(path)
    assert found is not None
    return found


def order(resources: list[dict[str, Any]], path: str, *, descending: bool = False) -> list[Any]:
    return [r.get("id") for r in sort_resources(resources, resolved(path), descending=descending)]


PEOPLE = [
    {"id": "b", "userName": "bob", "externalId": "b"},
    {"id": "none"},
    {"id": "A", "userName": "Alice", "externalId": "Z"},
    {"id": "c", "userName": "carol", "externalId": "a"},
]


def test_sort_is_case_insensitive_unless_case_exact_with_missing_values_last() -> None:
    assert order(PEOPLE, "userName") == ["A", "b", "c", "none"]
    assert order(PEOPLE, "userName", descending=True) == ["c", "b", "A", "none"]
    assert order(PEOPLE, "externalId") == ["A", "c", "b", "none"]  # "Z" < "a" < "b"
    assert order(PEOPLE, "externalId", descending=True) == ["b", "c", "A", "none"]


def test_sort_by_datetime_is_by_instant() -> None:
    rs = [
        {"id": "later", "meta": {"created": "2011-05-13T05:00:00Z"}},
        {"id": "earlier", "meta": {"created": "2011-05-13T06:00:00+02:00"}},  # 04:00Z
        {"id": "bad", "meta": {"created": "garbage"}},
    ]
    assert order(rs, "meta.created") == ["earlier", "later", "bad"]


def test_sort_multi_valued_by_primary_else_first() -> None:
    rs = [
        {"id": "p", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": True}]},
        {"id": "f", "emails": [{"value": "m@x"}, {"value": "b@x"}]},
        {"id": "e", "emails": []},
    ]
    assert order(rs, "emails.value") == ["p", "f", "e"]
    assert order(rs, "emails") == ["p", "f", "e"]  # a bare complex sorts by its value


def test_sort_key_is_a_plain_tuple_for_any_shape() -> None:
    attr = resolved("userName")
    keys = [sort_key(r, attr) for r in [*ODD_SHAPES, BJENSEN, MINIMAL]]
    assert sorted(keys)[-1] == (1,)
    assert sort_key(MINIMAL, attr) == (0, "minimal")
    assert sort_key({}, attr) == (1,)
    assert sort_key({}, attr, descending=True) == (0,)
    ext = resolved(f"{ENTERPRISE_USER}:department")
    assert sort_key(BJENSEN, ext) == (0, "tour operations")
    created = resolved("meta.created")
    assert sort_key(BJENSEN, created) == (0, datetime(2010, 1, 23, 4, 56, 22, tzinfo=UTC))
