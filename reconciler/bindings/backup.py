"""`backup.inventory.yaml` → one `BackupTarget` per entry, every one with its `file:line`.

Public API (the governance checks import it):

- `load_backup_inventory(path, root, site) -> BackupInventory`
- `BackupInventory.targets` (every entry in file order, duplicates included: the governance
  duplicates rule reports them), `.by_name` (name → first entry), `.problems`, `.shown`, `.present`.
- `BackupTarget` (frozen): name, enabled, host, glob, kind, base_path, source, field_lines;
  `.vzdump` (the guest type and vmid its glob names, if any), `.covers(vm_type, vmid)`, `.source_of(key)`.

File layout: `targets:` is a list of mappings with `name:`. `enabled` defaults to the file's
`defaults.enabled`, else **false** (the user's file says "enabled=false by default; flip true
intentionally per target"). Loaded through the skeleton of `bindings/__init__.py`: a missing file is an
empty, `present=False` result; syntax errors raise BindingsError; semantic problems (an entry without
name, `enabled` that is not a boolean) become `invalid` findings and the rest still loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..model import Finding, GuestType, SourceRef
from . import Located, Problems, key_lines, named_entries, open_binding, text

RULE_ID = "bindings-backup-inventory"
# vzdump artifact names: vzdump-{qemu|lxc}-{vmid}-{timestamp}.{ext}
_VZDUMP = re.compile(r"^vzdump-(qemu|lxc)-([0-9]{1,9})-")  # ASCII digits of a sane length: int() accepts them


@dataclass(frozen=True, slots=True)
class BackupTarget(Located):
    name: str
    enabled: bool
    source: SourceRef  # the line of the list item
    host: str | None = None  # where the artifacts live (a Proxmox host, the NAS, a guest)
    glob: str | None = None
    kind: str | None = None
    base_path: str | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def vzdump(self) -> tuple[GuestType, int] | None:
        """(guest type, vmid) when the glob names one guest's vzdump artifacts, else None."""
        match = _VZDUMP.match(self.glob or "")
        if match is None:
            return None
        return GuestType(match.group(1)), int(match.group(2))

    def covers(self, vm_type: GuestType, vmid: int) -> bool:
        return self.vzdump == (vm_type, vmid)


@dataclass(frozen=True, slots=True)
class BackupInventory:
    targets: tuple[BackupTarget, ...] = ()
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/backup.inventory.yaml"
    present: bool = False

    @property
    def by_name(self) -> dict[str, BackupTarget]:
        names: dict[str, BackupTarget] = {}
        for target in self.targets:
            names.setdefault(target.name, target)
        return names


def load_backup_inventory(path: Path, root: Path, site: str) -> BackupInventory:
    file = open_binding(path, root, "a 'targets:' list")
    items = file.section("targets")
    defaults = file.mapping("defaults")
    default_enabled = defaults.get("enabled") is True
    problems = Problems(RULE_ID, site, file.shown, item_type="backup-target")
    targets: list[BackupTarget] = []
    for _line, item, name in named_entries(items, problems, "name", "backup target"):
        enabled = item.get("enabled", default_enabled)
        if enabled is None:
            enabled = default_enabled
        if not isinstance(enabled, bool):
            problems.add(item.line_of("enabled"), "enabled",
                         f"backup target '{name}': enabled {enabled!r} is not true/false; treated as false",
                         "write enabled: true or enabled: false", name=name)
            enabled = False
        targets.append(BackupTarget(
            name=name, enabled=enabled, source=SourceRef(file.shown, item.line),
            host=text(item.get("host", defaults.get("host"))), glob=text(item.get("glob")),
            kind=text(item.get("kind", defaults.get("kind"))), base_path=text(item.get("base_path")),
            field_lines=key_lines(item),
        ))
    return BackupInventory(targets=tuple(targets), problems=tuple(problems), shown=file.shown, present=file.present)
