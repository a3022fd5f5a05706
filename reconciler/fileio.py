"""Writing our own output files: atomically, and never over a binding file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import ConfigError, ReconcileError


def is_protected(path: Path, protected: Iterable[Path]) -> bool:
    """`protected` holds binding files (refused exactly) and bindings roots (nothing may be written inside)."""
    target = path.resolve()
    for entry in protected:
        entry = entry.resolve()
        if target == entry or (entry.is_dir() and target.is_relative_to(entry)):
            return True
    return False


def refuse_protected(path: Path, protected: Iterable[Path]) -> None:
    if is_protected(path, protected):
        raise ConfigError(f"{path}: refusing to write into the bindings (the reconciler never changes them)")


def atomic_write(path: Path, text: str, protected: Iterable[Path] = (),
                 before_rename: Callable[[Path], None] | None = None) -> None:
    """Write via a temp file in the same folder + rename: a killed run leaves the old file intact.

    `before_rename(target)` runs once the temp file is complete (tests use it to kill a run mid-write).
    """
    target = path.resolve()
    refuse_protected(path, protected)
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(f"{path}: folder {folder} does not exist")
    try:
        import tempfile  # not at import: `--help` imports this module and start-up is a benchmark target

        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ReconcileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if before_rename is not None:
            before_rename(target)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ReconcileError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
