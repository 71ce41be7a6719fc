"""How a filter uses the Redis store's indexes (no redis-py needed here).

Two questions, answered from the filter AST alone:

``lex_range``: is the whole filter a range of the name index (``userName`` of
Users, ``displayName`` of Groups, lowered)? Then the index answers it exactly:
``eq``, ``sw``, ``gt``, ``ge``, ``lt``, ``le`` and ``pr`` on the name, and ``and``
of those. Lowered names are stored escaped (``keys.escape``) so byte order is
the codepoint order ``evaluate`` compares lowered strings by.

``lookups``: which index lookups give a superset of the matches? A top-level
conjunct (or an ``or`` of them) that is an ``eq`` on an indexed attribute —
``id``, the name, ``externalId``, User ``displayName`` and ``emails.value``,
Group ``members.value``, User ``groups.value`` — or a name range. Everything
found is then checked with ``evaluate.matches``, so a lookup only has to
miss nothing. ``None`` means no index helps: the store scans.
"""

from __future__ import annotations

from dataclasses import dataclass

from scimserver.protocol.evaluate import case_exact
from scimserver.protocol.filter_ast import And, Compare, Filter, Not, Or, Present, ValuePath
from scimserver.protocol.schema import Resolved

from .keys import entry, escape

NAME = {"User": "userName", "Group": "displayName"}
# ix kinds: (resource type, dotted attribute) -> (kind letter, values are lowered)
IX = {
    ("User", "externalId"): ("x", False),
    ("Group", "externalId"): ("x", False),
    ("User", "displayName"): ("d", True),
    ("User", "emails.value"): ("e", True),
}
# Cheaper lookups first when a conjunction offers several.
RANK = {"id": 0, "uniq": 0, "ix": 1, "in": 1, "has": 1, "lex": 2}

Lookup = tuple[str, ...] | tuple[str, bytes, bytes]


def lower(value: object) -> str | None:
    """Lowered non-empty text, as the SQL store's indexed columns hold it."""
    return value.lower() if isinstance(value, str) and value else None


def is_name(rtype: str, attr: Resolved) -> bool:
    """Whether ``attr`` is the type's unique, case-insensitive name."""
    return (
        attr.urn is None
        and attr.sub is None
        and attr.attribute.name == NAME.get(rtype)
        and not case_exact(attr.attribute)
    )


def index_entries(rtype: str, doc: dict) -> tuple[str | None, list[str]]:
    """The uniqueness key (lowered name) and the ``ix`` entry prefixes of a document."""
    key = lower(doc.get(NAME[rtype]))
    found: list[str] = []
    external = doc.get("externalId")
    if isinstance(external, str) and external:
        found.append("x" + entry(external))
    if rtype == "User":
        display = lower(doc.get("displayName"))
        if display:
            found.append("d" + entry(display))
        for element in doc.get("emails") or ():
            value = lower(element.get("value")) if isinstance(element, dict) else None
            if value:
                found.append("e" + entry(value))
    return key, sorted(set(found))


# ------------------------------------------------------------------ name ranges

Bound = tuple[bytes, bool] | None  # (escaped UTF-8, inclusive); None: unbounded


@dataclass(frozen=True)
class Range:
    low: Bound = None
    high: Bound = None

    def redis(self) -> tuple[bytes, bytes]:
        """ZRANGEBYLEX min and max."""
        low = b"-" if self.low is None else (b"[" if self.low[1] else b"(") + self.low[0]
        high = b"+" if self.high is None else (b"[" if self.high[1] else b"(") + self.high[0]
        return low, high

    def narrow(self, other: Range) -> Range:
        return Range(_tighter(self.low, other.low, True), _tighter(self.high, other.high, False))


def _tighter(a: Bound, b: Bound, low: bool) -> Bound:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] != b[0]:
        return max(a, b) if low else min(a, b)
    return a if not a[1] else b  # same value: the exclusive one is tighter


def name_bytes(value: str) -> bytes:
    return escape(value).encode()


