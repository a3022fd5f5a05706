"""The REGISTER phase as ready-to-paste YAML: one stub per binding file, in that file's own schema. Pure.

Every stub is written so that, once the guest is live and its lifecycle status is `registered` (or
`active`), the governance rules find it on every surface they require (docs/governance.md):

| file | entry | what makes the rule pass |
|---|---|---|
| vm.lifecycle.yaml | `vms:` item, status `planning` | `ssh_target`, `backup_target`, `stacks`, addresses |
| ssh.targets.yaml | `ssh.targets:` item, id = hostname | `host` is the guest's Tailscale (else LAN) address |
| docker.compose.targets.yaml | `targets:` key (with stacks) | `ssh_target` = the guest's, every stack listed |
| services.health.yaml | `endpoints:` item (with stacks) | `host` = the ssh target id, URL on the guest's address |
| backup.inventory.yaml | `targets:` item | enabled, on the guest's Proxmox host, `vzdump-{type}-{vmid}-*` |
| SERVICE_REGISTRY.yaml | `hosts:` key (where the registry rule applies) | vmid, proxmox_host, tailscale_ip, ssh |
| STACK_REGISTRY.yaml | `stacks:` items (stacks it lacks) | `stack_id` per stack |

Values not known yet are written as `PENDING_*` placeholders, which the governance-placeholders rule
reports once the guest is `registered`: nothing unfinished can pass `--verify`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

import yaml

from ..bindings.backup import BackupTarget
from ..model import GuestType
from ..model.plan import Resolved, Stub
from ..record import record
from ..rules.governance.context import GovernanceContext
from ..settings import GovernancePolicy
from ..yamlscalar import bool_or_number, double_quoted
from .layout import INDENT, Layout

PENDING_TAILSCALE = "PENDING_TAILSCALE_IP"
PENDING_LAN = "PENDING_LAN_IP"
PENDING_PORT = "PENDING_PORT"
DEFAULT_DUMP_DIR = "/var/lib/vz/dump"  # PVE's default vzdump directory on local storage
_NAME_PREFIX = re.compile(r"^(.*?)(?:vm|lxc|ct)-\d+-")


@record
class EntryNames:
    """The names the new guest's entries get; checked for collisions before they are proposed."""

    ssh_target: str
    compose_target: str
    health_id: str
    registry_host: str
    backup_target: str


def entry_names(req: Resolved, ctx: GovernanceContext) -> EntryNames:
    return EntryNames(req.hostname, req.hostname, req.hostname, req.hostname, backup_name(req, ctx))


def backup_name(req: Resolved, ctx: GovernanceContext) -> str:
    """`vm-214-mail-archiver-primary`, with the prefix the host's own vzdump targets share (`home-` at home)."""
    prefixes = {m.group(1) for t in _host_vzdump_targets(req, ctx) if (m := _NAME_PREFIX.match(t.name))}
    prefix = prefixes.pop() if len(prefixes) == 1 else ""
    word = "lxc" if req.vm_type is GuestType.LXC else "vm"
    return f"{prefix}{word}-{req.vmid}-{req.hostname}-primary"


def _host_vzdump_targets(req: Resolved, ctx: GovernanceContext) -> list[BackupTarget]:
    return [t for t in ctx.bindings.backup.targets if t.host == req.proxmox_host and t.vzdump is not None]


# ── the stubs ────────────────────────────────────────────────────────────────


@record
class StubFile:
    """Where one binding file lives and how it is laid out (read by the caller)."""

    key: str
    shown: str
    layout: Layout


def build_stubs(req: Resolved, ctx: GovernanceContext, policy: GovernancePolicy, files: Mapping[str, StubFile],
                today: str) -> tuple[Stub, ...]:
    """Every stub the REGISTER phase needs for this guest, for the files whose rules apply at its site."""
    names = entry_names(req, ctx)
    site = req.site
    stubs = [_lifecycle(req, names, files["vm_lifecycle"], today)]
    if policy.scope("governance-ssh").for_site(site):
        stubs.append(_ssh(req, names, files["ssh_targets"]))
    if req.stacks and policy.scope("governance-compose").for_site(site):
        stubs.append(_compose(req, names, files["docker_compose_targets"]))
    if (req.stacks or req.health_url) and policy.scope("governance-health").for_site(site):
        stubs.append(_health(req, names, files["services_health"]))
    if policy.scope("governance-backup").for_site(site):
        stubs.append(_backup(req, names, files["backup_inventory"], ctx))
    if policy.scope("governance-registry").for_site(site):
        stubs.append(_registry(req, names, files["service_registry"]))
    unregistered = [s for s in req.stacks if s not in ctx.bindings.stacks.ids]
    if unregistered and policy.scope("governance-stack-registry").for_site(site):
        stubs.append(_stack_registry(req, unregistered, files["stack_registry"]))
    return tuple(s for s in stubs if s is not None)


