"""Running generated Python source so that tracebacks and debuggers show it.

Each source is compiled under a unique file name (``<flowmap query 12>``)
and registered with :mod:`linecache`, as attrs does for the methods it
generates: a traceback through generated code then prints its lines, and
pdb can list them. The registration lives as long as the function that owns
the code (a code shape's factory while its cache holds it, a mapping's
``apply``), so the registry stays as bounded as the caches are.
"""

from __future__ import annotations

import builtins
import itertools
import linecache
import weakref
from typing import Any

_NUMBERS = itertools.count(1)


def run_source(
    source: str, kind: str, namespace: dict[str, Any], name: str
) -> tuple[Any, str]:
    """Execute ``source`` under a new ``<flowmap KIND N>`` file name.

    Returns what it defines as ``name`` (taken out of ``namespace``, which
    stays the generated functions' globals, so that no reference cycle keeps
    it alive) and the file name.
    """
    filename = f"<flowmap {kind} {next(_NUMBERS)}>"
    code = builtins.compile(source, filename, "exec")
    # mtime None: linecache.checkcache() keeps the entry (there is no file).
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(code, namespace)
    return namespace.pop(name), filename


def release_with(owner: Any, filename: str) -> None:
    """Drop the source registered as ``filename`` when ``owner`` is freed."""
    weakref.finalize(owner, linecache.cache.pop, filename, None)
