"""Loading and validating the declared inventory (the binding files), keeping file:line for every item."""

from __future__ import annotations

from pathlib import Path


def display_path(path: Path, root: Path) -> str:
    """How a binding file is named in findings: relative to the bindings root when inside it."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
