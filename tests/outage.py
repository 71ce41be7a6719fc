"""One check for every store that can go away: 503 with Retry-After, then recovery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import USER, Scim, new_org
from flask import Flask


def assert_outage_answers_503_then_heals(
    app: Flask, stop: Callable[[], Any], start: Callable[[], Any]
) -> None:
    """While the backend is stopped every kind of request is 503 (never 500); once it
    is back the first request goes through (dead pooled connections are replaced)
    and nothing was written meanwhile."""
    try:
        slug, token = new_org(app)
        scim = Scim(app, token, slug)
        user = scim.user("steady@example.com")
        stop()
        for r in (
            scim.get(f"/Users/{user['id']}"),
            scim.get("/Users?filter=userName%20eq%20%22steady@example.com%22"),
            scim.get("/Users"),
            scim.post("/Users", {"schemas": [USER], "userName": "during@example.com"}),
        ):
            assert r.status_code == 503, r.get_data(as_text=True)
            assert r.headers["Retry-After"] == "5"
            assert r.get_json()["status"] == "503"
        start()
        assert scim.get(f"/Users/{user['id']}").get_json()["userName"] == "steady@example.com"
        assert scim.get("/Users").get_json()["totalResults"] == 1
        r = scim.post("/Users", {"schemas": [USER], "userName": "after@example.com"})
        assert r.status_code == 201, r.get_data(as_text=True)
    finally:
        app.extensions["scimserver"].close()
