"""LDAP controls ldap3 does not build itself, encoded with pyasn1 (which ldap3 uses).

* Server-side sorting, RFC 2891 (``1.2.840.113556.1.4.473``, answered by ``.474``).
* Virtual list view, draft-ietf-ldapext-ldapv3-vlv-09 (``2.16.840.1.113730.3.4.9``,
  answered by ``.10``): a window of the sorted result and the total count.
* Assertion, RFC 4528: a delete that happens only at the version the caller saw.
* Matched values, RFC 3876: only the ``member`` values a query asked about.
* Dereference, draft-masarati-ldap-deref: the members a group names, in one search.

OpenLDAP answers sorting and views through the ``sssvlv`` overlay, dereference
through ``deref``, the others natively. Post-read (RFC 4527) comes from ldap3 itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ldap3.protocol.controls import build_control
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import namedtype, tag, univ

SORT_REQUEST = "1.2.840.113556.1.4.473"
SORT_RESPONSE = "1.2.840.113556.1.4.474"
VLV_REQUEST = "2.16.840.1.113730.3.4.9"
VLV_RESPONSE = "2.16.840.1.113730.3.4.10"
ASSERTION = "1.3.6.1.1.12"
MATCHED_VALUES = "1.2.826.0.1.3344810.2.3"


class _SortKey(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("attributeType", univ.OctetString()),
        namedtype.OptionalNamedType(
            "orderingRule",
            univ.OctetString().subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0)
            ),
        ),
        namedtype.DefaultedNamedType(
            "reverseOrder",
            univ.Boolean(False).subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 1)
            ),
        ),
    )


class _SortKeyList(univ.SequenceOf):
    componentType = _SortKey()


class _SortResult(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("sortResult", univ.Enumerated()),
        namedtype.OptionalNamedType(
            "attributeType",
            univ.OctetString().subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0)
            ),
        ),
    )


class _ByOffset(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("offset", univ.Integer()),
        namedtype.NamedType("contentCount", univ.Integer()),
    )


class _Target(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType(
            "byOffset",
            _ByOffset().subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0)
            ),
        ),
        namedtype.NamedType(
            "greaterThanOrEqual",
            univ.OctetString().subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 1)
            ),
        ),
    )


class _VlvRequest(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("beforeCount", univ.Integer()),
        namedtype.NamedType("afterCount", univ.Integer()),
        namedtype.NamedType("target", _Target()),
        namedtype.OptionalNamedType("contextID", univ.OctetString()),
    )


class _VlvResponse(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("targetPosition", univ.Integer()),
        namedtype.NamedType("contentCount", univ.Integer()),
        namedtype.NamedType("virtualListViewResult", univ.Enumerated()),
        namedtype.OptionalNamedType("contextID", univ.OctetString()),
    )


def sort_control(keys: list[tuple[str, bool]], criticality: bool = True) -> Any:
    """Sort by ``(attribute, reverse)`` pairs, most significant first."""
    value = _SortKeyList()
    for n, (attribute, reverse) in enumerate(keys):
        key = _SortKey()
        key.setComponentByName("attributeType", attribute)
        if reverse:
            key.setComponentByName("reverseOrder", True)
        value.setComponentByPosition(n, key)
    return build_control(SORT_REQUEST, criticality, encoder.encode(value), False)


def vlv_control(offset: int, after: int, criticality: bool = True) -> Any:
    """The window starting at 1-based ``offset``, ``after`` entries past it."""
    by_offset = _ByOffset().subtype(
        implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0)
    )
    by_offset.setComponentByName("offset", offset)
    by_offset.setComponentByName("contentCount", 0)
    value = _VlvRequest()
    value.setComponentByName("beforeCount", 0)
    value.setComponentByName("afterCount", after)
    value.getComponentByName("target").setComponentByName("byOffset", by_offset)
    return build_control(VLV_REQUEST, criticality, encoder.encode(value), False)


@dataclass(frozen=True)
class VlvAnswer:
    target: int
    count: int
    result: int


def _raw(result: dict[str, Any], oid: str) -> bytes | None:
    control = (result.get("controls") or {}).get(oid)
    if control is None:
        return None
    value = control.get("value")
    return bytes(value) if value is not None else None


def sort_result(result: dict[str, Any]) -> int | None:
    """The sortResult code of a search answer (0 = sorted), None if absent."""
    raw = _raw(result, SORT_RESPONSE)
    if raw is None:
        return None
    decoded, _ = decoder.decode(raw, asn1Spec=_SortResult())
    return int(decoded["sortResult"])


def vlv_answer(result: dict[str, Any]) -> VlvAnswer | None:
    raw = _raw(result, VLV_RESPONSE)
    if raw is None:
        return None
    decoded, _ = decoder.decode(raw, asn1Spec=_VlvResponse())
    return VlvAnswer(
        int(decoded["targetPosition"]),
        int(decoded["contentCount"]),
        int(decoded["virtualListViewResult"]),
    )


def _filter(text: str) -> Any:
    from ldap3.operation.search import compile_filter, parse_filter

    return compile_filter(parse_filter(text, None, False, False, None, False).elements[0])


def assertion_control(text: str) -> Any:
    """RFC 4528: the operation happens only if the entry matches ``text``."""
    return build_control(ASSERTION, True, encoder.encode(_filter(text)), False)


def _tlv(tag: int, content: bytes) -> bytes:
    """One BER element (definite length)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def matched_values_control(attribute: str, values: list[str], others: list[str]) -> Any:
    """RFC 3876: return only the values of ``attribute`` equal to one of ``values``,
    and every value of the ``others`` (an attribute no item matches comes back empty).

    Encoded by hand: a SEQUENCE OF equalityMatch [3] and present [7] filter items,
    hundreds of which pyasn1 would take milliseconds to build.
    """
    name = attribute.encode()
    items = [_tlv(0xA3, _tlv(0x04, name) + _tlv(0x04, v.encode())) for v in values]
    items += [_tlv(0x87, other.encode()) for other in others]
    return build_control(MATCHED_VALUES, True, _tlv(0x30, b"".join(items)), False)


