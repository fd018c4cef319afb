"""flowmap: compiled JSONPath parameter mapping for serverless workflow engines.

>>> import flowmap
>>> order = {"order": {"items": [{"sku": "a"}, {"sku": "b"}]}}
>>> flowmap.query("$.order.items[*].sku", order)
['a', 'b']
"""

from .errors import (
    FlowmapError,
    JSONPathSyntaxError,
    MappingError,
    MergeError,
    MissingValueError,
)
from .jsonpath.query import Query, compile, query


def clear_caches() -> None:
    """Empty every cache flowmap keeps (compiled queries, code shapes)."""
    from .jsonpath.query import clear_cache

    clear_cache()


__all__ = [
    "FlowmapError",
    "JSONPathSyntaxError",
    "MappingError",
    "MergeError",
    "MissingValueError",
    "Query",
    "clear_caches",
    "compile",
    "query",
]
