"""Findings a user can trust night after night (issue 15): one finding per cause, the right kind, stable ids.

Each test builds its own small bindings (or uses the packaged demo / the real snapshots in tests/data) and
asserts on what the reconciler reports, never on how it computes it.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml

import reconciler
from reconciler import engine
from reconciler.collect.snapshot import dump_snapshot
from reconciler.config import load_site
from reconciler.governance import run_check
from reconciler.model import (
    GuestType,
    Kind,
    LiveGuest,
    LiveState,
    ProxmoxObservation,
)
from tests.live_builders import live_as_declared
from tests.test_governance_rules import BASE, site, write


def test_registry_host_with_vmid_only_is_resolved_within_its_own_site(tmp_path):
    """`oldbox` (a shop host, vmid 120, no proxmox_host) must not take home's guest 120."""
    files = copy.deepcopy(BASE)
    files["ops/bindings/vm.lifecycle.yaml"]["vms"].append(
        {"id": 120, "hostname": "media", "proxmox_host": "proxmox-home", "status": "active"})
    files["ops/bindings/infra.placement.policy.yaml"]["hosts"]["oldbox"] = {"site": "shop", "kind": "vm"}
    files["docs/governance/SERVICE_REGISTRY.yaml"]["hosts"]["oldbox"] = {"vmid": 120, "ssh": "oldbox"}
    write(tmp_path, files)
    shop = [f for f in run_check(site(tmp_path, "shop")).findings if f.rule == "governance-orphans"]
    assert [(f.subject.type, f.subject.name, f.field) for f in shop] == [("registry-host", "oldbox", "orphan")]
    assert "'oldbox'" in shop[0].message
    home = [f for f in run_check(site(tmp_path, "home")).findings if f.rule == "governance-orphans"]
    assert [f for f in home if f.subject.name == "oldbox"] == []  # a shop entry: not home's to report


def _estate_with_hostname(tmp_path, hostname: str, category: str):
    """BASE with the guest's hostname and a custom parity category name set; a sites folder for the CLI."""
    files = copy.deepcopy(BASE)
    files["ops/bindings/vm.lifecycle.yaml"]["vms"][0]["hostname"] = hostname
    del files["ops/bindings/vm.lifecycle.yaml"]["vms"][0]["backup_target"]  # a gap: the hostname is in a note
    root = tmp_path / "bindings"
    write(root, files)
    sites = tmp_path / "sites"
    sites.mkdir()
    parity = {"categories": [{"name": category, "glob": "ops/bindings/*.yaml", "default_site": "shop"}]}
    (sites / "shop.yaml").write_text(yaml.safe_dump(
        {"site": "shop", "bindings_root": str(root), "proxmox": [], "rules": {"parity": parity}}))
    return sites


@pytest.mark.parametrize("args", [
    ("check", "--site", "shop"), ("check", "--site", "shop", "-f", "markdown"),
    ("coverage", "--site", "shop", "--all"), ("coverage", "--site", "shop", "--all", "-f", "markdown"),
    ("parity", "--sites", "shop"), ("parity", "--sites", "shop", "-f", "markdown"),
], ids=" ".join)
def test_binding_values_are_escaped_in_every_renderer(cli, tmp_path, args):
    sites = _estate_with_hostname(tmp_path, "web\x1b[31m", "Files\x1b[31m")
    result = cli("--sites-dir", sites, *args)
    assert result.code in (0, 1), result.err
    assert "\x1b" not in result.out and "\x1b" not in result.err
    assert "\\x1b" in result.out  # shown, escaped


def test_compose_target_stack_missing_from_the_lifecycle_is_parity(tmp_path):
    files = copy.deepcopy(BASE)
    files["ops/bindings/docker.compose.targets.yaml"]["targets"]["web"]["stacks"].append(
        {"name": "extra", "path": "/opt/stacks/extra"})
    write(tmp_path, files)
    found = [f for f in run_check(site(tmp_path)).findings if f.rule == "governance-compose"]
    assert [(f.kind.value, f.subject.vmid, f.field) for f in found] == [("parity", 200, "lifecycle.stacks.extra")]
    assert [s.file for s in found[0].sources] == ["ops/bindings/docker.compose.targets.yaml",
                                                  "ops/bindings/vm.lifecycle.yaml"]


def test_full_run_reports_a_lifecycle_compose_disagreement_once_as_parity(cli, packaged_demo):
    findings = json.loads(cli("--site", "demo", "-f", "json").out)["findings"]
    books = [f for f in findings if "books" in (f["field"] or "") or "books" in f["message"]]
    assert [(f["kind"], f["rule"]) for f in books] == [("parity", "governance-compose")]
    assert not [f for f in findings if f["kind"] == "drifted" and f["rule"].startswith("governance")]


