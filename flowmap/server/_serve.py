"""``flowmap serve``: build the backend and the app, then run uvicorn.

Shutdown (SIGTERM or SIGINT): uvicorn stops accepting connections and
finishes the requests in flight; then the app's lifespan shuts the backend
down, which lets running executions reach their next checkpoint and records
them (see docs/server.md, "Durability"); then the process exits with 0.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import math
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from ..errors import FlowmapError

if TYPE_CHECKING:
    from ._signature import KeyRing

__all__ = ["ServeError", "bind", "check_bind", "serve"]

log = logging.getLogger("flowmap.server")


class ServeError(FlowmapError):
    """The server cannot start as asked (address, files); the text says why."""

    def __repr__(self) -> str:
        return f"ServeError({str(self)!r})"


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("192.168.1.2"), is_loopback("example.org")
    (False, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, has_credentials: bool) -> None:
    """Refuse to serve an open (unauthenticated) API beyond this machine."""
    if not has_credentials and not is_loopback(host):
        raise ServeError(
            f"refusing to listen on {host} without --credentials: anyone who can "
            "reach it could run flows. Give --credentials FILE (AK/SK pairs, see "
            "docs/server.md) or listen on 127.0.0.1"
        )


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds it), or a ServeError
    saying why it cannot be and what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            why = (
                "the address is already in use (another server on this port?); "
                "stop it or choose another --port"
            )
        elif exc.errno == errno.EACCES:
            why = (
                "permission denied (ports below 1024 need privileges); "
                "choose another --port"
            )
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = "no interface of this machine has that address; give another --host"
        else:
            why = f"{exc.strerror or exc}; check --host and --port"
        raise ServeError(f"cannot listen on {host}:{port}: {why}") from exc
    listener.set_inheritable(True)
    return listener


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    db: str = "flowmap.db",
    functions: str | None = None,
    credentials: str | None = None,
    max_body_bytes: int | None = None,
    region: str = "local",
    shutdown_grace: float = 10.0,
    stderr: IO[str] | None = None,
    broker: str | None = None,
    lease: float = 30.0,
    visibility_timeout: float = 3600.0,
) -> int:
    """Run the server until it is told to stop; returns the exit status."""
    from ..flows import load_functions
    from ._signature import load_credentials

    stderr = stderr or sys.stderr
    keys = load_credentials(credentials) if credentials else None
    check_bind(host, keys is not None)
    registry = load_functions(functions) if functions else {}
    # Bound before anything is opened or announced: a busy port is then one
    # message, and no store file is created for a server that cannot start.
    listener = bind(host, port)
    try:
        return _serve(
            listener,
            host=host,
            db=db,
            registry=registry,
            keys=keys,
            max_body_bytes=max_body_bytes,
            region=region,
            shutdown_grace=shutdown_grace,
            stderr=stderr,
            broker=broker,
            lease=lease,
            visibility_timeout=visibility_timeout,
        )
    finally:
        listener.close()


def _serve(
    listener: socket.socket,
    *,
    host: str,
    db: str,
    registry: Mapping[str, Callable[[Any, dict[str, Any]], Any]],
    keys: KeyRing | None,
    max_body_bytes: int | None,
    region: str,
    shutdown_grace: float,
    stderr: IO[str],
    broker: str | None,
    lease: float,
    visibility_timeout: float,
) -> int:
    import uvicorn

    from ..flows import Runner, open_store
    from ._app import create_app
    from ._http import DEFAULT_MAX_BODY

    port = listener.getsockname()[1]
    # Issue 12: --db postgresql://... shares one database between servers;
    # --broker sends function calls to Celery workers (docs/scale.md).
    store = open_store(db, lease=lease)
    executor = None
    if broker:
        from ..flows import CeleryExecutor, celery_app

        app_ = celery_app(broker, visibility_timeout=visibility_timeout)
        executor = CeleryExecutor(app_)
    runner = Runner(registry, store=store, executor=executor)
    attach = getattr(store, "attach", None)
    if attach is not None:
        attach(runner)  # takes over executions whose runner died
    app = create_app(
        runner,
        credentials=keys,
        max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY,
        region=region,
        shutdown_grace=shutdown_grace,
    )
    if keys is None:
        stderr.write(
            f"flowmap serve: OPEN: no --credentials, so requests are not "
            f"authenticated (listening on loopback {host} only)\n"
        )
    else:
        stderr.write(
            f"flowmap serve: {len(keys)} access key(s); every request must be "
            "signed (SDK-HMAC-SHA256)\n"
        )
    stderr.write(f"flowmap serve: http://{host}:{port} (store {db})\n")
    stderr.flush()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        # Requests in flight (a sync execution) get the same grace as the
        # runner's executions; then they are cancelled and checkpointed.
        timeout_graceful_shutdown=max(1, math.ceil(shutdown_grace)),
    )
    backend = app.state.backend

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # At the signal, before uvicorn waits for requests in flight:
            # new starts get 503 and sync waits give their answer.
            backend.begin_shutdown()
            super().handle_exit(sig, frame)

    server = Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down, to
    # die of it; a completed graceful shutdown is a normal exit (status 0),
    # so the handlers it restores before re-raising do nothing.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)
        }
    try:
        server.run(sockets=[listener])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 1


def _ignore(signum: int, frame: object) -> None:
    """A signal that arrives once shutdown is complete: nothing left to do."""
