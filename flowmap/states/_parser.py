"""Parse Step Functions paths and intrinsic function calls.

Paths (``$...`` over the input, ``$$...`` over the context object) are read
by flowmap's JSONPath parser through its interface for neighbouring layers,
:func:`flowmap.jsonpath.parse_prefix`, with one difference that AWS was
recorded to make (see docs/states.md): inside a single-quoted string of a
path, a backslash before ``"`` is kept literally, so ``$['a\\"b']`` selects
the member ``a\\"b`` (RFC 9535 refuses ``\\"`` there). Everything else
is RFC 9535, and ``flowmap.compile`` itself stays strict.

An intrinsic function call such as ``States.Format('{}', $.name)`` follows
this grammar (Amazon States Language, "Intrinsic functions")::

    call      = name "(" [ argument *( "," argument ) ] ")"
    argument  = string / number / "true" / "false" / "null" / path / call
    string    = "'" *( char / "\\'" / "\\{" / "\\}" / "\\\\" ) "'"
    path      = "$" segments / "$$" segments     ; RFC 9535 segments

Blank space may surround every argument. Every error is a
:class:`~flowmap.JSONPathSyntaxError` whose position indexes the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import JSONPathSyntaxError
from ..jsonpath import Cursor, Query, parse_literal, parse_prefix
from ..jsonpath import compile as compile_query
from ._functions import FUNCTIONS

__all__ = ["Call", "Const", "PathArg", "parse_call", "parse_path", "read_path"]

#: AWS allows up to 10 intrinsic functions nested within one field.
MAX_CALL_NESTING = 10
#: Python reads integers of at most this many digits (sys.int_info).
MAX_INT_DIGITS = 4300

_BLANK = " \t\n\r"
_DIGITS = "0123456789"
# A whole integer: no leading zero, no fraction or exponent after it.
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)(?![0-9.eE])")
_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."
)
_ESCAPABLE = "'{}\\"


# --- paths ----------------------------------------------------------------------


def _aws_escapes(text: str, pos: int) -> list[int]:
    """Where, from ``pos``, a single-quoted string holds ``\\"`` (backslash index)."""
    found: list[int] = []
    n = len(text)
    quote = ""
    i = pos
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                if quote == "'" and text[i + 1 : i + 2] == '"':
                    found.append(i)
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch == "'" or ch == '"':
            quote = ch
        i += 1
    return found


def read_path(text: str, pos: int = 0) -> tuple[str, Query, int]:
    """Read the path at ``text[pos]``: its root, its query and where it ends.

    The root is ``"data"`` for ``$`` and ``"context"`` for ``$$``; the query
    is ``$`` followed by the path's segments, read as AWS reads them (see the
    module docstring). Errors point into ``text``.

    >>> root, query, end = read_path("States.Array($$.Execution.Id, 1)", 13)
    >>> root, query.steps, end
    ('context', ('Execution', 'Id'), 28)
    """
    root = "$$" if text.startswith("$$", pos) else "$"
    if '\\"' not in text:
        query, end = parse_prefix(text, pos, root=root)
        return ("context" if root == "$$" else "data"), query, end
    # Write each kept backslash as RFC 9535's \\\\ and map positions back.
    marks = _aws_escapes(text, pos)
    parts: list[str] = []
    last = 0
    for mark in marks:
        parts.append(text[last:mark])
        parts.append("\\\\")
        last = mark + 1
    parts.append(text[last:])
    rfc = "".join(parts)

    def back(position: int) -> int:
        # Every mark before ``position`` in the original added one character.
        shift = 0
        for mark in marks:
            if mark + shift < position:
                shift += 1
        return position - shift

    try:
        query, end = parse_prefix(rfc, pos, root=root)
    except JSONPathSyntaxError as exc:
        raise JSONPathSyntaxError(exc.reason, text, back(exc.position)) from None
    return ("context" if root == "$$" else "data"), query, back(end)


def parse_path(text: str) -> tuple[str, Query]:
    """(root, query) of a whole path field, such as an InputPath.

    >>> root, query = parse_path("$$.Execution.Id")
    >>> root, str(query)
    ('context', "$['Execution']['Id']")
    """
    root, query, end = read_path(text, 0)
    if end != len(text):
        # What is left is not a path: let the strict parser say why (its
        # messages are the ones flowmap.compile gives), else say it here.
        skip = 1 if root == "context" else 0
        try:
            compile_query(text[skip:])
        except JSONPathSyntaxError as exc:
            if exc.position + skip >= end:
                raise JSONPathSyntaxError(
                    exc.reason, text, exc.position + skip
                ) from None
        raise JSONPathSyntaxError(f"unexpected {text[end]!r} after the path", text, end)
    return root, query


