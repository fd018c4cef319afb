"""The server's error codes (docs/server.md lists them with their meaning).

The request contract's own codes (a bad start request) come from
:mod:`flowmap.api`; these cover what only the server can say: the transport
(body size, JSON), authentication, routing and resources.
"""

from __future__ import annotations

from typing import Any

from ..errors import FlowmapError

__all__ = ["ApiError"]

BAD_JSON = "FLOWMAP.SRV.4000"
BAD_FIELD = "FLOWMAP.SRV.4001"
BAD_DEFINITION = "FLOWMAP.SRV.4002"
BAD_SIGNATURE = "FLOWMAP.SRV.4010"
UNKNOWN_PROJECT = "FLOWMAP.SRV.4040"
UNKNOWN_WORKFLOW = "FLOWMAP.SRV.4041"
UNKNOWN_EXECUTION = "FLOWMAP.SRV.4042"
NO_ROUTE = "FLOWMAP.SRV.4043"
METHOD_NOT_ALLOWED = "FLOWMAP.SRV.4050"
CONFLICT = "FLOWMAP.SRV.4090"
TOO_LARGE = "FLOWMAP.SRV.4130"
INTERNAL = "FLOWMAP.SRV.5000"
UNAVAILABLE = "FLOWMAP.SRV.5030"


class ApiError(FlowmapError):
    """An error answer: HTTP status and the ``{"error_code", "error_msg"}`` body."""

    def __init__(self, status: int, error_code: str, error_msg: str) -> None:
        super().__init__(error_msg)
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg

    def body(self) -> dict[str, Any]:
        msg = self.error_msg if len(self.error_msg) >= 2 else self.error_msg + "."
        if len(msg) > 512:
            msg = msg[:509] + "..."
        return {"error_code": self.error_code, "error_msg": msg}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.error_code!r}, {self.error_msg!r})"
