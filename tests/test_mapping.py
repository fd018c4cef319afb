"""Tests for flowmap mappings: data-driven cases plus the behaviour around them.

The cases live in tests/data/mapping_cases.json, one per rule of the spec
language; each is run by name. A case has ``spec`` and ``data`` (and may have
``constants``, ``context`` and compile ``options``) and either ``expected``
(compared as JSON: ``1 == 1.0`` but ``true != 1``) or ``error`` with the
exception ``type`` and, optionally, the spec ``location``, the missing
``step``, the 0-based ``position`` of the syntax error and substrings the
message must contain (``message_contains``).

The plain tests below check what is not a value: the compile cache, option
checks, immutability, pickling, threads, aliasing and mutation, the
``state_data_filter`` compiler, and the errors' data and text.

A test that guards against a bug that was found and fixed carries a
``Regression:`` note saying what went wrong.
"""

from __future__ import annotations

import copy
import json
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsoncompare import containers, json_equal, same, vandalize

import flowmap
from flowmap import (
    FlowmapError,
    JSONPathSyntaxError,
    Mapping,
    MappingError,
    MissingValueError,
    apply_mapping,
    compile_filter,
    compile_mapping,
)

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "mapping_cases.json").read_text(encoding="utf-8")
)
ERRORS: dict[str, type[Exception]] = {
    "MissingValueError": MissingValueError,
    "MappingError": MappingError,
}
# The builtin each error class also derives from, so plain except clauses work.
BUILTIN_BASES: dict[str, type[Exception]] = {
    "MissingValueError": KeyError,
    "MappingError": ValueError,
}
CASE_FIELDS = {"name", "spec", "data", "constants", "context", "options"}
ERROR_FIELDS = {"type", "location", "step", "position", "message_contains"}

CONTEXT = {
    "execution_id": "6f1c2d3e-0000-4a5b-9c8d-112233445566",
    "workflow_id": "wf-7d2e",
    "project_id": "0a1b2c3d4e5f",
    "create_time": "2024-05-01T08:30:00Z",
    "headers": {"X-Request-Id": "req-42"},
}


# -- helpers ---------------------------------------------------------------


def inputs_of(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": case["data"],
        "constants": case.get("constants"),
        "context": case.get("context"),
    }


