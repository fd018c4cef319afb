"""``flowmap serve``: the FunctionGraph flow API over HTTP (extra ``server``).

:func:`create_app` builds the ASGI application from a flows
:class:`~flowmap.flows.Runner`; :func:`serve` runs it on uvicorn, as the
``flowmap serve`` command does. See docs/server.md.

Importing this package does not import Starlette or uvicorn; the names that
need them are loaded on first use, so ``flowmap`` works without the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._signature import (
    AccessKey,
    CredentialsError,
    KeyRing,
    SignatureError,
    load_credentials,
    verify_signature,
)

if TYPE_CHECKING:
    from ._app import Backend, create_app
    from ._backend import RunnerBackend
    from ._serve import ServeError, serve

_LAZY = {
    "Backend": "._app",
    "create_app": "._app",
    "RunnerBackend": "._backend",
    "ServeError": "._serve",
    "serve": "._serve",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowmap.server' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "AccessKey",
    "Backend",
    "CredentialsError",
    "KeyRing",
    "RunnerBackend",
    "ServeError",
    "SignatureError",
    "create_app",
    "load_credentials",
    "serve",
    "verify_signature",
]
