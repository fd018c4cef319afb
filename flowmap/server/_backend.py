"""The flows runner behind the routes: :class:`RunnerBackend`.

It turns the runner's and the store's answers into the SDK's shapes and
their errors into :class:`~flowmap.api.ApiError` (the runner's errors are
``FlowmapError`` subclasses with data; only the wire form is made here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..api import ApiError, parse_start_request
from ..flows import (
    DefinitionError,
    ExecutionInputError,
    ExecutionNotFoundError,
    ExecutionStateError,
    Runner,
    WorkflowNotFoundError,
    load_definition,
)
from ..flows._records import (
    WorkflowRecord,
    format_time,
    sync_response,
    workflow_info,
    workflow_urn,
)
from ._errors import CONFLICT, NOT_OBJECT, UNAVAILABLE

RawHeaders = list[tuple[bytes, bytes]]

__all__ = ["RunnerBackend"]

log = logging.getLogger("flowmap.server")

_PAGE = 200


class RunnerBackend:
    """Serves a :class:`~flowmap.flows.Runner` (and its store) to the routes.

    ``shutdown_grace`` is how long, in seconds, shutting down waits for
    running executions to end before checkpointing the rest (they are then
    ``fail`` with an "interrupted" error, and retry resumes them).
    """

    def __init__(
        self,
        runner: Runner,
        *,
        region: str = "local",
        shutdown_grace: float = 10.0,
        close_store: bool = True,
    ) -> None:
        self.runner = runner
        self.store = runner.store
        self.region = region
        self.shutdown_grace = shutdown_grace
        self.close_store = close_store
        self._closing = False
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life cycle -------------------------------------------------------

    async def startup(self) -> None:
        self._loop = asyncio.get_running_loop()
        found = await self.runner.recover()
        if found:
            log.warning(
                "%d execution(s) were running when their process stopped; they "
                "are marked failed and retry resumes them: %s",
                len(found),
                ", ".join(found[:20]),
            )

    def begin_shutdown(self) -> None:
        """Refuse new starts and end sync waits; safe from a signal handler."""
        self._closing = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def shutdown(self) -> None:
        self._closing = True
        self._stopping.set()
        try:
            await self.runner.aclose(timeout=self.shutdown_grace)
        finally:
            if self.close_store:
                await self.store.close()

    def _check_open(self) -> None:
        if self._closing:
            raise ApiError(503, UNAVAILABLE, "the server is shutting down; try again")

    # -- workflows --------------------------------------------------------

    async def _name_taken(self, project_id: str, name: str, own_id: str = "") -> bool:
        found = await self.store.list_workflows(project_id, name=name, limit=2)
        return any(r.workflow_id != own_id for r in found)

    def _info(self, record: WorkflowRecord) -> dict[str, Any]:
        info = workflow_info(record)
        info["workflow_urn"] = workflow_urn(record.project_id, record.name, self.region)
        return info

    async def create_workflow(self, project_id: str, body: Any) -> dict[str, Any]:
        definition = _load(body)
        if await self._name_taken(project_id, definition.name):
            raise _name_conflict(definition.name)
        info = await self.runner.create_workflow(definition, project_id=project_id)
        info["workflow_urn"] = workflow_urn(project_id, definition.name, self.region)
        return info

    async def list_workflows(
        self, project_id: str, *, name: str | None, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        page = await self.store.list_workflows(
            project_id, name=name, limit=limit, offset=offset
        )
        total = 0
        while True:  # the store has no count; a local server can afford paging
            chunk = await self.store.list_workflows(
                project_id, name=name, limit=_PAGE, offset=total
            )
            total += len(chunk)
            if len(chunk) < _PAGE:
                break
        return total, [self._info(r) for r in page]

    async def _workflow(self, project_id: str, workflow_id: str) -> WorkflowRecord:
        record = await self.store.get_workflow(workflow_id, project_id=project_id)
        if record is None:
            raise ApiError.workflow_not_found(workflow_id)
        return record

    async def get_workflow(self, project_id: str, workflow_id: str) -> dict[str, Any]:
        record = await self._workflow(project_id, workflow_id)
        return {
            "id": record.workflow_id,
            "workflow_urn": workflow_urn(record.project_id, record.name, self.region),
            "created_time": format_time(record.created_time),
            "updated_time": format_time(record.updated_time),
            "created_by": record.created_by,
            "definition": record.definition,
        }

    async def update_workflow(
        self, project_id: str, workflow_id: str, body: Any
    ) -> dict[str, Any]:
        record = await self._workflow(project_id, workflow_id)
        definition = _load(body)
        if await self._name_taken(project_id, definition.name, workflow_id):
            raise _name_conflict(definition.name)
        updated = dataclasses.replace(
            record,
            name=definition.name,
            definition=definition.to_json(),
            updated_time=max(int(self.runner.clock.now() * 1000), record.created_time),
        )
        if not await self.store.update_workflow(updated):
            raise ApiError.workflow_not_found(workflow_id)
        return self._info(updated)

    async def delete_workflow(self, project_id: str, workflow_id: str) -> None:
        if not await self.store.delete_workflow(workflow_id, project_id=project_id):
            raise ApiError.workflow_not_found(workflow_id)

    async def delete_workflows(
        self, project_id: str, workflow_urns: list[str]
    ) -> dict[str, Any]:
        """Delete by URN (the SDK's batch delete): ``{success, fail}``."""
        by_urn: dict[str, str] = {}
        offset = 0
        while True:
            page = await self.store.list_workflows(
                project_id, limit=_PAGE, offset=offset
            )
            for record in page:
                urn = workflow_urn(record.project_id, record.name, self.region)
                by_urn[urn] = record.workflow_id
            offset += len(page)
            if len(page) < _PAGE:
                break
        success: list[str] = []
        fail: list[dict[str, str]] = []
        for urn in workflow_urns:
            workflow_id = by_urn.pop(urn, None)
            if workflow_id is not None and await self.store.delete_workflow(
                workflow_id, project_id=project_id
            ):
                success.append(urn)
            else:
                fail.append(
                    {"workflow_urn": urn, "error_detail": "no workflow has this URN"}
                )
        return {"success": success, "fail": fail}

    # -- executions -------------------------------------------------------

    async def start(
        self, path_params: Mapping[str, str], headers: RawHeaders, body: bytes
    ) -> str:
        request = parse_start_request(path_params, headers, body)
        self._check_open()
        try:
            return await self.runner.start(
                request.workflow_id,
                request.input,
                headers=request.headers,
                project_id=request.project_id,
                merge=request.merge,
                workflow_run_id=request.workflow_run_id,
                create_time=request.create_time,
            )
        except (WorkflowNotFoundError, ExecutionInputError) as exc:
            raise _api_error(exc) from None

    async def run_sync(
        self, path_params: Mapping[str, str], headers: RawHeaders, body: bytes
    ) -> dict[str, Any]:
        request = parse_start_request(path_params, headers, body)
        execution_id = await self.start(path_params, headers, body)
        ended = asyncio.ensure_future(self.runner.wait(execution_id))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not ended.done():
                # Shutting down: the execution gets the grace to end, then the
                # caller learns where to find it rather than losing the answer.
                await asyncio.wait({ended}, timeout=self.shutdown_grace)
            if not ended.done():
                raise ApiError(
                    503,
                    UNAVAILABLE,
                    f"the server is shutting down before execution {execution_id} "
                    "ended; it is checkpointed: show it after the restart, and "
                    "retry resumes it",
                )
        finally:
            for future in (ended, stopping):
                if not future.done():
                    future.cancel()
        record = await self.store.get_execution(
            execution_id, project_id=request.project_id
        )
        if record is None:
            raise ApiError.execution_not_found(execution_id)
        return sync_response(record, await self.store.get_nodes(execution_id))

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
    ) -> list[dict[str, Any]]:
        await self._workflow(project_id, workflow_id)
        found = await self.runner.list(
            workflow_id,
            project_id=project_id,
            status=status,  # type: ignore[arg-type]  # checked by the route
            start_time=int(start_time.timestamp() * 1000),
            end_time=int(end_time.timestamp() * 1000),
            limit=limit,
            offset=offset,
        )
        for item in found:
            item["workflow_urn"] = self._urn(item["workflow_urn"])
        return found

    def _urn(self, urn: str) -> str:
        # The records write region "local"; a server may be told another.
        parts = urn.split(":")
        if len(parts) > 2:
            parts[2] = self.region
        return ":".join(parts)

    async def _execution(
        self, project_id: str, workflow_id: str, execution_id: str
    ) -> None:
        record = await self.store.get_execution(execution_id, project_id=project_id)
        if record is None or record.workflow_id != workflow_id:
            raise ApiError.execution_not_found(execution_id)

    async def get_execution(
        self, project_id: str, workflow_id: str, execution_id: str
    ) -> dict[str, Any]:
        try:
            shown = await self.runner.get(execution_id, project_id=project_id)
        except ExecutionNotFoundError as exc:
            raise _api_error(exc) from None
        if shown.get("workflow_id") != workflow_id:
            raise ApiError.execution_not_found(execution_id)
        shown["workflow_urn"] = self._urn(shown["workflow_urn"])
        return shown

    async def retry(self, project_id: str, workflow_id: str, execution_id: str) -> None:
        await self._execution(project_id, workflow_id, execution_id)
        self._check_open()
        try:
            await self.runner.retry(execution_id, project_id=project_id)
        except (ExecutionNotFoundError, ExecutionStateError) as exc:
            raise _api_error(exc) from None

    async def terminate(
        self, project_id: str, workflow_id: str, execution_id: str
    ) -> None:
        await self._execution(project_id, workflow_id, execution_id)
        try:
            await self.runner.terminate(execution_id, project_id=project_id)
        except (ExecutionNotFoundError, ExecutionStateError) as exc:
            raise _api_error(exc) from None


def _load(body: Any) -> Any:
    if not isinstance(body, dict):
        raise ApiError(
            400, NOT_OBJECT, "the body must be a JSON object (a flow definition)"
        )
    try:
        return load_definition(body)
    except DefinitionError as exc:
        raise ApiError.invalid_definition(exc) from None


def _name_conflict(name: str) -> ApiError:
    return ApiError(
        409,
        CONFLICT,
        f"a workflow named {name[:64]!r} exists in this project; names are unique",
        field="name",
    )


def _api_error(exc: Exception) -> ApiError:
    if isinstance(exc, WorkflowNotFoundError):
        return ApiError.workflow_not_found(exc.workflow_id)
    if isinstance(exc, ExecutionNotFoundError):
        return ApiError.execution_not_found(exc.execution_id)
    if isinstance(exc, ExecutionStateError):
        return ApiError(409, CONFLICT, str(exc))
    if isinstance(exc, ExecutionInputError):
        return ApiError(400, "FLOWMAP.1004", str(exc))
    raise exc
