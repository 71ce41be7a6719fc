"""``POST /Bulk`` (RFC 7644 §3.7).

Each operation is an ordinary write, atomic on its own. ``bulkId:`` references
in paths and data are resolved to the ids created earlier in the request; an
operation whose reference is created by a later one waits for it (a group
listing users created after it), and references that can never resolve —
unknown or circular — fail with 409.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask import Response, g

from .. import jsontext
from ..app import server
from ..protocol import errors
from ..protocol.schema import ResourceType
from .http import base_url, read_json, scim_response

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = ("POST", "PUT", "PATCH", "DELETE")
PREFIX = "bulkId:"


@dataclass
class _Op:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any
    refs: set[str] = field(default_factory=set)


def _refs(value: Any) -> set[str]:
    """Every ``bulkId:x`` named anywhere in ``value``."""
    text = json.dumps(value) if not isinstance(value, str) else value
    found: set[str] = set()
    start = text.find(PREFIX)
    while start != -1:
        end = start + len(PREFIX)
        while end < len(text) and (text[end].isalnum() or text[end] in "-_.~"):
            end += 1
        found.add(text[start + len(PREFIX) : end])
        start = text.find(PREFIX, end)
    return found


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for bulk_id in _refs(value):
            value = value.replace(PREFIX + bulk_id, ids[bulk_id])
        return value
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    return value


def _parse(body: Any, max_operations: int) -> tuple[list[_Op], int | None]:
    if not isinstance(body, dict):
        raise errors.InvalidSyntax("A BulkRequest must be a JSON object.")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise errors.InvalidSyntax("A BulkRequest needs a non-empty 'Operations' list.")
    if len(operations) > max_operations:
        raise errors.PayloadTooLarge(
            f"{len(operations)} operations exceed maxOperations ({max_operations})."
        )
    fail_on = body.get("failOnErrors")
    if fail_on is not None and (
        not isinstance(fail_on, int) or isinstance(fail_on, bool) or fail_on < 1
    ):
        raise errors.InvalidValue("failOnErrors must be a positive integer.")
    ops: list[_Op] = []
    seen_ids: set[str] = set()
    # Most imports reference nothing: then no operation needs searching.
    referencing = PREFIX.encode() in jsontext.dumps(operations)
    for index, raw in enumerate(operations):
        if not isinstance(raw, dict):
            raise errors.InvalidSyntax(f"Operations[{index}] must be an object.")
        method = str(raw.get("method", "")).upper()
        path = raw.get("path")
        bulk_id = raw.get("bulkId")
        if method not in METHODS:
            raise errors.InvalidSyntax(f"Operations[{index}]: method must be one of {METHODS}.")
        if not isinstance(path, str) or not path.startswith("/"):
            raise errors.InvalidSyntax(f"Operations[{index}]: 'path' must start with '/'.")
        if method == "POST" and not isinstance(bulk_id, str):
            raise errors.InvalidSyntax(f"Operations[{index}]: a POST needs a 'bulkId'.")
        if bulk_id is not None:
            if not isinstance(bulk_id, str) or not bulk_id or bulk_id in seen_ids:
                raise errors.InvalidSyntax(f"Operations[{index}]: bulkId must be unique.")
            seen_ids.add(bulk_id)
        data = raw.get("data")
        op = _Op(index, method, path, bulk_id, raw.get("version"), data)
        if referencing:
            op.refs = _refs(path) | (_refs(data) if data is not None else set())
        ops.append(op)
    return ops, fail_on


def _target(path: str) -> tuple[ResourceType, str | None]:
    endpoint, _, rest = path.strip("/").partition("/")
    rtype = server().registry.by_endpoint.get(endpoint.lower())
    if rtype is None or "/" in rest:
        raise errors.InvalidPath(f"Unknown bulk path {path!r}.")
    return rtype, rest or None


def _run(op: _Op) -> tuple[int, dict[str, Any] | None]:
    rtype, id = _target(op.path)
    resources, caller = server().resources, g.caller
    if op.method == "POST":
        if id is not None:
            raise errors.InvalidPath("POST goes to a resource type's endpoint.")
        return 201, resources.create(caller, rtype, op.data)
    if id is None:
        raise errors.InvalidPath(f"{op.method} needs a resource id in its path.")
    if op.method == "DELETE":
        resources.delete(caller, rtype, id, if_match=op.version)
        return 204, None
    if not isinstance(op.data, dict):
        raise errors.InvalidSyntax(f"{op.method} needs 'data' as an object.")
    if op.method == "PUT":
        return 200, resources.replace(
            caller, rtype, id, op.data, if_match=op.version, members=False
        )
    return 200, resources.patch(caller, rtype, id, op.data, if_match=op.version, members=False)


Outcome = tuple[int, dict[str, Any] | None] | errors.ScimError


def _batches(ops: list[_Op], *, together: bool) -> list[list[_Op]]:
    """Runs of consecutive POSTs to one path (when ``together``), else one op each."""
    batches: list[list[_Op]] = []
    for op in ops:
        last = batches[-1][-1] if batches else None
        if together and last and op.method == last.method == "POST" and op.path == last.path:
            batches[-1].append(op)
        else:
            batches.append([op])
    return batches


def _run_batch(batch: list[_Op]) -> list[Outcome]:
    if len(batch) == 1:
        try:
            return [_run(batch[0])]
        except errors.ScimError as error:
            return [error]
    try:
        rtype, id = _target(batch[0].path)
        if id is not None:
            raise errors.InvalidPath("POST goes to a resource type's endpoint.")
        created = server().resources.create_many(g.caller, rtype, [op.data for op in batch])
    except errors.ScimError as error:  # e.g. the store went away: earlier results stand
        return [error] * len(batch)
    return [(201, doc) if isinstance(doc, dict) else doc for doc in created]


def bulk() -> Response:
    conf = server().config.get("server", {})
    ops, fail_on = _parse(read_json(), int(conf.get("bulk_max_operations", 1000)))
    base = base_url()
    ids: dict[str, str] = {}
    results: dict[int, dict[str, Any]] = {}
    errors_seen = 0
    pending = ops
    while pending:
        ready = [op for op in pending if op.refs <= ids.keys()]
        blocked = [op for op in pending if not op.refs <= ids.keys()]
        if not ready:  # unknown, failed or circular references: nothing can progress
            for op in blocked:
                missing = sorted(op.refs - ids.keys())
                error = errors.Conflict(f"bulkId {missing[0]!r} was not created in this request.")
                results[op.index] = _failure(op, error)
                errors_seen += 1
            break
        # Without failOnErrors, consecutive creates of one type go to the store
        # together; with it, one at a time, so nothing runs past the last error allowed.
        for batch in _batches(ready, together=fail_on is None):
            if fail_on is not None and errors_seen >= fail_on:
                break
            for op in batch:
                if op.refs:
                    op.path = _substitute(op.path, ids)
                    op.data = _substitute(op.data, ids)
            for op, outcome in zip(batch, _run_batch(batch), strict=True):
                if isinstance(outcome, errors.ScimError):
                    results[op.index] = _failure(op, outcome)
                    errors_seen += 1
                    continue
                status, doc = outcome
                result: dict[str, Any] = {"method": op.method, "status": str(status)}
                if op.bulk_id:
                    result["bulkId"] = op.bulk_id
                if doc is not None:
                    rtype, _ = _target(op.path)
                    location = f"{base}{rtype.endpoint}/{doc['id']}"
                    result.update(location=location, version=doc["meta"]["version"])
                    if op.method == "POST" and op.bulk_id:
                        ids[op.bulk_id] = doc["id"]
                results[op.index] = result
        if fail_on is not None and errors_seen >= fail_on:
            break
        pending = blocked
    return scim_response(
        {"schemas": [BULK_RESPONSE], "Operations": [results[i] for i in sorted(results)]}
    )


def _failure(op: _Op, error: errors.ScimError) -> dict[str, Any]:
    out: dict[str, Any] = {
        "method": op.method,
        "status": str(error.status),
        "response": error.to_scim(),
    }
    if op.bulk_id:
        out["bulkId"] = op.bulk_id
    return out
