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
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from ..config import SiteConfig
from ..model import GONE, DeclaredGuest, Finding, GuestType, Kind, Severity, SourceRef, Subject
from ..record import record
from . import Located, Problems, key_lines, named_entries, open_binding, text
from .docker import DockerEndpoint, SiteOfProxmoxHost, SshConfigLookup, ssh_endpoint
from .ssh_targets import SshTargetsFile

RULE_ID = "bindings-backup-inventory"
DEFAULT_STALE_AFTER_HOURS = 26.0  # the user's own default (defaults.stale_after_hours overrides it)
FILE_GLOB = "file_glob"  # the one kind whose files are checked; other kinds are listed, not checked
_UNSENDABLE = "\t\n\r\0"  # the file-check script reads one target per line, tab-separated
# vzdump artifact names: vzdump-{qemu|lxc}-{vmid}-{timestamp}.{ext}
_VZDUMP = re.compile(r"^vzdump-(qemu|lxc)-([0-9]{1,9})-")  # ASCII digits of a sane length: int() accepts them


@record
class BackupTarget(Located):
    name: str
    enabled: bool
    source: SourceRef  # the line of the list item
    host: str | None = None  # where the artifacts live (a Proxmox host, the NAS, a guest)
    glob: str | None = None
    kind: str | None = None
    base_path: str | None = None
    stale_after_hours: float = DEFAULT_STALE_AFTER_HOURS
    classification: str | None = None
    checkable: bool = True  # False: an entry its file check cannot be run for (reported `invalid` once)
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def checked(self) -> bool:
        """Whether the live backup checks look at this target: enabled, a file glob, and well formed."""
        return self.enabled and self.is_file_glob and self.checkable

    @property
    def is_file_glob(self) -> bool:
        """`kind: file_glob`, or no kind but a base_path (an entry of an older inventory)."""
        return self.kind == FILE_GLOB or (self.kind is None and self.base_path is not None)

    @property
    def vzdump(self) -> tuple[GuestType, int] | None:
        """(guest type, vmid) when the glob names one guest's vzdump artifacts, else None."""
        match = _VZDUMP.match(self.glob or "")
        if match is None:
            return None
        return GuestType(match.group(1)), int(match.group(2))

    def covers(self, vm_type: GuestType, vmid: int) -> bool:
        return self.vzdump == (vm_type, vmid)


@record
class BackupInventory:
    targets: tuple[BackupTarget, ...] = ()
    problems: tuple[Finding, ...] = ()
    shown: str = "ops/bindings/backup.inventory.yaml"
    present: bool = False
    timezone: str | None = None  # defaults.timezone: the zone the user's schedules are written in
    line: int = 1  # the `targets:` key's line (cited by findings about archives no target claims)

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
    default_stale = _hours(defaults.get("stale_after_hours"), DEFAULT_STALE_AFTER_HOURS)
    problems = Problems(RULE_ID, site, file.shown, item_type="backup-target")
    if default_stale is None:
        default_stale = DEFAULT_STALE_AFTER_HOURS
        problems.add(defaults.line_of("stale_after_hours"), "stale_after_hours",
                     f"defaults.stale_after_hours {defaults.get('stale_after_hours')!r} is not a positive number of "
                     f"hours; {DEFAULT_STALE_AFTER_HOURS:g} is used", "write a number of hours, e.g. 26")
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
        stale = _hours(item.get("stale_after_hours"), default_stale)
        if stale is None:
            problems.add(item.line_of("stale_after_hours"), "stale_after_hours",
                         f"backup target '{name}': stale_after_hours {item.get('stale_after_hours')!r} is not a "
                         f"positive number of hours; {default_stale:g} is used", "write a number of hours, e.g. 26",
                         name=name)
            stale = default_stale
        target = BackupTarget(
            name=name, enabled=enabled, source=SourceRef(file.shown, item.line),
            host=text(item.get("host", defaults.get("host"))), glob=text(item.get("glob")),
            kind=text(item.get("kind", defaults.get("kind"))), base_path=text(item.get("base_path")),
            stale_after_hours=stale, classification=text(item.get("classification")),
            field_lines=key_lines(item),
        )
        targets.append(_checked_shape(target, item, problems))
    zone = text(defaults.get("timezone"))
    if zone is not None and not _known_zone(zone):
        problems.add(defaults.line_of("timezone"), "timezone", f"defaults.timezone {zone!r} is not a known time zone; "
                     "UTC is used", "write an IANA zone name, e.g. America/New_York")
        zone = None
    return BackupInventory(targets=tuple(targets), problems=tuple(problems), shown=file.shown, present=file.present,
                           timezone=zone, line=file.data.line_of("targets") if "targets" in file.data else 1)


