"""Benchmark flowmap.merge(): run ``python benchmarks/bench_merge.py``.

Prints three tables, each figure the best of several repeated timings (as
``timeit`` recommends: the minimum is the run least disturbed by the rest of
the machine):

1. shallow merge of two 20-key objects against hand-written ``{**a, **b}``;
2. deep merge and merge-patch of documents from 1 KB to 10 MB, with the time
   per KB so that linear scaling shows as a flat column;
3. merge-patch against the json_merge_patch package, which patches its
   target in place (it gets a fresh copy each run, and the copy is not timed).

The whole run takes well under a minute.
"""

from __future__ import annotations

import copy
import json
import sys
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowmap.merging import merge

REPEAT = 7


def best(stmt: Callable[[], object], min_time: float = 0.2) -> float:
    """Seconds per call: the best of REPEAT runs of an auto-ranged count."""
    timer = timeit.Timer(stmt)
    number, _ = timer.autorange()
    number = max(1, int(number * min_time / 0.2))
    return min(timer.repeat(repeat=REPEAT, number=number)) / number


def best_fresh(
    stmt: Callable[[Any], object], make: Callable[[], Any], repeat: int = REPEAT
) -> float:
    """Seconds for one call on a fresh argument, made outside the timing."""
    times = []
    for _ in range(repeat):
        argument = make()
        start = timeit.default_timer()
        stmt(argument)
        times.append(timeit.default_timer() - start)
    return min(times)


def document(records: int, salt: int) -> dict[str, Any]:
    """A workflow-like document: groups of records with nested objects.

    Documents with different ``salt`` share every key but most leaf values,
    so a deep merge of two of them meets objects on both sides everywhere.
    """
    groups: dict[str, Any] = {}
    for index in range(records):
        group = groups.setdefault(f"group{index // 10}", {})
        group[f"record{index}"] = {
            "id": index,
            "name": f"item-{index}-{salt}",
            "price": index * 1.25 + salt,
            "tags": ["a", "b", f"t{index % 7 + salt}"],
            "meta": {"created": "2024-01-01", "owner": {"id": salt, "ok": True}},
        }
    return {"run": {"id": salt, "status": "done"}, "data": groups}


def records_for(size_bytes: int) -> int:
    """The record count whose document serializes to about ``size_bytes``."""
    per_record = len(json.dumps(document(100, 1))) / 100
    return max(1, round(size_bytes / per_record))


def shallow_table() -> None:
    a = {f"key{i}": i for i in range(20)}
    b = {f"key{i}": str(i) for i in range(10, 30)}
    baseline = best(lambda: {**a, **b})
    rows = [
        ("{**a, **b}", baseline),
        ("merge(a, b)", best(lambda: merge(a, b))),
        ("merge(a, b, strategy='deep')", best(lambda: merge(a, b, strategy="deep"))),
        ("merge(a, b, copy=True)", best(lambda: merge(a, b, copy=True))),
    ]
    print("Shallow merge of two 20-key objects (10 keys overlap)")
    print(f"{'operation':<32} {'ns/call':>9} {'ratio':>7}")
    for name, seconds in rows:
        print(f"{name:<32} {seconds * 1e9:>9.0f} {seconds / baseline:>6.2f}x")
    print()


def scaling_table() -> None:
    print("Deep merge and merge-patch of two documents of the given size")
    print(
        f"{'size':>8} {'records':>8} {'deep ms':>9} {'us/KB':>7} "
        f"{'union ms':>9} {'us/KB':>7} {'patch ms':>9} {'us/KB':>7}"
    )
    for size in (1_000, 10_000, 100_000, 1_000_000, 10_000_000):
        _scaling_row(records_for(size))
    print()


def _scaling_row(records: int) -> None:
    previous, next_ = document(records, 1), document(records, 2)
    kb = len(json.dumps(previous)) / 1000
    cells = [f"{_size(kb):>8} {records:>8}"]
    variants: list[dict[str, Any]] = [
        {"strategy": "deep"},
        {"strategy": "deep", "arrays": "union"},
        {"strategy": "merge-patch"},
    ]
    for options in variants:
        seconds = best(partial(merge, previous, next_, **options), 0.1)
        cells.append(f"{seconds * 1e3:>9.3f} {seconds * 1e6 / kb:>7.2f}")
    print(" ".join(cells))


def peer_table() -> None:
    print("merge-patch against json_merge_patch (in place on an untimed copy)")
    print(f"{'size':>8} {'flowmap ms':>11} {'json_merge_patch ms':>20} {'ratio':>7}")
    for size in (10_000, 1_000_000):
        _peer_row(records_for(size))
    print()


def _peer_row(records: int) -> None:
    import json_merge_patch  # type: ignore[import-untyped]

    target, patch = document(records, 1), document(records, 2)
    kb = len(json.dumps(target)) / 1000
    ours = best_fresh(partial(_merge_patch_onto, patch=patch), partial(_same, target))
    theirs = best_fresh(
        partial(_json_merge_patch_onto, json_merge_patch.merge, patch=patch),
        partial(copy.deepcopy, target),
    )
    print(
        f"{_size(kb):>8} {ours * 1e3:>11.3f} {theirs * 1e3:>20.3f} "
        f"{ours / theirs:>6.2f}x"
    )


def _merge_patch_onto(target: Any, *, patch: Any) -> Any:
    return merge(target, patch, strategy="merge-patch")


def _json_merge_patch_onto(
    apply: Callable[[Any, Any], Any], target: Any, *, patch: Any
) -> Any:
    return apply(target, patch)


def _same(value: Any) -> Any:
    # flowmap never changes its target, so every run can reuse the same one.
    return value


def _size(kb: float) -> str:
    return f"{kb / 1000:.1f} MB" if kb >= 1000 else f"{kb:.0f} KB"


def main() -> None:
    print(f"Python {sys.version.split()[0]}, best of {REPEAT} runs\n")
    shallow_table()
    scaling_table()
    peer_table()


if __name__ == "__main__":
    main()
