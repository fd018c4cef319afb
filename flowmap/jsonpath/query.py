"""Compiled queries and the compile cache."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from .._cache import BoundedCache
from ..errors import JSONPathSyntaxError, QueryTypeError
from . import _ast as A
from ._compiler import (
    clear_shape_cache,
    compile_locate,
    compile_query,
    compile_singular,
    generable,
    generable_steps,
    generated_source,
    raise_regex_error,
    singular_ready,
)
from ._interpreter import build_locate, build_nodes, singular_lookup
from ._iregexp import RegexUnsupported
from ._iregexp import clear_cache as clear_regex_cache
from ._parser import MAX_INT, parse, parse_segments
from ._runtime import name_part
from ._tiers import UPGRADE_AFTER as UPGRADE_AFTER
from ._tiers import Tier

__all__ = [
    "FirstFunction",
    "Query",
    "clear_cache",
    "compile",
    "normalized_path",
    "parse_prefix",
    "query",
]

CACHE_SIZE = 4096


class FirstFunction(Protocol):
    """The type of :attr:`Query.first`: ``first(data, default=...)``."""

    def __call__(self, data: Any, /, default: Any = ...) -> Any: ...


class Query:
    """A compiled RFC 9535 JSONPath query. Build one with :func:`compile`.

    Queries are immutable and safe to share between threads. ``find`` and
    ``first`` are plain functions (so calling them costs no bound-method
    creation): closures over the parsed query for the first few calls, then
    code generated for this query (a function kept from before the switch
    becomes that code too); ``locate`` is a method whose evaluator is
    generated on first use:

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
        "_tier",
        "expression",
        "find",
        "first",
        "singular",
    )

    expression: str
    singular: bool
    find: Callable[[Any], list[Any]]
    first: FirstFunction
    _canonical: str | None
    _steps: tuple[str | int, ...] | None
    _locate: Callable[[Any], list[tuple[str, Any]]] | None
    # While the first tier serves calls: its state, else None.
    _tier: Tier | None

    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str):
            raise QueryTypeError(
                f"a JSONPath expression must be a str, not {type(expression).__name__}"
            )
        steps = _simple_steps(expression)
        self._setup(expression, steps, parse(expression) if steps is None else None)

    @classmethod
    def _from_tree(cls, expression: str, tree: A.QueryNode) -> Query:
        """The query of ``expression`` from its already parsed ``tree``."""
        self = cls.__new__(cls)
        self._setup(expression, None, tree)
        return self

    def _setup(
        self,
        expression: str,
        steps: tuple[str | int, ...] | None,
        tree: A.QueryNode | None,
    ) -> None:
        setattr_ = object.__setattr__
        if tree is not None:
            singular = tree.singular
            if singular:
                steps = tuple(_step(seg) for seg in tree.segments)
        else:
            singular = True
        setattr_(self, "expression", expression)
        setattr_(self, "singular", singular)
        setattr_(self, "_canonical", None)
        setattr_(self, "_steps", steps)
        setattr_(self, "_locate", None)
        setattr_(self, "_tier", None)
        if steps is not None and singular_ready(steps):
            # Plain paths of a known shape: straight to generated code.
            find, first = compile_singular(steps, expression)
            setattr_(self, "find", find)
            setattr_(self, "first", first)
            return
        if steps is not None:
            tier = Tier(singular_lookup(steps), self, steps, singular=True)
        else:
            assert tree is not None
            try:
                nodes = build_nodes(tree.segments)
            except RegexUnsupported as exc:
                raise_regex_error(tree, expression, exc)
            tier = Tier(nodes, self, tree, singular=False)
        setattr_(self, "_tier", tier)
        setattr_(self, "find", tier.find)
        setattr_(self, "first", tier.first)

    @property
    def steps(self) -> tuple[str | int, ...] | None:
        """The steps of a singular query, None for any other query.

        Names are ``str`` and indexes ``int``, in order; ``$`` has no steps.
        This is the interface the neighbouring layers (mapping, merge, Step
        Functions) use to walk or build a singular path themselves.

        >>> compile("$.a[0]['b c']").steps
        ('a', 0, 'b c')
        >>> compile("$.a[*]").steps is None
        True
        """
        return self._steps

    def split_prefix(self) -> tuple[tuple[str | int, ...], Query | None]:
        """(steps, rest): the query's leading names and indexes, and the rest.

        For code generators that share the lookups of common prefixes (the
        mapping compiler): ``$.a.b[*].c`` gives ``(('a', 'b'), <$[*].c>)``;
        a singular query gives its steps and None. When a filter in the rest
        reads the root (``$``), the whole query is the rest, since the rest
        runs from the node at the prefix.

        >>> steps, rest = compile("$.a.b[*].c").split_prefix()
        >>> steps, str(rest)
        (('a', 'b'), "$[*]['c']")
        """
        if self._steps is not None:
            return self._steps, None
        segments = parse(self.expression).segments
        i = 0
        while i < len(segments) and segments[i].simple:
            i += 1
        if i == 0 or any(_reads_root(seg) for seg in segments[i:]):
            return (), self
        rest = segments[i:]
        text = A.format_query(A.QueryNode(True, rest))
        # From the tree already parsed (its positions are the whole
        # query's, which only regex errors would use, and this query's
        # regexes compiled already).
        query = _CACHE.get(text, partial(_from_segments, rest))
        return tuple(_step(seg) for seg in segments[:i]), query

    @property
    def source(self) -> str | None:
        """The Python source generated for this query's shape, for reading.

        The factory whose parameters are the query's constants, named by
        role (``name_1``, ``literal_2``...), and which returns ``find`` and
        ``first``. Tracebacks through generated code show these lines: each
        shape's source is registered with :mod:`linecache` (under a name
        like ``<flowmap query 7>``) while the shape is cached. None for a
        query too large for generated code (see :meth:`prepare`).

        >>> print(compile("$.a.b").source)  # doctest: +ELLIPSIS
        def _factory(expression_0, steps_1, name_2, name_3):
            def find(root, _guard=GUARD, name_2=name_2, name_3=name_3):
                if _guard is not GUARD: too_many_arguments()
                try:
                    return [root[name_2][name_3]]
        ...
        """
        return generated_source(parse(self.expression), self.expression)

    def prepare(self) -> Query:
        """Generate this query's code now; returns the query itself.

        A query answers its first few calls from closures built at compile
        time, and then switches to code generated for it, which is faster but
        costs 100-300 us to generate the first time a query of its shape is
        seen. Call ``prepare()`` for a query known to be hot, to skip the
        first few calls' slower tier. ``find`` and ``first`` functions
        fetched before the switch become the generated code too.

        Queries too large for generated code (more than
        ``MAX_GENERATED_SIZE`` = 128 segments, selectors and filter nodes,
        far beyond hand-written ones) keep the closures, whose cost stays
        linear in the query's length.

        >>> q = compile("$.items[*].id").prepare()
        >>> q.find({"items": [{"id": 1}, {"id": 2}]})
        [1, 2]
        """
        tier = self._tier
        if tier is None:
            return self
        pending = tier.pending
        generated: tuple[Callable[[Any], list[Any]], Callable[..., Any]] | None = None
        if isinstance(pending, tuple):
            if generable_steps(pending):
                generated = compile_singular(pending, self.expression)
        elif generable(pending):
            generated = compile_query(pending, self.expression)
        if generated is None:
            tier.stay()
            find, first = tier.find, tier.first
        else:
            find, first = generated
            tier.hand_over(find, first)
        object.__setattr__(self, "find", find)
        object.__setattr__(self, "first", first)
        object.__setattr__(self, "_tier", None)
        return self

    def locate(self, data: Any) -> list[tuple[str, Any]]:
        """(normalized path, value) pairs of the selected nodes.

        >>> compile("$.a[-1]").locate({"a": [1, 2]})
        [("$['a'][1]", 2)]
        """
        locate = self._locate
        if locate is None:
            # Built on first use: most queries are never located, and this
            # halves the cost and the memory of compiling them.
            tree = parse(self.expression)
            locate = (
                compile_locate(tree) if generable(tree) else build_locate(tree.segments)
            )
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
                canonical = normalized_path(steps)
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


