"""Long expressions compile, switch tiers and evaluate in time linear in
their length (issue 8 item 2), and the cache never holds up other keys.

Each reproduction of the issue is a case below at a size where the
quadratic code took seconds to minutes; the timings themselves are in
benchmarks/bench_compile.py, not here.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import flowmap
from flowmap._cache import BoundedCache
from flowmap.jsonpath._ast import MAX_LITERAL_DIGITS
from flowmap.jsonpath.query import UPGRADE_AFTER, Query
from flowmap.states import compile_state

N = 10_000


def nested(depth: int, leaf: Any, key: str = "a") -> Any:
    doc = leaf
    for _ in range(depth):
        doc = {key: doc}
    return doc


# (name, expression, document, expected values, expected first path)
LONG_QUERIES: list[tuple[str, str, Any, list[Any], str | None]] = [
    ("wildcards", "$" + "[*]" * N, nested(N, 7, "k"), [7], "$" + "['k']" * N),
    ("union", "$[" + ",".join(["'a'"] * N) + "]", {"a": 1}, [1] * N, "$['a']"),
    ("bracketed-names", "$" + "['a']" * N, nested(N, 2), [2], "$" + "['a']" * N),
    ("dotted-names", "$" + ".a" * N, nested(N, 3), [3], "$" + "['a']" * N),
    ("descendants", "$" + "..a" * 50, nested(3, 4), [], None),
    (
        "filter-alternatives",
        "$[?" + " || ".join(f"@.a == {i}" for i in range(N // 4)) + "]",
        [{"a": 3}, {"a": -1}],
        [{"a": 3}],
        "$[0]",
    ),
]


@pytest.mark.parametrize(
    ("expression", "document", "expected", "path"),
    [case[1:] for case in LONG_QUERIES],
    ids=[case[0] for case in LONG_QUERIES],
)
def test_long_query_on_both_tiers(
    expression: str, document: Any, expected: list[Any], path: str | None
) -> None:
    query = Query(expression)
    for _ in range(UPGRADE_AFTER + 2):
        assert query.find(document) == expected
    located = query.locate(document)
    assert [value for _, value in located] == expected
    if path is not None:
        assert located[0][0] == path
    assert flowmap.compile(str(query)).find(document) == expected


def test_a_kept_function_of_a_long_query_keeps_working() -> None:
    first = Query("$" + ".a" * N).first
    for _ in range(UPGRADE_AFTER * 2):
        assert first(nested(N, 5)) == 5
        assert first({}, None) is None


def test_integer_literals_up_to_the_limit_compare_exactly() -> None:
    digits = "7" * MAX_LITERAL_DIGITS
    big = 7 * (10**MAX_LITERAL_DIGITS - 1) // 9  # int(digits), past int()'s limit
    query = flowmap.compile(f"$[?@ == -{digits}]")
    assert query.find([-big, big, 1]) == [-big]
    assert flowmap.compile(str(query)) == query


def test_a_longer_integer_literal_is_a_syntax_error_at_its_position() -> None:
    text = "$[?@ < " + "1" * 1_000_000 + "]"
    with pytest.raises(flowmap.JSONPathSyntaxError) as info:
        flowmap.compile(text)
    assert info.value.position == 7
    assert f"more than {MAX_LITERAL_DIGITS} digits" in info.value.reason


def test_mapping_with_a_long_path() -> None:
    mapping = flowmap.compile_mapping({"x": "$" + ".a" * N, "y": "$.a.a"})
    document = nested(N, 1)
    result = mapping.apply(document)
    assert result["x"] == 1
    assert result["y"] is document["a"]["a"]
    with pytest.raises(flowmap.MissingValueError) as info:
        mapping.apply(nested(N - 1, 1))
    assert info.value.step == "$" + "['a']" * N
    fallback = flowmap.compile_mapping({"x": "$" + ".a" * N + " | 0"})
    assert fallback.apply(nested(N - 1, 1)) == {"x": 0}
    assert fallback.apply(nested(N, 9)) == {"x": 9}


def test_step_functions_state_with_long_paths() -> None:
    state = compile_state(
        {
            "Type": "Pass",
            "InputPath": "$" + ".b" * N,
            "Parameters": {"x.$": "$" + ".a" * N},
        }
    )
    document = nested(N, nested(N, 6), "b")
    assert state.effective_input(document) == {"x": 6}


def test_a_slow_build_does_not_hold_up_other_keys() -> None:
    """The tier switch of a huge query must not block other queries: the
    cache builds outside its lock, and only callers of the same key wait."""
    started, release = threading.Event(), threading.Event()
    builds: list[str] = []

    def build(key: str) -> str:
        builds.append(key)
        if key == "slow":
            started.set()
            assert release.wait(10)
        return key.upper()

    cache: BoundedCache[str, str] = BoundedCache(build, 8)
    results: list[str] = []
    slow = threading.Thread(target=lambda: results.append(cache.get("slow")))
    same = threading.Thread(target=lambda: results.append(cache.get("slow")))
    slow.start()
    assert started.wait(10)
    same.start()
    assert cache.get("fast") == "FAST"  # not blocked by the slow build
    release.set()
    slow.join(10)
    same.join(10)
    assert results == ["SLOW", "SLOW"]
    assert builds == ["slow", "fast"]  # built once per key


def test_a_failed_build_is_retried_by_the_next_caller() -> None:
    calls: list[str] = []

    def build(key: str) -> str:
        calls.append(key)
        if len(calls) == 1:
            raise ValueError("first build fails")
        return key

    cache: BoundedCache[str, str] = BoundedCache(build, 8)
    with pytest.raises(ValueError):
        cache.get("k")
    assert cache.get("k") == "k"
    assert len(cache) == 1