def by_name(cases: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", cases, ids=[case["name"] for case in cases])


def raises(error_type: type[Exception], call: Callable[[], Any]) -> Exception:
    with pytest.raises(error_type) as info:
        call()
    return info.value


def check_error_data(error: Exception, expected: dict[str, Any]) -> None:
    kind = expected["type"]
    assert isinstance(error, ERRORS[kind])
    assert isinstance(error, FlowmapError)
    assert isinstance(error, BUILTIN_BASES[kind])
    message = str(error)
    if "location" in expected:
        location = tuple(expected["location"])
        assert error.location == location  # type: ignore[attr-defined]
        assert isinstance(error.location, tuple)  # type: ignore[attr-defined]
        assert error.path == flowmap.errors.render_location(location)  # type: ignore[attr-defined]
        if location:
            assert f"(at {error.path} in the spec)" in message  # type: ignore[attr-defined]
    if "step" in expected:
        assert error.step == expected["step"]  # type: ignore[attr-defined]
    if "position" in expected:
        syntax = error.syntax_error  # type: ignore[attr-defined]
        assert isinstance(syntax, JSONPathSyntaxError)
        assert syntax.position == expected["position"]
        # The caret stands under the reported position.
        caret_line = str(syntax).splitlines()[-1]
        assert caret_line.index("^") - 2 == len(
            syntax.expression[: syntax.position].rsplit("\n", 1)[-1]
        )
    for fragment in expected.get("message_contains", []):
        assert fragment in message, (fragment, message)


# -- data-driven cases -----------------------------------------------------


def test_cases_are_well_formed() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 60
    for case in CASES:
        assert ("expected" in case) != ("error" in case), case["name"]
        assert set(case) - {"expected", "error"} <= CASE_FIELDS, case["name"]
        if "error" in case:
            assert set(case["error"]) <= ERROR_FIELDS, case["name"]
            assert case["error"]["type"] in ERRORS, case["name"]


@by_name(CASES)
def test_case(case: dict[str, Any]) -> None:
    spec = case["spec"]
    options = case.get("options", {})
    inputs = inputs_of(case)
    before = copy.deepcopy((spec, inputs))
    expected_error = case.get("error")

    if expected_error is not None and expected_error["type"] == "MappingError":
        error = raises(MappingError, lambda: compile_mapping(spec, **options))
        check_error_data(error, expected_error)
        # apply_mapping reports the same problem.
        again = raises(MappingError, lambda: apply_mapping(spec, **inputs, **options))
        assert str(again) == str(error)
        assert same((spec, inputs), before)
        return

    mapping = compile_mapping(spec, **options)
    assert isinstance(mapping, Mapping)
    apply = mapping.apply
    data = inputs["data"]
    kwargs = {"constants": inputs["constants"], "context": inputs["context"]}

    if expected_error is not None:
        error = raises(MissingValueError, lambda: apply(data, **kwargs))
        check_error_data(error, expected_error)
        assert same((spec, inputs), before)
        return

    result = apply(data, **kwargs)
    assert json_equal(result, case["expected"]), result
    assert same((spec, inputs), before), "an input was mutated"
    assert json_equal(apply_mapping(spec, data, **kwargs, **options), result)

    # No aliasing between applications: vandalize a result built from fresh
    # copies of the inputs, then apply again.
    fresh = copy.deepcopy(inputs)
    vandalize(
        apply(fresh["data"], constants=fresh["constants"], context=fresh["context"])
    )
    assert json_equal(apply(data, **kwargs), case["expected"])


# -- errors: types, data and text ------------------------------------------


def test_error_classes_derive_from_builtins() -> None:
    assert issubclass(MissingValueError, FlowmapError)
    assert issubclass(MissingValueError, KeyError)
    assert issubclass(MappingError, FlowmapError)
    assert issubclass(MappingError, ValueError)
    assert issubclass(JSONPathSyntaxError, ValueError)
    with pytest.raises(KeyError):
        compile_mapping({"a": "$.nope"}).apply({})
    with pytest.raises(ValueError):
        compile_mapping({"a": "$x"})


def test_missing_value_error_data_and_text() -> None:
    error = raises(
        MissingValueError,
        lambda: apply_mapping(
            {"user": [{"odd key": "$.order.user['id']"}]}, {"order": {"user": {}}}
        ),
    )
    assert isinstance(error, MissingValueError)
    assert error.expression == "$.order.user['id']"
    assert error.step == "$['order']['user']['id']"
    assert error.location == ("user", 0, "odd key")
    assert error.path == "$.user[0]['odd key']"
    text = str(error)
    assert "$.order.user['id']" in text
    assert "$['order']['user']['id']" in text
    assert "$.user[0]['odd key']" in text
    # Unlike a plain KeyError, the text is not a repr of the arguments.
    assert not text.startswith("(")


def test_mapping_error_has_caret_and_rendered_location() -> None:
    error = raises(
        MappingError, lambda: compile_mapping({"a": [0, {"b c": "$.order[?@.x ==]"}]})
    )
    assert isinstance(error, MappingError)
    assert error.location == ("a", 1, "b c")
    assert error.path == "$.a[1]['b c']"
    syntax = error.syntax_error
    assert isinstance(syntax, JSONPathSyntaxError)
    assert syntax.expression == "$.order[?@.x ==]"
    assert syntax.position == 15
    assert (syntax.line, syntax.column) == (1, 16)
    text = str(error)
    assert "(at $.a[1]['b c'] in the spec)" in text
    assert text.endswith("\n  $.order[?@.x ==]\n                 ^")


def test_syntax_error_position_counts_over_the_whole_leaf() -> None:
    leaf = "$.a | $$.b | $CONST.c["
    error = raises(MappingError, lambda: compile_mapping(leaf))
    syntax = error.syntax_error  # type: ignore[attr-defined]
    assert syntax.expression == leaf
    assert syntax.position == len(leaf)
    assert str(syntax).endswith("\n  " + leaf + "\n  " + " " * len(leaf) + "^")


def test_leading_blank_error_points_at_the_path_after_the_blank() -> None:
    error = raises(MappingError, lambda: compile_mapping({"k": "  $.a"}))
    assert error.location == ("k",)  # type: ignore[attr-defined]
    syntax = error.syntax_error  # type: ignore[attr-defined]
    assert isinstance(syntax, JSONPathSyntaxError)
    # The caret goes under the '$' the blanks hide (also right after a newline).
    assert syntax.position == 2


NON_JSON_SPECS: list[tuple[str, Any, tuple[str | int, ...]]] = [
    ("tuple-top", (1, 2), ()),
    ("tuple-nested", {"a": (1, 2)}, ("a",)),
    ("set", {"a": [1, {2}]}, ("a", 1)),
    ("frozenset", [frozenset()], (0,)),
    ("int-key", {"a": {1: "$.x"}}, ("a",)),
    ("none-key", {None: 1}, ()),
    ("nan", {"a": [float("nan")]}, ("a", 0)),
    ("infinity", {"a": float("inf")}, ("a",)),
    ("negative-infinity", [[-float("inf")]], (0, 0)),
    ("object", {"a": object()}, ("a",)),
    ("bytes", {"a": b"$.x"}, ("a",)),
    ("complex", [1j], (0,)),
]


@pytest.mark.parametrize(
    ("spec", "location"),
    [(spec, location) for _, spec, location in NON_JSON_SPECS],
    ids=[name for name, _, _ in NON_JSON_SPECS],
)
def test_non_json_spec_is_a_located_mapping_error(
    spec: Any, location: tuple[str | int, ...]
) -> None:
    error = raises(MappingError, lambda: compile_mapping(spec))
    assert isinstance(error, MappingError)
    assert error.location == location
    with pytest.raises(MappingError):
        compile_mapping(spec, on_missing="null")


def test_too_deep_spec_is_a_mapping_error() -> None:
    spec: Any = "$.a"
    for _ in range(100):
        spec = [spec]
    error = raises(MappingError, lambda: compile_mapping(spec))
    assert all(step == 0 for step in error.location)  # type: ignore[attr-defined]
    shallow: Any = "$.a | 1"
    for _ in range(40):
        shallow = {"k": shallow}
    for on_missing in ("error", "null", "omit"):
        result = compile_mapping(shallow, on_missing=on_missing).apply({})
        for _ in range(40):
            result = result["k"]
        assert result == 1


# The size limits (alternatives, spec depth, parameter key parts, long paths)
# are pinned exactly in test_limits.py.


LOCATIONS: list[tuple[str | int, ...]] = [
    ("user", 0, "id"),
    ("odd key", "it's", "back\\slash", ""),
    ("é", "0", 3),
    ("line\nbreak",),
    ("tab\there", "nul\x00"),
]


@pytest.mark.parametrize("location", LOCATIONS, ids=repr)
def test_rendered_location_is_a_jsonpath_that_selects_the_leaf(
    location: tuple[str | int, ...],
) -> None:
    # Regression (keys with control characters): render_location escaped only
    # quotes and backslashes, so MissingValueError.path / MappingError.path
    # held a raw newline or tab, which is not a JSONPath (RFC 9535 section
    # 2.3.1.1 requires control characters to be escaped), while .step was
    # escaped correctly: apply_mapping({"a\nb": "$.x"}, {}) gave a .path
    # of "$['a\nb']" with a raw newline.
    spec: Any = "$.nope"
    for step in reversed(location):
        spec = [*([0] * step), spec] if isinstance(step, int) else {step: spec}
    error = raises(MissingValueError, lambda: compile_mapping(spec).apply({}))
    assert error.location == location  # type: ignore[attr-defined]
    path = error.path  # type: ignore[attr-defined]
    assert flowmap.compile(path).find(spec) == ["$.nope"]
    bad = copy.deepcopy(spec)
    node = bad
    for step in location[:-1]:
        node = node[step]
    node[location[-1]] = "$x"
    assert raises(MappingError, lambda: compile_mapping(bad)).path == path  # type: ignore[attr-defined]


# -- options -----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"on_missing": "skip"},
        {"on_missing": None},
        {"on_missing": "ERROR"},
        {"null_as_missing": 1},
        {"null_as_missing": None},
        {"null_as_missing": "yes"},
        {"form": "list"},
        {"form": None},
    ],
    ids=repr,
)
def test_bad_option_values_are_mapping_errors(options: dict[str, Any]) -> None:
    with pytest.raises(MappingError) as info:
        compile_mapping({"a": "$.a"}, **options)
    assert next(iter(options)) in str(info.value)
    with pytest.raises(MappingError):
        apply_mapping({"a": "$.a"}, {}, **options)


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        compile_mapping({"a": "$.a"}, on_mising="null")  # type: ignore[call-arg]


