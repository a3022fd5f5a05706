"""The fixed remote script run on every docker host, and pure parsing of what it prints.

Nothing here does I/O. The script is a constant (two variants: plain, and the docker command prefixed with
`sudo -n`, chosen by the site file, never by a binding); no value from any binding file is ever part of it.
Documented in docs/ssh.md. It prints, in order, each part framed by marker lines on both stdout and stderr
(so the command's stderr and exit status can be told apart):

1. `printf '%s\\n' "$HOME"` — the remote home, to expand `~` in declared stack paths (a shell builtin);
2. `docker ps -a --no-trunc --format '<PS_FORMAT>'` — every container, each compose label extracted on its
   own (the `Labels` string of `{{json .}}` cannot be split safely, and `{{json .}}` makes the engine
   compute sizes).

One docker command per host: stacks are rebuilt from the containers' compose labels (project, service,
working dir, config files, one-off, container number), which is what `docker compose ls` itself reads. So a
host costs one round trip, needs no compose plugin, and compose v1 projects (relative config files, `_` in
container names) read the same way.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections import Counter
from collections.abc import Iterable

from ..model import LiveContainer, LiveStack, Reason
from ..record import record

MARK = "@@reconciler@@"

PS_FORMAT = (
    '{"ID":{{json .ID}},"Names":{{json .Names}},"Image":{{json .Image}},"State":{{json .State}},'
    '"Status":{{json .Status}},"Project":{{json (.Label "com.docker.compose.project")}},'
    '"Service":{{json (.Label "com.docker.compose.service")}},'
    '"WorkingDir":{{json (.Label "com.docker.compose.project.working_dir")}},'
    '"ConfigFiles":{{json (.Label "com.docker.compose.project.config_files")}},'
    '"OneOff":{{json (.Label "com.docker.compose.oneoff")}},'
    '"Number":{{json (.Label "com.docker.compose.container-number")}}}'
)

# The documented remote command (what docs/ssh.md lists and the e2e tests compare against).
COMMANDS = (f"docker ps -a --no-trunc --format {PS_FORMAT}",)

_SCRIPT = """\
LC_ALL=C; export LC_ALL
m() {{ printf '\\n{mark} %s\\n' "$*"; printf '\\n{mark} %s\\n' "$*" >&2; }}
m begin home; printf '%s\\n' "$HOME"; m end home 0
m begin ps; {sudo}docker ps -a --no-trunc --format '{ps_format}' </dev/null; m end ps $?
"""


def remote_script(sudo: bool = False) -> str:
    """The whole script (POSIX sh). `sudo=True` prefixes the docker command with `sudo -n`."""
    return _SCRIPT.format(mark=MARK, sudo="sudo -n " if sudo else "", ps_format=PS_FORMAT)


def remote_command(sudo: bool = False) -> str:
    """The exact command line sent over SSH: the script, run by /bin/sh whatever the login shell is."""
    return "/bin/sh -c " + shlex.quote(remote_script(sudo))


class DockerOutputError(Exception):
    """The host answered, but its docker could not be read; `reason` is a Reason code."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@record
class HostReport:
    home: str | None
    stacks: tuple[LiveStack, ...]
    containers: tuple[LiveContainer, ...]
    detail: str  # one line for the source status, e.g. "3 stacks, 7 containers"
    compose_v1: bool = False


@record
class Section:
    stdout: str
    stderr: str
    rc: int | None  # None: the end marker never came


# ── the script's output ──────────────────────────────────────────────────────


def split_sections(stdout: str, stderr: str) -> dict[str, Section]:
    """Cut both streams at the marker lines; text outside any section (motd, banners) is dropped."""
    out, out_rc = _sections(stdout)
    err, _ = _sections(stderr)
    return {name: Section(out.get(name, ""), err.get(name, ""), out_rc.get(name)) for name in out}


