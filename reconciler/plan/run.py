"""`reconcile plan-vm`: load every site's bindings, observe every configured Proxmox host, run the checks.

The only module of the plan package that reads files or asks APIs (through `engine`, `collect.proxmox`
and `collect.pve_capacity`, all GET-only). It never writes into the bindings: `write_stubs` refuses any
directory inside a bindings root and any directory that already holds files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from .. import engine, governance
from ..bindings import display_path
from ..bindings.governance import load_governance
from ..bindings.profiles import load_vm_profiles
from ..collect.proxmox import DetailPlan, collect_host
from ..collect.pve_capacity import collect_capacity
from ..collect.snapshot import load_snapshot
from ..config import ProxmoxHostConfig, SiteConfig
from ..errors import ConfigError, ReconcileError
from ..fileio import atomic_write
from ..model import EXPECTED_LIVE, LiveState, ProxmoxObservation
from ..model.capacity import Capacity
from ..model.plan import Plan, Resolved
from ..rules.governance import build_context
from ..rules.governance.context import GovernanceContext
from .checks import HostLive, PlanInput, choose_node, run_checks
from .layout import read_layout
from .request import VmRequest, resolve
from .stubs import StubFile, build_stubs, entry_names

# Binding file → the collection a new guest's entry goes under.
STUB_PARENTS: dict[str, tuple[str, ...]] = {
    "vm_lifecycle": ("vms",),
    "ssh_targets": ("ssh", "targets"),
    "docker_compose_targets": ("targets",),
    "services_health": ("endpoints",),
    "backup_inventory": ("targets",),
    "service_registry": ("hosts",),
    "stack_registry": ("stacks",),
}


def target_config(configs: Sequence[SiteConfig], site: str) -> SiteConfig:
    for cfg in configs:
        if cfg.name == site:
            return cfg
    raise ConfigError(f"site '{site}' is not among the loaded sites ({', '.join(c.name for c in configs)})")


def plan_vm(request: VmRequest, configs: Sequence[SiteConfig], site: str, live_file: Path | None = None,
            today: str | None = None) -> Plan:
    """The whole plan: resolve the request, observe every site, run the checks, write the stubs (as text)."""
    cfg = target_config(configs, site)
    sites = {c.name: engine.load_declared(c) for c in configs}
    declared = sites[cfg.name]
    policy = governance.load_policy(cfg)
    target = build_context(load_governance(cfg, declared.shared_files()), policy)
    others = _other_contexts(configs, cfg, sites)
    profiles = load_vm_profiles(cfg.binding("vm_profiles"), cfg.bindings_root, cfg.name)
    lifecycle_path = cfg.binding("vm_lifecycle")
    resolved = resolve(request, cfg.name, declared.scope.proxmox_hosts, profiles, declared.lifecycle.defaults,
                       display_path(lifecycle_path, cfg.bindings_root))
    live, live_from, errors = observe(configs, sites, resolved, live_file)
    host = next((h for h in live if h.proxmox_host == resolved.proxmox_host), None)
    node, origin = choose_node(resolved, host)
    if node and not resolved.node:
        resolved = replace(resolved, node=node, origins={**resolved.origins, "node": origin})
    names = entry_names(resolved, target)
    checks = run_checks(PlanInput(resolved, target, others, live, profiles, names, cfg.settings.plan_vm))
    files = {key: StubFile(key, display_path(cfg.binding(key), cfg.bindings_root),
                           read_layout(cfg.binding(key), parent)) for key, parent in STUB_PARENTS.items()}
    stamp = today or dt.date.today().isoformat()
    stubs = build_stubs(resolved, target, policy, files, stamp)
    return Plan(resolved, checks, stubs, live_from, tuple(errors))


def _other_contexts(configs: Sequence[SiteConfig], cfg: SiteConfig,
                    sites: Mapping[str, engine.DeclaredSite]) -> tuple[GovernanceContext, ...]:
    """Bindings of the other sites, when they live in another root (one repo is read once)."""
    roots = {cfg.bindings_root.resolve()}
    contexts = []
    for other in configs:
        root = other.bindings_root.resolve()
        if root in roots:
            continue
        roots.add(root)
        contexts.append(build_context(load_governance(other, sites[other.name].shared_files()),
                                      governance.load_policy(other)))
    return tuple(contexts)


# ── live side ────────────────────────────────────────────────────────────────


def observe(configs: Sequence[SiteConfig], sites: Mapping[str, engine.DeclaredSite], req: Resolved,
            live_file: Path | None) -> tuple[tuple[HostLive, ...], dict[str, str], list[str]]:
    """Every configured Proxmox host of every site: from its snapshot, else from its API (hosts in parallel).

    The API is asked for every running guest's addresses (an IP collision can be any guest's), for the
    token's permissions when the planned VMID or the clone source is absent (so an absence is proof),
    and, for the host the guest is planned on, for node and storage capacity.
    """
    hosts: list[HostLive] = []
    live_from: dict[str, str] = {}
    errors: list[str] = []
    cache: dict[Path, LiveState] = {}
    jobs: list[tuple[str, ProxmoxHostConfig, DetailPlan, bool]] = []
    for cfg in configs:
        site = sites[cfg.name]
        path = live_file or cfg.live_snapshot
        if path is not None:
            if path not in cache:
                cache[path] = load_snapshot(path)
            observations = engine.from_snapshot(site, cache[path], path.name)
            hosts += [HostLive(o.proxmox_host, cfg.name, o, None, f"snapshot {path.name}") for o in observations]
            live_from[cfg.name] = str(path)
            errors += engine.fatal_errors(cfg.name, [o.status for o in observations if o.status])
            continue
        live_from[cfg.name] = "api"
        for host in cfg.proxmox:
            wanted = {g.vmid for g in site.lifecycle.guests
                      if g.proxmox_host == host.name and g.status in EXPECTED_LIVE}
            wanted |= {v for v in (req.vmid, req.template_vmid) if v is not None}
            capacity = cfg.name == req.site and host.name == req.proxmox_host
            jobs.append((cfg.name, host, DetailPlan(ips_for=None, expected=frozenset(wanted)), capacity))
        configured = {h.name for h in cfg.proxmox}
        hosts += [HostLive(name, cfg.name, None) for name in sorted(site.scope.proxmox_hosts - configured)]
    hosts += _collect(jobs)
    for site_name in sorted({site for site, *_ in jobs}):
        statuses = [h.observation.status for h in hosts
                    if h.site == site_name and h.observation is not None and h.observation.status is not None]
        errors += engine.fatal_errors(site_name, statuses)
    return tuple(sorted(hosts, key=lambda h: (h.site != req.site, h.site, h.proxmox_host))), live_from, errors


def _collect(jobs: Sequence[tuple[str, ProxmoxHostConfig, DetailPlan, bool]]) -> list[HostLive]:
    if not jobs:
        return []

    def one(job: tuple[str, ProxmoxHostConfig, DetailPlan, bool]) -> HostLive:
        site, host, detail, with_capacity = job
        observation: ProxmoxObservation = collect_host(host, site, detail)
        capacity: Capacity | None = collect_capacity(host) if with_capacity and observation.listed else None
        return HostLive(host.name, site, observation, capacity, "api")

    with ThreadPoolExecutor(max_workers=min(8, len(jobs)), thread_name_prefix="plan") as pool:
        return list(pool.map(one, jobs))


# ── --write-stubs ────────────────────────────────────────────────────────────


def check_stub_dir(directory: Path, configs: Sequence[SiteConfig]) -> Path:
    """Refuse a directory inside any bindings root, or one that already holds anything."""
    target = directory.expanduser().resolve()
    for cfg in configs:
        root = cfg.bindings_root.resolve()
        if target == root or root in target.parents:
            raise ConfigError(f"{directory}: refusing to write stubs inside the bindings root {root} "
                              "(plan-vm never writes into the bindings)")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{directory}: exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"{directory}: directory is not empty (--write-stubs only writes into a new directory)")
    return target


def write_stubs(plan: Plan, directory: Path, configs: Sequence[SiteConfig], overview: str) -> list[Path]:
    """One `<file>.stub` per binding file, each saying where to paste it, plus the plan as Markdown."""
    target = check_stub_dir(directory, configs)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReconcileError(f"{directory}: cannot create: {exc.strerror or exc}") from None
    protected = [p for cfg in configs for p in cfg.binding_paths.values()]
    written = []
    for stub in plan.stubs:
        path = target / f"{Path(stub.file).name}.stub"
        header = f"# {stub.place}\n" + (f"# to do: {stub.note}\n" if stub.note else "")
        atomic_write(path, header + stub.text, protected)
        written.append(path)
    overview_path = target / "plan.md"
    atomic_write(overview_path, overview, protected)
    return [*written, overview_path]
