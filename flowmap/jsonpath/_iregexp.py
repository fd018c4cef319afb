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

_CATEGORIES = {
    "L": "lmotu",
    "M": "cen",
    "N": "dlo",
    "P": "cdefios",
    "Z": "lps",
    "S": "ckmo",
    "C": "cfno",
}
# Every category but C, and every assigned code point (all but Cn), as class
# bodies: RE2 has no Cn, and a class cannot hold a negated class.
_NOT_OTHER = "\\p{L}\\p{M}\\p{N}\\p{P}\\p{S}\\p{Z}"
_ASSIGNED = _NOT_OTHER + "\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}"
# Characters that must be escaped to stand for themselves in RE2.
_RE2_META = set("\\^$.|?*+()[]{}-/")
_SINGLE_ESCAPES = set("()*+-.?[\\]^{|}nrt")


@lru_cache(maxsize=1)
def _re2() -> tuple[Any, Any]:
    """The RE2 module and its options, imported on first use.

    Imported lazily so that ``import flowmap`` and every query without
    ``match()``/``search()`` work even where google-re2 is not installed.
    """
    try:
        import re2
    except ImportError:
        raise RegexUnsupported(
            "google-re2 is not installed; install it (pip install google-re2) "
            "to use match() and search()"
        ) from None
    options = re2.Options()
    options.log_errors = False
    return re2, options


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

    # Each method returns the *weight* of what it translated: the product of
    # the counted repetitions nested in it, which RE2 caps at 1000.

    def regexp(self, depth: int) -> int:
        if depth > 200:
            raise self.fail()
        weight = self.branch(depth)
        while self.peek() == "|":
            self.pos += 1
            self.out.append("|")
            weight = max(weight, self.branch(depth))
        return weight

    def branch(self, depth: int) -> int:
        weight = 1
        while True:
            ch = self.peek()
            if ch == "" or ch == "|" or ch == ")":
                return weight
            mark = len(self.out)
            inner = self.atom(depth)
            atom = "".join(self.out[mark:])
            del self.out[mark:]
            text, piece = self.quantified(atom, inner)
            self.out.append(text)
            weight = max(weight, piece)

    def quantified(self, atom: str, inner: int) -> tuple[str, int]:
        """``atom`` with the quantifier at pos (if any) applied, and its weight."""
        ch = self.peek()
        if ch in ("*", "+", "?") and ch:
            self.pos += 1
            return atom + ch, inner
        if ch != "{":
            return atom, inner
        start = self.pos
        self.pos += 1
        low = int(self.digits())
        high: int | None = low
        if self.peek() == ",":
            self.pos += 1
            high = None if self.peek() == "}" else int(self.digits())
        if self.peek() != "}":
            raise self.fail()
        self.pos += 1
        if high is not None and high < low:
            self.pos = start
            raise self.fail()
        return _repeat(atom, low, high, inner)

    def digits(self) -> str:
        start = self.pos
        while self.pos < self.n and self.pattern[self.pos] in "0123456789":
            self.pos += 1
        if self.pos == start:
            raise self.fail()
        return self.pattern[start : self.pos]

    def atom(self, depth: int) -> int:
        ch = self.pattern[self.pos]
        if ch == "(":
            self.pos += 1
            self.out.append("(?:")
            weight = self.regexp(depth + 1)
            if self.peek() != ")":
                raise self.fail()
            self.pos += 1
            self.out.append(")")
            return weight
        if ch == ".":
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
        return 1

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
                if negated:
                    body = _ASSIGNED
                    return body if in_class else "[" + body + "]"
                body = _unassigned_class()
                return body if in_class else "[" + body + "]"
            if category == "C":
                # RE2's C lacks Cn: C is Cc, Cf, Co, Cs and the unassigned.
                if negated:
                    body = _NOT_OTHER
                    return body if in_class else "[" + body + "]"
                body = "\\p{C}" + _unassigned_class()
                return body if in_class else "[" + body + "]"
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


#: RE2 refuses a repetition count over 1000; larger counts are split.
_RE2_MAX_REPEAT = 1000


def _counted(atom: str, count: int, optional: bool) -> str:
    """``atom`` exactly ``count`` times (or up to, if optional) in RE2 syntax."""
    parts = []
    while count > 0:
        chunk = min(count, _RE2_MAX_REPEAT)
        parts.append(f"(?:{atom}){{{0 if optional else chunk},{chunk}}}")
        count -= chunk
    return "".join(parts)


#: Unrolling a repetition of a counted group writes the group this many times
#: at most; beyond it the pattern is refused as too large.
_MAX_UNROLL = 10_000


def _repeat(atom: str, low: int, high: int | None, inner: int) -> tuple[str, int]:
    """``atom{low,high}`` (``high`` None: unbounded) within RE2's limits."""
    count = low if high is None else high
    if inner * max(count, 1) <= _RE2_MAX_REPEAT:
        if high is None:
            return f"(?:{atom}){{{low},}}", inner * max(low, 1)
        if low == high:
            return f"(?:{atom}){{{low}}}", inner * max(low, 1)
        return f"(?:{atom}){{{low},{high}}}", inner * max(high, 1)
    if inner == 1:
        text = _counted(atom, low, optional=False)
        if high is None:
            return text + f"(?:{atom})*", min(low, _RE2_MAX_REPEAT)
        return text + _counted(atom, high - low, optional=True), _RE2_MAX_REPEAT
    # A counted group inside: RE2 caps the product, so write the group out.
    if count > _MAX_UNROLL:
        raise RegexUnsupported(
            f"a repetition of {count} over a group with counted repetitions"
        )
    text = f"(?:{atom})" * low
    if high is None:
        return text + f"(?:{atom})*", inner
    return text + f"(?:{atom})?" * (high - low), inner


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
    re2, options = _re2()
    try:
        return re2.compile(source, options)
    except re2.error as exc:
        raise RegexUnsupported(str(exc)) from None
