"""SCIM PATCH (RFC 7644 §3.5.2) on the canonical stored shape of a resource.

``apply_patch`` applies a PatchOp body to a copy of a resource: core
attributes top-level under their canonical names, extension attributes under
their URN key, multi-valued complex attributes as lists of dicts. It is all or
nothing: the first failing operation raises and the input is left untouched.
It does not check ``required`` attributes or uniqueness; the caller
re-validates the result.

``plan_members`` is the big-group path: when every operation on a Group's
``members`` can be expressed as "replace with / add / remove these ids", the
caller applies that plan to its member store without ever loading the members,
and runs the remaining operations through ``apply_patch``.

The real clients' habits (shared/clients.md) are accepted on purpose:
capitalised ops (Entra), string booleans (via ``validate.coerce``), path-less
``replace`` whose value carries ``id``/``meta`` (Okta) or dotted and
URN-qualified keys (Entra ``aadOptscim062020``), ``add`` on single-valued
attributes, ``add``/``replace`` on ``emails[type eq "work"].value`` creating
the element, ``remove`` on ``members`` with a value list removing just those
members, and re-adding an existing member being a no-op.

Error choices (RFC 7644 §3.12):

* body not an object, ``schemas`` present without the PatchOp URN,
  ``Operations`` missing / not a list / empty, an operation not an object, an
  ``op`` other than add/replace/remove (any case): ``invalidSyntax``;
* ``path`` not a string, unparsable or naming an unknown attribute:
  ``invalidPath``;
* ``remove`` without a path, ``replace`` (or ``add`` with a non-``eq``
  filter) whose filter selects nothing: ``noTarget``;
* ``add``/``replace`` without ``value``, a value of the wrong type or shape,
  a path-less value that is not an object, two elements made primary at once:
  ``invalidValue``;
* an unknown attribute *key* inside a path-less value object:
  ``invalidSyntax`` — the body does not conform to the resource schema, the
  same answer ``validate`` gives for unknown (sub-)attributes in POST/PUT;
* touching a readOnly attribute, changing an immutable one that has a value:
  ``mutability``; removing a required one: ``invalidValue`` (as PUT answers).

Other decisions:

* ``add``/``replace`` on a single-valued complex attribute (``name``,
  ``manager``) or on a filtered element merges the given sub-attributes
  (RFC 7644 §3.5.2.3: "Sub-attributes that are not specified ... are left
  unchanged"); on a multi-valued attribute without filter ``add`` appends and
  ``replace`` swaps the whole list.
* ``add`` skips a value the attribute already holds: by ``value`` for
  reference attributes (``members``: immutable ``value``), otherwise when an
  existing element has every given sub-attribute equal (caseExact-aware).
* A value that coerces to "unassigned" (``null``, ``[]``, ``{}``) makes
  ``add`` a no-op and ``replace`` a ``remove`` (RFC 7643 §2.5).
* ``schemas`` is computed by the server from the content
  (``validate.schemas_of``): operations on it are ignored. ``meta`` inside a
  path-less value is ignored; any other readOnly key there is ignored when it
  equals the stored value (Okta's ``id``), else ``mutability``.
* A path that is a bare extension URN targets all its attributes (``remove``
  drops the extension; ``add``/``replace`` take an object of its attributes).
  Path-less keys may also be a value path (``emails[type eq "work"].value``);
  those are parsed like paths (so errors there are invalidPath/invalidFilter).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .errors import InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget, ScimError
from .evaluate import element_matches
from .filter import parse_path
from .filter_ast import And, Compare, Filter, Or
from .schema import COMMON, IMMUTABLE, READ_ONLY, Attribute, Resolved, ResourceType, Schema
from .validate import PATCH_OP, coerce

__all__ = [
    "PATCH_OP",
    "Member",
    "MemberPlan",
    "Operation",
    "apply_operations",
    "apply_patch",
    "parse_operations",
    "plan_members",
]

OPS = ("add", "replace", "remove")


class _Missing:
    """The marker for an operation without a ``value`` member (``null`` is a value)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

