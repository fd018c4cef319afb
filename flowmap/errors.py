"""The exception hierarchy of flowmap.

Every error that flowmap raises because of what a user gave it derives from
:class:`FlowmapError`. Errors keep their data in attributes (expression,
0-based position, spec location); the text is only made in ``__str__``, so a
failure that is caught and handled costs nothing to format.

Where it is natural an error also derives from a builtin exception, so that an
ordinary ``except ValueError`` / ``except KeyError`` / ``except TypeError``
still catches it.

One convention for locations: an attribute that says where a problem is
(``location`` in a spec, ``path`` and ``step`` in a document) is ``None``
when the problem has no such place (a bad option, a query evaluated outside
any spec), and ``()`` (rendered ``$``) is the root itself, never "nowhere".

Every error has a ``__repr__`` naming its data and survives ``pickle`` with
all of it, so errors can travel from worker processes.
"""

from __future__ import annotations

# typing is imported by type checkers only: it costs more than this module,
# and ``import flowmap`` loads nothing else.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

__all__ = [
    "EvaluationLimitError",
    "FlowmapError",
    "JSONPathSyntaxError",
    "MappingError",
    "MergeError",
    "MergeOptionError",
    "MissingValueError",
    "QueryTypeError",
    "RegexLimitError",
    "json_kind",
    "render_caret",
    "render_location",
]


def render_location(location: tuple[str | int, ...]) -> str:
    """Render a spec location as a JSONPath such as ``$.user['odd key'][0]``.

    >>> render_location(("user", "odd key", 0, "id"))
    "$.user['odd key'][0].id"
    >>> render_location(())
    '$'
    """
    parts = ["$"]
    for step in location:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step.isidentifier() and step.isascii():
            parts.append(f".{step}")
        else:
            parts.append(f"['{_escape_name(step)}']")
    return "".join(parts)


