"""The OpenAPI 3.0 document of the served routes (``GET /openapi.json``).

Built from small schema pieces here rather than generated from the handlers,
so that it states the contract (the SDK's models) and a schemathesis run can
hold the server to it.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

__all__ = ["openapi_document"]

_TIME = {
    "type": "string",
    "nullable": True,
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
    "description": "UTC time, yyyy-MM-ddTHH:mm:ssZ",
}
_ANY: dict[str, Any] = {}
_OBJECT = {"type": "object", "additionalProperties": True}
_STATUS = {
    "type": "string",
    "enum": ["running", "success", "fail", "timeout", "cancel"],
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error_code", "error_msg"],
        "properties": {
            "error_code": {"type": "string", "minLength": 1, "maxLength": 36},
            "error_msg": {"type": "string", "minLength": 2, "maxLength": 512},
        },
    },
    "WorkflowCreateBody": {
        "type": "object",
        "description": "A flow definition (docs/flows.md, 'Definitions').",
        "required": ["name", "start", "states"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 64},
            "description": {"type": "string"},
            "start": {"type": "string"},
            "functions": {"type": "array", "items": _OBJECT},
            "states": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": _OBJECT,
            },
            "constants": _OBJECT,
            "retries": {"type": "array", "items": _OBJECT},
            "mode": {"type": "string", "enum": ["NORMAL", "EXPRESS"]},
        },
    },
    "WorkflowSimpleInfo": {
        "type": "object",
        "required": ["id", "workflow_urn", "name", "created_time", "updated_time"],
        "properties": {
            "id": {"type": "string"},
            "workflow_urn": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "created_time": _TIME,
            "updated_time": _TIME,
            "created_by": {"type": "string"},
            "enable_stream_response": {"type": "boolean"},
        },
    },
    "ShowWorkflowResponse": {
        "type": "object",
        "required": [
            "id",
            "workflow_urn",
            "created_time",
            "updated_time",
            "definition",
        ],
        "properties": {
            "id": {"type": "string"},
            "workflow_urn": {"type": "string"},
            "created_time": _TIME,
            "updated_time": _TIME,
            "created_by": {"type": "string"},
            "definition": _OBJECT,
        },
    },
    "ListWorkflowResponse": {
        "type": "object",
        "required": ["total", "size", "workflows"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "size": {"type": "integer", "minimum": 0},
            "workflows": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/WorkflowSimpleInfo"},
            },
        },
    },
    "FlowExecuteBody": {
        "type": "object",
        "required": ["input"],
        "properties": {"headers": _OBJECT, "input": _OBJECT},
    },
    "StartWorkflowExecutionResponse": {
        "type": "object",
        "required": ["execution_id"],
        "properties": {"execution_id": {"type": "string"}},
    },
    "SyncExecutionNodeErrorDetail": {
        "type": "object",
        "properties": {
            "node_id": {"type": "string"},
            "error_message": {"type": "string"},
            "begin_time": _TIME,
            "end_time": _TIME,
        },
    },
    "StartSyncWorkflowExecutionResponse": {
        "type": "object",
        "required": ["execution_id", "status"],
        "properties": {
            "execution_id": {"type": "string"},
            "status": _STATUS,
            "output": _ANY,
            "errors": {
                "type": "array",
                "nullable": True,
                "description": "null unless the status is fail",
                "items": {"$ref": "#/components/schemas/SyncExecutionNodeErrorDetail"},
            },
            "begin_time": _TIME,
            "end_time": _TIME,
        },
    },
    "NodeExecution": {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "input": _ANY,
            "output": _ANY,
            "begin_time": {"type": "integer", "description": "epoch milliseconds"},
            "end_time": {
                "type": "integer",
                "nullable": True,
                "description": "epoch milliseconds; null while running",
            },
            "error_message": _ANY,
            "request_id": {"type": "string"},
        },
    },
    "NodeExecutionDetail": {
        "type": "object",
        "properties": {
            "node_id": {"type": "string"},
            "node_name": {"type": "string"},
            "execution_id": {"type": "string"},
            "executions": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/NodeExecution"},
            },
        },
    },
    "ShowWorkflowExecutionResponse": {
        "type": "object",
        "required": ["workflow_id", "execution_id", "status"],
        "properties": {
            "workflow_id": {"type": "string"},
            "workflow_urn": {"type": "string"},
            "execution_id": {"type": "string"},
            "status": _STATUS,
            "headers": _ANY,
            "input": _ANY,
            "output": _ANY,
            "begin_time": _TIME,
            "end_time": _TIME,
            "last_update_time": _TIME,
            "created_by": {"type": "string"},
            "node_execution_details": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/NodeExecutionDetail"},
            },
        },
    },
    "FlowExecutionBrief": {
        "type": "object",
        "required": ["workflow_id", "execution_id", "status"],
        "properties": {
            "workflow_id": {"type": "string"},
            "workflow_urn": {"type": "string"},
            "execution_id": {"type": "string"},
            "status": _STATUS,
            "begin_time": _TIME,
            "end_time": _TIME,
            "last_update_time": _TIME,
            "created_by": {"type": "string"},
        },
    },
    "ListWorkflowExecutionsResponse": {
        "type": "object",
        "required": ["executions"],
        "properties": {
            "executions": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/FlowExecutionBrief"},
            }
        },
    },
    "Empty": {"type": "object"},
    "WorkflowDeleteBody": {
        "type": "object",
        "required": ["workflow_urns"],
        "additionalProperties": False,
        "properties": {
            "workflow_urns": {
                "type": "array",
                "minItems": 1,
                "maxItems": 200,
                "items": {"type": "string"},
            }
        },
    },
    "BatchDeleteWorkflowsResponse": {
        "type": "object",
        "required": ["success", "fail"],
        "properties": {
            "success": {"type": "array", "items": {"type": "string"}},
            "fail": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "workflow_urn": {"type": "string"},
                        "error_detail": {"type": "string"},
                    },
                },
            },
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _param(
    name: str, where: str, schema: dict[str, Any], required: bool
) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema}


_PROJECT = _param(
    "project_id", "path", {"type": "string", "minLength": 1, "maxLength": 64}, True
)
_WORKFLOW = _param(
    "workflow_id", "path", {"type": "string", "minLength": 1, "maxLength": 512}, True
)
_EXECUTION = _param(
    "execution_id", "path", {"type": "string", "minLength": 1, "maxLength": 128}, True
)
_START_HEADERS = [
    _param("X-Create-Time", "header", {"type": "string"}, False),
    _param("X-WorkflowRun-ID", "header", {"type": "string"}, False),
    _param(
        "X-WorkflowRun-MergeFnParameters",
        "header",
        {"type": "string", "enum": ["true", "false", ""]},
        False,
    ),
]
_LIMIT = _param(
    "limit", "query", {"type": "integer", "minimum": 1, "maximum": 200}, False
)
_OFFSET = _param("offset", "query", {"type": "integer", "minimum": 0}, False)


def _op(
    operation_id: str,
    summary: str,
    params: list[dict[str, Any]],
    response: str | None,
    *,
    body: str | None = None,
    status: str = "200",
    errors: tuple[int, ...] = (400, 401, 404),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": params,
        "responses": {},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": _json(body)}
        errors = (*errors, 413)
    ok: dict[str, Any] = {"description": "success"}
    if response is not None:
        ok["content"] = _json(response)
    op["responses"][status] = ok
    for code in sorted({*errors, 500}):
        op["responses"][str(code)] = {"description": "error", "content": _json("Error")}
    return op


@functools.lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    base = "/v2/{project_id}/fgs/workflows"
    wf = base + "/{workflow_id}"
    ex = wf + "/executions/{execution_id}"
    paths: dict[str, Any] = {
        base: {
            "post": _op(
                "CreateWorkflow",
                "create a flow",
                [_PROJECT],
                "WorkflowSimpleInfo",
                body="WorkflowCreateBody",
                errors=(400, 401, 404, 409),
            ),
            "get": _op(
                "ListWorkflow",
                "list flows",
                [
                    _PROJECT,
                    _param("workflow_name", "query", {"type": "string"}, False),
                    _LIMIT,
                    _OFFSET,
                ],
                "ListWorkflowResponse",
            ),
            "delete": _op(
                "BatchDeleteWorkflows",
                "delete flows by URN",
                [_PROJECT],
                "BatchDeleteWorkflowsResponse",
                body="WorkflowDeleteBody",
            ),
        },
        wf: {
            "get": _op(
                "ShowWorkFlow",
                "a flow and its definition",
                [_PROJECT, _WORKFLOW],
                "ShowWorkflowResponse",
            ),
            "put": _op(
                "UpdateWorkFlow",
                "replace a flow's definition",
                [_PROJECT, _WORKFLOW],
                "WorkflowSimpleInfo",
                body="WorkflowCreateBody",
                errors=(400, 401, 404, 409),
            ),
            "delete": _op(
                "DeleteWorkflow",
                "delete a flow",
                [_PROJECT, _WORKFLOW],
                None,
                status="204",
            ),
        },
        wf + "/executions": {
            "post": _op(
                "StartWorkflowExecution",
                "start an execution (asynchronous)",
                [_PROJECT, _WORKFLOW, *_START_HEADERS],
                "StartWorkflowExecutionResponse",
                body="FlowExecuteBody",
                errors=(400, 401, 404, 503),
            ),
            "get": _op(
                "ListWorkflowExecutions",
                "list a flow's executions",
                [
                    _PROJECT,
                    _WORKFLOW,
                    _LIMIT,
                    _OFFSET,
                    _param("status", "query", _STATUS, False),
                    _param("start_time", "query", _TIME, False),
                    _param("end_time", "query", _TIME, False),
                ],
                "ListWorkflowExecutionsResponse",
            ),
        },
        wf + "/sync-executions": {
            "post": _op(
                "StartSyncWorkflowExecution",
                "run an execution and answer with its result",
                [_PROJECT, _WORKFLOW, *_START_HEADERS],
                "StartSyncWorkflowExecutionResponse",
                body="FlowExecuteBody",
                errors=(400, 401, 404, 503),
            )
        },
        ex: {
            "get": _op(
                "ShowWorkflowExecution",
                "an execution with its node records",
                [_PROJECT, _WORKFLOW, _EXECUTION],
                "ShowWorkflowExecutionResponse",
            )
        },
        ex + "/retry": {
            "post": _op(
                "RetryWorkFlow",
                "resume a failed execution from its failed node",
                [_PROJECT, _WORKFLOW, _EXECUTION],
                "Empty",
                errors=(400, 401, 404, 409, 503),
            )
        },
        ex + "/terminate": {
            "post": _op(
                "StopWorkFlow",
                "terminate a running execution",
                [_PROJECT, _WORKFLOW, _EXECUTION],
                "Empty",
                errors=(400, 401, 404, 409),
            )
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "flowmap serve: FunctionGraph flow API",
            "version": "1",
            "description": "The huaweicloudsdkfunctiongraph v2 routes flowmap serves.",
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "sdkHmacSha256": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., "
                    "Signature=... (required when the server has credentials)",
                }
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document (callers may change theirs)."""
    return copy.deepcopy(_document())
