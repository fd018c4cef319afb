"""Tests for the flows runner: flow cases as data, the Runner API, properties.

The cases live in tests/data/flow_cases.json: a definition, an input (and
headers, merge switch, ids), and the expected record without times and ids.
Every case runs on a virtual clock (Sleep states and retry delays take no
real time) with both stores.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flowtools import run_sync_case, strip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsoncompare import containers, same

from flowmap.flows import (
    ExecutionInputError,
    ExecutionNotFoundError,
    ExecutionStateError,
    ManualClock,
    MemoryStore,
    Runner,
    SQLiteStore,
    Store,
    WorkflowNotFoundError,
    load_definition,
    load_functions,
)
from flowmap.flows._records import parse_time

HERE = Path(__file__).parent
CASES: dict[str, dict[str, Any]] = json.loads(
    (HERE / "data" / "flow_cases.json").read_text(encoding="utf-8")
)
FUNCTIONS = load_functions(HERE / "flows_functions.py")
URN = "urn:fss:local:p1:function:default:{}:latest"
STORES: dict[str, Callable[[], Store]] = {
    "memory": MemoryStore,
    "sqlite": lambda: SQLiteStore(":memory:"),
}
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def flow(states: list[dict[str, Any]], *names: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": extra.pop("name", "test"),
        "start": states[0]["id"],
        "functions": [{"name": n, "operation": URN.format(n)} for n in names],
        "states": states,
    }
    body.update(extra)
    return body


def operation(
    id: str, ref: str, arguments: Any = None, transition: str | None = None
) -> dict[str, Any]:
    function_ref: dict[str, Any] = {"ref_name": ref}
    if arguments is not None:
        function_ref["arguments"] = arguments
    state: dict[str, Any] = {
        "id": id,
        "name": id,
        "type": "Operation",
        "actions": [{"function_ref": function_ref}],
    }
    if transition:
        state["transition"] = transition
    else:
        state["end"] = True
    return state


def sleep(id: str, duration: float, transition: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "id": id,
        "name": id,
        "type": "Sleep",
        "duration": duration,
    }
    if transition:
        state["transition"] = transition
    else:
        state["end"] = True
    return state


# -- flow cases ------------------------------------------------------------


@pytest.mark.parametrize("store_kind", sorted(STORES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_flow_case(name: str, store_kind: str) -> None:
    case = CASES[name]
    definition = load_definition(case["definition"])
    clock = ManualClock()
    input_before = json.dumps(case["input"])

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        store = STORES[store_kind]()
        async with Runner(FUNCTIONS, store=store, clock=clock) as runner:
            sync = await run_sync_case(runner, definition, case)
            shown = await runner.get(sync["execution_id"])
        await store.close()
        return sync, shown

    sync, shown = run(main())
    expect = case["expect"]
    assert shown["status"] == expect["status"] == sync["status"]
    assert same(shown["output"], expect["output"]), shown["output"]
    assert same(shown["input"], case["input"])
    assert json.dumps(case["input"]) == input_before
    if expect["nodes"] is not None:
        got = strip(shown)
        if case.get("message_prefix"):
            for detail in got:
                for attempt in detail["executions"]:
                    if attempt["error_message"]:
                        attempt["error_message"] = attempt["error_message"].split(" ")[
                            0
                        ]
                        attempt["error_message"] += " "
        assert got == expect["nodes"]
    # Exactly one terminal status, times in order and formatted as the SDK's.
    assert shown["begin_time"] <= shown["end_time"]
    assert shown["end_time"].endswith("Z") and len(shown["end_time"]) == 20
    for detail in shown["node_execution_details"]:
        for attempt in detail["executions"]:
            assert isinstance(attempt["begin_time"], int)
            assert attempt["begin_time"] <= attempt["end_time"]
            assert attempt["status"] in ("success", "fail", "timeout", "cancel")
    if "elapsed" in case:
        elapsed = parse_time(shown["end_time"]) - parse_time(shown["begin_time"])
        assert elapsed == case["elapsed"] * 1000
    # The sync shape: output on success, errors on failure.
    if sync["status"] == "success":
        assert same(sync["output"], expect["output"]) and sync["errors"] is None
    else:
        assert sync["output"] is None
    if sync["status"] == "fail":
        assert sync["errors"] and all(e["error_message"] for e in sync["errors"])


def test_case_files_cover_every_field() -> None:
    text = json.dumps(CASES)
    for field in (
        "arguments",
        "constants",
        "state_data_filter",
        "action_mode",
        "on_errors",
        "retry_ref",
        "retries",
        "Sleep",
        "EXPRESS",
        "headers",
        "merge",
        "workflow_run_id",
        "create_time",
        "transition",
    ):
        assert field in text, field


# -- the Runner API --------------------------------------------------------

THREE = flow(
    [
        operation("a", "add", {"x": "$.x"}, "s"),
        sleep("s", 10, "b"),
        operation("b", "echo", {"sum": "$.sum"}),
    ],
    "add",
    "echo",
    name="three",
)


def test_start_returns_before_running_and_records_first() -> None:
    async def main() -> None:
        clock = ManualClock(autojump=False)
        async with Runner(FUNCTIONS, clock=clock) as runner:
            execution_id = await runner.start(load_definition(THREE), {"x": 1})
            shown = await runner.get(execution_id)
            assert shown["status"] == "running"
            assert shown["node_execution_details"] == []
            for _ in range(50):
                await asyncio.sleep(0)
            shown = await runner.get(execution_id)
            assert [d["node_id"] for d in shown["node_execution_details"]] == ["a", "s"]
            assert shown["node_execution_details"][1]["executions"][0]["status"] == (
                "running"
            )
            clock.advance(10)
            assert await runner.wait(execution_id) == "success"

    run(main())


def test_terminate_a_sleeping_execution() -> None:
    async def main() -> None:
        clock = ManualClock(autojump=False)
        async with Runner(FUNCTIONS, clock=clock) as runner:
            execution_id = await runner.start(load_definition(THREE), {"x": 1})
            while clock.sleepers == 0:
                await asyncio.sleep(0)
            await runner.terminate(execution_id)
            shown = await runner.get(execution_id)
            assert shown["status"] == "cancel"
            assert strip(shown)[-1]["executions"][-1]["status"] == "cancel"
            with pytest.raises(ExecutionStateError) as info:
                await runner.terminate(execution_id)
            assert "cancel" in str(info.value)
            with pytest.raises(ExecutionStateError):
                await runner.retry(execution_id)

    run(main())


def test_retry_resumes_a_failed_execution_from_its_failed_node() -> None:
    calls: list[str] = []
    healthy = {"value": False}

    async def first(event: Any, context: Any) -> Any:
        calls.append("first")
        return {"first": True}

    async def second(event: Any, context: Any) -> Any:
        calls.append("second")
        if not healthy["value"]:
            raise RuntimeError("down")
        return {"second": event}

    body = flow(
        [
            operation("a", "first", None, "b"),
            operation("b", "second", {"f": "$.first"}),
        ],
        "first",
        "second",
    )

    async def main() -> None:
        async with Runner({"first": first, "second": second}) as runner:
            result = await runner.run_sync(load_definition(body), {"in": 1})
            assert result["status"] == "fail"
            assert result["errors"][0]["node_id"] == "b"
            assert result["errors"][0]["error_message"] == "RuntimeError: down"
            healthy["value"] = True
            execution_id = result["execution_id"]
            assert await runner.retry(execution_id) == execution_id
            assert await runner.wait(execution_id) == "success"
            shown = await runner.get(execution_id)
            assert shown["output"] == {"in": 1, "first": True, "second": {"f": True}}
            nodes = strip(shown)
            assert [n["node_id"] for n in nodes] == ["a", "b"]
            assert [e["status"] for e in nodes[1]["executions"]] == ["fail", "success"]
            assert calls == ["first", "second", "second"]
            with pytest.raises(ExecutionStateError):
                await runner.retry(execution_id)

    run(main())


def test_workflows_by_id_and_listing_with_filters() -> None:
    async def main() -> None:
        clock = ManualClock(1_700_000_000)
        async with Runner(FUNCTIONS, clock=clock) as runner:
            info = await runner.create_workflow(THREE, project_id="p1")
            assert info["name"] == "three" and info["created_time"].endswith("Z")
            workflow_id = info["id"]
            ok = await runner.run_sync(workflow_id, {"x": 1}, project_id="p1")
            clock.advance(60)
            bad = await runner.run_sync(workflow_id, {}, project_id="p1")
            assert (ok["status"], bad["status"]) == ("success", "fail")
            listed = await runner.list(workflow_id)
            assert [e["execution_id"] for e in listed] == [
                bad["execution_id"],
                ok["execution_id"],
            ]
            assert set(listed[0]) == {
                "workflow_id",
                "workflow_urn",
                "execution_id",
                "status",
                "begin_time",
                "end_time",
                "last_update_time",
                "created_by",
            }
            failed = await runner.list(workflow_id, status="fail")
            assert [e["execution_id"] for e in failed] == [bad["execution_id"]]
            begin = ok["begin_time"]
            early = await runner.list(workflow_id, start_time=begin, end_time=begin)
            assert [e["execution_id"] for e in early] == [ok["execution_id"]]
            assert len(await runner.list(workflow_id, limit=1)) == 1
            assert await runner.list("other") == []
            with pytest.raises(ExecutionInputError):
                await runner.list(workflow_id, start_time="yesterday")
            with pytest.raises(WorkflowNotFoundError):
                await runner.start(workflow_id, {}, project_id="p2")
            with pytest.raises(ExecutionNotFoundError):
                await runner.get(ok["execution_id"], project_id="p2")

    run(main())


@pytest.mark.parametrize(
    ("value", "message"),
    [([1], "input must be an object, not an array"), (None, "not null")],
)
def test_bad_input(value: Any, message: str) -> None:
    async def main() -> None:
        async with Runner(FUNCTIONS) as runner:
            with pytest.raises(ExecutionInputError) as info:
                await runner.start(load_definition(THREE), value)
            assert message in str(info.value)
            with pytest.raises(ExecutionInputError):
                await runner.start(load_definition(THREE), {"x": {1, 2}})
            with pytest.raises(ExecutionInputError):
                await runner.start(load_definition(THREE), {}, headers=[1])  # type: ignore[arg-type]

    run(main())


def test_listing_refuses_an_unknown_status() -> None:
    async def main() -> None:
        async with Runner(FUNCTIONS) as runner:
            for status in ("bogus", "FAIL", "succeeded", ""):
                with pytest.raises(ExecutionInputError) as info:
                    await runner.list("w1", status=status)  # type: ignore[arg-type]
                assert info.value.field == "status"
                assert str(info.value) == (
                    "status must be one of running, success, fail, timeout, "
                    f"cancel, not {status!r}"
                )
            assert await runner.list("w1", status="cancel") == []

    run(main())


def test_unknown_execution() -> None:
    async def main() -> None:
        async with Runner(FUNCTIONS) as runner:
            for call in (runner.get, runner.terminate, runner.retry):
                with pytest.raises(ExecutionNotFoundError) as info:
                    await call("nope")
                assert isinstance(info.value, KeyError)

    run(main())


def test_a_hanging_function_times_out_in_real_time() -> None:
    body = flow([operation("a", "hang")], "hang")

    async def main() -> None:
        async with Runner(FUNCTIONS, timeout=0.05) as runner:
            result = await runner.run_sync(load_definition(body), {})
            assert result["status"] == "timeout"
            shown = await runner.get(result["execution_id"])
            attempt = shown["node_execution_details"][0]["executions"][0]
            assert attempt["status"] == "timeout"
            assert attempt["error_message"] == "the execution timed out"

    run(main())


def test_a_function_error_never_escapes_and_never_touches_another_execution() -> None:
    async def boom(event: Any, context: Any) -> Any:
        raise SystemExit("a function called exit")

    body = flow([operation("a", "boom")], "boom")
    good = flow([operation("a", "echo", {"v": "$.v"})], "echo")

    async def main() -> None:
        async with Runner({**FUNCTIONS, "boom": boom}) as runner:
            results = await asyncio.gather(
                runner.run_sync(load_definition(body), {}),
                runner.run_sync(load_definition(good), {"v": 1}),
            )
            assert [r["status"] for r in results] == ["fail", "success"]
            assert results[0]["errors"][0]["error_message"] == (
                "SystemExit: a function called exit"
            )

    run(main())


def test_aclose_checkpoints_running_executions_for_retry() -> None:
    async def main() -> None:
        clock = ManualClock(autojump=False)
        store = MemoryStore()
        runner = Runner(FUNCTIONS, store=store, clock=clock)
        execution_id = await runner.start(load_definition(THREE), {"x": 1})
        while clock.sleepers == 0:
            await asyncio.sleep(0)
        await runner.aclose()
        shown = await runner.get(execution_id)
        assert shown["status"] == "fail"
        again = Runner(FUNCTIONS, store=store, clock=ManualClock())
        await again.retry(execution_id)
        assert await again.wait(execution_id) == "success"
        nodes = strip(await again.get(execution_id))
        assert [n["node_id"] for n in nodes] == ["a", "s", "b"]
        assert [e["status"] for e in nodes[1]["executions"]] == ["fail", "success"]
        await again.aclose()

    run(main())


# -- properties ------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)
ALIAS_FLOW = flow(
    [
        operation(
            "a",
            "mutate",
            {"v": "$.v", "w": ["$.w"], "h": "$$.headers", "c": "$$"},
            "b",
        ),
        operation("b", "mutate", None, "c"),
        operation("c", "echo", {"all": "$"}),
    ],
    "mutate",
    "echo",
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, other=json_values, merge=st.booleans())
def test_no_node_shares_a_container_with_another_or_the_caller(
    value: Any, other: Any, merge: bool
) -> None:
    payload = {"v": value, "w": other, "keep": [1]}
    headers = {"h": [json.loads(json.dumps(value))]}
    before = json.dumps([payload, headers])

    async def main() -> dict[str, Any]:
        async with Runner(FUNCTIONS) as runner:
            result = await runner.run_sync(
                load_definition(ALIAS_FLOW), payload, headers=headers, merge=merge
            )
            assert result["status"] == "success", result
            return await runner.get(result["execution_id"])

    shown = run(main())
    # Functions that change their event, and the caller's objects, change
    # nothing recorded, and no recorded value shares a container with another.
    assert json.dumps([payload, headers]) == before
    assert shown["input"] == payload
    assert shown["headers"] == headers
    # What node a's function changed in its event and context is not in the
    # record of its input (its context included, mapped whole as "c").
    recorded = shown["node_execution_details"][0]["executions"][0]["input"]
    assert "mutated" not in recorded
    assert recorded["h"] == headers and recorded["c"]["headers"] == headers
    assert "mutated" not in recorded["w"]
    values = [payload, headers, shown["input"], shown["output"], shown["headers"]]
    for detail in shown["node_execution_details"]:
        for attempt in detail["executions"]:
            values += [attempt["input"], attempt["output"]]
    seen: dict[int, int] = {}
    for index, item in enumerate(values):
        for node in containers(item):
            assert seen.setdefault(id(node), index) == index


STATUS_FLOW = flow(
    [
        operation("a", "pick", {"k": "$.k"}, "s"),
        sleep("s", 0, "b"),
        operation("b", "pick", {"k": "$.k"}),
    ],
    "pick",
    retries=[{"name": "r", "delay": 0, "max_attempts": 1}],
)
STATUS_FLOW["states"][0]["on_errors"] = [{"error": "KeyError", "retry_ref": "r"}]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(
        st.sampled_from(["ok", "fail", "key", "none", "hang", "terminate"]),
        min_size=1,
        max_size=8,
    )
)
def test_every_execution_ends_in_exactly_one_terminal_status(kinds: list[str]) -> None:
    async def pick(event: Any, context: Any) -> Any:
        kind = event["k"]
        if kind == "fail":
            raise ValueError("no")
        if kind == "key":
            raise KeyError("k")
        if kind in ("hang", "terminate"):
            await asyncio.sleep(3600)
        return None if kind == "none" else {"r": kind}

    async def main() -> None:
        clock = ManualClock()
        async with Runner({"pick": pick}, timeout=0.2, clock=clock) as runner:
            definition = load_definition(STATUS_FLOW)
            ids = [await runner.start(definition, {"k": k}) for k in kinds]
            for execution_id, kind in zip(ids, kinds):
                if kind == "terminate":
                    await runner.terminate(execution_id)
            statuses = [await runner.wait(i) for i in ids]
            expected = {
                "ok": "success",
                "none": "success",
                "fail": "fail",
                "key": "fail",
                "hang": "timeout",
                "terminate": "cancel",
            }
            assert statuses == [expected[k] for k in kinds]
            for execution_id in ids:
                shown = await runner.get(execution_id)
                assert shown["end_time"] is not None
                for detail in shown["node_execution_details"]:
                    for attempt in detail["executions"]:
                        assert attempt["status"] != "running"

    run(main())


def test_a_thousand_concurrent_executions_of_a_five_node_flow() -> None:
    body = flow(
        [operation(f"n{i}", "add", {"x": "$.x", "y": i}, f"n{i + 1}") for i in range(4)]
        + [operation("n4", "add", {"x": "$.sum", "y": 100})],
        "add",
    )

    async def main() -> None:
        definition = load_definition(body)
        async with Runner(FUNCTIONS) as runner:
            ids = [await runner.start(definition, {"x": i}) for i in range(1000)]
            statuses = await asyncio.gather(*(runner.wait(i) for i in ids))
            assert statuses == ["success"] * 1000
            shown = await runner.get(ids[7])
            assert shown["output"]["sum"] == 7 + 3 + 100
            assert len(shown["node_execution_details"]) == 5

    run(main())


def test_deep_documents_fail_cleanly() -> None:
    deep: Any = {}
    for _ in range(5000):
        deep = {"k": deep}

    async def main() -> None:
        async with Runner(FUNCTIONS) as runner:
            with pytest.raises(ExecutionInputError, match="nested too deeply"):
                await runner.start(load_definition(THREE), {"x": 1, "deep": deep})

    run(main())


def test_a_retry_gets_a_fresh_time_limit() -> None:
    calls = {"n": 0}

    async def once_bad(event: Any, context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first call fails")
        return {"ok": True}

    body = flow([sleep("s", 200, "a"), operation("a", "once_bad")], "once_bad")
    body["mode"] = "EXPRESS"

    async def main() -> None:
        clock = ManualClock()
        async with Runner({"once_bad": once_bad}, clock=clock) as runner:
            first = await runner.run_sync(load_definition(body), {})
            assert first["status"] == "fail"
            clock.advance(3600)  # long after the first run's 5 minutes
            await runner.retry(first["execution_id"])
            assert await runner.wait(first["execution_id"]) == "success"

    run(main())
