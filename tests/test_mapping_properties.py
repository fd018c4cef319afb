"""Properties of compiled mappings that no list of cases can pin.

Specs are generated as trees whose leaves are literals, quoted constants and
chains of alternatives (paths over the data, ``$CONST`` and ``$$`` drawn from
the generated documents' real paths plus paths that select nothing, then an
optional constant). Each tree is rendered to a spec and also evaluated by a
plain reference interpreter written here on top of ``flowmap.compile(...)``
``.find`` and ``.singular``, which follows the rules of docs/mapping.md
literally. For every ``on_missing`` mode and both ``null_as_missing``:

1. the compiled mapping agrees with the reference (value, or the located
   MissingValueError naming the same leaf and, for a one-path leaf, the same
   step);
2. data, constants and context are never mutated;
3. results never alias the spec or each other across applications;
4. a pickled mapping loads equal and applies identically, even after the
   caches were emptied.

The parameter form is checked the same way: dotted keys (with escaped dots
and backslashes) nest as the reference says, and any key that conflicts with
an earlier one is a located MappingError.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from jsoncompare import same, vandalize

import flowmap
from flowmap import MappingError, MissingValueError, compile_mapping

SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
# Every (on_missing, null_as_missing) pair.
MODES = [(mode, nam) for mode in ("error", "null", "omit") for nam in (False, True)]
ROOT_TEXT = {"data": "$", "constants": "$CONST", "context": "$$"}


# --- JSON-aware comparison --------------------------------------------------


# --- the spec tree and its rendering ---------------------------------------


@dataclass(frozen=True)
class PathAlt:
    root: str  # "data", "constants" or "context"
    query: str  # an RFC 9535 query over that root, starting with "$"

    @property
    def text(self) -> str:
        return ROOT_TEXT[self.root] + self.query[1:]


@dataclass(frozen=True)
class ConstAlt:
    value: Any
    text: str


@dataclass(frozen=True)
class Leaf:
    alternatives: tuple[PathAlt | ConstAlt, ...]
    separators: tuple[str, ...]

    @property
    def text(self) -> str:
        parts = [self.alternatives[0].text]
        for sep, alt in zip(self.separators, self.alternatives[1:]):
            parts.append(sep + alt.text)
        return "".join(parts)


@dataclass(frozen=True)
class Literal:
    value: Any  # a JSON scalar, or a string that is not an expression


Node = Any  # dict[str, Node] | list[Node] | Leaf | Literal


def render(node: Node) -> Any:
    if isinstance(node, dict):
        return {key: render(child) for key, child in node.items()}
    if isinstance(node, list):
        return [render(child) for child in node]
    if isinstance(node, Leaf):
        return node.text
    return node.value


# --- the reference interpreter ---------------------------------------------


class _Omit:
    pass


OMIT = _Omit()


class RefMissing(Exception):
    def __init__(self, location: tuple[str | int, ...], leaf: Leaf, step: Any) -> None:
        super().__init__(location)
        self.location = location
        self.leaf = leaf
        self.step = step


_NO_VALUE = object()


def ref_alternative(alt: PathAlt, roots: dict[str, Any], nam: bool, last: bool) -> Any:
    """The value of one path alternative, or _NO_VALUE."""
    document = roots[alt.root]
    query = flowmap.compile(alt.query)
    if alt.root != "data" and document is None:
        # constants=None / context=None mean "none given": nothing selects.
        return [] if not query.singular and last else _NO_VALUE
    nodes = query.find(document)
    if not query.singular:
        return nodes if nodes or last else _NO_VALUE
    if not nodes or (nam and nodes[0] is None):
        return _NO_VALUE
    return nodes[0]


def ref_step(alt: PathAlt, roots: dict[str, Any]) -> str | None:
    """The first step of a singular path that found nothing, as flowmap names it."""
    document = roots[alt.root]
    try:
        flowmap.compile(alt.query).first(document)
    except MissingValueError as exc:
        assert exc.step is not None and exc.step.startswith("$")
        return ROOT_TEXT[alt.root] + exc.step[1:]
    return None  # present (but null, with null_as_missing)


def ref_leaf(
    leaf: Leaf, roots: dict[str, Any], opts: tuple[str, bool], loc: tuple[Any, ...]
) -> Any:
    on_missing, nam = opts
    alts = leaf.alternatives
    for i, alt in enumerate(alts):
        if isinstance(alt, ConstAlt):
            return copy.deepcopy(alt.value)
        value = ref_alternative(alt, roots, nam, last=i == len(alts) - 1)
        if value is not _NO_VALUE:
            return value
    if on_missing == "null":
        return None
    if on_missing == "omit":
        return OMIT
    last = alts[-1]
    assert isinstance(last, PathAlt)
    raise RefMissing(loc, leaf, ref_step(last, roots))


def ref_eval(
    node: Node, roots: dict[str, Any], opts: tuple[str, bool], loc: tuple[Any, ...] = ()
) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, child in node.items():
            value = ref_eval(child, roots, opts, (*loc, key))
            if value is not OMIT:
                out[key] = value
        return out
    if isinstance(node, list):
        items = [
            ref_eval(child, roots, opts, (*loc, i)) for i, child in enumerate(node)
        ]
        return [item for item in items if item is not OMIT]
    if isinstance(node, Leaf):
        return ref_leaf(node, roots, opts, loc)
    return node.value


def reference(node: Node, roots: dict[str, Any], opts: tuple[str, bool]) -> Any:
    result = ref_eval(node, roots, opts)
    return None if result is OMIT else result


# --- strategies: documents ----------------------------------------------------

DOT_NAMES = ["a", "b", "id", "_x", "é"]
QUOTED_NAMES = ["x y", "it's", "a.b", "a|b", "back\\slash", "0", "", "tab\t"]
NAMES = DOT_NAMES + QUOTED_NAMES

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "s", "$.a", "'q'", " $x"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(NAMES), children, max_size=3),
    ),
    max_leaves=10,
)
objects = st.dictionaries(st.sampled_from(NAMES), json_values, max_size=4)
documents = st.one_of(objects, objects, st.lists(json_values, max_size=3), scalars)


def all_paths(document: Any) -> list[tuple[str | int, ...]]:
    """Every singular path in ``document`` (negative indexes too)."""
    found: list[tuple[str | int, ...]] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, steps = stack.pop()
        found.append(steps)
        if isinstance(value, dict):
            stack.extend((child, (*steps, key)) for key, child in value.items())
        elif isinstance(value, list):
            for i, child in enumerate(value):
                stack.append((child, (*steps, i)))
                stack.append((child, (*steps, i - len(value))))
    return found


def quote(text: str, escape_all: bool) -> str:
    """``text`` as a single-quoted JSONPath string literal."""
    out = ["'"]
    for ch in text:
        code = ord(ch)
        if ch in "'\\":
            out.append("\\" + ch)
        elif ch in "\b\f\n\r\t":
            out.append("\\" + "bfnrt"["\b\f\n\r\t".index(ch)])
        elif code < 0x20 or (escape_all and code <= 0xFFFF):
            out.append(f"\\u{code:04x}")
        elif escape_all:
            code -= 0x10000
            out.append(
                f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"
            )
        else:
            out.append(ch)
    out.append("'")
    return "".join(out)


@st.composite
def path_texts(draw: st.DrawFn, steps: tuple[str | int, ...]) -> str:
    """A query for ``steps``, each name in dot or bracket notation."""
    parts = ["$"]
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step in DOT_NAMES and draw(st.booleans()):
            parts.append(f".{step}")
        else:
            parts.append(f"[{quote(step, draw(st.booleans()))}]")
    return "".join(parts)


# Appended to a real path, these mostly select nothing.
MISSING_STEPS: list[str | int] = ["nope", 7, -9, "a", 0]
NON_SINGULAR_SUFFIXES = [
    "[*]",
    ".*",
    "..a",
    "..*",
    "[0:2]",
    "[::-1]",
    "[?@.a]",
    "[0,0]",
]


@st.composite
def path_alternatives(draw: st.DrawFn, roots: dict[str, Any]) -> PathAlt:
    root = draw(st.sampled_from(["data", "data", "data", "constants", "context"]))
    paths = all_paths(roots[root]) if roots[root] is not None else [()]
    steps = draw(st.sampled_from(paths))
    kind = draw(st.sampled_from(["real", "real", "missing", "non-singular"]))
    if kind == "missing":
        steps = (*steps, draw(st.sampled_from(MISSING_STEPS)))
    query = draw(path_texts(steps))
    if kind == "non-singular":
        query += draw(st.sampled_from(NON_SINGULAR_SUFFIXES))
    return PathAlt(root, query)


finite_floats = st.floats(
    min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False
)
plain_text = st.text(max_size=6)


@st.composite
def constants(draw: st.DrawFn) -> ConstAlt:
    kind = draw(st.sampled_from(["string", "int", "float", "keyword"]))
    if kind == "string":
        text = draw(plain_text)
        return ConstAlt(text, quote(text, draw(st.booleans())))
    if kind == "int":
        number = draw(st.integers(-(10**12), 10**12))
        return ConstAlt(number, str(number))
    if kind == "float":
        # Integral ones (2.0, 1e3) are left out: the JSONPath number parser
        # turns them into ints, which JSON cannot tell apart (see the report).
        real = draw(finite_floats.filter(lambda f: not f.is_integer()))
        return ConstAlt(real, repr(real))
    keyword = draw(st.sampled_from([True, False, None]))
    return ConstAlt(keyword, json.dumps(keyword))


SEPARATORS = st.sampled_from(["|", " | ", " |", "| ", "\t|\n", "  |  "])


@st.composite
def leaves(draw: st.DrawFn, roots: dict[str, Any], max_paths: int) -> Leaf:
    n = draw(st.integers(1, max_paths))
    alts: list[PathAlt | ConstAlt] = [draw(path_alternatives(roots)) for _ in range(n)]
    if draw(st.booleans()):
        alts.append(draw(constants()))
    separators = tuple(draw(SEPARATORS) for _ in alts[1:])
    return Leaf(tuple(alts), separators)


def is_literal_string(text: str) -> bool:
    return text[:1] not in ("$", "'") and text.lstrip(" \t\r\n")[:1] not in ("$", "'")


@st.composite
def literals(draw: st.DrawFn) -> Node:
    kind = draw(st.sampled_from(["scalar", "string", "quoted"]))
    if kind == "scalar":
        scalar = draw(st.one_of(st.none(), st.booleans(), st.integers(), finite_floats))
        return Literal(scalar)
    if kind == "string":
        return Literal(draw(plain_text.filter(is_literal_string)))
    text = draw(plain_text)
    return Leaf((ConstAlt(text, quote(text, draw(st.booleans()))),), ())


def spec_trees(roots: dict[str, Any], max_paths: int) -> st.SearchStrategy[Node]:
    leaf_nodes = st.one_of(
        leaves(roots, max_paths), leaves(roots, max_paths), literals()
    )
    trees = st.recursive(
        leaf_nodes,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3),
            st.dictionaries(st.sampled_from(NAMES), children, min_size=1, max_size=3),
        ),
        max_leaves=8,
    )
    # Mostly containers at the top, where omit drops rather than nulls.
    return st.one_of(
        leaf_nodes,
        st.lists(trees, max_size=4),
        st.dictionaries(st.sampled_from(NAMES), trees, max_size=4),
        st.dictionaries(st.sampled_from(NAMES), trees, max_size=4),
    )


@st.composite
def scenarios(draw: st.DrawFn, max_paths: int) -> tuple[Node, dict[str, Any]]:
    roots = {
        "data": draw(documents),
        "constants": draw(st.none() | objects),
        "context": draw(st.none() | objects),
    }
    tree = draw(spec_trees(roots, max_paths))
    return tree, roots


# --- the check ------------------------------------------------------------------


def check_against_reference(tree: Node, roots: dict[str, Any]) -> None:
    spec = render(tree)
    note(f"spec = {spec!r}")
    spec_before = copy.deepcopy(spec)
    roots_before = copy.deepcopy(roots)
    for opts in MODES:
        on_missing, nam = opts
        mapping = compile_mapping(spec, on_missing=on_missing, null_as_missing=nam)
        assert (
            compile_mapping(
                json.loads(json.dumps(spec)), on_missing=on_missing, null_as_missing=nam
            )
            is mapping
        )
        try:
            expected = reference(tree, roots, opts)
        except RefMissing as missing:
            with pytest.raises(MissingValueError) as info:
                mapping.apply(
                    roots["data"],
                    constants=roots["constants"],
                    context=roots["context"],
                )
            error = info.value
            assert error.location == missing.location, opts
            assert error.expression == missing.leaf.text, opts
            if len(missing.leaf.alternatives) == 1:
                assert error.step == missing.step, opts
        else:
            # Applied several times: no result may leak into the next one.
            for _ in range(3):
                fresh = copy.deepcopy(roots)
                result = mapping.apply(
                    fresh["data"],
                    constants=fresh["constants"],
                    context=fresh["context"],
                )
                assert same(result, expected), (opts, result, expected)
                vandalize(result)  # never reaches the next application
            result = mapping.apply(
                roots["data"], constants=roots["constants"], context=roots["context"]
            )
            assert same(result, expected), (opts, result, expected)
        assert same(roots, roots_before), "an input was mutated"
        assert same(spec, spec_before)


@settings(max_examples=150, **SETTINGS)
@given(scenarios(max_paths=1))
def test_agrees_with_reference_one_path_per_leaf(
    scenario: tuple[Node, dict[str, Any]],
) -> None:
    check_against_reference(*scenario)


@settings(max_examples=150, **SETTINGS)
@given(scenarios(max_paths=3))
def test_agrees_with_reference_with_fallback_chains(
    scenario: tuple[Node, dict[str, Any]],
) -> None:
    check_against_reference(*scenario)


@settings(max_examples=40, **SETTINGS)
@given(scenarios(max_paths=2), st.sampled_from(MODES))
def test_pickle_round_trip_applies_identically(
    scenario: tuple[Node, dict[str, Any]], opts: tuple[str, bool]
) -> None:
    tree, roots = scenario
    mapping = compile_mapping(render(tree), on_missing=opts[0], null_as_missing=opts[1])
    text = pickle.dumps(mapping)
    flowmap.clear_caches()
    loaded = pickle.loads(text)
    assert loaded == mapping
    assert loaded is not mapping  # compiled again, from the pickled spec

    def outcome(m: flowmap.Mapping) -> Any:
        try:
            return m.apply(
                roots["data"], constants=roots["constants"], context=roots["context"]
            )
        except MissingValueError as exc:
            return ("missing", exc.location, exc.step, str(exc))

    assert same(outcome(loaded), outcome(mapping))


# --- the parameter form ---------------------------------------------------------

PARAM_NAMES = ["a", "b", "user", "a.b", "x\\", "x\\.y", "ü", "1"]


def escape_key_part(part: str) -> str:
    return part.replace("\\", "\\\\").replace(".", "\\.")


@st.composite
def key_trees(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """Nested dicts whose ``None`` leaves are where the parameters go."""
    names = draw(
        st.lists(st.sampled_from(PARAM_NAMES), min_size=1, max_size=3, unique=True)
    )
    tree: dict[str, Any] = {}
    for name in names:
        tree[name] = (
            draw(key_trees(depth + 1)) if depth < 2 and draw(st.booleans()) else None
        )
    return tree


def flatten(
    tree: dict[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, child in tree.items():
        if child is None:
            out.append((*prefix, name))
        else:
            out.extend(flatten(child, (*prefix, name)))
    return out


def nest(pairs: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for parts, value in pairs:
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is not OMIT:
            node[parts[-1]] = value
    return out


@st.composite
def parameter_scenarios(draw: st.DrawFn) -> Any:
    roots = {
        "data": draw(objects),
        "constants": draw(st.none() | objects),
        "context": draw(st.none() | objects),
    }
    keys = flatten(draw(key_trees()))
    items = []
    for parts in keys:
        leaf = draw(leaves(roots, 2))
        item: dict[str, Any] = {
            "key": ".".join(map(escape_key_part, parts)),
            "value": leaf.text,
        }
        if not isinstance(leaf.alternatives[-1], ConstAlt) and draw(st.booleans()):
            default = draw(json_values)
            item["default"] = default
            leaf = Leaf(
                (*leaf.alternatives, ConstAlt(default, "")), (*leaf.separators, "")
            )
        if draw(st.integers(0, 4)) == 0:
            item["description"] = draw(plain_text)
        items.append((parts, item, leaf))
    return roots, items


@settings(max_examples=100, **SETTINGS)
@given(parameter_scenarios(), st.sampled_from(MODES))
def test_parameter_form_agrees_with_reference(
    scenario: Any, opts: tuple[str, bool]
) -> None:
    roots, items = scenario
    spec = [item for _, item, _ in items]
    note(f"spec = {spec!r}")
    before = copy.deepcopy((spec, roots))
    mapping = compile_mapping(spec, on_missing=opts[0], null_as_missing=opts[1])
    assert mapping.form == "parameters"
    try:
        values = [
            (parts, ref_leaf(leaf, roots, opts, (index, "value")))
            for index, (parts, _, leaf) in enumerate(items)
        ]
    except RefMissing as missing:
        with pytest.raises(MissingValueError) as info:
            mapping.apply(
                roots["data"], constants=roots["constants"], context=roots["context"]
            )
        assert info.value.location == missing.location
    else:
        expected = nest(values)
        for _ in range(2):
            fresh = copy.deepcopy(roots)
            result = mapping.apply(
                fresh["data"], constants=fresh["constants"], context=fresh["context"]
            )
            assert same(result, expected), (result, expected)
            vandalize(result)
    assert same((spec, roots), before)


@settings(max_examples=100, **SETTINGS)
@given(st.data())
def test_conflicting_parameter_keys_are_located_errors(data: st.DataObject) -> None:
    keys = flatten(data.draw(key_trees()))
    spec = [
        {"key": ".".join(map(escape_key_part, parts)), "value": "$.v"} for parts in keys
    ]
    assert compile_mapping(spec).apply({"v": 1}) == nest([(k, 1) for k in keys])
    # A key equal to, under, or above an earlier one conflicts with it.
    parts = data.draw(st.sampled_from(keys))
    how = data.draw(st.sampled_from(["same", "under", "above"]))
    if how == "under":
        parts = (*parts, data.draw(st.sampled_from(PARAM_NAMES)))
    elif how == "above":
        parts = parts[: data.draw(st.integers(1, len(parts)))]
        if parts in keys:
            how = "same"
    bad = {"key": ".".join(map(escape_key_part, parts)), "value": 1}
    index = len(spec)
    with pytest.raises(MappingError) as info:
        compile_mapping([*spec, bad])
    assert info.value.location == (index, "key"), how
