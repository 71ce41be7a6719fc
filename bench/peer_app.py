"""The peer: scim2-server (PyPI) as its README builds it, under gunicorn.

    WSGIApplication(InMemoryStorage(), load_default_provider())

with the bearer-token check of its own ``scim2-server`` command
(``BearerTokenApplication``), so it does the same authentication work per
request. Runs from its own venv (bench/.venv-peer), never the project's.
The token comes from ``BENCH_PEER_TOKEN``; the SCIM root is ``/v2``.
"""

import os

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

_config = load_default_service_provider_config()
_config.authentication_schemes = [*(_config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
_provider = ScimProvider.from_discovery(
    load_default_schemas().values(), load_default_resource_types().values(), config=_config
)
app = BearerTokenApplication(
    InMemoryStorage(), _provider, bearer_tokens=[os.environ["BENCH_PEER_TOKEN"]]
)
