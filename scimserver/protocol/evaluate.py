"""The reference filter evaluator (RFC 7644 §3.4.2.2) and sort order (§3.4.2.3).

Every store falls back to this, and its semantics are the specification the
SQL, Redis and LDAP compilers must reproduce:

* Where values live: core and common attributes at the top level under their
  canonical names, extension attributes under ``resource[Resolved.urn]``.
  A sub-attribute of a multi-valued attribute yields one value per element.
* Strings (string, reference) compare after ``str.lower()`` on both sides
  unless the attribute or sub-attribute is caseExact; binary always compares
  exactly (base64 is case-sensitive, RFC 7643 §2.3.6). See ``case_exact``.
  Ordering of strings is codepoint order of those (lowered) strings.
* dateTime values compare as instants; stored ISO 8601 strings without an
  offset are UTC. Integers and decimals compare numerically; booleans by ==.
* A multi-valued attribute matches if any of its values matches.
* ``ne`` is exactly ``not eq``: a missing attribute satisfies ``ne``.
  ``not`` is plain boolean negation of its evaluated child.
* Any other comparison with a missing attribute is false.
* ``pr`` is true when some value is not null, not "", and not an empty
  list or object. ``eq null`` is ``not pr``; ``ne null`` is ``pr``.
* A stored value of the wrong type (bad data) matches nothing and sorts as
  missing; the evaluator never raises on any resource shape.
* ``attr[filter]`` matches when one element of ``attr`` satisfies ``filter``
  on its own (the conditions cannot be met by different elements).
* Sorting: missing values last; a multi-valued attribute sorts by its
  primary value, else its first (RFC 7644 §3.4.2.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .filter import parse_datetime
from .filter_ast import And, Compare, Filter, Not, Or, Present, ValuePath
from .schema import (
    BINARY,
    BOOLEAN,
    DATETIME,
    DECIMAL,
    INTEGER,
    Attribute,
    Resolved,
)

__all__ = ["case_exact", "element_matches", "matches", "sort_key", "sort_resources"]

Normalized = str | bool | int | float | Decimal | datetime


def matches(f: Filter, resource: Mapping[str, Any]) -> bool:
    """Whether ``resource`` (canonical stored shape) satisfies ``f``."""
    return _eval(f, resource, False)


def element_matches(f: Filter, element: Mapping[str, Any]) -> bool:
    """Whether one element of a multi-valued complex attribute satisfies the
    value filter ``f`` (the inside of ``attr[...]``; RFC 7644 §3.5.2).

    Each ``Resolved`` in ``f`` is read from ``element`` by its target name.
    """
    return _eval(f, element, True)


def case_exact(attr: Attribute) -> bool:
    """Whether string comparisons on ``attr`` keep case (RFC 7643 §2.2, §2.3.6)."""
    return attr.case_exact or attr.type == BINARY


def sort_key(
    resource: Mapping[str, Any], attr: Resolved, *, descending: bool = False
) -> tuple[Any, ...]:
    """A key ordering resources by ``attr`` (RFC 7644 §3.4.2.3).

    Missing values sort last: use ``sorted(..., key=..., reverse=descending)``
    with the same ``descending`` and they stay last in both directions.
    A bare complex attribute sorts by its ``value`` sub-attribute.
    """
    value = _sort_value(resource, attr)
    if value is None:
        return (0,) if descending else (1,)
    return (1, value) if descending else (0, value)


def sort_resources(
    resources: Iterable[Mapping[str, Any]], attr: Resolved, *, descending: bool = False
) -> list[Mapping[str, Any]]:
    """``resources`` sorted by ``attr``; stable, missing values last."""
    return sorted(
        resources, key=lambda r: sort_key(r, attr, descending=descending), reverse=descending
    )


# --------------------------------------------------------------- evaluation


def _eval(f: Filter, source: Mapping[str, Any], in_element: bool) -> bool:
    if isinstance(f, Compare):
        return _compare(f, _values(f.attr, source, in_element))
    if isinstance(f, Present):
        return any(_present(v) for v in _values(f.attr, source, in_element))
    if isinstance(f, And):
        return _eval(f.left, source, in_element) and _eval(f.right, source, in_element)
    if isinstance(f, Or):
        return _eval(f.left, source, in_element) or _eval(f.right, source, in_element)
    if isinstance(f, Not):
        return not _eval(f.expr, source, in_element)
    if isinstance(f, ValuePath):
        if in_element:  # the parser never nests value paths
            return False
        return any(_eval(f.filter, el, True) for el in _elements(f.attr, source))
    return False


def _container(attr: Resolved, resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Where ``attr`` lives: the resource itself or its extension object."""
    if attr.urn is None:
        return resource
    ext = resource.get(attr.urn)
    return ext if isinstance(ext, Mapping) else None


