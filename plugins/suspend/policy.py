"""The suspend policy itself: what a DELETE does, and which create revives."""

from __future__ import annotations

from collections.abc import Sequence

from scimserver.events import WriteContext
from scimserver.hookspecs import hookimpl
from scimserver.protocol.core_schemas import USER_TYPE
from scimserver.protocol.filter_ast import Compare, Filter, Or
from scimserver.protocol.schema import Resolved
from scimserver.resources import RETAIN_ACTION, SUSPEND_ACTION
from scimserver.store import Query, Resource, Store

MODES = ("hidden", "visible")
USER_NAME = USER_TYPE.resolve("userName")
EXTERNAL_ID = USER_TYPE.resolve("externalId")


class SuspendPolicy:
    """Registered per server by the plugin's start-up hook."""

    def __init__(self, store: Store, mode: str) -> None:
        self.store = store
        self.mode = mode

    @hookimpl
    def scimserver_delete_action(self, context: WriteContext) -> str | None:
        if context.resource_type != USER_TYPE.name:
            return None  # groups hold no personal data: a DELETE deletes them
        return RETAIN_ACTION if self.mode == "hidden" else SUSPEND_ACTION

    @hookimpl
    def scimserver_create_targets(
        self, contexts: Sequence[WriteContext]
    ) -> list[str | None] | None:
        """A POST naming a retained user by userName or externalId brings it back."""
        if self.mode != "hidden":
            return None
        users = [c for c in contexts if c.resource_type == USER_TYPE.name]
        if not users or not self._any_retained(users[0].org.id):
            return None  # the common case costs one count, for a whole Bulk request too
        found: dict[tuple[str, str], str] = {}
        for start in range(0, len(users), BATCH):
            self._find(users[start : start + BATCH], found)
        return [_target(c, found) if c.resource_type == USER_TYPE.name else None for c in contexts]

    def _any_retained(self, org: str) -> bool:
        query = Query(count=0, retained="only", members=False)
        return self.store.query(org, USER_TYPE, query).total > 0

    def _find(self, users: list[WriteContext], found: dict[tuple[str, str], str]) -> None:
        """Retained users named by these creates, by (attribute, value) into ``found``."""
        terms: list[Filter] = [
            Compare(attr, "eq", value) for c in users for attr, value in _names(c.resource)
        ]
        if not terms:
            return
        query = Query(filter=_any_of(terms), count=len(terms), retained="only", members=False)
        for doc in self.store.query(users[0].org.id, USER_TYPE, query).resources:
            for key in _keys(doc):
                found.setdefault(key, doc["id"])


BATCH = 100  # creates per lookup: bounds the size of one filter


def _names(resource: Resource) -> list[tuple[Resolved, str]]:
    pairs = ((USER_NAME, resource.get("userName")), (EXTERNAL_ID, resource.get("externalId")))
    return [(attr, value) for attr, value in pairs if isinstance(value, str) and value]


def _keys(resource: Resource) -> list[tuple[str, str]]:
    """How a user is matched: userName ignores case (caseExact false), externalId not."""
    return [(a.target.name, v.lower() if a is USER_NAME else v) for a, v in _names(resource)]


def _target(context: WriteContext, found: dict[tuple[str, str], str]) -> str | None:
    return next((found[key] for key in _keys(context.resource) if key in found), None)


def _any_of(terms: list[Filter]) -> Filter:
    """``a or b or ...`` as a balanced tree: depth log2(n), not n."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return Or(_any_of(terms[:middle]), _any_of(terms[middle:]))
