"""Turn a query tree into Python functions.

Each query becomes Python source for a *factory*: a function whose parameters
are the query's constants (member names, indexes, literals, compiled regexes,
each named by its role) and which returns the ``find``, ``first`` and
``locate`` evaluators (with the constants as defaults, see
:func:`_own_defaults`). The source depends only on the *shape* of the query, not on its
constants, so ``$.a.b`` and ``$.x.y`` share one factory: the costly step
(``compile()`` of the generated source) runs once per shape, and a new query
of a known shape costs a parse plus one factory call. Sharing code objects
also keeps each compiled query small in memory.

One class per kind of code emitted:

- :class:`_Writer`: constants, temporaries, subscript chains, the factory;
- :class:`_Lists`: list-at-a-time node lists (each segment turns the list
  ``cur`` into the next, so no query, however long, nests blocks deeply);
- :class:`_Filters`: filter expressions and their helper functions;
- :class:`_Loops`: ``find`` of a non-singular query as nested loops in one
  pass (or list-at-a-time for queries too deep to nest);
- :class:`_Locate`: ``locate``, node lists with normalized paths;
- :class:`_Singular`: ``find`` and ``first`` of singular queries, which
  depend only on which steps are names and which are indexes.

What the mapping compiler shares with this one is in :mod:`.emit`.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NoReturn

from .._cache import BoundedCache
from .._generated import release_with, run_source
from ..errors import JSONPathSyntaxError, MissingValueError
from . import _ast as A
from ._functions import (
    NOTHING,
    length,
    literal_regex_test,
    regex_test,
    value_of,
)
from ._iregexp import RegexUnsupported
from ._runtime import (
    MAX_NODES,
    MISSING,
    descend,
    descend_name,
    descend_paths,
    json_eq,
    json_le,
    json_lt,
    missing_step,
    name_part,
    too_large,
)
from .emit import CHAIN, path_against_literal, speculative_filter

# Filters over more items than this try a list comprehension first.
_COMPREHENSION_FROM = 24
# Names per line in a chained subscript: keeps generated expressions shallow.
_CHAIN = CHAIN
_LOOKUP_ERRORS = "(KeyError, TypeError, IndexError)"


def no_match(root: Any, default: Any, expression: str, steps: Any) -> Any:
    """What ``first`` does when nothing matched: the default, or an error."""
    if default is MISSING:
        step = missing_step(root, steps) if steps is not None else None
        raise MissingValueError(expression, step)
    return default


class _Guard:
    __slots__ = ()

    def __repr__(self) -> str:
        return "GUARD"


def too_many_arguments() -> NoReturn:
    raise TypeError("find() takes 1 argument and first() 1 or 2: too many given")


GLOBALS: dict[str, Any] = {
    "NOTHING": NOTHING,
    "MISSING": MISSING,
    "json_eq": json_eq,
    "json_lt": json_lt,
    "json_le": json_le,
    "descend": descend,
    "descend_name": descend_name,
    "MAX_NODES": MAX_NODES,
    "too_large": too_large,
    "descend_paths": descend_paths,
    "name_part": name_part,
    "length": length,
    "value_of": value_of,
    "regex_test": regex_test,
    "no_match": no_match,
    "GUARD": _Guard(),
    "too_many_arguments": too_many_arguments,
    "__builtins__": builtins,
}


def _build_factory(source: str) -> Callable[..., Any]:
    factory: Callable[..., Any]
    factory, filename = run_source(source, "query", dict(GLOBALS), "_factory")
    release_with(factory, filename)
    return factory


# Generated code by source text, and singular code by step kinds ('nni'):
# each shape's source is registered with linecache while it is cached.
_FACTORIES: BoundedCache[str, Callable[..., Any]] = BoundedCache(_build_factory, 2048)
_factory = _FACTORIES.get


def clear_shape_cache() -> None:
    _FACTORIES.clear()
    _SINGULAR.clear()


class _Writer:
    """Collects the source of one factory: its constants, helpers and temps."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.consts: list[Any] = []
        self.names: list[str] = []
        self.helpers: list[str] = []
        self.temps = 0

    def const(self, value: Any, role: str) -> str:
        """The factory parameter that holds ``value``, named by its role
        (``name_3``, ``literal_4``...) so that generated code reads well."""
        name = f"{role}_{len(self.consts)}"
        self.consts.append(value)
        self.names.append(name)
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def step_consts(self, steps: list[A.Name | A.Index]) -> list[tuple[bool, str]]:
        """Constants for singular steps: (is a name, placeholder)."""
        return [
            (True, self.const(s.name, "name"))
            if isinstance(s, A.Name)
            else (False, self.const(s.index, "index"))
            for s in steps
        ]

    def chain_lines(
        self, var: str, steps: list[tuple[bool, str]], fail: str, indent: str
    ) -> list[str]:
        """Lines that walk ``var`` along singular steps inside a ``try``.

        A failed lookup raises one of _LOOKUP_ERRORS; an index applied to a
        non-array runs ``fail``. Name lookups need no type check: on
        anything but a dict, ``x['name']`` raises TypeError.
        """
        lines: list[str] = []
        names: list[str] = []

        def flush() -> None:
            for start in range(0, len(names), _CHAIN):
                subscripts = "".join(f"[{k}]" for k in names[start : start + _CHAIN])
                lines.append(f"{indent}{var} = {var}{subscripts}")
            names.clear()

        for is_name, k in steps:
            if is_name:
                names.append(k)
            else:
                flush()
                lines.append(f"{indent}if not isinstance({var}, list): {fail}")
                lines.append(f"{indent}{var} = {var}[{k}]")
        flush()
        return lines

    def wrap(self, body: list[str], returns: str) -> str:
        out = [f"def _factory({', '.join(self.names)}):"]
        for helper in self.helpers:
            out += ["    " + line for line in helper.split("\n")]
        out += ["    " + line for line in _own_defaults(body)]
        out.append(f"    return {returns}")
        return "\n".join(out) + "\n"


