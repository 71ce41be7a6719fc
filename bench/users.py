"""The one User body every benchmark creates, by name (bench/lua/scim.lua writes the same)."""

from __future__ import annotations

from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def user_body(name: str, n: int) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": name,
        "externalId": f"ext-{name}",
        "name": {"givenName": "Bench", "familyName": f"User {n}"},
        "displayName": f"Bench User {n}",
        "active": True,
        "emails": [{"value": name, "type": "work", "primary": True}],
    }
