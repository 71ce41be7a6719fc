"""``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9) and ``returned``.

A projection is parsed once per request and applied to stored documents as
they are, without a validation round trip: reads stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .schema import ALWAYS, NEVER, REQUEST, Attribute, ResourceType

Key = tuple[str | None, str]  # (extension URN or None, attribute name)


@dataclass(frozen=True)
class Projection:
    include: frozenset[tuple[Key, str | None]] | None = None  # None: the default set
    exclude: frozenset[tuple[Key, str | None]] = frozenset()

    def wants(self, key: Key) -> bool:
        """Whether top-level attribute ``key`` may appear (used to skip loading members)."""
        if self.include is not None:
            return any(k == key for k, _ in self.include)
        return (key, None) not in self.exclude


def _parse(
    rtype: ResourceType, text: str | Iterable[str] | None
) -> frozenset[tuple[Key, str | None]]:
    if not text:
        return frozenset()
    names = text.split(",") if isinstance(text, str) else list(text)
    out: set[tuple[Key, str | None]] = set()
    for name in (n.strip() for n in names):
        if not name:
            continue
        schema = rtype.schema_for(name) if ":" in name else None
        if schema is not None and rtype.is_extension(schema):
            # A whole extension: every attribute in it.
            out.update(((schema.id, a.name), None) for a in schema.attributes)
            continue
        resolved = rtype.resolve_path(name)
        if resolved is None:
            continue  # unknown names select nothing (RFC 7644 §3.4.2.5 is silent)
        out.add(
            ((resolved.urn, resolved.attribute.name), resolved.sub.name if resolved.sub else None)
        )
    return frozenset(out)


def parse_projection(
    rtype: ResourceType, attributes: Any = None, excluded: Any = None
) -> Projection:
    include = _parse(rtype, attributes) if attributes else None
    return Projection(include or None, _parse(rtype, excluded))


def _project_value(
    attr: Attribute, value: Any, subs: set[str] | None, excluded_subs: set[str]
) -> Any:
    if not attr.sub_attributes:
        return value

    def one(element: Any) -> Any:
        if not isinstance(element, dict):
            return element
        out = {}
        for key, sub_value in element.items():
            sub = attr.sub(key)
            returned = sub.returned if sub else "default"
            if returned == NEVER:
                continue
            if returned != ALWAYS and (
                (subs is not None and key not in subs)
                or key in excluded_subs
                or (returned == REQUEST and (subs is None or key not in subs))
            ):
                continue
            out[key] = sub_value
        return out

    if isinstance(value, list):
        projected = [one(v) for v in value]
        return [v for v in projected if v != {}]
    return one(value)


_SKIP = object()
Selection = frozenset[tuple[Key, str | None]]


def project(doc: dict[str, Any], rtype: ResourceType, projection: Projection) -> dict[str, Any]:
    """The representation of a stored document a client asked for."""
    include, exclude = projection.include, projection.exclude
    if include is None and not exclude and doc.keys().isdisjoint(rtype.hidden_keys):
        return doc  # the default view of a stored document is the document itself
    out: dict[str, Any] = {}
    for key, value in doc.items():
        schema = rtype.schema_for(key) if ":" in key else None
        if schema is not None and rtype.is_extension(schema) and isinstance(value, dict):
            inner = {}
            for name, sub_value in value.items():
                picked = _project_one(
                    schema.id, schema.attribute(name), sub_value, include, exclude
                )
                if picked is not _SKIP:
                    inner[name] = picked
            if inner:
                out[key] = inner
            continue
        resolved = rtype.resolve(key)
        picked = _project_one(
            None, resolved.attribute if resolved else None, value, include, exclude
        )
        if picked is not _SKIP:
            out[key] = picked
    if (include is not None or exclude) and "schemas" in out:
        out["schemas"] = [
            rtype.schema.id,
            *(e.schema.id for e in rtype.extensions if e.schema.id in out),
        ]
    return out


def _project_one(
    urn: str | None,
    attr: Attribute | None,
    value: Any,
    include: Selection | None,
    exclude: Selection,
) -> Any:
    if attr is None:
        return value  # not in the schema (stored documents only hold known ones)
    if attr.returned == NEVER:
        return _SKIP
    if attr.returned == ALWAYS:
        return value
    key: Key = (urn, attr.name)
    if (key, None) in exclude:
        return _SKIP
    excluded_subs = {sub for (k, sub) in exclude if k == key and sub}
    if include is None:
        if attr.returned == REQUEST:
            return _SKIP
        return _project_value(attr, value, None, excluded_subs)
    picked = [sub for (k, sub) in include if k == key]
    if not picked:
        return _SKIP
    subs = None if None in picked else {s for s in picked if s}
    return _project_value(attr, value, subs, excluded_subs)
