"""The `reconcile` command line: the only package that prints or exits.

`app` (base.py) holds the shared options, the full run, `snapshot` and `main()`; each further subcommand
lives in its own module here and registers itself on `app` when imported below.
"""

from __future__ import annotations

from . import doctor as _doctor  # noqa: F401  (registers doctor)
from . import fix as _fix  # noqa: F401  (registers fix)
from . import governance as _governance  # noqa: F401  (registers check, coverage, parity)
from . import nightly as _nightly  # noqa: F401  (registers report, ignore add)
from . import plan as _plan  # noqa: F401  (registers plan-vm)
from .base import app, main

__all__ = ["app", "main"]
