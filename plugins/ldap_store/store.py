"""The LDAP directory store (OpenLDAP through ldap3). Layout and rules: docs/ldap.md.

::

    <base_dn>
      o=<organization id>                  organization + scimOrganization (scimSequence)
        ou=people
          scimId=<id>                      inetOrgPerson + scimResource
        ou=groups
          scimId=<id>                      groupOfNames + scimResource, member: <DN>...

Entries are named by their SCIM id, so a rename (userName, displayName) is an
attribute change: the DN, and every ``member`` value naming it, stay put.

Atomicity is per entry, which is all LDAP gives: a write is one modify of one
entry. A document change carries a compare-and-swap of ``scimVersion`` (delete
the value read, add the next), so concurrent writers cannot lose each other's
changes: the loser re-reads and runs ``mutate`` again. A membership-only change
sends just the member values to add and delete and increments the version
(RFC 4525), so concurrent member adds never conflict. Uniqueness of names is the
directory's: ``scimUniqueName`` under slapo-unique in ``serialize`` mode.

Reads come from the ``scim*`` attributes (the standard ones are written for other
LDAP clients). A group's members are resolved by the directory in the same search
(the dereference control) or, without slapo-deref, looked up by id; lists are
sorted and cut by the directory (slapo-sssvlv) or, failing that, here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import ldap3
from ldap3.core.exceptions import LDAPBindError
from ldap3.protocol.rfc4527 import post_read_control
from ldap3.utils.dn import escape_rdn, parse_dn

from scimserver.protocol import errors
from scimserver.protocol.etag import etag_matches, weak_etag
from scimserver.protocol.evaluate import matches, sort_key
from scimserver.protocol.filter_ast import And, Compare, Filter, Not, Or, Present, ValuePath
from scimserver.protocol.schema import Resolved, ResourceType
from scimserver.protocol.validate import now
from scimserver.store import Capabilities, MemberChange, Mutation, Page, Query, Resource

from . import controls as ctl
from .compile import ALWAYS, FALSE, KEYS, compile_filter, esc
from .config import LdapConfig
from .mapping import (
    BUILTIN,
    AttributeInfo,
    Projection,
    from_generalized,
    generalized,
    instant,
    parse_schema,
    to_generalized,
)
from .pool import (
    ALREADY_EXISTS,
    ASSERTION_FAILED,
    BUSY,
    CONSTRAINT,
    INVALID_SYNTAX,
    NETWORK_ERRORS,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    OBJECT_CLASS,
    VALUE_EXISTS,
    VLV_ERROR,
    Answer,
    DirectoryDown,
    Entry,
    Pool,
    Session,
    unavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
MemberKey = tuple[str, str]  # (resource type, id) of one of our entries; ("", value) else

RESOURCE = "(objectClass=scimResource)"
POST_READ = "1.3.6.1.1.13.2"
# What a SCIM document is read from (the standard attributes are never read).
DOC = ["scimId", "scimDocument", "scimVersion", "scimModified", "scimRetained", "scimSeq"]
# What a member is: exists, retained or not, and where in creation order.
REF = ["scimId", "scimSeq", "scimRetained"]
# What is derived from the document on every write, besides the projection.
DERIVED = (
    "scimDocument", "scimCreated", "scimModified", "scimNameKey", "scimDisplayNameKey",
    "scimEmailKey", "scimExternalId", "scimActive", "scimUniqueName",
)  # fmt: skip
ATTEMPTS = 100  # compare-and-swap rounds before giving up (each one lost to another writer)
CHUNK = 100  # ids per lookup filter
VLV_MAX = 2**31 - 1  # slapd reads view offsets and counts as C ints
OFFSET_RANGE = 77  # the virtual list view's result for an offset past the end


@dataclass(frozen=True)
class Ref:
    """A resource a member value names."""

    dn: str
    rtype: str
    id: str
    seq: int
    retained: bool


@dataclass
class Features:
    vlv: bool  # server-side sorting and virtual list views (slapo-sssvlv)
    deref: bool  # the dereference control (slapo-deref)
    projections: dict[str, Projection]


@dataclass
class Item:
    """A candidate in a query: its entry, its document and its creation order."""

    entry: Entry
    doc: Resource
    seq: int


@dataclass
class Segment:
    """Part of a sorted result the directory sorts on its own (slapo-sssvlv)."""

    filter: str
    keys: list[tuple[str, bool]]
    key: str | None = None  # the sort attribute, None for creation order


@dataclass
class Cursor:
    seq: int
    value: Any = None  # the sort value of the last resource seen (None: missing)
    valued: bool = False


@dataclass
class _Plan:
    """Member values to delete and add, and the resources looked up on the way."""

    deletes: list[str] = field(default_factory=list)
    adds: list[str] = field(default_factory=list)
    targets: list[Ref] = field(default_factory=list)


def _unescape(value: str) -> str:
    """An RFC 4514 attribute value, unescaped."""
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += char.encode()
        i += 1
    return out.decode("utf-8", "replace")


def dn_key(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN compared the way we write them: types case-insensitively, values unescaped."""
    if not dn:
        return ()
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except Exception:
        return (("", dn),)
    return tuple((attr.lower(), _unescape(value)) for attr, value, _ in parts)


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def _bytes(values: Iterable[Any]) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode() for v in values]


def _mentions(node: Filter | None, names: set[str]) -> bool:
    """Whether a filter reads one of these attributes (members, groups)."""
    if node is None:
        return False
    if isinstance(node, And | Or):
        return _mentions(node.left, names) or _mentions(node.right, names)
    if isinstance(node, Not):
        return _mentions(node.expr, names)
    if isinstance(node, ValuePath):
        return node.attr.attribute.name in names or _mentions(node.filter, names)
    if isinstance(node, Compare | Present):
        return node.attr.attribute.name in names
    return False


