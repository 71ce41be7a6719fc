"""The Store contract every backend implements (SQL, Redis, LDAP, ...).

A store keeps resources in their canonical shape (see protocol.validate) for
one organization at a time: every call names the organization, and a store
must never let one organization's call see another's data. The core prepares
what is written (ids, ``meta`` timestamps, validation, hooks); the store owns
what only it can make atomic: uniqueness, versions, read-modify-write and
group membership.

Group ``members`` and User ``groups`` are relations, not document fields: a
store returns them computed, as ``{"value", "type", "display"}`` elements
(the web layer adds ``$ref``), and never loads members it was told not to.

Records retained by the suspend policy are hidden from ``get`` and ``query``
unless asked for; when returned, their ``meta.retained`` holds the instant
they were retained (the web layer never serves them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from .protocol.errors import ScimError
from .protocol.filter_ast import Filter
from .protocol.patch import Member
from .protocol.schema import Resolved, ResourceType

Resource = dict[str, Any]
# Which records a query sees: live ones, live and retained, or retained only.
Retained = Literal["exclude", "include", "only"]


@dataclass(frozen=True)
class MemberChange:
    """Membership edits applied without reading the member list.

    ``replace`` (when not ``None``) sets the whole list first; then ``remove``
    and ``add`` apply. Adding a present member or removing an absent one is a
    no-op, so a repeated request changes nothing.
    """

    replace: tuple[Member, ...] | None = None
    add: tuple[Member, ...] = ()
    remove: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return self.replace is None and not self.add and not self.remove


@dataclass(frozen=True)
class Query:
    """A list request, already validated by the core."""

    filter: Filter | None = None
    sort_by: Resolved | None = None
    descending: bool = False
    start_index: int = 1  # 1-based (RFC 7644 §3.4.2.4)
    count: int = 100  # 0 asks only for totalResults
    cursor: str | None = None  # RFC 9865: "" asks for the first page by cursor
    members: bool = True  # whether Group members are needed in the answer
    retained: Retained = "exclude"  # records retained by the suspend policy


@dataclass
class Page:
    resources: list[Resource]
    total: int
    next_cursor: str | None = None
    previous_cursor: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a store can do natively; the core adapts to the rest."""

    cursor: bool = True
    sort: bool = True


Mutation = Callable[[Resource], Resource]


@runtime_checkable
class Store(Protocol):
    """Storage for SCIM resources, scoped by organization.

    Member ids that name no resource of the organization are ignored.

    Errors: ``protocol.errors.NotFound`` for an unknown id (or one of another
    organization), ``Uniqueness`` for a taken ``userName``/``displayName``,
    ``PreconditionFailed`` when ``if_match`` is not the current version,
    ``Unavailable``
    when the backend cannot be reached. Nothing is written when one is raised.
    """

    capabilities: Capabilities

    def create(self, org: str, rtype: ResourceType, resource: Resource) -> Resource:
        """Insert a resource whose ``id`` and ``meta`` the core has set; returns it
        as stored, with ``meta.version`` and computed members/groups."""
        ...

    def get(
        self,
        org: str,
        rtype: ResourceType,
        id: str,
        *,
        members: bool = True,
        retained: bool = False,
    ) -> Resource:
        """One resource by id."""
        ...

    def update(
        self,
        org: str,
        rtype: ResourceType,
        id: str,
        mutate: Mutation,
        *,
        if_match: str | None = None,
        members: bool = True,
        member_change: MemberChange | None = None,
        retain: bool | None = None,
    ) -> Resource:
        """Atomic read-modify-write: ``mutate(current)`` returns the new resource.

        With ``members=False`` a Group is read and written without its member
        list and ``member_change`` is applied instead. ``retain`` True marks the
        record retained by the suspend policy (hidden from get and query), False
        brings it back, None leaves it. ``mutate`` runs inside the transaction
        and may raise a ScimError to abort it.
        """
        ...

    def delete(
        self, org: str, rtype: ResourceType, id: str, *, if_match: str | None = None
    ) -> None:
        """Remove a resource for good, with its memberships."""
        ...

    def query(self, org: str, rtype: ResourceType, query: Query) -> Page:
        """Resources matching ``query.filter``, ``total`` counting all matches."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class BatchCreates(Protocol):
    """Optional: a store that inserts many resources at once (Bulk imports).

    The core loops over ``Store.create`` for a store without it.
    """

    def create_many(
        self, org: str, rtype: ResourceType, resources: list[Resource]
    ) -> list[Resource | ScimError]:
        """Like ``create`` for each resource, in one round of statements: each is
        inserted or not on its own (a taken name answers its own ``Uniqueness``),
        and the answers come in the order of ``resources``."""
        ...


@dataclass
class StoreFactory:
    """What a store plugin registers: a name and how to build one from config."""

    name: str
    build: Callable[[dict[str, Any]], Store]
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
