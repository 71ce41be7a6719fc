"""Tokens decide the organization; organizations never see each other."""

from __future__ import annotations

import pytest
from conftest import USER, Scim, new_org

from scimserver.tenancy import TenancyError


def test_missing_or_bad_token_is_401_with_www_authenticate(scim: Scim) -> None:
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        r = scim.get("/Users", headers=headers)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.get_json()["status"] == "401"


def test_other_organization_ids_are_404(scim: Scim, other: Scim) -> None:
    mine = scim.user("mine@example.com")
    assert other.get(f"/Users/{mine['id']}").status_code == 404
    assert (
        other.put(f"/Users/{mine['id']}", {"schemas": [USER], "userName": "x"}).status_code == 404
    )
    assert other.delete(f"/Users/{mine['id']}").status_code == 404
    assert other.get('/Users?filter=userName eq "mine@example.com"').get_json()["totalResults"] == 0
    # The same userName is free in another organization.
    other.user("mine@example.com")
    assert scim.get(f"/Users/{mine['id']}").status_code == 200


def test_regenerated_token_replaces_the_old_one_at_once(scim: Scim) -> None:
    tenancy = scim.app.extensions["scimserver"].tenancy
    assert scim.get("/Users").status_code == 200
    _, new_token = tenancy.issue_token(scim.org, "onelogin", regenerate=True)
    assert scim.get("/Users").status_code == 401
    scim.token = new_token
    assert scim.get("/Users").status_code == 200


def test_provisioning_requires_enterprise(app) -> None:
    tenancy = app.extensions["scimserver"].tenancy
    tenancy.create_org("smallco", "Small Co", enterprise=False)
    with pytest.raises(TenancyError, match="Enterprise"):
        tenancy.enable_provisioning("smallco")
    with pytest.raises(TenancyError, match="not enabled"):
        tenancy.issue_token("smallco", "onelogin", regenerate=False)


def test_tokens_are_stored_only_as_hashes(app) -> None:
    slug, token = new_org(app)
    control = app.extensions["scimserver"].tenancy.control
    org = control.get_org(slug)
    stored = [i.token_hash for i in control.list_integrations(org)]
    assert token not in stored and len(token) >= 43
