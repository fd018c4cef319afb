"""Errors of running flows (definitions have :class:`DefinitionError`)."""

from __future__ import annotations

from ..errors import FlowmapError

__all__ = [
    "ExecutionInputError",
    "ExecutionNotFoundError",
    "ExecutionStateError",
    "FunctionLoadError",
    "FunctionNotFoundError",
    "StoreError",
    "WorkflowNotFoundError",
]


class ExecutionNotFoundError(FlowmapError, KeyError):
    """No execution has this id (in this project).

    >>> print(ExecutionNotFoundError("e1"))
    no execution 'e1'
    """

    def __init__(self, execution_id: str) -> None:
        super().__init__(execution_id)
        self.execution_id = execution_id

    def __str__(self) -> str:
        return f"no execution {self.execution_id!r}"

    def __repr__(self) -> str:
        return f"ExecutionNotFoundError({self.execution_id!r})"


class WorkflowNotFoundError(FlowmapError, KeyError):
    """No workflow has this id (in this project).

    >>> print(WorkflowNotFoundError("w1"))
    no workflow 'w1'
    """

    def __init__(self, workflow_id: str) -> None:
        super().__init__(workflow_id)
        self.workflow_id = workflow_id

    def __str__(self) -> str:
        return f"no workflow {self.workflow_id!r}"

    def __repr__(self) -> str:
        return f"WorkflowNotFoundError({self.workflow_id!r})"


class ExecutionStateError(FlowmapError, ValueError):
    """An operation that the execution's status does not allow.

    ``execution_id``, ``status`` (what it is) and ``action`` (what was asked).

    >>> print(ExecutionStateError("e1", "success", "retry"))
    cannot retry execution 'e1': its status is 'success'
    """

    def __init__(self, execution_id: str, status: str, action: str) -> None:
        super().__init__(execution_id, status, action)
        self.execution_id = execution_id
        self.status = status
        self.action = action

    def __str__(self) -> str:
        return (
            f"cannot {self.action} execution {self.execution_id!r}: "
            f"its status is {self.status!r}"
        )

    def __repr__(self) -> str:
        return (
            f"ExecutionStateError({self.execution_id!r}, {self.status!r}, "
            f"{self.action!r})"
        )


class FunctionNotFoundError(FlowmapError, LookupError):
    """Functions a flow calls that the registry does not have.

    ``names`` lists each missing function as ``name (operation URN)``.

    >>> print(FunctionNotFoundError(["greeter (urn:fss:r:p:function:default:g)"]))
    no handler registered for function greeter (urn:fss:r:p:function:default:g)
    """

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.names = list(names)

    def __str__(self) -> str:
        plural = "s" if len(self.names) > 1 else ""
        return f"no handler registered for function{plural} " + ", ".join(self.names)

    def __repr__(self) -> str:
        return f"FunctionNotFoundError({self.names!r})"


class FunctionLoadError(FlowmapError, ImportError):
    """A functions module that cannot be loaded; ``source`` names it.

    >>> print(FunctionLoadError("h.py", "no such file"))
    cannot load functions from h.py: no such file
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(source, reason)
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot load functions from {self.source}: {self.reason}"

    def __repr__(self) -> str:
        return f"FunctionLoadError({self.source!r}, {self.reason!r})"


class ExecutionInputError(FlowmapError, ValueError):
    """An execution's input or headers (or a list filter) that is not usable.

    ``field`` names what was wrong and ``reason`` says how.

    >>> print(ExecutionInputError("input", "must be an object, not an array"))
    input must be an object, not an array
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field} {self.reason}"

    def __repr__(self) -> str:
        return f"ExecutionInputError({self.field!r}, {self.reason!r})"


class StoreError(FlowmapError):
    """The database cannot be used as asked; the text says why and what to do.

    ``path`` is the database file it is about, when there is one.

    >>> error = StoreError("cannot open the SQLite store", path="/x/f.db")
    >>> error.path, repr(error)
    ('/x/f.db', "StoreError('cannot open the SQLite store')")
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def __repr__(self) -> str:
        return f"StoreError({str(self)!r})"
