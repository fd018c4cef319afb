"""Flows: FunctionGraph-style flow definitions and (later in this package) their runner.

>>> from flowmap.flows import load_definition
>>> d = load_definition({
...     "name": "one", "start": "wait",
...     "states": [
...         {"id": "wait", "name": "Wait", "type": "Sleep", "duration": 2, "end": True}
...     ],
... })
>>> d.state("wait").duration, d.mode
(2, 'NORMAL')
"""

from ._celery import CeleryExecutor, celery_app
from ._clock import Clock, ManualClock, SystemClock
from ._definition import (
    Action,
    Definition,
    FunctionDef,
    FunctionRef,
    OnError,
    OperationState,
    RetryPolicy,
    SleepState,
    State,
    load_definition,
)
from ._executor import EmbeddedExecutor, Executor, FunctionFailure
from ._functions import load_functions
from ._postgres import PostgresStore, open_store
from ._problems import DefinitionError, Problem
from ._records import ExecutionRecord, NodeRecord, WorkflowRecord
from ._run_errors import (
    ExecutionInputError,
    ExecutionNotFoundError,
    ExecutionStateError,
    FunctionLoadError,
    FunctionNotFoundError,
    StoreError,
    WorkflowNotFoundError,
)
from ._runner import Runner
from ._store import MemoryStore, SQLiteStore, Store

__all__ = [
    "Action",
    "CeleryExecutor",
    "Clock",
    "Definition",
    "DefinitionError",
    "EmbeddedExecutor",
    "ExecutionInputError",
    "ExecutionNotFoundError",
    "ExecutionRecord",
    "ExecutionStateError",
    "Executor",
    "FunctionDef",
    "FunctionFailure",
    "FunctionLoadError",
    "FunctionNotFoundError",
    "FunctionRef",
    "ManualClock",
    "MemoryStore",
    "NodeRecord",
    "OnError",
    "OperationState",
    "PostgresStore",
    "Problem",
    "RetryPolicy",
    "Runner",
    "SQLiteStore",
    "SleepState",
    "State",
    "Store",
    "StoreError",
    "SystemClock",
    "WorkflowNotFoundError",
    "WorkflowRecord",
    "celery_app",
    "load_definition",
    "load_functions",
    "open_store",
]
