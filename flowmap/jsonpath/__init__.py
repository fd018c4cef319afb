"""RFC 9535 JSONPath, compiled into Python functions.

Besides the public API (re-exported by ``flowmap``), this package offers its
neighbouring layers (mappings, merging, Step Functions) a small internal
interface, so that they never reach into its private modules:
``Query.steps``, ``Query.split_prefix()``, :func:`parse_prefix`,
:func:`parse_literal`, :class:`Cursor` (the base of every hand-written
parser), :func:`normalized_path`, :data:`NOTHING` (the "no
value" marker of singular lookups), :func:`value_lookup`, and the module
:mod:`flowmap.jsonpath.emit` for code generators.
"""

from ._functions import NOTHING
from ._interpreter import singular_lookup as value_lookup
from ._parser import Cursor, parse_literal
from .query import (
    FirstFunction,
    Query,
    clear_cache,
    compile,
    normalized_path,
    parse_prefix,
    query,
)

__all__ = [
    "NOTHING",
    "Cursor",
    "FirstFunction",
    "Query",
    "clear_cache",
    "compile",
    "normalized_path",
    "parse_literal",
    "parse_prefix",
    "query",
    "value_lookup",
]
