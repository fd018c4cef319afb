"""RFC 9535 JSONPath, compiled into Python functions."""

from .query import Query, clear_cache, compile, query

__all__ = ["Query", "clear_cache", "compile", "query"]
