"""Combine the output of one workflow node with the input of the next.

:func:`merge` overlays a node's configured input (``next_input``) on the
previous node's output (``previous_output``) with one of three strategies:
``"shallow"`` (top-level keys), ``"deep"`` (objects recursively, arrays by the
``arrays`` option) and ``"merge-patch"`` (RFC 7396). :func:`place` puts a value
at a singular JSONPath, as a Step Functions ``ResultPath`` does, and
:func:`parse_merge_header` reads the ``X-WorkflowRun-MergeFnParameters``
header that switches merging on.

Nothing here mutates its inputs. Results are built from new containers only
where something changed and share every untouched subtree with the inputs by
reference (``merge(..., copy=True)`` shares nothing); docs/merge.md states
exactly what is shared. Every walk over a document uses an explicit stack, so
documents nested 10,000 levels deep work without ``RecursionError``. Inputs
are assumed to be JSON trees: a container that contains itself is not
supported.
"""

from __future__ import annotations

from collections.abc import Hashable
from itertools import chain
from typing import Any, Literal

from flowmap.errors import MergeError, MergeOptionError
from flowmap.jsonpath.query import Query, normalized_path
from flowmap.jsonpath.query import compile as compile_query

__all__ = [
    "merge",
    "parse_merge_header",
    "place",
]

Strategy = Literal["shallow", "deep", "merge-patch"]
ArrayMode = Literal["replace", "concat", "union"]

_STRATEGIES: tuple[str, ...] = ("shallow", "deep", "merge-patch")
_ARRAY_MODES: tuple[str, ...] = ("replace", "concat", "union")
_HEADER = "X-WorkflowRun-MergeFnParameters"
_HEADER_VALUES: tuple[str, ...] = ("true", "false", "")
_BLANKS = " \t\r\n"


def merge(
    previous_output: Any,
    next_input: Any,
    *,
    strategy: Strategy = "shallow",
    arrays: ArrayMode = "replace",
    wrap_key: str | None = None,
    copy: bool = False,
) -> Any:
    """Merge ``next_input`` over ``previous_output`` and return a new value.

    ``strategy`` is ``"shallow"`` (top-level keys, ``next_input`` wins),
    ``"deep"`` (objects merge recursively, ``next_input`` wins at the leaves,
    arrays as ``arrays`` says: ``"replace"``, ``"concat"`` or ``"union"``) or
    ``"merge-patch"`` (RFC 7396 with ``next_input`` as the patch). For
    shallow and deep a ``None`` input contributes nothing, and any other
    non-object is put under ``wrap_key`` or, without one, raises
    :class:`~flowmap.errors.MergeError`. ``arrays`` other than ``"replace"``
    needs ``strategy="deep"`` and ``wrap_key`` does not go with
    ``"merge-patch"``; misused options raise :class:`MergeOptionError`.

    The inputs are never changed and the returned container is always new;
    untouched subtrees are shared with the inputs unless ``copy=True``.

    >>> merge({"a": 1, "b": 2}, {"b": 3})
    {'a': 1, 'b': 3}
    >>> merge({"a": {"x": 1, "l": [1]}}, {"a": {"y": 2, "l": [1.0, 2]}},
    ...       strategy="deep", arrays="union")
    {'a': {'x': 1, 'l': [1, 2], 'y': 2}}
    >>> merge({"a": "b", "c": 1}, {"a": None}, strategy="merge-patch")
    {'c': 1}
    >>> merge([1, 2], {"a": 1}, wrap_key="previous")
    {'previous': [1, 2], 'a': 1}
    """
    # The common case, two plain objects with default options, skips all
    # option checking: it must stay close to the cost of {**a, **b}.
    if (
        type(previous_output) is dict
        and type(next_input) is dict
        and strategy == "shallow"
        and arrays == "replace"
        and wrap_key is None
        and not copy
    ):
        return {**previous_output, **next_input}
    _check_options(strategy, arrays, wrap_key)
    result: Any
    if strategy == "merge-patch":
        result = _merge_patch(previous_output, next_input)
    else:
        base, over = _as_objects(previous_output, next_input, strategy, wrap_key)
        if strategy == "shallow":
            result = {**base, **over}
        else:
            result = _deep_merge(base, over, arrays)
    if copy:
        return _deepcopy(result)
    if result is next_input and isinstance(result, list):
        # A non-object patch is the result; hand out a new list all the same
        # so that changing the result never changes an input.
        return list(result)
    return result


