"""Mapping specs (JSONPath leaves, constants, defaults) compiled to functions."""

from .mapping import (
    DataFilter,
    Mapping,
    apply_mapping,
    clear_cache,
    compile_filter,
    compile_mapping,
    mapping_errors,
)

__all__ = [
    "DataFilter",
    "Mapping",
    "apply_mapping",
    "clear_cache",
    "compile_filter",
    "compile_mapping",
    "mapping_errors",
]