_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_name(name: str) -> str:
    """Escape a member name as RFC 9535 section 2.7 does in normalized paths."""
    out = []
    for ch in name:
        if ch == "'" or ch == "\\":
            out.append("\\" + ch)
        elif ch < " ":
            out.append(_ESCAPES.get(ch) or f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def render_caret(expression: str, position: int, *, indent: str = "  ") -> str:
    """Show the line of ``expression`` that holds ``position`` with a caret.

    >>> print(render_caret("$.a\\n$.b c", 8, indent=""))
    $.b c
        ^
    """
    start = expression.rfind("\n", 0, position) + 1
    end = expression.find("\n", position)
    if end == -1:
        end = len(expression)
    line = expression[start:end]
    # Tabs keep their width so that the caret lines up under the character.
    pad = "".join("\t" if ch == "\t" else " " for ch in line[: position - start])
    return f"{indent}{line}\n{indent}{pad}^"


def json_kind(value: object) -> str:
    """Name a value's JSON type with its article, for messages ("not an array").

    >>> [json_kind(v) for v in (None, True, 1.5, "a", [], {})]
    ['null', 'a boolean', 'a number', 'a string', 'an array', 'an object']
    >>> json_kind({1, 2})
    'set'
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class FlowmapError(Exception):
    """Base class of every error flowmap raises about its input.

    ``repr()`` names the class and the attributes listed in the class's
    ``_repr_fields``; a subclass that lists none shows its ``args``.
    """

    _repr_fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        if not self._repr_fields:
            return super().__repr__()
        fields = ", ".join(
            f"{name}={getattr(self, name, None)!r}" for name in self._repr_fields
        )
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles as cls(*args), which loses attributes that are
        # not constructor arguments (or are keyword-only); keep them all.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(
    cls: type[FlowmapError], args: tuple[Any, ...], state: dict[str, Any]
) -> FlowmapError:
    """Rebuild a pickled error without calling its ``__init__``."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class JSONPathSyntaxError(FlowmapError, ValueError):
    """An expression that is not a valid RFC 9535 JSONPath query.

    ``position`` is a 0-based index into ``expression``; ``line`` and
    ``column`` (both 1-based) are computed over the whole expression.

    >>> err = JSONPathSyntaxError("unexpected character", "$.a b", 4)
    >>> (err.position, err.line, err.column)
    (4, 1, 5)
    >>> print(err)
    unexpected character at line 1, column 5:
      $.a b
          ^
    """

    _repr_fields = ("reason", "expression", "position")

    def __init__(self, reason: str, expression: str, position: int) -> None:
        position = max(0, min(position, len(expression)))
        super().__init__(reason, expression, position)
        self.reason = reason
        self.expression = expression
        self.position = position
        self.line = expression.count("\n", 0, position) + 1
        self.column = position - (expression.rfind("\n", 0, position) + 1) + 1

    def __str__(self) -> str:
        return (
            f"{self.reason} at line {self.line}, column {self.column}:\n"
            f"{render_caret(self.expression, self.position)}"
        )


class EvaluationLimitError(FlowmapError, ValueError):
    """A query whose result would exceed ``limit`` nodes.

    Descendant segments repeat (``$..a..a..a``) can select a number of nodes
    that grows as a power of the document's depth; past the limit the
    evaluation stops with this error instead of exhausting memory.
    """

    _repr_fields = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit

    def __str__(self) -> str:
        return f"the query selects more than {self.limit:,} nodes; evaluation stopped"


class RegexLimitError(FlowmapError, ValueError):
    """A valid I-Regexp from a document that the linear-time engine refuses.

    RE2 bounds the size of a compiled pattern; a pattern read from the data at
    run time (``match(@, $.pattern)``) that exceeds it cannot be answered
    exactly, so it is reported instead of being taken as a non-match.
    """

    _repr_fields = ("pattern", "reason")

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(pattern, reason)
        self.pattern = pattern
        self.reason = reason

    def __str__(self) -> str:
        shown = self.pattern
        if len(shown) > 80:  # a document's pattern can be megabytes long
            shown = shown[:60] + f"... ({len(shown):,} characters)"
        return (
            f"regular expression {shown!r} from the document is beyond the "
            f"limits of the linear-time engine ({self.reason})"
        )


class MappingError(FlowmapError, ValueError):
    """A mapping spec that cannot be compiled.

    ``location`` is where in the spec the problem is, as a tuple of keys and
    indexes (``()`` is the spec itself; ``None`` a problem that is not in the
    spec, such as a bad option); ``path`` renders it as a JSONPath. When the
    problem is a bad JSONPath, ``syntax_error`` holds the underlying
    :class:`JSONPathSyntaxError`.

    >>> MappingError("bad leaf", ("a", 0))
    MappingError(reason='bad leaf', location=('a', 0), syntax_error=None)
    >>> print(MappingError("on_missing must be one of ...", None))
    on_missing must be one of ...
    """

    _repr_fields = ("reason", "location", "syntax_error")

    def __init__(
        self,
        reason: str,
        location: tuple[str | int, ...] | None = (),
        syntax_error: JSONPathSyntaxError | None = None,
    ) -> None:
        super().__init__(reason, location)
        self.reason = reason
        self.location = location
        self.syntax_error = syntax_error

    @property
    def path(self) -> str | None:
        """The spec location rendered as a JSONPath (None if not in a spec)."""
        return None if self.location is None else render_location(self.location)

    def __str__(self) -> str:
        text = self.reason
        if self.location is not None:
            text += f" (at {self.path} in the spec)"
        if self.syntax_error is not None:
            text += f"\n{self.syntax_error}"
        return text


class MissingValueError(FlowmapError, KeyError):
    """A query that had to select a value selected nothing.

    ``expression`` is the query, ``step`` the part of it that first found
    nothing (for a singular query; ``None`` otherwise) and ``location`` the
    place in a mapping spec that asked for the value (``None`` when no spec
    was involved; ``()`` is a spec that is a single leaf).

    >>> err = MissingValueError("$.a.b", "$['a']", ("user", "id"))
    >>> print(err)
    no value for '$.a.b': nothing at $['a'] (at $.user.id in the spec)
    >>> err.path
    '$.user.id'
    """

    _repr_fields = ("expression", "step", "location", "reason")

    def __init__(
        self,
        expression: str,
        step: str | None = None,
        location: tuple[str | int, ...] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(expression, step, location)
        self.expression = expression
        self.step = step
        self.location = location
        self.reason = reason

    @property
    def path(self) -> str | None:
        """The spec location rendered as a JSONPath (None if not in a spec)."""
        return None if self.location is None else render_location(self.location)

    def __str__(self) -> str:
        text = self.reason or f"no value for {self.expression!r}"
        if self.step is not None:
            text += f": nothing at {self.step}"
        if self.location is not None:
            text += f" (at {self.path} in the spec)"
        return text


class MergeError(FlowmapError, TypeError):
    """Two values that cannot be merged, or a value that cannot be placed.

    For :func:`flowmap.merge`, ``side`` says which input is not an object
    (``"previous_output"``, ``"next_input"`` or ``"both"``),
    ``previous_type`` and ``next_type`` are the JSON types of the inputs and
    ``strategy`` the strategy used. For :func:`flowmap.place`, ``path`` is
    the normalized path and ``step`` the prefix of it that could not be
    taken. Attributes that do not apply are ``None``.

    >>> err = MergeError("cannot place ...", path="$['a']['b']", step="$['a']")
    >>> (err.path, err.step, err.side)
    ("$['a']['b']", "$['a']", None)
    """

    _repr_fields = (
        "message",
        "side",
        "previous_type",
        "next_type",
        "strategy",
        "path",
        "step",
    )

    def __init__(
        self,
        message: str,
        *,
        side: Literal["previous_output", "next_input", "both"] | None = None,
        previous_type: str | None = None,
        next_type: str | None = None,
        strategy: str | None = None,
        path: str | None = None,
        step: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.side = side
        self.previous_type = previous_type
        self.next_type = next_type
        self.strategy = strategy
        self.path = path
        self.step = step

    def __str__(self) -> str:
        return self.message


class MergeOptionError(FlowmapError, ValueError):
    """An option of :func:`flowmap.merge` or a merge header that has no meaning.

    ``option`` names the option (or header), ``value`` is what was given and
    ``allowed`` lists the accepted values; ``reason`` replaces the default
    text when the value is allowed in general but not in this combination.

    >>> print(MergeOptionError("arrays", "append", ("replace", "concat")))
    invalid arrays 'append': expected one of 'replace', 'concat'
    """

    _repr_fields = ("option", "value", "allowed", "reason")

    def __init__(
        self,
        option: str,
        value: object,
        allowed: tuple[str, ...],
        reason: str | None = None,
    ) -> None:
        super().__init__(option, value, allowed)
        self.option = option
        self.value = value
        self.allowed = allowed
        self.reason = reason

    def __str__(self) -> str:
        if self.reason is not None:
            return self.reason
        allowed = ", ".join(repr(name) for name in self.allowed)
        return f"invalid {self.option} {self.value!r}: expected one of {allowed}"


class QueryTypeError(FlowmapError, TypeError):
    """An expression that is not a string.

    >>> QueryTypeError("a JSONPath expression must be a str, not int")
    QueryTypeError(message='a JSONPath expression must be a str, not int')
    """

    _repr_fields = ("message",)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
