"""The docker side of one site: which docker hosts belong to it, how to reach each, what each declares.

Entry point: `load_docker_bindings(cfg, guests, site_of_proxmox_host, placement) -> DockerBindings`.

**Membership** of a docker host (an enabled `docker.compose.targets.yaml` target, identified by its
ssh target) in a site, first rule that applies:

1. the site file's `docker_targets:` list, when present, is the whole answer (names may be compose
   target ids or ssh target ids);
2. the `vm.lifecycle.yaml` guest whose `ssh_target` is the host (guests that are not decommissioned or
   abandoned are preferred) → its `proxmox_host` → that host's site;
3. the placement policy's `hosts:` entry of that name → its `site`;
4. otherwise the host belongs to no site and is not checked.

Every decision is kept as a one-line explanation (`DockerBindings.membership`) for `--debug`.

**Endpoint** of a member host, later sources overriding earlier ones: `ssh.targets.yaml` (host, user,
port, with its `defaults`) → an entry of the site's `ssh.config_file` whose `Host` pattern matches the
ssh target id (HostName, User, Port, IdentityFile) → the site's `ssh.overrides.<id>` (host, port,
user, identity_file, sudo). Identity falls back to `ssh.identity_file`. A host that cannot be resolved
keeps `problem` set; the collector turns it into an `unresolved_target` gap without connecting.

The bindings' `strict_host_key_checking: "no"` is never followed; it is reported once per site (when the
site has docker hosts that the setting covers) as a `security` finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from ..config import SiteConfig
from ..model import GONE, DeclaredContainer, DeclaredGuest, DeclaredStack, Finding, Kind, Severity, SourceRef, Subject
from ..record import record
from .compose_targets import ComposeTarget, ComposeTargetsFile, load_compose_targets
from .service_registry import ServiceRegistryFile, load_service_registry
from .ssh_targets import SshTarget, SshTargetsFile, load_ssh_targets

RULE_ID = "bindings-docker"
SECURITY_RULE_ID = "ssh-host-key-policy"


@record
class DockerEndpoint:
    """How to reach one docker host. Built only from bindings and the site file; never sent remotely."""

    target: str  # the ssh target id: the docker host's identity in findings and observations
    compose_target: str  # the docker.compose.targets.yaml key
    host: str | None  # address or name to connect to; None when unresolved
    port: int = 22
    user: str | None = None
    identity_file: Path | None = None
    sudo: bool = False  # run docker through `sudo -n` (site file only)
    source: SourceRef | None = None  # the compose target's line
    via: tuple[str, ...] = ()  # where host/user/port came from, for --debug
    problem: str | None = None  # why it cannot be reached (unresolved target)

    def describe(self) -> str:
        if self.problem:
            return f"{self.target}: unresolved ({self.problem})"
        who = f"{self.user}@" if self.user else ""
        return f"{self.target}: {who}{self.host}:{self.port}" + (" (sudo -n)" if self.sudo else "") + \
            (f" [{'; '.join(self.via)}]" if self.via else "")


@record
class Membership:
    """Why a docker host is (or is not) part of the site."""

    target: str  # ssh target id
    compose_target: str
    site: str | None  # the site it belongs to (None: no site)
    member: bool  # belongs to the site being loaded
    explanation: str


@record
class DockerBindings:
    site: str
    targets: tuple[DockerEndpoint, ...] = ()  # this site's enabled docker hosts
    stacks: tuple[DeclaredStack, ...] = ()  # declared stacks of those hosts
    containers: tuple[DeclaredContainer, ...] = ()  # registry containers on those hosts (host = ssh target)
    problems: tuple[Finding, ...] = ()  # `invalid` and `security` findings for this site
    membership: tuple[Membership, ...] = ()  # every enabled compose target, member or not
    ssh_targets: SshTargetsFile = field(default_factory=SshTargetsFile)
    compose: ComposeTargetsFile = field(default_factory=ComposeTargetsFile)
    registry: ServiceRegistryFile = field(default_factory=ServiceRegistryFile)

    @property
    def target_ids(self) -> frozenset[str]:
        return frozenset(t.target for t in self.targets)

    def explain(self) -> list[str]:
        """Human lines for --debug: membership of every docker host, then how each member is reached."""
        lines = [f"docker host {m.target}: {m.explanation}" for m in self.membership]
        lines += [f"endpoint {t.describe()}" for t in self.targets]
        return lines


SiteOfProxmoxHost = Callable[[str], str | None]
# The entry of an OpenSSH client config (`ssh.config_file`) whose `Host` pattern matches an alias, or None.
# Injected (collect.ssh_config.ssh_config_entry) so that this loader imports no SSH library.
SshConfigLookup = Callable[[Path, str], Mapping[str, Any] | None]


def load_docker_bindings(cfg: SiteConfig, guests: tuple[DeclaredGuest, ...], site_of_proxmox_host: SiteOfProxmoxHost,
                         placement: Any, ssh_config: SshConfigLookup | None = None) -> DockerBindings:
    """Load ssh.targets.yaml, docker.compose.targets.yaml and SERVICE_REGISTRY.yaml for site `cfg.name`.

    `guests`: every declared guest (all sites); `site_of_proxmox_host`: the engine's mapping of a
    `proxmox_host` value to a site; `placement`: the loaded placement policy (its `hosts` mapping of
    name → object with `.site` and `.source` is used), or None; `ssh_config`: reads the site's
    `ssh.config_file` (required when it is set: its aliases must not be ignored silently).
    """
    if cfg.ssh.config_file is not None and ssh_config is None:
        raise ValueError("load_docker_bindings: the site sets ssh.config_file but no ssh_config lookup was given")
    root, site = cfg.bindings_root, cfg.name
    ssh = load_ssh_targets(cfg.binding("ssh_targets"), root, site)
    compose = load_compose_targets(cfg.binding("docker_compose_targets"), root, site)
    registry = load_service_registry(cfg.binding("service_registry"), root, site)
    hosts = compose.by_host()
    membership = [_membership(cfg, target, guests, site_of_proxmox_host, placement) for target in hosts.values()]
    members = [hosts[m.target] for m in membership if m.member]
    endpoints = tuple(ssh_endpoint(cfg, target.ssh_target, target.id, target.source, ssh, ssh_config)
                      for target in members)
    member_ids = {t.ssh_target for t in members}
    stacks = tuple(s for t in members for s in t.stacks)
    containers = tuple(_containers(registry, compose, member_ids))
    problems = [*_site_problems(ssh.problems, member_ids, site), *_site_problems(compose.problems, member_ids, site),
                *_site_problems(registry.problems, member_ids, site)]
    problems += _unresolved(endpoints, members, site)
    security = _security(ssh, members, site)
    if security is not None:
        problems.append(security)
    return DockerBindings(site=site, targets=endpoints, stacks=stacks, containers=containers,
                          problems=tuple(problems), membership=tuple(membership),
                          ssh_targets=ssh, compose=compose, registry=registry)


# ── membership ───────────────────────────────────────────────────────────────


def _membership(cfg: SiteConfig, target: ComposeTarget, guests: tuple[DeclaredGuest, ...],
                site_of: SiteOfProxmoxHost, placement: Any) -> Membership:
    host, key = target.ssh_target, target.id

    def result(site: str | None, why: str) -> Membership:
        return Membership(host, key, site, site == cfg.name, why)

    if cfg.docker_targets is not None:
        listed = host in cfg.docker_targets or key in cfg.docker_targets
        where = f"{cfg.path.name}: docker_targets"
        if listed:
            return result(cfg.name, f"listed in {where} → site {cfg.name}")
        return result(None, f"not listed in {where} (the explicit list replaces the binding chain)")
    candidates = [g for g in guests if g.ssh_target == host]
    alive = [g for g in candidates if g.status not in GONE] or candidates
    for guest in alive:
        guest_site = site_of(guest.proxmox_host)
        if guest_site is not None:
            others = [g for g in alive if g is not guest]
            note = f" (also named by {', '.join(str(g.source) for g in others)})" if others else ""
            return result(guest_site, f"{guest.source_of('ssh_target')} guest {guest.vmid} ({guest.hostname}) has "
                                      f"ssh_target {host}, proxmox_host {guest.proxmox_host} → site {guest_site}{note}")
    entry = _placement_host(placement, host) or _placement_host(placement, key)
    if entry is not None and getattr(entry, "site", None):
        source = getattr(entry, "source", None)
        where = f"{source} " if source else ""
        return result(entry.site, f"{where}placement policy hosts.{entry.name}.site = {entry.site}")
    if candidates:
        return result(None, f"guest(s) with ssh_target {host} have proxmox hosts of no known site, and the "
                            f"placement policy has no hosts.{host}: belongs to no site")
    return result(None, f"no vm.lifecycle.yaml guest has ssh_target {host} and the placement policy has no "
                        f"hosts.{host}: belongs to no site (add it to a site file's docker_targets)")


def _placement_host(placement: Any, name: str) -> Any:
    hosts = getattr(placement, "hosts", None)
    return hosts.get(name) if isinstance(hosts, Mapping) else None


# ── endpoints ────────────────────────────────────────────────────────────────


def ssh_endpoint(cfg: SiteConfig, ident: str, key: str, source: SourceRef | None, ssh: SshTargetsFile,
                 ssh_config: SshConfigLookup | None) -> DockerEndpoint:
    """How to reach ssh target `ident` (named `key` by the binding that wants it: a compose target id, or the
    ssh target itself): ssh.targets.yaml → ssh.config_file alias → the site's ssh.overrides, later winning."""
    entry: SshTarget | None = ssh.get(ident)
    via: list[str] = []
    host = user = None
    port = 22
    identity = cfg.ssh.identity_file
    if entry is not None:
        host, user, port = entry.host, entry.user, entry.port
        via.append(f"{entry.source}")
    config_file = cfg.ssh.config_file
    alias = ssh_config(config_file, ident) if config_file is not None and ssh_config is not None else None
    if alias:
        host = alias.get("hostname", host)
        user = alias.get("user", user)
        if "port" in alias and str(alias["port"]).isascii() and str(alias["port"]).isdigit():
            port = int(alias["port"])
        files = alias.get("identityfile")
        if files:
            identity = Path(files[0]).expanduser()
        via.append(f"{cfg.ssh.config_file} Host {ident}")
    override = cfg.ssh.overrides.get(ident) or cfg.ssh.overrides.get(key)
    sudo = False
    if override is not None:
        host = override.host or host
        port = override.port or port
        user = override.user or user
        identity = override.identity_file or identity
        sudo = override.sudo
        via.append(f"{cfg.path.name} ssh.overrides.{ident if ident in cfg.ssh.overrides else key}")
    problem = None
    if host is None:
        problem = (f"ssh target '{ident}' has no host" if entry is not None or alias or override
                   else f"ssh target '{ident}' is not in {ssh.shown}")
    return DockerEndpoint(target=ident, compose_target=key, host=host, port=port, user=user,
                          identity_file=identity, sudo=sudo, source=source, via=tuple(via), problem=problem)


