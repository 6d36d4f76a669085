"""Entry point for ``python -m lazycfg`` and the ``lazycfg`` console script."""
from __future__ import annotations

import sys

from lazycfg._cli import main

if __name__ == "__main__":
    sys.exit(main())
