"""Specification of the filter and PATCH path parser (RFC 7644 §3.4.2.2, §3.5.2).

Bound ASTs are compared through ``show``, a compact rendering: attributes by
their resolved dotted name (URN-qualified for extensions), values by repr.
"""

from __future__ import annotations

import contextlib
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from scimserver.protocol.core_schemas import ENTERPRISE_USER, GROUP_TYPE, USER_TYPE
from scimserver.protocol.errors import InvalidFilter, InvalidPath
from scimserver.protocol.filter import MAX_DEPTH, MAX_LENGTH, parse_filter, parse_path
from scimserver.protocol.filter_ast import (
    And,
    Compare,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)
from scimserver.protocol.schema import (
    BINARY,
    COMPLEX,
    DECIMAL,
    INTEGER,
    Attribute,
    Extension,
    ResourceType,
    Schema,
)

EXT = "urn:example:params:scim:schemas:extension:test:2.0:Device"
# A resource type exercising the types the RFC 7643 User does not have.
DEVICE_TYPE = ResourceType(
    "Device",
    "/Devices",
    Schema(
        "urn:example:params:scim:schemas:core:2.0:Device",
        "Device",
        "Device",
        (
            Attribute("serial", case_exact=True),
            Attribute("ports", INTEGER),
            Attribute("weight", DECIMAL),
            Attribute("firmware", BINARY),
            Attribute("tags", multi_valued=True),
            Attribute("location", COMPLEX, sub_attributes=(Attribute("room"),)),
        ),
    ),
    (Extension(Schema(EXT, "DeviceExt", "", (Attribute("rack", INTEGER),))),),
)


def show(node: Filter | PatchPath | None) -> str:
    if node is None:
        return "-"
    if isinstance(node, PatchPath):
        return f"{node.target.dotted} {show(node.filter)}"
    if isinstance(node, Compare):
        return f"{node.attr.dotted} {node.op} {node.value!r}"
    if isinstance(node, Present):
        return f"{node.attr.dotted} pr"
    if isinstance(node, And):
        return f"({show(node.left)} and {show(node.right)})"
    if isinstance(node, Or):
        return f"({show(node.left)} or {show(node.right)})"
    if isinstance(node, Not):
        return f"not {show(node.expr)}"
    assert isinstance(node, ValuePath)
    return f"{node.attr.dotted}[{show(node.filter)}]"


def user(text: str) -> str:
    return show(parse_filter(text, USER_TYPE))


def device(text: str) -> str:
    return show(parse_filter(text, DEVICE_TYPE))


def _literal(text: str) -> str:
    """A ``pytest.raises(match=...)`` pattern matching ``text`` literally."""
    return re.escape(text)


T0 = datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)
EMAIL_TYPE_WORK = "emails.type eq 'work'"


# ------------------------------------------------------- RFC 7644 §3.4.2.2


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ('userName eq "bjensen"', "userName eq 'bjensen'"),
        ('name.familyName co "O\'Malley"', 'name.familyName co "O\'Malley"'),
        ('userName sw "J"', "userName sw 'J'"),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"', "userName sw 'J'"),
        ("title pr", "title pr"),
        ('meta.lastModified gt "2011-05-13T04:42:34Z"', f"meta.lastModified gt {T0!r}"),
        ('meta.lastModified ge "2011-05-13T04:42:34Z"', f"meta.lastModified ge {T0!r}"),
        ('meta.lastModified lt "2011-05-13T04:42:34Z"', f"meta.lastModified lt {T0!r}"),
        ('meta.lastModified le "2011-05-13T04:42:34Z"', f"meta.lastModified le {T0!r}"),
        ('title pr and userType eq "Employee"', "(title pr and userType eq 'Employee')"),
        ('title pr or userType eq "Intern"', "(title pr or userType eq 'Intern')"),
        (
            'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
            "schemas eq 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'",
        ),
        (
            'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
            "(userType eq 'Employee' and "
            "(emails.value co 'example.com' or emails.value co 'example.org'))",
        ),
        (
            'userType ne "Employee" and not (emails co "example.com" or '
            'emails.value co "example.org")',
            "(userType ne 'Employee' and "
            "not (emails.value co 'example.com' or emails.value co 'example.org'))",
        ),
        (
            'userType eq "Employee" and (emails.type eq "work")',
            f"(userType eq 'Employee' and {EMAIL_TYPE_WORK})",
        ),
        (
            'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
            "(userType eq 'Employee' and "
            f"emails[({EMAIL_TYPE_WORK} and emails.value co '@example.com')])",
        ),
        (
            'emails[type eq "work" and value co "@example.com"] or '
            'ims[type eq "xmpp" and value co "@foo.com"]',
            f"(emails[({EMAIL_TYPE_WORK} and emails.value co '@example.com')] or "
            "ims[(ims.type eq 'xmpp' and ims.value co '@foo.com')])",
        ),
    ],
)
def test_rfc7644_examples_parse_and_bind(text: str, bound: str) -> None:
    assert user(text) == bound