DEREF = "1.3.6.1.4.1.4203.666.5.16"


class _AttributeList(univ.SequenceOf):
    componentType = univ.OctetString()


class _DerefSpec(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("derefAttr", univ.OctetString()),
        namedtype.NamedType("attributes", _AttributeList()),
    )


class _DerefSpecs(univ.SequenceOf):
    componentType = _DerefSpec()


def deref_control(attribute: str, attributes: list[str]) -> Any:
    """draft-masarati-ldap-deref (slapo-deref): with each entry, these attributes of
    every entry its ``attribute`` values name (nothing for a value naming none)."""
    spec = _DerefSpec()
    spec.setComponentByName("derefAttr", attribute)
    names = _AttributeList()
    for n, name in enumerate(attributes):
        names.setComponentByPosition(n, name)
    spec.setComponentByName("attributes", names)
    specs = _DerefSpecs()
    specs.setComponentByPosition(0, spec)
    return build_control(DEREF, False, encoder.encode(specs), False)


def deref_answer(raw: bytes) -> list[tuple[str, dict[str, list[str]] | None]]:
    """``(value, attributes of the entry it names, or None)`` per dereferenced value."""
    from ldap3.utils.asn1 import decode_sequence

    def nested(message: bytes, start: int, stop: int) -> Any:
        return decode_sequence(message, start, stop)

    out: list[tuple[str, dict[str, list[str]] | None]] = []
    for _, _, _, result in decode_sequence(raw, 0, len(raw), {0: nested})[0][3]:
        value = bytes(result[1][3]).decode("utf-8", "replace")
        attrs: dict[str, list[str]] | None = None
        if len(result) > 2:
            attrs = {}
            for _, _, _, pair in result[2][3]:
                name = bytes(pair[0][3]).decode().lower()
                attrs[name] = [bytes(v[3]).decode("utf-8", "replace") for v in pair[1][3]]
        out.append((value, attrs))
    return out
