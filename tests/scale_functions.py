"""The functions the scale tests and benchmarks call on Celery workers.

A worker started with ``--functions tests/scale_functions.py`` also serves
the flow cases' functions (tests/flows_functions.py), through ``FUNCTIONS``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from flowmap.flows import load_functions

_CASES = Path(__file__).with_name("flows_functions.py")
FUNCTIONS = dict(load_functions(_CASES)) if _CASES.is_file() else {}


class Declined(Exception):
    """A business error with a code, as on_errors may match it."""

    error_code = "SCALE.0001"


def step(event: Any, context: dict[str, Any]) -> Any:
    return {"n": event.get("n", 0) + 1, "pid": os.getpid()}


async def io_wait(event: Any, context: dict[str, Any]) -> Any:
    await asyncio.sleep(event.get("ms", 50) / 1000)
    return {"n": event.get("n", 0) + 1}


def cpu_work(event: Any, context: dict[str, Any]) -> Any:
    end = time.process_time() + event.get("ms", 50) / 1000
    x = 0
    while time.process_time() < end:
        x += 1
    return {"n": event.get("n", 0) + 1}


def decline(event: Any, context: dict[str, Any]) -> Any:
    raise Declined(f"declined {event.get('n')}")


def hang_once(event: Any, context: dict[str, Any]) -> Any:
    """The first call marks a file and hangs (to be killed); later ones answer."""
    marker = Path(event["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(120)
    return {"n": event.get("n", 0) + 1, "redelivered": True}


def slow_step(event: Any, context: dict[str, Any]) -> Any:
    time.sleep(event.get("ms", 300) / 1000)
    return {"n": event.get("n", 0) + 1}
