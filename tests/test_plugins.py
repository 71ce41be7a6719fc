"""Plugins: how they are found and ordered, the example third-party plugin, every hook.

Each hook has a test named ``test_hook_<name>_...`` (the ``scimserver_`` prefix
dropped) whose plugin implements it; ``test_every_hook_is_tested`` holds the
module to that. Test plugins are real modules, written to ``tmp_path`` and
listed in ``[plugins] modules``, the way an operator adds one.
"""

from __future__ import annotations

import ast
import inspect
import logging
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import USER, Scim, backend_config, new_org
from flask import Flask

import scimserver.hookspecs
from scimserver.app import Server, SetupError, create_app
from scimserver.cli import cli
from scimserver.plugins import BUILTINS, ENTRY_POINT_GROUP, PluginError, build_manager, origin
from scimserver.protocol.core_schemas import USER_TYPE
from scimserver.protocol.errors import NotFound

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "tests" / "plugins" / "domain_guard" / "scimserver_domain_guard.py"
ACME_DOMAINS = {"acme": ["acme.com", "acme.co.uk"]}


# -- helpers ------------------------------------------------------------------------


def server_of(app: Flask) -> Server:
    return app.extensions["scimserver"]


def org_client(app: Flask, slug: str) -> Scim:
    """A provisioning organization with a chosen slug (the guard's config names it)."""
    tenancy = server_of(app).tenancy
    tenancy.create_org(slug, slug, enterprise=True)
    tenancy.enable_provisioning(slug)
    _, token = tenancy.issue_token(slug, "onelogin", regenerate=False)
    return Scim(app, token, slug)


def any_org(app: Flask) -> Scim:
    slug, token = new_org(app)
    return Scim(app, token, slug)


def guard_of(app: Flask) -> Any:
    guard = server_of(app).pm.get_plugin("domain_guard.guard")
    assert guard is not None, "domain_guard did not register its per-app object"
    return guard


def toml_config(folder: Path, extra: str = "") -> Path:
    """A config file for the CLI: SQLite under ``folder``, then ``extra`` sections."""
    path = folder / "scimserver.toml"
    path.write_text(
        textwrap.dedent(f"""\
            [control]
            url = "sqlite:///{folder / "control.db"}"

            [store]
            backend = "sql"

            [store.sql]
            url = "sqlite:///{folder / "scim.db"}"
        """)
        + textwrap.dedent(extra)
    )
    return path


@pytest.fixture
def make_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on SQLite; keyword arguments are config sections to set."""
    built: list[Flask] = []

    def make(**sections: Any) -> Flask:
        root = tmp_path / f"app{len(built)}"
        root.mkdir()
        config = backend_config("sqlite", request, root)
        config.update(sections)
        app = create_app(config)
        built.append(app)
        return app

    yield make
    for app in built:
        server_of(app).close()


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write a plugin module importable by name; returns the name to list in config."""
    folder = tmp_path / "plugin_modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def modules(*names: str, disable: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"modules": list(names), "disable": list(disable)}


# -- the example plugin: found through its entry point ------------------------------


def test_example_plugin_is_installed_with_an_entry_point_in_group_scimserver() -> None:
    (found,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "domain_guard"]
    assert found.value == "scimserver_domain_guard"
    assert found.dist is not None and found.dist.name == "scimserver-domain-guard"

    pm = build_manager({})
    plugin = dict(pm.list_name_plugin())["domain_guard"]
    assert plugin is found.load()
    assert origin(pm, plugin) == "entry point (scimserver-domain-guard 0.1.0)"


