"""The reconcile pipeline for one or more sites: bindings → collect → rules → a `Report`.

Nothing here prints or exits: the CLI renders the report and turns it into an exit code.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from . import governance
from .bindings.backup import SiteBackups, load_backup_inventory, site_backups
from .bindings.docker import DockerBindings, load_docker_bindings
from .bindings.governance import SharedFiles
from .bindings.lifecycle import LifecycleFile, load_lifecycle
from .bindings.placement import Placement, load_placement, site_resolver, site_scope
from .choices import ALL_PARTS, Part
from .collect.backup_files import TargetSpec
from .collect.backup_hosts import collect_backup_files, skipped_backup_files
from .collect.backup_hosts import failed as backup_host_failed
from .collect.docker import Progress, collect_docker, failed, skipped
from .collect.pool import worker_pool
from .collect.proxmox import FATAL_REASONS, DetailPlan, collect_host
from .collect.snapshot import load_snapshot
from .collect.ssh_config import ssh_config_entry
from .config import SiteConfig
from .errors import ConfigError
from .model import (
    EXPECTED_LIVE,
    Declared,
    DockerObservation,
    Finding,
    Gap,
    GapScope,
    LiveState,
    ProxmoxObservation,
    Reason,
    SiteScope,
    SourceKind,
    SourceState,
    SourceStatus,
)
from .model.backup import BackupStatus, BackupTargetFiles
from .model.report import Report, sort_findings
from .record import record
from .rules import RuleContext
from .rules._backups import target_statuses
from .rules.registry import BACKUP_RULES, GUEST_RULES, STACK_RULES, run_rules

log = logging.getLogger(__name__)


# ── declared side ────────────────────────────────────────────────────────────


@record
class DeclaredSite:
    """Everything the bindings say about one site."""

    config: SiteConfig
    placement: Placement
    scope: SiteScope
    lifecycle: LifecycleFile
    docker: DockerBindings
    backups: SiteBackups = field(default_factory=SiteBackups)  # default: no backup inventory

    @property
    def site(self) -> str:
        return self.config.name

    def wants_backups(self, parts: frozenset[Part]) -> bool:
        return Part.BACKUPS in parts and self.backups.present

    def declared(self, parts: frozenset[Part] = ALL_PARTS) -> Declared:
        problems: list[Finding] = []
        if Part.GUESTS in parts:
            problems += [p for p in self.lifecycle.problems if p.subject.site == self.site]
        if Part.STACKS in parts:
            problems += self.docker.problems
        if Part.BACKUPS in parts:
            problems += self.backups.problems
        return Declared(guests=self.lifecycle.guests, stacks=self.docker.stacks, containers=self.docker.containers,
                        problems=tuple(problems))

    def shared_files(self) -> SharedFiles:
        """What the governance checks would otherwise read again."""
        return SharedFiles(self.placement, self.lifecycle, self.docker.ssh_targets, self.docker.compose,
                           self.docker.registry, self.backups.inventory)

    def detail_plan(self, all_addresses: bool = False, parts: frozenset[Part] = ALL_PARTS) -> dict[str, DetailPlan]:
        """Per Proxmox host: which guests need per-guest requests (only those whose comparison needs them).

        Without the guest part (`--only backups`) only the listing is read: the jobs need each guest's node."""
        plans = {}
        backups = self.wants_backups(parts)
        for host in self.scope.proxmox_hosts:
            guests = [g for g in self.lifecycle.guests if g.proxmox_host == host]
            if Part.GUESTS not in parts:
                plans[host] = DetailPlan(backups=backups)
                continue
            ips_for = None if all_addresses else frozenset(g.vmid for g in guests if g.lan_ip)
            expected = frozenset(g.vmid for g in guests if g.status in EXPECTED_LIVE)
            plans[host] = DetailPlan(ips_for=ips_for, expected=expected, verify_audit=all_addresses, backups=backups)
        return plans

    def backup_targets(self) -> dict[str, list[TargetSpec]]:
        """Per backup host (ssh target id): the file checks its one script run does."""
        specs: dict[str, list[TargetSpec]] = {}
        for target in self.backups.targets:
            assert target.host and target.base_path and target.glob  # `checked` targets have all three
            specs.setdefault(target.host, []).append(TargetSpec(target.name, target.base_path, target.glob))
        return specs


