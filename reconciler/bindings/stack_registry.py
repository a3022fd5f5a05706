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
from dataclasses import field
from pathlib import Path

from ..model import Finding, SourceRef
from ..record import record
from . import Located, Problems, key_lines, named_entries, open_binding, text

RULE_ID = "bindings-stack-registry"
_PROXMOX_VM = re.compile(r"^proxmox:vm-([0-9]{1,9})$")  # ASCII digits of a sane length: int() accepts them


@record
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


@record
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
    file = open_binding(path, root, "a 'stacks:' list")
    problems = Problems(RULE_ID, site, file.shown, item_type="registry-stack")
    stacks = [
        RegistryStack(
            stack_id=stack_id, source=SourceRef(file.shown, item.line), name=text(item.get("name")),
            status=text(item.get("status")), path=text(item.get("path")),
            deploy_target=text(item.get("deploy_target")), field_lines=key_lines(item),
        )
        for _line, item, stack_id in named_entries(file.section("stacks"), problems, "stack_id", "STACK_REGISTRY entry")
    ]
    return StackRegistryFile(stacks=tuple(stacks), problems=tuple(problems), shown=file.shown, present=file.present)
