"""The command line: results on stdout, one readable error on stderr."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsoncompare import same

import flowmap
import flowmap.cli
from flowmap.cli import (
    BROKEN_PIPE_STATUS,
    INTERNAL_ERROR_STATUS,
    INTERRUPTED_STATUS,
    main,
)

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


# -- streams: the same rules everywhere, and never a traceback ----------------


def run_process(
    *argv: str, stdin: bytes = b"", shell_suffix: str = ""
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m flowmap`` in a real process (for what StringIO hides)."""
    command = [sys.executable, "-m", "flowmap", *argv]
    if shell_suffix:
        script = " ".join(shlex.quote(part) for part in command) + shell_suffix
        return subprocess.run(
            ["sh", "-c", script], input=stdin, capture_output=True, timeout=60
        )
    return subprocess.run(command, input=stdin, capture_output=True, timeout=60)


def test_a_lone_surrogate_prints_escaped_as_json(tmp_path: Path) -> None:
    # Reproduction: {"a": "\ud800"} then `flowmap query '$.a' file` printed a
    # UnicodeEncodeError traceback.
    document = tmp_path / "doc.json"
    document.write_text('{"a": "\\ud800", "b": "é"}', encoding="utf-8")
    result = run_process("query", "$[*]", str(document))
    assert (result.returncode, result.stderr) == (0, b"")
    assert json.loads(result.stdout) == ["\ud800", "é"]
    assert b"\\ud800" in result.stdout
    # In process, through a UTF-8 text stream as sys.stdout is.
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    argv = ["query", "--first", "$.a", str(document)]
    code = main(argv, stdout=out, stderr=io.StringIO())
    out.flush()
    assert code == 0
    assert json.loads(out.buffer.getvalue()) == "\ud800"  # type: ignore[attr-defined]


def test_an_ascii_terminal_gets_escapes_not_an_error(tmp_path: Path) -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    code = main(["query", "--first", "$"], stdin=io.StringIO('"日本"'), stdout=out)
    out.flush()
    assert code == 0
    assert out.buffer.getvalue() == b'"\\u65e5\\u672c"\n'  # type: ignore[attr-defined]


def test_a_closed_stdin_is_one_message() -> None:
    # Reproduction: `flowmap query '$' <&-` raised AttributeError.
    result = run_process("query", "$", shell_suffix=" <&-")
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode() == (
        "flowmap: error: cannot read input: standard input is closed; give "
        "input as a file or pipe it in\n"
    )


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # Reproduction: `flowmap query '$.a' big.json | head -c0` printed a
    # BrokenPipeError traceback. Here the pipe's reader is gone before the
    # command starts, so the first write fails every time.
    document = tmp_path / "big.json"
    document.write_text(json.dumps({"a": list(range(100_000))}))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "flowmap", "query", "$.a", str(document)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == BROKEN_PIPE_STATUS
    assert result.stderr == b""


def test_stdin_is_held_to_the_rules_of_files(tmp_path: Path) -> None:
    # Reproduction: non-UTF-8 bytes on stdin were accepted and echoed, while
    # the same bytes in a file were refused.
    raw = b'{"a": "caf\xe9"}'
    document = tmp_path / "latin1.json"
    document.write_bytes(raw)
    from_file = run_process("query", "$.a", str(document))
    from_stdin = run_process("query", "$.a", stdin=raw)
    for result, name in ((from_file, str(document)), (from_stdin, "standard input")):
        assert result.returncode == 1
        assert result.stdout == b""
        assert result.stderr.decode() == (
            f"flowmap: error: input {name} is not UTF-8 text: invalid "
            "continuation byte at byte offset 10\n"
        )
    # The same in process, with a binary stdin.
    code, out, err = run_bytes(["query", "$.a"], raw)
    assert (code, out) == (1, "")
    assert "input standard input is not UTF-8 text" in err


