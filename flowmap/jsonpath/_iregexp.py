"""I-Regexp (RFC 9485) checked and translated for RE2.

``match()`` and ``search()`` take I-Regexp patterns. A pattern is first parsed
against the RFC 9485 grammar (anything outside it, such as back-references,
look-arounds or ``\\d``, is not an I-Regexp and the functions then yield
false, as RFC 9535 section 2.4.6 asks). A valid pattern is translated into
RE2 syntax and compiled by RE2, which runs in time linear in the input, so a
hostile pattern from a document can never hang an evaluation.

Translation details: ``.`` matches any character but LF and CR; ``^`` and
``$`` outside a class anchor at the start and end of the string (as the
JSONPath Compliance Test Suite expects); ``\\p{Cn}``
(unassigned code points), which RE2 does not know, is expanded from Python's
Unicode database.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False

_CATEGORIES = {
    "L": "lmotu",
    "M": "cen",
    "N": "dlo",
    "P": "cdefios",
    "Z": "lps",
    "S": "ckmo",
    "C": "cfno",
}
# Characters that must be escaped to stand for themselves in RE2.
_RE2_META = set("\\^$.|?*+()[]{}-/")
_SINGLE_ESCAPES = set("()*+-.?[\\]^{|}nrt")


class RegexUnsupported(ValueError):
    """A valid I-Regexp that RE2 refuses (for example a repetition over 1000)."""


class _NotIRegexp(Exception):
    pass


def _char(ch: str) -> str:
    """``ch`` written so that RE2 reads it literally (inside or outside a class)."""
    if ch in _RE2_META:
        return "\\" + ch
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\x{{{code:x}}}"
    return ch


@lru_cache(maxsize=1)
def _unassigned_class() -> str:
    """The body of a character class listing unassigned code points (Cn)."""
    ranges: list[str] = []
    start = -1
    for code in range(sys.maxunicode + 1):
        unassigned = unicodedata.category(chr(code)) == "Cn"
        if unassigned and start < 0:
            start = code
        elif not unassigned and start >= 0:
            ranges.append(f"\\x{{{start:x}}}-\\x{{{code - 1:x}}}")
            start = -1
    if start >= 0:
        ranges.append(f"\\x{{{start:x}}}-\\x{{{sys.maxunicode:x}}}")
    return "".join(ranges)


class _Translator:
    __slots__ = ("n", "out", "pattern", "pos")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.n = len(pattern)
        self.pos = 0
        self.out: list[str] = []

    def fail(self) -> _NotIRegexp:
        return _NotIRegexp(self.pos)

    def peek(self) -> str:
        return self.pattern[self.pos] if self.pos < self.n else ""

    def translate(self) -> str:
        self.regexp(0)
        if self.pos != self.n:
            raise self.fail()
        return "".join(self.out)

    def regexp(self, depth: int) -> None:
        if depth > 200:
            raise self.fail()
        self.branch(depth)
        while self.peek() == "|":
            self.pos += 1
            self.out.append("|")
            self.branch(depth)

    def branch(self, depth: int) -> None:
        while True:
            ch = self.peek()
            if ch == "" or ch == "|" or ch == ")":
                return
            self.atom(depth)
            self.quantifier()

    def quantifier(self) -> None:
        ch = self.peek()
        if ch in ("*", "+", "?") and ch:
            self.pos += 1
            self.out.append(ch)
        elif ch == "{":
            start = self.pos
            self.pos += 1
            low = self.digits()
            high = ""
            comma = False
            if self.peek() == ",":
                comma = True
                self.pos += 1
                if self.peek() != "}":
                    high = self.digits()
            if self.peek() != "}":
                raise self.fail()
            self.pos += 1
            if high and int(high) < int(low):
                self.pos = start
                raise self.fail()
            self.out.append(
                "{"
                + str(int(low))
                + ("," if comma else "")
                + (str(int(high)) if high else "")
                + "}"
            )

    def digits(self) -> str:
        start = self.pos
        while self.pos < self.n and self.pattern[self.pos] in "0123456789":
            self.pos += 1
        if self.pos == start:
            raise self.fail()
        return self.pattern[start : self.pos]

    def atom(self, depth: int) -> None:
        ch = self.pattern[self.pos]
        if ch == "(":
            self.pos += 1
            self.out.append("(?:")
            self.regexp(depth + 1)
            if self.peek() != ")":
                raise self.fail()
            self.pos += 1
            self.out.append(")")
        elif ch == ".":
            self.pos += 1
            self.out.append("[^\\n\\r]")
        elif ch == "[":
            self.char_class_expr()
        elif ch == "\\":
            self.out.append(self.escape(in_class=False))
        elif ch == "^" or ch == "$":
            # Read as anchors, as the compliance suite and common engines do.
            self.pos += 1
            self.out.append(ch)
        elif ch in "*+?{}])|":
            raise self.fail()
        else:
            self.check_char(ch)
            self.pos += 1
            self.out.append(_char(ch))

    def check_char(self, ch: str) -> None:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise self.fail()

    def escape(self, in_class: bool) -> str:
        """Read ``\\...`` at pos; return RE2 text (a class body item if in_class)."""
        if self.pos + 1 >= self.n:
            raise self.fail()
        ch = self.pattern[self.pos + 1]
        if ch in _SINGLE_ESCAPES:
            self.pos += 2
            literal = {"n": "\n", "r": "\r", "t": "\t"}.get(ch, ch)
            return _char(literal)
        if ch in ("p", "P"):
            self.pos += 2
            if self.peek() != "{":
                raise self.fail()
            self.pos += 1
            major = self.peek()
            if major not in _CATEGORIES or not major:
                raise self.fail()
            self.pos += 1
            minor = ""
            if self.peek() != "}":
                minor = self.peek()
                if not minor or minor not in _CATEGORIES[major]:
                    raise self.fail()
                self.pos += 1
            if self.peek() != "}":
                raise self.fail()
            self.pos += 1
            category = major + minor
            negated = ch == "P"
            if category == "Cn":
                body = _unassigned_class()
                if in_class:
                    if negated:
                        # Not expressible inside a class in RE2; handled by caller.
                        raise RegexUnsupported("\\P{Cn} inside a character class")
                    return body
                return ("[^" if negated else "[") + body + "]"
            if category == "C":
                # RE2's C lacks Cn; add it back.
                if in_class:
                    if negated:
                        raise RegexUnsupported("\\P{C} inside a character class")
                    return "\\p{C}" + _unassigned_class()
                if negated:
                    return "[^\\p{C}" + _unassigned_class() + "]"
                return "[\\p{C}" + _unassigned_class() + "]"
            return ("\\P{" if negated else "\\p{") + category + "}"
        raise self.fail()

    def char_class_expr(self) -> None:
        self.pos += 1  # '['
        parts: list[str] = []
        negated = False
        if self.peek() == "^":
            negated = True
            self.pos += 1
        first = True
        while True:
            ch = self.peek()
            if ch == "":
                raise self.fail()
            if ch == "]":
                if first:
                    raise self.fail()
                self.pos += 1
                break
            if ch == "-":
                # '-' is literal only first or last in the class.
                if first or self.pattern.startswith("-]", self.pos):
                    self.pos += 1
                    parts.append("\\-")
                    first = False
                    continue
                raise self.fail()
            if ch == "\\" and self.pattern[self.pos + 1 : self.pos + 2] in ("p", "P"):
                parts.append(self.escape(in_class=True))
                first = False
                continue
            low = self.cc_char()
            if self.peek() == "-" and not self.pattern.startswith("-]", self.pos):
                self.pos += 1
                high = self.cc_char()
                if ord(high) < ord(low):
                    raise self.fail()
                parts.append(_char(low) + "-" + _char(high))
            else:
                parts.append(_char(low))
            first = False
        self.out.append(("[^" if negated else "[") + "".join(parts) + "]")

    def cc_char(self) -> str:
        ch = self.peek()
        if ch == "\\":
            if self.pos + 1 >= self.n:
                raise self.fail()
            esc = self.pattern[self.pos + 1]
            if esc not in _SINGLE_ESCAPES:
                raise self.fail()
            self.pos += 2
            return {"n": "\n", "r": "\r", "t": "\t"}.get(esc, esc)
        if ch in "[]-" or not ch:
            raise self.fail()
        self.check_char(ch)
        self.pos += 1
        return ch


def translate(pattern: str) -> str | None:
    """RE2 syntax for an I-Regexp, or None when ``pattern`` is not one.

    >>> translate("a.c")
    'a[^\\\\n\\\\r]c'
    >>> translate("(a") is None
    True
    """
    try:
        return _Translator(pattern).translate()
    except _NotIRegexp:
        return None


def compile_iregexp(pattern: str) -> Any:
    """A compiled RE2 regex for an I-Regexp, or None when it is not one.

    Raises :class:`RegexUnsupported` for a valid I-Regexp that RE2 cannot run.
    """
    source = translate(pattern)
    if source is None:
        return None
    try:
        return re2.compile(source, _OPTIONS)
    except re2.error as exc:
        raise RegexUnsupported(str(exc)) from None
