"""Size limits, pinned exactly: the largest allowed size works, one more fails.

Every limit is a FlowmapError with the place it was crossed (a spec
location, a 0-based position), the same on both evaluation tiers, never a
RecursionError, SyntaxError or IndentationError from the code generator.

Regression notes say which bug a test guards against; each bug is fixed.
"""

from __future__ import annotations

from typing import Any

import pytest

import flowmap
from flowmap.errors import EvaluationLimitError, JSONPathSyntaxError, MappingError
from flowmap.jsonpath._parser import MAX_NESTING
from flowmap.jsonpath._runtime import MAX_NODES
from flowmap.jsonpath.query import Query
from flowmap.mapping._spec import MAX_ALTERNATIVES, MAX_SPEC_DEPTH


def nested_document(depth: int, leaf: Any) -> Any:
    document = leaf
    for _ in range(depth):
        document = {"a": document}
    return document


def mapping_error(spec: Any, **options: Any) -> MappingError:
    with pytest.raises(MappingError) as info:
        flowmap.compile_mapping(spec, **options)
    return info.value


def test_the_limits_are_the_documented_ones() -> None:
    assert (MAX_ALTERNATIVES, MAX_SPEC_DEPTH, MAX_NESTING) == (32, 64, 32)
    assert MAX_NODES == 10_000_000


# -- evaluation --------------------------------------------------------------


@pytest.mark.parametrize("text", ["$..*", "$..[*]", "$[*]..*"])
def test_descendants_past_the_node_limit(text: str) -> None:
    document = [[0] * (MAX_NODES + 1)]
    first_tier = Query(text)
    generated = Query(text).prepare()
    for query in (first_tier, generated):
        with pytest.raises(EvaluationLimitError) as info:
            query.find(document)
        assert info.value.limit == MAX_NODES
        assert str(MAX_NODES // 1000) in str(info.value).replace(",", "")


# -- alternatives in one leaf ---------------------------------------------------


def alternatives(count: int, last: str = "") -> str:
    paths = [f"$.k{i}" for i in range(count)]
    return " | ".join([*paths, last] if last else paths)


@pytest.mark.parametrize("last", ["", "'none'"])
def test_32_alternatives_compile(last: str) -> None:
    count = MAX_ALTERNATIVES - (1 if last else 0)
    mapping = flowmap.compile_mapping({"x": alternatives(count, last)})
    assert mapping.apply({f"k{count - 1}": "last"}) == {"x": "last"}
    assert mapping.apply({"k0": 0, f"k{count - 1}": 1}) == {"x": 0}
    if last:
        assert mapping.apply({}) == {"x": "none"}


@pytest.mark.parametrize(
    ("count", "last"),
    [(33, ""), (32, "'none'"), (50, ""), (97, "'none'"), (98, "'none'"), (200, "")],
)
def test_the_33rd_alternative_fails_at_its_position(count: int, last: str) -> None:
    # Regression: each alternative added one indentation level to the
    # generated code, so from 98 alternatives on compile_mapping raised
    # IndentationError ("too many levels of indentation").
    leaf = alternatives(count, last)
    error = mapping_error({"x": leaf})
    assert error.location == ("x",)
    syntax = error.syntax_error
    assert isinstance(syntax, JSONPathSyntaxError)
    assert syntax.reason == f"more than {MAX_ALTERNATIVES} alternatives"
    thirty_third = "'none'" if count == 32 else f"$.k{MAX_ALTERNATIVES}"
    assert syntax.position == leaf.index(thirty_third)
    assert syntax.expression == leaf


# -- spec depth -----------------------------------------------------------------


def nested_spec(depth: int, container: str) -> Any:
    spec: Any = "$.v"
    for _ in range(depth):
        spec = {"a": spec} if container == "object" else [spec]
    return spec


@pytest.mark.parametrize("container", ["object", "array"])
def test_a_spec_64_levels_deep_compiles(container: str) -> None:
    mapping = flowmap.compile_mapping(nested_spec(MAX_SPEC_DEPTH, container))
    result = mapping.apply({"v": 1})
    for _ in range(MAX_SPEC_DEPTH):
        result = result["a"] if container == "object" else result[0]
    assert result == 1


@pytest.mark.parametrize("container", ["object", "array"])
@pytest.mark.parametrize("depth", [MAX_SPEC_DEPTH + 1, 200, 5000])
def test_a_spec_65_levels_deep_fails_at_the_65th(container: str, depth: int) -> None:
    error = mapping_error(nested_spec(depth, container))
    step: str | int = "a" if container == "object" else 0
    assert error.location == (step,) * (MAX_SPEC_DEPTH + 1)
    assert error.reason == f"spec nested deeper than {MAX_SPEC_DEPTH} levels"


# -- dotted parameter keys ------------------------------------------------------


@pytest.mark.parametrize("parts", [1, 60, MAX_SPEC_DEPTH])
def test_a_parameter_key_of_64_parts_compiles(parts: int) -> None:
    spec = [{"key": "w", "value": 0}, {"key": ".".join(["a"] * parts), "value": "$.v"}]
    result = flowmap.compile_mapping(spec).apply({"v": 1})
    assert result == {"w": 0, **nested_document(parts, 1)}


@pytest.mark.parametrize("parts", [MAX_SPEC_DEPTH + 1, 199, 250, 2000])
def test_a_parameter_key_of_65_parts_fails_at_the_key(parts: int) -> None:
    # Regression: the depth check counted only the spec's own nesting, not the
    # parts of a dotted key, and the generated code nested one dict display
    # per part: from 200 parts SyntaxError ("too many nested parentheses"),
    # from about 1,000 RecursionError.
    spec = [{"key": "w", "value": 0}, {"key": ".".join(["a"] * parts), "value": "$.v"}]
    error = mapping_error(spec)
    assert error.location == (1, "key")
    assert f"nests deeper than {MAX_SPEC_DEPTH} levels" in error.reason


# -- long paths: no limit --------------------------------------------------------


@pytest.mark.parametrize("steps", [500, 1500, 5000])
@pytest.mark.parametrize("suffix", ["", " | 0", "[*]"])
def test_long_paths_compile_in_mappings(steps: int, suffix: str) -> None:
    # Regression: the mapping compiler recursed once per step of a path, so
    # a leaf of about 1,000 steps raised RecursionError from compile_mapping,
    # although flowmap.compile() and compile_filter() took the same path.
    leaf = "$" + ".a" * steps
    document = nested_document(steps, 1)
    assert flowmap.compile(leaf).find(document) == [1]
    mapping = flowmap.compile_mapping({"x": leaf + suffix})
    expected: Any = [] if suffix == "[*]" else 1
    assert mapping.apply(document) == {"x": expected}
    if suffix == " | 0":
        assert mapping.apply({}) == {"x": 0}


# -- filter nesting in a query ---------------------------------------------------


def test_filter_nesting_of_32_levels_compiles_and_33_fail() -> None:
    # The filter selector, each parenthesis and the query '@' count one level.
    inner = MAX_NESTING - 2
    text = "$[?" + "(" * inner + "@" + ")" * inner + "]"
    assert flowmap.compile(text).find([1, [2]]) == [1, [2]]
    for extra in (1, 2, 100):
        deeper = "$[?" + "(" * (inner + extra) + "@" + ")" * (inner + extra) + "]"
        with pytest.raises(JSONPathSyntaxError) as info:
            flowmap.compile(deeper)
        assert info.value.reason == f"nesting deeper than {MAX_NESTING} levels"
