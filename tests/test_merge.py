"""Tests for flowmap.merging: data-driven cases plus hypothesis properties.

The cases live in tests/data/merge_cases.json. The properties guard what a
list of cases cannot: identities, associativity, agreement with the
json_merge_patch package, no mutation and no aliasing.
"""

from __future__ import annotations

import copy as copy_module
import doctest
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json_merge_patch  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsoncompare import containers, json_equal, same

from flowmap.errors import (
    FlowmapError,
    JSONPathSyntaxError,
    MergeError,
    MergeOptionError,
)
from flowmap.jsonpath.query import compile as compile_query
from flowmap.merging import merge, parse_merge_header, place

CASES = json.loads(
    (Path(__file__).parent / "data" / "merge_cases.json").read_text(encoding="utf-8")
)
ERRORS: dict[str, type[Exception]] = {
    "MergeError": MergeError,
    "MergeOptionError": MergeOptionError,
    "JSONPathSyntaxError": JSONPathSyntaxError,
}
# The builtin each error class also derives from, so plain except clauses work.
BUILTIN_BASES: dict[str, type[Exception]] = {
    "MergeError": TypeError,
    "MergeOptionError": ValueError,
    "JSONPathSyntaxError": ValueError,
}
OPTIONS = ("strategy", "arrays", "wrap_key")
DEEP = 10_000

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- helpers ---------------------------------------------------------------


def shares_container(result: Any, *inputs: Any) -> bool:
    # The inputs stay alive for the whole check, so their ids cannot be reused.
    ids = {id(node) for value in inputs for node in containers(value)}
    return any(id(node) in ids for node in containers(result))


def nested(depth: int, leaf: Any, key: str = "k") -> dict[str, Any]:
    """Build {key: {key: ... leaf}} ``depth`` levels deep, iteratively."""
    document: Any = leaf
    for _ in range(depth):
        document = {key: document}
    return document  # type: ignore[no-any-return]


def depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, dict) and value:
        value = next(iter(value.values()))
        depth += 1
    return depth


def options_of(case: dict[str, Any]) -> dict[str, Any]:
    return {name: case[name] for name in OPTIONS if name in case}


def check_error(case: dict[str, Any], call: Callable[[], Any]) -> None:
    error_type = ERRORS[case["error"]]
    with pytest.raises(error_type) as info:
        call()
    assert isinstance(info.value, FlowmapError)
    assert isinstance(info.value, BUILTIN_BASES[case["error"]])
    message = str(info.value)
    for fragment in case["error_contains"]:
        assert fragment in message


