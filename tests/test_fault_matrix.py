"""The fault matrix: one full `reconcile --site lab` run per fault, against real loopback servers.

The estate: two fake Proxmox APIs over HTTPS (alpha: five guests on two nodes, beta: one guest) and two loopback
OpenSSH hosts with a fake docker (apps, media), all declared in a bindings folder the run checks in full (guests
and stacks; the governance rules are switched off in the site file: they read files only and have their own
tests). The clean estate reports nothing and exits 0. Each case injects one fault (or two) and asserts:

(a) the run finishes: an exit code, a JSON report, no traceback;
(b) exactly the affected guests, addresses, hosts and stacks are `unknown`, each with the expected reason code;
(c) every other source is fully reported: same status and detail as in the clean run, and nothing about it;
(d) no `missing` (nor any other drift) for anything: nothing was observed to be absent;
(e) the exit code: 3 (not everything observed), 2 when the fault is fatal (a refused token, a bad
    certificate), 1 when the bindings themselves are wrong (an unresolvable docker host).

The secret every fake API accepts is the session's sentinel token, so the session-wide leak check
(tests/conftest.py) covers every run here. A summary table is printed at the end of the test session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import guarantees
from tests.fakes.pve_server import FakePVE
from tests.fakes.sshd import SshServer, closed_port, keygen, silent_port

pytestmark = pytest.mark.sshd

TOKEN_ID = "audit@pve!reconciler"
PVE_TIMEOUT_S = 1
SSH_CONNECT_TIMEOUT_S = 2
SSH_COMMAND_TIMEOUT_S = 3

LIFECYCLE = """\
defaults:
  proxmox_host: alpha
vms:
  - id: 200
    hostname: apps
    status: active
    lan_ip: 10.9.0.10
    ssh_target: apps
    stacks: [web, queue]
  - id: 201
    hostname: media
    vm_type: lxc
    status: active
    lan_ip: 10.9.0.11
    ssh_target: media
    stacks: [jellyfin]
  - id: 202
    hostname: cold
    status: stopped
  - id: 203
    hostname: agent-vm
    status: active
    lan_ip: 10.9.0.13
  - id: 204
    hostname: far
    status: active
  - id: 210
    hostname: builder
    proxmox_host: beta
    status: active
    lan_ip: 10.9.1.10
"""
SSH_TARGETS = """\
ssh:
  defaults: {user: root}
  targets:
    - {id: apps, host: apps.invalid}
    - {id: media, host: media.invalid}
"""
COMPOSE_TARGETS = """\
targets:
  apps:
    stacks:
      - {name: web, path: /opt/web}
      - {name: queue, path: /opt/queue}
  media:
    stacks:
      - {name: jellyfin, path: /opt/jellyfin}
"""
REGISTRY = """\
services:
  web: {host: apps, container: web-1}
  jellyfin: {host: media, container: jellyfin}