def test_options_are_recorded_and_default() -> None:
    mapping = compile_mapping({"a": "$.a"})
    assert (mapping.on_missing, mapping.null_as_missing) == ("error", False)
    mapping = compile_mapping({"a": "$.a"}, on_missing="omit", null_as_missing=True)
    assert (mapping.on_missing, mapping.null_as_missing) == ("omit", True)
    assert compile_mapping([{"key": "a", "value": "$.a"}]).form == "parameters"
    assert compile_mapping({"a": "$.a"}).form == "template"


def test_apply_takes_constants_and_context_by_keyword_only() -> None:
    mapping = compile_mapping({"c": "$CONST.c", "x": "$$.x"})
    assert mapping.apply({}, constants={"c": 1}, context={"x": 2}) == {"c": 1, "x": 2}
    with pytest.raises(TypeError):
        mapping.apply({}, {"c": 1})


# -- the compile cache -----------------------------------------------------


def test_same_spec_gives_the_same_mapping() -> None:
    first = compile_mapping({"a": "$.x", "b": [1, "'c'"]})
    again = compile_mapping(json.loads('{"a": "$.x", "b": [1, "\'c\'"]}'))
    assert again is first
    assert compile_mapping({"a": "$.x"}, on_missing="omit") is compile_mapping(
        {"a": "$.x"}, on_missing="omit"
    )
    params = [{"key": "a", "value": "$.x"}]
    assert compile_mapping(params) is compile_mapping(params, form="parameters")


