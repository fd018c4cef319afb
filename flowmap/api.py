"""The request and response contract of the seed's API.

``POST /v2/{project_id}/fgs/workflows/{workflow_id}/executions`` with the
body ``{"headers": {...}, "input": {...}}`` starts an execution and answers
``{"execution_id": "<uuid>"}``. :func:`parse_start_request` checks such a
request exactly as the seed states it and returns a typed
:class:`StartRequest`; every refusal is an :class:`ApiError` whose
:meth:`ApiError.body` is the wire form ``{"error_code", "error_msg"}``.

The error codes are stable (see docs/flows.md, "Request contract and error
codes"): a code, once published, keeps its meaning.

>>> req = parse_start_request(
...     {"project_id": "p1", "workflow_id": "wf"},
...     {"x-workflowrun-mergefnparameters": "TRUE"},
...     b'{"input": {"a": 1}}',
... )
>>> req.input, req.merge, req.headers
({'a': 1}, True, {})
>>> try:
...     parse_start_request({"project_id": "p1", "workflow_id": "wf"}, {}, b"{}")
... except ApiError as err:
...     print(err.status, err.body())
400 {'error_code': 'FLOWMAP.1003', 'error_msg': 'the body has no "input" field'}
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .errors import FlowmapError, MergeOptionError, json_kind
from .flows._text import bad_text, text_fault
from .merging import parse_merge_header

__all__ = [
    "ERROR_CODES",
    "ApiError",
    "StartRequest",
    "parse_start_request",
    "start_response_body",
]

# code -> (HTTP status, what it means). Codes are stable; new ones are added,
# existing ones never change meaning. The server adds its own in this style.
ERROR_CODES: MappingABC[str, tuple[int, str]] = MappingProxyType(
    {
        "FLOWMAP.1001": (400, "the body is not valid JSON"),
        "FLOWMAP.1002": (400, "the body is not a JSON object"),
        "FLOWMAP.1003": (400, "a mandatory field is missing"),
        "FLOWMAP.1004": (400, "a field has the wrong type"),
        "FLOWMAP.1005": (400, "the body has a field the API does not define"),
        "FLOWMAP.1006": (400, "a path parameter is missing or out of range"),
        "FLOWMAP.1007": (400, "a header has an invalid value"),
        "FLOWMAP.1008": (400, "the flow definition is invalid"),
        "FLOWMAP.4040": (404, "no such workflow"),
        "FLOWMAP.4041": (404, "no such execution"),
        "FLOWMAP.4042": (404, "no such project"),
        "FLOWMAP.5000": (500, "internal error"),
    }
)

CODE_MIN, CODE_MAX = 1, 36
MSG_MIN, MSG_MAX = 2, 512
PROJECT_ID_MAX = 64
WORKFLOW_ID_MAX = 512

MERGE_HEADER = "x-workflowrun-mergefnparameters"
RUN_ID_HEADER = "x-workflowrun-id"
CREATE_TIME_HEADER = "x-create-time"
_HEADER_NAMES = {
    MERGE_HEADER: "X-WorkflowRun-MergeFnParameters",
    RUN_ID_HEADER: "X-WorkflowRun-ID",
    CREATE_TIME_HEADER: "X-Create-Time",
}
_BODY_FIELDS = ("headers", "input")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unicode(text: str) -> str:
    """``text`` with lone surrogates (not Unicode) written as escapes."""
    if text.isascii() or bad_text(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _show(value: str, limit: int = 64) -> str:
    """A user's value quoted for a message, clipped so messages stay bounded."""
    return repr(_clip(value, limit))


