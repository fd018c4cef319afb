"""Flow definitions: the immutable model of a ``WorkflowCreateBody`` and its loader.

A definition is read in two passes. The JSON Schema shipped in the package
(``flowmap/schemas/flow.schema.json``) checks shapes, types and ranges; the
semantic pass then checks what a schema cannot say (unique ids, references
that resolve, reachability, mapping specs and filters that compile). Both
passes collect every problem before anything is raised, so one
:class:`DefinitionError` lists them all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Literal

import flowmap

__all__ = [
    "Action",
    "Definition",
    "FunctionDef",
    "FunctionRef",
    "OnError",
    "OperationState",
    "RetryPolicy",
    "SleepState",
    "State",
    "load_definition",
]

ActionMode = Literal["sequential", "parallel"]
Mode = Literal["NORMAL", "EXPRESS"]
InvokeMode = Literal["sync"]


def _copy_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """A function the flow calls: its ``name`` in the flow and its ``operation`` URN.

    ``metadata`` is a fresh copy of the user's object on every read (None when
    absent), so no caller can change the definition through it.
    """

    name: str
    operation: str
    metadata_json: str | None = field(default=None, repr=False)

    @property
    def metadata(self) -> Any:
        """A fresh copy of the function's ``metadata`` object (None when absent)."""
        return _copy_json(self.metadata_json)

    def to_json(self) -> dict[str, Any]:
        """The normalised ``functions[]`` item."""
        out: dict[str, Any] = {"name": self.name, "operation": self.operation}
        if self.metadata_json is not None:
            out["metadata"] = self.metadata
        return out


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """An action's reference to a function, as written in the definition.

    ``arguments`` is a fresh copy of the mapping spec on every read (None when
    the action has no arguments, which means the event is the state data).
    """

    ref_name: str
    invoke_mode: InvokeMode = "sync"
    arguments_json: str | None = field(default=None, repr=False)

    @property
    def arguments(self) -> Any:
        """A fresh copy of the ``arguments`` mapping spec (None when absent)."""
        return _copy_json(self.arguments_json)

    def to_json(self) -> dict[str, Any]:
        """The normalised ``function_ref`` object."""
        out: dict[str, Any] = {
            "ref_name": self.ref_name,
            "invoke_mode": self.invoke_mode,
        }
        if self.arguments_json is not None:
            out["arguments"] = self.arguments
        return out


@dataclass(frozen=True, slots=True)
class Action:
    """One function call of an Operation state.

    ``mapping`` is ``function_ref.arguments`` compiled with
    :func:`flowmap.compile_mapping` (default options: a path with no value and
    no default is an error), or None when the action has no arguments.
    """

    function_ref: FunctionRef
    mapping: flowmap.Mapping | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The normalised ``actions[]`` item."""
        return {"function_ref": self.function_ref.to_json()}


@dataclass(frozen=True, slots=True)
class OnError:
    """An error handler of an Operation state.

    ``error`` is the match expression (``*`` matches every error);
    ``retry_ref`` names a :class:`RetryPolicy` to apply first, ``transition``
    the state to go to afterwards (None: fail the execution once retries are
    spent).
    """

    error: str
    transition: str | None = None
    retry_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The normalised ``on_errors[]`` item."""
        out: dict[str, Any] = {"error": self.error}
        if self.transition is not None:
            out["transition"] = self.transition
        if self.retry_ref is not None:
            out["retry_ref"] = self.retry_ref
        return out


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A named retry policy: ``delay`` seconds apart, at most ``max_attempts`` tries."""

    name: str
    delay: float = 1
    max_attempts: int = 3

    def to_json(self) -> dict[str, Any]:
        """The normalised ``retries[]`` item."""
        return {
            "name": self.name,
            "delay": self.delay,
            "max_attempts": self.max_attempts,
        }


@dataclass(frozen=True, slots=True)
class OperationState:
    """A state that calls functions (``type`` ``"Operation"``).

    ``input_filter`` and ``output_filter`` are the compiled
    ``state_data_filter`` expressions (:func:`flowmap.compile_filter`); None
    means ``$`` (the whole state data). ``transition`` is None exactly when
    ``end`` is true.
    """

    id: str
    name: str
    end: bool
    transition: str | None
    action_mode: ActionMode = "sequential"
    actions: tuple[Action, ...] = ()
    on_errors: tuple[OnError, ...] = ()
    input_filter: flowmap.mapping.DataFilter | None = field(
        default=None, compare=False, repr=False
    )
    output_filter: flowmap.mapping.DataFilter | None = field(
        default=None, compare=False, repr=False
    )
    input_expression: str | None = None
    output_expression: str | None = None

    @property
    def type(self) -> Literal["Operation"]:
        """Always ``"Operation"``."""
        return "Operation"

    def to_json(self) -> dict[str, Any]:
        """The normalised ``states[]`` item."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": "Operation",
            "end": self.end,
        }
        if self.transition is not None:
            out["transition"] = self.transition
        out["action_mode"] = self.action_mode
        out["actions"] = [action.to_json() for action in self.actions]
        if self.on_errors:
            out["on_errors"] = [handler.to_json() for handler in self.on_errors]
        if self.input_expression is not None or self.output_expression is not None:
            sdf: dict[str, str] = {}
            if self.input_expression is not None:
                sdf["input"] = self.input_expression
            if self.output_expression is not None:
                sdf["output"] = self.output_expression
            out["state_data_filter"] = sdf
        return out


