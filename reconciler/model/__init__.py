"""Plain frozen dataclasses for declared state, live state and findings.

Nothing here does I/O. Declared guests are keyed by (Proxmox host, vmid), never by hostname:
the same hostname exists on both sites.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from ..record import record
from .backup import BackupObservation, BackupTargetFiles
from .vocab import (
    ACTIONABLE_KINDS,
    EXPECTED_LIVE,
    GONE,
    Gap,
    GapScope,
    GuestType,
    Kind,
    Reason,
    Severity,
    SourceKind,
    SourceRef,
    SourceState,
    SourceStatus,
    Status,
    SubjectType,
    _as,
)

__all__ = [  # the vocabularies are re-exported: callers import everything from `reconciler.model`
    "ACTIONABLE_KINDS",
    "EXPECTED_LIVE",
    "GONE",
    "BackupObservation",
    "BackupTargetFiles",
    "Gap",
    "GapScope",
    "GuestType",
    "Kind",
    "Reason",
    "Severity",
    "SourceKind",
    "SourceRef",
    "SourceState",
    "SourceStatus",
    "Status",
    "SubjectType",
]

# ── declared state ───────────────────────────────────────────────────────────


@record
class DeclaredGuest:
    proxmox_host: str
    vmid: int
    hostname: str
    status: Status
    vm_type: GuestType
    source: SourceRef  # the line of the list item
    cpu_cores: int | None = None
    memory_mb: int | None = None
    boot_disk_gb: float | None = None
    lan_ip: str | None = None
    tailscale_ip: str | None = None
    ssh_target: str | None = None
    stacks: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    backup_target: str | None = None
    health_probe_policy: str | None = None
    has_docker: bool | None = None
    profile: str | None = None
    # line of each key of the item (and of nested resource keys), for precise citations
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.proxmox_host, self.vmid)

    def source_of(self, name: str) -> SourceRef:
        """The file:line of one field, falling back to the item's own line."""
        return SourceRef(self.source.file, self.field_lines.get(name, self.source.line))


@record
class DeclaredStack:
    """A compose stack a docker host is declared to run."""

    target: str  # the docker.compose.targets.yaml target id (the ssh target)
    name: str
    path: str | None  # declared compose directory; may start with "~"
    source: SourceRef
    compose_file: str | None = None


@record
class DeclaredContainer:
    """A container a registry service says should exist (SERVICE_REGISTRY.yaml)."""

    service: str
    host: str  # ssh target / host id
    container: str
    status: str  # active | parked | deprecated | stopped | ...
    source: SourceRef
    compose: str | None = None  # the service's compose file, as written: which declared stack it belongs to


# ── live state ───────────────────────────────────────────────────────────────


@record
class LiveGuest:
    proxmox_host: str  # the configured Proxmox host that answered (decides the site)
    node: str
    vmid: int
    vm_type: GuestType
    name: str | None
    status: str  # running | stopped | paused | unknown
    template: bool = False
    cores: int | None = None
    memory_mb: int | None = None
    boot_disk_gb: float | None = None
    ips: tuple[str, ...] | None = None  # None: addresses were not observed
    tags: tuple[str, ...] = ()
    pool: str | None = None  # a backup job may select its guests by pool

    @property
    def key(self) -> tuple[str, int]:
        return (self.proxmox_host, self.vmid)


@record
class AuditScope:
    """Which guests the token may audit; guests outside it are silently absent from listings."""

    known: bool  # False: permissions could not be read, so no absence can be trusted
    everything: bool = False
    vmids: frozenset[int] = frozenset()
    pools: frozenset[str] = frozenset()

    def can_see(self, vmid: int) -> bool:
        return self.known and (self.everything or vmid in self.vmids)


@record
class ProxmoxObservation:
    proxmox_host: str
    site: str
    listed: bool  # the guest listing itself succeeded
    guests: tuple[LiveGuest, ...] = ()
    offline_nodes: frozenset[str] = frozenset()
    audit: AuditScope = AuditScope(known=False)
    gaps: tuple[Gap, ...] = ()
    status: SourceStatus | None = None
    version: str | None = None
    backups: BackupObservation | None = None  # asked only when the site has a backup inventory