def load_declared(cfg: SiteConfig) -> DeclaredSite:
    root = cfg.bindings_root
    placement = load_placement(cfg.binding("placement_policy"), root)
    scope = site_scope(cfg, placement)
    site_of = site_resolver(cfg, placement, scope)
    lifecycle = load_lifecycle(cfg.binding("vm_lifecycle"), root, site_of, default_site=cfg.name)
    docker = load_docker_bindings(cfg, lifecycle.guests, site_of, placement, ssh_config_entry)
    scope = replace(scope, docker_targets=docker.target_ids)
    inventory = load_backup_inventory(cfg.binding("backup_inventory"), root, cfg.name)  # read once: governance too
    backups = site_backups(cfg, inventory, lifecycle.guests, site_of, docker.ssh_targets, ssh_config_entry)
    for line in (*docker.explain(), *backups.membership):  # why each host is (not) part of the site: --debug
        log.debug("site %s: %s", cfg.name, line)
    return DeclaredSite(cfg, placement, scope, lifecycle, docker, backups)


# ── live side ────────────────────────────────────────────────────────────────


def collect_proxmox(site: DeclaredSite, all_addresses: bool = False,
                    parts: frozenset[Part] = ALL_PARTS) -> tuple[ProxmoxObservation, ...]:
    """Ask every configured Proxmox API of the site, hosts in parallel."""
    hosts = site.config.proxmox
    if not hosts:
        return ()
    plans = site.detail_plan(all_addresses, parts)
    with worker_pool(len(hosts), "pve") as pool:
        futures = [pool.submit(collect_host, cfg, site.site, plans.get(cfg.name, DetailPlan())) for cfg in hosts]
        return tuple(future.result() for future in futures)


def from_snapshot(site: DeclaredSite, state: LiveState, name: str) -> tuple[ProxmoxObservation, ...]:
    """The site's part of a snapshot; a site host the snapshot lacks is unobserved, not empty."""
    by_host = {obs.proxmox_host: obs for obs in state.proxmox}
    observations = []
    for host in sorted(site.scope.proxmox_hosts | {p.name for p in site.config.proxmox}):
        obs = by_host.get(host)
        if obs is None:
            detail = f"snapshot {name} has no data for Proxmox host '{host}'"
            status = SourceStatus(SourceKind.PROXMOX, host, site.site, SourceState.FAILED, Reason.NOT_IN_SNAPSHOT,
                                  detail, from_snapshot=True)
            gap = Gap(GapScope.HOST, Reason.NOT_IN_SNAPSHOT, detail, proxmox_host=host)
            observations.append(ProxmoxObservation(host, site.site, listed=False, gaps=(gap,), status=status))
            continue
        old = obs.status or SourceStatus("proxmox", host, site.site, "ok")
        taken = f" taken {state.taken_at}" if state.taken_at else ""
        status = replace(old, from_snapshot=True, site=site.site,
                         detail=f"{old.detail} (snapshot {name}{taken})".strip())
        observations.append(replace(obs, site=site.site, status=status))
    return tuple(observations)


def docker_from_snapshot(site: DeclaredSite, state: LiveState, name: str) -> tuple[DockerObservation, ...]:
    """The site's docker hosts in a snapshot; a host the snapshot lacks is unobserved, not empty."""
    return _replayed({obs.target: obs for obs in state.docker}, sorted(site.docker.target_ids), SourceKind.DOCKER,
                     "docker host", site.site, name,
                     lambda target, detail: failed(target, site.site, Reason.NOT_IN_SNAPSHOT, detail))


def _replayed(kept: Mapping[str, Any], wanted: Iterable[str], kind: SourceKind, what: str, site: str, name: str,
              lacking: Callable[[str, str], Any]) -> tuple[Any, ...]:
    """Observations of SSH hosts read back from snapshot `name`: each marked as such, a host it lacks unobserved."""
    observations = []
    for key in wanted:
        obs = kept.get(key)
        if obs is None:
            observations.append(lacking(key, f"snapshot {name} has no data for {what} '{key}'"))
            continue
        old = obs.status or SourceStatus(kind, key, site, SourceState.OK)
        status = replace(old, from_snapshot=True, site=site, detail=f"{old.detail} (snapshot {name})".strip())
        observations.append(replace(obs, site=site, status=status))
    return tuple(observations)


def observe_docker(site: DeclaredSite, skip_ssh: bool, progress: Progress | None) -> tuple[DockerObservation, ...]:
    if skip_ssh:
        return skipped(sorted(site.docker.target_ids), site.site)
    return collect_docker(site.docker.targets, site.config.ssh, site.site, progress)


def observe_backup_files(site: DeclaredSite, skip_ssh: bool) -> tuple[BackupTargetFiles, ...]:
    if skip_ssh:
        return skipped_backup_files([e.target for e in site.backups.endpoints], site.site)
    return collect_backup_files(site.backups.endpoints, site.backup_targets(), site.config.ssh, site.site)