@dataclass(frozen=True, slots=True)
class SleepState:
    """A state that waits ``duration`` seconds (``type`` ``"Sleep"``) and passes
    its data on unchanged."""

    id: str
    name: str
    end: bool
    transition: str | None
    duration: float = 0

    @property
    def type(self) -> Literal["Sleep"]:
        """Always ``"Sleep"``."""
        return "Sleep"

    def to_json(self) -> dict[str, Any]:
        """The normalised ``states[]`` item."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": "Sleep",
            "end": self.end,
        }
        if self.transition is not None:
            out["transition"] = self.transition
        out["duration"] = self.duration
        return out


State = OperationState | SleepState


@dataclass(frozen=True, slots=True)
class Definition:
    """A loaded, checked flow definition. Build one with :func:`load_definition`.

    Immutable and picklable. ``constants`` gives a fresh copy on every read.
    Fields the SDK's ``WorkflowCreateBody`` has but flowmap does not act on
    (``triggers``, ``express_config``, ``enterprise_project_id``,
    ``enable_stream_response``) are kept in ``extra`` and given back by
    :meth:`to_json`.
    """

    name: str
    start: str
    states: tuple[State, ...]
    functions: tuple[FunctionDef, ...] = ()
    description: str = ""
    retries: tuple[RetryPolicy, ...] = ()
    mode: Mode = "NORMAL"
    constants_json: str = field(default="{}", repr=False)
    extra_json: str = field(default="{}", repr=False)
    _index: dict[str, Any] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        index: dict[str, Any] = {}
        for state in self.states:
            index.setdefault("s:" + state.id, state)
        for function in self.functions:
            index.setdefault("f:" + function.name, function)
        for retry in self.retries:
            index.setdefault("r:" + retry.name, retry)
        object.__setattr__(self, "_index", index)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return (load_definition, (self.to_json(),))

    @property
    def constants(self) -> dict[str, Any]:
        """A fresh copy of the definition's ``constants`` object."""
        value: dict[str, Any] = json.loads(self.constants_json)
        return value

    @property
    def extra(self) -> dict[str, Any]:
        """A fresh copy of the SDK fields kept but not acted on."""
        value: dict[str, Any] = json.loads(self.extra_json)
        return value

    def state(self, id: str) -> State:
        """The state with this id; KeyError when there is none."""
        state: State = self._index["s:" + id]
        return state

    def function(self, name: str) -> FunctionDef:
        """The function with this name; KeyError when there is none."""
        function: FunctionDef = self._index["f:" + name]
        return function

    def retry(self, name: str) -> RetryPolicy:
        """The retry policy with this name; KeyError when there is none."""
        retry: RetryPolicy = self._index["r:" + name]
        return retry

    def to_json(self) -> dict[str, Any]:
        """The normalised body: every default filled in, a fresh object each call.

        ``load_definition(d.to_json())`` equals ``d``, and ``to_json`` of that
        is the same body again.
        """
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "start": self.start,
            "functions": [function.to_json() for function in self.functions],
            "states": [state.to_json() for state in self.states],
            "constants": self.constants,
            "retries": [retry.to_json() for retry in self.retries],
            "mode": self.mode,
        }
        out.update(self.extra)
        return out


def load_definition(obj: MappingABC[str, Any]) -> Definition:
    """Check a ``WorkflowCreateBody``-shaped object and build its :class:`Definition`.

    Raises :class:`DefinitionError` listing every problem found, each with its
    location in ``obj``.

    >>> d = load_definition({
    ...     "name": "hello",
    ...     "start": "greet",
    ...     "functions": [
    ...         {"name": "greeter", "operation": "urn:fss:r1:p1:function:app:greeter"}
    ...     ],
    ...     "states": [{
    ...         "id": "greet", "name": "Greet", "type": "Operation", "end": True,
    ...         "actions": [
    ...             {"function_ref": {"ref_name": "greeter",
    ...                               "arguments": {"who": "$.user"}}}
    ...         ],
    ...     }],
    ... })
    >>> d.state("greet").actions[0].mapping.apply({"user": "Ann"})
    {'who': 'Ann'}
    """
    from ._loader import load

    return load(obj)
