"""Read a mapping spec into a tree of templates and leaves.

A spec is validated in three passes, each reporting the spec location:
JSON-ness and depth (an iterative walk), the shipped JSON Schema (with
jsonschema), and the leaf syntax (every path compiled here).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import JSONPathSyntaxError, MappingError
from ..jsonpath import Cursor, Query, parse_literal, parse_prefix

Location = tuple[str | int, ...]

#: Deeper specs are refused: no real mapping comes close, and it keeps the
#: compiler and the generated code well inside Python's limits.
MAX_SPEC_DEPTH = 64

ROOTS = {"data": "$", "constants": "$CONST", "context": "$$"}
#: At most this many alternatives in one leaf (``a | b | ...``).
MAX_ALTERNATIVES = 32


@dataclass(frozen=True, slots=True)
class PathAlt:
    """One path alternative: ``query`` runs over the ``root`` document."""

    root: str  # "data", "constants" or "context"
    query: Query
    text: str  # as written in the spec, e.g. "$CONST.region"


@dataclass(frozen=True, slots=True)
class ConstAlt:
    """A constant alternative (any JSON value; containers are rebuilt)."""

    value: Any


@dataclass(frozen=True, slots=True)
class CallAlt:
    """A call of ``func`` on evaluated arguments (Step Functions intrinsics).

    Each argument is evaluated as a value: a singular path gives its value
    or ``NOTHING``, any other path its node list, a constant itself, a call
    its result. ``func`` decides what a missing argument means.
    """

    func: Any
    args: tuple[PathAlt | ConstAlt | CallAlt, ...]


@dataclass(frozen=True, slots=True)
class Leaf:
    alternatives: tuple[PathAlt | ConstAlt | CallAlt, ...]
    text: str
    location: Location


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class TDict:
    items: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class TList:
    items: tuple[Node, ...]


Node = TDict | TList | Leaf | Literal


# --- JSON-ness and schema --------------------------------------------------


def check_json(spec: Any) -> None:
    """Reject what is not JSON (tuples, sets, non-string keys, NaN) or too deep."""
    stack: list[tuple[Any, Location]] = [(spec, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_SPEC_DEPTH:
            raise MappingError(f"spec nested deeper than {MAX_SPEC_DEPTH} levels", loc)
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise MappingError(
                        "object keys must be strings, not "
                        f"{type(key).__name__} {key!r}",
                        loc,
                    )
                stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((item, (*loc, i)) for i, item in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise MappingError(f"{value!r} is not a JSON number", loc)
        elif isinstance(value, int) and value.bit_length() > 14_000:
            try:  # Python writes at most 4,300 digits (sys.int_info)
                str(value)
            except ValueError:
                raise MappingError(
                    "an integer of over 4,300 digits cannot be written as JSON",
                    loc,
                ) from None
        elif value is not None and not isinstance(value, (str, int, bool)):
            raise MappingError(
                f"{type(value).__name__} is not a JSON value "
                "(use objects, arrays, strings, numbers, booleans and null)",
                loc,
            )


@lru_cache(maxsize=1)
def _validator() -> Any:
    from importlib import resources

    import jsonschema

    text = (
        resources.files("flowmap").joinpath("schemas/mapping.schema.json").read_text()
    )
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def check_schema(spec: Any, form: str) -> None:
    """Validate against the shipped JSON Schema, raising the first error."""
    if form == "template":
        # The schema allows any JSON value as a template, which check_json
        # has already made sure of: skip loading jsonschema (tens of ms).
        return
    validator = _validator()
    target = {"form": form, "spec": spec}
    errors = sorted(validator.iter_errors(target), key=lambda e: len(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    # The deepest context error says most about what is wrong.
    best = error
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
    path = tuple(best.absolute_path)[1:] if best.absolute_path else ()
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        raise _unknown_field(best.instance, best.schema.get("properties", {}), path)
    raise MappingError(f"invalid spec: {best.message}", path)


def _unknown_field(
    item: dict[str, Any], known: dict[str, Any], path: Location
) -> MappingError:
    """Name the first unknown field of a parameter, where it is, and a fix."""
    import difflib

    name = next(key for key in item if key not in known)
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    fields = ", ".join(map(repr, known))
    return MappingError(
        f"unknown parameter field {name!r}: {hint}a parameter has {fields}",
        (*path, name),
    )


# --- leaves ------------------------------------------------------------------


def is_expression(text: str) -> bool:
    """Whether a string leaf is an expression (path or quoted constant)."""
    return text[:1] in ("$", "'")


def parse_leaf(text: str, location: Location) -> Leaf | Literal:
    """Parse a string leaf: a literal, a quoted constant, or paths with fallbacks.

    >>> leaf = parse_leaf("$.a | $CONST.b | 'x'", ())
    >>> [type(alt).__name__ for alt in leaf.alternatives]
    ['PathAlt', 'PathAlt', 'ConstAlt']
    """
    if not is_expression(text):
        stripped = text.lstrip()
        if stripped != text and is_expression(stripped):
            raise MappingError(
                "blank space before a path or a quoted constant; remove it, or "
                "quote the whole string to mean it literally",
                location,
                JSONPathSyntaxError(
                    "leading blank space", text, len(text) - len(stripped)
                ),
            )
        return Literal(text)
    try:
        return _LeafParser(text, location).parse()
    except JSONPathSyntaxError as exc:
        raise MappingError(f"invalid expression {text!r}", location, exc) from None


_BLANK = " \t\n\r"


class _LeafParser(Cursor):
    """Read a leaf: alternatives separated by ``|``, each a path or a literal.

    Paths are read by :func:`flowmap.jsonpath.parse_prefix` (parsed once,
    compiled through the query cache) and literals by
    :func:`flowmap.jsonpath.parse_literal`; every error is a
    JSONPathSyntaxError whose position indexes the whole leaf.
    """

    __slots__ = ("location",)

    def __init__(self, text: str, location: Location) -> None:
        Cursor.__init__(self, text)
        self.location = location

    def parse(self) -> Leaf:
        alts: list[PathAlt | ConstAlt] = []
        while True:
            self.skip_blank()
            start = self.pos
            alt = self.alternative()
            alts.append(alt)
            if len(alts) > MAX_ALTERNATIVES:
                self.error(f"more than {MAX_ALTERNATIVES} alternatives", start)
            self.skip_blank()
            if self.pos >= self.n:
                break
            if self.text.startswith("||", self.pos):
                self.error("use a single '|' between alternatives")
            if self.peek() != "|":
                self.error(f"expected '|' or the end, found {self.describe()}")
            if isinstance(alt, ConstAlt):
                self.error(
                    "a constant is never missing, so nothing after it can apply",
                    start,
                )
            self.pos += 1
            self.skip_blank()
            if self.pos >= self.n:
                self.error("expected a fallback after '|'")
        return Leaf(tuple(alts), self.text, self.location)

    def alternative(self) -> PathAlt | ConstAlt:
        text = self.text
        start = self.pos
        ch = self.peek()
        if ch == "$":
            if text.startswith("$CONST", start):
                return self.path("constants", "$CONST")
            if text.startswith("$$", start):
                return self.path("context", "$$")
            after = text[start + 1 : start + 2]
            if after in ("", ".", "[", "|") or after in _BLANK:
                return self.path("data", "$")
            self.error(
                "'$' must be followed by '.', '[' or nothing ($CONST and $$ "
                "name the constants and the context); quote the string to "
                "mean it literally",
                start + 1,
            )
        if ch == '"':
            self.error("string constants are written in single quotes")
        if ch == "'" or ch == "-" or (ch and ch in "0123456789"):
            value, self.pos = parse_literal(text, start)
            return ConstAlt(value)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, start):
                self.pos = start + len(word)
                return ConstAlt(value)
        self.error(
            "expected a path ($..., $CONST..., $$...), a quoted string, "
            f"a number, true, false or null, found {self.describe()}"
        )

    def path(self, root: str, marker: str) -> PathAlt:
        start = self.pos
        after_root = start + len(marker)
        if root != "data":
            nxt = self.text[after_root : after_root + 1]
            if nxt not in ("", ".", "[", "|") and nxt not in _BLANK:
                self.error(f"expected '.' or '[' after {ROOTS[root]}", after_root)
        query, self.pos = parse_prefix(self.text, start, root=marker)
        return PathAlt(root, query, self.text[start : self.pos])


# --- the whole spec ------------------------------------------------------------


def read_template(spec: Any, errors: list[MappingError] | None = None) -> Node:
    """Turn a template spec into nodes (recursively; check_json bounds the depth).

    Without ``errors`` the first bad leaf raises its MappingError; with a
    list, every bad leaf's error is appended to it (in spec order) and the
    leaf is read as a literal, so the whole spec is checked.
    """
    return _read(spec, (), errors)


def _read(value: Any, loc: Location, errors: list[MappingError] | None) -> Node:
    if isinstance(value, dict):
        return TDict(tuple((k, _read(v, (*loc, k), errors)) for k, v in value.items()))
    if isinstance(value, list):
        return TList(tuple(_read(v, (*loc, i), errors) for i, v in enumerate(value)))
    if isinstance(value, str):
        if errors is None:
            return parse_leaf(value, loc)
        try:
            return parse_leaf(value, loc)
        except MappingError as exc:
            errors.append(exc)
    return Literal(value)


def split_key(key: str) -> list[str]:
    r"""Split a parameter key on dots; ``\.`` is a literal dot, ``\\`` a backslash.

    >>> split_key(r"user.id"), split_key(r"a\.b.c")
    (['user', 'id'], ['a.b', 'c'])
    """
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        ch = key[i]
        if ch == "\\" and i + 1 < len(key) and key[i + 1] in ".\\":
            current.append(key[i + 1])
            i += 2
            continue
        if ch == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def read_parameters(
    spec: list[dict[str, Any]], errors: list[MappingError] | None = None
) -> Node:
    """The console's parameter list, as a template of nested objects.

    ``errors`` as for :func:`read_template`: with a list, every problem of
    every parameter (its fields, key, value and default) is appended to it,
    and the list itself need not have passed :func:`check_schema`.
    """
    root: dict[str, Any] = {}
    owner: dict[tuple[str, ...], int] = {}
    for index, item in enumerate(spec):
        if errors is not None and not _well_formed(item, index, errors):
            continue
        try:
            slot = _slot(spec, index, root, owner)
        except MappingError as exc:
            if errors is None:
                raise
            errors.append(exc)
            slot = None
        try:
            leaf = _param_leaf(item, (index,), errors)
        except MappingError as exc:
            if errors is None:
                raise
            errors.append(exc)
            leaf = Literal(None)
        if slot is not None:
            node, part = slot
            node[part] = leaf
    return _nest(root)


def _well_formed(item: Any, index: int, errors: list[MappingError]) -> bool:
    """Check one parameter against the schema, appending its problem if any."""
    try:
        check_schema([item], "parameters")
    except MappingError as exc:
        where = exc.location
        if where:  # (0, ...) in the one-item list
            where = (index, *where[1:])
        errors.append(MappingError(exc.reason, where, exc.syntax_error))
        return False
    return True


def _slot(
    spec: list[dict[str, Any]],
    index: int,
    root: dict[str, Any],
    owner: dict[tuple[str, ...], int],
) -> tuple[dict[str, Any], str]:
    """Claim the place of parameter ``index``'s key: its parent and its name."""
    key = spec[index]["key"]
    parts = split_key(key)
    if len(parts) > MAX_SPEC_DEPTH:
        raise MappingError(
            f"parameter key {key!r} nests deeper than {MAX_SPEC_DEPTH} levels",
            (index, "key"),
        )
    if any(part == "" for part in parts):
        raise MappingError(f"parameter key {key!r} has an empty part", (index, "key"))
    node = root
    for depth, part in enumerate(parts):
        prefix = tuple(parts[: depth + 1])
        last = depth == len(parts) - 1
        if prefix in owner and (last or not isinstance(node.get(part), dict)):
            other = spec[owner[prefix]]["key"]
            raise MappingError(
                f"parameter key {key!r} conflicts with key {other!r} "
                f"(parameter {owner[prefix]})",
                (index, "key"),
            )
        if last:
            if part in node:
                raise MappingError(
                    f"parameter key {key!r} conflicts with a key nested under it",
                    (index, "key"),
                )
            node[part] = None  # the parameter's leaf, set by the caller
            owner[prefix] = index
            return node, part
        child = node.setdefault(part, {})
        if not isinstance(child, dict):  # pragma: no cover - owner check
            raise MappingError(f"parameter key {key!r} conflicts", (index, "key"))
        owner.setdefault(prefix, index)
        node = child
    raise AssertionError("unreachable: split_key returns at least one part")


def _param_leaf(
    item: dict[str, Any], loc: Location, errors: list[MappingError] | None
) -> Node:
    value = item["value"]
    node: Node
    found = 0 if errors is None else len(errors)
    node = (
        parse_leaf(value, (*loc, "value"))
        if isinstance(value, str)
        else _read(value, (*loc, "value"), errors)
    )
    if "default" not in item or (errors is not None and len(errors) > found):
        # A bad value says nothing about whether its default can apply.
        return node
    default = ConstAlt(item["default"])
    if isinstance(node, Leaf):
        if isinstance(node.alternatives[-1], ConstAlt):
            raise MappingError(
                "the value ends with a constant, so the default can never apply",
                (*loc, "default"),
            )
        return Leaf((*node.alternatives, default), node.text, node.location)
    raise MappingError(
        "a default only applies to a value that is a path", (*loc, "default")
    )


def _nest(tree: dict[str, Any]) -> TDict:
    items: list[tuple[str, Node]] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            items.append((key, _nest(value)))
        else:
            items.append((key, value))
    return TDict(tuple(items))
