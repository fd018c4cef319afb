"""The errors of Step Functions input and output processing.

A definition that cannot be compiled raises :class:`StatesDefinitionError`
(a :class:`~flowmap.errors.MappingError`, so the location of the bad field
travels as data); a failure while processing a state's data raises
:class:`StatesRuntimeError`, whose ``error`` and ``cause`` are the two strings
Step Functions reports for a failed state.

Both are reported as ``flowmap.states.StatesRuntimeError`` and
``flowmap.states.StatesDefinitionError`` (their public names), also in
tracebacks.
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
    >>> err  # doctest: +NORMALIZE_WHITESPACE
    StatesRuntimeError(error='States.Runtime',
                       cause='Invalid arguments in States.MathAdd', detail=None)
    """

    __module__ = "flowmap.states"

    def __init__(self, error: str, cause: str, detail: str | None = None) -> None:
        super().__init__(error, cause)
        self.error = error
        self.cause = cause
        self.detail = detail

    # repr() and pickle come from FlowmapError, over these fields.
    _repr_fields = ("error", "cause", "detail")

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
    >>> err = StatesDefinitionError(reason, ("ResultPath",))
    >>> print(err)
    ResultPath must be a reference path (at $.ResultPath in the spec)
    >>> err  # doctest: +NORMALIZE_WHITESPACE
    StatesDefinitionError(reason='ResultPath must be a reference path',
                          location=('ResultPath',), syntax_error=None)
    """

    __module__ = "flowmap.states"


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text, the way AWS quotes inputs in its causes.

    Never fails: a document nested too deeply for :mod:`json` is written
    without recursion, and an integer too long to write is described.

    >>> compact_json({"a": [1, "é"]})
    '{"a":[1,"é"]}'
    >>> compact_json([[[10**5000]]])
    '[[[an integer of 5,001 digits]]]'
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        pass
    return _iterative_json(value)


_SEPARATOR = object()  # marks where the items of a container end


def _iterative_json(value: Any) -> str:
    """Compact JSON text without recursion; non-JSON values as their repr."""
    from ._functions import number_text

    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and len(item) == 2 and item[0] is _SEPARATOR:
            out.append(item[1])
        elif isinstance(item, dict):
            out.append("{")
            stack.append((_SEPARATOR, "}"))
            entries = list(item.items())
            for i in range(len(entries) - 1, -1, -1):
                key, member = entries[i]
                stack.append(member)
                prefix = "," if i else ""
                stack.append((_SEPARATOR, prefix + _scalar(str(key)) + ":"))
        elif isinstance(item, list):
            out.append("[")
            stack.append((_SEPARATOR, "]"))
            for i in range(len(item) - 1, -1, -1):
                stack.append(item[i])
                if i:
                    stack.append((_SEPARATOR, ","))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(number_text(item))
        else:
            out.append(_scalar(item))
    return "".join(out)


def _scalar(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a value whose repr fails: still say something
        return f"<{type(value).__name__}>"
