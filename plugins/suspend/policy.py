"""The suspend policy itself: what a DELETE does, and which create revives."""

from __future__ import annotations

from scimserver.events import WriteContext
from scimserver.hookspecs import hookimpl
from scimserver.protocol.core_schemas import USER_TYPE
from scimserver.protocol.filter_ast import Compare, Filter, Or
from scimserver.resources import RETAIN_ACTION, SUSPEND_ACTION
from scimserver.store import Query, Store

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
    def scimserver_create_target(self, context: WriteContext) -> str | None:
        """A POST naming a retained user by userName or externalId brings it back."""
        if self.mode != "hidden" or context.resource_type != USER_TYPE.name:
            return None
        wanted: Filter | None = None
        for attr, value in (
            (USER_NAME, context.resource.get("userName")),
            (EXTERNAL_ID, context.resource.get("externalId")),
        ):
            if isinstance(value, str) and value:
                term = Compare(attr, "eq", value)
                wanted = term if wanted is None else Or(wanted, term)
        if wanted is None:
            return None
        page = self.store.query(
            context.org.id, USER_TYPE, Query(filter=wanted, count=1, retained="only", members=False)
        )
        return page.resources[0]["id"] if page.resources else None
