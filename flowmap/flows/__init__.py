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
from ._problems import DefinitionError, Problem

__all__ = [
    "Action",
    "Definition",
    "DefinitionError",
    "FunctionDef",
    "FunctionRef",
    "OnError",
    "OperationState",
    "Problem",
    "RetryPolicy",
    "SleepState",
    "State",
    "load_definition",
]
