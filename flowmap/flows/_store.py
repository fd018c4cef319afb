"""Where workflows, executions and node records are kept.

:class:`Store` is the whole interface a runner (and ``flowmap serve``) needs:
five methods for workflows, four for executions and their node records, and
``close``. It is asynchronous so that a store backed by a network database
fits beside the two embedded ones here:

- :class:`MemoryStore` keeps everything in dictionaries (tests, benchmarks,
  one-off runs);
- :class:`SQLiteStore` keeps everything in one SQLite file in WAL mode.
  Every save is one transaction, so a process that dies loses nothing that a
  save had returned from.

Both SQL stores (this one and ``PostgresStore``) build on :class:`SQLStore`:
the rows, their conversion to records and every query but the save of an
execution are written once there.

Records are saved whole (``save_execution`` writes the execution and the
node records given with it in one transaction) so that a store needs no
knowledge of how a runner works.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from ._records import (
    ExecutionRecord,
    NodeRecord,
    Status,
    WorkflowRecord,
    execution_fields,
)
from ._run_errors import StoreError

__all__ = ["MemoryStore", "SQLiteStore", "Store"]

MAX_LIST = 200


class Store(abc.ABC):
    """The storage interface of flows: workflows, executions, node records.

    Workflow ids and execution ids are unique across projects. ``project_id``
    arguments, where given, restrict what is found to that project (a
    record of another project is "not found"). Lists are newest first.
    """

    # -- workflows ------------------------------------------------------

    @abc.abstractmethod
    async def create_workflow(self, record: WorkflowRecord) -> None:
        """Add a workflow; raises :class:`KeyError` if its id exists."""

    @abc.abstractmethod
    async def get_workflow(
        self, workflow_id: str, *, project_id: str | None = None
    ) -> WorkflowRecord | None:
        """The workflow with this id, or None."""

    @abc.abstractmethod
    async def list_workflows(
        self,
        project_id: str,
        *,
        name: str | None = None,
        limit: int = MAX_LIST,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        """A project's workflows (only those named ``name`` if given)."""

    @abc.abstractmethod
    async def update_workflow(self, record: WorkflowRecord) -> bool:
        """Replace a workflow; False if there is none with its id/project."""

    @abc.abstractmethod
    async def delete_workflow(
        self, workflow_id: str, *, project_id: str | None = None
    ) -> bool:
        """Remove a workflow (its executions stay); False if there was none."""

    # -- executions -----------------------------------------------------

    @abc.abstractmethod
    async def save_execution(
        self, record: ExecutionRecord, nodes: Sequence[NodeRecord] = ()
    ) -> None:
        """Insert or replace an execution and the given node records, atomically.

        A node record replaces the one with the same ``node_execution_id``.
        """

    @abc.abstractmethod
    async def get_execution(
        self, execution_id: str, *, project_id: str | None = None
    ) -> ExecutionRecord | None:
        """The execution with this id, or None."""

    @abc.abstractmethod
    async def get_nodes(self, execution_id: str) -> list[NodeRecord]:
        """An execution's node records, in the order they were visited."""

    @abc.abstractmethod
    async def list_executions(
        self,
        *,
        workflow_id: str | None = None,
        project_id: str | None = None,
        status: Status | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = MAX_LIST,
        offset: int = 0,
    ) -> list[ExecutionRecord]:
        """Executions begun in ``[since, until]`` (ms), newest first."""

    async def close(self) -> None:  # noqa: B027 - optional for a store
        """Release what the store holds (a database connection)."""


def _check_page(limit: int, offset: int) -> tuple[int, int]:
    return max(0, min(limit, MAX_LIST)), max(0, offset)


