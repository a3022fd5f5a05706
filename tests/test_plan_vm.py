"""`reconcile plan-vm`: the dry run before a VM is cloned, and `--verify` after it.

Two sites (shop, home) on copies of the user's real 2026-02-20 bindings, each with its own fake Proxmox API
over real HTTPS on 127.0.0.1. Every collision kind is shown to fail on its own (the other checks still pass),
the stubs are pasted into copies of the real files and must make `--verify` pass against a matching live VM
(docker over a loopback sshd), and the bindings are never written (sha256 before and after).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.bindings.governance import load_governance
from reconciler.config import load_site
from reconciler.plan.layout import read_layout
from reconciler.plan.stubs import scalar as stub_scalar
from tests.fakes.pve_server import GIB, FakePVE, Guest

TOKEN_ID = "audit@pve!planner"
SECRET = "pl4n-vm-70k3n-0000-1111-222222222222"
REAL = "2026-02-20"

# Shop: the clone source, one declared VM, one undeclared VM holding a LAN address; a second node is offline.
SHOP: dict[str, Any] = {
    "nodes": [{"name": "pve", "maxcpu": 16, "maxmem": 64 * GIB}, {"name": "pve2", "status": "offline"}],
    "guests": [
        {"vmid": 9000, "name": "ubuntu-2404-cloudinit-template", "status": "stopped", "template": True},
        {"vmid": 204, "name": "infra-core", "cores": 4, "memory_mb": 8192, "disk_gb": 50,
         "ips": ["192.168.1.204", "100.92.91.128"]},
        {"vmid": 216, "name": "scratch", "cores": 2, "memory_mb": 2048, "ips": ["192.168.1.77"]},
    ],
}
# Home: its PVE node is also called "pve"; an undeclared VM uses a VMID of the shop's range; the declared
# LXC 105 (pihole-home) is missing.
HOME: dict[str, Any] = {
    "nodes": [{"name": "pve", "maxcpu": 8, "maxmem": 32 * GIB}],
    "guests": [
        {"vmid": 100, "name": "homeassistant", "cores": 2, "memory_mb": 4096, "ips": ["10.0.0.100"]},
        {"vmid": 215, "name": "stray", "ips": ["10.0.0.215"]},
    ],
}
# A guest nothing uses: the free case, and the base every collision case changes one thing of.
FREE = ("--site", "shop", "--vmid", "217", "--hostname", "mail-archiver", "--lan-ip", "192.168.1.217",
        "--tailscale-ip", "100.64.2.17", "--stacks", "mail-archiver")


@dataclass
class Lab:
    sites: Path
    root: Path  # the copied bindings
    servers: dict[str, FakePVE]


def copy_bindings(ref_data: Path, into: Path) -> Path:
    root = into / "spine"
    shutil.copytree(ref_data / "spine-bindings" / REAL, root)
    return root


def write_sites(base: Path, root: Path, servers: dict[str, FakePVE], shop_extra: str = "") -> Path:
    secret = base / "token.secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    sites = base / "sites"
    sites.mkdir()
    for site, host in (("shop", "pve"), ("home", "proxmox-home")):
        srv = servers[host]
        (sites / f"{site}.yaml").write_text(textwrap.dedent(f"""\
            site: {site}
            bindings_root: {root}
            proxmox:
              - name: {host}
                url: {srv.url}
                token_id: "{TOKEN_ID}"
                token_secret_file: {secret}
                ca_file: {srv.cert_path}
                timeout_s: 5
            """) + (shop_extra if site == "shop" else ""))
    return sites


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, ref_data: Path) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("plan-vm")
    root = copy_bindings(ref_data, base)
    with ExitStack() as stack:
        servers = {host: stack.enter_context(FakePVE(estate, token_id=TOKEN_ID, secret=SECRET))
                   for host, estate in (("pve", SHOP), ("proxmox-home", HOME))}
        yield Lab(write_sites(base, root, servers), root, servers)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def plan(cli: Any, lab: Lab, *args: str | Path) -> tuple[int, dict[str, Any]]:
    result = cli("plan-vm", "--sites-dir", lab.sites, "-f", "json", *args)
    assert "Traceback" not in result.err, result.err
    assert result.out, result.err
    return result.code, json.loads(result.out)


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["result"] for c in report["checks"]}


def check(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


# ── a free guest ─────────────────────────────────────────────────────────────


def test_free_guest_passes_every_check_and_prints_every_stub(cli, lab: Lab) -> None:
    code, report = plan(cli, lab, *FREE)
    assert code == 0 and report["verdict"] == "safe", [c for c in report["checks"] if c["result"] != "pass"]
    assert set(outcomes(report).values()) == {"pass"}
    # every check the issue asks for was made, against both sites' live data
    for needed in ("vmid.range", "vmid.declared", "vmid.live", "hostname.naming", "hostname.declared",
                   "hostname.live", "lan_ip.declared", "lan_ip.live", "tailscale_ip.declared", "tailscale_ip.live",
                   "placement.node", "placement.memory", "placement.cpu", "placement.storage", "clone.template"):
        assert needed in outcomes(report)
    assert report["live_from"] == {"shop": "api", "home": "api"}
    assert "proxmox-home" in check(report, "vmid.live")["reason"]
    request = report["request"]
    assert (request["cores"], request["memory_mb"], request["disk_gb"], request["template_vmid"]) == (4, 8192, 50, 9000)
    assert request["node"] == "pve" and "clone source" in request["origins"]["node"]
    files = [s["file"] for s in report["register"]]
    assert files == ["ops/bindings/vm.lifecycle.yaml", "ops/bindings/ssh.targets.yaml",
                     "ops/bindings/docker.compose.targets.yaml", "ops/bindings/services.health.yaml",
                     "ops/bindings/backup.inventory.yaml", "docs/governance/SERVICE_REGISTRY.yaml",
                     "docs/governance/STACK_REGISTRY.yaml"]
    stubs = {s["file"]: s["stub"] for s in report["register"]}
    # each in its file's own schema
    assert stubs["ops/bindings/vm.lifecycle.yaml"].startswith("  - id: 217\n")
    assert "    status: planning" in stubs["ops/bindings/vm.lifecycle.yaml"]
    assert '    - id: "mail-archiver"\n      host: "100.64.2.17"' in stubs["ops/bindings/ssh.targets.yaml"]
    assert 'glob: "vzdump-qemu-217-*.vma.zst"' in stubs["ops/bindings/backup.inventory.yaml"]
    assert "  mail-archiver:\n    tailscale_ip: 100.64.2.17" in stubs["docs/governance/SERVICE_REGISTRY.yaml"]
    registry = next(s for s in report["register"] if s["file_key"] == "service_registry")
    assert registry["append"] is False  # `hosts:` is followed by `infisical_projects:` in the real file

    table = cli("plan-vm", "--sites-dir", lab.sites, *FREE)
    assert table.code == 0
    assert "REGISTER" in table.out and "  - id: 217" in table.out
    assert table.out.rstrip().splitlines()[-1].startswith("SAFE to create: qemu 217 'mail-archiver' on shop")
    markdown = cli("plan-vm", "--sites-dir", lab.sites, *FREE, "-f", "markdown")
    assert markdown.code == 0 and "| pass | `vmid.live` |" in markdown.out and "```yaml" in markdown.out


# ── each collision kind, on its own ──────────────────────────────────────────


def with_args(**changes: str) -> list[str]:
    args = list(FREE)
    for flag, value in changes.items():
        option = "--" + flag.replace("_", "-")
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    return args


COLLISIONS = [
    pytest.param(with_args(vmid="213"), {"vmid.declared"}, ["already declared", "mint-apps", "vm.lifecycle.yaml:"],
                 id="declared-vmid"),
    pytest.param(with_args(vmid="216"), {"vmid.live"}, ["live on this site's host", "'scratch'"],
                 id="vmid-live-this-site"),
    pytest.param(with_args(vmid="215"), {"vmid.live"}, ["live on another site", "proxmox-home"],
                 id="vmid-live-other-site"),
    pytest.param(with_args(vmid="150"), {"vmid.range"}, ["outside site shop's range 200-299"], id="out-of-range"),
    pytest.param(with_args(hostname="Mail_Archiver"), {"hostname.naming"}, ["not lowercase", "underscore"],
                 id="bad-name"),
    pytest.param(with_args(hostname="mail-archiver-and-more-x"), {"hostname.naming"}, ["more than 20"],
                 id="name-too-long"),
    pytest.param(with_args(hostname="observability"), {"hostname.declared"},
                 ["already used", "ssh target id"], id="hostname-declared"),
    pytest.param(with_args(hostname="scratch"), {"hostname.live"}, ["already has this name", "216"],
                 id="hostname-live"),
    pytest.param(with_args(lan_ip="192.168.1.211"), {"lan_ip.declared"}, ["finance-stack"], id="duplicate-ip"),
    pytest.param(with_args(tailscale_ip="100.96.211.33"), {"tailscale_ip.declared"}, ["ssh target 'pve'"],
                 id="ip-of-an-ssh-target"),
    pytest.param(with_args(lan_ip="192.168.1.77"), {"lan_ip.live"}, ["in use by", "'scratch'"], id="ip-seen-live"),
    pytest.param(with_args(node="pve2"), {"placement.node"}, ["node pve2", "offline"], id="node-offline"),
    pytest.param(with_args(node="pve9"), {"placement.node"}, ["no node 'pve9'"], id="node-unknown"),
    pytest.param(with_args(memory_mb="60000"), {"placement.memory"}, ["needs 60000 MB", "free of 65536 MB"],
                 id="not-enough-memory"),
    pytest.param(with_args(disk_gb="1000"), {"placement.storage"}, ["needs 1000 GB", "local-lvm"],
                 id="not-enough-storage"),
    pytest.param(with_args(cores="32"), {"placement.cpu"}, ["more than node pve's 16 CPUs"], id="too-many-cores"),
    pytest.param(["--site", "home", "--vmid", "110", "--hostname", "home-tools", "--lan-ip", "10.0.0.110"],
                 {"clone.template"}, ["does not exist on proxmox-home", "it is on pve"], id="missing-template"),
]


@pytest.mark.parametrize(("args", "failing", "said"), COLLISIONS)
def test_each_collision_blocks_the_plan_with_its_reason(cli, lab: Lab, args: list[str], failing: set[str],
                                                        said: list[str]) -> None:
    code, report = plan(cli, lab, *args)
    failed = {c["id"] for c in report["checks"] if c["result"] == "fail"}
    assert failed == failing, [c for c in report["checks"] if c["result"] == "fail"]
    reason = check(report, sorted(failing)[0])["reason"]
    for fragment in said:
        assert fragment in reason, reason
    assert check(report, sorted(failing)[0])["hint"]
    assert code == 1 and report["verdict"] == "blocked" and report["exit_code"] == 1
    assert report["register"], "the stubs are shown even for a blocked plan"


def test_retired_vmid_and_name_are_warnings_not_silent_reuse(cli, lab: Lab) -> None:
    code, report = plan(cli, lab, *with_args(vmid="201", hostname="vault"))
    assert code == 0 and report["verdict"] == "safe"
    vmid, name = check(report, "vmid.declared"), check(report, "hostname.declared")
    assert vmid["result"] == "warn" and "media-stack" in vmid["reason"] and "decommissioned" in vmid["reason"]
    assert "replace the entry at ops/bindings/vm.lifecycle.yaml:" in vmid["hint"]
    assert name["result"] == "warn" and "vaultwarden" in name["reason"]


def test_offline_snapshot_still_finds_collisions_and_says_capacity_is_unknown(cli, lab: Lab, tmp_path: Path) -> None:
    snap = tmp_path / "estate.json"
    taken = cli("snapshot", "--sites-dir", lab.sites, "--site", "shop", "--site", "home", "-o", snap)
    assert taken.code == 0, taken.err
    before = {host: srv.count() for host, srv in lab.servers.items()}
    code, report = plan(cli, lab, *with_args(vmid="215"), "--live", snap)
    assert {host: srv.count() for host, srv in lab.servers.items()} == before, "offline means no API request"
    assert check(report, "vmid.live")["result"] == "fail" and "proxmox-home" in check(report, "vmid.live")["reason"]
    assert check(report, "placement.memory")["result"] == "warn"
    assert "not part of snapshot" in check(report, "placement.storage")["reason"]
    assert report["live_from"] == {"shop": str(snap), "home": str(snap)}
    assert code == 1


def test_from_file_gives_the_same_fields_and_flags_win(cli, lab: Lab, tmp_path: Path) -> None:
    request = tmp_path / "request.yaml"
    request.write_text("site: shop\nvmid: 218\nhostname: ledger\ntype: qemu\nprofile: spine-ready-v1\n"
                       "resources:\n  memory_mb: 4096\nlan_ip: 192.168.1.218\ntailscale_ip: 100.64.2.18\n"
                       "stacks: [ledger]\n")
    code, report = plan(cli, lab, "--from", request, "--cores", "2")
    assert code == 0, [c for c in report["checks"] if c["result"] != "pass"]
    req = report["request"]
    assert (req["vmid"], req["hostname"], req["memory_mb"], req["cores"], req["stacks"]) == (218, "ledger", 4096, 2,
                                                                                          ["ledger"])
    assert req["origins"]["memory_mb"] == f"{request}:7" and req["origins"]["cores"] == "--cores"
    request.write_text("site: shop\nvmid: 218\nhostnme: ledger\n")
    bad = cli("plan-vm", "--sites-dir", lab.sites, "--from", request)
    assert bad.code == 2 and f"{request}:3: unknown key 'hostnme' (did you mean 'hostname'?)" in bad.err
    assert "Traceback" not in bad.err


def test_bad_input_is_one_line_exit_2(cli, lab: Lab) -> None:
    result = cli("plan-vm", "--sites-dir", lab.sites, *with_args(lan_ip="192.168.1.300"))
    assert result.code == 2 and "--lan-ip: '192.168.1.300' is not an IP address" in result.err
    result = cli("plan-vm", "--sites-dir", lab.sites, "--site", "shop", "--hostname", "x")
    assert result.code == 2 and "needs --vmid" in result.err


def test_lxc_at_home_gets_home_names_and_the_lxc_backup_glob(cli, lab: Lab) -> None:
    code, report = plan(cli, lab, "--site", "home", "--vmid", "120", "--hostname", "dns-two", "--type", "lxc",
                        "--cores", "1", "--memory-mb", "512", "--disk-gb", "8", "--lan-ip", "10.0.0.120")
    assert code == 0, [c for c in report["checks"] if c["result"] == "fail"]
    # no profile for an LXC: no clone source and no storage to check, said as warnings
    assert {c["id"] for c in report["checks"] if c["result"] == "warn"} == {"profile", "placement.storage",
                                                                             "clone.template"}
    stubs = {s["file_key"]: s["stub"] for s in report["register"]}
    assert "    vm_type: lxc\n" in stubs["vm_lifecycle"]
    # the home host's own conventions: name prefix, dump folder and extension of its LXC targets
    assert "  - name: home-lxc-120-dns-two-primary\n" in stubs["backup_inventory"]
    assert 'glob: "vzdump-lxc-120-*.tar.zst"' in stubs["backup_inventory"]
    assert 'base_path: "/mnt/pve/synology-backups/dump"' in stubs["backup_inventory"]
    # the registry covers the shop only (the user's scope decision): no registry stub at home
    assert "service_registry" not in stubs and "services_health" not in stubs


def test_lifecycle_stub_follows_the_older_schema_of_its_file(cli, lab: Lab, ref_data: Path, tmp_path: Path) -> None:
    older = tmp_path / "spine-2026-02-12"
    shutil.copytree(ref_data / "spine-bindings" / "2026-02-12", older)
    code, report = plan(cli, lab, *FREE, "--bindings", older)
    assert code == 0, [c for c in report["checks"] if c["result"] == "fail"]
    lifecycle = next(s["stub"] for s in report["register"] if s["file_key"] == "vm_lifecycle")
    assert lifecycle.startswith("  - vmid: 217\n") and "\n    notes: " in lifecycle and "description:" not in lifecycle


def test_a_refused_token_at_the_other_site_is_an_error(cli, lab: Lab, tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    shutil.copytree(lab.sites, sites)
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-secret")
    wrong.chmod(0o600)
    home = sites / "home.yaml"
    home.write_text(home.read_text().replace(str(lab.sites.parent / "token.secret"), str(wrong)))
    result = cli("plan-vm", "--sites-dir", sites, *FREE, "-f", "json")
    assert result.code == 2
    assert "reconcile: error: site home: Proxmox host proxmox-home: 401" in result.err
    report = json.loads(result.out)
    assert report["verdict"] == "error" and check(report, "vmid.live")["result"] == "warn"


# ── never writes into the bindings ───────────────────────────────────────────


def test_nothing_is_ever_written_into_the_bindings(cli, lab: Lab, tmp_path: Path) -> None:
    before = digests(lab.root)
    fresh = tmp_path / "stubs-217"
    result = cli("plan-vm", "--sites-dir", lab.sites, *FREE, "--write-stubs", fresh)
    assert result.code == 0, result.err
    written = sorted(p.name for p in fresh.iterdir())
    assert written == ["SERVICE_REGISTRY.yaml.stub", "STACK_REGISTRY.yaml.stub", "backup.inventory.yaml.stub",
                       "docker.compose.targets.yaml.stub", "plan.md", "services.health.yaml.stub",
                       "ssh.targets.yaml.stub", "vm.lifecycle.yaml.stub"]
    assert (fresh / "SERVICE_REGISTRY.yaml.stub").read_text().startswith(
        "# docs/governance/SERVICE_REGISTRY.yaml: insert after line ")
    # refused: a directory that holds files, any directory inside the bindings root, -o onto a binding file
    again = cli("plan-vm", "--sites-dir", lab.sites, *FREE, "--write-stubs", fresh)
    assert again.code == 2 and "not empty" in again.err
    for inside in (lab.root / "ops" / "bindings" / "new-stubs", lab.root):
        refused = cli("plan-vm", "--sites-dir", lab.sites, *FREE, "--write-stubs", inside)
        assert refused.code == 2 and "inside the bindings root" in refused.err, refused.err
        assert not (lab.root / "ops" / "bindings" / "new-stubs").exists()
    over = cli("plan-vm", "--sites-dir", lab.sites, *FREE, "-o", lab.root / "ops/bindings/vm.lifecycle.yaml")
    assert over.code == 2 and "refusing to write into the bindings" in over.err
    assert digests(lab.root) == before


# ── after the clone: --verify, and the round trip ────────────────────────────


def paste(root: Path, register: list[dict[str, Any]]) -> None:
    """Put every stub where the plan says: after its line, or at the end of the file."""
    for stub in register:
        path = root / stub["file"]
        lines = path.read_text().splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        at = len(lines) if stub["append"] else stub["insert_after_line"]
        lines[at:at] = [stub["stub"]]
        path.write_text("".join(lines))


ROUND_TRIP = ("--site", "shop", "--vmid", "214", "--hostname", "mail-archiver", "--lan-ip", "192.168.1.214",
              "--tailscale-ip", "100.64.2.14", "--stacks", "mail-archiver", "--health-url", "http://100.64.2.14:5100/")


@pytest.mark.sshd
def test_round_trip_stubs_load_cleanly_and_verify_passes(cli, ref_data: Path, sshd_factory, tmp_path: Path) -> None:
    docker = sshd_factory()
    stack_dir = "/opt/stacks/mail-archiver"
    docker.configure(
        ls=json.dumps([{"Name": "mail-archiver", "Status": "running(2)", "ConfigFiles": f"{stack_dir}/compose.yaml"}]),
        ps="".join(json.dumps({"ID": f"{i:064x}", "Names": name, "Image": "img", "State": "running", "Status": "Up",
                               "Project": "mail-archiver", "Service": name, "WorkingDir": stack_dir,
                               "ConfigFiles": f"{stack_dir}/compose.yaml", "OneOff": "False", "Number": "1"}) + "\n"
                   for i, name in enumerate(("mail-archiver", "mail-archiver-db"), 1)))
    known = tmp_path / "known_hosts"
    known.write_text(docker.known_hosts_line())
    ssh = textwrap.dedent(f"""\
        ssh:
          known_hosts: {known}
          identity_file: {docker.client_key}
          use_agent: false
          connect_timeout_s: 5
          command_timeout_s: 15
          overrides:
            mail-archiver: {{host: 127.0.0.1, port: {docker.port}, user: {docker.user}}}
        """)
    root = copy_bindings(ref_data, tmp_path)
    with ExitStack() as stack:
        servers = {host: stack.enter_context(FakePVE(estate, token_id=TOKEN_ID, secret=SECRET))
                   for host, estate in (("pve", SHOP), ("proxmox-home", HOME))}
        lab = Lab(write_sites(tmp_path, root, servers, shop_extra=ssh), root, servers)
        code, report = plan(cli, lab, *ROUND_TRIP)
        assert code == 0, [c for c in report["checks"] if c["result"] != "pass"]
        assert not any("PENDING" in s["stub"] for s in report["register"]), report["register"]
        paste(root, report["register"])

        # the pasted entries load cleanly: no invalid finding, and no governance finding about the new guest
        bindings = load_governance(load_site(lab.sites / "shop.yaml"))
        assert [p.message for p in bindings.problems if "214" in p.message or "mail-archiver" in p.message] == []
        guest = next(g for g in bindings.lifecycle.guests if g.vmid == 214)
        assert (guest.hostname, guest.status.value, guest.ssh_target, guest.stacks) == (
            "mail-archiver", "planning", "mail-archiver", ("mail-archiver",))

        # PROVISION: the clone exists on the shop's API, as planned
        servers["pve"].estate.guests.append(Guest(214, name="mail-archiver", maxcpu=4, maxmem=8192 * 1024 * 1024,
                                                  maxdisk=50 * GIB, ips=("192.168.1.214", "100.64.2.14")))
        verify = cli("plan-vm", "--sites-dir", lab.sites, "--site", "shop", "--verify", "214", "-f", "json")
        still_planning = json.loads(verify.out)
        assert verify.code == 1 and still_planning["verdict"] == "not_governed"
        assert check(still_planning, "status")["result"] == "fail"

        # REGISTER: the lifecycle status moves on; VALIDATE: every surface and the live VM agree
        lifecycle = root / "ops/bindings/vm.lifecycle.yaml"
        lifecycle.write_text(lifecycle.read_text().replace("status: planning  #", "status: registered  #"))
        verify = cli("plan-vm", "--sites-dir", lab.sites, "--site", "shop", "--verify", "214", "-f", "json")
        result = json.loads(verify.out)
        assert [c for c in result["checks"] if c["result"] != "pass"] == []
        assert verify.code == 0 and result["verdict"] == "governed"
        assert {"declared", "status", "live", "ssh", "registry", "backup", "health", "compose", "stacks"} <= \
            set(outcomes(result))
        assert "running on mail-archiver" in check(result, "stacks")["reason"]
        assert docker.commands(), "the guest's docker host was asked over SSH"

        # the full governance check has nothing to say about the new guest either
        full = cli("check", "--sites-dir", lab.sites, "--site", "shop", "-f", "json")
        about = [f for f in json.loads(full.out)["findings"]
                 if f["subject"].get("vmid") == 214 or "mail-archiver" in f["message"]]
        assert about == []


def test_verify_tells_missing_from_unobserved_and_undeclared(cli, lab: Lab) -> None:
    # home LXC 105 (pihole-home) is declared active, and the home API answers without it: missing
    missing = cli("plan-vm", "--sites-dir", lab.sites, "--site", "home", "--verify", "105", "-f", "json")
    result = json.loads(missing.out)
    assert missing.code == 1 and result["verdict"] == "not_governed"
    assert outcomes(result)["live.missing"] == "fail", result["checks"]
    assert outcomes(result)["registry"] == "pass" and "n.a." in check(result, "registry")["reason"]
    # shop 213 is absent too, but a shop node is offline: it could be there, so not verified (exit 3)
    unobserved = cli("plan-vm", "--sites-dir", lab.sites, "--site", "shop", "--verify", "213", "--skip-ssh",
                     "-f", "json")
    result = json.loads(unobserved.out)
    assert unobserved.code == 3 and result["verdict"] == "not_verified"
    assert outcomes(result)["live.unknown"] == "warn" and "pve2" in check(result, "live.unknown")["reason"]
    unknown = cli("plan-vm", "--sites-dir", lab.sites, "--site", "shop", "--verify", "299")
    assert unknown.code == 1 and "299 is not declared" in unknown.out


# ── where a stub goes ────────────────────────────────────────────────────────


def test_layout_finds_the_end_of_a_nested_collection_and_opens_missing_keys(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text("services:\n  a: {}\nhosts:\n  one:\n    vmid: 1\n    notes: >\n      long\n\n"
                        "# trailing comment\nother: 1\n")
    layout = read_layout(registry, ("hosts",))
    assert (layout.insert_after_line, layout.at_end, layout.indent) == (7, False, 2)
    missing = read_layout(registry, ("ssh", "targets"))
    assert (missing.insert_after_line, missing.missing, missing.indent) == (None, ("ssh", "targets"), 0)


def test_a_blocked_plan_leads_with_its_verdict_and_holds_its_stubs_back(cli) -> None:
    blocked = cli("plan-vm", "--site", "demo", "--vmid", "101", "--hostname", "x")
    lines = blocked.out.splitlines()
    assert blocked.code == 1 and lines[4].startswith("BLOCKED: ")  # before any check
    assert "REGISTER:" not in blocked.out and "--stubs shows them" in blocked.out
    shown = cli("plan-vm", "--site", "demo", "--vmid", "101", "--hostname", "x", "--stubs")
    assert "REGISTER: after the clone" in shown.out and shown.code == 1
    safe = cli("plan-vm", "--site", "demo", "--vmid", "150", "--hostname", "newvm")
    assert safe.out.splitlines()[4].startswith("SAFE to create") and "REGISTER: after the clone" in safe.out


def test_a_warn_check_does_not_say_warning_twice(cli) -> None:
    out = cli("plan-vm", "--site", "demo", "--verify", "107").out
    line = next(line for line in out.splitlines() if line.startswith("WARN  live.lan_ip"))
    assert "warning:" not in line and "QEMU guest agent is not running" in line


@pytest.mark.parametrize("text", ["two\nlines", "tab\tinside", "bell\x07", 'both "quotes" and \\', "é ü",
                                  "line\u2028sep"])
def test_a_stub_scalar_reads_back_as_exactly_its_text(text: str) -> None:
    """Stub values go through the one quoting `reconcile fix` uses (reconciler/yamlscalar.py): a control
    character is escaped, never left raw inside the quotes where YAML would fold it."""
    for forced in (False, True):
        assert yaml.safe_load(f"key: {stub_scalar(text, forced)}\n") == {"key": text}
