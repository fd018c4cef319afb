"""The errors of Step Functions input and output processing.

A definition that cannot be compiled raises :class:`StatesDefinitionError`
(a :class:`~flowmap.errors.MappingError`, so the location of the bad field
travels as data); a failure while processing a state's data raises
:class:`StatesRuntimeError`, whose ``error`` and ``cause`` are the two strings
Step Functions reports for a failed state.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import FlowmapError, MappingError

__all__ = ["StatesDefinitionError", "StatesRuntimeError", "compact_json"]


class StatesRuntimeError(FlowmapError, ValueError):
    """A state's data could not be processed, as Step Functions reports it.

    ``error`` is the error name (``"States.Runtime"``), ``cause`` the text
    AWS gives for the same failure (without the ``An error occurred while
    executing the state 'X' (entered at the event id #N).`` prefix, which
    only the engine knows), and ``detail`` an optional explanation that AWS
    does not give but that helps to find the problem.

    >>> cause = "Invalid arguments in States.MathAdd"
    >>> err = StatesRuntimeError("States.Runtime", cause)
    >>> (err.error, err.cause)
    ('States.Runtime', 'Invalid arguments in States.MathAdd')
    >>> print(err)
    States.Runtime: Invalid arguments in States.MathAdd
    """

    def __init__(self, error: str, cause: str, detail: str | None = None) -> None:
        super().__init__(error, cause)
        self.error = error
        self.cause = cause
        self.detail = detail

    def __str__(self) -> str:
        text = f"{self.error}: {self.cause}"
        if self.detail:
            text += f" ({self.detail})"
        return text


class StatesDefinitionError(MappingError):
    """A state definition that cannot be compiled.

    ``location`` names the field, for example ``("Parameters", "id.$")``;
    ``syntax_error`` holds the positioned :class:`~flowmap.JSONPathSyntaxError`
    when a JSONPath or an intrinsic function call does not parse.

    >>> reason = "ResultPath must be a reference path"
    >>> print(StatesDefinitionError(reason, ("ResultPath",)))
    ResultPath must be a reference path (at $.ResultPath in the spec)
    """


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text, the way AWS quotes inputs in its causes.

    >>> compact_json({"a": [1, "é"]})
    '{"a":[1,"é"]}'
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        pass
    try:  # not JSON (a set, a datetime...): still say something useful
        return json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, default=repr
        )
    except (TypeError, ValueError, RecursionError):
        return repr(value)
