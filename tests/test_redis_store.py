"""What only the Redis store has to prove: its key layout, its cost per page, outages,
and atomicity across gunicorn workers. (The shared suites run on it too, through
tests/backends.py: ``SCIMSERVER_TEST_BACKENDS=redis pytest``.)

Everything runs against the real ``redis-server`` of the ``redis_srv`` fixture, each
store under a fresh key prefix.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import GROUP, PATCH_OP, USER, Scim, new_org
from flask import Flask
from live import (
    Live,
    assert_scim2_tester_passes,
    assert_scim_sanity_passes,
    call,
    concurrent_member_adds,
    live_server,
    parallel,
)
from redis.crc import key_slot
from servers import RedisServer

from scimserver.app import SetupError, create_app
from scimserver.protocol import errors
from scimserver.protocol.core_schemas import GROUP_TYPE, USER_TYPE
from scimserver.protocol.filter import parse_filter
from scimserver.protocol.filter_ast import Compare
from scimserver.protocol.patch import Member
from scimserver.protocol.validate import now, schemas_of, validate_resource
from scimserver.store import MemberChange, Query, Resource
from scimserver_plugins.redis_store import _build
from scimserver_plugins.redis_store.keys import NAMES, entry, org_keys, org_tag
from scimserver_plugins.redis_store.plan import index_entries
from scimserver_plugins.redis_store.store import RedisStore

BIN = Path(sys.executable).parent


def _prefix() -> str:
    return f"r{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def client(redis_srv: RedisServer) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_srv.url) as r:
        yield r


@pytest.fixture
def store(redis_srv: RedisServer) -> Iterator[RedisStore]:
    built = RedisStore(redis_srv.url, key_prefix=_prefix())
    yield built
    built.close()


def document(rtype: Any, body: dict[str, Any]) -> Resource:
    values = validate_resource({"schemas": [rtype.schema.id], **body}, rtype)
    stamp = now()
    return {
        "schemas": schemas_of(values, rtype),
        "id": str(uuid.uuid4()),
        **values,
        "meta": {"resourceType": rtype.name, "created": stamp, "lastModified": stamp},
    }


def user_doc(name: str, **attrs: Any) -> Resource:
    return document(USER_TYPE, {"userName": name, **attrs})


def group_doc(name: str, members: list[str] = ()) -> Resource:
    return document(GROUP_TYPE, {"displayName": name, "members": [{"value": m} for m in members]})


def _text(value: bytes) -> str:
    return value.decode()


def check_consistency(r: redis.Redis, prefix: str, org: str) -> dict[str, int]:
    """Every index agrees with the documents and memberships agree both ways:
    what a half-written resource would break. Returns counts per type."""
    k = dict(zip(NAMES, org_keys(prefix, org), strict=True))
    counts: dict[str, int] = {}
    ids: dict[str, set[str]] = {}
    for code, rtype in (("U", "User"), ("G", "Group")):
        docs = {_text(i): raw for i, raw in r.hgetall(k[f"{code}:docs"]).items()}
        ids[code] = set(docs)
        live, retained, uniq, names, ix = set(), set(), {}, set(), set()
        for id, raw in docs.items():
            seq, _, held, data = raw.split(b"\t", 3)
            doc = json.loads(data)
            assert r.zscore(k[f"{code}:all"], id) == int(seq)
            (retained if held else live).add(id)
            key, entries = index_entries(rtype, doc)
            if key is not None:
                uniq[key] = id
                if not held:
                    names.add(entry(key) + id)
            ix |= {e + id for e in entries}
            if code == "G":
                assert _text(r.hget(k["G:disp"], id)) == doc["displayName"]
        assert {_text(i) for i in r.zrange(k[f"{code}:live"], 0, -1)} == live
        assert {_text(i) for i in r.zrange(k[f"{code}:ret"], 0, -1)} == retained
        assert r.zcard(k[f"{code}:all"]) == len(docs)
        assert {_text(a): _text(b) for a, b in r.hgetall(k[f"{code}:uniq"]).items()} == uniq
        assert {_text(e) for e in r.zrange(k[f"{code}:names"], 0, -1)} == names
        assert {_text(e) for e in r.zrange(k[f"{code}:ix"], 0, -1)} == ix
        counts[rtype] = len(docs)
    assert {_text(g) for g in r.hkeys(k["G:disp"])} == ids["G"]
    rel = {tuple(_text(e).split("\0")) for e in r.zrange(k["rel"], 0, -1)}
    rrel = {tuple(_text(e).split("\0")) for e in r.zrange(k["rrel"], 0, -1)}
    assert {(t, m, g) for g, t, m in rel} == rrel, "members and groups disagree"
    for gid, mtype, mid in rel:
        assert gid in ids["G"] and mid in ids[mtype], "a membership of a deleted resource"
    counts["memberships"] = len(rel)
    return counts


# ================================================================ plugin and config


def test_the_plugin_imports_redis_only_when_a_redis_store_is_built(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from scimserver.app import build_server\n"
        f"url = 'sqlite:///{tmp_path / 'x.db'}'\n"
        "server = build_server({'control': {'url': url}, 'store': {'sql': {'url': url}}})\n"
        "assert 'scimserver_plugins.redis_store' in sys.modules\n"
        "assert 'redis' not in sys.modules, 'redis imported at start-up'\n"
        "server.close()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "http://127.0.0.1:6379"}, "redis://"),
        ({"url": "redis://127.0.0.1:1", "key_prefix": "a{b}:"}, "key_prefix"),
        ({"url": "redis://127.0.0.1:1", "pool_sise": 3}, "pool_sise"),
    ],
)
def test_bad_config_fails_at_start_up(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SetupError, match=message):
        _build(options)


def test_building_needs_no_running_redis() -> None:
    # Workers may start before Redis does; the first request then gets a 503.
    store = _build({"url": "redis://127.0.0.1:1/0", "connect_timeout": 0.2})
    with pytest.raises(errors.Unavailable):
        store.get("org", USER_TYPE, "x")
    store.close()


# ================================================================ key layout


def test_every_key_of_an_organization_shares_its_hash_tag_and_slot(
    store: RedisStore, client: redis.Redis
) -> None:
    org, other = f"org-{uuid.uuid4()}", f"org-{uuid.uuid4()}"
    for o in (org, other):
        a = store.create(o, USER_TYPE, user_doc("a@example.com", externalId="A"))
        store.create(o, USER_TYPE, user_doc("b@example.com", emails=[{"value": "b@x.org"}]))
        group = store.create(o, GROUP_TYPE, group_doc("G", [a["id"]]))
        assert group["members"]
        store.create(o, GROUP_TYPE, document(GROUP_TYPE, {"displayName": "H", "externalId": "h"}))
        store.update(o, USER_TYPE, a["id"], lambda d: d, retain=True)
        store.update(o, GROUP_TYPE, group["id"], lambda d: d, retain=True)
    keys = [_text(key) for key in client.keys(f"{store.prefix}*")]
    mine = [key for key in keys if key.startswith(f"{store.prefix}{{{org}}}:")]
    theirs = [key for key in keys if key.startswith(f"{store.prefix}{{{other}}}:")]
    assert len(mine) + len(theirs) == len(keys), keys  # nothing outside an organization
    assert set(mine) <= set(org_keys(store.prefix, org))  # the fixed set a script declares
    assert len(mine) == len(NAMES)  # every kind of key was written
    assert {key_slot(key.encode()) for key in mine} == {key_slot(org.encode())}
    assert {key_slot(key.encode()) for key in theirs} == {key_slot(other.encode())}
    # Resources are fields and members of those keys: no key names a user.
    assert not [key for key in keys if "@" in key or "-" in key.split("}:", 1)[1]]
    check_consistency(client, store.prefix, org)


@pytest.mark.parametrize("org", ["a}b{c", "{x}", "Zoë", "", "a b"])
def test_odd_organization_ids_get_a_safe_hash_tag(
    store: RedisStore, client: redis.Redis, org: str
) -> None:
    tag = org_tag(org)
    assert "{" not in tag and "}" not in tag and tag
    created = store.create(org, USER_TYPE, user_doc("u"))
    assert store.get(org, USER_TYPE, created["id"]) == created
    with pytest.raises(errors.NotFound):
        store.get(org + "x", USER_TYPE, created["id"])
    slots = {key_slot(key) for key in client.keys(f"{store.prefix}*")}
    assert slots == {key_slot(tag.encode())}


# ================================================================ the name index

ODD_NAMES = ["a", "a\x00", "a\x00b", "a\x01", "a\x01\x00", "a b", "ab", "A\x02", "b", "é",
             "😀", "ß", "İ", "a\x00\x00", "\x00", "\x01a", "z\x7f", "z\u0080"]  # fmt: skip


def test_odd_names_order_and_range_like_the_reference(store: RedisStore) -> None:
    """Names with NUL and \\x01 (escaped in the index) sort and match exactly as
    ``evaluate`` compares lowered strings."""
    from scimserver.protocol.evaluate import matches, sort_resources

    org = f"org-{uuid.uuid4()}"
    docs = []
    for name in ODD_NAMES:  # built by hand: the core refuses NUL, the store need not care
        doc = user_doc("placeholder")
        doc["userName"] = name
        docs.append(store.create(org, USER_TYPE, doc))
    by_name = USER_TYPE.resolve("userName")
    for descending in (False, True):
        expected = [d["id"] for d in sort_resources(docs, by_name, descending=descending)]
        got, cursor = [], ""
        while cursor is not None:
            page = store.query(
                org,
                USER_TYPE,
                Query(sort_by=by_name, descending=descending, cursor=cursor, count=4),
            )
            got += [r["id"] for r in page.resources]
            cursor = page.next_cursor
        assert got == expected
        window = store.query(
            org, USER_TYPE, Query(sort_by=by_name, descending=descending, start_index=3, count=5)
        )
        assert [r["id"] for r in window.resources] == expected[2:7]
    for value in ("a", "a\x00", "a\x01", "", "\x00", "z"):
        for op in ("eq", "sw", "gt", "ge", "lt", "le"):
            text = f"userName {op} {value!r}"
            flt = Compare(by_name, op, value)  # by hand: the parser refuses NUL too
            expected = [d["id"] for d in docs if matches(flt, d)]
            page = store.query(org, USER_TYPE, Query(filter=flt))
            assert [r["id"] for r in page.resources] == expected, text
            page = store.query(org, USER_TYPE, Query(filter=flt, sort_by=by_name))
            assert sorted(r["id"] for r in page.resources) == sorted(expected), text


def test_a_name_range_over_retained_records_finds_them(store: RedisStore) -> None:
    org = f"org-{uuid.uuid4()}"
    live = store.create(org, USER_TYPE, user_doc("ret-live"))
    held = store.create(org, USER_TYPE, user_doc("ret-held"))
    store.update(org, USER_TYPE, held["id"], lambda d: d, retain=True)
    flt = parse_filter('userName sw "RET-"', USER_TYPE)
    by_name = USER_TYPE.resolve("userName")
    wanted = {
        (None, "exclude"): [live],
        (None, "only"): [held],
        (None, "include"): [live, held],  # creation order
        (by_name, "exclude"): [live],
        (by_name, "only"): [held],
        (by_name, "include"): [held, live],  # "ret-held" < "ret-live"
    }
    for (sort_by, retained), want in wanted.items():
        page = store.query(org, USER_TYPE, Query(filter=flt, sort_by=sort_by, retained=retained))
        assert [r["id"] for r in page.resources] == [d["id"] for d in want], (sort_by, retained)


# ================================================================ cost per request


def _commands(client: redis.Redis, run: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """``run()`` and the Redis commands it caused, scripts' own commands included."""
    client.config_resetstat()
    result = run()
    stats = client.info("commandstats")
    calls = Counter({name.removeprefix("cmdstat_"): s["calls"] for name, s in stats.items()})
    calls -= Counter({"config|resetstat": 1, "info": 1, "config": 1})
    return result, calls


