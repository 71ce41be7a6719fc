"""The LDAP store against a real slapd: what only a directory can show.

The Store contract, filter equivalence and API suites run on LDAP like on every
backend (tests/backends.py). This module checks the rest: the entries are real
directory entries other LDAP clients read (ldapsearch, a second ldap3 client),
the directory itself holds uniqueness against other writers, renames keep ids and
memberships, the empty-group rule, an outage is a 503 that heals by itself, and,
under gunicorn with two workers, racing writes and the public compliance tools.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import pytest
from backends import _ldap as ldap_config
from conftest import ENTERPRISE, GROUP, USER, Scim, new_org
from fixtures_ldap import ldap_server
from live import Live, call, concurrent_member_adds, live_server, parallel
from outage import assert_outage_answers_503_then_heals
from servers import SlapdServer, slapd_server

from scimserver.app import create_app
from scimserver.protocol import errors
from scimserver.protocol.core_schemas import ENTERPRISE_USER, GROUP_TYPE, USER_TYPE
from scimserver.protocol.filter import parse_filter
from scimserver.protocol.patch import Member
from scimserver.protocol.validate import now, schemas_of, validate_resource
from scimserver.store import MemberChange, Query, Resource
from scimserver_plugins.ldap_store import _build, schema_path
from scimserver_plugins.ldap_store.compile import compile_filter
from scimserver_plugins.ldap_store.store import LdapStore

# -- helpers ---------------------------------------------------------------------


def document(rtype: Any, body: dict[str, Any]) -> Resource:
    """A validated resource with id and meta, as ``Resources.create`` hands it over."""
    values = validate_resource({"schemas": [rtype.schema.id], **body}, rtype)
    stamp = now()
    return {
        "schemas": schemas_of(values, rtype),
        "id": str(uuid.uuid4()),
        **values,
        "meta": {"resourceType": rtype.name, "created": stamp, "lastModified": stamp},
    }


def user_doc(user_name: str, **attrs: Any) -> Resource:
    return document(USER_TYPE, {"userName": user_name, **attrs})


def group_doc(name: str, members: list[str] = (), **attrs: Any) -> Resource:
    body: dict[str, Any] = {"displayName": name, **attrs}
    if members:
        body["members"] = [{"value": m} for m in members]
    return document(GROUP_TYPE, body)


def ldapsearch(
    slapd: SlapdServer, base: str, flt: str = "(objectClass=*)", *attrs: str, scope: str = "sub"
) -> dict[str, dict[str, list[str]]]:
    """Entries as OpenLDAP's own client sees them: DN -> attribute -> values."""
    run = subprocess.run(
        [
            "ldapsearch",
            "-LLL",
            "-x",
            "-o",
            "ldif-wrap=no",
            "-H",
            slapd.url,
            "-D",
            slapd.bind_dn,
            "-w",
            slapd.password,
            "-s",
            scope,
            "-b",
            base,
            flt,
            *attrs,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "LDAPNOINIT": "1"},
        check=False,
    )
    if run.returncode == 32:  # noSuchObject
        return {}
    assert run.returncode == 0, run.stderr
    entries: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in run.stdout.splitlines():
        if not line:
            current = None
            continue
        name, sep, value = line.partition(":")
        if value.startswith(":"):  # base64 (RFC 2849)
            value = base64.b64decode(value[1:].strip()).decode()
        else:
            value = value[1:] if value.startswith(" ") else value
        if name == "dn":
            current = entries.setdefault(value, {})
        elif current is not None and sep:
            current.setdefault(name, []).append(value)
    return entries


def one(entries: dict[str, dict[str, list[str]]]) -> tuple[str, dict[str, list[str]]]:
    assert len(entries) == 1, list(entries)
    return next(iter(entries.items()))


def connect(slapd: SlapdServer) -> ldap3.Connection:
    """Another LDAP client: a plain ldap3 connection as the directory manager."""
    return ldap3.Connection(ldap3.Server(slapd.url), slapd.bind_dn, slapd.password, auto_bind=True)


def build(request: pytest.FixtureRequest, **options: Any) -> LdapStore:
    """A store on a fresh sub-base of the session's slapd, built through the plugin."""
    config = ldap_config(request, Path("."))["ldap"]
    store = _build({**config, **options})
    request.addfinalizer(store.close)
    return store


def outcome(fn: Callable[[], Any]) -> str:
    try:
        fn()
    except errors.ScimError as exc:
        return type(exc).__name__
    return "ok"


@pytest.fixture(scope="module")
def store(request: pytest.FixtureRequest) -> LdapStore:
    return build(request)


@pytest.fixture
def org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


# -- entries other LDAP clients read -------------------------------------------------


