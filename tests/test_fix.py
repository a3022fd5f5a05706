"""`reconcile fix` (issue 20): the patch applies, resolves what it claims, touches nothing else, writes nothing.

Real components throughout: the engine's findings, the planner, `git apply`, the loader re-reading the result.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler import engine
from reconciler.collect.snapshot import dump_snapshot
from reconciler.config import load_site
from reconciler.fix.yamltext import MAX_SCALAR_CHARS, Refused, replace_value, scalar
from reconciler.model import (
    AuditScope,
    GuestType,
    LiveGuest,
    LiveStack,
    LiveState,
    ProxmoxObservation,
)
from reconciler.yamlio import parse_yaml
from tests.live_builders import live_as_declared

DEMO = Path(__file__).resolve().parent.parent / "reconciler" / "demo"
GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GIT or "git", "-C", str(root), *args], capture_output=True, text=True, check=False,
                          env={"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root), "PATH": "/usr/bin:/bin"})


def _git_copy(source: Path, root: Path) -> Path:
    shutil.copytree(source, root)
    assert _git(root, "init", "-q").returncode == 0
    return root


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def _demo_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The demo's bindings in a git repo of their own, and a site `copy` reading them against the demo snapshot."""
    root = _git_copy(DEMO / "bindings", tmp_path / "bindings")
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "copy.yaml").write_text(
        f"site: copy\nbindings_root: {root}\nproxmox: []\nproxmox_hosts: [demo-pve, demo-lab, demo-edge]\n"
        f"live_snapshot: {DEMO / 'live.json'}\nrules:\n  governance-registry: {{sites: [copy]}}\n")
    return root, sites


def _addresses(cli, *args) -> dict[str, str]:
    data = json.loads(cli(*args, "-f", "json").out)
    return {f["address"]: f["kind"] for f in data["findings"]}


def _fix_json(cli, *args) -> tuple[int, dict]:
    result = cli("fix", *args, "-f", "json")
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def _apply_and_rerun(cli, root: Path, run_args: tuple, fix_args: tuple) -> tuple[dict, dict, dict, Path]:
    before = _addresses(cli, *run_args)
    code, plan = _fix_json(cli, *fix_args)
    assert code == 1 and plan["edits"] and plan["diff"]
    patch = root.parent / "fix.patch"
    patch.write_text(plan["diff"])
    check = _git(root, "apply", "--check", str(patch))
    assert check.returncode == 0, check.stderr
    assert _git(root, "apply", str(patch)).returncode == 0
    after = _addresses(cli, *run_args)
    return before, after, plan, patch


def _assert_resolved(before: dict, after: dict, plan: dict) -> None:
    fixed = {a for a in before if any(e["finding"] in plan["fixed"] for e in plan["edits"])}
    assert fixed
    by_id = {n["finding"]: n["address"] for n in plan["not_fixed"]}
    fixed_addresses = set(before) - set(by_id.values())
    gone = set(before) - set(after)
    assert len(gone) == len(plan["fixed"]), (sorted(gone), plan["fixed"])
    assert gone <= fixed_addresses
    new = set(after) - set(before)
    follow_ups = {f["address"] for f in plan["follow_ups"]}
    assert new == follow_ups, sorted(new ^ follow_ups)
    assert all(after[a] == "parity" for a in new)  # only governance follow-ups of an added entry


# ── acceptance 1: the demo, and the user's bindings with injected drift ─────


@needs_git
@pytest.mark.parametrize("accept", [(), ("--accept", "live")])
def test_demo_patch_applies_and_a_rerun_no_longer_reports_the_fixed_findings(cli, packaged_demo, tmp_path, accept):
    root, sites = _demo_copy(tmp_path)
    run_args = ("--sites-dir", sites, "--site", "copy")
    before, after, plan, _ = _apply_and_rerun(cli, root, run_args, (*run_args, *accept))
    _assert_resolved(before, after, plan)
    fixed = {n for n in before if n not in after}
    assert "copy/lxc/demo-pve/110/unregistered" in fixed
    assert "copy/stack/monitor/speedtest/unregistered" in fixed
    assert "copy/qemu/demo-pve/100/parity/backup_target" in fixed
    if accept:
        assert {"copy/qemu/demo-pve/101/drifted/cpu_cores", "copy/qemu/demo-pve/101/drifted/memory_mb",
                "copy/qemu/demo-pve/101/drifted/boot_disk_gb", "copy/lxc/demo-pve/103/drifted/name",
                "copy/lxc/demo-pve/103/drifted/power", "copy/stack/media/photos/drifted/path"} <= fixed
    else:
        decide = [n for n in plan["not_fixed"] if n["reason"].startswith("decide:")]
        assert {n["address"] for n in decide} >= {"copy/qemu/demo-pve/101/drifted/cpu_cores",
                                                  "copy/lxc/demo-pve/103/drifted/name"}
        assert not any(a.split("/")[-2] == "drifted" for a in fixed)
    # nothing fixable is left: a second fix run over the patched files has nothing to add
    code, again = _fix_json(cli, *run_args, *accept)
    assert code == 0 and again["edits"] == [] and again["diff"] == ""


