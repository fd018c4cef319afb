"""The intrinsic functions of the Amazon States Language.

Each function takes the evaluated arguments and returns a new JSON value;
an argument it cannot use raises :class:`StatesRuntimeError` with the cause
AWS gives (``Invalid arguments in States.X``) and a ``detail`` that says
what was wrong. :data:`FUNCTIONS` gives every name its arity, which the
parser checks when the template is compiled.

Where AWS's behaviour differs from what its documentation suggests, the
functions follow what AWS was observed to do (see docs/states.md): numeric
arguments are truncated towards zero (except by ``States.MathAdd``, which
rounds), ``States.MathRandom`` excludes its end, ``States.StringSplit`` drops
empty tokens, ``States.Base64Decode`` ignores characters outside the
alphabet, and ``States.Format`` writes objects and arrays the way Java's
``toString`` does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..errors import json_kind
from ._errors import StatesRuntimeError

__all__ = ["FUNCTIONS", "Intrinsic", "format_parts", "java_text"]

#: Base64 and hash inputs longer than this (in UTF-16 code units) are refused.
MAX_INPUT_LENGTH = 10_000
#: The largest array States.ArrayRange may build.
MAX_RANGE_ITEMS = 1000
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _invalid(name: str, detail: str) -> StatesRuntimeError:
    return StatesRuntimeError("States.Runtime", f"Invalid arguments in {name}", detail)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _truncated(name: str, value: Any, what: str) -> int:
    """An integer argument: numbers are truncated towards zero, as AWS does."""
    if not _is_number(value):
        raise _invalid(name, f"the {what} must be a number, not {json_kind(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(name, f"the {what} must be a finite number")
        return int(value)
    return int(value)


def _string(name: str, value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _invalid(name, f"the {what} must be a string, not {json_kind(value)}")
    return value


def _array(name: str, value: Any, what: str = "first argument") -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(name, f"the {what} must be an array, not {json_kind(value)}")
    return value


def _utf16_length(text: str) -> int:
    if len(text) * 2 <= MAX_INPUT_LENGTH:
        return len(text)  # cannot exceed the limit, skip the count
    # surrogatepass: a lone surrogate (json.loads gives one for "\ud800")
    # is one code unit, as in Java.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf8(name: str, text: str, what: str = "argument") -> bytes:
    """``text`` as UTF-8; a lone surrogate is not text and is refused."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise _invalid(
            name,
            f"the {what} holds a lone surrogate (U+{code:04X} at index "
            f"{exc.start}), which is not Unicode text",
        ) from None


def number_text(value: int) -> str:
    """``str(value)``, or a description for an integer too long to write.

    Python refuses to write integers of over 4,300 digits (the conversion
    is quadratic); such a number from a document is described instead.

    >>> number_text(12), number_text(10**5000)
    ('12', 'an integer of 5,001 digits')
    """
    try:
        return str(value)
    except ValueError:
        digits = int(abs(value).bit_length() * 0.30102999566398120) + 1
        if abs(value) < 10 ** (digits - 1):
            digits -= 1
        return f"an integer of {digits:,} digits"


def _check_length(name: str, text: str) -> None:
    if _utf16_length(text) > MAX_INPUT_LENGTH:
        raise _invalid(
            name, f"the input is longer than {MAX_INPUT_LENGTH:,} characters"
        )


# --- how AWS writes values into strings ---------------------------------------


