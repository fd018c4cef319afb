"""Payload templates (Parameters, ResultSelector) on flowmap's compiled core.

A template is translated into the mapping IR of :mod:`flowmap.mapping._spec`
(``TDict``/``TList``/``Literal`` for the literal parts, a ``Leaf`` with one
``PathAlt`` for a path and one ``CallAlt`` for an intrinsic function call)
and compiled by :func:`flowmap.mapping._compiler.compile_template` with
``on_missing="error"``, so a template runs as one generated function with
shared path prefixes and the fast path, exactly like a flowmap mapping. The
mapping leaf syntax (``|`` fallbacks, quoted constants, ``$CONST``) is not
involved: the IR is built directly, and every string that is not the value
of a ``.$`` field stays a literal string.

A singular path that selects nothing makes the generated function raise
:class:`~flowmap.MissingValueError` with the spec location; :func:`evaluator`
turns it into the cause AWS gives, naming the ``.$`` field and quoting the
input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import (
    FlowmapError,
    JSONPathSyntaxError,
    MappingError,
    MissingValueError,
)
from ..jsonpath import NOTHING, Query
from ..mapping._compiler import compile_template
from ..mapping._spec import (
    CallAlt,
    ConstAlt,
    Leaf,
    Literal,
    Location,
    Node,
    PathAlt,
    TDict,
    TList,
    check_json,
)
from ._errors import StatesDefinitionError, StatesRuntimeError, compact_json
from ._functions import FUNCTIONS, format_parts
from ._parser import Call, Const, PathArg, parse_call
from ._parser import parse_path as read_whole_path

__all__ = ["compile_payload", "parse_path"]

Evaluator = Callable[..., Any]


def parse_path(text: str, location: Location) -> tuple[str, Query]:
    """(root, compiled query) of a path written ``$...`` or ``$$...``.

    >>> root, query = parse_path("$$.Execution.Id", ("Parameters", "id.$"))
    >>> root, str(query)
    ('context', "$['Execution']['Id']")
    """
    try:
        return read_whole_path(text)
    except JSONPathSyntaxError as exc:
        raise StatesDefinitionError(
            f"invalid JSONPath {text!r}", location, exc
        ) from None


def compile_payload(template: Any, field: str) -> Evaluator:
    """Compile the payload template of ``field`` ("Parameters", "ResultSelector").

    The result is ``evaluate(data, context=None)``.

    >>> evaluate = compile_payload({"id.$": "$.a", "lit": "$.a"}, "Parameters")
    >>> evaluate({"a": 1})
    {'id': 1, 'lit': '$.a'}
    """
    try:
        check_json(template)
    except MappingError as exc:
        raise StatesDefinitionError(
            exc.reason, (field, *(exc.location or ()))
        ) from None
    tree = _node(template, (field,))
    return evaluator(compile_template(tree, "error", False))


def evaluator(apply: Callable[..., Any]) -> Evaluator:
    """Wrap a generated function so that missing paths fail as AWS words it."""

    def evaluate(data: Any, context: Any = None) -> Any:
        try:
            return apply(data, context=context)
        except MissingValueError as exc:
            raise _missing(exc, data, context) from None

    return evaluate


def _missing(exc: MissingValueError, data: Any, context: Any) -> StatesRuntimeError:
    field = exc.location[-1] if exc.location else "?"
    text = exc.expression
    source = context if text.startswith("$$") else data
    return StatesRuntimeError(
        "States.Runtime",
        f"The JSONPath '{text}' specified for the field '{field}' could not be "
        f"found in the input '{compact_json(source)}'",
    )


# --- template -> IR -----------------------------------------------------------


def _node(value: Any, loc: Location) -> Node:
    if isinstance(value, dict):
        items: list[tuple[str, Node]] = []
        names: dict[str, str] = {}
        for key, item in value.items():
            at = (*loc, key)
            child: Node
            if key.endswith(".$"):
                name = key[:-2]
                if not isinstance(item, str):
                    raise StatesDefinitionError(
                        f"the value of {key!r} must be a string (a path or an "
                        "intrinsic function call), since the field name ends "
                        "in '.$'",
                        at,
                    )
                child = _dynamic(item, at)
            else:
                name = key
                child = _node(item, at)
            if name in names:
                raise StatesDefinitionError(
                    f"the fields {names[name]!r} and {key!r} both set {name!r}", at
                )
            names[name] = key
            items.append((name, child))
        return TDict(tuple(items))
    if isinstance(value, list):
        return TList(tuple(_node(item, (*loc, i)) for i, item in enumerate(value)))
    return Literal(value)


def _dynamic(text: str, loc: Location) -> Leaf:
    """The leaf for the value of a ``.$`` field: a path or an intrinsic call."""
    if text.startswith("$"):
        root, query = parse_path(text, loc)
        return Leaf((PathAlt(root, query, text),), text, loc)
    try:
        call = parse_call(text)
    except JSONPathSyntaxError as exc:
        reason = (
            f"invalid intrinsic function call {text!r}"
            if text.startswith("States.")
            else f"invalid value {text!r}: a field ending in '.$' takes a path "
            "('$...' or '$$...') or an intrinsic function call"
        )
        raise StatesDefinitionError(reason, loc, exc) from None
    return Leaf((_call(call, loc),), text, loc)


def _call(call: Call, loc: Location) -> CallAlt:
    spec = FUNCTIONS[call.name]
    fn = spec.fn
    args = call.args
    if call.name == "States.Format" and isinstance(args[0], Const):
        # A literal template is split at its unescaped {} once, here; a
        # template from a path is split when the call runs.
        template = args[0]
        if not isinstance(template.value, str):
            fn = _constant_failure(call.name, "the template must be a string")
        else:
            fn = _literal_format(template.parts)
        args = args[1:]
    fn = _guarded(fn, call.name)
    alts = tuple(_argument(arg, loc) for arg in args)
    checks = tuple(
        (i, arg.text)
        for i, arg in enumerate(args)
        if isinstance(arg, PathArg) and arg.query.singular
    )
    return CallAlt(_checked(fn, checks, loc) if checks else fn, alts)


def _argument(
    arg: Const | PathArg | Call, loc: Location
) -> PathAlt | ConstAlt | CallAlt:
    if isinstance(arg, Const):
        return ConstAlt(arg.value)
    if isinstance(arg, PathArg):
        return PathAlt(arg.root, arg.query, arg.text)
    return _call(arg, loc)


def _literal_format(parts: tuple[str, ...] | None) -> Callable[..., str]:
    def states_format(*args: Any) -> str:
        return format_parts(parts, args)

    return states_format


def _guarded(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` with any failure on its arguments reported as AWS reports them.

    The functions raise StatesRuntimeError themselves for what they check;
    this catches what Python finds beyond that (a value nested too deeply,
    a number too long to write), so that no input gives a bare error.
    """

    def guarded(*args: Any) -> Any:
        try:
            return fn(*args)
        except FlowmapError:
            raise
        except RecursionError:
            detail = "a value is nested too deeply"
        except (ArithmeticError, ValueError, TypeError) as exc:
            detail = str(exc)
        raise StatesRuntimeError(
            "States.Runtime", f"Invalid arguments in {name}", detail
        ) from None

    return guarded


def _constant_failure(name: str, detail: str) -> Callable[..., Any]:
    def fail(*args: Any) -> Any:
        raise StatesRuntimeError(
            "States.Runtime", f"Invalid arguments in {name}", detail
        )

    return fail


def _checked(
    fn: Callable[..., Any], checks: tuple[tuple[int, str], ...], loc: Location
) -> Callable[..., Any]:
    """``fn`` behind a check that no singular path argument selected nothing.

    The generated code passes ``NOTHING`` for such an argument; AWS fails the
    state naming the path, as for a path field.
    """

    def call(*args: Any) -> Any:
        for index, text in checks:
            if args[index] is NOTHING:
                raise MissingValueError(text, None, loc)
        return fn(*args)

    return call
