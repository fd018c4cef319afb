"""The ``flowmap serve`` subcommand (argument parsing; the work is in _serve).

This module imports neither Starlette nor uvicorn, so that ``flowmap`` runs
without the ``server`` extra and says what to install when it is missing.
"""

from __future__ import annotations

import argparse
from typing import IO, Any

from ..errors import FlowmapError

__all__ = ["add_parser", "run"]


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def _size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number of bytes: {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def add_parser(sub: Any, summary: str) -> argparse.ArgumentParser:
    """Register ``serve`` on the subparsers of the ``flowmap`` command."""
    s: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help=summary,
        description="Serve the FunctionGraph flow API (the routes of the official "
        "SDK, huaweicloudsdkfunctiongraph v2) over HTTP; see docs/server.md.",
    )
    s.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    s.add_argument("--port", type=_port, default=8080, help="port (default: 8080)")
    s.add_argument(
        "--db",
        default="flowmap.db",
        help="SQLite file of workflows and executions, or :memory:, or a "
        "postgresql:// URL shared by several servers (default: flowmap.db)",
    )
    s.add_argument(
        "--broker",
        metavar="URL",
        help="Redis URL: call functions on Celery workers (flowmap worker) "
        "instead of in this process (needs flowmap[celery]; docs/scale.md)",
    )
    s.add_argument(
        "--lease",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="with a postgresql:// --db: how long an execution of a server that "
        "died waits before another server takes it over (default: 30)",
    )
    s.add_argument(
        "--visibility-timeout",
        type=_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="with --broker: as the workers' --visibility-timeout (default: 3600)",
    )
    s.add_argument(
        "--functions",
        metavar="MODULE",
        help="handlers: a .py file or an importable module (see docs/flows.md)",
    )
    s.add_argument(
        "--credentials",
        metavar="FILE",
        help="JSON array of {ak, sk, project_id}: requests must then be signed "
        "(required to listen beyond loopback)",
    )
    s.add_argument(
        "--max-body",
        type=_size,
        default=None,
        metavar="BYTES",
        help="largest request body accepted (default: 6291456, 6 MB)",
    )
    s.add_argument(
        "--region", default="local", help="region id in workflow URNs (default: local)"
    )
    s.add_argument(
        "--grace",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="on SIGTERM, how long running executions may take to end before "
        "they are checkpointed (default: 10)",
    )
    return s


def run(args: argparse.Namespace, stderr: IO[str]) -> int:
    """Run ``flowmap serve`` with parsed arguments."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from ._serve import serve
    except ImportError as exc:
        stderr.write(
            f"flowmap: error: flowmap serve needs the server extra ({exc.name} is "
            "missing): pip install 'flowmap[server]'\n"
        )
        return 1
    try:
        return serve(
            host=args.host,
            port=args.port,
            db=args.db,
            functions=args.functions,
            credentials=args.credentials,
            max_body_bytes=args.max_body,
            region=args.region,
            shutdown_grace=args.grace,
            stderr=stderr,
            broker=args.broker,
            lease=args.lease,
            visibility_timeout=args.visibility_timeout,
        )
    except FlowmapError as exc:
        stderr.write(f"flowmap: error: {exc}\n")
        return 1