def by_name(cases: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", cases, ids=[case["name"] for case in cases])


# -- data-driven cases -----------------------------------------------------


def test_case_names_are_unique() -> None:
    names = [
        case["name"]
        for section in ("merge", "parse_merge_header", "place")
        for case in CASES[section]
    ]
    assert len(names) == len(set(names))


def test_rfc7396_appendix_a_is_complete() -> None:
    names = {case["name"] for case in CASES["merge"]}
    assert {f"rfc7396-appendix-a-{n:02d}" for n in range(1, 16)} <= names


@by_name(CASES["merge"])
def test_merge_case(case: dict[str, Any]) -> None:
    previous, next_ = case["previous"], case["next"]
    before = copy_module.deepcopy((previous, next_))
    options = options_of(case)
    if "error" in case:
        check_error(case, lambda: merge(previous, next_, **options))
    else:
        result = merge(previous, next_, **options)
        assert same(result, case["expected"])
        # The returned container is always new, even for a non-object patch.
        assert not any(
            result is value
            for value in (previous, next_)
            if isinstance(value, (dict, list))
        )
        copied = merge(previous, next_, copy=True, **options)
        assert same(copied, case["expected"])
        assert not shares_container(copied, previous, next_)
    assert same((previous, next_), before)


@by_name(CASES["parse_merge_header"])
def test_parse_merge_header_case(case: dict[str, Any]) -> None:
    if "error" in case:
        check_error(case, lambda: parse_merge_header(case["value"]))
    else:
        assert parse_merge_header(case["value"]) is case["expected"]


@by_name(CASES["place"])
def test_place_case(case: dict[str, Any]) -> None:
    document = case["document"]
    before = copy_module.deepcopy(document)
    if "error" in case:
        check_error(case, lambda: place(document, case["path"], case["value"]))
    else:
        result = place(document, case["path"], case["value"])
        assert same(result, case["expected"])
        # A compiled query works the same as its text.
        again = place(document, compile_query(case["path"]), case["value"])
        assert same(again, case["expected"])
    assert same(document, before)


# -- errors carry data -----------------------------------------------------


def test_merge_error_details() -> None:
    with pytest.raises(MergeError) as info:
        merge([1], {"a": 1}, strategy="deep")
    error = info.value
    assert (error.side, error.previous_type, error.next_type, error.strategy) == (
        "previous_output",
        "array",
        "object",
        "deep",
    )
    assert (error.path, error.step) == (None, None)  # no place: not a place()
    with pytest.raises(TypeError):
        merge({}, "s")
    with pytest.raises(MergeError) as info:
        merge(1, "s")
    assert info.value.side == "both"


def test_place_error_details() -> None:
    with pytest.raises(MergeError) as info:
        place({"a": {"b": "s"}}, "$.a.b.c.d", 1)
    error = info.value
    assert (error.path, error.step) == ("$['a']['b']['c']['d']", "$['a']['b']['c']")
    assert error.side is None
    with pytest.raises(MergeError) as info:
        place({}, "$.a[*]", 1)
    assert info.value.path == "$['a'][*]"
    assert info.value.step is None


def test_merge_option_error_data() -> None:
    with pytest.raises(ValueError) as info:
        merge({}, {}, strategy="nope")  # type: ignore[arg-type]
    error = info.value
    assert isinstance(error, MergeOptionError)
    assert (error.option, error.value) == ("strategy", "nope")
    assert error.allowed == ("shallow", "deep", "merge-patch")


def test_non_json_value_is_named_by_its_python_type() -> None:
    with pytest.raises(MergeError, match="non-JSON set"):
        merge({1}, {})


def test_place_error_names_the_step() -> None:
    with pytest.raises(MergeError) as info:
        place({"a": [1]}, "$.a[3]", 0)
    assert info.value.step == "$['a'][3]"


# -- sharing, as docs/merge.md documents it --------------------------------


def test_shallow_shares_member_values() -> None:
    previous = {"a": {"x": 1}, "b": [1]}
    next_ = {"b": [2], "c": {"y": 2}}
    result = merge(previous, next_)
    assert result["a"] is previous["a"]
    assert result["b"] is next_["b"]
    assert result["c"] is next_["c"]


def test_deep_copies_only_objects_present_on_both_sides() -> None:
    previous: Any = {"a": {"keep": {"x": 1}, "arr": [1]}, "only_previous": {"p": 1}}
    next_: Any = {"a": {"new": {"y": 1}, "arr": [2]}, "only_next": [3]}
    result = merge(previous, next_, strategy="deep")
    assert result["a"] is not previous["a"]
    assert result["a"]["keep"] is previous["a"]["keep"]
    assert result["a"]["new"] is next_["a"]["new"]
    assert result["a"]["arr"] is next_["a"]["arr"]
    assert result["only_previous"] is previous["only_previous"]
    assert result["only_next"] is next_["only_next"]


def test_deep_concat_and_union_build_new_arrays_of_shared_elements() -> None:
    element = {"x": 1}
    for arrays in ("concat", "union"):
        previous = {"a": [element]}
        result = merge(previous, {"a": [2]}, strategy="deep", arrays=arrays)
        assert result["a"] is not previous["a"]
        assert result["a"][0] is element


def test_merge_patch_sharing() -> None:
    target: Any = {"keep": {"x": 1}, "obj": {"y": 1}}
    patch: Any = {"obj": {"z": [1]}, "new": {"w": 1}, "arr": [{"v": 1}]}
    result = merge(target, patch, strategy="merge-patch")
    assert result["keep"] is target["keep"]
    assert result["obj"] is not target["obj"]
    assert result["obj"]["z"] is patch["obj"]["z"]
    # A patch object is filtered for nulls, so it is always rebuilt.
    assert result["new"] is not patch["new"]
    assert result["arr"] is patch["arr"]


def test_merge_patch_array_patch_returns_a_new_list() -> None:
    patch: list[Any] = [{"a": 1}, 2]
    result = merge({"x": 1}, patch, strategy="merge-patch")
    assert result == patch
    assert result is not patch
    assert result[0] is patch[0]


def test_place_copies_only_along_the_path() -> None:
    document: Any = {"a": {"b": {"c": 1}, "sibling": {"s": 1}}, "other": [1]}
    value = {"v": 1}
    result = place(document, "$.a.b.c", value)
    assert result is not document
    assert result["a"] is not document["a"]
    assert result["a"]["b"] is not document["a"]["b"]
    assert result["a"]["sibling"] is document["a"]["sibling"]
    assert result["other"] is document["other"]
    assert result["a"]["b"]["c"] is value
    assert document == {"a": {"b": {"c": 1}, "sibling": {"s": 1}}, "other": [1]}


def test_place_root_returns_the_value_itself() -> None:
    value = {"v": 1}
    assert place({"a": 1}, "$", value) is value


def test_copy_true_copies_repeated_subtrees_separately() -> None:
    shared = {"x": [1]}
    result = merge({"a": shared}, {"b": shared}, copy=True)
    assert result["a"] is not result["b"]
    assert not shares_container(result, shared)


# -- hypothesis properties -------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, -0.0, 1.0, 2.0, 1.5])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=2)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=12,
)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=4)
ARRAY_MODES = st.sampled_from(["replace", "concat", "union"])


