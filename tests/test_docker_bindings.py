"""Docker bindings: the user's real files load (both dates), site membership, endpoints, problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.bindings.compose_targets import load_compose_targets
from reconciler.bindings.docker import load_docker_bindings
from reconciler.bindings.lifecycle import load_lifecycle
from reconciler.bindings.placement import load_placement
from reconciler.bindings.service_registry import load_service_registry
from reconciler.bindings.ssh_targets import load_ssh_targets
from reconciler.collect.ssh_config import ssh_config_entry
from reconciler.config import BINDING_FILES, SiteConfig, SshOverride, SshSettings
from reconciler.model import Kind

DATES = ["2026-02-12", "2026-02-20"]
SHOP_HOSTS_0220 = {"docker-host", "infra-core", "download-stack", "streaming-stack", "immich", "ai-consolidation",
                   "observability", "dev-tools", "automation-stack", "finance-stack", "mint-data", "mint-apps"}


def _site(root: Path, name: str, tmp: Path, **changes) -> SiteConfig:
    return SiteConfig(name=name, path=tmp / f"{name}.yaml", bindings_root=root,
                      binding_paths={k: root / v for k, v in BINDING_FILES.items()}, **changes)


def _load(root: Path, name: str, tmp: Path, **changes):
    cfg = _site(root, name, tmp, **changes)
    placement = load_placement(cfg.binding("placement_policy"), root)
    lifecycle = load_lifecycle(cfg.binding("vm_lifecycle"), root, placement.site_of_proxmox_host, default_site=name)
    return load_docker_bindings(cfg, lifecycle.guests, placement.site_of_proxmox_host, placement, ssh_config_entry)


def _line(root: Path, ref) -> str:
    return (root / ref.file).read_text().splitlines()[ref.line - 1].strip()


@pytest.fixture(params=DATES)
def real_root(request, ref_data) -> Path:
    return ref_data / "spine-bindings" / request.param


# ── the real files ───────────────────────────────────────────────────────────


def test_real_loaders_have_no_invalid_items(real_root):
    shown = "x"
    ssh = load_ssh_targets(real_root / BINDING_FILES["ssh_targets"], real_root, shown)
    compose = load_compose_targets(real_root / BINDING_FILES["docker_compose_targets"], real_root, shown)
    registry = load_service_registry(real_root / BINDING_FILES["service_registry"], real_root, shown)
    assert ssh.problems == () and compose.problems == () and registry.problems == ()
    assert ssh.targets["docker-host"].host == "100.92.156.118"
    assert ssh.targets["docker-host"].port == 22  # from `defaults`
    assert ssh.targets["pihole-home"].user == "root"
    assert ssh.targets["docker-host"].host_key_checking_disabled  # inherited from defaults
    assert _line(real_root, ssh.targets["immich"].source) == '- id: "immich"'
    # every stack keeps its line
    stack = next(s for s in compose.stacks() if s.name == "immich")
    assert (stack.target, stack.path) == ("immich", "~/immich")
    assert _line(real_root, stack.source) == "- name: immich"
    assert len(registry.containers) == 80
    server = next(c for c in registry.containers if c.service == "immich-server")
    assert (server.host, server.container) == ("immich", "immich_server")
    assert _line(real_root, server.source) == "immich-server:"


def test_real_shop_membership_and_endpoints(ref_data, tmp_path):
    root = ref_data / "spine-bindings" / "2026-02-20"
    docker = _load(root, "shop", tmp_path)
    assert docker.target_ids == SHOP_HOSTS_0220
    endpoint = next(t for t in docker.targets if t.target == "docker-host")
    assert (endpoint.host, endpoint.user, endpoint.port, endpoint.sudo) == ("100.92.156.118", "ubuntu", 22, False)
    assert endpoint.problem is None
    immich = next(m for m in docker.membership if m.target == "immich")
    # VM 203 on pve names ssh_target immich; the home immich (VM 101) does not
    assert immich.member and immich.site == "shop"
    assert "vm.lifecycle.yaml:" in immich.explanation and "proxmox_host pve" in immich.explanation
    assert {s.target for s in docker.stacks} == SHOP_HOSTS_0220
    assert all(c.host in SHOP_HOSTS_0220 for c in docker.containers)
    assert any(c.container == "immich_server" for c in docker.containers)
    assert len(docker.explain()) == len(docker.membership) + len(docker.targets)


def test_real_security_finding_once_and_no_invalid(ref_data, tmp_path):
    root = ref_data / "spine-bindings" / "2026-02-20"
    docker = _load(root, "shop", tmp_path)
    kinds = [p.kind for p in docker.problems]
    assert kinds == [Kind.SECURITY]
    finding = docker.problems[0]
    assert [str(s) for s in finding.sources] == ["ops/bindings/ssh.targets.yaml:17"]
    assert _line(root, finding.sources[0]) == 'strict_host_key_checking: "no"'


def test_real_home_site(ref_data, tmp_path):
    """2026-02-12: the home vaultwarden target (ssh_target vault) is home's; 2026-02-20 it is disabled."""
    old = _load(ref_data / "spine-bindings" / "2026-02-12", "home", tmp_path)
    assert old.target_ids == {"vault"}
    vault = next(t for t in old.targets if t.target == "vault")
    assert vault.compose_target == "vaultwarden-home"
    assert [s.path for s in old.stacks] == ["/home/ron/vaultwarden"]
    new = _load(ref_data / "spine-bindings" / "2026-02-20", "home", tmp_path)
    assert new.target_ids == frozenset()
    assert new.problems == ()  # no docker host of home is covered by the insecure default