_ID, _META, _SCHEMAS = COMMON["id"], COMMON["meta"], COMMON["schemas"]


# --------------------------------------------------------------------------- body


@dataclass(frozen=True)
class Operation:
    """One PatchOp operation, normalised: ``op`` lowercase, empty ``path`` is ``None``."""

    op: str
    path: str | None = None
    value: Any = MISSING

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        if self.path is not None:
            out["path"] = self.path
        if self.value is not MISSING:
            out["value"] = self.value
        return out


def _get(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]`` with the key matched case-insensitively (RFC 7643 §2.1)."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return MISSING


def _parse_operation(index: int, raw: Any) -> Operation:
    if isinstance(raw, Operation):
        return raw
    where = f"Operations[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidSyntax(f"{where} must be an object with 'op', 'path' and 'value'.")
    op = _get(raw, "op")
    if not isinstance(op, str) or op.strip().lower() not in OPS:
        got = "nothing" if op is MISSING else repr(op)[:40]
        raise InvalidSyntax(f"{where}: 'op' must be one of add, replace, remove; got {got}.")
    op = op.strip().lower()
    path = _get(raw, "path")
    if path is MISSING or path is None:
        path = None
    elif not isinstance(path, str):
        raise InvalidPath(f"{where}: 'path' must be a string, got {path!r}.")
    else:
        path = path.strip() or None
    value = _get(raw, "value")
    if value is not MISSING:
        value = copy.deepcopy(value)
    if op != "remove" and value is MISSING:
        raise InvalidValue(f"{where}: '{op}' requires a 'value'.")
    return Operation(op, path, value)


def parse_operations(body: Any) -> list[Operation]:
    """Check a PatchOp body's shape and return its operations.

    ``schemas`` may be absent (lenient), but when present it must list the
    PatchOp URN. ``Operations`` and the members of each operation are matched
    case-insensitively; ``Operations`` must be a non-empty list.
    """
    if not isinstance(body, Mapping):
        raise InvalidSyntax("The PATCH body must be a JSON object (a PatchOp message).")
    schemas = _get(body, "schemas")
    if schemas is not MISSING:
        listed = [schemas] if isinstance(schemas, str) else schemas
        if not isinstance(listed, list) or not any(
            isinstance(s, str) and s.lower() == PATCH_OP.lower() for s in listed
        ):
            raise InvalidSyntax(f"'schemas' must contain {PATCH_OP!r}.")
    operations = _get(body, "Operations")
    if operations is MISSING:
        raise InvalidSyntax("The PatchOp body has no 'Operations'.")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax("'Operations' must be a non-empty list of operations.")
    return [_parse_operation(i, raw) for i, raw in enumerate(operations)]


# --------------------------------------------------------------------------- apply


def apply_patch(resource: Mapping[str, Any], body: Any, rtype: ResourceType) -> dict[str, Any]:
    """The resource after the PatchOp ``body``; ``resource`` itself is not modified."""
    return apply_operations(resource, parse_operations(body), rtype)


def apply_operations(
    resource: Mapping[str, Any],
    operations: Iterable[Operation | Mapping[str, Any]],
    rtype: ResourceType,
) -> dict[str, Any]:
    """Like ``apply_patch`` for already separated operations (an empty list is fine)."""
    ops = [_parse_operation(i, raw) for i, raw in enumerate(operations)]
    patcher = _Patcher(copy.deepcopy(dict(resource)), rtype)
    for index, op in enumerate(ops):
        try:
            patcher.apply(op)
        except ScimError as exc:
            located = _located(exc, index, op)
            if located is exc:
                raise
            raise located from exc
    return patcher.resource


def _located(exc: ScimError, index: int, op: Operation) -> ScimError:
    """The same kind of error with the failing operation named in its detail."""
    if type(exc).__init__ is not ScimError.__init__ or exc.detail.startswith("Operations["):
        return exc
    where = f"Operations[{index}] ({op.op}{' ' + op.path if op.path else ''})"
    return type(exc)(f"{where}: {exc.detail}")


