"""The syntax tree of an RFC 9535 query, and its canonical text form.

Nodes are small immutable records. Every node keeps ``pos``, the 0-based
index in the expression where it starts, so that later stages (the type
checker, the compiler) can raise errors that point at the right place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Function extension types (RFC 9535 section 2.4.1).
VALUE = "ValueType"
LOGICAL = "LogicalType"
NODES = "NodesType"


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Wildcard:
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Index:
    index: int
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Slice:
    start: int | None
    stop: int | None
    step: int | None
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Filter:
    expr: Expr
    pos: int = 0


Selector = Name | Wildcard | Index | Slice | Filter


@dataclass(frozen=True, slots=True)
class Segment:
    selectors: tuple[Selector, ...]
    descendant: bool
    # True when written in shorthand (``.name``, ``.*``, ``..name``).
    shorthand: bool = False
    pos: int = 0
    # A child segment with one name or index selector (computed).
    simple: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        simple = (
            not self.descendant
            and len(self.selectors) == 1
            and isinstance(self.selectors[0], (Name, Index))
        )
        object.__setattr__(self, "simple", simple)


@dataclass(frozen=True, slots=True)
class QueryNode:
    """A query: ``$`` (absolute) or ``@`` (relative) followed by segments."""

    absolute: bool
    segments: tuple[Segment, ...]
    pos: int = 0

    # RFC 9535 section 2.3.5.1: only name and index child segments.
    singular: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        singular = all(seg.simple for seg in self.segments)
        object.__setattr__(self, "singular", singular)


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class FunctionCall:
    name: str
    args: tuple[Expr, ...]
    result: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Comparison:
    op: str
    left: Expr
    right: Expr
    pos: int = 0


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Not:
    expr: Expr
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Paren:
    """A parenthesised logical expression (kept so arguments type-check)."""

    expr: Expr
    pos: int = 0


Expr = QueryNode | Literal | FunctionCall | Comparison | And | Or | Not | Paren


def walk_filters(query: QueryNode) -> Iterator[Expr]:
    """Every expression inside ``query``'s filters, nested queries included."""
    stack: list[Expr] = [query]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, QueryNode):
            for seg in node.segments:
                stack.extend(s.expr for s in seg.selectors if isinstance(s, Filter))
        elif isinstance(node, FunctionCall):
            stack.extend(node.args)
        elif isinstance(node, Comparison):
            stack += [node.left, node.right]
        elif isinstance(node, (And, Or)):
            stack.extend(node.items)
        elif isinstance(node, (Not, Paren)):
            stack.append(node.expr)


# --- canonical text -------------------------------------------------------

_ESCAPES = {
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "'": "\\'",
    "\\": "\\\\",
}


def quote_name(name: str) -> str:
    """Quote a member name as RFC 9535 section 2.7 normalizes it.

    >>> quote_name("it's")
    "'it\\\\'s'"
    """
    if name.isalnum() and name.isascii():
        return f"'{name}'"
    out = []
    for ch in name:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < "\x20":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


#: The longest integer literal the parser accepts, in digits.
MAX_LITERAL_DIGITS = 10_000
# Digits converted at once: within Python's own limit on int() and str().
_CHUNK = 4_000
_CHUNK_BASE = 10**_CHUNK


def int_from_text(text: str) -> int:
    """``int(text)`` for an integer literal of at most MAX_LITERAL_DIGITS digits.

    Python's ``int()`` refuses more than 4,300 digits by default; the text is
    converted a chunk at a time instead, in bounded time since its length is.

    >>> int_from_text("-" + "9" * 5000) == -(10**5000 - 1)
    True
    """
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("-")
    value = 0
    for start in range(0, len(digits), _CHUNK):
        chunk = digits[start : start + _CHUNK]
        value = value * 10 ** len(chunk) + int(chunk)
    return sign * value


def format_number(value: int | float) -> str:
    if isinstance(value, int):
        if -_CHUNK_BASE < value < _CHUNK_BASE:
            return str(value)
        # Longer than str() writes by default: a chunk of digits at a time.
        chunks: list[str] = []
        rest = abs(value)
        while rest >= _CHUNK_BASE:
            rest, low = divmod(rest, _CHUNK_BASE)
            chunks.append(str(low).zfill(_CHUNK))
        chunks.append(str(rest))
        return ("-" if value < 0 else "") + "".join(reversed(chunks))
    text = repr(value)
    return text


def format_selector(sel: Selector) -> str:
    if isinstance(sel, Name):
        return quote_name(sel.name)
    if isinstance(sel, Wildcard):
        return "*"
    if isinstance(sel, Index):
        return str(sel.index)
    if isinstance(sel, Slice):
        text = ("" if sel.start is None else str(sel.start)) + ":"
        text += "" if sel.stop is None else str(sel.stop)
        if sel.step is not None:
            text += f":{sel.step}"
        return text
    return "?" + format_expr(sel.expr)


def format_query(query: QueryNode) -> str:
    parts = ["$" if query.absolute else "@"]
    for seg in query.segments:
        if seg.descendant:
            parts.append("..")
        parts.append("[" + ",".join(format_selector(s) for s in seg.selectors) + "]")
    return "".join(parts)


def format_expr(expr: Expr, parent: str = "") -> str:
    if isinstance(expr, QueryNode):
        return format_query(expr)
    if isinstance(expr, Literal):
        value = expr.value
        if value is True:
            return "true"
        if value is False:
            return "false"
        if value is None:
            return "null"
        if isinstance(value, str):
            return quote_name(value)
        return format_number(value)
    if isinstance(expr, FunctionCall):
        return expr.name + "(" + ", ".join(format_expr(a) for a in expr.args) + ")"
    if isinstance(expr, Comparison):
        return f"{format_expr(expr.left)} {expr.op} {format_expr(expr.right)}"
    if isinstance(expr, Paren):
        return format_expr(expr.expr, parent)
    if isinstance(expr, Not):
        inner = expr.expr
        while isinstance(inner, Paren):
            inner = inner.expr
        if isinstance(inner, (QueryNode, FunctionCall)):
            return "!" + format_expr(inner)
        return "!(" + format_expr(inner) + ")"
    if isinstance(expr, And):
        text = " && ".join(format_expr(i, "and") for i in expr.items)
        return text
    text = " || ".join(format_expr(i, "or") for i in expr.items)
    return f"({text})" if parent == "and" else text
