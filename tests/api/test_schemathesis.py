"""Property tests against the app's own OpenAPI: no 5xx, and statuses, content types and bodies match
what the schema documents.

Each operation runs as an admin (sees everything) and as a city assessor (exercises the 403 paths),
with a modest example count so the whole file stays within a couple of minutes.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from api.app import create_app
from api.config import ApiConfig

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
ALLOWED_KWARGS = {"method", "url", "headers", "params", "json", "content", "data", "files"}
# Starting a run needs the scorer's inputs and the registry upload is multipart files: both have own tests.
SKIP = {("POST", "/v1/runs"), ("POST", "/v1/registry/import")}
# The schema does not depend on the database: read it from an app that is never started.
_SPEC = create_app(ApiConfig(database_url="postgresql://unused")).openapi()
OPERATIONS = [
    (method.upper(), path)
    for path, item in _SPEC["paths"].items()
    for method in item
    if (method.upper(), path) not in SKIP
]


@pytest.fixture(scope="module")
def live_schema():
    # From the dict, not from_asgi: loading over ASGI would run the app's lifespan and close its pools.
    return schemathesis.openapi.from_dict(_SPEC)


@pytest.mark.parametrize("who", ["admin", "city_nj"])
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(live_schema, api, method, path, who):
    operation = live_schema[path][method]
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def check(case):
        # Sent through the test's own TestClient: schemathesis's ASGI transport needs a requests/urllib3
        # pairing this environment does not have, and validate_response takes an httpx response as is.
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs["headers"].update(headers)  # the generated bearer value is noise; send the real key
        response = api.client.request(**{k: v for k, v in kwargs.items() if k in ALLOWED_KWARGS})
        case.validate_response(response, checks=CHECKS)

    check()