class _Lists(_Writer):
    """List-at-a-time code for node lists: each segment turns the list
    ``cur`` into the next one, so no query, however long, nests blocks."""

    def logical(self, expr: A.Expr) -> str:
        """A filter's test (see :class:`_Filters`)."""
        raise NotImplementedError

    def nodes_function(self, segments: tuple[A.Segment, ...]) -> str:
        """A helper ``_qN(node, root)`` returning the node list selected."""
        name = f"_q{len(self.helpers)}"
        self.helpers.append("")  # reserve the slot (and the name)
        index = len(self.helpers) - 1
        lines = [f"def {name}(n0, root):", "    cur = [n0]"]
        lines += self.value_segments(segments)
        self.helpers[index] = "\n".join(lines)
        return name

    def value_segments(self, segments: tuple[A.Segment, ...]) -> list[str]:
        """Body lines turning ``cur`` into the selected nodes."""
        lines: list[str] = []
        for run, simple in _runs(segments):
            if lines:
                lines.append("    if not cur: return []")
            if simple:
                lines += self.chain_segment(_simple_steps(run))
            else:
                lines += self.general_segment(run[0])
        lines.append("    return cur")
        return lines

    def chain_segment(self, steps: list[A.Name | A.Index]) -> list[str]:
        lines = ["    nxt = []", "    for v in cur:", "        try:"]
        consts = self.step_consts(steps)
        lines += self.chain_lines("v", consts, "continue", "            ")
        lines += [
            f"        except {_LOOKUP_ERRORS}:",
            "            continue",
            "        nxt.append(v)",
            "    cur = nxt",
        ]
        return lines

    def general_segment(self, seg: A.Segment) -> list[str]:
        lines = ["    nxt = []", "    app = nxt.append"]
        lines.append(
            "    for n in descend(cur):" if seg.descendant else "    for n in cur:"
        )
        for sel in seg.selectors:
            lines += self.selector_code(sel)
        if seg.descendant:
            lines.append("    if len(nxt) > MAX_NODES: too_large()")
        lines.append("    cur = nxt")
        return lines

    def selector_code(self, sel: A.Selector) -> list[str]:
        ind = "        "
        if isinstance(sel, A.Name):
            k = self.const(sel.name, "name")
            return [
                f"{ind}if isinstance(n, dict):",
                f"{ind}    v = n.get({k}, NOTHING)",
                f"{ind}    if v is not NOTHING:",
                f"{ind}        app(v)",
            ]
        if isinstance(sel, A.Index):
            k = self.const(sel.index, "index")
            return [
                f"{ind}if isinstance(n, list):",
                f"{ind}    try: app(n[{k}])",
                f"{ind}    except IndexError: pass",
            ]
        if isinstance(sel, A.Wildcard):
            return [
                f"{ind}if isinstance(n, dict): nxt.extend(n.values())",
                f"{ind}elif isinstance(n, list): nxt.extend(n)",
            ]
        if isinstance(sel, A.Slice):
            if sel.step == 0:
                return [f"{ind}pass"]
            k = self.const(slice(sel.start, sel.stop, sel.step), "slice")
            return [f"{ind}if isinstance(n, list): nxt.extend(n[{k}])"]
        pred = self.logical(sel.expr)
        return [
            f"{ind}if isinstance(n, dict): it = n.values()",
            f"{ind}elif isinstance(n, list): it = n",
            f"{ind}else: it = ()",
            f"{ind}for c in it:",
            f"{ind}    if {pred}: app(c)",
        ]


