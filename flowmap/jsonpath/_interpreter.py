"""The first tier: evaluators built from closures, with no code generation.

Generating and compiling Python source costs 100-300 us for a query shape
seen for the first time, far more than parsing. A query therefore starts with
these closures, which are cheap to build, and is only compiled to generated
code (:mod:`._compiler`) once it has been used a few times. The two tiers
implement the same semantics; the tests run both over the whole compliance
suite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _ast as A
from ._functions import (
    NOTHING,
    length,
    literal_regex_test,
    regex_test,
    value_of,
)
from ._runtime import (
    MAX_NODES,
    descend,
    json_eq,
    json_le,
    json_lt,
    name_part,
    too_large,
)

Nodes = Callable[[Any, Any], list[Any]]  # (node, root) -> selected nodes
Value = Callable[[Any, Any], Any]  # (current, root) -> value or NOTHING
Select = Callable[[Any, Any, list[Any]], None]  # (node, root, out)


def build_nodes(segments: tuple[A.Segment, ...]) -> Nodes:
    """A function selecting ``segments`` from a node, segment by segment."""
    steps = [_segment(seg) for seg in segments]

    def run(node: Any, root: Any) -> list[Any]:
        current = [node]
        for step in steps:
            current = step(current, root)
            if not current:
                break
        return current

    return run


def _segment(seg: A.Segment) -> Callable[[list[Any], Any], list[Any]]:
    selectors = [_selector(sel) for sel in seg.selectors]
    descendant = seg.descendant

    def run(nodes: list[Any], root: Any) -> list[Any]:
        out: list[Any] = []
        for node in descend(nodes) if descendant else nodes:
            for select in selectors:
                select(node, root, out)
        if descendant and len(out) > MAX_NODES:
            too_large()
        return out

    return run


def _selector(sel: A.Selector) -> Select:
    if isinstance(sel, A.Name):
        name = sel.name

        def select_name(node: Any, root: Any, out: list[Any]) -> None:
            if isinstance(node, dict):
                value = node.get(name, NOTHING)
                if value is not NOTHING:
                    out.append(value)

        return select_name
    if isinstance(sel, A.Index):
        index = sel.index

        def select_index(node: Any, root: Any, out: list[Any]) -> None:
            if isinstance(node, list) and -len(node) <= index < len(node):
                out.append(node[index])

        return select_index
    if isinstance(sel, A.Wildcard):

        def select_all(node: Any, root: Any, out: list[Any]) -> None:
            if isinstance(node, dict):
                out.extend(node.values())
            elif isinstance(node, list):
                out.extend(node)

        return select_all
    if isinstance(sel, A.Slice):
        if sel.step == 0:
            return lambda node, root, out: None
        bounds = slice(sel.start, sel.stop, sel.step)

        def select_slice(node: Any, root: Any, out: list[Any]) -> None:
            if isinstance(node, list):
                out.extend(node[bounds])

        return select_slice
    test = _logical(sel.expr)

    def select_filter(node: Any, root: Any, out: list[Any]) -> None:
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            return
        for child in children:
            if test(child, root):
                out.append(child)

    return select_filter


# --- normalized paths ----------------------------------------------------------

# A node's path while a query runs: None for the root, else (parent's path,
# member name or array index). Shared prefixes keep building paths linear in
# the query's length; the text is written once per selected node.
Link = tuple[Any, str | int] | None
Located = Callable[[list[Any], list[Link], Any], tuple[list[Any], list[Link]]]


def build_locate(segments: tuple[A.Segment, ...]) -> Callable[[Any], Any]:
    """``locate`` from closures: (normalized path, value) pairs.

    Used for queries too large for generated code, whose normalized paths
    can be as long as the query itself.
    """
    steps = [_located_segment(seg) for seg in segments]

    def locate(root: Any) -> list[tuple[str, Any]]:
        nodes: list[Any] = [root]
        links: list[Link] = [None]
        for step in steps:
            nodes, links = step(nodes, links, root)
            if not nodes:
                break
        return [(path_text(link), node) for node, link in zip(nodes, links)]

    return locate


def path_text(link: Link) -> str:
    """The normalized path of a link, written from the root down."""
    parts: list[str] = []
    while link is not None:
        link, step = link
        parts.append(name_part(step) if isinstance(step, str) else f"[{step}]")
    parts.append("$")
    return "".join(reversed(parts))


def _descend_links(nodes: list[Any], links: list[Link]) -> tuple[list[Any], list[Link]]:
    """Like :func:`descend`, with each node's link."""
    out: list[Any] = []
    out_links: list[Link] = []
    for root, root_link in zip(nodes, links):
        if not isinstance(root, (dict, list)):
            continue
        stack: list[tuple[Any, Link]] = [(root, root_link)]
        while stack:
            node, link = stack.pop()
            out.append(node)
            out_links.append(link)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend(
                (child, (link, key))
                for key, child in reversed(list(items))
                if isinstance(child, (dict, list))
            )
        if len(out) > MAX_NODES:
            too_large()
    return out, out_links


def _located_segment(seg: A.Segment) -> Located:
    selectors = [_located_selector(sel) for sel in seg.selectors]
    descendant = seg.descendant

    def run(
        nodes: list[Any], links: list[Link], root: Any
    ) -> tuple[list[Any], list[Link]]:
        if descendant:
            nodes, links = _descend_links(nodes, links)
        out: list[Any] = []
        out_links: list[Link] = []
        for node, link in zip(nodes, links):
            for select in selectors:
                select(node, link, root, out, out_links)
        if descendant and len(out) > MAX_NODES:
            too_large()
        return out, out_links

    return run