def test_every_comparison_operator() -> None:
    for op in ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"):
        assert user(f'userName {op} "x"') == f"userName {op} 'x'"


def test_attributes_resolve_to_canonical_schema_objects() -> None:
    node = parse_filter('name.givenName eq "Barbara"', USER_TYPE)
    assert isinstance(node, Compare)
    assert node.attr.urn is None
    assert node.attr.attribute is USER_TYPE.schema.attribute("name")
    assert node.attr.sub is USER_TYPE.schema.attribute("name").sub("givenName")


# ------------------------------------------------- precedence and grouping


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("title pr or nickName pr and locale pr", "(title pr or (nickName pr and locale pr))"),
        ("title pr and nickName pr or locale pr", "((title pr and nickName pr) or locale pr)"),
        ("not title pr and nickName pr", "(not title pr and nickName pr)"),
        ("not title pr or nickName pr", "(not title pr or nickName pr)"),
        ("(title pr or nickName pr) and locale pr", "((title pr or nickName pr) and locale pr)"),
        ("not (title pr or nickName pr)", "not (title pr or nickName pr)"),
        ("not(title pr)", "not title pr"),
        ("not not title pr", "not not title pr"),
        ("((((title pr))))", "title pr"),
        ("title pr and (nickName pr)", "(title pr and nickName pr)"),
    ],
)
def test_precedence_is_not_then_and_then_or(text: str, bound: str) -> None:
    assert user(text) == bound


def test_chains_are_balanced_trees_of_the_same_terms() -> None:
    terms = [f"{a} pr" for a in ("title", "nickName", "locale", "timezone", "userType")]
    assert user(" or ".join(terms[:3])) == "((title pr or nickName pr) or locale pr)"
    assert user(" and ".join(terms[:4])) == (
        "((title pr and nickName pr) and (locale pr and timezone pr))"
    )

    def depth(node: Filter) -> int:
        if isinstance(node, And | Or):
            return 1 + max(depth(node.left), depth(node.right))
        return 0

    long_chain = parse_filter(" or ".join(["title pr"] * 300), USER_TYPE)
    assert depth(long_chain) == 9  # ceil(log2(300)): evaluators need not recurse 300 deep


# ------------------------------------------------------------- value paths


def test_names_inside_a_value_path_are_sub_attributes_of_the_outer_one() -> None:
    node = parse_filter('emails[type eq "work" and primary eq true]', USER_TYPE)
    assert isinstance(node, ValuePath)
    assert node.attr.attribute.name == "emails" and node.attr.sub is None
    assert show(node.filter) == f"({EMAIL_TYPE_WORK} and emails.primary eq True)"
    assert isinstance(node.filter, And) and isinstance(node.filter.left, Compare)
    assert node.filter.left.attr.attribute is node.attr.attribute


def test_value_path_inner_grammar_has_not_parentheses_and_pr() -> None:
    assert user('emails[not (type eq "work") or display pr]') == (
        f"emails[(not {EMAIL_TYPE_WORK} or emails.display pr)]"
    )


def test_value_path_on_an_extension_attribute_keeps_its_urn() -> None:
    group = parse_filter('members[value eq "2819c223"]', GROUP_TYPE)
    assert show(group) == "members[members.value eq '2819c223']"
    assert user(f"{ENTERPRISE_USER}:manager.value pr") == f"{ENTERPRISE_USER}:manager.value pr"


