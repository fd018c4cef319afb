"""RFC 9535 cases written from the RFC's text, and the guarantees of ``Query``.

The cases live in tests/data/jsonpath_rfc_cases.json; each names the section
of RFC 9535 that decides it. Every valid case checks ``find``, the normalized
paths of ``locate``, ``singular``, the canonical form (``compile(str(q))``
selects the same nodes) and ``first``; every error case checks the exception
type, its position and the line, column and caret derived from it.

The plain tests below cover what is not a case: multi-line expressions,
``MissingValueError.step``, the compile cache, immutability, pickling and
compiling from many threads at once.
"""

from __future__ import annotations

import copy
import importlib
import json
import pickle
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from jsoncompare import same, same_list

import flowmap

DATA = Path(__file__).parent / "data" / "jsonpath_rfc_cases.json"
SUITE: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = SUITE["cases"]
ERRORS: list[dict[str, Any]] = SUITE["errors"]
SECTION = re.compile(r"(1\.5|2(\.[1-9])(\.[1-9])*)")
THREADS = 8
# Calls that take a fresh Query through both evaluation tiers. (The module
# is shadowed by the function flowmap.jsonpath.query, hence import_module.)
QUERY_MODULE = importlib.import_module("flowmap.jsonpath.query")
CALLS = getattr(QUERY_MODULE, "UPGRADE_AFTER", 8) + 2


def pair_keys(paths: list[str], values: list[Any]) -> list[str]:
    """(path, value) pairs as sortable text, for cases whose order is free."""
    return sorted(
        json.dumps([p, v], sort_keys=True, ensure_ascii=True)
        for p, v in zip(paths, values)
    )


def check_selection(
    case: dict[str, Any], found: list[Any], located: list[tuple[str, Any]]
) -> None:
    expected = case["expected"]
    paths = [path for path, _ in located]
    if case.get("unordered"):
        # RFC 9535 leaves the order of object members open; the multiset of
        # nodes is still fixed.
        assert pair_keys(paths, found) == pair_keys(case["paths"], expected)
    else:
        assert same_list(found, expected), found
        if "paths" in case:
            assert paths == case["paths"]


