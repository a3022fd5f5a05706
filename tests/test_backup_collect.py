"""The backup side of collection: the API parsers on the recorded samples, schedules, which run is whose, a token
without Sys.Audit, hostile inventory values over a real loopback sshd, and the file script under busybox."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import textwrap
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from reconciler.collect import pve_backup
from reconciler.collect.backup_files import TargetSpec, encode_targets, parse_output, remote_script
from reconciler.model.backup import BackupJob, VzdumpTask
from reconciler.rules._schedule import last_start, parse_schedule
from reconciler.rules.backup_runs import attribute
from tests.fakes.pve_server import BackupStore, Estate, FakePVE, Guest, Node
from tests.fakes.sshd import SshServer

SAMPLES = Path(__file__).resolve().parent / "data" / "pve-api"
IN_CI = os.environ.get("CI", "").lower() == "true"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())["data"]


# ── parsers, on the recorded shapes ──────────────────────────────────────────


def test_dump_folders_follow_pve_rules() -> None:
    dirs = pve_backup.parse_dump_dirs(sample("storage_config.json"))
    assert dirs["tank-backups"] == "/tank/backups/vzdump/dump"  # the user's binding path
    assert dirs["usb-archive"] == "/mnt/usb-archive/pve/dump"  # content-dirs backup=pve/dump
    assert dirs["local"] == "/var/lib/vz/dump" and dirs["pbs-main"] is None


def test_node_storages_keep_backup_ones_with_their_state() -> None:
    storages = {s.storage: s for s in pve_backup.parse_node_storages(sample("nodes_storage.json"), "pve1", {})}
    assert "local-lvm" not in storages  # no backup content
    assert storages["nfs-dump"].active is False and storages["nfs-dump"].used_fraction is None
    assert storages["local"].active and storages["local"].used_fraction == pytest.approx(0.178, abs=1e-3)
    assert storages["tank-backups"].enabled is False  # not configured for this node


def test_tasks_are_newest_first_and_classified_like_pve() -> None:
    tasks = pve_backup.parse_tasks(sample("nodes_tasks_vzdump.json"), "pve1")
    assert [t.starttime for t in tasks] == sorted((t.starttime for t in tasks), reverse=True)
    outcomes = [t.outcome for t in tasks]
    assert outcomes[:4] == ["running", "warning", "error", "ok"]
    assert tasks[3].vmid == 203 and tasks[0].vmid is None  # `id` names a guest only for one-guest runs
    assert VzdumpTask("n", "u", 1, "WARNINGS: x").outcome == "error"  # not PVE's warning shape


def test_archives_scheduler_and_listing_privilege() -> None:
    archives = pve_backup.parse_archives(sample("storage_content_backup.dir.json"), "nfs-dump")
    assert archives[0].name == "vzdump-lxc-105-2026_03_01-02_00_01.tar.zst" and archives[0].vmid == 105
    assert pve_backup.parse_archives(sample("storage_content_backup.filtered_empty.json"), "x") == ()
    assert pve_backup.parse_scheduler(sample("services_pvescheduler_state.json")) == "active"
    assert pve_backup.may_list_archives({"/storage/s": {"Datastore.Allocate": 1}}, "s")
    assert not pve_backup.may_list_archives({"/storage/s": {"Datastore.Audit": 1, "Datastore.AllocateSpace": 1}}, "s")


# ── schedules and attribution ────────────────────────────────────────────────


def epoch(text: str, zone: str = "UTC") -> int:
    import zoneinfo

    return int(dt.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(zone)).timestamp())


@pytest.mark.parametrize(("schedule", "before", "expected"), [
    ("21:00", "2026-03-03 20:59", "2026-03-02 21:00"),
    ("mon..fri 02:30", "2026-03-02 01:00", "2026-02-27 02:30"),  # Monday before 02:30: last Friday
    ("sat", "2026-03-03 12:00", "2026-02-28 00:00"),
    ("*/30", "2026-03-03 12:44", "2026-03-03 12:30"),
    ("0/6:00", "2026-03-03 05:59", "2026-03-03 00:00"),
    ("8..17,22:0/15", "2026-03-03 18:00", "2026-03-03 17:45"),
    ("daily", "2026-03-03 00:00", "2026-03-03 00:00"),
])
def test_last_scheduled_start(schedule: str, before: str, expected: str) -> None:
    parsed = parse_schedule(schedule)
    assert parsed is not None
    assert last_start(parsed, epoch(before), "UTC") == epoch(expected)


def test_schedules_are_read_in_the_given_zone_and_unknown_forms_say_nothing() -> None:
    parsed = parse_schedule("02:00")
    assert parsed is not None
    # 2026-03-08 is the US spring-forward day: 02:00 New York does not exist, 03:00 EDT follows 01:59 EST
    assert last_start(parsed, epoch("2026-03-09 12:00", "America/New_York"), "America/New_York") == \
        epoch("2026-03-09 02:00", "America/New_York")
    for unknown in ("2026-01-01", "*-*-01 02:00", "monthly", "12:00:30", "mon..funday 01:00", "25:00", ""):
        assert parse_schedule(unknown) is None, unknown


def test_runs_of_a_node_with_two_jobs_go_to_the_job_whose_schedule_started_them() -> None:
    nightly, weekly = BackupJob("nightly", all=True, schedule="01:00"), BackupJob("weekly", all=True,
                                                                                  schedule="sun 04:00")
    tasks = [VzdumpTask("pve", "a", epoch("2026-03-01 04:00"), "OK"),  # a Sunday
             VzdumpTask("pve", "b", epoch("2026-03-01 01:00") + 20, "job errors"),
             VzdumpTask("pve", "c", epoch("2026-03-01 13:37"), "OK")]  # by hand: nobody's
    runs = attribute(tasks, [nightly, weekly], "UTC")
    assert [t.upid for t in runs["nightly"]] == ["b"] and [t.upid for t in runs["weekly"]] == ["a"]
    assert [t.upid for t in attribute(tasks, [nightly], "UTC")["nightly"]] == ["a", "b", "c"]


# ── a token without Sys.Audit: unknown, never a missed run ───────────────────


def test_a_token_without_sys_audit_gives_unknown_not_missing_or_missed(cli, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_TEST_BACKUP_TOKEN", "t0k3n-b4ckup-0000-5y5-4ud17-000000")
    estate = Estate(nodes=[Node("pve")], guests=[Guest(200, name="web")],
                    backup_jobs=[{"id": "daily", "type": "vzdump", "all": 1, "schedule": "01:00"}],
                    backup_stores=[BackupStore("local", dump_dir=tmp_path / "dump")],
                    tasks={"pve": [{"upid": "UPID:pve:1:2:3:vzdump::root@pam:", "starttime": 1, "user": "root@pam",
                                    "status": "OK", "endtime": 2}]}).restrict_to(vmids=[200])
    with ExitStack() as stack:
        srv = stack.enter_context(FakePVE(estate, token_id="audit@pve!ro", secret="t0k3n-b4ckup-0000-5y5-4ud17-000000"))
        sites = write_lab(tmp_path, srv, inventory="""\
            targets:
              - {name: vm-200, enabled: true, kind: file_glob, host: pve, base_path: /var/lib/vz/dump,
                 glob: "vzdump-qemu-200-*.vma.zst"}
            """, lifecycle="vms:\n  - {id: 200, hostname: web, proxmox_host: pve, status: active, "
                           "backup_target: vm-200}\n")
        result = cli("--sites-dir", sites, "--site", "lab", "--only", "backups", "--skip-ssh", "-f", "json")
    report = json.loads(result.out)
    kinds = {(f["kind"], f["reason"]) for f in report["findings"]}
    assert kinds == {("unknown", "no_permission"), ("unknown", "skipped")}, report["findings"]
    jobs = next(f for f in report["findings"] if f["reason"] == "no_permission")
    assert jobs["address"] == "lab/host/pve/unknown" and "403" in jobs["message"]
    assert result.code == 3  # nothing wrong was seen: something could not be seen


def write_lab(tmp_path: Path, srv: FakePVE, inventory: str, lifecycle: str, ssh: str = "",
              targets: str = "") -> Path:
    root = tmp_path / "spine" / "ops" / "bindings"
    root.mkdir(parents=True, exist_ok=True)
    (root / "backup.inventory.yaml").write_text(textwrap.dedent(inventory))
    (root / "vm.lifecycle.yaml").write_text(lifecycle)
    (root / "ssh.targets.yaml").write_text("ssh:\n  targets:\n    - {id: pve, host: pve.invalid}\n" + targets)
    (root / "infra.placement.policy.yaml").write_text("sites:\n  lab: {proxmox_hosts: [pve]}\n"
                                                      "hosts:\n  nas: {site: lab, kind: storage}\n")
    sites = tmp_path / "sites"
    sites.mkdir(exist_ok=True)
    (sites / "lab.yaml").write_text(
        f"site: lab\nbindings_root: {tmp_path / 'spine'}\nproxmox:\n  - name: pve\n    url: {srv.url}\n"
        f"    token_id: \"{srv.token_id}\"\n    token_secret_env: RECONCILE_TEST_BACKUP_TOKEN\n"
        f"    ca_file: {srv.cert_path}\n" + ssh)
    return sites


# ── hostile values, over a real loopback sshd ────────────────────────────────

HOSTILE_GLOBS = ["$(touch {pwned})", "`touch {pwned}`", "x; touch {pwned}", "*/../..", "a" * 4096,
                 "$(touch {pwned})*", "*'\"$HOME"]


def test_hostile_inventory_values_run_nothing_over_ssh(cli, tmp_path: Path, sshd_factory: Callable[[], SshServer],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILE_TEST_BACKUP_TOKEN", "t0k3n-b4ckup-0000-h057-113-0000000")
    server = sshd_factory()
    server.configure()
    dump, pwned = tmp_path / "nas" / "dump", tmp_path / "PWNED"
    dump.mkdir(parents=True)
    (dump / "backup.tar").write_bytes(b"x")
    entries = [{"name": f"hostile-{i}", "enabled": True, "kind": "file_glob", "host": "nas", "base_path": str(dump),
                "glob": glob.format(pwned=pwned)} for i, glob in enumerate(HOSTILE_GLOBS)]
    entries += [{"name": f"$(touch {pwned})", "enabled": True, "kind": "file_glob", "host": "nas",
                 "base_path": str(dump), "glob": "*.tar"},
                {"name": "multiline", "enabled": True, "kind": "file_glob", "host": "nas",
                 "base_path": f"{dump}\n; touch {pwned}", "glob": "*"}]
    known = server.write_known_hosts(tmp_path / "known_hosts")
    ssh = (f"ssh:\n  known_hosts: {known}\n  identity_file: {server.client_key}\n  use_agent: false\n"
           f"  overrides:\n    nas: {{host: 127.0.0.1, port: {server.port}, user: {server.user}}}\n")
    with FakePVE(Estate(nodes=[Node("pve")]), token_id="audit@pve!ro",
                 secret="t0k3n-b4ckup-0000-h057-113-0000000") as srv:
        sites = write_lab(tmp_path, srv, inventory=json.dumps({"targets": entries}), lifecycle="vms: []\n", ssh=ssh,
                          targets="    - {id: nas, host: nas.invalid}\n")
        result = cli("--sites-dir", sites, "--site", "lab", "--only", "backups", "-f", "json")
    report = json.loads(result.out)
    by_address = {f["address"]: f for f in report["findings"]}
    assert not pwned.exists() and not list(tmp_path.rglob("PWNED*"))
    assert server.commands() == [remote_script_command()]  # one exec, the documented script, nothing else
    for i in range(len(HOSTILE_GLOBS)):  # ordinary non-matches
        assert by_address[f"lab/backup/hostile-{i}/missing"]["live"] == "no match"
    assert f"lab/backup/$(touch {pwned})/missing" not in by_address  # a name is data: its *.tar matched
    invalid = by_address.get("lab/backup-target/ops/bindings/backup.inventory.yaml/multiline/invalid/base_path")
    assert invalid, sorted(by_address)
    assert "newline" in invalid["message"]


def remote_script_command() -> str:
    from reconciler.collect.backup_files import remote_command

    return remote_command()


# ── the script under busybox (a NAS userland) ────────────────────────────────


BUSYBOX_TOOLS = ("sh", "find", "stat", "sort", "tr", "wc", "tail", "rm", "printf", "cat", "echo", "[")


def busybox_bin(tmp_path: Path) -> Path:
    """A folder of busybox applets only (busybox-static from the real-docker cache: nothing is installed)."""
    from tests.fakes.real_docker import prepare

    try:
        busybox = prepare().engine_root / "bin" / "busybox"
    except Exception as error:  # any reason at all: say it (CI fails, elsewhere skips)
        if IN_CI:
            pytest.fail(f"busybox: {type(error).__name__}: {error} (required under CI=true)", pytrace=False)
        pytest.skip(f"busybox: {type(error).__name__}: {error}")
    folder = tmp_path / "busybox-bin"
    folder.mkdir()
    for tool in BUSYBOX_TOOLS:
        (folder / tool).symlink_to(busybox)
    return folder


def test_the_script_reads_the_same_under_busybox_and_gnu(tmp_path: Path) -> None:
    now = 1_772_500_000
    dump = tmp_path / "dump"
    for name, age, size in (("vzdump-qemu-200-2026_03_01-02_00_00.vma.zst", 27, 5000),
                            ("vzdump-qemu-200-2026_03_02-02_00_00.vma.zst", 3, 0), ("sub/manifest.txt", 1, 7),
                            ("db one.sql.gz", 2, 9)):
        path = dump / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        os.utime(path, (now - age * 3600, now - age * 3600))
    targets = [TargetSpec("vm-200", str(dump), "vzdump-qemu-200-*.vma.zst"),
               TargetSpec("n8n", str(dump), "*/manifest.txt"), TargetSpec("db", str(dump), "*.sql.gz"),
               TargetSpec("gone", str(tmp_path / "nope"), "*"),
               TargetSpec("hostile", str(dump), "$(touch PWNED)")]
    busybox = busybox_bin(tmp_path)
    results = {}
    for name, shell, path in (("gnu", "/bin/sh", "/usr/bin:/bin"), ("busybox", str(busybox / "sh"), str(busybox))):
        done = subprocess.run([shell, "-c", remote_script()], input=encode_targets(targets), capture_output=True,
                              timeout=30, cwd=tmp_path, env={"PATH": path, "TMPDIR": str(tmp_path)})
        assert done.returncode == 0, (name, done.stderr)
        results[name] = parse_output(done.stdout.decode())
    assert results["busybox"] == results["gnu"]
    gnu = results["gnu"]
    assert (gnu["vm-200"].count, gnu["vm-200"].newest_size) == (2, 0)
    assert (gnu["n8n"].count, gnu["n8n"].newest_name) == (1, "sub/manifest.txt")
    assert gnu["db"].newest_name == "db one.sql.gz" and not gnu["gone"].exists and gnu["hostile"].count == 0
    assert not (tmp_path / "PWNED").exists()


def test_the_documented_script_is_the_one_that_runs() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "backups.md").read_text()
    shown = docs.split("a test keeps this copy equal to it):\n\n```sh\n", 1)[1].split("\n```", 1)[0]
    assert shown == remote_script().rstrip("\n")


def test_a_schedule_read_in_another_zone_than_the_nodes_judges_no_missed_run() -> None:
    """PVE's next-run says when the node's zone puts the next start; a schedule read in another zone disagrees,
    and then no run is called missed (it would be hours off)."""
    from reconciler.rules.backup_runs import _zone_agrees

    daily = parse_schedule("02:00")
    assert daily is not None
    now = epoch("2026-03-03 12:00")
    agrees = BackupJob("j", schedule="02:00", next_run=epoch("2026-03-04 02:00"))
    other_zone = BackupJob("j", schedule="02:00", next_run=epoch("2026-03-04 02:00", "America/New_York"))
    assert _zone_agrees(agrees, daily, now, "UTC")
    assert not _zone_agrees(other_zone, daily, now, "UTC")
    assert _zone_agrees(other_zone, daily, now, "America/New_York")
    assert _zone_agrees(BackupJob("j", schedule="02:00"), daily, now, "UTC")  # no next-run: nothing to doubt


def test_only_backups_without_an_inventory_is_an_error_not_a_clean_run(cli, tmp_path: Path) -> None:
    root = tmp_path / "spine" / "ops" / "bindings"
    root.mkdir(parents=True)
    (root / "vm.lifecycle.yaml").write_text("vms: []\n")
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {tmp_path / 'spine'}\nproxmox_hosts: [pve]\n")
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "backups")
    assert result.code == 2 and "no backup inventory" in result.err and "backup.inventory.yaml" in result.err