def _reads_root(seg: A.Segment) -> bool:
    """Whether a filter in ``seg`` reads the root (``$``)."""
    return any(
        isinstance(node, A.QueryNode) and node.absolute
        for sel in seg.selectors
        if isinstance(sel, A.Filter)
        for node in A.walk_filters(A.QueryNode(False, (A.Segment((sel,), False),)))
    )


def normalized_path(steps: tuple[str | int, ...]) -> str:
    """The normalized path (RFC 9535 section 2.7) of a singular query's steps.

    >>> normalized_path(("a", 0, "b c"))
    "$['a'][0]['b c']"
    >>> print(normalized_path(("a", 0, "it's")))
    $['a'][0]['it\\'s']
    """
    return "$" + "".join(
        name_part(step) if isinstance(step, str) else f"[{step}]" for step in steps
    )


def _step(seg: A.Segment) -> str | int:
    sel = seg.selectors[0]
    if isinstance(sel, A.Name):
        return sel.name
    assert isinstance(sel, A.Index)
    return sel.index


_CACHE: BoundedCache[str, Query] = BoundedCache(Query, CACHE_SIZE)


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
        return _CACHE.get(expression)
    except TypeError:
        if not isinstance(expression, str):
            raise QueryTypeError(
                f"a JSONPath expression must be a str, not {type(expression).__name__}"
            ) from None
        raise