def _describe(req: Resolved, today: str) -> str:
    profile = f", profile {req.profile}" if req.profile else ""
    return f"VM {req.vmid} on {req.proxmox_host}{profile}. Planned with reconcile plan-vm on {today}."


def _lifecycle(req: Resolved, names: EntryNames, file: StubFile, today: str) -> Stub:
    keys = file.layout.keys
    id_key = "vmid" if "vmid" in keys and "id" not in keys else "id"
    text_key = "notes" if "notes" in keys and "description" not in keys else "description"
    lines = [f"- {id_key}: {req.vmid}",
             f"  hostname: {scalar(req.hostname)}",
             f"  proxmox_host: {scalar(req.proxmox_host)}"]
    if req.vm_type is GuestType.LXC:
        lines.append("  vm_type: lxc")
    lines += [
        "  status: planning  # provisioned after the clone, registered once every entry below is in place",
        f"  created_at: {scalar(today, force_quotes=True)}",
        f"  profile: {scalar(req.profile) if req.profile else 'null'}",
        f"  lan_ip: {scalar(req.lan_ip or PENDING_LAN)}",
        f"  tailscale_ip: {scalar(req.tailscale_ip or PENDING_TAILSCALE)}",
        f"  ssh_target: {scalar(names.ssh_target)}",
    ]
    if req.ssh_user:
        lines.append(f"  ssh_user: {scalar(req.ssh_user)}")
    resources = [(k, v) for k, v in (("cpu_cores", req.cores), ("memory_mb", req.memory_mb),
                                      ("boot_disk_gb", req.disk_gb)) if v is not None]
    if resources:
        lines.append("  resources:")
        lines += [f"    {k}: {scalar(v)}" for k, v in resources]
    lines += _list("  stacks", req.stacks, "    ")
    lines += [
        "  services: []",
        f"  backup_target: {scalar(names.backup_target)}",
        f"  health_probe_policy: {'full' if req.stacks or req.health_url else 'none'}",
        f"  {text_key}: {scalar(_describe(req, today), force_quotes=True)}",
    ]
    note = "set status: provisioned after the clone, then registered when every other stub is pasted"
    return _stub(file, "vms", str(req.vmid), lines, note)


def _ssh(req: Resolved, names: EntryNames, file: StubFile) -> Stub:
    lines = [f"- id: {scalar(names.ssh_target, force_quotes=True)}",
             f"  host: {scalar(req.address or PENDING_TAILSCALE, force_quotes=True)}"]
    if req.ssh_user:
        lines.append(f"  user: {scalar(req.ssh_user, force_quotes=True)}")
    tags = ["docker", req.site] if req.stacks else [req.site]
    lines += [f"  notes: {scalar(f'VM {req.vmid} on {req.proxmox_host} (planned with reconcile plan-vm)', True)}",
              f"  tags: [{', '.join(scalar(t, force_quotes=True) for t in tags)}]"]
    note = "" if req.address else f"replace {PENDING_TAILSCALE} with the guest's Tailscale address"
    return _stub(file, "ssh.targets", names.ssh_target, lines, note)


def _compose(req: Resolved, names: EntryNames, file: StubFile) -> Stub:
    description = f"VM {req.vmid} ({req.hostname}): " + ", ".join(req.stacks) + "."
    lines = [f"{scalar(names.compose_target)}:",
             f"  ssh_target: {scalar(names.ssh_target)}",
             "  connect_timeout_sec: 5",
             "  enabled: true",
             f"  description: {scalar(description, force_quotes=True)}",
             "  stacks:"]
    for stack in req.stacks:
        lines += [f"    - name: {scalar(stack)}", f"      path: {scalar(f'/opt/stacks/{stack}')}"]
    return _stub(file, "targets", names.compose_target, lines, "check each stack's path on the guest")