class LdapStore:
    """A Store on one LDAP directory (one ``base_dn``)."""

    capabilities = Capabilities(cursor=True, sort=True)

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self.pool = Pool(config)
        self.base = config.base_dn
        self._orgs: set[str] = set()
        self._features: Features | None = None
        self._lock = threading.Lock()
        self._suffix_cache: dict[str, tuple[tuple[str, str, Any], ...]] = {}
        self.member = config.member_attribute

    def close(self) -> None:
        self.pool.close()

    # -- plumbing ---------------------------------------------------------------

    def _call(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` on a pooled session; the directory down becomes 503.

        A pooled connection may have died since it was last used (directory
        restarted): if it fails before anything was written, go again once on a
        fresh one.
        """
        for attempt in (0, 1):
            state: dict[str, Any] = {}
            try:
                with self.pool.session() as (session, pooled):
                    state.update(session=session, pooled=pooled)
                    self._learn(session)
                    return fn(session)
            except (DirectoryDown, LDAPBindError, *NETWORK_ERRORS) as exc:
                session = state.get("session")
                if attempt == 0 and state.get("pooled") and session and not session.wrote:
                    continue
                raise unavailable(self.config, exc) from exc
        raise AssertionError("unreachable")

    def _learn(self, session: Session) -> None:
        """What the directory supports and its attribute types, once per store."""
        if self._features is not None:
            return
        root = session.search(
            "",
            "(objectClass=*)",
            scope=ldap3.BASE,
            attributes=["supportedControl", "subschemaSubentry"],
        )
        supported = set(root.entries[0].texts("supportedControl")) if root.entries else set()
        vlv = self.config.vlv and {ctl.SORT_REQUEST, ctl.VLV_REQUEST} <= supported
        deref = self.config.deref and ctl.DEREF in supported
        schema: dict[str, AttributeInfo] = dict(BUILTIN)
        subschema = (root.entries[0].first("subschemaSubentry") if root.entries else None) or ""
        if subschema:
            answer = session.search(
                subschema,
                "(objectClass=subschema)",
                scope=ldap3.BASE,
                attributes=["attributeTypes"],
            )
            if answer.ok and answer.entries:
                schema.update(parse_schema(answer.entries[0].texts("attributeTypes")))
        if not vlv:
            log.warning(
                "LDAP store: %s offers no server-side sorting / virtual list views "
                "(slapo-sssvlv); large lists are sorted here",
                self.config.url,
            )
        with self._lock:
            self._features = Features(
                vlv,
                deref,
                {
                    "User": Projection(self.config.user_attributes, schema),
                    "Group": Projection(self.config.group_attributes, schema),
                },
            )

    @property
    def features(self) -> Features:
        assert self._features is not None
        return self._features

    # -- names --------------------------------------------------------------------

    def org_dn(self, org: str) -> str:
        return f"o={escape_rdn(org)},{self.base}"

    def container(self, org: str, rtype: str) -> str:
        rdn = self.config.groups if rtype == "Group" else self.config.people
        return f"{rdn},{self.org_dn(org)}"

    def dn(self, org: str, rtype: str, id: str) -> str:
        return f"scimId={escape_rdn(id)},{self.container(org, rtype)}"

    def _classes(self, rtype: str) -> list[str]:
        classes = self.config.group_classes if rtype == "Group" else self.config.user_classes
        return [*classes, "scimResource"]

    def _suffixes(self, org: str) -> tuple[tuple[str, str, Any], ...]:
        cached = self._suffix_cache.get(org)
        if cached is None:
            cached = tuple(
                (rtype, "," + self.container(org, rtype), dn_key(self.container(org, rtype)))
                for rtype in ("User", "Group")
            )
            self._suffix_cache[org] = cached
        return cached

    def _parse_member(self, org: str, value: str) -> MemberKey | None:
        """``(resource type, id)`` of a member value naming one of our entries."""
        if value.startswith("scimId="):  # as this store writes them: no parsing needed
            for rtype, suffix, _ in self._suffixes(org):
                if value.endswith(suffix):
                    rdn = value[7 : len(value) - len(suffix)]
                    if not any(c in rdn for c in '\\,+="<>;'):
                        return rtype, rdn
        key = dn_key(value)  # another spelling of one of our DNs, or somebody else's
        if len(key) < 2 or key[0][0] != "scimid":
            return None
        for rtype, _, container in self._suffixes(org):
            if key[1:] == container:
                return rtype, key[0][1]
        return None

    def member_key(self, org: str, value: str) -> MemberKey:
        """What a member value names: ours by (type, id), anything else by itself."""
        return self._parse_member(org, value) or ("", value)

    # -- containers and sequence ----------------------------------------------------

    @staticmethod
    def _container_entry(rdn: str) -> dict[str, Any]:
        attr, _, value = rdn.partition("=")
        value = _unescape(value)
        classes = {
            "ou": ["organizationalUnit"],
            "o": ["organization"],
            "dc": ["domain"],
            "cn": ["organizationalRole"],
        }.get(attr.strip().lower())
        if classes is None:
            raise errors.ScimError(f"Cannot create an entry named {rdn!r}.", status=500)
        return {"objectClass": classes, attr.strip(): value}

    def _ensure_base(self, session: Session) -> None:
        rdn = self.base.split(",", 1)[0]
        answer = session.add(self.base, self._container_entry(rdn))
        if not answer.ok and answer.code != ALREADY_EXISTS:
            raise errors.ScimError(
                f"The base DN {self.base!r} does not exist and cannot be created: {answer.message}",
                status=500,
            )

    def _ensure_org(self, session: Session, org: str) -> None:
        """The organization's entry and its two containers, created on first use."""
        if org in self._orgs:
            return
        org_dn = self.org_dn(org)
        attrs = {"objectClass": ["organization", "scimOrganization"], "o": org, "scimSequence": "0"}
        answer = session.add(org_dn, attrs)
        if answer.code == NO_SUCH_OBJECT:
            self._ensure_base(session)
            answer = session.add(org_dn, attrs)
        if not answer.ok and answer.code != ALREADY_EXISTS:
            raise self._refused(answer)
        for rdn in (self.config.people, self.config.groups):
            answer = session.add(f"{rdn},{org_dn}", self._container_entry(rdn))
            if not answer.ok and answer.code != ALREADY_EXISTS:
                raise self._refused(answer)
        with self._lock:
            self._orgs.add(org)

    def _next_seq(self, session: Session, org: str) -> int:
        """The organization's next creation number: an atomic increment (RFC 4525)
        read back with the post-read control (RFC 4527)."""
        org_dn = self.org_dn(org)
        for _ in range(ATTEMPTS):
            answer = session.modify(
                org_dn,
                {"scimSequence": [(ldap3.MODIFY_INCREMENT, [1])]},
                controls=[post_read_control(["scimSequence"])],
            )
            if answer.ok:
                values = answer.controls[POST_READ]["value"]["result"]
                return int(values.get("scimSequence", values.get("scimsequence"))[0])
            if answer.code == NO_SUCH_ATTRIBUTE:
                # An organization entry made by another tool: give it the counter (one
                # of these two modifies fails if a concurrent writer did it first).
                session.modify(
                    org_dn,
                    {
                        "objectClass": [(ldap3.MODIFY_ADD, ["scimOrganization"])],
                        "scimSequence": [(ldap3.MODIFY_ADD, ["0"])],
                    },
                )
                session.modify(org_dn, {"scimSequence": [(ldap3.MODIFY_ADD, ["0"])]})
                continue
            if answer.code == NO_SUCH_OBJECT:
                with self._lock:
                    self._orgs.discard(org)
                self._ensure_org(session, org)
                continue
            raise self._refused(answer)
        raise errors.Conflict("The organization's sequence is too busy; retry.")

    # -- reading ------------------------------------------------------------------

    def _read(
        self,
        session: Session,
        org: str,
        rtype: str,
        id: str,
        attributes: list[str],
        controls: list[Any] | None = None,
    ) -> Entry | None:
        answer = session.search(
            self.dn(org, rtype, id),
            RESOURCE,
            scope=ldap3.BASE,
            attributes=attributes,
            controls=controls,
        )
        if not answer.ok or not answer.entries:
            return None
        entry = answer.entries[0]
        return entry if entry.first("scimId") == id else None  # caseExactMatch squeezes spaces

    def _doc(self, entry: Entry) -> Resource:
        raw = entry.first("scimDocument")
        doc: Resource = json.loads(raw) if raw else {}
        meta = doc.setdefault("meta", {})
        if "lastModified" not in meta:
            modified = entry.first("scimModified")
            if modified:
                meta["lastModified"] = from_generalized(modified) or modified
        meta["version"] = weak_etag(int(entry.first("scimVersion") or 1))
        retained = entry.first("scimRetained")
        if retained:
            meta["retained"] = from_generalized(retained) or retained
        return doc

    @staticmethod
    def _seq(entry: Entry) -> int:
        return int(entry.first("scimSeq") or 0)

    def _lookup(self, session: Session, org: str, ids: Iterable[str]) -> dict[str, Ref]:
        """The resources of the organization with these ids (retained ones too)."""
        wanted = [i for i in dict.fromkeys(ids) if isinstance(i, str) and i]
        found: dict[str, Ref] = {}
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            terms = "".join(f"(scimId={esc(i)})" for i in chunk)
            answer = session.search(
                self.org_dn(org),
                f"(&{RESOURCE}(|{terms}))",
                scope=ldap3.SUBTREE,
                attributes=REF,
            )
            for entry in answer.entries:
                ref = self._ref(org, entry.dn, entry.attrs)
                if ref is not None and ref.id in chunk:
                    found[ref.id] = ref
        return found

    def _ref(self, org: str, dn: str, attrs: Mapping[str, list[Any]] | None) -> Ref | None:
        """The resource an entry (or a dereferenced member value) is, if it is ours."""
        parsed = self._parse_member(org, dn)
        if parsed is None or not attrs:
            return None

        def first(name: str) -> str | None:
            values = attrs.get(name)
            if not values:
                return None
            return values[0].decode() if isinstance(values[0], bytes) else values[0]

        if first("scimid") != parsed[1]:  # caseExactMatch squeezes spaces: check exactly
            return None
        return Ref(
            dn, parsed[0], parsed[1], int(first("scimseq") or 0), bool(first("scimretained"))
        )

    def _live_dn(self, session: Session, org: str, id: str) -> str | None:
        ref = self._lookup(session, org, [id]).get(id)
        return ref.dn if ref is not None and not ref.retained else None

    def _member_controls(self) -> list[Any] | None:
        """With a search for groups' members: the members themselves, if the directory
        dereferences (one search instead of a lookup of every member id)."""
        if not self.features.deref:
            return None
        return [ctl.deref_control(self.member, REF)]

    def _refs(self, session: Session, org: str, entries: Iterable[Entry]) -> dict[str, Ref | None]:
        """What each member value of these group entries names (None: nothing of ours,
        or gone)."""
        out: dict[str, Ref | None] = {}
        pending: list[str] = []
        for entry in entries:
            raw = entry.controls.get(ctl.DEREF)
            values = entry.texts(self.member)
            if raw is not None:
                answered = {
                    value: self._ref(org, value, attrs) for value, attrs in ctl.deref_answer(raw)
                }
                out.update({v: answered.get(v) for v in values})
            else:
                pending += values
        if pending:
            out.update(self._resolve(session, org, pending))
        return out

    def _resolve(
        self,
        session: Session,
        org: str,
        values: Iterable[str],
        known: dict[MemberKey, Ref] | None = None,
    ) -> dict[str, Ref | None]:
        """Member values -> what they name, looking up the ids not already ``known``."""
        known = known or {}
        parsed = {v: self._parse_member(org, v) for v in dict.fromkeys(values)}
        missing = [p[1] for p in parsed.values() if p is not None and p not in known]
        found = self._lookup(session, org, missing) if missing else {}
        out: dict[str, Ref | None] = {}
        for value, p in parsed.items():
            ref = known.get(p) if p is not None else None
            if ref is None and p is not None:
                ref = found.get(p[1])
            out[value] = ref if ref is not None and p is not None and ref.rtype == p[0] else None
        return out

    @staticmethod
    def _visible(refs: Iterable[Ref | None]) -> list[dict[str, str]]:
        live = {r.id: r for r in refs if r is not None and not r.retained}
        return [
            {"value": r.id, "type": r.rtype} for r in sorted(live.values(), key=lambda r: r.seq)
        ]

    def _attach_members(self, session: Session, org: str, items: list[Item]) -> None:
        """Fill in Groups' visible ``members`` from their member values."""
        refs = self._refs(session, org, [item.entry for item in items])
        for item in items:
            item.doc.pop("members", None)
            members = self._visible(refs.get(v) for v in item.entry.texts(self.member))
            if members:
                item.doc["members"] = members

    def _attach_groups(self, session: Session, org: str, docs: list[Resource]) -> None:
        """Fill in Users' ``groups``: the groups whose member values name them."""
        if not docs:
            return
        by_key = {("User", d["id"]): d for d in docs}
        for doc in docs:
            doc.pop("groups", None)
        found: dict[MemberKey, list[tuple[int, dict[str, Any]]]] = {}
        dns = [self.dn(org, "User", d["id"]) for d in docs]
        for start in range(0, len(dns), CHUNK):
            chunk = dns[start : start + CHUNK]
            terms = "".join(f"({self.member}={esc(dn)})" for dn in chunk)
            controls = None
            attrs = ["scimId", "scimDocument", "scimSeq"]
            if len(docs) > 1:  # which of them: only the matching member values come back
                controls = [ctl.matched_values_control(self.member, chunk, attrs)]
                attrs = [*attrs, self.member]
            answer = session.search(
                self.container(org, "Group"),
                f"(&{RESOURCE}(|{terms}))",
                attributes=attrs,
                controls=controls,
            )
            for entry in answer.entries:
                raw = entry.first("scimDocument")
                display = json.loads(raw).get("displayName") if raw else None
                group = {"value": entry.first("scimId"), "display": display, "type": "direct"}
                members = entry.texts(self.member) if controls else chunk
                for value in members:
                    found.setdefault(self.member_key(org, value), []).append(
                        (self._seq(entry), group)
                    )
        for key, doc in by_key.items():
            groups = sorted(found.get(key, ()), key=lambda pair: pair[0])
            if groups:
                doc["groups"] = [dict(g) for _, g in groups]

    def _attach(self, session: Session, org: str, rtype: str, items: list[Item], members: bool):
        if rtype == "User":
            self._attach_groups(session, org, [item.doc for item in items])
        elif rtype == "Group" and members:
            self._attach_members(session, org, items)

    # -- writing --------------------------------------------------------------------

    def _derived(self, org: str, rtype: str, doc: Resource) -> dict[str, list[Any]]:
        """The scim* attributes of a document (besides id, version, seq, retained)."""
        body = {k: v for k, v in doc.items() if k not in ("members", "groups")}
        meta = dict(body.get("meta") or {})
        meta.pop("version", None)
        meta.pop("retained", None)
        modified, lossless = to_generalized(meta.get("lastModified"))
        if lossless:
            meta.pop("lastModified")  # kept in scimModified, which a member change rewrites
        created, _ = to_generalized(meta.get("created"))
        body["meta"] = meta
        if rtype == "Group":
            name, display = _lower(doc.get("displayName")), None
        else:
            name, display = _lower(doc.get("userName")), _lower(doc.get("displayName"))
        emails: list[bytes] = []
        if rtype == "User":
            for element in doc.get("emails") or ():
                value = _lower(element.get("value")) if isinstance(element, Mapping) else None
                if value and value.encode() not in emails:
                    emails.append(value.encode())
        external = doc.get("externalId")
        active = doc.get("active")
        # Unique over the whole subtree (slapo-unique), so it names the organization.
        unique = f"{rtype}\n{name}\n{self.org_dn(org).lower()}" if name else None
        return {
            "scimDocument": [json.dumps(body, ensure_ascii=False, separators=(",", ":"))],
            "scimCreated": [created] if created else [],
            "scimModified": [modified] if modified else [],
            "scimNameKey": [name.encode()] if name else [],
            "scimDisplayNameKey": [display.encode()] if display else [],
            "scimEmailKey": emails,
            "scimExternalId": [external.encode()] if isinstance(external, str) and external else [],
            "scimActive": ["TRUE" if active else "FALSE"] if isinstance(active, bool) else [],
            "scimUniqueName": [unique.encode()] if unique else [],
        }

    def _projection(self, org: str, rtype: str, doc: Resource) -> dict[str, list[str]]:
        def dn_of(id: str) -> str:
            return self.dn(org, "User", id)

        return self.features.projections[rtype].project(doc, dn_of)

    def _refused(self, answer: Answer, rtype: str | None = None, doc: Resource | None = None):
        """A ScimError for a write the directory refused."""
        if answer.code == CONSTRAINT and "non-unique" in answer.message.lower():
            name = "displayName" if rtype == "Group" else "userName"
            value = (doc or {}).get(name)
            return errors.Uniqueness(f"{rtype} {name} {value!r} is already taken.")
        if answer.code == BUSY:
            return errors.Unavailable(
                f"The directory is busy: {answer.message}", retry_after=self.config.retry_after
            )
        if answer.code in (INVALID_SYNTAX, OBJECT_CLASS, CONSTRAINT):
            return errors.InvalidValue(f"The directory refused the entry: {answer.message}")
        return errors.ScimError(
            f"The directory refused the operation ({answer.code}): {answer.message}", status=500
        )

    def _placeholder(self) -> str | None:
        return self.config.empty_member

    # -- the Store contract ----------------------------------------------------------

    def create(self, org: str, rtype: ResourceType, resource: Resource) -> Resource:
        return self._call(lambda s: self._create(s, org, rtype.name, resource))

    def _create(self, session: Session, org: str, rtype: str, resource: Resource) -> Resource:
        doc = copy.deepcopy(resource)
        wanted = doc.pop("members", None) or []
        doc.pop("groups", None)
        doc["meta"]["version"] = weak_etag(1)
        self._ensure_org(session, org)
        seq = self._next_seq(session, org)
        attrs: dict[str, Any] = {"objectClass": self._classes(rtype)}
        attrs.update(self._projection(org, rtype, doc))
        attrs.update({k: v for k, v in self._derived(org, rtype, doc).items() if v})
        attrs.update({"scimId": doc["id"], "scimVersion": "1", "scimSeq": str(seq)})
        targets: list[Ref] = []
        if rtype == "Group":
            ids = [m.get("value") for m in wanted if isinstance(m, Mapping)]
            found = self._lookup(session, org, ids)
            targets = [found[i] for i in dict.fromkeys(ids) if i in found]
            values = [ref.dn for ref in targets]
            placeholder = self._placeholder()
            if not values and placeholder is not None:
                values = [placeholder]
            if values:
                attrs[self.member] = values
        answer = session.add(self.dn(org, rtype, doc["id"]), attrs)
        if answer.code == NO_SUCH_OBJECT:  # the containers went away under us: again
            with self._lock:
                self._orgs.discard(org)
            self._ensure_org(session, org)
            answer = session.add(self.dn(org, rtype, doc["id"]), attrs)
        if answer.code == ALREADY_EXISTS:
            raise errors.Uniqueness(f"{rtype} id {doc['id']!r} is already taken.")
        if not answer.ok:
            raise self._refused(answer, rtype, doc)
        members = self._visible(targets)
        if members:
            doc["members"] = members
        return doc

    def get(
        self,
        org: str,
        rtype: ResourceType,
        id: str,
        *,
        members: bool = True,
        retained: bool = False,
    ) -> Resource:
        def run(session: Session) -> Resource:
            with_members = rtype.name == "Group" and members
            attributes = [*DOC, self.member] if with_members else DOC
            controls = self._member_controls() if with_members else None
            entry = self._read(session, org, rtype.name, id, attributes, controls)
            if entry is None or (entry.first("scimRetained") and not retained):
                raise errors.NotFound(f"{rtype.name} {id!r} not found.")
            item = Item(entry, self._doc(entry), self._seq(entry))
            self._attach(session, org, rtype.name, [item], with_members)
            return item.doc

        return self._call(run)

    def update(
        self,
        org: str,
        rtype: ResourceType,
        id: str,
        mutate: Mutation,
        *,
        if_match: str | None = None,
        members: bool = True,
        member_change: MemberChange | None = None,
        retain: bool | None = None,
    ) -> Resource:
        return self._call(
            lambda s: self._update(
                s, org, rtype.name, id, mutate, if_match, members, member_change, retain
            )
        )

    def _update(
        self,
        session: Session,
        org: str,
        rtype: str,
        id: str,
        mutate: Mutation,
        if_match: str | None,
        members: bool,
        member_change: MemberChange | None,
        retain: bool | None,
    ) -> Resource:
        is_group = rtype == "Group"
        change = member_change if member_change is not None and not member_change.empty else None
        # The whole member list is read when it is rewritten (members=True, replace);
        # added and removed members alone need only the values they name.
        whole = is_group and (members or (change is not None and change.replace is not None))
        partial = is_group and not whole and change is not None
        targets: dict[str, Ref] = {}
        if partial and change is not None and change.add:
            targets = self._lookup(session, org, (m.value for m in change.add))
        dn = self.dn(org, rtype, id)
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
            attributes, controls = [*DOC, *DERIVED], None
            if whole:
                attributes, controls = [*attributes, self.member], self._member_controls()
            elif partial:
                named = self._named_values(org, change, targets)
                attributes = [*attributes, self.member]
                controls = [ctl.matched_values_control(self.member, named, [*DOC, *DERIVED])]
            entry = self._read(session, org, rtype, id, attributes, controls)
            retained_at = entry.first("scimRetained") if entry is not None else None
            if entry is None or (retained_at and retain is not False):
                raise errors.NotFound(f"{rtype} {id!r} not found.")
            version = int(entry.first("scimVersion") or 1)
            if if_match is not None and not etag_matches(if_match, weak_etag(version)):
                raise errors.PreconditionFailed()
            current = self._doc(entry)
            refs = self._refs(session, org, [entry]) if whole else {}
            if is_group and members:
                visible = self._visible(refs.get(v) for v in entry.texts(self.member))
                if visible:
                    current["members"] = visible
            groups = None
            if not is_group:
                self._attach_groups(session, org, [current])
                groups = current.get("groups")
            doc = mutate(copy.deepcopy(current))
            wanted = doc.pop("members", None) if is_group else None
            doc.pop("groups", None)
            meta = doc.setdefault("meta", {})
            meta["version"] = weak_etag(version + 1)
            meta.pop("retained", None)

            changes = self._changes(org, rtype, entry, doc, version, if_match, retain, retained_at)
            plan: _Plan | None = None
            if whole:
                # With members=True the document's list is the new list ([] if absent).
                plan = self._member_plan(
                    session, org, entry.texts(self.member), refs,
                    (wanted or []) if members else None, change,
                )  # fmt: skip
            elif partial and change is not None:
                plan = self._partial_plan(org, entry.texts(self.member), change, targets)
            if plan is not None:
                ops = []
                if plan.deletes:
                    ops.append((ldap3.MODIFY_DELETE, plan.deletes))
                if plan.adds:
                    ops.append((ldap3.MODIFY_ADD, plan.adds))
                if ops:
                    changes[self.member] = ops
            reads = [*DOC, self.member] if is_group and members else DOC
            answer = session.modify(dn, changes, controls=[post_read_control(reads)])
            if answer.ok:
                values = answer.controls[POST_READ]["value"]["result"]
                after = Entry(dn, {k.lower(): _bytes(v) for k, v in values.items()})
                result = self._doc(after)
                if is_group and members:
                    known = {(r.rtype, r.id): r for r in refs.values() if r is not None}
                    known.update({(r.rtype, r.id): r for r in plan.targets} if plan else {})
                    now_refs = self._resolve(session, org, after.texts(self.member), known)
                    listed = self._visible(now_refs.get(v) for v in after.texts(self.member))
                    if listed:
                        result["members"] = listed
                if groups:
                    result["groups"] = groups
                return result
            if answer.code == NO_SUCH_OBJECT:
                raise errors.NotFound(f"{rtype} {id!r} not found.")
            if answer.code == OBJECT_CLASS and partial:
                whole = True  # the last member went: the whole list decides the placeholder
                continue
            if answer.code in (NO_SUCH_ATTRIBUTE, VALUE_EXISTS, OBJECT_CLASS):
                # Another writer went first (the version, a member value, the last
                # member): read again and redo.
                continue
            raise self._refused(answer, rtype, doc)
        raise errors.Conflict(f"{rtype} {id!r} is changing too often to update; retry.")

    def _changes(
        self,
        org: str,
        rtype: str,
        entry: Entry,
        doc: Resource,
        version: int,
        if_match: str | None,
        retain: bool | None,
        retained_at: str | None,
    ) -> dict[str, list[tuple[str, list[Any]]]]:
        """The modify for a new document, but for its members."""
        derived = self._derived(org, rtype, doc)
        same = all(
            sorted(_bytes(values)) == sorted(entry.attrs.get(name.lower(), []))
            for name, values in derived.items()
            if name != "scimModified"
        )
        retaining = (retain is True and not retained_at) or (retain is False and bool(retained_at))
        if same and if_match is None and not retaining:
            # Only lastModified (and perhaps members) change: no compare-and-swap, so
            # concurrent member changes all get through (RFC 4525 increment).
            return {
                "scimVersion": [(ldap3.MODIFY_INCREMENT, [1])],
                "scimModified": [(ldap3.MODIFY_REPLACE, derived["scimModified"])],
            }
        changes: dict[str, list[tuple[str, list[Any]]]] = {
            "scimVersion": [
                (ldap3.MODIFY_DELETE, [str(version)]),
                (ldap3.MODIFY_ADD, [str(version + 1)]),
            ]
        }
        for name, values in derived.items():
            changes[name] = [(ldap3.MODIFY_REPLACE, values)]
        projection = self._projection(org, rtype, doc)
        for name in self.features.projections[rtype].names:
            changes[name] = [(ldap3.MODIFY_REPLACE, projection.get(name, []))]
        if retain is True and not retained_at:
            changes["scimRetained"] = [(ldap3.MODIFY_REPLACE, [to_generalized(now())[0]])]
        elif retain is False and retained_at:
            changes["scimRetained"] = [(ldap3.MODIFY_REPLACE, [])]
        return changes

    def _named_values(
        self, org: str, change: MemberChange | None, targets: dict[str, Ref]
    ) -> list[str]:
        """The member values an add/remove change is about (and the placeholder)."""
        named = [ref.dn for ref in targets.values()]
        for id in change.remove if change is not None else ():
            named += [self.dn(org, "User", id), self.dn(org, "Group", id)]
        if self._placeholder() is not None:
            named.append(self._placeholder())
        return list(dict.fromkeys(named))

    def _partial_plan(
        self, org: str, present: list[str], change: MemberChange, targets: dict[str, Ref]
    ) -> _Plan:
        """Adds and removes, from the values among them that are present."""
        have = {self.member_key(org, v): v for v in present}
        adding = {(r.rtype, r.id): r for r in targets.values()}
        deletes = [
            have[(rtype, id)]
            for id in change.remove
            for rtype in ("User", "Group")
            if (rtype, id) in have and (rtype, id) not in adding
        ]
        adds = [ref.dn for key, ref in adding.items() if key not in have]
        placeholder = self._placeholder()
        if adds and placeholder is not None:
            empty = have.get(self.member_key(org, placeholder))
            if empty is not None:
                deletes.append(empty)
        return _Plan(deletes, adds, list(targets.values()))

    def _member_plan(
        self,
        session: Session,
        org: str,
        raw: list[str],
        refs: dict[str, Ref | None],
        wanted: list[Any] | None,
        change: MemberChange | None,
    ) -> _Plan:
        """The member values to delete and add, from the whole list read."""
        current: dict[MemberKey, str] = {self.member_key(org, v): v for v in raw}
        final = dict(current)
        targets: list[Ref] = []
        # Values naming our entries that are gone: clean them up on the way.
        for key, value in current.items():
            if key[0] and refs.get(value) is None:
                final.pop(key)

        def set_visible(ids: Iterable[str]) -> None:
            found = self._lookup(session, org, ids)
            targets.extend(found.values())
            keys = {(r.rtype, r.id): r.dn for r in found.values()}
            for key, value in list(final.items()):
                ref = refs.get(value)
                if ref is not None and not ref.retained and key not in keys:
                    final.pop(key)
            for key, value in keys.items():
                final.setdefault(key, value)

        if wanted is not None:
            set_visible(m.get("value") for m in wanted if isinstance(m, Mapping))
        if change is not None:
            if change.replace is not None:
                set_visible(m.value for m in change.replace)
            for id in change.remove:
                for rtype in ("User", "Group"):
                    final.pop((rtype, id), None)
            if change.add:
                found = self._lookup(session, org, (m.value for m in change.add))
                targets.extend(found.values())
                for ref in found.values():
                    final.setdefault((ref.rtype, ref.id), ref.dn)
        placeholder = self._placeholder()
        if placeholder is not None:
            empty = self.member_key(org, placeholder)
            if any(key != empty for key in final):
                final.pop(empty, None)
            else:
                final.setdefault(empty, placeholder)
        return _Plan(
            deletes=[v for k, v in current.items() if k not in final],
            adds=[v for k, v in final.items() if k not in current],
            targets=targets,
        )

    def delete(
        self, org: str, rtype: ResourceType, id: str, *, if_match: str | None = None
    ) -> None:
        self._call(lambda s: self._delete(s, org, rtype.name, id, if_match))

    def _delete(
        self, session: Session, org: str, rtype: str, id: str, if_match: str | None
    ) -> None:
        dn = self.dn(org, rtype, id)
        for _ in range(ATTEMPTS):
            entry = self._read(session, org, rtype, id, DOC)
            if entry is None:
                raise errors.NotFound(f"{rtype} {id!r} not found.")
            controls = None
            if if_match is not None:
                version = int(entry.first("scimVersion") or 1)
                if not etag_matches(if_match, weak_etag(version)):
                    raise errors.PreconditionFailed()
                controls = [ctl.assertion_control(f"(scimVersion={version})")]
            answer = session.delete(dn, controls=controls)
            if answer.code == ASSERTION_FAILED:
                continue  # changed since read: check the version again
            if answer.code == NO_SUCH_OBJECT:
                raise errors.NotFound(f"{rtype} {id!r} not found.")
            if not answer.ok:
                raise self._refused(answer, rtype)
            self._forget_member(session, org, dn)
            return
        raise errors.Conflict(f"{rtype} {id!r} is changing too often to delete; retry.")

    def _forget_member(self, session: Session, org: str, dn: str) -> None:
        """Take a deleted resource's DN out of every group naming it."""
        answer = session.search(
            self.container(org, "Group"), f"(&{RESOURCE}({self.member}={esc(dn)}))"
        )
        placeholder = self._placeholder()
        for group in answer.entries:
            result = session.modify(group.dn, {self.member: [(ldap3.MODIFY_DELETE, [dn])]})
            if result.code == OBJECT_CLASS and placeholder is not None:  # it was the last one
                session.modify(
                    group.dn,
                    {self.member: [(ldap3.MODIFY_DELETE, [dn]), (ldap3.MODIFY_ADD, [placeholder])]},
                )

    # -- queries --------------------------------------------------------------------

    def query(self, org: str, rtype: ResourceType, query: Query) -> Page:
        return self._call(lambda s: self._query(s, org, rtype, query))

    def _query(self, session: Session, org: str, rtype: ResourceType, query: Query) -> Page:
        name = rtype.name
        compiled = compile_filter(name, query.filter, lambda id: self._live_dn(session, org, id))
        parts = [RESOURCE]
        if compiled.pushed:
            parts.append(compiled.pushed)
        if query.retained == "exclude":
            parts.append("(!(scimRetained=*))")
        elif query.retained == "only":
            parts.append("(scimRetained=*)")
        flt = "(&" + "".join(parts) + ")"
        cursor = self._decode_cursor(query.cursor, query.sort_by) if query.cursor else None
        segments = self._segments(name, flt, query)
        if (
            segments is not None
            and compiled.rest is None
            and not compiled.selective
            and self.features.vlv
            and FALSE not in parts
        ):
            for wait in (0.0, 0.02, 0.05, 0.1):
                time.sleep(wait)
                try:
                    return self._query_view(session, org, name, query, segments, cursor)
                except _NoView as exc:
                    if not exc.busy:
                        log.warning("LDAP store: no sorted view (%s); sorting here", exc)
                        break
        return self._query_scan(session, org, name, query, flt, compiled.rest, cursor)

    # A cursor (RFC 9865) is the position after the last resource returned: its
    # creation number and, for a sorted list, its sort value. Resources created or
    # renamed between pages are neither repeated nor skipped (keyset paging).

    @staticmethod
    def _encode_cursor(seq: int, sort_by: Resolved | None, value: Any) -> str:
        payload: dict[str, Any] = {"s": seq}
        if sort_by is not None:
            if value is None:
                payload["v"] = None
            elif isinstance(value, bool):
                payload["v"] = ["b", value]
            elif isinstance(value, str):
                payload["v"] = ["s", value]
            elif isinstance(value, datetime):
                payload["v"] = ["t", generalized(value)]
            else:
                payload["v"] = ["n", str(value)]
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(text: str, sort_by: Resolved | None) -> Cursor:
        bad = errors.InvalidCursor(f"Cursor {text!r} is not one this server issued.")
        try:
            payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise bad from exc
        if not isinstance(payload, dict) or not payload.keys() <= {"s", "v"}:
            raise bad
        seq = payload.get("s")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**63:
            raise bad
        if sort_by is None or "v" not in payload:
            if sort_by is not None:
                raise bad
            return Cursor(seq)
        tagged = payload["v"]
        if tagged is None:
            return Cursor(seq, None, False)
        if not (isinstance(tagged, list) and len(tagged) == 2 and isinstance(tagged[0], str)):
            raise bad
        tag, value = tagged
        if tag == "b" and isinstance(value, bool):
            return Cursor(seq, value, True)
        if tag == "s" and isinstance(value, str):
            return Cursor(seq, value, True)
        if tag == "t" and isinstance(value, str):
            moment = instant(from_generalized(value) or "")
            if moment is not None:
                return Cursor(seq, moment, True)
        if tag == "n" and isinstance(value, str):
            try:
                return Cursor(seq, Decimal(value), True)
            except InvalidOperation:
                pass
        raise bad

    @staticmethod
    def _sort_value(doc: Resource, sort_by: Resolved) -> Any:
        key = sort_key(doc, sort_by)
        return key[1] if len(key) == 2 else None

    # -- queries the evaluator answers --------------------------------------------

    def _query_scan(
        self,
        session: Session,
        org: str,
        rtype: str,
        query: Query,
        flt: str,
        rest: Filter | None,
        cursor: Cursor | None,
    ) -> Page:
        """Every candidate the pushed filter selects, evaluated, sorted and paged here."""
        is_group = rtype == "Group"
        relations = {"members", "groups"}
        # Relations every candidate needs (the filter or the sort reads them), or only
        # the page (fetched again below, members included, once the page is known).
        early = _mentions(rest, relations) or (
            query.sort_by is not None and query.sort_by.attribute.name in relations
        )
        with_members = is_group and early
        answer = session.search_all(
            self.container(org, rtype),
            flt,
            attributes=[*DOC, self.member] if with_members else DOC,
            controls=self._member_controls() if with_members else None,
        )
        if not answer.ok and answer.code != NO_SUCH_OBJECT:
            raise self._refused(answer)
        items = sorted(
            (Item(e, self._doc(e), self._seq(e)) for e in answer.entries), key=lambda i: i.seq
        )
        if early:
            self._attach(session, org, rtype, items, with_members)
        found = [item for item in items if rest is None or matches(rest, item.doc)]
        sort_by, descending = query.sort_by, query.descending
        if sort_by is not None:
            found.sort(
                key=lambda i: sort_key(i.doc, sort_by, descending=descending), reverse=descending
            )
        elif descending:
            found.reverse()
        total = len(found)
        next_cursor = None
        if query.cursor is not None:
            start = 0
            if cursor is not None:
                start = next(
                    (n for n, item in enumerate(found) if self._after(item, cursor, query)), total
                )
            page = found[start : start + query.count] if query.count else []
            if query.count and start + query.count < total:
                last = page[-1]
                value = self._sort_value(last.doc, sort_by) if sort_by else None
                next_cursor = self._encode_cursor(last.seq, sort_by, value)
        else:
            offset = query.start_index - 1
            page = found[offset : offset + query.count] if query.count else []
        if not early:
            if is_group and query.members and page:
                self._refetch_members(session, org, page)
            self._attach(session, org, rtype, page, is_group and query.members)
        if not query.members:
            for item in page:
                item.doc.pop("members", None)
        return Page([item.doc for item in page], total, next_cursor)

    def _refetch_members(self, session: Session, org: str, page: list[Item]) -> None:
        """The member values (and what they name) of a page of groups."""
        by_id = {item.doc["id"]: item for item in page}
        ids = list(by_id)
        for start in range(0, len(ids), CHUNK):
            terms = "".join(f"(scimId={esc(i)})" for i in ids[start : start + CHUNK])
            answer = session.search(
                self.container(org, "Group"),
                f"(&{RESOURCE}(|{terms}))",
                attributes=["scimId", self.member],
                controls=self._member_controls(),
            )
            for entry in answer.entries:
                item = by_id.get(entry.first("scimId") or "")
                if item is not None:
                    item.entry = entry

    def _after(self, item: Item, cursor: Cursor, query: Query) -> bool:
        """Whether ``item`` comes after the cursor's position in the list's order."""
        descending = query.descending
        if query.sort_by is None:
            return item.seq < cursor.seq if descending else item.seq > cursor.seq
        value = self._sort_value(item.doc, query.sort_by)
        if not cursor.valued:  # the cursor is among resources without the value: last
            return value is None and item.seq > cursor.seq
        if value is None:
            return True
        try:
            if value == cursor.value:
                return item.seq > cursor.seq
            return value < cursor.value if descending else value > cursor.value
        except TypeError as exc:
            raise errors.InvalidCursor("The cursor does not belong to this sort order.") from exc

    # -- queries the directory sorts and pages (slapo-sssvlv) --------------------------

    def _segments(self, rtype: str, flt: str, query: Query) -> list[Segment] | None:
        """How the directory can produce the list in order, or None if it cannot.

        Resources without the sort value come last in both directions
        (``evaluate.sort_key``), which server-side sorting does only ascending:
        they are a second segment, in creation order.
        """
        descending = query.descending
        if query.sort_by is None:
            return [Segment(flt, [("scimSeq", descending)])]
        dotted = query.sort_by.dotted
        key = KEYS.get(rtype, {}).get(dotted)
        if key is None or key.multi or key.kind not in ("string", "instant"):
            return None
        a = key.attribute
        if dotted in ALWAYS.get(rtype, frozenset()):
            return [Segment(flt, [(a, descending), ("scimSeq", False)], a)]
        return [
            Segment(f"(&{flt}({a}=*))", [(a, descending), ("scimSeq", False)], a),
            Segment(f"(&{flt}(!({a}=*)))", [("scimSeq", False)]),
        ]

    def _window(
        self,
        session: Session,
        base: str,
        segment: Segment,
        offset: int,
        after: int,
        attrs: list[str],
        extra: list[Any] | None = None,
    ) -> tuple[int, list[Entry]]:
        """``(count of the segment, entries from 1-based offset, after+1 of them)``."""
        view = [ctl.sort_control(segment.keys), ctl.vlv_control(offset, after)]
        answer = session.search(
            base, segment.filter, attributes=attrs, controls=[*view, *(extra or ())]
        )
        if answer.code == NO_SUCH_OBJECT:
            return 0, []
        view = ctl.vlv_answer(answer.raw)
        if answer.code == VLV_ERROR and view is not None and view.result == OFFSET_RANGE:
            return view.count, []  # the offset is past the end
        if not answer.ok or view is None or ctl.sort_result(answer.raw) not in (0, None):
            raise _NoView(answer.code == BUSY, f"{answer.code} {answer.message}")
        return view.count, answer.entries

    def _query_view(
        self,
        session: Session,
        org: str,
        rtype: str,
        query: Query,
        segments: list[Segment],
        cursor: Cursor | None,
    ) -> Page:
        base = self.container(org, rtype)
        with_members = rtype == "Group" and query.members
        attrs = [*DOC, self.member] if with_members else DOC
        extra = self._member_controls() if with_members else None
        with self.pool.throwaway() as view:
            counts: list[int | None] = [None] * len(segments)
            entries: list[Entry] = []
            if query.cursor is None or cursor is None:
                # Index paging, or the first page of a cursor walk (one more to see
                # whether there is a next page).
                start = query.start_index if query.cursor is None else 1
                need = query.count + (1 if query.cursor is not None and query.count else 0)
                seen = 0  # resources in the segments before this one
                for n, segment in enumerate(segments):
                    offset = max(1, start - seen)
                    if need > len(entries) and offset < VLV_MAX:
                        after = min(need - len(entries) - 1, VLV_MAX - offset)
                        counts[n], got = self._window(
                            view, base, segment, offset, after, attrs, extra
                        )
                        entries += got
                    else:  # nothing wanted from here, or past any possible end
                        counts[n], _ = self._window(view, base, segment, 1, 0, ["1.1"])
                    seen += counts[n] or 0
            else:
                first = self._cursor_segment(segments, cursor)
                for n in range(first, len(segments)):
                    segment = segments[n]
                    if n == first:
                        segment = Segment(
                            f"(&{segment.filter}{self._keyset(segment, cursor, query)})",
                            segment.keys,
                            segment.key,
                        )
                    need = min(query.count + 1, VLV_MAX) - len(entries)
                    if need > 0 and query.count:
                        _, got = self._window(view, base, segment, 1, need - 1, attrs, extra)
                        entries += got
                for n, segment in enumerate(segments):
                    counts[n], _ = self._window(view, base, segment, 1, 0, ["1.1"])
        total = sum(c or 0 for c in counts)
        next_cursor = None
        if query.cursor is not None:
            more = len(entries) > query.count
            entries = entries[: query.count]
            if more and entries:
                last = entries[-1]
                doc = self._doc(last)
                value = self._sort_value(doc, query.sort_by) if query.sort_by else None
                next_cursor = self._encode_cursor(self._seq(last), query.sort_by, value)
        else:
            entries = entries[: query.count] if query.count else []
        items = [Item(e, self._doc(e), self._seq(e)) for e in entries]
        self._attach(session, org, rtype, items, with_members)
        return Page([item.doc for item in items], total, next_cursor)

    @staticmethod
    def _cursor_segment(segments: list[Segment], cursor: Cursor) -> int:
        """The segment the cursor points into: the sorted one, unless it is among the
        resources without a sort value (the second, if there is one)."""
        if segments[0].key is None or cursor.valued:
            return 0
        return 1 if len(segments) > 1 else len(segments)

    @staticmethod
    def _keyset(segment: Segment, cursor: Cursor, query: Query) -> str:
        """The LDAP filter for "after the cursor" within one segment."""
        seq = cursor.seq
        if segment.key is None:
            if query.sort_by is None and query.descending:
                return f"(scimSeq<={seq - 1})" if seq > 0 else FALSE
            return f"(scimSeq>={seq + 1})"
        a, value = segment.key, cursor.value
        if isinstance(value, datetime):
            v = generalized(value)
            beyond = (
                f"(&({a}<={v})(!({a}={v})))" if query.descending else f"(&({a}>={v})(!({a}={v})))"
            )
        elif isinstance(value, str):
            v = esc(value)
            beyond = (
                f"(&({a}<={v})(!({a}={v})))"
                if query.descending
                else f"({a}>={esc(value + chr(0))})"
            )
        else:
            raise errors.InvalidCursor("The cursor does not belong to this sort order.")
        return f"(|{beyond}(&({a}={v})(scimSeq>={seq + 1})))"


class _NoView(Exception):
    """The directory would not sort this list: busy (slapo-sssvlv sorts as many lists
    as it allows at once) or otherwise."""

    def __init__(self, busy: bool, detail: str) -> None:
        super().__init__(detail)
        self.busy = busy
