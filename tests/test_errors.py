"""The error classes: one module, one location convention, repr and pickle."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import flowmap
import flowmap.errors as errors
from flowmap.errors import (
    EvaluationLimitError,
    FlowmapError,
    JSONPathSyntaxError,
    MappingError,
    MergeError,
    MergeOptionError,
    MissingValueError,
    QueryTypeError,
    RegexLimitError,
)

SAMPLES: list[FlowmapError] = [
    JSONPathSyntaxError("unexpected character", "$.a b", 4),
    EvaluationLimitError(10_000_000),
    RegexLimitError("a{100000}", "pattern too large"),
    MappingError("bad leaf", ("a", 0), JSONPathSyntaxError("x", "$x", 1)),
    MappingError("on_missing must be ...", None),
    MissingValueError("$.a.b", "$['a']", ("user", "id")),
    MissingValueError("$.a.b", "$['a']", None, "the data filter selects nothing"),
    MergeError(
        "cannot merge",
        side="both",
        previous_type="array",
        next_type="string",
        strategy="deep",
    ),
    MergeError("cannot place", path="$['a']['b']", step="$['a']"),
    MergeOptionError("arrays", "append", ("replace", "concat")),
    QueryTypeError("a JSONPath expression must be a str, not int"),
]


def data_of(error: FlowmapError) -> dict[str, Any]:
    return {name: getattr(error, name) for name in type(error)._repr_fields}


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_repr_names_the_class_and_its_data(error: FlowmapError) -> None:
    text = repr(error)
    assert text.startswith(f"{type(error).__name__}(")
    for name, value in data_of(error).items():
        assert f"{name}={value!r}" in text


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_pickle_with_all_their_data(error: FlowmapError) -> None:
    loaded = pickle.loads(pickle.dumps(error))
    assert type(loaded) is type(error)
    assert repr(data_of(loaded)) == repr(data_of(error))  # errors compare by id
    assert str(loaded) == str(error)
    assert repr(loaded) == repr(error)


def test_every_error_class_is_in_flowmap_errors_with_a_repr() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, FlowmapError)
    ]
    assert {cls.__name__ for cls in classes} <= set(errors.__all__)
    for cls in classes:
        if cls is not FlowmapError:
            assert cls._repr_fields, cls
    assert {type(e) for e in SAMPLES} == set(classes) - {FlowmapError}


def test_top_level_exports_the_errors_and_stays_small() -> None:
    for name in (
        "EvaluationLimitError",
        "RegexLimitError",
        "QueryTypeError",
        "MergeOptionError",
    ):
        assert getattr(flowmap, name) is getattr(errors, name)
        assert name in flowmap.__all__
    assert len(flowmap.__all__) <= 22
    assert all(hasattr(flowmap, name) for name in flowmap.__all__)


def test_no_location_is_none_and_the_root_is_empty() -> None:
    # A query evaluated outside any spec: no location.
    with pytest.raises(MissingValueError) as info:
        flowmap.compile("$.a").first({})
    assert (info.value.location, info.value.path) == (None, None)
    assert "in the spec" not in str(info.value)
    # A data filter is not a spec either.
    with pytest.raises(MissingValueError) as info:
        flowmap.compile_filter("$.a").apply({})
    assert info.value.location is None
    # A spec that is a single leaf: the root of the spec.
    with pytest.raises(MissingValueError) as info:
        flowmap.compile_mapping("$.a").apply({})
    assert (info.value.location, info.value.path) == ((), "$")
    assert "(at $ in the spec)" in str(info.value)
    # A bad option is not in the spec.
    with pytest.raises(MappingError) as info_option:
        flowmap.compile_mapping({}, on_missing="skip")  # type: ignore[arg-type]
    assert (info_option.value.location, info_option.value.path) == (None, None)
    # merge() has no place; place() has one.
    with pytest.raises(MergeError) as info_merge:
        flowmap.merge([1], {})
    assert (info_merge.value.path, info_merge.value.step) == (None, None)


def test_query_type_error() -> None:
    for bad in (3, None, b"$"):
        with pytest.raises(QueryTypeError) as info:
            flowmap.compile(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, TypeError)
        assert type(bad).__name__ in str(info.value)
    from flowmap.jsonpath.query import QueryTypeError as old_home

    assert old_home is QueryTypeError


def test_merge_is_the_function_and_merging_the_module() -> None:
    import flowmap.merging

    assert callable(flowmap.merge)
    assert flowmap.merge is flowmap.merging.merge
    assert flowmap.merge({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
