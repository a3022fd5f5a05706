"""The reconcile pipeline for one or more sites: bindings → collect → rules → a `Report`.

Nothing here prints or exits: the CLI renders the report and turns it into an exit code.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from . import governance
from .bindings.docker import DockerBindings, load_docker_bindings
from .bindings.governance import SharedFiles
from .bindings.lifecycle import LifecycleFile, load_lifecycle
from .bindings.placement import Placement, load_placement, site_resolver, site_scope
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
from .model.report import Report, sort_findings
from .rules import RuleContext
from .rules.registry import GUEST_RULES, STACK_RULES, run_rules

log = logging.getLogger(__name__)




class Part(StrEnum):
    """The parts of a full run; `--only` picks one."""

    GUESTS = "guests"  # Proxmox API × vm.lifecycle.yaml
    STACKS = "stacks"  # docker over SSH × compose targets / service registry
    GOVERNANCE = "governance"  # cross-file parity rules (files only)


ALL_PARTS = frozenset(Part)


# ── declared side ────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class DeclaredSite:
    """Everything the bindings say about one site."""

    config: SiteConfig
    placement: Placement
    scope: SiteScope
    lifecycle: LifecycleFile
    docker: DockerBindings

    @property
    def site(self) -> str:
        return self.config.name

    def declared(self, parts: frozenset[Part] = ALL_PARTS) -> Declared:
        problems: list[Finding] = []
        if Part.GUESTS in parts:
            problems += [p for p in self.lifecycle.problems if p.subject.site == self.site]
        if Part.STACKS in parts:
            problems += self.docker.problems
        return Declared(guests=self.lifecycle.guests, stacks=self.docker.stacks, containers=self.docker.containers,
                        problems=tuple(problems))

    def shared_files(self) -> SharedFiles:
        """What the governance checks would otherwise read again."""
        return SharedFiles(self.placement, self.lifecycle, self.docker.ssh_targets, self.docker.compose,
                           self.docker.registry)

    def detail_plan(self, all_addresses: bool = False) -> dict[str, DetailPlan]:
        """Per Proxmox host: which guests need per-guest requests (only those whose comparison needs them)."""
        plans = {}
        for host in self.scope.proxmox_hosts:
            guests = [g for g in self.lifecycle.guests if g.proxmox_host == host]
            ips_for = None if all_addresses else frozenset(g.vmid for g in guests if g.lan_ip)
            expected = frozenset(g.vmid for g in guests if g.status in EXPECTED_LIVE)
            plans[host] = DetailPlan(ips_for=ips_for, expected=expected, verify_audit=all_addresses)
        return plans


def load_declared(cfg: SiteConfig) -> DeclaredSite:
    root = cfg.bindings_root
    placement = load_placement(cfg.binding("placement_policy"), root)
    scope = site_scope(cfg, placement)
    site_of = site_resolver(cfg, placement, scope)
    lifecycle = load_lifecycle(cfg.binding("vm_lifecycle"), root, site_of, default_site=cfg.name)
    docker = load_docker_bindings(cfg, lifecycle.guests, site_of, placement, ssh_config_entry)
    scope = replace(scope, docker_targets=docker.target_ids)
    for line in docker.explain():  # why each docker host is (not) part of the site: shown by --debug
        log.debug("site %s: %s", cfg.name, line)
    return DeclaredSite(cfg, placement, scope, lifecycle, docker)


# ── live side ────────────────────────────────────────────────────────────────


def collect_proxmox(site: DeclaredSite, all_addresses: bool = False) -> tuple[ProxmoxObservation, ...]:
    """Ask every configured Proxmox API of the site, hosts in parallel."""
    hosts = site.config.proxmox
    if not hosts:
        return ()
    plans = site.detail_plan(all_addresses)
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
    by_target = {obs.target: obs for obs in state.docker}
    observations = []
    for target in sorted(site.docker.target_ids):
        obs = by_target.get(target)
        if obs is None:
            observations.append(failed(target, site.site, Reason.NOT_IN_SNAPSHOT,
                                       f"snapshot {name} has no data for docker host '{target}'"))
            continue
        old = obs.status or SourceStatus("docker", target, site.site, "ok")
        status = replace(old, from_snapshot=True, site=site.site, detail=f"{old.detail} (snapshot {name})".strip())
        observations.append(replace(obs, site=site.site, status=status))
    return tuple(observations)


def observe_docker(site: DeclaredSite, skip_ssh: bool, progress: Progress | None) -> tuple[DockerObservation, ...]:
    if skip_ssh:
        return skipped(sorted(site.docker.target_ids), site.site)
    return collect_docker(site.docker.targets, site.config.ssh, site.site, progress)


# ── the run ──────────────────────────────────────────────────────────────────


def evaluate(site: DeclaredSite, live: LiveState, parts: frozenset[Part] = ALL_PARTS) -> tuple[Finding, ...]:
    """The pure part: declared × live → findings for one site."""
    ctx = RuleContext(scope=site.scope, declared=site.declared(parts), live=live,
                      disk_tolerance_gb=site.config.disk_tolerance_gb, lifecycle_file=site.lifecycle.shown)
    rules = (*(GUEST_RULES if Part.GUESTS in parts else ()), *(STACK_RULES if Part.STACKS in parts else ()))
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


def fatal_errors(site: str, sources: Iterable[SourceStatus]) -> list[str]:
    sources = list(sources)
    errors = [f"site {site}: Proxmox host {s.host}: {s.detail}"
              for s in sources if s.kind is SourceKind.PROXMOX and not s.from_snapshot and s.reason in FATAL_REASONS]
    if sources and all(s.status == "failed" for s in sources) and not errors:
        errors.append(f"site {site}: nothing could be collected ({'; '.join(s.detail for s in sources)})")
    return errors


Observer = Callable[[DeclaredSite], LiveState]


def observe_live(site: DeclaredSite, parts: frozenset[Part], skip_ssh: bool, progress: Progress | None,
                 all_addresses: bool = False) -> tuple[tuple[ProxmoxObservation, ...], tuple[DockerObservation, ...]]:
    """The site's Proxmox APIs and its docker hosts, both at once (each waits on the network, not the CPU)."""
    with worker_pool(2, "site") as pool:
        guests = pool.submit(collect_proxmox, site, all_addresses) if Part.GUESTS in parts else None
        docker = pool.submit(observe_docker, site, skip_ssh, progress) if Part.STACKS in parts else None
        return (guests.result() if guests else ()), (docker.result() if docker else ())


