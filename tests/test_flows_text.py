"""Text no store can keep, and saves that fail: one terminal status, always.

A lone surrogate (``"\\ud800"``) is not Unicode text: no database takes it.
It is refused where it comes in (input, headers, ids, definitions) with a
FlowmapError naming its location, and a function result holding it fails the
node as ``InvalidResult`` (flow cases in tests/data/flow_cases.json). When a
save raises anyway (an executor of the caller's returning such text, a store
fault), the execution still ends ``fail`` where the store allows it, and
``wait``/``run_sync`` return. Every store here is real: the faulty one is a
MemoryStore that raises on chosen saves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from flowmap import FlowmapError
from flowmap.flows import (
    DefinitionError,
    ExecutionInputError,
    MemoryStore,
    Runner,
    SQLiteStore,
    Store,
    load_definition,
    load_functions,
)
from flowmap.flows._executor import EmbeddedExecutor, json_copy
from flowmap.flows._records import ExecutionRecord, NodeRecord
from flowmap.flows._text import bad_text, scrubbed, text_problem

HERE = Path(__file__).parent
FUNCTIONS = load_functions(HERE / "flows_functions.py")
URN = "urn:fss:local:p1:function:default:{}:latest"


def definition(*refs: str, name: str = "text") -> dict[str, Any]:
    states = []
    for index, ref in enumerate(refs):
        state: dict[str, Any] = {
            "id": f"s{index}",
            "name": f"s{index}",
            "type": "Operation",
            "actions": [{"function_ref": {"ref_name": ref}}],
        }
        if index + 1 < len(refs):
            state["transition"] = f"s{index + 1}"
        else:
            state["end"] = True
        states.append(state)
    return {
        "name": name,
        "start": "s0",
        "functions": [{"name": r, "operation": URN.format(r)} for r in set(refs)],
        "states": states,
    }


def stores(tmp_path: Path) -> dict[str, Callable[[], Store]]:
    return {
        "memory": MemoryStore,
        "sqlite": lambda: SQLiteStore(str(tmp_path / "t.db")),
    }


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_start_refuses_text_no_store_keeps(store_kind: str, tmp_path: Path) -> None:
    async def main() -> None:
        store = stores(tmp_path)[store_kind]()
        flow = load_definition(definition("echo"))
        async with Runner(FUNCTIONS, store=store) as runner:
            cases: list[tuple[dict[str, Any], str, str]] = [
                (
                    {"input": {"a": "\ud800"}},
                    "input",
                    "$.input.a: a lone surrogate U+D800 is not Unicode text",
                ),
                (
                    {"input": {"a": [{"b": "x\udfff"}]}},
                    "input",
                    "$.input.a[0].b: a lone surrogate U+DFFF",
                ),
                (
                    {"input": {}, "headers": {"h": "\udc00"}},
                    "headers",
                    "$.headers.h: a lone surrogate U+DC00",
                ),
                (
                    {"input": {}, "project_id": "p\x00"},
                    "project_id",
                    "a NUL character (U+0000) cannot be stored",
                ),
                (
                    {"input": {}, "workflow_run_id": "r\ud800"},
                    "workflow_run_id",
                    "U+D800",
                ),
                ({"input": {}, "create_time": "\ud800"}, "create_time", "U+D800"),
            ]
            for kwargs, field, text in cases:
                value = kwargs.pop("input")
                with pytest.raises(ExecutionInputError) as info:
                    await runner.start(flow, value, **kwargs)
                assert info.value.field == field
                assert text in str(info.value), str(info.value)
            with pytest.raises(ExecutionInputError):
                await runner.start("w\ud800", {})
            # Nothing was recorded; a NUL inside JSON is kept.
            assert await runner.list(await _workflow_id(runner, flow)) == []
            done = await runner.run_sync(flow, {"a": "x\x00y"}, headers={"h": "\x00"})
            assert done["status"] == "success"
            shown = await runner.get(done["execution_id"])
            assert shown["input"] == {"a": "x\x00y"}
        await store.close()

    asyncio.run(main())


async def _workflow_id(runner: Runner, flow: Any) -> str:
    from flowmap.flows._runner import adhoc_workflow_id

    return adhoc_workflow_id("default", flow.name)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_create_workflow_refuses_ids_no_store_keeps(
    store_kind: str, tmp_path: Path
) -> None:
    async def main() -> None:
        store = stores(tmp_path)[store_kind]()
        async with Runner(FUNCTIONS, store=store) as runner:
            for kwargs in ({"project_id": "p\x00"}, {"created_by": "\ud800"}):
                with pytest.raises(ExecutionInputError):
                    await runner.create_workflow(definition("echo"), **kwargs)
            made = await runner.create_workflow(definition("echo", name="caf\u00e9"))
            assert made["name"] == "caf\u00e9"
        await store.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("where", "value", "location"),
    [
        ("name", "sur\ud800", "$.name"),
        ("name", "nul\x00", "$.name"),
        ("description", "d\udc80", "$.description"),
    ],
)
def test_definitions_refuse_text_no_store_keeps(
    where: str, value: str, location: str
) -> None:
    body = definition("echo")
    body[where] = value
    with pytest.raises(DefinitionError) as info:
        load_definition(body)
    assert [p.location for p in info.value.problems] == [location]
    # The message itself is Unicode text (it can be printed and sent).
    str(info.value).encode("utf-8")


def test_definitions_list_every_bad_string_and_key() -> None:
    body = definition("echo")
    body["states"][0]["actions"][0]["function_ref"]["arguments"] = {
        "a": "'\ud800'",
        "b\udfff": "$.x",
    }
    with pytest.raises(DefinitionError) as info:
        load_definition(body)
    problems = [(p.location, p.message) for p in info.value.problems]
    base = "$.states[0].actions[0].function_ref.arguments"
    assert (
        f"{base}.a",
        "a lone surrogate U+D800 is not Unicode text",
    ) in problems
    assert any(loc == base and "the key 'b\\udfff'" in msg for loc, msg in problems), (
        problems
    )
    str(info.value).encode("utf-8")


# -- saves that fail -----------------------------------------------------------


class RawExecutor(EmbeddedExecutor):
    """An executor of the caller's that hands results over unchecked."""

    async def invoke(
        self, name: str, operation: str, event: Any, context: dict[str, Any]
    ) -> Any:
        return {"s": "\ud800", "n": name}


