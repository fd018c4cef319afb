"""The function extensions of RFC 9535 section 2.4 and their runtime helpers.

The parser reads the signatures from :data:`FUNCTIONS` to type-check calls;
the compiled evaluators call the helpers below. ``NOTHING`` stands for the
RFC's "Nothing" (the absence of a value) and is never a JSON value.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ..errors import RegexLimitError
from ._iregexp import RegexUnsupported, compile_iregexp

VALUE = "ValueType"
LOGICAL = "LogicalType"
NODES = "NodesType"

FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "length": ((VALUE,), VALUE),
    "count": ((NODES,), VALUE),
    "match": ((VALUE, VALUE), LOGICAL),
    "search": ((VALUE, VALUE), LOGICAL),
    "value": ((NODES,), VALUE),
}


class _Nothing:
    """The RFC's Nothing: what a singular query gives when it selects no node."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOTHING"

    def __reduce__(self) -> str:
        return "NOTHING"


NOTHING: Any = _Nothing()


def length(value: Any) -> Any:
    """``length()``: characters of a string, items of an array or object."""
    if isinstance(value, (str, list, dict)):
        return len(value)
    return NOTHING


def value_of(nodes: list[Any]) -> Any:
    """``value()``: the value of a single-node list, else Nothing."""
    if len(nodes) == 1:
        return nodes[0]
    return NOTHING


@lru_cache(maxsize=256)
def _dynamic_regex(pattern: str, full: bool) -> Callable[[str], Any] | None:
    # A refusal raises, so this cache keeps successes only (and no pattern
    # over MAX_TEXT characters); compile_iregexp caches refusals too.
    try:
        regex = compile_iregexp(pattern)
    except RegexUnsupported as exc:
        # A valid I-Regexp beyond RE2's limits: no honest true or false.
        raise RegexLimitError(pattern, str(exc)) from None
    if regex is None:
        return None
    method: Callable[[str], Any] = regex.fullmatch if full else regex.search
    return method


def regex_test(full: bool, value: Any, pattern: Any) -> bool:
    """``match()`` (``full``) or ``search()`` with a pattern known only at run time."""
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    test = _dynamic_regex(pattern, full)
    if test is None:
        return False
    try:
        return test(value) is not None
    except UnicodeEncodeError:
        # A lone surrogate (not I-JSON) cannot be handed to the regex engine.
        return False


def literal_regex_test(pattern: str, full: bool) -> Callable[[Any], bool] | None:
    """A tester for a pattern known at compile time (None: not an I-Regexp)."""
    regex = compile_iregexp(pattern)
    if regex is None:
        return None
    method = regex.fullmatch if full else regex.search

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return method(value) is not None
        except UnicodeEncodeError:
            return False

    return test