def line_and_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of ``position``, over the whole text."""
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1


def check_caret(err: flowmap.JSONPathSyntaxError) -> None:
    """``str(err)`` shows the line holding the position, a caret under it."""
    text, position = err.expression, err.position
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    source_line = text[start : len(text) if end == -1 else end]
    shown = str(err).split("\n")
    for i, line in enumerate(shown[:-1]):
        if not line.endswith(source_line):
            continue
        indent = len(line) - len(source_line)
        caret = shown[i + 1]
        if caret.rstrip().endswith("^") and not caret[: caret.index("^")].strip():
            assert caret.index("^") == indent + position - start, str(err)
            return
    pytest.fail(f"no caret line under the expression in {str(err)!r}")


# --- the data file ---------------------------------------------------------


def test_case_file_is_well_formed() -> None:
    names = [case["name"] for case in CASES + ERRORS]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) + len(ERRORS) >= 150
    for case in CASES + ERRORS:
        assert SECTION.fullmatch(case["section"]), case["name"]
    for case in CASES:
        if "paths" in case:
            assert len(case["paths"]) == len(case["expected"]), case["name"]
        if case.get("unordered"):
            assert "paths" in case, case["name"]
    for case in ERRORS:
        assert 0 <= case["error_position"] <= len(case["query"]), case["name"]


# --- valid queries ---------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_valid_case(case: dict[str, Any]) -> None:
    text, document = case["query"], case["document"]
    before = copy.deepcopy(document)
    query = flowmap.compile(text)

    found = query.find(document)
    located = query.locate(document)
    check_selection(case, found, located)
    # locate() reports the very nodes find() returned, in the same order.
    assert len(located) == len(found)
    assert all(value is node for (_, value), node in zip(located, found))
    assert same_list(flowmap.query(text, document), found)
    if "singular" in case:
        assert query.singular is case["singular"]
    if query.singular:
        assert len(found) <= 1

    # The canonical form is itself a query that selects the same nodes.
    canonical = str(query)
    again = flowmap.compile(canonical)
    assert str(again) == canonical
    assert again == query
    assert again.singular == query.singular
    assert same_list(again.find(document), found)
    assert again.locate(document) == located

    check_both_tiers(text, document, found)
    assert same(document, before), "evaluation must not change the document"


def check_both_tiers(text: str, document: Any, found: list[Any]) -> None:
    """find() and first() of fresh queries, from the first call to the last.

    A fresh Query answers its first calls from closures and later ones from
    generated code; enough calls reach both, and they must agree throughout.
    """
    sentinel = object()
    fresh = flowmap.Query(text)
    for _ in range(CALLS):
        assert same_list(fresh.find(document), found)
        got = fresh.first(document, default=sentinel)
        assert got is (found[0] if found else sentinel)
    if found:
        assert fresh.first(document) is found[0]
        return
    fresh = flowmap.Query(text)
    for _ in range(CALLS):
        with pytest.raises(flowmap.MissingValueError) as info:
            fresh.first(document)
        assert isinstance(info.value, KeyError)
        assert info.value.expression == text
        if fresh.singular:
            # The first step that found nothing, as a prefix of the canonical
            # form; a non-singular query names no step.
            assert info.value.step is not None
            assert str(fresh).startswith(info.value.step)
        else:
            assert info.value.step is None


# --- invalid queries -------------------------------------------------------


@pytest.mark.parametrize("case", ERRORS, ids=[case["name"] for case in ERRORS])
def test_error_case(case: dict[str, Any]) -> None:
    text = case["query"]
    with pytest.raises(flowmap.JSONPathSyntaxError) as info:
        flowmap.compile(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, flowmap.FlowmapError)
    assert err.expression == text
    assert err.position == case["error_position"], err.reason
    assert (err.line, err.column) == line_and_column(text, err.position)
    if "reason_contains" in case:
        assert case["reason_contains"] in err.reason
    check_caret(err)


# --- multi-line expressions ------------------------------------------------


def test_line_and_column_of_an_error_on_a_later_line() -> None:
    text = "$.store\n  .book[?@.price < 10\n          && @.isbn == ]"
    with pytest.raises(flowmap.JSONPathSyntaxError) as info:
        flowmap.compile(text)
    err = info.value
    assert err.position == text.index("]")
    assert (err.line, err.column) == (3, 24)
    assert str(err).split("\n")[-2:] == [
        "            && @.isbn == ]",
        "  " + " " * 23 + "^",
    ]


def test_caret_keeps_tabs_on_a_later_line() -> None:
    text = "$[?@.a == 1 &&\n\t\t@.b ==\t]"
    with pytest.raises(flowmap.JSONPathSyntaxError) as info:
        flowmap.compile(text)
    err = info.value
    assert err.position == len(text) - 1
    assert (err.line, err.column) == (2, 10)
    assert str(err).split("\n")[-1] == "  \t\t      \t^"


def test_error_at_the_end_of_a_multi_line_expression() -> None:
    text = "$\n.a\n."
    with pytest.raises(flowmap.JSONPathSyntaxError) as info:
        flowmap.compile(text)
    assert info.value.position == len(text)
    assert (info.value.line, info.value.column) == (3, 2)
    check_caret(info.value)


def test_a_raw_newline_in_a_string_literal_is_an_error_on_its_line() -> None:
    text = "$[\n'a\nb']"
    with pytest.raises(flowmap.JSONPathSyntaxError) as info:
        flowmap.compile(text)
    assert info.value.position == 5
    assert (info.value.line, info.value.column) == (2, 3)


def test_a_multi_line_expression_is_a_valid_query() -> None:
    text = "$\n  .store\n  .book[?@.price < 10\n\t&& @.isbn]\n  .title"
    document = {
        "store": {
            "book": [
                {"title": "A", "price": 8, "isbn": "1"},
                {"title": "B", "price": 8},
                {"title": "C", "price": 12, "isbn": "2"},
            ]
        }
    }
    query = flowmap.compile(text)
    assert query.find(document) == ["A"]
    assert str(query) == "$['store']['book'][?@['price'] < 10 && @['isbn']]['title']"


# --- first() and MissingValueError.step -----------------------------------


@pytest.mark.parametrize(
    ("text", "document", "step"),
    [
        ("$['a']['b']", {"a": {}}, "$['a']['b']"),
        ("$['a']['b']", {"a": {"c": 1}}, "$['a']['b']"),
        ("$['a']['b']", {}, "$['a']"),
        ("$['a']['b']", [], "$['a']"),
        ("$.a.b", {"a": 5}, "$['a']['b']"),
        ("$.a[3]", {"a": [1]}, "$['a'][3]"),
        ("$.a[0].b", {"a": {"0": {"b": 1}}}, "$['a'][0]"),
        ("$[0]['x y']", [{}], "$[0]['x y']"),
        ("$['it\\'s'].z", {}, "$['it\\'s']"),
    ],
)
def test_missing_value_error_names_the_first_missing_step(
    text: str, document: Any, step: str
) -> None:
    query = flowmap.Query(text)
    assert query.singular
    for _ in range(CALLS):  # the same answer from both evaluation tiers
        with pytest.raises(flowmap.MissingValueError) as info:
            query.first(document)
        err = info.value
        assert isinstance(err, KeyError)
        assert err.step == step
        assert err.expression == text
        assert step in str(err)


def test_missing_value_error_of_a_non_singular_query_names_no_step() -> None:
    with pytest.raises(flowmap.MissingValueError) as info:
        flowmap.compile("$.a[*]").first({"a": []})
    assert info.value.step is None


def test_first_returns_falsy_values_and_not_the_default() -> None:
    document = {"zero": 0, "null": None, "false": False, "empty": ""}
    for name, value in document.items():
        got = flowmap.compile(f"$.{name}").first(document, default="default")
        assert same(got, value)
    assert flowmap.compile("$.nope").first(document, default=None) is None


# --- inputs are never changed ------------------------------------------------


# --- the compile cache, immutability, pickling ----------------------------


def test_compiling_the_same_text_returns_the_same_query() -> None:
    text = "$.store.book[?@.price < 10].title"
    assert flowmap.compile(text) is flowmap.compile(text)
    spelled_otherwise = flowmap.compile("$['store']['book'][?@.price<10]['title']")
    assert spelled_otherwise == flowmap.compile(text)
    assert hash(spelled_otherwise) == hash(flowmap.compile(text))


def test_clearing_the_cache_compiles_afresh() -> None:
    text = "$..price"
    before = flowmap.compile(text)
    flowmap.clear_caches()
    after = flowmap.compile(text)
    assert after is not before
    assert after == before
    assert after.find({"a": {"price": 1}}) == [1]


def test_results_are_fresh_lists() -> None:
    query = flowmap.compile("$.a")
    first = query.find({"a": 1})
    first.append("mutated")
    assert query.find({"a": 1}) == [1]
    located = query.locate({"a": 1})
    located.append(("$", "mutated"))
    assert query.locate({"a": 1}) == [("$['a']", 1)]


@pytest.mark.parametrize("text", ["$.a", "$[?@.b > 1]"])
def test_query_is_immutable(text: str) -> None:
    query = flowmap.compile(text)
    for name in ("expression", "singular", "find", "first", "locate", "anything"):
        with pytest.raises(AttributeError):
            setattr(query, name, None)
    for name in ("expression", "find"):
        with pytest.raises(AttributeError):
            delattr(query, name)
    assert not hasattr(query, "__dict__")
    assert query.expression == text


@pytest.mark.parametrize(
    "text", ["$.a.b", "$[?@.k == 'v']", "$..[?match(@, 'a.c')]", "$[-1:0:-2]"]
)
def test_pickled_query_selects_the_same(text: str) -> None:
    document = [{"k": "v", "a": {"b": "abc"}}, "axc", [1, 2, 3]]
    query = flowmap.compile(text)
    query.locate(document)  # a lazily built locate() must not break pickling
    for restored in (
        pickle.loads(pickle.dumps(query)),
        pickle.loads(pickle.dumps(query, protocol=0)),
    ):
        assert restored == query
        assert str(restored) == str(query)
        assert restored.expression == text
        assert same_list(restored.find(document), query.find(document))
        assert restored.locate(document) == query.locate(document)
    flowmap.clear_caches()
    assert pickle.loads(pickle.dumps(query)) == query


def test_compile_rejects_non_strings() -> None:
    for value in (None, 1, b"$.a", ["$.a"]):
        with pytest.raises(TypeError):
            flowmap.compile(value)  # type: ignore[arg-type]


# --- threads -----------------------------------------------------------------


def test_compile_from_many_threads_at_once() -> None:
    flowmap.clear_caches()
    # Cases that fail on one thread are reported by test_valid_case and
    # test_error_case; here only agreement with one thread matters.
    valid: list[tuple[str, Any]] = []
    baseline: list[list[tuple[str, Any]]] = []
    for case in CASES:
        try:
            located = flowmap.compile(case["query"]).locate(case["document"])
        except Exception:
            continue
        valid.append((case["query"], case["document"]))
        baseline.append(located)
    invalid: list[tuple[str, int]] = []
    for case in ERRORS:
        try:
            flowmap.compile(case["query"])
        except flowmap.JSONPathSyntaxError as err:
            invalid.append((case["query"], err.position))
        except Exception:
            continue
    flowmap.clear_caches()

    barrier = threading.Barrier(THREADS)
    failures: list[str] = []
    compiled: list[list[flowmap.Query]] = [[] for _ in range(THREADS)]

    def work(worker: int) -> None:
        barrier.wait()
        # Each thread walks the cases from a different start, so that first
        # compiles of one text race with one another.
        shift = worker * len(valid) // THREADS
        order = list(range(shift, len(valid))) + list(range(shift))
        try:
            results = {}
            for i in order:
                text, doc = valid[i]
                query = flowmap.compile(text)
                # Enough calls that threads also race to upgrade the query
                # from closures to generated code.
                for _ in range(CALLS):
                    found = query.find(doc)
                    if not same_list(found, [v for _, v in baseline[i]]):
                        failures.append(f"{text!r}: found {found!r}")
                results[i] = (query, query.locate(doc))
            for i in range(len(valid)):
                query, located = results[i]
                if located != baseline[i]:
                    failures.append(f"{valid[i][0]!r}: {located!r}")
                compiled[worker].append(query)
            for text, position in invalid:
                try:
                    flowmap.compile(text)
                except flowmap.JSONPathSyntaxError as err:
                    if err.position != position:
                        failures.append(f"{text!r}: position {err.position}")
                else:
                    failures.append(f"{text!r} compiled")
        except Exception as exc:  # reported below, not lost in the thread
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]
    for i, (text, _) in enumerate(valid):
        # Racing first compiles may build equal twins; all are equal, and the
        # cache settles on one object.
        assert all(compiled[w][i] == compiled[0][i] for w in range(THREADS))
        assert flowmap.compile(text) is flowmap.compile(text)
