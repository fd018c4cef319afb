"""load_definition: copy to plain JSON, schema pass, semantic pass, then the model.

Every pass collects problems instead of stopping at the first, and the
semantic pass reads the document defensively (it runs even when the schema
pass found problems), so one DefinitionError lists everything that is wrong.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import flowmap
from flowmap.errors import json_kind

from ._definition import (
    Action,
    Definition,
    FunctionDef,
    FunctionRef,
    OnError,
    OperationState,
    RetryPolicy,
    SleepState,
    State,
    _dump,
)
from ._problems import DefinitionError, Problem
from ._text import bad_text

if TYPE_CHECKING:
    import jsonschema

__all__ = ["load"]

Parts = tuple[str | int, ...]

EXTRA_FIELDS = (
    "triggers",
    "express_config",
    "enterprise_project_id",
    "enable_stream_response",
)
# Bounds on list lengths (the schema states them too). They are checked
# before anything else, so that the cost of a check stays bounded: the
# schema pass costs about 0.1 ms per state and compiling an action's
# arguments about 1 ms.
LIMITS = {"states": 100, "functions": 1000, "retries": 100}
STATE_LIMITS = {"actions": 100, "on_errors": 100}
MAX_ACTIONS = 1000
# FunctionGraph ends an EXPRESS execution after five minutes.
EXPRESS_LIMIT = 300
MAX_DEPTH = 256


def load(obj: MappingABC[str, Any]) -> Definition:
    problems: list[Problem] = []
    doc = _plain(obj, (), problems, 0)
    if problems:
        raise DefinitionError(problems)
    if not isinstance(doc, dict):
        raise DefinitionError(
            [Problem((), f"a flow definition is a JSON object, not {json_kind(doc)}")]
        )
    too_long = _too_long(doc)
    if too_long:
        raise DefinitionError(too_long)
    problems.extend(_schema_problems(doc))
    checker = _Checker(doc)
    checker.run()
    problems.extend(checker.problems)
    if problems:
        raise DefinitionError(_ordered(doc, problems))
    return _build(doc, checker)


# --- plain JSON ------------------------------------------------------------


def _plain(value: Any, parts: Parts, problems: list[Problem], depth: int) -> Any:
    """A deep copy of ``value`` as plain JSON types, or problems where it is not.

    The copy also means the definition never shares a container with the
    caller's object.
    """
    if isinstance(value, str):
        # No store keeps a lone surrogate; the name is also a text column,
        # where PostgreSQL refuses NUL (other strings are stored in JSON).
        reason = bad_text(value, nul=parts == ("name",))
        if reason is not None:
            problems.append(Problem(parts, reason))
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(Problem(parts, f"{value!r} is not a JSON number"))
        return float(value)
    if depth >= MAX_DEPTH:
        problems.append(Problem(parts, f"nested deeper than {MAX_DEPTH} levels"))
        return None
    if isinstance(value, MappingABC):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(parts, f"object keys must be strings, not {key!r}")
                )
                continue
            reason = bad_text(key)
            if reason is not None:
                problems.append(Problem(parts, f"the key {key!r}: {reason}"))
            out[key] = _plain(item, (*parts, key), problems, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [
            _plain(item, (*parts, i), problems, depth + 1)
            for i, item in enumerate(value)
        ]
    problems.append(Problem(parts, f"{type(value).__name__} is not a JSON value"))
    return None


def _order_key(doc: Any, parts: Parts) -> tuple[tuple[int, str], ...]:
    """Sort key for document order: each step's index in its container.

    A key that is not in the document (a missing required field, say) comes
    after the keys that are, in name order.
    """
    key: list[tuple[int, str]] = []
    node = doc
    for part in parts:
        if isinstance(node, dict) and isinstance(part, str):
            names = list(node)
            if part in node:
                key.append((names.index(part), ""))
                node = node[part]
                continue
            key.append((len(names), part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            key.append((part, ""))
            node = node[part]
            continue
        else:
            key.append((0, str(part)))
        node = None
    return tuple(key)


def _ordered(doc: Any, problems: list[Problem]) -> list[Problem]:
    unique: dict[tuple[Parts, str], Problem] = {}
    for problem in problems:
        unique.setdefault((problem.parts, problem.message), problem)
    return sorted(unique.values(), key=lambda p: _order_key(doc, p.parts))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _too_long(doc: dict[str, Any]) -> list[Problem]:
    """Lists over their bounds; when there are any, nothing else is checked."""
    problems = []
    note = " (the definition's other checks were skipped)"
    for field, limit in LIMITS.items():
        items = doc.get(field)
        if isinstance(items, list) and len(items) > limit:
            problems.append(
                Problem(
                    (field,),
                    f"must have at most {limit} items, not {len(items)}" + note,
                )
            )
    states = doc.get("states")
    total = 0
    for i, state in _dicts(states[:200] if isinstance(states, list) else None):
        for field, limit in STATE_LIMITS.items():
            items = state.get(field)
            if isinstance(items, list):
                total += len(items) if field == "actions" else 0
                if len(items) > limit:
                    problems.append(
                        Problem(
                            ("states", i, field),
                            f"must have at most {limit} items, not {len(items)}" + note,
                        )
                    )
    if total > MAX_ACTIONS and not problems:
        problems.append(
            Problem(
                ("states",),
                f"a flow has at most {MAX_ACTIONS} actions in all, not {total}" + note,
            )
        )
    return problems


# --- schema pass -----------------------------------------------------------


@cache
def _validator() -> jsonschema.protocols.Validator:
    # jsonschema costs tens of milliseconds to import: only on first load.
    import jsonschema

    text = resources.files("flowmap").joinpath("schemas/flow.schema.json").read_text()
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "null": "null",
}


def _schema_problems(doc: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for error in _validator().iter_errors(doc):
        parts: Parts = tuple(error.absolute_path)
        problems.extend(_describe(error, parts))
    return problems


def _describe(error: Any, parts: Parts) -> list[Problem]:
    kind = error.validator
    value = error.validator_value
    instance = error.instance
    if kind == "required":
        missing = [name for name in value if name not in instance]
        return [Problem((*parts, name), "is required but missing") for name in missing]
    if kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        return [
            Problem((*parts, key), "is not a field here" + _suggest(key, known))
            for key in instance
            if key not in known
        ]
    if kind == "type":
        if "description" in error.schema:
            return [Problem(parts, error.schema["description"])]
        names = [value] if isinstance(value, str) else list(value)
        wanted = " or ".join(_TYPE_NAMES.get(name, name) for name in names)
        return [Problem(parts, f"must be {wanted}, not {json_kind(instance)}")]
    if kind == "enum":
        choices = ", ".join(repr(choice) for choice in value if choice is not None)
        return [Problem(parts, f"must be one of {choices}, not {instance!r}")]
    if kind == "minLength":
        return (
            [Problem(parts, "must not be empty")]
            if value == 1
            else [Problem(parts, f"must have at least {value} characters")]
        )
    if kind == "maxLength":
        return [
            Problem(parts, f"must have at most {value} characters, not {len(instance)}")
        ]
    if kind == "minItems":
        return [Problem(parts, f"must have at least {value} item(s)")]
    if kind == "maxItems":
        if value == 0:
            return [Problem(parts, "must be empty here")]
        return [Problem(parts, f"must have at most {value} items, not {len(instance)}")]
    if kind == "minimum":
        return [Problem(parts, f"must be at least {value}, not {instance!r}")]
    if kind == "maximum":
        return [Problem(parts, f"must be at most {value}, not {instance!r}")]
    if kind == "pattern":
        what = error.schema.get("description", f"a match of {value!r}")
        return [Problem(parts, f"{instance!r} is not {what}")]
    return [Problem(parts, error.message)]


# --- semantic pass ---------------------------------------------------------


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) and value else None


def _malformed(item: dict[str, Any], key: str, kind: type = str) -> bool:
    """Whether ``item[key]`` is given (not null) but of the wrong type."""
    value = item.get(key)
    return value is not None and not isinstance(value, kind)


def _if_complete(
    names: dict[str, int] | None, items: Any, key: str
) -> dict[str, int] | None:
    """``names`` when every item of the list has a usable ``key``, else None."""
    if names is None or not isinstance(items, list):
        return names
    if len(names) + _duplicates(items, key) < len(items):
        return None
    return names


def _duplicates(items: list[Any], key: str) -> int:
    seen: set[str] = set()
    count = 0
    for _, item in _dicts(items):
        name = _text(item, key)
        if name is not None:
            count += name in seen
            seen.add(name)
    return count


class _Checker:
    """The semantic checks; keeps what it compiled for the model builder."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.problems: list[Problem] = []
        self.mappings: dict[Parts, flowmap.Mapping] = {}
        self.filters: dict[Parts, flowmap.mapping.DataFilter] = {}
        constants = doc.get("constants")
        self.constants = constants if isinstance(constants, dict) else {}
        # A transition of the wrong type was seen (the schema pass reported
        # it): where the flow goes is unknown, so the graph is not judged.
        self.unreadable = False

    def add(self, parts: Parts, message: str, syntax: Any = None) -> None:
        if syntax is not None:
            self.problems.append(
                Problem(parts, message, syntax.expression, syntax.position)
            )
        else:
            self.problems.append(Problem(parts, message))

    def run(self) -> None:
        doc = self.doc
        functions = self._unique(
            doc.get("functions"), "functions", "name", "function name"
        )
        retries = self._unique(
            doc.get("retries"), "retries", "name", "retry policy name"
        )
        states = self._unique(doc.get("states"), "states", "id", "state id")
        start = _text(doc, "start")
        if states is None:
            return
        # An item without a usable name (the schema pass reported it) may be
        # the one a reference means: references into such a list are not
        # resolved, so that no second problem follows from the first.
        functions = _if_complete(functions, doc.get("functions"), "name")
        retries = _if_complete(retries, doc.get("retries"), "name")
        known = _if_complete(states, doc.get("states"), "id")
        # An empty or missing states list has no state the start can name.
        if known is not None and start is not None and start not in known:
            self.add(
                ("start",), f"no state has the id {start!r}" + _suggest(start, states)
            )
        edges: dict[str, list[str]] = {}
        # End states, and states whose way on was already reported as broken:
        # they count as ends so that no second problem follows from the first.
        ends: set[str] = set()
        express = doc.get("mode") == "EXPRESS"
        for i, state in _dicts(doc.get("states")):
            edges.setdefault(_text(state, "id") or f"#{i}", [])
            self._state(i, state, known, functions, retries, edges, ends, express)
        # The graph is only judged when every state and way on could be read.
        if known is not None and start in known and not self.unreadable:
            self._graph(start, known, edges, ends)

    def _unique(
        self, items: Any, field: str, key: str, what: str
    ) -> dict[str, int] | None:
        """Index the names of a list; None when the list itself is malformed
        (the schema pass reported it), so that references into it are not
        reported a second time."""
        if items is not None and not isinstance(items, list):
            return None
        seen: dict[str, int] = {}
        for i, item in _dicts(items):
            name = _text(item, key)
            if name is None:
                continue
            if name in seen:
                self.add(
                    (field, i, key),
                    f"the {what} {name!r} is already used by "
                    f"$.{field}[{seen[name]}]; {what}s must be unique",
                )
            else:
                seen[name] = i
        return seen

    def _state(
        self,
        i: int,
        state: dict[str, Any],
        states: dict[str, int] | None,
        functions: dict[str, int] | None,
        retries: dict[str, int] | None,
        edges: dict[str, list[str]],
        ends: set[str],
        express: bool,
    ) -> None:
        at: Parts = ("states", i)
        sid = _text(state, "id")
        targets = edges.setdefault(sid or f"#{i}", [])
        end = state.get("end") is True
        transition = _text(state, "transition")
        if _malformed(state, "transition"):
            self.unreadable = True
        if _malformed(state, "end", bool) or _malformed(state, "transition"):
            # The schema pass reported it: whether the state ends, or where
            # it goes, is unknown, so nothing more is said about its way on.
            if sid is not None:
                ends.add(sid)
        elif end:
            if sid is not None:
                ends.add(sid)
            if transition is not None:
                self.add(
                    (*at, "transition"),
                    "an end state (end: true) has no transition; remove one of them",
                )
        elif transition is None:
            if sid is not None:
                ends.add(sid)
            self.add(
                at,
                "the state is not an end state and has no transition; "
                'set "end": true or a "transition"',
            )
        if transition is not None:
            targets.append(transition)
            if (states is None or transition not in states) and sid is not None:
                ends.add(sid)
            self._resolve((*at, "transition"), transition, states, "state", "id")
        kind = state.get("type")
        if kind == "Sleep":
            duration = state.get("duration")
            if (
                express
                and isinstance(duration, int | float)
                and not isinstance(duration, bool)
                and duration > EXPRESS_LIMIT
            ):
                self.add(
                    (*at, "duration"),
                    f"an EXPRESS flow must finish within {EXPRESS_LIMIT} seconds; "
                    f"this Sleep alone takes {duration}",
                )
        if kind == "Sleep" or (
            kind != "Operation" and not isinstance(state.get("actions"), list)
        ):
            # A state whose type is missing or unknown (the schema pass
            # reported it) but that has actions is checked as the Operation
            # it most likely is.
            return
        for k, action in _dicts(state.get("actions")):
            ref = action.get("function_ref")
            if not isinstance(ref, dict):
                continue
            ref_at: Parts = (*at, "actions", k, "function_ref")
            name = _text(ref, "ref_name")
            if name is not None:
                self._resolve(
                    (*ref_at, "ref_name"), name, functions, "function", "name"
                )
            if ref.get("arguments") is not None:
                self._arguments((*ref_at, "arguments"), ref["arguments"])
        catch_all: int | None = None
        seen_errors: dict[str, int] = {}
        for k, handler in _dicts(state.get("on_errors")):
            h_at: Parts = (*at, "on_errors", k)
            error = _text(handler, "error")
            if error is not None:
                if catch_all is not None:
                    self.add(
                        (*h_at, "error"),
                        f"never applies: on_errors[{catch_all}] before it matches "
                        "every error ('*')",
                    )
                elif error in seen_errors:
                    self.add(
                        (*h_at, "error"),
                        f"never applies: on_errors[{seen_errors[error]}] before it "
                        f"matches {error!r} too",
                    )
                seen_errors.setdefault(error, k)
                if error == "*" and catch_all is None:
                    catch_all = k
            target = _text(handler, "transition")
            retry = _text(handler, "retry_ref")
            if _malformed(handler, "transition"):
                self.unreadable = True
            if target is not None:
                targets.append(target)
                self._resolve((*h_at, "transition"), target, states, "state", "id")
            if retry is not None:
                self._resolve(
                    (*h_at, "retry_ref"), retry, retries, "retry policy", "name"
                )
            if (
                target is None
                and retry is None
                and not _malformed(handler, "transition")
                and not _malformed(handler, "retry_ref")
            ):
                self.add(
                    h_at,
                    "the handler does nothing: give it a transition, a retry_ref "
                    "or both",
                )
        sdf = state.get("state_data_filter")
        if isinstance(sdf, dict):
            for key in ("input", "output"):
                expression = sdf.get(key)
                if isinstance(expression, str):
                    self._filter((*at, "state_data_filter", key), expression)

    def _resolve(
        self,
        parts: Parts,
        name: str,
        known: dict[str, int] | None,
        what: str,
        key: str,
    ) -> None:
        if known is not None and name not in known:
            self.add(parts, f"no {what} has the {key} {name!r}" + _suggest(name, known))

    def _arguments(self, parts: Parts, spec: Any) -> None:
        try:
            mapping = flowmap.compile_mapping(spec)
        except flowmap.MappingError as first:
            # compile_mapping stops at the first problem: list them all (a
            # good definition never pays for this).
            errors = flowmap.mapping.mapping_errors(spec) or [first]
            bad: set[Parts] = set()
            for exc in errors:
                where = parts if exc.location is None else (*parts, *exc.location)
                bad.add(where)
                syntax = exc.syntax_error
                message = exc.reason
                if syntax is not None:
                    message += f": {syntax.reason}"
                self.add(where, message, syntax)
            parameters = _parameter_form(spec)
            self._constants(parts, spec, parameters=parameters, skip=bad)
            return
        self.mappings[parts] = mapping
        self._constants(parts, spec, parameters=mapping.form == "parameters")

    def _constants(
        self,
        parts: Parts,
        spec: Any,
        *,
        parameters: bool,
        skip: set[Parts] | frozenset[Parts] = frozenset(),
    ) -> None:
        """Check the $CONST leaves of the arguments at ``parts``.

        ``skip`` holds the locations already reported as malformed: neither
        they nor what is under them is checked again.
        """
        if parameters:
            for j, item in enumerate(spec):
                if (
                    isinstance(item, dict)
                    and "value" in item
                    and "default" not in item
                    and not self._skipped((*parts, j), skip)
                ):
                    self._leaves((*parts, j, "value"), item["value"], skip)
        else:
            self._leaves(parts, spec, skip)

    @staticmethod
    def _skipped(where: Parts, skip: set[Parts] | frozenset[Parts]) -> bool:
        return any(where[: n + 1] in skip for n in range(len(where)))

    def _leaves(
        self, parts: Parts, spec: Any, skip: set[Parts] | frozenset[Parts]
    ) -> None:
        stack: list[tuple[Parts, Any]] = [(parts, spec)]
        while stack:
            where, value = stack.pop()
            if skip and where in skip:
                continue
            if isinstance(value, dict):
                stack.extend(((*where, k), v) for k, v in value.items())
            elif isinstance(value, list):
                stack.extend(((*where, j), v) for j, v in enumerate(value))
            else:
                self._constant(where, value)

    def _constant(self, parts: Parts, leaf: Any) -> None:
        """A leaf that is one singular $CONST path must find its constant."""
        if not isinstance(leaf, str) or not leaf.startswith("$CONST"):
            return
        rest = leaf[len("$CONST") :]
        if rest[:1] not in ("", ".", "["):
            return
        try:
            query = flowmap.compile("$" + rest)
        except flowmap.JSONPathSyntaxError:
            return  # alternatives ("$CONST.a | 'x'"): the mapping compiled it
        if query.singular and not query.find(self.constants):
            self.add(
                parts,
                f"{leaf!r} has no value in the definition's constants and no "
                "default; add the constant or a fallback ('| ...')",
            )

    def _filter(self, parts: Parts, expression: str) -> None:
        try:
            compiled = flowmap.compile_filter(expression)
            # "" and "$" select the whole data: the model says so with None.
            if compiled.query is not None:
                self.filters[parts] = compiled
        except flowmap.MappingError as exc:
            syntax = exc.syntax_error
            message = exc.reason
            if syntax is not None:
                message += f": {syntax.reason}"
            self.add(parts, message, syntax)

    def _graph(
        self,
        start: str,
        states: dict[str, int],
        edges: dict[str, list[str]],
        ends: set[str],
    ) -> None:
        reached = {start}
        todo = [start]
        while todo:
            for target in edges.get(todo.pop(), ()):
                if target in states and target not in reached:
                    reached.add(target)
                    todo.append(target)
        back: dict[str, list[str]] = {}
        for source, targets in edges.items():
            for target in targets:
                back.setdefault(target, []).append(source)
        finishing = set(ends)
        todo = list(ends)
        while todo:
            for source in back.get(todo.pop(), ()):
                if source not in finishing:
                    finishing.add(source)
                    todo.append(source)
        for sid, i in states.items():
            if sid not in reached:
                self.add(
                    ("states", i),
                    f"the state {sid!r} is unreachable: no transition from the start "
                    f"state {start!r} leads to it",
                )
            elif sid not in finishing:
                self.add(
                    ("states", i),
                    f"no end state can be reached from the state {sid!r}: "
                    "an execution that gets here never finishes",
                )