# ── site file settings ───────────────────────────────────────────────────────


def test_explicit_docker_targets_win(ref_data, tmp_path):
    root = ref_data / "spine-bindings" / "2026-02-20"
    docker = _load(root, "home", tmp_path, docker_targets=("immich",))
    assert docker.target_ids == {"immich"}
    immich = next(m for m in docker.membership if m.target == "immich")
    assert "docker_targets" in immich.explanation
    others = [m for m in docker.membership if m.target != "immich"]
    assert others and not any(m.member for m in others)


def test_overrides_and_ssh_config_alias(ref_data, tmp_path):
    root = ref_data / "spine-bindings" / "2026-02-20"
    config = tmp_path / "ssh_config"
    config.write_text("Host immich\n  HostName 127.0.0.1\n  User tester\n  Port 2200\n  IdentityFile /keys/immich\n")
    ssh = SshSettings(config_file=config, identity_file=Path("/keys/default"),
                      overrides={"docker-host": SshOverride(host="127.0.0.1", port=2222, sudo=True)})
    docker = _load(root, "shop", tmp_path, ssh=ssh)
    endpoints = {t.target: t for t in docker.targets}
    immich = endpoints["immich"]
    assert (immich.host, immich.user, immich.port, immich.identity_file) == ("127.0.0.1", "tester", 2200,
                                                                           Path("/keys/immich"))
    host = endpoints["docker-host"]
    assert (host.host, host.port, host.user, host.sudo) == ("127.0.0.1", 2222, "ubuntu", True)
    assert host.identity_file == Path("/keys/default")
    assert any("ssh.overrides.docker-host" in v for v in host.via)
    # a host without alias or override keeps the bindings' address
    assert endpoints["dev-tools"].host == "100.90.167.39"


# ── synthetic bindings ───────────────────────────────────────────────────────


def _write(root: Path, files: dict[str, str]) -> Path:
    for key, text in files.items():
        path = root / BINDING_FILES[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


LIFECYCLE = """\
    vms:
      - id: 201
        hostname: app
        proxmox_host: pve-a
        status: active
        ssh_target: app
        stacks: [web]
"""
PLACEMENT = """\
    sites:
      alpha:
        proxmox_hosts: [pve-a]
    hosts:
      lonely:
        site: alpha
"""


def test_placement_fallback_unresolved_and_invalid_items(tmp_path):
    root = _write(tmp_path / "b", {
        "vm_lifecycle": LIFECYCLE,
        "placement_policy": PLACEMENT,
        "ssh_targets": """\
            ssh:
              defaults: {user: ops}
              targets:
                - id: app
                  host: 10.9.9.9
                  port: twenty-two
                - host: 10.9.9.8
        """,
        "docker_compose_targets": """\
            targets:
              app:
                ssh_target: app
                stacks:
                  - name: web
                    path: ~/web
                  - path: /nameless
              lonely:
                stacks:
                  - name: db
                    path: /srv/db
              nowhere:
                stacks: [x]
              off:
                enabled: false
                ssh_target: ghost
        """,
    })
    docker = _load(root, "alpha", tmp_path)
    assert docker.target_ids == {"app", "lonely"}
    lonely = next(m for m in docker.membership if m.target == "lonely")
    assert "placement policy hosts.lonely.site = alpha" in lonely.explanation
    nowhere = next(m for m in docker.membership if m.target == "nowhere")
    assert not nowhere.member and nowhere.site is None
    endpoints = {t.target: t for t in docker.targets}
    assert endpoints["app"].user == "ops" and endpoints["app"].port == 22
    assert endpoints["lonely"].problem and "not in" in endpoints["lonely"].problem
    problems = {(p.rule, p.field): p for p in docker.problems}
    assert problems[("bindings-ssh-targets", "port")].kind is Kind.INVALID
    assert str(problems[("bindings-ssh-targets", "port")].sources[0]) == "ops/bindings/ssh.targets.yaml:6"
    assert ("bindings-ssh-targets", "id") in problems  # the target without id
    assert ("bindings-compose-targets", "name") in problems  # the stack without name
    assert problems[("bindings-docker", "ssh_target")].subject.target == "lonely"
    assert [s.name for s in docker.stacks if s.target == "app"] == ["web"]
    assert not any(p.kind is Kind.SECURITY for p in docker.problems)


def test_missing_files_are_empty(tmp_path):
    root = _write(tmp_path / "b", {"vm_lifecycle": LIFECYCLE, "placement_policy": PLACEMENT})
    docker = _load(root, "alpha", tmp_path)
    assert docker.targets == () and docker.stacks == () and docker.problems == ()
    assert docker.compose.present is False and docker.ssh_targets.present is False


def test_real_lifecycle_vs_compose_targets_gap(ref_data, tmp_path):
    """2026-02-20: docker-host's compose target declares `storage`, its vm.lifecycle.yaml guest does not: parity."""
    from reconciler.governance import run_check
    from reconciler.model import Kind

    root = ref_data / "spine-bindings" / "2026-02-20"
    findings = run_check(_site(root, "shop", tmp_path)).findings
    lifecycle = [f for f in findings if f.field and f.field.startswith("lifecycle.stacks.")]
    assert [(f.kind, f.rule, f.subject.vmid, f.field, [str(s) for s in f.sources]) for f in lifecycle] == [
        (Kind.PARITY, "governance-compose", 200, "lifecycle.stacks.storage",
         ["ops/bindings/docker.compose.targets.yaml:19", "ops/bindings/vm.lifecycle.yaml:47"])]