def _spine_estate(ref_data: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The user's 2026-02-20 shop bindings, live as declared but for injected drift: two unregistered guests, a
    resized one, a renamed one, a stopped one, a compose project nobody declared."""
    root = _git_copy(ref_data / "spine-bindings" / "2026-02-20", tmp_path / "bindings")
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "shop.yaml").write_text(f"site: shop\nbindings_root: {root}\nproxmox: []\n")
    declared = engine.load_declared(load_site(sites / "shop.yaml"))
    state = live_as_declared(declared)
    obs = state.proxmox[0]
    guests = list(obs.guests)
    sized = next(i for i, g in enumerate(guests) if g.cores and g.memory_mb and g.status == "running")
    guests[sized] = dataclasses.replace(guests[sized], cores=guests[sized].cores + 2, memory_mb=4096)
    named = next(i for i, g in enumerate(guests) if i != sized and g.status == "running")
    guests[named] = dataclasses.replace(guests[named], name=guests[named].name + "-new")
    host = obs.proxmox_host
    guests.append(LiveGuest(host, "pve", 290, GuestType.QEMU, "new-app", "running", cores=2, memory_mb=2048,
                            boot_disk_gb=32.0, ips=("192.168.1.90", "100.101.102.103")))
    guests.append(LiveGuest(host, "pve", 291, GuestType.LXC, "new-ct", "stopped", cores=1, memory_mb=512))
    docker = list(state.docker)
    with_stacks = next(i for i, d in enumerate(docker) if d.stacks)
    docker[with_stacks] = dataclasses.replace(docker[with_stacks], stacks=(
        *docker[with_stacks].stacks, LiveStack("uptime", {"running": 1}, working_dir="/opt/stacks/uptime")))
    state = dataclasses.replace(state, proxmox=(dataclasses.replace(obs, guests=tuple(guests)), *state.proxmox[1:]),
                                docker=tuple(docker))
    live = tmp_path / "live.json"
    live.write_text(dump_snapshot(state, ["shop"]))
    return root, sites, live


@needs_git
def test_spine_bindings_with_injected_drift_patch_applies_and_resolves(cli, ref_data, tmp_path):
    root, sites, live = _spine_estate(ref_data, tmp_path)
    run_args = ("--sites-dir", sites, "--site", "shop", "--live", live)
    before_hashes = _hashes(root)
    originals = {rel: (root / rel).read_bytes() for rel in before_hashes}
    before, after, plan, _ = _apply_and_rerun(cli, root, run_args, (*run_args, "--accept", "live"))
    assert _hashes(root) != before_hashes  # git apply did change them (the fix run before it did not)
    _assert_resolved(before, after, plan)
    _assert_surgical(root, originals, plan)  # acceptance 2 on the user's heavily commented files
    gone = set(before) - set(after)
    assert {"shop/qemu/pve/290/unregistered", "shop/lxc/pve/291/unregistered"} <= gone
    assert {a for a in gone if a.endswith(("/drifted/cpu_cores", "/drifted/memory_mb", "/drifted/name"))}
    assert any(a.endswith("/uptime/unregistered") for a in gone)
    lifecycle = parse_yaml((root / "ops/bindings/vm.lifecycle.yaml").read_text(), "vm.lifecycle.yaml")
    new = {e.get("id", e.get("vmid")): e for e in lifecycle["vms"] if e.get("id", e.get("vmid")) in (290, 291)}
    assert new[290]["hostname"] == "new-app" and new[290]["lan_ip"] == "192.168.1.90"  # not the Tailscale one
    assert "proxmox_host" not in new[290]  # the file's defaults: say pve
    assert new[291]["status"] == "stopped" and new[291]["vm_type"] == "lxc"


# ── acceptance 2: every untouched line stays byte for byte ──────────────────


def _assert_surgical(root: Path, originals: dict[str, bytes], plan: dict) -> None:
    """Only the lines the plan names changed; every other line, comment and blank line is byte-identical."""
    replaced = {(e["file"], e["line"]): e for e in plan["edits"] if e["old"] is not None}
    for rel, old_bytes in originals.items():
        old = old_bytes.decode().splitlines(keepends=True)
        new = (root / rel).read_bytes().decode().splitlines(keepends=True)
        if rel not in {e["file"] for e in plan["edits"]}:
            assert old == new, rel
            continue
        matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            assert tag != "delete", (rel, old[i1:i2])
            if tag == "replace":
                for number in range(i1 + 1, i2 + 1):
                    assert (rel, number) in replaced, (rel, number, old[number - 1])
                    line = old[number - 1]
                    assert line.strip() and not line.strip().startswith("#")  # never a comment or blank line
                    if " #" in line:  # a trailing comment stays, with the spaces before it
                        comment = line[line.rindex(" #"):].lstrip(" ")
                        assert any(n.endswith(comment) for n in new[j1:j2]), (line, new[j1:j2])
        # every comment and blank line is still there, byte for byte and in order (new lines may sit between)
        kept = [line for line in old if not line.strip() or line.strip().startswith("#")]
        rest = iter(new)
        assert all(any(line == candidate for candidate in rest) for line in kept), rel
        unchanged = [line for number, line in enumerate(old, 1) if (rel, number) not in replaced]
        rest = iter(new)
        assert all(any(line == candidate for candidate in rest) for line in unchanged), rel


@needs_git
def test_comments_blank_lines_and_untouched_lines_are_byte_identical(cli, packaged_demo, tmp_path):
    root, sites = _demo_copy(tmp_path)
    originals = {rel: (root / rel).read_bytes() for rel in _hashes(root)}
    code, plan = _fix_json(cli, "--sites-dir", sites, "--site", "copy", "--accept", "live")
    assert code == 1
    patch = tmp_path / "fix.patch"
    patch.write_text(plan["diff"])
    assert _git(root, "apply", str(patch)).returncode == 0
    _assert_surgical(root, originals, plan)


# ── acceptance 3: hostile live values ───────────────────────────────────────

HOSTILE = ["x\n  status: active", "a: b # c", "{x}", "'q\"", "*alias", "&anchor", "héllo-wörld", "null", "123",
           "- item", "tab\there", "yes", "~", "x" * 10_000]


def _hostile_estate(tmp_path: Path, mode: str, naming: bool = False) -> tuple[Path, Path]:
    """Guests 100+i declared as plain-i and live under the hostile names (mode drift), or live as 200+i under
    them, undeclared (mode new): one estate each, since two guests of one name are a finding of their own."""
    root = tmp_path / "bindings"
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    lifecycle.parent.mkdir(parents=True)
    lines = ["# hostile names\n", "defaults:\n", "  proxmox_host: alpha\n", "\n", "vms:\n"]
    for index in range(len(HOSTILE)):
        lines += [f"  - id: {100 + index}   # named one day\n", f"    hostname: 'plain-{index}'  # keep me\n",
                  "    status: active\n", "\n"]
    lifecycle.write_text("".join(lines))
    guests = [LiveGuest("alpha", "pve", 100 + i, GuestType.QEMU, name if mode == "drift" else f"plain-{i}",
                        "running") for i, name in enumerate(HOSTILE)]
    if mode == "new":
        guests += [LiveGuest("alpha", "pve", 200 + i, GuestType.QEMU, name, "running")
                   for i, name in enumerate(HOSTILE)]
    state = LiveState(proxmox=(ProxmoxObservation("alpha", "lab", listed=True, guests=tuple(guests),
                                                  audit=AuditScope(known=True, everything=True)),))
    (tmp_path / "live.json").write_text(dump_snapshot(state, ["lab"]))
    sites = tmp_path / "sites"
    sites.mkdir()
    # the naming rules would (rightly) flag these names, and fix refuses a patch that makes a new finding
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {root}\nproxmox: []\nproxmox_hosts: [alpha]\n"
                                    f"live_snapshot: {tmp_path / 'live.json'}\n" + ("" if naming else "rules:\n"
                                    "  governance-naming: {enabled: false}\n"
                                    "  governance-placeholders: {enabled: false}\n"))
    return root, sites


@pytest.mark.parametrize("mode", ["drift", "new"])
def test_hostile_live_names_are_quoted_scalars_or_refused(cli, tmp_path, mode):
    root, sites = _hostile_estate(tmp_path, mode)
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    before = lifecycle.read_bytes()
    code, plan = _fix_json(cli, "--sites-dir", sites, "--site", "lab", "--accept", "live")
    assert code == 1
    assert lifecycle.read_bytes() == before
    patched = tmp_path / "patched.yaml"
    from reconciler.fix.patch import Edit, apply

    patched.write_text(apply(before.decode(), [Edit(**{k: e[k] for k in ("file", "line", "old", "new")},
                                                    finding=e["finding"]) for e in plan["edits"]]))
    data = parse_yaml(patched.read_text(), "patched.yaml")
    assert yaml.safe_load(patched.read_text()) == json.loads(json.dumps(data))  # PyYAML itself agrees
    by_id = {e["id"]: e for e in data["vms"]}
    refused = {n["address"] for n in plan["not_fixed"] if n["reason"].startswith("refused:")}
    for index, name in enumerate(HOSTILE):
        vmid = (100 if mode == "drift" else 200) + index
        for address in [f"lab/qemu/alpha/{vmid}/drifted/name" if mode == "drift"
                        else f"lab/qemu/alpha/{vmid}/unregistered"]:
            if len(name) > MAX_SCALAR_CHARS:
                assert address in refused
                assert vmid not in by_id or by_id[vmid]["hostname"] == f"plain-{index}"
                continue
            assert address not in refused, address
            entry = by_id[vmid]
            assert entry["hostname"] == name  # exactly the live value: no key, comment or structure added
            assert set(entry) == ({"id", "hostname", "status"}), entry
            assert entry["status"] == "active"
    if mode == "new":  # every hostile new entry but the 10,000-character one
        assert len(data["vms"]) == 2 * len(HOSTILE) - 1
    else:  # the edited lines kept their trailing comment
        for index in range(len(HOSTILE)):
            assert patched.read_text().splitlines()[5 + 4 * index + 1].endswith("  # keep me")


def test_with_the_naming_rules_on_a_hostile_rename_is_refused_for_that_finding_only(cli, tmp_path):
    root, sites = _hostile_estate(tmp_path, "drift", naming=True)
    before = (root / "ops/bindings/vm.lifecycle.yaml").read_text()
    code, plan = _fix_json(cli, "--sites-dir", sites, "--site", "lab", "--accept", "live")
    from reconciler.fix.patch import Edit, apply

    vms = {e["id"]: e for e in parse_yaml(apply(before, [Edit(e["file"], e["line"], e["old"], e["new"], e["finding"])
                                                         for e in plan["edits"]]), "t")["vms"]}
    reasons = {n["address"]: n["reason"] for n in plan["not_fixed"]}
    refused = 0
    for index, name in enumerate(HOSTILE):
        reason = reasons.get(f"lab/qemu/alpha/{100 + index}/drifted/name")
        if reason is None:
            assert vms[100 + index]["hostname"] == name
        else:
            refused += 1
            assert reason.startswith("refused:") and vms[100 + index]["hostname"] == f"plain-{index}"
    assert 0 < refused < len(HOSTILE)  # names the naming rules flag are refused, one finding at a time
    assert code == 1


@pytest.mark.parametrize("value", HOSTILE[:-1])
def test_scalar_reads_back_as_the_value_in_every_style(value):
    for style in ("plain", "single", "double"):
        text = scalar(value, style)
        assert "\n" not in text
        assert yaml.safe_load(f"k: {text}  # c\n") == {"k": value}
        assert parse_yaml(f"k: {text}\n", "t") == {"k": value}


def test_replace_value_keeps_key_spacing_quotes_and_comment():
    assert replace_value("    hostname: 'a'   # note\n", "hostname", "b c") == "    hostname: 'b c'   # note\n"
    assert replace_value("  - id: 1  # x\n", "id", 2) == "  - id: 2  # x\n"
    assert replace_value('    path: "~/x" # y\n', "path", "/srv/x") == '    path: "/srv/x" # y\n'
    assert replace_value("    name: a#b\n", "name", "c") == "    name: c\n"
    for bad in ("    hostname: |\n", "    hostname: [a]\n", "    hostname: 'a\n", "    other: a\n"):
        with pytest.raises(Refused):
            replace_value(bad, "hostname", "b")
    with pytest.raises(Refused):
        scalar("x" * (MAX_SCALAR_CHARS + 1))


# ── acceptance 4: nothing is written; exit codes; the JSON form ─────────────


def test_fix_never_writes_a_binding_file(cli, packaged_demo, tmp_path):
    root = DEMO / "bindings"
    before = _hashes(root)
    assert cli("fix", "--site", "demo", "--accept", "live").code == 1
    assert cli("fix", "--site", "demo", "-f", "json").code == 1
    out = tmp_path / "fix.patch"
    result = cli("fix", "--site", "demo", "-o", out)
    assert result.code == 1 and out.read_text().startswith("diff --git a/")
    inside = root / "ops" / "bindings" / "fix.patch"
    refused = cli("fix", "--site", "demo", "-o", inside)
    assert refused.code == 2 and not inside.exists()
    over = cli("fix", "--site", "demo", "-o", root / "ops/bindings/vm.lifecycle.yaml")
    assert over.code == 2
    assert _hashes(root) == before


def test_exit_codes_and_summary(cli, packaged_demo, tmp_path):
    result = cli("fix", "--site", "demo")
    assert result.code == 1
    assert result.out.startswith("diff --git a/ops/bindings/")
    summary = result.err.strip().splitlines()[-1]
    assert summary.startswith("reconcile fix: ") and " change(s) in 2 file(s)" in summary
    assert "not fixable by editing bindings" in summary
    assert "reconcile: not fixed: demo/qemu/demo-pve/106/missing: not fixable by editing bindings" in result.err
    nothing = cli("fix", "--site", "demo", "demo/*/missing")  # only unfixable findings selected
    assert nothing.code == 0 and nothing.out == ""
    assert cli("fix", "--site", "demo", "no/such/*").code == 0
    assert cli("fix", "--site", "demo", "--accept", "declared").code == 2
    assert cli("fix", "--site", "demo", "-f", "html").code == 2
    assert cli("fix", "--site", "no-such-site").code == 2


def test_patterns_and_the_ignore_file_select_findings(cli, packaged_demo, tmp_path):
    _, plan = _fix_json(cli, "--site", "demo", "demo/lxc/*")
    assert {e["file"] for e in plan["edits"]} == {"ops/bindings/vm.lifecycle.yaml"}
    assert len(plan["fixed"]) == 1
    ignore = tmp_path / "ignore"
    ignore.write_text("demo/lxc/demo-pve/110/*  reason: a scratch container\n")
    _, plan = _fix_json(cli, "--site", "demo", "--ignore", ignore)
    assert "demo/lxc/demo-pve/110/unregistered" not in {n["address"] for n in plan["not_fixed"]}
    assert all("id: 110" not in e["new"] for e in plan["edits"])


def test_json_form_lists_each_edit_beside_the_diff(cli, packaged_demo):
    diff = cli("fix", "--site", "demo", "--accept", "live").out
    code, plan = _fix_json(cli, "--site", "demo", "--accept", "live")
    assert code == 1 and plan["diff"] == diff
    assert {"edits", "fixed", "not_fixed", "follow_ups", "diff", "summary", "bindings_root"} <= set(plan)
    for edit in plan["edits"]:
        assert set(edit) == {"file", "line", "old", "new", "finding"}
        assert edit["finding"] in plan["fixed"]
        text = (DEMO / "bindings" / edit["file"]).read_text().splitlines()
        if edit["old"] is not None:
            assert text[edit["line"] - 1] == edit["old"]
    cpu = next(e for e in plan["edits"] if e["old"] and "cpu_cores: 4" in e["old"])
    assert cpu["new"] == "      cpu_cores: 8" and cpu["line"] == 28


# ── the drift fields one by one ─────────────────────────────────────────────


def test_power_template_placement_and_lan_ip_with_accept_live(cli, tmp_path):
    root = tmp_path / "bindings"
    lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
    lifecycle.parent.mkdir(parents=True)
    lifecycle.write_text(
        "defaults:\n  proxmox_host: alpha\n\nvms:\n"
        "  - id: 100\n    hostname: app-a\n    status: active  # stopped on purpose?\n"
        "  - id: 101\n    hostname: app-b\n    status: template\n"
        "  - id: 103\n    hostname: app-d\n    status: active\n"
        "  - id: 104\n    hostname: app-e\n    status: active\n    lan_ip: \"10.0.0.4\"\n"
        "  - id: 105\n    hostname: app-f\n    status: active\n    lan_ip: 10.0.0.6\n")
    before = lifecycle.read_bytes()
    guests = {"alpha": [LiveGuest("alpha", "n1", 100, GuestType.QEMU, "app-a", "stopped"),
                        LiveGuest("alpha", "n1", 101, GuestType.QEMU, "app-b", "running"),
                        LiveGuest("alpha", "n1", 104, GuestType.QEMU, "app-e", "running",
                                  ips=("10.0.0.5", "100.64.1.1", "fe80::1")),
                        LiveGuest("alpha", "n1", 105, GuestType.QEMU, "app-f", "running",
                                  ips=("10.0.0.7", "10.0.1.7"))],
              "beta": [LiveGuest("beta", "n2", 103, GuestType.QEMU, "app-d", "running")]}
    state = LiveState(proxmox=tuple(ProxmoxObservation(host, "lab", listed=True, guests=tuple(found),
                                                       audit=AuditScope(known=True, everything=True))
                                    for host, found in guests.items()))
    (tmp_path / "live.json").write_text(dump_snapshot(state, ["lab"]))
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {root}\nproxmox: []\nproxmox_hosts: [alpha, beta]\n"
                                    f"live_snapshot: {tmp_path / 'live.json'}\n")
    code, plan = _fix_json(cli, "--sites-dir", sites, "--site", "lab", "--accept", "live")
    assert code == 1 and lifecycle.read_bytes() == before
    new = {(e["line"], e["old"]): e["new"] for e in plan["edits"]}
    assert new[(7, "    status: active  # stopped on purpose?")] == "    status: stopped  # stopped on purpose?"
    assert new[(10, "    status: template")] == "    status: active"
    assert new[(11, None)] == "    proxmox_host: beta"  # the entry took its host from defaults: now its own
    assert new[(17, '    lan_ip: "10.0.0.4"')] == '    lan_ip: "10.0.0.5"'  # the one private IPv4, quotes kept
    reasons = {n["address"]: n["reason"] for n in plan["not_fixed"]}
    assert "choose one by hand" in reasons["lab/qemu/alpha/105/drifted/lan_ip"]
    from reconciler.fix.patch import Edit, apply

    patched = apply(before.decode(), [Edit(e["file"], e["line"], e["old"], e["new"], e["finding"])
                                      for e in plan["edits"]])
    vms = {e["id"]: e for e in parse_yaml(patched, "t")["vms"]}
    assert vms[103] == {"id": 103, "hostname": "app-d", "proxmox_host": "beta", "status": "active"}
    assert vms[100]["status"] == "stopped" and vms[101]["status"] == "active" and vms[104]["lan_ip"] == "10.0.0.5"


# ── against a Proxmox API (fake, over HTTPS on 127.0.0.1) ───────────────────


def test_fix_against_the_api_takes_one_snapshot_and_patches(cli, tmp_path, monkeypatch):
    from contextlib import ExitStack

    from tests.test_e2e_proxmox import CLEAN_ALPHA, CLEAN_BETA, SECRET, SECRET_ENV, start, write_estate

    monkeypatch.setenv(SECRET_ENV, SECRET)
    alpha = {**CLEAN_ALPHA, "guests": [*CLEAN_ALPHA["guests"],
                                       {"vmid": 150, "name": "fresh", "cores": 2, "memory_mb": 1024,
                                        "ips": ["10.9.0.50"]}]}
    with ExitStack() as stack:
        servers = {"alpha": start(stack, alpha), "beta": start(stack, CLEAN_BETA)}
        estate = write_estate(tmp_path, servers)
        before = estate.lifecycle.read_bytes()
        result = cli("fix", "--sites-dir", estate.sites, "--site", "lab")
    assert result.code == 1, result.err
    assert estate.lifecycle.read_bytes() == before
    assert "+  - id: 150\n+    hostname: fresh\n+    status: active\n+    lan_ip: 10.9.0.50\n" in result.out
    assert "+      cpu_cores: 2\n+      memory_mb: 1024\n" in result.out


def test_fix_against_an_api_that_refuses_the_token_is_exit_2_without_a_patch(cli, tmp_path, monkeypatch):
    from contextlib import ExitStack

    from tests.test_e2e_proxmox import CLEAN_ALPHA, CLEAN_BETA, SECRET_ENV, start, write_estate

    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    with ExitStack() as stack:
        estate = write_estate(tmp_path, {"alpha": start(stack, CLEAN_ALPHA), "beta": start(stack, CLEAN_BETA)})
        result = cli("fix", "--sites-dir", estate.sites, "--site", "lab")
    assert result.code == 2 and result.out == ""
    assert "reconcile: error: " in result.err