def _java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` writes it (``1.0E20``, ``0.5``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)  # Python's shortest repr is positional in this range
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = len(text) - 1 + exponent
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def java_text(value: Any) -> str:
    """A value as AWS writes it into a string (States.Format, States.Hash).

    Strings are written as they are, other scalars as JSON, and arrays and
    objects the way Java's ``toString`` writes lists and maps: AWS was
    observed to turn ``{"Arg1": 1, "Arg2": []}`` into ``{Arg1=1, Arg2=[]}``.

    >>> java_text({"Arg1": 1, "Arg2": [], "s": ["a", None, True, 1.5]})
    '{Arg1=1, Arg2=[], s=[a, null, true, 1.5]}'
    >>> java_text(1e20), java_text(12.0)
    ('1.0E20', '12.0')
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        text = number_text(value)
        if not text[-1].isdigit():
            raise ValueError(f"cannot write {text} as text")
        return text
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, list):
        return "[" + ", ".join(java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{key}={java_text(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- States.Format ------------------------------------------------------------


def format_parts(parts: tuple[str, ...] | None, args: tuple[Any, ...]) -> str:
    """Fill the ``{}`` between ``parts`` with ``args`` (``None``: a lone brace)."""
    if parts is None:
        raise _invalid(
            "States.Format",
            "the template has a '{' or '}' that is not part of a '{}' "
            "placeholder (escape it as \\{ or \\})",
        )
    if len(parts) - 1 != len(args):
        raise _invalid(
            "States.Format",
            f"the template has {len(parts) - 1} '{{}}' placeholder(s) but "
            f"{len(args)} value(s) were given",
        )
    out = [parts[0]]
    for arg, part in zip(args, parts[1:]):
        out.append(java_text(arg))
        out.append(part)
    return "".join(out)


def _format(template: Any, *args: Any) -> str:
    text = _string("States.Format", template, "template (first argument)")
    parts = tuple(text.split("{}"))
    if any("{" in part or "}" in part for part in parts):
        return format_parts(None, args)
    return format_parts(parts, args)


# --- JSON ----------------------------------------------------------------------


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"{token} is out of the range of a JSON number")
    return value


def _string_to_json(text: Any) -> Any:
    text = _string("States.StringToJson", text, "argument")
    if not text.strip():
        return None  # AWS gives null for an empty string
    try:
        return json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, RecursionError) as exc:
        raise _invalid(
            "States.StringToJson", f"the string is not JSON: {exc}"
        ) from None


def _json_to_string(value: Any) -> str:
    try:
        return _json_text(value)
    except (TypeError, ValueError) as exc:
        detail = str(exc)
        if "integer string conversion" in detail:
            detail = "it holds an integer of over 4,300 digits"
        raise _invalid(
            "States.JsonToString", f"the value cannot be written as JSON: {detail}"
        ) from None


def _json_merge(first: Any, second: Any, deep: Any) -> dict[str, Any]:
    name = "States.JsonMerge"
    if not isinstance(first, dict):
        raise _invalid(
            name, f"the first argument must be an object, not {json_kind(first)}"
        )
    if not isinstance(second, dict):
        raise _invalid(
            name, f"the second argument must be an object, not {json_kind(second)}"
        )
    if deep is True:
        raise _invalid(
            name,
            "Step Functions only supports the shallow merging mode; "
            "specify false as the third argument",
        )
    return {**first, **second}


# --- arrays ----------------------------------------------------------------------


def _array_fn(*args: Any) -> list[Any]:
    return list(args)


def _array_partition(array: Any, size: Any) -> list[list[Any]]:
    name = "States.ArrayPartition"
    items = _array(name, array)
    chunk = _truncated(name, size, "chunk size")
    if chunk < 1:
        raise _invalid(name, f"the chunk size must be at least 1, not {chunk}")
    return [items[i : i + chunk] for i in range(0, len(items), chunk)]


def _array_contains(array: Any, value: Any) -> bool:
    # AWS was observed to compare items by their string form: true matches
    # "true", and objects match only with their keys in the same order.
    items = _array("States.ArrayContains", array)
    wanted = java_text(value)
    return any(java_text(item) == wanted for item in items)


def _array_range(start: Any, end: Any, step: Any) -> list[int]:
    name = "States.ArrayRange"
    first = _truncated(name, start, "start")
    last = _truncated(name, end, "end")
    by = _truncated(name, step, "step")
    if by == 0:
        raise _invalid(name, "the step must not be 0")
    # Counted without range(), whose len() overflows past 2**63 items.
    count = max(0, (last - first) // by + 1)
    if count > MAX_RANGE_ITEMS:
        shown = f"{count:,}" if count < 10**100 else "more than 10**100"
        raise _invalid(
            name,
            f"the range has {shown} items; at most {MAX_RANGE_ITEMS:,} are allowed",
        )
    return list(range(first, first + count * by, by))


def _array_get_item(array: Any, index: Any) -> Any:
    name = "States.ArrayGetItem"
    items = _array(name, array)
    position = _truncated(name, index, "index")
    if not items:
        return None  # AWS was observed to give null for any index into []
    if not 0 <= position < len(items):
        raise _invalid(
            name,
            f"the index {position} is out of bounds for an array of {len(items)}",
        )
    return items[position]


def _array_length(array: Any) -> int:
    return len(_array("States.ArrayLength", array, "argument"))


def _unique_key(value: Any) -> Any:
    """A hashable key equal for equal JSON values (1 == 1.0, true != 1)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value), value)
    if isinstance(value, (int, float)):
        return (float, value)
    if isinstance(value, list):
        return (list, tuple(_unique_key(item) for item in value))
    if isinstance(value, dict):
        return (dict, frozenset((k, _unique_key(v)) for k, v in value.items()))
    return (type(value), repr(value))


def _array_unique(array: Any) -> list[Any]:
    items = _array("States.ArrayUnique", array, "argument")
    seen: set[Any] = set()
    out = []
    for item in items:
        key = _unique_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# --- encoding, hashing ---------------------------------------------------------

_BASE64_VALUES = {
    ch: i
    for i, ch in enumerate(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    )
}
_BASE64_VALUES.update({"-": 62, "_": 63})  # the URL-safe alphabet decodes too


def _base64_encode(text: Any) -> str:
    name = "States.Base64Encode"
    value = _string(name, text, "argument")
    _check_length(name, value)
    return base64.b64encode(_utf8(name, value)).decode("ascii")


def _lenient_b64decode(text: str) -> bytes:
    """Decode like a MIME decoder: skip foreign characters, stop at padding."""
    clean = text.replace(" ", "")
    if clean.isascii():
        try:
            return base64.b64decode(clean, validate=True)
        except binascii.Error:
            pass
    values = []
    for ch in text:
        if ch == "=":
            break
        number = _BASE64_VALUES.get(ch)
        if number is not None:
            values.append(number)
    out = bytearray()
    full = len(values) - len(values) % 4
    for i in range(0, full, 4):
        a, b, c, d = values[i : i + 4]
        n = (a << 18) | (b << 12) | (c << 6) | d
        out += bytes(((n >> 16) & 255, (n >> 8) & 255, n & 255))
    rest = values[full:]
    if len(rest) >= 2:
        n = (rest[0] << 18) | (rest[1] << 12) | ((rest[2] << 6) if len(rest) > 2 else 0)
        out.append((n >> 16) & 255)
        if len(rest) == 3:
            out.append((n >> 8) & 255)
    return bytes(out)


def _base64_decode(text: Any) -> str:
    name = "States.Base64Decode"
    value = _string(name, text, "argument")
    _check_length(name, value)
    return _lenient_b64decode(value).decode("utf-8", errors="replace")


def _hash(data: Any, algorithm: Any) -> str:
    name = "States.Hash"
    algo = _string(name, algorithm, "algorithm (second argument)")
    hash_name = _HASHES.get(algo)
    if hash_name is None:
        raise _invalid(
            name,
            f"unknown algorithm {algo!r}; use one of {', '.join(_HASHES)}",
        )
    # AWS hashes non-string data by its string form.
    text = java_text(data)
    _check_length(name, text)
    return hashlib.new(hash_name, _utf8(name, text, "data")).hexdigest()


# --- math, strings, ids ----------------------------------------------------------


def _java_round(value: float) -> int:
    """Java's Math.round: the nearest integer, halves up (2.5 -> 3, -2.5 -> -2).

    Computed from the floor, not as floor(value + 0.5), whose addition rounds
    0.49999999999999994 up to 1.0.
    """
    low = math.floor(value)
    return low + 1 if value - low >= 0.5 else low


def _math_add(first: Any, second: Any) -> int:
    name = "States.MathAdd"
    numbers = []
    for value, what in ((first, "first argument"), (second, "second argument")):
        if not _is_number(value):
            raise _invalid(name, f"the {what} must be a number, not {json_kind(value)}")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _invalid(name, f"the {what} must be a finite number")
            value = _java_round(value)  # AWS rounds to the nearest integer
        if not INT32_MIN <= value <= INT32_MAX:
            raise _invalid(
                name, f"the {what} {number_text(value)} is not a 32-bit integer"
            )
        numbers.append(value)
    total = numbers[0] + numbers[1]
    if not INT32_MIN <= total <= INT32_MAX:
        raise _invalid(name, f"the sum {total} is not a 32-bit integer")
    return int(total)


def _math_random(start: Any, end: Any, *seed: Any) -> int:
    name = "States.MathRandom"
    low = _truncated(name, start, "start")
    high = _truncated(name, end, "end")
    if low >= high:
        raise _invalid(
            name,
            f"the start ({low}) must be less than the end ({high}), which is excluded",
        )
    if seed:
        generator = random.Random(_truncated(name, seed[0], "seed"))
        return generator.randrange(low, high)
    return random.randrange(low, high)


def _string_split(text: Any, delimiters: Any) -> list[str]:
    name = "States.StringSplit"
    value = _string(name, text, "first argument")
    chars = _string(name, delimiters, "second argument")
    if not chars:
        return [value] if value else []
    first = chars[0]
    if len(chars) > 1:  # every delimiter character becomes the first one
        value = value.translate({ord(ch): first for ch in chars[1:]})
    return [token for token in value.split(first) if token]


def _uuid() -> str:
    return str(uuid.uuid4())


class Intrinsic:
    """One intrinsic function: its name, arity and implementation."""

    __slots__ = ("fn", "max_args", "min_args", "name")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        min_args: int,
        max_args: int | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.min_args = min_args
        self.max_args = min_args if max_args is None else max_args

    def arity(self) -> str:
        """The accepted argument count, in words."""
        if self.max_args == -1:
            return f"at least {self.min_args} argument{'s' * (self.min_args != 1)}"
        if self.min_args == self.max_args:
            return f"{self.min_args} argument{'s' * (self.min_args != 1)}"
        return f"{self.min_args} to {self.max_args} arguments"

    def accepts(self, count: int) -> bool:
        """Whether ``count`` arguments are allowed."""
        return count >= self.min_args and (
            self.max_args == -1 or count <= self.max_args
        )


FUNCTIONS: dict[str, Intrinsic] = {
    spec.name: spec
    for spec in (
        Intrinsic("States.Format", _format, 1, -1),
        Intrinsic("States.StringToJson", _string_to_json, 1),
        Intrinsic("States.JsonToString", _json_to_string, 1),
        Intrinsic("States.Array", _array_fn, 0, -1),
        Intrinsic("States.ArrayPartition", _array_partition, 2),
        Intrinsic("States.ArrayContains", _array_contains, 2),
        Intrinsic("States.ArrayRange", _array_range, 3),
        Intrinsic("States.ArrayGetItem", _array_get_item, 2),
        Intrinsic("States.ArrayLength", _array_length, 1),
        Intrinsic("States.ArrayUnique", _array_unique, 1),
        Intrinsic("States.Base64Encode", _base64_encode, 1),
        Intrinsic("States.Base64Decode", _base64_decode, 1),
        Intrinsic("States.Hash", _hash, 2),
        Intrinsic("States.JsonMerge", _json_merge, 3),
        Intrinsic("States.MathRandom", _math_random, 2, 3),
        Intrinsic("States.MathAdd", _math_add, 2),
        Intrinsic("States.StringSplit", _string_split, 2),
        Intrinsic("States.UUID", _uuid, 0),
    )
}
