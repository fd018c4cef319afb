"""Make the shared test helpers (``jsoncompare``) importable by test modules,
and make every hypothesis property deterministic in CI.

Under ``CI`` (set by CI), hypothesis draws its examples from a fixed seed
derived from each test, so a CI run never fails on an example no earlier
run could draw; locally each run explores new examples. Per-test
``@settings`` still set their own example counts and health checks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
