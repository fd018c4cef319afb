"""The internal interface flowmap.jsonpath offers its neighbours.

``Query.steps`` and ``parse_prefix`` are what the mapping, merge and Step
Functions layers use instead of the parser's and the query's private names.
"""

from __future__ import annotations

import pytest

import flowmap
from flowmap.jsonpath import parse_prefix


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$", ()),
        ("$.a.b", ("a", "b")),
        ("$['a b'][-1][0].c", ("a b", -1, 0, "c")),
        ("$ .a [ 2 ]", ("a", 2)),
        ("$.a[*]", None),
        ("$..a", None),
        ("$['a','b']", None),
        ("$[?@.x]", None),
    ],
)
def test_steps_of_singular_queries_only(
    text: str, steps: tuple[str | int, ...] | None
) -> None:
    assert flowmap.compile(text).steps == steps


@pytest.mark.parametrize(
    ("text", "pos", "root", "expression", "end"),
    [
        ("$", 0, "$", "$", 1),
        ("$.a.b", 0, "$", "$.a.b", 5),
        ("$.a.b | 'x'", 0, "$", "$.a.b", 5),
        ("$.a[?@.b == 'c'] | $.d", 0, "$", "$.a[?@.b == 'c']", 16),
        ("$.a | $.d", 6, "$", "$.d", 9),
        ("f($$.id, 1)", 2, "$$", "$.id", 7),
        ("$CONST['k'].v|0", 0, "$CONST", "$['k'].v", 13),
        ("$$)", 0, "$$", "$", 2),
        ("$.a  ", 0, "$", "$.a", 3),
    ],
)
def test_parse_prefix_reads_one_query(
    text: str, pos: int, root: str, expression: str, end: int
) -> None:
    query, stop = parse_prefix(text, pos, root=root)
    assert (query.expression, stop) == (expression, end)
    assert query is flowmap.compile(expression)


def test_parse_prefix_reuses_a_compiled_query() -> None:
    query = flowmap.compile("$.reused[0]")
    assert parse_prefix("$.reused[0] | 1")[0] is query


@pytest.mark.parametrize(
    ("text", "pos", "root", "position"),
    [
        ("x | $.a[", 4, "$", 8),
        ("x | $.a[?@.b ==]", 4, "$", 15),
        ("abc", 0, "$", 0),
        ("$.a", 0, "$$", 0),
        ("f($$.a.)", 2, "$$", 7),
        ("y = $[?match(@, '(a{2}){100000}')]", 4, "$", 16),
    ],
)
def test_parse_prefix_errors_point_into_the_whole_text(
    text: str, pos: int, root: str, position: int
) -> None:
    with pytest.raises(flowmap.JSONPathSyntaxError) as info:
        parse_prefix(text, pos, root=root)
    assert info.value.expression == text
    assert info.value.position == position
