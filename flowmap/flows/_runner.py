"""The runner: executes flow definitions, records every step in a store.

An execution moves from state to state. As each attempt of a state begins
the runner saves it with a checkpoint of the execution (the state's id and
the data entering it); its end is saved with the next save (the next
attempt's beginning, a retry's delay, or the execution's end), which follows
with nothing awaited in between. So a store always holds where an execution
is and what it did, at one save per node. See docs/flows.md for the data
flow, errors and retries, and the records.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import heapq
import inspect
import json
import logging
import os
import socket
import time
import typing
import uuid
import weakref
from collections.abc import Callable, Coroutine, Sequence
from collections.abc import Mapping as MappingABC
from typing import Any

import flowmap

from ._clock import Clock, SystemClock
from ._definition import (
    Action,
    Definition,
    OperationState,
    SleepState,
    load_definition,
)
from ._executor import (
    EmbeddedExecutor,
    Executor,
    FunctionFailure,
    invalid_result,
    json_clone,
    json_copy,
)
from ._functions import Handler
from ._records import (
    TERMINAL,
    ExecutionRecord,
    NodeRecord,
    Status,
    WorkflowRecord,
    brief,
    format_time,
    parse_time,
    show,
    sync_response,
    workflow_info,
)
from ._run_errors import (
    ExecutionInputError,
    ExecutionNotFoundError,
    ExecutionStateError,
    WorkflowNotFoundError,
)
from ._store import MAX_LIST, MemoryStore, Store
from ._text import bad_text, scrubbed, text_problem

__all__ = ["EXPRESS_TIMEOUT", "Runner"]

log = logging.getLogger("flowmap.flows")

EXPRESS_TIMEOUT = 300.0
"""EXPRESS flows time out after 5 minutes, as on FunctionGraph."""
_CACHE = 256
_MESSAGES: dict[str, str] = {
    "cancel": "terminated",
    "timeout": "the execution timed out",
    "fail": "interrupted: the runner stopped; retry resumes it",
}
NORMAL_TIMEOUT = 86_400.0
"""The default timeout of NORMAL flows (one day); ``Runner(timeout=...)``."""
LIST_WINDOW_MS = 3 * 86_400_000
"""Listing without a time range covers three days, as the SDK documents."""

_NAMESPACE = uuid.UUID("6f1c7d0e-3b51-4c1e-9a52-6a1b2f1d5c00")


@functools.lru_cache(maxsize=1024)
def adhoc_workflow_id(project_id: str, name: str) -> str:
    """The workflow id of a definition run without being stored first.

    >>> adhoc_workflow_id("p", "orders") == adhoc_workflow_id("p", "orders")
    True
    """
    return str(uuid.uuid5(_NAMESPACE, f"{project_id}/{name}"))


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _new_id() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` but cheaper.

    >>> text = _new_id()
    >>> uuid.UUID(text).version, uuid.UUID(text).variant == uuid.RFC_4122
    (4, True)
    """
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_Step = tuple[OperationState | SleepState, str | None, str | None]
"""A state, and the name and operation of its function if it has one action."""


class _Stop(Exception):
    """The execution ends here with ``status`` (timeout)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# The runners alive in this process, by owner string: an owner naming this
# process is alive only if it is one of them (its PID may be the reused PID
# of a process that died, such as PID 1 in a container).
_LIVE_OWNERS: weakref.WeakValueDictionary[str, Runner] = weakref.WeakValueDictionary()


def _owner_alive(owner: str | None) -> bool:
    """Whether the runner named by an owner string ``host:pid:token`` may
    still be running (docs/flows.md, "Storage": the rule for recover)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: its lease is not ours to judge
    pid = int(pid_text)
    if pid == os.getpid():
        return owner in _LIVE_OWNERS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    except (OverflowError, OSError):
        return False  # no process can have this PID
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Whether a process has ended but is not reaped yet (Linux ``/proc``;
    elsewhere this cannot be told and the process counts as alive)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except FileNotFoundError:
        # Gone since the check, unless there is no /proc at all.
        return os.path.isdir("/proc/self")
    except OSError:
        return False
    # "pid (command) state ...": the command may hold spaces and parentheses.
    fields = text.rpartition(b")")[2].split()
    return bool(fields) and fields[0] in (b"Z", b"X", b"x")


def merge_result(data: Any, result: Any) -> Any:
    """Merge an action's result into the state data (Serverless Workflow 0.8).

    Objects merge deeply (the result wins at the leaves; nested arrays are
    replaced), two arrays are concatenated, ``None`` changes nothing, and
    any other result replaces the data.

    >>> merge_result({"a": {"x": 1}, "n": [1]}, {"a": {"y": 2}, "n": [2]})
    {'a': {'x': 1, 'y': 2}, 'n': [2]}
    >>> merge_result([1], [2]), merge_result({"a": 1}, None), merge_result({}, 3)
    ([1, 2], {'a': 1}, 3)
    """
    if result is None:
        return data
    if type(data) is dict and type(result) is dict:
        return flowmap.merge(data, result, strategy="deep")
    if type(data) is list and type(result) is list:
        return data + result
    return result