def run_bytes(argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_utf8_stdin_is_read_as_utf8() -> None:
    code, out, err = run_bytes(["query", "--first", "$.a"], '{"a": "café"}'.encode())
    assert (code, json.loads(out), err) == (0, "café", "")


def test_stdin_is_read_once(tmp_path: Path) -> None:
    code, out, err = run("map", "-", stdin='{"a": "$.a"}')
    assert (code, out) == (1, "")
    assert err == (
        "flowmap: error: cannot read input from standard input: it was already "
        "read for the spec; give input as a file\n"
    )


def test_an_undecodable_argument_is_reported_without_a_traceback() -> None:
    result = run_process("query", "$", "/no/such/\udcff.json")
    assert result.returncode == 1
    assert result.stderr.startswith(b"flowmap: error: cannot read input /no/such/")
    assert b"Traceback" not in result.stderr


# -- version and entry points ---------------------------------------------------


def test_version() -> None:
    result = run_process("--version")
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.decode() == f"flowmap {flowmap.__version__}\n"


def test_python_dash_m_runs_the_command(tmp_path: Path) -> None:
    order = str(EXAMPLES / "order.json")
    result = run_process("query", "--first", "$.order.user.id", order)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"42\n", b"")


# -- messages that say how to fix the problem ----------------------------------


@pytest.mark.parametrize(
    ("leaf", "options", "hint"),
    [
        ("$$.execution_id", [], "pass it with --context FILE"),
        ("$CONST.region", [], "pass them with --constants FILE"),
        ("$.nope", [], "Give the path a fallback ('path | default')"),
        ("$$.nope", ["--context", "CONTEXT"], "Give the path a fallback"),
    ],
)
def test_a_missing_value_suggests_the_fix(
    tmp_path: Path, leaf: str, options: list[str], hint: str
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"x": leaf}))
    options = [str(EXAMPLES / "context.json") if o == "CONTEXT" else o for o in options]
    code, out, err = run("map", str(spec), *options, stdin="{}")
    assert (code, out) == (1, "")
    assert hint in err
    assert "--on-missing null or --on-missing omit" in err
    assert "at $.x in the spec" in err


def test_a_bug_is_one_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr(flowmap.cli, "compile", broken)
    code, out, err = run("query", "$", stdin="{}")
    assert (code, out) == (INTERNAL_ERROR_STATUS, "")
    assert err == (
        "flowmap: error: internal error: AttributeError: 'NoneType' object has "
        "no attribute 'x' (a bug in flowmap; please report it with the command "
        "that caused it)\n"
    )


def test_ctrl_c_ends_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(flowmap.cli, "compile", interrupted)
    assert run("query", "$", stdin="{}") == (INTERRUPTED_STATUS, "", "")


# -- properties: any input, one outcome ------------------------------------------

SETTINGS = {
    "deadline": None,
    # In CI the examples are fixed, so that a run can only fail on a change.
    "derandomize": bool(os.environ.get("CI")),
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # lone surrogates included
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


def run_stdin(argv: list[str], raw: bytes, encoding: str) -> tuple[int, str, str]:
    out = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    err = io.StringIO()
    code = main(argv, stdin=io.BytesIO(raw), stdout=out, stderr=err)
    out.flush()
    return code, out.buffer.getvalue().decode(encoding), err.getvalue()  # type: ignore[attr-defined]


@settings(max_examples=200, **SETTINGS)
@given(json_values, st.sampled_from(["utf-8", "ascii", "latin-1"]))
def test_any_document_round_trips_through_query(value: Any, encoding: str) -> None:
    # ensure_ascii: the input is the JSON text, whatever its strings hold.
    raw = json.dumps(value, ensure_ascii=True).encode()
    code, out, err = run_stdin(["query", "--first", "$"], raw, encoding)
    assert (code, err) == (0, "")
    assert same(json.loads(out), value)


@settings(max_examples=300, **SETTINGS)
@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_give_a_result_or_one_message(raw: bytes) -> None:
    code, out, err = run_stdin(["query", "$..*"], raw, "utf-8")
    if code == 0:
        assert err == ""
        assert isinstance(json.loads(out), list)
    else:
        assert code == 1
        assert out == ""
        assert err.startswith("flowmap: error: input standard input ")
        assert err.count("\n") == 1
