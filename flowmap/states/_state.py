"""Compiled states and the caches behind the module-level functions.

A state's input half (InputPath, Parameters) and output half
(ResultSelector, ResultPath, OutputPath) are compiled separately and cached
by the canonical JSON text of their fields, in bounded, thread-safe
``functools.lru_cache`` caches.

Making that JSON text (and checking that the fields are JSON) costs more
than applying a small template, so the module-level functions first look the
state dict up by ``id()``. That alone would be unsafe (a dict can change in
place, and a dead dict's id can be reused), so an entry keeps a strong
reference to the dict (its id cannot be reused while it is cached) and a
deep copy of the fields it was compiled from, compared with the current
fields on every call. The copy's numbers and booleans compare by type as
well as value (``1``, ``1.0`` and ``true`` differ), so any change to the
fields, even in place, misses the entry and goes through the JSON cache. The
one change it does not see is a pure reordering of an object's keys (JSON
objects are unordered): the output then keeps the earlier key order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from ..errors import MappingError
from ..mapping._spec import check_json
from ._errors import StatesDefinitionError
from ._paths import compile_result_path, compile_selector
from ._payload import compile_payload

__all__ = [
    "CompiledState",
    "EffectiveInput",
    "StateOutput",
    "clear_cache",
    "compile_state",
    "effective_input",
    "state_output",
]

CACHE_SIZE = 1024
#: Entries of the id() caches; when full they are emptied (cheap, and safe).
ID_CACHE_SIZE = 1024

INPUT_FIELDS = ("InputPath", "Parameters")
OUTPUT_FIELDS = ("ResultSelector", "ResultPath", "OutputPath")

InputStage = Callable[..., Any]
OutputStage = Callable[..., Any]


class EffectiveInput(Protocol):
    """The type of :attr:`CompiledState.effective_input`."""

    def __call__(self, raw_input: Any, /, *, context: Any = None) -> Any: ...


class StateOutput(Protocol):
    """The type of :attr:`CompiledState.state_output`."""

    def __call__(
        self, raw_input: Any, result: Any, /, *, context: Any = None
    ) -> Any: ...


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


# --- the two halves -------------------------------------------------------------


def _build_input(fields: dict[str, Any]) -> InputStage:
    select = compile_selector(fields.get("InputPath", "$"), "InputPath")
    params = (
        compile_payload(fields["Parameters"], "Parameters")
        if "Parameters" in fields
        else None
    )
    if params is None:
        if select is None:

            def unchanged(raw_input: Any, context: Any = None) -> Any:
                return raw_input

            return unchanged
        return _bind_selector(select)
    if select is None:
        return params

    def both(raw_input: Any, context: Any = None) -> Any:
        return params(select(raw_input, context), context)

    return both


def _bind_selector(select: Callable[[Any, Any], Any]) -> InputStage:
    def selected(raw_input: Any, context: Any = None) -> Any:
        return select(raw_input, context)

    return selected


def _build_output(fields: dict[str, Any]) -> OutputStage:
    selector = (
        compile_payload(fields["ResultSelector"], "ResultSelector")
        if "ResultSelector" in fields
        else None
    )
    combine = compile_result_path(fields.get("ResultPath", "$"))
    select = compile_selector(fields.get("OutputPath", "$"), "OutputPath")

    def output(raw_input: Any, result: Any, context: Any = None) -> Any:
        if selector is not None:
            result = selector(result, context)
        combined = result if combine is None else combine(raw_input, result)
        return combined if select is None else select(combined, context)

    return output


@lru_cache(maxsize=CACHE_SIZE)
def _input_from_json(key: str) -> InputStage:
    return _build_input(json.loads(key))


@lru_cache(maxsize=CACHE_SIZE)
def _output_from_json(key: str) -> OutputStage:
    return _build_output(json.loads(key))


def _json_key(state: Any, names: tuple[str, ...]) -> str:
    """The canonical JSON text of the fields ``names`` of ``state``."""
    if not isinstance(state, dict):
        raise StatesDefinitionError(
            f"a state definition must be an object, not {type(state).__name__}"
        )
    fields = {name: state[name] for name in names if name in state}
    try:
        # The default separators take json's fastest path.
        text = json.dumps(fields)
        # json.dumps quietly writes a tuple as an array and the key 1 as "1";
        # the text must read back as the same value, or the fields were not
        # JSON (check_json then names the place).
        if json.loads(text) == fields:
            return text
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        check_json(fields)
    except MappingError as exc:
        raise StatesDefinitionError(exc.reason, exc.location or ()) from None
    raise StatesDefinitionError("the state's fields are not JSON")  # pragma: no cover


def input_stage(state: Any) -> InputStage:
    """The compiled InputPath + Parameters of ``state``, through the JSON cache."""
    return _input_from_json(_json_key(state, INPUT_FIELDS))


def output_stage(state: Any) -> OutputStage:
    """The compiled ResultSelector + ResultPath + OutputPath, through the JSON cache."""
    return _output_from_json(_json_key(state, OUTPUT_FIELDS))


# --- exact snapshots for the id() caches ----------------------------------------------


class _Exact:
    """A number or boolean that equals only a value of the same type."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        value = self.value
        if type(other) is not type(value) or other != value:
            return False
        # 0.0 == -0.0, but they are different JSON texts.
        return not isinstance(value, float) or math.copysign(
            1.0, value
        ) == math.copysign(1.0, other)  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]


