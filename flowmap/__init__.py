"""flowmap: compiled JSONPath parameter mapping for serverless workflow engines.

>>> import flowmap
>>> order = {"order": {"items": [{"sku": "a"}, {"sku": "b"}]}}
>>> flowmap.query("$.order.items[*].sku", order)
['a', 'b']
>>> flowmap.apply_mapping({"first": "$.order.items[0].sku", "n": 1}, order)
{'first': 'a', 'n': 1}
"""

from .errors import (
    FlowmapError,
    JSONPathSyntaxError,
    MappingError,
    MergeError,
    MissingValueError,
)
from .jsonpath.query import Query, compile, query
from .mapping import Mapping, apply_mapping, compile_filter, compile_mapping
from .merge import MergeOptionError, merge, parse_merge_header, place


def clear_caches() -> None:
    """Empty every cache flowmap keeps (queries, code shapes, mappings, states)."""
    from .jsonpath.query import clear_cache as clear_queries
    from .mapping import clear_cache as clear_mappings
    from .states import clear_cache as clear_states

    clear_queries()
    clear_mappings()
    clear_states()


__all__ = [
    "FlowmapError",
    "JSONPathSyntaxError",
    "Mapping",
    "MappingError",
    "MergeError",
    "MergeOptionError",
    "MissingValueError",
    "Query",
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
