"""The planned guest as asked for: command-line flags and/or a `--from FILE` YAML, then resolved with defaults.

`--from FILE` takes the same fields as the flags (underscores for dashes), plus the lifecycle spellings
`id`, `vm_type`, `cpu_cores`, `boot_disk_gb` and a lifecycle-style `resources:` mapping:

    site: shop
    vmid: 214
    hostname: mail-archiver
    type: qemu
    profile: spine-ready-v1
    memory_mb: 4096
    lan_ip: 192.168.1.214
    tailscale_ip: 100.64.0.14
    stacks: [mail-archiver]

A flag given on the command line wins over the file. Unknown keys and values of the wrong type are
errors naming `file:line` (exit 2). Resolution (`resolve`) fills what was not asked from the profile in
`infra.vm.profiles.yaml` and the `defaults:` of `vm.lifecycle.yaml`, remembering where each value came from.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import field, fields, replace
from pathlib import Path
from typing import Any

from ..bindings.profiles import ProfilesFile
from ..errors import BindingsError, ConfigError, did_you_mean, located
from ..model import GuestType
from ..model.plan import Resolved
from ..record import record
from ..yamlio import YMap, load_yaml_file


@record
class VmRequest:
    """What the user asked for; None means "not given"."""

    site: str | None = None
    vmid: int | None = None
    hostname: str | None = None
    vm_type: GuestType | None = None
    profile: str | None = None
    cores: int | None = None
    memory_mb: int | None = None
    disk_gb: float | None = None
    lan_ip: str | None = None
    tailscale_ip: str | None = None
    node: str | None = None
    proxmox_host: str | None = None
    stacks: tuple[str, ...] | None = None
    health_url: str | None = None
    storage: str | None = None
    ssh_user: str | None = None
    origins: Mapping[str, str] = field(default_factory=dict, hash=False)  # field → "--flag" or "file:line"

    def merged_over(self, base: VmRequest) -> VmRequest:
        """This request's given values over `base`'s (the command line over the file)."""
        changes: dict[str, Any] = {}
        origins = dict(base.origins)
        for f in fields(self):
            if f.name == "origins":
                continue
            value = getattr(self, f.name)
            if value is not None:
                changes[f.name] = value
                origins[f.name] = self.origins.get(f.name, "command line")
        return replace(base, **changes, origins=origins)


# File key → (request field, kind). Lifecycle spellings map to the same fields.
_FILE_KEYS: dict[str, tuple[str, str]] = {
    "site": ("site", "text"), "vmid": ("vmid", "int"), "id": ("vmid", "int"), "hostname": ("hostname", "text"),
    "type": ("vm_type", "type"), "vm_type": ("vm_type", "type"), "profile": ("profile", "text"),
    "cores": ("cores", "int"), "cpu_cores": ("cores", "int"), "memory_mb": ("memory_mb", "int"),
    "disk_gb": ("disk_gb", "number"), "boot_disk_gb": ("disk_gb", "number"), "lan_ip": ("lan_ip", "ip"),
    "tailscale_ip": ("tailscale_ip", "ip"), "node": ("node", "text"), "proxmox_host": ("proxmox_host", "text"),
    "stacks": ("stacks", "names"), "health_url": ("health_url", "text"), "storage": ("storage", "text"),
    "ssh_user": ("ssh_user", "text"), "resources": ("", "resources"),
}
_RESOURCE_KEYS = ("cpu_cores", "memory_mb", "boot_disk_gb")


def load_request_file(path: Path) -> VmRequest:
    """`--from FILE` → VmRequest; every mistake is a ConfigError naming file:line."""
    try:
        data = load_yaml_file(path)
    except BindingsError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(data, YMap):
        raise ConfigError(f"{path}: a plan request must be a YAML mapping (hostname:, vmid:, ...)")
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, value in data.items():
        where = located(path, data.line_of(key))
        if key not in _FILE_KEYS:
            raise ConfigError(f"{where}: unknown key '{key}'{did_you_mean(key, _FILE_KEYS)}")
        name, kind = _FILE_KEYS[key]
        if value is None:
            continue
        if kind == "resources":
            _resources(value, path, where, values, origins)
            continue
        values[name] = convert(value, kind, f"{where}: {key}")
        origins[name] = where
    return VmRequest(**values, origins=origins)


def _resources(value: Any, path: Path, where: str, values: dict[str, Any], origins: dict[str, str]) -> None:
    if not isinstance(value, YMap):
        raise ConfigError(f"{where}: resources: expected a mapping of {', '.join(_RESOURCE_KEYS)}")
    for key, item in value.items():
        at = located(path, value.line_of(key))
        if key not in _RESOURCE_KEYS:
            raise ConfigError(f"{at}: resources: unknown key '{key}' (known: {', '.join(_RESOURCE_KEYS)})")
        if item is None:
            continue
        name, kind = _FILE_KEYS[key]
        values[name] = convert(item, kind, f"{at}: resources.{key}")
        origins[name] = at


def convert(value: Any, kind: str, label: str) -> Any:
    """Check and convert one value; `label` prefixes the error ("file:line: key" or "--flag")."""
    if kind == "text":
        if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
            raise ConfigError(f"{label}: expected a non-empty text, got {value!r}")
        return str(value).strip()
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{label}: expected a positive whole number, got {value!r}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{label}: expected a positive number, got {value!r}")
        return float(value)
    if kind == "type":
        try:
            return GuestType(str(value).strip().lower())
        except ValueError:
            raise ConfigError(f"{label}: expected qemu or lxc, got {value!r}") from None
    if kind == "ip":
        return parse_ip(value, label)
    if kind == "names":
        return parse_names(value, label)
    raise AssertionError(kind)


def parse_ip(value: Any, label: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ConfigError(f"{label}: {value!r} is not an IP address") from None


def parse_names(value: Any, label: str) -> tuple[str, ...]:
    """A YAML list of names, or "a,b" (the --stacks spelling)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"{label}: expected a list of names or 'a,b'")
    names = tuple(dict.fromkeys(v.strip() for v in items if v.strip()))
    return names


