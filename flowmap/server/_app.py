"""The ASGI application: FunctionGraph's flow routes on a :class:`Backend`.

:func:`create_app` builds one application from its dependencies (no module
globals), so a test builds one per case. Bodies, field names and time
formats follow the official SDK's models (``huaweicloudsdkfunctiongraph``
v2): workflow and execution times as ``yyyy-MM-ddTHH:mm:ssZ`` (UTC), node
times as epoch milliseconds.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api import PROJECT_ID_MAX, WORKFLOW_ID_MAX, path_param
from ..flows import Runner
from ..flows._text import bad_text
from ._errors import (
    BAD_QUERY,
    BAD_TYPE,
    METHOD_NOT_ALLOWED,
    NO_ROUTE,
    NOT_OBJECT,
    ApiError,
)
from ._http import (
    DEFAULT_MAX_BODY,
    Call,
    Settings,
    endpoint,
    error_response,
    json_response,
)
from ._openapi import openapi_document
from ._signature import KeyRing

__all__ = ["Backend", "create_app"]

RawHeaders = list[tuple[bytes, bytes]]
ExecutionStatus = Literal["running", "success", "fail", "timeout", "cancel"]
STATUSES: tuple[str, ...] = ("running", "success", "fail", "timeout", "cancel")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_LIST_WINDOW = timedelta(days=3)


class Backend(Protocol):
    """What the routes need: workflows, executions, and a life cycle.

    :class:`flowmap.server.RunnerBackend` adapts the flows runner to it.
    Every method is scoped by project: another project's ids are unknown.
    Methods raise :class:`ApiError` for what the caller got wrong.
    """

    async def startup(self) -> None: ...
    def begin_shutdown(self) -> None: ...
    async def shutdown(self) -> None: ...

    async def create_workflow(self, project_id: str, body: Any) -> dict[str, Any]: ...
    async def list_workflows(
        self, project_id: str, *, name: str | None, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]: ...
    async def get_workflow(
        self, project_id: str, workflow_id: str
    ) -> dict[str, Any]: ...
    async def update_workflow(
        self, project_id: str, workflow_id: str, body: Any
    ) -> dict[str, Any]: ...
    async def delete_workflow(self, project_id: str, workflow_id: str) -> None: ...
    async def delete_workflows(
        self, project_id: str, workflow_urns: list[str]
    ) -> dict[str, Any]: ...

    async def start(
        self, path_params: Mapping[str, str], headers: RawHeaders, body: bytes
    ) -> str: ...
    async def run_sync(
        self, path_params: Mapping[str, str], headers: RawHeaders, body: bytes
    ) -> dict[str, Any]: ...
    async def list_executions(
        self,
        project_id: str,
        workflow_id: str,
        *,
        status: str | None,
        start_time: datetime,
        end_time: datetime,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]: ...
    async def get_execution(
        self, project_id: str, workflow_id: str, execution_id: str
    ) -> dict[str, Any]: ...
    async def retry(
        self, project_id: str, workflow_id: str, execution_id: str
    ) -> None: ...
    async def terminate(
        self, project_id: str, workflow_id: str, execution_id: str
    ) -> None: ...


def create_app(
    runner: Runner | Backend,
    *,
    credentials: KeyRing | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    region: str = "local",
    shutdown_grace: float = 10.0,
) -> Starlette:
    """The ASGI application serving a flows runner over FunctionGraph's routes.

    ``runner`` is a :class:`~flowmap.flows.Runner` (served through a
    :class:`RunnerBackend`; its store is closed when the app shuts down) or
    any :class:`Backend`. With ``credentials`` every request must be signed
    by one of its keys and may touch that key's project only.
    ``max_body_bytes`` bounds request bodies (413 beyond); ``region`` goes
    into workflow URNs; ``shutdown_grace`` is how long shutting down waits
    for running executions before checkpointing them.

    >>> from flowmap.flows import Runner
    >>> app = create_app(Runner({}))
    >>> [route.path for route in app.routes][:2]
    ['/v2/{project_id}/fgs/workflows', '/v2/{project_id}/fgs/workflows/{workflow_id}']
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be positive, not {max_body_bytes}")
    backend: Backend
    if isinstance(runner, Runner):
        from ._backend import RunnerBackend

        backend = RunnerBackend(runner, region=region, shutdown_grace=shutdown_grace)
    else:
        backend = runner
    settings = Settings(credentials=credentials, max_body_bytes=max_body_bytes)
    routes = _Routes(backend, settings)
    base = "/v2/{project_id}/fgs/workflows"
    table: list[tuple[str, str, Any]] = [
        (base, "POST", routes.create_workflow),
        (base, "GET", routes.list_workflows),
        (base, "DELETE", routes.delete_workflows),
        (base + "/{workflow_id}", "GET", routes.get_workflow),
        (base + "/{workflow_id}", "PUT", routes.update_workflow),
        (base + "/{workflow_id}", "DELETE", routes.delete_workflow),
        (base + "/{workflow_id}/executions", "POST", routes.start),
        (base + "/{workflow_id}/executions", "GET", routes.list_executions),
        (base + "/{workflow_id}/sync-executions", "POST", routes.run_sync),
        (
            base + "/{workflow_id}/executions/{execution_id}",
            "GET",
            routes.get_execution,
        ),
        (base + "/{workflow_id}/executions/{execution_id}/retry", "POST", routes.retry),
        (
            base + "/{workflow_id}/executions/{execution_id}/terminate",
            "POST",
            routes.terminate,
        ),
    ]
    by_path: dict[str, dict[str, Any]] = {}
    for path, method, handler in table:
        by_path.setdefault(path, {})[method] = handler
    starlette_routes = [
        Route(path, _dispatch(methods, settings), methods=list(methods))
        for path, methods in by_path.items()
    ]
    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return json_response(document)

    starlette_routes.append(Route("/openapi.json", openapi, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.startup()
        try:
            yield
        finally:
            await backend.shutdown()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            error = ApiError(
                405,
                METHOD_NOT_ALLOWED,
                f"method {request.method} is not allowed on {request.url.path}",
            )
        else:
            error = ApiError(
                404, NO_ROUTE, f"no route {request.method} {request.url.path}"
            )
        return error_response(error, uuid.uuid4().hex)

    async def defect(request: Request, exc: Exception) -> Response:
        # Only what escaped the routes' own handling (see _http.endpoint);
        # Starlette logs the traceback, the caller gets the usual body.
        return error_response(ApiError.internal(), uuid.uuid4().hex)

    app = Starlette(
        routes=starlette_routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: defect},
    )
    # A trailing slash is another path: 404 with the error body rather than
    # a redirect (which a signed request could not follow unchanged).
    app.router.redirect_slashes = False
    # serve() tells the backend as soon as a stop signal arrives.
    app.state.backend = backend
    return app


def _dispatch(methods: dict[str, Any], settings: Settings) -> Any:
    wrapped = {m: endpoint(h, settings) for m, h in methods.items()}

    if "GET" in wrapped:  # Starlette routes HEAD with GET; so do we
        wrapped["HEAD"] = wrapped["GET"]

    async def dispatch(request: Request) -> Response:
        return await wrapped[request.method](request)

    return dispatch


_ID_LIMITS = {
    "project_id": PROJECT_ID_MAX,
    "workflow_id": WORKFLOW_ID_MAX,
    "execution_id": 128,
}


def _check_ids(call: Call) -> dict[str, str]:
    params = call.params
    for name in params:
        path_param(params, name, _ID_LIMITS.get(name, 512))
    return params


def _int_param(call: Call, name: str, default: int, low: int, high: int) -> int:
    text = call.request.query_params.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,9}", text.strip()):
        raise ApiError(400, BAD_QUERY, f"query parameter {name} must be an integer")
    value = int(text)
    if not low <= value <= high:
        raise ApiError(
            400, BAD_QUERY, f"query parameter {name} must be between {low} and {high}"
        )
    return value