class ApiError(FlowmapError):
    """A refused request: an HTTP ``status`` and the wire body's two fields.

    ``body()`` gives ``{"error_code", "error_msg"}`` within the seed's limits
    (code 1-36 characters, message 2-512: longer messages are clipped).

    >>> err = ApiError(404, "FLOWMAP.4040", "no workflow has the id 'wf'")
    >>> err.body()
    {'error_code': 'FLOWMAP.4040', 'error_msg': "no workflow has the id 'wf'"}
    >>> len(ApiError(400, "FLOWMAP.1004", "x" * 1000).body()["error_msg"])
    512
    """

    def __init__(
        self,
        status: int,
        error_code: str,
        error_msg: str,
        *,
        field: str | None = None,
    ) -> None:
        if not CODE_MIN <= len(error_code) <= CODE_MAX:
            raise ValueError(f"error_code must have 1-36 characters: {error_code!r}")
        if not 400 <= status <= 599:
            raise ValueError(f"an API error has a 4xx or 5xx status, not {status}")
        super().__init__(status, error_code, error_msg)
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.field = field

    def body(self) -> dict[str, str]:
        """The wire body ``{"error_code", "error_msg"}``, within the seed's limits.

        A message shorter than 2 characters is kept after the code's meaning
        (``"the body is not valid JSON: x"``); text that is not Unicode (a
        lone surrogate) is shown as its escape, so the body can always be
        sent as UTF-8.

        >>> ApiError(400, "FLOWMAP.1001", "x").body()["error_msg"]
        'the body is not valid JSON: x'
        >>> ApiError(400, "FLOWMAP.1004", "bad " + chr(0xD800)).body()["error_msg"]
        'bad \\\\ud800'
        """
        msg = _unicode(self.error_msg)
        if len(msg) < MSG_MIN:
            meaning = ERROR_CODES.get(self.error_code, (0, "error"))[1]
            msg = f"{meaning}: {msg}" if msg else meaning
        return {
            "error_code": _unicode(self.error_code),
            "error_msg": _clip(msg, MSG_MAX),
        }

    def __str__(self) -> str:
        return f"{self.status} {self.error_code}: {self.error_msg}"

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.error_code!r}, {self.error_msg!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_api_error, (self.status, self.error_code, self.error_msg, self.field))

    @classmethod
    def workflow_not_found(cls, workflow_id: str) -> ApiError:
        """404 for an unknown (or another project's) workflow."""
        return cls(404, "FLOWMAP.4040", f"no workflow has the id {_show(workflow_id)}")

    @classmethod
    def execution_not_found(cls, execution_id: str) -> ApiError:
        """404 for an unknown (or another project's) execution."""
        return cls(
            404, "FLOWMAP.4041", f"no execution has the id {_show(execution_id)}"
        )

    @classmethod
    def project_not_found(cls, project_id: str) -> ApiError:
        """404 for an unknown project."""
        return cls(404, "FLOWMAP.4042", f"no project has the id {_show(project_id)}")

    @classmethod
    def internal(cls, reference: str | None = None) -> ApiError:
        """500 for a defect; the message never carries internal detail."""
        msg = "internal error"
        if reference:
            msg += f"; the server log has the details under {reference}"
        return cls(500, "FLOWMAP.5000", msg)

    @classmethod
    def invalid_definition(cls, error: FlowmapError) -> ApiError:
        """400 for a flow definition refused by ``load_definition``.

        The message lists as many of the problems as fit in 512 characters.
        """
        problems = getattr(error, "problems", None)
        if not problems:
            return cls(400, "FLOWMAP.1008", f"invalid flow definition: {error}")
        parts = [f"{p.location}: {p.message}" for p in problems]
        head = f"invalid flow definition ({len(parts)} problem"
        head += "s): " if len(parts) != 1 else "): "
        text = head + "; ".join(parts)
        return cls(400, "FLOWMAP.1008", text, field=problems[0].location)


