"""One exception base and one exit-code enum for the whole tool.

Every error the user can cause (bad config, unreadable bindings, refused credentials) is a
`ReconcileError`; the CLI converts it to an exit code in exactly one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. Precedence when several apply: ERROR > DRIFT > UNOBSERVED > OK."""

    OK = 0  # in sync, and everything declared was observed
    DRIFT = 1  # at least one finding that needs a change (or a plan that is blocked)
    ERROR = 2  # usage, configuration, unreadable bindings, authentication, nothing collected
    UNOBSERVED = 3  # no drift found, but something could not be observed: "in sync" cannot be claimed
    INTERRUPTED = 130  # SIGINT

    @staticmethod
    def worst(*codes: ExitCode) -> ExitCode:
        order = [ExitCode.OK, ExitCode.UNOBSERVED, ExitCode.DRIFT, ExitCode.ERROR]
        return max(codes, key=order.index, default=ExitCode.OK)


class ReconcileError(Exception):
    """A problem the user can fix. `str(err)` is the one line shown to them."""

    exit_code: ExitCode = ExitCode.ERROR


class ConfigError(ReconcileError):
    """A site file (or a CLI option) is missing, malformed or inconsistent."""


class BindingsError(ReconcileError):
    """A binding file cannot be read or parsed at all (syntax errors, not semantic problems)."""


class CollectError(ReconcileError):
    """A source failed in a way that makes the whole run meaningless (e.g. authentication refused)."""


class SnapshotError(ReconcileError):
    """A live snapshot file is unreadable or of an unknown format."""


def located(path: object, line: int | None = None, column: int | None = None) -> str:
    """Format `file:line:col` (omitting what is unknown) for one-line error messages."""
    text = str(path)
    if line is not None:
        text += f":{line}"
        if column is not None:
            text += f":{column}"
    return text


def did_you_mean(key: object, allowed: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a mistyped key, or "" when nothing allowed is close."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