def _time_param(call: Call, name: str) -> datetime | None:
    text = call.request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise ApiError(
            400,
            BAD_QUERY,
            f"query parameter {name} must be a UTC time as yyyy-MM-ddTHH:mm:ssZ, "
            f"not {text[:64]!r}",
        ) from None


def _headers(call: Call) -> RawHeaders:
    # The raw pairs, so that a header repeated with different values is
    # refused by parse_start_request rather than one value silently kept.
    headers: RawHeaders = call.request.scope["headers"]
    return headers


class _Routes:
    __slots__ = ("backend", "settings")

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings

    async def create_workflow(self, call: Call) -> Response:
        _check_ids(call)
        record = await self.backend.create_workflow(call.project_id, call.json())
        return json_response(record, 200, call.request_id)

    async def list_workflows(self, call: Call) -> Response:
        _check_ids(call)
        name = call.request.query_params.get("workflow_name") or None
        if name is not None and (reason := bad_text(name, nul=True)):
            raise ApiError(400, BAD_QUERY, f"query parameter workflow_name: {reason}")
        limit = _int_param(call, "limit", 200, 1, 200)
        offset = _int_param(call, "offset", 0, 0, 10**9)
        total, workflows = await self.backend.list_workflows(
            call.project_id, name=name, limit=limit, offset=offset
        )
        body = {"total": total, "size": len(workflows), "workflows": workflows}
        return json_response(body, 200, call.request_id)

    async def get_workflow(self, call: Call) -> Response:
        p = _check_ids(call)
        record = await self.backend.get_workflow(call.project_id, p["workflow_id"])
        return json_response(record, 200, call.request_id)

    async def update_workflow(self, call: Call) -> Response:
        p = _check_ids(call)
        record = await self.backend.update_workflow(
            call.project_id, p["workflow_id"], call.json()
        )
        return json_response(record, 200, call.request_id)

    async def delete_workflow(self, call: Call) -> Response:
        p = _check_ids(call)
        await self.backend.delete_workflow(call.project_id, p["workflow_id"])
        return Response(status_code=204, headers={"X-Request-Id": call.request_id})

    async def delete_workflows(self, call: Call) -> Response:
        _check_ids(call)
        body = call.json()
        if not isinstance(body, dict) or set(body) != {"workflow_urns"}:
            raise ApiError(
                400,
                NOT_OBJECT,
                'the body must be the object {"workflow_urns": [...]}',
                field="workflow_urns",
            )
        urns = body["workflow_urns"]
        if (
            not isinstance(urns, list)
            or not 1 <= len(urns) <= 200
            or not all(isinstance(u, str) for u in urns)
        ):
            raise ApiError(
                400,
                BAD_TYPE,
                '"workflow_urns" must be an array of 1 to 200 strings',
                field="workflow_urns",
            )
        result = await self.backend.delete_workflows(call.project_id, urns)
        return json_response(result, 200, call.request_id)

    async def start(self, call: Call) -> Response:
        execution_id = await self.backend.start(call.params, _headers(call), call.body)
        return json_response({"execution_id": execution_id}, 200, call.request_id)

    async def run_sync(self, call: Call) -> Response:
        result = await self.backend.run_sync(call.params, _headers(call), call.body)
        return json_response(result, 200, call.request_id)

    async def list_executions(self, call: Call) -> Response:
        p = _check_ids(call)
        limit = _int_param(call, "limit", 200, 1, 200)
        offset = _int_param(call, "offset", 0, 0, 10**9)
        status = call.request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            raise ApiError(
                400,
                BAD_QUERY,
                f"query parameter status must be one of {', '.join(STATUSES)}",
            )
        start = _time_param(call, "start_time")
        end = _time_param(call, "end_time")
        # As the SDK documents: a missing bound is the other one -/+ 3 days;
        # with neither, the last 3 days.
        if start is None and end is None:
            end = datetime.now(timezone.utc)
        if start is None:
            assert end is not None
            start = end - _LIST_WINDOW
        if end is None:
            end = start + _LIST_WINDOW
        if start > end:
            raise ApiError(
                400, BAD_QUERY, "query parameter start_time must not be after end_time"
            )
        executions = await self.backend.list_executions(
            call.project_id,
            p["workflow_id"],
            status=status,
            start_time=start,
            end_time=end,
            limit=limit,
            offset=offset,
        )
        return json_response({"executions": executions}, 200, call.request_id)

    async def get_execution(self, call: Call) -> Response:
        p = _check_ids(call)
        record = await self.backend.get_execution(
            call.project_id, p["workflow_id"], p["execution_id"]
        )
        return json_response(record, 200, call.request_id)

    async def retry(self, call: Call) -> Response:
        p = _check_ids(call)
        await self.backend.retry(call.project_id, p["workflow_id"], p["execution_id"])
        return json_response({}, 200, call.request_id)

    async def terminate(self, call: Call) -> Response:
        p = _check_ids(call)
        await self.backend.terminate(
            call.project_id, p["workflow_id"], p["execution_id"]
        )
        return json_response({}, 200, call.request_id)
