"""Node invocations on Celery workers (issue 12): the ``celery`` extra.

A runner given ``executor=CeleryExecutor(app)`` sends every function call to
the Celery task ``flowmap.invoke`` (arguments: the function's flow name, its
operation URN, the event and the context, all as JSON) and waits for its
answer; ``flowmap worker --functions handlers.py`` runs the workers that
answer it. Everything else (mapping, merge, retries, on_errors, timeouts,
records) stays in the runner, so a flow behaves the same on both executors.

Delivery: tasks are acknowledged late (after the call) and rejected when
their worker process is lost, so a worker killed during a call has that call
delivered again, to another worker: a call runs *at least* once. With Redis
as the broker, a message taken by a worker that died is delivered again once
``visibility_timeout`` seconds have passed since it was taken; make it longer
than your slowest function (default: one hour, as Celery's).

A function's exception never becomes a failed or lost task: the worker
answers ``{"error": {...}}`` with the names ``on_errors`` match, and the
runner gets it as :class:`FunctionFailure`, exactly as with the embedded
executor. While Redis is unreachable, sending and waiting retry (for up to
``reconnect_timeout`` seconds), so calls wait and then resume.

Nothing here imports Celery until it is used: ``import flowmap.flows`` works
without the extra.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ._executor import FunctionFailure, invalid_result, json_copy
from ._functions import Handler, find_handler

if TYPE_CHECKING:
    from celery import Celery  # type: ignore[import-untyped]

__all__ = ["TASK_NAME", "CeleryExecutor", "call_function", "celery_app", "register"]

log = logging.getLogger("flowmap.flows")

TASK_NAME = "flowmap.invoke"
"""The Celery task that calls a function on a worker."""

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def celery_app(
    broker: str = DEFAULT_BROKER,
    *,
    backend: str | None = None,
    visibility_timeout: float = 3600.0,
    queue: str = "flowmap",
) -> Celery:
    """A Celery app configured for flowmap: the runner's and the workers'.

    ``broker`` (and ``backend``, default: the broker) are Redis URLs.
    ``visibility_timeout`` is how long, in seconds, a message taken by a
    worker that dies waits before it is delivered again; give the runner
    processes and the workers the same value. ``queue`` is the queue the
    calls go to.
    """
    try:
        from celery import Celery
    except ImportError:
        from ..errors import FlowmapError

        raise FlowmapError(
            "the Celery executor needs the celery extra: pip install 'flowmap[celery]'"
        ) from None
    app = Celery("flowmap", broker=broker, backend=backend or broker)
    restore = max(0.5, min(10.0, visibility_timeout / 4))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=queue,
        task_create_missing_queues=True,
        result_expires=3600,
        result_extended=False,
        task_ignore_result=False,
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": restore,
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={
            "retry_policy": {"max_retries": 60, "interval_step": 1, "interval_max": 1}
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


class _Loops(threading.local):
    loop: asyncio.AbstractEventLoop | None = None


_loops = _Loops()


def call_function(
    functions: Mapping[str, Handler],
    name: str,
    operation: str,
    event: Any,
    context: dict[str, Any],
) -> dict[str, Any]:
    """Call a handler as a worker does: ``{"ok": result}`` or ``{"error": ...}``.

    The error is what :class:`FunctionFailure` carries (``error``,
    ``message``, ``names``), so the runner matches ``on_errors`` exactly as
    it does for the embedded executor.

    >>> def boom(event, context):
    ...     raise KeyError("k")
    >>> call_function({"boom": boom}, "boom", "urn:x", {}, {})["error"]["names"]
    ['KeyError', 'LookupError', 'Exception']
    >>> call_function({"boom": boom}, "nope", "urn:x", {}, {})["error"]["error"]
    'FunctionNotFound'
    """
    handler = find_handler(functions, name, operation)
    if handler is None:
        return _error(
            FunctionFailure(
                "FunctionNotFound",
                f"no handler registered for function {name} ({operation})",
            )
        )
    try:
        result = handler(event, context)
        if inspect.isawaitable(result):
            loop = _loops.loop
            if loop is None or loop.is_closed():
                loop = _loops.loop = asyncio.new_event_loop()
            result = loop.run_until_complete(_awaited(result))
    except Exception as exc:
        return _error(FunctionFailure.from_exception(exc))
    try:
        return {"ok": json_copy(result)}
    except (TypeError, RecursionError) as exc:
        return _error(
            FunctionFailure("InvalidResult", invalid_result(name, result, exc))
        )


async def _awaited(value: Any) -> Any:
    return await value


def _error(failure: FunctionFailure) -> dict[str, Any]:
    return {
        "error": {
            "error": failure.error,
            "message": failure.message,
            "names": list(failure.names),
        }
    }


def register(app: Celery, functions: Mapping[str, Handler]) -> None:
    """Register the ``flowmap.invoke`` task, calling ``functions``, on ``app``."""

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def invoke(
        name: str, operation: str, event: Any, context: dict[str, Any]
    ) -> dict[str, Any]:
        return call_function(functions, name, operation, event, context)


class CeleryExecutor:
    """Calls functions on Celery workers (``flowmap worker``) for a runner.

    ``app`` is a Celery app whose broker and result backend the workers
    share (see :func:`celery_app`). Each call waits in one of
    ``max_waiting`` threads (each holding a connection to the result
    backend), so that many calls may be in flight while the event loop stays
    free. ``reconnect_timeout`` bounds, in seconds, how long a call waits for
    an unreachable broker before it fails with ``BrokerUnavailable``.

    A call cancelled by the runner (terminate, timeout) stops waiting; the
    function may still run on its worker.
    """

    def __init__(
        self,
        app: Celery,
        *,
        queue: str | None = None,
        max_waiting: int = 256,
        reconnect_timeout: float = 300.0,
    ) -> None:
        from celery.exceptions import (  # type: ignore[import-untyped]
            TimeoutError as CeleryTimeout,
        )

        self.app = app
        self.queue = queue or app.conf.task_default_queue
        self.reconnect_timeout = reconnect_timeout
        self._timeout_error = CeleryTimeout
        self._in_flight: set[threading.Event] = set()
        self._threads = ThreadPoolExecutor(
            max_waiting, thread_name_prefix="flowmap-celery"
        )

    def missing(self, functions: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # The workers' functions are not known here: a missing one is
        # reported by its call (FunctionNotFound), as a node error.
        return []

    async def invoke(
        self, name: str, operation: str, event: Any, context: dict[str, Any]
    ) -> Any:
        cancelled = threading.Event()
        loop = asyncio.get_running_loop()
        self._in_flight.add(cancelled)
        try:
            answer = await loop.run_in_executor(
                self._threads, self._call, name, operation, event, context, cancelled
            )
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finally:
            self._in_flight.discard(cancelled)
        if "ok" in answer:
            return answer["ok"]
        error = answer["error"]
        raise FunctionFailure(
            error["error"], error["message"], tuple(error.get("names") or ())
        )

    def _call(
        self,
        name: str,
        operation: str,
        event: Any,
        context: dict[str, Any],
        cancelled: threading.Event,
    ) -> dict[str, Any]:
        task_id = str(uuid.uuid4())
        self._retrying(
            lambda: self.app.send_task(
                TASK_NAME,
                args=(name, operation, event, context),
                task_id=task_id,
                queue=self.queue,
                retry=False,
            ),
            cancelled,
        )
        result = self.app.AsyncResult(task_id)
        while True:
            value = self._retrying(
                lambda: result.get(
                    timeout=1.0, propagate=False, disable_sync_subtasks=False
                ),
                cancelled,
                waiting=True,
            )
            if value is not _PENDING:
                break
            # Once a second, read the result itself too: a notice published
            # while the connection was down (Redis restarted) is never seen.
            meta = self._retrying(
                lambda: result.backend.get_task_meta(task_id, cache=False), cancelled
            )
            if meta.get("status") in ("SUCCESS", "FAILURE"):
                value = meta.get("result")
                break
        if isinstance(value, dict) and ("ok" in value or "error" in value):
            return value
        if isinstance(value, BaseException):
            failure = FunctionFailure("WorkerError", f"{type(value).__name__}: {value}")
        else:
            failure = FunctionFailure(
                "WorkerError", f"unexpected answer from a worker: {value!r}"
            )
        return _error(failure)

    def _retrying(
        self, work: Any, cancelled: threading.Event, *, waiting: bool = False
    ) -> Any:
        """Run ``work``, retrying while the broker or backend is unreachable."""
        give_up = time.monotonic() + self.reconnect_timeout
        pause = 0.05
        while True:
            if cancelled.is_set():
                raise _Cancelled
            try:
                return work()
            except self._timeout_error:
                if waiting:
                    return _PENDING
                raise
            except Exception as exc:
                if not _connection_error(exc):
                    raise
                if time.monotonic() > give_up:
                    raise FunctionFailure(
                        "BrokerUnavailable",
                        f"the Celery broker stayed unreachable for "
                        f"{self.reconnect_timeout:g} s: {exc}",
                    ) from None
                log.warning("Celery broker unreachable, retrying: %s", exc)
                time.sleep(pause)
                pause = min(1.0, pause * 2)

    async def aclose(self) -> None:
        """Stop waiting for calls in flight (within a second) and end the threads."""
        for cancelled in list(self._in_flight):
            cancelled.set()
        await asyncio.to_thread(self._threads.shutdown, True, cancel_futures=True)


class _Cancelled(Exception):
    """The runner stopped waiting for this call."""


_PENDING = object()


def _connection_error(exc: BaseException) -> bool:
    from kombu.exceptions import OperationalError

    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout
    except ImportError:  # pragma: no cover - redis comes with celery[redis]
        return isinstance(exc, (OperationalError, OSError))
    return isinstance(
        exc, (OperationalError, OSError, RedisConnectionError, RedisTimeout)
    )