"""
GOVERNANCE_OFF = "".join(f"  governance-{rule}: false\n" for rule in (
    "ssh", "registry", "backup", "health", "compose", "stack-registry", "placeholders", "vmid-range", "naming",
    "orphans", "duplicates", "files"))

ALPHA: dict[str, Any] = {"nodes": ["pve", "pve2"], "guests": [
    {"vmid": 200, "name": "apps", "ips": ["10.9.0.10"]},
    {"vmid": 201, "type": "lxc", "name": "media", "ips": ["10.9.0.11"]},
    {"vmid": 202, "name": "cold", "status": "stopped", "node": "pve2"},
    {"vmid": 203, "name": "agent-vm", "ips": ["10.9.0.13"]},
    {"vmid": 204, "name": "far", "node": "pve2"},
]}
BETA: dict[str, Any] = {"nodes": ["pve"], "guests": [{"vmid": 210, "name": "builder", "ips": ["10.9.1.10"]}]}
ALPHA_GUESTS = {200: "qemu", 201: "lxc", 202: "qemu", 203: "qemu", 204: "qemu"}


def compose_ls(*stacks: str) -> str:
    return json.dumps([{"Name": n, "Status": "running(1)", "ConfigFiles": f"/opt/{n}/compose.yaml"} for n in stacks])


def docker_ps(*containers: tuple[str, str]) -> str:
    return "".join(json.dumps({
        "ID": f"{i:064x}", "Names": name, "Image": "img", "State": "running", "Status": "Up", "Project": project,
        "Service": name, "WorkingDir": f"/opt/{project}", "ConfigFiles": f"/opt/{project}/compose.yaml",
        "OneOff": "False", "Number": "1"}) + "\n" for i, (name, project) in enumerate(containers, 1))


CLEAN_DOCKER = {
    "apps": {"ls": compose_ls("queue", "web"), "ps": docker_ps(("web-1", "web"), ("queue-1", "queue"))},
    "media": {"ls": compose_ls("jellyfin"), "ps": docker_ps(("jellyfin", "jellyfin"))},
}


# What the clean run reports for each source (the `clean` case checks it); every case compares the sources
# its fault does not touch with this.
REFERENCE = {
    "proxmox:alpha": ("ok", None, "5 guests"), "proxmox:beta": ("ok", None, "1 guests"),
    "docker:apps": ("ok", None, "2 stacks, 2 containers"), "docker:media": ("ok", None, "1 stacks, 1 containers"),
}


# ── a case ───────────────────────────────────────────────────────────────────


@dataclass
class World:
    """What one case may change before the run: estates, faults, the site's ssh section, the servers."""

    tmp: Path
    alpha: dict[str, Any]
    beta: dict[str, Any]
    apps: SshServer
    media: SshServer
    stack: ExitStack
    alpha_kwargs: dict[str, Any] = field(default_factory=dict)
    alpha_url: str | None = None  # replaces the fake's URL (refused / silent ports)
    alpha_ca: Path | None = None  # replaces the fake's certificate as ca_file
    ssh_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    ssh_settings: dict[str, Any] = field(default_factory=dict)
    known_hosts: str | None = None
    drop_media_override: bool = False
    servers: dict[str, FakePVE] = field(default_factory=dict)


Setup = Callable[[World], None]
Key = tuple[str, str, str, str | None]  # (subject type, host or docker target, vmid or name, field)


@dataclass(frozen=True)
class Case:
    name: str
    fault: str  # one line for the summary table
    setup: Setup
    unknown: dict[Key, str]  # every finding expected: key → reason
    exit_code: int = 3
    affected: frozenset[str] = frozenset()  # sources allowed to differ from the clean run
    invalid: frozenset[Key] = frozenset()  # `invalid` findings expected as well (bindings problems)


def host_down(host: str, reason: str, guests: dict[int, str]) -> dict[Key, str]:
    """A Proxmox host that could not be listed: one unknown finding, the cause (it hides its guests: HIDES)."""
    assert guests is ALPHA_GUESTS and host == "alpha"
    return {("host", host, host, None): reason}


def docker_down(target: str, reason: str) -> dict[Key, str]:
    """A docker host that could not be observed: one unknown finding (it hides its stacks and containers)."""
    return {("host", target, "", None): reason}


# What each cause hides (`hides` of its unknown finding): every declared item behind it, none twice.
HIDES: dict[Key, list[str]] = {
    ("host", "alpha", "alpha", None): [f"lab/{kind}/alpha/{vmid}" for vmid, kind in ALPHA_GUESTS.items()],
    ("host", "alpha", "alpha/pve2", None): ["lab/qemu/alpha/202", "lab/qemu/alpha/204"],
    ("host", "apps", "", None): ["lab/stack/apps/web", "lab/stack/apps/queue", "lab/container/apps/web-1"],
    ("host", "media", "", None): ["lab/stack/media/jellyfin", "lab/container/media/jellyfin"],
}


def address(vmid: int, reason: str) -> dict[Key, str]:
    return {(ALPHA_GUESTS[vmid], "alpha", str(vmid), "lan_ip"): reason}


def fault(path: str, **kwargs: Any) -> Setup:
    return lambda w: w.alpha_kwargs.setdefault("faults", []).append((path, kwargs))


def alpha_guest(vmid: int, **changes: Any) -> Setup:
    def apply(w: World) -> None:
        w.alpha["guests"] = [{**g, **changes} if g["vmid"] == vmid else g for g in w.alpha["guests"]]
    return apply


