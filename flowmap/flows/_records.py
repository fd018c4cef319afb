"""What a store keeps about workflows and executions, and the SDK shapes.

A store keeps three kinds of record: :class:`WorkflowRecord` (a definition
body and its times), :class:`ExecutionRecord` (one run of a flow: its input,
status, output and the checkpoint it resumes from) and :class:`NodeRecord`
(one visit of a state, with every attempt). Times are kept as integer
milliseconds since the epoch (UTC) and only formatted when a record is shown
in one of the shapes of the official SDK (``huaweicloudsdkfunctiongraph``):
``ShowWorkflowExecutionResponse``, ``NodeExecutionDetail``,
``NodeExecution``, ``FlowExecutionBrief``, ``StartSyncWorkflowExecutionResponse``
and ``SyncExecutionNodeErrorDetail``. Execution times in those shapes are
strings ``yyyy-MM-ddTHH:mm:ssZ``; node attempt times are milliseconds.

The JSON values inside a record (input, output, state data, headers) are
treated as immutable once a record is saved: a store may keep them by
reference, and the runner never changes them afterwards. The shapes below
copy them, so what a caller receives is its own.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import operator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "TERMINAL",
    "ExecutionRecord",
    "NodeRecord",
    "Status",
    "WorkflowRecord",
    "format_time",
    "parse_time",
]

Status = Literal["running", "success", "fail", "timeout", "cancel"]
"""An execution's status, or a node attempt's, as the SDK spells them."""

TERMINAL: frozenset[str] = frozenset(("success", "fail", "timeout", "cancel"))
"""The statuses an execution ends in; ``running`` is the only other one."""


def format_time(ms: int | None) -> str | None:
    """Format epoch milliseconds as the SDK's ``yyyy-MM-ddTHH:mm:ssZ`` (UTC).

    >>> format_time(0)
    '1970-01-01T00:00:00Z'
    >>> format_time(None) is None
    True
    """
    if ms is None:
        return None
    second = ms // 1000
    last = _last_formatted
    if last[0] == second:
        cached: str = last[1]
        return cached
    moment = datetime.datetime.fromtimestamp(second, tz=datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Records are mostly shown in the second they are made: keep the last one.
    _last_formatted[:] = (second, text)
    return text


_last_formatted: list[Any] = [None, ""]


def parse_time(text: str) -> int:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ`` (or any ISO 8601 time) to epoch ms.

    A time without a zone is taken as UTC, as the SDK documents its times.
    Raises :class:`ValueError` for text that is not a time.

    >>> parse_time("1970-01-01T00:00:01Z")
    1000
    """
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


@dataclass(slots=True)
class WorkflowRecord:
    """A stored flow definition (``definition`` is its normalised body)."""

    workflow_id: str
    project_id: str
    name: str
    definition: dict[str, Any]
    created_time: int
    updated_time: int
    created_by: str = ""

    def copy(self) -> WorkflowRecord:
        """A copy that shares nothing mutable with this record."""
        return dataclasses.replace(self, definition=copy.deepcopy(self.definition))


@dataclass(slots=True)
class ExecutionRecord:
    """One execution of a flow.

    ``definition`` is the normalised body the execution runs (kept with it,
    so that it can be retried after a restart even if the workflow changed).
    ``state_id`` and ``state_data`` are the checkpoint: the next state to run
    and the data entering it (``state_id`` is None once the flow has ended).
    ``merge`` is the ``X-WorkflowRun-MergeFnParameters`` switch; ``error``
    says why an execution failed outside any node (for example its process
    died). ``owner`` names the runner that is running it.
    """

    execution_id: str
    workflow_id: str
    project_id: str
    workflow_name: str
    definition: dict[str, Any]
    status: Status
    input: Any
    headers: dict[str, Any]
    merge: bool
    begin_time: int
    last_update_time: int
    end_time: int | None = None
    output: Any = None
    workflow_run_id: str | None = None
    create_time: str | None = None
    state_id: str | None = None
    state_data: Any = None
    error: str | None = None
    created_by: str = ""
    owner: str | None = None

    def copy(self) -> ExecutionRecord:
        """A shallow copy (the JSON values inside are shared, as they are
        never changed once saved)."""
        return ExecutionRecord(*execution_fields(self))


