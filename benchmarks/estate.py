"""A synthetic estate for the benchmarks: live guests for the fake Proxmox API, docker hosts for the loopback
sshd, and binding files in the user's schema that declare it with a known number of differences.

The estate is deterministic (a function of `EstateSpec` only), so every run and every machine measures the
same work, and the expected findings and request counts can be computed without running anything:

- guests: `guests` vmids from `first_vmid`, spread round-robin over `nodes` PVE nodes; every 12th is an LXC,
  every 10th is stopped, every 50th a (stopped) template; running VMs have a guest agent except a few
  (every 97th: agent not running, every 89th: no agent configured) — those give `unknown` lan_ip findings;
- drift: `round(guests * drift_fraction)` declared guests (evenly spaced) declare one core more than live;
- docker hosts: `docker_hosts` compose targets `docker-NN` with `stacks_per_host` stacks each, all answering
  with the same `docker compose ls` / `docker ps` output; `round(docker_hosts * drift_fraction)` hosts declare
  their first stack under another path (one `drifted path` finding each).

Addresses come from 198.18.0.0/15 (RFC 2544, reserved for benchmarks); nothing ever connects to them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

PROXMOX_HOST = "bench-pve"
SITE = "bench"
TOKEN_ID = "bench@pve!reconciler"
TOKEN_SECRET = "bench-0000-1111-2222-333333333333"
SECRET_ENV = "RECONCILE_BENCH_PVE_TOKEN"


@dataclass(frozen=True)
class EstateSpec:
    guests: int = 1000
    nodes: int = 3
    docker_hosts: int = 0
    stacks_per_host: int = 4
    drift_fraction: float = 0.05
    first_vmid: int = 1000
    lan_ip_for_all: bool = True  # declare lan_ip on every guest expected running (the reconcile checks it)


@dataclass(frozen=True)
class GuestPlan:
    vmid: int
    node: str
    type: str  # qemu | lxc
    name: str
    running: bool
    template: bool
    agent: str  # ok | not_running | not_configured (qemu only)
    ip: str
    cores: int
    memory_mb: int
    disk_gb: int
    drifted: bool  # declared with one core more than live

    @property
    def needs_detail(self) -> bool:
        """Running and not a template: its addresses are asked for (the only per-guest request)."""
        return self.running and not self.template

    @property
    def ips_unreadable(self) -> bool:
        return self.needs_detail and self.type == "qemu" and self.agent != "ok"


class Estate:
    """The generated estate; every expectation the benchmarks and the smoke test check is derived here."""

    def __init__(self, spec: EstateSpec) -> None:
        self.spec = spec

    # ── guests ───────────────────────────────────────────────────────────────

    @cached_property
    def guests(self) -> tuple[GuestPlan, ...]:
        spec = self.spec
        drifted = _evenly_spaced(spec.guests, round(spec.guests * spec.drift_fraction))
        plans = []
        for i in range(spec.guests):
            vmid = spec.first_vmid + i
            kind = "lxc" if i % 12 == 11 else "qemu"
            template = i % 50 == 49
            running = not template and i % 10 != 9
            agent = "not_running" if i % 97 == 96 else "not_configured" if i % 89 == 88 else "ok"
            plans.append(GuestPlan(
                vmid=vmid, node=f"node{i % spec.nodes + 1}", type=kind, name=f"{kind[0]}{vmid}",
                running=running, template=template, agent=agent if kind == "qemu" else "ok",
                ip=f"198.{18 + (i >> 16) % 2}.{(i >> 8) & 255}.{i & 255}", cores=1 + i % 4,
                memory_mb=1024 * (1 + i % 8), disk_gb=16 * (1 + i % 4), drifted=i in drifted,
            ))
        return tuple(plans)

    def pve_estate(self) -> dict[str, Any]:
        """The fake Proxmox API's estate (tests/fakes/pve_server.py `Estate.from_dict`)."""
        nodes = [f"node{n + 1}" for n in range(self.spec.nodes)]
        guests = [{
            "vmid": g.vmid, "type": g.type, "node": g.node, "name": g.name,
            "status": "running" if g.running else "stopped", "template": g.template, "cores": g.cores,
            "memory_mb": g.memory_mb, "disk_gb": g.disk_gb, "agent": g.agent, "ips": [g.ip],
        } for g in self.guests]
        return {"nodes": nodes, "guests": guests, "version": "8.4.1"}

    # ── expectations ─────────────────────────────────────────────────────────

    def reconcile_requests(self) -> int:
        """A reconcile: the listing + one address request per running guest whose lan_ip is declared."""
        declared_ip = sum(1 for g in self.guests if g.needs_detail and self._declares_ip(g))
        return 1 + declared_ip

    def snapshot_requests(self) -> int:
        """A snapshot: the listing, the token's permissions (recorded so that later bindings cannot turn an
        invisible guest into a missing one) + one address request per running guest."""
        return 2 + sum(1 for g in self.guests if g.needs_detail)

    def expected_guest_findings(self) -> dict[str, int]:
        """Guest findings of a reconcile: drifted cores, and unknown addresses where the agent fails."""
        unknown = sum(1 for g in self.guests if g.ips_unreadable and self._declares_ip(g))
        return {"drifted": sum(1 for g in self.guests if g.drifted), "unknown": unknown}

    def expected_stack_findings(self) -> dict[str, int]:
        return {"drifted": len(self._drifted_hosts)}

    def _declares_ip(self, guest: GuestPlan) -> bool:
        return self.spec.lan_ip_for_all and guest.running and not guest.template

    # ── docker hosts ─────────────────────────────────────────────────────────

    @property
    def docker_targets(self) -> list[str]:
        return [f"docker-{n:02d}" for n in range(1, self.spec.docker_hosts + 1)]

    @cached_property
    def _drifted_hosts(self) -> frozenset[int]:
        hosts = self.spec.docker_hosts
        return frozenset(_evenly_spaced(hosts, round(hosts * self.spec.drift_fraction)))

    def stack_names(self) -> list[str]:
        return [f"app{k + 1}" for k in range(self.spec.stacks_per_host)]

    def docker_ls_json(self) -> str:
        """What every docker host's `docker compose ls --all --format json` prints."""
        return json.dumps([{"Name": name, "Status": "running(2)", "ConfigFiles": f"/opt/stacks/{name}/compose.yaml"}
                           for name in self.stack_names()]) + "\n"

    def docker_ps_jsonl(self) -> str:
        """What every docker host's `docker ps` prints: two running containers per stack."""
        rows = []
        for name in self.stack_names():
            for service in ("web", "db"):
                rows.append(json.dumps({
                    "ID": hashlib.sha256(f"{name}/{service}".encode()).hexdigest(), "Names": f"{name}-{service}-1",
                    "Image": f"example/{service}:1", "State": "running", "Status": "Up 3 days", "Project": name,
                    "Service": service, "WorkingDir": f"/opt/stacks/{name}",
                    "ConfigFiles": f"/opt/stacks/{name}/compose.yaml", "OneOff": "False", "Number": "1"}))
        return "\n".join(rows) + "\n"

    # ── binding files (the user's schema) ────────────────────────────────────

    def write_bindings(self, root: Path, ssh_port: int | None = None, ssh_user: str | None = None) -> Path:
        """Write ops/bindings/*.yaml under `root`; returns `root`."""
        bindings = root / "ops" / "bindings"
        bindings.mkdir(parents=True, exist_ok=True)
        (bindings / "vm.lifecycle.yaml").write_text(self._lifecycle_yaml())
        (bindings / "infra.placement.policy.yaml").write_text(self._placement_yaml())
        if self.spec.docker_hosts:
            (bindings / "docker.compose.targets.yaml").write_text(self._compose_targets_yaml())
            (bindings / "ssh.targets.yaml").write_text(self._ssh_targets_yaml(ssh_port or 22, ssh_user or "root"))
        return root

    def _lifecycle_yaml(self) -> str:
        lines = ["# VM Lifecycle Binding (synthetic benchmark estate)", "version: 1", "",
                 "defaults:", f"  proxmox_host: {PROXMOX_HOST}", "  profile: spine-ready-v1", "", "vms:"]
        for g in self.guests:
            status = "template" if g.template else "active" if g.running else "stopped"
            lines += [f"  - id: {g.vmid}", f"    hostname: {g.name}", f"    status: {status}"]
            if g.type == "lxc":
                lines.append("    vm_type: lxc")
            if self._declares_ip(g):
                lines.append(f"    lan_ip: {g.ip}")
            lines += ["    resources:", f"      cpu_cores: {g.cores + 1 if g.drifted else g.cores}",
                      f"      memory_mb: {g.memory_mb}", f"      boot_disk_gb: {g.disk_gb}"]
        if not self.guests:
            lines[-1] = "vms: []"
        return "\n".join(lines) + "\n"

    def _placement_yaml(self) -> str:
        spec = self.spec
        lines = ["version: 1", "sites:", f"  {SITE}:", f'    proxmox_hosts: ["{PROXMOX_HOST}"]',
                 f"    vmid_min: {spec.first_vmid}", f"    vmid_max: {spec.first_vmid + max(spec.guests, 1) - 1}",
                 "hosts:", f"  {PROXMOX_HOST}:", f"    site: {SITE}", "    kind: proxmox"]
        for target in self.docker_targets:
            lines += [f"  {target}:", f"    site: {SITE}", "    kind: vm"]
        return "\n".join(lines) + "\n"

    def _compose_targets_yaml(self) -> str:
        lines = ["# Docker Compose Targets Binding (synthetic benchmark estate)", "version: 1", "", "targets:"]
        for index, target in enumerate(self.docker_targets):
            lines += [f"  {target}:", f"    ssh_target: {target}", "    connect_timeout_sec: 5", "    stacks:"]
            for k, name in enumerate(self.stack_names()):
                moved = k == 0 and index in self._drifted_hosts
                lines += [f"      - name: {name}", f"        path: /{'srv' if moved else 'opt/stacks'}/{name}"]
        return "\n".join(lines) + "\n"

    def _ssh_targets_yaml(self, port: int, user: str) -> str:
        # Every alias reaches the same loopback sshd: the fan-out is what is measured, not the hosts.
        lines = ["ssh:", "  defaults:", f'    user: "{user}"', f"    port: {port}", "    connect_timeout_sec: 5",
                 "  targets:"]
        for target in self.docker_targets:
            lines += [f'    - id: "{target}"', '      host: "127.0.0.1"', '      tags: ["docker"]']
        return "\n".join(lines) + "\n"


def _evenly_spaced(total: int, count: int) -> set[int]:
    """`count` indexes out of range(total), spread evenly (deterministic)."""
    if count <= 0 or total <= 0:
        return set()
    step = total / count
    return {int(k * step + step / 2) for k in range(min(count, total))}
