"""A store in PostgreSQL, shared by several runner processes (issue 12).

:class:`PostgresStore` keeps the same records as :class:`SQLiteStore`, in
tables of one PostgreSQL database (psycopg 3; ``pip install
'flowmap[postgres]'``), so that several ``flowmap serve`` processes, on one
machine or many, serve one set of workflows and executions.

**Leases.** Every execution that is ``running`` is held by one store
instance (one runner process), named in the ``holder`` column, until
``lease_until`` (milliseconds on the *database's* clock, so machines need
not agree on the time). A holder renews the leases of all its executions
every ``lease / 3`` seconds from a background thread; when a process dies its
leases run out, and a live store that has a runner attached (:meth:`attach`)
claims each expired execution (``FOR UPDATE SKIP LOCKED``, so exactly one
claimant wins) and resumes it from its checkpoint with
:meth:`Runner.take_over <flowmap.flows.Runner.take_over>`.

No execution runs in two places at once: every write of an execution is
fenced by its holder. A write that would keep an execution running is
refused unless this store holds it (or revives an ended one, as ``retry``
does); a write that ends it is refused unless this store holds it, or it is
``cancel`` (``terminate`` from any process). A refused write raises
:class:`LeaseLostError`, which stops the runner that lost the lease at its
next checkpoint. A function call already in flight there may still finish:
calls are at-least-once, as with any queue (see docs/scale.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._records import ExecutionRecord, NodeRecord
from ._run_errors import StoreError
from ._store import (
    EXECUTION_COLUMNS,
    SQLiteStore,
    SQLStore,
    Store,
    dumps,
    execution_from_row,
    execution_text,
    node_rows,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["LeaseLostError", "PostgresStore", "StoreError", "open_store"]

log = logging.getLogger("flowmap.flows")

T = TypeVar("T")

DEFAULT_LEASE = 30.0
"""Seconds an execution stays held by a runner that stopped renewing it."""


class LeaseLostError(StoreError):
    """A write of an execution this store no longer holds was refused.

    Another runner took it over (this one's lease expired) or it was ended
    elsewhere (terminated). ``execution_id`` names it.

    >>> print(LeaseLostError("e1"))
    execution 'e1' is no longer held by this runner (taken over or ended elsewhere)
    """

    def __init__(self, execution_id: str) -> None:
        super().__init__(
            f"execution {execution_id!r} is no longer held by this runner "
            "(taken over or ended elsewhere)"
        )
        self.execution_id = execution_id

    def __repr__(self) -> str:
        return f"LeaseLostError({self.execution_id!r})"


class _TakesOver(Protocol):
    async def take_over(self, record: ExecutionRecord) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS flowmap_workflows (
    workflow_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    updated_time BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flowmap_workflows_by_project
    ON flowmap_workflows (project_id, name);
CREATE TABLE IF NOT EXISTS flowmap_executions (
    execution_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    status TEXT NOT NULL,
    begin_time BIGINT NOT NULL,
    definition TEXT NOT NULL,
    record TEXT NOT NULL,
    holder TEXT,
    lease_until BIGINT
);
CREATE INDEX IF NOT EXISTS flowmap_executions_by_workflow
    ON flowmap_executions (workflow_id, begin_time);
CREATE INDEX IF NOT EXISTS flowmap_executions_by_status
    ON flowmap_executions (status, begin_time);
CREATE INDEX IF NOT EXISTS flowmap_executions_leases
    ON flowmap_executions (lease_until) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS flowmap_executions_held
    ON flowmap_executions (holder) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS flowmap_nodes (
    execution_id TEXT NOT NULL,
    node_execution_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (execution_id, node_execution_id)
);
"""

# Milliseconds on the database's clock: leases never depend on a runner's.
_NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

# The fence (see the module docstring). %(me)s is this store's holder name;
# %(revive)s is False for an execution this store held until it was ended
# elsewhere, so that its stale runner cannot bring it back to life.
_SAVE = f"""
INSERT INTO flowmap_executions AS e
    (execution_id, workflow_id, project_id, status, begin_time, definition,
     record, holder, lease_until)
VALUES (%(id)s, %(workflow_id)s, %(project_id)s, %(status)s, %(begin_time)s,
        %(definition)s, %(record)s, %(holder)s,
        CASE WHEN %(holder)s::text IS NULL THEN NULL
             ELSE {_NOW} + %(lease_ms)s END)
ON CONFLICT (execution_id) DO UPDATE SET
    status = excluded.status, record = excluded.record,
    holder = excluded.holder, lease_until = excluded.lease_until
WHERE e.holder = %(me)s
   OR (excluded.status = 'running' AND e.status <> 'running' AND %(revive)s)
   OR (excluded.status = 'cancel' AND e.status = 'running')
"""


def _holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class PostgresStore(SQLStore):
    """Workflows, executions and node records in a PostgreSQL database.

    ``url`` is a libpq connection string (``postgresql://user@host:5432/db``).
    The tables (``flowmap_workflows``, ``flowmap_executions``,
    ``flowmap_nodes``) are created if missing. Calls run on a pool of
    ``max_connections`` threads, one connection each, so they never block
    the event loop. ``lease`` is how long, in seconds, an execution whose
    runner stopped renewing it stays held (see the module docstring);
    ``takeover_interval`` how often an attached store looks for expired
    leases (default: ``lease / 3``).

    Raises :class:`StoreError` when psycopg is missing or the database
    cannot be reached.
    """

    leases = True
    _MARK = "%s"
    _WORKFLOWS = "flowmap_workflows"
    _EXECUTIONS = "flowmap_executions"
    _NODES = "flowmap_nodes"

    def __init__(
        self,
        url: str,
        *,
        lease: float = DEFAULT_LEASE,
        max_connections: int = 8,
        connect_timeout: float = 10.0,
        takeover_interval: float | None = None,
    ) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                "a postgresql:// store needs psycopg 3: pip install 'flowmap[postgres]'"
            ) from None
        if not lease > 0:
            raise StoreError(
                f"the lease must be a positive number of seconds, not {lease}"
            )
        self.url = url
        self.lease = float(lease)
        self.holder = _holder_name()
        self.takeover_interval = (
            takeover_interval if takeover_interval is not None else self.lease / 3
        )
        self._psycopg = psycopg
        self._duplicate = psycopg.errors.UniqueViolation
        self._connect_timeout = connect_timeout
        self._pool = ThreadPoolExecutor(
            max_connections, thread_name_prefix="flowmap-pg"
        )
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._closed = False
        self._runner: _TakesOver | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        with self._connect() as db, db.transaction():
            # One creator at a time when several processes start together.
            db.execute("SELECT pg_advisory_xact_lock(7402761)")
            db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"PostgresStore(holder={self.holder!r})"

    # -- connections ----------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return self._psycopg.connect(
                self.url, autocommit=True, connect_timeout=int(self._connect_timeout)
            )
        except self._psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the PostgreSQL database: {exc}".strip()
            ) from None

    def _connection(self) -> psycopg.Connection[Any]:
        db: psycopg.Connection[Any] | None = getattr(self._local, "db", None)
        if db is None or db.closed:
            db = self._connect()
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _on_thread(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``work`` with this thread's connection; reconnect once if broken."""
        db = self._connection()
        try:
            return work(db)
        except self._psycopg.OperationalError:
            if not db.closed and not db.broken:
                raise
            # The connection died (database restarted): every statement here
            # is idempotent, so a fresh connection may run it again.
            self._local.db = None
            return work(self._connection())

    async def _call(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        self._ensure_keeper()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._on_thread, work)

    # -- takeover -------------------------------------------------------

    def attach(self, runner: _TakesOver) -> None:
        """Resume executions whose lease expired with this runner.

        From the next store call made inside an event loop on, a task of
        that loop claims expired executions every ``takeover_interval``
        seconds and hands each to ``runner.take_over``. Without a runner
        attached, a store only renews and fences its own executions.
        """
        self._runner = runner

    def _ensure_keeper(self) -> None:
        if self._runner is None or (
            self._keeper is not None and not self._keeper.done()
        ):
            return
        self._keeper = asyncio.get_running_loop().create_task(
            self._keep(self._runner), name="flowmap-pg-takeover"
        )

    async def _keep(self, runner: _TakesOver) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                records = await loop.run_in_executor(
                    self._pool, self._on_thread, self._claim
                )
                for record in records:
                    log.warning(
                        "taking over execution %s: its runner's lease expired",
                        record.execution_id,
                    )
                    await runner.take_over(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("taking over expired executions failed; trying again")
            await asyncio.sleep(self.takeover_interval)

    def _claim(self, db: psycopg.Connection[Any]) -> list[ExecutionRecord]:
        rows = db.execute(
            f"""
            UPDATE flowmap_executions SET holder = %(me)s,
                lease_until = {_NOW} + %(lease_ms)s
            WHERE execution_id IN (
                SELECT execution_id FROM flowmap_executions
                WHERE status = 'running' AND lease_until < {_NOW}
                ORDER BY lease_until LIMIT 50
                FOR UPDATE SKIP LOCKED)
            RETURNING {EXECUTION_COLUMNS}
            """,
            {"me": self.holder, "lease_ms": int(self.lease * 1000)},
        ).fetchall()
        records = [execution_from_row(row) for row in rows]
        with self._lock:
            self._held.update(r.execution_id for r in records)
        return records

    async def claim_expired(self) -> list[ExecutionRecord]:
        """Claim the executions whose lease has expired (at most 50).

        What an attached store does by itself; for a supervisor of its own.
        Each record returned is now held by this store.
        """
        return await self._call(self._claim)

    def _start_heartbeat(self) -> None:
        if self._heartbeat is not None:
            return
        self._heartbeat = threading.Thread(
            target=self._renew, name="flowmap-pg-lease", daemon=True
        )
        self._heartbeat.start()

    def _renew(self) -> None:
        db: psycopg.Connection[Any] | None = None
        while not self._stop.wait(self.lease / 3):
            with self._lock:
                held = list(self._held)
            if not held:
                continue
            try:
                if db is None or db.closed:
                    db = self._connect()
                db.execute(
                    f"UPDATE flowmap_executions SET lease_until = {_NOW} + %s "
                    "WHERE holder = %s AND status = 'running' "
                    "AND execution_id = ANY(%s)",
                    (int(self.lease * 1000), self.holder, held),
                )
            except Exception as exc:
                log.warning("renewing leases failed (retrying): %s", exc)
                if db is not None:
                    with contextlib.suppress(Exception):
                        db.close()
                db = None
        if db is not None:
            db.close()

    # -- statements (the queries are SQLStore's) ----------------------

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._call(lambda db: db.execute(sql, params).fetchall())

    async def _change(self, sql: str, params: Sequence[Any]) -> int:
        return await self._call(lambda db: db.execute(sql, params).rowcount)

    # -- executions -----------------------------------------------------

    async def save_execution(
        self, record: ExecutionRecord, nodes: Sequence[NodeRecord] = ()
    ) -> None:
        execution_id = record.execution_id
        running = record.status == "running"
        with self._lock:
            revive = execution_id not in self._held
        params = {
            "id": execution_id,
            "workflow_id": record.workflow_id,
            "project_id": record.project_id,
            "status": record.status,
            "begin_time": record.begin_time,
            "definition": dumps(record.definition),
            "record": execution_text(record),
            "holder": self.holder if running else None,
            "lease_ms": int(self.lease * 1000),
            "me": self.holder,
            "revive": revive,
        }
        rows = node_rows(execution_id, nodes)

        def work(db: psycopg.Connection[Any]) -> bool:
            with db.transaction():
                if db.execute(_SAVE, params).rowcount == 0:
                    return False
                if rows:
                    with db.cursor() as cursor:
                        cursor.executemany(
                            "INSERT INTO flowmap_nodes VALUES (%s, %s, %s, %s) "
                            "ON CONFLICT (execution_id, node_execution_id) "
                            "DO UPDATE SET position = excluded.position, "
                            "record = excluded.record",
                            rows,
                        )
            return True

        try:
            saved = await self._call(work)
        except BaseException:
            # The runner abandons an execution whose save failed: stop
            # renewing its lease, so that a live runner takes it over.
            with self._lock:
                self._held.discard(execution_id)
            raise
        with self._lock:
            if saved and running:
                self._held.add(execution_id)
            else:
                self._held.discard(execution_id)
        if not saved:
            raise LeaseLostError(execution_id)
        if running:
            self._start_heartbeat()

    async def close(self) -> None:
        """Stop renewing leases and taking over, and close every connection.

        Executions still held keep their lease until it expires; then a live
        store takes them over.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        keeper = self._keeper
        if keeper is not None and not keeper.done():
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await keeper
        self._pool.shutdown(wait=True)
        if self._heartbeat is not None:
            self._heartbeat.join(5)
        with self._lock:
            for db in self._connections:
                with contextlib.suppress(Exception):
                    db.close()
            self._connections.clear()


def open_store(db: str | Path, *, lease: float = DEFAULT_LEASE) -> Store:
    """The store a ``--db`` value names.

    ``postgresql://...`` (or ``postgres://...``) is a :class:`PostgresStore`;
    anything else is an SQLite file path (or ``:memory:``).

    >>> import asyncio
    >>> store = open_store(":memory:")
    >>> type(store).__name__
    'SQLiteStore'
    >>> asyncio.run(store.close())
    """
    text = str(db)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text, lease=lease)
    return SQLiteStore(text)
