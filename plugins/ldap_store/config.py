"""``[store.ldap]`` options, checked once at start-up (no ldap3 needed here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# LDAP attribute -> SCIM sources, first source with a value wins (see docs/ldap.md).
# A source is a path: "title", "name.givenName", "emails.value" (every element),
# "phoneNumbers[mobile].value" (elements of that type), URN-qualified for extensions.
# cn and sn are required by inetOrgPerson, so they fall back to userName.
USER_ATTRIBUTES: dict[str, list[str]] = {
    "uid": ["userName"],
    "cn": ["name.formatted", "displayName", "userName"],
    "sn": ["name.familyName", "userName"],
    "givenName": ["name.givenName"],
    "displayName": ["displayName"],
    "title": ["title"],
    "mail": ["emails.value"],
    "telephoneNumber": ["phoneNumbers.value"],
    "mobile": ["phoneNumbers[mobile].value"],
    "facsimileTelephoneNumber": ["phoneNumbers[fax].value"],
    "pager": ["phoneNumbers[pager].value"],
    "preferredLanguage": ["preferredLanguage"],
    "employeeType": ["userType"],
    "street": ["addresses.streetAddress"],
    "l": ["addresses.locality"],
    "st": ["addresses.region"],
    "postalCode": ["addresses.postalCode"],
    "employeeNumber": [f"{ENTERPRISE}:employeeNumber"],
    "departmentNumber": [f"{ENTERPRISE}:department"],
    "o": [f"{ENTERPRISE}:organization"],
    "manager": [f"{ENTERPRISE}:manager.value"],
}
GROUP_ATTRIBUTES: dict[str, list[str]] = {
    "cn": ["displayName"],
}


class LdapConfigError(ValueError):
    pass


def _sources(section: str, name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise LdapConfigError(
        f"[store.ldap.{section}] {name} must be a SCIM attribute path or a list of them"
    )


def _mapping(defaults: dict[str, list[str]], section: str, overrides: Any) -> dict[str, list[str]]:
    if overrides is None:
        return {k: list(v) for k, v in defaults.items()}
    if not isinstance(overrides, dict):
        raise LdapConfigError(f"[store.ldap.{section}] must be a table")
    mapping = {k: list(v) for k, v in defaults.items()}
    lowered = {k.lower(): k for k in mapping}
    for name, value in overrides.items():
        mapping.pop(lowered.get(name.lower(), name), None)
        sources = _sources(section, name, value)
        if sources:  # "" or [] removes a default
            mapping[name] = sources
    return mapping


def _int(options: dict[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise LdapConfigError(f"[store.ldap] {name} must be a number >= {minimum}")
    return int(value)


def _seconds(options: dict[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise LdapConfigError(f"[store.ldap] {name} must be a number of seconds > 0")
    return float(value)


def _list(options: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = options.get(name, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise LdapConfigError(f"[store.ldap] {name} must be a list of object class names")
    return list(value)


@dataclass
class LdapConfig:
    url: str = "ldap://127.0.0.1:389"
    bind_dn: str = ""
    password: str = ""
    base_dn: str = ""
    start_tls: bool = False
    ca_file: str | None = None
    verify: bool = True
    pool_size: int = 10
    connect_timeout: float = 5.0
    timeout: float = 10.0
    retry_after: int = 5
    user_classes: list[str] = field(default_factory=lambda: ["inetOrgPerson"])
    group_classes: list[str] = field(default_factory=lambda: ["groupOfNames"])
    member_attribute: str = "member"
    # The member value of a group with no members: groupOfNames needs one (RFC 4519).
    # None when the group class allows no member at all.
    empty_member: str | None = ""
    people: str = "ou=people"
    groups: str = "ou=groups"
    user_attributes: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in USER_ATTRIBUTES.items()}
    )
    group_attributes: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in GROUP_ATTRIBUTES.items()}
    )
    # Server-side sorting and virtual list views (slapo-sssvlv) for large lists.
    vlv: bool = True
    # Members resolved by the directory (slapo-deref) rather than looked up by id.
    deref: bool = True

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> LdapConfig:
        known = {
            "url", "bind_dn", "password", "base_dn", "start_tls", "ca_file", "verify",
            "pool_size", "connect_timeout", "timeout", "retry_after", "user_classes",
            "group_classes", "member_attribute", "empty_member", "people", "groups",
            "user_attributes", "group_attributes", "vlv", "deref",
        }  # fmt: skip
        unknown = sorted(set(options) - known)
        if unknown:
            raise LdapConfigError(f"[store.ldap] unknown option(s): {', '.join(unknown)}")
        url = str(options.get("url", cls.url))
        if not url.lower().startswith(("ldap://", "ldaps://")):
            raise LdapConfigError("[store.ldap] url must start with ldap:// or ldaps://")
        base_dn = options.get("base_dn")
        if not isinstance(base_dn, str) or not base_dn.strip():
            raise LdapConfigError("[store.ldap] base_dn is required")
        empty = options.get("empty_member", "")
        if empty is not None and empty is not False and not isinstance(empty, str):
            raise LdapConfigError('[store.ldap] empty_member must be a DN, "" or false')
        return cls(
            url=url,
            bind_dn=str(options.get("bind_dn", "")),
            password=str(options.get("password", "")),
            base_dn=base_dn.strip(),
            start_tls=bool(options.get("start_tls", False)),
            ca_file=options.get("ca_file") or None,
            verify=bool(options.get("verify", True)),
            pool_size=_int(options, "pool_size", cls.pool_size, 1),
            connect_timeout=_seconds(options, "connect_timeout", cls.connect_timeout),
            timeout=_seconds(options, "timeout", cls.timeout),
            retry_after=_int(options, "retry_after", cls.retry_after, 1),
            user_classes=_list(options, "user_classes", ["inetOrgPerson"]),
            group_classes=_list(options, "group_classes", ["groupOfNames"]),
            member_attribute=str(options.get("member_attribute", "member")),
            empty_member=None if empty is False else empty,
            people=str(options.get("people", "ou=people")),
            groups=str(options.get("groups", "ou=groups")),
            user_attributes=_mapping(
                USER_ATTRIBUTES, "user_attributes", options.get("user_attributes")
            ),
            group_attributes=_mapping(
                GROUP_ATTRIBUTES, "group_attributes", options.get("group_attributes")
            ),
            vlv=bool(options.get("vlv", True)),
            deref=bool(options.get("deref", True)),
        )
