"""Input validation: a client's JSON to the canonical stored shape.

The canonical shape has canonical attribute names, core attributes at the top
level, extension attributes under their (RFC, not legacy) URN, typed values,
no nulls and no readOnly attributes. Types are checked by marshmallow fields
built once per attribute from the schema data; the generous part — names in
any case, OneLogin's single ``emails`` object, Entra's ``"False"`` — happens
here before marshmallow sees the value.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from functools import cache
from typing import Any

from marshmallow import ValidationError, fields

from .errors import InvalidSyntax, InvalidValue
from .schema import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    INTEGER,
    READ_ONLY,
    Attribute,
    ResourceType,
    Schema,
)

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


# Identifiers every store indexes stay short enough for any index (PostgreSQL's
# btree entries, LDAP naming); other text is bounded by the payload size.
IDENTIFIER_MAX = 512
IDENTIFIERS = frozenset({"userName", "externalId", "displayName", "emails.value", "members.value"})


class _Text(fields.String):
    """A string; numbers are taken as their text (IdP templates send them)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int | float):
            return str(value)
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("NUL characters are not allowed.")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError("A lone UTF-16 surrogate is not text.") from None
        return text


class _Binary(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("Not valid base64.") from exc
        return text


class _DateTime(fields.String):
    """An RFC 3339 instant, stored as given once it parses."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValidationError("Not a valid dateTime.") from exc
        return text


# Integers every store and JSON library keeps exactly (64-bit signed).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _int64(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise ValidationError("Integers are limited to 64 bits.")
    return value


class _Integer(fields.Integer):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return _int64(super()._deserialize(value, attr, data, **kwargs))


class _Decimal(fields.Float):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float | int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            return _int64(value)
        return super()._deserialize(value, attr, data, **kwargs)


_SCALARS: dict[str, type[fields.Field]] = {
    BOOLEAN: fields.Boolean,
    INTEGER: _Integer,
    DECIMAL: _Decimal,
    DATETIME: _DateTime,
    BINARY: _Binary,
}


@cache
def _field(attr: Attribute) -> fields.Field:
    """The marshmallow field for one value of ``attr`` (not the list)."""
    if attr.type == COMPLEX:
        return fields.Dict()  # sub-attributes are checked one by one in _complex
    return _SCALARS.get(attr.type, _Text)()


def now() -> str:
    """The current instant as stored in ``meta``: UTC, millisecond precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scalar(attr: Attribute, value: Any, where: str) -> Any:
    try:
        out = _field(attr).deserialize(value)
    except ValidationError as exc:
        message = "; ".join(str(m) for m in _flatten(exc.messages))
        raise InvalidValue(f"Attribute '{where}': {message} Got {_short(value)}.") from exc
    if isinstance(out, str) and len(out) > IDENTIFIER_MAX and where in IDENTIFIERS:
        raise InvalidValue(f"Attribute '{where}' is longer than {IDENTIFIER_MAX} characters.")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _flatten(messages: Any) -> list[Any]:
    if isinstance(messages, dict):
        return [m for v in messages.values() for m in _flatten(v)]
    if isinstance(messages, list):
        return [m for v in messages for m in _flatten(v)]
    return [messages]


def _complex(attr: Attribute, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        if attr.sub("value") is not None and isinstance(value, str | int | float):
            value = {"value": value}  # Entra sends a manager as its bare id
        else:
            raise InvalidValue(f"Attribute '{where}' must be an object, got {_short(value)}.")
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attr.sub(key)
        if sub is None:
            raise InvalidSyntax(f"Unknown sub-attribute '{where}.{key}'.")
        _once(out, sub.name, f"{where}.{sub.name}")
        if sub.mutability == READ_ONLY or sub_value is None or sub_value == "":
            continue
        out[sub.name] = _scalar(sub, sub_value, f"{where}.{sub.name}")
    return out


def coerce(attr: Attribute, value: Any, *, element: bool = False, where: str = "") -> Any:
    """A client's value for ``attr`` in canonical stored form, or a SCIM error.

    With ``element`` it is one element of a multi-valued attribute. A
    multi-valued attribute given a single object or scalar gets it wrapped.
    Returns ``None`` for a value that means "unassigned" (null, ``""``, ``[]``, ``{}``).
    """
    where = where or attr.name
    if value is None or value == "":
        return None  # unassigned; OneLogin templates send "" for an empty placeholder
    if attr.multi_valued and not element:
        items = value if isinstance(value, list) else [value]
        out = [coerce(attr, item, element=True, where=where) for item in items]
        out = [item for item in out if item not in (None, {})]
        if sum(1 for item in out if isinstance(item, dict) and item.get("primary") is True) > 1:
            raise InvalidValue(f"Only one '{where}' value may be primary (RFC 7643 §2.4).")
        return out or None
    if attr.type == COMPLEX:
        return _complex(attr, value, where) or None
    if isinstance(value, list | dict):
        raise InvalidValue(f"Attribute '{where}' takes a single value, got {_short(value)}.")
    return _scalar(attr, value, where)


def _once(seen: dict[str, Any], name: str, where: str) -> None:
    """The same attribute twice in one object (``userName`` and ``USERNAME``) is
    ambiguous: which one wins would be an accident of key order."""
    if name in seen:
        raise InvalidSyntax(f"Attribute '{where}' is given twice.")


def _schema_values(schema: Schema, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidSyntax(f"'{where}' must be an object of the schema's attributes.")
    out: dict[str, Any] = {}
    for key, value in data.items():
        attr = schema.attribute(key)
        if attr is None:
            raise InvalidSyntax(f"Unknown attribute '{key}' in schema {schema.id}.")
        _once(out, attr.name, attr.name)
        if attr.mutability == READ_ONLY:
            continue
        coerced = coerce(attr, value, where=attr.name)
        if coerced is not None:
            out[attr.name] = coerced
    return out


def validate_resource(body: Any, rtype: ResourceType) -> dict[str, Any]:
    """A POST or PUT body as the canonical resource it asks for (without id/meta).

    Unknown attributes are an error (400 invalidSyntax); readOnly ones (``id``,
    ``meta``, ``groups``) are ignored as RFC 7643 §2.2 allows; unknown schema
    URNs in ``schemas`` (Entra adds its own) are dropped.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("The request body must be a JSON object.")
    out: dict[str, Any] = {}
    for key, value in body.items():
        lowered = key.lower()
        if lowered in ("schemas", "id", "meta"):
            continue
        schema = rtype.schema_for(key) if ":" in key else None
        if schema is not None:
            values = _schema_values(schema, value, key)
            holder = out if not rtype.is_extension(schema) else out.setdefault(schema.id, {})
            for name, item in values.items():
                _once(holder, name, name)
                holder[name] = item
            if not holder:
                out.pop(schema.id, None)
            continue
        resolved = rtype.resolve_path(key)
        if resolved is None or resolved.sub is not None:
            raise InvalidSyntax(f"Unknown attribute '{key}' for resource type {rtype.name}.")
        attr = resolved.attribute
        if attr.mutability == READ_ONLY:
            continue
        _once(out.get(resolved.urn, {}) if resolved.urn else out, attr.name, key)
        coerced = coerce(attr, value)
        if coerced is None:
            continue
        if resolved.urn:
            out.setdefault(resolved.urn, {})[attr.name] = coerced
        else:
            out[attr.name] = coerced
    check_required(out, rtype)
    return out


def check_required(resource: dict[str, Any], rtype: ResourceType) -> None:
    """Raise 400 invalidValue when a required attribute is missing."""
    for urn, attr in rtype.attributes():
        if not attr.required or attr.mutability == READ_ONLY or attr.name == "schemas":
            continue
        holder = resource.get(urn, {}) if urn else resource
        if holder.get(attr.name) in (None, "", []):
            raise InvalidValue(f"Attribute '{attr.name}' is required.")


def schemas_of(resource: dict[str, Any], rtype: ResourceType) -> list[str]:
    """The ``schemas`` value for a canonical resource: core plus used extensions."""
    return [rtype.schema.id, *(e.schema.id for e in rtype.extensions if e.schema.id in resource)]
