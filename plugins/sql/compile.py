"""Filter AST to SQLAlchemy expressions, for what the tables index.

``compile_filter`` returns ``(pushed, rest)``: ``pushed`` is an exact SQL
translation of the top-level conjuncts it can express, ``rest`` the conjuncts
left for the reference evaluator (``None`` when everything was pushed).
Comparisons stay plain (``col = ?``, so indexes serve them): a missing value makes
them SQL NULL, which a WHERE treats as false, as the evaluator does; only
``NOT`` and ``ne`` must map NULL to false before negating (``_negate``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnClause

from scimserver.protocol.filter_ast import And, Compare, Filter, Not, Or, Present, ValuePath
from scimserver.protocol.schema import Resolved

from .tables import INDEXED_VALUES, memberships, resources, values

R = resources.c
Columns = dict[str, tuple[Any, bool]]  # dotted path -> (column, stores lowered text)

COLUMNS: dict[str, Columns] = {
    "User": {
        "id": (R.id, False),
        "externalId": (R.external_id, False),
        "userName": (R.unique_key, True),
        "displayName": (R.display_ci, True),
        "active": (R.active, False),
        "meta.created": (R.created, False),
        "meta.lastModified": (R.modified, False),
    },
    "Group": {
        "id": (R.id, False),
        "externalId": (R.external_id, False),
        "displayName": (R.unique_key, True),
        "meta.created": (R.created, False),
        "meta.lastModified": (R.modified, False),
    },
}


def stored_instant(value: datetime) -> str:
    """A dateTime as the ``created``/``modified`` columns hold it (fixed width, UTC)."""
    utc = value.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix_range(column: Any, prefix: str) -> ColumnElement[bool] | None:
    """``sw`` as a range, so a btree index serves it (codepoint order on every dialect)."""
    if not prefix or ord(prefix[-1]) >= 0x10FFFF:
        return None
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper)


def _negate(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``NOT`` in two-valued logic: a comparison with a missing value (SQL NULL) is
    false, so its negation is true, as the reference evaluator has it."""
    return not_(func.coalesce(condition, false()))


def _sub_millisecond(column: Any, op: str, value: datetime) -> ColumnElement[bool]:
    """Stored instants are whole milliseconds; compare with one between two of them."""
    floor = stored_instant(value)  # truncates to the millisecond
    if op in ("gt", "ge"):
        return column > floor
    if op in ("lt", "le"):
        return column <= floor
    return false() if op == "eq" else true()


def _compare(column: Any, lowered: bool, node: Compare) -> ColumnElement[bool] | None:
    value = node.value
    if isinstance(value, datetime):
        if value.microsecond % 1000:
            return _sub_millisecond(column, node.op, value)
        value = stored_instant(value)
    if node.op == "eq" and value is None:
        return column.is_(None)
    if node.op == "ne" and value is None:
        return column.is_not(None)
    if isinstance(value, str) and lowered:
        value = value.lower()
    if node.op in ("co", "sw", "ew"):
        if not lowered:
            return None  # LIKE's case rules differ per dialect; leave it to the evaluator
        if node.op == "sw" and (ranged := _prefix_range(column, value)) is not None:
            return ranged
        pattern = _escape_like(value)
        pattern = {"co": f"%{pattern}%", "sw": f"{pattern}%", "ew": f"%{pattern}"}[node.op]
        return column.like(pattern, escape="\\")
    if node.op == "ne":
        return _negate(column == value)
    ops: dict[str, Callable[[Any], Any]] = {
        "eq": column.__eq__,
        "gt": column.__gt__,
        "ge": column.__ge__,
        "lt": column.__lt__,
        "le": column.__le__,
    }
    return ops[node.op](value)


def _indexed_value(rtype: str, attr: Resolved) -> str | None:
    if attr.urn or attr.sub is None:
        return None
    pair = (attr.attribute.name, attr.sub.name)
    return f"{pair[0]}.{pair[1]}" if pair in INDEXED_VALUES.get(rtype, ()) else None


class _Compiler:
    """One filter for one organization's resources of one type.

    Conditions on multi-valued values and on members are ``seq IN (subquery)``
    led by the organization, so the planner starts from the value index rather
    than probing it once per resource row.
    """

    def __init__(self, org: str, rtype: str) -> None:
        self.org, self.rtype = org, rtype

    def node(self, node: Filter) -> ColumnElement[bool] | None:
        if isinstance(node, And | Or):
            left, right = self.node(node.left), self.node(node.right)
            if left is None or right is None:
                return None
            return and_(left, right) if isinstance(node, And) else or_(left, right)
        if isinstance(node, Not):
            inner = self.node(node.expr)
            return None if inner is None else _negate(inner)
        if isinstance(node, ValuePath):
            # Two conditions on one element are not two lookups; only one is pushed.
            return self.node(node.filter) if isinstance(node.filter, Compare | Present) else None
        attr = node.attr
        if self.rtype == "Group" and attr.dotted == "members.value":
            return self.member(node) if isinstance(node, Compare) else None
        key = _indexed_value(self.rtype, attr)
        if key is not None:
            return self.value(key, node)
        column = COLUMNS.get(self.rtype, {}).get(attr.dotted)
        if column is None:
            return None
        if isinstance(node, Present):
            col: ColumnClause[Any] = column[0]
            return col.is_not(None)
        return _compare(column[0], column[1], node)

    def value(self, key: str, node: Compare | Present) -> ColumnElement[bool] | None:
        v = values.c
        if isinstance(node, Present):
            cond: ColumnElement[bool] | None = true()
        else:
            if node.op == "ne" or node.value is None:
                return None
            cond = _compare(v.value_ci, True, node)
            if cond is None:
                return None
        return R.seq.in_(
            select(v.resource_seq).where(
                v.org == self.org, v.rtype == self.rtype, v.attr == key, cond
            )
        )

    def member(self, node: Compare) -> ColumnElement[bool] | None:
        if node.op != "eq" or not isinstance(node.value, str):
            return None
        m, member = memberships.c, resources.alias("m_r")
        return R.seq.in_(
            select(m.group_seq)
            .select_from(memberships.join(member, member.c.seq == m.member_seq))
            .where(
                member.c.org == self.org,
                member.c.rtype.in_(("User", "Group")),
                member.c.id == node.value,
                member.c.retained_at.is_(None),
            )
        )


def _conjuncts(node: Filter) -> list[Filter]:
    if isinstance(node, And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def compile_filter(
    org: str, rtype: str, node: Filter | None
) -> tuple[list[ColumnElement[bool]], Filter | None]:
    """SQL conditions for what can be pushed down, and the filter left over."""
    if node is None:
        return [], None
    compiler = _Compiler(org, rtype)
    pushed: list[ColumnElement[bool]] = []
    rest: Filter | None = None
    for part in _conjuncts(node):
        sql = compiler.node(part)
        if sql is None:
            rest = part if rest is None else And(rest, part)
        else:
            pushed.append(sql)
    return pushed, rest


def sort_column(rtype: str, attr: Resolved) -> Any | None:
    column = COLUMNS.get(rtype, {}).get(attr.dotted)
    return None if column is None else column[0]
