"""The `reconcile` console script (and `python -m reconciler`): start the CLI, even when it cannot start.

`reconciler.cli.main` turns every outcome of a run into an exit code. This wrapper covers what happens
before it exists: a missing or broken dependency fails while `reconciler.cli` is imported, and Python's
own traceback would exit 1, which reads as "drift found" to a cron job. Here it is one line and exit 2.
Only the standard library is imported at module level, so nothing in this file can fail that way.
"""

from __future__ import annotations

import sys

ERROR_EXIT = 2  # reconciler.errors.ExitCode.ERROR, not imported: importing the package is what may fail


def main() -> int:
    if sys.argv[1:] == ["--version"]:  # answered before the CLI (typer, the pipeline) is imported at all
        return _version()
    try:
        from reconciler.cli import main as run
    except Exception as exc:  # ImportError for a missing dependency, anything else from a broken install
        sys.stderr.write(f"reconcile: error: cannot start: {type(exc).__name__}: {exc} "
                         "(a missing or broken dependency: reinstall with pip install reconciler)\n")
        return ERROR_EXIT
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
