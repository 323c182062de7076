"""What the walk-throughs beside this file share: how they are run."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Callable


def run(main: Callable[[str], None]) -> None:
    """Runs ``main`` on the store directory given as the first argument,
    else on one in a temporary directory removed afterwards."""
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as d:
            main(str(Path(d) / "store"))