class _Filters(_Lists):
    """Filter expressions: Python expressions over ``c`` (the current node)
    and ``root``, with helper functions for singular and nested queries."""

    def singular_helper(self, segments: tuple[A.Segment, ...]) -> str:
        """A helper ``_sN(node)`` returning the selected value or NOTHING."""
        name = f"_s{len(self.helpers)}"
        steps = self.step_consts(_simple_steps(segments))
        body = [f"def {name}(v):", "    try:"]
        body += self.chain_lines("v", steps, "return NOTHING", "        ")
        body += [
            f"    except {_LOOKUP_ERRORS}:",
            "        return NOTHING",
            "    return v",
        ]
        self.helpers.append("\n".join(body))
        return name

    def start(self, query: A.QueryNode) -> str:
        return "root" if query.absolute else "c"

    def singular_value(self, query: A.QueryNode) -> str:
        """Expression for a singular query's value, or NOTHING."""
        node = self.start(query)
        if not query.segments:
            return node
        if len(query.segments) == 1:
            sel = query.segments[0].selectors[0]
            if isinstance(sel, A.Name):
                k = self.const(sel.name, "name")
                got = f"{node}.get({k}, NOTHING)"
                return f"({got} if isinstance({node}, dict) else NOTHING)"
        return f"{self.singular_helper(query.segments)}({node})"

    def nodes(self, query: A.QueryNode) -> str:
        """Expression for the node list a (non-singular) query selects."""
        return f"{self.nodes_function(query.segments)}({self.start(query)}, root)"

    def value(self, expr: A.Expr) -> str:
        """Expression for a comparable / ValueType operand."""
        if isinstance(expr, A.Literal):
            return self.const(expr.value, "literal")
        if isinstance(expr, A.QueryNode):
            return self.singular_value(expr)
        if isinstance(expr, A.FunctionCall):
            return self.function(expr)
        raise AssertionError(f"not a value: {expr!r}")  # the parser type-checked

    def function(self, call: A.FunctionCall) -> str:
        name = call.name
        if name == "length":
            return f"length({self.value(call.args[0])})"
        if name in ("count", "value"):
            arg = call.args[0]
            assert isinstance(arg, A.QueryNode)
            if arg.singular:
                single = self.singular_value(arg)
                if name == "value":
                    return single
                return f"(0 if {single} is NOTHING else 1)"
            nodes = self.nodes(arg)
            return f"len({nodes})" if name == "count" else f"value_of({nodes})"
        full = name == "match"
        subject, pattern = call.args
        if isinstance(pattern, A.Literal):
            if not isinstance(pattern.value, str):
                return "False"
            try:
                tester = literal_regex_test(pattern.value, full)
            except RegexUnsupported as exc:
                raise JSONPathSyntaxError(
                    "regular expression not supported by the linear-time "
                    f"engine ({exc})",
                    self.expression,
                    pattern.pos,
                ) from None
            if tester is None:
                return "False"
            return f"{self.const(tester, 'regex')}({self.value(subject)})"
        return f"regex_test({full}, {self.value(subject)}, {self.value(pattern)})"

    def logical(self, expr: A.Expr) -> str:
        if isinstance(expr, A.Paren):
            return self.logical(expr.expr)
        if isinstance(expr, A.QueryNode):
            if not expr.segments:
                return "True"
            if expr.singular:
                return f"({self.singular_value(expr)} is not NOTHING)"
            return f"bool({self.nodes(expr)})"
        if isinstance(expr, A.FunctionCall):
            return self.function(expr)
        if isinstance(expr, A.Not):
            return f"(not {self.logical(expr.expr)})"
        if isinstance(expr, A.And):
            return "(" + " and ".join(self.logical(i) for i in expr.items) + ")"
        if isinstance(expr, A.Or):
            return "(" + " or ".join(self.logical(i) for i in expr.items) + ")"
        if isinstance(expr, A.Comparison):
            return self.comparison(expr)
        raise AssertionError(f"not a logical expression: {expr!r}")

    def comparison(self, cmp: A.Comparison) -> str:
        op, left, right = cmp.op, cmp.left, cmp.right
        if isinstance(left, A.Literal) and isinstance(right, A.Literal):
            return str(_fold(op, left.value, right.value))
        if op == ">":
            op, left, right = "<", right, left
        elif op == ">=":
            op, left, right = "<=", right, left
        if op == "==":
            return self.equality(left, right)
        if op == "!=":
            return f"(not {self.equality(left, right)})"
        t = self.temp()
        if isinstance(right, A.Literal) or isinstance(left, A.Literal):
            lit = right if isinstance(right, A.Literal) else left
            assert isinstance(lit, A.Literal)
            other = left if lit is right else right
            value = lit.value
            k = self.const(value, "literal")
            o = self.value(other)
            a, b = (t, k) if lit is right else (k, t)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return (
                    f"((({t} := {o}).__class__ is int or {t}.__class__ is float)"
                    f" and {a} {op} {b})"
                )
            if isinstance(value, str):
                return f"(isinstance({t} := {o}, str) and {a} {op} {b})"
        func = "json_lt" if op == "<" else "json_le"
        return f"{func}({self.value(left)}, {self.value(right)})"

    def equality(self, left: A.Expr, right: A.Expr) -> str:
        if isinstance(left, A.Literal):
            left, right = right, left
        if isinstance(right, A.Literal):
            value = right.value
            o = self.value(left)
            if value is None:
                return f"({o} is None)"
            if value is True or value is False:
                return f"({o} is {value})"
            k = self.const(value, "literal")
            if isinstance(value, str):
                return f"({o} == {k})"
            t = self.temp()
            return f"(({t} := {o}) == {k} and {t} is not True and {t} is not False)"
        return f"json_eq({self.value(left)}, {self.value(right)})"


