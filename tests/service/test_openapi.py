"""The OpenAPI document is the contract: a snapshot test catches any unintended change to it.

After an intended change, regenerate the snapshot with
``EXPLOREC_UPDATE_SNAPSHOTS=1 pytest tests/service/test_openapi.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from service_helpers import service_settings

from explorec.service.app import create_app

SNAPSHOT = Path(__file__).with_name("openapi.json")


def current() -> dict[str, object]:
    return create_app(service_settings("sqlite://")).openapi()


def test_openapi_document_matches_the_snapshot() -> None:
    doc = current()
    if os.environ.get("EXPLOREC_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert doc == expected, "the OpenAPI document changed; see this module's docstring"


def test_every_route_is_documented_with_its_errors() -> None:
    doc = current()
    paths = doc["paths"]
    assert isinstance(paths, dict)
    assert set(paths) == {
        "/v1/items",
        "/v1/items/{item_id}",
        "/v1/items/search",
        "/v1/items/{item_id}/similar",
        "/v1/users",
        "/v1/users/{user_id}",
        "/v1/users/{user_id}/recommendations",
        "/v1/feedback",
        "/v1/recommendations/{recommendation_id}",
        "/v1/recommendations/{recommendation_id}/explanation",
        "/v1/models",
        "/v1/models/{version}/pin",
        "/v1/models/unpin",
        "/v1/models/rollback",
        "/v1/models/retrain",
        "/v1/experiments/{name}",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    for path, operations in paths.items():
        for method, op in operations.items():
            responses = op["responses"]
            assert {"200", "202"} & set(responses), (method, path)  # 202: retrain is asynchronous
            if path.startswith("/v1"):
                assert {"401", "403", "422", "429", "503"} <= set(responses), (method, path)
                assert op["security"] == [{"HTTPBearer": []}], (method, path)
                error = responses["401"]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/ErrorResponse"}
    batch = doc["components"]["schemas"]["FeedbackBatch"]["properties"]["events"]  # type: ignore[index]
    assert batch["maxItems"] == 1000  # the configured max_batch
