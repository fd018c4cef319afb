"""AWS Step Functions input and output processing on flowmap's compiled core.

A state's JSON definition processes data in this order: InputPath, then
Parameters (giving the *effective input* the task receives), then the task,
then ResultSelector, ResultPath (into the raw input) and OutputPath (giving
the state's *output*). :func:`effective_input` and :func:`state_output` do
the two halves with AWS's results and error texts; :func:`compile_state`
compiles a state once for the fastest repeated use.

>>> from flowmap import states
>>> state = {
...     "InputPath": "$.order",
...     "Parameters": {"id.$": "$.id", "tag.$": "States.Format('order-{}', $.id)"},
...     "ResultPath": "$.receipt",
... }
>>> states.effective_input(state, {"order": {"id": 7}})
{'id': 7, 'tag': 'order-7'}
>>> states.state_output(state, {"order": {"id": 7}}, {"ok": True})
{'order': {'id': 7}, 'receipt': {'ok': True}}
>>> states.effective_input({"InputPath": "$.nope"}, {"order": {}})
Traceback (most recent call last):
  ...
flowmap.states.StatesRuntimeError: States.Runtime: \
Invalid path '$.nope' : No results for path: $['nope']
"""

from ._errors import StatesDefinitionError, StatesRuntimeError
from ._functions import FUNCTIONS as _FUNCTIONS
from ._state import (
    CompiledState,
    EffectiveInput,
    StateOutput,
    clear_cache,
    compile_state,
    effective_input,
    state_output,
)

#: The names of the supported intrinsic functions.
INTRINSIC_FUNCTIONS: tuple[str, ...] = tuple(_FUNCTIONS)

__all__ = [
    "INTRINSIC_FUNCTIONS",
    "CompiledState",
    "EffectiveInput",
    "StateOutput",
    "StatesDefinitionError",
    "StatesRuntimeError",
    "clear_cache",
    "compile_state",
    "effective_input",
    "state_output",
]