def test_options_and_number_types_are_part_of_the_cache_key() -> None:
    spec = {"a": "$.x"}
    mappings = {
        compile_mapping(spec),
        compile_mapping(spec, on_missing="null"),
        compile_mapping(spec, on_missing="omit"),
        compile_mapping(spec, null_as_missing=True),
        compile_mapping([spec], form="template"),
    }
    assert len(mappings) == 5
    # 1, 1.0 and true are different JSON texts and different results.
    assert same(compile_mapping({"a": 1}).apply({}), {"a": 1})
    assert same(compile_mapping({"a": 1.0}).apply({}), {"a": 1.0})
    assert same(compile_mapping({"a": True}).apply({}), {"a": True})
    assert same(compile_mapping([0]).apply({}), [0])
    assert same(compile_mapping([False]).apply({}), [False])


def test_key_order_of_the_spec_is_kept() -> None:
    forwards = compile_mapping({"a": "$.x", "b": 1})
    backwards = compile_mapping({"b": 1, "a": "$.x"})
    assert list(forwards.apply({"x": 0})) == ["a", "b"]
    assert list(backwards.apply({"x": 0})) == ["b", "a"]


def test_clear_caches_empties_the_mapping_and_filter_caches() -> None:
    mapping = compile_mapping({"a": "$.cleared"})
    data_filter = compile_filter("$.cleared")
    flowmap.clear_caches()
    fresh = compile_mapping({"a": "$.cleared"})
    assert fresh is not mapping
    assert fresh == mapping
    assert hash(fresh) == hash(mapping)
    assert fresh.apply({"cleared": 1}) == mapping.apply({"cleared": 1}) == {"a": 1}
    assert compile_filter("$.cleared") is not data_filter
    assert compile_mapping({"a": "$.cleared"}) is fresh


# -- immutability and pickling -------------------------------------------------


def test_mappings_are_immutable() -> None:
    mapping = compile_mapping({"a": "$.a"})
    for name in ("apply", "on_missing", "null_as_missing", "form", "spec", "other"):
        with pytest.raises(AttributeError):
            setattr(mapping, name, None)
    with pytest.raises(AttributeError):
        del mapping.apply
    assert not hasattr(mapping, "__dict__")
    assert mapping.apply({"a": 1}) == {"a": 1}
    assert mapping.on_missing == "error"


