"""Nothing but a FlowmapError escapes a public entry point, whatever the JSON.

Every public function is driven with arbitrary JSON: lone surrogates (which
``json.loads`` gives for ``"\\ud800"``), huge and negative numbers, integers
of over 4,300 digits, and documents nested thousands of levels deep. Each
call either returns or raises a :class:`flowmap.FlowmapError`; any other
exception fails the property. The named regressions below are the cases that
escaped before (issue 8, item 3).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowmap
from flowmap import states

SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

# Any code point, lone surrogates included.
TEXT = st.text(st.characters(blacklist_categories=()), max_size=12)
NAMES = st.one_of(st.sampled_from(["a", "b", "zz", "", "$", "0"]), TEXT)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**31, -(2**31) - 1, 2**63]),
    # Over 4,300 digits (mapped: hypothesis cannot repr such a constant).
    st.integers(4400, 5000).map(lambda digits: 10**digits),
    st.integers(4400, 5000).map(lambda digits: -(10**digits) + 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, 5e-324, -0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(NAMES, inner, max_size=4),
    ),
    max_leaves=12,
)


def nested(depth: int, leaf: Any, kind: str) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if kind == "object" else [value]
    return value


DEEP = st.builds(
    nested,
    st.integers(1000, 6000),
    SCALARS,
    st.sampled_from(["object", "array"]),
)
DOCUMENTS = st.one_of(JSON, JSON, DEEP)

QUERIES = st.sampled_from(
    [
        "$",
        "$.a",
        "$.a.a.zz[0]",
        "$.*",
        "$..*",
        "$..a",
        "$[0]",
        "$[-1:0:-1]",
        "$[?@.a]",
        "$[?@ == 1]",
        "$[?@ > 10]",
        "$[?length(@) > 1]",
        "$[?match(@, 'a.*')]",
        "$[?search(@, @)]",
        "$..[?match(@.a, @.b)]",
        "$[?count(@.*) == value(@..a)]",
    ]
)

# Leaves of a mapping spec and fields of a Step Functions state: mostly
# paths and intrinsic calls, so that evaluation, not compilation, is reached.
SPEC_LEAVES = st.one_of(
    QUERIES,
    st.sampled_from(["$.a | 'x'", "$CONST.a", "$$.a | $.b", "'lit'", "$.zz | 1"]),
    SCALARS,
)
SPECS = st.one_of(
    st.dictionaries(NAMES, SPEC_LEAVES, max_size=4),
    st.lists(st.fixed_dictionaries({"key": NAMES, "value": SPEC_LEAVES}), max_size=3),
    JSON,
)
CALLS = st.sampled_from(
    [
        "States.Format('{} {}', $.a, $.b)",
        "States.StringToJson($.a)",
        "States.JsonToString($)",
        "States.Array($.a, $)",
        "States.ArrayPartition($.a, $.b)",
        "States.ArrayContains($.a, $.b)",
        "States.ArrayRange($.a, $.b, $.zz)",
        "States.ArrayGetItem($.a, $.b)",
        "States.ArrayLength($.a)",
        "States.ArrayUnique($.a)",
        "States.Base64Encode($.a)",
        "States.Base64Decode($.a)",
        "States.Hash($.a, 'SHA-256')",
        "States.Hash($, 'MD5')",
        "States.JsonMerge($.a, $.b, false)",
        "States.MathRandom($.a, $.b)",
        "States.MathRandom($.a, $.b, $.zz)",
        "States.MathAdd($.a, $.b)",
        "States.StringSplit($.a, $.b)",
        "States.UUID()",
    ]
)
PAYLOADS = st.dictionaries(
    st.sampled_from(["x", "y.$", "z.$"]),
    st.one_of(CALLS, QUERIES, JSON),
    max_size=3,
)
STATES = st.fixed_dictionaries(
    {},
    optional={
        "InputPath": st.one_of(QUERIES, st.none(), SCALARS),
        "Parameters": st.one_of(PAYLOADS, JSON),
        "ResultSelector": st.one_of(PAYLOADS, JSON),
        "ResultPath": st.one_of(QUERIES, st.none(), SCALARS),
        "OutputPath": st.one_of(QUERIES, st.none(), SCALARS),
    },
)


@contextlib.contextmanager
def only_flowmap_errors() -> Iterator[None]:
    try:
        yield
    except flowmap.FlowmapError as exc:
        str(exc)  # the message itself must be writable
        repr(exc)


@settings(max_examples=150, **SETTINGS)
@given(QUERIES, DOCUMENTS)
def test_queries(expression: str, document: Any) -> None:
    query = flowmap.compile(expression)
    for run in (query.find, query.first, query.locate, query.prepare().locate):
        with only_flowmap_errors():
            run(document)
    with only_flowmap_errors():
        flowmap.query(expression, document)
    with only_flowmap_errors():
        flowmap.compile_filter(expression).apply(document)


@settings(max_examples=150, **SETTINGS)
@given(SPECS, DOCUMENTS, JSON, st.sampled_from(["error", "null", "omit"]))
def test_mappings(spec: Any, document: Any, constants: Any, on_missing: str) -> None:
    with only_flowmap_errors():
        mapping = flowmap.compile_mapping(spec, on_missing=on_missing)
        mapping.apply(document, constants=constants, context=document)
    with only_flowmap_errors():
        flowmap.apply_mapping(spec, document, constants=constants)


@settings(max_examples=150, **SETTINGS)
@given(
    DOCUMENTS,
    DOCUMENTS,
    st.sampled_from(["shallow", "deep", "merge-patch"]),
    st.sampled_from(["replace", "concat", "union"]),
    QUERIES,
    st.one_of(st.none(), TEXT),
)
def test_merging(
    first: Any, second: Any, strategy: Any, arrays: Any, path: str, header: Any
) -> None:
    with only_flowmap_errors():
        flowmap.merge(first, second, strategy=strategy, arrays=arrays)
    with only_flowmap_errors():
        flowmap.place(first, path, second)
    with only_flowmap_errors():
        flowmap.parse_merge_header(header)


@settings(max_examples=200, **SETTINGS)
@given(STATES, DOCUMENTS, DOCUMENTS)
def test_states(state: dict[str, Any], document: Any, result: Any) -> None:
    compiled: states.CompiledState | None = None
    with only_flowmap_errors():
        compiled = states.compile_state(state)
    with only_flowmap_errors():
        states.effective_input(state, document, context=result)
    with only_flowmap_errors():
        states.state_output(state, document, result, context=document)
    if compiled is not None:
        with only_flowmap_errors():
            compiled.effective_input(document, context=result)
        with only_flowmap_errors():
            compiled.state_output(document, result)


def _deep(depth: int) -> Any:
    return nested(depth, 1, "object")


REGRESSIONS: list[tuple[str, Callable[[], Any], type[Exception]]] = [
    (
        "parameters-quoting-a-deep-document",
        lambda: states.effective_input({"Parameters": {"v.$": "$.zz"}}, _deep(5000)),
        states.StatesRuntimeError,
    ),
    (
        "result-path-into-a-deep-document",
        lambda: states.state_output({"ResultPath": "$.a.a.zz[0]"}, _deep(5000), 1),
        states.StatesRuntimeError,
    ),
    (
        "locate-a-member-name-that-is-not-a-string",
        lambda: flowmap.compile("$.*").locate({1: 2}),
        flowmap.FlowmapError,
    ),
    (
        "locate-generated-a-member-name-that-is-not-a-string",
        lambda: flowmap.compile("$..*").prepare().locate([{None: 2}]),
        flowmap.FlowmapError,
    ),
]


@pytest.mark.parametrize(
    ("call", "error"),
    [(call, error) for _, call, error in REGRESSIONS],
    ids=[name for name, _, _ in REGRESSIONS],
)
def test_regressions(call: Callable[[], Any], error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        call()
    assert str(info.value)
    # Break the frame -> info -> traceback -> frame cycle now, so that the
    # generated code in the traceback is freed without waiting for the
    # garbage collector (tests of the linecache registry count on that).
    del info
