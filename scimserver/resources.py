"""The SCIM operations on resources, independent of HTTP: validation, hooks, store.

Every write goes: validate -> (inside the store's transaction) compute the new
document -> ``scimserver_before_write`` (may amend or veto) -> store -> after
commit, ``scimserver_after_write``. A failing step raises a ScimError and the
store writes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pluggy

from . import events as ev
from .events import RequestInfo, WriteContext, WriteEvent
from .protocol import errors
from .protocol.core_schemas import GROUP_TYPE
from .protocol.patch import apply_patch, plan_members
from .protocol.schema import ResourceType
from .protocol.validate import check_required, now, schemas_of, validate_resource
from .store import BatchCreates, MemberChange, Page, Query, Resource, Store
from .tenancy import Integration, Organization

log = logging.getLogger(__name__)

# What a DELETE can do: the answers of scimserver_delete_action.
DELETE_ACTION, SUSPEND_ACTION, RETAIN_ACTION = "delete", "suspend", "retain"


@dataclass(frozen=True)
class Caller:
    """Who is asking: the organization (always), the integration and request."""

    org: Organization
    integration: Integration | None = None
    request: RequestInfo | None = None


def _operation(before: Resource | None, after: Resource, default: str) -> str:
    """``deactivate``/``reactivate`` when ``active`` flips, else ``default``."""
    was = before.get("active", True) if before else True
    now_active = after.get("active", True)
    if was is not False and now_active is False:
        return ev.DEACTIVATE
    if was is False and now_active is not False:
        return ev.REACTIVATE
    return default


class Resources:
    """Create, read, replace, patch, delete and query, for one app."""

    def __init__(self, store: Store, pm: pluggy.PluginManager) -> None:
        self.store = store
        self.hook = pm.hook

    # -- hooks ------------------------------------------------------------------

    @staticmethod
    def _context(
        caller: Caller,
        operation: str,
        rtype: ResourceType,
        resource: Resource,
        before: Resource | None,
    ) -> WriteContext:
        return WriteContext(
            operation, rtype.name, caller.org, caller.integration, caller.request, resource, before
        )

    def _before(
        self,
        caller: Caller,
        operation: str,
        rtype: ResourceType,
        resource: Resource,
        before: Resource | None,
    ) -> Resource:
        context = self._context(caller, operation, rtype, resource, before)
        self.hook.scimserver_before_write(context=context)
        return context.resource

    def _after(
        self,
        caller: Caller,
        operation: str,
        rtype: ResourceType,
        id: str,
        before: Resource | None,
        after: Resource | None,
    ) -> None:
        event = WriteEvent(
            operation,
            rtype.name,
            id,
            caller.org,
            caller.integration,
            caller.request.id if caller.request else None,
            before,
            after,
        )
        # Each observer on its own: one failing must neither fail the committed
        # write nor keep the others from hearing of it. pluggy's call order is the
        # reverse of its registration list (tryfirst last in the list).
        for impl in reversed(self.hook.scimserver_after_write.get_hookimpls()):
            try:
                impl.function(event=event)
            except Exception:
                log.exception(
                    "after_write hook of %s failed for %s %s %s",
                    impl.plugin_name,
                    operation,
                    rtype.name,
                    id,
                )

    # -- operations ---------------------------------------------------------------

    def create(self, caller: Caller, rtype: ResourceType, body: Any) -> Resource:
        result = self.create_many(caller, rtype, [body])[0]
        if isinstance(result, errors.ScimError):
            raise result
        return result

    def create_many(
        self, caller: Caller, rtype: ResourceType, bodies: Sequence[Any]
    ) -> list[Resource | errors.ScimError]:
        """Several creates, each atomic on its own and answered on its own (Bulk).

        The suspend policy's lookup and the store's inserts are done for all of
        them at once; hooks still see one create at a time.
        """
        results: list[Resource | errors.ScimError] = []
        valid: dict[int, Resource] = {}  # index -> validated attributes
        for index, body in enumerate(bodies):
            try:
                valid[index] = validate_resource(body, rtype)
                results.append(valid[index])
            except errors.ScimError as error:
                results.append(error)
        stamp = now()
        contexts = {
            index: self._context(caller, ev.CREATE, rtype, self._new(rtype, values, stamp), None)
            for index, values in valid.items()
        }
        targets = list(self.hook.scimserver_create_targets(contexts=list(contexts.values())) or ())
        targets += [None] * (len(contexts) - len(targets))
        fresh: list[int] = []
        revived: set[str] = set()
        for (index, context), target in zip(contexts.items(), targets, strict=False):
            try:
                # A record comes back once; a later create naming it meets it live.
                if target is not None and target not in revived:
                    revived.add(target)
                    results[index] = self._revive(caller, rtype, target, valid[index])
                    continue
                self.hook.scimserver_before_write(context=context)
                context.resource.pop("password", None)  # accepted, never kept (the IdP signs in)
                results[index] = context.resource
                fresh.append(index)
            except errors.ScimError as error:
                results[index] = error
        created = self._store_many(caller.org.id, rtype, [contexts[i].resource for i in fresh])
        for index, result in zip(fresh, created, strict=True):
            results[index] = result
            if not isinstance(result, errors.ScimError):
                self._after(caller, ev.CREATE, rtype, result["id"], None, result)
        return results

    @staticmethod
    def _new(rtype: ResourceType, values: Resource, stamp: str) -> Resource:
        return {
            "schemas": schemas_of(values, rtype),
            "id": str(uuid.uuid4()),
            **values,
            "meta": {"resourceType": rtype.name, "created": stamp, "lastModified": stamp},
        }

    def _store_many(
        self, org: str, rtype: ResourceType, docs: list[Resource]
    ) -> list[Resource | errors.ScimError]:
        if len(docs) > 1 and isinstance(self.store, BatchCreates):
            return self.store.create_many(org, rtype, docs)
        results: list[Resource | errors.ScimError] = []
        for doc in docs:  # a store without batches: one create at a time
            try:
                results.append(self.store.create(org, rtype, doc))
            except errors.ScimError as error:
                results.append(error)
        return results

    def _revive(self, caller: Caller, rtype: ResourceType, id: str, values: Resource) -> Resource:
        """A create naming a retained record: same id, the new attributes, active."""
        seen: dict[str, Resource] = {}

        def mutate(current: Resource) -> Resource:
            seen["before"] = current
            resource: Resource = {
                "schemas": schemas_of(values, rtype),
                "id": current["id"],
                "active": True,
                **values,
            }
            resource["meta"] = {**current["meta"], "lastModified": now()}
            resource = self._before(caller, ev.REVIVE, rtype, resource, current)
            resource.pop("password", None)
            return resource

        revived = self.store.update(caller.org.id, rtype, id, mutate, members=False, retain=False)
        self._after(caller, ev.REVIVE, rtype, id, seen["before"], revived)
        return revived

    def get(
        self, caller: Caller, rtype: ResourceType, id: str, *, members: bool = True
    ) -> Resource:
        return self.store.get(caller.org.id, rtype, id, members=members)

    def replace(
        self,
        caller: Caller,
        rtype: ResourceType,
        id: str,
        body: Any,
        *,
        if_match: str | None = None,
        members: bool = True,
    ) -> Resource:
        values = validate_resource(body, rtype)
        # A PUT without "members" leaves membership alone (an explicit [] clears it):
        # a client that never sends members must not empty groups by updating a name.
        is_group = rtype.name == GROUP_TYPE.name
        with_members = is_group and any(k.lower() == "members" for k in body)
        seen: dict[str, Resource] = {}

        def mutate(current: Resource) -> Resource:
            seen["before"] = current
            resource: Resource = {
                "schemas": schemas_of(values, rtype),
                "id": current["id"],
                **values,
            }
            if "active" in current and "active" not in resource:
                resource["active"] = current["active"]  # absent active keeps its value
            if not with_members:
                resource.pop("members", None)
            resource["meta"] = {**current["meta"], "lastModified": now()}
            return self._finish(caller, rtype, resource, current, ev.REPLACE)

        updated = self.store.update(
            caller.org.id, rtype, id, mutate, if_match=if_match, members=with_members
        )
        if is_group and members and not with_members:
            updated = self.store.get(caller.org.id, rtype, id, members=True)
        self._after(
            caller,
            _operation(seen["before"], updated, ev.REPLACE),
            rtype,
            id,
            seen["before"],
            updated,
        )
        return updated

    def patch(
        self,
        caller: Caller,
        rtype: ResourceType,
        id: str,
        body: Any,
        *,
        if_match: str | None = None,
        members: bool = True,
    ) -> Resource:
        """RFC 7644 §3.5.2. Member-only edits of a Group never read its member list."""
        plan = plan_members(body, rtype) if rtype.name == GROUP_TYPE.name else None
        change = plan and MemberChange(plan.replace, plan.add, plan.remove)
        default_op = ev.MEMBERSHIP if plan and plan.touches_members and not plan.rest else ev.PATCH
        seen: dict[str, Resource] = {}

        def mutate(current: Resource) -> Resource:
            seen["before"] = current
            resource = (
                plan.apply_rest(current, rtype) if plan else apply_patch(current, body, rtype)
            )
            check_required(resource, rtype)
            resource["schemas"] = schemas_of(resource, rtype)
            resource["meta"] = {**current["meta"], "lastModified": now()}
            return self._finish(caller, rtype, resource, current, default_op)

        updated = self.store.update(
            caller.org.id,
            rtype,
            id,
            mutate,
            if_match=if_match,
            members=plan is None,
            member_change=change,
        )
        if plan is not None and members:
            updated = self.store.get(caller.org.id, rtype, id, members=True)
        self._after(
            caller,
            _operation(seen["before"], updated, default_op),
            rtype,
            id,
            seen["before"],
            updated,
        )
        return updated

    def _finish(
        self,
        caller: Caller,
        rtype: ResourceType,
        resource: Resource,
        current: Resource,
        default_op: str,
    ) -> Resource:
        """The last step inside a write: before-hooks, then what is never stored."""
        operation = _operation(current, resource, default_op)
        resource = self._before(caller, operation, rtype, resource, current)
        resource.pop("password", None)
        return resource

    def delete(
        self, caller: Caller, rtype: ResourceType, id: str, *, if_match: str | None = None
    ) -> None:
        """DELETE: what it does is the ``scimserver_delete_action`` hook's answer."""
        current = self.store.get(caller.org.id, rtype, id, members=False)
        context = self._context(caller, ev.DELETE, rtype, current, current)
        action = self.hook.scimserver_delete_action(context=context) or DELETE_ACTION
        if action == DELETE_ACTION:
            self.hook.scimserver_before_write(context=context)
            self.store.delete(caller.org.id, rtype, id, if_match=if_match)
            self._after(caller, ev.DELETE, rtype, id, current, None)
            return
        if action not in (SUSPEND_ACTION, RETAIN_ACTION):
            raise errors.ScimError(f"Unknown delete action {action!r}.", status=500)
        seen: dict[str, Resource] = {}

        def mutate(stored: Resource) -> Resource:
            seen["before"] = stored
            resource = {
                **stored,
                "active": False,
                "meta": {**stored["meta"], "lastModified": now()},
            }
            return self._before(caller, ev.SUSPEND, rtype, resource, stored)

        suspended = self.store.update(
            caller.org.id,
            rtype,
            id,
            mutate,
            if_match=if_match,
            members=False,
            retain=True if action == RETAIN_ACTION else None,
        )
        self._after(caller, ev.SUSPEND, rtype, id, seen["before"], suspended)

    def query(self, caller: Caller, rtype: ResourceType, query: Query) -> Page:
        return self.store.query(caller.org.id, rtype, query)