class _Loops(_Filters):
    """``find`` of a non-singular query: nested loops over its segments,
    one pass with no intermediate lists, or list-at-a-time code for queries
    too deep to nest (see :func:`_nestable`)."""

    def nested_top(self, segments: tuple[A.Segment, ...], ind: str) -> list[str]:
        """Lines appending what ``segments`` select from ``root``.

        A leading run of names and indexes that finds nothing ends ``find``
        at once (nothing can be selected), instead of skipping a block.
        """
        runs = _runs(segments)
        if not runs or not runs[0][1]:
            return self.nested(segments, 0, "root", ind)
        first = runs[0][0]
        consts = self.step_consts(_simple_steps(first))
        w = self.temp()
        head = [f"{ind}{w} = root", f"{ind}try:"]
        head += self.chain_lines(w, consts, "return out", ind + "    ")
        head += [f"{ind}except {_LOOKUP_ERRORS}:", f"{ind}    return out"]
        return head + self.nested(segments, len(first), w, ind)

    def nested(
        self, segments: tuple[A.Segment, ...], i: int, var: str, ind: str
    ) -> list[str]:
        """Lines appending what ``segments[i:]`` selects from ``var``.

        Each segment opens a block (a ``try``, an ``if`` or a loop) binding
        the next variable, and the rest is nested inside it.
        """
        if i == len(segments):
            return [f"{ind}app({var})"]
        seg = segments[i]
        if seg.simple:
            return self.nested_chain(segments, i, var, ind)
        sel = seg.selectors[0]
        if seg.descendant and isinstance(sel, A.Name) and i == len(segments) - 1:
            return [f"{ind}descend_name({var}, {self.const(sel.name, 'name')}, out)"]
        lines: list[str] = []
        if seg.descendant:
            d = self.temp()
            lines.append(f"{ind}if len(out) > MAX_NODES: too_large()")
            lines.append(f"{ind}for {d} in descend([{var}]):")
            var, ind = d, ind + "    "
        opened: tuple[list[str], str, str] | None
        if isinstance(sel, A.Filter):
            opened = self.filter_block(sel.expr, segments[i + 1 :], var, ind)
        elif isinstance(sel, A.Wildcard):
            opened = self.wildcard_block(segments[i + 1 :], var, ind)
        else:
            opened = self.member_block(sel, var, ind)
        if opened is None:
            return [*lines, f"{ind}pass"]  # selects nothing
        head, var, ind = opened
        return lines + head + self.nested(segments, i + 1, var, ind)

    def nested_chain(
        self, segments: tuple[A.Segment, ...], i: int, var: str, ind: str
    ) -> list[str]:
        """A run of names and indexes: one ``try`` around chained subscripts."""
        j = i
        while j < len(segments) and segments[j].simple:
            j += 1
        consts = self.step_consts(_simple_steps(segments[i:j]))
        if (
            j == len(segments)
            and len(consts) <= _CHAIN
            and all(is_name for is_name, _ in consts)
        ):
            # The last steps: append straight from the subscript chain.
            chain = "".join(f"[{k}]" for _, k in consts)
            return [
                f"{ind}try: app({var}{chain})",
                f"{ind}except {_LOOKUP_ERRORS}: pass",
            ]
        w = self.temp()
        head = [f"{ind}{w} = {var}", f"{ind}try:"]
        head += self.chain_lines(w, consts, "raise TypeError", ind + "    ")
        head += [f"{ind}except {_LOOKUP_ERRORS}:", f"{ind}    pass", f"{ind}else:"]
        return head + self.nested(segments, j, w, ind + "    ")

    def member_block(
        self, sel: A.Selector, var: str, ind: str
    ) -> tuple[list[str], str, str] | None:
        """A name (of a descendant), an index or a slice: (lines, the
        variable bound, the indentation inside), or None for a slice with
        step 0."""
        w = self.temp()
        inner = ind + "    "
        if isinstance(sel, A.Name):
            k = self.const(sel.name, "name")
            lines = [
                f"{ind}if isinstance({var}, dict):",
                f"{inner}{w} = {var}.get({k}, NOTHING)",
                f"{inner}if {w} is not NOTHING:",
            ]
            return lines, w, inner + "    "
        if isinstance(sel, A.Index):
            k = self.const(sel.index, "index")
            lines = [
                f"{ind}if isinstance({var}, list):",
                f"{inner}try: {w} = {var}[{k}]",
                f"{inner}except IndexError: pass",
                f"{inner}else:",
            ]
            return lines, w, inner + "    "
        assert isinstance(sel, A.Slice)
        if sel.step == 0:
            return None
        k = self.const(slice(sel.start, sel.stop, sel.step), "slice")
        lines = [
            f"{ind}if isinstance({var}, list):",
            f"{inner}for {w} in {var}[{k}]:",
        ]
        return lines, w, inner + "    "

    def children(self, var: str, ind: str) -> tuple[list[str], str]:
        """Lines binding a new variable to the children of ``var``."""
        it = self.temp()
        return [
            f"{ind}if isinstance({var}, dict): {it} = {var}.values()",
            f"{ind}elif isinstance({var}, list): {it} = {var}",
            f"{ind}else: {it} = ()",
        ], it

    def wildcard_block(
        self, rest: tuple[A.Segment, ...], var: str, ind: str
    ) -> tuple[list[str], str, str]:
        """A loop over the children of ``var``."""
        lines, it = self.children(var, ind)
        w = self.temp()
        if (
            len(rest) == 1
            and rest[0].simple
            and isinstance(rest[0].selectors[0], A.Name)
        ):
            # ``[*].name`` at the end: itemgetter over the items at C
            # speed; if any item lacks the member, undo and go one by one.
            getter = self.const(itemgetter(rest[0].selectors[0].name), "getter")
            mark = self.temp()
            lines += [
                f"{ind}{mark} = len(out)",
                f"{ind}try:",
                f"{ind}    out.extend(map({getter}, {it}))",
                f"{ind}except {_LOOKUP_ERRORS}:",
                f"{ind}    del out[{mark}:]",
                f"{ind}    for {w} in {it}:",
            ]
            return lines, w, ind + "        "
        lines.append(f"{ind}for {w} in {it}:")
        return lines, w, ind + "    "

    def filter_block(
        self, expr: A.Expr, rest: tuple[A.Segment, ...], var: str, ind: str
    ) -> tuple[list[str], str, str]:
        """A loop over the children of ``var`` that pass the filter."""
        lines, it = self.children(var, ind)
        inner = ind + "    "
        comprehension = self.speculative_filter(expr, rest, it)
        if comprehension is not None:
            # Regular data at comprehension speed; anything irregular (a
            # missing member, a value of another type) raises, and the
            # items are then gone through one by one below.
            # A comprehension costs a function call in CPython 3.11: worth
            # it from a few dozen items on.
            mark, done = self.temp(), self.temp()
            lines += [
                f"{ind}{done} = False",
                f"{ind}if len({it}) > {_COMPREHENSION_FROM}:",
                f"{ind}    {mark} = len(out)",
                f"{ind}    try:",
                f"{ind}        out += {comprehension}",
                f"{ind}        {done} = True",
                f"{ind}    except {_LOOKUP_ERRORS}:",
                f"{ind}        del out[{mark}:]",
                f"{ind}if not {done}:",
            ]
            ind, inner = inner, inner + "    "
        fast = self.fast_filter(expr, inner)
        if fast is not None:
            lines.append(f"{ind}for c in {it}:")
            return lines + fast, "c", inner + "    "
        pred = self.logical(expr)
        lines += [f"{ind}for c in {it}:", f"{inner}if {pred}:"]
        return lines, "c", inner + "    "

    def speculative_filter(
        self, expr: A.Expr, rest: tuple[A.Segment, ...], it: str
    ) -> str | None:
        return speculative_filter(expr, rest, it, self.const, self.temp)

    def fast_filter(self, expr: A.Expr, ind: str) -> list[str] | None:
        """``[?@.a.b < 10]``-style filters as a ``try`` lookup and one test.

        Only for a comparison of a relative singular query with a literal,
        where a missing value makes the comparison false (not ``!=``).
        """
        found = path_against_literal(expr)
        if found is None:
            return None
        left, op, value = found
        t = self.temp()
        if value is None or value is True or value is False:
            if op != "==":
                return None
            test = f"{t} is {value}"
        elif isinstance(value, str):
            k = self.const(value, "literal")
            test = (
                f"{t} == {k}"
                if op == "=="
                else f"isinstance({t}, str) and {t} {op} {k}"
            )
        else:
            k = self.const(value, "literal")
            consts = self.step_consts(_simple_steps(left.segments))
            ok = self.temp()
            # Python's own ordering raises TypeError for every non-number
            # against a number except bool, which is excluded after: one
            # comparison inside the try instead of two type checks.
            lines = [f"{ind}{t} = c", f"{ind}try:"]
            lines += self.chain_lines(t, consts, "continue", ind + "    ")
            lines += [
                f"{ind}    {ok} = {t} {op} {k}",
                f"{ind}except {_LOOKUP_ERRORS}:",
                f"{ind}    continue",
                f"{ind}if {ok} and {t} is not True and {t} is not False:",
            ]
            return lines
        consts = self.step_consts(_simple_steps(left.segments))
        lines = [f"{ind}{t} = c", f"{ind}try:"]
        lines += self.chain_lines(t, consts, "continue", ind + "    ")
        lines += [
            f"{ind}except {_LOOKUP_ERRORS}:",
            f"{ind}    continue",
            f"{ind}if {test}:",
        ]
        return lines

    def build_general(self, query: A.QueryNode) -> str:
        """``find`` and ``first`` of a non-singular query."""
        expr_k = self.const(self.expression, "expression")
        if _nestable(query.segments):
            body = ["def find(root):", "    out = []", "    app = out.append"]
            body += self.nested_top(query.segments, "    ")
            if any(seg.descendant for seg in query.segments):
                body.append("    if len(out) > MAX_NODES: too_large()")
            body.append("    return out")
        else:
            body = ["def find(root):", "    cur = [root]"]
            body += self.value_segments(query.segments)
        body += [
            "def first(root, default=MISSING):",
            "    found = find(root)",
            "    if found: return found[0]",
            f"    return no_match(root, default, {expr_k}, None)",
        ]
        return self.wrap(body, "find, first")