def scalar_json_key(value: Any) -> Any:
    """A key under which JSON-equal scalars collide (for unique lists)."""
    return (isinstance(value, bool), value)


def typed_objects(depth: int, arrays: st.SearchStrategy[list[Any]]) -> Any:
    """Objects whose keys fix their member types: o* objects, l* arrays, s*
    scalars. Deep merge is associative only when the documents agree on which
    paths hold objects (see docs/merge.md), which this guarantees."""
    optional: dict[str, Any] = {
        "l1": arrays,
        "l2": arrays,
        "s1": SCALARS,
        "s2": SCALARS,
    }
    if depth:
        child = typed_objects(depth - 1, arrays)
        optional.update({"o1": child, "o2": child})
    return st.fixed_dictionaries({}, optional=optional)


TYPED = typed_objects(3, st.lists(JSON, max_size=3))
TYPED_UNIQUE = typed_objects(
    3, st.lists(SCALARS, max_size=4, unique_by=scalar_json_key)
)


@PROPERTY_SETTINGS
@given(x=OBJECTS, strategy=st.sampled_from(["shallow", "deep", "merge-patch"]))
def test_empty_object_is_a_right_identity(x: dict[str, Any], strategy: Any) -> None:
    assert same(merge(x, {}, strategy=strategy), x)
    if strategy == "deep":
        for arrays in ("concat", "union"):
            assert same(merge(x, {}, strategy="deep", arrays=arrays), x)


@PROPERTY_SETTINGS
@given(y=OBJECTS, strategy=st.sampled_from(["shallow", "deep"]), arrays=ARRAY_MODES)
def test_empty_object_is_a_left_identity(
    y: dict[str, Any], strategy: Any, arrays: Any
) -> None:
    if strategy == "shallow":
        arrays = "replace"
    assert same(merge({}, y, strategy=strategy, arrays=arrays), y)
    assert same(merge(None, y, strategy=strategy, arrays=arrays), y)
    assert same(merge(y, None, strategy=strategy, arrays=arrays), y)


