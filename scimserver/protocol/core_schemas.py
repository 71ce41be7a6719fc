"""The RFC 7643 resource schemas: User (§4.1), Enterprise User (§4.3), Group (§4.2)."""

from __future__ import annotations

from .schema import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    IMMUTABLE,
    NEVER,
    READ_ONLY,
    REFERENCE,
    WRITE_ONLY,
    Attribute,
    Extension,
    ResourceType,
    Schema,
)

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# URNs some OneLogin connectors send (clients.md); read as their RFC names.
LEGACY_USER = "urn:scim:schemas:core:2.0"
LEGACY_ENTERPRISE = "urn:scim:schemas:extension:enterprise:2.0"

A = Attribute


def _multi(
    name: str,
    description: str,
    types: tuple[str, ...] = (),
    value_type: str = "string",
    reference_types: tuple[str, ...] = (),
) -> Attribute:
    """The usual shape of a multi-valued attribute: value, display, type, primary."""
    return A(
        name,
        COMPLEX,
        multi_valued=True,
        description=description,
        sub_attributes=(
            A(
                "value",
                value_type,
                reference_types=reference_types,
                description=f"The {name} value.",
            ),
            A("display", description="A human-readable name, primarily used for display."),
            A("type", canonical_values=types, description="A label indicating the function."),
            A("primary", BOOLEAN, description="Marks the preferred value."),
        ),
    )


def _membership(
    name: str, description: str, mutability: str, kinds: tuple[str, ...], types: tuple[str, ...]
) -> Attribute:
    """``members`` / ``groups``: references to other resources by id."""
    fixed = READ_ONLY if mutability == READ_ONLY else IMMUTABLE
    return A(
        name,
        COMPLEX,
        multi_valued=True,
        mutability=mutability,
        description=description,
        sub_attributes=(
            A("value", case_exact=True, mutability=fixed, description="The id of the resource."),
            A(
                "$ref",
                REFERENCE,
                reference_types=kinds,
                mutability=fixed,
                description="The URI of the resource.",
            ),
            A("display", mutability=READ_ONLY, description="A human-readable name."),
            A(
                "type",
                canonical_values=types,
                mutability=fixed,
                description="The kind of resource.",
            ),
        ),
    )


USER_SCHEMA = Schema(
    USER,
    "User",
    "User Account",
    (
        A(
            "userName",
            required=True,
            uniqueness="server",
            description="Unique identifier for the User, used to authenticate.",
        ),
        A(
            "name",
            COMPLEX,
            description="The components of the user's name.",
            sub_attributes=(
                A("formatted", description="The full name, formatted for display."),
                A("familyName", description="The family name."),
                A("givenName", description="The given name."),
                A("middleName", description="The middle name(s)."),
                A("honorificPrefix", description="Honorific prefix, e.g. 'Ms.'."),
                A("honorificSuffix", description="Honorific suffix, e.g. 'III'."),
            ),
        ),
        A("displayName", description="The name of the User, suitable for display."),
        A("nickName", description="The casual way to address the user."),
        A(
            "profileUrl",
            REFERENCE,
            reference_types=("external",),
            description="A URI to the user's online profile.",
        ),
        A("title", description="The user's title, e.g. 'Vice President'."),
        A("userType", description="The relationship between organization and user."),
        A("preferredLanguage", description="Preferred written or spoken language."),
        A("locale", description="Default location, for localizing values."),
        A("timezone", description="Time zone in the IANA format."),
        A("active", BOOLEAN, description="The user's administrative status."),
        A(
            "password",
            mutability=WRITE_ONLY,
            returned=NEVER,
            description="The cleartext password; never returned.",
        ),
        _multi("emails", "Email addresses for the user.", ("work", "home", "other")),
        _multi(
            "phoneNumbers",
            "Phone numbers for the user.",
            ("work", "home", "mobile", "fax", "pager", "other"),
        ),
        _multi(
            "ims",
            "Instant messaging addresses.",
            ("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
        ),
        _multi(
            "photos",
            "URLs of images of the user.",
            ("photo", "thumbnail"),
            REFERENCE,
            ("external",),
        ),
        A(
            "addresses",
            COMPLEX,
            multi_valued=True,
            description="Physical mailing addresses.",
            sub_attributes=(
                A("formatted", description="The full mailing address."),
                A("streetAddress", description="The street address."),
                A("locality", description="The city or locality."),
                A("region", description="The state or region."),
                A("postalCode", description="The zip or postal code."),
                A("country", description="The country, ISO 3166-1 alpha-2."),
                A(
                    "type",
                    canonical_values=("work", "home", "other"),
                    description="A label indicating the function.",
                ),
                A("primary", BOOLEAN, description="Marks the preferred address."),
            ),
        ),
        _membership(
            "groups",
            "The groups the user belongs to.",
            READ_ONLY,
            ("User", "Group"),
            ("direct", "indirect"),
        ),
        _multi("entitlements", "Entitlements of the user."),
        _multi("roles", "Roles of the user."),
        _multi("x509Certificates", "Certificates issued to the user.", (), BINARY),
    ),
)

ENTERPRISE_SCHEMA = Schema(
    ENTERPRISE_USER,
    "EnterpriseUser",
    "Enterprise User",
    (
        A("employeeNumber", description="Identifier assigned by the organization."),
        A("costCenter", description="The cost center."),
        A("organization", description="The organization."),
        A("division", description="The division."),
        A("department", description="The department."),
        A(
            "manager",
            COMPLEX,
            description="The user's manager.",
            sub_attributes=(
                A("value", description="The id of the manager."),
                A("$ref", REFERENCE, reference_types=("User",), description="The manager's URI."),
                A("displayName", mutability=READ_ONLY, description="The manager's displayName."),
            ),
        ),
    ),
)

GROUP_SCHEMA = Schema(
    GROUP,
    "Group",
    "Group",
    (
        A(
            "displayName",
            required=True,
            uniqueness="server",
            description="A human-readable name for the Group.",
        ),
        _membership(
            "members",
            "A list of members of the Group.",
            "readWrite",
            ("User", "Group"),
            ("User", "Group"),
        ),
    ),
)

USER_TYPE = ResourceType(
    "User",
    "/Users",
    USER_SCHEMA,
    (Extension(ENTERPRISE_SCHEMA),),
    description="User Account",
    aliases=((LEGACY_USER, USER), (LEGACY_ENTERPRISE, ENTERPRISE_USER)),
)
GROUP_TYPE = ResourceType("Group", "/Groups", GROUP_SCHEMA, description="Group")
