"""Compile a spec tree into one generated Python function.

The function evaluates every leaf and builds the result with dict and list
displays, so the output containers are new on every call. Two things make it
close to hand-written code:

* Common prefixes are shared: ``$.order.user.id`` and ``$.order.user.name``
  look up ``order`` and ``user`` once, in local variables.
* Lookups that must succeed (leaves with no fallback under
  ``on_missing="error"``) run as bare subscripts inside one ``try``: a JSON
  name lookup on anything but an object raises, so no type checks are needed
  on the happy path. If anything fails there, the call is re-run through the
  fully checked variant of the same function, which finds the missing leaf
  and raises a located :class:`MissingValueError`. Lookups that may fail
  (leaves with fallbacks) use checked ``dict.get`` steps, which cost no
  exception when the value is absent.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from .._generated import release_with, run_source
from ..errors import MissingValueError
from ..jsonpath import NOTHING, normalized_path, value_lookup
from ..jsonpath.emit import Comprehension
from ._spec import (
    ROOTS,
    CallAlt,
    ConstAlt,
    Leaf,
    Literal,
    Location,
    Node,
    PathAlt,
    TDict,
    TList,
)


class _Omit:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def drop_omitted_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not OMIT}


def drop_omitted_list(value: list[Any]) -> list[Any]:
    return [v for v in value if v is not OMIT]


def raise_missing(info: tuple[Any, ...], roots: tuple[Any, Any, Any]) -> None:
    """Raise the MissingValueError for a leaf whose alternatives all failed."""
    text, location, alt_root, steps, reason = info
    root_value = roots[("data", "constants", "context").index(alt_root)]
    step = None
    if steps is not None:
        node = root_value
        for i, s in enumerate(steps):
            if isinstance(s, str):
                missing = not isinstance(node, dict) or s not in node
            else:
                missing = not isinstance(node, list) or not -len(node) <= s < len(node)
            if missing:
                # The path up to the step that found nothing, from the root
                # as the spec names it ($, $CONST or $$).
                step = ROOTS[alt_root] + normalized_path(steps[: i + 1])[1:]
                break
            node = node[s]
        # Otherwise present but null, with null_as_missing: no step to name.
    raise MissingValueError(text, step, location, reason)


_GLOBALS: dict[str, Any] = {
    "NOTHING": NOTHING,
    "OMIT": OMIT,
    "drop_omitted_dict": drop_omitted_dict,
    "drop_omitted_list": drop_omitted_list,
    "raise_missing": raise_missing,
    "__builtins__": builtins,
}

_ROOT_VARS = {"data": "data", "constants": "constants", "context": "context"}


class _Split:
    """A path alternative as (root, singular prefix, rest of the query)."""

    __slots__ = ("comprehension", "prefix", "rest", "root")

    def __init__(self, alt: PathAlt) -> None:
        self.root = alt.root
        self.prefix, rest = alt.query.split_prefix()
        self.rest: Callable[[Any], list[Any]] | None = None
        self.comprehension: Comprehension | None = None
        if rest is not None:
            self.comprehension = Comprehension.of(rest)
            # Generated code now: the mapping keeps this function for good.
            self.rest = rest.prepare().find


#: Steps of one path written out as subscripts in the generated code; the
#: rest of a longer path is walked by a loop, so that the generated source
#: (and Python's compile() of it, which grows faster than linearly with the
#: number of variables) stays small whatever the length of the path.
MAX_UNROLLED_STEPS = 64


class _Tail:
    """The steps of a long path past MAX_UNROLLED_STEPS, as one trie step."""

    __slots__ = ("_hash", "steps")

    def __init__(self, steps: tuple[str | int, ...]) -> None:
        self.steps = steps
        self._hash = hash(steps)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Tail) and self.steps == other.steps


def _strict_lookup(steps: tuple[str | int, ...]) -> Callable[[Any], Any]:
    """Walk ``steps`` like the fast path's subscripts: a missing value raises
    KeyError, TypeError or IndexError."""

    def lookup(node: Any) -> Any:
        for step in steps:
            if isinstance(step, int) and not isinstance(node, list):
                raise TypeError
            node = node[step]
        return node

    return lookup


class _Gen:
    def __init__(self, on_missing: str, null_as_missing: bool) -> None:
        self.on_missing = on_missing
        self.null_as_missing = null_as_missing
        self.consts: list[Any] = []
        self.names: list[str] = []
        self.temps = 0
        self.splits: dict[int, _Split] = {}

    def const(self, value: Any, role: str) -> str:
        """The factory parameter that holds ``value``, named by its role."""
        name = f"{role}_{len(self.consts)}"
        self.consts.append(value)
        self.names.append(name)
        return name

    def temp(self, prefix: str) -> str:
        self.temps += 1
        return f"{prefix}{self.temps}"

    def literal(self, value: Any) -> str:
        """An expression building ``value`` anew (containers are never shared)."""
        if isinstance(value, dict):
            items = ", ".join(
                f"{self.const(k, 'key')}: {self.literal(v)}" for k, v in value.items()
            )
            return "{" + items + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.literal(v) for v in value) + "]"
        return self.const(value, "constant")

    # --- the function ------------------------------------------------------

    def function(self, template: Node, fast: bool) -> list[str]:
        """Body lines of ``apply`` (fast) or ``checked``."""
        leaves: list[Leaf] = []
        _collect(template, leaves)
        splits = self.splits
        for leaf in leaves:
            for alt in _paths(leaf.alternatives):
                if id(alt) not in splits:
                    splits[id(alt)] = _Split(alt)
        # Path prefixes are numbered in a trie, (parent number, step) ->
        # number, so that a path of n steps costs O(n), not the O(n^2) of
        # keys made of whole step tuples.
        self.trie: dict[tuple[int | str, str | int | _Tail], int] = {}
        self.parent: list[int | str] = []
        self.last: list[str | int | _Tail] = []
        required: set[int] = set()
        if fast:
            for leaf in leaves:
                if self.is_required(leaf):
                    split = splits[id(leaf.alternatives[0])]
                    required.update(self.prefix_ids(split.root, split.prefix))
        self.vars: dict[int | str, str] = {}
        self.vars.update(_ROOT_VARS)
        self.try_lines: list[str] = []
        self.lines: list[str] = []
        self.required = required
        # A node with a required name child was subscripted by name in the
        # try block, so past it the node is known to be an object.
        self.known_dicts = {
            self.parent[i] for i in required if isinstance(self.last[i], str)
        }
        self.leaf_vars: dict[int, str] = {}
        # Required lookups first, in the order the spec names them.
        for leaf in leaves:
            for path in _paths(leaf.alternatives):
                split = splits[id(path)]
                if self.prefix_id(split.root, split.prefix) in required:
                    self.node(split.root, split.prefix)
        for leaf in leaves:
            self.leaf_vars[id(leaf)] = self.leaf(leaf, splits)
        result = self.build(template, top=True)
        body: list[str] = []
        if self.try_lines:
            body += ["    try:"]
            body += ["        " + line for line in self.try_lines]
            body += [
                "    except (KeyError, TypeError, IndexError):",
                "        return checked(data, constants, context)",
            ]
        body += ["    " + line for line in self.lines]
        body.append(f"    return {result}")
        return body

    def is_required(self, leaf: Leaf) -> bool:
        if self.on_missing != "error" or len(leaf.alternatives) != 1:
            return False
        alt = leaf.alternatives[0]
        return isinstance(alt, PathAlt) and alt.query.singular

    def prefix_ids(self, root: str, steps: tuple[str | int, ...]) -> list[int]:
        """The trie numbers of the prefixes of ``steps``, shortest first.

        Past MAX_UNROLLED_STEPS, the rest of a path is one step (a _Tail)
        that a helper function walks.
        """
        trie, ids = self.trie, []
        node: int | str = root
        parts: Any = steps
        if len(steps) > MAX_UNROLLED_STEPS:
            parts = (*steps[:MAX_UNROLLED_STEPS], _Tail(steps[MAX_UNROLLED_STEPS:]))
        for step in parts:
            key = (node, step)
            number = trie.get(key)
            if number is None:
                number = trie[key] = len(self.parent)
                self.parent.append(node)
                self.last.append(step)
            ids.append(number)
            node = number
        return ids

    def prefix_id(self, root: str, steps: tuple[str | int, ...]) -> int | str:
        ids = self.prefix_ids(root, steps)
        return ids[-1] if ids else root

    def node(self, root: str, steps: tuple[str | int, ...]) -> str:
        """The variable holding the value at ``steps`` from ``root`` (or NOTHING)."""
        # The longest prefix that already has a variable, then one step at a
        # time (a loop, not recursion: paths may have thousands of steps).
        ids = self.prefix_ids(root, steps)
        depth = len(ids)
        while depth and ids[depth - 1] not in self.vars:
            depth -= 1
        var = self.vars[ids[depth - 1]] if depth else _ROOT_VARS[root]
        for number in ids[depth:]:
            var = self.step(number, var)
        return var

    def step(self, number: int, parent: str) -> str:
        """Emit the lookup of prefix ``number``'s last step in ``parent``."""
        var = self.temp("v")
        step = self.last[number]
        if isinstance(step, _Tail):
            if number in self.required:
                k = self.const(_strict_lookup(step.steps), "walk")
                self.try_lines.append(f"{var} = {k}({parent})")
            else:
                k = self.const(value_lookup(step.steps), "walk")
                self.lines.append(f"{var} = {k}({parent})")
            self.vars[number] = var
            return var
        k = self.const(step, "name" if isinstance(step, str) else "index")
        if number in self.required:
            if isinstance(step, int):
                self.try_lines.append(
                    f"if not isinstance({parent}, list): raise TypeError"
                )
            self.try_lines.append(f"{var} = {parent}[{k}]")
        elif isinstance(step, str):
            if self.parent[number] in self.known_dicts:
                self.lines.append(f"{var} = {parent}.get({k}, NOTHING)")
            else:
                self.lines.append(
                    f"{var} = {parent}.get({k}, NOTHING) "
                    f"if isinstance({parent}, dict) else NOTHING"
                )
        else:
            bound = f"len({parent}) > {k}" if step >= 0 else f"len({parent}) >= -{k}"
            self.lines.append(
                f"{var} = {parent}[{k}] "
                f"if isinstance({parent}, list) and {bound} else NOTHING"
            )
        self.vars[number] = var
        return var

    def value_of(self, alt: PathAlt, split: _Split) -> tuple[str, bool]:
        """(expression, is a node list) for one path alternative."""
        if split.rest is not None:
            base = self.node(split.root, split.prefix)
            find = f"{self.const(split.rest, 'query')}({base})"
            if split.comprehension is None:
                return find, True
            comprehension = split.comprehension.source(
                base, self.const, lambda: self.temp("t")
            )
            # An array of regular items at comprehension speed; anything the
            # comprehension cannot answer exactly raises, and the compiled
            # query answers instead.
            t = self.temp("t")
            self.lines += [
                "try:",
                f"    {t} = {comprehension} if isinstance({base}, list) else {find}",
                "except (KeyError, TypeError, IndexError):",
                f"    {t} = {find}",
            ]
            return t, True
        if not split.prefix and split.root != "data":
            root = _ROOT_VARS[split.root]
            return f"({root} if {root} is not None else NOTHING)", False
        return self.node(split.root, split.prefix), False

    def leaf(self, leaf: Leaf, splits: dict[int, _Split]) -> str:
        alts = leaf.alternatives
        if len(alts) == 1 and isinstance(alts[0], ConstAlt):
            return self.literal(alts[0].value)
        first = alts[0]
        if len(alts) == 1 and isinstance(first, PathAlt) and not self.null_as_missing:
            split = splits[id(first)]
            if (
                split.rest is None
                and self.prefix_id(split.root, split.prefix) in self.required
            ):
                # Looked up in the try block: present whenever we get here.
                return self.node(split.root, split.prefix)
        r = self.temp("r")
        # Every alternative's lookups are emitted up front, unconditionally:
        # a variable first bound inside a fallback branch could be reused,
        # unbound, by a later leaf that shares its prefix.
        exprs: list[tuple[str, bool]] = []
        for alt in alts:
            if isinstance(alt, ConstAlt):
                exprs.append((self.literal(alt.value), False))
            elif isinstance(alt, CallAlt):
                exprs.append((self.call(alt), False))
            else:
                exprs.append(self.value_of(alt, splits[id(alt)]))
        indent = ""
        for i, alt in enumerate(alts):
            expr, is_list = exprs[i]
            self.lines.append(f"{indent}{r} = {expr}")
            if not isinstance(alt, PathAlt):
                break
            last = i == len(alts) - 1
            if is_list:
                if last:
                    break
                self.lines.append(f"{indent}if not {r}:")
            else:
                test = f"{r} is NOTHING"
                if self.null_as_missing:
                    test += f" or {r} is None"
                self.lines.append(f"{indent}if {test}:")
            indent += "    "
            if last:
                code = self.on_missing_code(leaf, alt, splits[id(alt)], r)
                self.lines.append(f"{indent}{code}")
        return r

    def call(self, alt: CallAlt) -> str:
        args: list[str] = []
        for arg in alt.args:
            if isinstance(arg, ConstAlt):
                args.append(self.literal(arg.value))
            elif isinstance(arg, CallAlt):
                args.append(self.call(arg))
            else:
                args.append(self.value_of(arg, self.splits[id(arg)])[0])
        return f"{self.const(alt.func, 'function')}({', '.join(args)})"

    def on_missing_code(self, leaf: Leaf, alt: PathAlt, split: _Split, r: str) -> str:
        if self.on_missing == "null":
            return f"{r} = None"
        if self.on_missing == "omit":
            return f"{r} = OMIT"
        steps = split.prefix if split.rest is None else None
        reason = None
        if len(leaf.alternatives) > 1:
            reason = f"no alternative of {leaf.text!r} has a value"
        info = self.const((leaf.text, leaf.location, alt.root, steps, reason), "leaf")
        return f"raise_missing({info}, (data, constants, context))"

    def build(self, node: Node, top: bool = False) -> str:
        if isinstance(node, Leaf):
            var = self.leaf_vars[id(node)]
            if top and self.on_missing == "omit":
                return f"(None if {var} is OMIT else {var})"
            return var
        if isinstance(node, Literal):
            return self.literal(node.value)
        omit = self.on_missing == "omit"
        if isinstance(node, TDict):
            items = ", ".join(
                f"{self.const(k, 'key')}: {self.build(v)}" for k, v in node.items
            )
            text = "{" + items + "}"
            if omit and any(isinstance(v, Leaf) for _, v in node.items):
                return f"drop_omitted_dict({text})"
            return text
        text = "[" + ", ".join(self.build(v) for v in node.items) + "]"
        if omit and any(isinstance(v, Leaf) for v in node.items):
            return f"drop_omitted_list({text})"
        return text


