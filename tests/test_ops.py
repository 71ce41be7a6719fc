"""Operations endpoints outside /scim/v2: health, readiness, metrics."""

from __future__ import annotations

from conftest import Scim


def test_healthz_needs_no_token(scim: Scim) -> None:
    r = scim.http.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


def test_readyz_asks_the_store(scim: Scim) -> None:
    r = scim.http.get("/readyz")
    assert r.status_code == 200 and r.get_json()["status"] == "ready"


def test_metrics_count_requests_by_route_and_status(scim: Scim) -> None:
    scim.user("metrics@example.com")
    scim.get("/Users/nope")
    text = scim.http.get("/metrics").get_data(as_text=True)
    assert (
        'scimserver_request_seconds_count{method="POST",route="/scim/v2/Users",status="201"}'
        in text
    )
    assert 'route="/scim/v2/Users/<id>",status="404"' in text
    assert "scimserver_store_seconds_count{backend=" in text
