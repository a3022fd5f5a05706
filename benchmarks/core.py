"""The comparison core alone: `engine.evaluate` on a synthetic `DeclaredSite` × `LiveState`, no I/O.

Run as its own process (`python -m benchmarks.core --guests 10000 --docker-hosts 200`) so that its peak
RSS is its own; prints one JSON object: the CPU and wall time of `evaluate` only, the time spent building
the inputs, and the findings by kind. The runner checks them against what the estate implies.

Inputs (from benchmarks/estate.py): `guests` declared and `guests` live guests on one Proxmox host, of
which 1 % are declared only (missing) and 1 % live only (unregistered); the estate's drift fraction of the
matched ones declare one core more; lan_ip declared for every running guest and observed on all but the
guests whose agent fails (unknown). Docker: `docker_hosts` hosts × `stacks_per_host` stacks, two live
containers per stack and one registry container per stack; each host is also a declared guest's
`ssh_target` listing its stacks (the lifecycle cross-check runs too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from reconciler.bindings.docker import DockerBindings, DockerEndpoint
from reconciler.bindings.lifecycle import LifecycleFile
from reconciler.bindings.placement import Placement
from reconciler.config import SiteConfig
from reconciler.engine import DeclaredSite, Part, evaluate
from reconciler.model import (
    AuditScope,
    DeclaredContainer,
    DeclaredGuest,
    DeclaredStack,
    DockerObservation,
    Gap,
    GuestType,
    LiveContainer,
    LiveGuest,
    LiveStack,
    LiveState,
    ProxmoxObservation,
    Reason,
    SiteScope,
    SourceRef,
    SourceStatus,
    Status,
)

from .estate import PROXMOX_HOST, SITE, Estate, EstateSpec, GuestPlan

LIFECYCLE = "ops/bindings/vm.lifecycle.yaml"
TARGETS = "ops/bindings/docker.compose.targets.yaml"
REGISTRY = "docs/governance/SERVICE_REGISTRY.yaml"
ONE_PERCENT = 100


def sides(estate: Estate, guests: int) -> tuple[list[GuestPlan], list[GuestPlan]]:
    """(declared, live): `guests` each; 1 % of each side has no counterpart on the other."""
    plans = estate.guests
    declared = list(plans[:guests])
    declared_only = {p.vmid for p in declared[::ONE_PERCENT]}
    live = [p for p in plans if p.vmid not in declared_only]  # the plans beyond `guests` are live only
    return declared, live


def build(estate: Estate, guests: int) -> tuple[DeclaredSite, LiveState]:
    declared_plans, live_plans = sides(estate, guests)
    hosts = estate.docker_targets
    # one declared guest per docker host names it as its ssh_target and lists its stacks
    ssh_target_of = {declared_plans[i * 7 + 1].vmid: host for i, host in enumerate(hosts)}
    declared = tuple(_declared(p, 10 + 8 * n, ssh_target_of.get(p.vmid), estate)
                     for n, p in enumerate(declared_plans))
    live = tuple(_live(p) for p in live_plans)
    gaps = tuple(Gap("guest_ips", Reason.AGENT_NOT_RUNNING, "QEMU guest agent is not running",
                     proxmox_host=PROXMOX_HOST, node=p.node, vmid=p.vmid) for p in live_plans if p.ips_unreadable)
    stacks, containers, endpoints, observations = [], [], [], []
    for h, host in enumerate(hosts):
        endpoints.append(DockerEndpoint(target=host, compose_target=host, host="127.0.0.1"))
        live_stacks, live_containers = [], []
        for k, name in enumerate(estate.stack_names()):
            line = 5 + (h * len(estate.stack_names()) + k) * 2
            stacks.append(DeclaredStack(host, name, f"/opt/stacks/{name}", SourceRef(TARGETS, line)))
            containers.append(DeclaredContainer(f"{host}-{name}", host, f"{name}-web-1", "active",
                                                SourceRef(REGISTRY, line)))
            live_stacks.append(LiveStack(name, {"running": 2}, (f"/opt/stacks/{name}/compose.yaml",),
                                         f"/opt/stacks/{name}"))
            live_containers += [LiveContainer(f"{name}-{svc}-1", "running", "Up", "img", name, svc,
                                              f"/opt/stacks/{name}") for svc in ("web", "db")]
        status = SourceStatus("docker", host, SITE, "ok", requests=1)
        observations.append(DockerObservation(host, SITE, True, "/root", tuple(live_stacks), tuple(live_containers),
                                              status=status))
    config = SiteConfig(name=SITE, path=Path("bench.yaml"), bindings_root=Path("."), binding_paths={})
    scope = SiteScope(SITE, frozenset({PROXMOX_HOST}), docker_targets=frozenset(hosts))
    docker = DockerBindings(site=SITE, targets=tuple(endpoints), stacks=tuple(stacks), containers=tuple(containers))
    site = DeclaredSite(config, Placement(), scope, LifecycleFile(declared, (), LIFECYCLE), docker)
    observation = ProxmoxObservation(PROXMOX_HOST, SITE, listed=True, guests=live,
                                     audit=AuditScope(known=True, everything=True), gaps=gaps,
                                     status=SourceStatus("proxmox", PROXMOX_HOST, SITE, "ok"))
    return site, LiveState(proxmox=(observation,), docker=tuple(observations))


def _declared(p: GuestPlan, line: int, ssh_target: str | None, estate: Estate) -> DeclaredGuest:
    status = Status.TEMPLATE if p.template else Status.ACTIVE if p.running else Status.STOPPED
    return DeclaredGuest(
        proxmox_host=PROXMOX_HOST, vmid=p.vmid, hostname=p.name, status=status, vm_type=GuestType(p.type),
        source=SourceRef(LIFECYCLE, line), cpu_cores=p.cores + 1 if p.drifted else p.cores,
        memory_mb=p.memory_mb, boot_disk_gb=float(p.disk_gb), lan_ip=p.ip if p.needs_detail else None,
        ssh_target=ssh_target, stacks=tuple(estate.stack_names()) if ssh_target else (),
        field_lines={"cpu_cores": line + 4, "lan_ip": line + 3},
    )


def _live(p: GuestPlan) -> LiveGuest:
    observed = p.needs_detail and not p.ips_unreadable
    return LiveGuest(
        proxmox_host=PROXMOX_HOST, node=p.node, vmid=p.vmid, vm_type=GuestType(p.type), name=p.name,
        status="running" if p.running else "stopped", template=p.template, cores=p.cores, memory_mb=p.memory_mb,
        boot_disk_gb=float(p.disk_gb), ips=(p.ip,) if observed else None,
    )


def expected(estate: Estate, guests: int) -> dict[str, int]:
    """Findings `build` implies: drift and unreadable addresses among matched guests, 1 % on either side."""
    declared, live = sides(estate, guests)
    live_vmids = {p.vmid for p in live}
    declared_vmids = {p.vmid for p in declared}
    matched = [p for p in declared if p.vmid in live_vmids]
    return {"drifted": sum(1 for p in matched if p.drifted), "missing": len(declared) - len(matched),
            "unregistered": len(live_vmids - declared_vmids), "unknown": sum(1 for p in matched if p.ips_unreadable)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=10_000)
    parser.add_argument("--docker-hosts", type=int, default=200)
    parser.add_argument("--stacks-per-host", type=int, default=10)
    args = parser.parse_args(argv)
    estate = Estate(EstateSpec(guests=args.guests + args.guests // ONE_PERCENT, docker_hosts=args.docker_hosts,
                               stacks_per_host=args.stacks_per_host))
    started = time.perf_counter()
    site, live = build(estate, args.guests)
    built = time.perf_counter() - started
    cpu, wall = time.process_time(), time.perf_counter()
    findings = evaluate(site, live, frozenset({Part.GUESTS, Part.STACKS}))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    kinds = Counter(f.kind.value for f in findings)
    json.dump({"evaluate_cpu_s": cpu, "evaluate_wall_s": wall, "build_s": built, "findings": dict(kinds),
               "expected": expected(estate, args.guests), "stacks": len(site.docker.stacks),
               "declared_guests": len(site.lifecycle.guests), "live_guests": len(live.proxmox[0].guests)},
              sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