def _parameter_form(spec: Any) -> bool:
    """Whether compile_mapping reads ``spec`` in the parameter form (its
    documented ``form="auto"`` rule: a non-empty list of objects that all
    have ``key`` and ``value``)."""
    return (
        isinstance(spec, list)
        and bool(spec)
        and all(isinstance(i, dict) and "key" in i and "value" in i for i in spec)
    )


# --- the model -------------------------------------------------------------


def _build(doc: dict[str, Any], checker: _Checker) -> Definition:
    functions = tuple(
        FunctionDef(
            f["name"],
            f["operation"],
            None if f.get("metadata") is None else _dump(f["metadata"]),
        )
        for f in doc.get("functions") or ()
    )
    retries = tuple(
        RetryPolicy(
            r["name"],
            1 if r.get("delay") is None else r["delay"],
            # JSON Schema counts 3.0 as an integer; the model holds an int.
            3 if r.get("max_attempts") is None else int(r["max_attempts"]),
        )
        for r in doc.get("retries") or ()
    )
    states = tuple(_build_state(i, s, checker) for i, s in enumerate(doc["states"]))
    extra = {k: doc[k] for k in EXTRA_FIELDS if doc.get(k) is not None}
    return Definition(
        name=doc["name"],
        start=doc["start"],
        states=states,
        functions=functions,
        description=doc.get("description") or "",
        retries=retries,
        mode=doc.get("mode") or "NORMAL",
        constants_json=_dump(doc.get("constants") or {}),
        extra_json=_dump(extra),
    )