def parse_merge_header(value: str | None) -> bool:
    """Read the ``X-WorkflowRun-MergeFnParameters`` header.

    ``"true"`` and ``"false"`` in any case, with surrounding ASCII blanks
    (space, tab, CR, LF), give ``True`` and ``False``; a missing header
    (``None``) or an empty value gives ``False``. Anything else raises
    :class:`~flowmap.MergeOptionError`.

    >>> parse_merge_header(" TRUE ")
    True
    >>> parse_merge_header(None), parse_merge_header(""), parse_merge_header("False")
    (False, False, False)
    >>> parse_merge_header("yes")
    Traceback (most recent call last):
      ...
    flowmap.errors.MergeOptionError: invalid X-WorkflowRun-MergeFnParameters header \
value 'yes': expected 'true' or 'false' (in any case) or an empty value
    """
    if value is None:
        return False
    if isinstance(value, str):
        # Only ASCII blanks: str.strip() would also take NO-BREAK SPACE,
        # EM SPACE and the like, which no HTTP stack puts around a value.
        text = value.strip(_BLANKS)
        # Header values are ASCII; lower() on other text could turn
        # look-alike letters (such as the Kelvin sign) into "true".
        if text.isascii():
            lowered = text.lower()
            if lowered == "true":
                return True
            if lowered in ("false", ""):
                return False
    raise MergeOptionError(
        _HEADER,
        value,
        _HEADER_VALUES,
        reason=(
            f"invalid {_HEADER} header value {value!r}: expected 'true' or "
            "'false' (in any case) or an empty value"
        ),
    )


def place(document: Any, path: str | Query, value: Any) -> Any:
    """Return a copy of ``document`` with ``value`` at the singular ``path``.

    ``path`` is a JSONPath string or a compiled
    :class:`~flowmap.jsonpath.query.Query`. Missing objects on the way are
    created (as a Step Functions ``ResultPath`` does) and whatever was at
    ``path`` is replaced; ``"$"`` replaces the whole document. A negative
    index counts from the end of the existing array. Only the containers
    along the path are copied: siblings and ``value`` itself are shared. A
    path that is not singular, that meets a value of the wrong type, or an
    index out of range raises :class:`~flowmap.errors.MergeError` naming
    the step.

    >>> doc = {"order": {"id": 7}, "items": [1, 2]}
    >>> place(doc, "$.result.status", "ok")
    {'order': {'id': 7}, 'items': [1, 2], 'result': {'status': 'ok'}}
    >>> place(doc, "$.items[-1]", 3)
    {'order': {'id': 7}, 'items': [1, 3]}
    >>> doc
    {'order': {'id': 7}, 'items': [1, 2]}
    >>> place(doc, "$.order.id.x", 1)
    Traceback (most recent call last):
      ...
    flowmap.errors.MergeError: cannot place a value at $['order']['id']['x']: \
$['order']['id'] is a number, not an object
    """
    query = path if isinstance(path, Query) else compile_query(path)
    steps = query.steps
    if not query.singular or steps is None:
        raise MergeError(
            f"cannot place a value at {query}: the path is not singular "
            "(it may select more than one location)",
            path=str(query),
        )
    if not steps:
        return value
    root = _shallow_copy(document)
    node = root
    last = len(steps) - 1
    for position, step in enumerate(steps):
        key: str | int
        if isinstance(step, int):
            if not isinstance(node, list):
                raise _place_error(
                    steps, position, _wrong_type(steps[:position], node, "an array")
                )
            key = step + len(node) if step < 0 else step
            if not 0 <= key < len(node):
                raise _place_error(
                    steps,
                    position,
                    f"index {step} is out of range for the array of "
                    f"{len(node)} at {normalized_path(steps[:position])}, and "
                    "placing never appends",
                )
        else:
            if not isinstance(node, dict):
                raise _place_error(
                    steps, position, _wrong_type(steps[:position], node, "an object")
                )
            key = step
            if position < last and step not in node:
                if isinstance(steps[position + 1], int):
                    raise _place_error(
                        steps,
                        position + 1,
                        f"{normalized_path(steps[: position + 1])} does not exist, "
                        "and only missing objects are created, not arrays",
                    )
                created: dict[str, Any] = {}
                node[key] = created
                node = created
                continue
        if position == last:
            node[key] = value
        else:
            child = _shallow_copy(node[key])
            node[key] = child
            node = child
    return root


