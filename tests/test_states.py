"""Tests for flowmap.states: data-driven cases plus hypothesis properties.

The cases live in tests/data/states_paths.json (the five fields),
tests/data/states_intrinsics.json (every intrinsic function) and
tests/data/states_definitions.json (definitions that must not compile). The
properties guard what a list of cases cannot: no input is ever changed,
payload templates agree with a plain reference interpreter written here on
top of ``flowmap.compile``, the cache notices a definition changed in place,
and every failure is one of flowmap's own errors with a position in range.
"""

from __future__ import annotations

import contextlib
import copy
import doctest
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsoncompare import same

import flowmap
from flowmap.errors import FlowmapError, JSONPathSyntaxError, MappingError
from flowmap.states import (
    INTRINSIC_FUNCTIONS,
    CompiledState,
    StatesDefinitionError,
    StatesRuntimeError,
    clear_cache,
    compile_state,
    effective_input,
    state_output,
)

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).parent.parent / "docs" / "states.md"


def load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((DATA / name).read_text(encoding="utf-8"))[
        "cases"
    ]
    return cases


PATH_CASES = load("states_paths.json")
INTRINSIC_CASES = load("states_intrinsics.json")
DEFINITION_CASES = load("states_definitions.json")

PROPERTY_SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def expand(value: Any) -> Any:
    """Replace ``{"$repeat": [text, n]}`` by ``text * n`` (keeps data files small)
    and ``{"$power_of_ten": n}`` by ``10**n`` (over 4,300 digits JSON cannot load).
    """
    if isinstance(value, dict):
        if list(value) == ["$repeat"]:
            text, count = value["$repeat"]
            return text * count
        if list(value) == ["$power_of_ten"]:
            return 10 ** value["$power_of_ten"]
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


# -- data-driven cases ----------------------------------------------------------


def run_path_case(case: dict[str, Any], compiled: bool) -> Any:
    state = case["state"]
    context = case.get("context")
    raw = expand(case["input"])
    if "result" in case:
        if compiled:
            return compile_state(state).state_output(raw, case["result"], context)
        return state_output(state, raw, case["result"], context=context)
    if compiled:
        return compile_state(state).effective_input(raw, context)
    return effective_input(state, raw, context=context)


@pytest.mark.parametrize("compiled", [False, True], ids=["module", "compiled"])
@pytest.mark.parametrize("case", PATH_CASES, ids=[c["name"] for c in PATH_CASES])
def test_path_case(case: dict[str, Any], compiled: bool) -> None:
    before = copy.deepcopy(case)
    if "error" in case:
        with pytest.raises(StatesRuntimeError) as info:
            run_path_case(case, compiled)
        assert info.value.error == case["error"]["error"]
        assert info.value.cause == case["error"]["cause"]
    else:
        assert same(run_path_case(case, compiled), case["expected"])
    assert same(case, before), "the case's state, input or result was changed"


@pytest.mark.parametrize(
    "case", INTRINSIC_CASES, ids=[c["name"] for c in INTRINSIC_CASES]
)
def test_intrinsic_case(case: dict[str, Any]) -> None:
    state = {"Parameters": {"value.$": case["expression"]}}
    raw = expand(case["input"])
    before = copy.deepcopy(raw)
    context = case.get("context")
    if "error" in case:
        with pytest.raises(StatesRuntimeError) as info:
            effective_input(state, raw, context=context)
        assert info.value.error == case["error"]["error"]
        assert info.value.cause == case["error"]["cause"]
        if "detail_contains" in case:
            assert case["detail_contains"] in (info.value.detail or "")
    else:
        value = effective_input(state, raw, context=context)["value"]
        check = case.get("check")
        if check is None:
            assert same(value, case["expected"])
        elif "regex" in check:
            assert isinstance(value, str) and re.match(check["regex"], value)
        else:
            assert type(value) is int and check["min"] <= value <= check["max"]
    assert same(raw, before)


