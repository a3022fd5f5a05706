"""The ignore file (`.reconcileignore`): findings the user knows about and has decided to live with, for now.

Every command that reports applies it (the full run, `check`, `report`; `--no-ignore` to see everything):
ignored findings are counted apart and do not decide the exit code.

One entry per line, matched against `Finding.address` (`site/type/handle/kind[/field]`):

    # comment lines and blank lines are kept as they are
    home/qemu/proxmox-home/101/*
    shop/stack/docker-host/*   expires: 2026-12-31   reason: disk swap planned in December
    !home/qemu/proxmox-home/101/missing

- the first word is a shell-style pattern over the whole address (`*` also matches `/`, `?` one character,
  `[...]` a set); a leading `!` re-includes what an earlier line ignored;
- after it, optionally `expires: YYYY-MM-DD` (the entry applies through that day, UTC) and then
  `reason: free text to the end of the line`;
- the last entry that matches a finding decides (as in .gitignore); an expired entry matches nothing and
  is itself reported, so a forgotten exception cannot hide a problem for ever.

`append_entry` adds one line at the end and leaves every existing byte of the file as it was.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, located
from ..fileio import atomic_write
from ..model import Finding
from ..model.nightly import IgnoreEntry, IgnoreRules
from ..model.report import Report

_TAIL = re.compile(r"^(?:expires:\s*(?P<expires>\S+))?\s*(?:reason:\s*(?P<reason>.*))?$")


def parse_line(text: str, file: str, number: int) -> IgnoreEntry | None:
    """One line → an entry (None for blank and comment lines); a malformed line is a ConfigError at file:line."""
    words = text.strip().split(None, 1)
    if not words or words[0].startswith("#"):
        return None
    word, tail = words[0], (words[1] if len(words) > 1 else "")
    negate = word.startswith("!")
    pattern = word[1:] if negate else word
    where = located(file, number)
    if not pattern:
        raise ConfigError(f"{where}: '!' must be followed by a pattern")
    match = _TAIL.match(tail.strip())
    if match is None:
        raise ConfigError(f"{where}: expected 'expires: YYYY-MM-DD' and/or 'reason: TEXT' after the pattern, "
                          f"got {tail.strip()!r}")
    reason = (match["reason"] or "").strip()
    if re.search(r"(^|\s)expires:", reason):
        raise ConfigError(f"{where}: 'expires:' must come before 'reason:' (the reason runs to the end of the line)")
    return IgnoreEntry(pattern, negate, file, number, parse_date(match["expires"], where), reason)


def parse_date(value: str | None, where: str) -> dt.date | None:
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    label = where if where.startswith("--") else f"{where}: expires:"  # `--expires` names itself
    raise ConfigError(f"{label} {value!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-12-31)")


def lines_of(text: str) -> list[str]:
    """Lines as an editor numbers them (only \\n ends a line; a trailing \\r of CRLF is dropped)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def read_text(path: Path) -> str:
    """The file exactly as stored (newline="" keeps CRLF line ends, so appending preserves them)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: ignore file is not UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ignore file: {exc.strerror or exc}") from None


def load_file(path: Path) -> list[IgnoreEntry]:
    entries = []
    for number, line in enumerate(lines_of(read_text(path)), 1):
        entry = parse_line(line, str(path), number)
        if entry is not None:
            entries.append(entry)
    return entries


def load_rules(explicit: Path | None, default_files: Iterable[Path]) -> IgnoreRules:
    """`--ignore FILE` (must exist), else each selected site's default ignore file that exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: ignore file not found")
        paths = [explicit]
    else:
        paths = [path for path in dict.fromkeys(p.resolve() for p in default_files) if path.is_file()]
    entries = [entry for path in paths for entry in load_file(path)]
    return IgnoreRules(tuple(entries), tuple(str(p) for p in paths))


def set_aside(report: Report, rules: IgnoreRules) -> Report:
    """`report` with the findings an entry ignores today moved to `report.ignored` (they no longer count)."""
    today = dt.date.fromisoformat(report.generated_at[:10])
    kept: list[Finding] = []
    ignored: list[Finding] = [*report.ignored]
    for finding in report.findings:
        (ignored if rules.match(finding.address, today) is not None else kept).append(finding)
    return replace(report, findings=tuple(kept), ignored=tuple(ignored))


def entry_line(pattern: str, reason: str, expires: dt.date | None) -> str:
    """The text of a new entry (validated by parsing it back)."""
    if not pattern or pattern.startswith("#") or any(c.isspace() for c in pattern):
        raise ConfigError(f"ignore pattern {pattern!r} must be one word, without spaces, not starting with '#'")
    reason = " ".join(reason.split())
    parts = [pattern]
    if expires is not None:
        parts.append(f"expires: {expires.isoformat()}")
    if reason:
        parts.append(f"reason: {reason}")
    line = "  ".join(parts)
    parse_line(line, "the new entry", 1)  # what we append must read back as exactly this entry
    return line


def append_entry(path: Path, line: str, comment_lines: Sequence[str] = (), protected: Iterable[Path] = ()) -> int:
    """Append `line` (after `# comment` lines) to the ignore file; existing bytes are kept unchanged.

    Written atomically (a new file with the old content + the new lines, renamed over the old one), so a
    crash never leaves half an entry. Returns the line number of the new entry.
    """
    old = read_text(path) if path.exists() else ""
    newline = "\r\n" if "\r\n" in old else "\n"
    added = [*(f"# {c}" for c in comment_lines), line]
    prefix = "" if not old or old.endswith(("\n", "\r")) else newline
    atomic_write(path, old + prefix + newline.join(added) + newline, protected)
    return len(lines_of(old + prefix)) - 1 + len(added)
