"""The fixed remote script that checks backup files on one SSH host, and pure parsing of what it prints.

Issue 17 groundwork: not yet part of any run. One script per host covers all of that host's `file_glob`
targets. Binding values never become code: each target travels as one data line on the script's stdin,
`NAME<TAB>BASE_PATH<TAB>GLOB`, read with `read -r` and only ever used quoted: `cd` to BASE_PATH (in a subshell),
then `find . -path "./GLOB"` at exactly the glob's depth (`*.sql.gz` in the folder itself, `*/manifest.txt` one
level down), so `find` matches the glob itself, never a shell. A value holding a tab, a newline or a NUL cannot be
sent and is an `invalid` binding for the caller (`encode_targets` refuses it). `find` never yields a `..`
component, so `*/../..` is an ordinary non-match.

Per target the script prints `@@reconciler-backup@@ NAME` then `exists 0|1`, `readable 0|1`, `count N` and,
when N > 0, `newest EPOCH SIZE ./PATH` (modification time in seconds, size in bytes, the path below BASE_PATH). It needs
`find` with `-mindepth`, `-maxdepth`, `-path` and `-exec {} +`, `stat -c`, `tr`, `wc`, `sort` and `tail`
(GNU coreutils/findutils and busybox all have them).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from ..model.backup import FileCheck
from ..record import record

MARK = "@@reconciler-backup@@"

_SCRIPT = """\
LC_ALL=C; export LC_ALL
PATH="${{PATH:-/usr/bin:/bin}}:/usr/bin:/bin"; export PATH
tab=$(printf '\\t')
while IFS="$tab" read -r name base glob; do
  printf '%s %s\\n' '{mark}' "$name"
  if [ -d "$base" ]; then echo "exists 1"; else echo "exists 0"; continue; fi
  if [ -r "$base" ] && [ -x "$base" ]; then echo "readable 1"; else echo "readable 0"; continue; fi
  depth=$(( $(printf '%s' "$glob" | tr -cd / | wc -c) + 1 ))
  ( cd "$base" && find . -mindepth "$depth" -maxdepth "$depth" -type f -path "./$glob" \\
      -exec stat -c '%Y %s %n' {{}} + ) 2>/dev/null | sort -n > "${{TMPDIR:-/tmp}}/.reconciler-backup.$$"
  count=$(wc -l < "${{TMPDIR:-/tmp}}/.reconciler-backup.$$" | tr -d ' ')
  echo "count $count"
  if [ "$count" -gt 0 ]; then printf 'newest %s\\n' "$(tail -n 1 "${{TMPDIR:-/tmp}}/.reconciler-backup.$$")"; fi
  rm -f "${{TMPDIR:-/tmp}}/.reconciler-backup.$$"
done
"""


def remote_script() -> str:
    return _SCRIPT.format(mark=MARK)


def remote_command() -> str:
    """The exact command line sent over SSH (the targets go on stdin, never here)."""
    return "/bin/sh -c " + shlex.quote(remote_script())


@record
class TargetSpec:
    name: str
    base_path: str
    glob: str


class UnsendableValue(ValueError):
    """A binding value the one-line-per-target protocol cannot carry (a tab, newline or NUL in it)."""


def encode_targets(targets: Iterable[TargetSpec]) -> bytes:
    lines = []
    for target in targets:
        for value in (target.name, target.base_path, target.glob):
            if any(c in value for c in "\t\n\r\0"):
                raise UnsendableValue(f"backup target '{target.name}': {value!r} holds a tab, newline or NUL")
        lines.append(f"{target.name}\t{target.base_path}\t{target.glob}\n")
    return "".join(lines).encode()


def parse_output(text: str) -> dict[str, FileCheck]:
    """The script's stdout → per target name its check; lines outside a target's block are ignored."""
    found: dict[str, dict] = {}
    current: dict | None = None
    for line in text.splitlines():
        if line.startswith(MARK + " "):
            current = found.setdefault(line[len(MARK) + 1:], {})
            continue
        if current is None:
            continue
        key, _, value = line.partition(" ")
        if key in ("exists", "readable") and value in ("0", "1"):
            current[key] = value == "1"
        elif key == "count" and value.isascii() and value.isdigit() and len(value) < 10:
            current["count"] = int(value)
        elif key == "newest":
            mtime, size, path = [*value.split(" ", 2), "", ""][:3]
            if mtime.isascii() and mtime.isdigit() and size.isascii() and size.isdigit():
                current.update(newest_mtime=int(mtime), newest_size=int(size),
                               newest_name=path.removeprefix("./") or None)
    return {name: FileCheck(name, values.get("exists", False), values.get("readable", False),
                            values.get("count", 0), values.get("newest_mtime"), values.get("newest_size"),
                            values.get("newest_name"))
            for name, values in found.items()}