def test_value_path_combines_with_other_expressions() -> None:
    assert user('userName sw "b" and not emails[type eq "home"]') == (
        "(userName sw 'b' and not emails[emails.type eq 'home'])"
    )


# ------------------------------------------------------ case-insensitivity


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ('USERNAME EQ "bjensen"', "userName eq 'bjensen'"),
        ('username Eq "BJensen"', "userName eq 'BJensen'"),
        ('Name.GIVENNAME sW "b"', "name.givenName sw 'b'"),
        ('EMAILS[Type EQ "work"]', f"emails[{EMAIL_TYPE_WORK}]"),
        ("NOT (title PR) AND nickName Pr", "(not title pr and nickName pr)"),
        ("title pr OR nickName pr", "(title pr or nickName pr)"),
        ("active eq TRUE", "active eq True"),
        ("active eq False", "active eq False"),
        ("title eq NULL", "title eq None"),
        ('URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME eq "x"', "userName eq 'x'"),
        ('META.RESOURCETYPE eq "User"', "meta.resourceType eq 'User'"),
    ],
)
def test_names_operators_and_words_are_case_insensitive(text: str, bound: str) -> None:
    assert user(text) == bound


def test_string_values_keep_their_case() -> None:
    assert user('userName eq "BJensen"') == "userName eq 'BJensen'"


# ---------------------------------------------------------------- leniency


def test_entra_unquoted_value_is_a_string() -> None:
    assert user("externalId eq jyoung") == "externalId eq 'jyoung'"
    assert user("userName eq jyoung@contoso.com and active eq true") == (
        "(userName eq 'jyoung@contoso.com' and active eq True)"
    )
    assert user("(externalId eq jyoung)") == "externalId eq 'jyoung'"


def test_a_bare_timestamp_is_a_datetime() -> None:
    assert user("meta.created ge 2011-05-13T04:42:34Z") == f"meta.created ge {T0!r}"


@pytest.mark.parametrize("word", ["and", "or", "not", "eq", "pr", "GT"])
def test_a_bare_keyword_is_not_a_value(word: str) -> None:
    with pytest.raises(InvalidFilter, match="expected a value"):
        parse_filter(f"externalId eq {word}", USER_TYPE)


def test_whitespace_is_flexible() -> None:
    assert user('  userName\teq\n"x"  ') == "userName eq 'x'"
    assert user('(userName eq "x")and(title pr)') == "(userName eq 'x' and title pr)"
    assert user('emails [type eq "work"]') == f"emails[{EMAIL_TYPE_WORK}]"


# ---------------------------------------------------- literals and binding


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r'"back\\slash"', "back\\slash"),
        (r'"\/\b\f\n\r\t"', "/\b\f\n\r\t"),
        (r'"caf\u00e9"', "café"),
        (r'"\ud83d\ude00"', "\U0001f600"),
        ('"tab\there"', "tab\there"),  # a raw control character is tolerated
        ('""', ""),
        ('"(not) [a] path"', "(not) [a] path"),
    ],
)
def test_json_string_literals(literal: str, value: str) -> None:
    node = parse_filter(f"userName eq {literal}", USER_TYPE)
    assert isinstance(node, Compare) and node.value == value


def test_a_number_compared_to_a_string_is_its_written_form() -> None:
    assert user("userName eq 12.50") == "userName eq '12.50'"
    assert user(f"{ENTERPRISE_USER}:employeeNumber eq 701984") == (
        f"{ENTERPRISE_USER}:employeeNumber eq '701984'"
    )


def test_numbers_coerce_to_int_and_decimal() -> None:
    assert device("ports eq 8") == "ports eq 8"
    assert device("ports gt -1") == "ports gt -1"
    assert device("ports eq 1e3") == "ports eq 1000"
    assert device('ports eq "16"') == "ports eq 16"
    assert device("weight le 1.25") == f"weight le {Decimal('1.25')!r}"
    assert device("weight eq 2") == f"weight eq {Decimal('2')!r}"
    assert device(f"{EXT}:rack eq 4") == f"{EXT}:rack eq 4"


@pytest.mark.parametrize("text", ["true", "TRUE", '"true"', '"True"', "True"])
def test_booleans_accept_literals_and_strings(text: str) -> None:
    assert user(f"active eq {text}") == "active eq True"


