"""What the two code generators share: speculative comprehensions.

The query compiler (:mod:`._compiler`) and the mapping compiler
(``flowmap.mapping._compiler``) both turn ``[*].a.b`` and ``[?@.a < 10].b``
over the items of an array into one list comprehension that subscripts
without checks: whenever it completes, it has selected exactly what RFC 9535
selects, and on irregular data it raises KeyError, TypeError or IndexError,
and the caller falls back to the checked evaluator. This module is the
interface between them (with :class:`Comprehension` for the mapping side,
which knows queries, not syntax trees).

``const(value, role)`` must return the name of a generated parameter holding
``value`` and ``temp()`` a fresh local variable name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _ast as A
from ._parser import parse

if TYPE_CHECKING:
    from .query import Query

#: Names per subscript chain: keeps generated expressions shallow.
CHAIN = 16

Const = Callable[[Any, str], str]
Temp = Callable[[], str]


class Comprehension:
    """The comprehension of a compiled query, for the mapping's side.

    ``Comprehension.of(query)`` parses the query once and says whether it
    has one; ``source(it, const, temp)`` writes it for a code generator
    (as often as needed: each call takes new constants and temporaries).
    """

    __slots__ = ("_segments",)

    def __init__(self, segments: tuple[A.Segment, ...]) -> None:
        self._segments = segments

    @classmethod
    def of(cls, query: Query) -> Comprehension | None:
        segments = parse(query.expression).segments
        if list_comprehension(segments, "_", _dry_const, _dry_temp) is None:
            return None
        return cls(segments)

    def source(self, it: str, const: Const, temp: Temp) -> str:
        text = list_comprehension(self._segments, it, const, temp)
        assert text is not None  # checked by of()
        return text


def _dry_const(value: Any, role: str) -> str:
    return role


def _dry_temp() -> str:
    return "_"


def _names(segments: tuple[A.Segment, ...]) -> list[str] | None:
    """The names of child segments that are each one name, else None."""
    names: list[str] = []
    for seg in segments:
        sel = seg.selectors[0]
        if not seg.simple or not isinstance(sel, A.Name):
            return None
        names.append(sel.name)
    return names if len(names) <= CHAIN else None


def path_against_literal(expr: A.Expr) -> tuple[A.QueryNode, str, Any] | None:
    """(path, op, literal) for ``@.path OP literal`` (either way round).

    Only comparisons where a missing value makes the test false: not ``!=``.
    """
    while isinstance(expr, A.Paren):
        expr = expr.expr
    if not isinstance(expr, A.Comparison) or expr.op == "!=":
        return None
    left, right, op = expr.left, expr.right, expr.op
    if isinstance(left, A.Literal):
        left, right = right, left
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    if (
        isinstance(left, A.QueryNode)
        and not left.absolute
        and left.segments
        and isinstance(right, A.Literal)
    ):
        return left, op, right.value
    return None


def speculative_filter(
    expr: A.Expr,
    rest: tuple[A.Segment, ...],
    it: str,
    const: Const,
    temp: Temp,
) -> str | None:
    """``[?@.a < 10].b`` as a list comprehension that raises on odd data.

    Only for a comparison of a relative path of names with a literal,
    followed by at most a few names. The comprehension subscripts without
    checks: a missing member raises KeyError, a non-object TypeError, and
    ordering a number against a non-number (or a string against a
    non-string) raises TypeError, so whenever it completes it has selected
    exactly what the RFC selects. ``it`` must hold the items of an array or
    the values of an object.
    """
    found = path_against_literal(expr)
    if found is None:
        return None
    left, op, value = found
    tested, selected = _names(left.segments), _names(rest)
    if tested is None or selected is None:
        return None
    path = "".join(f"[{const(name, 'name')}]" for name in tested)
    if value is None or value is True or value is False:
        if op != "==":
            return None
        test = f"c{path} is {value}"
    elif isinstance(value, str):
        test = f"c{path} {op} {const(value, 'literal')}"
    else:
        t, k = temp(), const(value, "literal")
        test = f"({t} := c{path}) {op} {k} and {t} is not True and {t} is not False"
    result = "c" + "".join(f"[{const(name, 'name')}]" for name in selected)
    return f"[{result} for c in {it} if {test}]"


def list_comprehension(
    segments: tuple[A.Segment, ...],
    it: str,
    const: Const,
    temp: Temp,
) -> str | None:
    """``[*].a.b`` or ``[?...].a`` over the items ``it`` as a comprehension.

    The comprehension raises one of KeyError, TypeError, IndexError on data
    it cannot answer exactly; the caller then falls back to the evaluator.
    """
    if not segments or segments[0].descendant or len(segments[0].selectors) != 1:
        return None
    sel, rest = segments[0].selectors[0], segments[1:]
    if isinstance(sel, A.Wildcard):
        names = _names(rest)
        if names is None:
            return None
        return (
            "[c" + "".join(f"[{const(n, 'name')}]" for n in names) + f" for c in {it}]"
        )
    if isinstance(sel, A.Filter):
        return speculative_filter(sel.expr, rest, it, const, temp)
    return None