def test_plugins_list_shows_the_example_plugin_and_its_per_app_object(tmp_path: Path) -> None:
    config = toml_config(tmp_path, '[domain_guard]\nacme = ["acme.com"]\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "plugins", "list"])
    assert result.exit_code == 0, result.output
    rows = {
        name: rest
        for name, *rest in (line.split("\t") for line in result.output.splitlines())
        if rest
    }
    assert rows["domain_guard"] == [
        "entry point (scimserver-domain-guard 0.1.0)",
        "scimserver_startup",
    ]
    assert rows["domain_guard.guard"][1] == "scimserver_after_write, scimserver_before_write"
    assert rows["sql"][0] == "built-in"
    assert rows["suspend.policy"][0] == "built-in"


# -- the example plugin over HTTP: veto, amend, observe ------------------------------


@pytest.fixture
def guarded(make_app: Callable[..., Flask]) -> Flask:
    # With the suspend policy off a DELETE deletes, so the observer hears "delete".
    return make_app(domain_guard=ACME_DOMAINS, policy={"suspend": {"enabled": False}})


def test_hook_before_write_veto_reaches_the_client_and_nothing_is_stored(guarded: Flask) -> None:
    acme = org_client(guarded, "acme")
    for user_name in ("eve@evil.example", "eve@acme.com.evil.example", "eve"):
        r = acme.post("/Users", {"schemas": [USER], "userName": user_name})
        assert r.status_code == 400, user_name
        body = r.get_json()
        assert (body["status"], body["scimType"]) == ("400", "invalidValue")
        assert user_name in body["detail"] and "acme.co.uk" in body["detail"]
    assert acme.get("/Users").get_json()["totalResults"] == 0
    assert guard_of(guarded).events == []  # a vetoed write is never observed


def test_hook_before_write_amends_what_is_stored(guarded: Flask) -> None:
    acme = org_client(guarded, "acme")
    created = acme.user("Ada.Lovelace@ACME.Co.UK")
    assert created["userName"] == "Ada.Lovelace@acme.co.uk"
    assert acme.get(f"/Users/{created['id']}").get_json() == created


def test_hook_before_write_vetoes_replace_and_patch_inside_the_transaction(
    guarded: Flask,
) -> None:
    acme = org_client(guarded, "acme")
    created = acme.user("grace@acme.com")
    path = f"/Users/{created['id']}"
    outside = "grace@evil.example"
    vetoed = [
        acme.put(path, {"schemas": [USER], "userName": outside}),
        acme.ops(path, {"op": "replace", "path": "userName", "value": outside}),
        # Reported to hooks as "deactivate", and guarded all the same.
        acme.ops(path, {"op": "replace", "value": {"userName": outside, "active": False}}),
    ]
    assert [r.status_code for r in vetoed] == [400, 400, 400]
    assert {r.get_json()["scimType"] for r in vetoed} == {"invalidValue"}
    assert acme.get(path).get_json() == created  # same document, same version

    r = acme.ops(path, {"op": "replace", "path": "userName", "value": "Grace@ACME.COM"})
    assert r.status_code == 200
    assert r.get_json()["userName"] == "Grace@acme.com"


def test_hook_after_write_observer_sees_committed_writes_with_their_ids(guarded: Flask) -> None:
    acme = org_client(guarded, "acme")
    user = acme.user("lin@acme.com")
    path = f"/Users/{user['id']}"
    assert acme.ops(path, {"op": "add", "path": "displayName", "value": "Lin"}).status_code == 200
    assert acme.delete(path).status_code == 204
    assert guard_of(guarded).events == [
        ("create", "User", user["id"]),
        ("patch", "User", user["id"]),
        ("delete", "User", user["id"]),
    ]


def test_domain_guard_leaves_organizations_not_in_its_map_alone(guarded: Flask) -> None:
    other = any_org(guarded)
    created = other.user("Eve@Evil.Example")
    assert created["userName"] == "Eve@Evil.Example"  # neither vetoed nor amended
    assert guard_of(guarded).events == [("create", "User", created["id"])]


def test_domain_guard_also_guards_a_revive(make_app: Callable[..., Flask]) -> None:
    app = make_app(domain_guard=ACME_DOMAINS)  # the default policy: DELETE retains
    acme = org_client(app, "acme")
    user = acme.user("kim@acme.com", externalId="hr-7")
    assert acme.delete(f"/Users/{user['id']}").status_code == 204

    # The same externalId brings the retained record back: a revive, guarded too.
    r = acme.post(
        "/Users", {"schemas": [USER], "userName": "kim@evil.example", "externalId": "hr-7"}
    )
    assert (r.status_code, r.get_json()["scimType"]) == (400, "invalidValue")
    revived = acme.user("Kim@ACME.com", externalId="hr-7")
    assert (revived["id"], revived["userName"]) == (user["id"], "Kim@acme.com")
    assert [op for op, _, _ in guard_of(app).events] == ["create", "suspend", "revive"]


def test_domain_guard_without_its_config_section_registers_nothing(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    assert server_of(app).pm.get_plugin("domain_guard") is not None
    assert server_of(app).pm.get_plugin("domain_guard.guard") is None


# -- load order and config ----------------------------------------------------------

NOOP = """
    from scimserver.hookspecs import hookimpl

    @hookimpl
    def scimserver_app_ready(app):
        app.extensions["noop_plugin"] = True
"""


def test_plugins_load_built_ins_then_entry_points_then_config_modules(
    plugin_module: Callable[..., str],
) -> None:
    name = plugin_module("tp_listed", NOOP)
    pm = build_manager({"plugins": modules(name)})
    names = [n for n, _ in pm.list_name_plugin()]
    assert names[: len(BUILTINS)] == list(BUILTINS)
    assert names.index("domain_guard") >= len(BUILTINS)
    assert names[-1] == name
    assert pm.get_plugin(name) is sys.modules[name]
    assert origin(pm, pm.get_plugin(name)) == "config"


def test_a_config_module_that_cannot_be_imported_fails_at_start_up() -> None:
    with pytest.raises(PluginError, match="no_such_plugin_module"):
        build_manager({"plugins": modules("no_such_plugin_module")})


def test_disable_switches_a_built_in_off(make_app: Callable[..., Flask]) -> None:
    app = make_app(plugins=modules(disable=("suspend",)))
    server = server_of(app)
    assert server.pm.get_plugin("suspend") is None
    assert server.pm.get_plugin("suspend.policy") is None  # its start-up never ran

    scim = any_org(app)
    user = scim.user("gone@example.com")
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    org = server.tenancy.org(scim.org)
    with pytest.raises(NotFound):  # deleted for good, not retained
        server.store.get(org.id, USER_TYPE, user["id"], retained=True)


def test_disable_switches_an_installed_plugin_off() -> None:
    pm = build_manager({"plugins": modules(disable=("domain_guard",))})
    assert pm.get_plugin("domain_guard") is None
    assert pm.get_plugin("sql") is not None


def test_a_misspelt_hookimpl_fails_at_start_up_naming_the_plugin(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module(
        "tp_typo",
        """
        from scimserver.hookspecs import hookimpl

        @hookimpl
        def scimserver_befor_write(context):
            pass
        """,
    )
    with pytest.raises(PluginError, match="tp_typo") as raised:
        make_app(plugins=modules(name))
    assert "scimserver_befor_write" in str(raised.value)


MISSPELT_PER_APP = """
    from scimserver.hookspecs import hookimpl


    class Guard:
        @hookimpl
        def scimserver_befor_write(self, context):
            pass


    @hookimpl
    def scimserver_startup(server):
        server.pm.register(Guard(), name="tp_typo_per_app.guard")
"""


def test_a_misspelt_hookimpl_on_a_per_app_object_fails_at_start_up(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_typo_per_app", MISSPELT_PER_APP)
    with pytest.raises(PluginError, match=r"tp_typo_per_app\.guard"):
        make_app(plugins=modules(name))


# -- every hook is documented and tested --------------------------------------------


def _hookspec_names() -> list[str]:
    tree = ast.parse(Path(scimserver.hookspecs.__file__).read_text())

    def is_spec(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return isinstance(target, ast.Name) and target.id == "hookspec"

    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any(map(is_spec, node.decorator_list))
    ]


HOOKS = _hookspec_names()


def _implemented_hooks(source: str) -> set[str]:
    """Names of ``@hookimpl`` functions and methods defined in a module's source."""

    def is_impl(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        return name == "hookimpl"

    return {
        node.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and any(map(is_impl, node.decorator_list))
    }


def _hooks_run_by(test: Callable[..., Any]) -> set[str]:
    """Hooks implemented by the plugins a test runs: the plugin sources it names, and
    the example plugin when it configures it (``ACME_DOMAINS``, or ``guarded``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(test)))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= set(inspect.signature(test).parameters)
    found = set()
    for name in names:
        value = globals().get(name)
        if isinstance(value, str) and "@hookimpl" in value:
            found |= _implemented_hooks(textwrap.dedent(value))
    if names & {"ACME_DOMAINS", "guarded"}:
        found |= _implemented_hooks(EXAMPLE.read_text())
    return found


def _tests_named_for(hook: str) -> list[str]:
    """This module's tests named ``test_hook_<name>`` or ``test_hook_<name>_...``."""
    short = hook.removeprefix("scimserver_")
    return [
        n for n in globals() if n == f"test_hook_{short}" or n.startswith(f"test_hook_{short}_")
    ]


def test_hookspecs_are_parsed_as_pluggy_sees_them() -> None:
    pm = build_manager({})
    assert HOOKS
    assert set(HOOKS) == {name for name in vars(pm.hook) if name.startswith("scimserver_")}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook: str) -> None:
    assert re.search(rf"^### {hook}$", DOCS.read_text(), re.MULTILINE), f"document {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_tested(hook: str) -> None:
    """A hook is tested when another test module implements it in a plugin, or when
    a ``test_hook_<name>_...`` test here runs a plugin that implements it."""
    elsewhere = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        if path.resolve() != Path(__file__).resolve()
        for name in _implemented_hooks(path.read_text())
    }
    here = any(hook in _hooks_run_by(globals()[name]) for name in _tests_named_for(hook))
    short = hook.removeprefix("scimserver_")
    assert hook in elsewhere or here, f"write test_hook_{short}_... with a plugin implementing it"


def test_every_test_hook_test_names_a_real_hook() -> None:
    named = {name for hook in HOOKS for name in _tests_named_for(hook)}
    assert {name for name in globals() if name.startswith("test_hook_")} == named


# -- one test per hook ----------------------------------------------------------------

RECORDING_STORE = """
    from scimserver.hookspecs import hookimpl
    from scimserver.store import StoreFactory
    from scimserver_plugins.sql.store import SqlStore

    BUILT = []


    class RecordingStore(SqlStore):
        # The SQL store noting each create: stands in for a new backend.
        def __init__(self, url, **options):
            super().__init__(url, **options)
            self.created = []
            BUILT.append(self)

        def create(self, org, rtype, resource):
            stored = super().create(org, rtype, resource)
            self.created.append(stored["id"])
            return stored


    @hookimpl
    def scimserver_register_stores():
        build = lambda options: RecordingStore(**options)
        return [StoreFactory("recording", build, "SQL, with a record of creates")]
"""


def test_hook_register_stores_adds_a_backend_config_can_pick(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    name = plugin_module("tp_store", RECORDING_STORE)
    url = f"sqlite:///{tmp_path / 'recorded.db'}"
    app = make_app(plugins=modules(name), store={"backend": "recording", "recording": {"url": url}})
    (store,) = sys.modules[name].BUILT  # built once, from [store.recording]
    user = any_org(app).user("stored@example.com")
    assert store.created == [user["id"]]

    with pytest.raises(SetupError, match=r"backend .nope. \(registered: .*\brecording\b"):
        make_app(plugins=modules(name), store={"backend": "nope"})


COUNTING_CONTROL = """
    from scimserver.hookspecs import hookimpl
    from scimserver_plugins.sql.control import SqlControlStore


    class CountingControlStore(SqlControlStore):
        def __init__(self, url):
            super().__init__(url)
            self.token_lookups = 0

        def integration_by_token_hash(self, token_hash):
            self.token_lookups += 1
            return super().integration_by_token_hash(token_hash)


    @hookimpl
    def scimserver_control_store(config):
        return CountingControlStore(config["control"]["url"])
"""


def test_hook_control_store_replaces_the_built_in_one(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_control", COUNTING_CONTROL)
    app = make_app(plugins=modules(name))
    control = server_of(app).tenancy.control
    assert type(control).__name__ == "CountingControlStore"
    scim = any_org(app)  # organizations and tokens live in the plugin's store
    assert scim.get("/Users").status_code == 200
    assert control.token_lookups == 1  # one indexed read per request


DEVICES = """
    from scimserver.hookspecs import hookimpl
    from scimserver.protocol.schema import Attribute, ResourceType, Schema

    DEVICE_SCHEMA = Schema(
        "urn:example:scim:schemas:Device",
        "Device",
        "A managed laptop or phone",
        (Attribute("serialNumber", required=True), Attribute("model")),
    )


    @hookimpl
    def scimserver_resource_types():
        return [ResourceType("Device", "/Devices", DEVICE_SCHEMA, description="Device")]
"""
DEVICE = "urn:example:scim:schemas:Device"


def test_hook_resource_types_serves_a_new_endpoint(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_devices", DEVICES)
    scim = any_org(make_app(plugins=modules(name)))
    types = {t["name"]: t for t in scim.get("/ResourceTypes").get_json()["Resources"]}
    assert set(types) == {"User", "Group", "Device"}
    assert (types["Device"]["endpoint"], types["Device"]["schema"]) == ("/Devices", DEVICE)
    assert scim.get(f"/Schemas/{DEVICE}").status_code == 200

    r = scim.post("/Devices", {"schemas": [DEVICE], "serialNumber": "SN-1", "model": "X1"})
    assert r.status_code == 201, r.get_data(as_text=True)
    device = r.get_json()
    assert device["meta"]["resourceType"] == "Device"
    assert scim.get(f"/Devices/{device['id']}").get_json() == device
    assert scim.post("/Devices", {"schemas": [DEVICE], "model": "X1"}).status_code == 400


BADGES = """
    from scimserver.hookspecs import hookimpl
    from scimserver.protocol.schema import INTEGER, Attribute, Extension, Schema

    BADGE = Schema(
        "urn:example:params:scim:schemas:extension:badge:2.0:User",
        "Badge",
        "Door badge",
        (Attribute("badgeNumber"), Attribute("floor", INTEGER)),
    )


    @hookimpl
    def scimserver_schema_extensions(resource_type):
        return [Extension(BADGE)] if resource_type == "User" else []
"""
BADGE = "urn:example:params:scim:schemas:extension:badge:2.0:User"


def test_hook_schema_extensions_adds_a_schema_that_round_trips(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_badges", BADGES)
    scim = any_org(make_app(plugins=modules(name)))
    schemas = {s["id"]: s for s in scim.get("/Schemas").get_json()["Resources"]}
    assert [a["name"] for a in schemas[BADGE]["attributes"]] == ["badgeNumber", "floor"]
    user_type = scim.get("/ResourceTypes/User").get_json()
    assert {"schema": BADGE, "required": False} in user_type["schemaExtensions"]
    assert scim.get("/ResourceTypes/Group").get_json()["schemaExtensions"] == []

    created = scim.user("badge@example.com", **{"schemas": [USER, BADGE], BADGE: {"floor": 3}})
    assert created[BADGE] == {"floor": 3}
    assert BADGE in created["schemas"]
    path = f"/Users/{created['id']}"
    r = scim.ops(path, {"op": "add", "path": f"{BADGE}:badgeNumber", "value": "B-7"})
    assert r.status_code == 200
    assert scim.get(path).get_json()[BADGE] == {"floor": 3, "badgeNumber": "B-7"}
    r = scim.ops(path, {"op": "replace", "path": f"{BADGE}:floor", "value": "third"})
    assert r.status_code == 400  # the extension's types are enforced like the core's
    for floor in (2**63 - 1, -(2**63)):  # 64-bit integers are kept exactly
        r = scim.ops(path, {"op": "replace", "path": f"{BADGE}:floor", "value": floor})
        assert r.status_code == 200
        assert scim.get(path).get_json()[BADGE]["floor"] == floor
    r = scim.ops(path, {"op": "replace", "path": f"{BADGE}:floor", "value": 2**63})
    assert (r.status_code, r.get_json()["scimType"]) == (400, "invalidValue")


STATIC_TOKENS = """
    from scimserver.hookspecs import hookimpl
    from scimserver.tenancy import Integration

    TOKENS = {}  # token -> organization slug; the test fills it


    @hookimpl
    def scimserver_authenticate(token, tenancy):
        slug = TOKENS.get(token)
        org = tenancy.control.get_org(slug) if slug else None
        return Integration("static", org, "static", "") if org else None
"""


def test_hook_authenticate_replaces_the_built_in_tokens(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_auth", STATIC_TOKENS)
    app = make_app(plugins=modules(name, disable=("auth",)))
    scim, other = any_org(app), any_org(app)
    tokens = sys.modules[name].TOKENS
    tokens.update({"static-secret": scim.org, "other-secret": other.org})

    assert scim.get("/Users").status_code == 401  # the built-in's token means nothing now
    scim.token, other.token = "static-secret", "other-secret"
    assert scim.get("/Users").status_code == 200
    created = scim.user("via-static@example.com")
    assert scim.get(f"/Users/{created['id']}").status_code == 200
    assert other.get(f"/Users/{created['id']}").status_code == 404  # the org the plugin named


DELETE_ANSWERS = """
    from scimserver.hookspecs import hookimpl


    @hookimpl(tryfirst=True)  # ahead of the built-in suspend policy
    def scimserver_delete_action(context):
        return {"contractor": "suspend", "intern": "archive"}.get(context.resource.get("title"))
"""


def test_hook_delete_action_answer_decides_what_a_delete_does(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_delete", DELETE_ANSWERS)
    scim = any_org(make_app(plugins=modules(name)))  # the policy (mode hidden) is on
    contractor = scim.user("c@example.com", title="contractor")
    employee = scim.user("e@example.com", title="employee")
    intern = scim.user("i@example.com", title="intern")

    assert scim.delete(f"/Users/{contractor['id']}").status_code == 204
    kept = scim.get(f"/Users/{contractor['id']}").get_json()
    assert kept["active"] is False  # "suspend": inactive, still visible

    # No answer: the next plugin (the built-in policy) decides, and hides the user.
    assert scim.delete(f"/Users/{employee['id']}").status_code == 204
    assert scim.get(f"/Users/{employee['id']}").status_code == 404

    r = scim.delete(f"/Users/{intern['id']}")  # an answer the core does not know
    assert r.status_code == 500
    assert scim.get(f"/Users/{intern['id']}").get_json() == intern


REVIVE_BY_EXTERNAL_ID = """
    from scimserver.hookspecs import hookimpl

    TARGETS = {}  # externalId -> id of the user a create brings back; the test fills it
    SEEN = []


    @hookimpl
    def scimserver_create_targets(contexts):
        return [TARGETS.get(context.resource.get("externalId")) for context in contexts]


    @hookimpl
    def scimserver_before_write(context):
        before = context.before["userName"] if context.before else None
        SEEN.append((context.operation, before, context.resource["userName"]))
"""


def test_hook_create_targets_revives_an_existing_record(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_target", REVIVE_BY_EXTERNAL_ID)
    scim = any_org(make_app(plugins=modules(name), policy={"suspend": {"enabled": False}}))
    plugin = sys.modules[name]
    old = scim.user("old@example.com", externalId="hr-1", active=False)
    plugin.TARGETS["hr-1"] = old["id"]

    revived = scim.user("new@example.com", externalId="hr-1")
    assert revived["id"] == old["id"]
    assert (revived["userName"], revived["active"]) == ("new@example.com", True)
    assert scim.get("/Users").get_json()["totalResults"] == 1
    assert plugin.SEEN == [
        ("create", None, "old@example.com"),
        ("revive", "old@example.com", "new@example.com"),
    ]


REQUEST_LOG = """
    from scimserver.hookspecs import hookimpl

    RECORDS = []


    @hookimpl
    def scimserver_request_done(record):
        RECORDS.append(record)
"""


def test_hook_request_done_sees_every_answered_request(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_requests", REQUEST_LOG)
    scim = any_org(make_app(plugins=modules(name)))
    records = sys.modules[name].RECORDS
    user = scim.user("logged@example.com")
    assert scim.get('/Users?filter=userName eq "x" and').status_code == 400
    assert scim.get("/Users", headers={"Authorization": "Bearer wrong"}).status_code == 401

    created, bad_filter, unauthorized = records
    assert (created.request.method, created.request.path) == ("POST", "/scim/v2/Users")
    assert (created.status, created.resource_type, created.resource_id) == (201, "User", user["id"])
    assert (created.org.slug, created.integration.kind) == (scim.org, "onelogin")
    assert created.user_name == "logged@example.com"
    assert created.duration_ms >= 0
    assert (bad_filter.status, bad_filter.scim_type) == (400, "invalidFilter")
    assert (unauthorized.status, unauthorized.org) == (401, None)


HELLO_COMMAND = """
    import click

    from scimserver.hookspecs import hookimpl


    @click.command()
    @click.argument("who")
    def hello(who):
        \"\"\"Say hello (added by a plugin).\"\"\"
        click.echo(f"hello {who}")


    @hookimpl
    def scimserver_cli_commands(cli):
        cli.add_command(hello)
"""


def test_hook_cli_commands_adds_a_command(
    plugin_module: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = plugin_module("tp_cli", HELLO_COMMAND)
    config = toml_config(tmp_path, f'[plugins]\nmodules = ["{name}"]\n')
    # The CLI is one process-wide group: keep this test's command out of the others,
    # and make it load plugin commands again, with this config.
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    monkeypatch.setattr(cli, "_loaded", False, raising=False)

    result = CliRunner().invoke(cli, ["--config", str(config), "hello", "world"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello world\n"


STARTUP = """
    from scimserver.hookspecs import hookimpl

    SERVERS = []


    class WriteCounter:
        def __init__(self, label):
            self.label = label
            self.writes = 0

        @hookimpl
        def scimserver_after_write(self, event):
            self.writes += 1


    @hookimpl
    def scimserver_startup(server):
        SERVERS.append(server)
        label = server.config["counter"]["label"]
        server.pm.register(WriteCounter(label), name="tp_startup.counter")
"""


def test_hook_startup_runs_once_per_server_and_registers_per_app_objects(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_startup", STARTUP)
    first = make_app(plugins=modules(name), counter={"label": "first"})
    second = make_app(plugins=modules(name), counter={"label": "second"})
    servers = sys.modules[name].SERVERS
    assert servers == [server_of(first), server_of(second)]

    any_org(first).user("one@example.com")
    counters = [server_of(app).pm.get_plugin("tp_startup.counter") for app in (first, second)]
    assert [(c.label, c.writes) for c in counters] == [("first", 1), ("second", 0)]


HEALTH_ROUTE = """
    from scimserver.hookspecs import hookimpl


    @hookimpl
    def scimserver_app_ready(app):
        @app.get("/served-types")
        def served_types():
            return {"resourceTypes": sorted(app.extensions["scimserver"].registry.resource_types)}
"""


def test_hook_app_ready_adds_a_route(
    plugin_module: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    name = plugin_module("tp_health", HEALTH_ROUTE)
    r = make_app(plugins=modules(name)).test_client().get("/served-types")
    assert r.status_code == 200
    assert r.get_json() == {"resourceTypes": ["Group", "User"]}


# -- a failing after_write hook -------------------------------------------------------

FAILING_OBSERVER = """
    from scimserver.hookspecs import hookimpl


    @hookimpl
    def scimserver_after_write(event):
        raise RuntimeError("mail server down")
"""
RECORDING_OBSERVER = """
    from scimserver.hookspecs import hookimpl

    EVENTS = []


    @hookimpl
    def scimserver_after_write(event):
        EVENTS.append((event.operation, event.id))
"""


def test_hook_after_write_failure_is_logged_and_the_write_stands(
    plugin_module: Callable[..., str],
    make_app: Callable[..., Flask],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = plugin_module("tp_recorder", RECORDING_OBSERVER)
    failing = plugin_module("tp_failing", FAILING_OBSERVER)
    # Observers registered before (tp_recorder) and after (the guard) the failing one.
    app = make_app(plugins=modules(recorder, failing), domain_guard=ACME_DOMAINS)
    acme = org_client(app, "acme")

    with caplog.at_level(logging.ERROR, logger="scimserver.resources"):
        r = acme.post("/Users", {"schemas": [USER], "userName": "ok@acme.com"})
        assert r.status_code == 201
        user = r.get_json()
        assert acme.get(f"/Users/{user['id']}").get_json() == user

    recorded = sys.modules[recorder].EVENTS
    assert recorded == [("create", user["id"])]
    assert guard_of(app).events == [("create", "User", user["id"])]
    (logged,) = [rec for rec in caplog.records if "tp_failing" in rec.getMessage()]
    assert "after_write hook of tp_failing failed for create User" in logged.getMessage()
    assert logged.exc_info is not None and logged.exc_info[0] is RuntimeError
