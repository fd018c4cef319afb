"""``python -m flowmap``: the same command line as ``flowmap``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
