"""Tests for flow definitions: load_definition, the model, DefinitionError.

The cases live in tests/data/flow_definitions.json. ``base`` is a valid
three-state flow. A ``good`` case gives a ``definition`` (or ``"base"``) that
must load, round-trip through ``to_json`` and pickle, and, when given, equal
the ``normalised`` body. A ``bad`` case is the base with ``set`` (JSONPath ->
new value, placed with flowmap.place) and ``delete`` (key paths) applied, or
its own ``definition``; it lists **every** problem the definition has, in the
order DefinitionError reports them: ``[location, message substring]`` and,
for a bad expression, the expression and the 0-based caret position.

The plain tests below check what is not a case: immutability, no aliasing
with the caller's object, non-JSON values, the SDK's own models, the text of
the error, and hypothesis properties (only DefinitionError ever escapes;
to_json is a fixed point).
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsoncompare import same

import flowmap
from flowmap.flows import (
    Definition,
    DefinitionError,
    OperationState,
    Problem,
    SleepState,
    load_definition,
)

DATA = json.loads(
    (Path(__file__).parent / "data" / "flow_definitions.json").read_text(
        encoding="utf-8"
    )
)
BASE: dict[str, Any] = DATA["base"]
GOOD: list[dict[str, Any]] = DATA["good"]
BAD: list[dict[str, Any]] = DATA["bad"]
URN = "urn:fss:cn-north-4:0123456789abcdef:function:default:"


def _definition(case: dict[str, Any]) -> Any:
    if "definition" in case:
        return copy.deepcopy(
            BASE if case["definition"] == "base" else case["definition"]
        )
    doc: Any = copy.deepcopy(BASE)
    for path, value in case.get("set", {}).items():
        doc = flowmap.place(doc, path, value)
    for keys in case.get("delete", []):
        parent = doc
        for key in keys[:-1]:
            parent = parent[key]
        del parent[keys[-1]]
    return doc


@pytest.mark.parametrize("case", GOOD, ids=[c["name"] for c in GOOD])
def test_good_definition(case: dict[str, Any]) -> None:
    doc = _definition(case)
    definition = load_definition(doc)
    body = definition.to_json()
    if "normalised" in case:
        assert same(body, case["normalised"]), body
    again = load_definition(body)
    assert again == definition
    assert same(again.to_json(), body)
    unpickled = pickle.loads(pickle.dumps(definition))
    assert unpickled == definition
    assert same(unpickled.to_json(), body)
    assert doc == _definition(case), "load_definition changed its argument"


@pytest.mark.parametrize("case", BAD, ids=[c["name"] for c in BAD])
def test_bad_definition(case: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(_definition(case))
    problems = info.value.problems
    got = [p.location for p in problems]
    want = [expected[0] for expected in case["problems"]]
    assert got == want, str(info.value)
    for problem, expected in zip(problems, case["problems"]):
        assert expected[1] in problem.message, str(problem)
        if len(expected) > 2:
            assert (problem.expression, problem.position) == tuple(expected[2:])
            assert f"\n    {problem.expression}\n" in str(problem)
        else:
            assert problem.expression is None and problem.position is None
        assert problem.location in str(info.value)


def test_case_names_are_unique() -> None:
    names = [case["name"] for case in GOOD + BAD]
    assert len(names) == len(set(names))


# --- the model ---------------------------------------------------------------


def test_model_fields() -> None:
    d = load_definition(BASE)
    assert (d.name, d.start, d.mode, d.description) == (
        "order-flow",
        "check",
        "NORMAL",
        "checks an order, waits, then bills it",
    )
    check = d.state("check")
    assert isinstance(check, OperationState)
    assert check.type == "Operation" and not check.end and check.transition == "wait"
    assert check.action_mode == "sequential"
    assert check.input_filter is None, "'$' is the whole data: None"
    assert check.output_filter is not None
    assert check.output_filter.apply({"checked": [1]}) == [1]
    (action,) = check.actions
    assert action.function_ref.ref_name == "check"
    assert action.function_ref.invoke_mode == "sync"
    assert action.mapping is not None
    assert action.mapping.apply(
        {"order": {"user": {"id": 7}}}, constants=d.constants
    ) == {"user": 7, "region": "cn-north-1"}
    assert check.on_errors[0].error == "*"
    assert check.on_errors[0].retry_ref == "twice"
    assert check.on_errors[0].transition == "bill"
    wait = d.state("wait")
    assert isinstance(wait, SleepState)
    assert (wait.type, wait.duration, wait.transition) == ("Sleep", 5, "bill")
    bill = d.state("bill")
    assert isinstance(bill, OperationState)
    assert bill.end and bill.transition is None and bill.action_mode == "parallel"
    assert (
        bill.actions[1].mapping is None
        and bill.actions[1].function_ref.arguments is None
    )
    assert bill.actions[0].mapping is not None
    assert bill.actions[0].mapping.form == "parameters"
    assert d.function("bill").operation == URN + "bill"
    assert d.function("bill").metadata == {"team": "billing"}
    assert d.function("check").metadata is None
    assert d.retry("twice").delay == 2 and d.retry("twice").max_attempts == 2
    for lookup in (d.state, d.function, d.retry):
        with pytest.raises(KeyError):
            lookup("nope")


def test_immutable_and_no_shared_mutable_objects() -> None:
    doc = copy.deepcopy(BASE)
    d = load_definition(doc)
    with pytest.raises(AttributeError):
        d.name = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        d.states[0].id = "x"  # type: ignore[misc]
    # The caller's object and the definition share nothing.
    doc["constants"]["region"] = "changed"
    doc["states"][0]["actions"][0]["function_ref"]["arguments"]["user"] = "$.other"
    assert d.constants["region"] == "cn-north-1"
    assert d.states[0].actions[0].function_ref.arguments["user"] == "$.order.user.id"
    # Every read is a fresh copy.
    d.constants["limits"]["max"] = 0
    d.function("bill").metadata["team"] = "x"
    d.to_json()["constants"]["region"] = "x"
    d.states[0].actions[0].function_ref.arguments["user"] = "x"
    assert d.to_json() == load_definition(BASE).to_json()
    assert d.constants is not d.constants


def test_definitions_are_hashable_and_compare_by_content() -> None:
    a, b = load_definition(BASE), load_definition(copy.deepcopy(BASE))
    assert a == b and hash(a) == hash(b)
    changed = load_definition(flowmap.place(BASE, "$.states[1].duration", 6))
    assert changed != a


def test_states_pickle_on_their_own() -> None:
    d = load_definition(BASE)
    for state in d.states:
        again = pickle.loads(pickle.dumps(state))
        assert again == state and again.to_json() == state.to_json()
    op = d.state("check")
    assert isinstance(op, OperationState)
    again = pickle.loads(pickle.dumps(op))
    assert isinstance(again, OperationState)
    assert again.actions[0].mapping == op.actions[0].mapping


def test_integral_float_attempts_become_int() -> None:
    doc = flowmap.place(BASE, "$.retries[0].max_attempts", 2.0)
    attempts = load_definition(doc).retry("twice").max_attempts
    assert attempts == 2 and type(attempts) is int


def test_accepts_any_mapping_and_tuples() -> None:
    from types import MappingProxyType

    doc = copy.deepcopy(BASE)
    doc["states"] = tuple(MappingProxyType(state) for state in doc["states"])
    assert load_definition(MappingProxyType(doc)) == load_definition(BASE)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "nan is not a JSON number"),
        (float("inf"), "inf is not a JSON number"),
        ({1, 2}, "set is not a JSON value"),
        (object(), "object is not a JSON value"),
        ({1: "a"}, "object keys must be strings, not 1"),
    ],
)
def test_values_that_are_not_json(value: Any, message: str) -> None:
    doc = copy.deepcopy(BASE)
    doc["constants"]["odd"] = value
    with pytest.raises(DefinitionError) as info:
        load_definition(doc)
    (problem,) = info.value.problems
    assert problem.location == "$.constants.odd"
    assert message in problem.message


@pytest.mark.parametrize("value", [None, 1, "x", [], ["a"]])
def test_not_an_object(value: Any) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(value)
    assert [p.location for p in info.value.problems] == ["$"]


@pytest.mark.parametrize(
    ("where", "count", "location", "message"),
    [
        ("functions", 1001, "$.functions", "at most 1000 items, not 1001"),
        ("retries", 101, "$.retries", "at most 100 items, not 101"),
        ("states", 5000, "$.states", "at most 100 items, not 5000"),
        ("actions", 101, "$.states[0].actions", "at most 100 items, not 101"),
        ("on_errors", 101, "$.states[0].on_errors", "at most 100 items, not 101"),
        ("all actions", 10, "$.states", "at most 1000 actions in all, not 1002"),
    ],
)
def test_list_bounds_are_checked_first(
    where: str, count: int, location: str, message: str
) -> None:
    doc = copy.deepcopy(BASE)
    doc["start"] = "nowhere"  # not reported: the other checks are skipped
    if where in ("functions", "retries", "states"):
        doc[where] = [copy.deepcopy(doc[where][0]) for _ in range(count)]
    elif where == "all actions":
        state = doc["states"][0]
        state["actions"] = state["actions"] * 100
        doc["states"] = [dict(state, id=f"s{i}") for i in range(10)] + doc["states"][1:]
    else:
        state = doc["states"][0]
        state[where] = [copy.deepcopy(state[where][0]) for _ in range(count)]
    with pytest.raises(DefinitionError) as info:
        load_definition(doc)
    (problem,) = info.value.problems
    assert problem.location == location
    assert message in problem.message and "other checks were skipped" in problem.message


def test_too_deep() -> None:
    deep: Any = "x"
    for _ in range(400):
        deep = [deep]
    doc = copy.deepcopy(BASE)
    doc["constants"]["deep"] = deep
    with pytest.raises(DefinitionError) as info:
        load_definition(doc)
    assert "nested deeper than" in info.value.problems[0].message


def test_error_text_and_data() -> None:
    doc = flowmap.place(BASE, "$.states[0].state_data_filter.input", "$.a[")
    doc = flowmap.place(doc, "$.start", "nope")
    with pytest.raises(DefinitionError) as info:
        load_definition(doc)
    err = info.value
    assert isinstance(err, flowmap.FlowmapError) and isinstance(err, ValueError)
    assert str(err) == (
        "the flow definition has 2 problems:\n"
        "  $.start: no state has the id 'nope'\n"
        "  $.states[0].state_data_filter.input: invalid data filter '$.a[': "
        "expected a selector, found end of expression\n"
        "      $.a[\n"
        "          ^"
    )
    assert err.problems[1].to_json() == {
        "location": "$.states[0].state_data_filter.input",
        "message": "invalid data filter '$.a[': expected a selector, found end of "
        "expression",
        "expression": "$.a[",
        "position": 4,
    }
    assert err.problems[1].parts == ("states", 0, "state_data_filter", "input")
    assert "Problem(" in repr(err)
    again = pickle.loads(pickle.dumps(err))
    assert again.problems == err.problems


def test_problem_is_data() -> None:
    p = Problem(("states", 1, "odd key"), "bad", "$.x[", 3)
    assert p.location == "$.states[1]['odd key']"
    assert str(p) == "$.states[1]['odd key']: bad\n    $.x[\n       ^"


def test_the_shipped_schema_is_a_valid_schema() -> None:
    import importlib.resources

    import jsonschema

    text = (
        importlib.resources.files("flowmap")
        .joinpath("schemas/flow.schema.json")
        .read_text(encoding="utf-8")
    )
    schema = json.loads(text)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert jsonschema.Draft202012Validator(schema).is_valid(BASE)


def test_import_does_not_load_jsonschema() -> None:
    import subprocess
    import sys

    code = "import sys, flowmap.flows, flowmap.api; print('jsonschema' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- the SDK's own models ----------------------------------------------------


def _sdk_body() -> Any:
    model = pytest.importorskip("huaweicloudsdkfunctiongraph.v2.model")
    return model.WorkflowCreateBody(
        name="sdk-flow",
        start="a",
        functions=[model.Function(name="f", operation=URN + "f:latest")],
        states=[
            model.OperationState(
                id="a",
                name="A",
                type="Operation",
                end=False,
                transition="b",
                action_mode="parallel",
                actions=[
                    model.Action(
                        function_ref=model.FunctionRef(
                            ref_name="f",
                            invoke_mode="sync",
                            arguments={"x": "$.y | $CONST.y"},
                        )
                    )
                ],
                on_errors=[model.OnError(error="*", retry_ref="r", transition="b")],
                state_data_filter=model.StateDataFilter(input="$", output="$.out"),
            ),
            model.OperationState(id="b", name="B", type="Sleep", end=True, duration=3),
        ],
        constants={"y": 1},
        retries=[model.Retry(name="r", delay=2, max_attempts=4)],
        mode="EXPRESS",
    )


@pytest.mark.parametrize("how", ["to_dict", "sanitize_for_serialization"])
def test_sdk_models_load(how: str) -> None:
    body = _sdk_body()
    if how == "to_dict":
        doc = body.to_dict()
    else:
        from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization

        doc = sanitize_for_serialization(body)
    d = load_definition(doc)
    assert d.mode == "EXPRESS" and d.retry("r").max_attempts == 4
    op = d.state("a")
    assert isinstance(op, OperationState) and op.action_mode == "parallel"
    assert d.state("b").type == "Sleep"
    # And our normalised body reads back into the SDK's model unchanged.
    model = pytest.importorskip("huaweicloudsdkfunctiongraph.v2.model")
    states = [
        model.OperationState(
            **{
                **s,
                "actions": [
                    model.Action(function_ref=model.FunctionRef(**a["function_ref"]))
                    for a in s.get("actions", ())
                ]
                or None,
            }
        )
        for s in d.to_json()["states"]
    ]
    assert [s.id for s in states] == ["a", "b"]


# --- properties --------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "name", "start", "states", "functions", "constants", "retries", "mode",
        "id", "type", "end", "transition", "actions", "on_errors", "duration",
        "function_ref", "ref_name", "arguments", "state_data_filter", "input",
        "error", "retry_ref", "delay", "max_attempts", "action_mode",
    ]
)  # fmt: skip
FLOWISH = st.recursive(
    JSON,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5)
    ),
    max_leaves=30,
)


def _only_definition_errors(doc: Any) -> Definition | None:
    try:
        return load_definition(doc)
    except DefinitionError as err:
        assert err.problems
        for problem in err.problems:
            assert problem.location.startswith("$") and problem.message
            if problem.position is not None:
                assert problem.expression is not None
                assert 0 <= problem.position <= len(problem.expression)
        str(err)
        return None


@settings(max_examples=200, deadline=None)
@given(FLOWISH)
def test_arbitrary_json_gives_a_definition_or_definition_error(doc: Any) -> None:
    _only_definition_errors(doc)


def _paths(doc: Any, prefix: str = "$") -> list[str]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, f"{prefix}['{key}']"))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(_paths(value, f"{prefix}[{i}]"))
    return out


BASE_PATHS = _paths(BASE)[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASE_PATHS), JSON)
def test_mutated_base_gives_a_definition_or_definition_error(
    path: str, value: Any
) -> None:
    definition = _only_definition_errors(flowmap.place(BASE, path, value))
    if definition is not None:
        body = definition.to_json()
        assert same(load_definition(body).to_json(), body)


IDS = st.text(alphabet="abcxyz-_1", min_size=1, max_size=6)
EXPRESSIONS = st.sampled_from(
    ["$.a", "$.a.b[0]", "$..x", "$[?@.n > 1]", "$CONST.c", "$$.execution_id", "$.a | 0"]
)
# Literal leaves: text that starts with neither '$' nor a quote.
LITERALS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="ab c-", max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
FILTERS = st.sampled_from(["", "$", "$.a", "$.a.b[0]", "$..x", "$[?@.n > 1]"])


@st.composite
def definitions(draw: Callable[..., Any]) -> dict[str, Any]:
    """Valid definitions: a chain of states, each Operation or Sleep."""
    ids = draw(st.lists(IDS, min_size=1, max_size=6, unique=True))
    functions = draw(st.lists(IDS, min_size=1, max_size=3, unique=True))
    retries = draw(st.lists(IDS, max_size=2, unique=True))
    states = []
    for n, sid in enumerate(ids):
        state: dict[str, Any] = {
            "id": sid,
            "name": draw(st.text(min_size=1, max_size=5)),
        }
        if n + 1 < len(ids):
            state["transition"] = ids[n + 1]
        else:
            state["end"] = True
        if draw(st.booleans()):
            state.update(type="Sleep", duration=draw(st.integers(0, 300)))
        else:
            state["type"] = "Operation"
            state["actions"] = [
                {
                    "function_ref": {
                        "ref_name": draw(st.sampled_from(functions)),
                        **(
                            {"arguments": {"v": draw(EXPRESSIONS), "k": draw(LITERALS)}}
                            if draw(st.booleans())
                            else {}
                        ),
                    }
                }
                for _ in range(draw(st.integers(1, 3)))
            ]
            if draw(st.booleans()):
                state["action_mode"] = draw(st.sampled_from(["sequential", "parallel"]))
            if retries and draw(st.booleans()):
                state["on_errors"] = [
                    {"error": "*", "retry_ref": draw(st.sampled_from(retries))}
                ]
            if draw(st.booleans()):
                state["state_data_filter"] = {"output": draw(FILTERS)}
        states.append(state)
    doc: dict[str, Any] = {
        # (No NUL: a name is stored as text, which PostgreSQL refuses NUL in.)
        "name": draw(
            st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=64)
        ),
        "start": ids[0],
        "functions": [{"name": f, "operation": URN + f} for f in functions],
        "states": states,
        "constants": {"c": draw(JSON)},
        "retries": [{"name": r, "delay": draw(st.integers(0, 10))} for r in retries],
    }
    if draw(st.booleans()):
        doc["mode"] = draw(st.sampled_from(["NORMAL", "EXPRESS"]))
    return doc


@settings(max_examples=150, deadline=None)
@given(definitions())
def test_to_json_is_a_fixed_point(doc: dict[str, Any]) -> None:
    definition = load_definition(doc)
    body = definition.to_json()
    again = load_definition(body)
    assert again == definition
    assert same(again.to_json(), body)
    assert pickle.loads(pickle.dumps(definition)) == definition
    assert [s.id for s in definition.states] == [s["id"] for s in doc["states"]]
