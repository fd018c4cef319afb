"""RFC 9535 JSONPath, compiled into Python functions."""

from .query import Query, clear_cache, compile, parse_prefix, query

__all__ = ["Query", "clear_cache", "compile", "parse_prefix", "query"]