def _flatten(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


def _values(attr: Resolved, source: Mapping[str, Any], in_element: bool) -> list[Any]:
    """Every value ``attr`` names in ``source``, nulls dropped."""
    if not isinstance(source, Mapping):
        return []
    if in_element:
        return _flatten(source.get(attr.target.name))
    container = _container(attr, source)
    if container is None:
        return []
    top = container.get(attr.attribute.name)
    if attr.sub is None:
        return _flatten(top)
    name = attr.sub.name
    if isinstance(top, Mapping):
        return _flatten(top.get(name))
    if isinstance(top, list):
        return [v for el in top if isinstance(el, Mapping) for v in _flatten(el.get(name))]
    return []


def _elements(attr: Resolved, resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    container = _container(attr, resource)
    top = container.get(attr.attribute.name) if container is not None else None
    if isinstance(top, Mapping):
        return [top]
    if isinstance(top, list):
        return [el for el in top if isinstance(el, Mapping)]
    return []


def _present(value: Any) -> bool:
    if value is None or value == "":
        return False
    return not (isinstance(value, list | Mapping) and not value)


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "co": lambda a, b: b in a,
    "sw": lambda a, b: a.startswith(b),
    "ew": lambda a, b: a.endswith(b),
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def _compare(node: Compare, values: list[Any]) -> bool:
    if node.value is None:  # "eq null" / "ne null": absence and presence
        present = any(_present(v) for v in values)
        return not present if node.op == "eq" else present
    if node.op == "ne":
        return not _any(_TESTS["eq"], node.attr.target, node.value, values)
    test = _TESTS.get(node.op)
    return test is not None and _any(test, node.attr.target, node.value, values)


def _any(test: Callable[[Any, Any], bool], target: Attribute, want: Any, values: list[Any]) -> bool:
    """Whether ``test(value, want)`` holds for some value, both normalized."""
    wanted = _normalize(target, want)
    if wanted is None:
        return False
    for value in values:
        have = _normalize(target, value)
        if have is None:
            continue
        try:
            if test(have, wanted):
                return True
        except (TypeError, AttributeError):  # a hand-built AST comparing unlike types
            continue
    return False


# ------------------------------------------------------------ normalization


def _normalize(attr: Attribute, value: Any) -> Normalized | None:
    """``value`` in the comparable form of ``attr``'s type, or None if it has none."""
    kind = attr.type
    if kind == DATETIME:
        return _instant(value)
    if kind == BOOLEAN:
        return value if isinstance(value, bool) else None
    if kind in (INTEGER, DECIMAL):
        return _number(value)
    if isinstance(value, str):
        return value if case_exact(attr) else value.lower()
    return None


def _number(value: Any) -> int | float | Decimal | None:
    if isinstance(value, bool):  # bool is an int subclass, but not a number here
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------ sorting


def _sort_value(resource: Mapping[str, Any], attr: Resolved) -> Normalized | None:
    sub = attr.sub
    if sub is None and attr.attribute.is_complex:
        sub = attr.attribute.sub("value")
        if sub is None:
            return None
    container = _container(attr, resource) if isinstance(resource, Mapping) else None
    top = container.get(attr.attribute.name) if container is not None else None
    target = sub or attr.attribute
    for candidate in _sort_candidates(top, sub):
        value = _normalize(target, candidate)
        if value is not None:
            return value
    return None


def _sort_candidates(top: Any, sub: Attribute | None) -> list[Any]:
    """The values to sort by, best first: the primary element's, then in order."""
    if sub is None:
        return top if isinstance(top, list) else [top]
    if isinstance(top, Mapping):
        return [top.get(sub.name)]
    if not isinstance(top, list):
        return []
    elements = [el for el in top if isinstance(el, Mapping)]
    primary = [el for el in elements if el.get("primary") is True]
    return [el.get(sub.name) for el in primary + elements]