def backup_files_from_snapshot(site: DeclaredSite, state: LiveState, name: str) -> tuple[BackupTargetFiles, ...]:
    """The site's backup hosts in a snapshot; a host the snapshot lacks (an older snapshot) is unobserved."""
    return _replayed({obs.host: obs for obs in state.backup_files}, [e.target for e in site.backups.endpoints],
                     SourceKind.BACKUP, "backup host", site.site, name,
                     lambda host, detail: backup_host_failed(host, site.site, Reason.NOT_IN_SNAPSHOT, detail, 0))


# ── the run ──────────────────────────────────────────────────────────────────


def rule_context(site: DeclaredSite, live: LiveState, parts: frozenset[Part] = ALL_PARTS) -> RuleContext:
    return RuleContext(scope=site.scope, declared=site.declared(parts), live=live,
                       disk_tolerance_gb=site.config.disk_tolerance_gb, lifecycle_file=site.lifecycle.shown,
                       backups=site.backups if site.wants_backups(parts) else None,
                       guests_checked=Part.GUESTS in parts)


def evaluate(site: DeclaredSite, live: LiveState, parts: frozenset[Part] = ALL_PARTS) -> tuple[Finding, ...]:
    """The pure part: declared × live → findings for one site."""
    return evaluate_context(rule_context(site, live, parts), parts)


def evaluate_context(ctx: RuleContext, parts: frozenset[Part]) -> tuple[Finding, ...]:
    rules = (*(GUEST_RULES if Part.GUESTS in parts else ()), *(STACK_RULES if Part.STACKS in parts else ()),
             *(BACKUP_RULES if ctx.backups is not None else ()))
    return (*ctx.declared.problems, *run_rules(ctx, rules))


def governance_findings(site: DeclaredSite) -> list[Finding]:
    """`reconcile check`'s findings of the site, as part of a full run (files only, no network)."""
    return list(governance.run_check(site.config, shared=site.shared_files()).findings)


