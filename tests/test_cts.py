"""The JSONPath Compliance Test Suite, read from beside the repository.

The suite is not copied into this repository. It is read from the path in
the environment variable ``FLOWMAP_CTS`` or from ``../shared/cts/cts.json``
relative to the repository root; without it these tests skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import flowmap
from flowmap.jsonpath.query import Query

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CTS = ROOT.parent / "shared" / "cts" / "cts.json"


def _load() -> list[dict[str, Any]]:
    path = Path(os.environ.get("FLOWMAP_CTS", DEFAULT_CTS))
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        tests: list[dict[str, Any]] = json.load(handle)["tests"]
    return tests


CASES = _load()
SKIP_REASON = (
    "JSONPath Compliance Test Suite not found: set FLOWMAP_CTS to the path of "
    "cts.json (from github.com/jsonpath-standard/jsonpath-compliance-test-suite) "
    f"or place it at {DEFAULT_CTS}"
)


def _ids() -> list[Any]:
    if not CASES:
        return [
            pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON), id="no-cts")
        ]
    return [pytest.param(case, id=case["name"]) for case in CASES]


def test_suite_is_complete() -> None:
    if not CASES:
        pytest.skip(SKIP_REASON)
    assert len(CASES) == 703


@pytest.mark.parametrize("case", _ids())
def test_cts(case: dict[str, Any]) -> None:
    selector = case["selector"]
    if case.get("invalid_selector"):
        with pytest.raises(flowmap.JSONPathSyntaxError) as info:
            flowmap.compile(selector)
        assert 0 <= info.value.position <= len(selector)
        return
    document = case["document"]
    # A fresh query answers its first calls from closures (the first tier),
    # later ones from generated code: both must pass.
    query = Query(selector)
    first_tier = query.find(document)
    query.prepare()
    found = query.find(document)
    assert first_tier == found
    located = query.locate(document)
    assert [value for _, value in located] == found
    paths = [path for path, _ in located]
    if "result" in case:
        assert found == case["result"]
        assert paths == case["result_paths"]
    else:
        options = list(zip(case["results"], case["results_paths"]))
        assert (found, paths) in options
