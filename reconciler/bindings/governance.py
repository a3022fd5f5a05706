"""Every binding file the cross-file governance checks read, loaded once for one site.

`load_governance(cfg)` → `GovernanceBindings`: the lifecycle and placement (as the engine loads
them), ssh targets, SERVICE_REGISTRY, backup inventory, health probes, compose targets,
STACK_REGISTRY and the naming policy. Only `vm.lifecycle.yaml` is required; every other file may be
absent — it is then listed in `missing` (the `governance-files` rule reports it, and the rules
that need it skip) instead of crashing the run. Syntax errors raise BindingsError; semantic
problems of every loader are gathered in `problems` (`invalid` findings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path

from ..config import SiteConfig
from ..model import Finding, SiteScope
from ..record import record
from . import display_path
from .backup import BackupInventory, load_backup_inventory
from .compose_targets import ComposeTargetsFile, load_compose_targets
from .health import HealthFile, load_health
from .lifecycle import LifecycleFile, load_lifecycle
from .naming import NamingPolicy, load_naming_policy
from .placement import Placement, load_placement, site_resolver, site_scope
from .service_registry import ServiceRegistryFile, load_service_registry
from .ssh_targets import SshTargetsFile, load_ssh_targets
from .stack_registry import StackRegistryFile, load_stack_registry

# The optional files (binding key → what is skipped without it).
OPTIONAL_FILES: dict[str, str] = {
    "placement_policy": "site membership comes from the site file only",
    "ssh_targets": "ssh checks are skipped",
    "service_registry": "service registry checks are skipped",
    "backup_inventory": "backup checks are skipped",
    "services_health": "health checks are skipped",
    "docker_compose_targets": "compose checks are skipped",
    "stack_registry": "STACK_REGISTRY checks are skipped",
    "naming_policy": "the default naming rules apply",
}


@record
class GovernanceBindings:
    site: str
    root: Path
    placement: Placement
    scope: SiteScope
    lifecycle: LifecycleFile
    ssh: SshTargetsFile
    registry: ServiceRegistryFile
    backup: BackupInventory
    health: HealthFile
    compose: ComposeTargetsFile
    stacks: StackRegistryFile
    naming: NamingPolicy
    problems: tuple[Finding, ...] = ()  # `invalid` findings of every loader (this site's)
    missing: Mapping[str, str] = field(default_factory=dict)  # binding key → file as named (absent files)
    placement_shown: str = "ops/bindings/infra.placement.policy.yaml"


@record
class SharedFiles:
    """Files a caller has loaded already for the same site (the engine's declared side): not read twice."""

    placement: Placement
    lifecycle: LifecycleFile
    ssh: SshTargetsFile
    compose: ComposeTargetsFile
    registry: ServiceRegistryFile
    backup: BackupInventory | None = None  # None: the caller did not read it


def load_governance(cfg: SiteConfig, shared: SharedFiles | None = None) -> GovernanceBindings:
    """Load every governance surface of `cfg`'s bindings (no network, read-only)."""
    root = cfg.bindings_root
    placement = shared.placement if shared else load_placement(cfg.binding("placement_policy"), root)
    scope = site_scope(cfg, placement)
    if shared is not None:
        lifecycle, ssh, compose, registry = shared.lifecycle, shared.ssh, shared.compose, shared.registry
    else:
        lifecycle = load_lifecycle(cfg.binding("vm_lifecycle"), root, site_resolver(cfg, placement, scope),
                                   default_site=cfg.name)
        ssh = load_ssh_targets(cfg.binding("ssh_targets"), root, cfg.name)
        compose = load_compose_targets(cfg.binding("docker_compose_targets"), root, cfg.name)
        registry = load_service_registry(cfg.binding("service_registry"), root, cfg.name)
    backup = shared.backup if shared is not None and shared.backup is not None else \
        load_backup_inventory(cfg.binding("backup_inventory"), root, cfg.name)
    health = load_health(cfg.binding("services_health"), root, cfg.name)
    stacks = load_stack_registry(cfg.binding("stack_registry"), root, cfg.name)
    naming = load_naming_policy(cfg.binding("naming_policy"), root, cfg.name)
    missing = {key: display_path(cfg.binding(key), root) for key in OPTIONAL_FILES if not cfg.binding(key).exists()}
    problems = (
        *(p for p in lifecycle.problems if p.subject.site == cfg.name),
        *ssh.problems, *registry.problems, *backup.problems, *health.problems, *compose.problems,
        *stacks.problems, *naming.problems,
    )
    return GovernanceBindings(
        site=cfg.name, root=root, placement=placement, scope=scope, lifecycle=lifecycle, ssh=ssh,
        registry=registry,
        backup=backup, health=health, compose=compose, stacks=stacks, naming=naming,
        problems=tuple(problems), missing=missing,
        placement_shown=display_path(cfg.binding("placement_policy"), root),
    )
