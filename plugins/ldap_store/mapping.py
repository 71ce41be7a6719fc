"""From a SCIM resource to the directory attributes LDAP clients read.

The projection is written on every SCIM write: ``uid``, ``cn``, ``mail``, ... per
the configured mapping. It is for other LDAP clients; SCIM reads come from the
``scim*`` attributes, so a value the directory would normalize, reorder or reject
never changes what SCIM returns. A value an attribute's syntax cannot hold (a
non-ASCII address in ``mail``, an IA5String) is left out of that attribute.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from scimserver.protocol.filter import parse_datetime

log = logging.getLogger(__name__)

# Attribute syntaxes (RFC 4517) the projection checks values against.
DIRECTORY_STRING = "1.3.6.1.4.1.1466.115.121.1.15"
IA5_STRING = "1.3.6.1.4.1.1466.115.121.1.26"
PRINTABLE_STRING = "1.3.6.1.4.1.1466.115.121.1.44"
TELEPHONE_NUMBER = "1.3.6.1.4.1.1466.115.121.1.50"
FACSIMILE_NUMBER = "1.3.6.1.4.1.1466.115.121.1.22"
COUNTRY_STRING = "1.3.6.1.4.1.1466.115.121.1.11"
INTEGER = "1.3.6.1.4.1.1466.115.121.1.27"
DN = "1.3.6.1.4.1.1466.115.121.1.12"
NUMERIC_STRING = "1.3.6.1.4.1.1466.115.121.1.36"

_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:?=]+")


@dataclass(frozen=True)
class AttributeInfo:
    """What the server's schema says about one attribute type."""

    syntax: str = DIRECTORY_STRING
    single: bool = False
    equality: str = "caseIgnoreMatch"


# Used when the server's schema cannot be read: the standard attributes of the
# default mapping (core, cosine, inetorgperson schemas).
BUILTIN: dict[str, AttributeInfo] = {
    "uid": AttributeInfo(),
    "cn": AttributeInfo(),
    "sn": AttributeInfo(),
    "givenname": AttributeInfo(),
    "displayname": AttributeInfo(single=True),
    "title": AttributeInfo(),
    "mail": AttributeInfo(IA5_STRING, equality="caseIgnoreIA5Match"),
    "telephonenumber": AttributeInfo(TELEPHONE_NUMBER, equality="telephoneNumberMatch"),
    "mobile": AttributeInfo(TELEPHONE_NUMBER, equality="telephoneNumberMatch"),
    "pager": AttributeInfo(TELEPHONE_NUMBER, equality="telephoneNumberMatch"),
    "facsimiletelephonenumber": AttributeInfo(FACSIMILE_NUMBER, equality=""),
    "preferredlanguage": AttributeInfo(single=True),
    "employeetype": AttributeInfo(),
    "street": AttributeInfo(),
    "l": AttributeInfo(),
    "st": AttributeInfo(),
    "postalcode": AttributeInfo(),
    "employeenumber": AttributeInfo(single=True),
    "departmentnumber": AttributeInfo(),
    "o": AttributeInfo(),
    "ou": AttributeInfo(),
    "manager": AttributeInfo(DN, equality="distinguishedNameMatch"),
    "description": AttributeInfo(),
}


# ------------------------------------------------------------------ instants

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_GT = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{4})")


def instant(value: Any) -> datetime | None:
    """An aware datetime for a SCIM dateTime value, as the evaluator reads it."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def generalized(moment: datetime) -> str:
    """A GeneralizedTime (RFC 4517 §3.3.13) for an instant, in UTC, to the microsecond."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y%m%d%H%M%S") + f".{utc.microsecond:06d}Z"


def to_generalized(text: Any) -> tuple[str | None, bool]:
    """``(GeneralizedTime, lossless)`` for a SCIM dateTime string.

    Lossless when :func:`from_generalized` gives ``text`` back unchanged (the
    core's own stamps always are); otherwise the instant alone is kept and the
    caller stores the string elsewhere.
    """
    moment = instant(text)
    if moment is None or not isinstance(text, str):
        return None, False
    match = _ISO.fullmatch(text)
    if match is None:
        return generalized(moment), False
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    gt = f"{year}{month}{day}{hour}{minute}{second}"
    if fraction:
        gt += f".{fraction}"
    gt += "Z" if zone == "Z" else zone.replace(":", "")
    return gt, True


def from_generalized(gt: str) -> str | None:
    match = _GT.fullmatch(gt)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    if fraction:
        text += f".{fraction}"
    return text + ("Z" if zone == "Z" else f"{zone[:3]}:{zone[3:]}")


# ----------------------------------------------------------------- the sources


