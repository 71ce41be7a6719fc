"""The Redis store: SCIM resources in Redis through redis-py (Redis 7 or later).

Layout. Every key of an organization has the organization as its Redis Cluster
hash tag, ``<key_prefix>{<org>}:...``, and there is a fixed set of them per
organization (``keys.NAMES``; the scripts' docstring lists what each holds):
documents in a hash, creation order in sorted sets scored by a per-organization
sequence, the unique lowered names in a hash, and lexicographic sorted sets for
name ranges, secondary values (``externalId``, User ``displayName``,
``emails.value``) and memberships in both directions.

Atomicity. Every operation is one Lua script call (``scripts.py``), atomic in
Redis. A write reads the current record, runs ``mutate`` in Python, then hands
the result to the write script with the version it read: the script checks the
version (compare-and-set), existence and uniqueness before writing anything,
then writes the document, every index and the memberships both ways together.
On a version conflict the store reads again and re-runs ``mutate`` (so under
contention ``mutate``, and the before-write hooks in it, may run more than
once; what is written is always the result of one run on the current record).
Member edits run inside the script, so concurrent adds all land.

Cost per operation (N resources of the type in the organization, M matches, P
the page size, G a resource's groups or a group's members):

* create, get, update, delete: O(log N + G) in Redis, one script call for get
  and create, two (read, then compare-and-set) for update and delete.
* list without filter, in creation order: O(log N + P·G), by rank or keyset.
* list sorted by ``userName`` (Groups: ``displayName``), with no filter or a
  filter that is a range of the name (``eq``, ``sw``, ``gt``, ``ge``, ``lt``,
  ``le``, ``pr``): O(log N + P·G).
* the same name ranges in creation order: O(M log M) inside Redis, documents
  only for the page.
* a filter with an indexed ``eq`` (``id``, the name, ``externalId``, User
  ``displayName``, ``emails.value``, Group ``members.value``, User
  ``groups.value``) in a top-level ``and``, or ``or``s of them: O(M) documents,
  each checked by the reference evaluator, then sorted and paged.
* anything else (``co``, ``ew``, ``ne``, ``not``, dates, other attributes, other
  sorts, retained records with a name range): the reference evaluator over the
  whole collection, read in chunks of ``scan_chunk``: O(N) documents. Above
  ``max_scan`` candidates the request fails with 400 ``tooMany`` instead.

Unavailable Redis (refused, timed out, loading, read-only replica, cluster
down, out of memory) raises ``errors.Unavailable`` (503 with Retry-After); a
script either ran whole or not at all, and the connection pool reconnects by
itself once Redis answers again.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from scimserver.protocol import errors
from scimserver.protocol.cursor import (
    decode_cursor,
    encode_cursor,
    key_from_json,
    key_to_json,
)
from scimserver.protocol.etag import etag_matches, weak_etag
from scimserver.protocol.evaluate import sort_key
from scimserver.protocol.schema import ResourceType
from scimserver.protocol.validate import now
from scimserver.scan import evaluated_page
from scimserver.store import Capabilities, MemberChange, Mutation, Page, Query, Resource

from . import plan
from .keys import TYPE_CODE, TYPE_NAME, entry, org_keys
from .scripts import READ, WRITE

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Replies meaning "Redis cannot serve this now", not "this request is wrong".
TRANSIENT = (
    OutOfMemoryError,
    ReadOnlyError,  # a replica, e.g. during a failover
    TryAgainError,
    ClusterDownError,
    MasterDownError,
    ClusterError,
    RedisClusterException,
)
TRANSIENT_REPLIES = ("BUSY", "MISCONF", "NOREPLICAS", "LOADING", "OOM", "READONLY", "CLUSTERDOWN")
Doc = tuple[int, Resource]  # (seq, document)
# redis-py connection options passed through as they are (and every ssl_* one).
PASSTHROUGH = frozenset({"username", "password", "client_name", "db"})


def _guard(fn: Callable[P, T]) -> Callable[P, T]:
    """Redis failures become 503 Unavailable, with Retry-After."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, *TRANSIENT) as exc:
            failure: Exception = exc
        except ResponseError as exc:
            if not str(exc).startswith(TRANSIENT_REPLIES):
                raise
            failure = exc
        log.warning("Redis store unavailable: %s: %s", type(failure).__name__, failure)
        raise args[0]._unavailable() from failure  # type: ignore[attr-defined]

    return wrapper


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _relations(rtype: str, doc: Resource, flat: list[Any]) -> None:
    """Fill in a User's ``groups`` or a Group's ``members`` from a script's list."""
    doc.pop("groups", None)
    doc.pop("members", None)
    if not flat:
        return
    pairs = zip(flat[0::2], flat[1::2], strict=True)
    if rtype == "User":
        doc["groups"] = [
            {"value": _text(gid), "display": None if d is None else _text(d), "type": "direct"}
            for gid, d in pairs
        ]
    else:
        doc["members"] = [{"value": _text(mid), "type": TYPE_NAME[_text(t)]} for mid, t in pairs]