def test_spec_property_is_a_fresh_copy() -> None:
    mapping = compile_mapping({"a": ["$.a", {"b": 1}]})
    spec = mapping.spec
    vandalize(spec)
    assert mapping.spec == {"a": ["$.a", {"b": 1}]}
    assert mapping.apply({"a": 1}) == {"a": [1, {"b": 1}]}


PICKLE_SPECS: list[tuple[Any, dict[str, Any]]] = [
    ({"a": "$.a", "b": ["$CONST.c | 'x'", 1], "c": "$$.execution_id"}, {}),
    ({"a": "$.a", "b": "$.b"}, {"on_missing": "omit"}),
    ({"a": "$.a"}, {"on_missing": "null", "null_as_missing": True}),
    ([{"key": "u.id", "value": "$.a", "default": {"k": [1]}}], {}),
    ([{"key": "u.id", "value": "$.a"}], {"form": "template"}),
    ("$.a[*]", {}),
    (7, {}),
]


@pytest.mark.parametrize(("spec", "options"), PICKLE_SPECS, ids=repr)
def test_pickle_round_trip(spec: Any, options: dict[str, Any]) -> None:
    mapping = compile_mapping(spec, **options)
    data = {"a": None, "b": 2}
    constants = {"c": "const"}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        text = pickle.dumps(mapping, protocol=protocol)
        loaded = pickle.loads(text)
        assert loaded == mapping
        assert hash(loaded) == hash(mapping)
        assert (loaded.on_missing, loaded.null_as_missing, loaded.form) == (
            mapping.on_missing,
            mapping.null_as_missing,
            mapping.form,
        )
        flowmap.clear_caches()
        rebuilt = pickle.loads(text)  # compiled again from scratch
        assert rebuilt == mapping
        for candidate in (loaded, rebuilt):
            assert same(
                candidate.apply(data, constants=constants, context=CONTEXT),
                mapping.apply(data, constants=constants, context=CONTEXT),
            )


def test_pickle_keeps_errors_usable() -> None:
    mapping = pickle.loads(pickle.dumps(compile_mapping({"x": {"y": "$.a.b"}})))
    error = raises(MissingValueError, lambda: mapping.apply({"a": {}}))
    assert error.location == ("x", "y")  # type: ignore[attr-defined]
    assert error.step == "$['a']['b']"  # type: ignore[attr-defined]


# -- aliasing and mutation -------------------------------------------------------


ALIASING_SPECS: list[tuple[Any, dict[str, Any]]] = [
    ({"lit": {"k": [1, {"deep": []}]}, "list": [[], {}]}, {}),
    ([[1, [2, [3]]]], {}),
    ({"d": "$.nope | 'x'", "lit": [{"a": []}]}, {"on_missing": "omit"}),
    (
        [
            {"key": "a", "value": "$.nope", "default": {"k": [1, {"l": []}]}},
            {"key": "b.c", "value": "$.nope", "default": [[]]},
            {"key": "b.d", "value": "$.nope2", "default": {"k": [1, {"l": []}]}},
        ],
        {},
    ),
    ([{"key": "a", "value": {"x": [], "y": "$.nope"}}], {"on_missing": "null"}),
]


@pytest.mark.parametrize(("spec", "options"), ALIASING_SPECS, ids=repr)
def test_results_never_alias_the_spec(spec: Any, options: dict[str, Any]) -> None:
    mapping = compile_mapping(spec, **options)
    expected = mapping.apply({})
    first = mapping.apply({})
    # Two applications never share a container, nor do parts of one result.
    ids = [id(node) for node in containers(first)]
    assert len(ids) == len(set(ids))
    assert not set(ids) & {id(node) for node in containers(expected)}
    vandalize(first)
    assert same(mapping.apply({}), expected)
    assert same(compile_mapping(spec, **options).apply({}), expected)
    assert same(mapping.spec, spec)


