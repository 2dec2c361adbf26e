"""Property-based tests of every route against the app's own OpenAPI document (schemathesis).

Generated requests (valid and invalid) must never get a 500, and every answer must match the
documented status codes, content types and response schemas. Bounded: a few examples per route,
derandomised (fixed seed), no example database.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from service_helpers import CATALOGUE, service_settings

from explorec.service.app import create_app

_APP = {}


def _app() -> object:
    return _APP["app"]


@pytest.fixture(scope="module")
def started() -> Iterator[dict[str, str]]:
    app = _APP["app"]
    with TestClient(app, raise_server_exceptions=False) as client:
        store = app.state.store
        key = store.create_key(scope="admin", name="schemathesis")
        headers = {"Authorization": f"Bearer {key}"}
        items = [{"item_id": i, "text": t, "categories": c} for i, t, c in CATALOGUE]
        assert client.post("/v1/items", json={"items": items}, headers=headers).status_code == 200
        yield headers
    _FOLDER.cleanup()


# the schema is loaded from the app when this module is collected, so the app (and its store folder)
# exist from then on; the folder is removed when the module's tests are done
_FOLDER = tempfile.TemporaryDirectory(prefix="explorec-schemathesis-")
_APP["app"] = create_app(service_settings(f"sqlite:///{Path(_FOLDER.name) / 'service.db'}"))
# 413 (batch or body too large) is this API's documented rejection of an over-long batch; an
# experiment whose shares do not sum to 1 is schema-valid JSON but refused with 422 (issue 13)
_CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        },
        "operations": [
            {
                "include-name": "PUT /v1/experiments/{name}",
                "checks": {"positive_data_acceptance": {"expected-statuses": [200, 401, 403, 422, 429, 503]}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP["app"], config=_CONFIG)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_route_conforms_to_its_schema(case: schemathesis.Case, started: dict[str, str]) -> None:
    case.call_and_validate(headers=started)
