"""Compiled queries and the compile cache."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ..errors import FlowmapError
from . import _ast as A
from ._compiler import (
    clear_shape_cache,
    compile_locate,
    compile_query,
    compile_singular,
)
from ._parser import MAX_INT, parse
from ._runtime import name_part

__all__ = ["Query", "clear_cache", "compile", "query"]

CACHE_SIZE = 4096


class Query:
    """A compiled RFC 9535 JSONPath query. Build one with :func:`compile`.

    Queries are immutable and safe to share between threads. ``find``,
    ``first`` and ``locate`` are plain functions generated for this query
    (so calling them costs no bound-method creation); ``locate`` is a method
    whose evaluator is generated on first use:

    - ``find(data) -> list``: the selected values, in the RFC's order;
    - ``locate(data) -> list[tuple[str, Any]]``: (normalized path, value)
      pairs, paths as RFC 9535 section 2.7 writes them;
    - ``first(data, default=...)``: the first selected value, ``default``
      when nothing matched, and :class:`flowmap.MissingValueError` (naming
      the first step that found nothing) when nothing matched and no default
      was given.

    >>> q = compile("$.store.book[?@.price < 10].title")
    >>> q.find({"store": {"book": [{"title": "A", "price": 8}, {"price": 12}]}})
    ['A']
    >>> str(q)
    "$['store']['book'][?@['price'] < 10]['title']"
    >>> q.singular
    False
    """

    __slots__ = (
        "_canonical",
        "_locate",
        "_steps",
        "expression",
        "find",
        "first",
        "singular",
    )

    expression: str
    singular: bool
    find: Callable[[Any], list[Any]]
    first: Callable[..., Any]
    _canonical: str | None
    _steps: tuple[str | int, ...] | None
    _locate: Callable[[Any], list[tuple[str, Any]]] | None

    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str):
            raise QueryTypeError(
                f"a JSONPath expression must be a str, not {type(expression).__name__}"
            )
        setattr_ = object.__setattr__
        steps = _simple_steps(expression)
        if steps is not None:
            # Plain dotted paths, the bulk of mapping leaves: no parser, and
            # the code is looked up by the kinds of the steps alone.
            find, first = compile_singular(steps, expression)
            singular = True
        else:
            tree = parse(expression)
            find, first = compile_query(tree, expression)
            singular = tree.singular
            if singular:
                steps = tuple(_step(seg) for seg in tree.segments)
        setattr_(self, "expression", expression)
        setattr_(self, "singular", singular)
        setattr_(self, "find", find)
        setattr_(self, "first", first)
        setattr_(self, "_canonical", None)
        setattr_(self, "_steps", steps)
        setattr_(self, "_locate", None)

    def locate(self, data: Any) -> list[tuple[str, Any]]:
        """(normalized path, value) pairs of the selected nodes.

        >>> compile("$.a[-1]").locate({"a": [1, 2]})
        [("$['a'][1]", 2)]
        """
        locate = self._locate
        if locate is None:
            # Built on first use: most queries are never located, and this
            # halves the cost and the memory of compiling them.
            locate = compile_locate(parse(self.expression))
            object.__setattr__(self, "_locate", locate)
        return locate(data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Query objects are immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Query objects are immutable (cannot delete {name!r})")

    def __str__(self) -> str:
        canonical = self._canonical
        if canonical is None:
            # Made on first use, like locate: most queries are never printed.
            steps = self._steps
            if steps is not None:
                canonical = "$" + "".join(
                    name_part(step) if isinstance(step, str) else f"[{step}]"
                    for step in steps
                )
            else:
                canonical = A.format_query(parse(self.expression))
            object.__setattr__(self, "_canonical", canonical)
        return canonical

    def __repr__(self) -> str:
        return f"Query({self.expression!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Query):
            return NotImplemented
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __reduce__(self) -> tuple[Callable[[str], Query], tuple[str]]:
        return (compile, (self.expression,))


_SIMPLE = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:0|-?[1-9][0-9]{0,15})\])*")
_SIMPLE_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?[0-9]+)\]")


def _simple_steps(expression: str) -> tuple[str | int, ...] | None:
    """The steps of a plain ``$.a.b[0]`` path, or None for anything else."""
    if _SIMPLE.fullmatch(expression) is None:
        return None
    steps: list[str | int] = []
    for name, index in _SIMPLE_STEP.findall(expression):
        if name:
            steps.append(name)
        else:
            number = int(index)
            if abs(number) > MAX_INT:
                return None  # let the parser report it
            steps.append(number)
    return tuple(steps)


def _step(seg: A.Segment) -> str | int:
    sel = seg.selectors[0]
    if isinstance(sel, A.Name):
        return sel.name
    assert isinstance(sel, A.Index)
    return sel.index


@lru_cache(maxsize=CACHE_SIZE)
def _compile_cached(expression: str) -> Query:
    return Query(expression)


def compile(expression: str) -> Query:
    """Compile an RFC 9535 JSONPath query (cached).

    Compiling the same text again returns the same object. Invalid text
    raises :class:`flowmap.JSONPathSyntaxError` with the position.

    >>> compile("$.a.b") is compile("$.a.b")
    True
    >>> compile("$.a[0]").find({"a": [7, 8]})
    [7]
    """
    try:
        return _compile_cached(expression)
    except TypeError:
        if not isinstance(expression, str):
            raise QueryTypeError(
                f"a JSONPath expression must be a str, not {type(expression).__name__}"
            ) from None
        raise


class QueryTypeError(FlowmapError, TypeError):
    """An expression that is not a string."""


def query(expression: str, data: Any) -> list[Any]:
    """Select from ``data`` with ``expression`` in one call.

    >>> query("$..price", {"a": {"price": 1}, "b": [{"price": 2}]})
    [1, 2]
    """
    return compile(expression).find(data)


def clear_cache() -> None:
    """Empty the compile cache and the cache of generated code shapes."""
    _compile_cached.cache_clear()
    clear_shape_cache()
