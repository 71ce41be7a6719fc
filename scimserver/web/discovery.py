"""Discovery endpoints (RFC 7644 §4): ServiceProviderConfig, Schemas, ResourceTypes."""

from __future__ import annotations

from typing import Any

from flask import Response

from ..app import server
from ..protocol import errors
from .http import LIST_RESPONSE, base_url, scim_response

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources),
        "itemsPerPage": len(resources),
        "startIndex": 1,
        "Resources": resources,
    }


def service_provider_config() -> Response:
    conf = server().config.get("server", {})
    max_results = int(conf.get("max_results", 1000))
    return scim_response(
        {
            "schemas": [SPC_SCHEMA],
            "documentationUri": "https://github.com/scimserver/scimserver#readme",
            "patch": {"supported": True},
            # maxPayloadSize bounds every request body (413 above it), not only Bulk.
            "bulk": {
                "supported": True,
                "maxOperations": int(conf.get("bulk_max_operations", 1000)),
                "maxPayloadSize": int(conf.get("max_payload_bytes", 1_048_576)),
            },
            "filter": {"supported": True, "maxResults": max_results},
            "changePassword": {"supported": False},
            "sort": {"supported": True},
            "etag": {"supported": True},
            # RFC 9865 §4
            "pagination": {
                "cursor": True,
                "index": True,
                "defaultPaginationMethod": "index",
                "defaultPageSize": int(conf.get("default_count", 100)),
                "maxPageSize": max_results,
                "cursorTimeout": 3600,
            },
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "The integration's access token, sent as a Bearer token.",
                    "specUri": "https://www.rfc-editor.org/info/rfc6750",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{base_url()}/ServiceProviderConfig",
            },
        }
    )


def schemas() -> Response:
    base = base_url()
    return scim_response(
        _list([s.to_scim(f"{base}/Schemas/{i}") for i, s in server().registry.schemas.items()])
    )


def schema(id: str) -> Response:
    found = server().registry.schema(id)
    if found is None:
        raise errors.NotFound(f"Schema {id!r} not found.")
    return scim_response(found.to_scim(f"{base_url()}/Schemas/{found.id}"))


def resource_types() -> Response:
    base = base_url()
    return scim_response(
        _list(
            [
                rt.to_scim(f"{base}/ResourceTypes/{name}")
                for name, rt in server().registry.resource_types.items()
            ]
        )
    )


def resource_type(id: str) -> Response:
    found = server().registry.resource_types.get(id)
    if found is None:
        raise errors.NotFound(f"ResourceType {id!r} not found.")
    return scim_response(found.to_scim(f"{base_url()}/ResourceTypes/{found.name}"))
