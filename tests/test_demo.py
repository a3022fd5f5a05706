"""The embedded demo: runs on a fresh machine, from any directory, offline, and shows every kind of finding
(guests, docker stacks and containers, governance parity) with file:line citations."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.model import Kind, Status
from reconciler.sites import PACKAGED_DEMO

from .conftest import SCHEMA

DEMO_BINDINGS = PACKAGED_DEMO.parent / "bindings"
LIFECYCLE = "ops/bindings/vm.lifecycle.yaml"
COMPOSE = "ops/bindings/docker.compose.targets.yaml"
SSH = "ops/bindings/ssh.targets.yaml"
REGISTRY = "docs/governance/SERVICE_REGISTRY.yaml"
EVERY_KIND = {k.value for k in Kind}

# Imported by every Python started with this folder on PYTHONPATH: any attempt to reach the network is
# written down and refused, so the demo is proven offline even through the installed console script.
NO_NETWORK = '''
import os, socket
def _refuse(*args, **kwargs):
    with open(os.environ["DEMO_NET_LOG"], "a") as log:
        log.write(repr(args[1:] or args) + "\\n")
    raise OSError("network disabled by test_demo")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
open(os.environ["DEMO_NET_LOADED"], "w").close()
'''


@pytest.fixture
def offline_reconcile(tmp_path):
    """Run the installed `reconcile` (or `python -c`) from an empty directory with the network refused."""
    hook = tmp_path / "nonet"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NO_NETWORK)
    work = tmp_path / "elsewhere"
    work.mkdir()
    net_log, loaded = tmp_path / "net.log", tmp_path / "loaded"
    exe = shutil.which("reconcile")
    command = [exe] if exe else [sys.executable, "-c", "import sys; from reconciler.cli import main; sys.exit(main())"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")} | {
        "NO_COLOR": "1", "PYTHONPATH": str(hook), "DEMO_NET_LOG": str(net_log), "DEMO_NET_LOADED": str(loaded),
        "RECONCILE_SITES_DIR": str(tmp_path / "no-sites")}  # so `demo` is the packaged one

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*command, *args], cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert loaded.exists(), "the no-network hook was not loaded"
        assert not net_log.exists(), f"the demo tried to use the network: {net_log.read_text()}"
        return result

    return run


def _report(cli, *args: str) -> dict:
    result = cli("--site", "demo", "-f", "json", *args)
    assert result.code == 1, result.err
    return json.loads(result.out)


def _line_of(relative: str, needle: str, after: str | None = None) -> int:
    """1-based line of the first line containing `needle` (after the line containing `after`)."""
    lines = (DEMO_BINDINGS / relative).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def _declared_guests() -> list[dict]:
    """The demo's lifecycle entries that load as guests: a known status, first entry per (host, vmid)."""
    data = yaml.safe_load((DEMO_BINDINGS / LIFECYCLE).read_text())
    statuses = {s.value for s in Status}
    guests: dict[tuple[str, int], dict] = {}
    for entry in data["vms"]:
        key = (entry.get("proxmox_host", data["defaults"]["proxmox_host"]), entry.get("id", entry.get("vmid")))
        if entry["status"] in statuses:
            guests.setdefault(key, entry)
    return list(guests.values())


# ── the full run ─────────────────────────────────────────────────────────────


def test_demo_table_from_any_directory_offline(offline_reconcile):
    result = offline_reconcile("--site", "demo")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    for kind in EVERY_KIND:
        assert any(line.startswith(f"{kind.upper()} (") for line in lines), kind
    assert lines[-1].startswith("demo: ") and "exit 1 (drift found: " in lines[-1]
    assert "\x1b[" not in result.stdout  # not a TTY: no colour
    assert "not found" not in result.stdout  # every governance file ships with the demo


