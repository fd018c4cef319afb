"""The functions the flow cases (tests/data/flow_cases.json) call.

Loaded by the tests with ``flowmap.flows.load_functions``, so they are also a
test of it: each top-level function is registered under its name, and the
flow definitions name them in their operation URNs.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

STABLE_CONTEXT = (
    "workflow_name",
    "project_id",
    "headers",
    "workflow_run_id",
    "create_time",
    "state_id",
    "state_name",
    "attempt",
)


class CodedError(Exception):
    """An error with an ``error_code``, as on_errors may match it."""

    error_code = "FSS.1001"


async def echo(event: Any, context: dict[str, Any]) -> Any:
    return {"echoed": event}


async def add(event: Any, context: dict[str, Any]) -> Any:
    return {"sum": event["x"] + event.get("y", 0)}


async def context(event: Any, context: dict[str, Any]) -> Any:
    return {"event": event, "context": {k: context[k] for k in STABLE_CONTEXT}}


async def flaky(event: Any, context: dict[str, Any]) -> Any:
    if context["attempt"] <= 2:
        raise ValueError(f"flaky attempt {context['attempt']}")
    return {"ok": context["attempt"]}


async def fail(event: Any, context: dict[str, Any]) -> Any:
    raise ValueError("always")


async def coded(event: Any, context: dict[str, Any]) -> Any:
    raise CodedError("coded failure")


async def nothing(event: Any, context: dict[str, Any]) -> Any:
    return None


async def number(event: Any, context: dict[str, Any]) -> Any:
    return 42


async def deep(event: Any, context: dict[str, Any]) -> Any:
    return {"user": {"name": "n", "tags": ["b"]}}


async def pair(event: Any, context: dict[str, Any]) -> Any:
    return [1, 2]


async def not_json(event: Any, context: dict[str, Any]) -> Any:
    return {1, 2}


def sync_echo(event: Any, context: dict[str, Any]) -> Any:
    # Runs in the runner's thread pool, never on the event loop's thread.
    assert threading.current_thread() is not threading.main_thread()
    return {"echoed": event}


def mutate(event: Any, context: dict[str, Any]) -> Any:
    """Changes everything it is given and returns what it changed."""
    if isinstance(event, dict):
        event["mutated"] = True
        for value in event.values():
            if isinstance(value, list):
                value.append("mutated")
    context["headers"]["mutated"] = True
    return event


async def hang(event: Any, context: dict[str, Any]) -> Any:
    await asyncio.sleep(3600)
    return None


async def noop(event: Any, context: dict[str, Any]) -> Any:
    return None


async def lone_surrogate(event: Any, context: dict[str, Any]) -> Any:
    """A result no store can keep: a string holding a lone surrogate."""
    return {"s": ["ok", "a\ud800"]}


async def nul_text(event: Any, context: dict[str, Any]) -> Any:
    """A NUL inside a JSON string: JSON text every store keeps (escaped)."""
    return {"s": "a\x00b"}