def alpha_node(name: str, status: str) -> Setup:
    def apply(w: World) -> None:
        w.alpha["nodes"] = [n if n != name else {"name": name, "status": status} for n in w.alpha["nodes"]]
    return apply


def media(**configure: Any) -> Setup:
    return lambda w: w.media.configure(**{**CLEAN_DOCKER["media"], **configure})


def media_override(**changes: Any) -> Setup:
    return lambda w: w.ssh_overrides.setdefault("media", {}).update(changes)


def both(*setups: Setup) -> Setup:
    def apply(w: World) -> None:
        for setup in setups:
            setup(w)
    return apply


def wrong_secret(w: World) -> None:
    w.alpha_kwargs["secret"] = "a-token-the-site-does-not-have-0000"


def refused(w: World) -> None:
    w.alpha_url = f"https://127.0.0.1:{w.stack.enter_context(closed_port())}"


def silent(w: World) -> None:
    w.alpha_url = f"https://127.0.0.1:{w.stack.enter_context(silent_port())}"


def foreign_certificate(w: World) -> None:
    w.alpha_ca = w.stack.enter_context(FakePVE({"nodes": ["other"]})).cert_path


def unknown_host_key(w: World) -> None:
    w.known_hosts = w.apps.known_hosts_line()


def changed_host_key(w: World) -> None:
    w.known_hosts = w.apps.known_hosts_line() + w.media.known_hosts_line(keygen(w.tmp / "impostor_host_key"))


def stranger_key(w: World) -> None:
    keygen(w.tmp / "stranger")
    w.ssh_overrides.setdefault("media", {})["identity_file"] = str(w.tmp / "stranger")


def media_port(port_of: Callable[[], Any]) -> Setup:
    return lambda w: w.ssh_overrides.setdefault("media", {}).update(port=w.stack.enter_context(port_of()))


def unresolved(w: World) -> None:
    w.drop_media_override = True
    (w.tmp / "spine" / "ops" / "bindings" / "ssh.targets.yaml").write_text(
        SSH_TARGETS.replace("    - {id: media, host: media.invalid}\n", ""))


DROP_SCRIPT = """\
#!{python}
# A docker that answers `compose ls`, then starts printing `ps` and kills the host's SSH session processes
# (not the listener): the client sees the connection die in the middle of the output.
import json, os, signal, sys
ctl = os.environ["FAKE_DOCKER_DIR"]
with open(os.path.join(ctl, "docker.log"), "a") as log:
    log.write(json.dumps(["docker", *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["compose", "ls"]:
    print(open(os.path.join(ctl, "ls.json")).read())
    sys.exit(0)
sys.stdout.write('{{"ID": "{zeros}", "Names": "jelly')
sys.stdout.flush()
listener = int(open(os.path.join(ctl, "..", "sshd.pid")).read())
pid, victims = os.getppid(), []
while pid > 1 and pid != listener:
    with open(f"/proc/{{pid}}/stat") as stat:
        parts = stat.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{{pid}}/comm") as comm:
        if comm.read().startswith("sshd"):
            victims.append(pid)
    pid = int(parts[1])
for victim in victims:
    os.kill(victim, signal.SIGKILL)
"""


def drops_mid_output(w: World) -> None:
    import sys

    w.media.configure(**CLEAN_DOCKER["media"])
    script = w.media.bin / "docker"
    script.write_text(DROP_SCRIPT.format(python=sys.executable, zeros="0" * 64))
    script.chmod(0o755)


