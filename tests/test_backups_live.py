"""Backups, live (issue 17), end to end: the user's 2026-02-20 bindings against two loopback Proxmox APIs and a real
loopback sshd over real files whose times the test sets.

The bindings are copied and every `base_path` is moved under this test's own folder (the same lines: the
`file:line` of every finding is the user's file's), so nothing is created at the bindings' absolute paths. Both
Proxmox hosts, the NAS and the automation VM are reached through `ssh.overrides` on one loopback sshd.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import time
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fakes.pve_server import AUDIT_PRIVS, BackupStore, Estate, FakePVE, Grant, Guest, Node
from tests.fakes.sshd import SshServer

SNAPSHOT = Path(__file__).resolve().parent / "data" / "spine-bindings" / "2026-02-20"
INVENTORY = "ops/bindings/backup.inventory.yaml"
LIFECYCLE = "ops/bindings/vm.lifecycle.yaml"
SECRET_ENV = "RECONCILE_TEST_BACKUP_TOKEN"
SECRET = "b4ckup-70k3n-5678-abcd-e2e000000000"
TOKEN_ID = "audit@pve!reconciler"
ZONE = "America/New_York"  # the inventory's defaults.timezone: schedules are read in it
HOUR = 3600


@dataclass
class BackupEstate:
    root: Path  # the copied bindings
    fs: Path  # where the bindings' absolute paths live for this test
    sites: Path
    now: int
    due: int  # when today's jobs were scheduled to start
    estates: dict[str, Estate] = field(default_factory=dict)  # Proxmox host → what its fake API serves
    servers: dict[str, FakePVE] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)  # target name → its inventory entry

    def folder(self, name: str) -> Path:
        return self.fs / self.targets[name]["base_path"].lstrip("/")

    def newest(self, name: str) -> Path:
        return max(self.folder(name).glob(self.targets[name]["glob"]), key=lambda p: p.stat().st_mtime)

    def line(self, name: str, key: str = "name") -> str:
        """`file:line` of key `key` of target `name` in the copied inventory (the user's line numbers)."""
        lines = (self.root / INVENTORY).read_text().splitlines()
        start = next(i for i, text in enumerate(lines) if text.strip() == f"- name: {name}")
        if key == "name":
            return f"{INVENTORY}:{start + 1}"
        offset = next(i for i, text in enumerate(lines[start:], start) if text.strip().startswith(f"{key}:"))
        return f"{INVENTORY}:{offset + 1}"

    def run(self, cli: Any, site: str, *extra: str) -> dict[str, Any]:
        result = cli("--sites-dir", self.sites, "--site", site, "--only", "backups", "-f", "json", *extra)
        assert "Traceback" not in result.err, result.err
        assert result.code in (0, 1, 3), result.err
        return json.loads(result.out)


def file_for(glob: str, when: int) -> str:
    """A file name `glob` matches, stamped like vzdump names its archives (UTC: the fake's nodes run in UTC)."""
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return glob.replace("*", stamp.strftime("%Y_%m_%d-%H_%M_%S"), 1).replace("*", "x")


def make(path: Path, when: int, size: int = 4096) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (when, when))


def schedule_at(epoch: int) -> str:
    """A daily PVE schedule (`HH:MM`, in the inventory's zone) that starts at `epoch`."""
    local = dt.datetime.fromtimestamp(epoch, zoneinfo.ZoneInfo(ZONE))
    return f"{local.hour:02d}:{local.minute:02d}"


def lifecycle_guests(root: Path, host: str) -> list[Guest]:
    vms = yaml.safe_load((root / LIFECYCLE).read_text())["vms"]
    return [Guest(vmid=int(vm.get("id") or vm.get("vmid")), type=vm.get("vm_type") or "qemu", node="pve",
                  name=vm["hostname"], status="running" if vm["status"] == "active" else "stopped",
                  template=vm["status"] == "template")
            for vm in vms if vm["proxmox_host"] == host and vm["status"] in ("active", "template")]