@pytest.mark.parametrize(
    ("literal", "instant"),
    [
        ('"2011-05-13T04:42:34Z"', T0),
        ('"2011-05-13T06:42:34+02:00"', T0),
        ('"2011-05-13T04:42:34"', T0),  # no offset: UTC
        ('"2011-05-13T04:42:34.500Z"', T0 + timedelta(milliseconds=500)),
        ('"2011-05-13"', datetime(2011, 5, 13, tzinfo=UTC)),
    ],
)
def test_datetimes_become_aware_utc_instants(literal: str, instant: datetime) -> None:
    node = parse_filter(f"meta.created eq {literal}", USER_TYPE)
    assert isinstance(node, Compare) and isinstance(node.value, datetime)
    assert node.value == instant
    assert node.value.utcoffset() == timedelta(0)


def test_datetime_offsets_are_normalised_to_utc() -> None:
    node = parse_filter('meta.created eq "2011-05-13T00:00:00-05:00"', USER_TYPE)
    assert isinstance(node, Compare) and node.value == datetime(
        2011, 5, 13, tzinfo=timezone(timedelta(hours=-5))
    )
    assert isinstance(node.value, datetime) and node.value.tzinfo is UTC


def test_null_binds_as_none_for_eq_and_ne() -> None:
    assert user("title eq null") == "title eq None"
    assert user("title ne null") == "title ne None"
    # a presence test, so a bare complex attribute stays whole, as with pr
    assert user("name eq null") == "name eq None"
    assert user("emails ne null") == "emails ne None"


def test_bare_complex_attribute_compares_its_value_sub_attribute() -> None:
    assert user('emails co "x"') == "emails.value co 'x'"
    assert user(f'{ENTERPRISE_USER}:manager eq "26118915"') == (
        f"{ENTERPRISE_USER}:manager.value eq '26118915'"
    )
    assert show(parse_filter('members eq "x"', GROUP_TYPE)) == "members.value eq 'x'"


def test_pr_on_a_bare_complex_attribute_keeps_it_whole() -> None:
    assert user("emails pr") == "emails pr"
    assert user("name pr") == "name pr"


@pytest.mark.parametrize(
    "text",
    [
        'id eq "2819c223-7f76-453a-919d-413861904646"',
        'externalId eq "701984"',
        'meta.resourceType eq "User"',
        'meta.created gt "2011-05-13T04:42:34Z"',
        'meta.lastModified lt "2011-05-13T04:42:34Z"',
        'meta.version eq "W/\\"3694e05e9dff590\\""',
        'meta.location sw "https://example.com/"',
        'urn:ietf:params:scim:schemas:core:2.0:User:id eq "x"',
    ],
)
def test_common_attributes_are_filterable(text: str) -> None:
    node = parse_filter(text, USER_TYPE)
    assert isinstance(node, Compare) and node.attr.urn is None


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        (
            f'{ENTERPRISE_USER}:employeeNumber eq "701984"',
            f"{ENTERPRISE_USER}:employeeNumber eq '701984'",
        ),
        (
            f'{ENTERPRISE_USER}:manager.value eq "26118915"',
            f"{ENTERPRISE_USER}:manager.value eq '26118915'",
        ),
        (
            'urn:scim:schemas:extension:enterprise:2.0:department eq "Tour"',
            f"{ENTERPRISE_USER}:department eq 'Tour'",
        ),
        ('urn:scim:schemas:core:2.0:name.givenName eq "B"', "name.givenName eq 'B'"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:costCenter pr",
            f"{ENTERPRISE_USER}:costCenter pr",
        ),
    ],
)
def test_urn_qualified_and_legacy_names(text: str, bound: str) -> None:
    assert user(text) == bound