def _api_error(status: int, code: str, msg: str, field: str | None) -> ApiError:
    return ApiError(status, code, msg, field=field)


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A checked request to start an execution.

    ``input`` and ``headers`` are the body's objects (``headers`` is ``{}``
    when the body has none); ``merge`` is the
    ``X-WorkflowRun-MergeFnParameters`` header; ``workflow_run_id`` and
    ``create_time`` are the ``X-WorkflowRun-ID`` and ``X-Create-Time``
    headers as sent (None when absent or empty).
    """

    project_id: str
    workflow_id: str
    input: dict[str, Any]
    headers: dict[str, Any]
    merge: bool = False
    workflow_run_id: str | None = None
    create_time: str | None = None


def _text(value: str | bytes) -> str:
    # HTTP header bytes are Latin-1 by RFC 9110's rules for obsolete text.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _read_headers(
    headers: MappingABC[str, str] | Iterable[tuple[str | bytes, str | bytes]] | None,
) -> dict[str, str]:
    if headers is None:
        return {}
    try:
        items = builtins.list(
            headers.items() if isinstance(headers, MappingABC) else headers
        )
        pairs = [(raw_name, raw_value) for raw_name, raw_value in items]
    except (TypeError, ValueError):
        raise ApiError(
            400,
            "FLOWMAP.1007",
            "the headers must be a mapping or a list of (name, value) pairs, "
            f"not {type(headers).__name__}",
        ) from None
    seen: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        if not isinstance(raw_name, str | bytes) or not isinstance(
            raw_value, str | bytes
        ):
            raise ApiError(
                400,
                "FLOWMAP.1007",
                "a header's name and value must be text or bytes, not "
                f"{type(raw_name).__name__} and {type(raw_value).__name__}",
            )
        name = _text(raw_name).lower()
        if name not in _HEADER_NAMES:
            continue
        value = _text(raw_value)
        reason = bad_text(value, nul=True)
        if reason is not None:
            raise ApiError(
                400,
                "FLOWMAP.1007",
                f"the {_HEADER_NAMES[name]} header cannot be stored: {reason}",
                field=_HEADER_NAMES[name],
            )
        if name in seen and seen[name] != value:
            raise ApiError(
                400,
                "FLOWMAP.1007",
                f"the {_HEADER_NAMES[name]} header is given twice with different "
                f"values ({_show(seen[name])} and {_show(value)})",
                field=_HEADER_NAMES[name],
            )
        seen[name] = value
    return seen


def path_param(params: MappingABC[str, str], name: str, limit: int) -> str:
    """``params[name]``, checked: 1 to ``limit`` characters of text a store
    keeps (:class:`ApiError` ``FLOWMAP.1006`` naming the parameter otherwise)."""
    if not isinstance(params, MappingABC):
        raise ApiError(
            400,
            "FLOWMAP.1006",
            f"the path parameters must be a mapping, not {type(params).__name__}",
        )
    value = params.get(name)
    if value is None:
        raise ApiError(400, "FLOWMAP.1006", f"the path has no {name}", field=name)
    if not isinstance(value, str):
        raise ApiError(400, "FLOWMAP.1006", f"{name} must be a string", field=name)
    if not 1 <= len(value) <= limit:
        raise ApiError(
            400,
            "FLOWMAP.1006",
            f"{name} must have 1 to {limit} characters, not {len(value)}",
            field=name,
        )
    reason = bad_text(value, nul=True)
    if reason is not None:
        raise ApiError(
            400, "FLOWMAP.1006", f"{name} cannot be stored: {reason}", field=name
        )
    return value


# read_json and path_param are also the server's (flowmap.server reads every
# request body and path id with them, so each route words a fault alike); they
# are not in __all__.


class RepeatedKeyError(ValueError):
    """JSON text repeats ``key`` in one object (see :func:`strict_loads`)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def strict_loads(text: str) -> Any:
    """:func:`json.loads` that refuses repeated keys, ``NaN`` and ``Infinity``.

    A repeated key raises :class:`RepeatedKeyError`; bad syntax
    :class:`json.JSONDecodeError`; ``NaN``, ``Infinity`` or an integer beyond
    the interpreter's digit limit :class:`ValueError`; too deep a nesting
    :class:`RecursionError`. Callers turn each into their own error.

    >>> strict_loads('{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    >>> strict_loads('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    flowmap.api.RepeatedKeyError: a
    """
    return json.loads(
        text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
    )


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RepeatedKeyError(key)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _read_body(body: bytes | bytearray | str | MappingABC[str, Any] | None) -> Any:
    if isinstance(body, MappingABC):
        return body
    if not isinstance(body, bytes | bytearray | str):
        # An already parsed body that is not an object (a list, null...).
        return body
    return read_json(body)