class _Locate(_Filters):
    """``locate``: list-at-a-time code carrying each node's normalized path
    (``curp`` beside ``cur``)."""

    def build_locate(self, query: A.QueryNode) -> str:
        body = ["def locate(root):", "    cur = [root]", "    curp = ['$']"]
        body += self.path_segments(query.segments)
        return self.wrap(body, "locate")

    def path_segments(self, segments: tuple[A.Segment, ...]) -> list[str]:
        """Body lines turning ``cur`` and ``curp`` into (path, node) pairs."""
        lines: list[str] = []
        for run, simple in _runs(segments):
            if lines:
                lines.append("    if not cur: return []")
            if simple:
                lines += self.path_chain_segment(_simple_steps(run))
            else:
                lines += self.path_general_segment(run[0])
        lines.append("    return list(zip(curp, cur))")
        return lines

    def path_chain_segment(self, steps: list[A.Name | A.Index]) -> list[str]:
        lines = [
            "    nxt = []",
            "    nxtp = []",
            "    for v, p in zip(cur, curp):",
            "        try:",
        ]
        lines += self.path_chain_lines(steps)
        lines += [
            f"        except {_LOOKUP_ERRORS}:",
            "            continue",
            "        nxt.append(v)",
            "        nxtp.append(p)",
            "    cur = nxt",
            "    curp = nxtp",
        ]
        return lines

    def path_chain_lines(self, steps: list[A.Name | A.Index]) -> list[str]:
        ind = "            "
        lines: list[str] = []
        for step in steps:
            if isinstance(step, A.Name):
                k = self.const(step.name, "name")
                piece = self.const(name_part(step.name), "piece")
                lines.append(f"{ind}v = v[{k}]; p = p + {piece}")
            elif step.index >= 0:
                k = self.const(step.index, "index")
                piece = self.const(f"[{step.index}]", "piece")
                lines.append(f"{ind}if not isinstance(v, list): continue")
                lines.append(f"{ind}v = v[{k}]; p = p + {piece}")
            else:
                k = self.const(step.index, "index")
                lines.append(f"{ind}if not isinstance(v, list): continue")
                lines.append(f"{ind}i = len(v) + {k}")
                lines.append(f"{ind}if i < 0: continue")
                lines.append(f'{ind}v = v[i]; p = f"{{p}}[{{i}}]"')
        return lines

    def path_general_segment(self, seg: A.Segment) -> list[str]:
        lines = ["    nxt = []", "    app = nxt.append"]
        lines += ["    nxtp = []", "    appp = nxtp.append"]
        if seg.descendant:
            lines.append("    dn, dp = descend_paths(cur, curp)")
            lines.append("    for n, p in zip(dn, dp):")
        else:
            lines.append("    for n, p in zip(cur, curp):")
        for sel in seg.selectors:
            lines += self.path_selector_code(sel)
        if seg.descendant:
            lines.append("    if len(nxt) > MAX_NODES: too_large()")
        lines += ["    cur = nxt", "    curp = nxtp"]
        return lines

    def path_selector_code(self, sel: A.Selector) -> list[str]:
        ind = "        "
        if isinstance(sel, A.Name):
            k = self.const(sel.name, "name")
            piece = self.const(name_part(sel.name), "piece")
            return [
                f"{ind}if isinstance(n, dict):",
                f"{ind}    v = n.get({k}, NOTHING)",
                f"{ind}    if v is not NOTHING:",
                f"{ind}        app(v)",
                f"{ind}        appp(p + {piece})",
            ]
        if isinstance(sel, A.Index):
            k = self.const(sel.index, "index")
            resolve = k if sel.index >= 0 else f"len(n) + {k}"
            return [
                f"{ind}if isinstance(n, list):",
                f"{ind}    i = {resolve}",
                f"{ind}    if 0 <= i < len(n):",
                f"{ind}        app(n[i])",
                f'{ind}        appp(f"{{p}}[{{i}}]")',
            ]
        if isinstance(sel, A.Wildcard):
            return [
                f"{ind}if isinstance(n, dict):",
                f"{ind}    for k, v in n.items():",
                f"{ind}        app(v); appp(p + name_part(k))",
                f"{ind}elif isinstance(n, list):",
                f"{ind}    for i, v in enumerate(n):",
                f'{ind}        app(v); appp(f"{{p}}[{{i}}]")',
            ]
        if isinstance(sel, A.Slice):
            if sel.step == 0:
                return [f"{ind}pass"]
            k = self.const(slice(sel.start, sel.stop, sel.step), "slice")
            return [
                f"{ind}if isinstance(n, list):",
                f"{ind}    for i in range(*{k}.indices(len(n))):",
                f'{ind}        app(n[i]); appp(f"{{p}}[{{i}}]")',
            ]
        pred = self.logical(sel.expr)
        return [
            f"{ind}if isinstance(n, dict):",
            f"{ind}    for k, c in n.items():",
            f"{ind}        if {pred}: app(c); appp(p + name_part(k))",
            f"{ind}elif isinstance(n, list):",
            f"{ind}    for i, c in enumerate(n):",
            f'{ind}        if {pred}: app(c); appp(f"{{p}}[{{i}}]")',
        ]