# ── resolution ───────────────────────────────────────────────────────────────


def resolve(request: VmRequest, site: str, site_hosts: frozenset[str], profiles: ProfilesFile,
            lifecycle_defaults: Mapping[str, Any], lifecycle_shown: str) -> Resolved:
    """Fill in what was not asked for. Pure: every input is already loaded.

    Proxmox host: the request's; else the site's only Proxmox host; else the profiles' or the lifecycle's
    `defaults.proxmox_host` when it belongs to the site. Profile: the request's; else, for a qemu guest, the
    lifecycle's `defaults.profile`. Resources, storage, template and ssh user: the request's, else the profile's.
    """
    if request.vmid is None or request.hostname is None:
        missing = " and ".join(n for n, v in (("--vmid", request.vmid), ("--hostname", request.hostname)) if v is None)
        raise ConfigError(f"plan-vm needs {missing} (or those keys in --from FILE)")
    origins = dict(request.origins)
    host = _proxmox_host(request, site, site_hosts, profiles, lifecycle_defaults, lifecycle_shown, origins)
    vm_type = request.vm_type or GuestType.QEMU
    profile_name = request.profile
    default_profile = lifecycle_defaults.get("profile")
    if profile_name is None and vm_type is GuestType.QEMU and isinstance(default_profile, str) and default_profile:
        profile_name = default_profile
        origins["profile"] = f"defaults.profile in {lifecycle_shown}"
    profile = profiles.get(profile_name)

    def pick(name: str, asked: Any, from_profile: Any, profile_key: str) -> Any:
        if asked is not None:
            return asked
        if profile is not None and from_profile is not None:
            origins[name] = f"profile {profile.name} ({profile.source_of(profile_key)})"
            return from_profile
        return None

    return Resolved(
        site=site, proxmox_host=host, vmid=request.vmid, hostname=request.hostname, vm_type=vm_type,
        node=request.node, profile=profile_name,
        cores=pick("cores", request.cores, profile and profile.cpu_cores, "cpu_cores"),
        memory_mb=pick("memory_mb", request.memory_mb, profile and profile.memory_mb, "memory_mb"),
        disk_gb=pick("disk_gb", request.disk_gb, profile and profile.disk_gb, "disk_gb"),
        storage=pick("storage", request.storage, profile and profile.storage, "storage"),
        template_vmid=pick("template_vmid", None, profile and profile.template_vmid, "template_vmid"),
        ssh_user=pick("ssh_user", request.ssh_user, profile and profile.ssh_user, "ci_user"),
        lan_ip=request.lan_ip, tailscale_ip=request.tailscale_ip, stacks=request.stacks or (),
        health_url=request.health_url, origins=origins,
    )


def _proxmox_host(request: VmRequest, site: str, site_hosts: frozenset[str], profiles: ProfilesFile,
                  lifecycle_defaults: Mapping[str, Any], lifecycle_shown: str, origins: dict[str, str]) -> str:
    if request.proxmox_host:
        return request.proxmox_host
    if len(site_hosts) == 1:
        origins["proxmox_host"] = f"the only Proxmox host of site {site}"
        return next(iter(site_hosts))
    for value, where in ((profiles.proxmox_host, f"defaults.proxmox_host in {profiles.shown}"),
                         (lifecycle_defaults.get("proxmox_host"), f"defaults.proxmox_host in {lifecycle_shown}")):
        if isinstance(value, str) and value in site_hosts:
            origins["proxmox_host"] = where
            return value
    known = ", ".join(sorted(site_hosts)) or "none"
    raise ConfigError(f"site {site} has {len(site_hosts)} Proxmox hosts ({known}): choose one with --proxmox-host")