def test_a_user_is_an_inetorgperson_entry(store: LdapStore, org: str, slapd_srv: SlapdServer):
    boss = store.create(org, USER_TYPE, user_doc("boss@example.com"))
    ada = store.create(
        org,
        USER_TYPE,
        user_doc(
            "Ada@Example.com",
            externalId="ext-ada",
            active=True,
            displayName="Ada Lovelace",
            title="Analyst",
            name={"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada King"},
            emails=[
                {"value": "ada@home.example", "type": "home"},
                {"value": "ada@example.com", "type": "work", "primary": True},
            ],
            phoneNumbers=[
                {"value": "+44 20 7946 0000", "type": "work"},
                {"value": "+44 7700 900000", "type": "mobile"},
            ],
            **{
                ENTERPRISE_USER: {
                    "employeeNumber": "1815",
                    "department": "Analytical Engines",
                    "manager": {"value": boss["id"]},
                }
            },
        ),
    )
    people = store.container(org, "User")
    dn, attrs = one(ldapsearch(slapd_srv, people, "(uid=ada@example.com)", "*"))
    assert dn == f"scimId={ada['id']},{people}"
    assert {"inetOrgPerson", "scimResource"} <= set(attrs["objectClass"])
    assert attrs["uid"] == ["Ada@Example.com"]
    assert attrs["cn"] == ["Ada King"]
    assert attrs["sn"] == ["Lovelace"]
    assert attrs["givenName"] == ["Ada"]
    assert attrs["displayName"] == ["Ada Lovelace"]
    assert attrs["title"] == ["Analyst"]
    assert attrs["mail"] == ["ada@example.com", "ada@home.example"]  # primary first
    assert sorted(attrs["telephoneNumber"]) == ["+44 20 7946 0000", "+44 7700 900000"]
    assert attrs["mobile"] == ["+44 7700 900000"]
    assert attrs["employeeNumber"] == ["1815"]
    assert attrs["departmentNumber"] == ["Analytical Engines"]
    assert attrs["manager"] == [f"scimId={boss['id']},{people}"]
    # What LDAP has no home for: the project's auxiliary class.
    assert attrs["scimId"] == [ada["id"]]
    assert attrs["scimExternalId"] == ["ext-ada"]
    assert attrs["scimActive"] == ["TRUE"]
    assert json.loads(attrs["scimDocument"][0])["name"]["formatted"] == "Ada King"
    # The manager DN is a real entry.
    assert one(ldapsearch(slapd_srv, attrs["manager"][0], scope="base"))[1]["uid"] == [
        "boss@example.com"
    ]


def test_a_user_without_names_still_satisfies_inetorgperson(
    store: LdapStore, org: str, slapd_srv: SlapdServer
) -> None:
    store.create(org, USER_TYPE, user_doc("plain"))
    _, attrs = one(ldapsearch(slapd_srv, store.container(org, "User"), "(uid=plain)", "cn", "sn"))
    assert attrs == {"cn": ["plain"], "sn": ["plain"]}  # MUST attributes, from userName


def test_a_group_is_a_groupofnames_with_member_dns(
    store: LdapStore, org: str, slapd_srv: SlapdServer
) -> None:
    a = store.create(org, USER_TYPE, user_doc("a"))
    sub = store.create(org, GROUP_TYPE, group_doc("Sub"))
    team = store.create(org, GROUP_TYPE, group_doc("Team", [a["id"], sub["id"]]))
    groups = store.container(org, "Group")
    dn, attrs = one(ldapsearch(slapd_srv, groups, "(cn=Team)", "*"))
    assert dn == f"scimId={team['id']},{groups}"
    assert {"groupOfNames", "scimResource"} <= set(attrs["objectClass"])
    assert sorted(attrs["member"]) == sorted(
        [store.dn(org, "User", a["id"]), store.dn(org, "Group", sub["id"])]
    )
    classes = {
        value: one(ldapsearch(slapd_srv, value, "(objectClass=*)", "objectClass", scope="base"))[1][
            "objectClass"
        ]
        for value in attrs["member"]
    }
    assert "inetOrgPerson" in classes[store.dn(org, "User", a["id"])]
    assert "groupOfNames" in classes[store.dn(org, "Group", sub["id"])]
    # Other clients find a user's groups the usual way: (member=<user DN>).
    found = ldapsearch(slapd_srv, groups, f"(member={store.dn(org, 'User', a['id'])})", "cn")
    assert [e["cn"] for e in found.values()] == [["Team"]]


def test_an_empty_group_holds_the_placeholder_member(
    store: LdapStore, org: str, slapd_srv: SlapdServer
) -> None:
    """groupOfNames MUSTs a member (RFC 4519): an empty group holds the empty DN."""
    a, b = (store.create(org, USER_TYPE, user_doc(n)) for n in "ab")
    group = store.create(org, GROUP_TYPE, group_doc("Empty"))
    dn = store.dn(org, "Group", group["id"])

    def members() -> list[str]:
        return one(ldapsearch(slapd_srv, dn, scope="base"))[1].get("member", [])

    def change(**kw: Any) -> None:
        store.update(
            org,
            GROUP_TYPE,
            group["id"],
            lambda d: d,
            members=False,
            member_change=MemberChange(**kw),
        )

    assert members() == [""]
    assert "members" not in store.get(org, GROUP_TYPE, group["id"])
    change(add=(Member(a["id"]), Member(b["id"])))
    assert sorted(members()) == sorted(store.dn(org, "User", u["id"]) for u in (a, b))
    change(remove=frozenset({a["id"], b["id"]}))
    assert members() == [""]
    change(add=(Member(a["id"]),))
    store.delete(org, USER_TYPE, a["id"])  # the last member deleted
    assert members() == [""]
    assert "members" not in store.get(org, GROUP_TYPE, group["id"])


