"""`vm.lifecycle.yaml` → DeclaredGuest, plus `invalid` findings for items that cannot be trusted.

Both schemas of the user's repo are accepted: `vmid`/`notes` (until 2026-02) and `id`/`description`
(after). The file's `defaults:` apply to every item that does not set the key itself. Unknown keys
are tolerated. Syntax errors raise BindingsError; semantic problems become findings and the run
goes on with the valid items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from ..errors import BindingsError, located
from ..model import DeclaredGuest, Finding, GuestType, SourceRef, Status, Subject
from ..record import record
from ..yamlio import YMap
from . import Problems, key_lines, open_binding, text

RULE_ID = "bindings-lifecycle"
_RESOURCE_FIELDS = {"cpu_cores": int, "memory_mb": int, "boot_disk_gb": float}


@record
class LifecycleFile:
    guests: tuple[DeclaredGuest, ...]
    problems: tuple[Finding, ...]
    shown: str  # the file as named in findings
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the file's `defaults:` (stubs omit them)


SiteOf = Callable[[str], str | None]


def load_lifecycle(path: Path, root: Path, site_of: SiteOf, default_site: str) -> LifecycleFile:
    """Load every guest of every Proxmox host; `site_of(proxmox_host)` tags findings with their site."""
    file = open_binding(path, root, "a 'vms:' list", required=True)
    items = file.section("vms")
    if items is None:
        raise BindingsError(f"{located(path, file.data.line or None)}: no 'vms:' list found")
    defaults = file.mapping("defaults")
    loader = _ItemLoader(Problems(RULE_ID, default_site, file.shown), defaults, site_of)
    guests: dict[tuple[str, int], DeclaredGuest] = {}
    repeated: dict[tuple[str, int], int] = {}  # key → index of its `duplicate` finding in loader.problems
    for index, item in enumerate(items):
        guest = loader.load(item, items.line_of(index))
        if guest is None:
            continue
        first = guests.get(guest.key)
        if first is not None and guest.key in repeated:
            # a third (fourth...) entry joins the one `duplicate` finding: one finding, one stable id
            at = repeated[guest.key]
            known = loader.problems.found[at]
            loader.problems.found[at] = replace(known, sources=(*known.sources, guest.source),
                                          hint=known.hint.replace(")", f", {guest.source})", 1))
            continue
        if first is not None:
            repeated[guest.key] = len(loader.problems)
            loader.problem(guest.source.line, "duplicate",
                           f"vmid {guest.vmid} is declared twice for Proxmox host '{guest.proxmox_host}' "
                           f"(first at {first.source})",
                           hint=f"remove or renumber one of the entries ({first.source}, {guest.source})",
                           vmid=guest.vmid, host=guest.proxmox_host, extra=(first.source,),
                           vm_type=guest.vm_type.value)
            continue
        guests[guest.key] = guest
    return LifecycleFile(tuple(guests.values()), tuple(loader.problems), file.shown, defaults)


class _ItemLoader:
    def __init__(self, problems: Problems, defaults: YMap, site_of: SiteOf) -> None:
        self.problems, self.defaults, self.site_of = problems, defaults, site_of
        self.shown = problems.shown
        self.entry: Any = None  # the item being loaded: names the problems of an item without a vmid

    def problem(self, line: int, field: str, message: str, *, hint: str, vmid: int | None = None,
                host: str | None = None, extra: tuple[SourceRef, ...] = (), vm_type: str = "qemu") -> None:
        # a guest's problem belongs to the site of its Proxmox host (the run's site when unknown)
        site = (self.site_of(host) if host else None) or self.problems.site
        subject = Subject(type=vm_type, site=site, proxmox_host=host, vmid=vmid) if vmid is not None else None
        self.problems.add(line, field, message, hint, subject=subject, extra=extra, entry=self.entry)

    def load(self, item: Any, line: int) -> DeclaredGuest | None:
        self.entry = item
        if not isinstance(item, YMap):
            self.problem(line, "item", "a 'vms' entry must be a mapping", hint="fix the list entry's indentation")
            return None
        merged = {**self.defaults, **item}
        vmid = self._vmid(item, line)
        host = merged.get("proxmox_host")
        if vmid is None:
            return None
        if not isinstance(host, str) or not host:
            self.problem(line, "proxmox_host", f"vmid {vmid} has no proxmox_host (and no default)",
                         hint=f"add 'proxmox_host:' to the entry at {self.shown}:{line}")
            return None
        vm_type = self._enum(GuestType, merged.get("vm_type") or "qemu", item, "vm_type", vmid, host)
        status = self._enum(Status, merged.get("status"), item, "status", vmid, host)
        hostname = merged.get("hostname")
        if not isinstance(hostname, str) or not hostname:
            self.problem(item.line_of("hostname"), "hostname", f"vmid {vmid} has no hostname",
                         hint="add 'hostname:' to the entry", vmid=vmid, host=host)
            return None
        if vm_type is None or status is None:
            return None
        resources, resource_lines = self._resources(item, merged, vmid, host)
        field_lines = key_lines(item) | resource_lines
        return DeclaredGuest(
            proxmox_host=host,
            vmid=vmid,
            hostname=hostname,
            status=status,
            vm_type=vm_type,
            source=SourceRef(self.shown, item.line),
            lan_ip=text(merged.get("lan_ip")),
            tailscale_ip=text(merged.get("tailscale_ip")),
            ssh_target=text(merged.get("ssh_target")),
            stacks=_names(merged.get("stacks")),
            services=_names(merged.get("services")),
            backup_target=text(merged.get("backup_target")),
            health_probe_policy=text(merged.get("health_probe_policy")),
            has_docker=merged.get("has_docker") if isinstance(merged.get("has_docker"), bool) else None,
            profile=text(merged.get("profile")),
            field_lines=field_lines,
            **resources,
        )

    def _vmid(self, item: YMap, line: int) -> int | None:
        values = {key: item[key] for key in ("vmid", "id") if key in item}
        if not values:
            self.problem(line, "vmid", "entry has neither 'vmid' nor 'id'", hint="add 'id: <vmid>' to the entry")
            return None
        if len(set(map(repr, values.values()))) > 1:
            self.problem(line, "vmid", f"'vmid' ({values['vmid']!r}) and 'id' ({values['id']!r}) disagree",
                         hint="keep one of 'vmid' / 'id'")
            return None
        key, value = next(iter(values.items()))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.problem(item.line_of(key), "vmid", f"{key} {value!r} is not a positive integer",
                         hint=f"write the VMID as a plain number at {self.shown}:{item.line_of(key)}")
            return None
        return value

    def _enum(self, enum: type, value: Any, item: YMap, name: str, vmid: int, host: str) -> Any:
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.problem(item.line_of(name), name, f"vmid {vmid}: {name} {value!r} is not one of: {allowed}",
                         hint=f"set '{name}' to one of: {allowed}", vmid=vmid, host=host)
            return None

    def _resources(self, item: YMap, merged: dict, vmid: int, host: str) -> tuple[dict, dict[str, int]]:
        raw = merged.get("resources")
        values: dict[str, Any] = dict.fromkeys(_RESOURCE_FIELDS)
        lines: dict[str, int] = {}
        if not isinstance(raw, YMap):
            return values, lines
        for name, kind in _RESOURCE_FIELDS.items():
            value = raw.get(name)
            if name in raw:
                lines[name] = raw.line_of(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                self.problem(raw.line_of(name), name, f"vmid {vmid}: resources.{name} {value!r} is not a number",
                             hint=f"write resources.{name} as a plain number", vmid=vmid, host=host)
                continue
            values[name] = kind(value)
        return values, lines


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if v is not None)


def iter_hosts(guests: tuple[DeclaredGuest, ...]) -> Iterator[str]:
    seen: set[str] = set()
    for guest in guests:
        if guest.proxmox_host not in seen:
            seen.add(guest.proxmox_host)
            yield guest.proxmox_host
