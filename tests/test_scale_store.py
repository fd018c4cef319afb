"""The store contract, checked on every store: memory, SQLite and PostgreSQL.

The same tests run on each store (these, and the contract tests of
tests/test_flows_store.py), so a PostgreSQL store is exactly as good a home
for records as the embedded ones. The PostgreSQL tests use a real
server (see scaletools.py); the lease tests at the end are PostgreSQL's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import test_flows_store
from scaletools import PostgresServer

from flowmap.flows import (
    ExecutionRecord,
    MemoryStore,
    NodeRecord,
    SQLiteStore,
    Store,
    WorkflowRecord,
)

STORE_KINDS = ("memory", "sqlite", "postgres")

# flowrun's store contract (tests/test_flows_store.py) runs here too, on every
# store of STORE_KINDS: each of its tests that takes only ``make_store``.
for _name, _test in vars(test_flows_store).items():
    if _name.startswith("test_") and list(inspect.signature(_test).parameters) == [
        "make_store"
    ]:
        globals()[f"test_flows_store_{_name[5:]}"] = _test


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(params=STORE_KINDS)
def make_store(request: pytest.FixtureRequest) -> Callable[[], Store]:
    kind = request.param
    if kind == "memory":
        return MemoryStore
    if kind == "sqlite":
        return lambda: SQLiteStore(":memory:")
    from flowmap.flows import PostgresStore

    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.new_database()
    return lambda: PostgresStore(url, max_connections=2)


@asynccontextmanager
async def opened(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    store = make_store()
    try:
        yield store
    finally:
        await store.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def workflow(n: int, *, project: str = "p1", name: str | None = None) -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=f"w{n}",
        project_id=project,
        name=name or f"flow{n}",
        definition={"name": name or f"flow{n}", "states": [{"id": "a", "n": n}]},
        created_time=1000 + n,
        updated_time=1000 + n,
        created_by="tester",
    )


def execution(
    n: int,
    *,
    workflow_id: str = "w1",
    project: str = "p1",
    status: Any = "running",
    begin: int | None = None,
) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=f"e{n}",
        workflow_id=workflow_id,
        project_id=project,
        workflow_name="flow",
        definition={"name": "flow", "start": "a"},
        status=status,
        input={"n": n, "nested": {"list": [1, "two", None, 3.5, True]}},
        headers={"h": "v"},
        merge=n % 2 == 0,
        begin_time=begin if begin is not None else 10_000 + n,
        last_update_time=10_000 + n,
        workflow_run_id=f"run{n}",
        create_time="2024-01-31T08:00:00Z",
        state_id="a",
        state_data={"n": n, "ünïcode": "✓"},
        owner="me",
    )


def node(execution_id: str, position: int, status: str = "success") -> NodeRecord:
    return NodeRecord(
        execution_id=execution_id,
        node_execution_id=f"{execution_id}-n{position}",
        position=position,
        node_id=f"s{position}",
        node_name=f"S{position}",
        attempts=[
            {
                "status": status,
                "input": {"i": position},
                "output": {"o": [position]},
                "begin_time": 1,
                "end_time": 2,
                "error_message": None,
                "request_id": "r",
            }
        ],
    )


# -- workflows ---------------------------------------------------------------


def test_workflow_create_get_update_delete(make_store: Callable[[], Store]) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            record = workflow(1)
            await store.create_workflow(record)
            with pytest.raises(KeyError):
                await store.create_workflow(workflow(1))
            got = await store.get_workflow("w1")
            assert got == record and got is not record
            assert await store.get_workflow("w1", project_id="p1") == record
            assert await store.get_workflow("w1", project_id="other") is None
            assert await store.get_workflow("nope") is None
            changed = dataclasses.replace(record, name="renamed", updated_time=5000)
            assert await store.update_workflow(changed)
            assert await store.get_workflow("w1") == changed
            other = dataclasses.replace(changed, project_id="other")
            assert not await store.update_workflow(other)
            assert not await store.update_workflow(workflow(9))
            assert not await store.delete_workflow("w1", project_id="other")
            assert await store.delete_workflow("w1", project_id="p1")
            assert not await store.delete_workflow("w1")
            assert await store.get_workflow("w1") is None

    run(main())


def test_workflow_list_newest_first_by_project_and_name(
    make_store: Callable[[], Store],
) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            for n in range(1, 6):
                await store.create_workflow(workflow(n, name="same" if n < 3 else None))
            await store.create_workflow(workflow(9, project="p2"))
            listed = await store.list_workflows("p1")
            assert [r.workflow_id for r in listed] == ["w5", "w4", "w3", "w2", "w1"]
            named = await store.list_workflows("p1", name="same")
            assert [r.workflow_id for r in named] == ["w2", "w1"]
            page = await store.list_workflows("p1", limit=2, offset=1)
            assert [r.workflow_id for r in page] == ["w4", "w3"]
            assert [r.workflow_id for r in await store.list_workflows("p2")] == ["w9"]
            assert await store.list_workflows("p3") == []

    run(main())


def test_returned_workflows_are_copies(make_store: Callable[[], Store]) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            record = workflow(1)
            await store.create_workflow(record)
            record.definition["states"].append("changed after saving")
            got = await store.get_workflow("w1")
            assert got is not None and len(got.definition["states"]) == 1
            got.definition["states"].clear()
            again = await store.get_workflow("w1")
            assert again is not None and len(again.definition["states"]) == 1

    run(main())


# -- executions --------------------------------------------------------------


def test_execution_round_trip_and_replace(make_store: Callable[[], Store]) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            record = execution(1)
            await store.save_execution(record)
            assert await store.get_execution("e1") == record
            assert await store.get_execution("e1", project_id="p1") == record
            assert await store.get_execution("e1", project_id="p2") is None
            assert await store.get_execution("nope") is None
            assert await store.get_nodes("e1") == []
            record.status = "success"
            record.output = {"out": [1, {"x": None}]}
            record.end_time = 20_000
            record.owner = None
            await store.save_execution(record, [node("e1", 0)])
            got = await store.get_execution("e1")
            assert got == record
            assert got is not None and got.output == {"out": [1, {"x": None}]}

    run(main())


def test_nodes_are_replaced_by_id_and_kept_in_order(
    make_store: Callable[[], Store],
) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            record = execution(1)
            await store.save_execution(record, [node("e1", 1), node("e1", 0)])
            first = node("e1", 2, status="running")
            await store.save_execution(record, [first])
            nodes = await store.get_nodes("e1")
            assert [n.position for n in nodes] == [0, 1, 2]
            assert nodes[2].attempts[0]["status"] == "running"
            first.attempts[0]["status"] = "success"
            first.attempts.append(dict(first.attempts[0], request_id="r2"))
            await store.save_execution(record, [first])
            nodes = await store.get_nodes("e1")
            assert len(nodes) == 3
            assert [a["status"] for a in nodes[2].attempts] == ["success", "success"]
            assert nodes[2] == first
            assert await store.get_nodes("e2") == []

    run(main())


def test_saved_records_do_not_follow_later_changes(
    make_store: Callable[[], Store],
) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            record = execution(1)
            visit = node("e1", 0)
            await store.save_execution(record, [visit])
            record.status = "fail"
            visit.attempts[0]["status"] = "fail"
            visit.attempts.append({})
            got = await store.get_execution("e1")
            assert got is not None and got.status == "running"
            nodes = await store.get_nodes("e1")
            assert len(nodes[0].attempts) == 1
            assert nodes[0].attempts[0]["status"] == "success"
            nodes[0].attempts.clear()
            assert len((await store.get_nodes("e1"))[0].attempts) == 1

    run(main())


def test_list_executions_filters_newest_first(make_store: Callable[[], Store]) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            for n in range(1, 7):
                await store.save_execution(
                    execution(
                        n,
                        workflow_id="w1" if n <= 4 else "w2",
                        project="p1" if n != 4 else "p2",
                        status="success" if n % 2 else "running",
                        begin=1000 * n,
                    )
                )

            async def ids(**filters: Any) -> list[str]:
                return [r.execution_id for r in await store.list_executions(**filters)]

            assert await ids() == ["e6", "e5", "e4", "e3", "e2", "e1"]
            assert await ids(workflow_id="w1") == ["e4", "e3", "e2", "e1"]
            assert await ids(workflow_id="w1", project_id="p1") == ["e3", "e2", "e1"]
            assert await ids(status="success") == ["e5", "e3", "e1"]
            assert await ids(since=2000, until=4000) == ["e4", "e3", "e2"]
            assert await ids(since=5500) == ["e6"]
            assert await ids(until=1000) == ["e1"]
            assert await ids(limit=2, offset=1) == ["e5", "e4"]
            assert await ids(workflow_id="none") == []
            assert len(await store.list_executions(limit=10_000)) == 6

    run(main())


def test_executions_begun_at_the_same_time_have_a_stable_order(
    make_store: Callable[[], Store],
) -> None:
    async def main() -> None:
        async with opened(make_store) as store:
            for n in (3, 1, 2):
                await store.save_execution(execution(n, begin=5000))
            listed = await store.list_executions()
            assert [r.execution_id for r in listed] == ["e1", "e2", "e3"]

    run(main())


# -- PostgreSQL: leases --------------------------------------------------------


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return postgres.new_database()


def test_postgres_stores_share_one_database(pg_url: str) -> None:
    from flowmap.flows import PostgresStore

    async def main() -> None:
        one = PostgresStore(pg_url)
        two = PostgresStore(pg_url)
        try:
            await one.create_workflow(workflow(1))
            await one.save_execution(execution(1), [node("e1", 0)])
            assert await two.get_workflow("w1") == workflow(1)
            assert await two.get_execution("e1") == execution(1)
            assert len(await two.get_nodes("e1")) == 1
        finally:
            await one.close()
            await two.close()

    run(main())


def test_postgres_fences_writes_by_the_lease_holder(pg_url: str) -> None:
    from flowmap.flows import PostgresStore
    from flowmap.flows._postgres import LeaseLostError

    async def main() -> None:
        one = PostgresStore(pg_url, lease=60)
        two = PostgresStore(pg_url, lease=60)
        try:
            record = execution(1)
            await one.save_execution(record)
            # Another store may neither continue it nor end it...
            with pytest.raises(LeaseLostError) as caught:
                await two.save_execution(record, [node("e1", 0)])
            assert caught.value.execution_id == "e1"
            assert "no longer held" in str(caught.value)
            ended = dataclasses.replace(record, status="fail")
            with pytest.raises(LeaseLostError):
                await two.save_execution(ended)
            assert await one.get_nodes("e1") == []
            # ...but may terminate it, and then its holder cannot revive it.
            await two.save_execution(dataclasses.replace(record, status="cancel"))
            with pytest.raises(LeaseLostError):
                await one.save_execution(record)
            got = await one.get_execution("e1")
            assert got is not None and got.status == "cancel"
            # A retry (an ended execution running again) is allowed anywhere.
            await two.save_execution(record)
            got = await two.get_execution("e1")
            assert got is not None and got.status == "running"
        finally:
            await one.close()
            await two.close()

    run(main())


def test_postgres_expired_leases_are_claimed_once(pg_url: str) -> None:
    from flowmap.flows import PostgresStore
    from flowmap.flows._postgres import LeaseLostError

    async def main() -> None:
        dead = PostgresStore(pg_url, lease=0.3)
        await dead.save_execution(execution(1))
        await dead.save_execution(execution(2))
        await dead.close()  # stops renewing, as a dead process does
        claimants = [PostgresStore(pg_url, lease=30) for _ in range(3)]
        try:
            assert await claimants[0].claim_expired() == []  # not yet expired
            await asyncio.sleep(0.5)
            claimed = await asyncio.gather(*(c.claim_expired() for c in claimants))
            ids = sorted(r.execution_id for found in claimed for r in found)
            assert ids == ["e1", "e2"]
            winner = next(c for c, found in zip(claimants, claimed) if found)
            loser = next(c for c in claimants if c is not winner)
            record = (await winner.get_execution("e1")) or execution(0)
            await winner.save_execution(record, [node("e1", 0)])
            with pytest.raises(LeaseLostError):
                await loser.save_execution(record)
        finally:
            for store in claimants:
                await store.close()

    run(main())


def test_postgres_renews_the_leases_it_holds(pg_url: str) -> None:
    from flowmap.flows import PostgresStore

    async def main() -> None:
        holder = PostgresStore(pg_url, lease=0.6)
        other = PostgresStore(pg_url, lease=30)
        try:
            await holder.save_execution(execution(1))
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                assert await other.claim_expired() == []
                await asyncio.sleep(0.1)
        finally:
            await holder.close()
            await other.close()

    run(main())


def test_postgres_unreachable_database_says_so() -> None:
    from flowmap import FlowmapError
    from flowmap.flows import PostgresStore

    pytest.importorskip("psycopg")
    with pytest.raises(FlowmapError, match="cannot connect to the PostgreSQL"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)


def test_postgres_a_runner_that_lost_its_lease_stops_at_its_next_write(
    pg_url: str,
) -> None:
    from flowmap.flows import PostgresStore, Runner, load_definition

    definition = load_definition(
        {
            "name": "two",
            "start": "a",
            "functions": [
                {"name": "f", "operation": "urn:fss:local:p1:function:default:f"}
            ],
            "states": [
                {
                    "id": state,
                    "name": state.upper(),
                    "type": "Operation",
                    "actions": [{"function_ref": {"ref_name": "f"}}],
                    **({"transition": "b"} if state == "a" else {"end": True}),
                }
                for state in ("a", "b")
            ],
        }
    )
    calls: list[tuple[str, str]] = []

    async def main() -> tuple[dict[str, Any], str]:
        gate = asyncio.Event()

        async def stuck(event: Any, context: dict[str, Any]) -> Any:
            calls.append(("first", context["state_id"]))
            await gate.wait()
            return {"by": "first"}

        async def quick(event: Any, context: dict[str, Any]) -> Any:
            calls.append(("second", context["state_id"]))
            return {"by": "second"}

        store_one = PostgresStore(pg_url, lease=0.6)
        store_two = PostgresStore(pg_url, lease=0.6)
        one = Runner({"f": stuck}, store=store_one)
        two = Runner({"f": quick}, store=store_two)
        store_two.attach(two)
        try:
            execution_id = await one.start(definition, {})
            while not calls:
                await asyncio.sleep(0.01)
            # The first runner's process "hangs": it stops renewing its leases.
            store_one._stop.set()
            deadline = time.monotonic() + 15
            while True:
                record = await store_two.get_execution(execution_id)
                assert record is not None
                if record.status != "running":
                    break
                assert time.monotonic() < deadline, "not taken over"
                await asyncio.sleep(0.05)
            # Its call returns at last: its next write is refused, it stops.
            gate.set()
            final = await one.wait(execution_id)
            return await two.get(execution_id), final
        finally:
            await one.aclose()
            await two.aclose()
            await store_one.close()
            await store_two.close()

    shown, final = asyncio.run(main())
    assert final == shown["status"] == "success"
    assert shown["output"] == {"by": "second"}
    assert calls == [("first", "a"), ("second", "a"), ("second", "b")]
    first, second = shown["node_execution_details"]
    assert [a["status"] for a in first["executions"]] == ["fail", "success"]
    assert "taken over" in first["executions"][0]["error_message"]
    assert [a["status"] for a in second["executions"]] == ["success"]
