"""Run ``flowmap serve`` for tests: in a thread, or as a real subprocess.

Both bind 127.0.0.1 on a port the kernel picks, so tests can run in
parallel and never touch anything beyond loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from scaletools import free_port

ROOT = Path(__file__).resolve().parent.parent


class LiveServer:
    """uvicorn serving an ASGI app in a background thread (a context manager)."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="on", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class ServeProcess:
    """``python -m flowmap.cli serve ...`` as a subprocess on a free port."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "flowmap.cli",
            "serve",
            "--port",
            str(self.port),
            *args,
        ]
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"flowmap serve exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                httpx.get(self.url + "/openapi.json", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("flowmap serve did not start")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop(signal.SIGKILL, timeout=10)


# -- the flows and functions the server tests run --------------------------

PROJECT = "p1"


def urn(name: str) -> str:
    return f"urn:fss:local:{PROJECT}:function:default:{name}:latest"


def operation(
    state_id: str, function: str, arguments: Any = None, **more: Any
) -> dict[str, Any]:
    ref: dict[str, Any] = {"ref_name": function}
    if arguments is not None:
        ref["arguments"] = arguments
    state = {
        "id": state_id,
        "name": state_id.upper(),
        "type": "Operation",
        "actions": [{"function_ref": ref}],
    }
    state.update(more)
    return state


#: Three Operation nodes: add, show what the node saw, a function that fails
#: while told to (for retry).
THREE = {
    "name": "three",
    "description": "add, look, maybe fail",
    "start": "add",
    "functions": [
        {"name": "add", "operation": urn("add")},
        {"name": "look", "operation": urn("look")},
        {"name": "flaky", "operation": urn("flaky")},
    ],
    "states": [
        operation("add", "add", {"a": "$.a", "b": "$.b | 10"}, transition="look"),
        operation("look", "look", {"total": "$.sum"}, transition="last"),
        operation("last", "flaky", end=True),
    ],
}

SLEEPY = {
    "name": "sleepy",
    "start": "first",
    "functions": [{"name": "add", "operation": urn("add")}],
    "states": [
        operation("first", "add", {"a": "$.a", "b": 1}, transition="nap"),
        {"id": "nap", "name": "Nap", "type": "Sleep", "duration": 3600, "end": True},
    ],
}


class Functions:
    """The test flows' handlers, with a switch for the failing one."""

    def __init__(self) -> None:
        self.failures_left = 0
        self.lock = threading.Lock()

    def registry(self) -> dict[str, Any]:
        return {"add": self.add, "look": self.look, "flaky": self.flaky}

    @staticmethod
    def add(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {"sum": event["a"] + event["b"]}

    @staticmethod
    def look(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_keys": sorted(event),
            "run_id": context.get("workflow_run_id"),
            "create_time": context.get("create_time"),
            "headers": context.get("headers"),
        }

    def flaky(self, event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                raise RuntimeError("flaky is told to fail")
        return {"done": True}
