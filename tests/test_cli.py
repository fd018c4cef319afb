"""The command line: results on stdout, one readable error on stderr."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from flowmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_map_the_example() -> None:
    code, out, err = run(
        "map",
        str(EXAMPLES / "mapping.json"),
        str(EXAMPLES / "order.json"),
        "--constants",
        str(EXAMPLES / "constants.json"),
        "--context",
        str(EXAMPLES / "context.json"),
    )
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["user"] == {"id": 42, "name": "Ann Lee"}
    assert result["cheap"] == ["tea-01"]
    assert result["region"] == "cn-north-1"
    assert result["execution"].startswith("6a1c2f0e")
    assert result["source"] == "flowmap example"


def test_map_reads_the_input_from_stdin(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"a": "$.x", "b": "$.y"}')
    code, out, _ = run("map", str(spec), "--on-missing", "omit", stdin='{"x": 1}')
    assert code == 0
    assert json.loads(out) == {"a": 1}


def test_query_find_paths_and_first() -> None:
    order = str(EXAMPLES / "order.json")
    code, out, _ = run("query", "$.order.items[?@.price > 10].sku", order)
    assert (code, json.loads(out)) == (0, ["cup-07", "pot-02"])
    code, out, _ = run("query", "--paths", "$.order.user.id", order)
    assert json.loads(out) == [["$['order']['user']['id']", 42]]
    code, out, _ = run("query", "--first", "$..sku", order)
    assert json.loads(out) == "tea-01"


@pytest.mark.parametrize(
    ("argv", "stdin", "expected"),
    [
        (["query", "$.a[?@.b ==]"], "{}", "column 12"),
        (["query", "$.a"], "{", "is not valid JSON"),
        (["query", "$.a"], "[NaN]", "NaN is not a JSON value"),
        (["query", "$.a"], '{"a": ' + "9" * 5000 + "}", "is not valid JSON"),
        (["query", "$.a"], "[" * 100_000, "nested too deeply"),
        (["query", "--first", "$.a.b"], '{"a": {}}', "nothing at $['a']['b']"),
        (["query", "$", "/no/such/file.json"], "", "cannot read input"),
    ],
)
def test_errors_are_one_message_without_a_traceback(
    argv: list[str], stdin: str, expected: str
) -> None:
    code, out, err = run(*argv, stdin=stdin)
    assert code == 1
    assert out == ""
    assert err.startswith("flowmap: error: ")
    assert expected in err
    assert "Traceback" not in err


def test_a_bad_spec_names_its_location_and_shows_a_caret(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"user": {"id": "$.a[?@.b ==]"}}')
    code, _, err = run("map", str(spec), stdin="{}")
    assert code == 1
    assert "at $.user.id in the spec" in err
    assert "^" in err


def test_a_missing_value_names_the_spec_location(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"user": {"id": "$.order.user.id"}}')
    code, _, err = run("map", str(spec), stdin='{"order": {}}')
    assert code == 1
    assert "nothing at $['order']['user']" in err
    assert "at $.user.id in the spec" in err
