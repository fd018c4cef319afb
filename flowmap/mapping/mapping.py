"""Compiled mappings, state data filters, and their caches."""

from __future__ import annotations

import json
import marshal
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

from .._cache import BoundedCache
from ..errors import JSONPathSyntaxError, MappingError, MissingValueError
from ..jsonpath import Query
from ..jsonpath import compile as compile_query
from ._compiler import compile_template, generate
from ._spec import (
    Node,
    check_json,
    check_schema,
    read_parameters,
    read_template,
)

__all__ = [
    "DataFilter",
    "Mapping",
    "apply_mapping",
    "clear_cache",
    "compile_filter",
    "compile_mapping",
    "mapping_errors",
]

CACHE_SIZE = 1024
OnMissing = Literal["error", "null", "omit"]
Form = Literal["auto", "template", "parameters"]
ON_MISSING = ("error", "null", "omit")
FORMS = ("auto", "template", "parameters")


class ApplyFunction(Protocol):
    """The type of :attr:`Mapping.apply`."""

    def __call__(
        self, data: Any, /, *, constants: Any = None, context: Any = None
    ) -> Any: ...


class Mapping:
    """A compiled mapping spec. Build one with :func:`compile_mapping`.

    ``apply(data, *, constants=None, context=None)`` returns a new JSON
    value. Mappings are immutable, safe to share between threads, and
    picklable (a pickle holds the spec and options, and is compiled again,
    through the cache, when loaded).

    >>> m = compile_mapping({"id": "$.user.id", "region": "$.region | 'cn-north-4'"})
    >>> m.apply({"user": {"id": 7}})
    {'id': 7, 'region': 'cn-north-4'}
    """

    __slots__ = ("_spec_json", "apply", "form", "null_as_missing", "on_missing")

    apply: ApplyFunction
    on_missing: OnMissing
    null_as_missing: bool
    form: Literal["template", "parameters"]
    _spec_json: str

    def __init__(
        self, spec_json: str, on_missing: str, null_as_missing: bool, form: str
    ) -> None:
        spec = json.loads(spec_json)
        check_schema(spec, form)
        tree = read_parameters(spec) if form == "parameters" else read_template(spec)
        apply = compile_template(tree, on_missing, null_as_missing)
        setattr_ = object.__setattr__
        setattr_(self, "_spec_json", spec_json)
        setattr_(self, "on_missing", on_missing)
        setattr_(self, "null_as_missing", null_as_missing)
        setattr_(self, "form", form)
        setattr_(self, "apply", apply)

    @property
    def source(self) -> str:
        """The Python source generated for this mapping, for reading.

        A factory whose parameters are the spec's constants, named by role
        (``name_3``, ``key_4``...), returning ``apply``; ``checked`` is the
        fully checked variant that a failed fast path falls back to.
        Tracebacks through ``apply`` show these lines: the source is
        registered with :mod:`linecache` (as ``<flowmap mapping N>``) while
        the mapping is cached.

        >>> print(compile_mapping({"id": "$.user.id"}).source, end="")
        def _factory(name_0, name_1, leaf_2, key_3, name_4, name_5, key_6):
            def checked(data, constants, context):
                v2 = data.get(name_0, NOTHING) if isinstance(data, dict) else NOTHING
                v3 = v2.get(name_1, NOTHING) if isinstance(v2, dict) else NOTHING
                r1 = v3
                if r1 is NOTHING:
                    raise_missing(leaf_2, (data, constants, context))
                return {key_3: r1}
            def apply(data, *, constants=None, context=None):
                try:
                    v4 = data[name_4]
                    v5 = v4[name_5]
                except (KeyError, TypeError, IndexError):
                    return checked(data, constants, context)
                return {key_6: v5}
            return apply
        """
        return generate(self._tree(), self.on_missing, self.null_as_missing)[0]

    def _tree(self) -> Node:
        spec = json.loads(self._spec_json)
        if self.form == "parameters":
            return read_parameters(spec)
        return read_template(spec)

    @property
    def spec(self) -> Any:
        """A fresh copy of the spec this mapping was compiled from."""
        return json.loads(self._spec_json)

    def _key(self) -> tuple[str, str, bool, str]:
        return (self._spec_json, self.on_missing, self.null_as_missing, self.form)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Mapping objects are immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Mapping objects are immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Mapping({self._spec_json}, on_missing={self.on_missing!r})"

    def __reduce__(self) -> tuple[Callable[..., Mapping], tuple[str, str, bool, str]]:
        return (_compile_cached, self._key())