def _check_options(strategy: object, arrays: object, wrap_key: object) -> None:
    """Reject option values and combinations that have no meaning."""
    if strategy not in _STRATEGIES:
        raise MergeOptionError("strategy", strategy, _STRATEGIES)
    if arrays not in _ARRAY_MODES:
        raise MergeOptionError("arrays", arrays, _ARRAY_MODES)
    # An option that a strategy ignores is refused rather than dropped, so a
    # misconfigured workflow fails loudly instead of merging differently.
    if arrays != "replace" and strategy != "deep":
        raise MergeOptionError(
            "arrays",
            arrays,
            ("replace",),
            reason=(
                f"arrays={arrays!r} only applies to strategy='deep' "
                f"(strategy={strategy!r} accepts only arrays='replace')"
            ),
        )
    if wrap_key is not None:
        if not isinstance(wrap_key, str):
            raise MergeOptionError(
                "wrap_key",
                wrap_key,
                (),
                reason=f"wrap_key must be a string or None, not {wrap_key!r}",
            )
        if strategy == "merge-patch":
            raise MergeOptionError(
                "wrap_key",
                wrap_key,
                (),
                reason=(
                    "wrap_key does not apply to strategy='merge-patch': "
                    "RFC 7396 defines how non-object values merge"
                ),
            )


def _json_type(value: object) -> str:
    """Name the JSON type of ``value`` (``object``, ``array``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return f"non-JSON {type(value).__name__}"


def _article(type_name: str) -> str:
    """Prefix a JSON type name with its indefinite article ("is a string")."""
    if type_name == "null":
        return type_name
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _as_objects(
    previous_output: Any, next_input: Any, strategy: str, wrap_key: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Turn both inputs into objects for a key-by-key merge, or raise."""
    sides: tuple[tuple[Literal["previous_output", "next_input"], Any], ...] = (
        ("previous_output", previous_output),
        ("next_input", next_input),
    )
    objects: list[dict[str, Any]] = []
    bad: list[Literal["previous_output", "next_input"]] = []
    for side, value in sides:
        if value is None:
            objects.append({})
        elif isinstance(value, dict):
            objects.append(value)
        elif wrap_key is not None:
            objects.append({wrap_key: value})
        else:
            bad.append(side)
    if bad:
        previous_type = _json_type(previous_output)
        next_type = _json_type(next_input)
        culprit = (
            f"{bad[0]} is not an object"
            if len(bad) == 1
            else "previous_output and next_input are not objects"
        )
        raise MergeError(
            f"cannot merge previous_output ({previous_type}) with next_input "
            f"({next_type}) using strategy={strategy!r}: {culprit}, so it "
            "cannot be merged key by key; pass wrap_key to nest a non-object "
            "value under a key",
            side=bad[0] if len(bad) == 1 else "both",
            previous_type=previous_type,
            next_type=next_type,
            strategy=strategy,
        )
    return objects[0], objects[1]


def _deep_merge(
    base: dict[str, Any], over: dict[str, Any], arrays: str
) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``, objects recursively.

    Only objects present on both sides are copied; the loop walks ``over``
    with an explicit stack so that depth costs no Python recursion.
    """
    result = dict(base)
    keys = _JSONKeys() if arrays == "union" else None
    stack: list[tuple[dict[str, Any], dict[str, Any]]] = [(result, over)]
    while stack:
        out, patch = stack.pop()
        for key, value in patch.items():
            if isinstance(value, dict):
                old = out.get(key)
                if isinstance(old, dict):
                    merged = dict(old)
                    out[key] = merged
                    stack.append((merged, value))
                    continue
            elif isinstance(value, list) and arrays != "replace":
                old = out.get(key)
                if isinstance(old, list):
                    if keys is None:
                        out[key] = old + value
                    else:
                        out[key] = _union(old, value, keys)
                    continue
            out[key] = value
    return result


def _merge_patch(target: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``target`` as RFC 7396 says, without mutating.

    This is the RFC's recursive MergePatch function with the recursion turned
    into a stack: an object patch member merges into a copy of the target's
    member when that is an object and into ``{}`` otherwise.
    """
    if not isinstance(patch, dict):
        return patch
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    stack: list[tuple[dict[str, Any], dict[str, Any]]] = [(result, patch)]
    while stack:
        out, members = stack.pop()
        for key, value in members.items():
            if value is None:
                out.pop(key, None)
            elif isinstance(value, dict):
                old = out.get(key)
                merged: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
                out[key] = merged
                stack.append((merged, value))
            else:
                out[key] = value
    return result