def after_name(name: str) -> Bound:
    """The lower bound just past every entry of ``name`` (a cursor position)."""
    return (name_bytes(name) + b"\x01", True)


def before_name(name: str) -> Bound:
    return (name_bytes(name), False)


def _compare_range(node: Compare) -> Range | None:
    if not isinstance(node.value, str):
        return None
    v = name_bytes(node.value.lower())
    if node.op == "eq":
        return Range((v + b"\x00", True), (v + b"\x01", False))
    if node.op == "sw":
        return Range((v, True), (v + b"\xff", False))  # no UTF-8 byte is 0xff
    if node.op == "gt":
        return Range((v + b"\x01", True))
    if node.op == "ge":
        return Range((v, True))
    if node.op == "lt":
        return Range(None, (v, False))
    if node.op == "le":
        return Range(None, (v + b"\x01", False))
    return None


def lex_range(rtype: str, node: Filter | None) -> Range | None:
    """The name-index range equal to ``node``, or None if it is not one."""
    if node is None:
        return Range()
    if isinstance(node, And):
        left, right = lex_range(rtype, node.left), lex_range(rtype, node.right)
        return None if left is None or right is None else left.narrow(right)
    if isinstance(node, Present) and is_name(rtype, node.attr):
        return Range()  # every resource has its (required) name
    if isinstance(node, Compare) and is_name(rtype, node.attr):
        return _compare_range(node)
    return None


# ----------------------------------------------------------------------- lookups


def _eq_lookup(rtype: str, node: Compare) -> list[Lookup] | None:
    value, attr = node.value, node.attr
    if node.op != "eq" or not isinstance(value, str) or attr.urn is not None:
        return None
    dotted = attr.dotted
    if dotted == "id":
        return [("id", value)]
    if is_name(rtype, attr):
        return [("uniq", value.lower())] if value else []
    if rtype == "Group" and dotted == "members.value":
        return [("in", value)]
    if rtype == "User" and dotted == "groups.value":
        return [("has", value)]
    kind = IX.get((rtype, dotted))
    if kind is None or case_exact(attr.target) == kind[1]:
        return None  # not indexed, or the schema's case rule is not the index's
    wanted = value.lower() if kind[1] else value
    return [("ix", kind[0] + entry(wanted))] if wanted else []


def _pick(left: list[Lookup] | None, right: list[Lookup] | None) -> list[Lookup] | None:
    if left is None or right is None:
        return left if right is None else right

    def cost(lookups: list[Lookup]) -> tuple[int, int]:
        return (max((RANK[lk[0]] for lk in lookups), default=0), len(lookups))

    return right if cost(right) < cost(left) else left


def lookups(rtype: str, node: Filter, *, names: bool = True) -> list[Lookup] | None:
    """Index lookups whose union holds every match of ``node``, or None.

    ``names=False`` leaves out name ranges: the name index holds live records
    only, so it cannot narrow a query that wants retained ones.
    """
    if isinstance(node, And):
        return _pick(
            lookups(rtype, node.left, names=names), lookups(rtype, node.right, names=names)
        )
    if isinstance(node, Or):
        left = lookups(rtype, node.left, names=names)
        right = lookups(rtype, node.right, names=names)
        return None if left is None or right is None else left + right
    if isinstance(node, ValuePath):
        # Inside, every attribute is the value path's own with ``sub`` set.
        return lookups(rtype, node.filter, names=names)
    if isinstance(node, Not | Present):
        return None
    if isinstance(node, Compare):
        found = _eq_lookup(rtype, node)
        if found is not None:
            return found
        if names and is_name(rtype, node.attr):
            span = _compare_range(node)
            if span is not None:
                low, high = span.redis()
                return [("lex", low, high)]
    return None


def mentions(node: Filter | None, relation: str) -> bool:
    """Whether evaluating ``node`` reads the computed ``members`` or ``groups``."""
    if node is None:
        return False
    if isinstance(node, And | Or):
        return mentions(node.left, relation) or mentions(node.right, relation)
    if isinstance(node, Not):
        return mentions(node.expr, relation)
    return node.attr.attribute.name == relation and node.attr.urn is None