def test_demo_json_validates_and_has_every_kind_offline(offline_reconcile):
    result = offline_reconcile("--site", "demo", "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    assert {f["kind"] for f in report["findings"]} == EVERY_KIND
    assert report["exit_code"] == 1
    assert sum(report["summary"].values()) == len(report["findings"])
    assert 25 <= len(report["findings"]) <= 40  # small enough to read
    subject_types = {f["subject"]["type"] for f in report["findings"]}
    assert {"qemu", "lxc", "stack", "container", "host"} <= subject_types


def test_demo_guest_findings(cli, packaged_demo):
    report = _report(cli)
    drift_fields = {f["field"] for f in report["findings"] if f["kind"] == "drifted"}
    assert {"name", "type", "power", "cpu_cores", "memory_mb", "boot_disk_gb", "lan_ip", "placement",
            "lingering", "planning_live"} <= drift_fields
    reasons = {f["reason"] for f in report["findings"] if f["kind"] == "unknown"}
    assert {"node_offline", "agent_not_running"} <= reasons


def test_demo_docker_findings(cli, packaged_demo):
    findings = _report(cli)["findings"]
    by_address = {f["address"]: f for f in findings}
    assert "demo/stack/monitor/speedtest/unregistered" in by_address
    assert "demo/stack/monitor/grafana/missing" in by_address
    assert "demo/container/monitor/alertmanager/missing" in by_address
    path = by_address["demo/stack/media/photos/drifted/path"]
    assert path["declared"] == "~/photos" and path["live"] == "/srv/photos"
    assert path["sources"] == [f"{COMPOSE}:{_line_of(COMPOSE, 'name: photos')}"]
    state = by_address["demo/stack/media/downloads/drifted/state"]
    assert state["live"] == "exited(1), running(2)" and state["severity"] == "warning"
    # the lifecycle lists `books`, the compose target does not: two files disagree, nothing live differs
    assert not [f for f in findings if f["kind"] == "drifted" and f["field"] == "lifecycle"]
    lifecycle = by_address["demo/qemu/demo-pve/101/parity/compose.stacks.books"]
    assert lifecycle["sources"][0] == f"{LIFECYCLE}:{_line_of(LIFECYCLE, 'books')}"
    unreachable = by_address["demo/host/edge-runner/unknown"]
    assert unreachable["reason"] == "ssh_timeout"
    # one finding for the unreachable host, naming what it hides (no unknown per stack or container)
    assert unreachable["hides"] == ["demo/stack/edge-runner/runner", "demo/container/edge-runner/runner-agent-1"]
    assert not [a for a in by_address if a.startswith(("demo/stack/edge-runner/", "demo/container/edge-runner/"))]
    # in sync stacks and containers are quiet
    assert not [f for f in findings if f["subject"].get("name") in ("jellyfin", "prometheus")]
    security = [f for f in findings if f["kind"] == "security"]
    assert len(security) == 1
    assert security[0]["sources"] == [f"{SSH}:{_line_of(SSH, 'strict_host_key_checking')}"]


def test_demo_governance_parity_is_few_and_meaningful(cli, packaged_demo):
    parity = [f for f in _report(cli)["findings"] if f["kind"] == "parity"]
    assert 3 <= len(parity) <= 6
    assert not [f for f in parity if f["rule"] == "governance-files"]  # no "file not found"
    rules = {f["rule"] for f in parity}
    assert {"governance-backup", "governance-orphans", "governance-compose", "governance-registry"} <= rules
    by_address = {f["address"]: f for f in parity}
    gateway = by_address["demo/qemu/demo-pve/100/parity/backup_target"]
    assert gateway["sources"][0] == f"{LIFECYCLE}:{_line_of(LIFECYCLE, 'backup_target: vm-100-primary')}"
    assert "vm-100-gateway-primary" in gateway["hint"]
    assert "demo/lxc/demo-lab/122/parity/backup" in by_address
    assert "demo/ssh-target/kiosk/parity/orphan" in by_address
    registry = by_address["demo/qemu/demo-pve/106/parity/registry.vmid"]
    assert registry["sources"][0] == f"{REGISTRY}:{_line_of(REGISTRY, 'vmid: 116')}"


def test_demo_finding_ids_are_stable(cli, packaged_demo):
    first, second = _report(cli), _report(cli)
    assert [f["id"] for f in first["findings"]] == [f["id"] for f in second["findings"]]
    assert len({f["id"] for f in first["findings"]}) == len(first["findings"])


def test_demo_findings_cite_binding_lines(cli, packaged_demo):
    by_address = {f["address"]: f for f in _report(cli)["findings"]}
    memory = by_address["demo/qemu/demo-pve/101/drifted/memory_mb"]
    assert memory["declared"] == 8192 and memory["live"] == 4096
    assert memory["sources"] == [f"{LIFECYCLE}:{_line_of(LIFECYCLE, 'memory_mb: 8192')}"]
    missing = by_address["demo/qemu/demo-pve/106/missing"]
    assert missing["sources"] == [f"{LIFECYCLE}:{_line_of(LIFECYCLE, 'vmid: 106')}"]
    duplicate = by_address["demo/qemu/demo-pve/101/invalid/duplicate"]
    assert duplicate["sources"] == [f"{LIFECYCLE}:{_line_of(LIFECYCLE, 'invalid: duplicate vmid')}",
                                     f"{LIFECYCLE}:{_line_of(LIFECYCLE, 'id: 101')}"]
    container = by_address["demo/container/monitor/alertmanager/missing"]
    assert container["sources"] == [f"{REGISTRY}:{_line_of(REGISTRY, 'alertmanager:')}"]


def test_demo_from_the_repo_root_is_the_packaged_one(cli, monkeypatch):
    """The repo's own ./sites (shop and home, whose bindings are not beside a clone) are never read for it."""
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.delenv("RECONCILE_SITES_DIR", raising=False)
    monkeypatch.chdir(repo)
    from_repo = _report(cli)
    monkeypatch.setenv("RECONCILE_SITES_DIR", str(repo / "no-such-folder"))
    packaged = _report(cli)
    assert [f["id"] for f in from_repo["findings"]] == [f["id"] for f in packaged["findings"]]


def _broken_sites(folder: Path) -> Path:
    """A sites folder whose every file is broken: a command that read any of them would exit 2."""
    folder.mkdir()
    (folder / "home.yaml").write_text("site: home\nbindings_root: /nonexistent\nproxmox: [\n")
    (folder / "shop.yaml").write_text("site: shop\nbindinqs_root: /nonexistent\n")
    return folder


@pytest.mark.parametrize("args, code", [
    (("--site", "demo"), 1), (("check", "--site", "demo"), 1), (("coverage", "--site", "demo"), 1),
    (("parity", "--site", "demo"), 0), (("plan-vm", "--site", "demo", "--vmid", "150", "--hostname", "x"), 0),
    (("plan-vm", "--site", "demo", "--verify", "101"), 1)])
def test_demo_reads_no_other_site_file(cli, packaged_demo, tmp_path, args, code):
    sites = _broken_sites(tmp_path / "sites")
    result = cli("--sites-dir", sites, *args)
    assert result.code == code, result.err
    assert "home.yaml" not in result.out + result.err and "shop.yaml" not in result.out + result.err


def test_demo_runs_alone(cli, packaged_demo, tmp_path):
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text("site: lab\nbindings_root: /nonexistent\n")
    result = cli("--sites-dir", sites, "--site", "demo", "--site", "lab")
    assert result.code == 2
    assert result.err.strip() == ("reconcile: error: --site demo runs alone: it is a made-up estate, "
                                  "not to be mixed with lab")


def test_a_demo_site_file_is_refused_not_silently_shadowed(cli, packaged_demo, tmp_path):
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "demo.yaml").write_text("site: demo\nbindings_root: /srv/mine\n")
    result = cli("--sites-dir", sites, "--site", "demo")
    assert result.code == 2
    assert result.err.strip().startswith(f"reconcile: error: {sites / 'demo.yaml'}: the site name 'demo' is reserved")


