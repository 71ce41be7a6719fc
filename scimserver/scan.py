"""A page of documents the reference evaluator filters, sorts and pages.

For stores whose indexes cannot answer a query (a filter on an unindexed
attribute, a sort they cannot do): the store narrows the candidates as far as it
can and hands them over in creation order; this is the rest of the answer,
cursors (RFC 9865) included, the same on every store that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .protocol import errors
from .protocol.cursor import decode_cursor, encode_cursor, key_from_json, key_to_json, resume_after
from .protocol.evaluate import matches, sort_key
from .protocol.filter_ast import Filter
from .store import Page, Query, Resource


def evaluated_page(docs: Iterable[tuple[int, Resource]], query: Query, rest: Filter | None) -> Page:
    """``docs`` as (creation seq, document) in creation order; ``rest`` the part of
    the filter the store did not apply (``None``: every document matches)."""
    sort_by, descending = query.sort_by, query.descending
    found = [
        (sort_key(doc, sort_by, descending=descending) if sort_by else (), seq, doc)
        for seq, doc in docs
        if rest is None or matches(rest, doc)
    ]
    if sort_by is not None:
        found.sort(key=lambda item: item[0], reverse=descending)
    elif descending:
        found.reverse()
    total = len(found)
    if query.count == 0:
        return Page([], total)
    if query.cursor:
        position = decode_cursor(query.cursor, ("k", "s"))
        seq = position["s"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise errors.InvalidCursor("The cursor's position is malformed.")
        found = resume_after(found, key_from_json(position["k"]), seq, descending)
    elif query.cursor is None:
        found = found[query.start_index - 1 :]
    page = found[: query.count]
    if not query.members:
        for _, _, doc in page:
            doc.pop("members", None)
    next_cursor = None
    if query.cursor is not None and len(found) > len(page):
        key, seq, _ = page[-1]
        next_cursor = encode_cursor({"k": key_to_json(key), "s": seq})
    return Page([doc for _, _, doc in page], total, next_cursor)
