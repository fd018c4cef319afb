"""``flowmap serve`` as a real process: durability, SIGTERM, SIGKILL, binding.

The server runs on an SQLite file in a temporary directory; each test stops
it (SIGTERM or SIGKILL) and starts a new one on the same file.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")

import httpx
from servertools import PROJECT, ROOT, THREE, ServeProcess

BASE = f"/v2/{PROJECT}/fgs/workflows"
TERMINAL = {"success", "fail", "timeout", "cancel"}

# The functions, as a --functions file. "gate" waits (cancellably) until
# the file named in its event exists, so a test decides when it may end.
HANDLERS = """
import asyncio
import os


def add(event, context):
    return {"sum": event["a"] + event["b"]}


def look(event, context):
    return {"event_keys": sorted(event)}


def flaky(event, context):
    return {"done": True}


async def gate(event, context):
    while not os.path.exists(event["gate"]):
        await asyncio.sleep(0.02)
    return {"opened": True}
"""

GATED = {
    "name": "gated",
    "start": "add",
    "functions": [
        {"name": "add", "operation": f"urn:fss:local:{PROJECT}:function:default:add"},
        {"name": "gate", "operation": f"urn:fss:local:{PROJECT}:function:default:gate"},
    ],
    "states": [
        {
            "id": "add",
            "name": "Add",
            "type": "Operation",
            "transition": "wait",
            "actions": [
                {"function_ref": {"ref_name": "add", "arguments": {"a": 1, "b": 2}}}
            ],
        },
        {
            "id": "wait",
            "name": "Wait",
            "type": "Operation",
            "end": True,
            "actions": [
                {"function_ref": {"ref_name": "gate", "arguments": {"gate": "$.gate"}}}
            ],
        },
    ],
}


def serve(tmp_path: Path, *extra: str) -> ServeProcess:
    handlers = tmp_path / "handlers.py"
    handlers.write_text(HANDLERS)
    return ServeProcess(
        "--db",
        str(tmp_path / "flows.db"),
        "--functions",
        str(handlers),
        "--grace",
        "0.2",
        *extra,
        cwd=tmp_path,
    )


def wait_for(
    client: httpx.Client, workflow_id: str, execution_id: str, statuses: set[str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        shown: dict[str, Any] = client.get(
            f"{BASE}/{workflow_id}/executions/{execution_id}"
        ).json()
        if shown["status"] in statuses:
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.02)


def wait_node(client: httpx.Client, workflow_id: str, execution_id: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        shown = client.get(f"{BASE}/{workflow_id}/executions/{execution_id}").json()
        if len(shown["node_execution_details"]) == 2:
            return
        assert time.monotonic() < deadline, shown
        time.sleep(0.02)


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_restart_keeps_everything_and_interrupted_executions_resume(
    tmp_path: Path, stop: str
) -> None:
    gate = tmp_path / "gate-open"
    with serve(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        three = client.post(BASE, json=THREE).json()["id"]
        gated = client.post(BASE, json=GATED).json()["id"]
        done = client.post(
            f"{BASE}/{three}/executions", json={"input": {"a": 1}}
        ).json()["execution_id"]
        wait_for(client, three, done, {"success"})
        running = client.post(
            f"{BASE}/{gated}/executions", json={"input": {"gate": str(gate)}}
        ).json()["execution_id"]
        wait_node(client, gated, running)
        began = time.monotonic()
        code, err = server.stop(getattr(signal, stop))
        if stop == "SIGTERM":
            # Stopped accepting, checkpointed the execution, exited cleanly.
            assert code == 0, err
            assert time.monotonic() - began < 10
            assert "Traceback" not in err

    with serve(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        workflows = client.get(BASE).json()
        assert {w["name"] for w in workflows["workflows"]} == {"three", "gated"}
        assert client.get(f"{BASE}/{three}/executions/{done}").json()["status"] == (
            "success"
        )
        interrupted = wait_for(client, gated, running, TERMINAL)
        assert interrupted["status"] == "fail"
        last = interrupted["node_execution_details"][-1]
        assert last["node_id"] == "wait"
        assert "interrupted" in str(last["executions"][-1]["error_message"])
        # The first node's record survived: retry resumes at the second.
        assert interrupted["node_execution_details"][0]["executions"][0]["output"] == {
            "sum": 3
        }

        gate.write_text("open")
        retried = client.post(f"{BASE}/{gated}/executions/{running}/retry")
        assert retried.status_code == 200, retried.text
        resumed = wait_for(client, gated, running, TERMINAL)
        assert resumed["status"] == "success"
        assert resumed["output"]["opened"] is True
        nodes = resumed["node_execution_details"]
        assert [len(n["executions"]) for n in nodes] == [1, 2]
        code, err = server.stop()
        assert code == 0, err


def test_open_server_says_so(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        code, err = server.stop()
    assert code == 0
    assert "OPEN" in err and "not authenticated" in err


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowmap.cli", "serve", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_refuses_to_bind_beyond_loopback_without_credentials(
    tmp_path: Path, host: str
) -> None:
    result = run_cli("--host", host, "--port", "1", "--db", ":memory:", cwd=tmp_path)
    assert result.returncode == 1
    assert "refusing to listen on" in result.stderr
    assert "--credentials" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_credentials_file_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "creds.json").write_text('[{"ak": "A", "sk": "S"}]')
    result = run_cli(
        "--credentials", "creds.json", "--db", ":memory:", "--port", "1", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "$[0].project_id" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_db_that_cannot_be_opened_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("these are notes, not a database\n" * 20)
    for db, fragment in [
        ("no/dir/x.db", "the directory no/dir does not exist"),
        ("notes.txt", "not an SQLite database"),
    ]:
        result = run_cli("--db", db, "--port", "0", cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.startswith(
            f"flowmap: error: cannot open the SQLite store {db}: "
        )
        assert fragment in result.stderr and result.stderr.count("\n") == 1
        assert "internal error" not in result.stderr


def test_a_busy_port_is_one_message_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--db", "flows.db", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"flowmap: error: cannot listen on 127.0.0.1:{port}: the address is "
        "already in use (another server on this port?); stop it or choose "
        "another --port\n"
    )
    assert not list(tmp_path.iterdir())  # nothing opened, nothing created


def test_signed_server_process(tmp_path: Path) -> None:
    (tmp_path / "creds.json").write_text(
        '[{"ak": "AK1", "sk": "SK1", "project_id": "p1"}]'
    )
    with serve(tmp_path, "--credentials", "creds.json") as server:
        response = httpx.get(server.url + BASE)
        assert response.status_code == 401
        code, err = server.stop()
    assert code == 0
    assert "OPEN" not in err and "signed" in err


def test_without_the_server_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from flowmap.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import fails
    err = io.StringIO()
    assert main(["serve", "--db", ":memory:"], stderr=err) == 1
    assert "pip install 'flowmap[server]'" in err.getvalue()
    assert "uvicorn" in err.getvalue()


def test_memory_database(tmp_path: Path) -> None:
    with (
        ServeProcess("--db", ":memory:", cwd=tmp_path) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert client.post(BASE, json=THREE).status_code == 200
        assert client.get(BASE).json()["total"] == 1
        code, _ = server.stop()
    assert code == 0
    assert not list(tmp_path.iterdir())


def test_sigterm_during_a_sync_execution(tmp_path: Path) -> None:
    gate = tmp_path / "gate-open"
    with serve(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        gated = client.post(BASE, json=GATED).json()["id"]
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["response"] = httpx.post(
                    f"{server.url}{BASE}/{gated}/sync-executions",
                    json={"input": {"gate": str(gate)}},
                    timeout=30,
                )
            except httpx.HTTPError as exc:
                outcome["error"] = exc

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 20
        while not client.get(f"{BASE}/{gated}/executions").json()["executions"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        code, err = server.stop()
        caller.join(30)
        assert code == 0, err
        assert "Traceback" not in err and "ERROR" not in err
    # The caller is told, with the execution's id; nothing is lost: after a
    # restart the execution is there, interrupted, and retry ends it.
    response = outcome["response"]
    assert response.status_code == 503
    assert response.json()["error_code"] == "FLOWMAP.5030"
    with serve(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        (brief,) = client.get(f"{BASE}/{gated}/executions").json()["executions"]
        execution_id = brief["execution_id"]
        assert execution_id in response.json()["error_msg"]
        assert brief["status"] == "fail"
        gate.write_text("open")
        client.post(f"{BASE}/{gated}/executions/{execution_id}/retry")
        assert wait_for(client, gated, execution_id, TERMINAL)["status"] == "success"
        server.stop()


def test_every_accepted_start_survives_sigkill(tmp_path: Path) -> None:
    gate = tmp_path / "gate-open"
    accepted: list[str] = []
    with serve(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        gated = client.post(BASE, json=GATED).json()["id"]
        for _ in range(50):
            response = client.post(
                f"{BASE}/{gated}/executions", json={"input": {"gate": str(gate)}}
            )
            assert response.status_code == 200
            accepted.append(response.json()["execution_id"])
        server.stop(signal.SIGKILL)  # right after the last answer
    with serve(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        for execution_id in accepted:
            shown = client.get(f"{BASE}/{gated}/executions/{execution_id}")
            assert shown.status_code == 200, execution_id
            assert shown.json()["status"] == "fail"  # interrupted, retryable
        server.stop()
