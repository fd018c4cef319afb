"""load_functions and the embedded executor: what is registered, what fails."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from flowmap.flows import (
    EmbeddedExecutor,
    FunctionFailure,
    FunctionLoadError,
    load_functions,
)


def module(tmp_path: Path, text: str, name: str = "handlers.py") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_top_level_functions_and_the_functions_dict(tmp_path: Path) -> None:
    path = module(
        tmp_path,
        "from json import dumps\n"
        "def a(event, context): return 1\n"
        "async def b(event, context): return 2\n"
        "def _private(event, context): return 3\n"
        "FUNCTIONS = {'urn:fss:r:p:function:default:c:latest': a, 'b': a}\n",
    )
    registry = load_functions(path)
    assert sorted(registry) == ["a", "b", "urn:fss:r:p:function:default:c:latest"]
    assert registry["b"] is registry["a"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("def broken(:\n", "SyntaxError while running it"),
        (
            "raise RuntimeError('no config')\n",
            "RuntimeError while running it: no config",
        ),
        ("FUNCTIONS = [1]\n", "FUNCTIONS must be a dict, not list"),
        (
            "FUNCTIONS = {'a': 1}\n",
            "FUNCTIONS['a'] must map a name or URN to a callable",
        ),
        ("X = 1\n", "it defines no functions"),
        ("raise SystemExit(5)\n", "it raised SystemExit(5) while running it"),
        ("import sys\nsys.exit('bye')\n", "it raised SystemExit('bye')"),
        ("raise GeneratorExit\n", "it raised GeneratorExit"),
    ],
)
def test_bad_modules(tmp_path: Path, text: str, fragment: str) -> None:
    path = module(tmp_path, text)
    with pytest.raises(FunctionLoadError) as info:
        load_functions(path)
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"cannot load functions from {path}: ")
    assert isinstance(info.value, ImportError)


def test_missing_file_and_module(tmp_path: Path) -> None:
    with pytest.raises(FunctionLoadError, match="no such file"):
        load_functions(tmp_path / "nope.py")
    with pytest.raises(FunctionLoadError, match="No module named"):
        load_functions("flowmap_no_such_module_here")


def test_a_module_that_exits_or_is_interrupted_on_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exiting_steps.py").write_text("raise SystemExit(3)\n")
    (tmp_path / "interrupted_steps.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(FunctionLoadError) as info:
            load_functions("exiting_steps")
        assert str(info.value) == (
            "cannot load functions from exiting_steps: it raised SystemExit(3) "
            "while importing it (a functions module must not exit)"
        )
        # Ctrl-C stays Ctrl-C, from a file or a module.
        with pytest.raises(KeyboardInterrupt):
            load_functions("interrupted_steps")
        with pytest.raises(KeyboardInterrupt):
            load_functions(tmp_path / "interrupted_steps.py")
    finally:
        sys.modules.pop("exiting_steps", None)
        sys.modules.pop("interrupted_steps", None)
    assert not [name for name in sys.modules if "interrupted_steps" in name]


def test_a_module_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "shoppkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text("def pay(event, context): return 'paid'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert list(load_functions("shoppkg.steps")) == ["pay"]
    finally:
        sys.modules.pop("shoppkg.steps", None)
        sys.modules.pop("shoppkg", None)


def test_the_executor_isolates_and_converts() -> None:
    seen: dict[str, Any] = {}

    def plain(event: Any, context: Any) -> Any:
        seen["thread"] = threading.current_thread()
        event["changed"] = True
        return event

    async def bad(event: Any, context: Any) -> Any:
        raise KeyError("k")

    async def weird(event: Any, context: Any) -> Any:
        return object()

    executor = EmbeddedExecutor({"plain": plain, "bad": bad, "weird": weird})
    event = {"x": [1]}

    async def main() -> None:
        result = await executor.invoke("plain", "urn:p", event, {"h": {}})
        assert result == {"x": [1], "changed": True}
        assert event == {"x": [1]}
        with pytest.raises(FunctionFailure) as info:
            await executor.invoke("bad", "urn:b", {}, {})
        assert info.value.error == "KeyError"
        assert "LookupError" in info.value.names and "Exception" in info.value.names
        with pytest.raises(FunctionFailure) as info:
            await executor.invoke("weird", "urn:w", {}, {})
        assert info.value.error == "InvalidResult"
        with pytest.raises(FunctionFailure) as info:
            await executor.invoke("none", "urn:n", {}, {})
        assert info.value.error == "FunctionNotFound"
        assert executor.missing([("none", "urn:n"), ("bad", "urn:b")]) == [
            ("none", "urn:n")
        ]
        await executor.aclose()

    asyncio.run(main())
    assert seen["thread"] is not threading.main_thread()