class _Singular(_Writer):
    """``find`` and ``first`` of singular queries, by step kinds only."""

    def build_singular(self, kinds: str) -> str:
        """``find`` and ``first`` of a singular query of the given step kinds.

        The constants are, in order: the expression, the steps tuple, then
        each step ('n' a name, 'i' an index).
        """
        expr_k = self.const(None, "expression")
        steps_k = self.const(None, "steps")
        consts = [
            (kind == "n", self.const(None, "name" if kind == "n" else "index"))
            for kind in kinds
        ]
        fail = f"return no_match(root, default, {expr_k}, {steps_k})"
        if consts and "i" not in kinds and len(consts) <= _CHAIN:
            # Names only: return straight from one subscript chain.
            subscripts = "".join(f"[{k}]" for _, k in consts)
            body = [
                "def find(root):",
                "    try:",
                f"        return [root{subscripts}]",
                f"    except {_LOOKUP_ERRORS}:",
                "        return []",
                "def first(root, default=MISSING):",
                "    try:",
                f"        return root{subscripts}",
                f"    except {_LOOKUP_ERRORS}:",
                f"        {fail}",
            ]
            return self.wrap(body, "find, first")
        chain = self.chain_lines("v", consts, "return []", "        ")
        body = ["def find(root):", "    v = root"]
        if chain:
            body += ["    try:", *chain]
            body += [f"    except {_LOOKUP_ERRORS}:", "        return []"]
        body.append("    return [v]")
        chain = self.chain_lines("v", consts, fail, "        ")
        body += ["def first(root, default=MISSING):", "    v = root"]
        if chain:
            body += ["    try:", *chain]
            body += [f"    except {_LOOKUP_ERRORS}:", f"        {fail}"]
        body.append("    return v")
        return self.wrap(body, "find, first")


