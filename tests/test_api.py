"""Tests for the seed's request contract: parse_start_request and ApiError.

The cases live in tests/data/api_start_requests.json: ``path`` (the path
parameters), ``headers`` (name/value pairs, in the order sent), ``body`` (the
raw body text) and either ``request`` (the StartRequest's fields) or
``error`` (status, error_code, the ``field`` at fault and a substring of the
message). Each case runs with the body as bytes and as text, and with the
headers as pairs, as Latin-1 bytes pairs and (when no name repeats) as a
mapping.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsoncompare import same

import flowmap
from flowmap.api import (
    ERROR_CODES,
    ApiError,
    StartRequest,
    parse_start_request,
    start_response_body,
)

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "api_start_requests.json").read_text(
        encoding="utf-8"
    )
)
DOCS = (Path(__file__).resolve().parent.parent / "docs" / "flows.md").read_text(
    encoding="utf-8"
)


def _header_forms(pairs: list[list[str]]) -> list[Any]:
    forms: list[Any] = [
        [tuple(pair) for pair in pairs],
        [(n.encode("latin-1"), v.encode("utf-8")) for n, v in pairs]
        if all(v.isascii() for _, v in pairs)
        else [tuple(pair) for pair in pairs],
    ]
    if len({name.lower() for name, _ in pairs}) == len(pairs):
        forms.append(dict(pairs))
    return forms


def _run(case: dict[str, Any]) -> list[StartRequest | ApiError]:
    outcomes: list[StartRequest | ApiError] = []
    for body in (case["body"].encode("utf-8"), case["body"]):
        for headers in _header_forms(case["headers"]):
            try:
                outcomes.append(parse_start_request(case["path"], headers, body))
            except ApiError as err:
                outcomes.append(err)
    return outcomes


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_start_request(case: dict[str, Any]) -> None:
    for outcome in _run(case):
        if "request" in case:
            assert isinstance(outcome, StartRequest), outcome
            assert same(dataclasses.asdict(outcome), case["request"])
        else:
            want = case["error"]
            assert isinstance(outcome, ApiError), outcome
            assert outcome.status == want["status"]
            assert outcome.error_code == want["error_code"]
            assert outcome.field == want["field"]
            assert want["message_contains"] in outcome.error_msg, outcome.error_msg
            assert ERROR_CODES[outcome.error_code][0] == outcome.status
            assert outcome.body() == {
                "error_code": want["error_code"],
                "error_msg": outcome.error_msg,
            }


def test_case_names_are_unique() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names))


def test_a_parsed_body_is_accepted() -> None:
    path = {"project_id": "p", "workflow_id": "w"}
    body = {"input": {"a": [1]}, "headers": {"h": "v"}}
    req = parse_start_request(path, {}, body)
    assert req.input == {"a": [1]} and req.headers == {"h": "v"}
    with pytest.raises(ApiError) as info:
        parse_start_request(path, {}, {"input": 1})
    assert info.value.error_code == "FLOWMAP.1004"


def test_invalid_utf8_and_huge_numbers() -> None:
    path = {"project_id": "p", "workflow_id": "w"}
    with pytest.raises(ApiError) as info:
        parse_start_request(path, {}, b'{"input": {"a": "\xff"}}')
    assert info.value.error_code == "FLOWMAP.1001"
    assert "not valid UTF-8 (byte 17)" in info.value.error_msg
    with pytest.raises(ApiError) as info:
        parse_start_request(path, {}, b'{"input": {"a": ' + b"9" * 5000 + b"}}")
    assert info.value.error_code == "FLOWMAP.1001"
    with pytest.raises(ApiError) as info:
        parse_start_request(
            path, {}, b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        )
    assert info.value.error_code == "FLOWMAP.1001"


def test_every_code_is_documented() -> None:
    for code, (status, meaning) in ERROR_CODES.items():
        assert f"| `{code}` | {status} |" in DOCS, code
        assert 1 <= len(code) <= 36
        assert 2 <= len(meaning) <= 512


def test_api_error_body_limits() -> None:
    long = ApiError(400, "FLOWMAP.1004", "x" * 2000)
    assert len(long.body()["error_msg"]) == 512
    assert long.body()["error_msg"].endswith("...")
    short = ApiError(500, "FLOWMAP.5000", "")
    assert short.body() == {"error_code": "FLOWMAP.5000", "error_msg": "internal error"}
    with pytest.raises(ValueError):
        ApiError(400, "", "message")
    with pytest.raises(ValueError):
        ApiError(400, "C" * 37, "message")
    with pytest.raises(ValueError):
        ApiError(200, "FLOWMAP.1001", "message")
    assert isinstance(long, flowmap.FlowmapError)
    assert (
        repr(ApiError(404, "FLOWMAP.4040", "m")) == "ApiError(404, 'FLOWMAP.4040', 'm')"
    )


def test_api_error_pickles_with_its_field() -> None:
    err = ApiError(400, "FLOWMAP.1004", "bad", field="input")
    again = pickle.loads(pickle.dumps(err))
    assert (again.status, again.error_code, again.error_msg, again.field) == (
        400,
        "FLOWMAP.1004",
        "bad",
        "input",
    )


def test_error_codes_are_read_only() -> None:
    with pytest.raises(TypeError):
        ERROR_CODES["FLOWMAP.9999"] = (400, "x")  # type: ignore[index]


def test_api_error_helpers() -> None:
    assert ApiError.workflow_not_found("wf").body() == {
        "error_code": "FLOWMAP.4040",
        "error_msg": "no workflow has the id 'wf'",
    }
    assert ApiError.execution_not_found("e").status == 404
    assert ApiError.project_not_found("p").error_code == "FLOWMAP.4042"
    assert ApiError.internal().body() == {
        "error_code": "FLOWMAP.5000",
        "error_msg": "internal error",
    }
    assert "ref-1" in ApiError.internal("ref-1").error_msg
    # A user's long id is clipped in the message.
    assert len(ApiError.workflow_not_found("w" * 600).error_msg) < 100


def test_invalid_definition_error() -> None:
    from flowmap.flows import DefinitionError, load_definition

    with pytest.raises(DefinitionError) as info:
        load_definition({"name": "", "start": "x", "states": []})
    err = ApiError.invalid_definition(info.value)
    assert err.status == 400 and err.error_code == "FLOWMAP.1008"
    assert err.error_msg == (
        "invalid flow definition (3 problems): $.name: must not be empty; "
        "$.start: no state has the id 'x'; $.states: must have at least 1 item(s)"
    )
    assert err.field == "$.name"
    many = DefinitionError(
        [flowmap.flows.Problem(("states", i), "x" * 50) for i in range(50)]
    )
    assert len(ApiError.invalid_definition(many).body()["error_msg"]) == 512


def test_start_response_body() -> None:
    assert start_response_body("e-1") == {"execution_id": "e-1"}


def test_start_request_is_immutable_and_picklable() -> None:
    req = parse_start_request(
        {"project_id": "p", "workflow_id": "w"}, {}, '{"input": {}}'
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.merge = True  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(req)) == req


# --- properties --------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["input", "headers", "x"]) | st.text(max_size=4),
            inner,
            max_size=3,
        )
    ),
    max_leaves=12,
)
HEADER_NAMES = st.sampled_from(
    ["X-WorkflowRun-MergeFnParameters", "X-WorkflowRun-ID", "X-Create-Time", "X-Other"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["project_id", "workflow_id"]), st.text(max_size=70)
    ),
    st.lists(st.tuples(HEADER_NAMES, st.text(max_size=8)), max_size=4),
    st.one_of(
        st.binary(max_size=40),
        JSON.map(json.dumps),
        JSON.map(lambda v: json.dumps({"input": v})),
    ),
)
def test_only_api_errors_within_limits(
    path: dict[str, str], headers: list[tuple[str, str]], body: Any
) -> None:
    try:
        req = parse_start_request(path, headers, body)
    except ApiError as err:
        assert err.status == 400 and err.error_code in ERROR_CODES
        out = err.body()
        assert set(out) == {"error_code", "error_msg"}
        assert 1 <= len(out["error_code"]) <= 36
        assert 2 <= len(out["error_msg"]) <= 512
    else:
        assert isinstance(req.input, dict) and isinstance(req.headers, dict)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["true", "false", ""]), st.data())
def test_header_names_in_any_case(value: str, data: st.DataObject) -> None:
    name = "".join(
        c.upper() if data.draw(st.booleans()) else c.lower()
        for c in "X-WorkflowRun-MergeFnParameters"
    )
    req = parse_start_request(
        {"project_id": "p", "workflow_id": "w"}, [(name, value)], b'{"input": {}}'
    )
    assert req.merge is (value == "true")


# --- odd arguments and text no store can keep (review defects 6 and 9) --------

PATH = {"project_id": "p", "workflow_id": "w"}


@pytest.mark.parametrize(
    ("path", "headers", "body", "code"),
    [
        (PATH, {}, [], "FLOWMAP.1002"),
        (PATH, {}, None, "FLOWMAP.1002"),
        (PATH, {}, 7, "FLOWMAP.1002"),
        (PATH, 5, b'{"input": {}}', "FLOWMAP.1007"),
        (PATH, [("only-a-name",)], b'{"input": {}}', "FLOWMAP.1007"),
        (PATH, [(1, 2)], b'{"input": {}}', "FLOWMAP.1007"),
        (None, {}, b'{"input": {}}', "FLOWMAP.1006"),
        ([("project_id", "p")], {}, b'{"input": {}}', "FLOWMAP.1006"),
    ],
    ids=[
        "parsed-list-body",
        "none-body",
        "number-body",
        "headers-not-iterable",
        "header-not-a-pair",
        "header-not-text",
        "path-none",
        "path-not-a-mapping",
    ],
)
def test_odd_arguments_raise_api_errors(
    path: Any, headers: Any, body: Any, code: str
) -> None:
    with pytest.raises(ApiError) as info:
        parse_start_request(path, headers, body)
    assert info.value.status == 400 and info.value.error_code == code


def test_headers_none_means_no_headers() -> None:
    req = parse_start_request(PATH, None, b'{"input": {"a": 1}}')
    assert req.input == {"a": 1} and req.merge is False


def test_api_error_body_keeps_a_short_message_and_escapes_surrogates() -> None:
    assert ApiError(400, "FLOWMAP.1001", "x").body() == {
        "error_code": "FLOWMAP.1001",
        "error_msg": "the body is not valid JSON: x",
    }
    body = ApiError(400, "FLOWMAP.1004", "bad \ud800 text").body()
    assert body["error_msg"] == "bad \\ud800 text"
    json.dumps(body, ensure_ascii=False).encode("utf-8")
    clipped = ApiError(400, "FLOWMAP.1004", "\udfff" * 600).body()["error_msg"]
    assert len(clipped) == 512 and clipped.isascii()


TEXT = st.text(
    st.sampled_from(["a", "\x00", "\ud800", "\udc00", "\u00e9", "\U0001f600"])
    | st.characters(),
    max_size=6,
)
ANY_JSON = st.recursive(
    st.none() | st.integers() | TEXT,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["project_id", "workflow_id"]), TEXT),
    st.lists(st.tuples(HEADER_NAMES, TEXT), max_size=3),
    st.one_of(
        ANY_JSON,
        ANY_JSON.map(lambda v: {"input": v}),
        ANY_JSON.map(lambda v: {"input": {"a": v}, "headers": {"h": v}}),
        ANY_JSON.map(lambda v: json.dumps({"input": {"a": v}})),
    ),
)
def test_any_text_gives_a_storable_request_or_an_api_error(
    path: dict[str, str], headers: list[tuple[str, str]], body: Any
) -> None:
    """Whatever text comes in (lone surrogates and NUL included), the answer
    is an ApiError whose body encodes as UTF-8, or a request whose every
    string encodes as UTF-8 (so every store can keep it)."""
    try:
        req = parse_start_request(path, headers, body)
    except ApiError as err:
        json.dumps(err.body(), ensure_ascii=False).encode("utf-8")
    else:
        json.dumps(dataclasses.asdict(req), ensure_ascii=False).encode("utf-8")
        assert "\x00" not in req.project_id + req.workflow_id
