"""Findings → edits of the binding files (pure: texts and findings in, edits out; nothing is read or written here).

One function per fixable kind. Each either returns the edits and the data they are meant to make, or raises
`Refused` with the reason; `FileState.propose` then parses the patched file and refuses the finding when the
file would not say exactly that.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..model import DeclaredGuest, Finding, Kind, LiveGuest
from ..record import record
from ..yamlio import YList, YMap
from .patch import Change, Edit, FileState
from .yamltext import Refused, indent_of, item_end, key_column, replace_value, scalar

# guest-drift / guest-lifecycle fields a binding edit resolves, and the lifecycle key (path) each one changes
GUEST_FIELDS: Mapping[str, tuple[str, ...]] = {
    "name": ("hostname",), "cpu_cores": ("resources", "cpu_cores"), "memory_mb": ("resources", "memory_mb"),
    "boot_disk_gb": ("resources", "boot_disk_gb"), "lan_ip": ("lan_ip",), "placement": ("proxmox_host",),
    "power": ("status",), "template": ("status",),
}
_POWER_STATUS = {"running": "active", "stopped": "stopped"}
# the keys of a new lifecycle entry, in the order used when the neighbouring entry does not show one
ENTRY_KEYS = ("id", "hostname", "proxmox_host", "vm_type", "status", "lan_ip", "resources")
RESOURCE_KEYS = ("cpu_cores", "memory_mb", "boot_disk_gb")
_TAILSCALE = ipaddress.ip_network("100.64.0.0/10")


@record
class Estate:
    """What the planner may look at: the binding files (by path as findings show them) and the live guests."""

    files: Mapping[str, FileState]
    lifecycle: str  # the lifecycle file's path as shown
    compose: str  # docker.compose.targets.yaml as shown
    live_guests: Mapping[tuple[str, int], LiveGuest]
    declared: Mapping[tuple[str, int], DeclaredGuest]
    covering: Callable[[DeclaredGuest], list[str]]  # names of the backup targets that cover a guest
    target_names: frozenset[str] = frozenset()  # every backup target name of the inventory


def is_drift_fix(finding: Finding) -> bool:
    """A drift a binding edit resolves (with --accept live)."""
    if finding.kind is not Kind.DRIFTED:
        return False
    if finding.rule == "guest-drift":
        return finding.field in GUEST_FIELDS and finding.field != "placement"
    if finding.rule == "guest-lifecycle":
        return finding.field == "placement"
    return finding.rule == "stack-drift" and finding.field == "path"


def is_addition(finding: Finding) -> bool:
    """Fixable without --accept live: an unregistered guest or stack, a backup_target naming no target."""
    if finding.kind is Kind.UNREGISTERED:
        return finding.rule in ("guest-unregistered", "stack-unregistered")
    return finding.kind is Kind.PARITY and finding.rule == "governance-backup" and finding.field == "backup_target"


Planned = tuple[str, list[Edit], list[Change]]  # (file, its edits, the data they make)


def plan(finding: Finding, estate: Estate) -> list[Planned]:
    """The edits, per file, resolving `finding`, or Refused."""
    if finding.rule == "guest-unregistered":
        return [new_guest(finding, estate)]
    if finding.rule == "stack-unregistered":
        return new_stack(finding, estate)
    if finding.rule == "stack-drift":
        return [stack_path(finding, estate)]
    if finding.rule == "governance-backup":
        return [backup_target(finding, estate)]
    return [guest_value(finding, estate)]


# ── the lifecycle file ──────────────────────────────────────────────────────


def _file(estate: Estate, rel: str) -> FileState:
    state = estate.files.get(rel)
    if state is None or not isinstance(state.data, YMap):
        raise Refused(f"{rel} is not a mapping this command can edit")
    return state


def _vms(state: FileState) -> tuple[YList, YMap]:
    items = state.data.get("vms")
    if not isinstance(items, YList):
        raise Refused(f"{state.rel} has no block 'vms:' list")
    defaults = state.data.get("defaults")
    return items, defaults if isinstance(defaults, YMap) else YMap()


def _entry(state: FileState, host: str | None, vmid: int | None) -> tuple[int, YMap]:
    items, defaults = _vms(state)
    for index, item in enumerate(items):
        if not isinstance(item, YMap):
            continue
        ident = item["id"] if "id" in item else item.get("vmid")
        if ident == vmid and item.get("proxmox_host", defaults.get("proxmox_host")) == host:
            return index, item
    raise Refused(f"no entry for {host}/{vmid} in {state.rel}")


def _set(state: FileState, finding: Finding, mapping: YMap, path: tuple[Any, ...], key: str,
         value: Any) -> tuple[str, list[Edit], list[Change]]:
    """Replace the value of `key` in `mapping` (at data `path`) on its own line."""
    if key not in mapping:
        raise Refused(f"'{key}' is not set on the entry (it comes from defaults:); set it there by hand")
    line = mapping.line_of(key)
    old = state.line(line)
    new = replace_value(old, key, value)
    return state.rel, [Edit(state.rel, line, old, new, finding.id)], [Change((*path, key), value)]


def guest_value(finding: Finding, estate: Estate) -> tuple[str, list[Edit], list[Change]]:
    """A drifted guest attribute: its declared value set to the live one, in place."""
    state = _file(estate, estate.lifecycle)
    subject = finding.subject
    index, item = _entry(state, subject.proxmox_host, subject.vmid)
    keys = GUEST_FIELDS[finding.field or ""]
    value = _live_value(finding, estate)
    mapping, path = item, ("vms", index)
    for key in keys[:-1]:
        nested = mapping.get(key)
        if not isinstance(nested, YMap):
            raise Refused(f"'{key}' of the entry is not a mapping")
        mapping, path = nested, (*path, key)
    if keys[-1] == "proxmox_host" and "proxmox_host" not in item:
        return _add_key(state, finding, item, path, "proxmox_host", value)
    return _set(state, finding, mapping, path, keys[-1], value)


def _live_value(finding: Finding, estate: Estate) -> Any:
    field, live = finding.field, finding.live
    if field == "name":
        if not isinstance(live, str):
            raise Refused("the guest has no name")
        return live
    if field in ("cpu_cores", "memory_mb"):
        if isinstance(live, bool) or not isinstance(live, int):
            raise Refused(f"live {field} {live!r} is not a whole number")
        return live
    if field == "boot_disk_gb":
        if isinstance(live, bool) or not isinstance(live, int | float):
            raise Refused(f"live boot_disk_gb {live!r} is not a number")
        return int(live) if float(live).is_integer() else float(live)
    if field == "lan_ip":
        guest = estate.declared.get((finding.subject.proxmox_host or "", finding.subject.vmid or 0))
        return _one_lan_ip(str(live).split(", "), guest.tailscale_ip if guest else None)
    if field == "placement":
        return str(live)
    if field == "power":
        if live not in _POWER_STATUS:
            raise Refused(f"power state {live!r} has no lifecycle status")
        return _POWER_STATUS[live]
    # template: the live flag decides; a guest that is no template any more takes its power state's status
    if live is True:
        return "template"
    running = estate.live_guests.get((finding.subject.proxmox_host or "", finding.subject.vmid or 0))
    if running is None or running.status not in _POWER_STATUS:
        raise Refused("the guest's power state is not known")
    return _POWER_STATUS[running.status]


def _one_lan_ip(addresses: list[str], tailscale: str | None) -> str:
    """The guest's one private IPv4 address (not loopback, link-local, Tailscale's 100.64/10 or its tailscale_ip)."""
    found = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            continue
        if (address.version == 4 and address.is_private and not address.is_loopback and not address.is_link_local
                and address not in _TAILSCALE and text.strip() != tailscale):
            found.append(str(address))
    if len(found) != 1:
        raise Refused(f"the guest has {len(found)} LAN addresses ({', '.join(addresses)}); choose one by hand")
    return found[0]


def _add_key(state: FileState, finding: Finding, item: YMap, path: tuple[Any, ...], key: str,
             value: Any) -> tuple[str, list[Edit], list[Change]]:
    """`key: value` as a new line of the entry, after its first line, at the column of its keys."""
    first = item.line
    column = key_column(state.line(first))
    text = " " * column + f"{key}: {scalar(value)}"
    expected = dict(_plain_map(item))
    expected[key] = value
    return state.rel, [Edit(state.rel, first, None, text, finding.id)], [Change(path, expected)]


def _plain_map(item: YMap) -> dict[str, Any]:
    from .patch import plain

    return plain(item)


def new_guest(finding: Finding, estate: Estate) -> tuple[str, list[Edit], list[Change]]:
    """An unregistered guest: a new `vms:` entry in the style of its neighbour, filled from live data."""
    state = _file(estate, estate.lifecycle)
    items, defaults = _vms(state)
    subject = finding.subject
    live = estate.live_guests.get((subject.proxmox_host or "", subject.vmid or 0))
    if live is None:
        raise Refused("the guest is not in the live state")
    entries = [(i, item) for i, item in enumerate(items) if isinstance(item, YMap) and ("id" in item or
                                                                                         "vmid" in item)]
    if not entries:
        raise Refused(f"{state.rel} has no entry to take the style from")
    same_host = [e for e in entries if e[1].get("proxmox_host", defaults.get("proxmox_host")) == live.proxmox_host]
    index, neighbour = (same_host or entries)[-1]
    values = _entry_values(live, neighbour, defaults)
    text = _render_entry(state, neighbour, values)
    first = items.line_of(index)
    end = item_end(state.lines, first)
    after_blank = end < len(state.lines) and not state.line(end + 1).strip()
    if after_blank or (first > 1 and not state.line(first - 1).strip()):
        text = "\n" + text  # the entries are set apart by a blank line: so is the new one
    return state.rel, [Edit(state.rel, end, None, text, finding.id)], [
        Change(("vms",), values, insert=True, after=index)]


def _entry_values(live: LiveGuest, neighbour: YMap, defaults: YMap) -> dict[str, Any]:
    if not live.name:
        raise Refused("the guest has no name to write as hostname")
    if live.template:
        status = "template"
    elif live.status in _POWER_STATUS:
        status = _POWER_STATUS[live.status]
    else:
        raise Refused(f"power state {live.status!r} has no lifecycle status")
    id_key = "vmid" if "vmid" in neighbour and "id" not in neighbour else "id"
    values: dict[str, Any] = {id_key: live.vmid, "hostname": live.name}
    if defaults.get("proxmox_host") != live.proxmox_host:
        values["proxmox_host"] = live.proxmox_host
    vm_type = live.vm_type.value
    if defaults.get("vm_type", "qemu") != vm_type or ("vm_type" in neighbour and "vm_type" not in defaults):
        values["vm_type"] = vm_type
    if defaults.get("status") != status:
        values["status"] = status
    if live.ips:
        try:
            lan = _one_lan_ip(list(live.ips), None)
        except Refused:
            lan = None
        if lan and defaults.get("lan_ip") != lan:
            values["lan_ip"] = lan
    resources = {key: value for key, value in (("cpu_cores", live.cores), ("memory_mb", live.memory_mb),
                                               ("boot_disk_gb", live.boot_disk_gb)) if value is not None}
    if "boot_disk_gb" in resources and float(resources["boot_disk_gb"]).is_integer():
        resources["boot_disk_gb"] = int(resources["boot_disk_gb"])
    default_resources = defaults.get("resources")
    if resources and not (isinstance(default_resources, dict) and resources == dict(default_resources)):
        values["resources"] = resources
    for value in values.values():
        if isinstance(value, str):
            scalar(value)  # a value that cannot be written safely refuses the finding here
    return values


def _ordered(wanted: list[str], shown: list[str], canonical: tuple[str, ...]) -> list[str]:
    """`wanted` keys in the order `shown` (the neighbour's) has them; the others after their canonical predecessor."""
    order = [key for key in shown if key in wanted]
    for key in canonical:
        if key not in wanted or key in order:
            continue
        before = [k for k in canonical[:canonical.index(key)] if k in order]
        order.insert(order.index(before[-1]) + 1 if before else 0, key)
    return order + [key for key in wanted if key not in order]


def _render_entry(state: FileState, neighbour: YMap, values: dict[str, Any]) -> str:
    first = state.line(neighbour.line)
    column = key_column(first)
    prefix, indent = first[:column], " " * column
    step = 2
    nested = neighbour.get("resources")
    if isinstance(nested, YMap) and nested:
        step = max(1, indent_of(state.line(nested.line_of(next(iter(nested))))) - column)
    canonical = tuple("vmid" if k == "id" and "vmid" in values else k for k in ENTRY_KEYS)
    lines = []
    for number, key in enumerate(_ordered(list(values), list(neighbour), canonical)):
        lead = prefix if number == 0 else indent
        if key == "resources":
            lines.append(f"{lead}resources:")
            shown = list(nested) if isinstance(nested, YMap) else []
            for sub in _ordered(list(values["resources"]), shown, RESOURCE_KEYS):
                lines.append(f"{indent}{' ' * step}{sub}: {scalar(values['resources'][sub])}")
        else:
            lines.append(f"{lead}{key}: {scalar(values[key])}")
    return "\n".join(lines)


# ── docker.compose.targets.yaml ─────────────────────────────────────────────


def _stacks_of(state: FileState, target: str | None) -> tuple[str, YList]:
    targets = state.data.get("targets")
    if not isinstance(targets, YMap):
        raise Refused(f"{state.rel} has no 'targets:' mapping")
    names = [k for k in targets if k == target] or [
        k for k, v in targets.items() if isinstance(v, YMap) and v.get("ssh_target") == target]
    if len(names) != 1 or not isinstance(targets[names[0]], YMap):
        raise Refused(f"no single compose target '{target}' in {state.rel}")
    stacks = targets[names[0]].get("stacks")
    if not isinstance(stacks, YList) or not stacks or not all(isinstance(s, YMap) for s in stacks):
        raise Refused(f"compose target '{names[0]}' has no block list of stacks to add to")
    return names[0], stacks


def new_stack(finding: Finding, estate: Estate) -> list[Planned]:
    """An unregistered compose project: `- name: …, path: <working dir>` after the target's last stack, and the
    stack's name in the `stacks:` of the lifecycle entry of that docker host when the entry lists its stacks."""
    state = _file(estate, estate.compose)
    key, stacks = _stacks_of(state, finding.subject.target)
    path = finding.live.get("working_dir") if isinstance(finding.live, dict) else None
    name = finding.subject.name
    if not path or not name:
        raise Refused("the project's working directory is not known")
    neighbour = stacks[-1]
    first = state.line(neighbour.line)
    column = key_column(first)
    values = {"name": name, "path": path}
    order = _ordered(list(values), list(neighbour), ("name", "path"))
    text = "\n".join(f"{first[:column] if i == 0 else ' ' * column}{k}: {scalar(values[k])}"
                     for i, k in enumerate(order))
    end = item_end(state.lines, stacks.line_of(len(stacks) - 1))
    planned = [(state.rel, [Edit(state.rel, end, None, text, finding.id)], [
        Change(("targets", key, "stacks"), values, insert=True, after=len(stacks) - 1)])]
    ssh_target = state.data["targets"][key].get("ssh_target", key)
    return planned + _listed_under_guest(finding, estate, str(ssh_target), name)


def _listed_under_guest(finding: Finding, estate: Estate, ssh_target: str, name: str) -> list[Planned]:
    state = _file(estate, estate.lifecycle)
    items, _ = _vms(state)
    owners = [(i, item) for i, item in enumerate(items) if isinstance(item, YMap)
              and item.get("ssh_target") == ssh_target and isinstance(item.get("stacks"), list)]
    if not owners:
        return []
    if len(owners) > 1:
        raise Refused(f"{len(owners)} lifecycle entries with ssh_target {ssh_target} list stacks; add it by hand")
    index, item = owners[0]
    stacks = item["stacks"]
    path, value = ("vms", index, "stacks"), [*stacks, name]
    line = item.line_of("stacks")
    old = state.line(line)
    flow = re.match(r"^(?P<head>[ ]*(?:-[ ]+)?stacks[ ]*:[ ]*\[)(?P<body>[^\[\]{}#'\"]*?)(?P<close>[ ]*\].*)$", old)
    if flow:
        body = flow["body"]
        new = flow["head"] + body + (", " if body.strip() else "") + scalar(name) + flow["close"]
        return [(state.rel, [Edit(state.rel, line, old, new, finding.id)], [Change(path, value)])]
    if not isinstance(stacks, YList) or not stacks:
        raise Refused(f"the stacks of {state.rel}:{line} are neither a one-line [..] list nor a block list")
    last = stacks.line_of(len(stacks) - 1)
    model = state.line(last)
    column = key_column(model)
    if not model[:column].rstrip().endswith("-") or item_end(state.lines, last) != last:
        raise Refused(f"the stacks at {state.rel}:{line} are not a plain block list")
    text = model[:column] + scalar(name)
    return [(state.rel, [Edit(state.rel, last, None, text, finding.id)],
             [Change(path, name, insert=True, after=len(stacks) - 1)])]


def stack_path(finding: Finding, estate: Estate) -> tuple[str, list[Edit], list[Change]]:
    state = _file(estate, estate.compose)
    key, stacks = _stacks_of(state, finding.subject.target)
    found = [i for i, s in enumerate(stacks) if s.get("name") == finding.subject.name]
    if len(found) != 1:
        raise Refused(f"no single stack '{finding.subject.name}' under '{key}'")
    if not isinstance(finding.live, str) or not finding.live.startswith("/"):
        raise Refused("the live path is not an absolute directory")
    return _set(state, finding, stacks[found[0]], ("targets", key, "stacks", found[0]), "path", finding.live)


# ── parity ──────────────────────────────────────────────────────────────────


def backup_target(finding: Finding, estate: Estate) -> tuple[str, list[Edit], list[Change]]:
    """A backup_target naming no inventory target, when exactly one target covers the guest: renamed to it."""
    subject = finding.subject
    guest = estate.declared.get((subject.proxmox_host or "", subject.vmid or 0))
    if guest is None:
        raise Refused("the guest is not declared")
    names = estate.covering(guest)
    if finding.declared in estate.target_names or guest.backup_target != finding.declared:
        raise Refused("the backup_target names a target that exists")
    if len(names) != 1:
        raise Refused(f"{len(names)} inventory targets cover the guest; choose by hand")
    state = _file(estate, estate.lifecycle)
    index, item = _entry(state, subject.proxmox_host, subject.vmid)
    return _set(state, finding, item, ("vms", index), "backup_target", names[0])
