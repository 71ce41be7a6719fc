"""Filter AST to LDAP filter strings (RFC 4515), for what the directory matches exactly.

``compile_filter`` splits a filter's top-level conjuncts into a pushed LDAP filter
and the rest for the reference evaluator (``evaluate.matches``), the way the SQL
compiler does. A pushed comparison must select exactly what the evaluator would,
so strings are matched on the ``scim*Key`` attributes: octet strings holding the
value lowered with ``str.lower()`` (or as is, for caseExact attributes), compared
byte by byte. UTF-8 keeps code point order and never matches inside a character,
so ``>=``, ``<=`` and substrings on those bytes are SCIM's comparisons exactly.
The directory's own matching rules (caseIgnoreMatch: Unicode folding, NFKC,
insignificant spaces) would not be, and are never relied on.

* ``co``/``sw``/``ew`` are substring filters; ``gt v`` on a string is ``>= v + NUL``
  (the least string above ``v``), exact for multi-valued keys too; ``lt`` on a
  multi-valued key has no exact form and is left to the evaluator.
* ``ne v`` is ``(!(key=v))``: true when no value equals ``v``, absence included.
* Booleans (``scimActive``) and instants (``scimCreated``/``scimModified``,
  GeneralizedTime to the microsecond) compare natively.
* ``id eq`` is pushed as a superset (``scimId`` uses caseExactMatch, which squeezes
  spaces); the evaluator re-checks it, so it is never negated.
* ``members.value eq X`` becomes ``(member=<DN of X>)`` once X is found live in
  the organization (else it matches nothing): retained members are not members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ldap3.utils.conv import escape_filter_chars

from scimserver.protocol.filter_ast import And, Compare, Filter, Not, Or, Present, ValuePath
from scimserver.protocol.schema import BOOLEAN, DATETIME, Resolved

from .mapping import generalized, instant

TRUE = "(objectClass=*)"
FALSE = "(!(objectClass=*))"


@dataclass(frozen=True)
class Key:
    """A directory attribute holding one SCIM attribute's comparable values."""

    attribute: str
    kind: str  # "string", "boolean", "instant"
    lowered: bool = False
    multi: bool = False


KEYS: dict[str, dict[str, Key]] = {
    "User": {
        "userName": Key("scimNameKey", "string", lowered=True),
        "displayName": Key("scimDisplayNameKey", "string", lowered=True),
        "externalId": Key("scimExternalId", "string"),
        "emails.value": Key("scimEmailKey", "string", lowered=True, multi=True),
        "active": Key("scimActive", "boolean"),
        "meta.created": Key("scimCreated", "instant"),
        "meta.lastModified": Key("scimModified", "instant"),
    },
    "Group": {
        "displayName": Key("scimNameKey", "string", lowered=True),
        "externalId": Key("scimExternalId", "string"),
        "meta.created": Key("scimCreated", "instant"),
        "meta.lastModified": Key("scimModified", "instant"),
    },
}
# Keys every resource of the type has: sorting on them needs no "missing" segment.
ALWAYS: dict[str, frozenset[str]] = {
    "User": frozenset({"userName", "meta.created", "meta.lastModified"}),
    "Group": frozenset({"displayName", "meta.created", "meta.lastModified"}),
}
# Equality on these finds a handful of resources (IdPs look users and groups up by
# them): such queries skip the sorted view and its connection of its own.
SELECTIVE = frozenset(
    {"id", "userName", "displayName", "externalId", "emails.value", "members.value"}
)


@dataclass(frozen=True)
class Compiled:
    pushed: str | None  # an LDAP filter, or None when nothing could be pushed
    rest: Filter | None  # what the evaluator must still check
    selective: bool  # an equality on an identifying attribute narrows it down


MemberResolver = Callable[[str], str | None]


def esc(value: str) -> str:
    return escape_filter_chars(value)


def _and(*parts: str) -> str:
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"