def without_repeats(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (id, sources): two loaders reading the same file report its problems once."""
    seen: dict[tuple[str, tuple[object, ...]], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.id, tuple(finding.sources)), finding)
    return list(seen.values())


def fatal_errors(site: str, sources: Iterable[SourceStatus], others_answered: bool = False) -> list[str]:
    """Refused tokens and failed TLS checks; and every Proxmox API of the site failing while no docker or backup
    host answered either (`others_answered`): then nothing at all was collected."""
    sources = list(sources)
    errors = [f"site {site}: Proxmox host {s.host}: {s.detail}"
              for s in sources if s.kind is SourceKind.PROXMOX and not s.from_snapshot and s.reason in FATAL_REASONS]
    if sources and not others_answered and all(s.status == "failed" for s in sources) and not errors:
        errors.append(f"site {site}: nothing could be collected ({'; '.join(s.detail for s in sources)})")
    return errors


Observer = Callable[[DeclaredSite], LiveState]


@record
class SiteLive:
    """What one site's sources answered (empty for the parts not asked)."""

    proxmox: tuple[ProxmoxObservation, ...] = ()
    docker: tuple[DockerObservation, ...] = ()
    backup_files: tuple[BackupTargetFiles, ...] = ()


def observe_live(site: DeclaredSite, parts: frozenset[Part], skip_ssh: bool, progress: Progress | None,
                 all_addresses: bool = False) -> SiteLive:
    """The site's Proxmox APIs, docker hosts and backup hosts, all at once (each waits on the network)."""
    backups = site.wants_backups(parts)
    with worker_pool(3, "site") as pool:
        guests = pool.submit(collect_proxmox, site, all_addresses, parts) if Part.GUESTS in parts or backups \
            else None
        docker = pool.submit(observe_docker, site, skip_ssh, progress) if Part.STACKS in parts else None
        files = pool.submit(observe_backup_files, site, skip_ssh) if backups else None
        return SiteLive(guests.result() if guests else (), docker.result() if docker else (),
                        files.result() if files else ())


def reconcile(configs: Sequence[SiteConfig], live_file: Path | None = None, now: dt.datetime | None = None,
              parts: frozenset[Part] = ALL_PARTS, skip_ssh: bool = False, progress: Progress | None = None,
              state: LiveState | None = None) -> Report:
    """Run the whole pipeline for each site. `live_file` replaces every site's live sources with a snapshot;
    `state` (with or without `live_file`, which then only names it) is that snapshot already loaded or taken.

    Every site's live sources are observed in parallel; meanwhile this thread runs the governance checks,
    which only read files, so they cost no wall time on a site with an API to wait for."""
    sites = [load_declared(cfg) for cfg in configs]
    given = live_file or Path("live-state") if state is not None else live_file
    snapshot_of = {site.site: given or site.config.live_snapshot for site in sites}
    findings: list[Finding] = []
    sources: list[SourceStatus] = []
    errors: list[str] = []
    live_from: dict[str, str] = {}
    backup_states: list[BackupStatus] = []
    with worker_pool(max(1, len(sites)), "observe") as pool:
        pending = {site.site: pool.submit(observe_live, site, parts, skip_ssh, progress)
                   for site in sites if snapshot_of[site.site] is None}
        governance_of = {site.site: governance_findings(site) if Part.GOVERNANCE in parts else [] for site in sites}
        snapshot_cache: dict[Path, LiveState] = {given: state} if state is not None and given else {}
        for site in sites:
            snapshot_path = snapshot_of[site.site]
            if snapshot_path is not None:
                if snapshot_path not in snapshot_cache:
                    snapshot_cache[snapshot_path] = load_snapshot(snapshot_path)
                state = snapshot_cache[snapshot_path]
                backups = site.wants_backups(parts)
                observed = SiteLive(
                    from_snapshot(site, state, snapshot_path.name) if Part.GUESTS in parts or backups else (),
                    docker_from_snapshot(site, state, snapshot_path.name) if Part.STACKS in parts else (),
                    backup_files_from_snapshot(site, state, snapshot_path.name) if backups else ())
                live_from[site.site] = str(snapshot_path)
            else:
                observed = pending[site.site].result()
                live_from[site.site] = "api"
            observations = observed.proxmox
            proxmox_sources = [obs.status for obs in observations if obs.status is not None]
            ssh_sources = [obs.status for obs in (*observed.docker, *observed.backup_files)
                              if obs.status is not None]
            if parts == {Part.STACKS} and not site.docker.targets:
                errors.append(f"site {site.site}: --only stacks, but no docker host belongs to the site (0 hosts "
                              "to check; --debug says why each compose target is not a member)")
            elif parts == {Part.BACKUPS} and not site.backups.present:
                errors.append(f"site {site.site}: --only backups, but there is no backup inventory "
                              f"({site.config.binding('backup_inventory')})")
            elif (Part.GUESTS in parts or site.wants_backups(parts)) and not observations:
                errors.append(f"site {site.site}: nothing to collect: no proxmox: hosts in {site.config.path} "
                              f"and no live_snapshot")
            answered = any(s.status in (SourceState.OK, SourceState.PARTIAL) for s in ssh_sources)
            errors.extend(fatal_errors(site.site, proxmox_sources, others_answered=answered))
            sources.extend(proxmox_sources + ssh_sources)
            live = LiveState(proxmox=observations, docker=observed.docker, backup_files=observed.backup_files)
            ctx = rule_context(site, live, parts)
            backup_states.extend(target_statuses(ctx.backup_view, site.site))
            findings.extend(without_repeats([*evaluate_context(ctx, parts), *governance_of[site.site]]))
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Report(stamp, tuple(s.site for s in sites), tuple(sources), tuple(sort_findings(findings)),
                  tuple(errors), live_from, backups=tuple(backup_states))


def take_snapshot(configs: Sequence[SiteConfig], now: dt.datetime | None = None, skip_ssh: bool = False,
                  progress: Progress | None = None) -> LiveState:
    """Collect the live state of every site from the APIs, with addresses of every running guest."""
    observations: list[ProxmoxObservation] = []
    docker: list[DockerObservation] = []
    files: list[BackupTargetFiles] = []
    offline = [cfg.name for cfg in configs if cfg.live_snapshot is not None]
    if offline:
        # such a site is offline by declaration (the demo among them): its hosts are never contacted
        raise ConfigError(f"site {', '.join(offline)}: reads its live state from live_snapshot, nothing to snapshot")
    sites = [load_declared(cfg) for cfg in configs]
    empty = [site.site for site in sites if not site.config.proxmox and not (site.docker.targets and not skip_ssh)]
    if empty:
        raise ConfigError(f"site {', '.join(empty)}: no proxmox: hosts and no docker hosts to observe, "
                          "nothing to snapshot")
    with worker_pool(max(1, len(sites)), "observe") as pool:
        futures = [pool.submit(observe_live, site, ALL_PARTS, skip_ssh, progress, True) for site in sites]
        for future in futures:
            observed = future.result()
            observations.extend(observed.proxmox)
            docker.extend(observed.docker)
            files.extend(observed.backup_files)
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return LiveState(proxmox=tuple(observations), docker=tuple(docker), taken_at=stamp, backup_files=tuple(files))