def _sections(text: str) -> tuple[dict[str, str], dict[str, int]]:
    parts: dict[str, list[str]] = {}
    codes: dict[str, int] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith(MARK + " "):
            words = line[len(MARK) + 1:].split()
            if len(words) >= 2 and words[0] == "begin":
                current = words[1]
                parts[current] = []
            elif len(words) >= 2 and words[0] == "end":
                if len(words) >= 3 and re.fullmatch(r"-?[0-9]{1,9}", words[2]):
                    codes[words[1]] = int(words[2])
                current = None
            continue
        if current is not None:
            parts[current].append(line)
    return {k: "\n".join(v).strip("\n") for k, v in parts.items()}, codes


def parse_host_output(stdout: str, stderr: str, exit_status: int | None = None) -> HostReport:
    """Turn the script's output into stacks and containers, or raise DockerOutputError with a reason."""
    sections = split_sections(stdout, stderr)
    ps = sections.get("ps")
    if ps is None or ps.rc is None:
        reason = classify_failure(stderr, exit_status)
        if reason is not None:
            raise DockerOutputError(reason, _first_line(stderr))
        raise DockerOutputError(Reason.OUTPUT_UNPARSEABLE,
                                "the remote script's output is incomplete (no docker ps section)"
                                + (f"; exit status {exit_status}" if exit_status is not None else "")
                                + (f": {_first_line(stderr)}" if stderr.strip() else ""))
    if ps.rc != 0:
        raise DockerOutputError(classify_failure(ps.stderr, ps.rc) or Reason.OUTPUT_UNPARSEABLE,
                                f"docker ps failed (exit {ps.rc}): {_first_line(ps.stderr) or 'no message'}")
    containers = parse_ps(ps.stdout)
    home_section = sections.get("home")
    home = home_section.stdout.strip().splitlines()[0].strip() if home_section and home_section.stdout.strip() else None
    stacks = stacks_from_containers(containers)
    v1 = any(f and not f.startswith("/") for s in stacks for f in s.config_files)
    detail = _summary(stacks, containers) + ("; compose v1 projects (relative config files)" if v1 else "")
    return HostReport(home, stacks, containers, detail, compose_v1=v1)


# Substrings of stderr, lowercased; wording varies between docker versions (see docs/ssh.md).
_SUDO = ("sudo: a password is required", "sudo: a terminal is required", "no askpass program",
         "sudo: sorry, you must have a tty")
_PERMISSION = ("permission denied while trying to connect to the docker", "got permission denied while trying",
               "is not in the sudoers file")
_DAEMON = ("cannot connect to the docker daemon", "failed to connect to the docker api",
           "is the docker daemon running", "error during connect")
_MISSING = ("docker: command not found", "docker: not found", "sudo: docker: command not found")


def classify_failure(stderr: str, rc: int | None) -> Reason | None:
    """The Reason a docker command failed for, from its stderr and exit status; None if not recognised."""
    low = stderr.lower()
    if any(s in low for s in _SUDO):
        return Reason.SUDO_PASSWORD_REQUIRED
    if any(s in low for s in _PERMISSION):
        return Reason.DOCKER_PERMISSION_DENIED
    if any(s in low for s in _DAEMON):
        return Reason.DOCKER_DAEMON_DOWN
    if any(s in low for s in _MISSING) or (rc == 127 and "docker" in low):
        return Reason.DOCKER_MISSING
    return None


# ── docker ps ────────────────────────────────────────────────────────────────

# docker shows a healthcheck's result only at the end of the Status text: "Up 2 minutes (unhealthy)".
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)\s*$")


def split_config_files(value: object) -> tuple[str, ...]:
    """Compose joins config files with ","; a path containing a comma cannot be told apart (documented)."""
    if not isinstance(value, str) or value.strip() in ("", "N/A"):
        return ()
    return tuple(p.strip() for p in value.split(",") if p.strip())


def parse_ps(text: str) -> tuple[LiveContainer, ...]:
    """One JSON object per line, as printed by the PS_FORMAT template (or `--format json`)."""
    containers = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise DockerOutputError(Reason.OUTPUT_UNPARSEABLE,
                                    f"docker ps line {number} is not JSON: {line[:80]!r}") from None
        if not isinstance(row, dict) or not isinstance(row.get("Names"), str) or not isinstance(row.get("State"), str):
            raise DockerOutputError(Reason.OUTPUT_UNPARSEABLE, f"docker ps line {number}: unexpected shape")
        containers.append(_container(row))
    return tuple(containers)