def _runs(
    segments: tuple[A.Segment, ...],
) -> list[tuple[tuple[A.Segment, ...], bool]]:
    """Segments grouped into (run, simple): runs of names and indexes (child
    segments of one such selector) and single other segments."""
    runs: list[tuple[tuple[A.Segment, ...], bool]] = []
    i, count = 0, len(segments)
    while i < count:
        j = i + 1
        if segments[i].simple:
            while j < count and segments[j].simple:
                j += 1
        runs.append((segments[i:j], segments[i].simple))
        i = j
    return runs


# What an evaluator may use from its factory: constants (``name_3``),
# helpers (``_s0``, ``_q1``) and ``find``.
_FACTORY_NAME = re.compile(r"\b(?:[a-z]+_\d+|_[sq]\d+|find)\b")


def _own_defaults(body: list[str]) -> list[str]:
    """The evaluators of ``body`` with no closure: what they use from the
    factory becomes trailing defaults (``def find(root, name_0=name_0)``).

    A function with no closure can hand its code to another such function
    (``f.__code__ = g.__code__``): this is how a first-tier ``find`` that a
    caller kept becomes the generated code itself (see ``Query.prepare``).
    Positional defaults, not keyword-only ones: a call fills those from a
    tuple, but looks each keyword-only one up in a dict. (They are not for
    callers: ``find`` and ``first`` are documented with one and two
    parameters.)
    """
    out: list[str] = []
    starts = [i for i, line in enumerate(body) if line.startswith("def ")]
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(body)
        head, block = body[start], body[start + 1 : end]
        names = dict.fromkeys(_FACTORY_NAME.findall("\n".join(block)))
        if names:
            assert head.endswith("):")
            own = ", ".join(f"{name}={name}" for name in names)
            # A guard first, so that an extra positional argument raises
            # TypeError instead of replacing a constant.
            head = f"{head[:-2]}, _guard=GUARD, {own}):"
            block = ["    if _guard is not GUARD: too_many_arguments()", *block]
        out += [head, *block]
    return out


#: Most non-singular segments compiled as nested loops; more fall back to
#: list-at-a-time code (Python limits statically nested blocks to 20).
_MAX_NESTED = 5


