"""``flowmap serve`` driven by the official SDK, unchanged, over loopback.

The server has credentials, so every SDK call is signed with SDK-HMAC-SHA256
and checked by the server; errors must reach SDK users as
``ClientRequestException`` with the server's status, error_code and
error_msg.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("huaweicloudsdkfunctiongraph")
pytest.importorskip("uvicorn")

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException,
    ServerResponseException,
)
from huaweicloudsdkfunctiongraph.v2 import (
    BatchDeleteWorkflowsRequest,
    CreateWorkflowRequest,
    FlowExecuteBody,
    FunctionGraphClient,
    ListWorkflowExecutionsRequest,
    ListWorkflowRequest,
    RetryWorkFlowRequest,
    ShowWorkflowExecutionRequest,
    ShowWorkFlowRequest,
    StartSyncWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    StopWorkFlowRequest,
    UpdateWorkFlowRequest,
    WorkflowCreateBody,
    WorkflowDeleteBody,
)
from servertools import PROJECT, SLEEPY, THREE, Functions, LiveServer

from flowmap.flows import MemoryStore, Runner
from flowmap.server import AccessKey, KeyRing, RunnerBackend, create_app

AK, SK = "AKFLOWMAPSDK", "sdk-secret-key"
OTHER_AK, OTHER_SK, OTHER_PROJECT = "AKOTHER", "other-secret", "p2"
KEYS = KeyRing(
    [AccessKey(AK, SK, PROJECT), AccessKey(OTHER_AK, OTHER_SK, OTHER_PROJECT)]
)
TERMINAL = {"success", "fail", "timeout", "cancel"}


def sdk_client(url: str, ak: str = AK, sk: str = SK, project: str = PROJECT) -> Any:
    return (
        FunctionGraphClient.new_builder()
        .with_credentials(BasicCredentials(ak, sk, project))
        .with_endpoints([url])
        .build()
    )


class Served:
    def __init__(self, url: str, functions: Functions) -> None:
        self.url = url
        self.functions = functions
        self.sdk = sdk_client(url)

    def create(self, flow: dict[str, Any]) -> str:
        response = self.sdk.create_workflow(
            CreateWorkflowRequest(body=WorkflowCreateBody(**flow))
        )
        workflow_id: str = response.id
        return workflow_id

    def wait(self, workflow_id: str, execution_id: str, node: str = "") -> Any:
        deadline = time.monotonic() + 20
        while True:
            shown = self.sdk.show_workflow_execution(
                ShowWorkflowExecutionRequest(
                    workflow_id=workflow_id, execution_id=execution_id
                )
            )
            nodes = [d.node_id for d in shown.node_execution_details or []]
            if (node and node in nodes) or (not node and shown.status in TERMINAL):
                return shown
            assert time.monotonic() < deadline, shown.status
            time.sleep(0.01)


@pytest.fixture
def served() -> Iterator[Served]:
    functions = Functions()
    app = create_app(
        Runner(functions.registry(), store=MemoryStore()), credentials=KEYS
    )
    with LiveServer(app) as server:
        yield Served(server.url, functions)


def test_sdk_workflows(served: Served) -> None:
    sdk = served.sdk
    workflow_id = served.create(THREE)
    shown = sdk.show_work_flow(ShowWorkFlowRequest(workflow_id=workflow_id))
    assert shown.id == workflow_id
    assert shown.definition.name == "three"
    assert [s.id for s in shown.definition.states] == ["add", "look", "last"]
    assert shown.workflow_urn.endswith(f":{PROJECT}:workflow:default:three:latest")

    listed = sdk.list_workflow(ListWorkflowRequest(workflow_name="three", limit=10))
    assert listed.total == 1 and [w.id for w in listed.workflows] == [workflow_id]

    updated = sdk.update_work_flow(
        UpdateWorkFlowRequest(
            workflow_id=workflow_id,
            body=WorkflowCreateBody(**{**THREE, "description": "changed"}),
        )
    )
    assert updated.description == "changed"

    deleted = sdk.batch_delete_workflows(
        BatchDeleteWorkflowsRequest(
            body=WorkflowDeleteBody(workflow_urns=[shown.workflow_urn, "urn:nope"])
        )
    )
    assert deleted.success == [shown.workflow_urn]
    assert [f.workflow_urn for f in deleted.fail] == ["urn:nope"]
    with pytest.raises(ClientRequestException) as info:
        sdk.show_work_flow(ShowWorkFlowRequest(workflow_id=workflow_id))
    assert info.value.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x_workflow_run_merge_fn_parameters": "true"},
        {"x_workflow_run_merge_fn_parameters": "false"},
        {"x_workflow_run_id": "run-7"},
        {"x_create_time": "2026-03-04T05:06:07Z"},
    ],
    ids=["none", "merge-true", "merge-false", "run-id", "create-time"],
)
def test_sdk_start_each_header_and_poll(
    served: Served, headers: dict[str, str]
) -> None:
    workflow_id = served.create(THREE)
    started = served.sdk.start_workflow_execution(
        StartWorkflowExecutionRequest(
            workflow_id=workflow_id,
            body=FlowExecuteBody(input={"a": 1, "b": 2}, headers={"h": "v"}),
            **headers,
        )
    )
    assert started.execution_id
    shown = served.wait(workflow_id, started.execution_id)
    assert shown.status == "success"
    assert shown.input == {"a": 1, "b": 2}
    assert shown.headers == {"h": "v"}
    assert shown.output["sum"] == 3
    look = shown.node_execution_details[1].executions[0]
    merged = headers.get("x_workflow_run_merge_fn_parameters") == "true"
    assert ("sum" in look.input) is merged
    assert look.output["run_id"] == headers.get("x_workflow_run_id")
    if "x_create_time" in headers:
        assert look.output["create_time"] == headers["x_create_time"]
    assert isinstance(look.begin_time, int)


def test_sdk_list_retry_terminate_sync(served: Served) -> None:
    sdk = served.sdk
    workflow_id = served.create(THREE)
    served.functions.failures_left = 1
    failed_id = sdk.start_workflow_execution(
        StartWorkflowExecutionRequest(
            workflow_id=workflow_id, body=FlowExecuteBody(input={"a": 1})
        )
    ).execution_id
    assert served.wait(workflow_id, failed_id).status == "fail"

    listed = sdk.list_workflow_executions(
        ListWorkflowExecutionsRequest(workflow_id=workflow_id, status="fail", limit=10)
    )
    assert [e.execution_id for e in listed.executions] == [failed_id]

    sdk.retry_work_flow(
        RetryWorkFlowRequest(workflow_id=workflow_id, execution_id=failed_id)
    )
    assert served.wait(workflow_id, failed_id).status == "success"
    window = sdk.list_workflow_executions(
        ListWorkflowExecutionsRequest(
            workflow_id=workflow_id,
            start_time="2020-01-01T00:00:00Z",
            end_time="2099-01-01T00:00:00Z",
            status="success",
        )
    )
    assert [e.execution_id for e in window.executions] == [failed_id]

    sleepy = served.create(SLEEPY)
    sleeping = sdk.start_workflow_execution(
        StartWorkflowExecutionRequest(
            workflow_id=sleepy, body=FlowExecuteBody(input={"a": 1})
        )
    ).execution_id
    served.wait(sleepy, sleeping, node="nap")
    sdk.stop_work_flow(StopWorkFlowRequest(workflow_id=sleepy, execution_id=sleeping))
    assert served.wait(sleepy, sleeping).status == "cancel"

    result = sdk.start_sync_workflow_execution(
        StartSyncWorkflowExecutionRequest(
            workflow_id=workflow_id, body=FlowExecuteBody(input={"a": 4, "b": 4})
        )
    )
    assert result.status == "success" and result.output["sum"] == 8


def sdk_error(call: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    return info.value


def error_cases(workflow_id: str, execution_id: str) -> list[tuple[str, Any, Any]]:
    """(name, SDK request, the same request as httpx keyword arguments)."""
    base = f"/v2/{PROJECT}/fgs/workflows"
    start = f"{base}/{workflow_id}/executions"
    return [
        (
            "bad-merge-header",
            StartWorkflowExecutionRequest(
                workflow_id=workflow_id,
                x_workflow_run_merge_fn_parameters="maybe",
                body=FlowExecuteBody(input={}),
            ),
            {
                "method": "POST",
                "url": start,
                "json": {"input": {}},
                "headers": {"X-WorkflowRun-MergeFnParameters": "maybe"},
            },
        ),
        (
            "no-input",
            StartWorkflowExecutionRequest(
                workflow_id=workflow_id, body=FlowExecuteBody(headers={})
            ),
            {"method": "POST", "url": start, "json": {"headers": {}}},
        ),
        (
            "input-not-object",
            StartSyncWorkflowExecutionRequest(
                workflow_id=workflow_id, body=FlowExecuteBody(input=[1])
            ),
            {
                "method": "POST",
                "url": f"{base}/{workflow_id}/sync-executions",
                "json": {"input": [1]},
            },
        ),
        (
            "bad-definition",
            CreateWorkflowRequest(body=WorkflowCreateBody(name="x", start="a")),
            {"method": "POST", "url": base, "json": {"name": "x", "start": "a"}},
        ),
        (
            "unknown-workflow",
            ShowWorkFlowRequest(workflow_id="nope"),
            {"method": "GET", "url": f"{base}/nope"},
        ),
        (
            "unknown-execution",
            ShowWorkflowExecutionRequest(workflow_id=workflow_id, execution_id="nope"),
            {"method": "GET", "url": f"{start}/nope"},
        ),
        (
            "retry-succeeded",
            RetryWorkFlowRequest(workflow_id=workflow_id, execution_id=execution_id),
            {"method": "POST", "url": f"{start}/{execution_id}/retry"},
        ),
        (
            "limit-over-200",
            ListWorkflowExecutionsRequest(workflow_id=workflow_id, limit=500),
            {"method": "GET", "url": start, "params": {"limit": 500}},
        ),
        (
            "bad-status",
            ListWorkflowExecutionsRequest(workflow_id=workflow_id, status="done"),
            {"method": "GET", "url": start, "params": {"status": "done"}},
        ),
    ]


SDK_CALLS = {
    StartWorkflowExecutionRequest: "start_workflow_execution",
    StartSyncWorkflowExecutionRequest: "start_sync_workflow_execution",
    CreateWorkflowRequest: "create_workflow",
    ShowWorkFlowRequest: "show_work_flow",
    ShowWorkflowExecutionRequest: "show_workflow_execution",
    RetryWorkFlowRequest: "retry_work_flow",
    ListWorkflowExecutionsRequest: "list_workflow_executions",
}


def test_sdk_surfaces_errors_as_the_server_sends_them() -> None:
    """Each bad request through the SDK and through httpx: the same answer."""
    functions = Functions()
    app = create_app(Runner(functions.registry(), store=MemoryStore()))
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        served = Served(server.url, functions)
        workflow_id = served.create(THREE)
        execution_id = client.post(
            f"/v2/{PROJECT}/fgs/workflows/{workflow_id}/executions",
            json={"input": {"a": 1}},
        ).json()["execution_id"]
        served.wait(workflow_id, execution_id)
        seen = {}
        for name, request, plain in error_cases(workflow_id, execution_id):
            call = getattr(served.sdk, SDK_CALLS[type(request)])
            error = sdk_error(lambda call=call, request=request: call(request))
            response = client.request(**plain)
            assert response.status_code >= 400, name
            body = response.json()
            assert (error.status_code, error.error_code, error.error_msg) == (
                response.status_code,
                body["error_code"],
                body["error_msg"],
            ), name
            assert error.request_id  # the X-Request-Id header
            seen[name] = error.status_code
    assert seen == {
        "bad-merge-header": 400,
        "no-input": 400,
        "input-not-object": 400,
        "bad-definition": 400,
        "unknown-workflow": 404,
        "unknown-execution": 404,
        "retry-succeeded": 409,
        "limit-over-200": 400,
        "bad-status": 400,
    }


def test_sdk_surfaces_413_and_500() -> None:
    functions = Functions()
    runner = Runner(functions.registry(), store=MemoryStore())
    app = create_app(runner, max_body_bytes=2000)
    with LiveServer(app) as server:
        served = Served(server.url, functions)
        workflow_id = served.create(THREE)
        error = sdk_error(
            lambda: served.sdk.start_workflow_execution(
                StartWorkflowExecutionRequest(
                    workflow_id=workflow_id,
                    body=FlowExecuteBody(input={"blob": "x" * 5000}),
                )
            )
        )
        assert (error.status_code, error.error_code) == (413, "FLOWMAP.4130")

    class Broken(RunnerBackend):
        async def get_workflow(
            self, project_id: str, workflow_id: str
        ) -> dict[str, Any]:
            raise RuntimeError("internal detail")

    app = create_app(Broken(Runner({}, store=MemoryStore())))
    with LiveServer(app) as server:
        with pytest.raises(ServerResponseException) as info:
            sdk_client(server.url).show_work_flow(ShowWorkFlowRequest(workflow_id="w"))
        assert info.value.status_code == 500
        assert info.value.error_code == "FLOWMAP.5000"
        assert "internal detail" not in info.value.error_msg


def test_signatures(served: Served) -> None:
    workflow_id = served.create(THREE)
    path = f"/v2/{PROJECT}/fgs/workflows/{workflow_id}"

    unsigned = httpx.get(served.url + path)
    assert unsigned.status_code == 401
    assert unsigned.json()["error_code"] == "FLOWMAP.4010"
    assert "not signed" in unsigned.json()["error_msg"]

    forged = httpx.get(
        served.url + path,
        headers={
            "Authorization": f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;"
            "x-sdk-date, Signature=" + "0" * 64,
            "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        },
    )
    assert forged.status_code == 401

    wrong_secret = sdk_client(served.url, sk="not-the-secret")
    error = sdk_error(
        lambda: wrong_secret.show_work_flow(
            ShowWorkFlowRequest(workflow_id=workflow_id)
        )
    )
    assert (error.status_code, error.error_code) == (401, "FLOWMAP.4010")
    assert error.error_msg == "the signature does not match the request"

    unknown_key = sdk_client(served.url, ak="AKUNKNOWN")
    error = sdk_error(
        lambda: unknown_key.show_work_flow(ShowWorkFlowRequest(workflow_id=workflow_id))
    )
    assert error.status_code == 401
    assert error.error_msg == "the signature does not match the request"

    # A valid key of another project: that project's key cannot see p1 ...
    other_on_p1 = sdk_client(served.url, ak=OTHER_AK, sk=OTHER_SK, project=PROJECT)
    error = sdk_error(
        lambda: other_on_p1.show_work_flow(ShowWorkFlowRequest(workflow_id=workflow_id))
    )
    assert (error.status_code, error.error_code) == (404, "FLOWMAP.4042")
    # ... and in its own project p1's workflow does not exist.
    other = sdk_client(served.url, ak=OTHER_AK, sk=OTHER_SK, project=OTHER_PROJECT)
    error = sdk_error(
        lambda: other.show_work_flow(ShowWorkFlowRequest(workflow_id=workflow_id))
    )
    assert (error.status_code, error.error_code) == (404, "FLOWMAP.4040")
    assert other.list_workflow(ListWorkflowRequest()).total == 0


def test_sdk_against_an_open_server() -> None:
    functions = Functions()
    app = create_app(Runner(functions.registry(), store=MemoryStore()))
    with LiveServer(app) as server:
        served = Served(server.url, functions)
        workflow_id = served.create(THREE)
        result = served.sdk.start_sync_workflow_execution(
            StartSyncWorkflowExecutionRequest(
                workflow_id=workflow_id, body=FlowExecuteBody(input={"a": 1})
            )
        )
        assert result.status == "success"
        assert httpx.get(f"{server.url}/v2/{PROJECT}/fgs/workflows").status_code == 200
