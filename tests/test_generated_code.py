"""Generated code is debuggable: sources registered with linecache under
unique names, dropped with their shape; ``Query.source``/``Mapping.source``.
"""

from __future__ import annotations

import gc
import linecache
import traceback
from typing import Any

import pytest

import flowmap
from flowmap.jsonpath.query import UPGRADE_AFTER, Query


def registered() -> set[str]:
    return {
        name
        for name in linecache.cache
        if name.startswith(("<flowmap query", "<flowmap mapping"))
    }


def format_error(call: Any) -> str:
    try:
        call()
    except flowmap.FlowmapError as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError("no error")


@pytest.mark.parametrize("text", ["$.a.b.c", "$.a[*].b", "$.a[?@.b == 1]"])
def test_a_traceback_through_a_query_shows_the_generated_line(text: str) -> None:
    query = Query(text).prepare()
    trace = format_error(lambda: query.first({}))
    filename = query.first.__code__.co_filename  # type: ignore[attr-defined]
    assert f'File "{filename}"' in trace
    assert "return no_match(root, default, expression_" in trace


def test_a_traceback_through_a_mapping_shows_the_generated_line() -> None:
    mapping = flowmap.compile_mapping({"user": {"id": "$.user.id"}})
    trace = format_error(lambda: mapping.apply({"user": {}}))
    assert f'File "{mapping.apply.__code__.co_filename}"' in trace
    assert "raise_missing(leaf_" in trace


def test_the_source_is_what_the_traceback_reads() -> None:
    query = Query("$.x[*].y").prepare()
    filename = query.find.__code__.co_filename  # type: ignore[attr-defined]
    assert "".join(linecache.getlines(filename)) == query.source
    mapping = flowmap.compile_mapping({"k": "$.a[0] | 'z'"})
    filename = mapping.apply.__code__.co_filename
    assert "".join(linecache.getlines(filename)) == mapping.source


def test_each_shape_has_its_own_name() -> None:
    flowmap.clear_caches()
    queries = [Query(text).prepare() for text in ("$.a[*]", "$.a[*].b", "$..c")]
    names = {q.find.__code__.co_filename for q in queries}  # type: ignore[attr-defined]
    assert len(names) == 3
    # The same shape with other constants shares the code and its name.
    other = Query("$.z[*].w").prepare()
    assert other.find.__code__ is queries[1].find.__code__  # type: ignore[attr-defined]


def test_clearing_the_caches_drops_the_sources() -> None:
    Query("$.a[*].b").prepare()
    flowmap.compile_mapping({"a": "$.b"})
    assert registered()
    flowmap.clear_caches()
    gc.collect()  # functions another test left in a reference cycle
    assert registered() == set()


def test_query_source_names_constants_by_role() -> None:
    source = Query("$.items[?@.price < 10].sku").source
    assert source is not None
    assert source.startswith("def _factory(")
    for role in ("name_", "literal_", "expression_"):
        assert role in source
    assert "_c0" not in source


def test_query_source_of_a_query_too_large_for_generated_code() -> None:
    query = Query("$" + "[*]" * 1000)
    assert query.source is None
    for _ in range(UPGRADE_AFTER + 2):
        assert query.find([[1]]) == []


def test_mapping_source_is_the_compiled_function() -> None:
    mapping = flowmap.compile_mapping({"id": "$.user.id"}, on_missing="null")
    assert mapping.source.startswith("def _factory(")
    assert "def apply(data, *, constants=None, context=None):" in mapping.source
