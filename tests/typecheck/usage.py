"""A user's typed script: mypy --strict must accept every line of it.

CI runs ``mypy --strict`` on this file (``--strict`` includes
``--warn-unused-ignores``), from a directory outside the repository, against
the editable install that README's test command makes. The functions are
never called: the file is only type-checked.

Lines ending in ``# type: ignore[code]`` are mistakes a user can make that
mypy must catch: if flowmap's signatures stop catching one, its ignore is
unused and the check fails.
"""

from __future__ import annotations

from typing import Any

import flowmap
from flowmap import states
from flowmap.errors import MappingError, MergeError, MissingValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing_extensions import assert_type

DOC: dict[str, Any] = {"order": {"id": 7, "items": [{"sku": "a", "price": 3}]}}


def queries() -> None:
    query = flowmap.compile("$.order.items[*].sku")
    assert_type(query, flowmap.Query)
    assert_type(query.find(DOC), list[Any])
    assert_type(query.locate(DOC), list[tuple[str, Any]])
    assert_type(query.singular, bool)
    assert_type(query.prepare(), flowmap.Query)
    query.first(DOC)
    query.first(DOC, default=None)
    assert_type(flowmap.query("$..price", DOC), list[Any])
    flowmap.clear_caches()

    flowmap.compile(42)  # type: ignore[arg-type]
    flowmap.compil("$.a")  # type: ignore[attr-defined]
    query.first(DOC, defualt=None)  # type: ignore[call-arg]
    query.find(DOC, DOC)  # type: ignore[call-arg]


def mappings() -> None:
    mapping = flowmap.compile_mapping(
        {"id": "$.order.id", "region": "$CONST.region | 'cn-north-4'"},
        on_missing="null",
        null_as_missing=True,
        form="template",
    )
    assert_type(mapping, flowmap.Mapping)
    mapping.apply(DOC)
    mapping.apply(DOC, constants={"region": "x"}, context={"execution_id": "e"})
    flowmap.apply_mapping({"id": "$.order.id"}, DOC, on_missing="omit")
    flowmap.apply_mapping([{"key": "a", "value": "$.a"}], DOC, form="parameters")
    flowmap.compile_filter("$.order").apply(DOC)

    mapping.apply(DOC, constans={})  # type: ignore[call-arg]
    mapping.apply(DOC, {})  # type: ignore[call-arg]
    flowmap.compile_mapping({}, on_missing="skip")  # type: ignore[arg-type]
    flowmap.compile_mapping({}, form="params")  # type: ignore[arg-type]
    flowmap.compile_mapping({}, "null")  # type: ignore[call-arg]
    flowmap.apply_mapping({}, DOC, on_mising="null")  # type: ignore[call-arg]
    flowmap.apply_mapping({}, DOC, form="parameter")  # type: ignore[arg-type]


def merging() -> None:
    merged = flowmap.merge(
        {"a": 1}, {"b": 2}, strategy="deep", arrays="union", wrap_key="w", copy=True
    )
    assert_type(merged, Any)
    assert_type(flowmap.parse_merge_header(" true "), bool)
    assert_type(flowmap.parse_merge_header(None), bool)
    flowmap.place(DOC, "$.order.status", "paid")
    flowmap.place(DOC, flowmap.compile("$.order.status"), "paid")

    flowmap.merge({}, {}, strategy="deeep")  # type: ignore[arg-type]
    flowmap.merge({}, {}, arrays="append")  # type: ignore[arg-type]
    flowmap.merge({}, {}, "deep")  # type: ignore[call-arg]
    flowmap.merge({}, {}, stratgy="deep")  # type: ignore[call-arg]
    flowmap.parse_merge_header(1)  # type: ignore[arg-type]


def step_functions() -> None:
    state = states.compile_state({"InputPath": "$.order", "ResultPath": "$.r"})
    state.effective_input(DOC)
    state.effective_input(DOC, context={})
    state.state_output(DOC, {"ok": True})
    states.effective_input({"InputPath": "$.order"}, DOC, context={})
    states.state_output({"ResultPath": "$.r"}, DOC, 1, context={})

    states.effective_input({}, DOC, contxt={})  # type: ignore[call-arg]
    state.effective_input(DOC, contxt={})  # type: ignore[call-arg]
    state.state_output(DOC)  # type: ignore[call-arg]


def errors() -> None:
    try:
        flowmap.compile_mapping({"a": "$x"})
    except MappingError as error:
        location = error.location
        if location is not None:
            assert_type(location, tuple[str | int, ...])
        assert_type(error.path, str | None)
        len(error.location)  # type: ignore[arg-type]
    try:
        flowmap.apply_mapping({"a": "$.nope"}, {})
    except MissingValueError as missing:
        assert_type(missing.step, str | None)
        assert_type(missing.path, str | None)
    try:
        flowmap.merge([1], {})
    except MergeError as merge_error:
        if merge_error.side == "previous":  # type: ignore[comparison-overlap]
            pass
        assert_type(merge_error.path, str | None)
    except flowmap.MergeOptionError as option_error:
        assert_type(option_error.allowed, tuple[str, ...])
    except (flowmap.EvaluationLimitError, flowmap.RegexLimitError):
        pass
    except flowmap.QueryTypeError:
        pass
