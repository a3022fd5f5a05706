"""`SERVICE_REGISTRY.yaml` → the containers services declare, and the registry's `hosts:`.

Public API (stable; the governance checks import it):

- `load_service_registry(path, root, site) -> ServiceRegistryFile`
- `ServiceRegistryFile.services` (name → `RegistryService`), `.containers` (`DeclaredContainer`s of
  services that name both a `host` and a `container`), `.hosts` (id → `RegistryHost`), `.problems`,
  `.shown`, `.present`.

`status` semantics (the registry's own vocabulary, applied by the container rules):

| status | expectation |
|---|---|
| `active` (or no status) | the container exists on its host and is running |
| `deprecated` | may still run; nothing is required (absent → an info finding: remove the entry) |
| `parked` | intentionally stopped; running is reported (warning: the registry is out of date) |
| `stopped` | known to be down; running is reported as info |

A service without `status:` is treated as `active` (most of the user's entries have none); its
`DeclaredContainer.status` is "" so reports can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from ..model import DeclaredContainer, Finding, SourceRef
from ..record import record
from ..yamlio import YMap
from . import Located, Problems, key_lines, open_binding, text

RULE_ID = "bindings-service-registry"
KNOWN_STATUSES = frozenset({"active", "deprecated", "parked", "stopped"})


@record
class RegistryService(Located):
    name: str
    source: SourceRef  # the line of the service's key
    host: str | None = None
    container: str | None = None
    status: str = ""  # "" when the entry has no status
    compose: str | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)


@record
class RegistryHost:
    id: str
    source: SourceRef
    ssh: str | None = None  # the ssh target id
    proxmox_host: str | None = None
    vmid: int | None = None
    tailscale_ip: str | None = None
    ssh_user: str | None = None
    lan_ip: str | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)  # key → line

    @property
    def line(self) -> int:
        return self.source.line


@record
class ServiceRegistryFile:
    services: Mapping[str, RegistryService] = field(default_factory=dict)
    containers: tuple[DeclaredContainer, ...] = ()
    hosts: Mapping[str, RegistryHost] = field(default_factory=dict)
    problems: tuple[Finding, ...] = ()
    shown: str = "docs/governance/SERVICE_REGISTRY.yaml"
    present: bool = False

    def service_of(self, container: DeclaredContainer) -> RegistryService | None:
        return self.services.get(container.service)


def load_service_registry(path: Path, root: Path, site: str) -> ServiceRegistryFile:
    """Load the registry; a missing file is an empty, `present=False` result."""
    file = open_binding(path, root, "a 'services:' section")
    shown = file.shown
    problems = Problems(RULE_ID, site, shown)
    services: dict[str, RegistryService] = {}
    containers: list[DeclaredContainer] = []
    raw = file.section("services", YMap)
    for name, entry in (raw or {}).items():
        line = raw.line_of(name)
        name = str(name)
        if not isinstance(entry, YMap):
            problems.add(line, "item", f"service '{name}' must be a mapping", "fix the entry's indentation", name=name)
            continue
        status = entry.get("status")
        status_text = "" if status is None else str(status).strip().lower()
        if status_text and status_text not in KNOWN_STATUSES:
            allowed = ", ".join(sorted(KNOWN_STATUSES))
            problems.add(entry.line_of("status"), "status",
                         f"service '{name}': status {status!r} is not one of: {allowed}",
                         f"set status to one of: {allowed}", name=name)
        service = RegistryService(
            name=name, source=SourceRef(shown, line), host=text(entry.get("host")),
            container=text(entry.get("container")), status=status_text, compose=text(entry.get("compose")),
            field_lines=key_lines(entry),
        )
        services[name] = service
        if service.host and service.container:
            containers.append(DeclaredContainer(service=name, host=service.host, container=service.container,
                                                status=status_text, source=service.source, compose=service.compose))
    return ServiceRegistryFile(services=services, containers=tuple(containers),
                               hosts=_hosts(file.data.get("hosts"), shown), problems=tuple(problems),
                               shown=shown, present=file.present)


def _hosts(raw: Any, shown: str) -> dict[str, RegistryHost]:
    if not isinstance(raw, YMap):
        return {}
    hosts = {}
    for key, entry in raw.items():
        entry = entry if isinstance(entry, YMap) else YMap()
        vmid = entry.get("vmid")
        hosts[str(key)] = RegistryHost(
            id=str(key), source=SourceRef(shown, raw.line_of(key)), ssh=text(entry.get("ssh")),
            proxmox_host=text(entry.get("proxmox_host")),
            vmid=vmid if isinstance(vmid, int) and not isinstance(vmid, bool) else None,
            tailscale_ip=text(entry.get("tailscale_ip")), ssh_user=text(entry.get("ssh_user")),
            lan_ip=text(entry.get("lan_ip")), field_lines=key_lines(entry),
        )
    return hosts