def _known_zone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _hours(value: object, default: float) -> float | None:
    """A `stale_after_hours` value: `default` when absent, None when it is not a positive number."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**6:
        return None
    return float(value)


def _checked_shape(target: BackupTarget, item: Any, problems: Problems) -> BackupTarget:
    """An enabled file_glob target needs a host, an absolute base_path and a glob that the file-check script
    can carry (no tab, newline or NUL: it reads one target per line). Otherwise it is `invalid`, once, and
    not checked (never reported `missing` for a value the script could not be given)."""
    if not target.enabled or not target.is_file_glob:
        return target
    wrong: tuple[str, str, str] | None = None
    for key in ("host", "base_path", "glob"):
        value = getattr(target, key)
        if value is None:
            wrong = (key, f"backup target '{target.name}': enabled file_glob target without {key}",
                     f"set {key}, or enabled: false")
        elif any(c in value for c in _UNSENDABLE):
            wrong = (key, f"backup target '{target.name}': {key} {value!r} holds a tab, newline or NUL",
                     f"write {key} on one line without control characters")
        elif key == "base_path" and not value.startswith("/"):
            wrong = (key, f"backup target '{target.name}': base_path {value!r} is not an absolute path",
                     "write the folder's absolute path, e.g. /tank/backups/vzdump/dump")
        if wrong:
            break
    if wrong is None and any(c in target.name for c in _UNSENDABLE):
        wrong = ("name", f"backup target {target.name!r}: the name holds a tab, newline or NUL",
                 "name the target on one line without control characters")
    if wrong is None:
        return target
    key, message, hint = wrong
    problems.add(item.line_of(key) if key in item else item.line, key, message, hint, name=target.name)
    return replace(target, checkable=False)


# ── one site's part of the inventory ─────────────────────────────────────────


@record
class SiteBackups:
    """The backup targets one site checks live, and how to reach the SSH hosts that hold their files."""

    site: str = ""
    inventory: BackupInventory = field(default_factory=BackupInventory)
    targets: tuple[BackupTarget, ...] = ()  # checked targets (enabled, file_glob, well formed) of this site
    endpoints: tuple[DockerEndpoint, ...] = ()  # one per host of those targets (the ssh target id is `.target`)
    timezone: str = "UTC"  # the zone job schedules are read in (defaults.timezone of the inventory)
    problems: tuple[Finding, ...] = ()  # the inventory's `invalid` findings, and hosts that cannot be reached
    membership: tuple[str, ...] = ()  # why each target host is (not) of this site, for --debug

    @property
    def present(self) -> bool:
        return self.inventory.present

    def targets_on(self, host: str) -> tuple[BackupTarget, ...]:
        return tuple(t for t in self.targets if t.host == host)


def site_backups(cfg: SiteConfig, inventory: BackupInventory, guests: tuple[DeclaredGuest, ...],
                 site_of: SiteOfProxmoxHost, ssh: SshTargetsFile,
                 ssh_config: SshConfigLookup | None) -> SiteBackups:
    """Site `cfg.name`'s checked targets: those whose `host` belongs to it (a Proxmox host of the site, the
    ssh target of one of its guests, or a placement `hosts:` entry of the site), with each host's endpoint.
    The placement policy's own entry wins over a guest's ssh_target (a NAS is placed, a VM is a guest)."""
    site = cfg.name
    mine: list[BackupTarget] = []
    why: list[str] = []
    decided: dict[str, str | None] = {}
    for target in inventory.targets:
        if not target.checked or target.host is None:
            continue
        if target.host not in decided:
            decided[target.host], explanation = _host_site(target.host, guests, site_of)
            why.append(f"backup host {target.host}: {explanation}")
        if decided[target.host] == site:
            mine.append(target)
    hosts = sorted({t.host for t in mine if t.host})
    first_line = {t.host: t.source_of("host") for t in reversed(mine)}
    endpoints = tuple(ssh_endpoint(cfg, host, host, first_line[host], ssh, ssh_config) for host in hosts)
    problems = [*_own(inventory.problems, site), *_unreachable(endpoints, site)]
    timezone = _zone(inventory)
    return SiteBackups(site=site, inventory=inventory, targets=tuple(mine), endpoints=endpoints,
                       timezone=timezone, problems=tuple(problems), membership=tuple(why))


def _host_site(host: str, guests: tuple[DeclaredGuest, ...], site_of: SiteOfProxmoxHost) -> tuple[str | None, str]:
    placed = site_of(host)  # a Proxmox host of a site, or a placement `hosts:` entry
    if placed is not None:
        return placed, f"the site file or placement policy puts {host} in site {placed}"
    named = [g for g in guests if g.ssh_target == host]
    for guest in [g for g in named if g.status not in GONE] or named:
        guest_site = site_of(guest.proxmox_host)
        if guest_site is not None:
            return guest_site, (f"{guest.source_of('ssh_target')} guest {guest.vmid} has ssh_target {host}, "
                                f"proxmox_host {guest.proxmox_host} → site {guest_site}")
    return None, "no Proxmox host, guest ssh_target or placement hosts: entry names it: belongs to no site"


def _own(problems: tuple[Finding, ...], site: str) -> list[Finding]:
    return [p if p.subject.site == site else replace(p, subject=replace(p.subject, site=site)) for p in problems]


def _unreachable(endpoints: tuple[DockerEndpoint, ...], site: str) -> list[Finding]:
    return [Finding(kind=Kind.INVALID, rule=RULE_ID, subject=Subject(type="host", site=site, target=e.target),
                    field="host", message=f"backup host {e.target} cannot be reached: {e.problem}",
                    sources=(e.source,) if e.source else (), severity=Severity.ERROR,
                    hint=f"add '{e.target}' to ssh.targets.yaml, or set ssh.overrides.{e.target}.host in the site file")
            for e in endpoints if e.problem is not None]


def _zone(inventory: BackupInventory) -> str:
    return inventory.timezone or "UTC"