@dataclass(frozen=True)
class Source:
    """One SCIM attribute path of the mapping, parsed."""

    urn: str | None
    attribute: str
    kind: str | None  # "mobile" in phoneNumbers[mobile].value
    sub: str | None

    @classmethod
    def parse(cls, path: str) -> Source:
        urn = None
        if path.lower().startswith("urn:"):
            urn, _, path = path.rpartition(":")
        match = re.fullmatch(r"([A-Za-z][\w-]*)(?:\[([^\]]+)\])?(?:\.([A-Za-z][\w-]*))?", path)
        if match is None:
            raise ValueError(f"not a SCIM attribute path: {path!r}")
        attribute, kind, sub = match.groups()
        return cls(urn, attribute, kind.strip() if kind else None, sub)

    def values(self, doc: Mapping[str, Any]) -> list[Any]:
        container: Any = doc.get(self.urn) if self.urn else doc
        if not isinstance(container, Mapping):
            return []
        top = container.get(self.attribute)
        if top is None:
            return []
        if isinstance(top, list):
            elements = [el for el in top if isinstance(el, Mapping)]
            if self.kind is not None:
                kind = self.kind.lower()
                elements = [el for el in elements if str(el.get("type", "")).lower() == kind]
            # The primary element first, so a single-valued attribute gets it.
            elements.sort(key=lambda el: el.get("primary") is not True)
            name = self.sub or "value"
            scalars = [v for v in top if not isinstance(v, Mapping | list)]
            return [el.get(name) for el in elements] + ([] if self.kind else scalars)
        if isinstance(top, Mapping):
            return [top.get(self.sub or "value")]
        return [] if self.sub else [top]


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal) or (isinstance(value, float) and value == value):
        return str(value)
    if isinstance(value, str) and value and "\x00" not in value:
        return value
    return None


def _fits(syntax: str, value: str) -> bool:
    """Whether ``value`` is valid in ``syntax`` (only the syntaxes we know to check)."""
    if syntax == IA5_STRING:
        return value.isascii() and value.strip() != ""
    if syntax in (PRINTABLE_STRING, TELEPHONE_NUMBER, FACSIMILE_NUMBER):
        return _PRINTABLE.fullmatch(value) is not None and value.strip() != ""
    if syntax == COUNTRY_STRING:
        return len(value) == 2 and _PRINTABLE.fullmatch(value) is not None
    if syntax == INTEGER:
        return re.fullmatch(r"-?(0|[1-9]\d*)", value) is not None
    if syntax == NUMERIC_STRING:
        return re.fullmatch(r"[0-9 ]+", value) is not None
    return True


def _dedupe_key(equality: str, value: str) -> str:
    """A key at least as coarse as the attribute's equality rule, so that two values
    the directory would call equal are never both sent (it refuses duplicates)."""
    rule = equality.lower()
    if rule.startswith("octetstring"):
        return value
    folded = unicodedata.normalize("NFKC", value)
    if "telephone" in rule:
        folded = folded.replace(" ", "").replace("-", "")
    if "exact" not in rule:
        folded = folded.casefold()
    return " ".join(folded.split())


class Projection:
    """The configured mapping for one resource type, checked against the schema."""

    def __init__(self, mapping: dict[str, list[str]], schema: dict[str, AttributeInfo]) -> None:
        self.attributes: list[tuple[str, AttributeInfo, list[Source]]] = []
        for name, paths in mapping.items():
            info = schema.get(name.lower())
            if info is None:
                log.warning("LDAP store: the directory has no attribute %r; not mapped", name)
                continue
            self.attributes.append((name, info, [Source.parse(p) for p in paths]))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.attributes]

    def project(self, doc: Mapping[str, Any], dn_of: Any) -> dict[str, list[str]]:
        """LDAP attribute -> values for ``doc``; ``dn_of(id)`` makes DN-syntax values."""
        out: dict[str, list[str]] = {}
        for name, info, sources in self.attributes:
            for source in sources:
                values = self._clean(info, source.values(doc), dn_of)
                if values:
                    out[name] = values[:1] if info.single else values
                    break
        return out

    @staticmethod
    def _clean(info: AttributeInfo, raw: Iterable[Any], dn_of: Any) -> list[str]:
        values: list[str] = []
        seen: set[str] = set()
        for item in raw:
            text = _text(item)
            if text is None:
                continue
            if info.syntax == DN:
                text = dn_of(text)
                if text is None:
                    continue
            elif not _fits(info.syntax, text):
                continue
            key = _dedupe_key(info.equality, text)
            if key and key not in seen:
                seen.add(key)
                values.append(text)
        return values


def parse_schema(definitions: Iterable[str]) -> dict[str, AttributeInfo]:
    """Syntax, single-value and equality of each attribute type, superiors followed."""
    raw: dict[str, dict[str, Any]] = {}
    for definition in definitions:
        names = re.search(r"NAME\s+(?:'([^']+)'|\(\s*([^)]*)\))", definition)
        if names is None:
            continue
        aliases = [names.group(1)] if names.group(1) else re.findall(r"'([^']+)'", names.group(2))
        fields: dict[str, Any] = {"single": "SINGLE-VALUE" in definition}
        for key, pattern in (
            ("syntax", r"SYNTAX\s+'?([\d.]+)"),
            ("equality", r"EQUALITY\s+'?([\w;-]+)"),
            ("sup", r"SUP\s+'?([\w;-]+)"),
        ):
            found = re.search(pattern, definition)
            fields[key] = found.group(1) if found else None
        for alias in aliases:
            raw[alias.lower()] = fields

    def resolve(name: str, key: str, depth: int = 0) -> Any:
        fields = raw.get(name)
        if fields is None or depth > 10:
            return None
        if fields.get(key):
            return fields[key]
        sup = fields.get("sup")
        return resolve(sup.lower(), key, depth + 1) if sup else None

    return {
        name: AttributeInfo(
            resolve(name, "syntax") or DIRECTORY_STRING,
            bool(fields["single"]),
            resolve(name, "equality") or "",
        )
        for name, fields in raw.items()
    }
