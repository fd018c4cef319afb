"""A recursive-descent parser for RFC 9535 queries.

The parser reads the expression text directly (no separate token stream: the
grammar is small and a scannerless parser keeps every position exact). It
also does the type checking of section 2.4.3, so that an ill-typed filter is
reported as a syntax error at the offending argument or operand.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from ..errors import JSONPathSyntaxError
from . import _ast as A
from ._functions import FUNCTIONS

# RFC 9535 section 2.1: integers must be within the I-JSON range.
MAX_INT = 2**53 - 1
# Deeper nesting than this is refused: no real query comes close, and it keeps
# the parser, the compiler and the generated code far from recursion limits.
MAX_NESTING = 32
#: Longer integer literals are refused: converting decimal text costs time
#: quadratic in its length (which is why Python's int() refuses more than
#: 4,300 digits), and a million digits would take half a minute.
MAX_LITERAL_DIGITS = A.MAX_LITERAL_DIGITS

_BLANK = " \t\n\r"
# name-char of section 2.5.1.1: ALPHA, DIGIT, "_" and non-surrogate non-ASCII.
_NAME_CHARS = re.compile("[A-Za-z0-9_\x80-\ud7ff\ue000-\U0010ffff]*")
_DIGITS = "0123456789"
_COMPARISON_OPS = ("==", "!=", "<=", ">=", "<", ">")
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ESCAPE_CHARS = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "/": "/"}


def _is_name_first(ch: str) -> bool:
    if ch.isascii():
        return ch.isalpha() or ch == "_"
    code = ord(ch)
    return not (0xD800 <= code <= 0xDFFF)


def _is_name_char(ch: str) -> bool:
    return _is_name_first(ch) or ch in _DIGITS


class Cursor:
    """A position in an expression's text, for hand-written parsers.

    The JSONPath parser and its neighbours' parsers (mapping leaves, Step
    Functions intrinsic calls) read text with it, so that they all report
    errors the same way: a :class:`~flowmap.JSONPathSyntaxError` whose
    position indexes the whole text.

    >>> c = Cursor("a  b")
    >>> c.pos = 1
    >>> c.skip_blank()
    >>> c.pos, c.peek(), c.describe()
    (3, 'b', "'b'")
    >>> c.expect("c", "a 'c'")
    Traceback (most recent call last):
    flowmap.errors.JSONPathSyntaxError: expected a 'c', found 'b' at line 1, column 4:
      a  b
         ^
    """

    __slots__ = ("n", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0

    def error(self, reason: str, pos: int | None = None) -> NoReturn:
        """Raise the syntax error ``reason`` at ``pos`` (default: here)."""
        raise JSONPathSyntaxError(reason, self.text, self.pos if pos is None else pos)

    def peek(self) -> str:
        """The character here, or ``""`` at the end."""
        return self.text[self.pos] if self.pos < self.n else ""

    def describe(self) -> str:
        """What is here, for messages ("found ..."): the character or the end."""
        if self.pos >= self.n:
            return "end of expression"
        return repr(self.text[self.pos])

    def skip_blank(self) -> None:
        """Move past blank space (RFC 9535's space, tab, newline, return)."""
        text, n, pos = self.text, self.n, self.pos
        if pos >= n or text[pos] not in _BLANK:
            return
        while pos < n and text[pos] in _BLANK:
            pos += 1
        self.pos = pos

    def expect(self, token: str, what: str) -> None:
        """Move past ``token``, or raise "expected ``what``, found ..."."""
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
        else:
            self.error(f"expected {what}, found {self.describe()}")


class Parser(Cursor):
    """Parse one expression; use :func:`parse`."""

    __slots__ = ("depth",)

    def __init__(self, text: str) -> None:
        Cursor.__init__(self, text)
        self.depth = 0

    # --- helpers ----------------------------------------------------------

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.error(f"nesting deeper than {MAX_NESTING} levels")

    # --- queries ----------------------------------------------------------

    def parse(self) -> A.QueryNode:
        if not self.text.startswith("$"):
            if self.text[:1] in _BLANK and self.text.strip().startswith("$"):
                self.error("leading blank space is not allowed")
            self.error("a query must start with '$'")
        self.pos = 1
        segments = self.segments()
        if self.pos < self.n:
            if self.text[self.pos] in _BLANK:
                rest = self.pos
                self.skip_blank()
                if self.pos >= self.n:
                    self.error("trailing blank space is not allowed", rest)
            self.error(f"unexpected {self.describe()}")
        return A.QueryNode(True, segments, 0)

    def segments(self) -> tuple[A.Segment, ...]:
        segments: list[A.Segment] = []
        while True:
            save = self.pos
            self.skip_blank()
            ch = self.peek()
            if ch == ".":
                segments.append(self.dot_segment())
            elif ch == "[":
                start = self.pos
                segments.append(A.Segment(self.bracketed(), False, False, start))
            else:
                self.pos = save
                return tuple(segments)

    def dot_segment(self) -> A.Segment:
        start = self.pos
        if self.text.startswith("..", self.pos):
            self.pos += 2
            ch = self.peek()
            if ch == "[":
                return A.Segment(self.bracketed(), True, False, start)
            if ch == "*":
                self.pos += 1
                return A.Segment((A.Wildcard(self.pos - 1),), True, True, start)
            if ch and _is_name_first(ch):
                return A.Segment((self.shorthand_name(),), True, True, start)
            self.error(
                f"expected a name, '*' or '[' after '..', found {self.describe()}"
            )
        self.pos += 1
        ch = self.peek()
        if ch == "*":
            self.pos += 1
            return A.Segment((A.Wildcard(self.pos - 1),), False, True, start)
        if ch and _is_name_first(ch):
            return A.Segment((self.shorthand_name(),), False, True, start)
        if ch in _BLANK and ch:
            self.error("blank space is not allowed after '.'")
        self.error(f"expected a name or '*' after '.', found {self.describe()}")

    def shorthand_name(self) -> A.Name:
        start = self.pos
        match = _NAME_CHARS.match(self.text, start + 1)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()
        return A.Name(self.text[start : self.pos], start)

    def bracketed(self) -> tuple[A.Selector, ...]:
        self.pos += 1  # '['
        selectors: list[A.Selector] = []
        while True:
            self.skip_blank()
            selectors.append(self.selector())
            self.skip_blank()
            ch = self.peek()
            if ch == ",":
                self.pos += 1
                continue
            if ch == "]":
                self.pos += 1
                return tuple(selectors)
            self.error(f"expected ',' or ']', found {self.describe()}")

    def selector(self) -> A.Selector:
        ch = self.peek()
        start = self.pos
        if ch in ("'", '"') and ch:
            return A.Name(self.string_literal(), start)
        if ch == "*":
            self.pos += 1
            return A.Wildcard(start)
        if ch == "?":
            self.pos += 1
            self.skip_blank()
            self.enter()
            expr = self.logical_or(False)
            self.depth -= 1
            return A.Filter(expr, start)
        if ch == ":" or ch == "-" or (ch and ch in _DIGITS):
            return self.index_or_slice()
        if ch == "]":
            self.error("empty selector")
        self.error(f"expected a selector, found {self.describe()}")

    def integer(self) -> int:
        start = self.pos
        text, n = self.text, self.n
        pos = start
        if pos < n and text[pos] == "-":
            pos += 1
        if pos >= n or text[pos] not in _DIGITS:
            self.pos = pos
            self.error(f"expected a digit, found {self.describe()}")
        if text[pos] == "0":
            if pos + 1 < n and text[pos + 1] in _DIGITS:
                self.error("leading zeros are not allowed", pos)
            if pos > start:
                self.error("'-0' is not a valid integer here", start)
            pos += 1
        else:
            while pos < n and text[pos] in _DIGITS:
                pos += 1
        # More than 16 digits is out of range whatever they are (and int()
        # refuses strings of thousands of digits).
        value = int(text[start:pos]) if pos - start <= 17 else MAX_INT + 1
        if not -MAX_INT <= value <= MAX_INT:
            self.error("integer out of range (must be within +/-(2^53 - 1))", start)
        self.pos = pos
        return value

    def index_or_slice(self) -> A.Selector:
        start = self.pos
        first: int | None = None
        if self.peek() != ":":
            first = self.integer()
            save = self.pos
            self.skip_blank()
            if self.peek() != ":":
                self.pos = save
                return A.Index(first, start)
        self.pos += 1  # ':'
        self.skip_blank()
        stop: int | None = None
        step: int | None = None
        ch = self.peek()
        if ch == "-" or (ch and ch in _DIGITS):
            stop = self.integer()
            self.skip_blank()
        if self.peek() == ":":
            self.pos += 1
            self.skip_blank()
            ch = self.peek()
            if ch == "-" or (ch and ch in _DIGITS):
                step = self.integer()
        return A.Slice(first, stop, step, start)

    def string_literal(self) -> str:
        text, n = self.text, self.n
        quote = text[self.pos]
        start = self.pos
        pos = start + 1
        out: list[str] = []
        while True:
            if pos >= n:
                self.error("unterminated string literal", start)
            ch = text[pos]
            if ch == quote:
                self.pos = pos + 1
                return "".join(out)
            if ch == "\\":
                pos = self.escape(pos, quote, out)
                continue
            code = ord(ch)
            if code < 0x20:
                self.error(
                    f"control character U+{code:04X} must be escaped in a string",
                    pos,
                )
            if 0xD800 <= code <= 0xDFFF:
                self.error("unpaired surrogate in a string literal", pos)
            out.append(ch)
            pos += 1

    def escape(self, pos: int, quote: str, out: list[str]) -> int:
        text, n = self.text, self.n
        if pos + 1 >= n:
            self.error("unterminated escape sequence", pos)
        ch = text[pos + 1]
        if ch == quote or ch == "\\":
            out.append(ch)
            return pos + 2
        simple = _ESCAPE_CHARS.get(ch)
        if simple is not None:
            out.append(simple)
            return pos + 2
        if ch != "u":
            self.error(f"invalid escape sequence '\\{ch}'", pos)
        code = self.hex4(pos)
        if 0xDC00 <= code <= 0xDFFF:
            self.error("unpaired low surrogate in \\u escape", pos)
        if 0xD800 <= code <= 0xDBFF:
            if not text.startswith("\\u", pos + 6):
                self.error("high surrogate must be followed by a low surrogate", pos)
            low = self.hex4(pos + 6)
            if not 0xDC00 <= low <= 0xDFFF:
                self.error(
                    "high surrogate must be followed by a low surrogate", pos + 6
                )
            out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
            return pos + 12
        out.append(chr(code))
        return pos + 6

    def hex4(self, pos: int) -> int:
        digits = self.text[pos + 2 : pos + 6]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            self.error("\\u must be followed by four hex digits", pos)
        return int(digits, 16)

    # --- filter expressions ---------------------------------------------

    def logical_or(self, bare_ok: bool) -> A.Expr:
        start = self.pos
        first = self.logical_and(bare_ok)
        items = [first]
        while True:
            save = self.pos
            self.skip_blank()
            if self.text.startswith("||", self.pos):
                self.pos += 2
                self.skip_blank()
                items.append(self.logical_and(False))
            else:
                self.pos = save
                break
        if len(items) == 1:
            return first
        return A.Or(tuple(self.as_logical(i) for i in items), start)

    def logical_and(self, bare_ok: bool) -> A.Expr:
        start = self.pos
        first = self.basic(bare_ok)
        items = [first]
        while True:
            save = self.pos
            self.skip_blank()
            if self.text.startswith("&&", self.pos):
                self.pos += 2
                self.skip_blank()
                items.append(self.basic(False))
            else:
                self.pos = save
                break
        if len(items) == 1:
            return first
        return A.And(tuple(self.as_logical(i) for i in items), start)

    def as_logical(self, expr: A.Expr) -> A.Expr:
        """Check that ``expr`` can stand where a logical value is needed."""
        if isinstance(expr, A.Literal):
            self.error("a literal cannot be used as a condition; compare it", expr.pos)
        if isinstance(expr, A.FunctionCall) and expr.result == A.VALUE:
            self.error(
                f"{expr.name}() returns a value, not a logical result; compare it",
                expr.pos,
            )
        return expr

    def basic(self, bare_ok: bool) -> A.Expr:
        start = self.pos
        ch = self.peek()
        if ch == "!":
            self.pos += 1
            self.skip_blank()
            self.enter()
            if self.peek() == "(":
                inner = self.paren()
            else:
                inner = self.as_logical(self.operand())
                if isinstance(inner, A.Literal):  # pragma: no cover - as_logical
                    self.error("'!' needs a query, a function or '('", start)
            self.depth -= 1
            return A.Not(inner, start)
        if ch == "(":
            self.enter()
            expr = self.paren()
            self.depth -= 1
            return expr
        left = self.operand()
        save = self.pos
        self.skip_blank()
        op = next(
            (o for o in _COMPARISON_OPS if self.text.startswith(o, self.pos)), None
        )
        if op is None:
            self.pos = save
            if bare_ok:
                return left
            return self.as_logical(left)
        self.check_comparable(left, op)
        self.pos += len(op)
        self.skip_blank()
        right = self.operand()
        self.check_comparable(right, op)
        return A.Comparison(op, left, right, start)

    def check_comparable(self, expr: A.Expr, op: str) -> None:
        if isinstance(expr, A.QueryNode) and not expr.singular:
            self.error(
                f"only singular queries can be compared with '{op}' "
                "(this one can select several nodes)",
                expr.pos,
            )
        if isinstance(expr, A.FunctionCall) and expr.result != A.VALUE:
            self.error(
                f"{expr.name}() returns a {expr.result}, which cannot be compared",
                expr.pos,
            )

    def paren(self) -> A.Expr:
        start = self.pos
        self.pos += 1  # '('
        self.skip_blank()
        expr = self.as_logical(self.logical_or(False))
        self.skip_blank()
        if self.peek() != ")":
            self.error(f"expected ')' or an operator, found {self.describe()}")
        self.pos += 1
        return A.Paren(expr, start)

    def operand(self) -> A.Expr:
        """A literal, a query or a function call."""
        start = self.pos
        ch = self.peek()
        if ch == "@" or ch == "$":
            self.pos += 1
            self.enter()
            segments = self.segments()
            self.depth -= 1
            return A.QueryNode(ch == "$", segments, start)
        if ch == "'" or ch == '"':
            return A.Literal(self.string_literal(), start)
        if ch == "-" or (ch and ch in _DIGITS):
            return A.Literal(self.number(), start)
        if ch and ch in _LOWER:
            text, n = self.text, self.n
            pos = start + 1
            while pos < n and (
                text[pos] in _LOWER or text[pos] in _DIGITS or text[pos] == "_"
            ):
                pos += 1
            word = text[start:pos]
            if pos < n and text[pos] == "(":
                self.pos = pos
                return self.function_call(word, start)
            if word in ("true", "false", "null"):
                self.pos = pos
                return A.Literal(
                    {"true": True, "false": False, "null": None}[word], start
                )
            if (
                pos < n
                and text[pos] in _BLANK
                and text[pos:].lstrip(_BLANK).startswith("(")
            ):
                self.error(
                    "no blank space is allowed between a function name and '('", pos
                )
            self.error(
                f"unknown name {word!r}: expected a query, a literal or a function call"
            )
        if ch == "":
            self.error("unexpected end of expression: expected a filter expression")
        self.error(
            f"expected a query, a literal or a function call, found {self.describe()}"
        )

    def number(self) -> int | float:
        start = self.pos
        text, n = self.text, self.n
        pos = start
        if text[pos] == "-":
            pos += 1
        if pos >= n or text[pos] not in _DIGITS:
            self.error("expected a digit after '-'", pos)
        if text[pos] == "0":
            pos += 1
            if pos < n and text[pos] in _DIGITS:
                self.error("leading zeros are not allowed", pos - 1)
        else:
            while pos < n and text[pos] in _DIGITS:
                pos += 1
        is_float = False
        if pos < n and text[pos] == ".":
            pos += 1
            if pos >= n or text[pos] not in _DIGITS:
                self.error("expected a digit after '.'", pos)
            while pos < n and text[pos] in _DIGITS:
                pos += 1
            is_float = True
        if pos < n and text[pos] in "eE":
            pos += 1
            if pos < n and text[pos] in "+-":
                pos += 1
            if pos >= n or text[pos] not in _DIGITS:
                self.error("expected a digit in the exponent", pos)
            while pos < n and text[pos] in _DIGITS:
                pos += 1
            is_float = True
        self.pos = pos
        literal = text[start:pos]
        if literal == "-0":
            return 0
        if not is_float:
            if pos - start - (text[start] == "-") > MAX_LITERAL_DIGITS:
                # int() of a long text costs time quadratic in its length.
                self.error(
                    f"integer literal of more than {MAX_LITERAL_DIGITS} digits",
                    start,
                )
            return A.int_from_text(literal)
        value = float(literal)
        if value in (float("inf"), float("-inf")):
            self.error("number out of range", start)
        # Kept a float: 2.0 == 2 in comparisons anyway, and a mapping's
        # constant 2.0 stays what was written.
        return value

    def function_call(self, name: str, start: int) -> A.FunctionCall:
        spec = FUNCTIONS.get(name)
        if spec is None:
            self.error(f"unknown function {name}()", start)
        self.enter()
        self.pos += 1  # '('
        self.skip_blank()
        args: list[A.Expr] = []
        if self.peek() != ")":
            while True:
                args.append(self.logical_or(True))
                self.skip_blank()
                if self.peek() == ",":
                    self.pos += 1
                    self.skip_blank()
                    continue
                if self.peek() == ")":
                    break
                self.error(f"expected ',' or ')', found {self.describe()}")
        self.pos += 1
        self.depth -= 1
        params, result = spec
        if len(args) != len(params):
            self.error(
                f"{name}() takes {len(params)} "
                f"argument{'s' if len(params) != 1 else ''}, "
                f"got {len(args)}",
                start,
            )
        for number, (arg, param) in enumerate(zip(args, params), 1):
            self.check_argument(name, number, arg, param)
        return A.FunctionCall(name, tuple(args), result, start)

    def check_argument(self, name: str, number: int, arg: A.Expr, param: str) -> None:
        ok: bool
        if param == A.VALUE:
            ok = (
                isinstance(arg, A.Literal)
                or (isinstance(arg, A.QueryNode) and arg.singular)
                or (isinstance(arg, A.FunctionCall) and arg.result == A.VALUE)
            )
            need = (
                "a value: a literal, a singular query or a function returning a value"
            )
        elif param == A.NODES:
            ok = isinstance(arg, A.QueryNode) or (
                isinstance(arg, A.FunctionCall) and arg.result == A.NODES
            )
            need = "a query (a node list)"
        else:
            ok = not isinstance(arg, A.Literal) and not (
                isinstance(arg, A.FunctionCall) and arg.result == A.VALUE
            )
            need = "a logical expression"
        if not ok:
            self.error(f"argument {number} of {name}() must be {need}", _expr_pos(arg))


def _expr_pos(expr: A.Expr) -> int:
    return expr.pos


def parse(text: str) -> A.QueryNode:
    """Parse ``text`` into a query tree, raising JSONPathSyntaxError."""
    return Parser(text).parse()


def parse_segments(text: str, pos: int) -> tuple[tuple[A.Segment, ...], int]:
    """The segments that start at ``text[pos]`` and where they end."""
    parser = Parser(text)
    parser.pos = pos
    segments = parser.segments()
    return segments, parser.pos


_WORDS = (("true", True), ("false", False), ("null", None))


def parse_literal(text: str, pos: int = 0) -> tuple[Any, int]:
    """Read the literal at ``text[pos]``; return its value and where it ends.

    Literals as RFC 9535 filter expressions write them: a string in single
    or double quotes (with the RFC's escapes), a number (an int, or a float
    when written with a fraction or an exponent), ``true``, ``false`` or
    ``null``. A syntax error raises :class:`flowmap.JSONPathSyntaxError`
    with its position in ``text``.

    >>> parse_literal("'a b' | 1", 0)
    ('a b', 5)
    >>> parse_literal("x = -1.5e3", 4)
    (-1500.0, 10)
    """
    parser = Parser(text)
    parser.pos = pos
    ch = parser.peek()
    if ch and ch in "'\"":
        value: Any = parser.string_literal()
    elif ch == "-" or (ch and ch in _DIGITS):
        value = parser.number()
    else:
        for word, constant in _WORDS:
            if text.startswith(word, pos):
                return constant, pos + len(word)
        parser.error(
            "expected a string, a number, true, false or null, "
            f"found {parser.describe()}"
        )
    return value, parser.pos