def test_the_last_two_members_removed_at_once_leave_the_placeholder(
    store: LdapStore, org: str, slapd_srv: SlapdServer
) -> None:
    users = [store.create(org, USER_TYPE, user_doc(f"u{i}")) for i in range(2)]
    group = store.create(org, GROUP_TYPE, group_doc("Pair", [u["id"] for u in users]))
    parallel(
        2,
        lambda i: store.update(
            org,
            GROUP_TYPE,
            group["id"],
            lambda d: d,
            members=False,
            member_change=MemberChange(remove=frozenset({users[i]["id"]})),
        ),
    )
    entry = one(ldapsearch(slapd_srv, store.dn(org, "Group", group["id"]), scope="base"))[1]
    assert entry["member"] == [""]


def test_values_a_syntax_cannot_hold_stay_in_scim_only(
    store: LdapStore, org: str, slapd_srv: SlapdServer
) -> None:
    """mail is an IA5String and telephoneNumber a PrintableString: a value they
    cannot hold is left out of them, never out of the SCIM resource."""
    doc = user_doc(
        "zoe",
        emails=[
            {"value": "zoë@exämple.se"},
            {"value": "Zoe@example.se"},
            {"value": "zoe@EXAMPLE.se"},
        ],
        phoneNumbers=[{"value": "+46 8 123;ext=4"}, {"value": "+46 8 123 456"}],
    )
    created = store.create(org, USER_TYPE, doc)
    assert store.get(org, USER_TYPE, created["id"])["emails"] == doc["emails"]
    attrs = one(
        ldapsearch(slapd_srv, store.container(org, "User"), "(uid=zoe)", "mail", "telephoneNumber")
    )[1]
    assert attrs["mail"] == ["Zoe@example.se"]  # mail matches case-insensitively: one of two
    assert attrs["telephoneNumber"] == ["+46 8 123 456"]


# -- the directory holds uniqueness ---------------------------------------------------


def copy_entry(slapd: SlapdServer, dn: str, new_id: str) -> tuple[str, dict[str, Any]]:
    """What another LDAP writer would add: the same entry under a new SCIM id."""
    with connect(slapd) as conn:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["*"])
        raw = conn.response[0]["raw_attributes"]
    attrs = {k: list(v) for k, v in raw.items()}
    attrs["scimId"] = [new_id.encode()]
    return "scimId=" + new_id + dn[dn.index(",") :], attrs


def test_the_directory_refuses_a_second_username_from_any_writer(
    store: LdapStore, org: str, slapd_srv: SlapdServer
) -> None:
    ada = store.create(org, USER_TYPE, user_doc("ada@example.com"))
    dn, attrs = copy_entry(slapd_srv, store.dn(org, "User", ada["id"]), str(uuid.uuid4()))
    with connect(slapd_srv) as conn:
        assert not conn.add(dn, attributes=attrs)
        assert conn.result["description"] == "constraintViolation"
        assert "non-unique" in conn.result["message"]
        # Renaming another entry into the name is refused too.
        bob = store.create(org, USER_TYPE, user_doc("bob@example.com"))
        taken = attrs["scimUniqueName"]
        assert not conn.modify(
            store.dn(org, "User", bob["id"]), {"scimUniqueName": [(ldap3.MODIFY_REPLACE, taken)]}
        )
        assert conn.result["description"] == "constraintViolation"
        # A name another writer holds is taken for SCIM as well.
        store.delete(org, USER_TYPE, ada["id"])
        assert conn.add(dn, attributes=attrs), conn.result
    with pytest.raises(errors.Uniqueness):
        store.create(org, USER_TYPE, user_doc("ADA@example.com"))
    # The same name in another organization is another key.
    store.create(f"{org}-b", USER_TYPE, user_doc("ada@example.com"))


def test_racing_creates_from_separate_stores_give_one_resource(
    request: pytest.FixtureRequest, slapd_srv: SlapdServer
) -> None:
    """Eight stores (as eight workers would have), 32 racing creates of one name."""
    config = ldap_config(request, Path("."))["ldap"]
    stores = [_build(config) for _ in range(8)]
    try:
        org = "race"
        results = parallel(
            32,
            lambda i: outcome(
                lambda: stores[i % 8].create(
                    org, USER_TYPE, user_doc(f"Race{(i % 2 and 'R') or 'r'}")
                )
            ),
        )
        assert Counter(results) == {"ok": 1, "Uniqueness": 31}
        groups = parallel(
            32, lambda i: outcome(lambda: stores[i % 8].create(org, GROUP_TYPE, group_doc("Crew")))
        )
        assert Counter(groups) == {"ok": 1, "Uniqueness": 31}
        page = stores[0].query(org, USER_TYPE, Query())
        assert page.total == 1
    finally:
        for s in stores:
            s.close()