def test_demo_ignore_file_and_state_live_in_the_user_state_folder(cli, packaged_demo, tmp_path, monkeypatch):
    state = tmp_path / "xdg"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    report = tmp_path / "r.json"
    assert cli("--site", "demo", "-f", "json", "-o", report).code == 1
    finding = json.loads(report.read_text())["findings"][0]
    added = cli("ignore", "add", "--from-report", report, "--id", finding["id"], "--reason", "known")
    assert added.code == 0, added.err
    ignore_file = state / "reconciler" / "demo" / ".reconcileignore"
    assert added.out.startswith(f"added {ignore_file}:") and ignore_file.is_file()
    assert not (DEMO_BINDINGS / ".reconcileignore").exists()
    nightly = cli("report", "--site", "demo", "-o", tmp_path / "nightly.json")
    assert nightly.code == 1, nightly.err
    assert [f["id"] for f in json.loads((tmp_path / "nightly.json").read_text())["ignored"]] == [finding["id"]]
    assert (state / "reconciler" / "demo" / "last-report.json").is_file()
    assert not (state / "reconciler" / "last-report.json").exists()  # apart from the real sites' state


# ── governance subcommands ───────────────────────────────────────────────────


def test_demo_check_lists_invalid_and_parity(cli, packaged_demo):
    result = cli("check", "--site", "demo")
    assert result.code == 1, result.err
    assert any(line.startswith("INVALID (") for line in result.lines)
    assert any(line.startswith("PARITY (") for line in result.lines)
    assert "security" not in result.lines[-1] and "drifted" not in result.lines[-1]  # files only, no live state


