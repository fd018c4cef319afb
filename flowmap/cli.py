"""The ``flowmap`` command: ``flowmap map``, ``flowmap query`` and ``flowmap run``.

Errors (bad JSON, bad specs, bad paths, missing values) are printed to stderr
as one readable message, with the caret and spec location where there is
one, and the command exits with status 1 (2 for a wrong command line). No
traceback is shown, whatever happens:

- files and standard input are read by the same rules: UTF-8 text holding
  one JSON value (no NaN, no integers of 4,300 digits or more); standard
  input can be read once, and a closed standard input is an error;
- results are JSON in UTF-8; a character the output cannot encode (a lone
  surrogate such as ``"\\ud800"`` in the input, or anything outside ASCII on an
  ASCII terminal) makes the whole result print with ``\\uXXXX`` escapes,
  which any JSON reader turns back into the same text;
- a reader that stops early (``flowmap query ... | head -c0``) ends the
  command quietly with status 141 (128 + SIGPIPE), as Unix tools end;
- Ctrl-C ends it quietly with status 130;
- an unexpected exception (a bug) is one message naming it, status 70.

Each subcommand is a subparser in :func:`_parser` whose ``handler`` default
is a function ``(args, io) -> int``; :class:`_IO` reads and writes JSON by
the rules above.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from . import FlowmapError, MissingValueError, __version__, compile, compile_mapping

#: The status of a command ended by a closed pipe (128 + SIGPIPE), as a shell
#: reports it for Unix tools.
BROKEN_PIPE_STATUS = 141
#: The status after Ctrl-C (128 + SIGINT).
INTERRUPTED_STATUS = 130
#: The status after an unexpected exception, a bug (EX_SOFTWARE).
INTERNAL_ERROR_STATUS = 70


class CommandError(Exception):
    """A problem outside the library: an unreadable file, a closed stream."""


class _IO:
    """The command's streams, with JSON reading and writing by one set of rules.

    ``stdin`` may be a binary or a text stream (``None`` when it is closed);
    a binary stream, or a text stream's ``buffer``, is decoded as strict
    UTF-8, exactly as files are.
    """

    def __init__(
        self,
        stdin: IO[Any] | None,
        stdout: IO[str] | None,
        stderr: IO[str] | None,
    ) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._stdin_reader: str | None = None

    def read_json(self, path: str | None, what: str) -> Any:
        """Read one JSON value from the file ``path`` (``None`` or ``-``: stdin).

        ``what`` names the argument in messages ("spec", "input", ...).
        """
        if path is None or path == "-":
            name = "standard input"
            raw = self._read_stdin(what)
        else:
            name = path
            try:
                with open(path, "rb") as handle:
                    raw = handle.read()
            except OSError as exc:
                raise CommandError(
                    f"cannot read {what} {name}: {exc.strerror or exc}"
                ) from None
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CommandError(
                    f"{what} {name} is not UTF-8 text: {exc.reason} "
                    f"at byte offset {exc.start}"
                ) from None
        else:
            text = raw
        return _parse_json(text, what, name)

    def _read_stdin(self, what: str) -> bytes | str:
        if self._stdin_reader is not None:
            raise CommandError(
                f"cannot read {what} from standard input: it was already read "
                f"for the {self._stdin_reader}; give {what} as a file"
            )
        self._stdin_reader = what
        stream = self.stdin
        if stream is None or stream.closed:
            raise CommandError(
                f"cannot read {what}: standard input is closed; give {what} "
                "as a file or pipe it in"
            )
        try:
            data: bytes | str = getattr(stream, "buffer", stream).read()
        except OSError as exc:
            raise CommandError(
                f"cannot read {what} standard input: {exc.strerror or exc}"
            ) from None
        return data

    def write_json(self, value: Any) -> None:
        """Print ``value`` as indented JSON on stdout, then flush it."""
        out = self.stdout
        if out is None or out.closed:
            raise CommandError("cannot print the result: standard output is closed")
        try:
            text = json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
            encoding = getattr(out, "encoding", None) or "utf-8"
            try:
                text.encode(encoding)
            except UnicodeEncodeError:
                text = json.dumps(value, ensure_ascii=True, indent=2, allow_nan=False)
            except LookupError:  # pragma: no cover - an unknown codec name
                pass
        except RecursionError:
            raise CommandError(
                "the result is nested too deeply to print as JSON"
            ) from None
        except ValueError as exc:
            raise CommandError(f"the result cannot be printed as JSON: {exc}") from None
        out.write(text + "\n")
        out.flush()

    def report(self, message: str) -> None:
        """Print one error message on stderr (nothing if stderr is unusable)."""
        err = self.stderr
        if err is None:
            return
        try:
            encoding = getattr(err, "encoding", None) or "utf-8"
            text = f"flowmap: error: {message}\n"
            # An undecodable file name or argument reaches us as surrogates.
            text = text.encode(encoding, "backslashreplace").decode(encoding)
            err.write(text)
            err.flush()
        except (OSError, ValueError, LookupError):
            pass


def _parse_json(text: str, what: str, name: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{what} {name} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # NaN/Infinity, or an integer of 4,300+ digits
        raise CommandError(f"{what} {name} is not valid JSON: {exc}") from None
    except RecursionError:
        raise CommandError(f"{what} {name} is nested too deeply to read") from None


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


# -- subcommands ---------------------------------------------------------------


def _map(args: argparse.Namespace, io: _IO) -> int:
    spec = io.read_json(args.spec, "spec")
    mapping = compile_mapping(
        spec,
        on_missing=args.on_missing,
        null_as_missing=args.null_as_missing,
        form=args.form,
    )
    data = io.read_json(args.input, "input")
    constants = io.read_json(args.constants, "constants") if args.constants else None
    context = io.read_json(args.context, "context") if args.context else None
    try:
        result = mapping.apply(data, constants=constants, context=context)
    except MissingValueError as exc:
        raise CommandError(f"{exc}\n  hint: {_missing_hint(exc, args)}") from None
    io.write_json(result)
    return 0


def _missing_hint(error: MissingValueError, args: argparse.Namespace) -> str:
    """Say how to get past a missing value under ``flowmap map``."""
    fallback = (
        "give the path a fallback ('path | default'), or pass --on-missing null "
        "or --on-missing omit"
    )
    step = error.step or error.expression
    if step.startswith("$$") and not args.context:
        return f"$$ paths read the context: pass it with --context FILE, or {fallback}"
    if step.startswith("$CONST") and not args.constants:
        return (
            "$CONST paths read the constants: pass them with --constants FILE, "
            f"or {fallback}"
        )
    return fallback[0].upper() + fallback[1:]


def _query(args: argparse.Namespace, io: _IO) -> int:
    query = compile(args.expression)
    data = io.read_json(args.input, "input")
    result: Any
    if args.paths:
        result = [list(pair) for pair in query.locate(data)]
    elif args.first:
        result = query.first(data)
    else:
        result = query.find(data)
    io.write_json(result)
    return 0


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowmap",
        description="Map and query JSON with compiled RFC 9535 JSONPath.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("map", help="apply a mapping spec to a JSON input")
    m.set_defaults(handler=_map)
    m.add_argument("spec", help="the mapping spec (a JSON file; - for stdin)")
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
    q.set_defaults(handler=_query)
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
    for name, summary in _ENGINE_COMMANDS.items():
        if name == command:
            _add_engine_command(sub, name)
        else:
            # Only the chosen command's module is imported (the flow engine
            # costs more to import than all of map and query): the others
            # are listed by name and summary, for --help.
            sub.add_parser(name, help=summary, add_help=False)
    return parser


#: The subcommands built on the flow engine, with their --help summaries.
_ENGINE_COMMANDS = {
    "run": "run a flow definition and print its execution record",
    "serve": "serve the FunctionGraph flow API over HTTP (needs flowmap[server])",
    "worker": "run a Celery worker that calls flow functions (needs flowmap[celery])",
}


def _add_engine_command(sub: Any, name: str) -> None:
    if name == "run":
        from .flows import _cli as flows_cli

        flows_cli.add_parser(sub, _ENGINE_COMMANDS[name]).set_defaults(
            handler=flows_cli.command
        )
    elif name == "serve":
        from .server import _cli as serve_cli

        serve_cli.add_parser(sub, _ENGINE_COMMANDS[name]).set_defaults(handler=_serve)
    else:
        from .flows import _worker as worker_cli

        worker_cli.add_parser(sub, _ENGINE_COMMANDS[name]).set_defaults(handler=_worker)


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option
    (the top-level options take no values)."""
    return next((word for word in argv if not word.startswith("-")), None)