_Key = tuple[str, str, bool, str]


def _build(key: _Key) -> Mapping:
    return Mapping(*key)


_MAPPINGS: BoundedCache[_Key, Mapping] = BoundedCache(_build, CACHE_SIZE)


def _compile_cached(
    spec_json: str, on_missing: str, null_as_missing: bool, form: str
) -> Mapping:
    return _MAPPINGS.get((spec_json, on_missing, null_as_missing, form))


def _detect_form(spec: Any) -> str:
    if (
        isinstance(spec, list)
        and spec
        and all(
            isinstance(item, dict) and "key" in item and "value" in item
            for item in spec
        )
    ):
        return "parameters"
    return "template"


# Mappings by the marshal bytes of their spec and the options: a cache hit
# without walking the spec in Python. marshal writes the exact types (1,
# 1.0 and True differ), the key order and every value, so a spec the caller
# has changed since gets other bytes and is compiled again. Only keys of
# specs the slow path accepted are stored.
_BY_VALUE: dict[tuple[bytes, str, bool, str], Mapping] = {}
_BY_VALUE_LOCK = threading.Lock()


def compile_mapping(
    spec: Any,
    *,
    on_missing: OnMissing = "error",
    null_as_missing: bool = False,
    form: Form = "auto",
) -> Mapping:
    """Compile a mapping spec (cached by its value and the options).

    ``on_missing`` decides what a path with no value and no default gives:
    ``"error"`` raises :class:`flowmap.MissingValueError`, ``"null"`` gives
    null, ``"omit"`` leaves the key out. ``null_as_missing`` makes a null
    value count as missing. ``form`` is ``"template"``, ``"parameters"``
    (the console's ``[{"key", "value", "default"}]`` list) or ``"auto"``,
    which takes a non-empty list of objects that all have ``key`` and
    ``value`` as the parameter form (so a misspelt field is an error, not a
    template). See docs/mapping.md.

    Compiling a spec equal to one compiled before (the same object or not)
    returns the same :class:`Mapping`; a spec changed in place since is
    compiled anew.

    >>> compile_mapping([{"key": "user.id", "value": "$.uid", "default": 0}]).apply({})
    {'user': {'id': 0}}
    """
    key: tuple[bytes, str, bool, str] | None = None
    if null_as_missing is True or null_as_missing is False:
        try:
            key = (marshal.dumps(spec), on_missing, null_as_missing, form)
            mapping = _BY_VALUE.get(key)
        except (ValueError, TypeError):
            # Not marshal's types (subclasses, sets...), too deep, or an
            # unhashable option: the slow path says what is wrong, if anything.
            key = None
        else:
            if mapping is not None:
                return mapping
    mapping = _compile_checked(spec, on_missing, null_as_missing, form)
    if key is not None:
        with _BY_VALUE_LOCK:
            if len(_BY_VALUE) >= CACHE_SIZE:
                del _BY_VALUE[next(iter(_BY_VALUE))]
            _BY_VALUE[key] = mapping
    return mapping


def _compile_checked(
    spec: Any, on_missing: str, null_as_missing: bool, form: str
) -> Mapping:
    if on_missing not in ON_MISSING:
        raise MappingError(
            f"on_missing must be one of {', '.join(map(repr, ON_MISSING))}, "
            f"not {on_missing!r}",
            None,
        )
    if not isinstance(null_as_missing, bool):
        raise MappingError(
            f"null_as_missing must be a bool, not {null_as_missing!r}", None
        )
    if form not in FORMS:
        raise MappingError(
            f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}", None
        )
    check_json(spec)
    spec_json = json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
    if form == "auto":
        form = _detect_form(spec)
    return _compile_cached(spec_json, on_missing, null_as_missing, form)


