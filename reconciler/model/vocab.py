"""The model's vocabularies (kinds, reasons, subject types, statuses) and the two smallest values every other
model module uses: `SourceRef` (a place in a binding file) and `Gap` (what could not be observed, and why).

Apart from `model/__init__.py` so that `model/backup.py` can use them while `LiveState` (here re-exported
from the package) holds the backup observations. Import them from `reconciler.model`.
"""

from __future__ import annotations

from enum import StrEnum

from ..choices import GuestType as GuestType  # re-exported: the model's vocabulary
from ..record import record

# ── vocabularies ─────────────────────────────────────────────────────────────


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
    # backups
    STORAGE_INACTIVE = "storage_inactive"
    SCHEDULER_DOWN = "scheduler_down"
    INVALID_BINDING = "invalid_binding"


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
    BACKUP_HOST = "backup_host"  # a backup host's files over SSH
    BACKUP_API = "backup_api"  # one backup endpoint of a Proxmox host (jobs, tasks, scheduler, storage)
    STACK = "stack"  # one compose stack


class SourceKind(StrEnum):
    PROXMOX = "proxmox"  # a Proxmox API
    DOCKER = "docker"  # a docker host over SSH
    BACKUP = "backup"  # a backup host's files over SSH


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
    BACKUP = "backup"  # a backup target's files (name = the target), or archives no target claims
    BACKUP_JOB = "backup-job"  # a vzdump job of a Proxmox host (name = the job id)
    BACKUP_STORAGE = "backup-storage"  # a Proxmox storage holding backups (name = the storage id)
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


@record(order=True)
class SourceRef:
    """A place in a binding file; `file` is shown as given (relative to the bindings root)."""

    file: str
    line: int
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"



# ── what could not be observed ──────────────────────────────────────────────


@record
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


@record
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
