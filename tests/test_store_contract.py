"""The Store contract (``scimserver/store.py``), one suite run against every backend.

Stores are built without the app, from ``tests/backends.py``: a new backend
(Redis, LDAP, ...) joins by adding its name there,
and then has to pass every test below (and ``test_filter_equivalence.py``).
Each test works in a fresh organization, so one store per backend serves the
whole module.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import backends
import pytest

from scimserver.protocol import errors
from scimserver.protocol.core_schemas import ENTERPRISE_USER, GROUP_TYPE, USER_TYPE
from scimserver.protocol.filter import parse_filter
from scimserver.protocol.patch import Member
from scimserver.protocol.schema import ResourceType
from scimserver.protocol.validate import now, schemas_of, validate_resource
from scimserver.store import BatchCreates, MemberChange, Mutation, Page, Query, Resource, Store

# -- backends ------------------------------------------------------------------
# Every backend of tests/backends.py, built the way the app builds it.


def build_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The store named by ``request.param``, on fresh storage."""
    return backends.build_store(request.param, request, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module", params=backends.ENABLED)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    built = build_store(request, tmp_path_factory)
    yield built
    built.close()


@pytest.fixture
def org() -> str:
    return f"org-{uuid.uuid4()}"


@pytest.fixture
def other_org() -> str:
    return f"org-{uuid.uuid4()}"


# -- documents as the core hands them to a store ---------------------------------


def document(rtype: ResourceType, body: dict[str, Any], *, created: str | None = None) -> Resource:
    """A validated resource with ``id`` and ``meta`` set, as ``Resources.create`` makes it."""
    values = validate_resource({"schemas": [rtype.schema.id], **body}, rtype)
    stamp = created or now()
    return {
        "schemas": schemas_of(values, rtype),
        "id": str(uuid.uuid4()),
        **values,
        "meta": {"resourceType": rtype.name, "created": stamp, "lastModified": stamp},
    }


def user_doc(user_name: str, **attrs: Any) -> Resource:
    return document(USER_TYPE, {"userName": user_name, **attrs})


def group_doc(name: str, members: tuple[str, ...] | list[str] = (), **attrs: Any) -> Resource:
    body = {"displayName": name, **attrs}
    if members:
        body["members"] = [{"value": m} for m in members]
    return document(GROUP_TYPE, body)


def named(rtype: ResourceType, name: str, **attrs: Any) -> Resource:
    return user_doc(name, **attrs) if rtype is USER_TYPE else group_doc(name, **attrs)


NAME = {"User": "userName", "Group": "displayName"}


def setting(**changes: Any) -> Mutation:
    """A mutation setting attributes (``None`` removes one) and ``lastModified``."""

    def mutate(current: Resource) -> Resource:
        for key, value in changes.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        current["meta"] = {**current["meta"], "lastModified": now()}
        return current

    return mutate


def with_members(*ids: str) -> Mutation:
    return setting(members=[{"value": i} for i in ids])


def failing(error: errors.ScimError, **changes: Any) -> Mutation:
    """A mutation that changes the document, then vetoes the write."""
    change = setting(**changes)

    def mutate(current: Resource) -> Resource:
        change(current)
        raise error

    return mutate


def members_of(doc: Resource) -> list[str]:
    """Member ids, sorted, duplicates kept (a member must appear once)."""
    return sorted(m["value"] for m in doc.get("members", []))


def groups_of(doc: Resource) -> list[str]:
    return sorted(g["value"] for g in doc.get("groups", []))


def ids(page: Page) -> list[str]:
    return [r["id"] for r in page.resources]


def version(n: int) -> str:
    return f'W/"{n}"'


def query(store: Store, org: str, rtype: ResourceType, text: str | None = None, **kw: Any) -> Page:
    flt = parse_filter(text, rtype) if text else None
    return store.query(org, rtype, Query(filter=flt, **kw))


def cursor_token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


# ================================================================ create / get / update / delete


def test_create_returns_the_resource_as_stored_with_version_1(store: Store, org: str) -> None:
    doc = user_doc(
        "Ada@Example.com",
        displayName="Ada Lovelace",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        emails=[{"value": "ada@example.com", "type": "work", "primary": True}],
        active=True,
        externalId="ext-Ada",
        **{ENTERPRISE_USER: {"employeeNumber": "1815", "department": "Analytical"}},
    )
    expected = copy.deepcopy(doc)
    expected["meta"]["version"] = version(1)
    assert store.create(org, USER_TYPE, doc) == expected
    assert store.get(org, USER_TYPE, doc["id"]) == expected


def test_create_group_returns_it_as_stored_with_version_1(store: Store, org: str) -> None:
    doc = group_doc("Engineers", externalId="eng")
    created = store.create(org, GROUP_TYPE, doc)
    assert created["meta"]["version"] == version(1)
    assert {k: v for k, v in created.items() if k not in ("members", "meta")} == {
        k: v for k, v in doc.items() if k != "meta"
    }
    assert members_of(created) == []
    assert store.get(org, GROUP_TYPE, doc["id"]) == created


def test_update_writes_what_mutate_returns_and_bumps_the_version(store: Store, org: str) -> None:
    created = store.create(org, USER_TYPE, user_doc("grace", displayName="Grace", title="RADM"))
    seen: list[Resource] = []

    def mutate(current: Resource) -> Resource:
        seen.append(copy.deepcopy(current))
        return setting(displayName="Grace Hopper", title=None, nickName="Amazing")(current)

    updated = store.update(org, USER_TYPE, created["id"], mutate)
    assert seen == [created]  # mutate is handed the current resource
    assert updated["displayName"] == "Grace Hopper"
    assert updated["nickName"] == "Amazing"
    assert "title" not in updated
    assert updated["meta"]["version"] == version(2)
    assert store.get(org, USER_TYPE, created["id"]) == updated
    again = store.update(org, USER_TYPE, created["id"], setting(title="Admiral"))
    assert again["meta"]["version"] == version(3)
    assert store.get(org, USER_TYPE, created["id"])["title"] == "Admiral"


def test_update_is_visible_to_filters_on_indexed_columns(store: Store, org: str) -> None:
    created = store.create(
        org, USER_TYPE, user_doc("old@example.com", emails=[{"value": "old@example.com"}])
    )
    store.update(
        org,
        USER_TYPE,
        created["id"],
        setting(userName="new@example.com", emails=[{"value": "new@example.com"}], externalId="X"),
    )
    for text in ('userName eq "old@example.com"', 'emails.value eq "old@example.com"'):
        assert ids(query(store, org, USER_TYPE, text)) == []
    for text in (
        'userName eq "NEW@example.com"',
        'emails.value eq "new@example.com"',
        'externalId eq "X"',
    ):
        assert ids(query(store, org, USER_TYPE, text)) == [created["id"]]


@pytest.mark.parametrize("rtype", [USER_TYPE, GROUP_TYPE], ids=lambda t: t.name)
def test_delete_removes_the_resource_for_good(store: Store, org: str, rtype: ResourceType) -> None:
    created = store.create(org, rtype, named(rtype, "gone"))
    kept = store.create(org, rtype, named(rtype, "kept"))
    store.delete(org, rtype, created["id"])
    with pytest.raises(errors.NotFound):
        store.get(org, rtype, created["id"])
    with pytest.raises(errors.NotFound):
        store.get(org, rtype, created["id"], retained=True)
    with pytest.raises(errors.NotFound):
        store.update(org, rtype, created["id"], setting())
    with pytest.raises(errors.NotFound):
        store.delete(org, rtype, created["id"])
    page = query(store, org, rtype, retained="include")
    assert (ids(page), page.total) == ([kept["id"]], 1)
    assert ids(query(store, org, rtype, f'{NAME[rtype.name]} eq "gone"')) == []


def test_a_deleted_name_can_be_taken_again(store: Store, org: str) -> None:
    first = store.create(org, USER_TYPE, user_doc("reuse"))
    store.delete(org, USER_TYPE, first["id"])
    second = store.create(org, USER_TYPE, user_doc("REUSE"))
    assert store.get(org, USER_TYPE, second["id"])["userName"] == "REUSE"


# -------------------------------------------------------- NotFound and organization isolation

CALLS: dict[str, Callable[[Store, str, ResourceType, str], Any]] = {
    "get": lambda s, org, rt, id: s.get(org, rt, id),
    "get-retained": lambda s, org, rt, id: s.get(org, rt, id, retained=True),
    "get-no-members": lambda s, org, rt, id: s.get(org, rt, id, members=False),
    "update": lambda s, org, rt, id: s.update(org, rt, id, setting(title="x")),
    "update-if-match": lambda s, org, rt, id: s.update(org, rt, id, setting(), if_match="*"),
    "update-member-change": lambda s, org, rt, id: s.update(
        org,
        rt,
        id,
        setting(),
        members=False,
        member_change=MemberChange(add=(Member(id),), remove=frozenset({id})),
    ),
    "retain": lambda s, org, rt, id: s.update(org, rt, id, setting(), retain=True),
    "revive": lambda s, org, rt, id: s.update(org, rt, id, setting(), retain=False),
    "delete": lambda s, org, rt, id: s.delete(org, rt, id),
    "delete-if-match": lambda s, org, rt, id: s.delete(org, rt, id, if_match="*"),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("rtype", [USER_TYPE, GROUP_TYPE], ids=lambda t: t.name)
def test_an_unknown_id_is_not_found(store: Store, org: str, rtype: ResourceType, call: str) -> None:
    store.create(org, rtype, named(rtype, "someone"))
    with pytest.raises(errors.NotFound):
        CALLS[call](store, org, rtype, str(uuid.uuid4()))


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("rtype", [USER_TYPE, GROUP_TYPE], ids=lambda t: t.name)
def test_another_organizations_id_is_not_found(
    store: Store, org: str, other_org: str, rtype: ResourceType, call: str
) -> None:
    member = store.create(other_org, USER_TYPE, user_doc("member"))
    theirs = store.create(other_org, rtype, named(rtype, "theirs", externalId="t"))
    if rtype is GROUP_TYPE:
        theirs = store.update(other_org, GROUP_TYPE, theirs["id"], with_members(member["id"]))
    with pytest.raises(errors.NotFound):
        CALLS[call](store, org, rtype, theirs["id"])
    assert store.get(other_org, rtype, theirs["id"]) == theirs  # untouched


def test_a_resource_type_is_its_own_namespace(store: Store, org: str) -> None:
    user = store.create(org, USER_TYPE, user_doc("u"))
    group = store.create(org, GROUP_TYPE, group_doc("g"))
    with pytest.raises(errors.NotFound):
        store.get(org, GROUP_TYPE, user["id"])
    with pytest.raises(errors.NotFound):
        store.get(org, USER_TYPE, group["id"])
    assert ids(query(store, org, USER_TYPE)) == [user["id"]]
    assert ids(query(store, org, GROUP_TYPE)) == [group["id"]]


@pytest.mark.parametrize(
    "text",
    [
        None,
        'userName eq "shared@example.com"',  # pushed down
        'emails.value eq "shared@example.com"',  # pushed down, value table
        'title eq "Shared"',  # evaluated
        'userName sw "shared" and title pr',  # both
    ],
)
def test_query_never_shows_another_organizations_resources(
    store: Store, org: str, other_org: str, text: str | None
) -> None:
    body = {"title": "Shared", "emails": [{"value": "shared@example.com"}]}
    theirs = store.create(other_org, USER_TYPE, user_doc("shared@example.com", **body))
    page = query(store, org, USER_TYPE, text)
    assert (ids(page), page.total) == ([], 0)
    assert ids(query(store, org, USER_TYPE, text, retained="include")) == []
    assert ids(query(store, org, USER_TYPE, text, cursor="")) == []
    mine = store.create(org, USER_TYPE, user_doc("shared@example.com", **body))
    assert ids(query(store, org, USER_TYPE, text)) == [mine["id"]]
    assert ids(query(store, other_org, USER_TYPE, text)) == [theirs["id"]]


def test_group_queries_never_show_another_organizations_groups(
    store: Store, org: str, other_org: str
) -> None:
    member = store.create(other_org, USER_TYPE, user_doc("m"))
    theirs = store.create(other_org, GROUP_TYPE, group_doc("Team", [member["id"]]))
    for text in (None, 'displayName eq "Team"', f'members.value eq "{member["id"]}"'):
        assert query(store, org, GROUP_TYPE, text).total == 0
        assert ids(query(store, other_org, GROUP_TYPE, text)) == [theirs["id"]]


def test_the_same_names_in_two_organizations_do_not_conflict(
    store: Store, org: str, other_org: str
) -> None:
    for o in (org, other_org):
        store.create(o, USER_TYPE, user_doc("same@example.com"))
        store.create(o, GROUP_TYPE, group_doc("Same"))
    for o in (org, other_org):
        assert query(store, o, USER_TYPE, 'userName eq "same@example.com"').total == 1
        assert query(store, o, GROUP_TYPE, 'displayName eq "same"').total == 1


def test_member_ids_of_another_organization_are_ignored(
    store: Store, org: str, other_org: str
) -> None:
    foreign = store.create(other_org, USER_TYPE, user_doc("foreign"))
    foreign_group = store.create(other_org, GROUP_TYPE, group_doc("Foreign"))
    mine = store.create(org, USER_TYPE, user_doc("mine"))
    group = store.create(
        org, GROUP_TYPE, group_doc("Mixed", [foreign["id"], foreign_group["id"], mine["id"]])
    )
    assert members_of(group) == [mine["id"]]
    gid = group["id"]
    updated = store.update(org, GROUP_TYPE, gid, with_members(foreign["id"], mine["id"]))
    assert members_of(updated) == [mine["id"]]
    store.update(
        org,
        GROUP_TYPE,
        gid,
        setting(),
        members=False,
        member_change=MemberChange(add=(Member(foreign["id"]), Member(foreign_group["id"]))),
    )
    store.update(
        org,
        GROUP_TYPE,
        gid,
        setting(),
        members=False,
        member_change=MemberChange(replace=(Member(foreign["id"]), Member(mine["id"]))),
    )
    assert members_of(store.get(org, GROUP_TYPE, gid)) == [mine["id"]]
    assert "groups" not in store.get(other_org, USER_TYPE, foreign["id"])
    assert members_of(store.get(other_org, GROUP_TYPE, foreign_group["id"])) == []
    assert query(store, org, GROUP_TYPE, f'members.value eq "{foreign["id"]}"').total == 0


# ================================================================ uniqueness

CLASHES = [
    pytest.param(USER_TYPE, "Ada@Example.com", "ada@EXAMPLE.COM", id="User-userName"),
    pytest.param(USER_TYPE, "Zoë.Åström", "ZOË.åSTRÖM", id="User-userName-unicode"),
    pytest.param(GROUP_TYPE, "Admins", "admins", id="Group-displayName"),
    pytest.param(GROUP_TYPE, "Équipe Ω", "éQUIPE ω", id="Group-displayName-unicode"),
]


@pytest.mark.parametrize(("rtype", "taken", "clash"), CLASHES)
def test_create_with_a_taken_name_is_refused_and_writes_nothing(
    store: Store, org: str, rtype: ResourceType, taken: str, clash: str
) -> None:
    member = store.create(org, USER_TYPE, user_doc("member@example.com"))
    first = store.create(org, rtype, named(rtype, taken))
    extra: dict[str, Any] = {"emails": [{"value": "clash@example.com"}], "externalId": "clash"}
    if rtype is GROUP_TYPE:
        extra = {"externalId": "clash", "members": [member["id"]]}
    doc = named(rtype, clash, **extra)
    with pytest.raises(errors.Uniqueness):
        store.create(org, rtype, doc)
    with pytest.raises(errors.NotFound):
        store.get(org, rtype, doc["id"], retained=True)
    assert ids(query(store, org, rtype, 'externalId eq "clash"', retained="include")) == []
    assert ids(query(store, org, USER_TYPE, 'emails.value eq "clash@example.com"')) == []
    assert "groups" not in store.get(org, USER_TYPE, member["id"])
    assert ids(query(store, org, rtype, f'{NAME[rtype.name]} eq "{taken}"')) == [first["id"]]
    assert store.get(org, rtype, first["id"]) == first


def batch_store(store: Store) -> BatchCreates:
    if not isinstance(store, BatchCreates):
        pytest.skip("this store has no create_many: the core creates one at a time")
    return store


def test_create_many_answers_each_resource_on_its_own_in_order(store: Store, org: str) -> None:
    batch = batch_store(store)
    store.create(org, USER_TYPE, user_doc("taken@example.com"))
    docs = [
        user_doc("one@example.com", emails=[{"value": "one@example.com"}], externalId="e1"),
        user_doc("TAKEN@example.com", externalId="clash"),
        user_doc("two@example.com"),
        user_doc("Two@Example.com", externalId="clash"),  # the batch's own name, other case
    ]
    results = batch.create_many(org, USER_TYPE, copy.deepcopy(docs))
    assert [type(r).__name__ for r in results] == ["dict", "Uniqueness", "dict", "Uniqueness"]
    for doc, stored in zip(docs, results, strict=True):
        if isinstance(stored, dict):
            assert stored == {**doc, "meta": {**doc["meta"], "version": version(1)}}
            assert store.get(org, USER_TYPE, doc["id"]) == stored
    assert ids(query(store, org, USER_TYPE, 'emails.value eq "ONE@example.com"')) == [docs[0]["id"]]
    assert ids(query(store, org, USER_TYPE, 'externalId eq "clash"', retained="include")) == []
    assert query(store, org, USER_TYPE, count=0).total == 3


def test_create_many_groups_get_their_members(store: Store, org: str) -> None:
    batch = batch_store(store)
    user = store.create(org, USER_TYPE, user_doc("member@example.com"))
    results = batch.create_many(
        org, GROUP_TYPE, [group_doc("With", [user["id"], "no-such-id"]), group_doc("Without")]
    )
    assert [members_of(r) for r in results] == [[user["id"]], []]  # type: ignore[arg-type]
    assert groups_of(store.get(org, USER_TYPE, user["id"])) == [results[0]["id"]]  # type: ignore[index]


@pytest.mark.parametrize(("rtype", "taken", "clash"), CLASHES)
def test_renaming_into_a_taken_name_is_refused_and_writes_nothing(
    store: Store, org: str, rtype: ResourceType, taken: str, clash: str
) -> None:
    member = store.create(org, USER_TYPE, user_doc("member@example.com"))
    first = store.create(org, rtype, named(rtype, taken))
    second = store.create(org, rtype, named(rtype, "free name"))
    mutate = setting(**{NAME[rtype.name]: clash, "externalId": "renamed"})
    if rtype is GROUP_TYPE:
        mutate = setting(displayName=clash, externalId="renamed", members=[{"value": member["id"]}])
    with pytest.raises(errors.Uniqueness):
        store.update(org, rtype, second["id"], mutate)
    assert store.get(org, rtype, second["id"]) == second
    assert store.get(org, rtype, first["id"]) == first
    assert "groups" not in store.get(org, USER_TYPE, member["id"])
    assert ids(query(store, org, rtype, 'externalId eq "renamed"')) == []
    assert ids(query(store, org, rtype, f'{NAME[rtype.name]} eq "free name"')) == [second["id"]]
    # The refused write left no lock or transaction behind: the next one goes through.
    after = store.update(org, rtype, second["id"], setting(externalId="later"))
    assert after["meta"]["version"] == version(2)


@pytest.mark.parametrize("rtype", [USER_TYPE, GROUP_TYPE], ids=lambda t: t.name)
def test_renaming_to_another_case_of_its_own_name_is_allowed(
    store: Store, org: str, rtype: ResourceType
) -> None:
    created = store.create(org, rtype, named(rtype, "Case"))
    updated = store.update(org, rtype, created["id"], setting(**{NAME[rtype.name]: "CASE"}))
    assert updated[NAME[rtype.name]] == "CASE"
    assert ids(query(store, org, rtype, f'{NAME[rtype.name]} eq "case"')) == [created["id"]]


def test_a_freed_name_can_be_taken_by_a_rename(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("first"))
    b = store.create(org, USER_TYPE, user_doc("second"))
    store.update(org, USER_TYPE, a["id"], setting(userName="moved"))
    store.update(org, USER_TYPE, b["id"], setting(userName="First"))
    assert ids(query(store, org, USER_TYPE, 'userName eq "first"')) == [b["id"]]


def test_a_user_and_a_group_may_share_a_name(store: Store, org: str) -> None:
    store.create(org, USER_TYPE, user_doc("admins"))
    store.create(org, GROUP_TYPE, group_doc("Admins"))
    store.create(org, GROUP_TYPE, group_doc("ops"))
    store.create(org, USER_TYPE, user_doc("OPS"))


def test_user_display_names_need_not_be_unique(store: Store, org: str) -> None:
    store.create(org, USER_TYPE, user_doc("a", displayName="Same"))
    store.create(org, USER_TYPE, user_doc("b", displayName="same"))
    assert query(store, org, USER_TYPE, 'displayName eq "SAME"').total == 2


# ================================================================ versions and If-Match


@pytest.mark.parametrize("header", ['W/"1"', '"1"', "*", 'W/"7", W/"1"'])
def test_if_match_naming_the_current_version_lets_the_write_through(
    store: Store, org: str, header: str
) -> None:
    created = store.create(org, USER_TYPE, user_doc("v"))
    updated = store.update(org, USER_TYPE, created["id"], setting(title="T"), if_match=header)
    assert updated["meta"]["version"] == version(2)
    assert store.get(org, USER_TYPE, created["id"])["title"] == "T"


@pytest.mark.parametrize("header", ['W/"1"', 'W/"3"', 'W/"0"', '"x"'])
@pytest.mark.parametrize("rtype", [USER_TYPE, GROUP_TYPE], ids=lambda t: t.name)
def test_a_stale_if_match_is_refused_and_writes_nothing(
    store: Store, org: str, rtype: ResourceType, header: str
) -> None:
    member = store.create(org, USER_TYPE, user_doc("member"))
    created = store.create(org, rtype, named(rtype, "v"))
    current = store.update(org, rtype, created["id"], setting(externalId="two"))  # version 2
    with pytest.raises(errors.PreconditionFailed):
        store.update(org, rtype, created["id"], setting(externalId="three"), if_match=header)
    if rtype is GROUP_TYPE:
        with pytest.raises(errors.PreconditionFailed):
            store.update(org, rtype, created["id"], with_members(member["id"]), if_match=header)
        with pytest.raises(errors.PreconditionFailed):
            store.update(
                org,
                rtype,
                created["id"],
                setting(),
                if_match=header,
                members=False,
                member_change=MemberChange(add=(Member(member["id"]),)),
            )
    with pytest.raises(errors.PreconditionFailed):
        store.update(org, rtype, created["id"], setting(), if_match=header, retain=True)
    with pytest.raises(errors.PreconditionFailed):
        store.delete(org, rtype, created["id"], if_match=header)
    assert store.get(org, rtype, created["id"]) == current
    assert "groups" not in store.get(org, USER_TYPE, member["id"])


def test_delete_with_the_current_version_deletes(store: Store, org: str) -> None:
    created = store.create(org, USER_TYPE, user_doc("d"))
    store.update(org, USER_TYPE, created["id"], setting(title="t"))
    store.delete(org, USER_TYPE, created["id"], if_match='W/"2"')
    with pytest.raises(errors.NotFound):
        store.get(org, USER_TYPE, created["id"], retained=True)


def test_every_kind_of_update_bumps_the_version(store: Store, org: str) -> None:
    member = store.create(org, USER_TYPE, user_doc("m"))
    group = store.create(org, GROUP_TYPE, group_doc("G"))
    gid = group["id"]
    steps = [
        lambda: store.update(org, GROUP_TYPE, gid, with_members(member["id"])),
        lambda: store.update(
            org,
            GROUP_TYPE,
            gid,
            setting(),
            members=False,
            member_change=MemberChange(remove=frozenset({member["id"]})),
        ),
        lambda: store.update(org, GROUP_TYPE, gid, setting(), retain=True),
        lambda: store.update(org, GROUP_TYPE, gid, setting(), retain=False),
    ]
    for n, step in enumerate(steps, start=2):
        assert step()["meta"]["version"] == version(n)
        assert store.get(org, GROUP_TYPE, gid, retained=True)["meta"]["version"] == version(n)


# ================================================================ mutate vetoes


def test_a_scim_error_from_mutate_aborts_the_update(store: Store, org: str) -> None:
    created = store.create(
        org, USER_TYPE, user_doc("veto@example.com", emails=[{"value": "veto@example.com"}])
    )
    mutate = failing(
        errors.InvalidValue("vetoed"),
        userName="changed",
        emails=[{"value": "changed@example.com"}],
        externalId="changed",
    )
    with pytest.raises(errors.InvalidValue):
        store.update(org, USER_TYPE, created["id"], mutate)
    with pytest.raises(errors.InvalidValue):
        store.update(org, USER_TYPE, created["id"], mutate, retain=True)
    assert store.get(org, USER_TYPE, created["id"]) == created
    for text in (
        'userName eq "changed"',
        'emails.value eq "changed@example.com"',
        'externalId eq "changed"',
    ):
        assert query(store, org, USER_TYPE, text).total == 0
    # The aborted transaction released its lock: the next write goes through.
    assert store.update(org, USER_TYPE, created["id"], setting())["meta"]["version"] == version(2)


def test_a_scim_error_from_mutate_aborts_member_changes(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("a"))
    b = store.create(org, USER_TYPE, user_doc("b"))
    group = store.create(org, GROUP_TYPE, group_doc("G", [a["id"]]))
    gid = group["id"]
    with pytest.raises(errors.Mutability):
        store.update(
            org,
            GROUP_TYPE,
            gid,
            failing(errors.Mutability("no"), displayName="H", members=[{"value": b["id"]}]),
        )
    with pytest.raises(errors.Mutability):
        store.update(
            org,
            GROUP_TYPE,
            gid,
            failing(errors.Mutability("no"), displayName="H"),
            members=False,
            member_change=MemberChange(add=(Member(b["id"]),), remove=frozenset({a["id"]})),
        )
    with pytest.raises(errors.Mutability):
        store.update(
            org,
            GROUP_TYPE,
            gid,
            failing(errors.Mutability("no")),
            members=False,
            member_change=MemberChange(replace=()),
        )
    assert store.get(org, GROUP_TYPE, gid) == group
    assert groups_of(store.get(org, USER_TYPE, a["id"])) == [gid]
    assert "groups" not in store.get(org, USER_TYPE, b["id"])


# ================================================================ members and groups


def test_group_members_and_user_groups_are_computed(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("a", displayName="Alice"))
    b = store.create(org, USER_TYPE, user_doc("b"))
    sub = store.create(org, GROUP_TYPE, group_doc("Sub"))
    group = store.create(org, GROUP_TYPE, group_doc("Team", [a["id"], b["id"], sub["id"]]))
    expected = sorted([(a["id"], "User"), (b["id"], "User"), (sub["id"], "Group")])
    for doc in (group, store.get(org, GROUP_TYPE, group["id"])):
        assert sorted((m["value"], m["type"]) for m in doc["members"]) == expected
    team = {"value": group["id"], "display": "Team", "type": "direct"}
    for uid in (a["id"], b["id"]):
        assert store.get(org, USER_TYPE, uid)["groups"] == [team]
    page = query(store, org, USER_TYPE)
    assert [r.get("groups") for r in page.resources] == [[team], [team]]
    listed = {r["id"]: r for r in query(store, org, GROUP_TYPE).resources}
    assert sorted((m["value"], m["type"]) for m in listed[group["id"]]["members"]) == expected
    assert members_of(listed[sub["id"]]) == []


def test_user_groups_follow_group_renames_and_list_every_group(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("a"))
    g1 = store.create(org, GROUP_TYPE, group_doc("One", [a["id"]]))
    g2 = store.create(org, GROUP_TYPE, group_doc("Two", [a["id"]]))
    store.update(org, GROUP_TYPE, g1["id"], setting(displayName="Uno"), members=False)
    shown = store.get(org, USER_TYPE, a["id"])["groups"]
    assert sorted((g["value"], g["display"], g["type"]) for g in shown) == sorted(
        [(g1["id"], "Uno", "direct"), (g2["id"], "Two", "direct")]
    )


def test_unknown_member_ids_are_ignored(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("a"))
    ghost = str(uuid.uuid4())
    group = store.create(org, GROUP_TYPE, group_doc("G", ["no-such-id", a["id"], ghost]))
    gid = group["id"]
    assert members_of(group) == [a["id"]]
    assert members_of(store.update(org, GROUP_TYPE, gid, with_members(ghost, a["id"]))) == [a["id"]]
    store.update(
        org,
        GROUP_TYPE,
        gid,
        setting(),
        members=False,
        member_change=MemberChange(add=(Member(ghost),), remove=frozenset({"nope"})),
    )
    assert members_of(store.get(org, GROUP_TYPE, gid)) == [a["id"]]
    store.update(
        org,
        GROUP_TYPE,
        gid,
        setting(),
        members=False,
        member_change=MemberChange(replace=(Member(ghost),)),
    )
    assert members_of(store.get(org, GROUP_TYPE, gid)) == []


def test_update_with_members_sets_the_member_list(store: Store, org: str) -> None:
    a, b, c = (store.create(org, USER_TYPE, user_doc(n)) for n in "abc")
    group = store.create(org, GROUP_TYPE, group_doc("G", [a["id"], b["id"]]))
    seen: list[list[str]] = []

    def mutate(current: Resource) -> Resource:
        seen.append(members_of(current))  # members=True: the current list is read
        return with_members(b["id"], c["id"], c["id"])(current)

    updated = store.update(org, GROUP_TYPE, group["id"], mutate)
    assert seen == [sorted([a["id"], b["id"]])]
    assert members_of(updated) == sorted([b["id"], c["id"]])
    assert members_of(store.get(org, GROUP_TYPE, group["id"])) == sorted([b["id"], c["id"]])
    assert "groups" not in store.get(org, USER_TYPE, a["id"])
    assert groups_of(store.get(org, USER_TYPE, c["id"])) == [group["id"]]
    cleared = store.update(org, GROUP_TYPE, group["id"], with_members())
    assert members_of(cleared) == []
    assert members_of(store.get(org, GROUP_TYPE, group["id"])) == []


def test_member_change_applies_without_reading_the_members(store: Store, org: str) -> None:
    a, b, c = (store.create(org, USER_TYPE, user_doc(n)) for n in "abc")
    group = store.create(org, GROUP_TYPE, group_doc("G", [a["id"], b["id"]]))
    seen: list[Resource] = []

    def mutate(current: Resource) -> Resource:
        seen.append(copy.deepcopy(current))
        return setting(displayName="Renamed")(current)

    updated = store.update(
        org,
        GROUP_TYPE,
        group["id"],
        mutate,
        members=False,
        member_change=MemberChange(add=(Member(c["id"], "User"),), remove=frozenset({a["id"]})),
    )
    assert "members" not in seen[0]
    assert "members" not in updated
    assert updated["displayName"] == "Renamed"
    assert updated["meta"]["version"] == version(2)
    got = store.get(org, GROUP_TYPE, group["id"])
    assert members_of(got) == sorted([b["id"], c["id"]])
    assert got["displayName"] == "Renamed"
    assert "groups" not in store.get(org, USER_TYPE, a["id"])
    assert groups_of(store.get(org, USER_TYPE, c["id"])) == [group["id"]]


def test_member_change_without_members_keeps_the_list(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("a"))
    group = store.create(org, GROUP_TYPE, group_doc("G", [a["id"]]))
    # members=False and no change: a rename never touches membership, even if
    # the mutation hands back a (stale) members list.
    store.update(org, GROUP_TYPE, group["id"], setting(displayName="H", members=[]), members=False)
    store.update(
        org, GROUP_TYPE, group["id"], setting(), members=False, member_change=MemberChange()
    )
    assert members_of(store.get(org, GROUP_TYPE, group["id"])) == [a["id"]]


def test_member_change_replaces_first_then_removes_and_adds(store: Store, org: str) -> None:
    a, b, c, d = (store.create(org, USER_TYPE, user_doc(n)) for n in "abcd")
    group = store.create(org, GROUP_TYPE, group_doc("G", [d["id"]]))
    change = MemberChange(
        replace=(Member(a["id"]), Member(b["id"])),
        remove=frozenset({b["id"]}),
        add=(Member(c["id"]),),
    )
    store.update(org, GROUP_TYPE, group["id"], setting(), members=False, member_change=change)
    assert members_of(store.get(org, GROUP_TYPE, group["id"])) == sorted([a["id"], c["id"]])
    store.update(
        org,
        GROUP_TYPE,
        group["id"],
        setting(),
        members=False,
        member_change=MemberChange(replace=()),
    )
    assert members_of(store.get(org, GROUP_TYPE, group["id"])) == []


def test_repeating_a_member_change_changes_nothing(store: Store, org: str) -> None:
    a, b = (store.create(org, USER_TYPE, user_doc(n)) for n in "ab")
    group = store.create(org, GROUP_TYPE, group_doc("G", [a["id"]]))
    change = MemberChange(
        add=(Member(a["id"]), Member(b["id"]), Member(b["id"])), remove=frozenset({"absent"})
    )
    for _ in range(3):
        store.update(org, GROUP_TYPE, group["id"], setting(), members=False, member_change=change)
        assert members_of(store.get(org, GROUP_TYPE, group["id"])) == sorted([a["id"], b["id"]])
        assert groups_of(store.get(org, USER_TYPE, a["id"])) == [group["id"]]
    removal = MemberChange(remove=frozenset({a["id"]}))
    for _ in range(2):
        store.update(org, GROUP_TYPE, group["id"], setting(), members=False, member_change=removal)
        assert members_of(store.get(org, GROUP_TYPE, group["id"])) == [b["id"]]


def test_get_and_query_leave_members_out_when_told(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("a"))
    group = store.create(org, GROUP_TYPE, group_doc("G", [a["id"]], externalId="ext-g"))
    assert "members" not in store.get(org, GROUP_TYPE, group["id"], members=False)
    for text in (
        None,
        'displayName eq "G"',  # pushed down
        f'members.value eq "{a["id"]}"',  # pushed down, memberships
        'externalId sw "ext"',  # evaluated
        f'members[value eq "{a["id"]}" and type eq "User"]',  # evaluated on members
    ):
        page = query(store, org, GROUP_TYPE, text, members=False)
        assert ids(page) == [group["id"]]
        assert all("members" not in r for r in page.resources)
    page = query(store, org, GROUP_TYPE, 'displayName eq "G"')
    assert members_of(page.resources[0]) == [a["id"]]


@pytest.mark.parametrize("nested", [False, True], ids=["user", "group"])
def test_deleting_a_member_removes_it_from_its_groups(store: Store, org: str, nested: bool) -> None:
    rtype = GROUP_TYPE if nested else USER_TYPE
    member = store.create(org, rtype, named(rtype, "member"))
    stays = store.create(org, USER_TYPE, user_doc("stays"))
    g1 = store.create(org, GROUP_TYPE, group_doc("One", [member["id"], stays["id"]]))
    g2 = store.create(org, GROUP_TYPE, group_doc("Two", [member["id"]]))
    store.delete(org, rtype, member["id"])
    assert members_of(store.get(org, GROUP_TYPE, g1["id"])) == [stays["id"]]
    assert members_of(store.get(org, GROUP_TYPE, g2["id"])) == []
    assert query(store, org, GROUP_TYPE, f'members.value eq "{member["id"]}"').total == 0
    assert groups_of(store.get(org, USER_TYPE, stays["id"])) == [g1["id"]]


def test_a_new_resource_never_inherits_a_deleted_ones_data(store: Store, org: str) -> None:
    group = store.create(org, GROUP_TYPE, group_doc("G"))
    # The newest row is deleted, so a backend reusing row numbers would reuse its number.
    gone = store.create(org, USER_TYPE, user_doc("gone", emails=[{"value": "gone@example.com"}]))
    store.update(org, GROUP_TYPE, group["id"], with_members(gone["id"]))
    store.delete(org, USER_TYPE, gone["id"])
    fresh = store.create(org, USER_TYPE, user_doc("fresh"))
    assert "groups" not in store.get(org, USER_TYPE, fresh["id"])
    assert members_of(store.get(org, GROUP_TYPE, group["id"])) == []
    assert query(store, org, USER_TYPE, 'emails.value eq "gone@example.com"').total == 0
    assert query(store, org, USER_TYPE, "emails pr").total == 0


def test_deleting_a_group_removes_it_from_its_members_groups(store: Store, org: str) -> None:
    a = store.create(org, USER_TYPE, user_doc("a"))
    parent = store.create(org, GROUP_TYPE, group_doc("Parent"))
    gone = store.create(org, GROUP_TYPE, group_doc("Gone", [a["id"]]))
    kept = store.create(org, GROUP_TYPE, group_doc("Kept", [a["id"]]))
    store.update(org, GROUP_TYPE, parent["id"], with_members(gone["id"], a["id"]))
    store.delete(org, GROUP_TYPE, gone["id"])
    assert groups_of(store.get(org, USER_TYPE, a["id"])) == sorted([parent["id"], kept["id"]])
    assert members_of(store.get(org, GROUP_TYPE, parent["id"])) == [a["id"]]


# ================================================================ retained records (suspend policy)


def test_a_retained_record_is_hidden_until_brought_back(store: Store, org: str) -> None:
    keep = store.create(org, USER_TYPE, user_doc("keep"))
    r = store.create(org, USER_TYPE, user_doc("retained@example.com", active=True))
    rid = r["id"]
    retained = store.update(org, USER_TYPE, rid, setting(active=False), retain=True)
    assert retained["active"] is False
    assert retained["meta"]["retained"]  # the instant it was retained
    with pytest.raises(errors.NotFound):
        store.get(org, USER_TYPE, rid)
    assert store.get(org, USER_TYPE, rid, retained=True) == retained
    assert "retained" not in store.get(org, USER_TYPE, keep["id"], retained=True)["meta"]
    with pytest.raises(errors.NotFound):
        store.update(org, USER_TYPE, rid, setting(title="x"))  # retain=None: still hidden
    for text in (
        None,
        'userName eq "retained@example.com"',
        "active eq false",
        "title pr or id pr",
    ):
        page = query(store, org, USER_TYPE, text)
        assert rid not in ids(page)
        assert page.total == len(ids(page))
        assert rid in ids(query(store, org, USER_TYPE, text, retained="include"))
        assert ids(query(store, org, USER_TYPE, text, retained="only")) == [rid]
    page = query(store, org, USER_TYPE, retained="include")
    assert (ids(page), page.total) == ([keep["id"], rid], 2)
    assert page.resources[1] == retained
    page = query(store, org, USER_TYPE, retained="only")
    assert (page.resources, page.total) == ([retained], 1)
    back = store.update(org, USER_TYPE, rid, setting(active=True), retain=False)
    assert back["active"] is True
    assert "retained" not in back["meta"]
    assert store.get(org, USER_TYPE, rid) == back
    assert ids(query(store, org, USER_TYPE)) == [keep["id"], rid]
    assert ids(query(store, org, USER_TYPE, 'userName eq "retained@example.com"')) == [rid]
    assert query(store, org, USER_TYPE, retained="only").total == 0


def test_retaining_keeps_every_attribute_and_membership(store: Store, org: str) -> None:
    r = store.create(
        org,
        USER_TYPE,
        user_doc("r", emails=[{"value": "r@example.com"}], **{ENTERPRISE_USER: {"division": "D"}}),
    )
    group = store.create(org, GROUP_TYPE, group_doc("G", [r["id"]]))
    store.update(org, USER_TYPE, r["id"], setting(), retain=True)
    hidden = store.get(org, USER_TYPE, r["id"], retained=True)
    assert hidden["emails"] == r["emails"]
    assert hidden[ENTERPRISE_USER] == {"division": "D"}
    assert groups_of(hidden) == [group["id"]]


def test_retained_users_are_left_out_of_members_and_come_back(store: Store, org: str) -> None:
    r = store.create(org, USER_TYPE, user_doc("r"))
    b, c = (store.create(org, USER_TYPE, user_doc(n)) for n in "bc")
    group = store.create(org, GROUP_TYPE, group_doc("G", [r["id"], b["id"]]))
    gid = group["id"]
    store.update(org, USER_TYPE, r["id"], setting(), retain=True)
    assert members_of(store.get(org, GROUP_TYPE, gid)) == [b["id"]]
    listed = query(store, org, GROUP_TYPE, 'displayName eq "G"').resources
    assert members_of(listed[0]) == [b["id"]]
    assert query(store, org, GROUP_TYPE, f'members.value eq "{r["id"]}"').total == 0
    assert ids(query(store, org, GROUP_TYPE, f'members.value eq "{b["id"]}"')) == [gid]
    # Writing the group's visible members while r is retained keeps r's membership.
    seen: list[list[str]] = []

    def mutate(current: Resource) -> Resource:
        seen.append(members_of(current))
        return with_members(b["id"], c["id"])(current)

    store.update(org, GROUP_TYPE, gid, mutate)
    assert seen == [[b["id"]]]
    assert members_of(store.get(org, GROUP_TYPE, gid)) == sorted([b["id"], c["id"]])
    store.update(org, USER_TYPE, r["id"], setting(), retain=False)
    assert members_of(store.get(org, GROUP_TYPE, gid)) == sorted([r["id"], b["id"], c["id"]])
    assert groups_of(store.get(org, USER_TYPE, r["id"])) == [gid]
    assert ids(query(store, org, GROUP_TYPE, f'members.value eq "{r["id"]}"')) == [gid]


def test_a_retained_record_can_be_purged(store: Store, org: str) -> None:
    r = store.create(org, USER_TYPE, user_doc("r"))
    group = store.create(org, GROUP_TYPE, group_doc("G", [r["id"]]))
    store.update(org, USER_TYPE, r["id"], setting(), retain=True)
    store.delete(org, USER_TYPE, r["id"])
    with pytest.raises(errors.NotFound):
        store.get(org, USER_TYPE, r["id"], retained=True)
    assert query(store, org, USER_TYPE, retained="include").total == 0
    assert members_of(store.get(org, GROUP_TYPE, group["id"])) == []


# ================================================================ query: paging

# The same list request answered by SQL alone, by the evaluator over narrowed
# rows, and by both: every path must page the same way.
PATHS = {
    "all": None,
    "pushed": 'userName sw "page-"',
    "evaluated": 'title eq "Pager"',
    "mixed": 'userName sw "page-" and title pr',
}
# Users each path must not return (a partial match included), created among the others.
DISTRACTORS: dict[str, list[tuple[str, str | None]]] = {
    "all": [],
    "pushed": [("other-1", "pager"), ("Other-2", None)],
    "evaluated": [("page-x", None), ("other-1", "pagers")],
    "mixed": [("page-x", None), ("other-1", "pager")],
}


@pytest.fixture(params=list(PATHS))
def path(request: pytest.FixtureRequest) -> str:
    return request.param


def seed_pages(store: Store, org: str, path: str, n: int = 10) -> list[str]:
    """``n`` users matching ``PATHS[path]``, created in a shuffled name order with
    the path's distractors among them; the matching ids in creation order."""
    made: list[str] = []
    distractors = list(DISTRACTORS[path])
    for i in ((k * 7) % n for k in range(n)):
        made.append(store.create(org, USER_TYPE, user_doc(f"page-{i:02d}", title="pager"))["id"])
        if distractors and len(made) % 3 == 0:
            name, title = distractors.pop()
            store.create(org, USER_TYPE, user_doc(name, **({"title": title} if title else {})))
    return made


def test_total_counts_every_match_not_the_page(store: Store, org: str, path: str) -> None:
    made = seed_pages(store, org, path)
    page = query(store, org, USER_TYPE, PATHS[path], count=3)
    assert page.total == 10
    assert len(page.resources) == 3  # itemsPerPage is what was returned
    assert ids(page) == made[:3]
    page = query(store, org, USER_TYPE, PATHS[path], start_index=9, count=3)
    assert (ids(page), page.total) == (made[8:], 10)


def test_start_index_and_count_partition_the_results(store: Store, org: str, path: str) -> None:
    made = seed_pages(store, org, path)
    seen: list[str] = []
    for start in range(1, 11, 3):
        page = query(store, org, USER_TYPE, PATHS[path], start_index=start, count=3)
        assert page.total == 10
        assert len(page.resources) == min(3, 10 - start + 1)
        assert page.next_cursor is None  # index paging hands out no cursor
        seen += ids(page)
    assert seen == made
    assert ids(query(store, org, USER_TYPE, PATHS[path], start_index=4, count=100)) == made[3:]


def test_count_zero_returns_only_the_total(store: Store, org: str, path: str) -> None:
    seed_pages(store, org, path)
    for start in (1, 5, 50):
        page = query(store, org, USER_TYPE, PATHS[path], start_index=start, count=0)
        assert (page.resources, page.total, page.next_cursor) == ([], 10, None)


@pytest.mark.parametrize("start", [11, 12, 1000])
def test_a_start_index_beyond_the_end_returns_an_empty_page(
    store: Store, org: str, path: str, start: int
) -> None:
    seed_pages(store, org, path)
    page = query(store, org, USER_TYPE, PATHS[path], start_index=start, count=5)
    assert (page.resources, page.total) == ([], 10)


def test_an_empty_result_has_a_total_of_zero(store: Store, org: str, path: str) -> None:
    page = query(store, org, USER_TYPE, PATHS[path])
    assert (page.resources, page.total, page.next_cursor) == ([], 0, None)
    page = query(store, org, USER_TYPE, PATHS[path], cursor="")
    assert (page.resources, page.total, page.next_cursor) == ([], 0, None)


def test_the_default_order_is_creation_order_and_stable(store: Store, org: str, path: str) -> None:
    made = seed_pages(store, org, path)
    # Updates (renames, retain and revive) do not move a resource.
    store.update(org, USER_TYPE, made[0], setting(userName="page-zz", displayName="last"))
    store.update(org, USER_TYPE, made[4], setting(), retain=True)
    store.update(org, USER_TYPE, made[4], setting(), retain=False)
    assert ids(query(store, org, USER_TYPE, PATHS[path])) == made
    assert ids(query(store, org, USER_TYPE, PATHS[path])) == made


# ================================================================ query: sorting

# Creation order: u0..u5. Missing values sort last, ties keep creation order,
# whatever the direction (evaluate.sort_key, RFC 7644 §3.4.2.3).
SORT_USERS = [
    ("carol", "Zed", "2024-01-03T00:00:00.000Z"),
    ("Alice", None, "2024-01-05T00:00:00.000Z"),
    ("bob", "alpha", "2024-01-01T00:00:00.000Z"),
    ("Dave", None, "2024-01-02T00:00:00.000Z"),
    ("éve", "Mid", "2024-01-04T00:00:00.000Z"),
    ("Frank", "mid", "2023-12-31T23:59:59.999Z"),
]
SORTS = [
    ("userName", False, [1, 2, 0, 3, 5, 4]),
    ("userName", True, [4, 5, 3, 0, 2, 1]),
    ("displayName", False, [2, 4, 5, 0, 1, 3]),
    ("displayName", True, [0, 4, 5, 2, 1, 3]),
    ("meta.created", False, [5, 2, 3, 0, 4, 1]),
    ("meta.created", True, [1, 4, 0, 3, 2, 5]),
]


@pytest.mark.parametrize(
    ("attr", "descending", "order"),
    [pytest.param(*s, id=f"{s[0]}-{'desc' if s[1] else 'asc'}") for s in SORTS],
)
@pytest.mark.parametrize("text", [None, 'title eq "T"'], ids=["pushed", "evaluated"])
def test_sort_by(
    store: Store, org: str, attr: str, descending: bool, order: list[int], text: str | None
) -> None:
    made = []
    for user_name, display, created in SORT_USERS:
        attrs: dict[str, Any] = {"title": "T"}
        if display:
            attrs["displayName"] = display
        doc = document(USER_TYPE, {"userName": user_name, **attrs}, created=created)
        made.append(store.create(org, USER_TYPE, doc)["id"])
    sort_by = USER_TYPE.resolve_path(attr)
    page = query(store, org, USER_TYPE, text, sort_by=sort_by, descending=descending)
    assert ids(page) == [made[i] for i in order]
    assert page.total == len(made)
    paged = query(
        store, org, USER_TYPE, text, sort_by=sort_by, descending=descending, start_index=3, count=2
    )
    assert ids(paged) == [made[i] for i in order][2:4]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_groups_sort_by_display_name(store: Store, org: str, descending: bool) -> None:
    names = ["beta", "Alpha", "gamma", "Delta"]
    made = [store.create(org, GROUP_TYPE, group_doc(n))["id"] for n in names]
    order = [1, 0, 3, 2][:: -1 if descending else 1]
    page = query(
        store,
        org,
        GROUP_TYPE,
        sort_by=GROUP_TYPE.resolve_path("displayName"),
        descending=descending,
    )
    assert ids(page) == [made[i] for i in order]


# ================================================================ query: RFC 9865 cursors


def walk(
    store: Store,
    org: str,
    text: str | None,
    count: int,
    sort: str | None = None,
    between: Callable[[int], None] | None = None,
    *,
    descending: bool = False,
) -> list[Page]:
    """Follow nextCursor from ``cursor=""`` to the end; ``between(n)`` after page n."""
    pages: list[Page] = []
    cursor: str | None = ""
    sort_by = USER_TYPE.resolve_path(sort) if sort else None
    while cursor is not None:
        page = query(
            store,
            org,
            USER_TYPE,
            text,
            cursor=cursor,
            count=count,
            sort_by=sort_by,
            descending=descending,
        )
        pages.append(page)
        assert len(pages) <= 50, "the cursor chain does not end"
        cursor = page.next_cursor
        if cursor is not None and between is not None:
            between(len(pages))
    return pages


def test_cursor_pages_visit_every_resource_once(store: Store, org: str, path: str) -> None:
    made = seed_pages(store, org, path)
    pages = walk(store, org, PATHS[path], 3)
    assert [len(p.resources) for p in pages] == [3, 3, 3, 1]
    assert [i for p in pages for i in ids(p)] == made
    assert all(p.total == 10 for p in pages)
    assert all(p.next_cursor for p in pages[:-1])
    assert pages[-1].next_cursor is None


def test_descending_cursor_pages_without_sort_by_go_newest_first(
    store: Store, org: str, path: str
) -> None:
    made = seed_pages(store, org, path)
    pages = walk(store, org, PATHS[path], 3, descending=True)
    assert [i for p in pages for i in ids(p)] == made[::-1]
    assert pages[-1].next_cursor is None


def test_a_full_last_page_has_no_next_cursor(store: Store, org: str, path: str) -> None:
    made = seed_pages(store, org, path, 9)
    pages = walk(store, org, PATHS[path], 3)
    assert [ids(p) for p in pages] == [made[0:3], made[3:6], made[6:9]]
    first = query(store, org, USER_TYPE, PATHS[path], cursor="", count=100)
    assert (ids(first), first.next_cursor) == (made, None)


@pytest.mark.parametrize("sort", [None, "userName"], ids=["default", "userName"])
def test_cursor_pages_survive_resources_created_between_pages(
    store: Store, org: str, path: str, sort: str | None
) -> None:
    made = seed_pages(store, org, path)
    extra: list[str] = []

    def create_more(n: int) -> None:
        # Matching names that sort before and after every existing one.
        for name in (f"page-!{n:02d}", f"page-~{n:02d}"):
            extra.append(store.create(org, USER_TYPE, user_doc(name, title="pager"))["id"])

    pages = walk(store, org, PATHS[path], 3, sort, create_more)
    visited = [i for p in pages for i in ids(p)]
    names = {i: store.get(org, USER_TYPE, i)["userName"] for i in visited}
    twice = sorted({names[i] for i in visited if visited.count(i) > 1})
    assert twice == [], "resources returned twice"
    assert set(made) - set(visited) == set(), "resources skipped"
    assert set(visited) <= set(made) | set(extra)


def test_cursor_pages_follow_the_sort_order(store: Store, org: str, path: str) -> None:
    made = seed_pages(store, org, path)
    names = {i: store.get(org, USER_TYPE, i)["userName"] for i in made}
    pages = walk(store, org, PATHS[path], 4, "userName")
    assert [i for p in pages for i in ids(p)] == sorted(made, key=names.__getitem__)


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "%%%",
        cursor_token([1, 2]),
        cursor_token({"x": 1}),
        cursor_token({"o": -1}),
        cursor_token({"s": "3"}),
        cursor_token("o"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
@pytest.mark.parametrize("sort", [None, "userName"], ids=["default", "userName"])
def test_a_bad_cursor_is_refused(
    store: Store, org: str, path: str, sort: str | None, cursor: str
) -> None:
    seed_pages(store, org, path)
    sort_by = USER_TYPE.resolve_path(sort) if sort else None
    with pytest.raises(errors.InvalidCursor):
        query(store, org, USER_TYPE, PATHS[path], cursor=cursor, count=3, sort_by=sort_by)