def snapshot(value: Any) -> Any:
    """A deep copy of ``value`` whose numbers and booleans compare by type too.

    ``snapshot(v) == w`` (snapshot on the left, so that its ``__eq__`` runs)
    holds when ``w`` is the same JSON value as ``v``, with the same types:
    plain ``==`` would take ``1``, ``1.0`` and ``True`` for each other. Only
    the numbers and booleans are wrapped, so comparing a template of strings
    runs entirely in C.
    """
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snapshot(item) for item in value]
    if isinstance(value, tuple):  # the fields, (InputPath, Parameters) etc.
        return tuple(snapshot(item) for item in value)
    if isinstance(value, str) or value is None or value is ABSENT:
        return value
    return _Exact(value)


# id(state) -> (state, snapshot of its fields, compiled stage). The state is
# kept alive by the entry, so no other object can have its id meanwhile.
_INPUT_IDS: dict[int, tuple[Any, Any, InputStage]] = {}
_OUTPUT_IDS: dict[int, tuple[Any, Any, OutputStage]] = {}


def _input_fields(state: dict[str, Any]) -> tuple[Any, Any]:
    return (state.get("InputPath", ABSENT), state.get("Parameters", ABSENT))


def _output_fields(state: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (
        state.get("ResultSelector", ABSENT),
        state.get("ResultPath", ABSENT),
        state.get("OutputPath", ABSENT),
    )


def _input_miss(state: Any) -> InputStage:
    stage = input_stage(state)  # raises for anything but a valid dict
    if len(_INPUT_IDS) >= ID_CACHE_SIZE:
        _INPUT_IDS.clear()
    _INPUT_IDS[id(state)] = (state, snapshot(_input_fields(state)), stage)
    return stage


def _output_miss(state: Any) -> OutputStage:
    stage = output_stage(state)
    if len(_OUTPUT_IDS) >= ID_CACHE_SIZE:
        _OUTPUT_IDS.clear()
    _OUTPUT_IDS[id(state)] = (state, snapshot(_output_fields(state)), stage)
    return stage


# --- the public API --------------------------------------------------------------


class CompiledState:
    """A state's compiled input and output processing (see :func:`compile_state`).

    Compiled states are immutable and safe to share between threads.
    ``effective_input`` and ``state_output`` are plain functions generated for
    the state (so calling them costs no bound-method creation):

    - ``effective_input(raw_input, *, context=None)``: InputPath, then
      Parameters;
    - ``state_output(raw_input, result, *, context=None)``: ResultSelector,
      then ResultPath (into ``raw_input``), then OutputPath.

    A compiled state pickles (as the JSON text of its fields, compiled again
    when loaded), so it can be shipped to worker processes.

    >>> definition = {"Parameters": {"id.$": "$.order.id"}, "ResultPath": "$.r"}
    >>> state = compile_state(definition)
    >>> state.effective_input({"order": {"id": 7}})
    {'id': 7}
    >>> state.state_output({"order": {"id": 7}}, "ok")
    {'order': {'id': 7}, 'r': 'ok'}
    >>> import pickle
    >>> pickle.loads(pickle.dumps(state)).effective_input({"order": {"id": 8}})
    {'id': 8}
    """

    __slots__ = ("_input_key", "_output_key", "effective_input", "state_output")

    effective_input: EffectiveInput
    state_output: StateOutput
    _input_key: str
    _output_key: str

    def __init__(self, state: dict[str, Any]) -> None:
        self._set(_json_key(state, INPUT_FIELDS), _json_key(state, OUTPUT_FIELDS))

    def _set(self, input_key: str, output_key: str) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "_input_key", input_key)
        setattr_(self, "_output_key", output_key)
        setattr_(self, "effective_input", _input_from_json(input_key))
        setattr_(self, "state_output", _output_from_json(output_key))

    def __reduce__(self) -> tuple[Callable[[str, str], CompiledState], tuple[str, str]]:
        return (_compiled_from_json, (self._input_key, self._output_key))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"CompiledState objects are immutable (cannot set {name!r})"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(
            f"CompiledState objects are immutable (cannot delete {name!r})"
        )

    def __repr__(self) -> str:
        return "<CompiledState>"