def _paths(alts: tuple[PathAlt | ConstAlt | CallAlt, ...]) -> list[PathAlt]:
    found: list[PathAlt] = []
    stack = list(alts)
    while stack:
        alt = stack.pop()
        if isinstance(alt, PathAlt):
            found.append(alt)
        elif isinstance(alt, CallAlt):
            stack.extend(alt.args)
    return found


def _collect(node: Node, out: list[Leaf]) -> None:
    if isinstance(node, Leaf):
        out.append(node)
    elif isinstance(node, TDict):
        for _, child in node.items:
            _collect(child, out)
    elif isinstance(node, TList):
        for child in node.items:
            _collect(child, out)


def generate(
    template: Node, on_missing: str, null_as_missing: bool
) -> tuple[str, list[Any]]:
    """The factory source for a template and the constants it takes."""
    gen = _Gen(on_missing, null_as_missing)
    checked = gen.function(template, fast=False)
    fast = gen.function(template, fast=True)
    lines = [f"def _factory({', '.join(gen.names)}):"]
    lines.append("    def checked(data, constants, context):")
    lines += ["    " + line for line in checked]
    lines.append("    def apply(data, *, constants=None, context=None):")
    lines += ["    " + line for line in fast]
    lines.append("    return apply")
    return "\n".join(lines) + "\n", gen.consts


def compile_template(
    template: Node, on_missing: str, null_as_missing: bool
) -> Callable[..., Any]:
    """The generated ``apply(data, *, constants=None, context=None)``."""
    source, consts = generate(template, on_missing, null_as_missing)
    factory, filename = run_source(source, "mapping", dict(_GLOBALS), "_factory")
    apply: Callable[..., Any] = factory(*consts)
    release_with(apply, filename)
    return apply


__all__ = ["OMIT", "Location", "compile_template", "generate"]