def parse_prefix(text: str, pos: int = 0, *, root: str = "$") -> tuple[Query, int]:
    """Read the query that starts at ``text[pos]``; return it and where it ends.

    This is the interface for layers that embed JSONPath in a larger text
    (mapping leaves such as ``$CONST.a | 'x'``, Step Functions intrinsic
    calls). The query is ``root`` (``"$"``; a neighbour may name its own
    root, such as ``"$$"`` or ``"$CONST"``) followed by RFC 9535 segments,
    and it ends before the first character that cannot continue it (blank
    space before that character is not part of it). The result is the
    compiled query of ``"$"`` followed by those segments, the same object
    :func:`compile` gives for that text, and the index just past its last
    segment. The text is parsed once. A syntax error raises
    :class:`flowmap.JSONPathSyntaxError` with its position in ``text``.

    >>> query, end = parse_prefix("$.a.b | 'x'")
    >>> str(query), end
    ("$['a']['b']", 5)
    >>> query, end = parse_prefix("f($$.id, 1)", 2, root="$$")
    >>> query.expression, end
    ('$.id', 7)
    """
    if not text.startswith(root, pos):
        raise JSONPathSyntaxError(f"expected {root!r}", text, pos)
    after = pos + len(root)
    segments, end = parse_segments(text, after)
    expression = "$" + text[after:end]
    try:
        query = _CACHE.get(expression, partial(_from_segments, segments))
    except JSONPathSyntaxError as exc:
        # Errors found after parsing (regex literals) point into ``text``
        # already: the tree's positions are ``text``'s.
        raise JSONPathSyntaxError(exc.reason, text, exc.position) from None
    return query, end


def _from_segments(segments: tuple[A.Segment, ...], expression: str) -> Query:
    return Query._from_tree(expression, A.QueryNode(True, segments, 0))


def query(expression: str, data: Any) -> list[Any]:
    """Select from ``data`` with ``expression`` in one call.

    >>> query("$..price", {"a": {"price": 1}, "b": [{"price": 2}]})
    [1, 2]
    """
    return compile(expression).find(data)


def clear_cache() -> None:
    """Empty the compile cache and the cache of generated code shapes."""
    _CACHE.clear()
    clear_shape_cache()
    clear_regex_cache()
