"""`STACK_REGISTRY.yaml` → one `RegistryStack` per `stacks:` entry, every one with its `file:line`.

Public API (the governance checks import it):

- `load_stack_registry(path, root, site) -> StackRegistryFile`
- `StackRegistryFile.stacks` (file order, duplicates included: the governance duplicates rule
  reports them), `.ids` (stack_id → first entry), `.problems`, `.shown`, `.present`.
- `RegistryStack` (frozen): stack_id, name, status, path, deploy_target, source, field_lines;
  `.vmid` (from `proxmox:vm-N` in `path` or `deploy_target`).

A missing file is an empty, `present=False` result; entries without `stack_id` become `invalid`
findings and the rest still loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BindingsError, located
from ..model import Finding, Kind, Severity, SourceRef, Subject
from ..yamlio import YList, YMap, load_yaml_file
from . import Located, display_path, text

RULE_ID = "bindings-stack-registry"
_PROXMOX_VM = re.compile(r"^proxmox:vm-([0-9]{1,9})$")  # ASCII digits of a sane length: int() accepts them


@dataclass(frozen=True, slots=True)
class RegistryStack(Located):
    stack_id: str
    source: SourceRef
    name: str | None = None
    status: str | None = None
    path: str | None = None
    deploy_target: str | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def vmid(self) -> int | None:
        for value in (self.deploy_target, self.path):
            match = _PROXMOX_VM.match(value or "")
            if match:
                return int(match.group(1))
        return None


@dataclass(frozen=True, slots=True)
class StackRegistryFile:
    stacks: tuple[RegistryStack, ...] = ()
    problems: tuple[Finding, ...] = ()
    shown: str = "docs/governance/STACK_REGISTRY.yaml"
    present: bool = False

    @property
    def ids(self) -> dict[str, RegistryStack]:
        ids: dict[str, RegistryStack] = {}
        for stack in self.stacks:
            ids.setdefault(stack.stack_id, stack)
        return ids


def load_stack_registry(path: Path, root: Path, site: str) -> StackRegistryFile:
    shown = display_path(path, root)
    if not path.exists():
        return StackRegistryFile(shown=shown, present=False)
    data = load_yaml_file(path)
    if data is None:
        return StackRegistryFile(shown=shown, present=True)
    if not isinstance(data, YMap):
        raise BindingsError(f"{path}: expected a YAML mapping with a 'stacks:' list")
    items = data.get("stacks")
    if items is None:
        return StackRegistryFile(shown=shown, present=True)
    if not isinstance(items, YList):
        raise BindingsError(f"{located(path, data.line_of('stacks'))}: 'stacks' must be a list")
    problems: list[Finding] = []
    stacks: list[RegistryStack] = []
    for index, item in enumerate(items):
        line = items.line_of(index)
        stack_id = item.get("stack_id") if isinstance(item, YMap) else None
        if not isinstance(stack_id, str) or not stack_id.strip():
            subject = Subject(type="registry-stack", site=site, target=shown, name=f"line-{line}")
            problems.append(Finding(
                kind=Kind.INVALID, rule=RULE_ID, subject=subject, field="stack_id",
                message="a STACK_REGISTRY entry needs a mapping with 'stack_id'",
                sources=(SourceRef(shown, line),), hint=f"add 'stack_id:' to the entry at {shown}:{line}",
                severity=Severity.ERROR))
            continue
        stacks.append(RegistryStack(
            stack_id=stack_id, source=SourceRef(shown, item.line), name=text(item.get("name")),
            status=text(item.get("status")), path=text(item.get("path")),
            deploy_target=text(item.get("deploy_target")),
            field_lines={str(k): v for k, v in item.key_lines.items()},
        ))
    return StackRegistryFile(stacks=tuple(stacks), problems=tuple(problems), shown=shown, present=True)