#: Queries larger than this, counted in segments, selectors and filter
#: expression nodes, are never turned into generated code: they keep the
#: closures of the first tier, whose cost is linear in the query's length,
#: while the size of generated source (and Python's compile() of it) would
#: not be. No hand-written query comes close.
MAX_GENERATED_SIZE = 128


def generable(query: A.QueryNode) -> bool:
    """Whether ``query`` is small enough to be turned into generated code."""
    size = 0
    for node in A.walk_filters(query):
        size += 1
        if isinstance(node, A.QueryNode):
            if len(node.segments) > MAX_GENERATED_SIZE:
                return False
            size += sum(len(seg.selectors) for seg in node.segments)
        if size > MAX_GENERATED_SIZE:
            return False
    return True


def generable_steps(steps: tuple[str | int, ...]) -> bool:
    """Whether a singular query of these steps gets generated code."""
    return len(steps) <= MAX_GENERATED_SIZE


def _nestable(segments: tuple[A.Segment, ...]) -> bool:
    if any(len(seg.selectors) != 1 for seg in segments):
        return False
    loops = sum(1 for seg in segments if not _is_simple(seg))
    chains = sum(
        1
        for i, seg in enumerate(segments)
        if _is_simple(seg) and (i == 0 or not _is_simple(segments[i - 1]))
    )
    return loops + chains <= _MAX_NESTED * 2 and loops <= _MAX_NESTED


def _simple_steps(segments: tuple[A.Segment, ...]) -> list[A.Name | A.Index]:
    steps: list[A.Name | A.Index] = []
    for seg in segments:
        sel = seg.selectors[0]
        assert isinstance(sel, (A.Name, A.Index))
        steps.append(sel)
    return steps


def _is_simple(seg: A.Segment) -> bool:
    return seg.simple


def _fold(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return json_eq(a, b)
    if op == "!=":
        return not json_eq(a, b)
    if op == "<":
        return json_lt(a, b)
    if op == "<=":
        return json_le(a, b)
    if op == ">":
        return json_lt(b, a)
    return json_le(b, a)


def _build_singular(kinds: str) -> Callable[..., Any]:
    return _build_factory(_Singular("").build_singular(kinds))


_SINGULAR: BoundedCache[str, Callable[..., Any]] = BoundedCache(_build_singular, 1024)


def _kinds(steps: tuple[str | int, ...]) -> str:
    return "".join("n" if isinstance(step, str) else "i" for step in steps)


def singular_ready(steps: tuple[str | int, ...]) -> bool:
    """Whether the code for singular queries of this shape is compiled already."""
    return _kinds(steps) in _SINGULAR


def raise_regex_error(query: A.QueryNode, expression: str, exc: Exception) -> NoReturn:
    """Raise the syntax error for the first literal pattern RE2 refuses."""
    for node in A.walk_filters(query):
        if (
            isinstance(node, A.FunctionCall)
            and node.name in ("match", "search")
            and isinstance(node.args[1], A.Literal)
            and isinstance(node.args[1].value, str)
        ):
            try:
                literal_regex_test(node.args[1].value, True)
            except RegexUnsupported:
                raise JSONPathSyntaxError(
                    "regular expression not supported by the linear-time "
                    f"engine ({exc})",
                    expression,
                    node.args[1].pos,
                ) from None
    raise exc  # pragma: no cover - the walk finds the pattern


def compile_singular(
    steps: tuple[str | int, ...], expression: str
) -> tuple[Callable[[Any], list[Any]], Callable[..., Any]]:
    """``find`` and ``first`` for a singular query given as its steps.

    The code depends only on which steps are names and which are indexes,
    so it is looked up by that alone, without generating any source.
    """
    kinds = _kinds(steps)
    find, first = _SINGULAR.get(kinds)(expression, steps, *steps)
    return find, first


def compile_query(
    query: A.QueryNode, expression: str
) -> tuple[Callable[[Any], list[Any]], Callable[..., Any]]:
    """Build the ``find`` and ``first`` functions for ``query``."""
    if query.singular:
        steps = tuple(
            s.name if isinstance(s, A.Name) else s.index
            for s in _simple_steps(query.segments)
        )
        return compile_singular(steps, expression)
    gen = _Loops(expression)
    source = gen.build_general(query)
    find, first = _factory(source)(*gen.consts)
    return find, first


def compile_locate(query: A.QueryNode) -> Callable[[Any], list[tuple[str, Any]]]:
    """Build the ``locate`` function for ``query``."""
    gen = _Locate("")
    source = gen.build_locate(query)
    locate: Callable[[Any], list[tuple[str, Any]]] = _factory(source)(*gen.consts)
    return locate


def generated_source(query: A.QueryNode, expression: str) -> str | None:
    """The ``find``/``first`` factory source of ``query``'s shape, or None for
    a query too large for generated code (see :func:`generable`)."""
    if not generable(query):
        return None
    if query.singular:
        kinds = "".join(
            "n" if isinstance(s, A.Name) else "i" for s in _simple_steps(query.segments)
        )
        return _Singular(expression).build_singular(kinds)
    return _Loops(expression).build_general(query)
