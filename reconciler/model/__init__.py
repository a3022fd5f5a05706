"""Plain frozen dataclasses for declared state, live state and findings.

Nothing here does I/O. Declared guests are keyed by (Proxmox host, vmid), never by hostname:
the same hostname exists on both sites.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# ── vocabularies ─────────────────────────────────────────────────────────────


class GuestType(StrEnum):
    QEMU = "qemu"
    LXC = "lxc"


class Status(StrEnum):
    PLANNING = "planning"
    PROVISIONED = "provisioned"
    REGISTERED = "registered"
    ACTIVE = "active"
    STOPPED = "stopped"
    TEMPLATE = "template"
    DECOMMISSIONED = "decommissioned"
    ABANDONED = "abandoned"


# Statuses whose guests must exist on their Proxmox host.
EXPECTED_LIVE = frozenset(
    {Status.PROVISIONED, Status.REGISTERED, Status.ACTIVE, Status.STOPPED, Status.TEMPLATE}
)
# Statuses whose guests must no longer exist.
GONE = frozenset({Status.DECOMMISSIONED, Status.ABANDONED})


class Reason(StrEnum):
    """Why something could not be observed (the `reason` of an `unknown` finding)."""

    NODE_OFFLINE = "node_offline"
    AGENT_NOT_RUNNING = "agent_not_running"
    AGENT_NOT_CONFIGURED = "agent_not_configured"
    AGENT_ERROR = "agent_error"
    NO_PERMISSION = "no_permission"
    API_TIMEOUT = "api_timeout"
    API_ERROR = "api_error"
    AUTH_FAILED = "auth_failed"
    TLS_ERROR = "tls_error"
    NOT_IN_SNAPSHOT = "not_in_snapshot"
    SKIPPED = "skipped"
    # docker over SSH (the user's own vocabulary)
    SSH_TIMEOUT = "ssh_timeout"
    SSH_AUTH_DENIED = "ssh_auth_denied"
    SSH_UNREACHABLE = "ssh_unreachable"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    DOCKER_MISSING = "docker_missing"
    DOCKER_PERMISSION_DENIED = "docker_permission_denied"
    DOCKER_DAEMON_DOWN = "docker_daemon_down"
    COMPOSE_MISSING = "compose_missing"
    SUDO_PASSWORD_REQUIRED = "sudo_password_required"
    OUTPUT_UNPARSEABLE = "output_unparseable"
    OUTPUT_TOO_LARGE = "output_too_large"
    SSH_ERROR = "ssh_error"
    UNRESOLVED_TARGET = "unresolved_target"


class Kind(StrEnum):
    UNREGISTERED = "unregistered"  # live, undeclared
    MISSING = "missing"  # declared, observed not to be live
    DRIFTED = "drifted"  # both exist, an attribute differs
    UNKNOWN = "unknown"  # could not be observed
    INVALID = "invalid"  # the bindings themselves are wrong
    PARITY = "parity"  # cross-file governance gap
    SECURITY = "security"  # a setting that weakens the estate's safety


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class GapScope(StrEnum):
    """What a `Gap` could not observe."""

    HOST = "host"  # a whole Proxmox host (its API)
    NODE = "node"  # one PVE node (offline)
    GUEST = "guest"  # one guest's details
    GUEST_IPS = "guest_ips"  # one guest's addresses (agent, LXC interfaces)
    DOCKER_HOST = "docker_host"  # a docker host over SSH
    STACK = "stack"  # one compose stack


class SourceKind(StrEnum):
    PROXMOX = "proxmox"  # a Proxmox API
    DOCKER = "docker"  # a docker host over SSH


class SourceState(StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"


class SubjectType(StrEnum):
    """What a finding is about."""

    QEMU = "qemu"
    LXC = "lxc"
    STACK = "stack"
    CONTAINER = "container"
    HOST = "host"  # a Proxmox host or node, or a docker host
    BINDING = "binding"  # a binding file (or a line of it)
    SOURCE = "source"
    SSH_TARGET = "ssh-target"
    COMPOSE_TARGET = "compose-target"
    HEALTH_ENDPOINT = "health-endpoint"
    REGISTRY_HOST = "registry-host"
    REGISTRY_STACK = "registry-stack"
    BACKUP_TARGET = "backup-target"
    PROFILE = "profile"


def _as(enum: type[StrEnum], obj: object, name: str) -> None:
    """Store field `name` of a frozen dataclass as a member of `enum` (callers may pass the plain value)."""
    value = getattr(obj, name)
    if value is not None and not isinstance(value, enum):
        object.__setattr__(obj, name, enum(value))


# Kinds that mean "something must change" (exit 1) when their severity is not info.
ACTIONABLE_KINDS = frozenset(
    {Kind.UNREGISTERED, Kind.MISSING, Kind.DRIFTED, Kind.INVALID, Kind.PARITY, Kind.SECURITY}
)

# ── where a declared item came from ──────────────────────────────────────────


@dataclass(frozen=True, slots=True, order=True)
class SourceRef:
    """A place in a binding file; `file` is shown as given (relative to the bindings root)."""

    file: str
    line: int
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# ── declared state ───────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class DeclaredStack:
    """A compose stack a docker host is declared to run."""

    target: str  # the docker.compose.targets.yaml target id (the ssh target)
    name: str
    path: str | None  # declared compose directory; may start with "~"
    source: SourceRef
    compose_file: str | None = None


@dataclass(frozen=True, slots=True)
class DeclaredContainer:
    """A container a registry service says should exist (SERVICE_REGISTRY.yaml)."""

    service: str
    host: str  # ssh target / host id
    container: str
    status: str  # active | parked | deprecated | stopped | ...
    source: SourceRef
    compose: str | None = None  # the service's compose file, as written: which declared stack it belongs to


# ── live state ───────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
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

    @property
    def key(self) -> tuple[str, int]:
        return (self.proxmox_host, self.vmid)


@dataclass(frozen=True, slots=True)
class Gap:
    """Something that could not be observed, and why."""

    scope: GapScope
    reason: Reason
    detail: str
    proxmox_host: str | None = None
    node: str | None = None
    vmid: int | None = None
    target: str | None = None  # docker host (ssh target id)

    def __post_init__(self) -> None:
        _as(GapScope, self, "scope")


@dataclass(frozen=True, slots=True)
class AuditScope:
    """Which guests the token may audit; guests outside it are silently absent from listings."""

    known: bool  # False: permissions could not be read, so no absence can be trusted
    everything: bool = False
    vmids: frozenset[int] = frozenset()
    pools: frozenset[str] = frozenset()

    def can_see(self, vmid: int) -> bool:
        return self.known and (self.everything or vmid in self.vmids)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source of live data and how collecting from it went."""

    kind: SourceKind
    host: str  # the Proxmox host, or the docker host's ssh target id
    site: str
    status: SourceState
    reason: Reason | None = None
    detail: str = ""
    requests: int = 0
    from_snapshot: bool = False  # read from a snapshot file, not asked live

    def __post_init__(self) -> None:
        _as(SourceKind, self, "kind")
        _as(SourceState, self, "status")

    @property
    def name(self) -> str:
        """As shown in reports: `proxmox:HOST` or `docker:TARGET`."""
        return f"{self.kind}:{self.host}"

    @property
    def shown_kind(self) -> str:
        """The report's `kind`: proxmox, docker, or snapshot when the data came from a snapshot file."""
        return "snapshot" if self.from_snapshot else self.kind.value


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class DockerObservation:
    target: str
    site: str
    observed: bool
    home: str | None = None
    stacks: tuple[LiveStack, ...] = ()
    containers: tuple[LiveContainer, ...] = ()
    gap: Gap | None = None
    status: SourceStatus | None = None


@dataclass(frozen=True, slots=True)
class LiveState:
    proxmox: tuple[ProxmoxObservation, ...] = ()
    docker: tuple[DockerObservation, ...] = ()
    taken_at: str = ""


# ── findings ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Declared:
    """Everything the bindings declare that the live rules compare against."""

    guests: tuple[DeclaredGuest, ...] = ()
    stacks: tuple[DeclaredStack, ...] = ()  # from docker.compose.targets.yaml
    containers: tuple[DeclaredContainer, ...] = ()  # from SERVICE_REGISTRY.yaml
    problems: tuple[Finding, ...] = ()  # `invalid` findings found while loading


@dataclass(frozen=True, slots=True)
class SiteScope:
    """Which part of the estate belongs to one site (from the placement policy or the site file)."""

    site: str
    proxmox_hosts: frozenset[str]
    vmid_range: tuple[int, int] | None = None
    docker_targets: frozenset[str] = frozenset()