def test_every_intrinsic_has_cases() -> None:
    used = {
        name
        for case in INTRINSIC_CASES
        for name in re.findall(r"States\.[A-Za-z0-9]+", case["expression"])
    }
    assert used >= set(INTRINSIC_FUNCTIONS)
    assert len(INTRINSIC_FUNCTIONS) == 18


@pytest.mark.parametrize(
    "case", DEFINITION_CASES, ids=[c["name"] for c in DEFINITION_CASES]
)
def test_definition_case(case: dict[str, Any]) -> None:
    with pytest.raises(StatesDefinitionError) as info:
        compile_state(case["state"])
    err = info.value
    assert isinstance(err, MappingError)
    assert list(err.location) == case["location"]
    assert case["reason_contains"] in str(err)
    if "position" in case:
        assert err.syntax_error is not None
        assert err.syntax_error.position == case["position"]
        assert "^" in str(err)
    # The module-level function of the half that holds the field agrees.
    with pytest.raises(StatesDefinitionError):
        if case["location"][0] in ("InputPath", "Parameters"):
            effective_input(case["state"], {})
        else:
            state_output(case["state"], {}, {})


# -- specific behaviour -------------------------------------------------------------


def test_errors_are_flowmap_errors_and_builtins() -> None:
    with pytest.raises(StatesRuntimeError) as info:
        effective_input({"InputPath": "$.x"}, {})
    assert isinstance(info.value, FlowmapError)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("States.Runtime: Invalid path")
    with pytest.raises(ValueError):
        compile_state({"ResultPath": "$[*]"})


def test_non_json_definitions_are_refused() -> None:
    for bad in (
        {"Parameters": {"a": float("nan")}},
        {"Parameters": {"a": (1, 2)}},
        {"Parameters": {1: "x"}},
    ):
        with pytest.raises(StatesDefinitionError) as info:
            compile_state(bad)
        assert info.value.location[0] == "Parameters"
        with pytest.raises(StatesDefinitionError):
            effective_input(bad, {})
    with pytest.raises(StatesDefinitionError):
        effective_input(["not", "a", "state"], {})  # type: ignore[arg-type]


def test_compiled_state_is_immutable() -> None:
    state = compile_state({})
    assert isinstance(state, CompiledState)
    with pytest.raises(AttributeError):
        state.effective_input = print  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del state.state_output
    assert repr(state) == "<CompiledState>"


def test_literal_containers_are_never_shared() -> None:
    state = {"Parameters": {"o": {"k": [1]}, "l": [{"a": 1}]}}
    first = effective_input(state, {})
    first["o"]["k"].append(2)
    first["l"][0]["a"] = 99
    assert effective_input(state, {}) == {"o": {"k": [1]}, "l": [{"a": 1}]}


def test_result_path_does_not_change_the_input() -> None:
    raw = {"a": {"b": 1}, "items": [1, 2]}
    before = copy.deepcopy(raw)
    out = state_output({"ResultPath": "$.a.c"}, raw, {"x": 1})
    assert out == {"a": {"b": 1, "c": {"x": 1}}, "items": [1, 2]}
    assert same(raw, before)


def test_cache_notices_changes_in_place() -> None:
    state: dict[str, Any] = {"Parameters": {"a": 1, "b.$": "$.x"}}
    assert same(effective_input(state, {"x": 2}), {"a": 1, "b": 2})
    state["Parameters"]["a"] = True
    assert same(effective_input(state, {"x": 2}), {"a": True, "b": 2})
    state["Parameters"]["a"] = 1.0
    assert same(effective_input(state, {"x": 2}), {"a": 1.0, "b": 2})
    params = state["Parameters"]
    params["a"] = params.pop("a")  # a pure reordering: equal as JSON
    assert effective_input(state, {"x": 2}) == {"b": 2, "a": 1.0}
    state["InputPath"] = "$.y"
    assert effective_input(state, {"y": {"x": 3}}) == {"b": 3, "a": 1.0}
    params["c"] = [1, {"d": False}]
    assert effective_input(state, {"y": {"x": 3}})["c"] == [1, {"d": False}]
    params["c"][1]["d"] = 0
    assert same(effective_input(state, {"y": {"x": 3}})["c"], [1, {"d": 0}])
    out_state: dict[str, Any] = {"ResultPath": "$.r"}
    assert state_output(out_state, {}, 1) == {"r": 1}
    out_state["ResultPath"] = "$.s"
    assert state_output(out_state, {}, 1) == {"s": 1}
    clear_cache()
    assert state_output(out_state, {}, 1) == {"s": 1}