class FaultyStore(MemoryStore):
    """A MemoryStore whose saves numbered in ``failing`` (1, 2, ...) raise,
    and every save from ``from_on`` on, as a store whose database fails."""

    def __init__(self, failing: Sequence[int] = (), from_on: int = 0) -> None:
        super().__init__()
        self.failing = set(failing)
        self.from_on = from_on
        self.saves = 0

    async def save_execution(
        self, record: ExecutionRecord, nodes: Sequence[NodeRecord] = ()
    ) -> None:
        self.saves += 1
        if self.saves in self.failing or 0 < self.from_on <= self.saves:
            raise RuntimeError(f"save {self.saves} failed")
        await super().save_execution(record, nodes)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_an_executor_result_no_store_keeps_fails_the_node_on_every_store(
    store_kind: str, tmp_path: Path
) -> None:
    async def main() -> None:
        store = stores(tmp_path)[store_kind]()
        flow = load_definition(definition("echo", "echo"))
        runner = Runner(FUNCTIONS, store=store, executor=RawExecutor(FUNCTIONS))
        try:
            done = await asyncio.wait_for(runner.run_sync(flow, {}), 10)
            assert done["status"] == "fail"
            assert done["errors"][0]["error_message"] == (
                "InvalidResult: function echo returned text that cannot be "
                "stored: $.s: a lone surrogate U+D800 is not Unicode text"
            )
            shown = await runner.get(done["execution_id"])
            json.dumps(shown, ensure_ascii=False).encode("utf-8")
        finally:
            await runner.aclose()
            await store.close()

    asyncio.run(main())


@pytest.mark.parametrize("failing", [(2,), (3,), (4,), (2, 3), (3, 4), (4, 5)], ids=str)
def test_a_save_that_raises_still_ends_the_execution_as_fail(
    failing: tuple[int, ...],
) -> None:
    """Saves 2-4 are the node checkpoints and the end of a three-node flow;
    a failing save ends it ``fail`` (saving again with what the store
    takes), never ``running``."""

    async def main() -> None:
        store = FaultyStore(failing)
        flow = load_definition(definition("echo", "echo", "echo"))
        async with Runner(FUNCTIONS, store=store) as runner:
            done = await asyncio.wait_for(runner.run_sync(flow, {"a": 1}), 10)
            assert done["status"] == "fail"
            shown = await runner.get(done["execution_id"])
            assert shown["status"] == "fail" and shown["end_time"]
            assert "internal error: RuntimeError" in json.dumps(shown)
            statuses = [
                e["status"]
                for d in shown["node_execution_details"]
                for e in d["executions"]
            ]
            assert "running" not in statuses

    asyncio.run(main())


def test_a_store_that_fails_for_good_never_hangs_wait_or_run_sync() -> None:
    async def main() -> None:
        store = FaultyStore(from_on=2)
        flow = load_definition(definition("echo", "echo"))
        async with Runner(FUNCTIONS, store=store) as runner:
            done = await asyncio.wait_for(runner.run_sync(flow, {}), 10)
            # The store kept only the first save: that is what it can show.
            assert done["status"] == "running"
            status = await asyncio.wait_for(runner.wait(done["execution_id"]), 10)
            assert status == "running"

    asyncio.run(main())


# -- the helpers ---------------------------------------------------------------


def test_json_copy_refuses_lone_surrogates_anywhere() -> None:
    for value in (
        "\ud800",
        {"a": "\ud800"},
        {"\ud800": 1},
        ["x", "\udfff"],
        {"a": [{"b": ("\udc00",)}]},
    ):
        with pytest.raises(TypeError, match="lone surrogate"):
            json_copy(value)
    ok = {"a": "caf\u00e9 \U0001f600", "b": ["\x00", "\u4e2d"], "\u00e9": None}
    assert json_copy(ok) == ok


def test_text_helpers() -> None:
    assert bad_text("plain") is None and bad_text("x\x00") is None
    assert bad_text("x\x00", nul=True) == "a NUL character (U+0000) cannot be stored"
    assert text_problem({"a b": ["\ud800"]}, "$.input") == (
        "$.input['a b'][0]: a lone surrogate U+D800 is not Unicode text"
    )
    assert text_problem({"a": "ok"}) is None
    assert scrubbed({"k\ud800": ["a\x00", 1]}) == {"k\ufffd": ["a", 1]}
    assert isinstance(ExecutionInputError("input", "x"), FlowmapError)