# --- intrinsic function calls -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    """A literal argument. ``parts`` splits a string at its unescaped ``{}``.

    ``parts`` is ``None`` for a string with a lone unescaped ``{`` or ``}``
    (which ``States.Format`` refuses) and for non-strings.
    """

    value: object
    parts: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PathArg:
    """A path argument: ``query`` runs over the input or the context."""

    root: str  # "data" or "context"
    query: Query
    text: str


@dataclass(frozen=True, slots=True)
class Call:
    """An intrinsic function call; ``position`` is where its name starts."""

    name: str
    args: tuple[Const | PathArg | Call, ...]
    position: int


def parse_call(text: str) -> Call:
    """Parse a whole intrinsic function call.

    >>> call = parse_call("States.Format('Hi {}', $.name)")
    >>> call.name, [type(arg).__name__ for arg in call.args]
    ('States.Format', ['Const', 'PathArg'])
    >>> parse_call("States.Nope()")
    Traceback (most recent call last):
      ...
    flowmap.errors.JSONPathSyntaxError: unknown intrinsic function 'States.Nope' \
at line 1, column 1:
      States.Nope()
      ^
    """
    return _CallParser(text).whole()


class _CallParser(Cursor):
    __slots__ = ()

    def whole(self) -> Call:
        if not self.text.startswith("States."):
            self.error(
                "expected a path ('$...' or '$$...') or an intrinsic function "
                "call ('States.Name(...)')"
            )
        call = self.call(1)
        self.skip_blank()
        if self.pos < self.n:
            self.error(f"unexpected {self.describe()} after the function call")
        return call

    def call(self, depth: int) -> Call:
        start = self.pos
        text, n = self.text, self.n
        end = start
        while end < n and text[end] in _NAME_CHARS:
            end += 1
        name = text[start:end]
        spec = FUNCTIONS.get(name)
        if spec is None:
            if not name:
                self.error(f"expected an argument, found {self.describe()}")
            self.error(f"unknown intrinsic function {name!r}", start)
        if depth > MAX_CALL_NESTING:
            self.error(
                f"more than {MAX_CALL_NESTING} intrinsic functions nested in one field",
                start,
            )
        self.pos = end
        self.skip_blank()
        self.expect("(", f"'(' after {name}")
        args: list[Const | PathArg | Call] = []
        self.skip_blank()
        if self.peek() == ")":
            self.pos += 1
        else:
            while True:
                self.skip_blank()
                args.append(self.argument(depth))
                self.skip_blank()
                ch = self.peek()
                if ch == ")":
                    self.pos += 1
                    break
                if ch != ",":
                    self.error(f"expected ',' or ')', found {self.describe()}")
                self.pos += 1
        if not spec.accepts(len(args)):
            self.error(
                f"{name} takes {spec.arity()}, not {len(args)}",
                start,
            )
        return Call(name, tuple(args), start)

    def argument(self, depth: int) -> Const | PathArg | Call:
        ch = self.peek()
        text = self.text
        if ch == "$":
            return self.path()
        if ch == "'":
            return self.string()
        if ch == "-" or (ch and ch in _DIGITS):
            return Const(self.number())
        for word, value in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, self.pos) and not self._name_char_at(
                self.pos + len(word)
            ):
                self.pos += len(word)
                return Const(value)
        if text.startswith("States.", self.pos):
            return self.call(depth + 1)
        if ch == '"':
            self.error("strings are written in single quotes in intrinsic functions")
        self.error(
            "expected a string, a number, true, false, null, a path or an "
            f"intrinsic function call, found {self.describe()}"
        )

    def _name_char_at(self, pos: int) -> bool:
        return pos < self.n and self.text[pos] in _NAME_CHARS

    def path(self) -> PathArg:
        text = self.text
        start = self.pos
        after = start + (2 if text.startswith("$$", start) else 1)
        nxt = text[after : after + 1]
        if nxt not in ("", ".", "[", ",", ")") and nxt not in _BLANK:
            self.error("expected '.' or '[' after the path's root", after)
        root, query, end = read_path(text, start)
        self.pos = end
        return PathArg(root, query, text[start:end])

    def number(self) -> int | float:
        """A JSON number (as RFC 9535 literals are written)."""
        start = self.pos
        # A well-formed integer is refused beyond Python's int() digit limit
        # before the JSONPath reader (whose own limit is higher) converts it.
        whole = _INTEGER.match(self.text, start)
        if whole is not None and len(whole[0].lstrip("-")) > MAX_INT_DIGITS:
            self.error(f"an integer of more than {MAX_INT_DIGITS:,} digits", start)
        value, self.pos = parse_literal(self.text, start)
        assert isinstance(value, int | float)
        return value

    def string(self) -> Const:
        text, n = self.text, self.n
        start = self.pos
        pos = start + 1
        value: list[str] = []
        current: list[str] = []
        parts: list[str] = []
        lone_brace = False
        while True:
            if pos >= n:
                self.error("unterminated string", start)
            ch = text[pos]
            if ch == "'":
                pos += 1
                break
            if ch == "\\":
                escaped = text[pos + 1 : pos + 2]
                if not escaped or escaped not in _ESCAPABLE:
                    self.error(
                        "a backslash must escape ', {, } or \\ (write \\\\ for "
                        "a backslash)",
                        pos,
                    )
                value.append(escaped)
                current.append(escaped)
                pos += 2
                continue
            if ch == "{" and text.startswith("{}", pos):
                parts.append("".join(current))
                current = []
                value.append("{}")
                pos += 2
                continue
            if ch in "{}":
                lone_brace = True
            value.append(ch)
            current.append(ch)
            pos += 1
        self.pos = pos
        parts.append("".join(current))
        return Const("".join(value), None if lone_brace else tuple(parts))