# ── stable ids: unrelated lines moving changes no id ─────────────────────────

DEMO = Path(reconciler.__file__).parent / "demo"


def _shift_every_binding_file(root: Path) -> int:
    """Insert 5 comment lines at the top of every YAML file under `root`; how many files were shifted."""
    shifted = 0
    for path in sorted(root.rglob("*.yaml")):
        path.write_text("# one\n# two\n# three\n# four\n# five\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
        shifted += 1
    return shifted


def _ids(cli, sites: Path, *args: str) -> dict[str, str]:
    result = cli("--sites-dir", sites, *args, "-f", "json")
    assert result.code in (0, 1), result.err
    data = json.loads(result.out)
    return {f["id"]: f"{f['address']} {f['sources']}" for f in data["findings"]}


def test_demo_finding_ids_survive_lines_inserted_above_them(cli, tmp_path):
    sites = tmp_path / "sites"
    shutil.copytree(DEMO, sites / "copy")
    (sites / "copy.yaml").write_text((DEMO / "demo.yaml").read_text().replace("site: demo", "site: copy")
                                     .replace("bindings_root: bindings", "bindings_root: copy/bindings")
                                     .replace("live_snapshot: live.json", "live_snapshot: copy/live.json"))
    # entries that cannot name themselves (no id, no name): their findings need an id all the same
    unnamed = {"ops/bindings/backup.inventory.yaml": "  - glob: vzdump-qemu-999-*.vma.zst\n",
               "ops/bindings/vm.lifecycle.yaml": "  - hostname: nameless\n    status: active\n",
               "ops/bindings/services.health.yaml": "  - url: http://127.0.0.1:9/\n",
               "ops/bindings/ssh.targets.yaml": "    - host: 127.0.0.1\n"}
    for rel, entry in unnamed.items():
        path = sites / "copy" / "bindings" / rel
        path.write_text(path.read_text(encoding="utf-8") + entry, encoding="utf-8")
    before = _ids(cli, sites, "--site", "copy")
    assert sum("/line-" in a or "/entry-" in a for a in before.values()) >= 4, sorted(before.values())
    kinds = {k.value for a in before.values() for k in Kind if f"/{k.value}" in a.split(" ")[0]}
    assert len(before) > 20 and kinds == {k.value for k in Kind}, kinds  # every kind is in the check
    assert _shift_every_binding_file(sites / "copy" / "bindings") >= 9
    after = _ids(cli, sites, "--site", "copy")
    assert set(after) == set(before), (sorted(set(before) - set(after)), sorted(set(after) - set(before)))
    assert before != after  # the sources did move by five lines: the check compares ids, not lines


@pytest.mark.parametrize("date", ["2026-02-12", "2026-02-20"])
@pytest.mark.parametrize("name", ["shop", "home"])
def test_real_snapshot_finding_ids_survive_lines_inserted_above_them(cli, ref_data, tmp_path, date, name):
    root = tmp_path / "bindings"
    shutil.copytree(ref_data / "spine-bindings" / date, root)
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / f"{name}.yaml").write_text(f"site: {name}\nbindings_root: {root}\nproxmox: []\n")
    before = _ids(cli, sites, "check", "--site", name)
    assert before
    assert _shift_every_binding_file(root) >= 8
    after = _ids(cli, sites, "check", "--site", name)
    assert set(after) == set(before), (sorted(set(before) - set(after)), sorted(set(after) - set(before)))


# ── addresses: two hosts, one vmid; the ignore file in every command ────────


def _two_hosts_one_vmid(tmp_path: Path) -> Path:
    """Site `lab`: VM 101 on alpha and VM 101 on beta, both declared with 2048 MB and running with 4096."""
    root = tmp_path / "bindings"
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    lifecycle.parent.mkdir(parents=True)
    lifecycle.write_text(yaml.safe_dump({"vms": [
        {"id": 101, "hostname": name, "proxmox_host": host, "status": "active", "resources": {"memory_mb": 2048}}
        for host, name in (("alpha", "app-a"), ("beta", "app-b"))]}))
    state = LiveState(proxmox=tuple(
        ProxmoxObservation(host, "lab", listed=True, guests=(
            LiveGuest(host, "pve", 101, GuestType.QEMU, name, "running", memory_mb=4096),))
        for host, name in (("alpha", "app-a"), ("beta", "app-b"))))
    (tmp_path / "live.json").write_text(dump_snapshot(state, ["lab"]))
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {root}\nproxmox: []\n"
                                    f"proxmox_hosts: [alpha, beta]\nlive_snapshot: {tmp_path / 'live.json'}\n")
    return sites


