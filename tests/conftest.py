"""Make the shared test helpers (``jsoncompare``) importable by test modules."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
