"""The Celery executor against real Redis and real ``flowmap worker`` processes.

The flow cases of tests/data/flow_cases.json run on both executors and must
give the same records; then the faults of issue 12: a worker killed during a
call, and Redis stopped for a moment.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("celery")

from flowtools import chain, run_sync_case, strip
from jsoncompare import same
from scaletools import RedisServer, worker

from flowmap.flows import (
    CeleryExecutor,
    EmbeddedExecutor,
    FunctionFailure,
    ManualClock,
    MemoryStore,
    Runner,
    celery_app,
    load_definition,
    load_functions,
)

HERE = Path(__file__).parent
FUNCTIONS_FILE = HERE / "scale_functions.py"
CASES_FILE = HERE / "data" / "flow_cases.json"
CASES: dict[str, dict[str, Any]] = (
    json.loads(CASES_FILE.read_text(encoding="utf-8")) if CASES_FILE.is_file() else {}
)
URN = "urn:fss:local:p1:function:default:{}:latest"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def workers(redis: RedisServer) -> Iterator[list[Any]]:
    started = [worker(redis.url, FUNCTIONS_FILE, concurrency=8) for _ in range(2)]
    try:
        yield started
    finally:
        for process in started:
            process.close()


@pytest.fixture(scope="module")
def executor(redis: RedisServer, workers: list[Any]) -> Iterator[CeleryExecutor]:
    app = celery_app(redis.url, visibility_timeout=3)
    executor = CeleryExecutor(app, reconnect_timeout=60)
    # The first answer proves a worker is up (its start takes a second or two).
    deadline = time.monotonic() + 60
    while True:
        try:
            asyncio.run(
                asyncio.wait_for(executor.invoke("step", "urn:x", {"n": 0}, {}), 5)
            )
            break
        except asyncio.TimeoutError:
            if time.monotonic() > deadline:
                logs = "\n".join(p.output()[-2000:] for p in workers)
                raise RuntimeError(f"no worker answered:\n{logs}") from None
    try:
        yield executor
    finally:
        asyncio.run(executor.aclose())


def run_case(case: dict[str, Any], runner_executor: Any) -> dict[str, Any]:
    definition = load_definition(case["definition"])

    async def main() -> dict[str, Any]:
        async with Runner(
            None, executor=runner_executor, store=MemoryStore(), clock=ManualClock()
        ) as runner:
            sync = await run_sync_case(runner, definition, case)
            return await runner.get(sync["execution_id"])

    return asyncio.run(main())


@pytest.mark.parametrize("name", sorted(CASES) or ["(no flow cases)"])
def test_flow_case_on_both_executors(name: str, executor: CeleryExecutor) -> None:
    if not CASES:
        pytest.skip("tests/data/flow_cases.json is not there (branch flowrun)")
    case = CASES[name]
    embedded = EmbeddedExecutor(load_functions(FUNCTIONS_FILE))
    local = run_case(case, embedded)
    asyncio.run(embedded.aclose())
    remote = run_case(case, executor)
    assert remote["status"] == local["status"] == case["expect"]["status"]
    assert same(remote["output"], local["output"])
    assert same(remote["output"], case["expect"]["output"])
    assert strip(remote) == strip(local)


def test_a_function_exception_is_the_node_error(executor: CeleryExecutor) -> None:
    async def main() -> FunctionFailure:
        with pytest.raises(FunctionFailure) as caught:
            await executor.invoke("decline", URN.format("decline"), {"n": 7}, {})
        return caught.value

    failure = asyncio.run(main())
    assert failure.error == "Declined"
    assert failure.message == "declined 7"
    assert failure.names[:2] == ("SCALE.0001", "Declined")
    assert "Exception" in failure.names


def test_many_calls_at_once(executor: CeleryExecutor) -> None:
    async def main() -> list[Any]:
        return await asyncio.gather(
            *(executor.invoke("step", "urn:x", {"n": n}, {}) for n in range(200))
        )

    results = asyncio.run(main())
    assert [r["n"] for r in results] == list(range(1, 201))


def three_steps(function: str, **arguments: Any) -> dict[str, Any]:
    return chain("three", "abc", function, URN.format(function), arguments)


def test_a_worker_killed_during_a_call(
    redis: RedisServer, executor: CeleryExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "taken"
    # A worker of its own takes the call; the module's workers pick it up.
    doomed = worker(redis.url, FUNCTIONS_FILE, concurrency=1)
    definition = load_definition(three_steps("hang_once", marker=f"'{marker}'"))

    async def main() -> dict[str, Any]:
        async with Runner(None, executor=executor) as runner:
            execution_id = await runner.start(definition, {"n": 0})
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert time.monotonic() < deadline, doomed.output()
                await asyncio.sleep(0.05)
            pid = int(marker.read_text())
            doomed.kill()  # SIGKILL to the whole worker, mid-call
            await asyncio.wait_for(runner.wait(execution_id), 60)
            shown = await runner.get(execution_id)
            shown["pid"] = pid
            return shown

    try:
        shown = asyncio.run(main())
    finally:
        doomed.close()
    assert shown["status"] == "success", shown
    assert shown["output"]["n"] == 3 and shown["output"]["redelivered"]
    # The call was made again, not recorded as a second attempt.
    assert [len(d["executions"]) for d in shown["node_execution_details"]] == [1, 1, 1]


def test_redis_stopped_for_a_moment(
    redis: RedisServer, executor: CeleryExecutor
) -> None:
    definition = load_definition(three_steps("slow_step", ms=400))

    async def main() -> dict[str, Any]:
        async with Runner(None, executor=executor) as runner:
            ids = [await runner.start(definition, {"n": 0}) for _ in range(5)]
            await asyncio.sleep(0.2)
            await asyncio.to_thread(redis.stop)
            await asyncio.sleep(2)
            await asyncio.to_thread(redis.start)
            for execution_id in ids:
                await asyncio.wait_for(runner.wait(execution_id), 90)
            return {i: await runner.get(i) for i in ids}

    shown = asyncio.run(main())
    for record in shown.values():
        assert record["status"] == "success", record
        assert record["output"]["n"] == 3


def test_worker_command_errors_are_one_line(tmp_path: Path) -> None:
    import io

    from flowmap.cli import main

    stderr = io.StringIO()
    missing = str(tmp_path / "nope.py")
    assert main(["worker", "--functions", missing], stderr=stderr) == 1
    assert stderr.getvalue().startswith("flowmap: error: ")
    assert "nope.py" in stderr.getvalue() and "Traceback" not in stderr.getvalue()
