"""`reconcile doctor`: whether each configured source works, one line each, and what to fix.

Read-only like everything else: the Proxmox API gets GETs (`/version`, `/access/permissions`), each SSH host a
key exchange and then only the documented script of its kind (the docker script for a docker host, the backup
script with no targets for a backup host). Nothing is ever written, known_hosts included: an unknown host key
is printed with the line to add once the user has verified it out of band.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .collect.proxmox import ApiFailure
from .config import ProxmoxHostConfig, SiteConfig, SshSettings
from .engine import DeclaredSite, load_declared
from .errors import ReconcileError
from .model import Reason
from .model.doctor import DoctorCheck, DoctorReport, Verdict

# What the read-only role must hold on "/" (docs/privileges.md), and what each is for.
NEEDED = {"VM.Audit": "guests", "Sys.Audit": "nodes, backup jobs, runs and the scheduler",
          "Datastore.Audit": "storages"}
AGENT = {8: "VM.Monitor", 9: "VM.GuestAgent.Audit"}  # guest-agent addresses, per PVE major version
WRITES = ("Datastore.Allocate", "VM.Allocate", "Sys.Modify", "Permissions.Modify")  # more than a reconciler needs


def diagnose(configs: Sequence[SiteConfig]) -> DoctorReport:
    checks: list[DoctorCheck] = []
    for cfg in configs:
        checks += list(_site(cfg))
    return DoctorReport(tuple(c.name for c in configs), tuple(checks))


def _site(cfg: SiteConfig) -> Iterator[DoctorCheck]:
    site = cfg.name
    yield DoctorCheck(site, "site", Verdict.OK, f"site file {cfg.path}, bindings root {cfg.bindings_root}",
                      where=str(cfg.path))
    present = [key for key, path in cfg.binding_paths.items() if path.exists()]
    absent = [key for key in cfg.binding_paths if key not in present]
    yield DoctorCheck(site, "bindings", Verdict.OK if "vm_lifecycle" in present else Verdict.FIX,
                      f"{len(present)} of {len(cfg.binding_paths)} binding files present",
                      "" if not absent else f"not configured: {', '.join(absent)}")
    try:
        declared = load_declared(cfg)
    except ReconcileError as exc:
        yield DoctorCheck(site, "bindings", Verdict.FIX, f"the binding files do not load: {exc}")
        return
    if cfg.live_snapshot is not None:
        yield DoctorCheck(site, "live", Verdict.INFO, f"live state from the snapshot {cfg.live_snapshot}: "
                          "no source is asked")
        return
    for host in cfg.proxmox:
        yield from _proxmox(site, host)
    yield from _ssh_hosts(declared)


# ── a Proxmox API ────────────────────────────────────────────────────────────


def _proxmox(site: str, cfg: ProxmoxHostConfig) -> Iterator[DoctorCheck]:
    from .collect.pve_client import ProxmoxClient, server_fingerprint

    area = f"proxmox:{cfg.name}"
    try:
        secret = cfg.token_secret()
    except ReconcileError as exc:
        yield DoctorCheck(site, area, Verdict.FIX, str(exc), where=cfg.where)
        return
    source = f"${cfg.token_secret_env}" if cfg.token_secret_env else str(cfg.token_secret_file)
    yield DoctorCheck(site, area, Verdict.OK, f"token {cfg.token_id}: secret from {source} (not shown)",
                      where=cfg.where)
    try:
        fingerprint = server_fingerprint(cfg.url, cfg.timeout_s)
    except ApiFailure as exc:
        yield DoctorCheck(site, area, Verdict.FIX, f"cannot reach {cfg.url}: {exc.detail}",
                          "check the url (https://HOST:8006) and that pveproxy listens", cfg.where)
        return
    try:
        client = ProxmoxClient(cfg, secret)
        version = client.get("version")
    except ApiFailure as exc:
        yield _refused(site, area, cfg, exc, fingerprint)
        return
    trust = "pinned fingerprint" if cfg.fingerprint else ("ca_file" if cfg.ca_file else "system CAs")
    if not cfg.verify_tls and not cfg.fingerprint:
        yield DoctorCheck(site, area, Verdict.FIX, f"TLS is not verified (verify_tls: false); the server "
                          f"presents {fingerprint}", f'pin it: fingerprint: "{fingerprint}" (compare with '
                          "`pvenode cert info` on the host first)", cfg.where)
    else:
        yield DoctorCheck(site, area, Verdict.OK, f"token accepted, TLS verified ({trust}), PVE "
                          f"{_text(version, 'version')}; server certificate {fingerprint}", where=cfg.where)
    yield from _privileges(site, area, client, version)


def _refused(site: str, area: str, cfg: ProxmoxHostConfig, exc: ApiFailure, fingerprint: str) -> DoctorCheck:
    if exc.reason is Reason.TLS_ERROR:
        return DoctorCheck(site, area, Verdict.FIX, f"TLS not verified: {exc.detail}",
                           f'if {fingerprint} is the certificate `pvenode cert info` shows on the host, pin it: '
                           f'fingerprint: "{fingerprint}" (or set ca_file)', cfg.where)
    if exc.reason is Reason.AUTH_FAILED:
        return DoctorCheck(site, area, Verdict.FIX, f"the token was refused: {exc.detail}",
                           "check token_id (user@realm!token) and the secret; docs/privileges.md", cfg.where)
    return DoctorCheck(site, area, Verdict.FIX, f"the API did not answer: {exc.detail}", where=cfg.where)


def _privileges(site: str, area: str, client: Any, version: Any) -> Iterator[DoctorCheck]:
    try:
        held = (client.get("access/permissions", path="/") or {}).get("/") or {}
    except ApiFailure as exc:
        yield DoctorCheck(site, area, Verdict.FIX, f"cannot read the token's privileges: {exc.detail}")
        return
    missing = [priv for priv in NEEDED if priv not in held]
    if missing:
        uses = "; ".join(f"{p} ({NEEDED[p]})" for p in missing)
        yield DoctorCheck(site, area, Verdict.FIX, f"the token lacks on /: {uses}",
                          "give the token PVEAuditor on / (docs/privileges.md)")
    else:
        yield DoctorCheck(site, area, Verdict.OK, f"privileges on /: {', '.join(NEEDED)} (guests, nodes, "
                          "storages, backup jobs and runs)")
    major = _major(_text(version, "version"))
    agent = AGENT.get(major, AGENT[9])
    if agent not in held:
        yield DoctorCheck(site, area, Verdict.INFO, f"no {agent}: guest addresses will be unknown "
                          "(no_permission), never drift", f"add {agent} to check declared addresses")
    extra = [priv for priv in WRITES if priv in held]
    if extra:
        yield DoctorCheck(site, area, Verdict.INFO, f"the token may also change things: {', '.join(extra)}",
                          "the reconciler needs none of them: a read-only role is enough")


def _text(data: Any, key: str) -> str:
    return str(data.get(key, "?")) if isinstance(data, dict) else "?"


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 9


# ── the SSH hosts (docker and backup) ────────────────────────────────────────


def _ssh_hosts(declared: DeclaredSite) -> Iterator[DoctorCheck]:
    settings = declared.config.ssh
    docker = {e.target: e for e in declared.docker.targets}
    backup = {e.target: e for e in declared.backups.endpoints if e.target not in docker}
    for target, endpoint in sorted({**docker, **backup}.items()):
        yield from _ssh_host(declared.site, endpoint, settings, docker=target in docker)


def _ssh_host(site: str, endpoint: Any, settings: SshSettings, docker: bool) -> Iterator[DoctorCheck]:
    from .collect import backup_files, docker_output
    from .collect.remote import SshFailure
    from .collect.ssh import host_key, known_hosts_path, known_key_state, run_remote

    area = f"ssh:{endpoint.target}"
    if endpoint.problem or not endpoint.host:
        yield DoctorCheck(site, area, Verdict.FIX, endpoint.problem or "no address",
                          f"set ssh.overrides.{endpoint.target}.host in the site file")
        return
    where = f"{endpoint.user + '@' if endpoint.user else ''}{endpoint.host}:{endpoint.port}"
    try:
        line, key_type, fingerprint = host_key(endpoint.host, endpoint.port, settings.connect_timeout_s)
    except SshFailure as exc:
        yield DoctorCheck(site, area, Verdict.FIX, f"{where}: {exc.detail}", "check the address and that sshd "
                          "listens (docs/ssh.md)")
        return
    state = known_key_state(settings, endpoint.host, endpoint.port, key_type, line)
    known = known_hosts_path(settings)
    if state != "known":
        said = "is not in" if state == "unknown" else "differs from the key in"
        yield DoctorCheck(site, area, Verdict.FIX, f"{where}: host key {key_type} {fingerprint} {said} {known}",
                          f"verify {fingerprint} on the host's console (ssh-keygen -lf "
                          f"/etc/ssh/ssh_host_{key_type.removeprefix('ssh-')}_key.pub), then add to {known}: {line}")
        return
    command = docker_output.remote_command(endpoint.sudo) if docker else backup_files.remote_command()
    try:
        result = run_remote(endpoint.host, endpoint.port, endpoint.user, endpoint.identity_file, settings, command)
    except SshFailure as exc:
        yield DoctorCheck(site, area, Verdict.FIX, f"{where}: host key known, login failed: {exc.detail}",
                          "check the user and identity_file (docs/ssh.md)")
        return
    if not docker:
        yield DoctorCheck(site, area, Verdict.OK, f"{where}: host key known ({fingerprint}), login works "
                          "(backup host)")
        return
    try:
        report = docker_output.parse_host_output(result.stdout, result.stderr, result.exit_status)
    except docker_output.DockerOutputError as exc:
        yield DoctorCheck(site, area, Verdict.FIX, f"{where}: login works, docker does not answer: "
                          f"[{exc.reason}] {exc.detail}", "docs/ssh.md, privileges on the host")
        return
    yield DoctorCheck(site, area, Verdict.OK, f"{where}: host key known ({fingerprint}), docker readable "
                      f"({report.detail})")
