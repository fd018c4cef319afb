"""``flowmap run``: run a flow definition once and print its execution record.

The command line module registers this subcommand and hands it its JSON
reader and writer, so that files are read and errors reported exactly as by
the other subcommands.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import IO, Any, Protocol

from ._definition import load_definition
from ._functions import load_functions
from ._run_errors import ExecutionInputError, FunctionNotFoundError
from ._runner import Runner
from ._store import MemoryStore, SQLiteStore, Store

__all__ = ["EXIT_NOT_SUCCESS", "add_parser", "command"]

EXIT_NOT_SUCCESS = 3
"""The exit status when the execution ends as fail, timeout or cancel."""


class CommandIO(Protocol):
    """What the command line module gives a subcommand: JSON read from files
    or stdin and written to stdout by its rules, and the error stream."""

    stderr: IO[str] | None

    def read_json(self, path: str | None, what: str) -> Any: ...

    def write_json(self, value: Any) -> None: ...


def add_parser(sub: Any, summary: str) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to an argparse subparsers object."""
    r: argparse.ArgumentParser = sub.add_parser(
        "run",
        help=summary,
        description=(
            "Run a FunctionGraph flow definition once with functions from a Python "
            "module, and print the execution record (ShowWorkflowExecutionResponse). "
            f"Exit status 0 on success, {EXIT_NOT_SUCCESS} when the execution "
            "fails, times out or is cancelled, 1 for bad input."
        ),
    )
    r.add_argument("flow", help="the flow definition (a JSON file)")
    r.add_argument(
        "input", nargs="?", help="the execution input, a JSON object (default: {})"
    )
    r.add_argument(
        "--functions",
        required=True,
        metavar="MODULE",
        help="a Python file (handlers.py) or module defining the functions",
    )
    r.add_argument(
        "--merge",
        action="store_true",
        help="merge each node's previous output into its input "
        "(X-WorkflowRun-MergeFnParameters: true)",
    )
    r.add_argument(
        "--headers", metavar="FILE", help="JSON object given to functions as headers"
    )
    r.add_argument(
        "--db",
        metavar="PATH",
        help="keep the execution record in this SQLite file (default: memory)",
    )
    r.add_argument("--project-id", default="default", help="default: %(default)s")
    r.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="time limit of a NORMAL flow (EXPRESS flows have 300 s)",
    )
    return r


def command(args: argparse.Namespace, io: CommandIO) -> int:
    """Carry out ``flowmap run``; FlowmapErrors go to the caller."""
    definition = load_definition(io.read_json(args.flow, "flow definition"))
    data = io.read_json(args.input, "input") if args.input else {}
    if not isinstance(data, dict):
        raise ExecutionInputError("input", "must be a JSON object")
    headers = io.read_json(args.headers, "headers") if args.headers else None
    if headers is not None and not isinstance(headers, dict):
        raise ExecutionInputError("headers", "must be a JSON object")
    if args.timeout is not None and not args.timeout > 0:
        raise ExecutionInputError("--timeout", "must be a positive number of seconds")
    functions = load_functions(args.functions)
    stderr = io.stderr
    progress = stderr if stderr is not None and _is_terminal(stderr) else None
    shown = asyncio.run(_run(args, definition, data, headers, functions, progress))
    io.write_json(shown)
    return 0 if shown["status"] == "success" else EXIT_NOT_SUCCESS


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def _run(
    args: argparse.Namespace,
    definition: Any,
    data: dict[str, Any],
    headers: dict[str, Any] | None,
    functions: dict[str, Any],
    progress: IO[str] | None,
) -> dict[str, Any]:
    store: Store = SQLiteStore(args.db) if args.db else MemoryStore()
    runner = Runner(
        functions,
        store=store,
        **({"timeout": args.timeout} if args.timeout is not None else {}),
    )
    try:
        missing = runner.executor.missing(
            [(f.name, f.operation) for f in definition.functions]
        )
        if missing:
            raise FunctionNotFoundError([f"{name} ({urn})" for name, urn in missing])
        if args.db:
            await runner.recover()
        execution_id = await runner.start(
            definition,
            data,
            headers=headers,
            project_id=args.project_id,
            merge=args.merge,
        )
        waiting = asyncio.ensure_future(runner.wait(execution_id))
        shown_attempts: set[str] = set()
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=0.1)
            if progress is not None:
                await _report(runner, execution_id, shown_attempts, progress)
            if done:
                break
        return await runner.get(execution_id)
    finally:
        await runner.aclose()
        await store.close()


async def _report(
    runner: Runner, execution_id: str, shown: set[str], out: IO[str]
) -> None:
    for node in await runner.store.get_nodes(execution_id):
        for number, attempt in enumerate(node.attempts, 1):
            if attempt["status"] == "running" or attempt["request_id"] in shown:
                continue
            shown.add(attempt["request_id"])
            took = attempt["end_time"] - attempt["begin_time"]
            line = f"  {node.node_id} attempt {number}: {attempt['status']} ({took} ms)"
            if attempt["error_message"]:
                line += f" - {attempt['error_message']}"
            out.write(line + "\n")
    out.flush()
