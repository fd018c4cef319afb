"""Load on ``flowmap serve`` against moto's Step Functions server, in one run.

Each server runs as its own process on a free loopback port. The same
client (httpx, ``--clients`` concurrent asyncio tasks in this process) calls
the start route for ``--seconds``:

- flowmap: ``POST /v2/{project}/fgs/workflows/{id}/executions`` of a flow of
  three Operation nodes (no-op functions), on an ``SQLiteStore`` file;
- moto (``moto[server]``, the ``bench`` extra): ``StartExecution`` of a
  state machine of three Pass states, with moto told to execute machines.

It reports accepted starts per second and the p50/p99 latency of the start
call; then it waits (at most 5 minutes) for every flowmap execution id it
was given to reach a terminal state, reports how many completed and how
fast, counts the lost ones (the target is 0), and checks the target of 3x
moto's rate. Loopback only; bounded in time and count. The load uses a
minimal keep-alive HTTP/1.1 client (see ``Connection``) so that the client's
own CPU, on the same machine, takes as little as possible from the servers.

    .venv/bin/python benchmarks/bench_serve.py [--seconds 30] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from _timing import fmt_ratio, median, percentile, table, verdict

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bench"
TERMINAL = {"success", "fail", "timeout", "cancel"}

HANDLERS = """
def noop(event, context):
    return {"node": context["state_id"]}
"""

FLOW = {
    "name": "three-nodes",
    "start": "one",
    "functions": [
        {"name": "noop", "operation": f"urn:fss:local:{PROJECT}:function:default:noop"}
    ],
    "states": [
        {
            "id": state,
            "name": state,
            "type": "Operation",
            "actions": [
                {"function_ref": {"ref_name": "noop", "arguments": {"n": "$.n | 0"}}}
            ],
            **({"transition": following} if following else {"end": True}),
        }
        for state, following in (("one", "two"), ("two", "three"), ("three", None))
    ],
}

MACHINE = {
    "StartAt": "One",
    "States": {
        "One": {"Type": "Pass", "Next": "Two"},
        "Two": {"Type": "Pass", "Next": "Three"},
        "Three": {"Type": "Pass", "End": True},
    },
}
AMZ_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/states/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early: {url}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start: {url}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Connection:
    """A minimal HTTP/1.1 keep-alive client connection.

    The load generator shares the machine with the server it measures; httpx
    costs about a millisecond of CPU per request, which would cap (and
    compress) the rates measured. This client writes a request and reads a
    Content-Length or chunked answer, reconnecting when the server closes.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port
            )
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length = None
        chunked = close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            data = b"".join(parts)
        elif length is not None:
            data = await self.reader.readexactly(length)
        else:
            data = await self.reader.read()
            close = True
        if close or status_line.startswith(b"HTTP/1.0"):
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


Call = Callable[[Connection], Awaitable[Any]]


class Load:
    """Concurrent clients calling one start request until time is up."""

    def __init__(self, clients: int, seconds: float) -> None:
        self.clients = clients
        self.seconds = seconds
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.results: list[Any] = []

    async def run(self, port: int, call: Call) -> float:
        connections = [Connection("127.0.0.1", port) for _ in range(self.clients)]
        for _ in range(20):  # warm-up, not counted
            await call(connections[0])
        began = time.perf_counter()
        end = began + self.seconds

        async def worker(connection: Connection) -> None:
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                try:
                    result = await call(connection)
                except Exception as exc:  # counted, never hidden
                    connection.close()
                    key = type(exc).__name__
                    self.errors[key] = self.errors.get(key, 0) + 1
                    continue
                self.latencies.append(time.perf_counter() - t0)
                self.results.append(result)

        await asyncio.gather(*(worker(c) for c in connections))
        elapsed = time.perf_counter() - began
        for connection in connections:
            connection.close()
        return elapsed


async def flowmap_load(
    port: int, workflow_id: str, load: Load
) -> tuple[float, list[str]]:
    path = f"/v2/{PROJECT}/fgs/workflows/{workflow_id}/executions"
    headers = {"Content-Type": "application/json"}
    counter = iter(range(10**9))

    async def call(connection: Connection) -> str:
        body = json.dumps({"input": {"n": next(counter)}}).encode()
        status, data = await connection.request("POST", path, headers, body)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
        execution_id: str = json.loads(data)["execution_id"]
        return execution_id

    elapsed = await load.run(port, call)
    return elapsed, [str(r) for r in load.results]


async def count_unfinished(
    url: str, workflow_id: str, ids: list[str]
) -> dict[str, int]:
    """Wait (at most 5 minutes) until every id is terminal; count by status.

    Eight readers take the ids in start order and ask again about an id
    (after 0.2 s) until it has ended, so that each id costs about one read
    and the readers take little from the runner they wait for.
    """
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + 300
    queue = list(reversed(ids))
    limits = httpx.Limits(max_connections=8)
    path = f"/v2/{PROJECT}/fgs/workflows/{workflow_id}/executions/"
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def reader() -> None:
            while queue and time.monotonic() < deadline:
                execution_id = queue.pop()
                response = await client.get(path + execution_id)
                status = (
                    response.json().get("status")
                    if response.status_code == 200
                    else None
                )
                if status in TERMINAL:
                    statuses[execution_id] = str(status)
                else:
                    queue.append(execution_id)
                    await asyncio.sleep(0.2)

        await asyncio.gather(*(reader() for _ in range(8)))
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    counts["lost"] = len(ids) - len(statuses)
    return counts