def _log_stream(io: _IO) -> IO[str]:
    # Long-running commands log to stderr; a closed stderr discards the log.
    return io.stderr if io.stderr is not None else open(os.devnull, "w")


def _serve(args: argparse.Namespace, io: _IO) -> int:
    from .server import _cli as serve_cli

    return serve_cli.run(args, _log_stream(io))


def _worker(args: argparse.Namespace, io: _IO) -> int:
    from .flows import _worker as worker_cli

    return worker_cli.run(args, _log_stream(io))


def main(
    argv: Sequence[str] | None = None,
    stdin: IO[Any] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line; returns the exit status.

    The streams default to the process's own (any of which may be closed).
    """
    io = _IO(
        sys.stdin if stdin is None else stdin,
        sys.stdout if stdout is None else stdout,
        sys.stderr if stderr is None else stderr,
    )
    words = sys.argv[1:] if argv is None else argv
    args = _parser(_command_name(words)).parse_args(words)
    handler: Callable[[argparse.Namespace, _IO], int] = args.handler
    try:
        return handler(args, io)
    except (FlowmapError, CommandError) as exc:
        io.report(str(exc))
    except BrokenPipeError:
        _discard_stdout(io.stdout)
        return BROKEN_PIPE_STATUS
    except KeyboardInterrupt:
        return INTERRUPTED_STATUS
    except RecursionError:
        io.report("the data is nested too deeply for this operation")
    except MemoryError:
        io.report("out of memory")
    except Exception as exc:  # a bug in flowmap: still one message
        io.report(
            f"internal error: {type(exc).__name__}: {exc} (a bug in flowmap; "
            "please report it with the command that caused it)"
        )
        return INTERNAL_ERROR_STATUS
    return 1


def _discard_stdout(stdout: IO[str] | None) -> None:
    """Point a broken stdout at the null device.

    Python flushes stdout once more at exit; on a closed pipe that would
    print "Exception ignored ... BrokenPipeError". Only the process's own
    stdout is redirected.
    """
    if stdout is None or stdout is not sys.stdout:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - no fd to redirect
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
