"""Bad inputs: each one gets the right status and a SCIM error body, and writes nothing.

Each case is a request a client could really send: malformed or non-UTF-8 JSON, JSON that
is not an object, duplicate keys, absurd nesting, huge or NUL-bearing strings, wrong
types, unknown attributes, bad filters and PATCH paths, bad paging/sorting/cursor
parameters, wrong media types, wrong methods, unknown paths and bad credentials. For every
one the answer must be:

* the HTTP status the RFCs give (RFC 7644 §3.12, RFC 9865 §3, RFC 9110, RFC 6750), never 500;
* a SCIM error body: ``schemas`` is the Error URN, ``status`` the status *as a string*, a
  non-empty ``detail``, and ``scimType`` exactly when RFC 7644 Table 9 (or RFC 9865's
  ``invalidCursor``) defines one for the failure, absent otherwise (401, 404, 405, 412,
  413, 415, 501);
* no traceback, exception class name, module path or SQL in the body;
* nothing written: the organization's users and groups (documents, ``meta.version``,
  memberships) read back exactly as they were before the request.

Judgement calls (where the RFCs leave room) are stated next to the cases they decide.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from conftest import ENTERPRISE, GROUP, PATCH_OP, USER, Scim
from flask.testing import FlaskClient
from sqlalchemy import delete

from scimserver_plugins.sql.tables import integrations

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
LIMIT = 65536  # [server] max_payload_bytes in conftest.backend_config
MISSING_ID = "00000000-0000-4000-8000-000000000000"

# RFC 7644 Table 9 plus RFC 9865 §3 (invalidCursor, expiredCursor).
SCIM_TYPES = {
    "invalidFilter",
    "tooMany",
    "uniqueness",
    "mutability",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "invalidValue",
    "invalidVers",
    "sensitive",
    "invalidCursor",
    "expiredCursor",
}

# A value nested hundreds of levels deep where a string is expected is wrong twice over:
# the type is wrong (invalidValue) and the nesting is beyond any SCIM document
# (invalidSyntax, if the server caps depth while parsing). Both are right answers; this
# is the only place the corpus accepts two.
DEEP_VALUE = frozenset({"invalidValue", "invalidSyntax"})

_INTERNALS = re.compile(
    r"Traceback|File \"|line \d+, in |<[\w.]+ object at 0x|\b\w+(?:Error|Exception)\b"
    r"|sqlalchemy|psycopg|sqlite3|marshmallow|werkzeug|scimserver[._]|\w\.py\b"
    r"|Background on this error|\bSELECT\b|\bINSERT\b|\bUPDATE\b"
)


def J(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_patch(depth: int) -> str:
    """A PatchOp whose value nests ``depth`` arrays."""
    return (
        '{"schemas":["'
        + PATCH_OP
        + '"],"Operations":[{"op":"add","value":{"deep":'
        + deep(depth)
        + "}}]}"
    )


def ops(*operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations), **extra}


_NO_VALUE = object()


def op(name: str, path: str | None = None, value: Any = _NO_VALUE) -> dict[str, Any]:
    out: dict[str, Any] = {"op": name}
    if path is not None:
        out["path"] = path
    if value is not _NO_VALUE:
        out["value"] = value
    return out


# --------------------------------------------------------------------------- checks


def assert_scim_error(r: Any, status: int, scim_type: str | frozenset[str] | None) -> dict:
    """The response is a clean SCIM error with this status and scimType."""
    raw = r.get_data()
    shown = raw[:700]
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {shown!r}"
    assert r.mimetype == "application/scim+json", (r.mimetype, shown)
    text = raw.decode("utf-8")  # strict: the body itself must be valid UTF-8
    body = json.loads(text)
    assert isinstance(body, dict), shown
    assert body.get("schemas") == [ERROR], shown
    assert body.get("status") == str(status), shown
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), shown
    assert set(body) <= {"schemas", "status", "scimType", "detail"}, shown
    if scim_type is None:
        assert "scimType" not in body, shown
    elif isinstance(scim_type, frozenset):
        assert body.get("scimType") in scim_type, shown
    else:
        assert scim_type in SCIM_TYPES
        assert body.get("scimType") == scim_type, shown
    leaked = _INTERNALS.search(text)
    assert leaked is None, f"internals in the error body ({leaked[0]!r}): {shown!r}"
    return body


@dataclass
class World:
    """One organization with known content, and a second token to read it back with."""

    scim: Scim  # the onelogin integration: the token the bad requests use
    reader: Scim  # a second integration of the same organization
    ada: dict[str, Any]
    taken: dict[str, Any]
    team: dict[str, Any]
    taken_group: dict[str, Any]
    before: Any = None

    @property
    def ids(self) -> dict[str, str]:
        return {
            "@ADA@": self.ada["id"],
            "@TAKEN@": self.taken["id"],
            "@TEAM@": self.team["id"],
            "@TAKENGROUP@": self.taken_group["id"],
            "@MISSING@": MISSING_ID,
        }

    def fill(self, text: str) -> str:
        for key, value in self.ids.items():
            text = text.replace(key, value)
        return text

    def state(self) -> Any:
        out = []
        for path in ("/Users?count=200", "/Groups?count=200"):
            r = self.reader.get(path)
            assert r.status_code == 200, r.get_data(as_text=True)
            out.append(sorted(r.get_json()["Resources"], key=lambda d: d["id"]))
        return out

    def assert_unchanged(self) -> None:
        after = self.state()
        assert len(after[0]) == len(self.before[0]), "a user was created or removed"
        assert len(after[1]) == len(self.before[1]), "a group was created or removed"
        assert after == self.before, "a failed request changed stored data"
        for kind, doc in (("Users", self.ada), ("Groups", self.team)):
            r = self.reader.get(f"/{kind}/{doc['id']}")
            assert r.status_code == 200
            assert r.headers["ETag"] == doc["meta"]["version"] == r.get_json()["meta"]["version"]


@pytest.fixture
def world(scim: Scim) -> World:
    tenancy = scim.app.extensions["scimserver"].tenancy
    _, token = tenancy.issue_token(scim.org, "reader", regenerate=False)
    reader = Scim(scim.app, token, scim.org)
    ada = scim.user(
        "ada@example.com",
        displayName="Ada Lovelace",
        nickName="ada",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        emails=[{"value": "ada@example.com", "type": "work", "primary": True}],
        active=True,
        **{ENTERPRISE: {"employeeNumber": "1815"}},
    )
    taken = scim.user("taken@example.com")
    team = scim.group("Team", [ada["id"]])
    taken_group = scim.group("Taken")
    w = World(scim, reader, ada, taken, team, taken_group)
    w.before = w.state()
    return w


# --------------------------------------------------------------------------- corpus


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


@dataclass(frozen=True)
class Bad:
    """One bad request body: JSON text (``@ADA@``-style ids filled in), encoded."""

    name: str
    text: str
    status: int = 400
    scim_type: str | frozenset[str] | None = "invalidSyntax"
    headers: dict[str, str] = field(default_factory=dict)
    encode: Callable[[str], bytes] = _utf8
    raw: bytes | None = None  # bytes that are not any text (invalid UTF-8)

    def payload(self, w: World) -> bytes:
        if self.raw is not None:
            data = self.raw
            for key, value in w.ids.items():
                data = data.replace(key.encode(), value.encode())
            return data
        return self.encode(w.fill(self.text))


def bad(name: str, body: Any, status: int = 400, scim_type: Any = "invalidSyntax", **kw) -> Bad:
    return Bad(name, body if isinstance(body, str) else J(body), status, scim_type, **kw)


def rawbad(name: str, raw: bytes, status: int = 400, scim_type: Any = "invalidSyntax") -> Bad:
    return Bad(name, "", status, scim_type, raw=raw)


def params(cases: list[Bad]) -> list[Any]:
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    return [pytest.param(c, id=c.name) for c in cases]


@dataclass(frozen=True)
class Endpoint:
    """A body-taking endpoint and how to build the generic bad bodies for it."""

    name: str
    method: str
    path: str
    valid: dict[str, Any]
    # The valid body with {} where one string literal goes (for syntax-level damage).
    slot: str
    slot_value: str
    duplicates: tuple[tuple[str, str], ...]
    deep: Callable[[int], str]  # a body nesting ``depth`` levels where only syntax is wrong


def _user_body(user_name: str) -> dict[str, Any]:
    return {"schemas": [USER], "userName": user_name, "nickName": "x"}


ENDPOINTS = [
    Endpoint(
        "post-users",
        "POST",
        "/Users",
        _user_body("new@example.com"),
        '{"schemas":["' + USER + '"],"userName":"new@example.com","nickName":{}}',
        "x",
        (
            (
                "userName",
                '{"schemas":["' + USER + '"],"userName":"a@example.com",'
                '"userName":"b@example.com"}',
            ),
            # Attribute names are case-insensitive (RFC 7643 §2.1): the same attribute twice.
            (
                "userName-case-variant",
                '{"schemas":["' + USER + '"],"userName":"a@example.com",'
                '"USERNAME":"b@example.com"}',
            ),
            (
                "nested",
                '{"schemas":["' + USER + '"],"userName":"a@example.com",'
                '"name":{"givenName":"A","givenName":"B"}}',
            ),
        ),
        lambda d: (
            '{"schemas":["' + USER + '"],"userName":"deep@example.com","deep":' + deep(d) + "}"
        ),
    ),
    Endpoint(
        "put-user",
        "PUT",
        "/Users/@ADA@",
        _user_body("ada@example.com"),
        '{"schemas":["' + USER + '"],"userName":"ada@example.com","nickName":{}}',
        "x",
        (
            (
                "nickName",
                '{"schemas":["' + USER + '"],"userName":"ada@example.com",'
                '"nickName":"a","nickName":"b"}',
            ),
            (
                "userName-case-variant",
                '{"schemas":["' + USER + '"],"userName":"ada@example.com",'
                '"username":"other@example.com"}',
            ),
        ),
        lambda d: (
            '{"schemas":["' + USER + '"],"userName":"ada@example.com","deep":' + deep(d) + "}"
        ),
    ),
    Endpoint(
        "patch-user",
        "PATCH",
        "/Users/@ADA@",
        ops(op("replace", "nickName", "x")),
        '{"schemas":["' + PATCH_OP + '"],"Operations":[{"op":"replace","path":"nickName",'
        '"value":{}}]}',
        "x",
        (
            (
                "Operations",
                '{"schemas":["' + PATCH_OP + '"],"Operations":[{"op":"replace",'
                '"path":"nickName","value":"a"}],"Operations":[{"op":"replace","path":"title",'
                '"value":"b"}]}',
            ),
            (
                "path",
                '{"schemas":["' + PATCH_OP + '"],"Operations":[{"op":"replace",'
                '"path":"nickName","path":"title","value":"a"}]}',
            ),
            (
                "op",
                '{"schemas":["' + PATCH_OP + '"],"Operations":[{"op":"add","op":"remove",'
                '"path":"nickName","value":"a"}]}',
            ),
        ),
        deep_patch,
    ),
    Endpoint(
        "patch-group",
        "PATCH",
        "/Groups/@TEAM@",
        ops(op("replace", "displayName", "x")),
        '{"schemas":["' + PATCH_OP + '"],"Operations":[{"op":"replace","path":"displayName",'
        '"value":{}}]}',
        "x",
        (
            (
                "value",
                '{"schemas":["' + PATCH_OP + '"],"Operations":[{"op":"add",'
                '"path":"members","value":[{"value":"@TAKEN@"}],"value":[]}]}',
            ),
            (
                "member-value",
                '{"schemas":["' + PATCH_OP + '"],"Operations":[{"op":"add",'
                '"path":"members","value":[{"value":"@TAKEN@","value":"@ADA@"}]}]}',
            ),
        ),
        deep_patch,
    ),
    Endpoint(
        "search-users",
        "POST",
        "/Users/.search",
        {"schemas": [SEARCH], "filter": "userName pr"},
        '{"schemas":["' + SEARCH + '"],"filter":{}}',
        "userName pr",
        (
            (
                "filter",
                '{"schemas":["' + SEARCH + '"],"filter":"userName eq \\"nobody\\"",'
                '"filter":"userName pr"}',
            ),
        ),
        lambda d: '{"schemas":["' + SEARCH + '"],"filter":"userName pr","deep":' + deep(d) + "}",
    ),
    Endpoint(
        "search-root",
        "POST",
        "/.search",
        {"schemas": [SEARCH], "filter": "userName pr"},
        '{"schemas":["' + SEARCH + '"],"filter":{}}',
        "userName pr",
        (("count", '{"schemas":["' + SEARCH + '"],"filter":"userName pr","count":0,"count":10}'),),
        lambda d: '{"schemas":["' + SEARCH + '"],"filter":"userName pr","deep":' + deep(d) + "}",
    ),
]


def envelope_cases(ep: Endpoint) -> list[Bad]:
    """Bad bodies any JSON endpoint must refuse the same way."""
    valid = J(ep.valid)

    def in_slot(literal: str) -> str:
        return ep.slot.replace("{}", literal)

    def in_string(inner: str) -> bytes:
        # ``inner`` spliced, as raw bytes, inside the slot's string literal.
        head, tail = ep.slot.split("{}")
        return (
            (head + '"' + ep.slot_value).encode() + inner.encode("latin-1") + ('"' + tail).encode()
        )

    cases = [
        # RFC 8259 syntax: all 400 invalidSyntax ("The request body message structure was
        # invalid", RFC 7644 Table 9).
        bad("json/empty", ""),
        bad("json/whitespace-only", " \r\n\t "),
        bad("json/truncated", valid[:-1]),
        bad("json/cut-in-half", valid[: len(valid) // 2]),
        bad("json/trailing-comma", valid[:-1] + ",}"),
        bad("json/trailing-garbage", valid + "x"),
        bad("json/two-documents", valid + valid),
        bad("json/single-quotes", valid.replace('"', "'")),
        bad("json/comment", "/* hi */" + valid),
        bad("json/unquoted-key", valid.replace('"schemas"', "schemas", 1)),
        bad("json/bare-word", "undefined"),
        bad("json/xml", "<User><userName>a</userName></User>"),
        bad("json/form-encoded", "userName=a%40example.com"),
        # NaN and Infinity are not JSON (RFC 8259 §6), whatever Python's parser says.
        bad("json/NaN", in_slot("NaN")),
        bad("json/Infinity", in_slot("Infinity")),
        bad("json/minus-Infinity", in_slot("-Infinity")),
        rawbad("json/raw-tab-in-string", in_string("\t")),
        rawbad("json/raw-newline-in-string", in_string("\n")),
        rawbad("json/raw-nul-in-string", in_string("\x00")),
        rawbad("json/raw-nul-after-document", valid.encode() + b"\x00"),
        # JSON text exchanged between systems MUST be UTF-8 (RFC 8259 §8.1).
        rawbad("utf8/invalid-start-byte", in_string("\xff")),
        rawbad("utf8/latin-1-e-acute", in_string("\xe9")),
        rawbad("utf8/overlong-slash", in_string("\xc0\xaf")),
        rawbad("utf8/encoded-surrogate", in_string("\xed\xa0\x80")),
        rawbad("utf8/truncated-sequence", in_string("\xe2\x82")),
        rawbad("utf8/beyond-unicode", in_string("\xf4\x90\x80\x80")),
        bad("encoding/utf-16-le", valid, encode=lambda t: t.encode("utf-16-le")),
        bad("encoding/utf-16-be", valid, encode=lambda t: t.encode("utf-16-be")),
        bad("encoding/utf-16-bom", valid, encode=lambda t: t.encode("utf-16")),
        bad("encoding/utf-32", valid, encode=lambda t: t.encode("utf-32")),
        # A JSON value that is not the object every SCIM message is (RFC 7644 §3.1).
        bad("not-object/array", "[]"),
        bad("not-object/array-of-the-body", "[" + valid + "]"),
        bad("not-object/string", J(valid)),
        bad("not-object/number", "42"),
        bad("not-object/true", "true"),
        bad("not-object/null", "null"),
        # Absurd nesting: refused as structure, never a RecursionError (500).
        bad("nesting/top-level-30000", deep(30000)),
        bad("nesting/inside-30000", ep.deep(30000)),
        bad("nesting/inside-600", ep.deep(600)),
        bad(
            "nesting/objects-inside-600", ep.deep(1).replace("[]", '{"a":' * 600 + "1" + "}" * 600)
        ),
        # Above maxPayloadSize: 413 before any parsing, however well-formed.
        bad(
            "size/whitespace-padded-1-over",
            valid + " " * (LIMIT + 1 - len(valid)),
            413,
            None,
        ),
        bad("size/garbage-1mb", "x" * (1 << 20), 413, None),
        bad("size/valid-json-70kb", in_slot(J("p" * 70000)), 413, None),
        # Not a JSON media type: 415 (RFC 7644 §3.1 requires application/scim+json; plain
        # application/json is accepted too, as Okta sends it).
        *(
            bad(f"media-type/{kind}", valid, 415, None, headers={"Content-Type": kind})
            for kind in (
                "text/plain",
                "text/html",
                "application/xml",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=xyz",
                "application/octet-stream",
                "application/scim+xml",
                "application/json-seq",
            )
        ),
        # A content coding the server does not decode is 415 as well (RFC 9110 §15.5.16:
        # "The format problem might be due to the request's indicated ... Content-Encoding").
        bad(
            "content-encoding/gzip",
            valid,
            415,
            None,
            headers={"Content-Encoding": "gzip"},
            encode=lambda t: gzip.compress(t.encode()),
        ),
        bad(
            "content-encoding/br",
            valid,
            415,
            None,
            headers={"Content-Encoding": "br"},
        ),
    ]
    # JSON names SHOULD be unique (RFC 8259 §4) and receivers of duplicates behave
    # "unpredictably": the server cannot know which value the client meant, so it refuses.
    cases += [bad(f"duplicate-key/{key}", text) for key, text in ep.duplicates]
    if ep.method == "PATCH":
        # RFC 6902 / RFC 7396 documents are not SCIM PatchOp messages: "unsupported patch
        # document" is 415 (RFC 5789 §2.2), not a 400 about its content.
        cases += [
            bad(
                "media-type/json-patch",
                '[{"op":"replace","path":"/nickName","value":"x"}]',
                415,
                None,
                headers={"Content-Type": "application/json-patch+json"},
            ),
            bad(
                "media-type/merge-patch",
                '{"nickName":"x"}',
                415,
                None,
                headers={"Content-Type": "application/merge-patch+json"},
            ),
        ]
    return cases


ENVELOPE = [
    pytest.param(ep, case, id=f"{ep.name}[{case.name}]")
    for ep in ENDPOINTS
    for case in envelope_cases(ep)
]

HUGE = "h" * 60000  # under maxPayloadSize with its JSON around it
HUGE_WIDE = "é" * 30000  # 60,000 bytes of UTF-8


def resource_cases(user_name: str) -> list[Bad]:
    """POST /Users and PUT /Users/{id}: bodies that are JSON objects but not valid Users."""

    def user(**attrs: Any) -> dict[str, Any]:
        return {"schemas": [USER], "userName": user_name, **attrs}

    iv, isx = "invalidValue", "invalidSyntax"
    return [
        # Required userName (RFC 7643 §4.1): "A required value was missing" (invalidValue).
        bad("userName/missing", {"schemas": [USER], "nickName": "x"}, 400, iv),
        bad("userName/null", user(userName=None), 400, iv),
        bad("userName/empty", user(userName=""), 400, iv),
        bad("userName/boolean", user(userName=True), 400, iv),
        bad("userName/list", user(userName=[user_name]), 400, iv),
        bad("userName/object", user(userName={"value": user_name}), 400, iv),
        # Case-insensitively equal to another user's userName.
        bad("userName/taken", user(userName="TAKEN@example.com"), 409, "uniqueness"),
        # Huge strings in attributes the server indexes and compares: no store keeps an
        # identifier of 60,000 characters, and SQLite and PostgreSQL must not differ about
        # it. Refused as a value the attribute cannot take (invalidValue).
        bad("huge/userName", user(userName=HUGE), 400, iv),
        # Sent unescaped (ensure_ascii=False): 60,000 bytes of UTF-8, under the limit.
        bad(
            "huge/userName-multibyte",
            json.dumps(user(userName=HUGE_WIDE), ensure_ascii=False),
            400,
            iv,
        ),
        bad("huge/externalId", user(externalId=HUGE), 400, iv),
        bad("huge/displayName", user(displayName=HUGE), 400, iv),
        bad("huge/emails-value", user(emails=[{"value": HUGE}]), 400, iv),
        # NUL and lone surrogates parse as JSON but are not storable text (PostgreSQL text
        # refuses NUL; a lone surrogate has no UTF-8 form): invalid values. The filter
        # parser already refuses both; bodies must too, the same on every backend.
        bad("nul/userName", user(userName="nul\u0000@example.com"), 400, iv),
        bad("nul/nickName", user(nickName="a\u0000b"), 400, iv),
        bad("nul/name-givenName", user(name={"givenName": "\u0000"}), 400, iv),
        bad("nul/emails-value", user(emails=[{"value": "a\u0000@example.com"}]), 400, iv),
        bad("nul/enterprise", user(**{ENTERPRISE: {"department": "R\u0000D"}}), 400, iv),
        bad("surrogate/userName", user(userName="\ud800@example.com"), 400, iv),
        bad("surrogate/nickName", user(nickName="x\udfff"), 400, iv),
        # An unknown attribute whose very name is not storable text.
        bad("surrogate/key", user(**{"\ud800": "x"}), 400, isx),
        bad("nul/key", user(**{"user\u0000Name": "x"}), 400, isx),
        # 1e400 is JSON, but no attribute can hold it ("inf" is not what was sent).
        bad(
            "number/overflow-nickName",
            J(user(nickName=1)).replace('"nickName":1', '"nickName":1e400'),
            400,
            iv,
        ),
        # Wrong types (RFC 7643 §2.3): invalidValue.
        bad("type/active-word", user(active="maybe"), 400, iv),
        bad("type/active-number", user(active=2), 400, iv),
        bad("type/active-list", user(active=[True]), 400, iv),
        bad("type/active-object", user(active={"value": True}), 400, iv),
        bad("type/nickName-boolean", user(nickName=False), 400, iv),
        bad("type/nickName-object", user(nickName={"a": 1}), 400, iv),
        bad("type/password-boolean", user(password=True), 400, iv),
        bad("type/name-string", user(name="Ada Lovelace"), 400, iv),
        bad("type/name-list", user(name=[{"givenName": "Ada"}]), 400, iv),
        bad("type/name-givenName-boolean", user(name={"givenName": True}), 400, iv),
        bad("type/name-givenName-object", user(name={"givenName": {"x": 1}}), 400, iv),
        bad("type/emails-boolean", user(emails=True), 400, iv),
        bad("type/emails-nested-list", user(emails=[[{"value": "a@example.com"}]]), 400, iv),
        bad("type/emails-value-boolean", user(emails=[{"value": True}]), 400, iv),
        bad(
            "type/emails-primary-word", user(emails=[{"value": "a@x", "primary": "often"}]), 400, iv
        ),
        bad("type/x509-not-base64", user(x509Certificates=[{"value": "not base64!"}]), 400, iv),
        bad(
            "type/enterprise-employeeNumber-boolean",
            user(**{ENTERPRISE: {"employeeNumber": True}}),
            400,
            iv,
        ),
        # "The primary attribute value true MUST appear no more than once" (RFC 7643 §2.4).
        bad(
            "emails/two-primaries",
            user(
                emails=[
                    {"value": "a@example.com", "primary": True},
                    {"value": "b@example.com", "primary": True},
                ]
            ),
            400,
            iv,
        ),
        # Unknown attributes: the body does not conform to the resource schema
        # (invalidSyntax, RFC 7644 Table 9), the same answer for sub-attributes and
        # extension attributes.
        bad("unknown/attribute", user(nosuch="x"), 400, isx),
        bad("unknown/dotted-key", user(**{"name.givenName": "Ada"}), 400, isx),
        bad("unknown/sub-attribute", user(name={"givenName": "Ada", "nosuch": "x"}), 400, isx),
        bad("unknown/emails-sub-attribute", user(emails=[{"value": "a@x", "nosuch": 1}]), 400, isx),
        bad(
            "unknown/extension-urn",
            user(**{"urn:example:params:scim:ext:1.0:User": {"a": 1}}),
            400,
            isx,
        ),
        bad("unknown/enterprise-attribute", user(**{ENTERPRISE: {"nosuch": "x"}}), 400, isx),
        # An extension URN must hold an object of its attributes: wrong structure.
        bad("structure/enterprise-string", user(**{ENTERPRISE: "R&D"}), 400, isx),
        bad("structure/enterprise-list", user(**{ENTERPRISE: [{"department": "R&D"}]}), 400, isx),
        bad(
            "nesting/known-attribute-600",
            J(user(name={"givenName": "@DEEP@"})).replace('"@DEEP@"', deep(600)),
            400,
            DEEP_VALUE,
        ),
    ]


POST_USERS = params(resource_cases("new@example.com"))
PUT_USER = params(
    [
        *resource_cases("ada@example.com"),
        # If-Match names another version: 412 (RFC 7644 §3.14), no scimType in Table 9.
        bad(
            "if-match/stale",
            _user_body("ada@example.com"),
            412,
            None,
            headers={"If-Match": 'W/"999"'},
        ),
        bad(
            "if-match/garbage",
            _user_body("ada@example.com"),
            412,
            None,
            headers={"If-Match": "not-an-etag"},
        ),
    ]
)


def patch_user_cases() -> list[Bad]:
    iv, isx, ip, ifl = "invalidValue", "invalidSyntax", "invalidPath", "invalidFilter"
    nick = op("replace", "nickName", "changed")  # a valid first step of a failing PATCH
    return [
        # The PatchOp message itself (RFC 7644 §3.5.2): invalidSyntax.
        bad("message/empty-object", {}, 400, isx),
        bad("message/no-operations", {"schemas": [PATCH_OP]}, 400, isx),
        bad("message/operations-null", {"schemas": [PATCH_OP], "Operations": None}, 400, isx),
        bad("message/operations-empty", ops(), 400, isx),
        bad("message/operations-object", {"schemas": [PATCH_OP], "Operations": nick}, 400, isx),
        bad("message/operations-string", {"schemas": [PATCH_OP], "Operations": "add"}, 400, isx),
        bad("message/schemas-user", ops(nick) | {"schemas": [USER]}, 400, isx),
        bad("message/schemas-number", ops(nick) | {"schemas": 5}, 400, isx),
        bad("message/operation-number", ops(5), 400, isx),  # type: ignore[arg-type]
        bad("message/operation-null", ops(None), 400, isx),  # type: ignore[arg-type]
        bad("message/operation-list", ops([nick]), 400, isx),  # type: ignore[arg-type]
        bad("op/missing", ops({"path": "nickName", "value": "x"}), 400, isx),
        bad("op/unknown", ops(op("delete", "nickName")), 400, isx),
        bad("op/empty", ops(op("", "nickName", "x")), 400, isx),
        bad("op/number", ops({"op": 1, "path": "nickName", "value": "x"}), 400, isx),
        bad("op/null", ops({"op": None, "path": "nickName", "value": "x"}), 400, isx),
        bad("op/list", ops({"op": ["add"], "path": "nickName", "value": "x"}), 400, isx),
        # Paths (RFC 7644 §3.5.2, Figure 7): malformed or naming nothing in the schema.
        bad("path/number", ops({"op": "replace", "path": 5, "value": "x"}), 400, ip),
        bad("path/boolean", ops({"op": "replace", "path": True, "value": "x"}), 400, ip),
        bad("path/list", ops({"op": "replace", "path": ["nickName"], "value": "x"}), 400, ip),
        bad("path/unknown-attribute", ops(op("replace", "nosuch", "x")), 400, ip),
        bad("path/unknown-sub-attribute", ops(op("replace", "name.nosuch", "x")), 400, ip),
        bad("path/double-dot", ops(op("replace", "name..givenName", "x")), 400, ip),
        bad("path/leading-dot", ops(op("replace", ".nickName", "x")), 400, ip),
        bad("path/trailing-dot", ops(op("replace", "name.", "x")), 400, ip),
        bad("path/three-levels", ops(op("replace", "name.givenName.x", "x")), 400, ip),
        bad("path/sub-of-simple", ops(op("replace", "nickName.value", "x")), 400, ip),
        bad(
            "path/unknown-schema",
            ops(op("replace", "urn:example:params:scim:ext:1.0:User:x", "x")),
            400,
            ip,
        ),
        bad(
            "path/unknown-enterprise-attribute",
            ops(op("replace", ENTERPRISE + ":nosuch", "x")),
            400,
            ip,
        ),
        bad(
            "path/filter-on-single-valued",
            ops(op("replace", 'nickName[value eq "x"]', "y")),
            400,
            ip,
        ),
        bad(
            "path/filter-then-unknown-sub",
            ops(op("replace", 'emails[type eq "work"].nosuch', "x")),
            400,
            ip,
        ),
        bad(
            "path/garbage-after-filter", ops(op("replace", 'emails[type eq "work"]x', "y")), 400, ip
        ),
        bad("path/spaces-inside", ops(op("replace", "nick Name", "x")), 400, ip),
        bad("path/nul", ops(op("replace", "nick\u0000Name", "x")), 400, ip),
        bad("path/surrogate", ops(op("replace", "\ud800", "x")), 400, ip),
        bad("path/huge", ops(op("replace", "a" * 5000, "x")), 400, ip),
        # A bad filter inside a path: invalidFilter (Table 9: "PATCH (Path Filter)").
        bad(
            "path-filter/missing-value", ops(op("replace", "emails[type eq].value", "x")), 400, ifl
        ),
        bad(
            "path-filter/unknown-operator",
            ops(op("replace", 'emails[type zz "work"].value', "x")),
            400,
            ifl,
        ),
        bad(
            "path-filter/unknown-sub-attribute",
            ops(op("replace", 'emails[nosuch eq "x"].value', "x")),
            400,
            ifl,
        ),
        bad("path-filter/empty", ops(op("replace", "emails[].value", "x")), 400, ifl),
        bad(
            "path-filter/nul-in-string", ops(op("remove", 'emails[value eq "a\u0000b"]')), 400, ifl
        ),
        # "If "path" is unspecified, the operation fails with ... noTarget" (§3.5.2.2).
        bad("remove/no-path", ops(op("remove")), 400, "noTarget"),
        bad("remove/null-path", ops({"op": "remove", "path": None}), 400, "noTarget"),
        # A non-eq value filter that selects nothing: noTarget (RFC 7644 §3.5.2.3). (An eq
        # filter creates the element instead, on purpose: Entra relies on it.)
        bad(
            "replace/filter-matches-nothing",
            ops(op("replace", 'emails[value co "nomatch"].type', "home")),
            400,
            "noTarget",
        ),
        # add/replace need a value.
        bad("value/missing-add", ops(op("add", "nickName")), 400, iv),
        bad("value/missing-replace", ops(op("replace", "nickName")), 400, iv),
        bad("value/pathless-string", ops(op("add", None, "x")), 400, iv),
        bad("value/pathless-list", ops(op("replace", None, [{"nickName": "x"}])), 400, iv),
        bad("value/active-word", ops(op("replace", "active", "maybe")), 400, iv),
        bad("value/nickName-object", ops(op("replace", "nickName", {"a": 1})), 400, iv),
        bad("value/name-string", ops(op("add", "name", "Ada")), 400, iv),
        bad("value/emails-boolean", ops(op("add", "emails", True)), 400, iv),
        bad("value/emails-value-boolean", ops(op("add", "emails", [{"value": False}])), 400, iv),
        bad(
            "value/two-primaries",
            ops(
                op(
                    "add",
                    "emails",
                    [{"value": "b@x", "primary": True}, {"value": "c@x", "primary": True}],
                )
            ),
            400,
            iv,
        ),
        bad("value/nul", ops(op("replace", "nickName", "a\u0000b")), 400, iv),
        bad("value/nul-pathless", ops(op("replace", None, {"nickName": "a\u0000b"})), 400, iv),
        bad("value/surrogate", ops(op("replace", "nickName", "\udbff")), 400, iv),
        bad("value/huge-userName", ops(op("replace", "userName", HUGE)), 400, iv),
        bad("value/huge-externalId", ops(op("add", "externalId", HUGE)), 400, iv),
        bad(
            "value/overflow-number",
            J(ops(op("replace", "nickName", 1))).replace('"value":1', '"value":1e400'),
            400,
            iv,
        ),
        bad(
            "value/deep-600",
            J(ops(op("replace", "nickName", "@DEEP@"))).replace('"@DEEP@"', deep(600)),
            400,
            DEEP_VALUE,
        ),
        # Unknown attribute keys in a path-less value: invalidSyntax, as in POST/PUT.
        bad("value/pathless-unknown-key", ops(op("add", None, {"nosuch": "x"})), 400, isx),
        bad("value/pathless-unknown-sub", ops(op("add", None, {"name": {"nosuch": 1}})), 400, isx),
        bad(
            "value/unknown-emails-sub",
            ops(op("add", "emails", [{"value": "b@x", "x": 1}])),
            400,
            isx,
        ),
        # Mutability (RFC 7643 §2.2, RFC 7644 §3.5.2).
        bad("mutability/replace-id", ops(op("replace", "id", "mine")), 400, "mutability"),
        bad(
            "mutability/replace-meta-created",
            ops(op("replace", "meta.created", "2000-01-01T00:00:00Z")),
            400,
            "mutability",
        ),
        bad(
            "mutability/add-groups",
            ops(op("add", "groups", [{"value": "@TEAM@"}])),
            400,
            "mutability",
        ),
        bad(
            "mutability/pathless-other-id",
            ops(op("replace", None, {"id": "mine"})),
            400,
            "mutability",
        ),
        # Leaving userName unassigned: "A required value was missing" is invalidValue in
        # Table 9, and it is what PUT without userName and replace with "" answer; the
        # same end state gets the same answer however the PATCH spells it.
        bad("required/remove-userName", ops(op("remove", "userName")), 400, iv),
        bad("required/replace-userName-null", ops(op("replace", "userName", None)), 400, iv),
        bad("required/replace-userName-empty", ops(op("replace", "userName", "")), 400, iv),
        bad(
            "uniqueness/userName-taken",
            ops(op("replace", "userName", "Taken@Example.com")),
            409,
            "uniqueness",
        ),
        # All or nothing (RFC 7644 §3.5.2): a valid first operation is not kept.
        bad("atomic/then-bad-op", ops(nick, op("frobnicate", "nickName", "x")), 400, isx),
        bad("atomic/then-bad-path", ops(nick, op("replace", "nosuch", "x")), 400, ip),
        bad("atomic/then-bad-value", ops(nick, op("replace", "active", "maybe")), 400, iv),
        bad("atomic/then-remove-no-path", ops(nick, op("remove")), 400, "noTarget"),
        bad("atomic/then-mutability", ops(nick, op("replace", "id", "mine")), 400, "mutability"),
        bad("atomic/then-required", ops(nick, op("remove", "userName")), 400, iv),
        bad(
            "atomic/then-taken",
            ops(nick, op("replace", "userName", "taken@example.com")),
            409,
            "uniqueness",
        ),
        bad("atomic/deactivate-then-bad", ops(op("replace", "active", False), op("x")), 400, isx),
        bad("if-match/stale", ops(nick), 412, None, headers={"If-Match": 'W/"999"'}),
    ]


def patch_group_cases() -> list[Bad]:
    iv, isx, ip, ifl = "invalidValue", "invalidSyntax", "invalidPath", "invalidFilter"
    add_taken = op("add", "members", [{"value": "@TAKEN@"}])  # valid: adds a member
    return [
        bad("message/no-operations", {"schemas": [PATCH_OP]}, 400, isx),
        bad("message/operations-empty", ops(), 400, isx),
        bad(
            "message/operations-object", {"schemas": [PATCH_OP], "Operations": add_taken}, 400, isx
        ),
        bad("message/schemas-group", ops(add_taken) | {"schemas": [GROUP]}, 400, isx),
        bad("op/unknown", ops(op("append", "members", [{"value": "@TAKEN@"}])), 400, isx),
        bad("op/missing", ops({"path": "members", "value": [{"value": "@TAKEN@"}]}), 400, isx),
        bad("path/number", ops({"op": "add", "path": 1, "value": "x"}), 400, ip),
        bad("path/unknown-attribute", ops(op("add", "owners", [{"value": "@TAKEN@"}])), 400, ip),
        bad("path/members-unknown-sub", ops(op("replace", "members.nosuch", "x")), 400, ip),
        bad(
            "path/filter-on-displayName",
            ops(op("replace", 'displayName[value eq "x"]', "y")),
            400,
            ip,
        ),
        bad("path/user-attribute", ops(op("replace", "userName", "x")), 400, ip),
        bad("path-filter/missing-value", ops(op("remove", "members[value eq]")), 400, ifl),
        bad("path-filter/unknown-sub", ops(op("remove", 'members[nosuch eq "x"]')), 400, ifl),
        bad("path-filter/unclosed-and", ops(op("remove", 'members[value eq "x" and]')), 400, ifl),
        bad("path-filter/nul", ops(op("remove", 'members[value eq "@ADA@\u0000"]')), 400, ifl),
        bad("remove/no-path", ops(op("remove")), 400, "noTarget"),
        bad(
            "remove/no-path-with-value",
            ops(op("remove", None, [{"value": "@ADA@"}])),
            400,
            "noTarget",
        ),
        # Members are references by id: one without "value" names nothing.
        bad("members/without-value", ops(op("add", "members", [{"display": "Bob"}])), 400, iv),
        bad("members/boolean", ops(op("add", "members", [True])), 400, iv),
        bad("members/list-of-lists", ops(op("add", "members", [[{"value": "@TAKEN@"}]])), 400, iv),
        bad("members/value-boolean", ops(op("replace", "members", [{"value": True}])), 400, iv),
        bad(
            "members/value-object",
            ops(op("add", "members", [{"value": {"id": "@TAKEN@"}}])),
            400,
            iv,
        ),
        bad(
            "members/pathless-without-value",
            ops(op("add", None, {"members": [{"x": 1}]})),
            400,
            isx,
        ),
        bad(
            "members/unknown-sub",
            ops(op("add", "members", [{"value": "@TAKEN@", "x": 1}])),
            400,
            isx,
        ),
        # NUL can never be part of an id the server made; refused like NUL anywhere else
        # rather than looked up (which PostgreSQL cannot even do).
        bad("members/nul-value", ops(op("add", "members", [{"value": "@TAKEN@\u0000"}])), 400, iv),
        bad("members/surrogate-value", ops(op("add", "members", [{"value": "\ud800"}])), 400, iv),
        # members.value is immutable (RFC 7643 §4.2 via the membership sub-attributes).
        bad(
            "mutability/member-value",
            ops(op("replace", 'members[value eq "@ADA@"].value', "@TAKEN@")),
            400,
            "mutability",
        ),
        bad("mutability/replace-id", ops(op("replace", "id", "mine")), 400, "mutability"),
        bad("displayName/boolean", ops(op("replace", "displayName", True)), 400, iv),
        bad("displayName/object", ops(op("replace", "displayName", {"a": 1})), 400, iv),
        bad("displayName/nul", ops(op("replace", "displayName", "T\u0000eam")), 400, iv),
        bad("displayName/huge", ops(op("replace", "displayName", HUGE)), 400, iv),
        # Required displayName left unassigned: invalidValue (see the User cases).
        bad("required/replace-displayName-empty", ops(op("replace", "displayName", "")), 400, iv),
        bad("required/replace-displayName-null", ops(op("replace", "displayName", None)), 400, iv),
        bad("required/remove-displayName", ops(op("remove", "displayName")), 400, iv),
        bad(
            "uniqueness/displayName-taken",
            ops(op("replace", "displayName", "TAKEN")),
            409,
            "uniqueness",
        ),
        bad("value/pathless-unknown-key", ops(op("replace", None, {"owner": "x"})), 400, isx),
        # All or nothing, including the member list the store edits on its own.
        bad("atomic/add-member-then-bad-op", ops(add_taken, op("bogus")), 400, isx),
        bad("atomic/add-member-then-bad-path", ops(add_taken, op("add", "nosuch", "x")), 400, ip),
        bad(
            "atomic/add-member-then-bad-value",
            ops(add_taken, op("replace", "displayName", True)),
            400,
            iv,
        ),
        bad(
            "atomic/add-member-then-taken",
            ops(add_taken, op("replace", "displayName", "Taken")),
            409,
            "uniqueness",
        ),
        bad(
            "atomic/add-member-then-required", ops(add_taken, op("remove", "displayName")), 400, iv
        ),
        bad(
            "atomic/remove-all-members-then-bad",
            ops(op("remove", "members"), op("replace", "displayName", "")),
            400,
            iv,
        ),
        bad(
            "atomic/replace-members-then-bad",
            ops(op("replace", "members", [{"value": "@TAKEN@"}]), op("remove")),
            400,
            "noTarget",
        ),
        bad(
            "atomic/remove-member-by-filter-then-bad",
            ops(op("remove", 'members[value eq "@ADA@"]'), op("add", "members", [{"x": 1}])),
            400,
            isx,
        ),
        bad(
            "atomic/pathless-members-then-unknown",
            ops(op("add", None, {"members": [{"value": "@TAKEN@"}], "owner": "x"})),
            400,
            isx,
        ),
        bad(
            "if-match/stale-member-only", ops(add_taken), 412, None, headers={"If-Match": 'W/"999"'}
        ),
    ]


PATCH_USER = params(patch_user_cases())
PATCH_GROUP = params(patch_group_cases())

# Filters (RFC 7644 §3.4.2.2, Figure 1): every one is 400 invalidFilter.
FILTERS: list[tuple[str, str]] = [
    ("blank", "   "),
    ("attribute-only", "userName"),
    ("missing-value", "userName eq"),
    ("unknown-operator", 'userName zz "a"'),
    ("operator-as-value", "userName eq eq"),
    ("trailing-token", 'userName eq "a" extra'),
    ("unterminated-string", 'userName eq "a'),
    ("unbalanced-open", '(userName eq "a"'),
    ("unbalanced-close", 'userName eq "a")'),
    ("dangling-and", 'userName eq "a" and'),
    ("leading-or", 'or userName eq "a"'),
    ("bare-not", "not"),
    ("empty-parens", "()"),
    ("lone-bracket", "["),
    ("unknown-attribute", 'nosuch eq "a"'),
    ("unknown-schema", 'urn:example:params:scim:ext:1.0:User:userName eq "a"'),
    ("schema-without-attribute", f'{USER} eq "a"'),
    ("unknown-sub-attribute", 'name.nosuch eq "a"'),
    ("sub-of-simple", 'userName.value eq "a"'),
    ("three-levels", 'name.givenName.x eq "a"'),
    ("value-filter-unclosed", 'emails[type eq "work"'),
    ("value-filter-extra-bracket", 'emails[type eq "work"]]'),
    ("value-filter-nested", 'emails[type eq "work" and emails[value eq "a"]]'),
    ("value-filter-on-simple", 'userName[value eq "a"]'),
    ("value-filter-empty", "emails[]"),
    ("value-filter-unknown-sub", 'emails[nosuch eq "a"]'),
    ("boolean-word", 'active eq "maybe"'),
    ("boolean-substring", 'active co "t"'),
    ("boolean-ordering", "active gt true"),
    ("datetime-garbage", 'meta.created gt "yesterday"'),
    ("string-vs-boolean", "userName eq true"),
    ("presence-with-value", 'userName pr "a"'),
    ("null-ordering", "userName gt null"),
    ("never-returned", 'password eq "secret"'),
    ("complex-without-value", 'name eq "Ada"'),
    ("bad-escape", r'userName eq "a\q"'),
    ("nul-in-string", 'userName eq "a\x00b"'),
    ("nul-escape", r'userName eq "a\u0000b"'),
    ("lone-surrogate-escape", r'userName eq "\ud800"'),
    ("nul-outside-string", 'userName\x00eq "a"'),
    ("too-long", 'userName eq "' + "a" * 5000 + '"'),
    ("deep-parentheses", "(" * 2000 + "userName pr" + ")" * 2000),
    ("deep-not", "not " * 1000 + "userName pr"),
]
FILTER_PARAMS = [pytest.param(text, id=name) for name, text in FILTERS]

# Raw query strings whose percent-encoding is not UTF-8: the server cannot know what the
# client meant, so it must not quietly match U+FFFD instead (judgement call).
RAW_FILTERS = [
    pytest.param("filter=userName%20eq%20%22%FF%22", id="invalid-utf8-percent"),
    pytest.param("filter=userName%20eq%20%22%C0%AF%22", id="overlong-utf8-percent"),
    pytest.param("filter=userName%20eq%20%22%ED%A0%80%22", id="surrogate-utf8-percent"),
]

GROUP_FILTERS = [
    pytest.param('members[value eq "x"', id="value-filter-unclosed"),
    pytest.param('displayName zz "x"', id="unknown-operator"),
    pytest.param('members.nosuch eq "x"', id="unknown-sub-attribute"),
    pytest.param('userName eq "x"', id="user-attribute"),
    pytest.param('members[value eq "a\x00"]', id="nul-in-string"),
]


def _cursor_overflow(key: str) -> str:
    return b64(f'{{"{key}":{10**30}}}')


# Query parameters (RFC 7644 §3.4.2.3-§3.4.2.4, RFC 9865 §3): (query, scimType).
QUERIES = [
    # startIndex and count are integers; text that is not one is an invalid value.
    # (Python's int() would take "1_0" and full-width digits; the wire format does not.)
    ("startIndex-word", "startIndex=abc", "invalidValue"),
    ("startIndex-decimal", "startIndex=1.5", "invalidValue"),
    ("startIndex-exponent", "startIndex=1e3", "invalidValue"),
    ("startIndex-hex", "startIndex=0x10", "invalidValue"),
    ("startIndex-underscore", "startIndex=1_0", "invalidValue"),
    ("startIndex-nul", "startIndex=1%00", "invalidValue"),
    ("count-word", "count=ten", "invalidValue"),
    ("count-decimal", "count=2.5", "invalidValue"),
    ("count-underscore", "count=1_0", "invalidValue"),
    ("count-fullwidth-digit", "count=%EF%BC%95", "invalidValue"),
    ("count-invalid-utf8", "count=%FF", "invalidValue"),
    # sortBy must name an attribute, a complex one by a sub-attribute (RFC 7644 §3.4.2.3).
    ("sortBy-unknown", "sortBy=nosuch", "invalidValue"),
    ("sortBy-unknown-sub", "sortBy=name.nosuch", "invalidValue"),
    ("sortBy-complex", "sortBy=name", "invalidValue"),
    ("sortBy-multi-valued-complex", "sortBy=emails", "invalidValue"),
    ("sortBy-schema-urn", "sortBy=" + quote(USER, safe=""), "invalidValue"),
    ("sortBy-garbage", "sortBy=%22%5B%5D", "invalidValue"),
    ("sortOrder-unknown", "sortOrder=sideways", "invalidValue"),
    ("sortOrder-abbreviated", "sortOrder=asc", "invalidValue"),
    # Cursors this server never issued (RFC 9865 §3: invalidCursor).
    ("cursor-garbage", "cursor=!!!", "invalidCursor"),
    ("cursor-not-json", "cursor=" + b64("hello"), "invalidCursor"),
    ("cursor-json-array", "cursor=" + b64("[1]"), "invalidCursor"),
    ("cursor-json-null", "cursor=" + b64("null"), "invalidCursor"),
    ("cursor-unknown-key", "cursor=" + b64('{"x":1}'), "invalidCursor"),
    ("cursor-negative", "cursor=" + b64('{"o":-1}'), "invalidCursor"),
    ("cursor-fraction", "cursor=" + b64('{"o":1.5}'), "invalidCursor"),
    ("cursor-offset-overflow", "cursor=" + _cursor_overflow("o"), "invalidCursor"),
    ("cursor-seq-overflow", "cursor=" + _cursor_overflow("s"), "invalidCursor"),
    ("cursor-nul", "cursor=%00", "invalidCursor"),
    ("cursor-non-ascii", "cursor=%C3%A9t%C3%A9", "invalidCursor"),
]
QUERY_PARAMS = [pytest.param(q, t, id=name) for name, q, t in QUERIES]


def _search(**fields: Any) -> dict[str, Any]:
    return {"schemas": [SEARCH], "filter": "userName pr", **fields}


# SearchRequest bodies (RFC 7644 §3.4.3) that are JSON objects with bad members.
SEARCHES = [
    bad("filter/number", _search(filter=5), 400, "invalidFilter"),
    bad("filter/boolean", _search(filter=True), 400, "invalidFilter"),
    bad("filter/list", _search(filter=["userName pr"]), 400, "invalidFilter"),
    bad("filter/object", _search(filter={"userName": "a"}), 400, "invalidFilter"),
    bad("filter/garbage", _search(filter="userName eq"), 400, "invalidFilter"),
    bad("filter/no-type-has-it", _search(filter='nosuch eq "a"'), 400, "invalidFilter"),
    bad("filter/nul", _search(filter='userName eq "\u0000"'), 400, "invalidFilter"),
    bad("filter/surrogate", _search(filter='userName eq "\udc00"'), 400, "invalidFilter"),
    # JSON integers only: 1.5 and true are not indexes (Python's int() would take both).
    bad("startIndex/word", _search(startIndex="abc"), 400, "invalidValue"),
    bad("startIndex/fraction", _search(startIndex=1.5), 400, "invalidValue"),
    bad("startIndex/boolean", _search(startIndex=True), 400, "invalidValue"),
    bad("startIndex/list", _search(startIndex=[1]), 400, "invalidValue"),
    bad("startIndex/object", _search(startIndex={"n": 1}), 400, "invalidValue"),
    bad(
        "startIndex/overflow",
        J(_search(startIndex=1)).replace('"startIndex":1', '"startIndex":1e400'),
        400,
        "invalidValue",
    ),
    bad("count/fraction", _search(count=2.5), 400, "invalidValue"),
    bad("count/boolean", _search(count=True), 400, "invalidValue"),
    bad("count/word", _search(count="ten"), 400, "invalidValue"),
    bad("count/list", _search(count=[10]), 400, "invalidValue"),
    bad(
        "count/overflow",
        J(_search(count=1)).replace('"count":1', '"count":1e400'),
        400,
        "invalidValue",
    ),
    bad("count/NaN", J(_search(count=1)).replace('"count":1', '"count":NaN'), 400, "invalidSyntax"),
    bad("sortBy/number", _search(sortBy=5), 400, "invalidValue"),
    bad("sortBy/object", _search(sortBy={"attr": "userName"}), 400, "invalidValue"),
    bad("sortBy/unknown", _search(sortBy="nosuch"), 400, "invalidValue"),
    bad("sortOrder/number", _search(sortOrder=1), 400, "invalidValue"),
    bad("sortOrder/boolean", _search(sortOrder=True), 400, "invalidValue"),
    bad("sortOrder/unknown", _search(sortOrder="up"), 400, "invalidValue"),
    bad("cursor/number", _search(cursor=5), 400, "invalidCursor"),
    bad("cursor/list", _search(cursor=[]), 400, "invalidCursor"),
    bad("cursor/garbage", _search(cursor="!!!"), 400, "invalidCursor"),
    bad("cursor/overflow", _search(cursor=_cursor_overflow("o")), 400, "invalidCursor"),
    # attributes / excludedAttributes are multi-valued strings (RFC 7644 §3.4.3).
    bad("attributes/number", _search(attributes=5), 400, "invalidValue"),
    bad("attributes/boolean", _search(attributes=True), 400, "invalidValue"),
    bad("attributes/numbers", _search(attributes=[1, 2]), 400, "invalidValue"),
    bad("attributes/null-item", _search(attributes=[None]), 400, "invalidValue"),
    bad("attributes/nested-list", _search(attributes=[["userName"]]), 400, "invalidValue"),
    bad("excludedAttributes/number", _search(excludedAttributes=5), 400, "invalidValue"),
    bad("excludedAttributes/object", _search(excludedAttributes={"a": 1}), 400, "invalidValue"),
    # A SearchRequest has a fixed set of members. A misspelt "filter" that is silently
    # ignored answers with every resource, which a client looking a user up takes as a
    # match: refused as a body that does not conform to the request schema.
    bad(
        "unknown/filtr",
        {"schemas": [SEARCH], "filtr": 'userName eq "nobody"'},
        400,
        "invalidSyntax",
    ),
    bad("unknown/page", _search(page=2), 400, "invalidSyntax"),
    # As for PatchOp: "schemas" may be omitted, but if present it must name the message.
    bad("schemas/patch-op", _search(schemas=[PATCH_OP]), 400, "invalidSyntax"),
    bad("schemas/number", _search(schemas=5), 400, "invalidSyntax"),
]
# The root search refuses any cursor (cursors are per resource type, by design: 400
# invalidValue), so the cursor cases are only run against a resource type's .search.
SEARCH_PARAMS = [
    pytest.param(path, case, id=f"{name}[{case.name}]")
    for name, path in (("users", "/Users/.search"), ("root", "/.search"))
    for case in SEARCHES
    if name == "users" or not case.name.startswith("cursor/")
]


# --------------------------------------------------------------------------- helpers


def send(w: World, method: str, path: str, case: Bad) -> Any:
    return w.scim.request(method, w.fill(path), headers=case.headers, raw=case.payload(w))


# --------------------------------------------------------------------------- tests


@pytest.mark.one_backend
@pytest.mark.parametrize(("ep", "case"), ENVELOPE)
def test_bad_json_envelope_is_refused_and_writes_nothing(
    world: World, ep: Endpoint, case: Bad
) -> None:
    r = send(world, ep.method, ep.path, case)
    assert_scim_error(r, case.status, case.scim_type)
    world.assert_unchanged()


@pytest.mark.one_backend
@pytest.mark.parametrize("ep", [pytest.param(ep, id=ep.name) for ep in ENDPOINTS])
def test_the_valid_bodies_behind_the_envelope_cases_succeed(world: World, ep: Endpoint) -> None:
    """Control: each endpoint's valid body, also at exactly maxPayloadSize and with a
    charset parameter, succeeds; the refusals above are about the damage alone."""
    valid = J(ep.valid)
    expected = 201 if ep.path == "/Users" else 200
    r = world.scim.request(ep.method, world.fill(ep.path), raw=valid)
    assert r.status_code == expected, r.get_data(as_text=True)
    if ep.path == "/Users":
        world.scim.delete(f"/Users/{r.get_json()['id']}")
    padded = valid + " " * (LIMIT - len(valid))
    assert len(padded.encode()) == LIMIT
    headers = {"Content-Type": "application/scim+json; charset=utf-8"}
    r = world.scim.request(ep.method, world.fill(ep.path), raw=padded, headers=headers)
    assert r.status_code == expected, r.get_data(as_text=True)[:500]
    r = world.scim.request(
        ep.method, world.fill(ep.path), raw=valid, headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (expected, 409), r.get_data(as_text=True)


BODY_CASES = [
    pytest.param(method, path, *case.values, id=f"{name}[{case.id}]", marks=case.marks)
    for name, method, path, cases in (
        ("post-users", "POST", "/Users", POST_USERS),
        ("put-user", "PUT", "/Users/@ADA@", PUT_USER),
        ("patch-user", "PATCH", "/Users/@ADA@", PATCH_USER),
        ("patch-group", "PATCH", "/Groups/@TEAM@", PATCH_GROUP),
    )
    for case in cases
]


@pytest.mark.parametrize(("method", "path", "case"), BODY_CASES)
def test_bad_body_is_refused_and_writes_nothing(
    world: World, method: str, path: str, case: Bad
) -> None:
    r = send(world, method, path, case)
    assert_scim_error(r, case.status, case.scim_type)
    world.assert_unchanged()


@pytest.mark.parametrize("text", FILTER_PARAMS)
def test_bad_filter_in_query(world: World, text: str) -> None:
    r = world.scim.get("/Users?filter=" + quote(text, safe=""))
    assert_scim_error(r, 400, "invalidFilter")


@pytest.mark.parametrize("text", FILTER_PARAMS)
def test_bad_filter_in_search_body(world: World, text: str) -> None:
    r = world.scim.post("/Users/.search", {"schemas": [SEARCH], "filter": text})
    assert_scim_error(r, 400, "invalidFilter")


@pytest.mark.one_backend
@pytest.mark.parametrize("query", RAW_FILTERS)
def test_filter_that_is_not_utf8(world: World, query: str) -> None:
    assert_scim_error(world.scim.get("/Users?" + query), 400, "invalidFilter")


@pytest.mark.parametrize("text", GROUP_FILTERS)
def test_bad_group_filter(world: World, text: str) -> None:
    r = world.scim.get("/Groups?filter=" + quote(text, safe=""))
    assert_scim_error(r, 400, "invalidFilter")


@pytest.mark.one_backend
@pytest.mark.parametrize(("query", "scim_type"), QUERY_PARAMS)
@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_bad_query_parameter(world: World, resource: str, query: str, scim_type: str) -> None:
    assert_scim_error(world.scim.get(f"/{resource}?{query}"), 400, scim_type)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(f"startIndex={10**30}", id="startIndex-past-any-int64"),
        pytest.param(f"startIndex={2**63}", id="startIndex-2-pow-63"),
        pytest.param(f"startIndex={10**30}&sortBy=nickName", id="startIndex-huge-sorted-in-core"),
        pytest.param(f"count={10**30}", id="count-past-any-int64"),
    ],
)
def test_huge_but_integer_paging_is_an_ordinary_page(world: World, query: str) -> None:
    """startIndex is "the 1-based index of the first query result" with no upper bound
    (RFC 7644 §3.4.2.4): past the end is an empty page, not a store overflow; count is
    capped at maxResults."""
    r = world.scim.get(f"/Users?{query}")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    body = r.get_json()
    assert body["totalResults"] == 2
    if query.startswith("startIndex"):
        assert body["Resources"] == []
    else:
        assert len(body["Resources"]) == 2


@pytest.mark.one_backend
@pytest.mark.parametrize(("path", "case"), SEARCH_PARAMS)
def test_bad_search_request(world: World, path: str, case: Bad) -> None:
    r = send(world, "POST", path, case)
    assert_scim_error(r, case.status, case.scim_type)
    world.assert_unchanged()


# ----------------------------------------------------------------- authentication


@dataclass(frozen=True)
class Auth:
    """A bad credential: ``header`` makes it (and may change tenancy); ``undo`` restores."""

    name: str
    header: Callable[[World], str | None]  # None: no Authorization header at all
    undo: Callable[[World], None] = lambda w: None
    in_query: bool = False  # the (valid) token as ?access_token= instead


def _tenancy(w: World) -> Any:
    return w.scim.app.extensions["scimserver"].tenancy


def _regenerated(w: World) -> str:
    old = w.scim.token
    _tenancy(w).issue_token(w.scim.org, "onelogin", regenerate=True)
    return f"Bearer {old}"


def _deleted(w: World) -> str:
    # The CLI has no "integration delete"; removing the row is what one would do.
    control = _tenancy(w).control
    org = control.get_org(w.scim.org)
    with control.engine.begin() as conn:
        conn.execute(
            delete(integrations).where(
                integrations.c.org_id == org.id, integrations.c.kind == "onelogin"
            )
        )
    return f"Bearer {w.scim.token}"


def _provisioning_off(w: World) -> str:
    _tenancy(w).control.set_provisioning(w.scim.org, False)
    return f"Bearer {w.scim.token}"


AUTHS = [
    Auth("missing", lambda w: None),
    Auth("empty", lambda w: ""),
    Auth("scheme-only", lambda w: "Bearer"),
    Auth("scheme-and-spaces", lambda w: "Bearer     "),
    Auth("basic-credentials", lambda w: "Basic dXNlcjpwYXNz"),
    Auth("basic-scheme-valid-token", lambda w: f"Basic {w.scim.token}"),
    Auth("token-scheme-valid-token", lambda w: f"Token {w.scim.token}"),
    Auth("no-scheme-valid-token", lambda w: w.scim.token),
    Auth("wrong-token", lambda w: "Bearer scim_" + "A" * 43),
    Auth("truncated-token", lambda w: f"Bearer {w.scim.token[:-1]}"),
    Auth("extended-token", lambda w: f"Bearer {w.scim.token}x"),
    Auth("token-then-garbage", lambda w: f"Bearer {w.scim.token} extra"),
    Auth("case-changed-token", lambda w: f"Bearer {w.scim.token.swapcase()}"),
    Auth(
        "token-hash-as-token",
        lambda w: "Bearer " + hashlib.sha256(w.scim.token.encode()).hexdigest(),
    ),
    Auth("non-ascii-token", lambda w: "Bearer t\xf6k\xe9n"),
    Auth("huge-token", lambda w: "Bearer " + "a" * 8000),
    Auth("regenerated-integration", _regenerated),
    Auth("deleted-integration", _deleted),
    # The organization may no longer provision: its token no longer authenticates
    # (401 like any other dead token, as the design's "missing or bad token" says).
    Auth(
        "provisioning-disabled",
        _provisioning_off,
        lambda w: _tenancy(w).enable_provisioning(w.scim.org),
    ),
    # RFC 6750 §2.3 allows servers to take ?access_token=; this one does not, so the
    # request is unauthenticated.
    Auth("token-in-query-string", lambda w: None, in_query=True),
]

AUTH_REQUESTS: list[tuple[str, str, str, str | None]] = [
    ("list", "GET", "/Users", None),
    ("get", "GET", "/Users/@ADA@", None),
    ("create", "POST", "/Users", J({"schemas": [USER], "userName": "intruder@example.com"})),
    ("replace", "PUT", "/Users/@ADA@", J(_user_body("ada@example.com") | {"nickName": "pwned"})),
    ("patch-user", "PATCH", "/Users/@ADA@", J(ops(op("replace", "active", False)))),
    ("patch-group", "PATCH", "/Groups/@TEAM@", J(ops(op("remove", "members")))),
    ("delete", "DELETE", "/Users/@ADA@", None),
    ("search", "POST", "/.search", J(_search())),
    # Authentication comes first: a stranger learns nothing from body validation.
    ("create-malformed", "POST", "/Users", '{"userName":'),
]


@pytest.mark.one_backend
@pytest.mark.parametrize(
    ("auth", "method", "path", "body"),
    [
        pytest.param(a, m, p, b, id=f"{a.name}[{name}]")
        for a in AUTHS
        for name, m, p, b in AUTH_REQUESTS
    ],
)
def test_bad_credentials_are_401_and_write_nothing(
    world: World, auth: Auth, method: str, path: str, body: str | None
) -> None:
    headers = {"Content-Type": "application/scim+json"}
    value = auth.header(world)
    if value is not None:
        headers["Authorization"] = value
    url = world.scim.base + world.fill(path)
    if auth.in_query:
        url += "?access_token=" + world.scim.token
    try:
        r = world.scim.http.open(
            url, method=method, headers=headers, data=None if body is None else world.fill(body)
        )
    finally:
        auth.undo(world)
    assert_scim_error(r, 401, None)
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), r.headers
    world.assert_unchanged()


@pytest.mark.one_backend
def test_the_bearer_scheme_is_case_insensitive(world: World) -> None:
    """Control for the cases above (RFC 9110 §11.1: auth schemes are case-insensitive)."""
    for scheme in ("bearer", "BEARER", "Bearer"):
        r = world.scim.get("/Users", headers={"Authorization": f"{scheme} {world.scim.token}"})
        assert r.status_code == 200, (scheme, r.get_data(as_text=True))


# ----------------------------------------------------------------- methods and paths

_COLLECTION = {"GET", "POST"}
_ITEM = {"GET", "PUT", "PATCH", "DELETE"}
_SEARCH = {"POST"}
_DISCOVERY = {"GET"}
_ANY_BODY = J(_user_body("method@example.com"))

METHODS = [
    ("PUT", "/Users", _COLLECTION),
    ("PATCH", "/Users", _COLLECTION),
    ("DELETE", "/Users", _COLLECTION),
    ("POST", "/Users/@ADA@", _ITEM),
    ("PUT", "/Groups", _COLLECTION),
    ("DELETE", "/Groups", _COLLECTION),
    ("POST", "/Groups/@TEAM@", _ITEM),
    ("GET", "/.search", _SEARCH),
    ("PUT", "/.search", _SEARCH),
    ("DELETE", "/.search", _SEARCH),
    # "/.search" is the search resource under every endpoint (RFC 7644 §3.4.3), not a
    # resource id: a GET there is a wrong method (405), not a lookup of user ".search".
    ("GET", "/Users/.search", _SEARCH),
    ("PUT", "/Users/.search", _SEARCH),
    ("DELETE", "/Users/.search", _SEARCH),
    ("GET", "/Groups/.search", _SEARCH),
    ("POST", "/ServiceProviderConfig", _DISCOVERY),
    ("PUT", "/ServiceProviderConfig", _DISCOVERY),
    ("POST", "/Schemas", _DISCOVERY),
    ("DELETE", f"/Schemas/{USER}", _DISCOVERY),
    ("PATCH", "/ResourceTypes", _DISCOVERY),
    ("DELETE", "/ResourceTypes/User", _DISCOVERY),
]


@pytest.mark.one_backend
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [pytest.param(m, p, a, id=f"{m} {p}") for m, p, a in METHODS],
)
def test_wrong_method_is_405_with_allow(
    world: World, method: str, path: str, allowed: set[str]
) -> None:
    body = None if method in ("GET", "DELETE") else _ANY_BODY
    r = world.scim.request(method, world.fill(path), raw=body)
    assert_scim_error(r, 405, None)
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed <= allow, (r.headers.get("Allow"), allowed)
    assert method not in allow
    assert allow <= allowed | {"HEAD", "OPTIONS"}, r.headers.get("Allow")
    world.assert_unchanged()


_PUT_BODY = J(_user_body("ghost@example.com"))
_PATCH_BODY = J(ops(op("replace", "nickName", "ghost")))

PATHS = [
    ("GET", "/Userz", None),
    ("GET", "/Users/@MISSING@", None),
    ("GET", "/Users/not-a-uuid", None),
    ("GET", "/Users/@ADA@/groups", None),
    ("GET", "/Groups/@ADA@", None),  # a user's id under /Groups
    ("GET", "/Users/@TEAM@", None),  # a group's id under /Users
    ("GET", "/Users/a%00b", None),
    ("GET", "/Users/%FF%FE", None),
    ("GET", "/Users/" + "x" * 5000, None),
    ("GET", "/Schemas/urn:example:params:scim:schemas:nope", None),
    ("GET", "/ResourceTypes/Nope", None),
    ("PUT", "/Users/@MISSING@", _PUT_BODY),
    ("PUT", "/Users/a%00b", _PUT_BODY),
    ("PATCH", "/Users/@MISSING@", _PATCH_BODY),
    ("PATCH", "/Users/a%00b", _PATCH_BODY),
    ("PATCH", "/Groups/@ADA@", J(ops(op("remove", "members")))),
    ("DELETE", "/Users/@MISSING@", None),
    ("DELETE", "/Users/a%00b", None),
    ("DELETE", "/Groups/@ADA@", None),
    ("DELETE", "/Users/" + "x" * 5000, None),
]


@pytest.mark.one_backend
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [pytest.param(m, p, b, id=f"{m} {p[:40]}") for m, p, b in PATHS],
)
def test_unknown_path_or_id_is_404(world: World, method: str, path: str, body: Any) -> None:
    r = world.scim.request(method, world.fill(path), raw=body)
    assert_scim_error(r, 404, None)
    world.assert_unchanged()


@pytest.mark.one_backend
@pytest.mark.parametrize("path", ["/scim/v1/Users", "/scim/Users", "/Users", "/scim/v2Users"])
def test_paths_outside_the_base_url_are_404(world: World, path: str) -> None:
    http: FlaskClient = world.scim.http
    r = http.get(path, headers=world.scim.headers())
    assert_scim_error(r, 404, None)


@pytest.mark.one_backend
def test_me_is_not_implemented(world: World) -> None:
    """RFC 7644 §3.11: a provider without /Me "SHOULD respond with HTTP status code 501"."""
    assert_scim_error(world.scim.get("/Me"), 501, None)
    world.assert_unchanged()