def test_extension_attributes_carry_their_schema_urn() -> None:
    node = parse_filter(f'{ENTERPRISE_USER}:employeeNumber eq "1"', USER_TYPE)
    assert isinstance(node, Compare) and node.attr.urn == ENTERPRISE_USER


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        # syntax
        ("", "empty"),
        ("   ", "empty"),
        ("userName", "expected an operator"),
        ('userName "x"', "expected an operator"),
        ('userName equals "x"', "expected an operator"),
        ("userName eq", "expected a value"),
        ("userName eq (", "expected a value"),
        ('userName eq "x" title pr', "expected 'and', 'or' or the end"),
        ('userName eq "x" and', "expected an attribute"),
        ('userName eq "x" or or title pr', "expected an attribute"),
        ('(userName eq "x"', "expected 'and', 'or' or ')'"),
        ('userName eq "x")', "found ')'"),
        ("()", "expected an attribute"),
        ("not", "expected an attribute"),
        ("title pr and not", "expected an attribute"),
        ('emails[type eq "work"', "expected 'and', 'or' or ']'"),
        ('emails[type eq "work"]]', "found ']'"),
        ("emails[]", "expected an attribute"),
        ('emails[type eq "work"].value eq "x"', "found '.value'"),
        ('"userName" eq "x"', "expected an attribute"),
        ('userName eq "unterminated', "unterminated string"),
        ('userName eq "bad \\x escape"', "invalid escape"),
        ('userName eq "\\u12"', "invalid escape"),
        ('userName eq "nul \\u0000"', "NUL"),
        ('userName eq "\\ud800"', "surrogate"),
        # names
        ('nosuch eq "x"', "unknown attribute 'nosuch'"),
        ('name.nosuch eq "x"', "no sub-attribute 'nosuch'"),
        ('userName.sub eq "x"', "has no sub-attributes"),
        ('name.givenName.more eq "x"', "invalid attribute path"),
        ('user-name! eq "x"', "invalid attribute path"),
        ('1userName eq "x"', "invalid attribute path"),
        ('urn:example:unknown:2.0:User:userName eq "x"', "unknown schema"),
        (f"{ENTERPRISE_USER} pr", "is a schema, not an attribute"),
        (f'{ENTERPRISE_USER}:userName eq "x"', "unknown attribute 'userName'"),
        ('members eq "x"', "unknown attribute 'members'"),
        ('password eq "secret"', "never returned"),
        ("password pr", "never returned"),
        # value paths
        ('emails[emails[type eq "work"]]', "cannot be nested"),
        ('emails[emails.type eq "work"]', "expected a sub-attribute"),
        ('emails[nosuch eq "work"]', "no sub-attribute 'nosuch'"),
        ('name[givenName eq "x"]', "not a multi-valued complex"),
        ('userName[value eq "x"]', "not a multi-valued complex"),
        ('schemas[value eq "x"]', "not a multi-valued complex"),
        ('emails.value[type eq "x"]', "applies to an attribute"),
        # operators against types
        ('name eq "x"', "complex: name a sub-attribute"),
        ("active co true", "'co' needs a string"),
        ('meta.created sw "2011"', "'sw' needs a string"),
        ('x509Certificates.value ew "=="', "'ew' needs a string"),
        ("active gt true", "'gt' cannot order boolean"),
        ('x509Certificates le "AA=="', "'le' cannot order binary"),
        # values against types
        ("title gt null", "null can only be compared"),
        ("title pr null", "expected 'and', 'or' or the end"),
        ("title co null", "null can only be compared"),
        ("emails co null", "null can only be compared"),
        ("name gt NULL", "null can only be compared"),
        ("userName eq true", "not a boolean"),
        ("active eq 1", "expected true or false"),
        ('active eq "yes"', "expected true or false"),
        ('meta.created gt "yesterday"', "dateTime"),
        ("meta.created gt 20110513", "dateTime"),
        ('meta.created gt "2011-13-45T00:00:00Z"', "dateTime"),
        ("meta.created eq true", "dateTime"),
    ],
)
def test_bad_filters_raise_invalid_filter(text: str, detail: str) -> None:
    with pytest.raises(InvalidFilter, match=_literal(detail)):
        parse_filter(text, USER_TYPE)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("ports eq 1.5", "64-bit integer"),
        ("ports eq 1e40", "64-bit integer"),
        ("ports eq 1e999999999", "64-bit integer"),
        ("weight eq 1e1001", "out of range"),
        ("weight eq -1e-1001", "out of range"),
        ("ports co 1", "'co' needs a string"),
        ('ports eq "many"', "expected a number"),
        ("ports eq true", "expected a number"),
        ("weight eq null1", "expected a number"),
        ('firmware sw "AA"', "'sw' needs a string"),
        ('tags[value eq "x"]', "not a multi-valued complex"),
        ("location eq 1", "complex: name a sub-attribute"),
    ],
)
def test_bad_typed_comparisons_raise_invalid_filter(text: str, detail: str) -> None:
    with pytest.raises(InvalidFilter, match=_literal(detail)):
        parse_filter(text, DEVICE_TYPE)


