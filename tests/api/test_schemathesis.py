"""Property tests against the app's own OpenAPI, with every schemathesis check: no 5xx; statuses,
content types, headers and bodies as documented; what the schema refuses is refused, what it allows
is accepted; auth is not ignored; unsupported methods get 405 with a full Allow header.

Runs against `jieneng api` in its own process (checks such as ignored_auth and unsupported_method
send requests of their own). Each operation runs as an admin (sees everything) and as a city
assessor (the 403 paths), with a few examples each: a few hundred cases in all, not a soak test.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from api.app import create_app
from api.config import ApiConfig

MAX_EXAMPLES = 8
# The registry upload is multipart files (own tests: test_runs_registry, test_hostile_names, test_body_limits).
SKIP = {("POST", "/v1/registry/import")}
# The schema does not depend on the database: read it from an app that is never started.
_SPEC = create_app(ApiConfig(database_url="postgresql://unused")).openapi()
# Rules across fields that JSON Schema cannot state, answered 422 with the reason (documented on each
# operation): end after start and the longest range per bucket (usage, quality), points up to the
# item's own maximum (assessed items). Every other check runs on them; positive_data_acceptance would
# count these 422s as rejected valid input.
CROSS_FIELD = {
    ("GET", "/v1/institutions/{institution_id}/usage"),
    ("GET", "/v1/meters/{meter_id}/usage"),
    ("GET", "/v1/institutions/{institution_id}/quality"),
    ("GET", "/v1/meters/{meter_id}/quality"),
    ("PUT", "/v1/institutions/{institution_id}/assessed-items/{year}/{item_code}"),
}
OPERATIONS = [
    (method.upper(), path)
    for path, item in _SPEC["paths"].items()
    for method in item
    if (method.upper(), path) not in SKIP
]


@pytest.fixture(scope="module")
def live_schema(live_api_module):
    schema = schemathesis.openapi.from_dict(_SPEC)
    schema.config.update(base_url=live_api_module.base)
    return schema


@pytest.mark.parametrize("who", ["admin", "city_nj"])
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(live_schema, live_api_module, method, path, who):
    operation = live_schema[path][method]
    headers = {"Authorization": f"Bearer {live_api_module.tokens[who]}"}
    excluded = [checks.positive_data_acceptance] if (method, path) in CROSS_FIELD else []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        case.headers = {**(case.headers or {}), **headers}  # the generated bearer value is noise
        case.call_and_validate(base_url=live_api_module.base, excluded_checks=excluded)

    check()
