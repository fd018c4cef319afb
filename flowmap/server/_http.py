"""The request pipeline every route shares: size limit, signature, JSON, errors.

Each route handler is an ``async def handler(call: Call) -> Response``;
:func:`endpoint` wraps it so that

* the body is read up to the configured limit (413 beyond it),
* with credentials configured, the SDK-HMAC-SHA256 signature is checked (401)
  and the path's project must be the signing key's project (404 otherwise:
  another project's resources do not exist for this caller),
* an :class:`ApiError` becomes its ``{"error_code", "error_msg"}`` body,
* any other exception is logged with its traceback on the server and answers
  500 with a fixed message and a request id, never internal detail.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..api import read_json
from ._errors import BAD_JSON, BAD_SIGNATURE, TOO_LARGE, ApiError
from ._signature import KeyRing, SignatureError, verify_signature

__all__ = ["Call", "Settings", "endpoint", "error_response", "json_response"]

log = logging.getLogger("flowmap.server")

#: The largest request body accepted by default (bytes), as FunctionGraph's.
DEFAULT_MAX_BODY = 6 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """What the app needs besides its runner; immutable, one per app."""

    credentials: KeyRing | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY


@dataclass(slots=True)
class Call:
    """One request after the shared checks: path params, query, raw body."""

    request: Request
    project_id: str
    body: bytes
    request_id: str

    @property
    def params(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.request.path_params.items()}

    def json(self) -> Any:
        """The body as JSON; 400 naming the position when it is not."""
        if not self.body.strip():
            raise ApiError(
                400, BAD_JSON, "the request body is empty; a JSON object is required"
            )
        return read_json(self.body)


Handler = Callable[[Call], Awaitable[Response]]


def json_response(body: Any, status: int = 200, request_id: str = "") -> Response:
    headers = {"X-Request-Id": request_id} if request_id else None
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(error: ApiError, request_id: str = "") -> Response:
    return json_response(error.body(), error.status, request_id)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = ApiError(
        413,
        TOO_LARGE,
        f"the request body is larger than the limit of {limit} bytes",
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def endpoint(
    handler: Handler, settings: Settings
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a route handler in the shared pipeline (see the module doc)."""

    async def run(request: Request) -> Response:
        request_id = uuid.uuid4().hex
        try:
            body = await _read_body(request, settings.max_body_bytes)
            project_id = str(request.path_params.get("project_id", ""))
            if settings.credentials is not None:
                _authenticate(request, body, settings.credentials, project_id)
            return await handler(Call(request, project_id, body, request_id))
        except ApiError as exc:
            return error_response(exc, request_id)
        except Exception:
            log.exception(
                "request %s %s failed (request id %s)",
                request.method,
                request.url.path,
                request_id,
            )
            return error_response(
                ApiError.internal(f"request id {request_id}"), request_id
            )

    return run


def _authenticate(
    request: Request, body: bytes, keys: KeyRing, project_id: str
) -> None:
    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    try:
        key = verify_signature(
            method=request.method,
            raw_path=raw_path.decode("latin-1"),
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=scope["headers"],
            body=body,
            keys=keys,
        )
    except SignatureError as exc:
        raise ApiError(401, BAD_SIGNATURE, exc.reason) from None
    if project_id and key.project_id != project_id:
        raise ApiError.project_not_found(project_id)
