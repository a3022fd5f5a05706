"""`docker.compose.targets.yaml` → docker hosts and the compose stacks each declares, with `file:line`.

Public API (stable; the governance checks import it):

- `load_compose_targets(path, root, site) -> ComposeTargetsFile`
- `ComposeTargetsFile.targets` (target id → `ComposeTarget`, file order), `.enabled()`,
  `.by_host()` (ssh target → first enabled `ComposeTarget`), `.stacks(enabled_only=True)`,
  `.problems` (`invalid` findings), `.shown`, `.present`.
- `ComposeTarget` (frozen): id, ssh_target, enabled, stacks (`DeclaredStack`s), source, description,
  field_lines; `.source_of(key)`.

A docker host is identified by its **ssh target** (`ssh_target:`, defaulting to the target id): that is
the key shared with `vm.lifecycle.yaml` (`ssh_target:`), `SERVICE_REGISTRY.yaml` (`host:`) and the live
observations. `DeclaredStack.target` is therefore the ssh target. In the user's files the two are
equal except for disabled leftovers (`vaultwarden-home` → `vault`).

File layout: `targets:` is a mapping of target id → entry (a list of entries with `id:` is accepted
too). Entry keys used: `ssh_target`, `enabled` (default true), `stacks` (a list of `{name, path,
compose_file}`; `compose`/`file` are accepted for `compose_file`; a bare string is a stack name).
Unknown keys are tolerated. Semantic problems become `invalid` findings and the rest still loads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from ..model import DeclaredStack, Finding, SourceRef
from ..record import record
from ..yamlio import YList, YMap
from . import Located, Problems, key_lines, named_entries, open_binding

RULE_ID = "bindings-compose-targets"
_COMPOSE_FILE_KEYS = ("compose_file", "compose", "file")


@record
class ComposeTarget(Located):
    id: str  # the key under `targets:`
    ssh_target: str  # the docker host's identity (defaults to `id`)
    enabled: bool
    source: SourceRef  # the line of the target's key
    stacks: tuple[DeclaredStack, ...] = ()
    description: str | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)


@record
class ComposeTargetsFile:
    targets: Mapping[str, ComposeTarget] = field(default_factory=dict)
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/docker.compose.targets.yaml"
    present: bool = False

    def enabled(self) -> Iterator[ComposeTarget]:
        return (t for t in self.targets.values() if t.enabled)

    def by_host(self) -> dict[str, ComposeTarget]:
        """ssh target → the first enabled compose target naming it (duplicates are `invalid` findings)."""
        hosts: dict[str, ComposeTarget] = {}
        for target in self.enabled():
            hosts.setdefault(target.ssh_target, target)
        return hosts

    def stacks(self, enabled_only: bool = True) -> tuple[DeclaredStack, ...]:
        chosen = self.by_host().values() if enabled_only else self.targets.values()
        return tuple(s for t in chosen for s in t.stacks)


def load_compose_targets(path: Path, root: Path, site: str) -> ComposeTargetsFile:
    """Load `docker.compose.targets.yaml`; a missing file is an empty, `present=False` result."""
    file = open_binding(path, root, "a 'targets:' section")
    loader = _Loader(Problems(RULE_ID, site, file.shown))
    raw = file.section("targets", (YMap, YList))
    if isinstance(raw, YMap):
        entries = [(str(key), value, raw.line_of(key)) for key, value in raw.items()]
    else:  # a list of entries with `id:` (or nothing)
        entries = [(key, value, line) for line, value, key in
                   named_entries(raw, loader.problems, "id", "compose target in a list")]
    targets: dict[str, ComposeTarget] = {}
    hosts: dict[str, ComposeTarget] = {}
    for key, value, line in entries:
        if key in targets:
            loader.problem(line, "id", f"compose target '{key}' is declared twice (first at {targets[key].source})",
                           "remove or rename one of the entries", target=key, extra=(targets[key].source,))
            continue
        target = loader.target(key, value, line)
        if target is None:
            continue
        targets[key] = target
        if target.enabled:
            first = hosts.get(target.ssh_target)
            if first is not None:
                loader.problem(line, "ssh_target",
                               f"compose targets '{first.id}' and '{key}' both point at ssh target "
                               f"'{target.ssh_target}'; only '{first.id}' is checked",
                               f"merge the stacks of '{key}' into '{first.id}' ({first.source})",
                               target=target.ssh_target, extra=(first.source,))
            else:
                hosts[target.ssh_target] = target
    return ComposeTargetsFile(targets=targets, problems=tuple(loader.problems), shown=file.shown,
                              present=file.present)


class _Loader:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.shown = problems.shown

    def problem(self, line: int, fld: str, message: str, hint: str, target: str | None = None,
                stack: str | None = None, extra: tuple[SourceRef, ...] = ()) -> None:
        if target and stack:
            subject = self.problems.about("stack", target=target, name=stack)
        elif target:
            subject = self.problems.about("host", target=target)
        else:
            subject = None
        self.problems.add(line, fld, message, hint, subject=subject, extra=extra)

    def target(self, key: str, value: Any, line: int) -> ComposeTarget | None:
        if not isinstance(value, YMap):
            self.problem(line, "item", f"compose target '{key}' must be a mapping",
                         "fix the entry's indentation", target=key)
            return None
        ssh_target = value.get("ssh_target", key)
        if ssh_target is None:
            ssh_target = key
        if not isinstance(ssh_target, str) or not ssh_target:
            self.problem(value.line_of("ssh_target"), "ssh_target",
                         f"compose target '{key}': ssh_target {ssh_target!r} is not a name",
                         "set ssh_target to an id from ssh.targets.yaml", target=key)
            return None
        enabled = value.get("enabled", True)
        if enabled is None:
            enabled = True
        if not isinstance(enabled, bool):
            self.problem(value.line_of("enabled"), "enabled",
                         f"compose target '{key}': enabled {enabled!r} is not true/false; treated as true",
                         "write enabled: true or enabled: false", target=ssh_target)
            enabled = True
        source = SourceRef(self.shown, line)
        description = value.get("description", value.get("notes"))
        return ComposeTarget(
            id=key, ssh_target=ssh_target, enabled=enabled, source=source,
            stacks=self._stacks(key, ssh_target, value),
            description=str(description) if description is not None else None,
            field_lines=key_lines(value),
        )

    def _stacks(self, key: str, host: str, value: YMap) -> tuple[DeclaredStack, ...]:
        raw = value.get("stacks")
        if raw is None:
            return ()
        if not isinstance(raw, YList):
            self.problem(value.line_of("stacks"), "stacks", f"compose target '{key}': 'stacks' must be a list",
                         "write stacks as a list of {name, path} entries", target=host)
            return ()
        stacks: dict[str, DeclaredStack] = {}
        for index, item in enumerate(raw):
            line = raw.line_of(index)
            if isinstance(item, str) and item:
                item = YMap({"name": item}, line=line)
            if not isinstance(item, YMap):
                self.problem(line, "item", f"compose target '{key}': a stack entry must be a mapping",
                             "write the stack as {name: ..., path: ...}", target=host)
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                self.problem(line, "name", f"compose target '{key}': stack entry has no name",
                             f"add 'name:' to the stack at {self.shown}:{line}", target=host)
                continue
            if name in stacks:
                first = stacks[name].source
                self.problem(line, "name", f"stack '{name}' is declared twice on '{key}' (first at {first})",
                             "remove one of the entries", target=host, stack=name, extra=(first,))
                continue
            path = item.get("path")
            if path is not None and (not isinstance(path, str) or not path.strip()):
                self.problem(item.line_of("path"), "path", f"stack '{name}' on '{key}': path {path!r} is not a path",
                             "write the compose directory as a path", target=host, stack=name)
                path = None
            compose_file = next((item[k] for k in _COMPOSE_FILE_KEYS if isinstance(item.get(k), str)), None)
            stacks[name] = DeclaredStack(target=host, name=name, path=path, source=SourceRef(self.shown, line),
                                         compose_file=compose_file)
        return tuple(stacks.values())
