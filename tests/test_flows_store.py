"""Tests for the flow stores: one contract for MemoryStore and SQLiteStore,
durability of SQLiteStore across a reopen and across a process killed with
SIGKILL in the middle of running executions."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flowmap import FlowmapError
from flowmap.flows import (
    ExecutionRecord,
    MemoryStore,
    NodeRecord,
    Runner,
    SQLiteStore,
    Store,
    StoreError,
    WorkflowRecord,
    load_functions,
)

HERE = Path(__file__).parent
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    if request.param == "memory":
        return MemoryStore
    return lambda: SQLiteStore(tmp_path / "flows.db")


def workflow(workflow_id: str, project: str = "p1", t: int = 1000) -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=workflow_id,
        project_id=project,
        name=f"name-{workflow_id}",
        definition={"name": f"name-{workflow_id}", "states": [{"id": "a"}]},
        created_time=t,
        updated_time=t,
    )


def execution(
    execution_id: str,
    *,
    workflow_id: str = "w1",
    project: str = "p1",
    status: Any = "running",
    begin: int = 1000,
) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id,
        workflow_id=workflow_id,
        project_id=project,
        workflow_name="flow",
        definition={"name": "flow"},
        status=status,
        input={"x": [1]},
        headers={"h": "v"},
        merge=True,
        begin_time=begin,
        last_update_time=begin,
        state_id="a",
        state_data={"x": [1]},
        workflow_run_id="run",
    )


def test_workflows(make_store: Callable[[], Store]) -> None:
    async def main() -> None:
        store = make_store()
        await store.create_workflow(workflow("w1", t=1))
        await store.create_workflow(workflow("w2", t=2))
        await store.create_workflow(workflow("w3", project="p2"))
        with pytest.raises(KeyError):
            await store.create_workflow(workflow("w1"))
        got = await store.get_workflow("w1")
        assert got == workflow("w1", t=1)
        assert await store.get_workflow("w1", project_id="p2") is None
        assert await store.get_workflow("nope") is None
        # What a store hands out is a copy.
        assert got is not None
        got.definition["states"].append("changed")
        assert await store.get_workflow("w1") == workflow("w1", t=1)
        listed = await store.list_workflows("p1")
        assert [w.workflow_id for w in listed] == ["w2", "w1"]
        assert [w.workflow_id for w in await store.list_workflows("p1", limit=1)] == [
            "w2"
        ]
        assert [w.workflow_id for w in await store.list_workflows("p1", offset=1)] == [
            "w1"
        ]
        assert [
            w.workflow_id for w in await store.list_workflows("p1", name="name-w1")
        ] == ["w1"]
        changed = workflow("w1", t=1)
        changed.definition = {"name": "new"}
        changed.updated_time = 5
        assert await store.update_workflow(changed)
        assert await store.get_workflow("w1") == changed
        wrong_project = workflow("w1", project="p2")
        assert not await store.update_workflow(wrong_project)
        assert not await store.update_workflow(workflow("nope"))
        assert not await store.delete_workflow("w1", project_id="p2")
        assert await store.delete_workflow("w1", project_id="p1")
        assert not await store.delete_workflow("w1")
        assert await store.get_workflow("w1") is None
        await store.close()

    run(main())


def test_executions_and_nodes(make_store: Callable[[], Store]) -> None:
    async def main() -> None:
        store = make_store()
        record = execution("e1")
        node = NodeRecord("e1", "n1", 0, "a", "A", [{"status": "running"}])
        await store.save_execution(record, [node])
        node.attempts[0]["status"] = "changed after saving"
        got = await store.get_execution("e1")
        assert got == record
        assert got is not record
        assert await store.get_execution("e1", project_id="p2") is None
        nodes = await store.get_nodes("e1")
        assert [(n.node_execution_id, n.attempts) for n in nodes] == [
            ("n1", [{"status": "running"}])
        ]
        # Saving again replaces the execution and the node with the same id.
        record.status = "success"
        record.output = {"done": True}
        second = NodeRecord("e1", "n2", 1, "b", "B", [{"status": "success"}])
        node.attempts[0]["status"] = "success"
        await store.save_execution(record, [second, node])
        got = await store.get_execution("e1")
        assert got is not None and got.status == "success"
        assert got.output == {"done": True}
        nodes = await store.get_nodes("e1")
        assert [(n.node_id, n.attempts[0]["status"]) for n in nodes] == [
            ("a", "success"),
            ("b", "success"),
        ]
        assert await store.get_nodes("nope") == []
        await store.close()

    run(main())


def test_list_executions(make_store: Callable[[], Store]) -> None:
    async def main() -> None:
        store = make_store()
        await store.save_execution(execution("e1", begin=100, status="success"))
        await store.save_execution(execution("e2", begin=200, status="fail"))
        await store.save_execution(execution("e3", begin=300))
        await store.save_execution(execution("e4", begin=400, workflow_id="w2"))
        await store.save_execution(execution("e5", begin=500, project="p2"))

        async def ids(**filters: Any) -> list[str]:
            return [r.execution_id for r in await store.list_executions(**filters)]

        assert await ids() == ["e5", "e4", "e3", "e2", "e1"]
        assert await ids(workflow_id="w1") == ["e5", "e3", "e2", "e1"]
        assert await ids(workflow_id="w1", project_id="p1") == ["e3", "e2", "e1"]
        assert await ids(status="running") == ["e5", "e4", "e3"]
        assert await ids(since=200, until=300) == ["e3", "e2"]
        assert await ids(limit=2, offset=1) == ["e4", "e3"]
        assert await ids(limit=1000) == ["e5", "e4", "e3", "e2", "e1"]
        await store.close()

    run(main())


def test_sqlite_keeps_everything_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "flows.db"

    async def write() -> None:
        store = SQLiteStore(path)
        await store.create_workflow(workflow("w1"))
        await store.save_execution(
            execution("e1"), [NodeRecord("e1", "n1", 0, "a", "A", [{"s": 1}])]
        )
        await store.close()

    async def read() -> None:
        store = SQLiteStore(path)
        assert await store.get_workflow("w1") == workflow("w1")
        assert await store.get_execution("e1") == execution("e1")
        assert (await store.get_nodes("e1"))[0].attempts == [{"s": 1}]
        await store.close()

    run(write())
    run(read())
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_sqlite_rejects_a_bad_synchronous_setting() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(":memory:", synchronous="OFF")  # type: ignore[arg-type]


def test_sqlite_open_errors_name_the_path_and_what_to_do(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database, but long enough to have a header\n" * 20)
    cases = [
        (tmp_path / "no" / "such" / "dir" / "f.db", "does not exist"),
        (garbage, "not an SQLite database"),
        (tmp_path, "is a directory"),
    ]
    for path, fragment in cases:
        with pytest.raises(StoreError) as info:
            SQLiteStore(path)
        assert info.value.path == str(path)
        assert fragment in str(info.value) and str(path) in str(info.value)
        assert isinstance(info.value, FlowmapError)
    assert garbage.read_text().startswith("not a database")  # left untouched


def unprivileged() -> list[str]:
    """A command prefix that runs a program bound by file permissions: as
    root (who may write anywhere) without the capabilities that bypass them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_sqlite_open_error_without_permission(tmp_path: Path) -> None:
    prefix = unprivileged()
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    readonly = tmp_path / "readonly.db"
    run(SQLiteStore(readonly).close())
    os.chmod(readonly, 0o444)
    code = textwrap.dedent(
        """
        import sys
        from flowmap.flows import SQLiteStore, StoreError
        try:
            SQLiteStore(sys.argv[1])
        except StoreError as exc:
            print(exc)
        """
    )
    for path, fragment in [
        (
            locked / "f.db",
            f"permission denied: this user cannot create files in {locked}",
        ),
        (readonly, "permission denied: this user cannot read and write it"),
    ]:
        result = subprocess.run(
            [*prefix, sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        )
        if prefix and result.stderr.startswith("setpriv:"):
            pytest.skip(f"cannot drop CAP_DAC_OVERRIDE: {result.stderr}")
        assert result.stderr == ""
        assert result.stdout.startswith(f"cannot open the SQLite store {path}: ")
        assert fragment in result.stdout, result.stdout


# The child process: starts executions of a flow with a real Sleep, printing
# each id once start() has returned (the execution is recorded), forever.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from flowmap.flows import Runner, SQLiteStore, load_definition, load_functions

    FLOW = {
        "name": "killed",
        "start": "a",
        "functions": [
            {"name": "add", "operation": "urn:fss:l:p:function:default:add:latest"}
        ],
        "states": [
            {"id": "a", "name": "A", "type": "Operation", "transition": "s",
             "actions": [{"function_ref": {"ref_name": "add",
                                           "arguments": {"x": "$.x"}}}]},
            {"id": "s", "name": "S", "type": "Sleep", "duration": 0.3,
             "transition": "b"},
            {"id": "b", "name": "B", "type": "Operation", "end": True,
             "actions": [{"function_ref": {"ref_name": "add",
                                           "arguments": {"x": "$.sum", "y": 1}}}]},
        ],
    }

    async def main():
        store = SQLiteStore(sys.argv[1])
        runner = Runner(load_functions(sys.argv[2]), store=store)
        definition = load_definition(FLOW)
        i = 0
        while True:
            execution_id = await runner.start(definition, {"x": i})
            print(execution_id, flush=True)
            i += 1
            await asyncio.sleep(0.01)

    asyncio.run(main())
    """
)


def test_killing_a_process_mid_run_loses_no_execution(tmp_path: Path) -> None:
    path = tmp_path / "flows.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(HERE / "flows_functions.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ids: list[str] = []
    try:
        assert child.stdout is not None
        while len(ids) < 60:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "child ended"
            ids.append(line.strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    async def check() -> None:
        store = SQLiteStore(path)
        records = {r.execution_id: r for r in await store.list_executions(limit=200)}
        # Every execution whose start() returned is there.
        assert set(ids) <= set(records)
        statuses = {r.status for r in records.values()}
        assert "running" in statuses
        runner = Runner(load_functions(HERE / "flows_functions.py"), store=store)
        marked = await runner.recover()
        assert set(marked) == {i for i, r in records.items() if r.status == "running"}
        for execution_id in marked:
            shown = await runner.get(execution_id)
            assert shown["status"] == "fail"
            await runner.retry(execution_id)
        for execution_id in records:
            assert await runner.wait(execution_id) == "success"
            shown = await runner.get(execution_id)
            x = shown["input"]["x"]
            assert shown["output"] == {"x": x, "sum": x + 1}
            assert [d["node_id"] for d in shown["node_execution_details"]] == [
                "a",
                "s",
                "b",
            ]
        await runner.aclose()
        await store.close()

    run(check())


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The PID of another process of this machine, alive for the test."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait(timeout=30)


def test_recover_leaves_live_runners_alone(tmp_path: Path, live_pid: int) -> None:
    async def main() -> None:
        store = SQLiteStore(tmp_path / "f.db")
        functions = load_functions(HERE / "flows_functions.py")
        other = Runner(functions, store=store)  # alive, in this process
        for execution_id, owner in [
            ("e1", f"{socket.gethostname()}:{live_pid}:abc"),
            ("e2", other.owner),
        ]:
            record = execution(execution_id)
            record.owner = owner
            await store.save_execution(record)
        runner = Runner(functions, store=store)
        assert await runner.recover() == []
        assert sorted(await runner.recover(all_owners=True)) == ["e1", "e2"]
        got = await store.get_execution("e1")
        assert got is not None and got.status == "fail"
        assert got.error is not None and "retry" in got.error
        await store.close()

    run(main())


def test_recover_takes_its_own_pid_with_another_token_for_dead(
    tmp_path: Path,
) -> None:
    # A restarted server may get the PID of the one that died (PID 1 in a
    # container): the owner's token tells the two apart.
    async def main() -> None:
        store = SQLiteStore(tmp_path / "f.db")
        record = execution("e1")
        record.owner = f"{socket.gethostname()}:{os.getpid()}:deadbeef"
        await store.save_execution(record)
        runner = Runner(load_functions(HERE / "flows_functions.py"), store=store)
        assert runner.owner != record.owner
        assert await runner.recover() == ["e1"]
        got = await store.get_execution("e1")
        assert got is not None and got.status == "fail" and got.owner is None
        await store.close()

    run(main())


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_recover_takes_a_zombie_for_dead(tmp_path: Path) -> None:
    # Killed but not yet reaped by its parent: os.kill(pid, 0) still succeeds.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 30
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not end"
            time.sleep(0.01)

        async def main() -> None:
            store = SQLiteStore(tmp_path / "f.db")
            record = execution("e1")
            record.owner = f"{socket.gethostname()}:{child.pid}:abc"
            await store.save_execution(record)
            runner = Runner(load_functions(HERE / "flows_functions.py"), store=store)
            assert await runner.recover() == ["e1"]
            await store.close()

        run(main())
    finally:
        child.wait(timeout=30)


def test_sqlite_rows_are_json(tmp_path: Path) -> None:
    path = tmp_path / "f.db"

    async def main() -> None:
        store = SQLiteStore(path)
        await store.save_execution(execution("e1"))
        await store.close()

    run(main())
    row = sqlite3.connect(path).execute("SELECT record FROM executions").fetchone()
    assert json.loads(row[0])["input"] == {"x": [1]}


def test_recover_marks_more_than_a_page() -> None:
    async def main() -> None:
        store = MemoryStore()
        dead = f"{os.uname().nodename}:999999999:gone"
        for i in range(450):
            record = execution(f"e{i:03}", begin=i)
            record.owner = dead
            await store.save_execution(record)
        functions = load_functions(HERE / "flows_functions.py")
        alive = execution("live", begin=1000)
        other = Runner(functions, store=store)  # alive, in this process
        alive.owner = other.owner
        await store.save_execution(alive)
        runner = Runner(functions, store=store)
        marked = await runner.recover()
        assert len(marked) == 450 and other.owner != runner.owner
        assert [
            r.execution_id for r in await store.list_executions(status="running")
        ] == ["live"]

    run(main())


def test_sqlite_saves_from_one_loop_after_another(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    for i in range(3):
        run(store.save_execution(execution(f"e{i}")))
    ids = [r.execution_id for r in run(store.list_executions())]
    assert sorted(ids) == ["e0", "e1", "e2"]
    run(store.close())


def test_sqlite_group_commit_of_concurrent_saves(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteStore(tmp_path / "f.db")
        await asyncio.gather(
            *(store.save_execution(execution(f"e{i:03}", begin=i)) for i in range(300))
        )
        assert len(await store.list_executions(limit=200)) == 200
        assert len(await store.list_executions(limit=200, offset=200)) == 100
        await store.close()

    run(main())