def _string(key: Key, op: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return FALSE if op != "ne" else TRUE  # the evaluator never matches a wrong type
    a = key.attribute
    v = value.lower() if key.lowered else value
    if v == "":
        # Stored keys are never empty: "" is a prefix, suffix and part of every value.
        return {
            "eq": FALSE, "ne": TRUE, "co": f"({a}=*)", "sw": f"({a}=*)", "ew": f"({a}=*)",
            "gt": f"({a}=*)", "ge": f"({a}=*)", "lt": FALSE, "le": FALSE,
        }[op]  # fmt: skip
    e = esc(v)
    if op == "lt" and key.multi:
        return None
    return {
        "eq": f"({a}={e})", "ne": f"(!({a}={e}))", "co": f"({a}=*{e}*)", "sw": f"({a}={e}*)",
        "ew": f"({a}=*{e})", "ge": f"({a}>={e})", "le": f"({a}<={e})",
        "gt": f"({a}>={esc(v + chr(0))})",  # the next octet string after v
        "lt": f"(&({a}<={e})(!({a}={e})))",
    }.get(op)  # fmt: skip


def _boolean(key: Key, op: str, value: Any) -> str | None:
    a = key.attribute
    if op not in ("eq", "ne"):
        return None
    if not isinstance(value, bool):
        return FALSE if op == "eq" else TRUE
    test = f"({a}={'TRUE' if value else 'FALSE'})"
    return test if op == "eq" else f"(!{test})"


def _instant(key: Key, op: str, value: Any) -> str | None:
    a = key.attribute
    moment = instant(value)
    if moment is None:
        return None if op in ("co", "sw", "ew") else (TRUE if op == "ne" else FALSE)
    g = generalized(moment)
    return {
        "eq": f"({a}={g})",
        "ne": f"(!({a}={g}))",
        "ge": f"({a}>={g})",
        "le": f"({a}<={g})",
        "gt": f"(&({a}>={g})(!({a}={g})))",
        "lt": f"(&({a}<={g})(!({a}={g})))",
    }.get(op)


class _Compiler:
    def __init__(self, rtype: str, members: MemberResolver) -> None:
        self.rtype = rtype
        self.members = members
        self.superset = False  # the last node compiled is a superset, not exact

    def node(self, node: Filter, negated: bool = False) -> str | None:
        if isinstance(node, And | Or):
            left = self.node(node.left, negated)
            right = self.node(node.right, negated) if left is not None else None
            if left is None or right is None:
                return None
            return f"({'&' if isinstance(node, And) else '|'}{left}{right})"
        if isinstance(node, Not):
            inner = self.node(node.expr, True)
            return None if inner is None else f"(!{inner})"
        if isinstance(node, ValuePath):
            # "Some element's value is v" is "some value is v"; but "some element's
            # value is not v" (or absent) is not "no value is v", so only positive
            # conditions carry over.
            inner = node.filter
            if isinstance(inner, Present) or (
                isinstance(inner, Compare) and inner.op != "ne" and inner.value is not None
            ):
                return self.node(inner, negated)
            return None
        return self.leaf(node, negated)

    def leaf(self, node: Compare | Present, negated: bool) -> str | None:
        attr: Resolved = node.attr
        dotted = attr.dotted
        if dotted == "id":
            if negated or not isinstance(node, Compare) or node.op != "eq":
                return None
            if not isinstance(node.value, str) or not node.value:
                return FALSE
            self.superset = True
            return f"(scimId={esc(node.value)})"
        if dotted == "members.value" and self.rtype == "Group":
            if not isinstance(node, Compare) or node.op != "eq" or not isinstance(node.value, str):
                return None
            dn = self.members(node.value)
            return FALSE if dn is None else f"(member={esc(dn)})"
        key = KEYS.get(self.rtype, {}).get(dotted)
        if key is None:
            return None
        a = key.attribute
        if isinstance(node, Present) or (node.value is None and node.op == "ne"):
            return f"({a}=*)"
        if node.value is None:
            return f"(!({a}=*))" if node.op == "eq" else None
        if key.kind == "string":
            return _string(key, node.op, node.value)
        if key.kind == "boolean" and attr.target.type == BOOLEAN:
            return _boolean(key, node.op, node.value)
        if key.kind == "instant" and attr.target.type == DATETIME:
            return _instant(key, node.op, node.value)
        return None


def _conjuncts(node: Filter) -> list[Filter]:
    if isinstance(node, And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _selective(node: Filter) -> bool:
    if isinstance(node, ValuePath) and isinstance(node.filter, Compare):
        node = node.filter
    return (
        isinstance(node, Compare)
        and node.op == "eq"
        and node.value is not None
        and node.attr.dotted in SELECTIVE
    )


def compile_filter(rtype: str, node: Filter | None, members: MemberResolver) -> Compiled:
    """The pushed LDAP filter and the conjuncts left for the evaluator."""
    if node is None:
        return Compiled(None, None, False)
    pushed: list[str] = []
    rest: Filter | None = None
    selective = False
    for part in _conjuncts(node):
        compiler = _Compiler(rtype, members)
        ldap = compiler.node(part)
        if ldap is not None:
            pushed.append(ldap)
            selective = selective or _selective(part)
        if ldap is None or compiler.superset:
            rest = part if rest is None else And(rest, part)
    return Compiled(_and(*pushed) if pushed else None, rest, selective)