def run_flowmap(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    handlers = workdir / "handlers.py"
    handlers.write_text(HANDLERS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowmap.cli",
            "serve",
            "--port",
            str(port),
            "--db",
            args.db or str(workdir / "bench.db"),
            "--functions",
            str(handlers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_up(url + "/openapi.json", proc)
        created = httpx.post(f"{url}/v2/{PROJECT}/fgs/workflows", json=FLOW)
        created.raise_for_status()
        workflow_id = created.json()["id"]
        load = Load(args.clients, args.seconds)
        elapsed, ids = asyncio.run(flowmap_load(port, workflow_id, load))
        began = time.perf_counter()
        counts = asyncio.run(count_unfinished(url, workflow_id, ids))
        drain = time.perf_counter() - began
    finally:
        stop(proc)
    return {
        "load": load,
        "elapsed": elapsed,
        "counts": counts,
        "ids": len(ids),
        "drain": drain,
    }


async def moto_load(port: int, arn: str, load: Load) -> float:
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.StartExecution",
        "Authorization": AMZ_AUTH,
    }
    counter = iter(range(10**9))

    async def call(connection: Connection) -> str:
        # moto's executing backend needs a name (AWS would make one up).
        body = {"stateMachineArn": arn, "name": f"e{next(counter)}", "input": "{}"}
        status, data = await connection.request(
            "POST", "/", headers, json.dumps(body).encode()
        )
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
        execution_arn: str = json.loads(data)["executionArn"]
        return execution_arn

    return await load.run(port, call)


def moto_call(url: str, target: str, body: dict[str, Any]) -> Any:
    response = httpx.post(
        url + "/",
        content=json.dumps(body),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AWSStepFunctions.{target}",
            "Authorization": AMZ_AUTH,
        },
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def run_moto(args: argparse.Namespace) -> dict[str, Any] | str:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return "moto[server] is not installed (pip install -e '.[bench]')"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_up(url + "/moto-api/", proc)
        httpx.post(
            url + "/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
        ).raise_for_status()
        machine = moto_call(
            url,
            "CreateStateMachine",
            {
                "name": "three-pass",
                "definition": json.dumps(MACHINE),
                "roleArn": "arn:aws:iam::123456789012:role/bench",
            },
        )
        arn = machine["stateMachineArn"]
        load = Load(args.clients, args.seconds)
        elapsed = asyncio.run(moto_load(port, arn, load))
        # A sample of moto's executions, to say whether they complete.
        time.sleep(1)
        sample = [str(r) for r in load.results[:: max(1, len(load.results) // 20)]]
        finished = sum(
            moto_call(url, "DescribeExecution", {"executionArn": e})["status"]
            == "SUCCEEDED"
            for e in sample
        )
    finally:
        stop(proc)
    return {
        "load": load,
        "elapsed": elapsed,
        "sample": len(sample),
        "finished": finished,
    }


def row(name: str, result: dict[str, Any]) -> tuple[list[str], float]:
    load: Load = result["load"]
    rate = len(load.latencies) / result["elapsed"]
    lat = sorted(load.latencies)
    errors = sum(load.errors.values())
    return [
        name,
        f"{len(load.latencies):,}",
        f"{rate:,.0f}",
        f"{median(lat) * 1000:.1f} ms",
        f"{percentile(lat, 0.99) * 1000:.1f} ms",
        f"{errors}" + (f" ({load.errors})" if errors else ""),
    ], rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--db",
        default=None,
        help="flowmap's store (default: a new SQLite file; ':memory:' for none)",
    )
    args = parser.parse_args()
    print(
        f"bench_serve: {args.clients} concurrent clients, {args.seconds:g} s per "
        "server, loopback, each server in its own process"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_flowmap(args, Path(tmp))
    theirs = run_moto(args)
    rows = []
    store = "SQLite :memory:" if args.db == ":memory:" else "SQLiteStore file"
    our_row, our_rate = row(f"flowmap serve, {store} (3 Operation nodes)", ours)
    rows.append(our_row)
    moto_rate = None
    if isinstance(theirs, dict):
        moto_row, moto_rate = row("moto server, StartExecution (3 Pass states)", theirs)
        rows.append(moto_row)
    print()
    print(
        table(
            ["server", "accepted", "per second", "p50 start", "p99 start", "errors"],
            rows,
        )
    )
    counts = ours["counts"]
    print()
    print(
        f"flowmap: {ours['ids']:,} execution ids returned; after the load "
        f"(drained in {ours['drain']:.1f} s): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    )
    done = ours["ids"] - counts["lost"]
    span = ours["elapsed"] + ours["drain"]
    print(
        f"  completed {done:,} in {span:.1f} s from the first start: "
        f"{done / span:,.0f} executions per second end to end"
    )
    print(f"  0 lost: {verdict(counts['lost'] == 0)}")
    if isinstance(theirs, dict):
        print(
            f"moto: {theirs['finished']} of a sample of {theirs['sample']} "
            "executions SUCCEEDED one second after the load"
        )
        ratio = our_rate / moto_rate if moto_rate else None
        print(
            f"  flowmap / moto start rate: {fmt_ratio(ratio)} "
            f"(target >= 3x): {verdict(ratio is not None and ratio >= 3)}"
        )
    else:
        print(f"moto baseline skipped: {theirs}")


if __name__ == "__main__":
    main()
