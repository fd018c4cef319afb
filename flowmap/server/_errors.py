"""The server's error codes, in the style of :data:`flowmap.api.ERROR_CODES`.

The request contract's codes (a bad start request, a bad definition, an
unknown workflow or execution) come from :mod:`flowmap.api`; the codes here
cover what only the server can say: query parameters, authentication,
routing, conflicts, body size and shutdown. docs/server.md lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..api import ApiError

__all__ = ["SERVER_ERROR_CODES", "ApiError"]

BAD_JSON = "FLOWMAP.1001"
NOT_OBJECT = "FLOWMAP.1002"
BAD_TYPE = "FLOWMAP.1004"
BAD_QUERY = "FLOWMAP.1101"
BAD_SIGNATURE = "FLOWMAP.4010"
NO_ROUTE = "FLOWMAP.4043"
METHOD_NOT_ALLOWED = "FLOWMAP.4050"
CONFLICT = "FLOWMAP.4090"
TOO_LARGE = "FLOWMAP.4130"
INTERNAL = "FLOWMAP.5000"
UNAVAILABLE = "FLOWMAP.5030"

#: code -> (HTTP status, meaning), for the codes only the server gives.
SERVER_ERROR_CODES: Mapping[str, tuple[int, str]] = {
    BAD_QUERY: (400, "a query parameter has a wrong type or is out of range"),
    BAD_SIGNATURE: (401, "the request's signature is missing, stale or wrong"),
    NO_ROUTE: (404, "no such route"),
    METHOD_NOT_ALLOWED: (405, "the route does not take this method"),
    CONFLICT: (409, "the resource is not in a state that allows this"),
    TOO_LARGE: (413, "the request body is over the server's limit"),
    UNAVAILABLE: (503, "the server is shutting down"),
}
