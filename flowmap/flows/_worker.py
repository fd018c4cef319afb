"""The ``flowmap worker`` subcommand: a Celery worker that calls flow functions.

It loads the functions (``--functions handlers.py`` or a module name), as
``flowmap run`` and ``flowmap serve`` do, registers the ``flowmap.invoke``
task and runs a Celery worker on the broker. Start as many as you like, on
any machine that reaches the broker (see docs/scale.md). This module imports
Celery only when the command runs, so ``flowmap`` works without the extra.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from typing import IO, Any

from ..errors import FlowmapError

__all__ = ["add_parser", "run"]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def add_parser(sub: Any, summary: str) -> argparse.ArgumentParser:
    """Register ``worker`` on the subparsers of the ``flowmap`` command."""
    w: argparse.ArgumentParser = sub.add_parser(
        "worker",
        help=summary,
        description="Run a Celery worker that calls the functions of flows run "
        "with the Celery executor; see docs/scale.md.",
    )
    w.add_argument(
        "--functions",
        metavar="MODULE",
        required=True,
        help="handlers: a .py file or an importable module (see docs/flows.md)",
    )
    w.add_argument(
        "--broker",
        default=os.environ.get("FLOWMAP_BROKER", "redis://127.0.0.1:6379/0"),
        help="Redis URL of the broker (default: $FLOWMAP_BROKER or "
        "redis://127.0.0.1:6379/0)",
    )
    w.add_argument(
        "--backend", help="Redis URL of the result backend (default: the broker)"
    )
    w.add_argument(
        "--queue",
        default="flowmap",
        help="the queue to take calls from (default: flowmap)",
    )
    w.add_argument(
        "--concurrency",
        type=_positive,
        default=None,
        help="processes (or threads) calling functions (default: the CPU count)",
    )
    w.add_argument(
        "--pool",
        choices=("prefork", "threads", "solo"),
        default="prefork",
        help="prefork: processes (CPU-bound functions); threads: I/O-bound ones "
        "(default: prefork)",
    )
    w.add_argument(
        "--visibility-timeout",
        type=_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="a call taken by a worker that died is delivered again after this "
        "long; longer than your slowest function (default: 3600)",
    )
    w.add_argument(
        "--loglevel",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="WARNING",
        help="Celery's log level (default: WARNING)",
    )
    return w


def run(args: argparse.Namespace, stderr: IO[str]) -> int:
    """Run ``flowmap worker`` with parsed arguments (until it is stopped)."""
    try:
        import celery  # type: ignore[import-untyped]  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        stderr.write(
            f"flowmap: error: flowmap worker needs the celery extra ({exc.name} is "
            "missing): pip install 'flowmap[celery]'\n"
        )
        return 1
    from ._celery import celery_app, register
    from ._functions import load_functions

    try:
        functions = load_functions(args.functions)
        app = celery_app(
            args.broker,
            backend=args.backend,
            visibility_timeout=args.visibility_timeout,
            queue=args.queue,
        )
    except FlowmapError as exc:
        stderr.write(f"flowmap: error: {exc}\n")
        return 1
    register(app, functions)
    _keep_unacked_for_redelivery()
    stderr.write(
        f"flowmap worker: {len(functions)} function(s) from {args.functions}; "
        f"queue {args.queue} on {args.broker}\n"
    )
    stderr.flush()
    argv = [
        "worker",
        "--pool", args.pool,
        "--queues", args.queue,
        "--loglevel", args.loglevel,
        "--hostname", f"flowmap-{uuid.uuid4().hex[:8]}@{socket.gethostname()}",
        "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    if args.concurrency is not None:
        argv += ["--concurrency", str(args.concurrency)]
    return _supervise(lambda: app.worker_main(argv), stderr)


def _supervise(work: Callable[[], None], stderr: IO[str]) -> int:
    """Run the Celery worker in a child process; start it again if it dies.

    Celery's worker may stop with an "unrecoverable error" when the broker
    goes away at a bad moment (a known weakness of kombu's Redis transport
    when it restores unacknowledged messages while the connection is
    gone). Its calls are not lost (they are delivered again after the
    visibility timeout), but a worker that stays down calls nothing more, so
    this process starts it again. SIGTERM and SIGINT are passed on, and then
    the command ends with the worker's status.
    """
    context = multiprocessing.get_context("fork")
    stopping = False
    child: Any = None

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)

    previous = {
        sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while True:
            child = context.Process(target=_run_child, args=(work,), name="celery")
            child.start()
            child.join()
            code = child.exitcode or 0
            if stopping or code == 0:
                return 0 if stopping else code
            stderr.write(
                f"flowmap worker: the Celery worker stopped (status {code}); "
                "starting it again\n"
            )
            stderr.flush()
            time.sleep(1.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_child(work: Callable[[], None]) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    work()


def _keep_unacked_for_redelivery() -> None:
    """Leave the calls a worker holds to the visibility timeout, always.

    When the connection to Redis drops, kombu's Redis channel tries to put
    the messages its worker holds back on the queue *through that lost
    connection*, fails, and (kombu 5.7) stops the worker with "Unrecoverable
    error: AttributeError ... 'hostname'". Those messages are redelivered
    anyway once the visibility timeout has passed (the path a killed worker's
    messages take), so this worker process skips that step: it then survives
    a Redis restart, reconnects and goes on.
    """
    from kombu.transport import redis as kombu_redis

    kombu_redis.Channel.do_restore = False