def test_concurrent_member_adds_from_separate_stores_lose_nothing(
    request: pytest.FixtureRequest, slapd_srv: SlapdServer
) -> None:
    config = ldap_config(request, Path("."))["ldap"]
    stores = [_build(config) for _ in range(4)]
    try:
        org = "crowd"
        group = stores[0].create(org, GROUP_TYPE, group_doc("Crowd"))
        users = [stores[0].create(org, USER_TYPE, user_doc(f"c{i}")) for i in range(40)]
        parallel(
            40,
            lambda i: stores[i % 4].update(
                org,
                GROUP_TYPE,
                group["id"],
                lambda d: d,
                members=False,
                member_change=MemberChange(add=(Member(users[i]["id"]),)),
            ),
        )
        got = stores[1].get(org, GROUP_TYPE, group["id"])
        assert {m["value"] for m in got["members"]} == {u["id"] for u in users}
        assert got["meta"]["version"] == 'W/"41"'  # every change bumped the version once
    finally:
        for s in stores:
            s.close()


def test_if_match_is_a_compare_and_swap(store: LdapStore, org: str) -> None:
    user = store.create(org, USER_TYPE, user_doc("cas"))

    def write(i: int) -> str:
        def mutate(doc: Resource) -> Resource:
            return {**doc, "title": f"t{i}"}

        return outcome(lambda: store.update(org, USER_TYPE, user["id"], mutate, if_match='W/"1"'))

    assert Counter(parallel(16, write)) == {"ok": 1, "PreconditionFailed": 15}
    assert store.get(org, USER_TYPE, user["id"])["meta"]["version"] == 'W/"2"'


def test_concurrent_writes_without_if_match_lose_nothing(store: LdapStore, org: str) -> None:
    """Each write of the document changes one attribute of its own: all must stay."""
    user = store.create(org, USER_TYPE, user_doc("many"))

    def write(i: int) -> None:
        def mutate(doc: Resource) -> Resource:
            ext = dict(doc.get(ENTERPRISE_USER) or {})
            ext[["employeeNumber", "costCenter", "organization", "division"][i % 4]] = f"v{i}"
            return {**doc, ENTERPRISE_USER: ext}

        store.update(org, USER_TYPE, user["id"], mutate)

    parallel(4, write)
    got = store.get(org, USER_TYPE, user["id"])
    assert got[ENTERPRISE_USER] == {
        "employeeNumber": "v0",
        "costCenter": "v1",
        "organization": "v2",
        "division": "v3",
    }
    assert got["meta"]["version"] == 'W/"5"'


# -- renames, deletes and other clients' entries ---------------------------------------


@dataclass
class Api:
    scim: Scim
    store: LdapStore


@pytest.fixture(scope="module")
def ldap_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ldap-app")
    config = {
        "server": {"public_url": "", "max_payload_bytes": 65536, "max_results": 200},
        "control": {"url": f"sqlite:///{root / 'control.db'}"},
        "store": ldap_config(request, root),
    }
    app = create_app(config)
    yield app
    app.extensions["scimserver"].close()


@pytest.fixture
def api(ldap_app: Any) -> Api:
    slug, token = new_org(ldap_app)
    server = ldap_app.extensions["scimserver"]
    scim = Scim(ldap_app, token, server.tenancy.org(slug).id)
    store = server.store
    while not isinstance(store, LdapStore):  # the core's timing wrapper (metrics.TimedStore)
        store = store._store
    return Api(scim, store)