def test_threads_share_compiled_states() -> None:
    state = {"Parameters": {"v.$": "States.Format('{}-{}', $.a, $$.n)"}}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(200):
                got = effective_input(state, {"a": i}, context={"n": i})
                assert got == {"v": f"{i}-{i}"}
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_payload_is_compiled_by_the_mapping_core() -> None:
    # Same IR, same generated code: a state and the equivalent mapping agree.
    spec = {"user": {"id": "$.u.id"}, "skus": "$.items[*].sku", "first": "$.items[0]"}
    params = {"user": {"id.$": "$.u.id"}, "skus.$": "$.items[*].sku"}
    params["first.$"] = "$.items[0]"
    doc = {"u": {"id": 1}, "items": [{"sku": "a"}, {"sku": "b"}]}
    assert effective_input({"Parameters": params}, doc) == flowmap.apply_mapping(
        spec, doc
    )


def test_docs_examples() -> None:
    result = doctest.testfile(
        str(DOCS), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0


# -- properties ----------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "id", "items"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=3),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(NAMES, inner, max_size=4)
    ),
    max_leaves=20,
)
STEPS = st.lists(
    st.one_of(NAMES.map(lambda n: f".{n}"), st.integers(-2, 2).map(lambda i: f"[{i}]")),
    max_size=3,
)
INDEFINITE = st.sampled_from(["[*]", "[0:2]", "..a", "[?@.a]", "[0,1]", ".*"])
PATHS = st.one_of(
    STEPS.map(lambda steps: "$" + "".join(steps)),
    st.tuples(STEPS, INDEFINITE, STEPS).map(
        lambda t: "$" + "".join(t[0]) + t[1] + "".join(t[2])
    ),
)
TEMPLATES = st.recursive(
    st.one_of(SCALARS, PATHS.map(lambda p: ("path", p))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)
    ),
    max_leaves=8,
)


