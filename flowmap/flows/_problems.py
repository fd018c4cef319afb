"""DefinitionError and the located problems it lists."""

from __future__ import annotations

from dataclasses import dataclass

from flowmap import FlowmapError
from flowmap.errors import render_caret, render_location

__all__ = ["DefinitionError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a flow definition.

    ``location`` is where it is, as a JSONPath over the definition
    (``$.states[2].actions[0].function_ref.arguments.user``); ``parts`` is the
    same location as a tuple of keys and indexes. For a bad expression,
    ``expression`` is its text and ``position`` the 0-based index of the
    fault in it, which ``str()`` shows with a caret.

    >>> p = Problem(("states", 0, "transition"), "no state has the id 'nxt'")
    >>> p.location
    '$.states[0].transition'
    >>> print(p)
    $.states[0].transition: no state has the id 'nxt'
    """

    parts: tuple[str | int, ...]
    message: str
    expression: str | None = None
    position: int | None = None

    @property
    def location(self) -> str:
        """The location rendered as a JSONPath."""
        return render_location(self.parts)

    def to_json(self) -> dict[str, object]:
        """The problem as a JSON object (for error bodies and reports)."""
        out: dict[str, object] = {"location": self.location, "message": self.message}
        if self.expression is not None:
            out["expression"] = self.expression
            out["position"] = self.position
        return out

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.expression is not None and self.position is not None:
            text += "\n" + render_caret(self.expression, self.position, indent="    ")
        return text


class DefinitionError(FlowmapError, ValueError):
    """A flow definition with problems; ``problems`` lists every one of them.

    >>> err = DefinitionError([Problem(("start",), "no state has the id 'a'")])
    >>> err.problems[0].location
    '$.start'
    >>> print(err)
    the flow definition has 1 problem:
      $.start: no state has the id 'a'
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        super().__init__(tuple(problems))
        self.problems: tuple[Problem, ...] = tuple(problems)

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"the flow definition has {count} problem{'s' if count != 1 else ''}:"
        body = "\n".join(
            "  " + str(problem).replace("\n", "\n  ") for problem in self.problems
        )
        return f"{head}\n{body}"

    def __repr__(self) -> str:
        return f"DefinitionError({list(self.problems)!r})"
