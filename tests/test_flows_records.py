"""The runner's records have the official SDK's field names, types and formats.

Each shape is checked against the ``openapi_types`` of the model class in
``huaweicloudsdkfunctiongraph`` (a test dependency), so that a renamed or
retyped field shows up here rather than in a client.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from flowmap.flows import Runner, load_definition

sdk = pytest.importorskip("huaweicloudsdkfunctiongraph.v2")

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FN = "urn:fss:local:p:function:default:{}"


def check(value: dict[str, Any], model: str) -> None:
    """``value`` has exactly the model's fields, each of the model's type."""
    types: dict[str, str] = getattr(sdk, model).openapi_types
    assert set(value) == set(types), model
    for name, kind in types.items():
        item = value[name]
        if item is None or kind == "object":
            continue
        if kind.startswith("list["):
            assert isinstance(item, list), (model, name)
            for element in item:
                check(element, kind[5:-1])
        else:
            python = {"str": str, "int": int, "bool": bool}[kind]
            assert type(item) is python, (model, name, item)
            if python is str and name.endswith("_time"):
                assert TIME.match(item), (model, name, item)


async def fail(event: Any, context: Any) -> Any:
    raise ValueError("no")


async def ok(event: Any, context: Any) -> Any:
    return {"ok": True}


def flow(ref: str) -> Any:
    return load_definition(
        {
            "name": "shapes",
            "start": "a",
            "functions": [{"name": ref, "operation": FN.format(ref)}],
            "states": [
                {
                    "id": "a",
                    "name": "A",
                    "type": "Operation",
                    "transition": "s",
                    "actions": [{"function_ref": {"ref_name": ref}}],
                },
                {"id": "s", "name": "S", "type": "Sleep", "duration": 0, "end": True},
            ],
        }
    )


@pytest.mark.parametrize("ref", ["ok", "fail"])
def test_shapes_match_the_sdk_models(ref: str) -> None:
    async def main() -> None:
        async with Runner({"ok": ok, "fail": fail}) as runner:
            sync = await runner.run_sync(flow(ref), {"x": 1})
            check(sync, "StartSyncWorkflowExecutionResponse")
            shown = await runner.get(sync["execution_id"])
            check(shown, "ShowWorkflowExecutionResponse")
            assert shown["node_execution_details"]
            listed = await runner.list(shown["workflow_id"])
            assert listed
            for item in listed:
                check(item, "FlowExecutionBrief")
            info = await runner.create_workflow(flow(ref))
            check(info, "CreateWorkflowResponse")
            check(info, "WorkflowSimpleInfo")
            assert sync["status"] == ("success" if ref == "ok" else "fail")

    asyncio.run(main())


def test_a_start_response_is_the_sdk_shape() -> None:
    async def main() -> str:
        async with Runner({"ok": ok}) as runner:
            return await runner.start(flow("ok"), {})

    check({"execution_id": asyncio.run(main())}, "StartWorkflowExecutionResponse")
