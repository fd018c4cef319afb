"""``flowmap run``: the README's main job, its exit statuses and its errors."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flowmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FUNCTIONS = str(Path(__file__).parent / "flows_functions.py")


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def one_node(ref: str, arguments: Any = None) -> dict[str, Any]:
    function_ref: dict[str, Any] = {"ref_name": ref}
    if arguments is not None:
        function_ref["arguments"] = arguments
    return {
        "name": "one",
        "start": "a",
        "functions": [
            {"name": ref, "operation": f"urn:fss:l:p:function:default:{ref}:latest"}
        ],
        "states": [
            {
                "id": "a",
                "name": "A",
                "type": "Operation",
                "end": True,
                "actions": [{"function_ref": function_ref}],
            }
        ],
    }


def test_the_readme_main_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = (
        "flowmap run examples/flow.json examples/flow_input.json "
        "--functions examples/flow_handlers.py --merge "
        "--headers examples/flow_headers.json"
    )
    assert command in readme
    code, out, err = run(*command.split()[1:])
    assert (code, err) == (0, ""), err
    shown = json.loads(out)
    assert shown["status"] == "success"
    assert shown["output"] == {
        "to": "Ann Lee",
        "channel": "email",
        "text": "Order A-1001: 49.2 EUR",
        "reservation": "R-A-1001-2",
        "trace": "readme-1",
    }
    nodes = {d["node_id"]: d["executions"] for d in shown["node_execution_details"]}
    assert list(nodes) == ["check", "price", "reserve", "settle", "notify"]
    assert [a["status"] for a in nodes["reserve"]] == ["fail", "success"]
    assert nodes["reserve"][0]["error_message"].startswith("StockServiceBusy")
    # The retry waited its delay and the Sleep its duration (1 s each).
    assert nodes["reserve"][1]["begin_time"] - nodes["reserve"][0]["end_time"] >= 990
    assert nodes["settle"][0]["end_time"] - nodes["settle"][0]["begin_time"] >= 990
    # A default filled in, a constant read, the previous output merged in.
    check_input = nodes["check"][0]["input"]
    assert (check_input["customer"], check_input["currency"]) == ("Ann Lee", "EUR")
    assert nodes["notify"][0]["input"]["total"] == 49.2


def test_a_failed_execution_exits_3_and_still_prints_its_record(tmp_path: Path) -> None:
    flow = write(tmp_path / "f.json", one_node("fail"))
    code, out, err = run("run", flow, "--functions", FUNCTIONS)
    assert (code, err) == (3, "")
    shown = json.loads(out)
    assert shown["status"] == "fail"
    assert shown["node_execution_details"][0]["executions"][0]["error_message"] == (
        "ValueError: always"
    )


def test_db_keeps_the_executions(tmp_path: Path) -> None:
    flow = write(tmp_path / "f.json", one_node("add", {"x": "$.x"}))
    data = write(tmp_path / "in.json", {"x": 2})
    db = str(tmp_path / "runs.db")
    for _ in range(2):
        code, out, _err = run("run", flow, data, "--functions", FUNCTIONS, "--db", db)
        assert code == 0 and json.loads(out)["output"] == {"x": 2, "sum": 2}
    count = sqlite3.connect(db).execute("SELECT count(*) FROM executions").fetchone()
    assert count == (2,)


def test_a_db_that_cannot_be_opened_is_one_line_with_status_1(tmp_path: Path) -> None:
    flow = write(tmp_path / "f.json", one_node("echo"))
    garbage = tmp_path / "notes.txt"
    garbage.write_text("these are notes, not a database\n" * 20)
    for db, fragment in [
        (tmp_path / "no" / "dir" / "x.db", "does not exist"),
        (garbage, "not an SQLite database"),
        (tmp_path, "is a directory"),
    ]:
        code, out, err = run("run", flow, "--functions", FUNCTIONS, "--db", str(db))
        assert (code, out) == (1, ""), err
        assert err.startswith(f"flowmap: error: cannot open the SQLite store {db}: ")
        assert fragment in err and err.count("\n") == 1, err
        assert "internal error" not in err


def test_a_functions_module_that_exits_is_one_line_with_status_1(
    tmp_path: Path,
) -> None:
    flow = write(tmp_path / "f.json", one_node("echo"))
    handlers = tmp_path / "exits.py"
    handlers.write_text("raise SystemExit(5)\n")
    code, out, err = run("run", flow, "--functions", str(handlers))
    assert (code, out) == (1, "")
    assert err == (
        f"flowmap: error: cannot load functions from {handlers}: it raised "
        "SystemExit(5) while running it (a functions module must not exit)\n"
    )


def test_errors_are_one_readable_line_with_status_1(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", one_node("echo"))
    bad = one_node("echo", {"id": "$.a[?"})
    cases = [
        (
            ["run", write(tmp_path / "bad.json", bad), "--functions", FUNCTIONS],
            "$.states[0].actions[0].function_ref.arguments.id",
        ),
        (
            [
                "run",
                write(tmp_path / "nf.json", one_node("nowhere")),
                "--functions",
                FUNCTIONS,
            ],
            "no handler registered for function nowhere",
        ),
        (
            ["run", good, write(tmp_path / "list.json", [1]), "--functions", FUNCTIONS],
            "input must be a JSON object",
        ),
        (
            [
                "run",
                good,
                "--functions",
                FUNCTIONS,
                "--headers",
                write(tmp_path / "h.json", "x"),
            ],
            "headers must be a JSON object",
        ),
        (["run", good, "--functions", str(tmp_path / "none.py")], "no such file"),
        (
            ["run", str(tmp_path / "missing.json"), "--functions", FUNCTIONS],
            "cannot read flow definition",
        ),
    ]
    for argv, fragment in cases:
        code, out, err = run(*argv)
        assert (code, out) == (1, ""), argv
        assert err.startswith("flowmap: error: ") and fragment in err, err
        assert "Traceback" not in err


def test_the_installed_command(tmp_path: Path) -> None:
    flow = write(tmp_path / "f.json", one_node("echo", {"v": "$.v | 'd'"}))
    result = subprocess.run(
        [sys.executable, "-m", "flowmap.cli", "run", flow, "--functions", FUNCTIONS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == {"echoed": {"v": "d"}}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_goes_to_stderr_on_a_terminal(tmp_path: Path) -> None:
    body = one_node("add", {"x": "$.x"})
    flow = write(tmp_path / "f.json", body)
    out, err = io.StringIO(), Terminal()
    code = main(
        ["run", flow, "-", "--functions", FUNCTIONS, "--timeout", "30"],
        stdin=io.StringIO('{"x": 4}'),
        stdout=out,
        stderr=err,
    )
    assert code == 0
    assert json.loads(out.getvalue())["output"] == {"x": 4, "sum": 4}
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("  a attempt 1: success (")
