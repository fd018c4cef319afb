"""A bounded, thread-safe cache that builds each value once.

A hit is one ``dict.get`` with no lock, so it costs about as little as a cache
can. A miss builds the value outside the cache's lock: two threads that ask
for the same new key at once get the same object, and the work is done once
(the second waits for the first), while threads asking for other keys are
never held up by a slow build. When full, the oldest entry is dropped (first
in, first out): workflow engines use a bounded set of expressions, so the
bound is a safety net rather than a working-set policy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """``cache.get(key)`` returns ``build(key)``, built once per key."""

    __slots__ = ("_build", "_building", "_data", "_lock", "maxsize")

    def __init__(self, build: Callable[[K], V], maxsize: int) -> None:
        self._build = build
        self._data: dict[K, V] = {}
        # Keys being built, each with a lock its builder holds meanwhile.
        self._building: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()
        self.maxsize = maxsize

    def get(self, key: K, build: Callable[[K], V] | None = None) -> V:
        """The value of ``key``, built (by ``build`` if given) on a miss."""
        value = self._data.get(key)
        if value is not None:
            return value
        while True:
            with self._lock:
                value = self._data.get(key)
                if value is not None:
                    return value
                busy = self._building.get(key)
                if busy is None:
                    busy = self._building[key] = threading.Lock()
                    busy.acquire()
                    break
            # Another thread is building this key: wait for it, then look
            # again (it may have failed, or the entry may be gone already).
            with busy:
                pass
        try:
            value = (self._build if build is None else build)(key)
            with self._lock:
                data = self._data
                if len(data) >= self.maxsize:
                    del data[next(iter(data))]
                data[key] = value
        finally:
            with self._lock:
                del self._building[key]
            busy.release()
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