def test_demo_coverage_has_a_row_per_guest(cli, packaged_demo):
    guests = _declared_guests()
    active = {g["hostname"] for g in guests if g["status"] == "active"}
    result = cli("coverage", "--site", "demo")
    assert result.code == 1, result.err  # the deliberate gaps
    rows = {line.split()[2]: line for line in result.lines if line.startswith("demo ")}
    assert set(rows) == active
    assert "MISS" in rows["lab-db"] and "MISS" in rows["gateway"]
    assert "MISS" not in rows["monitor"]
    everything = cli("coverage", "--site", "demo", "--all")
    listed = {line.split()[2] for line in everything.lines if line.startswith("demo ")}
    assert listed == {g["hostname"] for g in guests}


def test_demo_coverage_gaps_are_the_check_findings(cli, packaged_demo):
    """A MISS cell for every guest with a surface finding in `check`, and no other."""
    check = json.loads(cli("check", "--site", "demo", "-f", "json").out)
    surfaces = {"governance-ssh", "governance-registry", "governance-backup", "governance-health",
                "governance-compose"}
    with_gaps = {f["subject"]["vmid"] for f in check["findings"] if f["rule"] in surfaces}
    matrix = json.loads(cli("coverage", "--site", "demo", "-f", "json").out)
    missing = {row["vmid"] for row in matrix["rows"] if "MISS" in row["cells"].values()}
    assert with_gaps and missing == with_gaps


def test_demo_parity_counts_the_demo_files(cli, packaged_demo):
    result = cli("parity", "--site", "demo")
    assert result.code == 0, result.err
    ssh_targets = len(yaml.safe_load((DEMO_BINDINGS / SSH).read_text())["ssh"]["targets"])
    assert re.split(r"\s{2,}", result.lines[0].strip()) == ["Category", "Demo", "Unassigned"]
    rows = {cells[0]: cells[1:] for line in result.lines[2:] if line.strip()
            for cells in [re.split(r"\s{2,}", line.strip())]}
    assert rows["SSH targets"] == [str(ssh_targets), "0"]
    assert rows["Docker compose targets"] == ["3", "0"]
    # the NAS's app backups are about data on a storage host no site owns: parity leaves them unassigned
    assert rows["Backup inventory (enabled)"] == ["8 of 8", "4"]
    assert len(rows) == 5 and all(not counts[0].startswith("0") for counts in rows.values())
