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

Bounds: counted repetitions are rewritten for RE2 (which caps a count, and
the product of nested counts, at 1000). The rewriting is bounded by what it
would produce: a pattern whose *size* (its atoms counted with every counted
repetition written out, ``a{10}`` counting 10) exceeds :data:`MAX_SIZE`, or
whose text or translation exceeds :data:`MAX_TEXT` characters, is refused with
:class:`RegexUnsupported` before anything large is built, so translating and
compiling any pattern takes bounded time and memory. Successes and refusals
are both cached.
"""

from __future__ import annotations

import re
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
# About how many ranges of code points each category covers (from the Unicode
# database): the size of \\p{..} and \\P{..} (see MAX_SIZE), since RE2 holds
# and compiles a class range by range.
_RANGES = {
    "L": 648, "Ll": 657, "Lm": 69, "Lo": 501, "Lt": 10, "Lu": 646,
    "M": 299, "Mc": 177, "Me": 5, "Mn": 336,
    "N": 134, "Nd": 62, "Nl": 12, "No": 71,
    "P": 189, "Pc": 6, "Pd": 19, "Pe": 76, "Pf": 10, "Pi": 11, "Po": 185, "Ps": 79,
    "S": 234, "Sc": 21, "Sk": 31, "Sm": 64, "So": 186,
    "Z": 8, "Zl": 1, "Zp": 1, "Zs": 7,
    "C": 701, "Cc": 2, "Cf": 21, "Cn": 698, "Co": 3, "Cs": 1,
}  # fmt: skip
# '.' is a class of three ranges.
_ANY_SIZE = 3
# Characters that must be escaped to stand for themselves in RE2.
_RE2_META = set("\\^$.|?*+()[]{}-/")
_SINGLE_ESCAPES = set("()*+-.?[\\]^{|}nrt")
# A run of characters that stand for themselves, and how RE2 spells each.
_PLAIN_RUN = re.compile(r"[^\\()\[\].^$|*+?{}\ud800-\udfff]+")
_PLAIN_SPELLING = {code: f"\\x{{{code:x}}}" for code in (*range(0x20), 0x7F)}
_PLAIN_SPELLING.update({ord(ch): "\\" + ch for ch in "-/"})


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
    __slots__ = ("chars", "check_only", "n", "out", "pattern", "pos")

    def __init__(self, pattern: str, check_only: bool = False) -> None:
        # check_only: only tell whether pattern is an I-Regexp (no output,
        # no limits), for a pattern refused as too large.
        self.check_only = check_only
        self.pattern = pattern
        self.n = len(pattern)
        self.pos = 0
        self.out: list[str] = []
        self.chars = 0  # the length of "".join(self.out), kept up to date

    def fail(self) -> _NotIRegexp:
        return _NotIRegexp(self.pos)

    def peek(self) -> str:
        return self.pattern[self.pos] if self.pos < self.n else ""

    def emit(self, text: str) -> None:
        if not self.check_only:
            self.out.append(text)
            self.grow(len(text))

    def grow(self, chars: int) -> None:
        self.chars += chars
        if self.chars > MAX_TEXT and not self.check_only:
            raise _too_long()

    def limit(self, size: int) -> int:
        return 0 if self.check_only else _check(size)

    def translate(self) -> str:
        self.regexp(0)
        if self.pos != self.n:
            raise self.fail()
        return "".join(self.out)

    # Each method returns the *weight* of what it translated (the product of
    # the counted repetitions nested in it, which RE2 caps at 1000) and its
    # *size* (see MAX_SIZE).

    def regexp(self, depth: int) -> tuple[int, int]:
        if depth > 200:
            raise self.fail()
        weight, size = self.branch(depth)
        while self.peek() == "|":
            self.pos += 1
            self.emit("|")
            more, more_size = self.branch(depth)
            weight = max(weight, more)
            size = self.limit(size + more_size + 1)
        return weight, size

    def branch(self, depth: int) -> tuple[int, int]:
        weight = 1
        size = 0
        while True:
            ch = self.peek()
            if ch == "" or ch == "|" or ch == ")":
                return weight, size
            run = _PLAIN_RUN.match(self.pattern, self.pos)
            if run is not None:
                # Fast path: literal characters, but for one that a
                # quantifier follows (it is an atom of its own).
                end = run.end()
                if end < self.n and self.pattern[end] in "*+?{":
                    end -= 1
                if end > self.pos:
                    self.emit(self.pattern[self.pos : end].translate(_PLAIN_SPELLING))
                    size = self.limit(size + end - self.pos)
                    self.pos = end
                    continue
            mark = len(self.out)
            inner, inner_size = self.atom(depth)
            ch = self.peek()
            if ch == "" or ch not in "*+?{":
                # No quantifier: the atom's text stays as it was written.
                weight = max(weight, inner)
                size = self.limit(size + inner_size)
                continue
            atom = "".join(self.out[mark:])
            del self.out[mark:]
            text, piece, piece_size = self.quantified(atom, inner, inner_size)
            self.out.append(text)
            self.grow(len(text) - len(atom))
            weight = max(weight, piece)
            size = self.limit(size + piece_size)

    def quantified(self, atom: str, inner: int, size: int) -> tuple[str, int, int]:
        """``atom`` with the quantifier at pos (if any) applied, weight, size."""
        ch = self.peek()
        if ch in ("*", "+", "?") and ch:
            self.pos += 1
            return atom + ch, inner, size + 1
        if ch != "{":
            return atom, inner, size
        start = self.pos
        self.pos += 1
        low_digits = self.digits()
        high_digits: str | None = low_digits
        if self.peek() == ",":
            self.pos += 1
            high_digits = None if self.peek() == "}" else self.digits()
        if self.peek() != "}":
            raise self.fail()
        self.pos += 1
        if high_digits is not None and _number(high_digits) < _number(low_digits):
            self.pos = start
            raise self.fail()
        if self.check_only:
            return atom, 1, 0
        if len(low_digits) > 12 or len(high_digits or "") > 12:
            # Far beyond any count that could be written out (and int()
            # refuses over 4,300 digits).
            raise RegexUnsupported("a repetition count is too large")
        low = int(low_digits)
        high = None if high_digits is None else int(high_digits)
        room = MAX_TEXT - self.chars + len(atom)
        return _repeat(atom, low, high, inner, size, room)

    def digits(self) -> str:
        start = self.pos
        while self.pos < self.n and self.pattern[self.pos] in "0123456789":
            self.pos += 1
        if self.pos == start:
            raise self.fail()
        return self.pattern[start : self.pos]

    def atom(self, depth: int) -> tuple[int, int]:
        ch = self.pattern[self.pos]
        if ch == "(":
            self.pos += 1
            self.emit("(?:")
            weight, size = self.regexp(depth + 1)
            if self.peek() != ")":
                raise self.fail()
            self.pos += 1
            self.emit(")")
            return weight, size
        size = 1
        if ch == ".":
            self.pos += 1
            self.emit("[^\\n\\r]")
            size = _ANY_SIZE
        elif ch == "[":
            size = self.char_class_expr()
        elif ch == "\\":
            text, size = self.escape(in_class=False)
            self.emit(text)
        elif ch == "^" or ch == "$":
            # Read as anchors, as the compliance suite and common engines do.
            self.pos += 1
            self.emit(ch)
        elif ch in "*+?{}])|":
            raise self.fail()
        else:
            self.check_char(ch)
            self.pos += 1
            self.emit(_char(ch))
        return 1, size

    def check_char(self, ch: str) -> None:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise self.fail()

    def escape(self, in_class: bool) -> tuple[str, int]:
        """Read ``\\...`` at pos; return RE2 text (a class body item if
        in_class) and its size."""
        if self.pos + 1 >= self.n:
            raise self.fail()
        ch = self.pattern[self.pos + 1]
        if ch in _SINGLE_ESCAPES:
            self.pos += 2
            literal = {"n": "\n", "r": "\r", "t": "\t"}.get(ch, ch)
            return _char(literal), 1
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
            size = _RANGES[category]
            negated = ch == "P"
            if category == "Cn":
                if negated:
                    body = _ASSIGNED
                    return (body if in_class else "[" + body + "]"), size
                body = _unassigned_class()
                return (body if in_class else "[" + body + "]"), size
            if category == "C":
                # RE2's C lacks Cn: C is Cc, Cf, Co, Cs and the unassigned.
                if negated:
                    body = _NOT_OTHER
                    return (body if in_class else "[" + body + "]"), size
                body = "\\p{C}" + _unassigned_class()
                return (body if in_class else "[" + body + "]"), size
            return ("\\P{" if negated else "\\p{") + category + "}", size
        raise self.fail()

    def char_class_expr(self) -> int:
        """Translate a class at pos; return its size (the ranges it holds)."""
        self.pos += 1  # '['
        parts: list[str] = []
        size = 0
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
                    size += 1
                    first = False
                    continue
                raise self.fail()
            if ch == "\\" and self.pattern[self.pos + 1 : self.pos + 2] in ("p", "P"):
                text, more = self.escape(in_class=True)
                parts.append(text)
                size += more
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
            size += 1
            first = False
        self.emit(("[^" if negated else "[") + "".join(parts) + "]")
        return size + negated

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

#: The largest pattern size accepted: atoms counted with every counted
#: repetition written out (``a{50000}`` is exactly at the limit; a class
#: counts its ranges, ``.`` three). RE2 itself accepts programs of up to about
#: 650,000 instructions, but compiling one that large takes over 100 ms and
#: 70 MB; at this limit the worst patterns take about 40 ms and 20 MB.
MAX_SIZE = 50_000

#: The longest pattern, and the longest translation (RE2 syntax), accepted,
#: in characters.
MAX_TEXT = 50_000


def _check(size: int) -> int:
    """``size``, after checking it against :data:`MAX_SIZE`."""
    if size > MAX_SIZE:
        raise RegexUnsupported(
            f"the pattern is too large: its size with counted repetitions "
            f"written out exceeds {MAX_SIZE:,}"
        )
    return size


def _too_long() -> RegexUnsupported:
    return RegexUnsupported(
        f"the pattern is too large: its translation exceeds {MAX_TEXT:,} characters"
    )


def _counted(atom: str, count: int, optional: bool) -> str:
    """``atom`` exactly ``count`` times (or up to, if optional) in RE2 syntax."""
    parts = []
    while count > 0:
        chunk = min(count, _RE2_MAX_REPEAT)
        parts.append(f"(?:{atom}){{{0 if optional else chunk},{chunk}}}")
        count -= chunk
    return "".join(parts)


def _repeat(
    atom: str, low: int, high: int | None, inner: int, size: int, room: int
) -> tuple[str, int, int]:
    """``atom{low,high}`` (``high`` None: unbounded) within RE2's limits.

    Returns the RE2 text, its weight and its size. The size, and the length
    against ``room`` (the characters the translation may still take), are
    checked before any text is written out, so a huge count costs nothing.
    """
    if high is None:
        total = max(low, 1) * size + 1
    else:
        total = low * size + (high - low) * (size + 1)
    count = low if high is None else high
    if inner * max(count, 1) <= _RE2_MAX_REPEAT:
        _check(total)
        if high is None:
            return f"(?:{atom}){{{low},}}", inner * max(low, 1), total
        if low == high:
            return f"(?:{atom}){{{low}}}", inner * max(low, 1), total
        return f"(?:{atom}){{{low},{high}}}", inner * max(high, 1), total
    if inner == 1:
        _check(total)
        # Each chunk is (?:atom){n,1000}.
        if (len(atom) + 16) * (count // _RE2_MAX_REPEAT + 2) > room:
            raise _too_long()
        text = _counted(atom, low, optional=False)
        if high is None:
            return text + f"(?:{atom})*", min(low, _RE2_MAX_REPEAT), total
        return (
            text + _counted(atom, high - low, optional=True),
            _RE2_MAX_REPEAT,
            total,
        )
    # A counted group inside: RE2 caps the product, so write the group out.
    _check(total)
    # Each copy is (?:atom) or (?:atom)?, and one more for an unbounded tail.
    if (len(atom) + 5) * (count + 1) > room:
        raise _too_long()
    text = f"(?:{atom})" * low
    if high is None:
        return text + f"(?:{atom})*", inner, total
    return text + f"(?:{atom})?" * (high - low), inner, total


def translate(pattern: str) -> str | None:
    """RE2 syntax for an I-Regexp, or None when ``pattern`` is not one.

    Raises :class:`RegexUnsupported` for a valid I-Regexp too large to run
    (see :data:`MAX_SIZE`).

    >>> translate("a.c")
    'a[^\\\\n\\\\r]c'
    >>> translate("(a") is None
    True
    """
    if len(pattern) > MAX_TEXT:
        raise RegexUnsupported(
            f"the pattern is too large: it is longer than {MAX_TEXT:,} characters"
        )
    try:
        return _Translator(pattern).translate()
    except _NotIRegexp:
        return None
    except RegexUnsupported:
        # Refused before the whole pattern was read: a pattern that is not an
        # I-Regexp further on is still just that.
        try:
            _Translator(pattern, check_only=True).translate()
        except _NotIRegexp:
            return None
        raise


def _number(digits: str) -> tuple[int, str]:
    """A sort key for a decimal numeral of any length (no int() conversion)."""
    digits = digits.lstrip("0")
    return len(digits), digits


def compile_iregexp(pattern: str) -> Any:
    """A compiled RE2 regex for an I-Regexp, or None when it is not one.

    Raises :class:`RegexUnsupported` for a valid I-Regexp that RE2 cannot run.
    Results, refusals included, are cached (bounded, thread-safe), so a
    refused pattern costs its translation once.
    """
    # A pattern longer than MAX_TEXT is refused at once; it is not kept alive
    # by the cache.
    result = _compile(pattern) if len(pattern) > MAX_TEXT else _compiled(pattern)
    if isinstance(result, RegexUnsupported):
        raise RegexUnsupported(*result.args)
    return result


#: Patterns whose compiled form (or refusal) is kept.
CACHE_SIZE = 512


def _compile(pattern: str) -> Any:
    """The compiled regex, None (not an I-Regexp) or the refusal."""
    try:
        source = translate(pattern)
    except RegexUnsupported as exc:
        return exc
    if source is None:
        return None
    re2, options = _re2()
    try:
        return re2.compile(source, options)
    except re2.error as exc:
        return RegexUnsupported(_reason(exc))


_compiled = lru_cache(maxsize=CACHE_SIZE)(_compile)


def clear_cache() -> None:
    """Forget the compiled patterns."""
    _compiled.cache_clear()


def _reason(exc: Exception) -> str:
    """RE2's message as text (the binding gives bytes)."""
    message = exc.args[0] if exc.args else exc
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return str(message)