def test_a_page_costs_the_same_over_5000_users_as_over_50(
    store: RedisStore, client: redis.Redis
) -> None:
    small, big = f"org-{uuid.uuid4()}", f"org-{uuid.uuid4()}"
    started = time.perf_counter()
    for i in range(5000):
        store.create(big, USER_TYPE, user_doc(f"user{i:05d}@example.com"))
    rate = 5000 / (time.perf_counter() - started)
    for i in range(50):
        store.create(small, USER_TYPE, user_doc(f"user{i:05d}@example.com"))
    print(f"\nstore.create: {rate:.0f} users/s")
    by_name = USER_TYPE.resolve("userName")
    second = store.query(big, USER_TYPE, Query(count=10, cursor="")).next_cursor
    first_small = store.query(small, USER_TYPE, Query(count=10, cursor="")).next_cursor
    assert second and first_small
    queries = {
        "first page": lambda org, n: Query(count=10),
        "a deep page": lambda org, n: Query(count=10, start_index=n - 20),
        "newest first": lambda org, n: Query(count=10, descending=True),
        "by cursor": lambda org, n: Query(count=10, cursor=second if n > 50 else first_small),
        "by userName": lambda org, n: Query(count=10, sort_by=by_name, start_index=n // 2),
        "userName range": lambda org, n: Query(
            filter=parse_filter('userName sw "user"', USER_TYPE),
            sort_by=by_name,
            descending=True,
            count=10,
        ),
        "userName eq": lambda org, n: Query(
            filter=parse_filter('userName eq "user00042@example.com"', USER_TYPE)
        ),
    }
    for label, make in queries.items():
        costs = {}
        for org, n in ((small, 50), (big, 5000)):
            page, calls = _commands(
                client, lambda o=org, n=n, make=make: store.query(o, USER_TYPE, make(o, n))
            )
            assert page.total == (1 if label == "userName eq" else n), label
            assert len(page.resources) == (1 if label == "userName eq" else 10), label
            costs[n] = calls
        assert costs[50] == costs[5000], label  # O(page), not O(collection)
        reads = costs[5000]["hget"]  # document reads
        assert reads == len(page.resources), (label, costs[5000])
        assert sum(costs[5000].values()) <= 3 * reads + 6, (label, costs[5000])


def test_an_unindexed_filter_beyond_max_scan_is_too_many(redis_srv: RedisServer) -> None:
    store = RedisStore(redis_srv.url, key_prefix=_prefix(), max_scan=20, scan_chunk=7)
    org = f"org-{uuid.uuid4()}"
    for i in range(21):
        store.create(org, USER_TYPE, user_doc(f"u{i:02d}", title="T" if i % 2 else "S"))
    with pytest.raises(errors.TooMany):
        store.query(org, USER_TYPE, Query(filter=parse_filter('title eq "T"', USER_TYPE)))
    # What the indexes answer never scans.
    page = store.query(org, USER_TYPE, Query(filter=parse_filter('userName eq "u03"', USER_TYPE)))
    assert [r["userName"] for r in page.resources] == ["u03"]
    assert store.query(org, USER_TYPE, Query(count=5)).total == 21
    store.delete(org, USER_TYPE, page.resources[0]["id"])
    page = store.query(org, USER_TYPE, Query(filter=parse_filter('title eq "T"', USER_TYPE)))
    assert page.total == 9  # 20 users, at the limit: scanned in chunks of 7
    store.close()


# ================================================================ outages


def _config(url: str, prefix: str, root: Path) -> dict[str, Any]:
    return {
        "server": {"public_url": "", "max_results": 200},
        "control": {"url": f"sqlite:///{root / 'control.db'}"},
        "store": {
            "backend": "redis",
            "redis": {
                "url": url,
                "key_prefix": prefix,
                "connect_timeout": 1.0,
                "socket_timeout": 2.0,
                "retry_after": 7,
            },
        },
    }


@pytest.fixture
def outage_app(redis_srv: RedisServer, tmp_path: Path) -> Iterator[tuple[Flask, Scim]]:
    app = create_app(_config(redis_srv.url, _prefix(), tmp_path))
    slug, token = new_org(app)
    yield app, Scim(app, token, slug)
    if not redis_srv.running:
        redis_srv.start()
    app.extensions["scimserver"].close()


def _assert_503(r: Any) -> None:
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.headers["Retry-After"] == "7"
    body = r.get_json()
    assert body["status"] == "503" and "Traceback" not in body["detail"]


def test_redis_down_gives_503_with_retry_after_then_recovers(
    outage_app: tuple[Flask, Scim], redis_srv: RedisServer, client: redis.Redis
) -> None:
    app, scim = outage_app
    kept = scim.user("kept@example.com")
    group = scim.group("Team", [kept["id"]])
    client.save()  # the throwaway server keeps no data across a restart otherwise
    redis_srv.stop()
    try:
        started = time.perf_counter()
        attempts = [
            scim.get("/Users"),
            scim.get(f"/Users/{kept['id']}"),
            scim.get('/Users?filter=userName+eq+"kept@example.com"'),
            scim.post("/Users", {"schemas": [USER], "userName": "lost@example.com"}),
            scim.ops(f"/Users/{kept['id']}", {"op": "replace", "path": "title", "value": "x"}),
            scim.ops(
                f"/Groups/{group['id']}",
                {"op": "add", "path": "members", "value": [{"value": kept["id"]}]},
            ),
            scim.put(f"/Groups/{group['id']}", {"schemas": [GROUP], "displayName": "Renamed"}),
            scim.delete(f"/Users/{kept['id']}"),
            scim.post("/Groups", {"schemas": [GROUP], "displayName": "Lost"}),
        ]
        for r in attempts:
            _assert_503(r)
        assert time.perf_counter() - started < 10  # refused at once, not hung
        ready = app.test_client().get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "7"
    finally:
        redis_srv.start()
    # Back by itself: the same app, its pooled connections and scripts renewed.
    got = scim.get(f"/Users/{kept['id']}")
    assert got.status_code == 200 and "title" not in got.get_json()
    assert scim.get(f"/Groups/{group['id']}").get_json()["displayName"] == "Team"
    listed = scim.get("/Users").get_json()
    assert [u["userName"] for u in listed["Resources"]] == ["kept@example.com"]
    lost = scim.get('/Users?filter=userName+eq+"lost@example.com"').get_json()
    assert lost["totalResults"] == 0
    assert app.test_client().get("/readyz").status_code == 200
    assert scim.user("lost@example.com")["userName"] == "lost@example.com"
    prefix = app.extensions["scimserver"].config["store"]["redis"]["key_prefix"]
    check_consistency(client, prefix, _org_id(app, scim.org))


def _org_id(app: Flask, slug: str) -> str:
    return app.extensions["scimserver"].tenancy.org(slug).id


def test_an_outage_during_concurrent_writes_leaves_nothing_half_written(
    outage_app: tuple[Flask, Scim], redis_srv: RedisServer, client: redis.Redis
) -> None:
    app, scim = outage_app
    prefix = app.extensions["scimserver"].config["store"]["redis"]["key_prefix"]
    org = _org_id(app, scim.org)
    group = scim.group("Busy")
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        http = Scim(app, scim.token, scim.org)
        i = 0
        while not stop.is_set():
            i += 1
            r = http.post(
                "/Users",
                {"schemas": [USER], "userName": f"w{n}-{i}@x.org", "emails": [{"value": f"{i}@x"}]},
            )
            if r.status_code == 201:
                uid = r.get_json()["id"]
                r = http.ops(
                    f"/Groups/{group['id']}",
                    {"op": "add", "path": "members", "value": [{"value": uid}]},
                )
            assert r.status_code in (200, 201, 503), r.get_data(as_text=True)
            if r.status_code == 503:
                assert r.headers["Retry-After"] == "7"
            with lock:
                statuses[r.status_code] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        client.save()  # a snapshot between two scripts, whatever is in flight
        redis_srv.stop()
        time.sleep(0.5)
        redis_srv.start()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert statuses[503] > 0 and statuses[200] > 0, statuses
    counts = check_consistency(client, prefix, org)
    assert counts["User"] > 0 and counts["memberships"] > 0
    # After the restart writes go on where the snapshot left off.
    members = scim.get(f"/Groups/{group['id']}").get_json().get("members", [])
    assert len(members) == counts["memberships"]


def test_a_hung_redis_times_out_into_503_and_recovers(
    redis_srv: RedisServer, client: redis.Redis
) -> None:
    store = RedisStore(redis_srv.url, key_prefix=_prefix(), socket_timeout=0.3)
    org = f"org-{uuid.uuid4()}"
    kept = store.create(org, USER_TYPE, user_doc("kept"))
    late = user_doc("late")
    client.execute_command("CLIENT", "PAUSE", 3000, "ALL")  # Redis stops answering
    try:
        started = time.perf_counter()
        with pytest.raises(errors.Unavailable) as raised:
            store.get(org, USER_TYPE, kept["id"])
        assert raised.value.headers["Retry-After"] == "5"
        with pytest.raises(errors.Unavailable):
            store.create(org, USER_TYPE, late)
        assert time.perf_counter() - started < 2  # the timeout, not retried
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    assert store.get(org, USER_TYPE, kept["id"]) == kept
    # The timed-out create ran once Redis went on, whole: there, or not at all.
    found = store.query(org, USER_TYPE, Query(filter=parse_filter('userName eq "late"', USER_TYPE)))
    assert found.total in (0, 1)
    check_consistency(client, store.prefix, org)
    store.close()


# ================================================================ Redis Cluster


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass(eq=False)
class ClusterNode(RedisServer):
    def _argv(self) -> list[str]:
        return [*super()._argv(), "--cluster-enabled", "yes", "--cluster-config-file",
                "nodes.conf", "--cluster-node-timeout", "2000"]  # fmt: skip


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[list[ClusterNode]]:
    """Three real cluster-enabled redis-servers, their 16384 slots split among them."""
    import servers

    if shutil.which("redis-cli") is None:
        pytest.fail("redis-cli not found; run tests/install-debian-deps.sh")
    nodes: list[ClusterNode] = []
    try:
        for _ in range(3):
            tmp = servers._make_tempdir("redis-cluster-")
            proc = servers._Process(
                "redis-server", tmp / "redis.log", stop_signal=signal.SIGTERM, cwd=tmp
            )
            node = ClusterNode(host="127.0.0.1", port=_cluster_port(), dir=tmp, _proc=proc)
            node.start()
            nodes.append(node)
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        create = subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert create.returncode == 0, create.stdout[-2000:] + create.stderr[-2000:]
        deadline = time.monotonic() + 20
        with redis.Redis(port=nodes[0].port) as r:
            while b"cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
                assert time.monotonic() < deadline, "the cluster did not come up"
                time.sleep(0.1)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
            shutil.rmtree(node.dir, ignore_errors=True)


@pytest.mark.slow
def test_on_redis_cluster_every_operation_stays_in_one_slot(
    redis_cluster: list[ClusterNode],
) -> None:
    store = _build(
        {
            "url": f"redis://127.0.0.1:{redis_cluster[0].port}/0",
            "cluster": True,
            "key_prefix": _prefix(),
        }
    )
    used: set[int] = set()
    by_name = USER_TYPE.resolve("userName")
    for i in range(12):
        org = f"org-{uuid.uuid4()}"
        a = store.create(org, USER_TYPE, user_doc(f"a{i}", emails=[{"value": "a@x.org"}]))
        b = store.create(org, USER_TYPE, user_doc(f"b{i}", externalId="B"))
        group = store.create(org, GROUP_TYPE, group_doc("G", [a["id"]]))
        store.update(
            org,
            GROUP_TYPE,
            group["id"],
            lambda d: d,
            members=False,
            member_change=MemberChange(add=(Member(b["id"]),)),
        )
        assert [g["value"] for g in store.get(org, USER_TYPE, b["id"])["groups"]] == [group["id"]]
        for text, want in (('emails.value eq "a@x.org"', a), ('externalId eq "B"', b)):
            page = store.query(org, USER_TYPE, Query(filter=parse_filter(text, USER_TYPE)))
            assert [r["id"] for r in page.resources] == [want["id"]]
        page = store.query(org, USER_TYPE, Query(sort_by=by_name, descending=True, cursor=""))
        assert [r["id"] for r in page.resources] == [b["id"], a["id"]]
        page = store.query(org, USER_TYPE, Query(filter=parse_filter("title pr", USER_TYPE)))
        assert page.total == 0
        store.update(org, USER_TYPE, a["id"], lambda d: d, retain=True)
        assert [m["value"] for m in store.get(org, GROUP_TYPE, group["id"])["members"]] == [b["id"]]
        store.delete(org, USER_TYPE, b["id"])
        assert "members" not in store.get(org, GROUP_TYPE, group["id"])
        used.add(store.client.get_node_from_key(org_keys(store.prefix, org)[0]).port)
    assert len(used) > 1  # the organizations were spread over the nodes
    store.close()


# ================================================================ gunicorn, two workers
# The racing creates, the compliance tools and the token checks run on Redis in
# test_gunicorn.py; here, what only Redis can show: every index agrees afterwards.


@pytest.fixture(scope="module")
def live(redis_srv: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live-redis")
    config = _config(redis_srv.url, _prefix(), root)
    with live_server(config, root) as server:
        yield server


@pytest.mark.slow
def test_concurrent_member_adds_lose_nothing_and_groups_agree(
    live: Live, client: redis.Redis
) -> None:
    group, users = concurrent_member_adds(live)
    got = call("GET", f"{live.base}/Groups/{group['id']}", live.token).body
    assert {m["value"] for m in got["members"]} == {u["id"] for u in users}
    assert got["meta"]["version"] == 'W/"41"'  # every add was its own write
    for user in users:
        groups = call("GET", f"{live.base}/Users/{user['id']}", live.token).body["groups"]
        assert [g["value"] for g in groups] == [group["id"]]

    # Removes racing (repeated) adds of other members: the two sides still agree.
    def churn(i: int) -> Any:
        op = "remove" if i % 2 else "add"
        path = f'members[value eq "{users[i]["id"]}"]' if op == "remove" else "members"
        value = None if op == "remove" else [{"value": users[i]["id"]}]  # present: a no-op
        operation = {"op": op, "path": path, **({"value": value} if value else {})}
        return call(
            "PATCH",
            f"{live.base}/Groups/{group['id']}",
            live.token,
            {"schemas": [PATCH_OP], "Operations": [operation]},
        )

    assert {r.status for r in parallel(40, churn)} == {200}
    got = call("GET", f"{live.base}/Groups/{group['id']}", live.token).body
    assert {m["value"] for m in got["members"]} == {u["id"] for u in users[::2]}
    in_group = call(
        "GET", f'{live.base}/Users?filter=groups.value+eq+"{group["id"]}"&count=100', live.token
    ).body
    assert {u["id"] for u in in_group["Resources"]} == {u["id"] for u in users[::2]}
    check_consistency(client, live.config["store"]["redis"]["key_prefix"], live.org)


@pytest.mark.slow
def test_concurrent_renames_keep_names_unique(live: Live, client: redis.Redis) -> None:
    made = parallel(
        8,
        lambda i: (
            call(
                "POST", f"{live.base}/Users", live.token, {"schemas": [USER], "userName": f"r{i}"}
            ).body
        ),
    )

    def rename(i: int) -> Any:
        return call(
            "PATCH",
            f"{live.base}/Users/{made[i]['id']}",
            live.token,
            {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "userName", "value": "Wanted"}],
            },
        )

    assert Counter(r.status for r in parallel(8, rename)) == {200: 1, 409: 7}
    check_consistency(client, live.config["store"]["redis"]["key_prefix"], live.org)


@pytest.mark.slow
def test_the_store_stays_consistent_after_the_compliance_tools(
    live: Live, client: redis.Redis
) -> None:
    assert_scim2_tester_passes(live)
    assert_scim_sanity_passes(live)
    check_consistency(client, live.config["store"]["redis"]["key_prefix"], live.org)
