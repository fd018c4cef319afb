"""``flowmap serve`` over real HTTP on loopback, driven with httpx.

Each test builds its own app (``create_app`` over a fresh runner and
``MemoryStore``) and serves it with uvicorn on a free loopback port.
The bad inputs are data: tests/data/server_errors.json.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import httpx
from servertools import PROJECT, SLEEPY, THREE, Functions, LiveServer

from flowmap.flows import MemoryStore, Runner
from flowmap.server import RunnerBackend, create_app
from flowmap.server._openapi import openapi_document

DATA = Path(__file__).parent / "data"
BASE = f"/v2/{PROJECT}/fgs/workflows"
TERMINAL = {"success", "fail", "timeout", "cancel"}


class Api:
    """An httpx client on a live server, with the calls the tests repeat."""

    def __init__(self, client: httpx.Client, functions: Functions) -> None:
        self.client = client
        self.functions = functions

    def create(self, flow: dict[str, Any] = THREE) -> str:
        response = self.client.post(BASE, json=flow)
        assert response.status_code == 200, response.text
        workflow_id: str = response.json()["id"]
        return workflow_id

    def start(
        self, workflow_id: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> str:
        response = self.client.post(
            f"{BASE}/{workflow_id}/executions",
            json=body if body is not None else {"input": {"a": 1}},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"execution_id"}
        execution_id: str = response.json()["execution_id"]
        return execution_id

    def show(self, workflow_id: str, execution_id: str) -> dict[str, Any]:
        response = self.client.get(f"{BASE}/{workflow_id}/executions/{execution_id}")
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()
        return shown

    def wait(
        self, workflow_id: str, execution_id: str, until: set[str] = TERMINAL
    ) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while True:
            shown = self.show(workflow_id, execution_id)
            if shown["status"] in until:
                return shown
            assert time.monotonic() < deadline, f"still {shown['status']}"
            time.sleep(0.01)

    def wait_node(self, workflow_id: str, execution_id: str, node_id: str) -> None:
        deadline = time.monotonic() + 20
        while True:
            shown = self.show(workflow_id, execution_id)
            if any(d["node_id"] == node_id for d in shown["node_execution_details"]):
                return
            assert time.monotonic() < deadline, "node never reached"
            time.sleep(0.01)


@pytest.fixture
def api() -> Iterator[Api]:
    functions = Functions()
    app = create_app(Runner(functions.registry(), store=MemoryStore()))
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        yield Api(client, functions)


# -- workflows -------------------------------------------------------------


def test_workflow_crud(api: Api) -> None:
    created = api.client.post(BASE, json=THREE)
    assert created.status_code == 200
    info = created.json()
    workflow_id = info["id"]
    assert info["name"] == "three"
    assert info["description"] == "add, look, maybe fail"
    assert (
        info["workflow_urn"] == f"urn:fss:local:{PROJECT}:workflow:default:three:latest"
    )
    assert time.strptime(info["created_time"], "%Y-%m-%dT%H:%M:%SZ")
    assert created.headers["x-request-id"]

    shown = api.client.get(f"{BASE}/{workflow_id}").json()
    assert shown["id"] == workflow_id
    assert shown["definition"]["name"] == "three"
    assert [s["id"] for s in shown["definition"]["states"]] == ["add", "look", "last"]

    api.create(SLEEPY)
    listed = api.client.get(BASE).json()
    assert listed["total"] == 2 and listed["size"] == 2
    named = api.client.get(BASE, params={"workflow_name": "sleepy"}).json()
    assert [w["name"] for w in named["workflows"]] == ["sleepy"]
    page = api.client.get(BASE, params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and page["size"] == 1

    renamed = {**THREE, "name": "three-v2"}
    updated = api.client.put(f"{BASE}/{workflow_id}", json=renamed)
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "three-v2"
    assert api.client.get(f"{BASE}/{workflow_id}").json()["definition"]["name"] == (
        "three-v2"
    )

    clash = api.client.put(f"{BASE}/{workflow_id}", json={**THREE, "name": "sleepy"})
    assert clash.status_code == 409
    assert clash.json()["error_code"] == "FLOWMAP.4090"
    duplicate = api.client.post(BASE, json=SLEEPY)
    assert duplicate.status_code == 409

    deleted = api.client.delete(f"{BASE}/{workflow_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    gone = api.client.get(f"{BASE}/{workflow_id}")
    assert gone.status_code == 404
    assert gone.json()["error_code"] == "FLOWMAP.4040"


def test_invalid_definition_lists_problems_with_locations(api: Api) -> None:
    bad = json.loads(json.dumps(THREE))
    bad["states"][0]["transition"] = "nowhere"
    bad["states"][1]["actions"][0]["function_ref"]["arguments"] = {"x": "$.a["}
    response = api.client.post(BASE, json=bad)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "FLOWMAP.1008"
    assert "$.states[0].transition" in body["error_msg"]
    assert "$.states[1].actions[0].function_ref.arguments.x" in body["error_msg"]


# -- executions ------------------------------------------------------------


def test_execution_runs_to_success(api: Api) -> None:
    workflow_id = api.create()
    execution_id = api.start(workflow_id, {"input": {"a": 1, "b": 2}})
    shown = api.wait(workflow_id, execution_id)
    assert shown["status"] == "success"
    assert shown["execution_id"] == execution_id
    assert shown["workflow_id"] == workflow_id
    assert shown["input"] == {"a": 1, "b": 2}
    assert shown["output"]["done"] is True and shown["output"]["sum"] == 3
    nodes = shown["node_execution_details"]
    assert [n["node_id"] for n in nodes] == ["add", "look", "last"]
    first = nodes[0]["executions"][0]
    assert first["status"] == "success"
    assert first["input"] == {"a": 1, "b": 2}
    assert first["output"] == {"sum": 3}
    assert isinstance(first["begin_time"], int) and first["begin_time"] > 10**12
    assert first["end_time"] >= first["begin_time"]
    for key in ("begin_time", "end_time", "last_update_time"):
        time.strptime(shown[key], "%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "merge_header, merged",
    [(None, False), ("true", True), ("TRUE", True), ("false", False), ("", False)],
)
def test_merge_header(api: Api, merge_header: str | None, merged: bool) -> None:
    workflow_id = api.create()
    headers = (
        {}
        if merge_header is None
        else {"X-WorkflowRun-MergeFnParameters": merge_header}
    )
    execution_id = api.start(workflow_id, headers=headers)
    shown = api.wait(workflow_id, execution_id)
    assert shown["status"] == "success"
    look = shown["node_execution_details"][1]["executions"][0]
    # Merged, the event is the previous node's output (which has "sum")
    # merged with the mapped arguments ({"total"}); otherwise the arguments.
    if merged:
        assert look["input"]["sum"] == 11 and look["input"]["total"] == 11
    else:
        assert look["input"] == {"total": 11}
    assert look["output"]["event_keys"] == sorted(look["input"])


def test_run_id_create_time_and_body_headers(api: Api) -> None:
    workflow_id = api.create()
    execution_id = api.start(
        workflow_id,
        {"input": {"a": 5}, "headers": {"tenant": "t-1"}},
        headers={
            "X-WorkflowRun-ID": "run-42",
            "X-Create-Time": "2026-01-02T03:04:05Z",
        },
    )
    shown = api.wait(workflow_id, execution_id)
    assert shown["headers"] == {"tenant": "t-1"}
    seen = shown["node_execution_details"][1]["executions"][0]["output"]
    assert seen["run_id"] == "run-42"
    assert seen["create_time"] == "2026-01-02T03:04:05Z"
    assert seen["headers"] == {"tenant": "t-1"}


def test_list_executions_with_filters(api: Api) -> None:
    workflow_id = api.create()
    api.functions.failures_left = 1
    failed = api.start(workflow_id)
    assert api.wait(workflow_id, failed)["status"] == "fail"
    ok = [api.start(workflow_id) for _ in range(3)]
    for execution_id in ok:
        assert api.wait(workflow_id, execution_id)["status"] == "success"
    url = f"{BASE}/{workflow_id}/executions"

    everything = api.client.get(url).json()["executions"]
    assert {e["execution_id"] for e in everything} == {failed, *ok}
    assert all(e["workflow_id"] == workflow_id for e in everything)

    successes = api.client.get(url, params={"status": "success"}).json()["executions"]
    assert {e["execution_id"] for e in successes} == set(ok)
    fails = api.client.get(url, params={"status": "fail"}).json()["executions"]
    assert [e["execution_id"] for e in fails] == [failed]

    assert len(api.client.get(url, params={"limit": 2}).json()["executions"]) == 2
    rest = api.client.get(url, params={"limit": 200, "offset": 3}).json()["executions"]
    assert len(rest) == 1

    past = {"start_time": "2020-01-01T00:00:00Z", "end_time": "2020-01-02T00:00:00Z"}
    assert api.client.get(url, params=past).json()["executions"] == []
    window = {"start_time": "2020-01-01T00:00:00Z", "end_time": "2099-01-01T00:00:00Z"}
    assert len(api.client.get(url, params=window).json()["executions"]) == 4


def test_retry_a_failed_execution(api: Api) -> None:
    workflow_id = api.create()
    api.functions.failures_left = 1
    execution_id = api.start(workflow_id)
    failed = api.wait(workflow_id, execution_id)
    assert failed["status"] == "fail"
    last = failed["node_execution_details"][-1]
    assert last["node_id"] == "last"
    assert "flaky is told to fail" in last["executions"][-1]["error_message"]

    retried = api.client.post(f"{BASE}/{workflow_id}/executions/{execution_id}/retry")
    assert retried.status_code == 200 and retried.json() == {}
    shown = api.wait(workflow_id, execution_id)
    assert shown["status"] == "success"
    # The failed node got a new attempt; the nodes before it did not run again.
    nodes = shown["node_execution_details"]
    assert [n["node_id"] for n in nodes] == ["add", "look", "last"]
    assert [len(n["executions"]) for n in nodes] == [1, 1, 2]

    again = api.client.post(f"{BASE}/{workflow_id}/executions/{execution_id}/retry")
    assert again.status_code == 409
    assert again.json()["error_code"] == "FLOWMAP.4090"


def test_terminate_a_sleeping_execution(api: Api) -> None:
    workflow_id = api.create(SLEEPY)
    execution_id = api.start(workflow_id)
    api.wait_node(workflow_id, execution_id, "nap")
    assert api.show(workflow_id, execution_id)["status"] == "running"
    stopped = api.client.post(
        f"{BASE}/{workflow_id}/executions/{execution_id}/terminate"
    )
    assert stopped.status_code == 200 and stopped.json() == {}
    shown = api.wait(workflow_id, execution_id)
    assert shown["status"] == "cancel"
    again = api.client.post(f"{BASE}/{workflow_id}/executions/{execution_id}/terminate")
    assert again.status_code == 409


def test_sync_execution(api: Api) -> None:
    workflow_id = api.create()
    response = api.client.post(
        f"{BASE}/{workflow_id}/sync-executions", json={"input": {"a": 2, "b": 3}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    assert body["output"]["sum"] == 5 and body["output"]["done"] is True
    assert api.show(workflow_id, body["execution_id"])["status"] == "success"

    api.functions.failures_left = 1
    failed = api.client.post(
        f"{BASE}/{workflow_id}/sync-executions", json={"input": {"a": 1}}
    ).json()
    assert failed["status"] == "fail"
    assert failed["errors"][0]["node_id"] == "last"
    assert "flaky is told to fail" in failed["errors"][0]["error_message"]


def test_execution_is_found_only_under_its_own_workflow(api: Api) -> None:
    workflow_id = api.create()
    other = api.create(SLEEPY)
    execution_id = api.start(workflow_id)
    api.wait(workflow_id, execution_id)
    for path in (
        f"{BASE}/{other}/executions/{execution_id}",
        f"/v2/other-project/fgs/workflows/{workflow_id}/executions/{execution_id}",
    ):
        response = api.client.get(path)
        assert response.status_code == 404
    response = api.client.post(f"{BASE}/{other}/executions/{execution_id}/retry")
    assert response.status_code == 404


# -- bad inputs (data) -----------------------------------------------------

CASES = json.loads((DATA / "server_errors.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(api: Api, case: dict[str, Any]) -> None:
    workflow_id = api.create()
    execution_id = api.start(workflow_id)
    api.wait(workflow_id, execution_id)
    path = case["path"].format(base=BASE, wf=workflow_id, ex=execution_id)
    headers = case.get("headers", {})
    kwargs: dict[str, Any] = {
        "headers": [tuple(pair) for pair in case.get("header_pairs", [])] or headers
    }
    if "json" in case:
        kwargs["json"] = case["json"]
    elif "raw" in case:
        kwargs["content"] = case["raw"].encode("utf-8")
    elif "raw_latin1" in case:  # bytes that are not UTF-8
        kwargs["content"] = case["raw_latin1"].encode("latin-1")
    response = api.client.request(case["method"], path, **kwargs)
    assert response.status_code == case["status"], response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}
    assert response.headers["x-request-id"]
    assert body["error_code"] == case["error_code"]
    assert 2 <= len(body["error_msg"]) <= 512
    for text in case.get("message_has", []):
        assert text in body["error_msg"]
    documented = documented_statuses(case["method"], path.partition("?")[0])
    if documented is not None:  # a route of the document: the status is in it
        assert str(response.status_code) in documented


def documented_statuses(method: str, path: str) -> set[str] | None:
    """The statuses /openapi.json lists for this request, None if no route."""
    for template, operations in openapi_document()["paths"].items():
        pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return set(operations[method.lower()]["responses"])
    return None


def test_body_over_the_limit_is_413() -> None:
    app = create_app(Runner({}, store=MemoryStore()), max_body_bytes=1000)
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        big = {"input": {"blob": "x" * 2000}}
        response = client.post(f"{BASE}/wf/executions", json=big)
        assert response.status_code == 413
        assert response.json()["error_code"] == "FLOWMAP.4130"
        assert "1000 bytes" in response.json()["error_msg"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as read
            for _ in range(5):
                yield b" " * 400

        streamed = client.post(f"{BASE}/wf/executions", content=chunks())
        assert streamed.status_code == 413
        small = client.post(f"{BASE}/wf/executions", json={"input": {}})
        assert small.status_code == 404


def test_default_limit_is_6_mb() -> None:
    app = create_app(Runner({}, store=MemoryStore()))
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        over = b'{"input": {"x": "' + b"x" * (6 * 1024 * 1024) + b'"}}'
        assert client.post(f"{BASE}/wf/executions", content=over).status_code == 413
        under = b'{"input": {"x": "' + b"x" * (6 * 1024 * 1024 - 100) + b'"}}'
        assert client.post(f"{BASE}/wf/executions", content=under).status_code == 404


class BrokenBackend(RunnerBackend):
    """A backend with a defect, to see what a 500 looks like."""

    async def get_workflow(self, project_id: str, workflow_id: str) -> dict[str, Any]:
        raise RuntimeError("secret internal detail /srv/app.py line 12")


def test_defect_is_500_without_internal_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(BrokenBackend(Runner({}, store=MemoryStore())))
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        response = client.get(f"{BASE}/wf")
    assert response.status_code == 500
    body = response.json()
    assert body["error_code"] == "FLOWMAP.5000"
    assert "secret" not in response.text and "Traceback" not in response.text
    request_id = response.headers["x-request-id"]
    assert request_id in body["error_msg"]
    assert any(request_id in r.getMessage() for r in caplog.records)


def test_head_requests(api: Api) -> None:
    workflow_id = api.create()
    found = api.client.head(f"{BASE}/{workflow_id}")
    assert found.status_code == 200 and found.content == b""
    assert api.client.head(f"{BASE}/nope").status_code == 404
    assert api.client.head(BASE).status_code == 200


def test_openapi_document_is_served(api: Api) -> None:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths[BASE.replace(PROJECT, "{project_id}")]) == {
        "get",
        "post",
        "delete",
    }
    assert len(paths) == 7
