"""The functions a flow calls: a registry of Python callables.

A registry maps a function's name or its operation URN to a handler
``handler(event, context)``, plain or ``async``. :func:`load_functions`
builds one from a Python file or an importable module.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._run_errors import FunctionLoadError

__all__ = ["Handler", "find_handler", "load_functions"]

Handler = Callable[[Any, dict[str, Any]], Any]
"""``handler(event, context)``; may be a coroutine function."""


def find_handler(
    functions: Mapping[str, Handler], name: str, operation: str
) -> Handler | None:
    """The handler for a flow function: by URN, then name, then URN's name part.

    A FunctionGraph function URN reads
    ``urn:fss:<region>:<project>:function:<package>:<name>[:<version>]``; its
    ``<name>`` part is the last place looked, so that a module whose
    functions are named as the cloud functions works unchanged.

    >>> def greet(event, context): ...
    >>> urn = "urn:fss:r:p:function:default:greet:latest"
    >>> find_handler({"greet": greet}, "g", urn) is greet
    True
    """
    handler = functions.get(operation) or functions.get(name)
    if handler is None:
        parts = operation.split(":")
        if len(parts) >= 7 and parts[0] == "urn" and parts[4] == "function":
            handler = functions.get(parts[6])
    return handler


def load_functions(source: str | Path) -> dict[str, Handler]:
    """Build a registry from a Python file (``handlers.py``) or a module name.

    Every function defined at the top level of the module (not imported
    into it, and not starting with ``_``) is registered under its name. A
    module-level dict ``FUNCTIONS`` adds entries (or replaces them) under
    its keys, which may be function names or operation URNs. Raises
    :class:`FunctionLoadError` when the module cannot be loaded, saying why
    (also when loading it raises ``SystemExit``; ``KeyboardInterrupt``
    passes through).

    >>> registry = load_functions("json")
    >>> "loads" in registry and "dumps" in registry
    True
    """
    text = str(source)
    module = _load_module(text)
    registry: dict[str, Handler] = {}
    for name, value in vars(module).items():
        if (
            not name.startswith("_")
            and inspect.isfunction(value)
            and value.__module__ == module.__name__
        ):
            registry[name] = value
    extra = getattr(module, "FUNCTIONS", None)
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise FunctionLoadError(
                text, f"FUNCTIONS must be a dict, not {type(extra).__name__}"
            )
        for key, value in extra.items():
            if not isinstance(key, str) or not callable(value):
                raise FunctionLoadError(
                    text,
                    f"FUNCTIONS[{key!r}] must map a name or URN to a callable",
                )
            registry[key] = value
    if not registry:
        raise FunctionLoadError(text, "it defines no functions")
    return registry


def _load_module(text: str) -> Any:
    path = Path(text)
    if text.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FunctionLoadError(text, "no such file")
        name = f"flowmap_functions_{path.stem}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(text, "not a Python source file")
        module = importlib.util.module_from_spec(spec)
        # Registered so that pickling and dataclasses inside it work.
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            del sys.modules[name]
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise FunctionLoadError(text, _failure(exc, "running it")) from exc
        return module
    try:
        return importlib.import_module(text)
    except ImportError as exc:
        raise FunctionLoadError(text, str(exc)) from exc
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        # SystemExit too: a module that exits must not end the server or CLI.
        raise FunctionLoadError(text, _failure(exc, "importing it")) from exc


def _failure(exc: BaseException, doing: str) -> str:
    if isinstance(exc, Exception):
        return f"{type(exc).__name__} while {doing}: {exc}"
    why = " (a functions module must not exit)" if isinstance(exc, SystemExit) else ""
    return f"it raised {exc!r} while {doing}{why}"
