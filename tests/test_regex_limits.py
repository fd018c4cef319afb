"""Regular expressions stay bounded: each pattern runs or is refused, quickly.

The cases are in tests/data/regex_limits.json. A literal pattern that is too
large is a syntax error at its position; the same pattern from the document
raises RegexLimitError. Refusals are cached like successes, and the regex
library never writes to stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flowmap
from flowmap.errors import RegexLimitError
from flowmap.jsonpath import _iregexp

pytest.importorskip("re2")

CASES = json.loads(
    (Path(__file__).parent / "data" / "regex_limits.json").read_text("utf-8")
)["cases"]


def _text(parts: list[list[Any]]) -> str:
    return "".join(text * times for text, times in parts)


def _literal(pattern: str) -> str:
    """``pattern`` as a JSONPath single-quoted string literal."""
    return "'" + pattern.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_literal_pattern(case: dict[str, Any]) -> None:
    pattern = _text(case["pattern"])
    prefix = "$[?match(@, "
    expression = prefix + _literal(pattern) + ")]"
    if case["outcome"] == "refused":
        with pytest.raises(flowmap.JSONPathSyntaxError) as info:
            flowmap.compile(expression)
        assert info.value.position == len(prefix)
        assert "too large" in info.value.reason
        return
    query = flowmap.compile(expression)
    if case["outcome"] == "not-iregexp":
        assert query.find(["a", pattern]) == []
        return
    subject = _text([case["subject"]])
    assert query.find([subject]) == ([subject] if case["matches"] else [])
    assert query.prepare().find([subject]) == ([subject] if case["matches"] else [])


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_pattern_from_the_document(case: dict[str, Any]) -> None:
    pattern = _text(case["pattern"])
    query = flowmap.compile("$[?match(@.s, @.p)]")
    subject = _text([case["subject"]]) if "subject" in case else "a"
    document = [{"s": subject, "p": pattern}]
    for tier in (query, flowmap.compile("$[?search(@.s, @.p)]").prepare()):
        if case["outcome"] == "refused":
            with pytest.raises(RegexLimitError) as info:
                tier.find(document)
            assert info.value.pattern == pattern
            assert len(str(info.value)) < 400  # the pattern is shortened
        elif case["outcome"] == "not-iregexp":
            assert tier.find(document) == []
        elif tier is query:
            assert tier.find(document) == (document if case["matches"] else [])


def test_refusals_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    translate = _iregexp.translate

    def counting(pattern: str) -> str | None:
        calls.append(pattern)
        return translate(pattern)

    monkeypatch.setattr(_iregexp, "translate", counting)
    flowmap.clear_caches()
    query = flowmap.compile("$[?match(@, $.p)]")
    document = {"p": "a{10000000000}", "x": "a"}
    for _ in range(3):
        with pytest.raises(RegexLimitError):
            query.find(document)
    assert calls == ["a{10000000000}"]


STDERR_SCRIPT = """
import json, sys
import flowmap
from flowmap.errors import RegexLimitError
query = flowmap.compile("$[?match(@.s, @.p)]")
for pattern in json.loads(sys.stdin.read()):
    for _ in range(2):
        try:
            query.find([{"s": "a", "p": pattern}])
        except RegexLimitError:
            pass
        try:
            flowmap.compile("$[?match(@, $.p)]").prepare().find({"p": pattern})
        except RegexLimitError:
            pass
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent.
try:
    with open("/proc/self/status") as status:
        print([line.split()[1] for line in status if line.startswith("VmHWM")][0])
except OSError:
    print(0)
"""


def test_the_regex_library_never_writes_to_stderr() -> None:
    # Before the limits, 'a{10000000000}' made RE2 log ~24,000 lines and
    # take 1.5 GB; every case here must stay quiet and small.
    patterns = [_text(case["pattern"]) for case in CASES]
    patterns += ["(\\p{L}){100}", "(.{1000}){33}", "[\\p{Cn}]{3}", "a{1001}b"]
    done = subprocess.run(
        [sys.executable, "-c", STDERR_SCRIPT],
        input=json.dumps(patterns),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    peak_kib = int(done.stdout.split()[-1])
    assert peak_kib < 300 * 1024, f"peak memory {peak_kib} KiB"