class Runner:
    """Runs flows and keeps their records.

    ``functions`` maps function names or operation URNs to handlers (see
    :func:`load_functions`); ``store`` keeps workflows and executions
    (default: a new :class:`MemoryStore`); ``executor`` calls the functions
    (default: an :class:`EmbeddedExecutor` over ``functions``); ``clock`` is
    what Sleep states and retry delays wait on and what times are read from
    (default: the system clock). ``timeout`` is the limit, in seconds, of a
    NORMAL execution (EXPRESS ones have 5 minutes); ``None`` means no limit.

    >>> import asyncio
    >>> from flowmap.flows import load_definition
    >>> flow = load_definition({
    ...     "name": "hello", "start": "greet",
    ...     "functions": [{"name": "greet",
    ...                    "operation": "urn:fss:r:p:function:d:greet"}],
    ...     "states": [{"id": "greet", "name": "Greet", "type": "Operation",
    ...                 "end": True,
    ...                 "actions": [{"function_ref": {"ref_name": "greet",
    ...                     "arguments": {"who": "$.name | 'world'"}}}]}],
    ... })
    >>> def greet(event, context):
    ...     return {"greeting": "hello " + event["who"]}
    >>> async def main():
    ...     async with Runner({"greet": greet}) as runner:
    ...         return await runner.run_sync(flow, {"name": "Ada"})
    >>> result = asyncio.run(main())
    >>> result["status"], result["output"]
    ('success', {'name': 'Ada', 'greeting': 'hello Ada'})
    """

    def __init__(
        self,
        functions: MappingABC[str, Handler] | None,
        *,
        store: Store | None = None,
        executor: Executor | None = None,
        clock: Clock | None = None,
        timeout: float | None = NORMAL_TIMEOUT,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number, not {timeout!r}")
        if executor is None:
            if functions is None:
                raise TypeError("a Runner needs functions or an executor")
            executor = EmbeddedExecutor(functions)
            self._own_executor = True
        else:
            self._own_executor = False
        self.executor: Executor = executor
        # What functions return goes into records: an executor not known to
        # hand back checked JSON has its results checked (InvalidResult).
        self._invoke: Callable[..., Coroutine[Any, Any, Any]] = (
            executor.invoke
            if type(executor).invoke is EmbeddedExecutor.invoke
            else functools.partial(_checked_invoke, executor)
        )
        self.store: Store = store if store is not None else MemoryStore()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.timeout = timeout
        self.owner = _owner()
        _LIVE_OWNERS[self.owner] = self
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: dict[str, Status] = {}
        self._by_text: dict[str, tuple[Definition, Any]] = {}
        self._by_object: dict[int, tuple[Definition, dict[str, Any], Any]] = {}
        self._plans: dict[int, tuple[Definition, dict[str, _Step]]] = {}
        # The definition each execution of this runner runs.
        self._running: dict[str, tuple[Definition, Any]] = {}
        # Who waits for an execution to end, and when it times out.
        self._waiters: dict[str, builtins.list[asyncio.Future[None]]] = {}
        self._deadlines: dict[str, float] = {}
        self._deadline_heap: builtins.list[tuple[float, str]] = []
        self._watchdog: asyncio.TimerHandle | None = None
        # Executions cancelled before they began, being recorded.
        self._unstarted: set[str] = set()
        self._watch_loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> Runner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def _loaded(self, body: dict[str, Any]) -> tuple[Definition, Any]:
        """The definition of a stored body and its constants (cached by text)."""
        key = json.dumps(body, sort_keys=True, separators=(",", ":"))
        found = self._by_text.get(key)
        if found is None:
            definition = load_definition(body)
            found = (definition, definition.constants)
            if len(self._by_text) >= _CACHE:
                self._by_text.pop(next(iter(self._by_text)))
            self._by_text[key] = found
        return found

    def _plan(self, definition: Definition) -> dict[str, _Step]:
        """Each state of a definition by id, with the function (name and
        operation) of a state with one action; computed once per object."""
        found = self._plans.get(id(definition))
        if found is None or found[0] is not definition:
            plan: dict[str, _Step] = {}
            for state in definition.states:
                if isinstance(state, OperationState) and len(state.actions) == 1:
                    ref = state.actions[0].function_ref.ref_name
                    function = definition.function(ref)
                    plan[state.id] = (state, function.name, function.operation)
                else:
                    plan[state.id] = (state, None, None)
            found = (definition, plan)
            if len(self._plans) >= _CACHE:
                self._plans.pop(next(iter(self._plans)))
            self._plans[id(definition)] = found
        return found[1]

    def _prepared(self, definition: Definition) -> tuple[dict[str, Any], Any]:
        """A definition's body and constants, computed once per object."""
        found = self._by_object.get(id(definition))
        if found is None or found[0] is not definition:
            body = definition.to_json()
            found = (definition, body, definition.constants)
            if len(self._by_object) >= _CACHE:
                self._by_object.pop(next(iter(self._by_object)))
            self._by_object[id(definition)] = found
            self._by_text.setdefault(
                json.dumps(body, sort_keys=True, separators=(",", ":")),
                (definition, found[2]),
            )
        return found[1], found[2]

    # -- workflows --------------------------------------------------------

    async def create_workflow(
        self,
        definition: Definition | MappingABC[str, Any],
        *,
        project_id: str = "default",
        created_by: str = "",
    ) -> dict[str, Any]:
        """Store a definition as a new workflow; its ``CreateWorkflowResponse``.

        A mapping is checked with :func:`load_definition` first (and may
        raise :class:`DefinitionError`); a ``project_id`` or ``created_by``
        holding a lone surrogate or NUL raises :class:`ExecutionInputError`.
        """
        if not isinstance(definition, Definition):
            definition = load_definition(definition)
        _check_name("project_id", project_id)
        _check_name("created_by", created_by)
        now = self._now_ms()
        record = WorkflowRecord(
            workflow_id=str(uuid.uuid4()),
            project_id=project_id,
            name=definition.name,
            definition=definition.to_json(),
            created_time=now,
            updated_time=now,
            created_by=created_by,
        )
        await self.store.create_workflow(record)
        return workflow_info(record)

    # -- starting ---------------------------------------------------------

    async def start(
        self,
        definition_or_workflow_id: Definition | str,
        input: Any,
        *,
        headers: MappingABC[str, Any] | None = None,
        project_id: str = "default",
        merge: bool | None = None,
        workflow_run_id: str | None = None,
        create_time: str | None = None,
    ) -> str:
        """Record a new execution, start it, and return its id at once.

        ``definition_or_workflow_id`` is a :class:`Definition` or the id of a
        stored workflow (:class:`WorkflowNotFoundError` if there is none in
        ``project_id``). ``input`` must be a JSON object and ``headers`` one
        too (:class:`ExecutionInputError` otherwise); both are copied.
        ``merge`` switches on ``X-WorkflowRun-MergeFnParameters``;
        ``workflow_run_id`` and ``create_time`` are the ``X-WorkflowRun-ID``
        and ``X-Create-Time`` headers, given to functions in the context.
        """
        record = await self._new_record(
            definition_or_workflow_id,
            input,
            headers=headers,
            project_id=project_id,
            merge=merge,
            workflow_run_id=workflow_run_id,
            create_time=create_time,
        )
        await self._start(record)
        return record.execution_id

    async def _start(self, record: ExecutionRecord) -> None:
        try:
            await self.store.save_execution(record)
        except BaseException:
            self._running.pop(record.execution_id, None)
            raise
        self._launch(record, retry=False)

    async def run_sync(
        self,
        definition_or_workflow_id: Definition | str,
        input: Any,
        *,
        headers: MappingABC[str, Any] | None = None,
        project_id: str = "default",
        merge: bool | None = None,
        workflow_run_id: str | None = None,
        create_time: str | None = None,
    ) -> dict[str, Any]:
        """Start an execution, wait for its end, and return the
        ``StartSyncWorkflowExecutionResponse`` shape."""
        ran = await self._new_record(
            definition_or_workflow_id,
            input,
            headers=headers,
            project_id=project_id,
            merge=merge,
            workflow_run_id=workflow_run_id,
            create_time=create_time,
        )
        await self._start(ran)
        execution_id = ran.execution_id
        await self._settle(execution_id)
        if ran.status in ("success", "timeout", "cancel"):
            # This runner's own record of the execution, as it saved it last.
            record: ExecutionRecord | None = ran
        else:  # (a failure needs its nodes; or another task recorded the end)
            record = await self.store.get_execution(execution_id)
        if record is None:
            raise ExecutionNotFoundError(execution_id)
        # Node records are only shown for a failure (its errors).
        nodes = (
            await self.store.get_nodes(execution_id) if record.status == "fail" else []
        )
        return sync_response(record, nodes)

    async def _new_record(
        self,
        target: Definition | str,
        input: Any,
        *,
        headers: MappingABC[str, Any] | None,
        project_id: str,
        merge: bool | None,
        workflow_run_id: str | None,
        create_time: str | None,
    ) -> ExecutionRecord:
        if isinstance(target, str):
            _check_name("workflow_id", target)
        _check_name("project_id", project_id)
        if workflow_run_id is not None:
            _check_name("workflow_run_id", workflow_run_id)
        if create_time is not None:
            _check_name("create_time", create_time)
        if isinstance(target, Definition):
            definition = target
            body, constants = self._prepared(definition)
            workflow_id = adhoc_workflow_id(project_id, definition.name)
        elif isinstance(target, str):
            workflow = await self.store.get_workflow(target, project_id=project_id)
            if workflow is None:
                raise WorkflowNotFoundError(target)
            body = workflow.definition
            definition, constants = self._loaded(body)
            workflow_id = workflow.workflow_id
        else:
            raise TypeError(
                "start() needs a Definition or a workflow id, "
                f"not {type(target).__name__}"
            )
        if type(input) is not dict and not isinstance(input, MappingABC):
            raise ExecutionInputError("input", f"must be an object, not {_kind(input)}")
        if headers is not None and not isinstance(headers, MappingABC):
            raise ExecutionInputError(
                "headers", f"must be an object, not {_kind(headers)}"
            )
        data = _caller_json("input", input)
        header_data = _caller_json("headers", headers) if headers is not None else {}
        now = self._now_ms()
        execution_id = _new_id()
        self._running[execution_id] = (definition, constants)
        return ExecutionRecord(
            execution_id=execution_id,
            workflow_id=workflow_id,
            project_id=project_id,
            workflow_name=definition.name,
            definition=body,
            status="running",
            input=data,
            headers=header_data,
            merge=bool(merge),
            begin_time=now,
            last_update_time=now,
            workflow_run_id=workflow_run_id,
            create_time=create_time,
            state_id=definition.start,
            state_data=data,
            owner=self.owner,
        )

    def _launch(self, record: ExecutionRecord, *, retry: bool) -> None:
        execution_id = record.execution_id
        loop = asyncio.get_running_loop()
        definition = self._running[execution_id][0]
        timeout = EXPRESS_TIMEOUT if definition.mode == "EXPRESS" else self.timeout
        # The limit runs from this start (a retry gets a fresh one). Sleep
        # states and delays check it on the runner's clock; the watchdog
        # bounds everything, function calls included, in the loop's time.
        deadline = None if timeout is None else self.clock.now() + timeout
        task = loop.create_task(
            self._execute(record, retry, deadline),
            name=f"flowmap-execution-{execution_id}",
        )
        self._tasks[execution_id] = task
        if timeout is not None:
            self._arm(loop, execution_id, loop.time() + timeout)
        # _execute calls _finish as it ends; _cancel handles a task cancelled
        # before it began (its coroutine then never runs).

    def _cancel(self, execution_id: str) -> None:
        """Cancel the task running an execution here (its status for the
        record is in ``_stopping``)."""
        task = self._tasks.get(execution_id)
        if task is None or task.done() or execution_id in self._unstarted:
            return  # (an unstarted one is being recorded already)
        task.cancel()
        coro = task.get_coro()
        if (
            inspect.iscoroutine(coro)
            and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
        ):
            # It never began, so nothing of it will run: record its end in a
            # follow-up task.
            self._unstarted.add(execution_id)
            follow = task.get_loop().create_task(
                self._interrupt_unstarted(execution_id)
            )
            self._tasks[execution_id] = follow
            follow.add_done_callback(lambda _: self._finish(execution_id))

    def _finish(self, execution_id: str) -> None:
        """The execution no longer runs here: forget it, wake its waiters."""
        self._tasks.pop(execution_id, None)
        self._unstarted.discard(execution_id)
        self._running.pop(execution_id, None)
        self._stopping.pop(execution_id, None)
        # (The watchdog stays set: when it goes off it finds what is due.)
        self._deadlines.pop(execution_id, None)
        for waiter in self._waiters.pop(execution_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _arm(
        self, loop: asyncio.AbstractEventLoop, execution_id: str, when: float
    ) -> None:
        """Time the execution out at ``when`` (loop time).

        One timer (the watchdog) serves every execution: it is set for the
        earliest deadline in a heap, so a start costs a heap push, not a
        timer. Entries of executions that have ended stay in the heap until
        it is due or twice as long as needed, then it is rebuilt.
        """
        deadlines = self._deadlines
        deadlines[execution_id] = when
        heap = self._deadline_heap
        if len(heap) > 2 * len(deadlines) + 256:
            heap[:] = [(at, key) for key, at in deadlines.items()]
            heapq.heapify(heap)
        else:
            heapq.heappush(heap, (when, execution_id))
        dog = self._watchdog
        if dog is None or self._watch_loop is not loop or when < dog.when():
            if dog is not None:
                dog.cancel()
            self._watch_loop = loop
            self._watchdog = loop.call_at(when, self._watch)

    def _watch(self) -> None:
        self._watchdog = None
        loop = self._watch_loop
        if loop is None:
            return
        now = loop.time()
        heap = self._deadline_heap
        deadlines = self._deadlines
        while heap and heap[0][0] <= now:
            when, execution_id = heapq.heappop(heap)
            if deadlines.get(execution_id) == when:
                del deadlines[execution_id]
                self._time_out(execution_id)
        while heap and deadlines.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # an execution that has ended
        if heap:
            self._watchdog = loop.call_at(heap[0][0], self._watch)

    async def _interrupt_unstarted(self, execution_id: str) -> None:
        record = await self.store.get_execution(execution_id)
        if record is not None and record.status == "running":
            status = self._stopping.get(execution_id, "cancel")
            nodes = await self.store.get_nodes(execution_id)
            await self._interrupt(record, nodes, status, _MESSAGES[status])

    async def _settle(self, execution_id: str) -> None:
        """Wait until this runner no longer runs the execution.

        (A waiter is woken by :meth:`_finish`: cancelling the wait leaves the
        execution running.)
        """
        loop = asyncio.get_running_loop()
        while (task := self._tasks.get(execution_id)) is not None:
            if task.done() or task.get_loop().is_closed():
                # It can no longer end by itself: cancelled before it began
                # by something other than this runner (a loop shutting
                # down), or its loop is gone. The store has its last save.
                self._finish(execution_id)
                return
            waiter = loop.create_future()
            self._waiters.setdefault(execution_id, []).append(waiter)
            await waiter

    def _time_out(self, execution_id: str) -> None:
        task = self._tasks.get(execution_id)
        if task is not None and not task.done() and task.get_loop() is self._watch_loop:
            self._stopping.setdefault(execution_id, "timeout")
            self._cancel(execution_id)

    # -- reading ----------------------------------------------------------

    async def _load(
        self, execution_id: str, project_id: str | None
    ) -> tuple[ExecutionRecord, list[NodeRecord]]:
        record = await self.store.get_execution(execution_id, project_id=project_id)
        if record is None:
            raise ExecutionNotFoundError(execution_id)
        return record, await self.store.get_nodes(execution_id)

    async def get(
        self, execution_id: str, *, project_id: str | None = None
    ) -> dict[str, Any]:
        """The ``ShowWorkflowExecutionResponse`` shape of an execution.

        Raises :class:`ExecutionNotFoundError` for an unknown id (or one of
        another project than ``project_id``).
        """
        return show(*await self._load(execution_id, project_id))

    async def list(
        self,
        workflow_id: str,
        *,
        project_id: str | None = None,
        status: Status | None = None,
        start_time: str | int | None = None,
        end_time: str | int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[dict[str, Any]]:
        """A workflow's executions as ``FlowExecutionBrief`` shapes, newest first.

        ``start_time``/``end_time`` bound the begin time (``yyyy-MM-ddTHH:mm:ssZ``
        text or epoch ms). As the SDK documents, a missing bound is the other
        one moved by three days, and with neither the last three days are
        listed. ``limit`` is capped at 200. An unknown ``status`` is an
        :class:`ExecutionInputError` (it would match nothing).
        """
        if status is not None and status not in _STATUSES:
            raise ExecutionInputError(
                "status", f"must be one of {', '.join(_STATUSES)}, not {status!r}"
            )
        since = _time_ms(start_time, "start_time")
        until = _time_ms(end_time, "end_time")
        if since is None and until is None:
            until = self._now_ms()
        if since is None:
            assert until is not None
            since = until - LIST_WINDOW_MS
        if until is None:
            until = since + LIST_WINDOW_MS
        records = await self.store.list_executions(
            workflow_id=workflow_id,
            project_id=project_id,
            status=status,
            since=since,
            until=until,
            limit=min(limit, MAX_LIST),
            offset=offset,
        )
        return [brief(r) for r in records]

    async def wait(self, execution_id: str) -> str:
        """Wait until an execution of this runner ends; its final status."""
        await self._settle(execution_id)
        record = await self.store.get_execution(execution_id)
        if record is None:
            raise ExecutionNotFoundError(execution_id)
        return record.status

    # -- control ----------------------------------------------------------

    async def terminate(
        self, execution_id: str, *, project_id: str | None = None
    ) -> None:
        """Stop a running execution; its status becomes ``cancel``.

        Raises :class:`ExecutionStateError` if it has already ended.
        """
        record = await self.store.get_execution(execution_id, project_id=project_id)
        if record is None:
            raise ExecutionNotFoundError(execution_id)
        if record.status in TERMINAL:
            raise ExecutionStateError(execution_id, record.status, "terminate")
        task = self._tasks.get(execution_id)
        if task is not None:
            self._stopping[execution_id] = "cancel"
            self._cancel(execution_id)
            await self._settle(execution_id)
            return
        # Not running here (its runner is gone): mark it.
        nodes = await self.store.get_nodes(execution_id)
        await self._interrupt(record, nodes, "cancel", "terminated")

    async def retry(self, execution_id: str, *, project_id: str | None = None) -> str:
        """Resume a failed execution from its failed node; returns its id.

        The failed node gets a new attempt with the data it had entered
        with; the nodes before it are not run again. Raises
        :class:`ExecutionStateError` unless the status is ``fail``.
        """
        record = await self.store.get_execution(execution_id, project_id=project_id)
        if record is None:
            raise ExecutionNotFoundError(execution_id)
        if record.status != "fail" or execution_id in self._tasks:
            raise ExecutionStateError(execution_id, record.status, "retry")
        now = self._now_ms()
        record.status = "running"
        record.end_time = None
        record.error = None
        record.output = None
        record.owner = self.owner
        record.last_update_time = now
        self._running[execution_id] = self._loaded(record.definition)
        await self.store.save_execution(record)
        self._launch(record, retry=True)
        return execution_id

    async def take_over(self, record: ExecutionRecord) -> None:
        """Continue here a ``running`` execution whose runner has gone.

        For stores that hand executions over (``PostgresStore``, once the
        lease of the runner that ran it has expired and this one has claimed
        it): the attempts it left ``running`` end as ``fail`` (interrupted),
        and the execution resumes from its checkpoint, its interrupted node
        getting a new attempt.
        """
        execution_id = record.execution_id
        if execution_id in self._tasks:
            return
        nodes = await self.store.get_nodes(execution_id)
        now = self._now_ms()
        changed = []
        for node in nodes:
            for attempt in node.attempts:
                if attempt["status"] == "running":
                    attempt["status"] = "fail"
                    attempt["end_time"] = now
                    attempt["error_message"] = (
                        "interrupted: the runner running it stopped; taken over"
                    )
                    changed.append(node)
        record.owner = self.owner
        record.last_update_time = now
        self._running[execution_id] = self._loaded(record.definition)
        await self.store.save_execution(record, changed)
        self._launch(record, retry=True)

    async def recover(self, *, all_owners: bool = False) -> builtins.list[str]:
        """Mark executions whose runner process died; returns their ids.

        An execution left ``running`` by a process that no longer exists
        (on this machine; or any other runner's, with ``all_owners=True``)
        becomes ``fail`` with an error saying so, and can then be resumed
        with :meth:`retry`. Call it when a runner starts on a durable store.
        A process counts as gone when its PID is unused or a zombie, or is
        this process's while no live Runner here has its owner token
        (docs/flows.md, "Storage").
        """
        if getattr(self.store, "leases", False):
            # The store hands such executions over to live runners when
            # their lease expires (see take_over); marking them would race.
            return []
        found = []
        offset = 0
        while True:
            page = await self.store.list_executions(
                status="running", limit=MAX_LIST, offset=offset
            )
            for record in page:
                if (
                    record.execution_id in self._tasks
                    or record.owner == self.owner
                    or (not all_owners and _owner_alive(record.owner))
                ):
                    offset += 1  # stays running: the next page starts after it
                    continue
                nodes = await self.store.get_nodes(record.execution_id)
                await self._interrupt(
                    record,
                    nodes,
                    "fail",
                    "interrupted: the process running this execution stopped; "
                    "retry resumes it",
                )
                found.append(record.execution_id)
            if len(page) < MAX_LIST:
                return found

    async def _interrupt(
        self,
        record: ExecutionRecord,
        nodes: builtins.list[NodeRecord],
        status: Status,
        message: str,
        unsaved: builtins.list[NodeRecord] | None = None,
    ) -> None:
        now = self._now_ms()
        changed = builtins.list(unsaved or ())
        for node in nodes:
            for attempt in node.attempts:
                if attempt["status"] == "running":
                    attempt["status"] = status
                    attempt["end_time"] = now
                    attempt["error_message"] = message
                    if all(node is not other for other in changed):
                        changed.append(node)
        record.status = status
        record.error = message if status == "fail" else None
        record.end_time = now
        record.last_update_time = now
        record.owner = None
        await self.store.save_execution(record, changed)

    async def aclose(self, *, timeout: float | None = 0) -> None:
        """Stop: wait up to ``timeout`` seconds for running executions, then
        checkpoint the rest as interrupted (``fail``, retryable), and close
        the executor (the store stays open: it belongs to the caller)."""
        tasks = builtins.list(self._tasks.values())
        if tasks and timeout != 0:
            await asyncio.wait(tasks, timeout=timeout)
        for execution_id in builtins.list(self._tasks):
            self._stopping[execution_id] = "fail"
            self._cancel(execution_id)
        for execution_id in builtins.list(self._tasks):
            await self._settle(execution_id)
        if self._own_executor:
            await self.executor.aclose()

    # -- running ----------------------------------------------------------
    #
    # A node that has ended is saved with the next save of its execution:
    # the first save of the next node (before anything waits), or the final
    # one. No await separates the two, so a node's end is committed before
    # anything else runs and the execution makes one save per node instead
    # of two. ``unsaved`` holds such nodes until then.

    async def _execute(
        self, record: ExecutionRecord, retry: bool, deadline: float | None
    ) -> None:
        """Run an execution to its end; never raises."""
        nodes: builtins.list[NodeRecord] = []
        unsaved: builtins.list[NodeRecord] = []
        try:
            resume = None
            if retry:
                nodes = await self.store.get_nodes(record.execution_id)
                if nodes and nodes[-1].node_id == record.state_id:
                    resume = nodes[-1]
            await self._run(record, nodes, unsaved, resume, deadline)
        except asyncio.CancelledError:
            status = self._stopping.get(record.execution_id, "cancel")
            await asyncio.shield(
                self._interrupt(record, nodes, status, _MESSAGES[status], unsaved)
            )
        except Exception as exc:  # a defect: record it rather than lose it
            log.exception("execution %s failed inside the runner", record.execution_id)
            await self._fail_inside(record, nodes, unsaved, exc)
        finally:
            if self._tasks.get(record.execution_id) is asyncio.current_task():
                self._finish(record.execution_id)

    async def _fail_inside(
        self,
        record: ExecutionRecord,
        nodes: builtins.list[NodeRecord],
        unsaved: builtins.list[NodeRecord],
        exc: Exception,
    ) -> None:
        """End an execution that failed inside the runner (a save that
        raised, say) as ``fail``, so that it never stays ``running``.

        If the store refuses the records as they are, they are saved again
        with every string it cannot keep made storable (a lone surrogate
        becomes U+FFFD), all nodes included; if even that fails, the store
        is unusable and the error is logged.
        """
        message = f"internal error: {type(exc).__name__}: {exc}"
        try:
            await self._interrupt(record, nodes, "fail", message, unsaved)
            return
        except Exception:
            log.exception(
                "execution %s: saving its failure failed", record.execution_id
            )
        try:
            for name in ("input", "headers", "state_data", "output"):
                setattr(record, name, scrubbed(getattr(record, name)))
            record.error = scrubbed(message)
            for node in nodes:
                node.attempts[:] = scrubbed(node.attempts)
            await self.store.save_execution(record, [*unsaved, *nodes])
        except Exception:
            log.exception(
                "execution %s: the store refused its end; it stays as last saved",
                record.execution_id,
            )

    async def _run(
        self,
        record: ExecutionRecord,
        nodes: builtins.list[NodeRecord],
        unsaved: builtins.list[NodeRecord],
        resume: NodeRecord | None,
        deadline: float | None,
    ) -> None:
        definition, constants = self._running[record.execution_id]
        execution_id = record.execution_id
        base_context = {
            "execution_id": execution_id,
            "workflow_id": record.workflow_id,
            "workflow_name": record.workflow_name,
            "project_id": record.project_id,
            "headers": record.headers,
            "create_time": record.create_time or _format_ms(record.begin_time),
            "workflow_run_id": record.workflow_run_id,
        }
        data = record.state_data
        state_id = record.state_id
        store = self.store
        invoke = self._invoke
        headers = record.headers
        clock = self.clock
        now = time.time if type(clock) is SystemClock else clock.now
        plan = self._plan(definition)
        while state_id is not None:
            state, function_name, function_urn = plan[state_id]
            if resume is not None:
                node, resume = resume, None
            else:
                position = len(nodes)
                node = NodeRecord(
                    execution_id,
                    # Unique without the cost of a random id per node.
                    f"{execution_id}-{position}",
                    position,
                    state.id,
                    state.name,
                    [],
                )
                nodes.append(node)
            try:
                outcome: tuple[Any, str | None] | None = None
                failed: tuple[dict[str, Any], FunctionFailure] | None = None
                operation = isinstance(state, OperationState)
                fast = function_name is not None and not node.attempts
                if fast:
                    assert isinstance(state, OperationState)
                    # The common case inline, which saves a coroutine per
                    # node: the first attempt of a state with one action. A
                    # failure goes on in _operation (on_errors, retries).
                    begin = int(now() * 1000)
                    attempt = {
                        "status": "running",
                        "input": None,
                        "output": None,
                        "begin_time": begin,
                        "end_time": None,
                        "error_message": None,
                        "request_id": f"{node.node_execution_id}-1",
                    }
                    node.attempts.append(attempt)
                    context = {
                        **base_context,
                        "state_id": state.id,
                        "state_name": state.name,
                        "attempt": 1,
                    }
                    try:
                        current = (
                            data
                            if state.input_filter is None
                            else state.input_filter.apply(data)
                        )
                        action = state.actions[0]
                        mapping = action.mapping
                        if mapping is None:
                            event = current
                        else:
                            event = mapping.apply(
                                current, constants=constants, context=context
                            )
                            if record.merge:
                                event = flowmap.merge(data, event)
                        attempt["input"] = event
                        record.last_update_time = begin
                        if unsaved:
                            batch: Sequence[NodeRecord] = (*unsaved, node)
                        else:
                            batch = (node,)
                        await store.save_execution(record, batch)
                        unsaved.clear()
                        # A new context for the function, as in _call.
                        own = {
                            **context,
                            "headers": json_clone(headers) if headers else {},
                        }
                        assert function_name is not None and function_urn is not None
                        result = await invoke(function_name, function_urn, event, own)
                        attempt["output"] = result
                        if result is not None:
                            current = merge_result(current, result)
                        if state.output_filter is not None:
                            current = state.output_filter.apply(current)
                    except FunctionFailure as exc:
                        failed = (attempt, exc)
                    except flowmap.FlowmapError as exc:
                        failed = (attempt, FunctionFailure.from_exception(exc))
                    else:
                        attempt["status"] = "success"
                        attempt["end_time"] = int(now() * 1000)
                        outcome = (current, state.transition)
                if fast and failed is None:
                    pass
                elif operation:
                    assert isinstance(state, OperationState)
                    outcome = await self._operation(
                        record,
                        node,
                        unsaved,
                        state,
                        definition,
                        constants,
                        base_context,
                        data,
                        deadline,
                        failed,
                    )
                elif isinstance(state, SleepState):
                    outcome = await self._sleep(
                        record, node, unsaved, state, data, deadline
                    )
            except _Stop as stop:
                await self._end(record, node, unsaved, stop.status, stop.message)
                return
            if outcome is None:  # failed, not handled
                await self._end(record, node, unsaved, "fail", None)
                return
            data, state_id = outcome
            # The attempt's end is the time of this checkpoint.
            record.state_id = state_id
            record.state_data = data
            record.last_update_time = node.attempts[-1]["end_time"]
            unsaved.append(node)
        record.status = "success"
        record.output = data
        record.end_time = record.last_update_time
        record.owner = None
        await self._save(record, unsaved)

    async def _save(
        self,
        record: ExecutionRecord,
        unsaved: builtins.list[NodeRecord],
        node: NodeRecord | None = None,
    ) -> None:
        """Save the execution with the nodes not saved yet and ``node``."""
        batch = [*unsaved] if node is None else [*unsaved, node]
        await self.store.save_execution(record, batch)
        # (Kept until saved, so that an interrupted save is made again.)
        unsaved.clear()

    async def _end(
        self,
        record: ExecutionRecord,
        node: NodeRecord,
        unsaved: builtins.list[NodeRecord],
        status: Status,
        message: str | None,
    ) -> None:
        now = self._now_ms()
        for attempt in node.attempts:
            if attempt["status"] == "running":
                attempt["status"] = status
                attempt["end_time"] = now
                attempt["error_message"] = message
        record.status = status
        record.output = None
        record.end_time = now
        record.last_update_time = now
        record.error = message if status == "fail" else None
        record.owner = None
        await self._save(record, unsaved, node)

    def _remaining(self, deadline: float | None) -> float | None:
        if deadline is None:
            return None
        return deadline - self.clock.now()

    async def _wait(self, seconds: float, deadline: float | None) -> None:
        remaining = self._remaining(deadline)
        if remaining is not None and remaining <= seconds:
            await self.clock.sleep(max(0.0, remaining))
            raise _Stop("timeout", "the execution timed out")
        await self.clock.sleep(seconds)

    async def _sleep(
        self,
        record: ExecutionRecord,
        node: NodeRecord,
        unsaved: builtins.list[NodeRecord],
        state: SleepState,
        data: Any,
        deadline: float | None,
    ) -> tuple[Any, str | None]:
        attempt = _attempt(self._now_ms(), data, node)
        node.attempts.append(attempt)
        record.last_update_time = attempt["begin_time"]
        await self._save(record, unsaved, node)
        await self._wait(state.duration, deadline)
        attempt["status"] = "success"
        attempt["output"] = data
        attempt["end_time"] = self._now_ms()
        return data, state.transition

    async def _operation(
        self,
        record: ExecutionRecord,
        node: NodeRecord,
        unsaved: builtins.list[NodeRecord],
        state: OperationState,
        definition: Definition,
        constants: Any,
        base_context: dict[str, Any],
        data: Any,
        deadline: float | None,
        failed: tuple[dict[str, Any], FunctionFailure] | None = None,
    ) -> tuple[Any, str | None] | None:
        """Run a state's attempts to its outcome: the data and the next
        state, or None when it failed unhandled. ``failed`` is a first
        attempt that _run has made and that failed, with its failure."""
        retries_used: dict[str, int] = {}
        clock = self.clock
        now = time.time if type(clock) is SystemClock else clock.now
        attempts = node.attempts
        while True:
            failure: FunctionFailure
            if failed is not None:
                attempt, failure = failed
                failed = None
            else:
                number = len(attempts) + 1
                begin = int(now() * 1000)
                attempt = _attempt(begin, None, node)
                attempts.append(attempt)
                context = {
                    **base_context,
                    "state_id": state.id,
                    "state_name": state.name,
                    "attempt": number,
                }
                try:
                    current = (
                        data
                        if state.input_filter is None
                        else state.input_filter.apply(data)
                    )
                    actions = state.actions
                    if len(actions) == 1:
                        # One action: the same in both modes.
                        action = actions[0]
                        event = self._event(
                            action, current, data, record.merge, constants, context
                        )
                        attempt["input"] = event
                        record.last_update_time = begin
                        await self._save(record, unsaved, node)
                        result = await self._call(definition, action, event, context)
                        attempt["output"] = result
                        current = merge_result(current, result)
                    elif state.action_mode == "parallel":
                        events = [
                            self._event(
                                a, current, data, record.merge, constants, context
                            )
                            for a in actions
                        ]
                        attempt["input"] = events
                        record.last_update_time = begin
                        await self._save(record, unsaved, node)
                        results = await asyncio.gather(
                            *(
                                self._call(definition, a, e, context)
                                for a, e in zip(actions, events)
                            ),
                            return_exceptions=True,
                        )
                        for result in results:
                            if isinstance(result, BaseException):
                                raise result
                        attempt["output"] = results
                        for result in results:
                            current = merge_result(current, result)
                    else:
                        inputs: builtins.list[Any] = []
                        outputs: builtins.list[Any] = []
                        for index, action in enumerate(actions):
                            event = self._event(
                                action, current, data, record.merge, constants, context
                            )
                            inputs.append(event)
                            attempt["input"] = inputs
                            if index == 0:
                                record.last_update_time = begin
                                await self._save(record, unsaved, node)
                            result = await self._call(
                                definition, action, event, context
                            )
                            outputs.append(result)
                            current = merge_result(current, result)
                        attempt["output"] = outputs
                    if state.output_filter is not None:
                        current = state.output_filter.apply(current)
                except FunctionFailure as exc:
                    failure = exc
                except flowmap.FlowmapError as exc:
                    failure = FunctionFailure.from_exception(exc)
                else:
                    attempt["status"] = "success"
                    attempt["end_time"] = int(now() * 1000)
                    return current, state.transition
            attempt["status"] = "fail"
            attempt["end_time"] = int(now() * 1000)
            attempt["error_message"] = str(failure)
            handler = next(
                (
                    h
                    for h in state.on_errors
                    if h.error == "*" or h.error in failure.names
                ),
                None,
            )
            if handler is None:
                return None
            if handler.retry_ref is not None:
                policy = definition.retry(handler.retry_ref)
                used = retries_used.get(policy.name, 0)
                if used < policy.max_attempts:
                    retries_used[policy.name] = used + 1
                    record.last_update_time = attempt["end_time"]
                    await self._save(record, unsaved, node)
                    await self._wait(policy.delay, deadline)
                    continue
            if handler.transition is None:
                return None
            error = {
                "error": failure.error,
                "message": failure.message,
                "node_id": state.id,
            }
            return _with_error(data, error), handler.transition

    @staticmethod
    def _event(
        action: Action,
        current: Any,
        entering: Any,
        merge: bool,
        constants: Any,
        context: dict[str, Any],
    ) -> Any:
        mapping = action.mapping
        if mapping is None:
            return current
        event = mapping.apply(current, constants=constants, context=context)
        if merge:
            event = flowmap.merge(entering, event)
        return event

    def _call(
        self,
        definition: Definition,
        action: Action,
        event: Any,
        context: dict[str, Any],
    ) -> Coroutine[Any, Any, Any]:
        function = definition.function(action.function_ref.ref_name)
        # The context is the executor's own (see Executor.invoke): a new dict,
        # with the one container in it, the headers, copied.
        headers = context["headers"]
        own = {**context, "headers": json_clone(headers) if headers else {}}
        return self._invoke(function.name, function.operation, event, own)


async def _checked_invoke(
    executor: Executor, name: str, operation: str, event: Any, context: Any
) -> Any:
    """Call ``executor`` and check that the result is JSON every store keeps."""
    result = await executor.invoke(name, operation, event, context)
    try:
        return json_copy(result)
    except (TypeError, RecursionError) as exc:
        raise FunctionFailure(
            "InvalidResult", invalid_result(name, result, exc)
        ) from None


def _check_name(field: str, text: str) -> None:
    """ExecutionInputError for an id or name no store keeps as text."""
    if not isinstance(text, str) or (text.isascii() and "\x00" not in text):
        return
    reason = bad_text(text, nul=True)
    if reason is not None:
        raise ExecutionInputError(field, f"cannot be stored: {reason}")


def _caller_json(field: str, value: Any) -> Any:
    """A copy of the caller's ``input`` or ``headers``; ExecutionInputError
    (locating text that cannot be stored) when it is not storable JSON."""
    try:
        return json_copy(value)
    except TypeError as exc:
        where = None
        with contextlib.suppress(RecursionError):
            where = text_problem(value, f"$.{field}")
        if where is not None:
            raise ExecutionInputError(field, f"cannot be stored: {where}") from None
        raise ExecutionInputError(field, f"is not JSON: {exc}") from None
    except RecursionError:
        raise ExecutionInputError(field, "is nested too deeply") from None


def _attempt(begin: int, input: Any, node: NodeRecord) -> dict[str, Any]:
    return {
        "status": "running",
        "input": input,
        "output": None,
        "begin_time": begin,
        "end_time": None,
        "error_message": None,
        "request_id": f"{node.node_execution_id}-{len(node.attempts) + 1}",
    }


def _with_error(data: Any, error: dict[str, Any]) -> Any:
    if type(data) is dict:
        return {**data, "error": error}
    return {"data": data, "error": error}


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


def _format_ms(ms: int) -> str:
    text = format_time(ms)
    assert text is not None
    return text


_STATUSES: tuple[str, ...] = typing.get_args(Status)


def _time_ms(value: str | int | None, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return parse_time(value)
    except ValueError:
        raise ExecutionInputError(
            name, f"must be a time such as 2024-01-31T08:00:00Z, not {value!r}"
        ) from None
