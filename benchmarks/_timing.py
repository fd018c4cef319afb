"""Timing and table helpers shared by the benchmark scripts.

Hot loops go through :mod:`timeit` with a statement string (so no wrapper
function is timed) and with the garbage collector disabled, the minimum of
several repeats being the per-call time. One-shot measurements (a cold
compile) use ``perf_counter_ns`` inside :func:`no_gc`.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``repeat`` runs of at least ``min_time`` seconds."""

    repeat: int
    min_time: float


def measure(stmt: str, namespace: dict[str, Any], settings: Settings) -> float:
    """Seconds per execution of ``stmt``: the minimum over the repeats.

    ``timeit`` switches the garbage collector off while it loops.
    """
    timer = timeit.Timer(stmt, globals=namespace)
    number = _calibrate(timer, settings.min_time)
    best = min(timer.repeat(repeat=settings.repeat, number=number))
    return best / number


def _calibrate(timer: timeit.Timer, min_time: float) -> int:
    """The loop count for which one repeat takes about ``min_time``."""
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min_time / 5:
            return max(1, math.ceil(number * min_time / elapsed))
        number *= 10 if elapsed < min_time / 100 else 2


def per_call(fn: Callable[..., Any], arg: Any, settings: Settings) -> float:
    """Seconds per ``fn(arg)``."""
    return measure("f(d)", {"f": fn, "d": arg}, settings)


@contextmanager
def no_gc() -> Iterator[None]:
    """Keep the garbage collector off inside the block, collect afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


def time_once(fn: Callable[..., Any], *args: Any) -> float:
    """Seconds taken by one call (call it inside :func:`no_gc`)."""
    start = time.perf_counter_ns()
    fn(*args)
    return (time.perf_counter_ns() - start) / 1e9


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_time(seconds: float | None) -> str:
    """``812 ns``, ``3.41 us``, ``12.3 ms``; ``n/a`` for None."""
    if seconds is None:
        return "n/a"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio: float | None) -> str:
    """``1.84x``; ``n/a`` for None."""
    if ratio is None:
        return "n/a"
    if ratio >= 100:
        return f"{ratio:.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def fmt_bytes(size: float) -> str:
    if size < 1024:
        return f"{size:.0f} B"
    return f"{size / 1024:.2f} KiB"


_ESCAPES = {chr(c): f"\\x{c:02x}" for c in range(0x20)}
_ESCAPES.update({"\n": "\\n", "\r": "\\r", "\t": "\\t", "|": "\\|"})


def code(text: str) -> str:
    """``text`` as a markdown code span that cannot break a table row."""
    text = "".join(_ESCAPES.get(ch, ch) for ch in text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A markdown table; the first ``left`` columns left-aligned, others right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(headers), line(rule), *(line(row) for row in rows)])
