"""Packaging: version, licence, lazy imports, links that work on the index."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import flowmap

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def fresh(statement: str) -> list[str]:
    """Run ``statement`` in a fresh interpreter; return its printed JSON."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    modules: list[str] = json.loads(result.stdout.splitlines()[-1])
    return modules


def test_version_has_one_source() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "flowmap.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", flowmap.__version__)
    assert importlib.metadata.version("flowmap") == flowmap.__version__


def test_license_file_matches_the_declared_licence() -> None:
    assert PYPROJECT["project"]["license"] == "BSD-2-Clause"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 2-Clause License\n")
    assert "flowmap contributors" in text
    assert text.count("Redistributions") == 2  # two clauses, no third


def test_metadata_for_the_package_index() -> None:
    project = PYPROJECT["project"]
    assert project["keywords"]
    assert "Typing :: Typed" in project["classifiers"]
    for url in project["urls"].values():
        assert url.startswith("https://github.com/flowmap/flowmap")


def test_readme_links_are_absolute() -> None:
    # The package index shows README.md without the repository around it.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)]+)\)", readme)
    assert targets
    assert [t for t in targets if not t.startswith("https://")] == []


def test_import_flowmap_loads_only_the_errors() -> None:
    modules = fresh("import flowmap")
    ours = [name for name in modules if name.split(".")[0] == "flowmap"]
    assert ours == ["flowmap", "flowmap.errors"]
    assert "jsonschema" not in modules
    assert "typing" not in modules or "typing" in fresh("pass")


@pytest.mark.parametrize(
    ("statement", "loaded", "not_loaded"),
    [
        ("flowmap.compile('$.a')", "flowmap.jsonpath.query", "flowmap.merging"),
        ("flowmap.merge({}, {})", "flowmap.merging", "flowmap.mapping"),
        ("flowmap.compile_mapping({'a': '$.a'})", "flowmap.mapping", "jsonschema"),
        ("flowmap.compile_mapping([{'key': 'a', 'value': 1}])", "jsonschema", ""),
    ],
)
def test_each_name_loads_what_it_needs(
    statement: str, loaded: str, not_loaded: str
) -> None:
    modules = fresh(f"import flowmap\n{statement}")
    assert loaded in modules
    assert not_loaded not in modules


def test_lazy_names_are_the_real_objects() -> None:
    from flowmap.jsonpath.query import compile as compile_query
    from flowmap.merging import merge

    assert flowmap.compile is compile_query
    assert flowmap.merge is merge
    assert "compile_mapping" in dir(flowmap)
    with pytest.raises(AttributeError, match="no attribute 'compil'"):
        flowmap.compil  # type: ignore[attr-defined]  # noqa: B018


def test_editable_install_is_a_plain_path_entry() -> None:
    # setuptools' import-hook editable mode hides the package from mypy;
    # package-dir {"" = "."} makes it a .pth path entry instead.
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"": "."}