def build(tmp_path: Path, stack: ExitStack, sshd: SshServer) -> BackupEstate:
    root, fs = tmp_path / "spine", tmp_path / "fs"
    shutil.copytree(SNAPSHOT, root)
    inventory = root / INVENTORY
    # every absolute base_path moves under this test's folder, on the same line
    inventory.write_text(inventory.read_text().replace('base_path: "/', f'base_path: "{fs}/'))
    now = int(time.time())
    due = (now - HOUR) // 60 * 60
    estate = BackupEstate(root, fs, tmp_path / "sites", now, due)
    for target in yaml.safe_load(inventory.read_text())["targets"]:
        target["base_path"] = target["base_path"].removeprefix(str(fs))
        estate.targets[target["name"]] = target
        if target["enabled"]:
            made = due + 300  # the run of an hour ago wrote it
            make(estate.folder(target["name"]) / file_for(target["glob"], made), made)
    storages = {"pve": BackupStore("tank-backups", path=f"{fs}/tank/backups/vzdump",
                                   dump_dir=fs / "tank/backups/vzdump/dump"),
                "proxmox-home": BackupStore("synology-backups", type="nfs", shared=True,
                                            path=f"{fs}/mnt/pve/synology-backups",
                                            dump_dir=fs / "mnt/pve/synology-backups/dump")}
    for host, store in storages.items():
        job = {"id": f"backup-{host}", "type": "vzdump", "schedule": schedule_at(due), "all": 1,
               "storage": store.id, "mode": "snapshot", "compress": "zstd", "enabled": 1}
        tasks = [{"upid": f"UPID:pve:0031C2A8:06E3B7D1:{due:08X}:vzdump::root@pam:", "starttime": due + 2,
                  "endtime": due + 1500, "id": "", "user": "root@pam", "status": "OK"},
                 {"upid": f"UPID:pve:002F8A03:06A1FF10:{due - 86400:08X}:vzdump::root@pam:",
                  "starttime": due - 86400 + 2, "endtime": due - 86400 + 1400, "id": "", "user": "root@pam",
                  "status": "OK"}]
        estate.estates[host] = Estate(nodes=[Node("pve")], guests=lifecycle_guests(root, host), version="9.0.3",
                                      backup_jobs=[job], backup_stores=[store], tasks={"pve": tasks})
        estate.servers[host] = stack.enter_context(FakePVE(estate.estates[host], token_id=TOKEN_ID, secret=SECRET))
    write_sites(estate, sshd)
    return estate


def write_sites(estate: BackupEstate, sshd: SshServer) -> None:
    known = estate.sites.parent / "known_hosts"
    sshd.write_known_hosts(known)
    estate.sites.mkdir(exist_ok=True)
    reach = f"{{host: 127.0.0.1, port: {sshd.port}, user: {sshd.user}}}"
    # every ssh target of the user's file, docker hosts included, is this loopback sshd: no run below even tries
    # a real address (a snapshot or a full run would otherwise SSH to the docker hosts)
    ssh_ids = [t["id"] for t in yaml.safe_load((estate.root / "ops/bindings/ssh.targets.yaml").read_text())
               ["ssh"]["targets"]]
    for site, host in (("shop", "pve"), ("home", "proxmox-home")):
        srv = estate.servers[host]
        (estate.sites / f"{site}.yaml").write_text(
            f"site: {site}\nbindings_root: {estate.root}\n"
            f"proxmox:\n  - name: {host}\n    url: {srv.url}\n    token_id: \"{TOKEN_ID}\"\n"
            f"    token_secret_env: {SECRET_ENV}\n    ca_file: {srv.cert_path}\n    timeout_s: 5\n"
            f"ssh:\n  known_hosts: {known}\n  identity_file: {sshd.client_key}\n  use_agent: false\n"
            f"  connect_timeout_s: 5\n  command_timeout_s: 15\n  concurrency: 4\n  overrides:\n"
            + "".join(f"    {name}: {reach}\n" for name in ssh_ids))


