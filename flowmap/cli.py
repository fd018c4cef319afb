"""The ``flowmap`` command: ``flowmap map``, ``flowmap query`` and ``flowmap run``.

Errors (bad JSON, bad specs, bad paths, missing values) are printed to stderr
as one readable message, with the caret and spec location where there is
one, and the command exits with status 1 (2 for a wrong command line). No
traceback is shown.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import FlowmapError, compile, compile_mapping
from .flows import _worker as _worker_cli
from .server import _cli as _serve_cli


class _InputError(Exception):
    """A file that cannot be read or is not JSON."""


def _read_json(path: str | None, what: str, stdin: TextIO) -> Any:
    name = "standard input" if path in (None, "-") else path
    try:
        if path in (None, "-"):
            text = stdin.read()
        else:
            assert path is not None
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise _InputError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _InputError(f"{what} {name} is not UTF-8 text: {exc.reason}") from None
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise _InputError(
            f"{what} {name} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # NaN/Infinity, or an integer of 4,300+ digits
        raise _InputError(f"{what} {name} is not valid JSON: {exc}") from None
    except RecursionError:
        raise _InputError(f"{what} {name} is nested too deeply to read") from None


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


def _write_json(value: Any, out: TextIO) -> None:
    try:
        text = json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
    except RecursionError:
        raise _InputError("the result is nested too deeply to print as JSON") from None
    except ValueError as exc:
        raise _InputError(f"the result cannot be printed as JSON: {exc}") from None
    out.write(text + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowmap",
        description="Map and query JSON with compiled RFC 9535 JSONPath.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("map", help="apply a mapping spec to a JSON input")
    m.add_argument("spec", help="the mapping spec (a JSON file)")
    m.add_argument("input", nargs="?", help="the input JSON file (default: stdin)")
    m.add_argument("--constants", metavar="FILE", help="JSON file read by $CONST paths")
    m.add_argument("--context", metavar="FILE", help="JSON file read by $$ paths")
    m.add_argument(
        "--on-missing",
        choices=("error", "null", "omit"),
        default="error",
        help="what a path with no value and no default gives (default: error)",
    )
    m.add_argument(
        "--null-as-missing", action="store_true", help="treat null values as missing"
    )
    m.add_argument(
        "--form",
        choices=("auto", "template", "parameters"),
        default="auto",
        help="spec form (default: auto)",
    )

    q = sub.add_parser("query", help="select from a JSON input with a JSONPath query")
    q.add_argument("expression", help="an RFC 9535 JSONPath query, e.g. '$.a[*].b'")
    q.add_argument("input", nargs="?", help="the input JSON file (default: stdin)")
    group = q.add_mutually_exclusive_group()
    group.add_argument(
        "--paths", action="store_true", help="print [normalized path, value] pairs"
    )
    group.add_argument(
        "--first",
        action="store_true",
        help="print only the first value (error if none)",
    )
    from .flows import _cli as flows_cli

    flows_cli.add_parser(sub)
    _serve_cli.add_parser(sub)
    _worker_cli.add_parser(sub)
    return parser


def main(
    argv: Sequence[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit status."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve_cli.run(args, stderr)
    if args.command == "worker":
        return _worker_cli.run(args, stderr)
    try:
        if args.command == "run":
            from .flows import _cli as flows_cli

            return flows_cli.command(
                args,
                read_json=_read_json,
                write_json=_write_json,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
            )
        if args.command == "map":
            spec = _read_json(args.spec, "spec", stdin)
            mapping = compile_mapping(
                spec,
                on_missing=args.on_missing,
                null_as_missing=args.null_as_missing,
                form=args.form,
            )
            data = _read_json(args.input, "input", stdin)
            constants = (
                _read_json(args.constants, "constants", stdin)
                if args.constants
                else None
            )
            context = (
                _read_json(args.context, "context", stdin) if args.context else None
            )
            result = mapping.apply(data, constants=constants, context=context)
        else:
            query = compile(args.expression)
            data = _read_json(args.input, "input", stdin)
            if args.paths:
                result = [list(pair) for pair in query.locate(data)]
            elif args.first:
                result = query.first(data)
            else:
                result = query.find(data)
        _write_json(result, stdout)
    except (FlowmapError, _InputError) as exc:
        stderr.write(f"flowmap: error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