LocatedSelect = Callable[[Any, Link, Any, list[Any], list[Link]], None]


def _located_selector(sel: A.Selector) -> LocatedSelect:
    if isinstance(sel, A.Name):
        name = sel.name

        def name_(
            node: Any, link: Link, root: Any, out: list[Any], lo: list[Link]
        ) -> None:
            if isinstance(node, dict) and name in node:
                out.append(node[name])
                lo.append((link, name))

        return name_
    if isinstance(sel, A.Index):
        index = sel.index

        def index_(
            node: Any, link: Link, root: Any, out: list[Any], lo: list[Link]
        ) -> None:
            if isinstance(node, list) and -len(node) <= index < len(node):
                i = index if index >= 0 else len(node) + index
                out.append(node[i])
                lo.append((link, i))

        return index_
    if isinstance(sel, A.Slice):
        if sel.step == 0:
            return lambda node, link, root, out, lo: None
        bounds = slice(sel.start, sel.stop, sel.step)

        def slice_(
            node: Any, link: Link, root: Any, out: list[Any], lo: list[Link]
        ) -> None:
            if isinstance(node, list):
                for i in range(*bounds.indices(len(node))):
                    out.append(node[i])
                    lo.append((link, i))

        return slice_
    test = None if isinstance(sel, A.Wildcard) else _logical(sel.expr)

    def children_(
        node: Any, link: Link, root: Any, out: list[Any], lo: list[Link]
    ) -> None:
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            return
        for key, child in items:
            if test is None or test(child, root):
                out.append(child)
                lo.append((link, key))

    return children_


# --- filter expressions ------------------------------------------------------


def singular_lookup(keys: tuple[str | int, ...]) -> Callable[[Any], Any]:
    """A function giving the value at a singular query's steps, or NOTHING."""

    def lookup(node: Any) -> Any:
        for key in keys:
            if isinstance(key, str):
                if not isinstance(node, dict):
                    return NOTHING
                node = node.get(key, NOTHING)
                if node is NOTHING:
                    return NOTHING
            elif isinstance(node, list) and -len(node) <= key < len(node):
                node = node[key]
            else:
                return NOTHING
        return node

    return lookup


def _singular(query: A.QueryNode) -> Value:
    lookup = singular_lookup(
        tuple(
            s.name if isinstance(s, A.Name) else s.index  # type: ignore[union-attr]
            for s in (seg.selectors[0] for seg in query.segments)
        )
    )
    if query.absolute:
        return lambda current, root: lookup(root)
    return lambda current, root: lookup(current)


def _nodes(query: A.QueryNode) -> Nodes:
    run = build_nodes(query.segments)
    if query.absolute:
        return lambda current, root: run(root, root)
    return run


def _value(expr: A.Expr) -> Value:
    if isinstance(expr, A.Literal):
        constant = expr.value
        return lambda current, root: constant
    if isinstance(expr, A.QueryNode):
        return _singular(expr)
    assert isinstance(expr, A.FunctionCall)
    return _function(expr)


def _function(call: A.FunctionCall) -> Value:
    name = call.name
    if name == "length":
        arg = _value(call.args[0])
        return lambda current, root: length(arg(current, root))
    if name in ("count", "value"):
        query = call.args[0]
        assert isinstance(query, A.QueryNode)
        nodes = _nodes(query)
        if name == "count":
            return lambda current, root: len(nodes(current, root))
        return lambda current, root: value_of(nodes(current, root))
    full = name == "match"
    subject = _value(call.args[0])
    pattern = call.args[1]
    if isinstance(pattern, A.Literal):
        if not isinstance(pattern.value, str):
            return lambda current, root: False
        tester = literal_regex_test(pattern.value, full)
        if tester is None:
            return lambda current, root: False
        return lambda current, root: tester(subject(current, root))
    dynamic = _value(pattern)
    return lambda current, root: regex_test(
        full, subject(current, root), dynamic(current, root)
    )


def _logical(expr: A.Expr) -> Value:
    if isinstance(expr, A.Paren):
        return _logical(expr.expr)
    if isinstance(expr, A.QueryNode):
        if expr.singular:
            value = _singular(expr)
            return lambda current, root: value(current, root) is not NOTHING
        nodes = _nodes(expr)
        return lambda current, root: bool(nodes(current, root))
    if isinstance(expr, A.FunctionCall):
        return _function(expr)
    if isinstance(expr, A.Not):
        inner = _logical(expr.expr)
        return lambda current, root: not inner(current, root)
    if isinstance(expr, A.And):
        items = [_logical(i) for i in expr.items]
        return lambda current, root: all(item(current, root) for item in items)
    if isinstance(expr, A.Or):
        items = [_logical(i) for i in expr.items]
        return lambda current, root: any(item(current, root) for item in items)
    assert isinstance(expr, A.Comparison)
    left = _value(expr.left)
    right = _value(expr.right)
    op = expr.op
    if op == "==":
        return lambda current, root: json_eq(left(current, root), right(current, root))
    if op == "!=":
        return lambda current, root: (
            not json_eq(left(current, root), right(current, root))
        )
    if op == "<":
        return lambda current, root: json_lt(left(current, root), right(current, root))
    if op == "<=":
        return lambda current, root: json_le(left(current, root), right(current, root))
    if op == ">":
        return lambda current, root: json_lt(right(current, root), left(current, root))
    return lambda current, root: json_le(right(current, root), left(current, root))
