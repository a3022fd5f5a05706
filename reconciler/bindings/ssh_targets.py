"""`ssh.targets.yaml` → one `SshTarget` per target, every one with its `file:line`.

Public API (stable; the governance checks import it):

- `load_ssh_targets(path, root, site) -> SshTargetsFile`
- `SshTargetsFile.targets` (id → `SshTarget`, in file order), `.get(id)`, `.insecure_sources`,
  `.problems` (`invalid` findings), `.shown` (the file as named in findings), `.present`.
- `SshTarget` (frozen): id, host, user, port, tags, access_method, strict_host_key_checking,
  probe_via, optional, source, field_lines; `.source_of(key)`.

Layout of the user's file: a top-level `ssh:` mapping holding `defaults:` and `targets:` (a list of
mappings with `id:`). A file without the `ssh:` wrapper (top-level `defaults:`/`targets:`) is accepted
too. `defaults` apply to every target that does not set the key itself. Unknown keys are tolerated.

A missing file is an empty, `present=False` result. Syntax errors raise BindingsError; semantic
problems (a target without id or host, a duplicate id, a port that is not a number) become `invalid`
findings and the other targets still load.

The reconciler never *follows* `strict_host_key_checking` or `user_known_hosts_file`: host keys are
always verified (see docs/ssh.md). `insecure_sources` lists where the file turns checking off, so the
caller can report it once as a `security` finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from ..model import Finding, SourceRef
from ..record import record
from ..yamlio import YMap
from . import Located, Problems, key_lines, named_entries, open_binding, text

RULE_ID = "bindings-ssh-targets"
DEFAULT_PORT = 22
# Values of strict_host_key_checking that mean "accept any host key" in OpenSSH.
INSECURE_HOST_KEY_VALUES = frozenset({"no", "off", "false", "accept-new-unsafe"})


@record
class SshTarget(Located):
    """One entry of `ssh.targets.yaml`, with the file's `defaults` applied."""

    id: str
    host: str | None  # None: no host given (an `invalid` finding says so)
    user: str | None
    port: int
    source: SourceRef  # the line of the list item
    tags: tuple[str, ...] = ()
    access_method: str | None = None  # e.g. "lan_only"
    strict_host_key_checking: str | None = None  # as written (after defaults); never followed
    probe_via: str | None = None
    optional: bool = False
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def host_key_checking_disabled(self) -> bool:
        value = self.strict_host_key_checking
        return value is not None and str(value).strip().lower() in INSECURE_HOST_KEY_VALUES


@record
class SshTargetsFile:
    targets: Mapping[str, SshTarget] = field(default_factory=dict)  # id → target, file order
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/ssh.targets.yaml"
    present: bool = False
    # Where the file disables host key checking: the `defaults` key and/or individual targets' keys.
    insecure_sources: tuple[SourceRef, ...] = ()
    defaults_source: SourceRef | None = None

    def get(self, target_id: str | None) -> SshTarget | None:
        return self.targets.get(target_id) if target_id else None


def load_ssh_targets(path: Path, root: Path, site: str) -> SshTargetsFile:
    """Load `ssh.targets.yaml`; `site` tags the `invalid` findings (they belong to the run's site)."""
    file = open_binding(path, root, "an 'ssh:' section")
    section = file.mapping("ssh") if isinstance(file.data.get("ssh"), YMap) else file.data
    items = file.section("targets", within=section)
    defaults = file.mapping("defaults", within=section)
    shown = file.shown
    problems = Problems(RULE_ID, site, shown)
    insecure: list[SourceRef] = []
    defaults_source = SourceRef(shown, defaults.line) if isinstance(section.get("defaults"), YMap) else None
    if "strict_host_key_checking" in defaults and _insecure(defaults["strict_host_key_checking"]):
        insecure.append(SourceRef(shown, defaults.line_of("strict_host_key_checking")))
    targets: dict[str, SshTarget] = {}
    for line, item, target_id in named_entries(items, problems, "id", "ssh target"):
        merged = {**defaults, **item}
        about = problems.about("host", target=target_id)
        first = targets.get(target_id)
        if first is not None:
            problems.add(line, "id", f"ssh target '{target_id}' is declared twice (first at {first.source})",
                         f"remove or rename one of the entries ({first.source}, {shown}:{line})",
                         subject=about, extra=(first.source,))
            continue
        host = text(merged.get("host"))
        if host is None:
            problems.add(item.line_of("host"), "host", f"ssh target '{target_id}' has no host",
                         f"add 'host:' to the entry at {shown}:{line}", subject=about)
        port = merged.get("port", DEFAULT_PORT)
        if port is None:
            port = DEFAULT_PORT
        if isinstance(port, str) and port.strip().isascii() and port.strip().isdigit() and len(port.strip()) <= 5:
            port = int(port)  # "²" passes isdigit() but not int(); 5,000 digits overflow int()
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            where = item.line_of("port") if "port" in item else defaults.line_of("port")
            problems.add(where, "port", f"ssh target '{target_id}': port {port!r} is not a TCP port number",
                         "write the port as a number between 1 and 65535", subject=about)
            port = DEFAULT_PORT
        strict = merged.get("strict_host_key_checking")
        if "strict_host_key_checking" in item and _insecure(item["strict_host_key_checking"]):
            insecure.append(SourceRef(shown, item.line_of("strict_host_key_checking")))
        targets[target_id] = SshTarget(
            id=target_id,
            host=host,
            user=text(merged.get("user")),
            port=port,
            source=SourceRef(shown, item.line),
            tags=_names(merged.get("tags")),
            access_method=text(merged.get("access_method")),
            strict_host_key_checking=None if strict is None else _stricttext(strict),
            probe_via=text(merged.get("probe_via")),
            optional=merged.get("optional") is True,
            field_lines=key_lines(item),
        )
    return SshTargetsFile(targets=targets, problems=tuple(problems), shown=shown, present=file.present,
                          insecure_sources=tuple(insecure), defaults_source=defaults_source)


def _insecure(value: Any) -> bool:
    return _stricttext(value).lower() in INSECURE_HOST_KEY_VALUES


def _stricttext(value: Any) -> str:
    # YAML 1.1 reads an unquoted `no` as False.
    if value is False:
        return "no"
    if value is True:
        return "yes"
    return str(value).strip()


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if v is not None)
