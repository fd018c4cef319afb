"""Text that every store can keep: no lone surrogates (and no NUL in names).

A Python ``str`` may hold a lone surrogate (``"\\ud800"``, which
``json.loads`` makes of the escape ``"\\ud800"``): it is not Unicode text,
so it cannot be encoded as UTF-8 and no database takes it. PostgreSQL text
also refuses NUL (U+0000), which is fine inside JSON values (they are stored
escaped) but not in names, ids and definitions. These helpers find such text
and say where it is, so that it is refused where it comes in (caller input,
headers, definitions, function results) instead of failing a save later.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["bad_text", "scrubbed", "text_fault", "text_problem"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_text(text: str, *, nul: bool = False) -> str | None:
    """Why ``text`` cannot be stored, or None; ``nul`` also refuses U+0000.

    >>> bad_text("caf\\u00e9") is None
    True
    >>> bad_text("a\\ud800")
    'a lone surrogate U+D800 is not Unicode text'
    >>> bad_text("a\\x00b", nul=True)
    'a NUL character (U+0000) cannot be stored'
    """
    if nul and "\x00" in text:
        return "a NUL character (U+0000) cannot be stored"
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return f"a lone surrogate U+{ord(found.group()):04X} is not Unicode text"


def text_problem(value: Any, path: str = "$", *, nul: bool = False) -> str | None:
    """The first string (key or value) in a JSON value that cannot be
    stored, as ``"<location>: <reason>"``; None if there is none.

    >>> text_problem({"a": ["x", "\\udc80"]}, "$.input")
    '$.input.a[1]: a lone surrogate U+DC80 is not Unicode text'
    >>> text_problem({"\\ud800": 1})
    "$: the key '\\\\ud800': a lone surrogate U+D800 is not Unicode text"
    """
    found = text_fault(value, path, nul=nul)
    return None if found is None else f"{found[0]}: {found[1]}"


def text_fault(
    value: Any, path: str = "$", *, nul: bool = False
) -> tuple[str, str] | None:
    """:func:`text_problem` as ``(location, reason)``."""
    found = _find(value, nul, 0)
    if found is None:
        return None
    # The location is spelled only for a fault, not for every member walked.
    steps, reason = found
    for step in reversed(steps):
        path = f"{path}[{step}]" if isinstance(step, int) else _member(path, step[0])
    return path, reason


def _find(
    value: Any, nul: bool, depth: int
) -> tuple[list[int | tuple[Any]], str] | None:
    """The first fault as (steps from it up to ``value``, reason): a list
    index as an int, an object key as a 1-tuple."""
    if isinstance(value, str):
        reason = bad_text(value, nul=nul)
        return None if reason is None else ([], reason)
    if depth > 1000:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                reason = bad_text(key, nul=nul)
                if reason is not None:
                    return ([], f"the key {_quoted(key)}: {reason}")
            found = _find(item, nul, depth + 1)
            if found is not None:
                found[0].append((key,))
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find(item, nul, depth + 1)
            if found is not None:
                found[0].append(index)
                return found
    return None


def _member(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier() and key.isascii():
        return f"{path}.{key}"
    text = repr(key) if not isinstance(key, str) else _quoted(key)
    return f"{path}[{text}]"


def _quoted(key: str) -> str:
    escaped = key.encode("ascii", "backslashreplace").decode("ascii")
    return "'" + escaped.replace("'", "\\'") + "'"


def scrubbed(value: Any) -> Any:
    """A JSON value with every lone surrogate in its strings replaced by
    U+FFFD and every NUL removed: for saving what the runner must record
    even though it cannot be kept as it is (the end of an execution).

    >>> scrubbed({"a\\ud800": ["x\\x00y"]})
    {'a\\ufffd': ['xy']}
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value).replace("\x00", "")
    if isinstance(value, dict):
        return {scrubbed(key): scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(item) for item in value]
    return value