def _union(first: list[Any], second: list[Any], keys: _JSONKeys) -> list[Any]:
    """Concatenate two arrays, keeping only the first of JSON-equal values."""
    seen: set[Hashable] = set()
    result: list[Any] = []
    for item in chain(first, second):
        key = keys.key(item)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


class _JSONKeys:
    """Hashable stand-ins for JSON values: equal keys mean JSON-equal values.

    JSON equality differs from Python's ``==`` (``true`` is not ``1``), and
    containers are unhashable, so :func:`_union` compares these keys instead.
    A scalar's key is cheap and built on the spot. A container's key is a
    small int naming its shape in ``_shapes``; shapes refer to children only
    by their keys, so keys stay flat and hashing them never recurses, however
    deep the document. One instance serves every union of a merge.
    """

    __slots__ = ("_shapes",)

    def __init__(self) -> None:
        self._shapes: dict[Hashable, int] = {}

    def key(self, value: Any) -> Hashable:
        """Return the key of ``value``."""
        if isinstance(value, (dict, list)):
            return self._container_key(value)
        return _scalar_key(value)

    def _container_key(self, root: dict[str, Any] | list[Any]) -> int:
        # Every container is listed after its parent, so walking the list
        # backwards meets each child before the parent whose shape needs it.
        order: list[dict[str, Any] | list[Any]] = []
        stack: list[dict[str, Any] | list[Any]] = [root]
        while stack:
            node = stack.pop()
            order.append(node)
            children = node.values() if isinstance(node, dict) else node
            stack.extend(c for c in children if isinstance(c, (dict, list)))
        known: dict[int, int] = {}
        shapes = self._shapes
        for node in reversed(order):
            if id(node) in known:
                continue
            shape: Hashable
            if isinstance(node, dict):
                shape = (
                    "object",
                    frozenset(
                        (
                            name,
                            known[id(child)]
                            if _is_container(child)
                            else _scalar_key(child),
                        )
                        for name, child in node.items()
                    ),
                )
            else:
                shape = (
                    "array",
                    tuple(
                        known[id(child)] if _is_container(child) else _scalar_key(child)
                        for child in node
                    ),
                )
            known[id(node)] = shapes.setdefault(shape, len(shapes))
        return known[id(root)]


def _is_container(value: object) -> bool:
    return isinstance(value, (dict, list))


def _scalar_key(value: Any) -> Hashable:
    """Key a non-container so that JSON-equal scalars get equal keys.

    Strings and null are their own keys; numbers and booleans are tagged so
    that ``True`` and ``1`` differ while ``1`` and ``1.0`` stay equal. None
    of them can equal a container key, which is a bare int.
    """
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    try:
        hash(value)
    except TypeError:
        # Not JSON at all; identity is the only equality left to use.
        return ("identity", id(value))
    return ("other", value)


def _shallow_copy(value: Any) -> Any:
    """Copy a container one level deep; return anything else unchanged."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def _deepcopy(value: Any) -> Any:
    """Copy every dict and list in ``value``, iteratively.

    Unlike ``copy.deepcopy`` there is no memo: JSON has no shared nodes, and
    an object that appears twice in the input becomes two independent copies.
    """
    root = _shallow_copy(value)
    if root is value:
        return value
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        # Replacing the value of an existing key does not disturb iteration.
        entries = node.items() if isinstance(node, dict) else enumerate(node)
        for slot, child in entries:
            if isinstance(child, (dict, list)):
                fresh = _shallow_copy(child)
                node[slot] = fresh
                stack.append(fresh)
    return root


def _wrong_type(at: tuple[str | int, ...], found: Any, wanted: str) -> str:
    """Say that the value at ``at`` is not the container a step needs."""
    return f"{normalized_path(at)} is {_article(_json_type(found))}, not {wanted}"


def _place_error(
    steps: tuple[str | int, ...], position: int, reason: str
) -> MergeError:
    """Build the error for ``steps[position]``, the step that cannot be taken.

    The message names the whole path, the failing step and the value the
    step was applied to, e.g. ``$['a'] is a string, not an object``.
    """
    path = normalized_path(steps)
    step = normalized_path(steps[: position + 1])
    where = "" if step == path else f" (at step {step})"
    return MergeError(
        f"cannot place a value at {path}: {reason}{where}", path=path, step=step
    )