def test_defaults_and_literals_are_not_shared_between_keys() -> None:
    default = {"k": [1]}
    mapping = compile_mapping(
        [
            {"key": "a", "value": "$.a", "default": default},
            {"key": "b", "value": "$.b", "default": default},
        ]
    )
    result = mapping.apply({})
    assert result["a"] == result["b"] == default
    assert result["a"] is not result["b"]
    assert result["a"]["k"] is not result["b"]["k"]
    result["a"]["k"].append(2)
    assert mapping.apply({}) == {"a": default, "b": default}
    assert default == {"k": [1]}


def test_spec_object_is_not_kept_by_reference() -> None:
    spec: dict[str, Any] = {"a": {"b": [1]}, "c": "$.c | 'x'"}
    mapping = compile_mapping(spec)
    spec["a"]["b"].append(2)  # mutate the caller's spec after compiling
    assert mapping.apply({}) == {"a": {"b": [1]}, "c": "x"}


MUTATION_SPECS: list[Any] = [
    {"a": "$.a", "all": "$", "c": "$CONST", "x": "$$", "n": "$.list[*]"},
    {"deep": "$..v", "f": "$.list[?@.v > 1]", "s": "$.list[::-1]"},
    [{"key": "a.b", "value": "$.a", "default": []}, {"key": "c", "value": "$$.h"}],
    {"gone": "$.nope", "gone2": "$CONST.nope", "kept": "$.a"},
]


@pytest.mark.parametrize("spec", MUTATION_SPECS, ids=repr)
@pytest.mark.parametrize("on_missing", ["null", "omit"])
@pytest.mark.parametrize("null_as_missing", [False, True])
def test_inputs_are_never_mutated(
    spec: Any, on_missing: str, null_as_missing: bool
) -> None:
    data = {"a": {"x": [1]}, "list": [{"v": 1}, {"v": 2}, None], "z": None}
    constants = {"c": [1, 2], "region": "cn-north-4"}
    context = copy.deepcopy(CONTEXT)
    before = copy.deepcopy((spec, data, constants, context))
    mapping = compile_mapping(
        spec, on_missing=on_missing, null_as_missing=null_as_missing
    )
    mapping.apply(data, constants=constants, context=context)
    apply_mapping(
        spec,
        data,
        constants=constants,
        context=context,
        on_missing=on_missing,
        null_as_missing=null_as_missing,
    )
    assert same((spec, data, constants, context), before)


# -- threads ---------------------------------------------------------------------


def test_compiling_and_applying_from_many_threads() -> None:
    threads_count = 8
    rounds = 40
    data: dict[str, Any] = {
        "order": {"id": "o-1", "items": [{"sku": "a"}, {"sku": "b"}]},
        "n": None,
    }
    constants = {"region": "cn-north-4"}

    def spec_for(i: int) -> Any:
        # Half of the specs are shared by every thread, half are per thread.
        return {
            "id": "$.order.id",
            "skus": "$.order.items[*].sku",
            "region": "$CONST.region | 'x'",
            "exec": "$$.execution_id",
            "n": f"$.n{i % 4} | {i}",
            "lit": {"k": [i]},
        }

    def expected_for(i: int) -> Any:
        return {
            "id": "o-1",
            "skus": ["a", "b"],
            "region": "cn-north-4",
            "exec": CONTEXT["execution_id"],
            "n": i,
            "lit": {"k": [i]},
        }

    shared = compile_mapping(spec_for(0))
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for round_ in range(rounds):
                i = round_ % 2 * thread * 1000 + round_
                if thread == 0 and round_ % 10 == 5:
                    flowmap.clear_caches()
                mapping = compile_mapping(spec_for(i))
                assert mapping == compile_mapping(spec_for(i))
                result = mapping.apply(data, constants=constants, context=CONTEXT)
                assert result == expected_for(i)
                result["lit"]["k"].append("mine")  # must not leak to others
                assert shared.apply(
                    data, constants=constants, context=CONTEXT
                ) == expected_for(0)
                with pytest.raises(MissingValueError):
                    shared.apply(data, constants=constants)
                assert compile_filter("$.order.id").apply(data) == "o-1"
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]
    assert same(data["order"]["items"], [{"sku": "a"}, {"sku": "b"}])


# -- state data filters -------------------------------------------------------