def _build_state(i: int, s: dict[str, Any], checker: _Checker) -> State:
    end = s.get("end") is True
    transition = None if end else s.get("transition")
    if s["type"] == "Sleep":
        return SleepState(s["id"], s["name"], end, transition, s["duration"])
    actions = []
    for k, a in enumerate(s["actions"]):
        ref = a["function_ref"]
        args = ref.get("arguments")
        at = ("states", i, "actions", k, "function_ref", "arguments")
        actions.append(
            Action(
                FunctionRef(
                    ref["ref_name"],
                    "sync",
                    None if args is None else _dump(args),
                ),
                checker.mappings.get(at),
            )
        )
    sdf = s.get("state_data_filter") or {}
    inp, out = sdf.get("input"), sdf.get("output")
    return OperationState(
        id=s["id"],
        name=s["name"],
        end=end,
        transition=transition,
        action_mode=s.get("action_mode") or "sequential",
        actions=tuple(actions),
        on_errors=tuple(
            OnError(e["error"], e.get("transition") or None, e.get("retry_ref") or None)
            for e in s.get("on_errors") or ()
        ),
        input_filter=checker.filters.get(("states", i, "state_data_filter", "input")),
        output_filter=checker.filters.get(("states", i, "state_data_filter", "output")),
        input_expression=inp,
        output_expression=out,
    )
