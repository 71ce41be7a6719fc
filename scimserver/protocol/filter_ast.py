"""The filter AST (RFC 7644 §3.4.2.2), shared by the parser, the reference
evaluator and every store's compiler.

Nodes are bound: attribute references are already resolved against the
resource type (canonical names, schema URN) and comparison values coerced to
the attribute's type, so a store never re-validates anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .schema import Resolved

Value = str | bool | int | Decimal | datetime | None

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})


@dataclass(frozen=True)
class Compare:
    """``attr op value``. ``attr.sub`` is set for ``name.givenName`` and inside
    value paths; a bare complex attribute compares its ``value`` sub-attribute."""

    attr: Resolved
    op: str
    value: Value


@dataclass(frozen=True)
class Present:
    """``attr pr``."""

    attr: Resolved


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    expr: Filter


@dataclass(frozen=True)
class ValuePath:
    """``attr[filter]``: one element of multi-valued ``attr`` satisfies ``filter``.

    Inside ``filter`` every ``Resolved`` names ``attr`` with ``sub`` set.
    """

    attr: Resolved
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH ``path`` (RFC 7644 §3.5.2): ``attr``, ``attr.sub``,
    ``attr[filter]`` or ``attr[filter].sub``, optionally URN-qualified.

    ``target.attribute`` is the top-level attribute and ``target.sub`` the
    sub-attribute, if any; ``filter`` selects elements of a multi-valued one.
    """

    target: Resolved
    filter: Filter | None = None