class MemoryStore(Store):
    """A store in dictionaries: fast, and gone when the process ends.

    Saved records are copied (their JSON values are kept by reference, as the
    runner never changes them); what the get and list methods return is a
    copy too, so changing it changes nothing stored.

    >>> import asyncio
    >>> store = MemoryStore()
    >>> asyncio.run(store.get_execution("nope")) is None
    True
    """

    def __init__(self) -> None:
        self._workflows: dict[str, WorkflowRecord] = {}
        # Executions as tuples of their fields, nodes as tuples too: cheaper
        # to keep on every save than records, and rebuilt only when read.
        self._executions: dict[str, tuple[Any, ...]] = {}
        self._nodes: dict[str, dict[str, tuple[Any, ...]]] = {}

    async def create_workflow(self, record: WorkflowRecord) -> None:
        if record.workflow_id in self._workflows:
            raise KeyError(record.workflow_id)
        self._workflows[record.workflow_id] = record.copy()

    async def get_workflow(
        self, workflow_id: str, *, project_id: str | None = None
    ) -> WorkflowRecord | None:
        record = self._workflows.get(workflow_id)
        if record is None or project_id not in (None, record.project_id):
            return None
        return record.copy()

    async def list_workflows(
        self,
        project_id: str,
        *,
        name: str | None = None,
        limit: int = MAX_LIST,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        limit, offset = _check_page(limit, offset)
        found = [
            r
            for r in self._workflows.values()
            if r.project_id == project_id and name in (None, r.name)
        ]
        found.sort(key=lambda r: (-r.created_time, r.workflow_id))
        return [r.copy() for r in found[offset : offset + limit]]

    async def update_workflow(self, record: WorkflowRecord) -> bool:
        old = self._workflows.get(record.workflow_id)
        if old is None or old.project_id != record.project_id:
            return False
        self._workflows[record.workflow_id] = record.copy()
        return True

    async def delete_workflow(
        self, workflow_id: str, *, project_id: str | None = None
    ) -> bool:
        old = self._workflows.get(workflow_id)
        if old is None or project_id not in (None, old.project_id):
            return False
        del self._workflows[workflow_id]
        return True

    async def save_execution(
        self, record: ExecutionRecord, nodes: Sequence[NodeRecord] = ()
    ) -> None:
        execution_id = record.execution_id
        self._executions[execution_id] = execution_fields(record)
        if nodes:
            kept = self._nodes.get(execution_id)
            if kept is None:
                kept = self._nodes[execution_id] = {}
            for node in nodes:
                # The attempt dicts are copied: the caller may change them.
                kept[node.node_execution_id] = (
                    node.execution_id,
                    node.node_execution_id,
                    node.position,
                    node.node_id,
                    node.node_name,
                    [*map(dict.copy, node.attempts)],
                )

    async def get_execution(
        self, execution_id: str, *, project_id: str | None = None
    ) -> ExecutionRecord | None:
        fields = self._executions.get(execution_id)
        if fields is None:
            return None
        record = ExecutionRecord(*fields)
        if project_id not in (None, record.project_id):
            return None
        return record

    async def get_nodes(self, execution_id: str) -> list[NodeRecord]:
        nodes = [
            NodeRecord(
                execution_id=f[0],
                node_execution_id=f[1],
                position=f[2],
                node_id=f[3],
                node_name=f[4],
                attempts=[*map(dict.copy, f[5])],
            )
            for f in self._nodes.get(execution_id, {}).values()
        ]
        nodes.sort(key=lambda n: n.position)
        return nodes

    async def list_executions(
        self,
        *,
        workflow_id: str | None = None,
        project_id: str | None = None,
        status: Status | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = MAX_LIST,
        offset: int = 0,
    ) -> list[ExecutionRecord]:
        limit, offset = _check_page(limit, offset)
        records = (ExecutionRecord(*fields) for fields in self._executions.values())
        found = [
            r
            for r in records
            if workflow_id in (None, r.workflow_id)
            and project_id in (None, r.project_id)
            and status in (None, r.status)
            and (since is None or r.begin_time >= since)
            and (until is None or r.begin_time <= until)
        ]
        found.sort(key=lambda r: (-r.begin_time, r.execution_id))
        return found[offset : offset + limit]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    workflow_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    updated_time INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workflows_by_project ON workflows (project_id, name);
CREATE TABLE IF NOT EXISTS executions (
    execution_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    status TEXT NOT NULL,
    begin_time INTEGER NOT NULL,
    definition TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_workflow
    ON executions (workflow_id, begin_time);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
CREATE TABLE IF NOT EXISTS nodes (
    execution_id TEXT NOT NULL,
    node_execution_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (execution_id, node_execution_id)
);
"""

# The execution fields kept in the ``record`` column (the rest have columns).
_EXECUTION_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ExecutionRecord)
    if f.name not in ("execution_id", "workflow_id", "project_id", "definition")
)

# The columns :func:`execution_from_row` reads, in its order.
EXECUTION_COLUMNS = "execution_id, workflow_id, project_id, record, definition"


def dumps(value: Any) -> str:
    """The compact JSON text a SQL store keeps."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def workflow_row(record: WorkflowRecord) -> tuple[Any, ...]:
    """A workflow as the values of its row, in the table's column order."""
    return (
        record.workflow_id,
        record.project_id,
        record.name,
        dumps(record.definition),
        record.created_time,
        record.updated_time,
        record.created_by,
    )


def workflow_from_row(row: Any) -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=row[0],
        project_id=row[1],
        name=row[2],
        definition=json.loads(row[3]),
        created_time=row[4],
        updated_time=row[5],
        created_by=row[6],
    )


def execution_text(record: ExecutionRecord) -> str:
    """The ``record`` column of an execution: the fields without a column."""
    return dumps({name: getattr(record, name) for name in _EXECUTION_FIELDS})


def execution_from_row(row: Any) -> ExecutionRecord:
    """An execution from the values of :data:`EXECUTION_COLUMNS`."""
    return ExecutionRecord(
        execution_id=row[0],
        workflow_id=row[1],
        project_id=row[2],
        definition=json.loads(row[4]),
        **json.loads(row[3]),
    )


def node_rows(
    execution_id: str, nodes: Sequence[NodeRecord]
) -> list[tuple[str, str, int, str]]:
    """Node records as rows of the nodes table, in its column order."""
    return [
        (
            execution_id,
            node.node_execution_id,
            node.position,
            dumps(
                {
                    "node_id": node.node_id,
                    "node_name": node.node_name,
                    "attempts": node.attempts,
                }
            ),
        )
        for node in nodes
    ]


class SQLStore(Store):
    """What :class:`SQLiteStore` and ``PostgresStore`` share.

    The same three tables (under the names a subclass gives), the same rows
    and every query but the saving of an execution, which is each dialect's
    own (SQLite's group commit, PostgreSQL's upsert fenced by leases). A
    subclass names its tables and its parameter mark and runs statements
    with :meth:`_fetch` and :meth:`_change`.
    """

    _MARK: ClassVar[str]
    """A statement's parameter placeholder (``?`` or ``%s``)."""
    _WORKFLOWS: ClassVar[str]
    _EXECUTIONS: ClassVar[str]
    _NODES: ClassVar[str]
    _duplicate: type[Exception]
    """What inserting a row whose key exists raises."""

    @abc.abstractmethod
    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows a query returns."""

    @abc.abstractmethod
    async def _change(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement (a transaction of its own); the rows it changed."""

    # -- workflows ------------------------------------------------------

    async def create_workflow(self, record: WorkflowRecord) -> None:
        m = self._MARK
        try:
            await self._change(
                f"INSERT INTO {self._WORKFLOWS} VALUES ({', '.join([m] * 7)})",
                workflow_row(record),
            )
        except self._duplicate:
            raise KeyError(record.workflow_id) from None

    async def get_workflow(
        self, workflow_id: str, *, project_id: str | None = None
    ) -> WorkflowRecord | None:
        rows = await self._fetch(
            f"SELECT * FROM {self._WORKFLOWS} WHERE workflow_id = {self._MARK}",
            (workflow_id,),
        )
        if not rows or project_id not in (None, rows[0][1]):
            return None
        return workflow_from_row(rows[0])

    async def list_workflows(
        self,
        project_id: str,
        *,
        name: str | None = None,
        limit: int = MAX_LIST,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        limit, offset = _check_page(limit, offset)
        m = self._MARK
        sql = f"SELECT * FROM {self._WORKFLOWS} WHERE project_id = {m}"
        params: tuple[Any, ...] = (project_id,)
        if name is not None:
            sql += f" AND name = {m}"
            params += (name,)
        sql += f" ORDER BY created_time DESC, workflow_id LIMIT {m} OFFSET {m}"
        rows = await self._fetch(sql, (*params, limit, offset))
        return [workflow_from_row(r) for r in rows]

    async def update_workflow(self, record: WorkflowRecord) -> bool:
        m = self._MARK
        row = workflow_row(record)
        changed = await self._change(
            f"UPDATE {self._WORKFLOWS} SET name = {m}, definition = {m}, "
            f"created_time = {m}, updated_time = {m}, created_by = {m} "
            f"WHERE workflow_id = {m} AND project_id = {m}",
            (*row[2:], *row[:2]),
        )
        return changed > 0

    async def delete_workflow(
        self, workflow_id: str, *, project_id: str | None = None
    ) -> bool:
        m = self._MARK
        sql = f"DELETE FROM {self._WORKFLOWS} WHERE workflow_id = {m}"
        params: tuple[Any, ...] = (workflow_id,)
        if project_id is not None:
            sql += f" AND project_id = {m}"
            params += (project_id,)
        return await self._change(sql, params) > 0

    # -- executions -----------------------------------------------------

    async def get_execution(
        self, execution_id: str, *, project_id: str | None = None
    ) -> ExecutionRecord | None:
        rows = await self._fetch(
            f"SELECT {EXECUTION_COLUMNS} FROM {self._EXECUTIONS} "
            f"WHERE execution_id = {self._MARK}",
            (execution_id,),
        )
        if not rows or project_id not in (None, rows[0][2]):
            return None
        return execution_from_row(rows[0])

    async def get_nodes(self, execution_id: str) -> list[NodeRecord]:
        rows = await self._fetch(
            f"SELECT node_execution_id, position, record FROM {self._NODES} "
            f"WHERE execution_id = {self._MARK} ORDER BY position",
            (execution_id,),
        )
        nodes = []
        for node_execution_id, position, text in rows:
            data = json.loads(text)
            nodes.append(
                NodeRecord(
                    execution_id=execution_id,
                    node_execution_id=node_execution_id,
                    position=position,
                    node_id=data["node_id"],
                    node_name=data["node_name"],
                    attempts=data["attempts"],
                )
            )
        return nodes

    async def list_executions(
        self,
        *,
        workflow_id: str | None = None,
        project_id: str | None = None,
        status: Status | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = MAX_LIST,
        offset: int = 0,
    ) -> list[ExecutionRecord]:
        limit, offset = _check_page(limit, offset)
        m = self._MARK
        where: list[str] = []
        params: list[Any] = []
        for column, op, value in (
            ("workflow_id", "=", workflow_id),
            ("project_id", "=", project_id),
            ("status", "=", status),
            ("begin_time", ">=", since),
            ("begin_time", "<=", until),
        ):
            if value is not None:
                where.append(f"{column} {op} {m}")
                params.append(value)
        sql = f"SELECT {EXECUTION_COLUMNS} FROM {self._EXECUTIONS}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY begin_time DESC, execution_id LIMIT {m} OFFSET {m}"
        rows = await self._fetch(sql, (*params, limit, offset))
        return [execution_from_row(row) for row in rows]


@dataclasses.dataclass(slots=True)
class _Write:
    """One save_execution, serialised, waiting for its group commit."""

    execution_id: str
    columns: tuple[str, str, str, str, int]
    definition: dict[str, Any]
    fields: str
    nodes: list[tuple[str, str, int, str]]


class SQLiteStore(SQLStore):
    """A store in one SQLite file (the standard library's ``sqlite3``, WAL).

    ``path`` is a file (created if missing) or ``":memory:"``. Every save is
    one transaction. With ``synchronous="NORMAL"`` (the default) a save that
    has returned survives the death of the process (WAL keeps it); use
    ``"FULL"`` to survive a power cut as well, at the cost of one fsync per
    save. Calls are short and made on the caller's thread under a lock, so
    one store may be shared by threads.

    >>> import asyncio
    >>> store = SQLiteStore(":memory:")
    >>> asyncio.run(store.list_executions())
    []
    """

    _MARK = "?"
    _WORKFLOWS = "workflows"
    _EXECUTIONS = "executions"
    _NODES = "nodes"
    _duplicate = sqlite3.IntegrityError

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(
                f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}"
            )
        self.path = str(path)
        self._lock = threading.Lock()
        self._pending: list[tuple[_Write, asyncio.Future[None]]] = []
        self._commit_loop: asyncio.AbstractEventLoop | None = None
        if self.path not in ("", ":memory:"):
            problem = _unusable(Path(self.path))
            if problem is not None:
                raise StoreError(_cannot_open(self.path, problem), path=self.path)
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
        except sqlite3.Error as exc:
            raise StoreError(_cannot_open(self.path, exc), path=self.path) from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(_cannot_open(self.path, exc), path=self.path) from exc

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    async def _change(self, sql: str, params: Sequence[Any]) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    async def save_execution(
        self, record: ExecutionRecord, nodes: Sequence[NodeRecord] = ()
    ) -> None:
        # Saves made in the same turn of the event loop are committed in one
        # transaction (a group commit); each save returns once it is committed.
        write = _Write(
            record.execution_id,
            (
                record.execution_id,
                record.workflow_id,
                record.project_id,
                record.status,
                record.begin_time,
            ),
            record.definition,
            execution_text(record),
            node_rows(record.execution_id, nodes),
        )
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((write, done))
        if self._commit_loop is not loop:
            # (Also when a commit was due on a loop that ended before it ran.)
            self._commit_loop = loop
            loop.call_soon(self._commit)
        await done

    def _commit(self) -> None:
        self._commit_loop = None
        batch, self._pending = self._pending, []
        error: BaseException | None = None
        try:
            with self._lock:
                db = self._db
                db.execute("BEGIN IMMEDIATE")
                try:
                    for write, _ in batch:
                        status = write.columns[3]
                        updated = db.execute(
                            "UPDATE executions SET status = ?, record = ? "
                            "WHERE execution_id = ?",
                            (status, write.fields, write.execution_id),
                        ).rowcount
                        if not updated:
                            # The definition is written once: it never changes.
                            db.execute(
                                "INSERT INTO executions VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (
                                    *write.columns,
                                    dumps(write.definition),
                                    write.fields,
                                ),
                            )
                        if write.nodes:
                            db.executemany(
                                "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?)",
                                write.nodes,
                            )
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except Exception as exc:
            error = exc
        for _, done in batch:
            if done.done():
                continue
            try:
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
            except RuntimeError:  # the future's loop has closed meanwhile
                pass

    async def close(self) -> None:
        with self._lock:
            self._db.close()


