"""Live states built from declared ones, for tests that need an estate "live exactly as its bindings say"
(tests/test_findings_trust.py, tests/test_fix.py)."""

from __future__ import annotations

from reconciler.model import (
    EXPECTED_LIVE,
    AuditScope,
    DockerObservation,
    LiveContainer,
    LiveGuest,
    LiveStack,
    LiveState,
    ProxmoxObservation,
    Status,
)

POWER = {Status.ACTIVE: "running", Status.PROVISIONED: "running", Status.REGISTERED: "running",
         Status.STOPPED: "stopped", Status.TEMPLATE: "stopped"}
HOME = "/home/ops"


def live_as_declared(site) -> LiveState:
    """Every guest, stack and registered container of `site` exactly as its bindings declare them."""
    guests = [LiveGuest(g.proxmox_host, "pve", g.vmid, g.vm_type, g.hostname, POWER[g.status],
                        template=g.status is Status.TEMPLATE, cores=g.cpu_cores, memory_mb=g.memory_mb,
                        boot_disk_gb=g.boot_disk_gb, ips=(g.lan_ip,) if g.lan_ip else None)
              for g in site.lifecycle.guests
              if g.status in EXPECTED_LIVE and g.proxmox_host in site.scope.proxmox_hosts]
    proxmox = tuple(ProxmoxObservation(host, site.site, listed=True, audit=AuditScope(known=True, everything=True),
                                       guests=tuple(g for g in guests if g.proxmox_host == host))
                    for host in sorted(site.scope.proxmox_hosts))
    docker = []
    for target in sorted(site.docker.target_ids):
        stacks = [s for s in site.docker.stacks if s.target == target]
        containers = [c for c in site.docker.containers if c.host == target]
        docker.append(DockerObservation(
            target=target, site=site.site, observed=True, home=HOME,
            stacks=tuple(LiveStack(s.name, {"running": 1}, working_dir=(s.path or f"~/{s.name}").replace("~", HOME))
                         for s in stacks),
            containers=tuple(LiveContainer(c.container, "exited" if c.status in ("parked", "stopped") else "running")
                             for c in containers)))
    return LiveState(proxmox=proxmox, docker=tuple(docker), taken_at="2026-02-20T03:00:00Z")