def _compiled_from_json(input_key: str, output_key: str) -> CompiledState:
    """A compiled state from the JSON text of its fields (used by pickle)."""
    state = CompiledState.__new__(CompiledState)
    state._set(input_key, output_key)
    return state


def compile_state(state: dict[str, Any]) -> CompiledState:
    """Compile a state's InputPath, Parameters, ResultSelector, ResultPath, OutputPath.

    Invalid fields raise :class:`~flowmap.states.StatesDefinitionError` naming
    the field. Compiling is cached by the JSON text of the fields, so
    compiling the same definition again is cheap.

    >>> compile_state({"InputPath": "$.a"}).effective_input({"a": [1]})
    [1]
    >>> compile_state({"ResultPath": "$[*]"})
    Traceback (most recent call last):
      ...
    flowmap.states.StatesDefinitionError: ResultPath '$[*]' must be a \
reference path (names and single indexes only, selecting one node) \
(at $.ResultPath in the spec)
    """
    return CompiledState(state)


def effective_input(
    state: dict[str, Any], raw_input: Any, *, context: Any = None
) -> Any:
    """Apply the state's InputPath, then its Parameters, to ``raw_input``.

    ``context`` is the context object that ``$$`` paths read. The compiled
    form of the state's fields is cached; :func:`compile_state` skips even
    the cache lookup.

    >>> state = {"InputPath": "$.order", "Parameters": {"sku.$": "$.items[0].sku"}}
    >>> effective_input(state, {"order": {"items": [{"sku": "a-1"}]}})
    {'sku': 'a-1'}
    """
    entry = _INPUT_IDS.get(id(state))
    if (
        entry is not None
        and entry[0] is state
        and entry[1]
        == (state.get("InputPath", ABSENT), state.get("Parameters", ABSENT))
    ):
        return entry[2](raw_input, context)
    return _input_miss(state)(raw_input, context)


def state_output(
    state: dict[str, Any], raw_input: Any, result: Any, *, context: Any = None
) -> Any:
    """Apply ResultSelector to ``result``, ResultPath into ``raw_input``, OutputPath.

    Neither ``raw_input`` nor ``result`` is changed.

    >>> state = {"ResultSelector": {"n.$": "$.count"}, "ResultPath": "$.stats"}
    >>> state_output(state, {"id": 1}, {"count": 3, "noise": True})
    {'id': 1, 'stats': {'n': 3}}
    """
    entry = _OUTPUT_IDS.get(id(state))
    if entry is not None and entry[0] is state and entry[1] == _output_fields(state):
        return entry[2](raw_input, result, context)
    return _output_miss(state)(raw_input, result, context)


def clear_cache() -> None:
    """Empty the caches of compiled state fields.

    >>> clear_cache()
    >>> compile_state({"InputPath": "$.a"}).effective_input({"a": 1})
    1
    """
    _INPUT_IDS.clear()
    _OUTPUT_IDS.clear()
    _input_from_json.cache_clear()
    _output_from_json.cache_clear()