def _cannot_open(path: str, problem: str | sqlite3.Error) -> str:
    """Why SQLite cannot use ``path`` as a store, and what to do about it."""
    if isinstance(problem, sqlite3.Error):
        problem = _why(problem)
    return f"cannot open the SQLite store {path}: {problem}"


def _unusable(path: Path) -> str | None:
    """What keeps a store file from being opened for writing, if anything.

    Checked before SQLite opens it: SQLite itself says only "unable to open
    database file", and opens a read-only file read-only (the first save
    would fail, long after the store was opened).
    """
    denied = "permission denied: "
    try:
        if os.path.isdir(path):
            return f"it is a directory; give a file path such as {path / 'flows.db'}"
        if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
            return (
                denied + "this user cannot read and write it; change its "
                "permissions or give another path"
            )
        folder = path.parent
        if not _exists(folder):
            return (
                f"the directory {folder} does not exist; create it first "
                "or give another path"
            )
        if not os.path.isdir(folder):
            return f"{folder} is not a directory; give another path"
        if not os.access(folder, os.W_OK | os.X_OK):
            return (
                denied + f"this user cannot create files in {folder} (SQLite "
                "keeps its -wal and -shm files beside the store); change its "
                "permissions or give another path"
            )
    except PermissionError as exc:
        return denied + f"this user cannot reach {exc.filename or path}"
    except OSError as exc:
        return f"{exc.strerror or exc}; give another path"
    return None


def _exists(path: Path) -> bool:
    """Whether a path exists; raises PermissionError when that cannot be told."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def _why(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text:
        return (
            "it is not an SQLite database; give the path of a flowmap store, "
            "or of a file to create"
        )
    if "locked" in text or "busy" in text:
        return (
            "another process keeps it locked (waited 30 s); stop that process "
            "or give another path"
        )
    return f"{text} (is it a flowmap store?)"
