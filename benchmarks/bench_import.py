"""Benchmark import and first-use costs: run ``python benchmarks/bench_import.py``.

Each figure is the time one statement takes in a fresh interpreter (timed
inside it, so the interpreter's own start-up is left out), best of several
runs; peers are measured in the same run. ``-X importtime``'s own total for
``import flowmap`` is printed beside it. Target (issue 9): ``import
flowmap`` under 30 ms.

Options: ``--quick`` (fewer runs), ``--runs N``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time

# Outside the repository, so that the flowmap imported is the installed one
# (or the one on PYTHONPATH), not ./flowmap through the script's directory.
_CWD = tempfile.gettempdir()

TARGET_MS = 30.0

STATEMENTS: list[tuple[str, str]] = [
    ("import flowmap", "import flowmap"),
    ("import flowmap.errors only", "import flowmap.errors"),
    ("flowmap.compile first call", "import flowmap; flowmap.compile('$.a.b')"),
    (
        "flowmap.compile_mapping first call",
        "import flowmap; flowmap.compile_mapping({'a': '$.b'})",
    ),
    ("flowmap.merge first call", "import flowmap; flowmap.merge({}, {})"),
    ("import flowmap.cli", "import flowmap.cli"),
]
PEERS: list[tuple[str, str]] = [
    ("jsonpath_ng", "import jsonpath_ng"),
    ("jsonpath_rfc9535", "import jsonpath_rfc9535"),
    ("jsonpath (python-jsonpath)", "import jsonpath"),
    ("jmespath", "import jmespath"),
]


_TIMED = (
    "import time\n"
    "start = time.perf_counter()\n"
    "exec({statement!r})\n"
    "print(time.perf_counter() - start)\n"
)


def fresh_ms(statement: str, runs: int) -> float:
    """Best time of ``statement`` in a fresh interpreter, in milliseconds."""
    best = float("inf")
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", _TIMED.format(statement=statement)],
            cwd=_CWD,
            capture_output=True,
            text=True,
            check=True,
        )
        best = min(best, float(result.stdout))
    return best * 1000


def wall_ms(statement: str, runs: int) -> float:
    """Best wall time of a whole interpreter running ``statement``."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], cwd=_CWD, check=True)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def importtime_ms(module: str, runs: int) -> float:
    """The cumulative time ``-X importtime`` reports for ``module`` (best)."""
    totals = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            cwd=_CWD,
            capture_output=True,
            text=True,
            check=True,
        )
        pattern = rf"\|\s*(\d+)\s*\|\s*{re.escape(module)}$"
        match = re.search(pattern, result.stderr, re.MULTILINE)
        if match:
            totals.append(int(match.group(1)) / 1000)
    return min(totals) if totals else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--runs", type=int, default=0, help="runs per figure")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 15)

    bare = wall_ms("pass", runs)
    print(f"a fresh interpreter starts in {bare:.1f} ms (not counted below)")
    print(f"best of {runs} fresh interpreters per figure")
    print()
    print("| statement | time in a fresh interpreter |")
    print("|---|---:|")
    figures: dict[str, float] = {}
    for name, statement in STATEMENTS:
        figures[name] = fresh_ms(statement, runs)
        print(f"| `{statement}` | {figures[name]:.1f} ms |")
    for _, statement in PEERS:
        module = statement.split()[1]
        if importlib.util.find_spec(module) is None:
            print(f"| `{statement}` | not installed |")
            continue
        print(f"| `{statement}` | {fresh_ms(statement, runs):.1f} ms |")
    print()
    print(f"-X importtime, import flowmap: {importtime_ms('flowmap', runs):.1f} ms")
    measured = figures["import flowmap"]
    verdict = "PASS" if measured < TARGET_MS else "FAIL"
    print(f"import flowmap under {TARGET_MS:.0f} ms: {verdict} ({measured:.1f} ms)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