@PROPERTY_SETTINGS
@given(a=OBJECTS, b=OBJECTS)
def test_shallow_is_dict_unpacking(a: dict[str, Any], b: dict[str, Any]) -> None:
    expected = {**a, **b}
    assert same(merge(a, b), expected)
    assert same(merge(a, b, copy=True), expected)
    assert same(merge(a, b, wrap_key="w"), expected)


@PROPERTY_SETTINGS
@given(x=TYPED, y=TYPED, z=TYPED, arrays=ARRAY_MODES)
def test_deep_merge_is_associative(x: Any, y: Any, z: Any, arrays: Any) -> None:
    def deep(a: Any, b: Any) -> Any:
        return merge(a, b, strategy="deep", arrays=arrays)

    assert same(deep(deep(x, y), z), deep(x, deep(y, z)))


@PROPERTY_SETTINGS
@given(x=OBJECTS)
def test_deep_merge_replace_is_idempotent(x: dict[str, Any]) -> None:
    assert same(merge(x, x, strategy="deep"), x)


@PROPERTY_SETTINGS
@given(x=TYPED_UNIQUE)
def test_deep_merge_union_is_idempotent(x: dict[str, Any]) -> None:
    assert same(merge(x, x, strategy="deep", arrays="union"), x)


@PROPERTY_SETTINGS
@given(x=OBJECTS)
def test_deep_merge_union_is_idempotent_on_its_results(x: dict[str, Any]) -> None:
    # Union drops duplicates inside the previous array too, so merge(x, x) is
    # x only when x's arrays hold no duplicates; once merged it is stable.
    merged = merge(x, x, strategy="deep", arrays="union")
    assert same(merge(merged, merged, strategy="deep", arrays="union"), merged)


@PROPERTY_SETTINGS
@given(first=st.lists(JSON, max_size=6), second=st.lists(JSON, max_size=6))
def test_union_matches_a_quadratic_reference(
    first: list[Any], second: list[Any]
) -> None:
    expected: list[Any] = []
    for item in first + second:
        if not any(json_equal(item, kept) for kept in expected):
            expected.append(item)
    result = merge({"k": first}, {"k": second}, strategy="deep", arrays="union")
    assert same(result["k"], expected)


@PROPERTY_SETTINGS
@given(target=JSON, patch=JSON)
def test_merge_patch_agrees_with_json_merge_patch(target: Any, patch: Any) -> None:
    # json_merge_patch.merge(target, patch) updates target in place (and may
    # return patch objects themselves), so it only ever sees copies.
    expected = json_merge_patch.merge(
        copy_module.deepcopy(target), copy_module.deepcopy(patch)
    )
    assert same(merge(target, patch, strategy="merge-patch"), expected)


@PROPERTY_SETTINGS
@given(target=OBJECTS, patch=OBJECTS)
def test_merge_patch_agrees_with_json_merge_patch_on_objects(
    target: Any, patch: Any
) -> None:
    expected = json_merge_patch.merge(
        copy_module.deepcopy(target), copy_module.deepcopy(patch)
    )
    assert same(merge(target, patch, strategy="merge-patch"), expected)


MERGE_OPTIONS = st.sampled_from(
    [
        {"strategy": "shallow"},
        {"strategy": "shallow", "wrap_key": "w"},
        {"strategy": "deep"},
        {"strategy": "deep", "arrays": "concat"},
        {"strategy": "deep", "arrays": "union", "wrap_key": "a"},
        {"strategy": "merge-patch"},
    ]
)


@PROPERTY_SETTINGS
@given(previous=JSON | OBJECTS, next_=JSON | OBJECTS, options=MERGE_OPTIONS)
def test_inputs_are_never_mutated(
    previous: Any, next_: Any, options: dict[str, Any]
) -> None:
    before = copy_module.deepcopy((previous, next_))
    try:
        shared = merge(previous, next_, **options)
    except MergeError:
        assert same((previous, next_), before)
        return
    # The returned container itself is always new, so changing it is safe...
    mutate([shared])
    assert same((previous, next_), before)
    # ...and with copy=True so is changing anything in the result.
    mutate(list(containers(merge(previous, next_, copy=True, **options))))
    assert same((previous, next_), before)