def _health(req: Resolved, names: EntryNames, file: StubFile) -> Stub:
    url = req.health_url or f"http://{_url_host(req.address or PENDING_TAILSCALE)}:{PENDING_PORT}/"
    lines = [f"- id: {scalar(names.health_id)}",
             f"  host: {scalar(names.ssh_target)}",
             f"  url: {scalar(url, force_quotes=True)}",
             "  expect: 200",
             "  enabled: true",
             f"  description: {scalar(f'VM {req.vmid} ({req.hostname}) health probe.', True)}"]
    note = "" if req.health_url else f"replace {PENDING_PORT} (and the path) with the service's health URL"
    return _stub(file, "endpoints", names.health_id, lines, note)


def _backup(req: Resolved, names: EntryNames, file: StubFile, ctx: GovernanceContext) -> Stub:
    same_type = [t for t in _host_vzdump_targets(req, ctx) if t.vzdump and t.vzdump[0] is req.vm_type]
    extension = _most_common([t.glob.split("*", 1)[1] for t in same_type if t.glob and "*" in t.glob])
    extension = extension or (".tar.zst" if req.vm_type is GuestType.LXC else ".vma.zst")
    host_targets = _host_vzdump_targets(req, ctx)
    base_path = _most_common([t.base_path for t in host_targets if t.base_path]) or DEFAULT_DUMP_DIR
    lines = [f"- name: {scalar(names.backup_target)}",
             "  enabled: true",
             "  kind: file_glob",
             f"  host: {scalar(req.proxmox_host)}",
             f"  base_path: {scalar(base_path, force_quotes=True)}",
             f"  glob: {scalar(f'vzdump-{req.vm_type.value}-{req.vmid}-*{extension}', force_quotes=True)}",
             "  stale_after_hours: 26",
             "  classification: important"]
    note = "" if host_targets else f"no vzdump target on {req.proxmox_host} yet: check base_path ({base_path})"
    return _stub(file, "targets", names.backup_target, lines, note)


def _registry(req: Resolved, names: EntryNames, file: StubFile) -> Stub:
    lines = [f"{scalar(names.registry_host)}:",
             f"  tailscale_ip: {scalar(req.tailscale_ip or PENDING_TAILSCALE)}",
             f"  ssh: {scalar(names.ssh_target)}",
             f"  vmid: {req.vmid}",
             f"  proxmox_host: {scalar(req.proxmox_host)}",
             f"  notes: {scalar(f'VM {req.vmid} (planned with reconcile plan-vm).', True)}"]
    return _stub(file, "hosts", names.registry_host, lines, "")


def _stack_registry(req: Resolved, stacks: Sequence[str], file: StubFile) -> Stub:
    lines: list[str] = []
    for stack in stacks:
        lines += [f"- stack_id: {scalar(stack)}",
                  f"  name: {scalar(stack)}",
                  f"  path: {scalar(f'proxmox:vm-{req.vmid}')}",
                  "  compose_files: []",
                  "  deploy_method: manual_vm",
                  "  status: active",
                  f"  notes: {scalar(f'On {req.hostname} (VM {req.vmid}), /opt/stacks/{stack}.', True)}"]
    return _stub(file, "stacks", ", ".join(stacks), lines, "")


# ── placing and spelling ─────────────────────────────────────────────────────


def _stub(file: StubFile, under: str, entry: str, lines: list[str], note: str) -> Stub:
    layout = file.layout
    opened = [f"{' ' * (INDENT * i)}{key}:" for i, key in enumerate(layout.missing)]
    depth = INDENT * len(layout.missing)
    body = [f"{' ' * depth}{line}" if line else line for line in lines]
    text = "\n".join(f"{' ' * layout.indent}{line}" for line in (*opened, *body)) + "\n"
    if layout.flow:
        note = "; ".join(filter(None, [note, f"'{under}' is written inline in {file.shown}: rewrite it as a block "
                                              "first"]))
    return Stub(file.key, file.shown, under, entry, text, layout.insert_after_line, layout.at_end, note)


def _list(key: str, items: Sequence[str], indent: str) -> list[str]:
    if not items:
        return [f"{key}: []"]
    return [f"{key}:", *(f"{indent}- {scalar(item)}" for item in items)]


def scalar(value: object, force_quotes: bool = False) -> str:
    """One YAML scalar: plain when that reads back as the same string, else double-quoted."""
    number = bool_or_number(value)
    if number is not None:
        return number
    text = str(value)
    if not force_quotes:
        plain = yaml.safe_dump(text, default_flow_style=True, width=10**6, default_style=None)
        plain = plain.removesuffix("\n...\n").strip()
        if plain == text:
            return text
    return double_quoted(text)


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _most_common(values: Sequence[str | None]) -> str | None:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else None
