"""flowmap: compiled JSONPath parameter mapping for serverless workflow engines.

>>> import flowmap
>>> order = {"order": {"items": [{"sku": "a"}, {"sku": "b"}]}}
>>> flowmap.query("$.order.items[*].sku", order)
['a', 'b']
>>> flowmap.apply_mapping({"first": "$.order.items[0].sku", "n": 1}, order)
{'first': 'a', 'n': 1}

``import flowmap`` loads only the error classes; each other public name loads
its module on first use (PEP 562), so a process that only maps pays nothing
for merging, and one that only handles errors pays for neither.
"""

from __future__ import annotations

from importlib import import_module

from .errors import (
    EvaluationLimitError,
    FlowmapError,
    JSONPathSyntaxError,
    MappingError,
    MergeError,
    MergeOptionError,
    MissingValueError,
    QueryTypeError,
    RegexLimitError,
)

# Not typing.TYPE_CHECKING: importing typing would cost more than the rest
# of ``import flowmap``. Type checkers take any TYPE_CHECKING name as True.
TYPE_CHECKING = False

#: The package version (pyproject.toml reads it from here).
__version__ = "0.1.0"

if TYPE_CHECKING:
    from typing import Any

    from .jsonpath.query import Query, compile, query
    from .mapping import Mapping, apply_mapping, compile_filter, compile_mapping
    from .merging import merge, parse_merge_header, place

#: Public names loaded on first use, and the module that defines each.
_LAZY = {
    "Query": "flowmap.jsonpath.query",
    "compile": "flowmap.jsonpath.query",
    "query": "flowmap.jsonpath.query",
    "Mapping": "flowmap.mapping",
    "apply_mapping": "flowmap.mapping",
    "compile_filter": "flowmap.mapping",
    "compile_mapping": "flowmap.mapping",
    "merge": "flowmap.merging",
    "parse_merge_header": "flowmap.merging",
    "place": "flowmap.merging",
}


# Hidden from type checkers, which would otherwise take every misspelt name
# (flowmap.compil) as provided by __getattr__; they see the imports above.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'flowmap' has no attribute {name!r}")
        value = getattr(import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})


def clear_caches() -> None:
    """Empty every cache flowmap keeps (queries, code shapes, mappings, states)."""
    from .jsonpath.query import clear_cache as clear_queries
    from .mapping import clear_cache as clear_mappings
    from .states import clear_cache as clear_states

    clear_queries()
    clear_mappings()
    clear_states()


__all__ = [
    "EvaluationLimitError",
    "FlowmapError",
    "JSONPathSyntaxError",
    "Mapping",
    "MappingError",
    "MergeError",
    "MergeOptionError",
    "MissingValueError",
    "Query",
    "QueryTypeError",
    "RegexLimitError",
    "apply_mapping",
    "clear_caches",
    "compile",
    "compile_filter",
    "compile_mapping",
    "merge",
    "parse_merge_header",
    "place",
    "query",
]

del TYPE_CHECKING
