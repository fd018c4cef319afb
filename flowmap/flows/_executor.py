"""How a runner calls a function: the executor seam.

The runner hands an executor the function's flow name and operation URN, the
event and the context, all JSON values, and gets back the function's JSON
result or a :class:`FunctionFailure`. So an executor may run the function in
this process (:class:`EmbeddedExecutor`) or send it elsewhere (a queue of
workers) without the runner knowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ._functions import Handler, find_handler
from ._text import bad_text, text_problem

__all__ = [
    "EmbeddedExecutor",
    "Executor",
    "FunctionFailure",
    "json_clone",
    "json_copy",
]


class FunctionFailure(Exception):
    """A function call that failed: what on_errors match and records show.

    ``error`` is the error's name (the exception's class name, or
    ``FunctionNotFound``, ``InvalidResult``, ``InvalidEvent``), ``names``
    every name that an ``on_errors`` entry may match (the class names along
    the exception's MRO and its ``error_code`` attribute, if it has one) and
    ``message`` the text.
    """

    def __init__(self, error: str, message: str, names: tuple[str, ...] = ()) -> None:
        super().__init__(error, message, names)
        self.error = error
        self.message = message
        self.names = names or (error,)

    def __str__(self) -> str:
        return f"{self.error}: {self.message}" if self.message else self.error

    @classmethod
    def from_exception(cls, exc: BaseException) -> FunctionFailure:
        """The failure that an exception raised by a handler stands for."""
        names = [
            klass.__name__
            for klass in type(exc).__mro__
            if klass not in (object, BaseException)
        ]
        code = getattr(exc, "error_code", None)
        if isinstance(code, str) and code:
            names.insert(0, code)
        return cls(type(exc).__name__, str(exc), tuple(names))


class Executor(Protocol):
    """Calls functions for a runner."""

    async def invoke(
        self, name: str, operation: str, event: Any, context: dict[str, Any]
    ) -> Any:
        """Call the function; its result, or raise :class:`FunctionFailure`.

        ``event`` may be shared with the runner's records: an executor must
        not let the function change it (copy it, or send it elsewhere).
        ``context`` is a new dict made for this call, sharing nothing: the
        executor may hand it to the function as it is.
        """
        ...

    def missing(self, functions: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Which ``(name, operation)`` pairs it cannot call, as far as it knows."""
        ...

    async def aclose(self) -> None:
        """Release threads or connections."""
        ...


def json_copy(value: Any) -> Any:
    """A copy of a JSON value sharing no container; TypeError for non-JSON.

    Tuples become lists, subclasses of ``str``, ``int``, ``float`` and
    ``bool`` their plain value and other mappings dicts; a non-string key, a
    NaN or an infinity, a string (key or value) holding a lone surrogate
    (not Unicode text: no store can keep it) or a value of any other type
    raises TypeError. :func:`~flowmap.flows._text.text_problem` locates it.

    >>> a = {"x": [1, {"y": None}]}
    >>> b = json_copy(a)
    >>> b == a and b["x"] is not a["x"]
    True
    """
    kind = type(value)
    if kind is dict:
        # The key check runs in C: most objects have plain string keys.
        if not _STR.issuperset(map(type, value)):
            for key in value:
                if type(key) is not str:
                    raise TypeError(f"object key {key!r} is not a string")
        keys = "".join(value)
        if not keys.isascii():
            _check_text(keys)
        copied = value.copy()
        # One pass over the members: scalars are kept as they are, strings
        # checked (an ASCII string in constant time), containers copied.
        for key, item in value.items():
            member = type(item)
            if member is str:
                if not item.isascii():
                    _check_text(item)
            elif member not in _PLAIN:
                copied[key] = json_copy(item)
        return copied
    if kind is list or kind is tuple:
        copied_list = list(value)
        for index, item in enumerate(copied_list):
            member = type(item)
            if member is str:
                if not item.isascii():
                    _check_text(item)
            elif member not in _PLAIN:
                copied_list[index] = json_copy(item)
        return copied_list
    if kind is str:
        if not value.isascii():
            _check_text(value)
        return value
    if kind in _PLAIN:
        return value
    if kind is float:
        if value != value or value in (_INF, -_INF):
            raise TypeError(f"{value} is not a JSON number")
        return value
    if isinstance(value, (str, int, float)):
        # Subclasses (enums, numpy scalars...) become their plain value.
        for base in (bool, int, float, str):
            if isinstance(value, base):
                return json_copy(base(value))
    if isinstance(value, Mapping):
        return json_copy(dict(value))
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


def _check_text(text: str) -> None:
    """TypeError if a (non-ASCII) string holds a lone surrogate."""
    reason = bad_text(text)
    if reason is not None:
        raise TypeError(reason)


def invalid_result(name: str, result: Any, exc: BaseException) -> str:
    """The message of an ``InvalidResult`` failure: what is wrong, and where
    for text that cannot be stored (``$.a[0]: a lone surrogate ...``)."""
    where = None
    if isinstance(exc, TypeError):
        with contextlib.suppress(RecursionError):
            where = text_problem(result)
    if where is not None:
        return f"function {name} returned text that cannot be stored: {where}"
    return f"function {name} returned a value that is not JSON: {exc}"


def json_clone(value: Any) -> Any:
    """A copy of a value already known to be JSON, sharing no container.

    Unlike :func:`json_copy` it checks nothing (a float is taken as it is),
    so it is for values that were checked when they came in: records,
    state data, events built from them.

    >>> a = {"x": [1.5, {"y": None}], "n": "z"}
    >>> b = json_clone(a)
    >>> b == a and b["x"] is not a["x"] and b["x"][1] is not a["x"][1]
    True
    """
    kind = type(value)
    if kind is dict:
        copied = value.copy()
        # The check runs in C: most members are scalars, kept as they are.
        if not _CONTAINER.isdisjoint(map(type, value.values())):
            for key, item in value.items():
                if type(item) in _CONTAINER:
                    copied[key] = json_clone(item)
        return copied
    if kind is list or kind is tuple:
        if _CONTAINER.isdisjoint(map(type, value)):
            return list(value)
        return [
            json_clone(item) if type(item) in _CONTAINER else item for item in value
        ]
    return value


_PLAIN = frozenset((str, int, bool, type(None)))
_CONTAINER = frozenset((dict, list, tuple))
_STR = frozenset((str,))
_INF = float("inf")


class EmbeddedExecutor:
    """Calls handlers from a registry in this process.

    An ``async`` handler is awaited on the loop; a plain one runs in a
    thread pool (``max_workers`` threads) so it never blocks the loop. The
    handler gets its own copy of the event (and the context, which the
    runner makes for each call), and its result is copied too, so nothing it
    keeps can change a record or another node.

    >>> import asyncio
    >>> ex = EmbeddedExecutor({"double": lambda event, context: event * 2})
    >>> asyncio.run(ex.invoke("double", "urn:x", 21, {}))
    42
    """

    def __init__(
        self, functions: Mapping[str, Handler], *, max_workers: int | None = None
    ) -> None:
        self.functions = functions
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._cache: dict[tuple[str, str], tuple[Handler, bool] | None] = {}

    def _handler(self, name: str, operation: str) -> tuple[Handler, bool] | None:
        key = (name, operation)
        try:
            return self._cache[key]
        except KeyError:
            pass
        handler = find_handler(self.functions, name, operation)
        found = None
        if handler is not None:
            is_async = inspect.iscoroutinefunction(handler) or (
                inspect.iscoroutinefunction(type(handler).__call__)
            )
            found = (handler, is_async)
        self._cache[key] = found
        return found

    def missing(self, functions: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [f for f in functions if self._handler(*f) is None]

    async def invoke(
        self, name: str, operation: str, event: Any, context: dict[str, Any]
    ) -> Any:
        found = self._cache.get((name, operation)) or self._handler(name, operation)
        if found is None:
            raise FunctionFailure(
                "FunctionNotFound",
                f"no handler registered for function {name} ({operation})",
            )
        handler, is_async = found
        try:
            # JSON made by the runner from checked values: a copy without
            # checks keeps the handler from sharing anything. (The context is
            # new for this call already.)
            event = json_clone(event)
        except RecursionError:
            raise FunctionFailure(
                "InvalidEvent", f"the event of function {name} is nested too deeply"
            ) from None
        try:
            if is_async:
                result = await handler(event, context)
            else:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self._max_workers, thread_name_prefix="flowmap-fn"
                    )
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._pool, handler, event, context)
                if inspect.isawaitable(result):
                    result = await result
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, GeneratorExit)):
                raise
            raise FunctionFailure.from_exception(exc) from None
        if result is None:
            return None
        try:
            return json_copy(result)
        except (TypeError, RecursionError) as exc:
            raise FunctionFailure(
                "InvalidResult", invalid_result(name, result, exc)
            ) from None

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