def read_json(body: bytes | bytearray | str) -> Any:
    """A request body's JSON (:func:`strict_loads`); :class:`ApiError`
    ``FLOWMAP.1001`` naming the byte, key or position when it is not JSON."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            "FLOWMAP.1001",
            f"the body is not valid UTF-8 (byte {exc.start}); send JSON in UTF-8",
        ) from None
    try:
        return strict_loads(text)
    except RepeatedKeyError as exc:
        raise ApiError(
            400,
            "FLOWMAP.1001",
            f"the body's JSON repeats the key {_show(exc.key)} in one object",
        ) from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "FLOWMAP.1001",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}",
        ) from None
    except RecursionError:
        raise ApiError(
            400, "FLOWMAP.1001", "the body's JSON is nested too deeply"
        ) from None
    except ValueError as exc:
        # NaN/Infinity, or an integer beyond the interpreter's digit limit.
        raise ApiError(
            400, "FLOWMAP.1001", f"the body is not valid JSON: {exc}"
        ) from None


def parse_start_request(
    path_params: MappingABC[str, str],
    headers: MappingABC[str, str] | Iterable[tuple[str | bytes, str | bytes]] | None,
    body: bytes | bytearray | str | MappingABC[str, Any] | None,
) -> StartRequest:
    """Check a start-execution request and return it typed.

    ``path_params`` holds ``project_id`` (1-64 characters) and ``workflow_id``
    (1-512). ``headers`` is a mapping or a list of (name, value) pairs
    (str or Latin-1 bytes), or None for none; names are matched in any
    case, other headers are ignored. ``body`` is the raw body (bytes or
    text, parsed as strict JSON: no NaN, no repeated keys) or an already
    parsed value. Text that no store can keep is refused where it is: a lone
    surrogate in any string of the body (``$.input.a: a lone surrogate
    U+D800 is not Unicode text``), a lone surrogate or NUL in a path
    parameter or a header read. Raises :class:`ApiError` (400) naming the
    field at fault, and nothing else.

    >>> parse_start_request(
    ...     {"project_id": "p1", "workflow_id": "wf"}, {}, b'{"input": []}'
    ... )
    Traceback (most recent call last):
      ...
    flowmap.api.ApiError: 400 FLOWMAP.1004: "input" must be an object, not an array
    """
    project_id = path_param(path_params, "project_id", PROJECT_ID_MAX)
    workflow_id = path_param(path_params, "workflow_id", WORKFLOW_ID_MAX)
    seen = _read_headers(headers)
    try:
        merge = parse_merge_header(seen.get(MERGE_HEADER))
    except MergeOptionError:
        raise ApiError(
            400,
            "FLOWMAP.1007",
            f"the X-WorkflowRun-MergeFnParameters header must be 'true' or "
            f"'false' (in any case) or empty, not {_show(seen[MERGE_HEADER])}",
            field="X-WorkflowRun-MergeFnParameters",
        ) from None
    parsed = _read_body(body)
    if not isinstance(parsed, MappingABC):
        raise ApiError(
            400,
            "FLOWMAP.1002",
            f"the body must be a JSON object, not {json_kind(parsed)}",
        )
    unknown = [key for key in parsed if key not in _BODY_FIELDS]
    if unknown:
        raise ApiError(
            400,
            "FLOWMAP.1005",
            f"the body has the field {_show(str(unknown[0]))}; a start request "
            'has only "input" and "headers"',
            field=str(unknown[0]),
        )
    if "input" not in parsed:
        raise ApiError(
            400, "FLOWMAP.1003", 'the body has no "input" field', field="input"
        )
    data = parsed["input"]
    if not isinstance(data, dict):
        raise ApiError(
            400,
            "FLOWMAP.1004",
            f'"input" must be an object, not {json_kind(data)}',
            field="input",
        )
    extra = parsed.get("headers")
    if extra is None:
        extra = {}
    elif not isinstance(extra, dict):
        raise ApiError(
            400,
            "FLOWMAP.1004",
            f'"headers" must be an object, not {json_kind(extra)}',
            field="headers",
        )
    for field, value in (("input", data), ("headers", extra)):
        try:
            fault = text_fault(value, f"$.{field}")
        except RecursionError:
            raise ApiError(
                400, "FLOWMAP.1001", "the body's JSON is nested too deeply"
            ) from None
        if fault is not None:
            raise ApiError(
                400,
                "FLOWMAP.1004",
                f"{fault[0]}: {fault[1]}",
                field=fault[0],
            )
    return StartRequest(
        project_id=project_id,
        workflow_id=workflow_id,
        input=data,
        headers=extra,
        merge=merge,
        workflow_run_id=seen.get(RUN_ID_HEADER) or None,
        create_time=seen.get(CREATE_TIME_HEADER) or None,
    )


def start_response_body(execution_id: str) -> dict[str, str]:
    """The success body of a start request.

    >>> start_response_body("0b0d8f0e-56a3-4c0e-9b0c-5d1f6f1f2a3b")
    {'execution_id': '0b0d8f0e-56a3-4c0e-9b0c-5d1f6f1f2a3b'}
    """
    return {"execution_id": execution_id}