def _container(row: dict) -> LiveContainer:
    if "Project" in row:
        labels = {"project": row.get("Project"), "service": row.get("Service"), "working_dir": row.get("WorkingDir"),
                  "config_files": row.get("ConfigFiles"), "oneoff": row.get("OneOff")}
    else:  # `--format json` / `{{json .}}`: labels are one string; only the unambiguous keys are trusted
        parsed = parse_label_string(str(row.get("Labels") or ""))
        labels = {"project": parsed.get("com.docker.compose.project"),
                  "service": parsed.get("com.docker.compose.service"),
                  "working_dir": parsed.get("com.docker.compose.project.working_dir"),
                  "config_files": parsed.get("com.docker.compose.project.config_files"),
                  "oneoff": parsed.get("com.docker.compose.oneoff")}
    names = [n.strip().lstrip("/") for n in str(row.get("Names") or "").split(",") if n.strip()]
    health = _HEALTH.search(str(row.get("Status") or ""))
    return LiveContainer(
        name=names[0] if names else str(row.get("ID") or "")[:12],
        state=str(row.get("State") or "").lower(),
        status=str(row.get("Status") or ""),
        image=str(row.get("Image") or ""),
        project=str(labels["project"] or ""),
        service=str(labels["service"] or ""),
        working_dir=str(labels["working_dir"] or ""),
        config_files=str(labels["config_files"] or ""),
        oneoff=str(labels["oneoff"] or "").lower() == "true",
        health=health.group(1).removeprefix("health: ") if health else "",
    )


_LABEL_KEY = re.compile(r"(?:^|,)([A-Za-z0-9][A-Za-z0-9._/-]*)=")


def parse_label_string(text: str) -> dict[str, str]:
    """Best effort for the `Labels` string of `docker ps --format json`: values may contain "," and "=".

    A key is recognised only as a "," followed by a label-like name and "=", so `a,b=c` inside a value
    is still ambiguous; prefer PS_FORMAT, which extracts each label on its own.
    """
    if not text:
        return {}
    starts = [(m.start(1), m.end(), m.group(1)) for m in _LABEL_KEY.finditer(text)]
    labels: dict[str, str] = {}
    for index, (_, value_start, key) in enumerate(starts):
        end = starts[index + 1][0] - 1 if index + 1 < len(starts) else len(text)
        labels[key] = text[value_start:end]
    return labels


# ── stacks ───────────────────────────────────────────────────────────────────


def stacks_from_containers(containers: Iterable[LiveContainer]) -> tuple[LiveStack, ...]:
    """One stack per `com.docker.compose.project` label, as `docker compose ls --all` would list them."""
    return tuple(sorted((_stack(name, members) for name, members in _group(containers).items()),
                        key=lambda s: s.name))


def _group(containers: Iterable[LiveContainer]) -> dict[str, list[LiveContainer]]:
    groups: dict[str, list[LiveContainer]] = {}
    for container in containers:
        if container.project:
            groups.setdefault(container.project, []).append(container)
    return groups


def _stack(name: str, members: list[LiveContainer]) -> LiveStack:
    regular = [c for c in members if not c.oneoff]
    # One-off `compose run` containers do not make a stack "not running" (compose ls counts them).
    counted = regular or members
    states = dict(Counter(c.condition for c in counted))
    working_dir = next((c.working_dir for c in regular + members if c.working_dir), None)
    files = next((split_config_files(c.config_files) for c in regular + members if c.config_files), ())
    if working_dir:  # compose v1 writes config files relative to the project directory
        files = tuple(f if f.startswith("/") else posixpath.join(working_dir, f) for f in files)
    return LiveStack(name=name, states=states, config_files=files, working_dir=working_dir)


def _summary(stacks: tuple[LiveStack, ...], containers: tuple[LiveContainer, ...]) -> str:
    return f"{len(stacks)} stacks, {len(containers)} containers"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.startswith(MARK):
            return line.strip()[:300]
    return ""