def test_errors_say_where() -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter('userName eq "x" and nosuch pr', USER_TYPE)
    assert info.value.detail == "unknown attribute 'nosuch' in User at position 21"
    assert info.value.to_scim()["scimType"] == "invalidFilter"


def test_length_is_limited() -> None:
    padded = 'userName eq "' + "x" * (MAX_LENGTH - 14) + '"'
    assert len(padded) == MAX_LENGTH
    parse_filter(padded, USER_TYPE)
    with pytest.raises(InvalidFilter, match="longer than 4096"):
        parse_filter(padded + " ", USER_TYPE)


def test_nesting_is_limited() -> None:
    ok = "(" * MAX_DEPTH + "title pr" + ")" * MAX_DEPTH
    assert user(ok) == "title pr"
    for deep in (
        "(" * (MAX_DEPTH + 1) + "title pr" + ")" * (MAX_DEPTH + 1),
        "not " * (MAX_DEPTH + 1) + "title pr",
        "(" * 2000,
        "not " * 1000,
    ):
        with pytest.raises(InvalidFilter, match="nesting deeper"):
            parse_filter(deep, USER_TYPE)


def test_non_string_input_is_an_invalid_filter() -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(None, USER_TYPE)  # type: ignore[arg-type]


# ------------------------------------------------------------------ fuzzing

_VALID = [
    'userName eq "bjensen"',
    'name.familyName co "O\'Malley"',
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]',
    'userType ne "Employee" and not (emails co "example.com")',
    f'{ENTERPRISE_USER}:manager.value eq "x"',
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    "externalId eq jyoung",
    'addresses[type eq "work"].streetAddress',
    'members[value eq "2819c223"]',
    "active eq true",
]
_PIECES = [
    *"()[]\"\\ .:$-",
    "eq", "ne", "co", "sw", "gt", "le", "pr", "and", "or", "not", "true", "null",
    "1", "-0.5e3", "1e99999", "userName", "emails", "value", "type", "name", "givenName",
    "meta", "created", "password", "members", f"{ENTERPRISE_USER}:", '"x"', '"\\ud800"',
    "\u00a0", "\t", "\x00", "\ud800", "\U0001f600", '"2011-05-13T04:42:34Z"',
]  # fmt: skip


def _mutant(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(
            rng.choice(_PIECES) + rng.choice(("", " ")) for _ in range(rng.randint(0, 9))
        )
    chars = list(rng.choice(_VALID))
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars) + 1)
        roll = rng.random()
        if roll < 0.3 and chars:
            del chars[min(at, len(chars) - 1)]
        elif roll < 0.6:
            chars.insert(at, rng.choice(_PIECES))
        elif roll < 0.8 and chars:
            chars[min(at, len(chars) - 1)] = rng.choice(_PIECES)
        else:
            chars.insert(at, chr(rng.randrange(0x110000)))
    return "".join(chars)


@pytest.mark.parametrize("seed", range(4))
def test_random_input_only_ever_raises_invalid_filter_or_invalid_path(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2500):
        text = _mutant(rng)
        for rtype in (USER_TYPE, GROUP_TYPE):
            with contextlib.suppress(InvalidFilter):
                parse_filter(text, rtype)
            with contextlib.suppress(InvalidPath, InvalidFilter):
                parse_path(text, rtype)


# -------------------------------------------------------------- PATCH paths