# ── containers and problems ──────────────────────────────────────────────────


def _containers(registry: ServiceRegistryFile, compose: ComposeTargetsFile, members: set[str]):
    """Registry containers whose host is one of `members`, with `host` normalised to the ssh target id.

    A registry host name may be the ssh target itself, a compose target id, or a `hosts:` entry whose
    `ssh:` names the ssh target.
    """
    by_compose_id = {t.id: t.ssh_target for t in compose.targets.values()}
    for container in registry.containers:
        host = container.host
        if host not in members:
            alias = registry.hosts.get(host)
            host = (alias.ssh if alias is not None and alias.ssh in members else by_compose_id.get(host, host))
        if host in members:
            yield container if host == container.host else replace(container, host=host)


def _site_problems(problems: tuple[Finding, ...], members: set[str], site: str) -> list[Finding]:
    """File-level problems belong to every site; per-host ones only to the host's site."""
    kept = []
    for finding in problems:
        target = finding.subject.target
        if finding.subject.type in ("host", "stack") and target not in members:
            continue
        kept.append(finding if finding.subject.site == site else replace(finding, subject=replace(
            finding.subject, site=site)))
    return kept


def _unresolved(endpoints: tuple[DockerEndpoint, ...], members: list[ComposeTarget], site: str) -> list[Finding]:
    by_host = {t.ssh_target: t for t in members}
    findings = []
    for endpoint in endpoints:
        if endpoint.problem is None:
            continue
        target = by_host[endpoint.target]
        findings.append(Finding(
            kind=Kind.INVALID, rule=RULE_ID, subject=Subject(type="host", site=site, target=endpoint.target),
            field="ssh_target", message=f"docker host {endpoint.target} cannot be reached: {endpoint.problem}",
            sources=(target.source_of("ssh_target"),), severity=Severity.ERROR,
            hint=f"add '{endpoint.target}' to ssh.targets.yaml, or set ssh.overrides.{endpoint.target}.host "
                 "in the site file",
        ))
    return findings


def _security(ssh: SshTargetsFile, members: list[ComposeTarget], site: str) -> Finding | None:
    covered = [t.ssh_target for t in members
               if (entry := ssh.get(t.ssh_target)) is not None and entry.host_key_checking_disabled]
    if not covered or not ssh.insecure_sources:
        return None
    hosts = ", ".join(sorted(covered))
    return Finding(
        kind=Kind.SECURITY, rule=SECURITY_RULE_ID,
        subject=Subject(type="binding", site=site, target=ssh.shown, name=None),
        field="strict_host_key_checking", declared="no", live="enforced", severity=Severity.WARNING,
        sources=ssh.insecure_sources,
        message=f"{ssh.shown} turns host key checking off (strict_host_key_checking: \"no\") for "
                f"{len(covered)} docker host(s) of this site ({hosts}); the reconciler ignores this and refuses "
                "unknown or changed host keys, but other tools following the binding accept any server",
        hint="pin each host's key in known_hosts (ssh-keyscan, verified out of band) and set "
             "strict_host_key_checking: \"yes\"; see docs/ssh.md",
    )
