"""The `reconcile` console script (and `python -m reconciler`): start the CLI, even when it cannot start.

`reconciler.cli.main` turns every outcome of a run into an exit code. This wrapper covers what happens
before it exists: a missing or broken dependency fails while `reconciler.cli` is imported, and Python's
own traceback would exit 1, which reads as "drift found" to a cron job. Here it is one line and exit 2.
Only the standard library is imported at module level, so nothing in this file can fail that way.
"""

from __future__ import annotations

import gc
import sys

ERROR_EXIT = 2  # reconciler.errors.ExitCode.ERROR, not imported: importing the package is what may fail


def main() -> int:
    if sys.argv[1:] == ["--version"]:  # answered before the CLI (typer, the pipeline) is imported at all
        return _version()
    gc.disable()  # importing the CLI makes no cyclic garbage: no collection pass is worth its time there
    try:
        from reconciler.cli import main as run
    except Exception as exc:  # ImportError for a missing dependency, anything else from a broken install
        sys.stderr.write(f"reconcile: error: cannot start: {type(exc).__name__}: {exc} "
                         "(a missing or broken dependency: reinstall with pip install reconciler)\n")
        return ERROR_EXIT
    # What was imported lives as long as the process: frozen, no collection traverses it again, and a run's own
    # objects (guests, findings, parsed YAML) are collected less often. They form few cycles; the passes a
    # 1,000-guest run made over them cost ~0.05 s (docs/performance.md).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    gc.enable()
    return run()


def _version() -> int:
    from importlib.metadata import PackageNotFoundError, version

    try:
        sys.stdout.write(f"reconcile {version('reconciler')}\n")
    except PackageNotFoundError:
        sys.stdout.write("reconcile (not installed)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
