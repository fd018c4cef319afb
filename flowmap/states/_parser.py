"""Parse an intrinsic function call such as ``States.Format('{}', $.name)``.

The grammar (Amazon States Language, "Intrinsic functions")::

    call      = name "(" [ argument *( "," argument ) ] ")"
    argument  = string / number / "true" / "false" / "null" / path / call
    string    = "'" *( char / "\\'" / "\\{" / "\\}" / "\\\\" ) "'"
    path      = "$" segments / "$$" segments     ; RFC 9535 segments

Blank space may surround every argument. Paths are read by flowmap's own
JSONPath parser, so a path argument accepts exactly what a ``.$`` path does
and its syntax errors point into the whole call. Every error is a
:class:`~flowmap.JSONPathSyntaxError` whose position indexes the call text.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import JSONPathSyntaxError
from ..jsonpath._parser import Parser
from ..jsonpath.query import Query
from ..jsonpath.query import compile as compile_query
from ._functions import FUNCTIONS

__all__ = ["Call", "Const", "PathArg", "parse_call"]

#: AWS allows up to 10 intrinsic functions nested within one field.
MAX_CALL_NESTING = 10

_BLANK = " \t\n\r"
_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."
)
_ESCAPABLE = "'{}\\"


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


class _CallParser(Parser):
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
        if ch == "-" or (ch and ch in "0123456789"):
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
        root = "context" if text.startswith("$$", start) else "data"
        after = start + (2 if root == "context" else 1)
        nxt = text[after : after + 1]
        if nxt not in ("", ".", "[", ",", ")") and nxt not in _BLANK:
            self.error("expected '.' or '[' after the path's root", after)
        self.pos = after
        self.segments()
        written = text[start : self.pos]
        try:
            query = compile_query("$" + text[after : self.pos])
        except JSONPathSyntaxError as exc:  # pragma: no cover - parsed above
            self.error(exc.reason, exc.position + after - 1)
        return PathArg(root, query, written)

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
