"""Compile time against expression size: ``python benchmarks/bench_compile.py``.

For long expressions of several kinds, from 1 KB to 1 MB, prints the time to

- ``flowmap.compile`` the text (cold: every cache cleared),
- switch the query to its second tier (the ninth call, or ``prepare()``),
- ``locate`` once (parses again and builds the located evaluator),
- ``flowmap.compile_mapping({"x": text})``,
- ``compile_state`` of a Pass state with ``{"x.$": text}`` as Parameters,

each with its time per KB, so that linear scaling shows as a flat column.
A PASS line checks that the time per KB at the largest size stays within 3x
of that at 10 KB for every measure (quadratic code fails it by far).
``--quick`` stops at 100 KB. Each figure is the best of a few runs (one run
at 1 MB); the garbage collector is off while timing.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flowmap
from benchmarks._timing import fmt_time, no_gc, table, time_once, verdict
from flowmap.states import compile_state

SIZES = [1_000, 10_000, 100_000, 1_000_000]


def repeat_to(unit: str, size: int, head: str = "$", tail: str = "") -> str:
    count = max(1, (size - len(head) - len(tail)) // len(unit))
    return head + unit * count + tail


def joined(item: str, sep: str, size: int, head: str, tail: str) -> str:
    count = max(1, (size - len(head) - len(tail)) // (len(item) + len(sep)))
    return head + sep.join([item] * count) + tail


KINDS: dict[str, Callable[[int], str]] = {
    "dotted names `$.a.a...`": lambda n: repeat_to(".a", n),
    "bracketed names `$['a']...`": lambda n: repeat_to("['a']", n),
    "wildcards `$[*][*]...`": lambda n: repeat_to("[*]", n),
    "union `$['a','a',...]`": lambda n: joined("'a'", ",", n, "$[", "]"),
    "filter `$[?@.a==1 \\|\\| ...]`": lambda n: joined("@.a==1", "||", n, "$[?", "]"),
}


def fresh() -> None:
    """Every cache cleared and the garbage of the last run collected."""
    flowmap.clear_caches()
    gc.collect()


def compile_cold(text: str) -> Callable[[], Any]:
    fresh()
    return lambda: flowmap.compile(text)


def tier_switch(text: str) -> Callable[[], Any]:
    fresh()
    return flowmap.compile(text).prepare


def locate(text: str) -> Callable[[], Any]:
    fresh()
    query = flowmap.compile(text)
    return lambda: query.locate({})


def mapping(text: str) -> Callable[[], Any]:
    fresh()
    return lambda: flowmap.compile_mapping({"x": text})


def state(text: str) -> Callable[[], Any]:
    fresh()
    return lambda: compile_state({"Type": "Pass", "Parameters": {"x.$": text}})


def best_of(runs: int, setup: Callable[[str], Callable[[], Any]], text: str) -> float:
    times = []
    for _ in range(runs):
        fn = setup(text)
        with no_gc():
            times.append(time_once(fn))
    return min(times)


MEASURES: list[tuple[str, Callable[[str], Callable[[], Any]]]] = [
    ("compile", compile_cold),
    ("tier switch", tier_switch),
    ("locate", locate),
    ("compile_mapping", mapping),
    ("compile_state", state),
]


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    sizes = SIZES[:-1] if quick else SIZES
    print(f"Python {sys.version.split()[0]}; best of 3 runs (1 at 1 MB)\n")
    headers = ["expression", "size"] + [f"{name} (per KB)" for name, _ in MEASURES]
    rows: list[list[str]] = []
    ok = True
    worst = 0.0
    for kind, make in KINDS.items():
        per_kb: dict[str, dict[int, float]] = {name: {} for name, _ in MEASURES}
        for size in sizes:
            text = make(size)
            runs = 1 if size >= 1_000_000 else 3
            cells = [kind, f"{len(text) / 1000:,.0f} KB"]
            for name, setup in MEASURES:
                seconds = best_of(runs, setup, text)
                per_kb[name][size] = seconds / (len(text) / 1000)
                cells.append(f"{fmt_time(seconds)} ({fmt_time(per_kb[name][size])})")
            rows.append(cells)
        for name, _ in MEASURES:
            growth = per_kb[name][sizes[-1]] / per_kb[name][10_000]
            worst = max(worst, growth)
            ok = ok and growth <= 3
    print(table(headers, rows, left=2))
    print(
        f"\ntime per KB at {sizes[-1] / 1000:,.0f} KB within 3x of that at 10 KB, "
        f"every measure (worst {worst:.2f}x): {verdict(ok)}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