def mutate(nodes: list[Any]) -> None:
    for node in nodes:
        if isinstance(node, dict):
            node["mutated"] = True
        elif isinstance(node, list):
            node.append("mutated")


@PROPERTY_SETTINGS
@given(previous=JSON | OBJECTS, next_=JSON | OBJECTS, options=MERGE_OPTIONS)
def test_copy_true_shares_no_container(
    previous: Any, next_: Any, options: dict[str, Any]
) -> None:
    try:
        shared = merge(previous, next_, **options)
    except MergeError:
        return
    copied = merge(previous, next_, copy=True, **options)
    assert same(copied, shared)
    assert not shares_container(copied, previous, next_)


@PROPERTY_SETTINGS
@given(document=OBJECTS, keys=st.lists(KEYS, min_size=1, max_size=4), value=JSON)
def test_place_then_query_finds_the_value(
    document: dict[str, Any], keys: list[str], value: Any
) -> None:
    before = copy_module.deepcopy(document)
    path = "$" + "".join(f".{key}" for key in keys)
    try:
        result = place(document, path, value)
    except MergeError:
        # Only when some step on the way holds a non-object.
        node: Any = document
        for key in keys[:-1]:
            if not isinstance(node, dict):
                break
            node = node.get(key, {})
        else:
            assert not isinstance(node, dict)
        return
    finally:
        assert same(document, before)
    assert compile_query(path).find(result) == [value]
    assert compile_query(path).find(result)[0] is value


# -- deep documents --------------------------------------------------------


def test_deep_merge_of_deep_documents() -> None:
    previous = nested(DEEP, {"p": [1, 2]})
    next_ = nested(DEEP, {"n": [2, 3]})
    for arrays in ("replace", "union"):
        result = merge(previous, next_, strategy="deep", arrays=arrays)
        assert depth_of(result) == DEEP + 1
        assert same(result, nested(DEEP, {"p": [1, 2], "n": [2, 3]}))


def test_union_of_deep_array_elements() -> None:
    # Equality of deep elements must not recurse either.
    result = merge(
        {"k": [nested(DEEP, 1)]},
        {"k": [nested(DEEP, 1.0), nested(DEEP, True)]},
        strategy="deep",
        arrays="union",
    )
    assert len(result["k"]) == 2
    assert same(result["k"][1], nested(DEEP, True))


def test_merge_patch_of_deep_documents() -> None:
    target = nested(DEEP, {"a": 1, "b": 2})
    patch = nested(DEEP, {"a": None, "c": nested(DEEP, None, "x")})
    result = merge(target, patch, strategy="merge-patch")
    expected = nested(DEEP, {"b": 2, "c": nested(DEEP - 1, {}, "x")})
    assert same(result, expected)


def test_copy_of_deep_documents() -> None:
    previous = nested(DEEP, [1])
    next_ = nested(DEEP, [2], "j")
    for strategy in ("shallow", "deep", "merge-patch"):
        result = merge(previous, next_, strategy=strategy, copy=True)
        assert not shares_container(result, previous, next_)


def test_union_is_not_quadratic_for_scalars() -> None:
    # 50,000 x 50,000 comparisons would take minutes; hashing takes
    # milliseconds. A guard against regressions, not a benchmark.
    count = 50_000
    result = merge(
        {"k": list(range(count))},
        {"k": [float(n) for n in range(count // 2, count + count // 2)]},
        strategy="deep",
        arrays="union",
    )
    assert len(result["k"]) == count + count // 2


def test_docs_examples_run() -> None:
    docs = Path(__file__).parent.parent / "docs" / "merge.md"
    result = doctest.testfile(
        str(docs), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0
