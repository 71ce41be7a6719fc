"""Organizations, integrations and their access tokens.

A token is shown once and kept only as its SHA-256: it carries 256 random bits,
so a fast hash is enough (no dictionary to attack), and lookup is one indexed
read. The comparison after the lookup is constant-time anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

TOKEN_PREFIX = "scim_"


@dataclass(frozen=True)
class Organization:
    id: str
    slug: str
    name: str
    enterprise: bool = False
    provisioning: bool = False


@dataclass(frozen=True)
class Integration:
    id: str
    org: Organization
    kind: str
    created: str
    token_hash: str = ""


class TenancyError(Exception):
    """An operator action that is not allowed (shown to the operator as is)."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ControlStore(Protocol):
    """Where organizations and integrations live (SQL by default)."""

    def create_org(self, slug: str, name: str, enterprise: bool) -> Organization: ...

    def get_org(self, slug: str) -> Organization | None: ...

    def list_orgs(self) -> list[Organization]: ...

    def set_provisioning(self, slug: str, enabled: bool) -> Organization: ...

    def save_integration(self, org: Organization, kind: str, token_hash: str) -> Integration:
        """Create the org's integration of this kind, or replace its token hash."""
        ...

    def list_integrations(self, org: Organization) -> list[Integration]: ...

    def integration_by_token_hash(self, token_hash: str) -> Integration | None: ...

    def close(self) -> None: ...


class Tenancy:
    """The operator-facing rules over a ControlStore."""

    def __init__(self, control: ControlStore) -> None:
        self.control = control

    def create_org(
        self, slug: str, name: str | None = None, enterprise: bool = False
    ) -> Organization:
        if not slug or not all(c.isalnum() or c in "-_" for c in slug):
            raise TenancyError(f"Invalid slug {slug!r}: use letters, digits, '-' and '_'.")
        if self.control.get_org(slug):
            raise TenancyError(f"Organization {slug!r} already exists.")
        return self.control.create_org(slug, name or slug, enterprise)

    def org(self, slug: str) -> Organization:
        org = self.control.get_org(slug)
        if org is None:
            raise TenancyError(f"No organization {slug!r}.")
        return org

    def enable_provisioning(self, slug: str) -> Organization:
        org = self.org(slug)
        if not org.enterprise:
            raise TenancyError(
                f"Provisioning is available to Enterprise organizations only; "
                f"{slug!r} is not Enterprise."
            )
        return self.control.set_provisioning(slug, True)

    def issue_token(self, slug: str, kind: str, *, regenerate: bool) -> tuple[Integration, str]:
        """Add (or regenerate) the integration's token; the token is returned once."""
        org = self.org(slug)
        if not org.provisioning:
            raise TenancyError(
                f"Provisioning is not enabled for {slug!r}; "
                f"run 'scimserver org enable-provisioning {slug}' first."
            )
        existing = {i.kind for i in self.control.list_integrations(org)}
        if regenerate and kind not in existing:
            raise TenancyError(f"{slug!r} has no {kind!r} integration to regenerate.")
        if not regenerate and kind in existing:
            raise TenancyError(
                f"{slug!r} already has a {kind!r} integration; "
                f"use 'scimserver integration regenerate {slug}' for a new token."
            )
        token = new_token()
        return self.control.save_integration(org, kind, hash_token(token)), token

    def authenticate(self, token: str) -> Integration | None:
        """The integration this token belongs to, if its organization may provision."""
        digest = hash_token(token)
        integration = self.control.integration_by_token_hash(digest)
        # The lookup was by equality; compare again in constant time all the same.
        if integration is None or not hmac.compare_digest(digest, integration.token_hash):
            return None
        return integration if integration.org.provisioning else None