@record
class LiveContainer:
    name: str
    state: str  # running | exited | ...
    status: str = ""
    image: str = ""
    project: str = ""
    service: str = ""
    working_dir: str = ""
    config_files: str = ""
    oneoff: bool = False
    health: str = ""  # healthy | unhealthy | starting | "" (no healthcheck), from docker's Status text

    @property
    def condition(self) -> str:
        """The state a reconcile compares: `unhealthy` for a running container whose healthcheck fails (docker
        keeps `.State` at running); `health: starting` is still running."""
        return "unhealthy" if self.state == "running" and self.health == "unhealthy" else self.state


@record
class LiveStack:
    name: str
    states: Mapping[str, int] = field(default_factory=dict, hash=False)  # e.g. {"running": 3, "exited": 1}
    config_files: tuple[str, ...] = ()
    working_dir: str | None = None

    @property
    def status_text(self) -> str:
        return ", ".join(f"{state}({count})" for state, count in sorted(self.states.items()))

    @property
    def fully_running(self) -> bool:
        return bool(self.states) and set(self.states) == {"running"}


@record
class DockerObservation:
    target: str
    site: str
    observed: bool
    home: str | None = None
    stacks: tuple[LiveStack, ...] = ()
    containers: tuple[LiveContainer, ...] = ()
    gap: Gap | None = None
    status: SourceStatus | None = None


@record
class LiveState:
    proxmox: tuple[ProxmoxObservation, ...] = ()
    docker: tuple[DockerObservation, ...] = ()
    taken_at: str = ""
    backup_files: tuple[BackupTargetFiles, ...] = ()  # one per SSH backup host


# ── findings ─────────────────────────────────────────────────────────────────


@record
class Subject:
    """What a finding is about."""

    type: SubjectType
    site: str
    proxmox_host: str | None = None
    vmid: int | None = None
    name: str | None = None
    target: str | None = None  # docker host for stacks/containers

    def __post_init__(self) -> None:
        _as(SubjectType, self, "type")

    @property
    def handle(self) -> str:
        """The readable path segment(s) identifying the subject within its site.

        A guest is `type/proxmox_host/vmid`: a vmid is unique per Proxmox host only, so two hosts of one site
        may both have a 101, and the address (what `.reconcileignore` matches) must tell them apart.
        """
        if self.vmid is not None:
            return f"{self.type}/{self.proxmox_host}/{self.vmid}" if self.proxmox_host else f"{self.type}/{self.vmid}"
        if self.target is not None and self.name is not None:
            return f"{self.type}/{self.target}/{self.name}"
        return f"{self.type}/{self.target or self.name or '-'}"


@record
class Finding:
    kind: Kind
    rule: str  # the rule id that produced it, e.g. "guest-drift"
    subject: Subject
    message: str
    severity: Severity = Severity.ERROR
    field: str | None = None
    declared: Any = None
    live: Any = None
    sources: tuple[SourceRef, ...] = ()
    reason: Reason | None = None  # why an `unknown` finding could not be observed
    hint: str = ""
    # what an `unknown` source hides (subject paths `site/type/handle` of the declared guests, stacks and
    # containers it would have shown), or what a `missing` stack takes with it (its registered containers)
    hides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _as(Reason, self, "reason")

    @property
    def address(self) -> str:
        """Human path used by ignore patterns: site/type/handle/kind[/field]."""
        tail = f"{self.kind.value}/{self.field}" if self.field else self.kind.value
        return f"{self.subject.site}/{self.subject.handle}/{tail}"

    @property
    def id(self) -> str:
        """Stable across runs: the same problem on the same subject gives the same id."""
        identity = "|".join(
            [self.address, self.rule, self.subject.proxmox_host or "", self.subject.target or ""]
        )
        return hashlib.sha256(identity.encode()).hexdigest()[:16]

    @property
    def actionable(self) -> bool:
        return self.kind in ACTIONABLE_KINDS and self.severity is not Severity.INFO


# ── the declared inventory of one run ────────────────────────────────────────


@record
class Declared:
    """Everything the bindings declare that the live rules compare against."""

    guests: tuple[DeclaredGuest, ...] = ()
    stacks: tuple[DeclaredStack, ...] = ()  # from docker.compose.targets.yaml
    containers: tuple[DeclaredContainer, ...] = ()  # from SERVICE_REGISTRY.yaml
    problems: tuple[Finding, ...] = ()  # `invalid` findings found while loading


@record
class SiteScope:
    """Which part of the estate belongs to one site (from the placement policy or the site file)."""

    site: str
    proxmox_hosts: frozenset[str]
    vmid_range: tuple[int, int] | None = None
    docker_targets: frozenset[str] = frozenset()