def _same(attr: Attribute | None, a: Any, b: Any) -> bool:
    """Equality of two stored values, case-insensitive for caseExact=false strings."""
    if isinstance(a, str) and isinstance(b, str):
        return a == b if attr is not None and attr.case_exact else a.casefold() == b.casefold()
    if isinstance(a, dict) and isinstance(b, dict) and attr is not None and attr.is_complex:
        return a.keys() == b.keys() and all(_same(attr.sub(k), a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(attr, x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _by_value(attr: Attribute) -> bool:
    """Elements are identified by ``value`` alone (``members``, ``groups``).

    True when the ``value`` sub-attribute cannot change: two elements with the
    same immutable ``value`` are the same reference to the same resource.
    """
    value = attr.sub("value")
    return value is not None and value.mutability in (IMMUTABLE, READ_ONLY)


def _selects(attr: Attribute, item: Any, element: Any) -> bool:
    """Does the client's ``item`` designate the stored ``element``?

    By ``value`` for reference attributes, otherwise when every sub-attribute
    the item gives is equal in the element.
    """
    if not attr.is_complex:
        return _same(attr, item, element)
    if not isinstance(element, dict):
        return False
    if _by_value(attr) and "value" in item:
        return _same(attr.sub("value"), item["value"], element.get("value"))
    return all(k in element and _same(attr.sub(k), v, element[k]) for k, v in item.items())


class _ValueIndex:
    """Elements of a multi-valued attribute, for "is this one of them?" tests.

    Reference attributes (``members``) are indexed by ``value``, so a group of
    100k members takes one set look-up per member added or removed; other
    attributes fall back to ``_selects`` element by element.
    """

    def __init__(self, attr: Attribute, elements: Iterable[Any]) -> None:
        self.attr = attr
        sub = attr.sub("value")
        self.by_value = attr.is_complex and _by_value(attr)
        self.fold = sub is None or not sub.case_exact
        self.values: set[Any] = set()
        self.elements: list[Any] = []
        for element in elements:
            self.add(element)

    def _key(self, element: Any) -> Any:
        value = element.get("value") if isinstance(element, dict) else None
        return value.casefold() if self.fold and isinstance(value, str) else value

    def add(self, element: Any) -> None:
        if self.by_value and self._key(element) is not None:
            self.values.add(self._key(element))
        else:
            self.elements.append(element)

    def selects_any(self, item: Any) -> bool:
        """Does ``item`` (a client's value) designate one of the elements?"""
        if self.by_value and self._key(item) is not None:
            return self._key(item) in self.values
        return any(_selects(self.attr, item, e) for e in self.elements)

    def selected_by_any(self, element: Any) -> bool:
        """Is ``element`` (a stored value) designated by one of the items?"""
        if self.by_value and self._key(element) in self.values:
            return True
        return any(_selects(self.attr, item, element) for item in self.elements)


def _coerce_values(attr: Attribute, value: Any, where: str) -> list[Any] | None:
    """``coerce`` for a whole multi-valued attribute, one element at a time.

    Elements of a reference attribute (``members``) must name their resource:
    one without ``value`` — even one that coercion empties, like
    ``{"display": "Bob"}`` — is an invalidValue rather than silently nothing.
    """
    if value is None:
        return None
    out = []
    needs_value = attr.is_complex and _by_value(attr)
    for item in value if isinstance(value, list) else [value]:
        element = coerce(attr, item, element=True, where=where)
        named = isinstance(element, dict) and element.get("value") not in (None, "")
        if needs_value and item is not None and not named:
            raise InvalidValue(f"Each value of '{where}' needs a 'value' (the id).")
        if element not in (None, {}):
            out.append(element)
    return out or None


def _seed(flt: Filter) -> dict[str, Any] | None:
    """The element an ``eq``-only value filter describes, or ``None``.

    ``emails[type eq "work"]`` -> ``{"type": "work"}``; filters with anything but
    ``eq`` joined by ``and`` do not describe one element.
    """
    if isinstance(flt, And):
        left, right = _seed(flt.left), _seed(flt.right)
        if left is None or right is None:
            return None
        if any(k in left and not _same(None, left[k], v) for k, v in right.items()):
            return None  # type eq "a" and type eq "b"
        return {**left, **right}
    if isinstance(flt, Compare) and flt.op == "eq" and flt.attr.sub is not None:
        value = flt.value
        if value is None:
            return None
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        return {flt.attr.sub.name: value}
    return None


class _Patcher:
    """Applies operations one by one to ``resource`` (a private deep copy)."""

    def __init__(self, resource: dict[str, Any], rtype: ResourceType) -> None:
        self.resource = resource
        self.rtype = rtype

    # -- dispatch ---------------------------------------------------------------

    def apply(self, op: Operation) -> None:
        if op.path is None:
            if op.op == "remove":
                raise NoTarget("'remove' requires a 'path' (RFC 7644 §3.5.2.2).")
            self._apply_map(op.op, op.value, None)
            return
        schema, rest = self.rtype.split_urn(op.path)
        if schema is not None and not rest:
            self._apply_schema(op, schema)
            return
        path = parse_path(op.path, self.rtype)
        target = path.target
        if target.attribute is _SCHEMAS and target.urn is None:
            return  # server-computed from the content (validate.schemas_of)
        self._check_mutability(op.op, target)
        self._apply_target(op.op, target, path.filter, op.value)

    def _apply_schema(self, op: Operation, schema: Schema) -> None:
        """A path that is a whole schema URN: its attributes as one value object."""
        if op.op == "remove" and not self.rtype.is_extension(schema):
            raise InvalidPath(f"The core schema {schema.id} cannot be removed.")
        if op.op != "remove":
            if not isinstance(op.value, Mapping):
                raise InvalidValue(f"The value for {schema.id} must be an object.")
            self._apply_map(op.op, op.value, schema)
            return
        for attr in schema.attributes:
            target = self.rtype.resolve(attr.name, urn=schema.id)
            assert target is not None
            if self._get(target) is not None:
                self._check_mutability("remove", target)
                self._remove(target, None, MISSING)

    def _apply_map(self, op: str, value: Any, within: Schema | None) -> None:
        """Path-less add/replace: every key is applied as if it were the path."""
        if not isinstance(value, Mapping):
            raise InvalidValue(
                f"Without a 'path', the value of '{op}' must be an object of attributes."
            )
        for key, sub_value in value.items():
            if not isinstance(key, str) or not key:
                raise InvalidSyntax(f"Invalid attribute name {key!r}.")
            if within is not None and key.lower() == "schemas":
                continue  # an extension object dumped whole carries its own "schemas"
            full = f"{within.id}:{key}" if within is not None else key
            schema, rest = self.rtype.split_urn(full)
            if schema is not None and not rest:
                if within is not None:
                    raise InvalidSyntax(f"Schema {key!r} nested in {within.id}.")
                if not isinstance(sub_value, Mapping):
                    raise InvalidValue(f"The value for {schema.id} must be an object.")
                self._apply_map(op, sub_value, schema)
                continue
            flt = None
            if "[" in full:
                path = parse_path(full, self.rtype)
                target, flt = path.target, path.filter
            else:
                resolved = self.rtype.resolve_path(full)
                if resolved is None:
                    raise InvalidSyntax(
                        f"Unknown attribute '{key}' for resource type {self.rtype.name}."
                    )
                target = resolved
            if target.urn is None and target.attribute in (_META, _SCHEMAS):
                continue  # server-managed; Okta echoes them
            if flt is None and self._read_only(target) and self._unchanged(target, sub_value):
                continue  # e.g. Okta's {"id": <this id>, "displayName": ...}
            self._check_mutability(op, target)
            self._apply_target(op, target, flt, sub_value)

    def _apply_target(self, op: str, target: Resolved, flt: Filter | None, value: Any) -> None:
        attr = target.attribute
        if flt is not None and not (attr.multi_valued and attr.is_complex):
            raise InvalidPath(f"'{attr.name}' is not a multi-valued complex attribute.")
        where = target.dotted
        if op == "remove":
            self._remove(target, flt, value)
            return
        if target.sub is not None:
            new = coerce(target.sub, value, where=where)
        elif flt is not None:
            if isinstance(value, list) and len(value) == 1:
                value = value[0]  # one element, sent as a list
            new = coerce(attr, value, element=True, where=where)
        elif attr.multi_valued:
            new = _coerce_values(attr, value, where)
        else:
            new = coerce(attr, value, where=where)
        if new is None:  # null, [], {}: "unassigned" (RFC 7643 §2.5)
            if op == "replace":
                self._check_mutability("remove", target)
                self._remove(target, flt, MISSING)
            return
        immutable = attr.mutability == IMMUTABLE
        before = copy.deepcopy(self._get(target, whole=True)) if immutable else None
        if flt is not None:
            self._set_filtered(op, target, flt, new)
        elif target.sub is not None:
            self._set_sub(target, new)
        else:
            self._set(op, target, new)
        after = self._get(target, whole=True)
        if immutable and before is not None and not _same(attr, before, after):
            raise Mutability(f"'{attr.name}' is immutable and already has a value.")

    # -- access -----------------------------------------------------------------

    def _holder(self, target: Resolved, create: bool) -> dict[str, Any] | None:
        if target.urn is None:
            return self.resource
        holder = self.resource.get(target.urn)
        if holder is None and create:
            holder = self.resource[target.urn] = {}
        if holder is not None and not isinstance(holder, dict):
            raise InvalidValue(f"Stored {target.urn} is not an object.")
        return holder

    def _get(self, target: Resolved, whole: bool = False) -> Any:
        holder = self._holder(target, create=False)
        value = None if holder is None else holder.get(target.attribute.name)
        if whole or target.sub is None or value is None:
            return value
        if isinstance(value, dict):
            return value.get(target.sub.name)
        return [e.get(target.sub.name) for e in value if isinstance(e, dict)] or None

    def _store(self, target: Resolved, value: Any) -> None:
        """Set the top-level attribute; ``None``/empty unassigns it."""
        attr, name = target.attribute, target.attribute.name
        if attr.is_complex and attr.multi_valued and _by_value(attr) and value:
            for element in value:
                if not isinstance(element, dict) or not element.get("value"):
                    raise InvalidValue(f"Each value of '{name}' needs a 'value' (an id).")
        if value in (None, [], {}):
            holder = self._holder(target, create=False)
            if holder is not None:
                holder.pop(name, None)
                if target.urn is not None and not holder:
                    del self.resource[target.urn]
            return
        holder = self._holder(target, create=True)
        assert holder is not None
        holder[name] = value

    def _elements(self, target: Resolved) -> list[dict[str, Any]]:
        current = self._get(target, whole=True)
        if current is None:
            return []
        if not isinstance(current, list):
            current = [current]
        return [dict(e) if isinstance(e, dict) else e for e in current]

    # -- mutability -------------------------------------------------------------

    @staticmethod
    def _read_only(target: Resolved) -> bool:
        return target.attribute.mutability == READ_ONLY or (
            target.sub is not None and target.sub.mutability == READ_ONLY
        )

    def _unchanged(self, target: Resolved, value: Any) -> bool:
        """Is ``value`` what the resource already holds at ``target``?"""
        current = self._get(target)
        if target.attribute is _ID and target.urn is None and current is None:
            return True  # the caller may pass the resource without its id
        if value in (None, [], {}):
            return current in (None, [], {})
        if target.target.is_complex:  # coercion would drop its readOnly sub-attributes
            return bool(value == current)
        try:
            new = coerce(target.target, value)
        except ScimError:
            return False
        return _same(target.target, current, new)

    def _check_mutability(self, op: str, target: Resolved) -> None:
        attr, sub = target.attribute, target.sub
        if self._read_only(target):
            raise Mutability(f"'{target.dotted}' is readOnly.")
        if op != "remove":
            return
        if (sub or attr).required:
            # "A required value was missing" (RFC 7644 §3.12): the answer PUT gives too.
            raise InvalidValue(f"'{target.dotted}' is required and cannot be removed.")
        if attr.mutability == IMMUTABLE and self._get(target) is not None:
            raise Mutability(f"'{target.dotted}' is immutable and cannot be removed.")

    @staticmethod
    def _check_sub_change(attr: Attribute, element: dict[str, Any], name: str, new: Any) -> None:
        """An immutable sub-attribute of an existing element keeps its value."""
        sub = attr.sub(name)
        if sub is None or sub.mutability != IMMUTABLE or name not in element:
            return
        if new is MISSING or not _same(sub, element[name], new):
            raise Mutability(f"'{attr.name}.{sub.name}' is immutable.")

    def _merge(self, attr: Attribute, element: dict[str, Any], new: dict[str, Any]) -> dict:
        for name, value in new.items():
            self._check_sub_change(attr, element, name, value)
        return {**element, **new}

    # -- add / replace ----------------------------------------------------------

    def _set(self, op: str, target: Resolved, new: Any) -> None:
        """``attr`` without sub-attribute or filter."""
        attr = target.attribute
        if attr.multi_valued:
            if op == "replace":
                self._primary(attr, new, new)
                self._store(target, new)
                return
            elements = self._elements(target)
            index = _ValueIndex(attr, elements)
            added = []
            for element in new:
                if not index.selects_any(element):
                    added.append(element)
                    index.add(element)
            elements.extend(added)
            self._primary(attr, elements, added)
            self._store(target, elements)
        elif attr.is_complex:
            # RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes not given are left unchanged.
            current = self._get(target)
            element = current if isinstance(current, dict) else {}
            self._store(target, self._merge(attr, element, new))
        else:
            self._store(target, new)

    def _set_sub(self, target: Resolved, new: Any) -> None:
        """``attr.sub`` without a filter."""
        attr, sub = target.attribute, target.sub
        assert sub is not None
        if not attr.multi_valued:
            current = self._get(target, whole=True)
            element = dict(current) if isinstance(current, dict) else {}
            self._check_sub_change(attr, element, sub.name, new)
            element[sub.name] = new
            self._store(target, element)
            return
        elements = self._elements(target)  # emails.type: every element
        if not elements:
            raise NoTarget(f"'{attr.name}' has no values to set '{sub.name}' on.")
        for element in elements:
            self._check_sub_change(attr, element, sub.name, new)
            element[sub.name] = new
        self._primary(attr, elements, elements)
        self._store(target, elements)

    def _set_filtered(self, op: str, target: Resolved, flt: Filter, new: Any) -> None:
        """``attr[filter]`` or ``attr[filter].sub``; an ``eq`` filter creates its element."""
        attr, sub = target.attribute, target.sub
        elements = self._elements(target)
        touched = []
        for i, element in enumerate(elements):
            if not isinstance(element, dict) or not element_matches(flt, element):
                continue
            if sub is not None:
                self._check_sub_change(attr, element, sub.name, new)
                element = {**element, sub.name: new}
            else:
                element = self._merge(attr, element, new)
            elements[i] = element
            touched.append(element)
        if not touched:
            seed = _seed(flt)
            if seed is None:
                raise NoTarget(f"No value of '{attr.name}' matches the filter of the path.")
            created = coerce(attr, seed, element=True, where=target.dotted) or {}
            created.update({sub.name: new} if sub is not None else new)
            elements.append(created)
            touched.append(created)
        self._primary(attr, elements, touched)
        self._store(target, elements)

    @staticmethod
    def _primary(attr: Attribute, elements: list[Any], touched: list[Any]) -> None:
        """RFC 7643 §2.4: one ``primary`` at most; the one just set wins."""
        if attr.sub("primary") is None:
            return
        winners = [e for e in touched if isinstance(e, dict) and e.get("primary") is True]
        if len(winners) > 1:
            raise InvalidValue(f"Only one value of '{attr.name}' may be primary.")
        if not winners:
            return
        for element in elements:
            if element is not winners[0] and isinstance(element, dict) and element.get("primary"):
                element.pop("primary")

    # -- remove -----------------------------------------------------------------

    def _remove(self, target: Resolved, flt: Filter | None, value: Any) -> None:
        attr, sub = target.attribute, target.sub
        current = self._get(target, whole=True)
        if current is None:
            return  # nothing to remove: done (safe to repeat)
        if flt is None and sub is None:
            if attr.multi_valued and value is not MISSING and value is not None:
                self._remove_listed(target, value)
            else:
                self._store(target, None)
            return
        if not attr.multi_valued:  # name.givenName
            element = dict(current) if isinstance(current, dict) else {}
            assert sub is not None
            self._check_sub_change(attr, element, sub.name, MISSING)
            element.pop(sub.name, None)
            self._store(target, element)
            return
        kept = []
        for element in self._elements(target):
            selected = flt is None or (isinstance(element, dict) and element_matches(flt, element))
            if not selected:
                kept.append(element)
            elif sub is not None:
                self._check_sub_change(attr, element, sub.name, MISSING)
                element.pop(sub.name, None)
                if element:
                    kept.append(element)
        self._store(target, kept)

    def _remove_listed(self, target: Resolved, value: Any) -> None:
        """``remove`` on a multi-valued attribute with a value: only those values go.

        Entra removes members this way; a server that emptied the whole group
        here would lose everyone else (clients.md).
        """
        attr = target.attribute
        items = _coerce_values(attr, value, target.dotted) or []
        index = _ValueIndex(attr, items)
        kept = [e for e in self._elements(target) if not index.selected_by_any(e)]
        self._store(target, kept)


# --------------------------------------------------------------------------- members


@dataclass(frozen=True)
class Member:
    """A group member reference: the member's id and, if given, its type."""

    value: str
    type: str | None = None


@dataclass(frozen=True)
class MemberPlan:
    """What a PATCH does to a Group's members, without the current members.

    Apply ``replace`` (when not ``None``: the new, complete member list) or else
    remove the ids in ``remove`` and add the members in ``add`` that are not
    members yet — the two are disjoint, so their order does not matter. Then
    apply ``rest`` (the non-member operations) to the group without its
    members, with ``apply_rest``. When ``replace`` is set, ``add`` and
    ``remove`` are empty.
    """

    replace: tuple[Member, ...] | None = None
    add: tuple[Member, ...] = ()
    remove: frozenset[str] = frozenset()
    rest: list[dict[str, Any]] = field(default_factory=list)

    @property
    def touches_members(self) -> bool:
        return self.replace is not None or bool(self.add) or bool(self.remove)

    def apply_rest(self, resource: Mapping[str, Any], rtype: ResourceType) -> dict[str, Any]:
        """``resource`` after the non-member operations (a copy even when there are none)."""
        return apply_operations(resource, self.rest, rtype)


class _Fold:
    """Member operations folded in order into one replace-or-add/remove plan."""

    def __init__(self) -> None:
        self.replace: dict[str, Member] | None = None
        self.add: dict[str, Member] = {}
        self.remove: set[str] = set()

    def set_all(self, members: list[Member]) -> None:
        self.replace = {}
        self.add, self.remove = {}, set()
        for m in members:
            self.replace.setdefault(m.value, m)

    def add_members(self, members: list[Member]) -> None:
        for m in members:
            if self.replace is not None:
                self.replace.setdefault(m.value, m)
            else:
                self.remove.discard(m.value)
                self.add.setdefault(m.value, m)

    def remove_ids(self, ids: Iterable[str]) -> None:
        for v in ids:
            if self.replace is not None:
                self.replace.pop(v, None)
            else:
                self.add.pop(v, None)
                self.remove.add(v)

    def plan(self, rest: list[dict[str, Any]]) -> MemberPlan:
        replace = None if self.replace is None else tuple(self.replace.values())
        return MemberPlan(replace, tuple(self.add.values()), frozenset(self.remove), rest)


def _members(attr: Attribute, value: Any, where: str) -> list[Member]:
    out = []
    for element in _coerce_values(attr, value, where) or []:
        member_id = element.get("value")
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue(f"Each element of '{where}' needs a 'value' (the member's id).")
        out.append(Member(member_id, element.get("type")))
    return out


def _value_ids(flt: Filter) -> list[str] | None:
    """The ids of ``value eq "a"`` (or several joined by ``or``), else ``None``."""
    if isinstance(flt, Or):
        left, right = _value_ids(flt.left), _value_ids(flt.right)
        return None if left is None or right is None else left + right
    if (
        isinstance(flt, Compare)
        and flt.op == "eq"
        and flt.attr.sub is not None
        and flt.attr.sub.name == "value"
        and isinstance(flt.value, str)
    ):
        return [flt.value]
    return None


def plan_members(body: Any, rtype: ResourceType) -> MemberPlan | None:
    """A ``MemberPlan`` for ``body``, or ``None`` if it needs the current members.

    Member operations that can be planned: add/replace ``members`` with a value
    list (also path-less ``{"members": [...]}``), remove ``members`` with a value
    list, remove ``members[value eq "id"]`` (or ``value eq`` joined by ``or``),
    remove ``members`` without value (all). Anything else on ``members`` — other
    filters, sub-attribute paths — returns ``None``: load the members and use
    ``apply_patch``. The body is checked exactly as ``apply_patch`` checks it.
    """
    operations = parse_operations(body)
    attr = rtype.schema.attribute("members")
    if attr is None:
        return MemberPlan(rest=[op.to_json() for op in operations])
    fold = _Fold()
    rest: list[dict[str, Any]] = []

    for op in operations:
        if op.path is None:
            if op.op == "remove" or not isinstance(op.value, Mapping):
                rest.append(op.to_json())  # apply_patch answers the error
                continue
            others: dict[str, Any] = {}
            for key, value in op.value.items():
                if not isinstance(key, str):
                    others[key] = value
                    continue
                schema, tail = rtype.split_urn(key)
                if schema is not None and not tail:
                    return None  # a schema's attributes as an object: may hold members
                flt = None
                if "[" in key:
                    parsed = parse_path(key, rtype)
                    resolved, flt = parsed.target, parsed.filter
                else:
                    resolved = rtype.resolve_path(key)
                if resolved is None or resolved.attribute is not attr:
                    others[key] = value
                    continue
                if resolved.sub is not None or flt is not None:
                    return None
                if attr.mutability == READ_ONLY:
                    raise Mutability("'members' is readOnly.")
                members = _members(attr, value, "members")
                if op.op == "replace":
                    fold.set_all(members)
                else:
                    fold.add_members(members)
            if others:
                rest.append(Operation(op.op, None, others).to_json())
            continue

        schema, tail = rtype.split_urn(op.path)
        if schema is not None and not tail:
            return None  # a whole-schema path: let apply_patch sort out its contents
        path = parse_path(op.path, rtype)
        if path.target.attribute is not attr or path.target.urn is not None:
            rest.append(op.to_json())
            continue
        if attr.mutability == READ_ONLY:
            raise Mutability("'members' is readOnly.")
        if path.target.sub is not None:
            return None
        if path.filter is not None:
            ids = _value_ids(path.filter) if op.op == "remove" else None
            if ids is None:
                return None
            fold.remove_ids(ids)
        elif op.op == "remove":
            if op.value is MISSING or op.value is None:
                fold.set_all([])
            else:
                fold.remove_ids(m.value for m in _members(attr, op.value, "members"))
        elif op.op == "replace":
            fold.set_all(_members(attr, op.value, "members"))
        else:
            fold.add_members(_members(attr, op.value, "members"))
    return fold.plan(rest)
