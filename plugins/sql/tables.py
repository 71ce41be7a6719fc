"""The SQL store's tables (SQLAlchemy Core).

One ``resources`` table for every resource type: the canonical JSON document
plus the columns filters, sorts and uniqueness need, all indexed. Multi-valued
values that filters use (``emails.value``) live in ``resource_values``;
membership is a relation between resource rows, never part of a document.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Codepoint order on every dialect, so SQL sorts agree with the reference
# evaluator (PostgreSQL would otherwise sort by the database's locale).
Key = String(512).with_variant(String(512, collation="C"), "postgresql")  # validate.IDENTIFIER_MAX

metadata = MetaData()

resources = Table(
    "scim_resources",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("org", String(64), nullable=False),
    Column("rtype", String(32), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", String(32), nullable=False),
    Column("modified", String(32), nullable=False),
    # userName (Users) or displayName (Groups), lowered: the uniqueness key.
    Column("unique_key", Key, nullable=True),
    Column("display_ci", Key, nullable=True),  # displayName, lowered
    Column("display", Text, nullable=True),  # shown as members' / groups' display
    Column("external_id", Key, nullable=True),
    Column("active", Boolean, nullable=True),
    Column("retained_at", String(32), nullable=True),  # set by the suspend policy
    Column("data", Text, nullable=False),
    Index("ix_scim_resources_id", "org", "rtype", "id", unique=True),
    Index("ix_scim_resources_key", "org", "rtype", "unique_key", unique=True),
    Index("ix_scim_resources_external_id", "org", "rtype", "external_id"),
    Index("ix_scim_resources_display", "org", "rtype", "display_ci"),
    Index("ix_scim_resources_created", "org", "rtype", "created"),
    Index("ix_scim_resources_modified", "org", "rtype", "modified"),
    # Live rows in creation order: pages and counts read this index alone.
    Index("ix_scim_resources_order", "org", "rtype", "retained_at", "seq"),
)

values = Table(
    "scim_values",
    metadata,
    Column(
        "resource_seq",
        Integer,
        ForeignKey("scim_resources.seq", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("org", String(64), nullable=False),
    Column("rtype", String(32), nullable=False),
    Column("attr", String(64), nullable=False),
    Column("value_ci", Key, nullable=False),
    Index("ix_scim_values_lookup", "org", "rtype", "attr", "value_ci"),
    Index("ix_scim_values_resource", "resource_seq"),
)

memberships = Table(
    "scim_memberships",
    metadata,
    Column(
        "group_seq", Integer, ForeignKey("scim_resources.seq", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "member_seq",
        Integer,
        ForeignKey("scim_resources.seq", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index("ix_scim_memberships_member", "member_seq"),
)

# Live and retained rows per (org, rtype), kept by every write in its own
# transaction, so an unfiltered list's totalResults costs no scan. PostgreSQL
# spreads an organization over several shards so concurrent writers do not
# queue on one row lock; readers add the shards up.
counts = Table(
    "scim_counts",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("rtype", String(32), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("live", Integer, nullable=False),
    Column("retained", Integer, nullable=False),
)

organizations = Table(
    "scim_organizations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("enterprise", Boolean, nullable=False, default=False),
    Column("provisioning", Boolean, nullable=False, default=False),
    Column("created", String(32), nullable=False),
)

integrations = Table(
    "scim_integrations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", String(64), ForeignKey("scim_organizations.id"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created", String(32), nullable=False),
    Column("rotated", String(32), nullable=False),
    UniqueConstraint("org_id", "kind", name="uq_scim_integrations_kind"),
)

# Multi-valued sub-attributes copied into scim_values for indexed filters.
INDEXED_VALUES: dict[str, tuple[tuple[str, str], ...]] = {
    "User": (("emails", "value"),),
}
