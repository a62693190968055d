"""Schemathesis against the app's own OpenAPI document: every operation, both roles, all checks,
valid and invalid (negative) data.

Bounded in `make test` (FUZZ_EXAMPLES, default 4 per operation, mode and role); `make fuzz`
runs it long. Requests go through the WSGI app in-process, against the real PostGIS test
database, so what is checked is the code itself rather than the server in front of it.
"""
import os
from zoneinfo import available_timezones

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation import GenerationMode

from tests.conftest import Api

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
# The bounded run in `make test` is reproducible; `make fuzz` explores new inputs each time.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "") != "true"
load_all_checks()
ALL_CHECKS = CHECKS.get_all()


def valid_bbox(values: tuple[float, float, float, float]) -> str:
    min_lon, lat_a, max_lon, lat_b = values
    return f"{min_lon},{min(lat_a, lat_b)},{max_lon},{max(lat_a, lat_b)}"


# Our custom formats: values a client can really send. Cursors are opaque (only values the
# server issued are valid), so positive cases page from the start ("" = no cursor).
LONGITUDE = st.floats(-180, 180, allow_nan=False)
LATITUDE = st.floats(-90, 90, allow_nan=False)
schemathesis.openapi.format("bbox", st.tuples(LONGITUDE, LATITUDE, LONGITUDE, LATITUDE).map(valid_bbox))
schemathesis.openapi.format("iana-timezone", st.sampled_from(sorted(available_timezones() - {"localtime"})))
schemathesis.openapi.format("cursor", st.just(""))
schemathesis.openapi.format("url", st.sampled_from(["http://127.0.0.1:9/hook", "https://[::1]/hook"]))


@pytest.fixture(scope="module")
def fuzz_app(database_url):
    """The app, with webhooks to loopback allowed (the generated URLs point there)."""
    from app import create_app
    from core.db import dispose_engines
    from tests.conftest import TEST_CONFIG

    app = create_app(dict(TEST_CONFIG, DATABASE_URL=database_url, WEBHOOK_ALLOW_LOOPBACK=True))
    yield app
    dispose_engines(app)


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    """The app's own OpenAPI document, served by the app."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def operation_labels() -> list[str]:
    """Every documented operation (read from a throwaway app: no database needed)."""
    from app import create_app

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app())
    return [result.ok().label for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", operation_labels())
def test_every_operation_honours_its_documented_contract(api_schema, fuzz_app, label, mode):
    api = Api(fuzz_app.test_client())
    tokens = [api.register(role)["headers"] for role in ("customer", "merchant")]
    operation = next(r.ok() for r in api_schema.get_all_operations() if r.ok().label == label)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              database=None, derandomize=DERANDOMIZE)
    def fuzz(case):
        if mode is GenerationMode.POSITIVE and case.query:
            case.query.pop("cursor", None)  # opaque: only server-issued values are valid
        for headers in tokens:
            case.call_and_validate(headers=headers, checks=ALL_CHECKS)

    fuzz()