def path(text: str, rtype: ResourceType = USER_TYPE) -> str:
    return show(parse_path(text, rtype))


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("userName", "userName -"),
        ("name.familyName", "name.familyName -"),
        ("NAME.FAMILYNAME", "name.familyName -"),
        ("emails", "emails -"),
        ("name", "name -"),
        ("password", "password -"),
        ("active", "active -"),
        ('emails[type eq "work"]', f"emails {EMAIL_TYPE_WORK}"),
        ('emails[type eq "work"].value', f"emails.value {EMAIL_TYPE_WORK}"),
        (
            'addresses[type eq "work"].streetAddress',
            "addresses.streetAddress addresses.type eq 'work'",
        ),
        (
            'emails[type eq "work" and primary eq true].display',
            (f"emails.display ({EMAIL_TYPE_WORK} and emails.primary eq True)"),
        ),
        (f"{ENTERPRISE_USER}:employeeNumber", f"{ENTERPRISE_USER}:employeeNumber -"),
        (f"{ENTERPRISE_USER}:manager", f"{ENTERPRISE_USER}:manager -"),
        (f"{ENTERPRISE_USER}:manager.value", f"{ENTERPRISE_USER}:manager.value -"),
        ("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName", "name.givenName -"),
        (
            'urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value',
            f"emails.value {EMAIL_TYPE_WORK}",
        ),
        ("urn:scim:schemas:extension:enterprise:2.0:department", f"{ENTERPRISE_USER}:department -"),
        ("urn:scim:schemas:core:2.0:displayName", "displayName -"),
        ("externalId", "externalId -"),
        ("emails[value eq jyoung@contoso.com]", "emails emails.value eq 'jyoung@contoso.com'"),
        ('emails[not (type eq "work")]', f"emails not {EMAIL_TYPE_WORK}"),
    ],
)
def test_patch_paths(text: str, bound: str) -> None:
    assert path(text) == bound


def test_group_member_paths() -> None:
    assert path('members[value eq "2819c223-7f76"]', GROUP_TYPE) == (
        "members members.value eq '2819c223-7f76'"
    )
    assert path("members", GROUP_TYPE) == "members -"
    assert path('members[value eq "x"].display', GROUP_TYPE) == (
        "members.display members.value eq 'x'"
    )


def test_patch_path_target_and_filter_objects() -> None:
    parsed = parse_path(f"{ENTERPRISE_USER}:manager.value", USER_TYPE)
    assert parsed.target.urn == ENTERPRISE_USER and parsed.filter is None
    assert parsed.target.sub is not None and parsed.target.sub.name == "value"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "empty"),
        ("nosuch", "unknown attribute"),
        ("name.nosuch", "no sub-attribute"),
        ("userName.x", "has no sub-attributes"),
        ("name.givenName.x", "invalid attribute path"),
        ("urn:example:nope:userName", "unknown schema"),
        (ENTERPRISE_USER, "is a schema, not an attribute"),
        ("userName eq", "expected the end of the path or '['"),
        ('userName[value eq "x"]', "not a multi-valued complex"),
        ('name[givenName eq "x"]', "not a multi-valued complex"),
        ('emails.value[type eq "work"]', "applies to an attribute"),
        ('emails[type eq "work"]value', "expected '.subAttribute'"),
        ('emails[type eq "work"].nosuch', "no sub-attribute 'nosuch'"),
        ('emails[type eq "work"].value.x', "expected '.subAttribute'"),
        ('emails[type eq "work"].value[type pr]', "expected the end of the path"),
        ('emails[type eq "work"] or title pr', "expected '.subAttribute'"),
        ("(userName)", "expected an attribute path"),
        ('"userName"', "expected an attribute path"),
    ],
)
def test_bad_paths_raise_invalid_path(text: str, detail: str) -> None:
    with pytest.raises(InvalidPath, match=_literal(detail)):
        parse_path(text, USER_TYPE)


@pytest.mark.parametrize(
    "text",
    [
        "emails[type eq]",
        "emails[nosuch pr]",
        'emails[emails[type eq "work"]]',
        "emails[primary co true]",
        'emails[type eq "work" and]',
        'emails[type eq "work"',
        'emails[type eq "work',
        'emails[value eq "a\u0000b"]',
    ],
)
def test_bad_filters_inside_a_path_raise_invalid_filter(text: str) -> None:
    # RFC 7644 Table 9 lists invalidFilter for "PATCH (Path filter)".
    with pytest.raises(InvalidFilter):
        parse_path(text, USER_TYPE)


def test_path_length_is_limited() -> None:
    with pytest.raises(InvalidPath, match="longer than"):
        parse_path("a" * (MAX_LENGTH + 1), USER_TYPE)
