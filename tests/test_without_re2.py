"""flowmap imports and runs without google-re2; only regex functions need it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["re2"] = None  # as if google-re2 were not installed
import flowmap
assert flowmap.query("$.a[?@.b > 1].c", {"a": [{"b": 2, "c": 3}]}) == [3]
assert flowmap.apply_mapping({"x": "$.a | 1"}, {}) == {"x": 1}
try:
    flowmap.compile("$[?match(@, 'a.*')]")
except flowmap.FlowmapError as err:
    assert "google-re2" in str(err), err
else:
    raise AssertionError("a literal pattern needs RE2")
try:
    flowmap.query("$.v[?match(@, $.p)]", {"p": "a", "v": ["a"]})
except flowmap.FlowmapError as err:
    assert "google-re2" in str(err), err
else:
    raise AssertionError("a pattern from the document needs RE2")
print("ok")
"""


def test_import_and_queries_without_re2() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
