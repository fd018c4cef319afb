"""Tests for flowmap.mapping.mapping_errors: every problem of a spec at once.

compile_mapping raises the first problem of a spec; mapping_errors lists them
all. The data cases of tests/data/mapping_cases.json check that the problem
compile_mapping reports is always among them, and hypothesis checks that a
spec built of good and bad leaves gets exactly one error per bad leaf.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowmap import MappingError, compile_mapping
from flowmap.mapping import mapping_errors

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "mapping_cases.json").read_text(encoding="utf-8")
)
SPEC_ERRORS = [
    case
    for case in CASES
    if case.get("error", {}).get("type") == "MappingError"
    and set(case.get("options", {})) <= {"form"}
    and case.get("options", {}).get("form", "auto")
    in ("auto", "template", "parameters")
]
GOOD = [case for case in CASES if "expected" in case]


def _key(error: MappingError) -> tuple[Any, ...]:
    syntax = error.syntax_error
    return (
        error.reason,
        error.location,
        None if syntax is None else (syntax.expression, syntax.position),
    )


@pytest.mark.parametrize("case", SPEC_ERRORS, ids=[c["name"] for c in SPEC_ERRORS])
def test_the_compile_error_is_among_all_errors(case: dict[str, Any]) -> None:
    form = case.get("options", {}).get("form", "auto")
    with pytest.raises(MappingError) as info:
        compile_mapping(case["spec"], form=form)
    errors = mapping_errors(case["spec"], form=form)
    assert _key(info.value) in [_key(e) for e in errors], errors


@pytest.mark.parametrize("case", GOOD, ids=[c["name"] for c in GOOD])
def test_a_spec_that_compiles_has_no_errors(case: dict[str, Any]) -> None:
    form = case.get("options", {}).get("form", "auto")
    assert mapping_errors(case["spec"], form=form) == []


def test_every_parameter_problem_is_listed() -> None:
    spec = [
        {"key": "a", "value": "$.["},
        {"key": "a", "value": "$.a"},
        {"key": "b", "value": "x", "default": 1},
        {"key": "c", "value": "$.c", "defualt": 1},
        {"key": "d.", "value": "$..", "default": 0},
        {"key": "e", "value": {"x": ["$.ok", "$$.a["]}},
    ]
    got = [(e.path, e.reason.split(":")[0]) for e in mapping_errors(spec)]
    assert got == [
        ("$[0].value", "invalid expression '$.['"),
        ("$[1].key", "parameter key 'a' conflicts with key 'a' (parameter 0)"),
        ("$[2].default", "a default only applies to a value that is a path"),
        ("$[3].defualt", "unknown parameter field 'defualt'"),
        ("$[4].key", "parameter key 'd.' has an empty part"),
        ("$[4].value", "invalid expression '$..'"),
        ("$[5].value.x[1]", "invalid expression '$$.a['"),
    ]


def test_a_spec_that_is_not_json_is_one_problem() -> None:
    (error,) = mapping_errors({"a": "$.[", "b": {1: "$.x"}})
    assert error.location == ("b",) and "keys must be strings" in error.reason


def test_a_parameter_list_of_the_wrong_shape_is_one_problem() -> None:
    (error,) = mapping_errors({"key": "a"}, form="parameters")
    assert error.reason.startswith("invalid spec")


def test_a_bad_form_is_raised() -> None:
    with pytest.raises(MappingError, match="form must be one of"):
        mapping_errors({}, form="nope")  # type: ignore[arg-type]


GOOD_LEAVES = ["$.a", "$CONST.b | 'x'", "$$.c[0]", "plain", "'quoted'", "$[?@.x > 1]"]
BAD_LEAVES = ["$.[", "$$..", "$CONST.", "$.x | ", "$.a || $.b", " $.a", "$x", "'open"]


@given(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=3),
        st.one_of(
            st.sampled_from(GOOD_LEAVES).map(lambda leaf: (leaf, False)),
            st.sampled_from(BAD_LEAVES).map(lambda leaf: (leaf, True)),
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_one_error_per_bad_leaf(
    leaves: dict[str, tuple[str, bool]], nest: bool
) -> None:
    spec: Any = {key: leaf for key, (leaf, _) in leaves.items()}
    prefix: tuple[str | int, ...] = ()
    if nest:
        spec, prefix = {"outer": [spec]}, ("outer", 0)
    bad = [(*prefix, key) for key, (_, is_bad) in leaves.items() if is_bad]
    errors = mapping_errors(spec)
    assert [e.location for e in errors] == bad
    for error in errors:
        # Each one is what compiling its leaf alone reports.
        leaf = leaves[str(error.location[-1])][0]  # type: ignore[index]
        with pytest.raises(MappingError) as info:
            compile_mapping({"k": leaf})
        assert _key(error)[::2] == _key(info.value)[::2]
    if not bad:
        compile_mapping(spec)