def mapping_errors(spec: Any, *, form: Form = "auto") -> list[MappingError]:
    """Every problem of a mapping spec, in spec order; ``[]`` when it compiles.

    :func:`compile_mapping` raises the first problem only. This checks every
    leaf (and, in the parameter form, every parameter's fields, key, value
    and default) and returns one :class:`flowmap.MappingError` per problem,
    each with its ``location`` and, for a bad expression, its
    ``syntax_error``. A spec that is not JSON (or nested too deep) gives that
    one problem: its leaves are not read. It costs about what a compile
    does, without the cache: call it when a compile has failed, to list
    the rest.

    >>> [e.path for e in mapping_errors({"a": "$.ok", "b": "$$..", "c": "$.x["})]
    ['$.b', '$.c']
    >>> mapping_errors([{"key": "a", "value": "$.a"}])
    []
    """
    if form not in FORMS:
        raise MappingError(
            f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}", None
        )
    try:
        check_json(spec)
    except MappingError as exc:
        return [exc]
    chosen = _detect_form(spec) if form == "auto" else form
    errors: list[MappingError] = []
    if chosen == "template":
        read_template(spec, errors)
        return errors
    if not isinstance(spec, list):
        try:
            check_schema(spec, chosen)
        except MappingError as exc:
            return [exc]
    read_parameters(spec, errors)
    return errors


def apply_mapping(
    spec: Any,
    data: Any,
    *,
    constants: Any = None,
    context: Any = None,
    on_missing: OnMissing = "error",
    null_as_missing: bool = False,
    form: Form = "auto",
) -> Any:
    """Compile (through the cache) and apply a mapping in one call.

    >>> apply_mapping({"a": "$.x", "b": "'lit'", "c": 3}, {"x": [1]})
    {'a': [1], 'b': 'lit', 'c': 3}
    """
    mapping = compile_mapping(
        spec, on_missing=on_missing, null_as_missing=null_as_missing, form=form
    )
    return mapping.apply(data, constants=constants, context=context)


class DataFilter:
    """A compiled ``state_data_filter`` input or output expression.

    The empty string and ``$`` give the whole document (the same object, not a
    copy). A singular path gives the value it selects, and raises
    :class:`flowmap.MissingValueError` when there is none; any other query
    gives the list of what it selects.

    >>> compile_filter("$.order").apply({"order": {"id": 1}, "x": 2})
    {'id': 1}
    >>> compile_filter("").apply([1, 2])
    [1, 2]
    """

    __slots__ = ("expression", "query")

    expression: str
    query: Query | None

    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str):
            raise MappingError(
                f"a data filter must be a string, not {type(expression).__name__}",
                None,
            )
        query = None
        if expression not in ("", "$"):
            try:
                query = compile_query(expression)
            except JSONPathSyntaxError as exc:
                raise MappingError(
                    f"invalid data filter {expression!r}", None, exc
                ) from None
        object.__setattr__(self, "expression", expression)
        object.__setattr__(self, "query", query)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("DataFilter objects are immutable")

    def __reduce__(self) -> tuple[Callable[[str], DataFilter], tuple[str]]:
        return (compile_filter, (self.expression,))

    def __repr__(self) -> str:
        return f"DataFilter({self.expression!r})"

    def apply(self, data: Any) -> Any:
        """The filtered document."""
        query = self.query
        if query is None:
            return data
        if query.singular:
            try:
                return query.first(data)
            except MissingValueError as exc:
                raise MissingValueError(
                    self.expression,
                    exc.step,
                    None,
                    f"the data filter {self.expression!r} selects nothing",
                ) from None
        return query.find(data)


_FILTERS: BoundedCache[str, DataFilter] = BoundedCache(DataFilter, CACHE_SIZE)


def compile_filter(expression: str) -> DataFilter:
    """Compile a ``state_data_filter`` expression (cached); see :class:`DataFilter`."""
    if not isinstance(expression, str):
        raise MappingError(
            f"a data filter must be a string, not {type(expression).__name__}", None
        )
    return _FILTERS.get(expression)


def clear_cache() -> None:
    with _BY_VALUE_LOCK:
        _BY_VALUE.clear()
    _MAPPINGS.clear()
    _FILTERS.clear()
