"""The first tier's ``find`` and ``first``, and their hand-over to generated code.

A new query answers its first calls from closures (:mod:`._interpreter`) and
then switches to generated code (:mod:`._compiler`). Callers may keep the
first-tier functions (``first = compile(path).first`` in a hot loop), so the
switch must reach them too, without a level of indirection on every call:
the first-tier functions have no closure (their state is a keyword-only
default), like the generated ones, and the switch gives them the generated
functions' code and defaults (``old.__code__ = new.__code__``). A kept
function then *is* generated code.

Both sets of functions run with the same globals (the generated code's),
since a function keeps its own globals when its code is replaced.
"""

from __future__ import annotations

import builtins
import linecache
from collections.abc import Callable
from types import FunctionType
from typing import Any

from ._compiler import GLOBALS

#: Calls served by the first tier (closures) before a query is compiled to
#: generated code: most of the cost of a first compile is Python's own
#: compile() of the generated source, which only pays off for reused queries.
UPGRADE_AFTER = 8

# The state is a keyword-only default and ``first``'s default is taken as
# ``*default``: neither code object reads the positional defaults, which the
# generated code uses for its constants. So the hand-over sets the defaults
# first and the code last, and a call in another thread that starts in
# between still finds the defaults its code expects.
_SOURCE = """\
def find(data, *, _tier=None):
    if _tier.calls < UPGRADE_AFTER:
        _tier.calls += 1
        return _run(_tier, data)
    _tier.query.prepare()
    return _tier.find(data)

def first(data, *default, _tier=None, **named):
    if _tier.calls < UPGRADE_AFTER:
        _tier.calls += 1
        return _first(_tier, data, default, named)
    _tier.query.prepare()
    return _tier.first(data, *default, **named)

def stay_find(data, *, _tier=None):
    return _run(_tier, data)

def stay_first(data, *default, _tier=None, **named):
    return _first(_tier, data, default, named)

def _first(tier, data, default, named):
    if named:
        if len(named) > 1 or "default" not in named:
            name = next(iter(k for k in named if k != "default"))
            raise TypeError(f"first() got an unexpected keyword argument {name!r}")
        default = (*default, named["default"])
    if len(default) > 1:
        raise TypeError(f"first() takes 1 or 2 arguments ({len(default) + 1} given)")
    found = _run(tier, data)
    if found:
        return found[0]
    if default:
        return default[0]
    return no_match(data, MISSING, tier.query.expression, tier.query.steps)

def _run(tier, data):
    if tier.singular:
        value = tier.run(data)
        return [] if value is NOTHING else [value]
    return tier.run(data, data)
"""

_NAMESPACE: dict[str, Any] = dict(GLOBALS, UPGRADE_AFTER=UPGRADE_AFTER)
exec(builtins.compile(_SOURCE, "<flowmap first tier>", "exec"), _NAMESPACE)
linecache.cache["<flowmap first tier>"] = (
    len(_SOURCE),
    None,
    _SOURCE.splitlines(True),
    "<flowmap first tier>",
)
_FIND: FunctionType = _NAMESPACE["find"]
_FIRST: FunctionType = _NAMESPACE["first"]
_STAY_FIND: FunctionType = _NAMESPACE["stay_find"]
_STAY_FIRST: FunctionType = _NAMESPACE["stay_first"]


class Tier:
    """The state of one query's first tier."""

    __slots__ = ("calls", "find", "first", "pending", "query", "run", "singular")

    def __init__(
        self,
        run: Callable[..., Any],
        query: Any,
        pending: Any,
        *,
        singular: bool,
    ) -> None:
        self.calls = 0
        #: A singular query's lookup (value or NOTHING), else the closures'
        #: ``run(node, root)`` giving the node list.
        self.run = run
        self.singular = singular
        #: The query, whose prepare() makes the switch.
        self.query = query
        #: What the switch compiles: a singular query's steps or the tree.
        self.pending = pending
        # One defaults dict for both functions: it is not copied.
        defaults = {"_tier": self}
        self.find: Callable[[Any], list[Any]] = _function(_FIND, defaults)
        self.first: Callable[..., Any] = _function(_FIRST, defaults)

    def hand_over(
        self, find: Callable[[Any], list[Any]], first: Callable[..., Any]
    ) -> None:
        """Give the first-tier functions the code of ``find`` and ``first``."""
        _take_over(self.find, find)
        _take_over(self.first, first)

    def stay(self) -> None:
        """Keep the closures for good, without counting calls."""
        self.find.__code__ = _STAY_FIND.__code__
        self.first.__code__ = _STAY_FIRST.__code__


def _function(template: FunctionType, defaults: dict[str, Any]) -> Any:
    function = FunctionType(template.__code__, _NAMESPACE, template.__name__)
    function.__kwdefaults__ = defaults
    return function


def _take_over(old: Any, new: Any) -> None:
    # The defaults before the code (see _SOURCE); the old keyword-only
    # default stays, unused by the new code.
    old.__defaults__ = new.__defaults__
    old.__code__ = new.__code__