@pytest.fixture(scope="module")
def sshd(sshd_factory: Callable[[], SshServer]) -> SshServer:
    server = sshd_factory()
    server.configure()
    return server


@pytest.fixture
def estate(tmp_path: Path, sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[BackupEstate]:
    """The estate; and no connection leaves loopback (the copied bindings hold the user's real addresses)."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    connect = socket.socket.connect

    def loopback_only(sock: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test_backups_live: refused a connection to {address[0]} (not loopback)")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    with ExitStack() as stack:
        yield build(tmp_path, stack, sshd)


def only(findings: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(findings) == 1, [f["address"] for f in findings]
    return findings[0]


# ── acceptance 1: fresh, then one injected fault at a time ───────────────────


def test_every_enabled_target_fresh_gives_no_backup_findings(cli, estate: BackupEstate, sshd: SshServer) -> None:
    for site in ("shop", "home"):
        report = estate.run(cli, site)
        assert report["findings"] == [], [(f["address"], f["message"]) for f in report["findings"]]
        sources = {s["name"]: s["status"] for s in report["sources"]}
        assert all(status == "ok" for status in sources.values()), sources
    shop = {s["name"] for s in estate.run(cli, "shop")["sources"]}
    assert shop == {"proxmox:pve", "backup:pve", "backup:automation-stack"}
    # 16 enabled targets on the two Proxmox hosts and the NAS/VM were each checked, over one exec per host
    checked = [c for c in sshd.commands() if "@@reconciler-backup@@" in c]
    assert checked and len(set(checked)) == 1  # always the one documented script


def stale_vzdump(estate: BackupEstate) -> None:
    old = estate.now - 27 * HOUR
    os.utime(estate.newest("vm-204-infra-core-primary"), (old, old))


def app_without_match(estate: BackupEstate) -> None:
    estate.newest("app-gitea").unlink()


def base_path_gone(estate: BackupEstate) -> None:
    shutil.rmtree(estate.folder("app-vaultwarden"))


def guest_excluded(estate: BackupEstate) -> None:
    job = estate.estates["pve"].backup_jobs[0]
    job.pop("all")
    job["exclude"] = "205"  # PVE: exclude without pool means all minus these


def failed_task(estate: BackupEstate) -> None:
    estate.estates["pve"].tasks["pve"][0]["status"] = "job errors"


def storage_inactive(estate: BackupEstate) -> None:
    estate.estates["pve"].backup_stores[0].inactive_on = ("pve",)
    shutil.rmtree(estate.fs / "tank/backups/vzdump/dump")  # an unmounted storage: its folder looks empty


def scheduler_down(estate: BackupEstate) -> None:
    estate.estates["pve"].scheduler["pve"] = "inactive"


INJECTED = {  # fault → (kind, address, reason, the inventory line (target, key) the finding must cite)
    "stale vzdump file": (stale_vzdump, "drifted", "shop/backup/vm-204-infra-core-primary/drifted/age_hours", None,
                          ("vm-204-infra-core-primary", "stale_after_hours")),
    # the NAS is placed in site home (infra.placement.policy.yaml hosts.nas.site)
    "app backup without match": (app_without_match, "missing", "home/backup/app-gitea/missing", None,
                                 ("app-gitea", "glob")),
    "base_path missing": (base_path_gone, "missing", "home/backup/app-vaultwarden/missing", None,
                          ("app-vaultwarden", "base_path")),
    "guest excluded from the job": (guest_excluded, "drifted", "shop/qemu/pve/205/drifted/backup_job", None,
                                    ("vm-205-observability-primary", "name")),
    "failed vzdump task": (failed_task, "drifted", "shop/backup-job/pve/backup-pve/drifted/last_run", None,
                           ("vm-200-docker-host-primary", "name")),
    "inactive storage": (storage_inactive, "unknown", "shop/backup-storage/tank-backups/unknown", "storage_inactive",
                         ("vm-200-docker-host-primary", "name")),
    "scheduler down": (scheduler_down, "unknown", "shop/host/pve/pve/unknown", "scheduler_down",
                       ("vm-200-docker-host-primary", "name")),
}


@pytest.mark.parametrize("case", list(INJECTED))
def test_each_injected_fault_gives_exactly_its_one_finding(cli, estate: BackupEstate, case: str) -> None:
    inject, kind, address, reason, (target, key) = INJECTED[case]
    site, other = ("home", "shop") if address.startswith("home/") else ("shop", "home")
    inject(estate)
    finding = only(estate.run(cli, site)["findings"])
    assert (finding["kind"], finding["address"], finding["reason"]) == (kind, address, reason)
    assert estate.line(target, key) in finding["sources"], finding["sources"]
    if case == "stale vzdump file":
        assert (finding["declared"], finding["live"]) == (26.0, 27.0)
    if case == "inactive storage":  # one cause, every vzdump target of the storage behind it; never missing
        assert sorted(finding["hides"]) == sorted(f"shop/backup/{name}" for name, t in estate.targets.items()
                                                  if t["enabled"] and t["host"] == "pve")
    assert estate.run(cli, other)["findings"] == []  # the other site is untouched


def test_an_unhealthy_run_is_a_warning_and_a_missed_run_an_error(cli, estate: BackupEstate) -> None:
    tasks = estate.estates["pve"].tasks["pve"]
    tasks[0]["status"] = "WARNINGS: 2"
    warned = only(estate.run(cli, "shop")["findings"])
    assert (warned["field"], warned["severity"], warned["live"]) == ("last_run", "warning", "WARNINGS: 2")
    del tasks[0]  # the scheduler never started today's run
    missed = only(estate.run(cli, "shop")["findings"])
    assert (missed["field"], missed["severity"], missed["live"]) == ("last_run", "error", "no task")
    assert f"({schedule_at(estate.due)}, {ZONE})" in missed["message"]


def test_a_decommissioned_guest_still_listed_by_a_job_is_reported(cli, estate: BackupEstate) -> None:
    job = estate.estates["pve"].backup_jobs[0]
    job.pop("all")
    job["vmid"] = "200,201,202"  # 201 (media-stack) is decommissioned and gone: the job errors on it
    found = estate.run(cli, "shop")["findings"]
    by_address = {f["address"]: f for f in found}
    gone = by_address.pop("shop/qemu/pve/201/drifted/backup_job")
    assert "job errors" in gone["message"] and gone["live"] == "selected by job backup-pve"
    assert all(a.endswith("/drifted/backup_job") for a in by_address)  # the active guests the list leaves out
    assert len(by_address) == len([t for t in lifecycle_guests(estate.root, "pve") if not t.template]) - 2


# ── acceptance 2: a read-only token sees no archive, and no target is missing ──


def test_auditor_token_with_ssh_skipped_is_unknown_never_missing(cli, estate: BackupEstate) -> None:
    server = estate.servers["pve"]
    report = estate.run(cli, "shop", "--skip-ssh")
    assert not [f for f in report["findings"] if f["kind"] == "missing"]
    vzdump = {f"shop/backup/{name}" for name, t in estate.targets.items() if t["enabled"] and t["host"] == "pve"}
    covering = [f for f in report["findings"] if f["kind"] == "unknown" and set(f["hides"]) & vzdump]
    assert {f["reason"] for f in covering} <= {"skipped", "no_permission"}
    assert set().union(*(f["hides"] for f in covering)) >= vzdump
    assert "no_permission" in covering[0]["message"] and "Datastore.Allocate" in covering[0]["message"]
    # the listing was never trusted, never even asked: PVE answers a PVEAuditor with 200 and nothing
    assert not [p for p in server.paths() if p.endswith("/content")]
    asked = requests.get(f"{server.url}/api2/json/nodes/pve/storage/tank-backups/content",
                         params={"content": "backup"}, verify=str(server.cert_path), timeout=5,
                         headers={"Authorization": f"PVEAPIToken={TOKEN_ID}={SECRET}"})
    assert asked.status_code == 200 and asked.json() == {"data": []}
    assert any(estate.folder("vm-200-docker-host-primary").iterdir())  # while the storage holds archives


def test_a_token_that_may_list_archives_stands_in_for_ssh(cli, estate: BackupEstate) -> None:
    pve = estate.estates["pve"]
    pve.grants = [Grant("/", AUDIT_PRIVS), Grant("/storage/tank-backups", frozenset({"Datastore.Allocate"}))]
    stray = estate.due + 600
    make(estate.fs / "tank/backups/vzdump/dump" / file_for("vzdump-qemu-299-*.vma.zst", stray), stray)
    report = estate.run(cli, "shop", "--skip-ssh")
    by_kind: dict[str, list[str]] = {}
    for finding in report["findings"]:
        by_kind.setdefault(finding["kind"], []).append(finding["address"])
    # the vzdump targets are fresh from the listing; only the automation VM's file check stays unknown
    assert by_kind == {"unregistered": ["shop/backup/tank-backups:vzdump-qemu-299/unregistered"],
                       "unknown": ["shop/host/automation-stack/unknown"]}
    stale = estate.now - 30 * HOUR  # a stale archive, seen through the API: its name's time, not the file's
    newest = estate.newest("vm-212-mint-data-primary")
    newest.rename(newest.with_name(file_for("vzdump-qemu-212-*.vma.zst", stale)))
    aged = [f for f in estate.run(cli, "shop", "--skip-ssh")["findings"] if f["field"] == "age_hours"]
    assert [(f["address"], f["live"]) for f in aged] == [("shop/backup/vm-212-mint-data-primary/drifted/age_hours",
                                                          30.0)]
    assert "archive listing" in aged[0]["message"]


# ── acceptance 4: a snapshot keeps the ages of its own time ──────────────────


def test_a_snapshot_replayed_three_days_later_reports_the_ages_it_had(cli, estate: BackupEstate,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    stale_vzdump(estate)
    snapshot = estate.sites.parent / "snap.json"
    taken = cli("snapshot", "--sites-dir", estate.sites, "--site", "shop", "-o", snapshot)
    assert taken.code == 0, taken.err
    assert taken.out.startswith(f"snapshot written to {snapshot}: 1 of 1 Proxmox host(s), ")
    assert "2 of 2 backup host(s)" in taken.out  # what it saw, not silence
    live = [f for f in estate.run(cli, "shop")["findings"]]
    later = time.time() + 3 * 24 * HOUR
    monkeypatch.setattr(time, "time", lambda: later)
    for server in estate.servers.values():
        server.stop()  # nothing may be asked again
    replayed = estate.run(cli, "shop", "--live", str(snapshot))["findings"]
    assert [(f["address"], f["live"]) for f in replayed] == [(f["address"], f["live"]) for f in live]
    assert [f["live"] for f in replayed] == [27.0]
    assert json.loads(snapshot.read_text())["backup_files"][0]["observed_at"] <= estate.now + 60


def test_an_older_snapshot_without_backups_still_loads_and_says_what_it_lacks(cli, estate: BackupEstate) -> None:
    snapshot = estate.sites.parent / "old.json"
    assert cli("snapshot", "--sites-dir", estate.sites, "--site", "shop", "-o", snapshot).code == 0
    data = json.loads(snapshot.read_text())
    del data["backup_files"]
    for observation in data["proxmox"]:
        del observation["backups"]
    snapshot.write_text(json.dumps(data))
    found = estate.run(cli, "shop", "--live", str(snapshot))["findings"]
    assert found and {f["kind"] for f in found} == {"unknown"}
    assert {f["reason"] for f in found} == {"not_in_snapshot"}


# ── each binding file once, and the full run carries the backups ─────────────


def test_a_full_run_reads_the_inventory_once_and_reports_backups(cli, estate: BackupEstate,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.bindings as bindings

    reads: list[str] = []
    real = bindings.load_yaml_file

    def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
        reads.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(bindings, "load_yaml_file", counting)
    stale_vzdump(estate)
    result = cli("--sites-dir", estate.sites, "--site", "shop", "-f", "json", "--skip-ssh")
    report = json.loads(result.out)
    assert reads.count("backup.inventory.yaml") == 1, reads
    assert any(f["rule"].startswith("backup-") for f in report["findings"])
    assert any(f["rule"].startswith("governance-") for f in report["findings"])


def test_prometheus_gauges_per_target(cli, estate: BackupEstate, tmp_path: Path) -> None:
    """The nightly report's metrics, so a user can alert on one target (SSH skipped: the shop's docker hosts are
    the user's real addresses; the archive listing, which this token may read, says how old the archives are)."""
    estate.estates["pve"].grants = [Grant("/", AUDIT_PRIVS),
                                    Grant("/storage/tank-backups", frozenset({"Datastore.Allocate"}))]
    newest = estate.newest("vm-204-infra-core-primary")
    newest.rename(newest.with_name(file_for("vzdump-qemu-204-*.vma.zst", estate.now - 27 * HOUR)))
    out = tmp_path / "metrics.prom"
    result = cli("report", "--sites-dir", estate.sites, "--site", "shop", "--state-dir", tmp_path / "state",
                 "-o", f"prom:{out}", "--skip-ssh")
    assert result.code in (0, 1), result.err
    text = out.read_text()
    age = re.search(r'^reconcile_backup_age_hours\{site="shop",target="vm-204-infra-core-primary"\} (\S+)$', text,
                    re.M)
    assert age and float(age.group(1)) == 27.0
    assert re.search(r'^reconcile_backup_stale\{site="shop",target="vm-204-infra-core-primary"\} 1$', text, re.M)
    assert re.search(r'^reconcile_backup_stale\{site="shop",target="vm-200-docker-host-primary"\} 0$', text, re.M)
    assert not re.search(r'target="app-n8n-workflows"', text)  # unobserved (skipped): no age to alert on


def test_a_proxmox_host_that_does_not_answer_hides_its_jobs_never_fails_them(cli, estate: BackupEstate) -> None:
    estate.servers["pve"].add_fault("*", status=503)  # every request: the API is down
    found = estate.run(cli, "shop")["findings"]
    by_address = {f["address"]: f for f in found}
    jobs = by_address.pop("shop/host/pve/backups/unknown")
    assert jobs["kind"] == "unknown" and jobs["reason"] == "api_error"
    assert not by_address, sorted(by_address)  # the files over SSH are still checked, and fresh


def test_nightly_carries_a_stale_backup_as_not_observed_when_its_host_is_skipped(cli, estate: BackupEstate,
                                                                                 tmp_path: Path) -> None:
    """Last night a target was stale; tonight its host is not contacted: not observed, never resolved."""
    stale_vzdump(estate)
    state = tmp_path / "state"

    def nightly(*extra: str) -> dict[str, Any]:
        out = tmp_path / "nightly.json"
        result = cli("report", "--sites-dir", estate.sites, "--site", "shop", "--state-dir", state, "-o",
                     f"json:{out}", *extra)
        assert result.code in (1, 3), result.err
        return json.loads(out.read_text())

    address = "shop/backup/vm-204-infra-core-primary/drifted/age_hours"
    # SSH to the docker hosts would leave loopback: the listing (this token may read it) says how old the files are
    estate.estates["pve"].grants = [Grant("/", AUDIT_PRIVS),
                                    Grant("/storage/tank-backups", frozenset({"Datastore.Allocate"}))]
    newest = estate.newest("vm-204-infra-core-primary")
    newest.rename(newest.with_name(file_for("vzdump-qemu-204-*.vma.zst", estate.now - 27 * HOUR)))
    first = nightly("--skip-ssh")
    assert address in {f["address"] for f in first["findings"]}
    estate.estates["pve"].grants = [Grant("/", AUDIT_PRIVS)]  # tonight the listing is not readable either
    second = nightly("--skip-ssh")
    assert address not in {f["address"] for f in second["resolved"]}
    carried = {f["address"]: f for f in second["unobserved"]}
    assert address in carried and "skipped" in carried[address]["unobserved_reason"]
