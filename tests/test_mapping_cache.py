"""The mapping cache answers by the spec's value, and a kept query function
reaches generated code (issue 8 item 5).

A cache hit does not serialise the spec to JSON any more: these tests pin
that a spec changed in place after compiling (a value, a type that compares
equal, the order of keys) is compiled again, never served the old mapping.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import flowmap
from flowmap.jsonpath.query import UPGRADE_AFTER, Query


def test_the_same_spec_gives_the_same_mapping() -> None:
    spec = {"a": "$.x", "b": ["$.y", 1]}
    mapping = flowmap.compile_mapping(spec)
    assert flowmap.compile_mapping(spec) is mapping
    assert flowmap.compile_mapping({"a": "$.x", "b": ["$.y", 1]}) is mapping
    assert flowmap.compile_mapping(spec, on_missing="null") is not mapping


def mutate_leaf(spec: dict[str, Any]) -> None:
    spec["a"] = "$.y"


def mutate_nested(spec: dict[str, Any]) -> None:
    spec["b"][1] = 2


def int_to_float(spec: dict[str, Any]) -> None:
    spec["b"][1] = 1.0


def int_to_bool(spec: dict[str, Any]) -> None:
    spec["b"][1] = True


def reorder(spec: dict[str, Any]) -> None:
    spec["a"] = spec.pop("a")


def add_key(spec: dict[str, Any]) -> None:
    spec["c"] = "$.x"


@pytest.mark.parametrize(
    "mutate",
    [mutate_leaf, mutate_nested, int_to_float, int_to_bool, reorder, add_key],
)
def test_a_spec_changed_in_place_is_compiled_again(mutate: Any) -> None:
    spec: dict[str, Any] = {"a": "$.x", "b": ["$.y", 1]}
    data = {"x": "X", "y": "Y"}
    before = flowmap.apply_mapping(spec, data)
    mutate(spec)
    after = flowmap.apply_mapping(spec, data)
    fresh = flowmap.apply_mapping(_copy(spec), data)
    assert repr(after) == repr(fresh)  # repr: 1, 1.0, True and key order differ
    assert repr(after) != repr(before)
    assert flowmap.compile_mapping(spec).spec == spec


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def test_a_spec_made_invalid_in_place_is_refused() -> None:
    spec: dict[str, Any] = {"a": "$.x"}
    flowmap.compile_mapping(spec)
    spec["a"] = "$.x["
    with pytest.raises(flowmap.MappingError):
        flowmap.compile_mapping(spec)
    spec["a"] = float("nan")
    with pytest.raises(flowmap.MappingError):
        flowmap.compile_mapping(spec)


@pytest.mark.parametrize(
    "options",
    [{"null_as_missing": 1}, {"on_missing": "nope"}, {"form": ["auto"]}],
)
def test_invalid_options_are_refused_after_a_valid_compile(
    options: dict[str, Any],
) -> None:
    spec = {"a": "$.x"}
    flowmap.compile_mapping(spec)
    flowmap.compile_mapping(spec, null_as_missing=True)
    with pytest.raises(flowmap.MappingError):
        flowmap.compile_mapping(spec, **options)


def test_specs_marshal_cannot_write_take_the_checked_path() -> None:
    class Text(str):
        pass

    assert flowmap.apply_mapping({"a": Text("$.x")}, {"x": 1}) == {"a": 1}
    with pytest.raises(flowmap.MappingError):
        flowmap.compile_mapping({"a": {"$.x"}})


# --- functions kept from a query before its switch to generated code ---------

KEPT = [
    ("$.a.b.c.d.e", {"a": {"b": {"c": {"d": {"e": 5}}}}}, [5]),
    ("$.a[0]['b c']", {"a": [{"b c": 1}]}, [1]),
    ("$.items[?@.price < 10].sku", {"items": [{"price": 3, "sku": "x"}]}, ["x"]),
    ("$..id", {"a": {"id": 1}, "b": [{"id": 2}]}, [1, 2]),
]


@pytest.mark.parametrize(("text", "document", "expected"), KEPT)
def test_kept_functions_become_the_generated_code(
    text: str, document: Any, expected: list[Any]
) -> None:
    query = Query(text)
    find, first = query.find, query.first
    for _ in range(UPGRADE_AFTER + 2):
        assert find(document) == expected
        assert first(document) == expected[0]
        assert first({}, "default") == "default"
        assert first({}, default=None) is None
    assert find.__code__ is query.find.__code__  # type: ignore[attr-defined]
    assert first.__code__ is query.first.__code__  # type: ignore[attr-defined]
    with pytest.raises(flowmap.MissingValueError):
        first({})


@pytest.mark.parametrize("text", ["$.a.b.c", "$.a[*].b"])
def test_first_tier_first_checks_its_arguments(text: str) -> None:
    first = Query(text).first
    with pytest.raises(TypeError):
        first({}, 1, 2)
    with pytest.raises(TypeError):
        first({}, defualt=1)


def test_kept_functions_across_the_switch_from_many_threads() -> None:
    query = Query("$.a[*].b")
    find, first = query.find, query.first
    document = {"a": [{"b": 1}, {"b": 2}, {"c": 3}]}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work() -> None:
        try:
            start.wait()
            for _ in range(200):
                assert find(document) == [1, 2]
                assert first(document) == 1
                assert first({}, 0) == 0
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
