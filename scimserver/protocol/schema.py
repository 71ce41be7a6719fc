"""SCIM schemas as data (RFC 7643 §2, §7): attributes, schemas, resource types.

Everything the protocol layer does — validation, projection, filtering, PATCH,
comparison — is driven by the characteristics declared here. Names are matched
case-insensitively (RFC 7643 §2.1) and always handed back in canonical case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

STRING, BOOLEAN, DECIMAL, INTEGER = "string", "boolean", "decimal", "integer"
DATETIME, BINARY, REFERENCE, COMPLEX = "dateTime", "binary", "reference", "complex"

READ_ONLY, READ_WRITE, IMMUTABLE, WRITE_ONLY = "readOnly", "readWrite", "immutable", "writeOnly"
ALWAYS, NEVER, DEFAULT, REQUEST = "always", "never", "default", "request"

SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


@dataclass(frozen=True)
class Attribute:
    """One attribute definition with its RFC 7643 §2.2 characteristics."""

    name: str
    type: str = STRING
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = READ_WRITE
    returned: str = DEFAULT
    uniqueness: str = "none"
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()
    description: str = ""
    _subs: dict[str, Attribute] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_subs", {a.name.lower(): a for a in self.sub_attributes})

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name`` (any case), if it exists."""
        return self._subs.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type == COMPLEX

    def to_scim(self) -> dict[str, Any]:
        """The attribute as it appears in a ``/Schemas`` answer."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        if self.type == REFERENCE:
            out["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            out["subAttributes"] = [a.to_scim() for a in self.sub_attributes]
        return out


@dataclass(frozen=True)
class Schema:
    """A schema: an id (URN) and its top-level attributes."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _attrs: dict[str, Attribute] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_attrs", {a.name.lower(): a for a in self.attributes})

    def attribute(self, name: str) -> Attribute | None:
        return self._attrs.get(name.lower())

    def to_scim(self, location: str) -> dict[str, Any]:
        return {
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_scim() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


@dataclass(frozen=True)
class Extension:
    schema: Schema
    required: bool = False


# Attributes every resource has (RFC 7643 §3.1); they live outside any schema.
ID = Attribute("id", case_exact=True, mutability=READ_ONLY, returned=ALWAYS, uniqueness="server")
EXTERNAL_ID = Attribute("externalId", case_exact=True)
META = Attribute(
    "meta",
    COMPLEX,
    mutability=READ_ONLY,
    sub_attributes=(
        Attribute("resourceType", case_exact=True, mutability=READ_ONLY),
        Attribute("created", DATETIME, mutability=READ_ONLY),
        Attribute("lastModified", DATETIME, mutability=READ_ONLY),
        Attribute("location", REFERENCE, reference_types=("uri",), mutability=READ_ONLY),
        Attribute("version", case_exact=True, mutability=READ_ONLY),
    ),
)
SCHEMAS = Attribute(
    "schemas", REFERENCE, multi_valued=True, case_exact=True, returned=ALWAYS, required=True
)
COMMON: dict[str, Attribute] = {a.name.lower(): a for a in (ID, EXTERNAL_ID, META, SCHEMAS)}


@dataclass(frozen=True)
class Resolved:
    """An attribute reference resolved against a resource type.

    ``urn`` is the schema holding the attribute, or ``None`` for the core schema
    and the common attributes: resources keep extension attributes under their
    URN key, core attributes at the top level.
    """

    urn: str | None
    attribute: Attribute
    sub: Attribute | None = None

    @property
    def target(self) -> Attribute:
        return self.sub or self.attribute

    @property
    def dotted(self) -> str:
        base = f"{self.urn}:{self.attribute.name}" if self.urn else self.attribute.name
        return f"{base}.{self.sub.name}" if self.sub else base


@dataclass(frozen=True)
class ResourceType:
    """A resource type (RFC 7643 §6): endpoint, core schema, extensions."""

    name: str
    endpoint: str
    schema: Schema
    extensions: tuple[Extension, ...] = ()
    description: str = ""
    aliases: tuple[tuple[str, str], ...] = ()  # (legacy URN, canonical URN)
    _urns: dict[str, Schema] = field(init=False, repr=False, compare=False)
    # Top-level keys (attribute names, extension URNs) that hold something a default
    # representation leaves out (returned "never" or "request"), so projection must
    # walk a document that has one.
    hidden_keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        urns = {self.schema.id.lower(): self.schema}
        urns.update({e.schema.id.lower(): e.schema for e in self.extensions})
        for legacy, canonical in self.aliases:
            urns[legacy.lower()] = urns[canonical.lower()]
        object.__setattr__(self, "_urns", urns)
        hidden = {
            urn or attr.name
            for urn, attr in self.attributes()
            if any(a.returned in (NEVER, REQUEST) for a in (attr, *attr.sub_attributes))
        }
        object.__setattr__(self, "hidden_keys", frozenset(hidden))

    def schema_for(self, urn: str) -> Schema | None:
        """The core or extension schema with this URN (any case, legacy aliases too)."""
        return self._urns.get(urn.lower())

    def is_extension(self, schema: Schema) -> bool:
        return schema is not self.schema

    @property
    def schema_ids(self) -> tuple[str, ...]:
        return (self.schema.id, *(e.schema.id for e in self.extensions))

    def split_urn(self, path: str) -> tuple[Schema | None, str]:
        """Split ``urn:...:User:name.givenName`` into its schema and the rest.

        A path with no known URN prefix is returned whole with ``None``.
        """
        if ":" not in path:
            return None, path
        lowered = path.lower()
        best: tuple[Schema | None, str] = (None, path)
        longest = 0
        for urn, schema in self._urns.items():
            if lowered.startswith(urn + ":") and len(urn) > longest:
                longest, best = len(urn), (schema, path[len(urn) + 1 :])
            elif lowered == urn and len(urn) > longest:
                longest, best = len(urn), (schema, "")
        return best

    def resolve(self, name: str, sub: str | None = None, urn: str | None = None) -> Resolved | None:
        """Resolve an attribute name (and sub-attribute) or return ``None``.

        With no ``urn`` the core schema and the common attributes are searched;
        with a URN only that schema is.
        """
        if urn is not None:
            schema = self.schema_for(urn)
            if schema is None:
                return None
            attr = schema.attribute(name)
            if attr is None and schema is self.schema:
                attr = COMMON.get(name.lower())
            key = schema.id if self.is_extension(schema) else None
        else:
            attr = COMMON.get(name.lower()) or self.schema.attribute(name)
            key = None
        if attr is None:
            return None
        if sub is None:
            return Resolved(key, attr)
        sub_attr = attr.sub(sub)
        if sub_attr is None:
            return None
        return Resolved(key, attr, sub_attr)

    def resolve_path(self, path: str) -> Resolved | None:
        """Resolve a dotted, optionally URN-qualified path like ``name.givenName``."""
        schema, rest = self.split_urn(path)
        if schema is not None and not rest:
            return None
        name, _, sub = rest.partition(".")
        return self.resolve(name, sub or None, schema.id if schema else None)

    def attributes(self) -> Iterator[tuple[str | None, Attribute]]:
        """Every top-level attribute with the key it lives under (``None``: top level)."""
        for attr in COMMON.values():
            yield None, attr
        for attr in self.schema.attributes:
            yield None, attr
        for ext in self.extensions:
            for attr in ext.schema.attributes:
                yield ext.schema.id, attr

    def to_scim(self, location: str) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [
                {"schema": e.schema.id, "required": e.required} for e in self.extensions
            ],
            "meta": {"resourceType": "ResourceType", "location": location},
        }


class Registry:
    """The resource types and schemas a server serves, built once at start-up."""

    def __init__(self, resource_types: Iterable[ResourceType]) -> None:
        self.resource_types: dict[str, ResourceType] = {}
        self.by_endpoint: dict[str, ResourceType] = {}
        self.schemas: dict[str, Schema] = {}
        for rt in resource_types:
            self.resource_types[rt.name] = rt
            self.by_endpoint[rt.endpoint.strip("/").lower()] = rt
            self.schemas[rt.schema.id] = rt.schema
            for ext in rt.extensions:
                self.schemas[ext.schema.id] = ext.schema

    def __getitem__(self, name: str) -> ResourceType:
        return self.resource_types[name]

    def schema(self, urn: str) -> Schema | None:
        lowered = urn.lower()
        return next((s for i, s in self.schemas.items() if i.lower() == lowered), None)