def reconcile(configs: Sequence[SiteConfig], live_file: Path | None = None, now: dt.datetime | None = None,
              parts: frozenset[Part] = ALL_PARTS, skip_ssh: bool = False, progress: Progress | None = None) -> Report:
    """Run the whole pipeline for each site. `live_file` replaces every site's live sources with a snapshot.

    Every site's live sources are observed in parallel; meanwhile this thread runs the governance checks,
    which only read files, so they cost no wall time on a site with an API to wait for."""
    sites = [load_declared(cfg) for cfg in configs]
    snapshot_of = {site.site: live_file or site.config.live_snapshot for site in sites}
    findings: list[Finding] = []
    sources: list[SourceStatus] = []
    errors: list[str] = []
    live_from: dict[str, str] = {}
    with worker_pool(max(1, len(sites)), "observe") as pool:
        pending = {site.site: pool.submit(observe_live, site, parts, skip_ssh, progress)
                   for site in sites if snapshot_of[site.site] is None}
        governance_of = {site.site: governance_findings(site) if Part.GOVERNANCE in parts else [] for site in sites}
        snapshot_cache: dict[Path, LiveState] = {}
        for site in sites:
            snapshot_path = snapshot_of[site.site]
            if snapshot_path is not None:
                if snapshot_path not in snapshot_cache:
                    snapshot_cache[snapshot_path] = load_snapshot(snapshot_path)
                state = snapshot_cache[snapshot_path]
                observations = from_snapshot(site, state, snapshot_path.name) if Part.GUESTS in parts else ()
                docker = docker_from_snapshot(site, state, snapshot_path.name) if Part.STACKS in parts else ()
                live_from[site.site] = str(snapshot_path)
            else:
                observations, docker = pending[site.site].result()
                live_from[site.site] = "api"
            proxmox_sources = [obs.status for obs in observations if obs.status is not None]
            docker_sources = [obs.status for obs in docker if obs.status is not None]
            if Part.GUESTS in parts and not observations:
                errors.append(f"site {site.site}: nothing to collect: no proxmox: hosts in {site.config.path} "
                              f"and no live_snapshot")
            errors.extend(fatal_errors(site.site, proxmox_sources))
            sources.extend(proxmox_sources + docker_sources)
            live = LiveState(proxmox=observations, docker=docker)
            findings.extend(without_repeats([*evaluate(site, live, parts), *governance_of[site.site]]))
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Report(stamp, tuple(s.site for s in sites), tuple(sources), tuple(sort_findings(findings)),
                  tuple(errors), live_from)


def take_snapshot(configs: Sequence[SiteConfig], now: dt.datetime | None = None, skip_ssh: bool = False,
                  progress: Progress | None = None) -> LiveState:
    """Collect the live state of every site from the APIs, with addresses of every running guest."""
    observations: list[ProxmoxObservation] = []
    docker: list[DockerObservation] = []
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
            site_guests, site_docker = future.result()
            observations.extend(site_guests)
            docker.extend(site_docker)
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return LiveState(proxmox=tuple(observations), docker=tuple(docker), taken_at=stamp)