def test_two_hosts_with_the_same_vmid_have_two_addresses_and_ignore_lines(cli, tmp_path):
    sites = _two_hosts_one_vmid(tmp_path)
    data = json.loads(cli("--sites-dir", sites, "--site", "lab", "-f", "json").out)
    drifted = sorted(f["address"] for f in data["findings"] if f["kind"] == "drifted")
    assert drifted == ["lab/qemu/alpha/101/drifted/memory_mb", "lab/qemu/beta/101/drifted/memory_mb"]
    assert len({f["id"] for f in data["findings"] if f["kind"] == "drifted"}) == 2
    ignore = tmp_path / "ignore"
    ignore.write_text("lab/qemu/alpha/101/*  reason: resize planned\n")
    result = cli("--sites-dir", sites, "--site", "lab", "--ignore", ignore, "-f", "json")
    data = json.loads(result.out)
    assert [f["address"] for f in data["findings"] if f["kind"] == "drifted"] == ["lab/qemu/beta/101/drifted/memory_mb"]
    assert [f["address"] for f in data["ignored"]] == ["lab/qemu/alpha/101/drifted/memory_mb"]
    assert result.code == 1  # beta's drift still counts
    table = cli("--sites-dir", sites, "--site", "lab", "--ignore", ignore).out
    assert "lab/qemu/beta/101/drifted/memory_mb (app-b)" in table  # shown as it is copied into the ignore file
    assert "(1 ignored)" in table.splitlines()[-1]


def test_an_ignore_file_covering_every_demo_finding_exits_0_and_counts_them(cli, packaged_demo, tmp_path):
    ignore = tmp_path / "all"
    ignore.write_text("*  reason: the demo's problems are deliberate\n")
    every = json.loads(cli("--site", "demo", "-f", "json", "--no-ignore").out)["findings"]
    result = cli("--site", "demo", "--ignore", ignore)
    assert result.code == 0, result.out
    assert result.out.splitlines()[-1] == f"demo: no findings ({len(every)} ignored) — exit 0 (in sync)"
    assert cli("--site", "demo", "--ignore", ignore, "--no-ignore").code == 1
    check = cli("check", "--site", "demo", "--ignore", ignore, "-f", "json")
    assert check.code == 0 and json.loads(check.out)["findings"] == [] and json.loads(check.out)["ignored"]
    assert cli("check", "--site", "demo", "--ignore", ignore, "--no-ignore").code == 1


def test_the_default_ignore_file_applies_to_the_full_run(cli, tmp_path):
    sites = _two_hosts_one_vmid(tmp_path)
    (tmp_path / "bindings" / ".reconcileignore").write_text("lab/*\n")
    assert cli("--sites-dir", sites, "--site", "lab").code == 0
    assert cli("--sites-dir", sites, "--site", "lab", "--no-ignore").code == 1


# ── the user's bindings made live: nothing live differs ─────────────────────

@pytest.mark.parametrize("name", ["shop", "home"])
def test_the_users_2026_02_20_bindings_made_live_give_no_live_difference(cli, ref_data, tmp_path, name):
    root = ref_data / "spine-bindings" / "2026-02-20"
    sites = tmp_path / "sites"
    sites.mkdir()
    site_file = sites / f"{name}.yaml"
    site_file.write_text(f"site: {name}\nbindings_root: {root}\nproxmox: []\n")
    declared = engine.load_declared(load_site(site_file))
    state = live_as_declared(declared)
    assert state.proxmox and any(obs.guests for obs in state.proxmox)
    if name == "shop":
        assert state.docker and sum(len(o.stacks) for o in state.docker) >= 10  # the docker side is exercised
    (tmp_path / "live.json").write_text(dump_snapshot(state, [name]))
    result = cli("--sites-dir", sites, "--site", name, "--live", tmp_path / "live.json", "-f", "json")
    findings = json.loads(result.out)["findings"]
    live_kinds = [f"{f['address']}: {f['message']}" for f in findings
                  if f["kind"] in ("drifted", "missing", "unregistered")]
    assert live_kinds == []
    if name == "shop":  # docker-host's compose target declares `storage`; the guest's stacks do not list it
        assert [(f["kind"], f["rule"]) for f in findings if f["field"] == "lifecycle.stacks.storage"] == [
            ("parity", "governance-compose")]
