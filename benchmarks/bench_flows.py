"""Benchmark the flows runner: run ``python benchmarks/bench_flows.py``.

A 10-node flow of no-op ``async`` functions, each node's event built by the
same 4-leaf mapping (a path, a defaulted path, a ``$CONST`` path and a
context path), is run

1. by a hand-written asyncio loop: apply each node's compiled mapping, await
   the function, merge a result into the data (no records, no ids);
2. by ``Runner.run_sync`` with a ``MemoryStore``: the same work plus ids,
   node records, the context object, copies at the function boundary and a
   checkpoint per node;

one execution after another, and the per-node times (of the fastest
execution, which the load of the rest of the machine disturbed least) and
their ratio are printed (target: the runner within 3x of the hand-written loop). Then
executions per second are measured with many executions in flight at once,
on ``MemoryStore`` and on ``SQLiteStore`` (a file in a temporary directory,
WAL, ``synchronous=NORMAL``). Each figure is the best of several repeats.
``--quick`` makes a short run.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flowmap
from flowmap.flows import MemoryStore, Runner, SQLiteStore, load_definition

NODES = 10
ARGUMENTS = {
    "order": "$.order.id",
    "user": "$.order.user | 'guest'",
    "region": "$CONST.region",
    "run": "$$.execution_id",
}
CONSTANTS = {"region": "cn-north-4"}
INPUT = {"order": {"id": "A-1", "items": [{"sku": "tea", "qty": 2}]}}


async def noop(event: Any, context: Any) -> Any:
    return None


def definition_body(nodes: int = NODES) -> dict[str, Any]:
    states = []
    for i in range(nodes):
        state: dict[str, Any] = {
            "id": f"n{i}",
            "name": f"node {i}",
            "type": "Operation",
            "actions": [{"function_ref": {"ref_name": "noop", "arguments": ARGUMENTS}}],
        }
        if i == nodes - 1:
            state["end"] = True
        else:
            state["transition"] = f"n{i + 1}"
        states.append(state)
    return {
        "name": "bench",
        "start": "n0",
        "functions": [
            {"name": "noop", "operation": "urn:fss:local:p:function:default:noop"}
        ],
        "constants": CONSTANTS,
        "states": states,
    }


async def hand_written(count: int, size: int = NODES) -> float:
    """Seconds of the fastest of ``count`` executions, run one after another."""
    mapping = flowmap.compile_mapping(ARGUMENTS)
    nodes = [(f"n{i}", noop, mapping) for i in range(size)]
    fastest = float("inf")
    for n in range(count):
        start = time.perf_counter()
        data = INPUT
        context = {"execution_id": f"e{n}", "workflow_name": "bench"}
        for _state_id, function, node_mapping in nodes:
            event = node_mapping.apply(data, constants=CONSTANTS, context=context)
            result = await function(event, context)
            if result is not None:
                data = flowmap.merge(data, result)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def sync_noop(event: Any, context: Any) -> Any:
    return None


async def hand_written_threads(count: int) -> float:
    """The bare loop calling a plain (sync) function in a thread pool, as an
    asyncio program must so that the function cannot block the loop."""
    mapping = flowmap.compile_mapping(ARGUMENTS)
    loop = asyncio.get_running_loop()
    fastest = float("inf")
    with ThreadPoolExecutor() as pool:
        for n in range(count):
            start = time.perf_counter()
            data = INPUT
            context = {"execution_id": f"e{n}", "workflow_name": "bench"}
            for _ in range(NODES):
                event = mapping.apply(data, constants=CONSTANTS, context=context)
                result = await loop.run_in_executor(pool, sync_noop, event, context)
                if result is not None:
                    data = flowmap.merge(data, result)
            fastest = min(fastest, time.perf_counter() - start)
    return fastest


async def hand_written_engine(count: int, size: int = NODES) -> float:
    """The same, with what a hand-written engine keeps: an execution id, a
    context object per node, and a record per node (input, output, status,
    times) in a list, as in the glue the flows issue started from."""
    mapping = flowmap.compile_mapping(ARGUMENTS)
    nodes = [(f"n{i}", noop, mapping) for i in range(size)]
    executions: dict[str, list[dict[str, Any]]] = {}
    fastest = float("inf")
    for _ in range(count):
        start = time.perf_counter()
        execution_id = str(uuid.uuid4())
        records: list[dict[str, Any]] = []
        executions[execution_id] = records
        base = {"execution_id": execution_id, "workflow_name": "bench"}
        data = INPUT
        for state_id, function, node_mapping in nodes:
            context = {**base, "state_id": state_id, "attempt": 1}
            begin = int(time.time() * 1000)
            event = node_mapping.apply(data, constants=CONSTANTS, context=context)
            result = await function(event, context)
            if result is not None:
                data = flowmap.merge(data, result)
            records.append(
                {
                    "node_id": state_id,
                    "status": "success",
                    "input": event,
                    "output": result,
                    "begin_time": begin,
                    "end_time": int(time.time() * 1000),
                }
            )
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


async def with_runner(count: int, function: Any = noop, size: int = NODES) -> float:
    definition = load_definition(definition_body(size))
    async with Runner({"noop": function}, store=MemoryStore()) as runner:
        await runner.run_sync(definition, INPUT)  # warm the caches
        fastest = float("inf")
        for _ in range(count):
            start = time.perf_counter()
            result = await runner.run_sync(definition, INPUT)
            fastest = min(fastest, time.perf_counter() - start)
            assert result["status"] == "success"
    return fastest


async def throughput(store: Any, count: int, in_flight: int) -> float:
    """Executions per second with ``in_flight`` executions running at once."""
    definition = load_definition(definition_body())
    async with Runner({"noop": noop}, store=store) as runner:
        await runner.run_sync(definition, INPUT)
        semaphore = asyncio.Semaphore(in_flight)

        async def one() -> str:
            async with semaphore:
                execution_id = await runner.start(definition, INPUT)
                return await runner.wait(execution_id)

        start = time.perf_counter()
        statuses = await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - start
    assert statuses == ["success"] * count
    return count / elapsed


def best(repeat: int, fn: Any, *args: Any) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            times.append(asyncio.run(fn(*args)))
        finally:
            gc.enable()
    return min(times)


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 3 if quick else 7
    count = 200 if quick else 1000
    bare = best(repeat, hand_written, count) / NODES
    engine = best(repeat, hand_written_engine, count) / NODES
    runner = best(repeat, with_runner, count) / NODES
    # The cost of one more node: (10-node execution - 1-node execution) / 9.
    slopes = {}
    for name, fn, args in (
        ("bare", hand_written, (count, 1)),
        ("engine", hand_written_engine, (count, 1)),
        ("runner", with_runner, (count, noop, 1)),
    ):
        whole = {"bare": bare, "engine": engine, "runner": runner}[name] * NODES
        slopes[name] = (whole - best(repeat, fn, *args)) / (NODES - 1)
    print(
        f"10-node flow of no-op functions, fastest of {count} executions run one "
        f"at a time, best of {repeat} runs"
    )
    print("| measure | per node (execution / 10) | ratio | one more node | ratio |")
    print("|---|---:|---:|---:|---:|")
    rows = (
        ("bare loop: mapping + call", bare, slopes["bare"]),
        ("hand-written engine loop (ids, context, records)", engine, slopes["engine"]),
        ("Runner + MemoryStore", runner, slopes["runner"]),
    )
    for name, per_node, slope in rows:
        print(
            f"| {name} | {per_node * 1e6:.2f} us | {per_node / bare:.1f}x "
            f"| {slope * 1e6:.2f} us | {slope / slopes['bare']:.1f}x |"
        )
    fixed = runner * NODES - slopes["runner"] * NODES
    print(
        f"Runner's fixed cost per execution (start, task, wait, result): "
        f"{fixed * 1e6:.1f} us"
    )
    for name, per_node, slope in rows[:2]:
        verdict = "PASS" if runner <= 3 * per_node else "FAIL"
        print(f"target: Runner within 3x of the {name}: {verdict}")
        verdict = "PASS" if slopes["runner"] <= 3 * slope else "FAIL"
        print(f"target: one more node within 3x of the {name}: {verdict}")

    threads = best(repeat, hand_written_threads, count) / NODES
    runner_threads = best(repeat, with_runner, count, sync_noop) / NODES
    print()
    print("the same with plain (sync) no-op functions, run in a thread pool")
    print("| measure | per node | ratio |")
    print("|---|---:|---:|")
    print(f"| bare loop, run_in_executor | {threads * 1e6:.2f} us | 1.00x |")
    ratio = runner_threads / threads
    print(f"| Runner + MemoryStore | {runner_threads * 1e6:.2f} us | {ratio:.2f}x |")
    verdict = "PASS" if ratio <= 3 else "FAIL"
    print(f"target: Runner within 3x of the bare loop: {verdict}")

    total = 500 if quick else 2000
    in_flight = 100
    rates = {}
    rates["MemoryStore"] = max(
        asyncio.run(throughput(MemoryStore(), total, in_flight)) for _ in range(3)
    )
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_rates = []
        for i in range(3):
            store = SQLiteStore(Path(tmp) / f"bench{i}.db")
            sqlite_rates.append(asyncio.run(throughput(store, total, in_flight)))
            asyncio.run(store.close())
        rates["SQLiteStore (file, WAL)"] = max(sqlite_rates)
    print()
    print(f"{total} executions of the 10-node flow, {in_flight} in flight")
    print("| store | executions/s | nodes/s |")
    print("|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rate * NODES:,.0f} |")


if __name__ == "__main__":
    main()
