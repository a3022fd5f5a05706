"""`infra.vm.profiles.yaml` → one `VmProfile` per profile, every value with its `file:line`.

Public API (`reconcile plan-vm` imports it):

- `load_vm_profiles(path, root, site) -> ProfilesFile`
- `ProfilesFile.profiles` (name → `VmProfile`, file order), `.get(name)`, `.proxmox_host` (the file's
  `defaults.proxmox_host`), `.problems` (`invalid` findings), `.shown`, `.present`.
- `VmProfile` (frozen): name, template_vmid, cpu_cores, memory_mb, disk_gb, storage, ssh_user, qemu_agent,
  description, source, field_lines; `.source_of(key)`.

Layout of the user's file: `defaults:` (proxmox_host, storage, ci_user, ...) and `profiles:`, a mapping of
profile name → `{description, provisioning: {template_vmid, cpu_cores, memory_mb, disk_gb, storage,
ci_user, qemu_agent, ...}, bootstrap: ..., readiness: ...}`. `defaults` fill provisioning keys a profile
does not set. `template_vmid` is written as a string ("9000") in the user's file; any integer-looking value
is accepted. A value that is not a number (e.g. a `PENDING_*` placeholder) becomes an `invalid` finding
and the field stays unset. A missing file is an empty, `present=False` result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from ..model import Finding, SourceRef
from ..record import record
from ..yamlio import YMap
from . import Located, Problems, key_lines, open_binding, text

RULE_ID = "bindings-vm-profiles"
_INT_FIELDS = ("template_vmid", "cpu_cores", "memory_mb")


@record
class VmProfile(Located):
    name: str
    source: SourceRef  # the line of the profile's key
    template_vmid: int | None = None
    cpu_cores: int | None = None
    memory_mb: int | None = None
    disk_gb: float | None = None
    storage: str | None = None
    ssh_user: str | None = None  # cloud-init user (`ci_user`)
    qemu_agent: bool | None = None
    description: str | None = None
    # line of each provisioning key (the profile's own, else the defaults' line)
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)


@record
class ProfilesFile:
    profiles: Mapping[str, VmProfile] = field(default_factory=dict)
    proxmox_host: str | None = None  # defaults.proxmox_host
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/infra.vm.profiles.yaml"
    present: bool = False

    def get(self, name: str | None) -> VmProfile | None:
        return self.profiles.get(name) if name else None


def load_vm_profiles(path: Path, root: Path, site: str) -> ProfilesFile:
    """Load the VM profiles; syntax errors raise BindingsError, bad values become `invalid` findings."""
    file = open_binding(path, root, "a 'profiles:' section")
    defaults = file.mapping("defaults")
    raw = file.section("profiles", YMap)
    problems = Problems(RULE_ID, site, file.shown, item_type="profile")
    profiles = {str(name): _profile(str(name), entry, raw.line_of(name), defaults, problems)
                for name, entry in (raw or {}).items()}
    host = defaults.get("proxmox_host")
    return ProfilesFile(profiles=profiles, proxmox_host=str(host) if host else None, problems=tuple(problems),
                        shown=file.shown, present=file.present)


def _profile(name: str, entry: Any, line: int, defaults: YMap, problems: Problems) -> VmProfile:
    entry = entry if isinstance(entry, YMap) else YMap(line=line)
    provisioning = entry.get("provisioning") if isinstance(entry.get("provisioning"), YMap) else YMap()
    merged = {**defaults, **provisioning}
    lines = {str(k): defaults.line_of(k) for k in defaults} | key_lines(provisioning)

    def problem(key: str, message: str) -> None:
        problems.add(lines.get(key, line), key, message, f"write {key} as a plain number in profile '{name}'",
                     name=name)

    numbers: dict[str, Any] = {}
    for key in (*_INT_FIELDS, "disk_gb"):
        value = merged.get(key)
        if value is None or value == "":
            numbers[key] = None
            continue
        number = _number(value)
        if number is None or number <= 0 or (key in _INT_FIELDS and not number.is_integer()):
            kind = "integer" if key in _INT_FIELDS else "number"
            problem(key, f"profile '{name}': {key} {value!r} is not a positive {kind}")
            numbers[key] = None
            continue
        numbers[key] = int(number) if key in _INT_FIELDS else float(number)
    agent = merged.get("qemu_agent")
    description = entry.get("description")
    return VmProfile(
        name=name, source=SourceRef(problems.shown, line),
        template_vmid=numbers["template_vmid"], cpu_cores=numbers["cpu_cores"], memory_mb=numbers["memory_mb"],
        disk_gb=numbers["disk_gb"], storage=text(merged.get("storage")), ssh_user=text(merged.get("ci_user")),
        qemu_agent=agent if isinstance(agent, bool) else None,
        description=str(description) if description else None, field_lines=lines,
    )


def _number(value: Any) -> float | None:
    """Integers, floats and digit strings ("9000"); booleans and placeholders are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
