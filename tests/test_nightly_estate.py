"""The small estate the nightly-report tests share, offline: bindings + two nightly snapshots.

Site `lab`: Proxmox hosts alpha and beta (vmids 200-299), docker host `web` (VM 200) running stack `app`.
Night 1 and night 2 differ so that every mark appears on night 2:

| finding (address)                            | night 1 | night 2                                                 |
|----------------------------------------------|---------|---------------------------------------------------------|
| lab/qemu/alpha/200/drifted/memory_mb         | new     | persisting (its ignore entry expired on 2026-10-31)     |
| lab/qemu/alpha/201/drifted/cpu_cores         | new     | fixed → resolved                                        |
| lab/qemu/alpha/200/drifted/power             | -       | stopped → new                                           |
| lab/qemu/beta/210/drifted/cpu_cores (beta)   | new     | beta missing from the snapshot → unobserved             |
| lab/host/beta/unknown (hides qemu/beta/210)  | -       | new                                                     |
| lab/lxc/alpha/250/unregistered               | ignored | ignored by `lab/lxc/alpha/250/*`                        |
| lab/qemu/alpha/201/parity/backup             | ignored | ignored by `lab/qemu/alpha/201/parity/*` (expires 2099) |
| lab/qemu/alpha/201/parity/backup_target      | new     | persisting: re-included by `!lab/qemu/alpha/201/parity/…` |
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from reconciler.collect.snapshot import dump_snapshot
from reconciler.model import (
    AuditScope,
    DockerObservation,
    GuestType,
    LiveContainer,
    LiveGuest,
    LiveStack,
    LiveState,
    ProxmoxObservation,
    SourceStatus,
)
from reconciler.model.backup import BackupJob, BackupObservation

NIGHT1 = "2026-11-01T03:00:00Z"
NIGHT2 = "2026-11-02T03:00:00Z"

BINDINGS = {
    "ops/bindings/infra.placement.policy.yaml": {
        "sites": {"lab": {"proxmox_hosts": ["alpha", "beta"], "vmid_min": 200, "vmid_max": 299}},
        "hosts": {"alpha": {"site": "lab", "kind": "proxmox"}, "beta": {"site": "lab", "kind": "proxmox"}},
    },
    "ops/bindings/vm.lifecycle.yaml": {"vms": [
        {"id": 200, "hostname": "web", "proxmox_host": "alpha", "status": "active", "tailscale_ip": "100.64.0.1",
         "ssh_target": "web", "stacks": ["app"], "backup_target": "vm-200-web", "health_probe_policy": "full",
         "resources": {"cpu_cores": 2, "memory_mb": 2048}},
        {"id": 201, "hostname": "db", "proxmox_host": "alpha", "status": "active", "tailscale_ip": "100.64.0.2",
         "ssh_target": "db", "has_docker": False, "backup_target": "vm-201-db", "resources": {"cpu_cores": 2}},
        {"id": 210, "hostname": "ci", "proxmox_host": "beta", "status": "active", "tailscale_ip": "100.64.0.3",
         "ssh_target": "ci", "has_docker": False, "backup_target": "vm-210-ci", "resources": {"cpu_cores": 4}},
    ]},
    "ops/bindings/ssh.targets.yaml": {"ssh": {"defaults": {"user": "root"}, "targets": [
        {"id": "web", "host": "100.64.0.1", "tags": ["docker"]},
        {"id": "db", "host": "100.64.0.2"},
        {"id": "ci", "host": "100.64.0.3"},
    ]}},
    "docs/governance/SERVICE_REGISTRY.yaml": {
        "services": {"app": {"host": "web", "container": "app"}},
        "hosts": {"web": {"tailscale_ip": "100.64.0.1", "ssh": "web", "vmid": 200, "proxmox_host": "alpha"}},
    },
    "ops/bindings/backup.inventory.yaml": {"targets": [
        {"name": "vm-200-web", "enabled": True, "host": "alpha", "glob": "vzdump-qemu-200-*.vma.zst"},
        {"name": "vm-210-ci", "enabled": True, "host": "beta", "glob": "vzdump-qemu-210-*.vma.zst"},
    ]},
    "ops/bindings/services.health.yaml": {"endpoints": [
        {"id": "app", "host": "web", "url": "http://100.64.0.1:8080/health", "expect": 200},
    ]},
    "ops/bindings/docker.compose.targets.yaml": {"targets": {
        "web": {"ssh_target": "web", "stacks": [{"name": "app", "path": "/opt/stacks/app"}]},
    }},
    "docs/governance/STACK_REGISTRY.yaml": {"stacks": [{"stack_id": "app", "path": "proxmox:vm-200"}]},
    "ops/bindings/naming.policy.yaml": {"naming_convention": {"rules": ["Lowercase only"]}},
}

IGNORE_FILE = """\
# Known and accepted, reviewed every quarter.
lab/lxc/alpha/250/*  reason: scratch container, destroyed after the migration
lab/qemu/alpha/201/parity/*  expires: 2099-12-31  reason: db backups move to the NAS

# ...but a wrong backup_target name is a typo to fix now:
!lab/qemu/alpha/201/parity/backup_target
lab/qemu/alpha/200/drifted/memory_mb  expires: 2026-10-31  reason: resize planned in October
"""


@dataclass
class Lab:
    root: Path  # bindings root
    sites: Path  # sites folder
    state: Path
    out: Path  # folder for outputs
    live: dict[int, Path]  # night → snapshot

    def args(self, night: int, *extra: str | Path) -> list[str | Path]:
        now = NIGHT1 if night == 1 else NIGHT2
        return ["report", "--sites-dir", self.sites, "--site", "lab", "--state-dir", self.state,
                "--live", self.live[night], "--now", now, *extra]


def guest(host: str, vmid: int, name: str, cores: int = 2, memory_mb: int = 2048, status: str = "running",
          kind: GuestType = GuestType.QEMU) -> LiveGuest:
    return LiveGuest(host, "pve", vmid, kind, name, status, cores=cores, memory_mb=memory_mb, boot_disk_gb=32.0)


def observation(host: str, guests: tuple[LiveGuest, ...]) -> ProxmoxObservation:
    status = SourceStatus("proxmox", host, "lab", "ok", detail=f"{len(guests)} guests", requests=1)
    # one enabled job backs up every guest (the inventory's targets have no base_path: no file is checked)
    backups = BackupObservation(host, observed_at=1_793_588_400, jobs=(BackupJob("daily", all=True),))
    return ProxmoxObservation(host, "lab", listed=True, guests=guests, audit=AuditScope(known=True, everything=True),
                              status=status, version="8.2.4", backups=backups)


def web_docker() -> DockerObservation:
    stack = LiveStack("app", {"running": 1}, ("/opt/stacks/app/compose.yaml",), "/opt/stacks/app")
    container = LiveContainer("app", "running", "Up 2 days", "nginx:1", "app", "app", "/opt/stacks/app",
                              "/opt/stacks/app/compose.yaml")
    return DockerObservation("web", "lab", observed=True, home="/root", stacks=(stack,), containers=(container,),
                             status=SourceStatus("docker", "web", "lab", "ok", detail="1 stack", requests=1))


def night_state(night: int) -> LiveState:
    if night == 1:
        alpha = (guest("alpha", 200, "web", memory_mb=4096), guest("alpha", 201, "db", cores=8),
                 guest("alpha", 250, "scratch", kind=GuestType.LXC))
        return LiveState((observation("alpha", alpha), observation("beta", (guest("beta", 210, "ci", cores=8),))),
                         (web_docker(),), NIGHT1)
    alpha = (guest("alpha", 200, "web", memory_mb=4096, status="stopped"), guest("alpha", 201, "db"),
             guest("alpha", 250, "scratch", kind=GuestType.LXC))
    return LiveState((observation("alpha", alpha),), (web_docker(),), NIGHT2)  # beta: not in the snapshot


def write_lab(tmp_path: Path, ignore: str | None = IGNORE_FILE) -> Lab:
    root = tmp_path / "spine"
    for rel, data in BINDINGS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    if ignore is not None:
        (root / ".reconcileignore").write_text(ignore, encoding="utf-8")
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text(textwrap.dedent(f"""\
        site: lab
        bindings_root: {root}
        proxmox: []
        proxmox_hosts: [alpha, beta]
        """), encoding="utf-8")
    live = {}
    for night in (1, 2):
        live[night] = tmp_path / f"night{night}.json"
        live[night].write_text(dump_snapshot(night_state(night), ["lab"]), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    return Lab(root, sites, tmp_path / "state", out, live)
