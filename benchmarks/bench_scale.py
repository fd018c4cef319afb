"""Benchmark flows on Celery workers: run ``python benchmarks/bench_scale.py``.

Needs ``redis-server`` (Debian's package) and the ``celery`` extra. A Redis
server is started on a free loopback port in a temporary directory, and
``flowmap worker`` processes on it (functions: tests/scale_functions.py).

1. **Throughput and scaling.** A 5-node flow whose functions wait 50 ms
   (``io_wait``, I/O-bound; each worker a ``threads`` pool of 16) and one whose
   functions compute for 50 ms of CPU time (``cpu_work``, CPU-bound; each
   worker one ``solo`` process), on 1 and then 2 worker processes: many
   executions in flight from one runner (``CeleryExecutor``, ``MemoryStore``),
   executions per second, and the ratio 2 workers / 1 worker.
2. **Per-node overhead.** One execution at a time of a 5-node flow of a
   trivial function (``step``), per node, against a bare Celery round trip
   of the same task (``send_task(...).get()``) measured in the same run
   (target: the node within 1.5x of the bare round trip).

The machine's cores bound the CPU-bound scaling: with 2 cores shared by the
runner, Redis and the workers, 2 workers cannot reach 2x. ``--quick`` makes
a short run.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from flowtools import chain  # noqa: E402
from scaletools import Process, RedisServer, worker  # noqa: E402

from flowmap.flows import (  # noqa: E402
    CeleryExecutor,
    MemoryStore,
    Runner,
    celery_app,
    load_definition,
)
from flowmap.flows._celery import TASK_NAME  # noqa: E402

FUNCTIONS = ROOT / "tests" / "scale_functions.py"
QUICK = "--quick" in sys.argv


def five_nodes(function: str, **arguments: Any) -> Any:
    return load_definition(
        chain(
            function,
            [f"s{index}" for index in range(5)],
            function,
            f"urn:fss:local:p1:function:default:{function}",
            arguments,
        )
    )


def start_workers(
    redis: RedisServer, count: int, pool: str, size: int
) -> list[Process]:
    return [
        worker(
            redis.url, FUNCTIONS, concurrency=size, pool=pool, visibility_timeout=600
        )
        for _ in range(count)
    ]


async def warm(executor: CeleryExecutor, calls: int) -> None:
    """Wait until the workers answer, then warm every worker thread up."""
    deadline = time.monotonic() + 60
    while True:
        try:
            await asyncio.wait_for(executor.invoke("step", "urn:x", {}, {}), 5)
            break
        except asyncio.TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError("no worker answered") from None
    await asyncio.gather(
        *(executor.invoke("step", "urn:x", {}, {}) for _ in range(calls))
    )


async def throughput(
    executor: CeleryExecutor, definition: Any, executions: int, in_flight: int
) -> float:
    """Executions per second with ``in_flight`` executions running at once."""
    async with Runner(None, executor=executor, store=MemoryStore()) as runner:
        gate = asyncio.Semaphore(in_flight)

        async def one(n: int) -> None:
            async with gate:
                result = await runner.run_sync(definition, {"n": n})
                assert result["status"] == "success", result

        began = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(executions)))
        return executions / (time.perf_counter() - began)


async def per_node(
    executor: CeleryExecutor, app: Any, rounds: int
) -> tuple[float, float]:
    """Seconds per node of sequential executions, and per bare round trip."""
    definition = five_nodes("step")
    node_times = []
    bare_times = []
    async with Runner(None, executor=executor, store=MemoryStore()) as runner:
        for _ in range(rounds):
            began = time.perf_counter()
            result = await runner.run_sync(definition, {"n": 0})
            node_times.append((time.perf_counter() - began) / 5)
            assert result["status"] == "success"

            def bare() -> None:
                app.send_task(
                    TASK_NAME,
                    args=(
                        "step",
                        "urn:fss:local:p1:function:default:step",
                        {"n": 0},
                        {},
                    ),
                ).get(timeout=30)

            for _ in range(5):
                began = time.perf_counter()
                await asyncio.to_thread(bare)
                bare_times.append(time.perf_counter() - began)
    return statistics.median(node_times), statistics.median(bare_times)


def main() -> None:
    redis = RedisServer()
    redis.start()
    app = celery_app(redis.url, visibility_timeout=600)
    executor = CeleryExecutor(app)
    rows: list[tuple[str, int, float]] = []
    cases = [
        ("I/O-bound (5 x 50 ms wait)", five_nodes("io_wait", ms=50), "threads", 16,
         60 if QUICK else 200, 32),
        ("CPU-bound (5 x 50 ms CPU)", five_nodes("cpu_work", ms=50), "solo", 1,
         6 if QUICK else 16, 4),
    ]  # fmt: skip
    try:
        for label, definition, pool, size, executions, in_flight in cases:
            for count in (1, 2):
                workers = start_workers(redis, count, pool, size)
                try:
                    asyncio.run(warm(executor, count * size))
                    rate = max(
                        asyncio.run(
                            throughput(
                                executor, definition, executions, in_flight * count
                            )
                        )
                        for _ in range(1 if QUICK else 2)
                    )
                finally:
                    for process in workers:
                        process.close()
                rows.append((label, count, rate))
        workers = start_workers(redis, 1, "threads", 4)
        try:
            asyncio.run(warm(executor, 4))
            node, bare = asyncio.run(per_node(executor, app, 10 if QUICK else 40))
        finally:
            for process in workers:
                process.close()
    finally:
        try:
            asyncio.run(executor.aclose())
        finally:
            redis.close()

    print("Flows on Celery workers (Redis on loopback; one runner, MemoryStore)")
    print()
    print(f"{'flow':<30} {'workers':>7} {'executions/s':>13} {'scaling':>8}")
    base: dict[str, float] = {}
    for label, count, rate in rows:
        base.setdefault(label, rate)
        print(f"{label:<30} {count:>7} {rate:>13.1f} {rate / base[label]:>7.2f}x")
    print()
    print(f"per node (5-node flow, sequential): {node * 1000:8.2f} ms")
    print(f"bare Celery round trip (same task): {bare * 1000:8.2f} ms")
    print(f"node / bare round trip:             {node / bare:8.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