def _envelope(raw: bytes) -> tuple[int, int, str, Resource]:
    seq, version, retained, data = raw.split(b"\t", 3)
    doc = json.loads(data)
    retained_at = retained.decode()
    if retained_at:
        doc["meta"]["retained"] = retained_at
    return int(seq), int(version), retained_at, doc


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _seq_of(position: dict[str, Any]) -> int:
    seq = position.get("s")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise errors.InvalidCursor("The cursor's position is malformed.")
    return seq


class RedisStore:
    """A Store on one Redis server (or, with ``cluster = true``, a Redis Cluster)."""

    capabilities = Capabilities(cursor=True, sort=True)

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "scim:",
        connect_timeout: float = 2.0,
        socket_timeout: float = 5.0,
        max_connections: int = 50,
        health_check_interval: float = 30.0,
        retry_after: int = 5,
        write_timeout: float = 10.0,
        max_scan: int = 100_000,
        scan_chunk: int = 1000,
        cluster: bool = False,
        **options: Any,
    ) -> None:
        if "{" in key_prefix or "}" in key_prefix:
            raise ValueError("key_prefix must not contain '{' or '}'.")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("url must be a redis://, rediss:// or unix:// URL.")
        unknown = sorted(k for k in options if not k.startswith("ssl_") and k not in PASSTHROUGH)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}.")
        self.prefix = key_prefix
        self.retry_after = int(retry_after)
        self.write_timeout = float(write_timeout)
        self.max_scan = int(max_scan)
        self.scan_chunk = max(1, int(scan_chunk))
        common: dict[str, Any] = {
            "socket_connect_timeout": float(connect_timeout),
            "socket_timeout": float(socket_timeout),
            # One immediate retry covers a pooled connection Redis dropped (a
            # restart); a real outage still fails at once, and a timeout is not
            # retried. Writes are safe to repeat: a repeated create finds its own
            # record, a repeated update a newer version and reads again.
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            **options,
        }
        self._pool: Any = None
        if cluster:
            from redis.cluster import RedisCluster

            self.client: Any = RedisCluster.from_url(url, **common)
        else:
            # A blocking pool: a burst of threads waits for a connection instead
            # of failing with "too many connections".
            self._pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=int(max_connections),
                timeout=float(socket_timeout),
                health_check_interval=float(health_check_interval),
                **common,
            )
            self.client = redis.Redis(connection_pool=self._pool)
        self._read = self.client.register_script(READ)
        self._write = self.client.register_script(WRITE)

    def close(self) -> None:
        self.client.close()
        if self._pool is not None:
            self._pool.disconnect()

    def _unavailable(self, detail: str = "The Redis store is unavailable; retry later.") -> Any:
        return errors.Unavailable(detail, retry_after=self.retry_after)

    # -- script calls ---------------------------------------------------------------

    def _call(self, script: Any, org: str, op: str, payload: dict, *raw: bytes | str) -> Any:
        return script(keys=org_keys(self.prefix, org), args=[op, _dumps(payload), *raw])

    def _doc(self, rtype: str, row: list[Any]) -> Doc:
        """A script's ``{id, envelope, relations}`` as (seq, document)."""
        _, raw, flat = row
        seq, _, _, doc = _envelope(raw)
        _relations(rtype, doc, flat)
        return seq, doc

    def _read_one(
        self, org: str, rtype: ResourceType, id: str, members: bool
    ) -> tuple[int, int, str, Resource] | None:
        wanted = members or rtype.name == "User"  # a User's groups are always shown
        row = self._call(
            self._read, org, "get", {"t": TYPE_CODE[rtype.name], "id": id, "m": wanted}
        )
        if not row:
            return None
        seq, version, retained_at, doc = _envelope(row[1])
        _relations(rtype.name, doc, row[2])
        return seq, version, retained_at, doc

    def _not_found(self, rtype: ResourceType, id: str) -> errors.NotFound:
        return errors.NotFound(f"{rtype.name} {id!r} not found.")

    def _taken(self, rtype: ResourceType, doc: Resource) -> errors.Uniqueness:
        name = plan.NAME[rtype.name]
        return errors.Uniqueness(f"{rtype.name} {name} {doc.get(name)!r} is already taken.")

    def _backoff(self, attempt: int, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise self._unavailable("The resource is too busy to update; retry later.")
        time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))

    # -- the Store contract -----------------------------------------------------

    @_guard
    def create(self, org: str, rtype: ResourceType, resource: Resource) -> Resource:
        doc = copy.deepcopy(resource)
        wanted = doc.pop("members", None) or []
        doc.pop("groups", None)
        doc["meta"].pop("retained", None)
        doc["meta"]["version"] = weak_etag(1)
        key, ix = plan.index_entries(rtype.name, doc)
        payload: dict[str, Any] = {"t": TYPE_CODE[rtype.name], "id": doc["id"], "ix": ix}
        if key is not None:
            payload.update(u=key, n=entry(key))
        if rtype.name == "Group":
            payload["add"] = _member_ids(wanted)
            if isinstance(doc.get("displayName"), str):
                payload["d"] = doc["displayName"]
        data = _dumps(doc)
        reply = self._call(self._write, org, "create", payload, data)
        status = _text(reply[0])
        if status == "taken":
            raise self._taken(rtype, doc)
        if status == "exists":
            # A retried call whose first attempt landed finds its own record.
            found = self._read_one(org, rtype, doc["id"], True)
            if found is not None and found[1] == 1 and _same(found[3], doc):
                return found[3]
            raise errors.Conflict(f"{rtype.name} id {doc['id']!r} already exists.")
        _relations(rtype.name, doc, reply[2])
        return doc

    @_guard
    def get(
        self,
        org: str,
        rtype: ResourceType,
        id: str,
        *,
        members: bool = True,
        retained: bool = False,
    ) -> Resource:
        found = self._read_one(org, rtype, id, members)
        if found is None or (found[2] and not retained):
            raise self._not_found(rtype, id)
        return found[3]

    @_guard
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
        deadline = time.monotonic() + self.write_timeout
        is_group = rtype.name == "Group"
        attempt = 0
        while True:
            found = self._read_one(org, rtype, id, members)
            if found is None or (found[2] and retain is not False):
                raise self._not_found(rtype, id)
            _, version, _, current = found
            if if_match is not None and not etag_matches(if_match, weak_etag(version)):
                raise errors.PreconditionFailed()
            old_key, old_ix = plan.index_entries(rtype.name, current)
            doc = mutate(copy.deepcopy(current))
            wanted = doc.pop("members", None) if is_group else None
            doc.pop("groups", None)
            doc["meta"]["version"] = weak_etag(version + 1)
            doc["meta"].pop("retained", None)  # kept beside the document, not in it
            key, ix = plan.index_entries(rtype.name, doc)
            payload: dict[str, Any] = {
                "t": TYPE_CODE[rtype.name],
                "id": id,
                "v": version,
                "ix": ix,
                "oix": old_ix,
                "m": members or not is_group,
                "r": {True: "set", False: "clear", None: "keep"}[retain],
                "at": now(),
            }
            if key is not None:
                payload.update(u=key, n=entry(key))
            if old_key is not None:
                payload.update(ou=old_key, on=entry(old_key))
            if is_group:
                if isinstance(doc.get("displayName"), str):
                    payload["d"] = doc["displayName"]
                if members:
                    payload["set"] = _member_ids(wanted or [])
                if member_change is not None and not member_change.empty:
                    if member_change.replace is not None:
                        payload["rep"] = [m.value for m in member_change.replace]
                    payload["rem"] = sorted(member_change.remove)
                    payload["add"] = [m.value for m in member_change.add]
            reply = self._call(self._write, org, "update", payload, _dumps(doc))
            status = _text(reply[0])
            if status == "ok":
                retained_at = _text(reply[3])
                if retained_at:
                    doc["meta"]["retained"] = retained_at
                _relations(rtype.name, doc, reply[4])
                if is_group and not members:
                    doc.pop("members", None)
                return doc
            if status == "notfound":
                raise self._not_found(rtype, id)
            if status == "taken":
                raise self._taken(rtype, doc)
            attempt += 1  # "conflict": someone wrote in between; read again
            self._backoff(attempt, deadline)

    @_guard
    def delete(
        self, org: str, rtype: ResourceType, id: str, *, if_match: str | None = None
    ) -> None:
        deadline = time.monotonic() + self.write_timeout
        attempt = 0
        code = TYPE_CODE[rtype.name]
        while True:
            raw = self._call(self._read, org, "head", {"t": code, "id": id})
            if raw is None:
                raise self._not_found(rtype, id)
            _, version, _, doc = _envelope(raw)
            if if_match is not None and not etag_matches(if_match, weak_etag(version)):
                raise errors.PreconditionFailed()
            key, ix = plan.index_entries(rtype.name, doc)
            payload: dict[str, Any] = {"t": code, "id": id, "v": version, "ix": ix}
            if key is not None:
                payload.update(u=key, n=entry(key))
            status = _text(self._call(self._write, org, "delete", payload)[0])
            if status == "ok":
                return
            if status == "notfound":
                raise self._not_found(rtype, id)
            attempt += 1
            self._backoff(attempt, deadline)

    # -- queries --------------------------------------------------------------------

    @_guard
    def query(self, org: str, rtype: ResourceType, query: Query) -> Page:
        flt, sort_by = query.filter, query.sort_by
        by_name = sort_by is not None and plan.is_name(rtype.name, sort_by)
        if query.retained == "exclude" and (sort_by is None or by_name):
            span = plan.lex_range(rtype.name, flt)
            if span is not None:
                if flt is None and sort_by is None:
                    return self._by_seq(org, rtype, query)
                if sort_by is None:
                    return self._name_range_by_seq(org, rtype, query, span)
                return self._by_name(org, rtype, query, span)
        if flt is None and sort_by is None:
            return self._by_seq(org, rtype, query)
        relation = "groups" if rtype.name == "User" else "members"
        shown = rtype.name == "User" or query.members  # relations the answer carries
        needed = plan.mentions(flt, relation) or (  # relations evaluating or sorting reads
            sort_by is not None and sort_by.attribute.name == relation
        )
        lookups = None
        if flt is not None:
            lookups = plan.lookups(rtype.name, flt, names=query.retained == "exclude")
        if lookups is not None:  # few documents: their relations come along
            docs = self._candidates(org, rtype, lookups, shown or needed)
            return self._evaluate(query, docs)
        # A scan reads relations only if the filter or sort needs them; the page's
        # own follow in a second call.
        page = self._evaluate(query, self._scan(org, rtype, query.retained, needed))
        if shown and not needed and page.resources:
            ids = [doc["id"] for doc in page.resources]
            payload = {"t": TYPE_CODE[rtype.name], "ids": ids}
            for doc, flat in zip(
                page.resources, self._call(self._read, org, "rels", payload), strict=True
            ):
                _relations(rtype.name, doc, flat)
        return page

    def _toomany(self, n: int) -> errors.TooMany:
        return errors.TooMany(
            f"Answering this filter means examining {n} or more resources, more than the "
            f"{self.max_scan} this server examines; narrow it with an indexed attribute "
            "(eq on userName, externalId, emails.value, displayName, id, members.value)."
        )

    def _page_reply(self, rtype: ResourceType, reply: list[Any]) -> tuple[int, list[Doc], bool]:
        """(total, documents, whether more follow) from a paging script call."""
        if _text(reply[0]) == "toomany":
            raise self._toomany(int(reply[1]))
        more = len(reply) > 3 and int(reply[3]) == 1
        return int(reply[1]), [self._doc(rtype.name, row) for row in reply[2]], more

    def _paged(
        self,
        query: Query,
        reply: tuple[int, list[Doc], bool],
        key: Callable[[Resource], tuple[Any, ...]],
    ) -> Page:
        """A page from a paging script call; with a cursor, the next one's position."""
        total, docs, more = reply
        if query.count == 0:
            return Page([], total)
        next_cursor = None
        if query.cursor is not None and more and docs:
            seq, last = docs[-1]
            next_cursor = encode_cursor({"k": key_to_json(key(last)), "s": seq})
        return Page([doc for _, doc in docs], total, next_cursor)

    def _after_seq(self, query: Query) -> int | None:
        """The seq a keyset page starts after (None: from the start), for creation order."""
        if not query.cursor:
            return None
        position = decode_cursor(query.cursor, ("k", "s"))
        if position["k"] != []:
            raise errors.InvalidCursor("The cursor does not belong to this query.")
        return _seq_of(position)

    def _by_seq(self, org: str, rtype: ResourceType, query: Query) -> Page:
        """No filter, creation order: one sorted set, by rank or after a seq."""
        zset = {"exclude": "live", "include": "all", "only": "ret"}[query.retained]
        payload: dict[str, Any] = {
            "t": TYPE_CODE[rtype.name],
            "m": query.members or rtype.name == "User",
            "z": zset,
            "rev": query.descending,
        }
        if query.cursor is None:
            payload.update(mode="rank", a=_offset(query), n=query.count)
        else:
            payload.update(mode="after", n=query.count)
            after = self._after_seq(query)
            if after is not None:
                payload["s"] = after
        reply = self._page_reply(rtype, self._call(self._read, org, "range", payload))
        return self._paged(query, reply, lambda _: ())

    def _name_range_by_seq(
        self, org: str, rtype: ResourceType, query: Query, span: plan.Range
    ) -> Page:
        low, high = span.redis()
        payload: dict[str, Any] = {
            "t": TYPE_CODE[rtype.name],
            "m": query.members or rtype.name == "User",
            "rev": query.descending,
            "max": self.max_scan,
        }
        if query.cursor is None:
            payload.update(mode="rank", a=_offset(query), n=query.count)
        else:
            payload.update(mode="after", n=query.count)
            after = self._after_seq(query)
            if after is not None:
                payload["s"] = after
        reply = self._page_reply(rtype, self._call(self._read, org, "lexseq", payload, low, high))
        return self._paged(query, reply, lambda _: ())

    def _by_name(self, org: str, rtype: ResourceType, query: Query, span: plan.Range) -> Page:
        """Sorted by the name: the name index, by rank or after a name."""
        assert query.sort_by is not None
        sort_by, descending = query.sort_by, query.descending
        low, high = span.redis()
        payload: dict[str, Any] = {
            "t": TYPE_CODE[rtype.name],
            "m": query.members or rtype.name == "User",
            "rev": descending,
        }
        raw: list[bytes] = [low, high]
        if query.cursor is None:
            payload.update(mode="rank", a=_offset(query), n=query.count)
        else:
            payload.update(mode="after", n=query.count)
            narrowed = span
            if query.cursor:
                position = decode_cursor(query.cursor, ("k", "s"))
                _seq_of(position)
                key = key_from_json(position["k"])
                if len(key) != 2 or not isinstance(key[1], str):
                    raise errors.InvalidCursor("The cursor does not belong to this query.")
                if descending:
                    narrowed = span.narrow(plan.Range(None, plan.before_name(key[1])))
                else:
                    narrowed = span.narrow(plan.Range(plan.after_name(key[1])))
            raw += list(narrowed.redis())
        reply = self._page_reply(rtype, self._call(self._read, org, "lex", payload, *raw))
        return self._paged(query, reply, lambda d: sort_key(d, sort_by, descending=descending))

    def _candidates(
        self, org: str, rtype: ResourceType, lookups: list[plan.Lookup], want: bool
    ) -> list[Doc]:
        """The documents the index lookups name, in creation order."""
        specs: list[list[Any]] = []
        raw: list[bytes] = []
        for lookup in lookups:
            if lookup[0] == "lex":
                # Bounds are bytes JSON cannot carry: pass them as ARGV 3, 4, ...
                specs.append(["lex", 3 + len(raw), 4 + len(raw)])
                raw += [lookup[1], lookup[2]]  # type: ignore[list-item]
            else:
                specs.append(list(lookup))
        payload = {"t": TYPE_CODE[rtype.name], "m": want, "l": specs, "max": self.max_scan}
        _, docs, _ = self._page_reply(rtype, self._call(self._read, org, "ids", payload, *raw))
        docs.sort(key=lambda item: item[0])
        return docs

    def _scan(self, org: str, rtype: ResourceType, retained: str, want: bool) -> list[Doc]:
        """Every document of the type, in creation order, read a chunk at a time."""
        zset = {"exclude": "live", "include": "all", "only": "ret"}[retained]
        out: list[Doc] = []
        payload: dict[str, Any] = {
            "t": TYPE_CODE[rtype.name],
            "m": want,
            "z": zset,
            "rev": False,
            "mode": "after",
            "n": self.scan_chunk,
        }
        while True:
            total, docs, more = self._page_reply(
                rtype, self._call(self._read, org, "range", payload)
            )
            if total > self.max_scan:
                raise self._toomany(total)
            out += docs
            if not more:
                return out
            payload["s"] = docs[-1][0]

    def _evaluate(self, query: Query, docs: list[Doc]) -> Page:
        """The reference evaluator, sort and paging over documents in creation order."""
        kept = ((seq, doc) for seq, doc in docs if _retained_ok(doc, query.retained))
        return evaluated_page(kept, query, query.filter)


def _offset(query: Query) -> int:
    """The 0-based start of an index page, clamped to what Redis and Lua count exactly
    (startIndex has no upper bound; past the end is an empty page)."""
    return min(query.start_index - 1, 2**53)


def _retained_ok(doc: Resource, retained: str) -> bool:
    held = "retained" in doc["meta"]
    return retained == "include" or held == (retained == "only")


def _member_ids(wanted: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for member in wanted:
        value = member.get("value") if isinstance(member, dict) else None
        if isinstance(value, str):
            out.append(value)
    return list(dict.fromkeys(out))


def _same(stored: Resource, doc: Resource) -> bool:
    strip = {"members", "groups"}
    return {k: v for k, v in stored.items() if k not in strip} == {
        k: v for k, v in doc.items() if k not in strip
    }
