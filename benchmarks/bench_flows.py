"""Benchmark the flows runner: run ``python benchmarks/bench_flows.py``.

A 10-node flow of no-op ``async`` functions, each node's event built by the
same 4-leaf mapping (a path, a defaulted path, a ``$CONST`` path and a
context path), is run one execution after another

1. by a bare asyncio loop: apply each node's compiled mapping, await the
   function, merge a result into the data (no ids, no records, no copies);
2. by a hand-written loop that also keeps an execution id, a context object
   and a record per node, without copies (functions share containers with
   the records);
3. by a hand-written loop that gives the runner's guarantees (see
   ``hand_written_guarded``: ids, execution and node records readable while
   it runs, the full context object, no aliasing between the caller, the
   records and the functions, exceptions recorded);
4. by ``Runner.run_sync`` with a ``MemoryStore``: the same as 3, plus a
   task per execution, a checkpoint per node in the store, a timeout,
   retries, and records in the SDK's shapes.

The per-node times (of the fastest execution, which the load of the rest of
the machine disturbed least) and the runner's ratio to each are printed.
The target (the runner within 3x of the hand-written loop) is checked
against 3, the loop that does the same work; 1 and 2 are printed for
transparency. Then executions per second are measured with many executions
in flight at once, on ``MemoryStore`` and on ``SQLiteStore`` (a file in a
temporary directory, WAL, ``synchronous=NORMAL``). Each figure is the best
of several repeats. ``--quick`` makes a short run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import no_gc

import flowmap
from flowmap.flows import MemoryStore, Runner, SQLiteStore, load_definition
from flowmap.flows._executor import json_clone, json_copy

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
    """The same, with what a hand-written engine keeps without copies: an
    execution id, a context object per node, and a record per node (input,
    output, status, times) in a list, as in the glue the flows issue started
    from. Functions share containers with the records here."""
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


async def hand_written_guarded(count: int, size: int = NODES) -> float:
    """What a user must write by hand for the runner's guarantees, with the
    same mappings and functions, one execution after another:

    - an execution id (a random UUID) and an execution record (status,
      input, output, begin/end times) kept in a dict by id, and the record of
      every node (node id and name, attempt status, input, output, begin/end
      times, error) appended to it as the node begins, so that it can be read
      while the execution runs;
    - the context object of each node (execution, workflow, project, headers,
      create time, state id and name, attempt);
    - no aliasing: the caller's input is copied (and checked to be JSON), a
      function gets its own copy of its event and of the headers in its
      context, its result is copied (and checked), and the caller gets its
      own copy of the output;
    - a function's exception is recorded, not raised.

    The copies are flowmap's own (``json_copy`` checks, ``json_clone``
    does not), the fastest we have, so that the ratio measures the runner
    and not the copy functions. There is no task per execution, no store,
    no timeout and no retry: the runner pays for those on top.
    """
    mapping = flowmap.compile_mapping(ARGUMENTS)
    nodes = [(f"n{i}", f"node {i}", noop, mapping) for i in range(size)]
    executions: dict[str, dict[str, Any]] = {}
    headers: dict[str, Any] = {}
    fastest = float("inf")
    for _ in range(count):
        start = time.perf_counter()
        execution_id = str(uuid.uuid4())
        data = json_copy(INPUT)
        now = int(time.time() * 1000)
        details: list[dict[str, Any]] = []
        record = {
            "execution_id": execution_id,
            "status": "running",
            "input": data,
            "output": None,
            "begin_time": now,
            "end_time": None,
            "nodes": details,
        }
        executions[execution_id] = record
        base = {
            "execution_id": execution_id,
            "workflow_id": "w",
            "workflow_name": "bench",
            "project_id": "p",
            "headers": headers,
            "create_time": "2026-12-01T00:00:00Z",
            "workflow_run_id": None,
        }
        for state_id, state_name, function, node_mapping in nodes:
            context = {**base, "state_id": state_id, "state_name": state_name}
            context["attempt"] = 1
            attempt = {
                "status": "running",
                "input": None,
                "output": None,
                "begin_time": int(time.time() * 1000),
                "end_time": None,
                "error_message": None,
            }
            details.append(
                {"node_id": state_id, "node_name": state_name, "executions": [attempt]}
            )
            try:
                event = node_mapping.apply(data, constants=CONSTANTS, context=context)
                attempt["input"] = event
                own = {**context, "headers": json_clone(headers)}
                result = json_copy(await function(json_clone(event), own))
            except Exception as exc:
                attempt["status"] = "fail"
                attempt["error_message"] = f"{type(exc).__name__}: {exc}"
                attempt["end_time"] = int(time.time() * 1000)
                record["status"] = "fail"
                break
            attempt["output"] = result
            if result is not None:
                data = flowmap.merge(data, result, strategy="deep")
            attempt["status"] = "success"
            attempt["end_time"] = int(time.time() * 1000)
        else:
            record["status"] = "success"
            record["output"] = data
        record["end_time"] = int(time.time() * 1000)
        output = json_clone(record["output"])
        assert output is not None
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


async def with_runner(count: int, size: int = NODES, function: Any = noop) -> float:
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
        with no_gc():
            times.append(asyncio.run(fn(*args)))
    return min(times)


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 3 if quick else 7
    count = 200 if quick else 1000
    loops = {
        "bare": ("bare loop: mapping + call", hand_written),
        "engine": (
            "hand-written loop: ids, context, records, no copies",
            hand_written_engine,
        ),
        "guarded": (
            "hand-written loop with the runner's guarantees",
            hand_written_guarded,
        ),
        "runner": ("Runner + MemoryStore", with_runner),
    }
    whole = {key: best(repeat, fn, count) for key, (_, fn) in loops.items()}
    # The cost of one more node: (10-node execution - 1-node execution) / 9.
    slopes = {
        key: (whole[key] - best(repeat, fn, count, 1)) / (NODES - 1)
        for key, (_, fn) in loops.items()
    }
    print(
        f"10-node flow of no-op functions, fastest of {count} executions run one "
        f"at a time, best of {repeat} runs"
    )
    print(
        "| measure | per node (execution / 10) | runner / this "
        "| one more node | runner / this |"
    )
    print("|---|---:|---:|---:|---:|")
    for key, (name, _) in loops.items():
        per_node, slope = whole[key] / NODES, slopes[key]
        print(
            f"| {name} | {per_node * 1e6:.2f} us "
            f"| {whole['runner'] / whole[key]:.1f}x "
            f"| {slope * 1e6:.2f} us | {slopes['runner'] / slope:.1f}x |"
        )
    fixed = whole["runner"] - slopes["runner"] * NODES
    print(
        f"Runner's fixed cost per execution (start, task, wait, result): "
        f"{fixed * 1e6:.1f} us"
    )
    # The target compares like with like: the loop a user would write for
    # the same guarantees. The bare loop is printed for transparency.
    ratio = whole["runner"] / whole["guarded"]
    verdict = "PASS" if ratio <= 3 else "FAIL"
    print(
        f"target: Runner within 3x of the hand-written loop with the runner's "
        f"guarantees: {ratio:.2f}x, {verdict}"
    )

    threads = best(repeat, hand_written_threads, count) / NODES
    runner_threads = best(repeat, with_runner, count, NODES, sync_noop) / NODES
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
