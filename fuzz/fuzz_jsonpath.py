"""An atheris fuzz target for flowmap's RFC 9535 JSONPath engine.

An input is a query and a document: the bytes up to the first NUL are the
query (UTF-8; invalid bytes become lone surrogates, which the parser must
refuse cleanly), and the bytes after it are the document, as JSON text when
they parse as JSON and otherwise read by ``atheris.FuzzedDataProvider`` into a
small JSON value.

The only exceptions allowed to leave flowmap are JSONPathSyntaxError (from
``compile``) and RegexLimitError (from evaluation, for a pattern read from the
document that the linear-time regex engine refuses); anything else, and any
broken invariant checked here, is a crash. See fuzz/README.md for how to run
it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import atheris  # type: ignore[import-untyped]

if __name__ == "__main__":
    with atheris.instrument_imports(include=["flowmap"]):
        import flowmap

        # flowmap loads its modules on first use: load them here, inside the
        # instrumentation, so that the fuzzer sees their coverage.
        import flowmap.jsonpath
        import flowmap.jsonpath._iregexp
        from flowmap.errors import RegexLimitError
else:  # imported by the test suite: nothing to instrument
    import flowmap
    from flowmap.errors import RegexLimitError

CTS = Path(__file__).resolve().parent.parent.parent / "shared" / "cts" / "cts.json"
_KEYS = ["a", "b", "", "0", "é", "a b", "'"]
_NO_DEFAULT = object()


def split_input(data: bytes) -> tuple[str, Any]:
    """The query and the document encoded in ``data``."""
    raw_query, _, raw_doc = data.partition(b"\x00")
    query = raw_query.decode("utf-8", errors="surrogateescape")
    try:
        doc = json.loads(raw_doc)
    except (ValueError, RecursionError):
        doc = _document(atheris.FuzzedDataProvider(raw_doc), 0)
    return query, doc


def encode_input(query: str, doc: Any) -> bytes:
    """The input that :func:`split_input` reads back as ``query`` and ``doc``."""
    return query.encode("utf-8", errors="surrogateescape") + b"\x00" + _dumps(doc)


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _document(fdp: atheris.FuzzedDataProvider, depth: int) -> Any:
    kind = fdp.ConsumeIntInRange(0, 8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-3, 12)
    if kind == 3:
        return fdp.ConsumeRegularFloat()
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 4))
    if kind == 5:
        return fdp.ConsumeInt(8)
    if kind == 6:
        return [_document(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    doc = {}
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        if fdp.ConsumeBool():
            key = fdp.PickValueInList(_KEYS)
        else:
            key = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 3))
        doc[key] = _document(fdp, depth + 1)
    return doc


def TestOneInput(data: bytes) -> None:
    """Compile and run one input; raise on anything but a clean syntax error."""
    text, doc = split_input(data)
    try:
        query = flowmap.compile(text)
    except flowmap.JSONPathSyntaxError as err:
        _check_syntax_error(err, text)
        return
    try:
        found = query.find(doc)
        located = query.locate(doc)
    except RegexLimitError:
        return
    if len(located) != len(found) or any(
        value is not f for (_, value), f in zip(located, found)
    ):
        raise AssertionError(f"locate() and find() differ for {text!r}")
    first = query.first(doc, default=_NO_DEFAULT)
    if first is not (found[0] if found else _NO_DEFAULT):
        raise AssertionError(f"first() is not find()[0] for {text!r}")
    if query.singular and len(found) > 1:
        raise AssertionError(f"a singular query selected {len(found)} nodes")
    canonical = str(query)
    again = flowmap.compile(canonical)
    if str(again) != canonical:
        raise AssertionError(f"canonical form {canonical!r} does not round-trip")
    if [path for path, _ in again.locate(doc)] != [path for path, _ in located]:
        raise AssertionError(f"canonical form {canonical!r} selects other nodes")


def _check_syntax_error(err: flowmap.JSONPathSyntaxError, text: str) -> None:
    if err.expression != text or not 0 <= err.position <= len(text):
        raise AssertionError(f"bad position {err.position} for {text!r}")
    if err.line != text.count("\n", 0, err.position) + 1:
        raise AssertionError(f"bad line {err.line} for {text!r}")
    if "^" not in str(err):
        raise AssertionError(f"no caret in {str(err)!r}")


def seed_corpus(directory: Path) -> int:
    """Write the compliance suite's cases into an empty corpus directory.

    A path that is a file (an input to re-run) or a directory with inputs
    in it is left alone.
    """
    if not CTS.is_file() or directory.is_file():
        return 0
    if directory.is_dir() and any(directory.iterdir()):
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    cases = json.loads(CTS.read_text(encoding="utf-8"))["tests"]
    for number, case in enumerate(cases):
        data = encode_input(case["selector"], case.get("document"))
        (directory / f"cts-{number:04d}").write_bytes(data)
    return len(cases)


def main() -> None:
    # libFuzzer takes corpus directories as its arguments that are not flags;
    # the first one is where new inputs go, so that is the one to seed.
    corpus = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if corpus and not os.environ.get("FLOWMAP_FUZZ_NO_SEED"):
        seeded = seed_corpus(Path(corpus[0]))
        if seeded:
            print(f"seeded {corpus[0]} with {seeded} compliance suite cases")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