@dataclass(slots=True)
class NodeRecord:
    """One visit of a state: ``attempts`` are ``NodeExecution`` dicts.

    Each attempt has ``status``, ``input``, ``output``, ``begin_time``,
    ``end_time`` (ms), ``error_message`` and ``request_id``. ``position`` is
    the visit's place in the execution (0, 1, ...).
    """

    execution_id: str
    node_execution_id: str
    position: int
    node_id: str
    node_name: str
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(self) -> NodeRecord:
        """A copy whose attempt list and attempt dicts are new."""
        return NodeRecord(
            self.execution_id,
            self.node_execution_id,
            self.position,
            self.node_id,
            self.node_name,
            [attempt.copy() for attempt in self.attempts],
        )


execution_fields = operator.attrgetter(
    *(f.name for f in dataclasses.fields(ExecutionRecord))
)


def workflow_urn(project_id: str, name: str, region: str = "local") -> str:
    """The workflow URN the SDK documents, for a local region.

    >>> workflow_urn("p1", "orders")
    'urn:fss:local:p1:workflow:default:orders:latest'
    """
    return f"urn:fss:{region}:{project_id}:workflow:default:{name}:latest"


def brief(record: ExecutionRecord) -> dict[str, Any]:
    """The ``FlowExecutionBrief`` shape (one item of a list of executions)."""
    return {
        "workflow_id": record.workflow_id,
        "workflow_urn": workflow_urn(record.project_id, record.workflow_name),
        "execution_id": record.execution_id,
        "status": record.status,
        "begin_time": format_time(record.begin_time),
        "end_time": format_time(record.end_time),
        "last_update_time": format_time(record.last_update_time),
        "created_by": record.created_by,
    }


def show(record: ExecutionRecord, nodes: list[NodeRecord]) -> dict[str, Any]:
    """The ``ShowWorkflowExecutionResponse`` shape, sharing nothing."""
    shown = brief(record)
    shown["headers"] = copy.deepcopy(record.headers)
    shown["input"] = copy.deepcopy(record.input)
    shown["output"] = copy.deepcopy(record.output)
    shown["node_execution_details"] = [
        {
            "node_id": node.node_id,
            "node_name": node.node_name,
            "execution_id": node.node_execution_id,
            "executions": [copy.deepcopy(attempt) for attempt in node.attempts],
        }
        for node in sorted(nodes, key=lambda n: n.position)
    ]
    order = (
        "workflow_id",
        "workflow_urn",
        "execution_id",
        "status",
        "headers",
        "input",
        "output",
        "begin_time",
        "end_time",
        "last_update_time",
        "created_by",
        "node_execution_details",
    )
    return {key: shown[key] for key in order}


def sync_response(record: ExecutionRecord, nodes: list[NodeRecord]) -> dict[str, Any]:
    """The ``StartSyncWorkflowExecutionResponse`` shape.

    ``output`` is set only on success and ``errors`` only on failure, as the
    SDK documents; ``errors`` holds one ``SyncExecutionNodeErrorDetail`` per
    failed node attempt (and one for an error outside any node).
    """
    errors: list[dict[str, Any]] | None = None
    if record.status == "fail":
        errors = []
        for node in sorted(nodes, key=lambda n: n.position):
            for attempt in node.attempts:
                if attempt["status"] == "fail":
                    errors.append(
                        {
                            "node_id": node.node_id,
                            "error_message": str(attempt["error_message"]),
                            "begin_time": format_time(attempt["begin_time"]),
                            "end_time": format_time(attempt["end_time"]),
                        }
                    )
        if record.error is not None:
            errors.append(
                {
                    "node_id": record.state_id or "",
                    "error_message": record.error,
                    "begin_time": format_time(record.begin_time),
                    "end_time": format_time(record.end_time),
                }
            )
    return {
        "execution_id": record.execution_id,
        "status": record.status,
        "output": (
            copy.deepcopy(record.output) if record.status == "success" else None
        ),
        "errors": errors,
        "begin_time": format_time(record.begin_time),
        "end_time": format_time(record.end_time),
    }


def workflow_info(record: WorkflowRecord) -> dict[str, Any]:
    """The ``WorkflowSimpleInfo`` / ``CreateWorkflowResponse`` shape."""
    return {
        "enable_stream_response": bool(
            record.definition.get("enable_stream_response", False)
        ),
        "id": record.workflow_id,
        "workflow_urn": workflow_urn(record.project_id, record.name),
        "name": record.name,
        "description": record.definition.get("description", ""),
        "created_time": format_time(record.created_time),
        "updated_time": format_time(record.updated_time),
        "created_by": record.created_by,
    }