CASES = [
    Case("clean", "none (the reference run)", lambda w: None, {}, exit_code=0),
    # ── Proxmox API ──
    Case("pve-401", "token refused (401)", wrong_secret, host_down("alpha", "auth_failed", ALPHA_GUESTS),
         exit_code=2, affected=frozenset({"proxmox:alpha"})),
    Case("pve-403-one-path", "403 on one guest's agent path",
         fault("nodes/pve/qemu/203/agent/*", status=403, message="Permission check failed (/vms/203, VM.Monitor)"),
         address(203, "no_permission"), affected=frozenset({"proxmox:alpha"})),
    Case("pve-500", "500 on /cluster/resources", fault("cluster/resources", status=500),
         host_down("alpha", "api_error", ALPHA_GUESTS), affected=frozenset({"proxmox:alpha"})),
    Case("pve-595", "595 node offline (proxied call)", fault("nodes/pve/qemu/203/*", status=595),
         address(203, "node_offline"), affected=frozenset({"proxmox:alpha"})),
    Case("pve-596", "596 proxy timeout (proxied call)", fault("nodes/pve/lxc/201/*", status=596),
         address(201, "node_offline"), affected=frozenset({"proxmox:alpha"})),
    Case("pve-node-unknown", "node listed with status unknown", alpha_node("pve2", "unknown"),
         {("host", "alpha", "alpha/pve2", None): "node_offline"}, affected=frozenset({"proxmox:alpha"})),
    Case("pve-node-offline", "node listed offline", alpha_node("pve2", "offline"),
         {("host", "alpha", "alpha/pve2", None): "node_offline"}, affected=frozenset({"proxmox:alpha"})),
    Case("pve-refused", "connection refused", refused, host_down("alpha", "api_error", ALPHA_GUESTS),
         affected=frozenset({"proxmox:alpha"})),
    Case("pve-silent", "accepts TCP, never answers (no TLS)", silent,
         host_down("alpha", "api_timeout", ALPHA_GUESTS), affected=frozenset({"proxmox:alpha"})),
    Case("pve-hang", "accepts the request, never answers", fault("cluster/resources", hang=True),
         host_down("alpha", "api_timeout", ALPHA_GUESTS), affected=frozenset({"proxmox:alpha"})),
    Case("pve-cut", "response cut mid-body", fault("cluster/resources", cut=True),
         host_down("alpha", "api_error", ALPHA_GUESTS), affected=frozenset({"proxmox:alpha"})),
    Case("pve-not-json", "200 with an HTML page", fault("cluster/resources", not_json=True),
         host_down("alpha", "api_error", ALPHA_GUESTS), affected=frozenset({"proxmox:alpha"})),
    Case("pve-wrong-shape", "200 with JSON of the wrong shape",
         fault("cluster/resources", wrong_shape={"data": {"guests": "not a list"}}),
         host_down("alpha", "api_error", ALPHA_GUESTS), affected=frozenset({"proxmox:alpha"})),
    Case("pve-no-data", "200 with JSON lacking `data`", fault("cluster/resources", wrong_shape=[1, 2, 3]),
         host_down("alpha", "api_error", ALPHA_GUESTS), affected=frozenset({"proxmox:alpha"})),
    Case("pve-wrong-cert", "another server's TLS certificate", foreign_certificate,
         host_down("alpha", "tls_error", ALPHA_GUESTS), exit_code=2, affected=frozenset({"proxmox:alpha"})),
    Case("pve-agent-500", "guest agent 500 (not running)", alpha_guest(203, agent="not_running"),
         address(203, "agent_not_running"), affected=frozenset({"proxmox:alpha"})),
    Case("pve-agent-error", "guest agent 200 with an error object", alpha_guest(203, agent="guest_error"),
         address(203, "agent_error"), affected=frozenset({"proxmox:alpha"})),
    # ── docker over SSH ──
    Case("ssh-docker-missing", "no docker binary", media(docker=False), docker_down("media", "docker_missing"),
         affected=frozenset({"docker:media"})),
    Case("ssh-daemon-down", "docker daemon down", media(mode="daemon_down"),
         docker_down("media", "docker_daemon_down"), affected=frozenset({"docker:media"})),
    Case("ssh-docker-denied", "docker socket permission denied", media(mode="permission_denied"),
         docker_down("media", "docker_permission_denied"), affected=frozenset({"docker:media"})),
    # no fault any more: the one docker command needs no compose plugin (stacks come from the compose labels)
    Case("ssh-compose-missing", "no compose plugin (observed from labels)", media(mode="compose_missing"), {},
         exit_code=0),
    Case("ssh-garbage", "docker prints garbage", media(mode="garbage"), docker_down("media", "output_unparseable"),
         affected=frozenset({"docker:media"})),
    Case("ssh-sudo-password", "sudo wants a password", both(media(sudo_password=True), media_override(sudo=True)),
         docker_down("media", "sudo_password_required"), affected=frozenset({"docker:media"})),
    Case("ssh-output-cap", "output over max_output_bytes", media(mode="huge", huge_bytes=2 * 1024 * 1024),
         docker_down("media", "output_too_large"), affected=frozenset({"docker:media"})),
    Case("ssh-slow", "slower than command_timeout_s", media(mode="slow", delay=SSH_COMMAND_TIMEOUT_S + 5),
         docker_down("media", "ssh_timeout"), affected=frozenset({"docker:media"})),
    Case("ssh-host-key-unknown", "host key not in known_hosts", unknown_host_key,
         docker_down("media", "host_key_unknown"), affected=frozenset({"docker:media"})),
    Case("ssh-host-key-changed", "host key changed", changed_host_key, docker_down("media", "host_key_mismatch"),
         affected=frozenset({"docker:media"})),
    Case("ssh-auth-denied", "client key refused", stranger_key, docker_down("media", "ssh_auth_denied"),
         affected=frozenset({"docker:media"})),
    Case("ssh-silent", "port that never speaks SSH", media_port(silent_port), docker_down("media", "ssh_timeout"),
         affected=frozenset({"docker:media"})),
    Case("ssh-refused", "connection refused", media_port(closed_port), docker_down("media", "ssh_unreachable"),
         affected=frozenset({"docker:media"})),
    Case("ssh-unresolved", "docker host with no address", unresolved, docker_down("media", "unresolved_target"),
         exit_code=1, affected=frozenset({"docker:media"}),
         invalid=frozenset({("host", "media", "", "ssh_target")})),
    Case("ssh-drop-mid-output", "connection dropped mid-output", drops_mid_output,
         docker_down("media", "ssh_error"), affected=frozenset({"docker:media"})),
    # ── two at once ──
    Case("two-faults", "alpha API refused + media docker down", both(refused, media(mode="daemon_down")),
         {**host_down("alpha", "api_error", ALPHA_GUESTS), **docker_down("media", "docker_daemon_down")},
         affected=frozenset({"proxmox:alpha", "docker:media"})),
]


