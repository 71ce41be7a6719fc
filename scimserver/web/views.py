"""The resource endpoints: ``/Users``, ``/Groups`` and whatever else is registered."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Response, g, request

from ..app import server
from ..protocol import errors
from ..protocol.etag import etag_matches
from ..protocol.filter import parse_filter
from ..protocol.projection import Projection, parse_projection, project
from ..protocol.schema import ResourceType
from ..resources import Caller
from ..store import Page, Query, Resource
from .http import LIST_RESPONSE, base_url, empty_response, read_json, scim_response

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def _caller() -> Caller:
    return g.caller


def _projection(rtype: ResourceType, source: Any = None) -> Projection:
    source = request.args if source is None else source
    return parse_projection(rtype, source.get("attributes"), source.get("excludedAttributes"))


def render(doc: Resource, rtype: ResourceType, projection: Projection, base: str) -> Resource:
    """A stored document as a client sees it: absolute URLs, then the projection."""
    doc["meta"]["location"] = f"{base}{rtype.endpoint}/{doc['id']}"
    for member in doc.get("members") or ():
        member["$ref"] = f"{base}/{member.get('type', 'User')}s/{member['value']}"
    for group in doc.get("groups") or ():
        group["$ref"] = f"{base}/Groups/{group['value']}"
    return project(doc, rtype, projection)


def _one(doc: Resource, rtype: ResourceType, status: int = 200) -> Response:
    g.scim_resource = doc
    base = base_url()
    body = render(doc, rtype, _projection(rtype), base)
    headers = {"ETag": doc["meta"]["version"]}
    if status == 201:
        headers["Location"] = doc["meta"]["location"]
    return scim_response(body, status, headers)


MAX_ID = 255  # ids are server-made (UUIDs); a longer one names nothing
INT_TEXT = re.compile(r"-?[0-9]{1,400}")
# Beyond any real collection; keeps OFFSET inside every database's 64-bit range.
MAX_START_INDEX = 2**62
SEARCH_FIELDS = frozenset(
    {
        "schemas",
        "attributes",
        "excludedAttributes",
        "filter",
        "sortBy",
        "sortOrder",
        "startIndex",
        "count",
        "cursor",
    }
)


def _int_param(source: Any, name: str, default: int) -> int:
    """An integer parameter: a JSON integer in a body, ASCII digits in a query string."""
    raw = source.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and INT_TEXT.fullmatch(raw):
        return int(raw)
    raise errors.InvalidValue(f"{name} must be an integer, got {str(raw)[:40]!r}.")


def parse_query(rtype: ResourceType, source: Any, projection: Projection) -> Query:
    """A list or search request's parameters, validated (RFC 7644 §3.4.2, RFC 9865)."""
    conf = server().config.get("server", {})
    max_results = int(conf.get("max_results", 1000))
    filter_text = source.get("filter")
    if filter_text is not None and not isinstance(filter_text, str):
        raise errors.InvalidFilter("filter must be a string.")
    sort_by = None
    if source.get("sortBy"):
        sort_by = rtype.resolve_path(str(source["sortBy"]))
        if sort_by is None or sort_by.target.is_complex:
            # A complex attribute sorts only through a sub-attribute (RFC 7644 §3.4.2.3).
            raise errors.InvalidValue(f"Cannot sort by {str(source['sortBy'])[:80]!r}.")
    order = str(source.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise errors.InvalidValue("sortOrder must be 'ascending' or 'descending'.")
    cursor = source.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise errors.InvalidCursor("cursor must be a string.")
    count = _int_param(source, "count", int(conf.get("default_count", 100)))
    return Query(
        filter=parse_filter(filter_text, rtype) if filter_text else None,
        sort_by=sort_by,
        descending=order == "descending",
        start_index=min(max(1, _int_param(source, "startIndex", 1)), MAX_START_INDEX),
        count=min(max(0, count), max_results),
        cursor=cursor,
        members=projection.wants((None, "members")),
    )


def _list_body(
    pages: list[tuple[ResourceType, Page]], query: Query, projections: dict[str, Projection]
) -> dict[str, Any]:
    base = base_url()
    resources = [
        render(doc, rtype, projections[rtype.name], base)
        for rtype, page in pages
        for doc in page.resources
    ]
    body: dict[str, Any] = {
        "schemas": [LIST_RESPONSE],
        "totalResults": sum(page.total for _, page in pages),
        "itemsPerPage": len(resources),
    }
    if query.cursor is None:
        body["startIndex"] = query.start_index
    else:
        next_cursor = next((p.next_cursor for _, p in pages if p.next_cursor), None)
        if next_cursor:
            body["nextCursor"] = next_cursor
    body["Resources"] = resources
    return body


def _check_query_encoding() -> None:
    """Werkzeug leaves percent-escapes that are not UTF-8 undecoded; a filter built
    from them would quietly match nothing instead of failing."""
    text = request.args.get("filter", "")
    if "%" in text or "\ufffd" in text:
        try:
            unquote_to_bytes(request.query_string.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidFilter("The filter is not UTF-8.") from None


def list_resources(rtype: ResourceType) -> Response:
    _check_query_encoding()
    projection = _projection(rtype)
    query = parse_query(rtype, request.args, projection)
    page = server().resources.query(_caller(), rtype, query)
    return scim_response(_list_body([(rtype, page)], query, {rtype.name: projection}))


def search(rtype: ResourceType | None = None) -> Response:
    """POST .search (RFC 7644 §3.4.3), per resource type or across all of them."""
    body = read_json()
    if not isinstance(body, dict):
        raise errors.InvalidSyntax("A SearchRequest must be a JSON object.")
    source = _search_source(body)
    if rtype is not None:
        projection = _projection(rtype, source)
        query = parse_query(rtype, source, projection)
        page = server().resources.query(_caller(), rtype, query)
        return scim_response(_list_body([(rtype, page)], query, {rtype.name: projection}))
    return _root_search(source)


def _search_source(body: dict[str, Any]) -> dict[str, Any]:
    """A SearchRequest's members, checked (RFC 7644 §3.4.3): a misspelt member must not
    silently widen the search to everything."""
    unknown = sorted(set(body) - SEARCH_FIELDS)
    if unknown:
        raise errors.InvalidSyntax(f"Unknown SearchRequest member {unknown[0][:40]!r}.")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_REQUEST not in schemas):
        raise errors.InvalidSyntax(f"A SearchRequest's schemas must list {SEARCH_REQUEST}.")
    source = dict(body)
    for key in ("attributes", "excludedAttributes"):
        value = body.get(key)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise errors.InvalidValue(f"{key} must be a list of attribute names.")
        source[key] = ",".join(value)
    if body.get("filter") is not None and not isinstance(body["filter"], str):
        raise errors.InvalidFilter("filter must be a string.")
    for key in ("sortBy", "sortOrder"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise errors.InvalidValue(f"{key} must be a string.")
    return source


def _root_search(source: dict[str, Any]) -> Response:
    """Across resource types, one index-paged list: the types follow each other in
    registry order, and a type whose schema lacks a filtered attribute matches nothing."""
    if source.get("cursor") is not None:
        raise errors.InvalidValue("Cursor pagination is per resource type; use its .search.")
    queries: list[tuple[ResourceType, Query]] = []
    projections: dict[str, Projection] = {}
    for each in server().registry.resource_types.values():
        projections[each.name] = _projection(each, source)
        try:
            queries.append((each, parse_query(each, source, projections[each.name])))
        except errors.InvalidFilter:
            continue
    if not queries:
        raise errors.InvalidFilter("The filter names attributes no resource type has.")
    first = queries[0][1]
    skip, wanted = first.start_index - 1, first.count
    pages: list[tuple[ResourceType, Page]] = []
    for each, query in queries:
        total = server().resources.query(_caller(), each, dataclasses.replace(query, count=0)).total
        take = min(wanted, max(0, total - skip))
        page = Page([], total)
        if take:
            page = server().resources.query(
                _caller(), each, dataclasses.replace(query, start_index=skip + 1, count=take)
            )
            page.total = total
        pages.append((each, page))
        skip, wanted = max(0, skip - total), wanted - len(page.resources)
    return scim_response(_list_body(pages, first, projections))


def create(rtype: ResourceType) -> Response:
    doc = server().resources.create(_caller(), rtype, read_json())
    return _one(doc, rtype, 201)


def _stale_id_hint(fn: Callable[..., Response]) -> Callable[..., Response]:
    """A 404 on a resource id says what an IdP admin can do about it (design.md §5)."""

    @functools.wraps(fn)
    def wrapper(rtype: ResourceType, id: str) -> Response:
        if id == ".search":  # the item rule matched a search endpoint's path
            raise errors.MethodNotAllowed(
                f"{rtype.endpoint}/.search takes POST.", headers={"Allow": "POST"}
            )
        if len(id) > MAX_ID or "\x00" in id:
            raise errors.NotFound(f"{rtype.name} ids are at most {MAX_ID} characters.")
        try:
            return fn(rtype, id)
        except errors.NotFound as exc:
            key = "userName" if rtype.name == "User" else "displayName"
            raise errors.NotFound(
                f"{rtype.name} {id!r} does not exist in this organization. If the identity "
                f"provider shows 'Provisioning state failed' for it, re-apply its mappings: "
                f"it looks the {rtype.name.lower()} up again by {key} and carries on with "
                f"the right id."
            ) from exc

    return wrapper


@_stale_id_hint
def get(rtype: ResourceType, id: str) -> Response:
    projection = _projection(rtype)
    doc = server().resources.get(_caller(), rtype, id, members=projection.wants((None, "members")))
    wanted = request.headers.get("If-None-Match")
    if wanted and etag_matches(wanted, doc["meta"]["version"]):
        return empty_response(304, {"ETag": doc["meta"]["version"]})
    return _one(doc, rtype)


@_stale_id_hint
def replace(rtype: ResourceType, id: str) -> Response:
    projection = _projection(rtype)
    doc = server().resources.replace(
        _caller(),
        rtype,
        id,
        _object_body(),
        if_match=request.headers.get("If-Match"),
        members=projection.wants((None, "members")),
    )
    return _one(doc, rtype)


@_stale_id_hint
def patch(rtype: ResourceType, id: str) -> Response:
    projection = _projection(rtype)
    doc = server().resources.patch(
        _caller(),
        rtype,
        id,
        _object_body(),
        if_match=request.headers.get("If-Match"),
        members=projection.wants((None, "members")),
    )
    return _one(doc, rtype)


@_stale_id_hint
def delete(rtype: ResourceType, id: str) -> Response:
    server().resources.delete(_caller(), rtype, id, if_match=request.headers.get("If-Match"))
    return empty_response(204)


def _object_body() -> dict[str, Any]:
    body = read_json()
    if not isinstance(body, dict):
        raise errors.InvalidSyntax("The request body must be a JSON object.")
    return body


def me(rest: str = "") -> Response:
    """``/Me`` (RFC 7644 §3.11): a token here is an IdP's, not a user's."""
    raise errors.NotImplementedByServer("/Me is not supported: tokens belong to integrations.")
