"""load_definition: schema pass, semantic pass, then the immutable model."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

import flowmap

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
    _dump,
)
from ._problems import DefinitionError, Problem

EXTRA_FIELDS = (
    "triggers",
    "express_config",
    "enterprise_project_id",
    "enable_stream_response",
)


def load(obj: MappingABC[str, Any]) -> Definition:
    if not isinstance(obj, MappingABC):
        raise DefinitionError(
            [
                Problem(
                    (), f"a flow definition is a JSON object, not {type(obj).__name__}"
                )
            ]
        )
    try:
        return _build(obj)
    except (KeyError, TypeError, ValueError, flowmap.FlowmapError) as exc:
        raise DefinitionError(
            [Problem((), f"invalid flow definition: {exc}")]
        ) from None


def _build(obj: MappingABC[str, Any]) -> Definition:
    functions = tuple(
        FunctionDef(
            f["name"],
            f["operation"],
            None if f.get("metadata") is None else _dump(f["metadata"]),
        )
        for f in obj.get("functions") or ()
    )
    retries = tuple(
        RetryPolicy(r["name"], r.get("delay", 1), r.get("max_attempts", 3))
        for r in obj.get("retries") or ()
    )
    states = tuple(_build_state(s) for s in obj["states"])
    extra = {k: obj[k] for k in EXTRA_FIELDS if obj.get(k) is not None}
    return Definition(
        name=obj["name"],
        start=obj["start"],
        states=states,
        functions=functions,
        description=obj.get("description") or "",
        retries=retries,
        mode=obj.get("mode") or "NORMAL",
        constants_json=_dump(obj.get("constants") or {}),
        extra_json=_dump(extra),
    )


def _build_state(s: MappingABC[str, Any]) -> State:
    transition = s.get("transition") or None
    end = bool(s.get("end", False))
    if s["type"] == "Sleep":
        return SleepState(s["id"], s["name"], end, transition, s["duration"])
    actions = []
    for a in s.get("actions") or ():
        ref = a["function_ref"]
        args = ref.get("arguments")
        actions.append(
            Action(
                FunctionRef(
                    ref["ref_name"],
                    ref.get("invoke_mode") or "sync",
                    None if args is None else _dump(args),
                ),
                None if args is None else flowmap.compile_mapping(args),
            )
        )
    sdf = s.get("state_data_filter") or {}
    inp, out = sdf.get("input"), sdf.get("output")
    return OperationState(
        id=s["id"],
        name=s["name"],
        end=end,
        transition=transition,
        action_mode=s.get("action_mode") or "sequential",
        actions=tuple(actions),
        on_errors=tuple(
            OnError(e["error"], e.get("transition") or None, e.get("retry_ref") or None)
            for e in s.get("on_errors") or ()
        ),
        input_filter=None if inp is None else flowmap.compile_filter(inp),
        output_filter=None if out is None else flowmap.compile_filter(out),
        input_expression=inp,
        output_expression=out,
    )


__all__ = ["load"]