@pytest.mark.parametrize("expression", ["", "$"])
def test_filter_whole_document_is_the_same_object(expression: str) -> None:
    data = {"a": [1]}
    assert compile_filter(expression).apply(data) is data
    assert compile_filter(expression).apply(None) is None
    assert compile_filter(expression).apply([1, 2]) == [1, 2]


def test_filter_singular_path_gives_its_value() -> None:
    data = {"order": {"id": 1, "note": None, "items": [{"sku": "a"}]}}
    assert compile_filter("$.order").apply(data) == {
        "id": 1,
        "note": None,
        "items": [{"sku": "a"}],
    }
    assert compile_filter("$.order.items[0].sku").apply(data) == "a"
    assert compile_filter("$['order']['items'][-1]").apply(data) == {"sku": "a"}
    assert compile_filter("$.order.note").apply(data) is None


def test_filter_singular_path_selecting_nothing_raises() -> None:
    data_filter = compile_filter("$.order.user.id")
    error = raises(MissingValueError, lambda: data_filter.apply({"order": {}}))
    assert isinstance(error, KeyError)
    assert isinstance(error, FlowmapError)
    assert error.expression == "$.order.user.id"  # type: ignore[attr-defined]
    assert error.step == "$['order']['user']"  # type: ignore[attr-defined]
    assert error.location is None  # type: ignore[attr-defined]  # not in a spec
    assert "$.order.user.id" in str(error)
    assert "$['order']['user']" in str(error)
    with pytest.raises(MissingValueError):
        compile_filter("$[0]").apply([])


def test_filter_non_singular_path_gives_a_list() -> None:
    data = {"items": [{"sku": "a", "n": 1}, {"sku": "b", "n": 3}]}
    assert compile_filter("$.items[*].sku").apply(data) == ["a", "b"]
    assert compile_filter("$.items[?@.n > 2].sku").apply(data) == ["b"]
    assert compile_filter("$..sku").apply(data) == ["a", "b"]
    assert compile_filter("$.items[0:1]").apply(data) == [{"sku": "a", "n": 1}]
    assert compile_filter("$.items[?@.n > 9]").apply(data) == []
    assert compile_filter("$.nothing[*]").apply(data) == []


def test_filter_does_not_mutate_and_is_reusable() -> None:
    data = {"items": [{"sku": "a"}], "x": {"y": [1]}}
    before = copy.deepcopy(data)
    data_filter = compile_filter("$.items[*]")
    first = data_filter.apply(data)
    first.append("vandal")
    assert data_filter.apply(data) == [{"sku": "a"}]
    compile_filter("$.x").apply(data)
    assert data == before


@pytest.mark.parametrize(
    ("expression", "position"),
    [("$.a[", 4), ("$x", 1), ("a.b", 0), ("$.a | 'x'", 4), ("$CONST.a", 1)],
)
def test_filter_syntax_errors(expression: str, position: int) -> None:
    error = raises(MappingError, lambda: compile_filter(expression))
    assert isinstance(error, ValueError)
    syntax = error.syntax_error  # type: ignore[attr-defined]
    assert isinstance(syntax, JSONPathSyntaxError)
    assert syntax.position == position
    assert expression in str(error)
    assert str(error).rstrip().endswith("^")


@pytest.mark.parametrize("expression", [3, None, b"$.a", ["$.a"], {"$": 1}], ids=repr)
def test_filter_of_a_non_string_is_a_flowmap_error(expression: Any) -> None:
    # Regression: compile_filter was an lru_cache, so an unhashable argument
    # (a list or dict) raised a bare TypeError("unhashable type") before
    # DataFilter could turn it into a MappingError, while 3 or None gave one.
    with pytest.raises(FlowmapError):
        compile_filter(expression)


def test_filters_are_cached_immutable_and_picklable() -> None:
    data_filter = compile_filter("$.a.b")
    assert compile_filter("$.a.b") is data_filter
    with pytest.raises(AttributeError):
        data_filter.expression = "$"
    with pytest.raises(AttributeError):
        data_filter.other = 1
    for expression in ("", "$", "$.a.b", "$..b"):
        loaded = pickle.loads(pickle.dumps(compile_filter(expression)))
        assert loaded.expression == expression
        document = {"a": {"b": 2}}
        assert loaded.apply(document) == compile_filter(expression).apply(document)
