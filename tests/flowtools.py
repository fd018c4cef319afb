"""Flow definitions and execution records as the flow tests and benchmarks use them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def chain(
    name: str,
    ids: Sequence[str],
    function: str,
    operation: str,
    arguments: dict[str, Any],
) -> dict[str, Any]:
    """A flow of one Operation state per id, run one after the other.

    Each state calls ``function`` (whose URN is ``operation``) with
    ``{"n": "$.n | 0", **arguments}``; a state's name is its id in capitals.
    """
    states: list[dict[str, Any]] = []
    for index, state_id in enumerate(ids):
        state: dict[str, Any] = {
            "id": state_id,
            "name": state_id.upper(),
            "type": "Operation",
            "actions": [
                {
                    "function_ref": {
                        "ref_name": function,
                        "arguments": {"n": "$.n | 0", **arguments},
                    }
                }
            ],
        }
        if index == len(ids) - 1:
            state["end"] = True
        else:
            state["transition"] = ids[index + 1]
        states.append(state)
    return {
        "name": name,
        "start": ids[0],
        "functions": [{"name": function, "operation": operation}],
        "states": states,
    }


async def run_sync_case(runner: Any, definition: Any, case: dict[str, Any]) -> Any:
    """``runner.run_sync`` of a case of tests/data/flow_cases.json, with its options."""
    return await runner.run_sync(
        definition,
        case["input"],
        headers=case.get("headers"),
        project_id=case.get("project_id", "default"),
        merge=case.get("merge"),
        workflow_run_id=case.get("workflow_run_id"),
        create_time=case.get("create_time"),
    )


def strip(shown: dict[str, Any]) -> list[dict[str, Any]]:
    """The node details of a record without times and ids."""
    return [
        {
            "node_id": detail["node_id"],
            "node_name": detail["node_name"],
            "executions": [
                {k: e[k] for k in ("status", "input", "output", "error_message")}
                for e in detail["executions"]
            ],
        }
        for detail in shown["node_execution_details"]
    ]
