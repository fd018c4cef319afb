"""A bounded schemathesis run against a live ``flowmap serve``.

Every route of ``/openapi.json`` gets a few dozen generated requests (valid
and invalid); no answer may be a 5xx, and every answer must conform to the
document: a documented status, JSON, and a body that matches its schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("schemathesis")
pytest.importorskip("uvicorn")

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from servertools import THREE, Functions, LiveServer

from flowmap.flows import MemoryStore, Runner
from flowmap.server import create_app
from flowmap.server._openapi import openapi_document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_schema() -> Iterator[Any]:
    functions = Functions()
    app = create_app(Runner(functions.registry(), store=MemoryStore()))
    with LiveServer(app) as server:
        yield schemathesis.openapi.from_url(server.url + "/openapi.json")


OPERATIONS = [
    (method.upper(), path)
    for path, operations in openapi_document()["paths"].items()
    for method in operations
]


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize(
    "method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS]
)
def test_routes_conform_to_the_document(
    live_schema: Any, method: str, path: str, mode: str
) -> None:
    operation = live_schema[path][method]
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def test_document_describes_real_answers() -> None:
    """A successful run of each kind of answer validates against the document."""
    import httpx
    import jsonschema

    functions = Functions()
    app = create_app(Runner(functions.registry(), store=MemoryStore()))
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        document = client.get("/openapi.json").json()
        components = document["components"]["schemas"]

        def check(name: str, body: Any) -> None:
            schema = {**components[name], "components": {"schemas": components}}
            jsonschema.validate(body, _nullable_to_json_schema(schema))

        base = "/v2/p1/fgs/workflows"
        created = client.post(base, json=THREE).json()
        check("WorkflowSimpleInfo", created)
        workflow_id = created["id"]
        check("ShowWorkflowResponse", client.get(f"{base}/{workflow_id}").json())
        check("ListWorkflowResponse", client.get(base).json())
        sync = client.post(
            f"{base}/{workflow_id}/sync-executions", json={"input": {"a": 1}}
        ).json()
        check("StartSyncWorkflowExecutionResponse", sync)
        started = client.post(
            f"{base}/{workflow_id}/executions", json={"input": {"a": 1}}
        ).json()
        check("StartWorkflowExecutionResponse", started)
        shown = client.get(
            f"{base}/{workflow_id}/executions/{started['execution_id']}"
        ).json()
        check("ShowWorkflowExecutionResponse", shown)
        listed = client.get(f"{base}/{workflow_id}/executions").json()
        check("ListWorkflowExecutionsResponse", listed)
        check("Error", client.get(f"{base}/nope").json())


def _nullable_to_json_schema(value: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema (``type: [t, "null"]``)."""
    if isinstance(value, dict):
        out = {k: _nullable_to_json_schema(v) for k, v in value.items()}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(value, list):
        return [_nullable_to_json_schema(v) for v in value]
    return value