# ── running a case ───────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def docker_hosts(sshd_factory: Callable[[], SshServer]) -> tuple[SshServer, SshServer]:
    """Two loopback sshd hosts for the whole matrix (each case configures them afresh)."""
    return sshd_factory(), sshd_factory()


@pytest.fixture
def world(tmp_path: Path, docker_hosts: tuple[SshServer, SshServer]) -> Iterator[World]:
    apps, media_host = docker_hosts
    for name, server in (("apps", apps), ("media", media_host)):
        server.configure(**CLEAN_DOCKER[name])
    root = tmp_path / "spine"
    for relative, text in {"ops/bindings/vm.lifecycle.yaml": LIFECYCLE, "ops/bindings/ssh.targets.yaml": SSH_TARGETS,
                           "ops/bindings/docker.compose.targets.yaml": COMPOSE_TARGETS,
                           "docs/governance/SERVICE_REGISTRY.yaml": REGISTRY}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    with ExitStack() as stack:
        yield World(tmp_path, json.loads(json.dumps(ALPHA)), json.loads(json.dumps(BETA)), apps, media_host, stack)


def start_servers(w: World) -> None:
    faults = w.alpha_kwargs.pop("faults", [])
    alpha = w.stack.enter_context(FakePVE(w.alpha, token_id=TOKEN_ID, secret=w.alpha_kwargs.pop(
        "secret", guarantees.SENTINEL), **w.alpha_kwargs))
    for path, kwargs in faults:
        alpha.add_fault(path, **kwargs)
    beta = w.stack.enter_context(FakePVE(w.beta, token_id=TOKEN_ID, secret=guarantees.SENTINEL))
    w.servers = {"alpha": alpha, "beta": beta}


