"""A bounded, thread-safe cache that builds each value once.

A hit is one ``dict.get`` with no lock, so it costs about as little as a cache
can. A miss takes a lock and builds the value under it: two threads that ask
for the same new key at once get the same object, and the work is done once.
When full, the oldest entry is dropped (first in, first out): workflow engines
use a bounded set of expressions, so the bound is a safety net rather than a
working-set policy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """``cache.get(key)`` returns ``build(key)``, built once per key."""

    __slots__ = ("_build", "_data", "_lock", "maxsize")

    def __init__(self, build: Callable[[K], V], maxsize: int) -> None:
        self._build = build
        self._data: dict[K, V] = {}
        self._lock = threading.RLock()
        self.maxsize = maxsize

    def get(self, key: K, build: Callable[[K], V] | None = None) -> V:
        """The value of ``key``, built (by ``build`` if given) on a miss."""
        value = self._data.get(key)
        if value is not None:
            return value
        with self._lock:
            value = self._data.get(key)
            if value is None:
                value = (self._build if build is None else build)(key)
                data = self._data
                if len(data) >= self.maxsize:
                    del data[next(iter(data))]
                data[key] = value
            return value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