class Missing(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


def to_payload(template: Any) -> Any:
    """The generated template as a Parameters value (paths in ``.$`` fields)."""
    if isinstance(template, tuple):
        return template[1]
    if isinstance(template, list):
        return [
            to_payload(item) if not isinstance(item, tuple) else {"v.$": item[1]}
            for item in template
        ]
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, item in template.items():
            if isinstance(item, tuple):
                out[key + ".$"] = item[1]
            else:
                out[key] = to_payload(item)
        return out
    return template


def reference(template: Any, data: Any) -> Any:
    """A plain interpreter of payload templates, on flowmap.compile + find."""
    if isinstance(template, tuple):
        query = flowmap.compile(template[1])
        found = query.find(data)
        if query.singular:
            if not found:
                raise Missing(template[1])
            return found[0]
        return found
    if isinstance(template, list):
        return [
            {"v": reference(item, data)}
            if isinstance(item, tuple)
            else reference(item, data)
            for item in template
        ]
    if isinstance(template, dict):
        return {key: reference(item, data) for key, item in template.items()}
    return template


@PROPERTY_SETTINGS
@given(template=st.dictionaries(NAMES, TEMPLATES, max_size=4), data=JSON)
def test_payload_agrees_with_reference(template: dict[str, Any], data: Any) -> None:
    params = to_payload(template)
    try:
        expected = reference(template, data)
    except Missing as exc:
        with pytest.raises(StatesRuntimeError) as info:
            effective_input({"Parameters": params}, data)
        assert info.value.cause.startswith(f"The JSONPath '{exc.path}' specified")
        return
    got = effective_input({"Parameters": params}, data)
    assert same(got, expected)
    assert same(compile_state({"Parameters": params}).effective_input(data), expected)


RESULT_PATHS = st.one_of(
    st.none(), st.just("$"), STEPS.map(lambda steps: "$" + "".join(steps))
)


@PROPERTY_SETTINGS
@given(
    template=st.dictionaries(NAMES, TEMPLATES, max_size=3),
    raw=JSON,
    result=JSON,
    context=JSON,
    input_path=st.one_of(st.none(), st.just("$"), PATHS),
    result_path=RESULT_PATHS,
    output_path=st.one_of(st.none(), st.just("$"), PATHS),
)
def test_nothing_is_changed(
    template: dict[str, Any],
    raw: Any,
    result: Any,
    context: Any,
    input_path: str | None,
    result_path: str | None,
    output_path: str | None,
) -> None:
    state = {
        "InputPath": input_path,
        "Parameters": to_payload(template),
        "ResultSelector": {"r.$": "$", "c.$": "$$"},
        "ResultPath": result_path,
        "OutputPath": output_path,
    }
    snapshot = copy.deepcopy((state, raw, result, context))
    with contextlib.suppress(StatesRuntimeError):
        effective_input(state, raw, context=context)
    with contextlib.suppress(StatesRuntimeError):
        state_output(state, raw, result, context=context)
    assert same((state, raw, result, context), snapshot)


@PROPERTY_SETTINGS
@given(
    template=st.dictionaries(NAMES, TEMPLATES, max_size=3),
    edits=st.lists(TEMPLATES, max_size=4),
    data=JSON,
)
def test_cache_follows_edits(
    template: dict[str, Any], edits: list[Any], data: Any
) -> None:
    state: dict[str, Any] = {"Parameters": to_payload(template)}
    for i, edit in enumerate(edits):
        outcome = []
        for run in (
            lambda: effective_input(state, data),
            lambda: compile_state(copy.deepcopy(state)).effective_input(data),
        ):
            try:
                outcome.append(("ok", run()))
            except StatesRuntimeError as exc:
                outcome.append(("error", exc.cause))
        assert same(outcome[0], outcome[1])
        name = "abcde"[i % 5]
        if isinstance(edit, tuple):
            state["Parameters"][name + ".$"] = edit[1]
            state["Parameters"].pop(name, None)
        else:
            state["Parameters"][name] = to_payload(edit)
            state["Parameters"].pop(name + ".$", None)


INTRINSIC_TEXT = st.one_of(
    st.text(alphabet="States.FormatArrayHash()$.,' {}\\0123-abtrue", max_size=40),
    st.builds(
        lambda name, args: f"{name}({', '.join(args)})",
        st.sampled_from(INTRINSIC_FUNCTIONS),
        st.lists(
            st.sampled_from(
                [
                    "1",
                    "'x'",
                    "$.a",
                    "$$.b",
                    "null",
                    "true",
                    "'{}'",
                    "$.items[*]",
                    "-2.5",
                ]
            ),
            max_size=4,
        ),
    ),
)


@PROPERTY_SETTINGS
@given(text=INTRINSIC_TEXT, data=JSON, context=JSON)
def test_intrinsics_fail_only_with_flowmap_errors(
    text: str, data: Any, context: Any
) -> None:
    state = {"Parameters": {"v.$": text}}
    try:
        compiled = compile_state(state)
    except StatesDefinitionError as exc:
        syntax = exc.syntax_error
        if syntax is not None:
            assert isinstance(syntax, JSONPathSyntaxError)
            assert 0 <= syntax.position <= len(syntax.expression)
            assert syntax.expression == text
        return
    try:
        compiled.effective_input(data, context)
    except StatesRuntimeError as exc:
        assert exc.error == "States.Runtime"
        assert exc.cause


AWS_PATH_CASES = load("states_aws_paths.json")


@pytest.mark.parametrize("compiled", [False, True], ids=["module", "compiled"])
@pytest.mark.parametrize(
    "case", AWS_PATH_CASES, ids=[c["name"] for c in AWS_PATH_CASES]
)
def test_paths_as_aws_reads_them(case: dict[str, Any], compiled: bool) -> None:
    if "definition_error" in case:
        with pytest.raises(StatesDefinitionError) as info:
            run_path_case(case, compiled)
        syntax = info.value.syntax_error
        assert syntax is not None
        assert syntax.position == case["definition_error"]["position"]
        field = info.value.location
        assert field is not None
        text: Any = case["state"]
        for key in field:
            text = text[key]
        assert syntax.expression == text
    else:
        assert same(run_path_case(case, compiled), case["expected"])
    if "strict" in case:
        with pytest.raises(JSONPathSyntaxError):
            flowmap.compile(case["strict"])


PICKLED_STATES = [
    {},
    {"InputPath": "$.order", "Parameters": {"id.$": "$.id", "n": [1, {"x": None}]}},
    {"Parameters": {"tag.$": "States.Format('o-{}', $$.Execution.Id)"}},
    {"ResultSelector": {"n.$": "$.count"}, "ResultPath": "$.r", "OutputPath": "$.r"},
    {"InputPath": None, "ResultPath": None},
    {"InputPath": "$['a\\\"b']"},
]


@pytest.mark.parametrize("definition", PICKLED_STATES)
def test_compiled_state_pickles(definition: dict[str, Any]) -> None:
    import pickle

    raw = {"order": {"id": 7}, "id": 1, 'a\\"b': 2}
    context = {"Execution": {"Id": "e-1"}}
    result = {"count": 3}
    state = compile_state(definition)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        loaded = pickle.loads(pickle.dumps(state, protocol=protocol))
        assert isinstance(loaded, CompiledState)
        assert same(
            loaded.effective_input(raw, context=context),
            state.effective_input(raw, context=context),
        )
        assert same(
            loaded.state_output(raw, result, context=context),
            state.state_output(raw, result, context=context),
        )
    clear_cache()  # a pickle is compiled again from its fields
    loaded = pickle.loads(pickle.dumps(state))
    assert same(
        loaded.effective_input(raw, context=context),
        state.effective_input(raw, context=context),
    )


def test_compiled_states_run_in_worker_processes() -> None:
    import multiprocessing
    import operator
    from concurrent.futures import ProcessPoolExecutor

    state = compile_state(
        {"InputPath": "$.order", "Parameters": {"id.$": "$.id"}, "ResultPath": "$.r"}
    )
    raw = {"order": {"id": 7}}
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        shipped = pool.submit(operator.methodcaller("effective_input", raw), state)
        output = pool.submit(operator.methodcaller("state_output", raw, 5), state)
        assert shipped.result(timeout=60) == {"id": 7}
        assert output.result(timeout=60) == {"order": {"id": 7}, "r": 5}


def test_states_errors_have_public_names_and_pickle() -> None:
    import pickle

    runtime = StatesRuntimeError("States.Runtime", "cause", "detail")
    assert type(runtime).__module__ == "flowmap.states"
    assert repr(runtime) == (
        "StatesRuntimeError(error='States.Runtime', cause='cause', detail='detail')"
    )
    copy_ = pickle.loads(pickle.dumps(runtime))
    assert (copy_.error, copy_.cause, copy_.detail) == (
        "States.Runtime",
        "cause",
        "detail",
    )
    with pytest.raises(StatesDefinitionError) as info:
        compile_state({"InputPath": "$.a["})
    definition = info.value
    assert type(definition).__module__ == "flowmap.states"
    assert repr(definition).startswith(
        "StatesDefinitionError(reason=\"invalid JSONPath '$.a['\", "
        "location=('InputPath',), syntax_error=JSONPathSyntaxError("
    )
    loaded = pickle.loads(pickle.dumps(definition))
    assert str(loaded) == str(definition)
    assert loaded.syntax_error is not None