def test_a_rename_keeps_the_id_the_dn_and_the_memberships(api: Api, slapd_srv: SlapdServer) -> None:
    scim, store = api.scim, api.store
    user = scim.user("old@example.com")
    group = scim.group("Team", [user["id"]])
    dn = store.dn(scim.org, "User", user["id"])
    r = scim.ops(
        f"/Users/{user['id']}", {"op": "replace", "path": "userName", "value": "new@example.com"}
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    renamed = r.get_json()
    assert renamed["id"] == user["id"]
    assert [g["value"] for g in renamed["groups"]] == [group["id"]]
    members = scim.get(f"/Groups/{group['id']}").get_json()["members"]
    assert [m["value"] for m in members] == [user["id"]]
    # In the directory: the same entry (a rename is no modify-DN), uid changed,
    # the group's member value untouched.
    _, attrs = one(ldapsearch(slapd_srv, dn, scope="base"))
    assert attrs["uid"] == ["new@example.com"]
    gattrs = one(ldapsearch(slapd_srv, store.dn(scim.org, "Group", group["id"]), scope="base"))[1]
    assert gattrs["member"] == [dn]
    found = scim.get('/Users?filter=userName+eq+"NEW@example.com"').get_json()
    assert [u["id"] for u in found["Resources"]] == [user["id"]]
    # The old name is free again, the new one is taken.
    assert (
        scim.post("/Users", {"schemas": [USER], "userName": "old@example.com"}).status_code == 201
    )
    r = scim.post("/Users", {"schemas": [USER], "userName": "New@Example.com"})
    assert (r.status_code, r.get_json()["scimType"]) == (409, "uniqueness")


def test_a_group_rename_keeps_nested_memberships(api: Api, slapd_srv: SlapdServer) -> None:
    scim = api.scim
    child = scim.group("Child")
    parent = scim.group("Parent", [child["id"]])
    r = scim.put(f"/Groups/{child['id']}", {"schemas": [GROUP], "displayName": "Renamed"})
    assert r.status_code == 200
    members = scim.get(f"/Groups/{parent['id']}").get_json()["members"]
    assert [(m["value"], m["type"]) for m in members] == [(child["id"], "Group")]
    cn = one(ldapsearch(slapd_srv, api.store.dn(scim.org, "Group", child["id"]), scope="base"))
    assert cn[1]["cn"] == ["Renamed"]


def test_deleting_a_user_takes_its_dn_out_of_the_groups(api: Api, slapd_srv: SlapdServer):
    scim, store = api.scim, api.store
    a, b = scim.user("del-a"), scim.user("del-b")
    group = scim.group("G", [a["id"], b["id"]])
    r = scim.ops(f"/Users/{a['id']}", {"op": "replace", "path": "active", "value": False})
    assert r.status_code == 200
    # The suspend policy retains users on DELETE; purge through the store.
    store.delete(scim.org, USER_TYPE, a["id"])
    gattrs = one(ldapsearch(slapd_srv, store.dn(scim.org, "Group", group["id"]), scope="base"))[1]
    assert gattrs["member"] == [store.dn(scim.org, "User", b["id"])]


def test_a_retained_user_keeps_its_member_value_but_is_no_member(
    api: Api, slapd_srv: SlapdServer
) -> None:
    scim, store = api.scim, api.store
    user = scim.user("retain@example.com")
    group = scim.group("Keepers", [user["id"]])
    assert scim.delete(f"/Users/{user['id']}").status_code == 204  # hidden mode: retained
    assert "members" not in scim.get(f"/Groups/{group['id']}").get_json()
    gattrs = one(ldapsearch(slapd_srv, store.dn(scim.org, "Group", group["id"]), scope="base"))[1]
    assert gattrs["member"] == [store.dn(scim.org, "User", user["id"])]
    uattrs = one(ldapsearch(slapd_srv, store.dn(scim.org, "User", user["id"]), scope="base"))[1]
    assert uattrs["scimActive"] == ["FALSE"] and uattrs["scimRetained"]
    revived = scim.post("/Users", {"schemas": [USER], "userName": "retain@example.com"})
    assert revived.status_code == 201 and revived.get_json()["id"] == user["id"]
    members = scim.get(f"/Groups/{group['id']}").get_json()["members"]
    assert [m["value"] for m in members] == [user["id"]]


def test_entries_other_clients_add_are_not_scim_resources(api: Api, slapd_srv: SlapdServer) -> None:
    scim, store = api.scim, api.store
    user = scim.user("scim-made")
    group = scim.group("Mixed", [user["id"]])
    people = store.container(scim.org, "User")
    stranger = f"uid=stranger,{people}"
    with connect(slapd_srv) as conn:
        assert conn.add(stranger, ["inetOrgPerson"], {"uid": "stranger", "cn": "S", "sn": "S"})
        gdn = store.dn(scim.org, "Group", group["id"])
        assert conn.modify(gdn, {"member": [(ldap3.MODIFY_ADD, [stranger])]})
    listed = scim.get("/Users").get_json()
    assert [u["userName"] for u in listed["Resources"]] == ["scim-made"]
    members = scim.get(f"/Groups/{group['id']}").get_json()["members"]
    assert [m["value"] for m in members] == [user["id"]]
    # A SCIM write of the members leaves the stranger's value alone.
    other = scim.user("second")
    r = scim.ops(
        f"/Groups/{group['id']}",
        {"op": "add", "path": "members", "value": [{"value": other["id"]}]},
    )
    assert r.status_code == 200
    gattrs = one(ldapsearch(slapd_srv, gdn, scope="base"))[1]
    assert stranger in gattrs["member"]


# -- lists: filters, sorting, pages -------------------------------------------------------


def test_filters_compile_to_escaped_ldap_filters() -> None:
    def pushed(text: str, rtype: Any = USER_TYPE) -> tuple[str | None, bool]:
        compiled = compile_filter(rtype.name, parse_filter(text, rtype), lambda i: None)
        return compiled.pushed, compiled.rest is None

    assert pushed('userName eq "A*b(c)\\\\d"') == (r"(scimNameKey=a\2ab\28c\29\5cd)", True)
    assert pushed('userName co "x"') == ("(scimNameKey=*x*)", True)
    assert pushed('externalId gt "A"') == (r"(scimExternalId>=A\00)", True)
    assert pushed('emails.value ne "a@b"') == ("(!(scimEmailKey=a@b))", True)
    assert pushed("active eq true and not (displayName pr)") == (
        "(&(scimActive=TRUE)(!(scimDisplayNameKey=*)))",
        True,
    )
    assert pushed('meta.created gt "2024-03-01T10:00:00+02:00"') == (
        "(&(scimCreated>=20240301080000.000000Z)(!(scimCreated=20240301080000.000000Z)))",
        True,
    )
    assert pushed('title eq "x"') == (None, False)  # no key: the evaluator's
    assert pushed('userName sw "a" and title pr') == ("(scimNameKey=a*)", False)
    assert pushed('emails[type eq "work"]') == (None, False)
    assert pushed('members.value eq "nobody"', GROUP_TYPE) == ("(!(objectClass=*))", True)
    # id is pushed as a superset (caseExactMatch squeezes spaces) and checked again.
    assert pushed('id eq "x"') == ("(scimId=x)", False)


@pytest.fixture(scope="module")
def crowd(request: pytest.FixtureRequest) -> tuple[LdapStore, str, list[Resource]]:
    """300 users, in shuffled name order; every third has no displayName."""
    store = build(request)
    org = "crowd300"
    made = []
    for k in range(300):
        i = (k * 7) % 300
        attrs = {"displayName": f"Person {i % 17:02d}"} if i % 3 else {}
        made.append(store.create(org, USER_TYPE, user_doc(f"user{i:03d}@example.com", **attrs)))
    return store, org, made


def count_entries(store: LdapStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Entries the directory sends per search, from here on."""
    from scimserver_plugins.ldap_store import pool

    sizes: list[int] = []
    original = pool.Session.search

    def search(self: Any, *args: Any, **kw: Any) -> Any:
        answer = original(self, *args, **kw)
        sizes.append(len(answer.entries))
        return answer

    monkeypatch.setattr(pool.Session, "search", search)
    return sizes


@pytest.mark.parametrize("sort", [None, "userName", "displayName"])
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_a_page_reads_only_the_page_from_the_directory(
    crowd: Any, monkeypatch: pytest.MonkeyPatch, sort: str | None, descending: bool
) -> None:
    """The directory sorts and windows (slapo-sssvlv): a page of 10 out of 300 moves
    about 10 entries, whatever the offset, and agrees with sorting here."""
    store, org, _ = crowd
    sort_by = USER_TYPE.resolve_path(sort) if sort else None
    reference = store._query_scan  # the evaluator's path, for the expected order
    sizes = count_entries(store, monkeypatch)
    page = store.query(
        org, USER_TYPE, Query(sort_by=sort_by, descending=descending, start_index=151, count=10)
    )
    assert page.total == 300 and len(page.resources) == 10
    assert sum(sizes) <= 3 * 10, sizes
    expected = store._call(
        lambda s: reference(
            s,
            org,
            "User",
            Query(sort_by=sort_by, descending=descending, start_index=151, count=10),
            "(&(objectClass=scimResource)(!(scimRetained=*)))",
            None,
            None,
        )
    )
    assert [r["id"] for r in page.resources] == [r["id"] for r in expected.resources]


def test_a_cursor_walk_over_the_directory_sorted_list(crowd: Any) -> None:
    store, org, made = crowd
    sort_by = USER_TYPE.resolve_path("displayName")
    seen: list[str] = []
    cursor: str | None = ""
    while cursor is not None:
        page = store.query(
            org, USER_TYPE, Query(sort_by=sort_by, descending=True, count=37, cursor=cursor)
        )
        assert page.total == 300
        seen += [r["id"] for r in page.resources]
        cursor = page.next_cursor
    assert sorted(seen) == sorted(u["id"] for u in made) and len(seen) == 300
    names = [store.get(org, USER_TYPE, i).get("displayName") for i in seen]
    present = [n for n in names if n]
    assert present == sorted(present, key=str.lower, reverse=True)
    assert names[len(present) :] == [None] * (300 - len(present))  # missing last


def test_without_server_side_sorting_the_same_answers(
    request: pytest.FixtureRequest, crowd: Any
) -> None:
    store, org, _ = crowd
    plain = build(request, vlv=False)
    plain.base = store.base  # the same data
    for q in (
        Query(start_index=290, count=20),
        Query(sort_by=USER_TYPE.resolve_path("userName"), descending=True, count=5),
        Query(count=0),
    ):
        a, b = store.query(org, USER_TYPE, q), plain.query(org, USER_TYPE, q)
        assert ([r["id"] for r in a.resources], a.total) == (
            [r["id"] for r in b.resources],
            b.total,
        )


def test_a_member_add_reads_no_member_list(
    store: LdapStore, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding one member to a group of 300 moves a handful of member values, not 300."""
    users = [store.create(org, USER_TYPE, user_doc(f"m{i:03d}")) for i in range(301)]
    group = store.create(org, GROUP_TYPE, group_doc("Big", [u["id"] for u in users[:300]]))
    from scimserver_plugins.ldap_store import pool

    values: list[int] = []
    original = pool.Session.search

    def search(self: Any, *args: Any, **kw: Any) -> Any:
        answer = original(self, *args, **kw)
        values.append(sum(len(e.attrs.get("member", ())) for e in answer.entries))
        return answer

    monkeypatch.setattr(pool.Session, "search", search)
    store.update(
        org,
        GROUP_TYPE,
        group["id"],
        lambda d: d,
        members=False,
        member_change=MemberChange(add=(Member(users[300]["id"]),)),
    )
    assert sum(values) <= 2, values
    monkeypatch.undo()
    assert len(store.get(org, GROUP_TYPE, group["id"])["members"]) == 301


@pytest.mark.parametrize("deref", [True, False], ids=["deref", "lookup"])
def test_members_resolve_alike_with_and_without_dereferencing(
    request: pytest.FixtureRequest, store: LdapStore, org: str, deref: bool
) -> None:
    """slapo-deref answers a group's members in its own search; without it the store
    looks the member ids up. Retained, deleted and foreign members drop out alike."""
    other = build(request, deref=deref)
    other.base = store.base
    a, b, c = (store.create(org, USER_TYPE, user_doc(n)) for n in ("ra", "rb", "rc"))
    sub = store.create(org, GROUP_TYPE, group_doc("Inner"))
    group = store.create(
        org, GROUP_TYPE, group_doc("Outer", [a["id"], b["id"], c["id"], sub["id"]])
    )
    store.update(org, USER_TYPE, b["id"], lambda d: d, retain=True)
    store.delete(org, USER_TYPE, c["id"])
    expected = [(a["id"], "User"), (sub["id"], "Group")]
    for s in (store, other):
        got = s.get(org, GROUP_TYPE, group["id"])
        assert [(m["value"], m["type"]) for m in got["members"]] == expected
        listed = s.query(
            org, GROUP_TYPE, Query(filter=parse_filter('displayName eq "outer"', GROUP_TYPE))
        )
        assert listed.resources == [got]
    assert other.features.deref is deref


# -- the directory going away ---------------------------------------------------------


@pytest.fixture
def own_slapd() -> Iterator[SlapdServer]:
    """A slapd of this test's own, to stop and start."""
    with ldap_server() as server:
        yield server


def test_an_outage_is_503_with_retry_after_and_heals_by_itself(
    own_slapd: SlapdServer, tmp_path: Path
) -> None:
    config = {
        "server": {"public_url": ""},
        "control": {"url": f"sqlite:///{tmp_path / 'control.db'}"},
        "store": {
            "backend": "ldap",
            "ldap": {
                "url": own_slapd.url,
                "bind_dn": own_slapd.bind_dn,
                "password": own_slapd.password,
                "base_dn": f"ou=outage,{own_slapd.base_dn}",
                "connect_timeout": 2,
                "timeout": 5,
            },
        },
    }
    assert_outage_answers_503_then_heals(create_app(config), own_slapd.stop, own_slapd.start)


def test_an_unreachable_directory_at_start_up_is_no_start_up_error(tmp_path: Path) -> None:
    """Workers start while the directory is down; requests get 503 meanwhile."""
    from servers import free_port

    store = _build(
        {"url": f"ldap://127.0.0.1:{free_port()}", "base_dn": "dc=x", "connect_timeout": 1}
    )
    with pytest.raises(errors.Unavailable) as info:
        store.get("o", USER_TYPE, "x")
    assert info.value.headers["Retry-After"] == "5"
    store.close()


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o644)  # slapd may run as another user
    return cert, key


def test_starttls_with_the_directory_certificate(tmp_path: Path) -> None:
    from fixtures_ldap import EXTRA, OVERLAYS

    cert, key = _certificate(tmp_path, "slapd")
    wrong, _ = _certificate(tmp_path, "other")
    tls = [f"TLSCertificateFile {cert}", f"TLSCertificateKeyFile {key}"]
    with slapd_server([schema_path()], OVERLAYS, [*EXTRA, *tls]) as slapd:
        options = {
            "url": slapd.url,
            "bind_dn": slapd.bind_dn,
            "password": slapd.password,
            "base_dn": f"ou=tls,{slapd.base_dn}",
            "start_tls": True,
        }
        store = _build({**options, "ca_file": str(cert)})
        created = store.create("o", USER_TYPE, user_doc("tls@example.com"))
        assert store.get("o", USER_TYPE, created["id"])["userName"] == "tls@example.com"
        store.close()
        untrusted = _build({**options, "ca_file": str(wrong)})
        with pytest.raises(errors.Unavailable):
            untrusted.get("o", USER_TYPE, created["id"])
        untrusted.close()


# -- configuration, schema, packaging ----------------------------------------------------


def test_the_attribute_mapping_is_configurable(
    request: pytest.FixtureRequest, slapd_srv: SlapdServer
) -> None:
    store = build(
        request,
        user_attributes={
            "ou": f"{ENTERPRISE}:department",
            "departmentNumber": "",
            "title": [],
            "description": ["nickName", "title"],
        },
    )
    doc = user_doc(
        "mapped", title="Boss", nickName="Bo", **{ENTERPRISE_USER: {"department": "R&D"}}
    )
    created = store.create("o", USER_TYPE, doc)
    attrs = one(ldapsearch(slapd_srv, store.container("o", "User"), "(uid=mapped)", "*"))[1]
    assert attrs["ou"] == ["R&D"] and attrs["description"] == ["Bo"]
    assert "title" not in attrs and "departmentNumber" not in attrs
    assert store.get("o", USER_TYPE, created["id"]) == created


def test_bad_options_are_refused_at_start_up() -> None:
    from scimserver_plugins.ldap_store.config import LdapConfigError

    for options in (
        {"base_dn": ""},
        {"base_dn": "dc=x", "url": "http://x"},
        {"base_dn": "dc=x", "pool_size": 0},
        {"base_dn": "dc=x", "colour": 1},
        {"base_dn": "dc=x", "user_attributes": {"cn": 5}},
    ):
        with pytest.raises(LdapConfigError):
            _build(options)


def _definitions(text: str) -> list[str]:
    """The attribute type and object class definitions of a schema file or LDIF."""
    unfolded = re.sub(r"\n ", "", text)  # RFC 2849 continuation lines
    found = []
    heads = r"(?im)^(?:attributetype|objectclass|olcAttributeTypes:|olcObjectClasses:)\s*\("
    for match in re.finditer(heads, unfolded):
        start = end = match.end() - 1
        depth, quoted = 0, False
        while True:
            char = unfolded[end]
            if char == "'":
                quoted = not quoted
            elif not quoted and char in "()":
                depth += 1 if char == "(" else -1
                if depth == 0:
                    break
            end += 1
        found.append(" ".join(unfolded[start : end + 1].split()))
    return found


def test_the_schema_is_package_data_and_its_ldif_agrees_and_loads(tmp_path: Path) -> None:
    schema = schema_path()
    ldif = schema_path("scimserver.ldif")
    assert schema.is_file() and ldif.is_file()
    assert _definitions(schema.read_text()) == _definitions(ldif.read_text())
    assert len(_definitions(schema.read_text())) == 16
    # slapd configured with cn=config (Debian's default) takes the LDIF.
    if shutil.which("slapadd") is None:
        pytest.skip("slapadd is not installed")
    config = [
        "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n",
        "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n",
    ]
    config += [
        Path(f"/etc/ldap/schema/{n}.ldif").read_text() for n in ("core", "cosine", "inetorgperson")
    ]
    config.append(ldif.read_text())
    (tmp_path / "config.ldif").write_text("\n".join(config))
    (tmp_path / "slapd.d").mkdir()
    run = subprocess.run(
        ["slapadd", "-n0", "-F", str(tmp_path / "slapd.d"), "-l", str(tmp_path / "config.ldif")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "slapd.d" / "cn=config" / "cn=schema" / "cn={3}scimserver.ldif").exists()


def test_the_plugin_imports_without_ldap3() -> None:
    """`make run` installs without the ldap extra, and every built-in is imported."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('ldap3', 'pyasn1'):\n"
        "            raise ImportError('no ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from scimserver.plugins import build_manager\n"
        "from scimserver.app import _store\n"
        "pm = build_manager({})\n"
        "assert 'scimserver_plugins.ldap_store' in sys.modules\n"
        "assert 'ldap3' not in sys.modules\n"
        "names = [f.name for batch in pm.hook.scimserver_register_stores() for f in batch]\n"
        "assert 'ldap' in names, names\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr


# -- as production runs it: gunicorn, two workers ------------------------------------
# tests/test_gunicorn.py runs the racing writes and the compliance tools (scim2-tester,
# scim-sanity) on every backend, LDAP included; here, what the directory holds after.


@pytest.fixture(scope="module")
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live-ldap")
    config = {
        "control": {"url": f"sqlite:///{root / 'control.db'}"},
        "store": ldap_config(request, root),
    }
    with live_server(config, root) as server:
        yield server


def _live_store(live: Live) -> LdapStore:
    return _build(live.config["store"]["ldap"])


@pytest.mark.slow
def test_racing_creates_on_two_workers_leave_one_entry(live: Live, slapd_srv: SlapdServer):
    body = {"schemas": [USER], "userName": "race@example.com"}
    replies = parallel(32, lambda _: call("POST", f"{live.base}/Users", live.token, body))
    assert Counter(r.status for r in replies) == {201: 1, 409: 31}
    created = next(r.body for r in replies if r.status == 201)
    store = _live_store(live)
    people = ldapsearch(slapd_srv, store.container(live.org, "User"), "(uid=race@example.com)")
    assert list(people) == [store.dn(live.org, "User", created["id"])]
    store.close()


@pytest.mark.slow
def test_concurrent_member_adds_on_two_workers_land_as_member_values(
    live: Live, slapd_srv: SlapdServer
) -> None:
    group, users = concurrent_member_adds(live)
    store = _live_store(live)
    entry = one(ldapsearch(slapd_srv, store.dn(live.org, "Group", group["id"]), scope="base"))[1]
    assert sorted(entry["member"]) == sorted(store.dn(live.org, "User", u["id"]) for u in users)
    assert entry["scimVersion"] == ["41"]  # one version per change, none lost
    store.close()