def write_site(w: World) -> Path:
    hosts = ""
    for name, server in w.servers.items():
        url = w.alpha_url if name == "alpha" and w.alpha_url else server.url
        ca = w.alpha_ca if name == "alpha" and w.alpha_ca else server.cert_path
        hosts += (f"  - {{name: {name}, url: '{url}', token_id: '{TOKEN_ID}', "
                  f"token_secret_env: {guarantees.SENTINEL_ENV}, ca_file: '{ca}', timeout_s: {PVE_TIMEOUT_S}}}\n")
    known = w.tmp / "known_hosts"
    known.write_text(w.known_hosts if w.known_hosts is not None else
                     w.apps.known_hosts_line() + w.media.known_hosts_line())
    overrides = {
        "apps": {"host": "127.0.0.1", "port": w.apps.port, "user": w.apps.user},
        "media": {"host": "127.0.0.1", "port": w.media.port, "user": w.media.user,
                  "identity_file": str(w.media.client_key)},
    }
    for target, changes in w.ssh_overrides.items():
        overrides[target].update(changes)
    if w.drop_media_override:
        del overrides["media"]
    settings = {"known_hosts": str(known), "identity_file": str(w.apps.client_key), "use_agent": False,
                "connect_timeout_s": SSH_CONNECT_TIMEOUT_S, "command_timeout_s": SSH_COMMAND_TIMEOUT_S,
                "max_output_bytes": 1024 * 1024, **w.ssh_settings, "overrides": overrides}
    sites = w.tmp / "sites"
    sites.mkdir(exist_ok=True)
    site = sites / "lab.yaml"
    site.write_text(f"site: lab\nbindings_root: {w.tmp / 'spine'}\nproxmox:\n{hosts}"
                    f"ssh: {json.dumps(settings)}\nrules:\n{GOVERNANCE_OFF}")
    return sites


def key_of(finding: dict[str, Any]) -> Key:
    subject = finding["subject"]
    where = subject["proxmox_host"] or subject["target"] or ""
    ident = str(subject["vmid"]) if subject["vmid"] is not None else (subject["name"] or "")
    return (subject["type"], where, ident, finding["field"])


def comparable(source: dict[str, Any]) -> tuple[Any, ...]:
    """A source as the clean run reports it, minus the timing in docker details."""
    return source["status"], source["reason"], re.sub(r" \(\d+\.\d+ s\)", "", source["detail"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, world: World, cli: Any) -> None:
    case.setup(world)
    start_servers(world)
    sites = write_site(world)
    result = cli("--sites-dir", sites, "--site", "lab", "-f", "json")
    # (a) the run finished, with a report and without a traceback
    assert "Traceback" not in result.err, result.err
    assert result.out, result.err
    report = json.loads(result.out)
    sources = {s["name"]: s for s in report["sources"]}
    findings = report["findings"]
    unknown = {key_of(f): f["reason"] for f in findings if f["kind"] == "unknown"}
    others = {key_of(f) for f in findings if f["kind"] != "unknown"}
    # (b) one unknown finding per cause, with the reason of the fault, naming exactly what it hides
    assert unknown == case.unknown, (unknown, case.unknown)
    for finding in findings:
        if finding["kind"] == "unknown":
            assert finding["hides"] == HIDES.get(key_of(finding), []), (key_of(finding), finding["hides"])
    # (c) every other source is reported exactly as in the clean run
    assert set(sources) == set(REFERENCE)
    for name, source in sources.items():
        if name not in case.affected:
            assert comparable(source) == REFERENCE[name], (name, source)
        else:
            assert source["status"] in ("failed", "partial"), source
    # (d) nothing is missing (or drifted, or unregistered): only the expected binding problems beside unknowns
    assert others == set(case.invalid), [f for f in findings if f["kind"] != "unknown"]
    assert report["summary"]["missing"] == 0
    # (e) the exit code
    assert result.code == case.exit_code == report["exit_code"], (result.code, result.err)
    fatal = [line for line in result.err.splitlines() if line.startswith("reconcile: error:")]
    assert len(fatal) == (1 if case.exit_code == 2 else 0), result.err
    guarantees.FAULT_MATRIX.append(guarantees.FaultRow(
        case.name, case.fault, result.code, len(unknown), sum(1 for n in sources if n not in case.affected),
        report["summary"]["missing"], sum(1 for f in findings if f["kind"] == "unknown")))
