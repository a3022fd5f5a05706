"""Docker over SSH against real OpenSSH servers on 127.0.0.1 with a fake `docker` (see tests/fakes/).

Every failure mode ends as an unobserved host with its reason code, the other hosts are still
reported, and only the one documented command line ever reaches a server.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.bindings.docker import DockerEndpoint
from reconciler.collect.docker import collect_docker
from reconciler.collect.docker_output import COMMANDS, remote_command
from reconciler.errors import ExitCode
from reconciler.model import (
    Declared,
    DeclaredStack,
    Kind,
    LiveState,
    Reason,
    SiteScope,
    SourceRef,
)
from reconciler.model.report import exit_code_for
from reconciler.rules import RuleContext
from reconciler.rules.registry import STACK_RULES, run_rules
from tests.fakes.sshd import closed_port, keygen, silent_port

pytestmark = pytest.mark.sshd

TARGETS = "ops/bindings/docker.compose.targets.yaml"
ALLOWED_DOCKER_CALLS = {tuple(c.split(" ", 5)) if c.startswith("docker ps") else tuple(c.split())
                        for c in COMMANDS}


def endpoint(server, name="h1", **changes) -> DockerEndpoint:
    base = DockerEndpoint(target=name, compose_target=name, host="127.0.0.1", port=server.port, user=server.user,
                          identity_file=server.client_key)
    return replace(base, **changes) if changes else base


def ls_json(*stacks):
    return json.dumps([{"Name": n, "Status": s, "ConfigFiles": f"{d}/compose.yaml"} for n, s, d in stacks])


def ps_lines(*containers):
    rows = []
    for name, project, state, wd in containers:
        rows.append(json.dumps({"ID": "a" * 64, "Names": name, "Image": "img", "State": state, "Status": "Up",
                                "Project": project, "Service": name, "WorkingDir": wd,
                                "ConfigFiles": f"{wd}/compose.yaml", "OneOff": "False", "Number": "1"}))
    return "\n".join(rows) + "\n"


def assert_only_documented(server):
    assert server.commands() and set(server.commands()) <= {remote_command(False), remote_command(True)}
    for call in server.docker_calls():
        name, *args = call
        assert (name, *args) in ALLOWED_DOCKER_CALLS, call


# ── the happy path ───────────────────────────────────────────────────────────


def test_two_hosts_observed_with_only_the_documented_command(sshd_factory, ssh_settings, ref_data):
    one, two = sshd_factory(), sshd_factory()
    one.configure(ls=(ref_data / "docker/compose_ls_all.json").read_text(),
                  ps=(ref_data / "docker/real_cli_28.2.2_ps_custom.jsonl").read_text())
    two.configure(ls="[]\n", ps="")
    # binding values that would be dangerous in a command line: none of them may reach the server
    evil = endpoint(one, name="docker-host; touch /tmp/pwned")
    result = collect_docker([evil, endpoint(two, name="empty")], ssh_settings(one, two), "s")
    first, second = result
    assert first.observed and first.gap is None, first.gap
    assert first.home and first.home.startswith("/")
    # stacks come from the containers' compose labels (what `docker compose ls` reads): one command per host
    assert [s.name for s in first.stacks] == ["blog", "mixed"]
    assert {c.name for c in first.containers} == {"blog-web-1", "mixed-tool-run-0badc0ffee00", "standalone"}
    assert first.status.status == "ok" and first.target == "docker-host; touch /tmp/pwned"
    assert second.observed and second.stacks == () and second.containers == ()
    for server in (one, two):
        assert server.commands() == [remote_command(False)]
        assert_only_documented(server)
    assert not Path("/tmp/pwned").exists()
    assert all("pwned" not in c for c in one.commands())


def test_clean_and_drifted_estates_through_the_rules(ssh_host, ssh_settings):
    ssh_host.configure(
        ls=ls_json(("app", "running(2)", "/opt/app"), ("half", "exited(1), running(1)", "/opt/half"),
                   ("moved", "running(1)", "/srv/moved"), ("extra", "running(1)", "/opt/extra")),
        ps=ps_lines(("app-web-1", "app", "running", "/opt/app"), ("app-db-1", "app", "running", "/opt/app"),
                    ("half-a-1", "half", "running", "/opt/half"), ("half-b-1", "half", "exited", "/opt/half"),
                    ("moved-1", "moved", "running", "/srv/moved"), ("extra-1", "extra", "running", "/opt/extra")),
    )
    live = LiveState(docker=collect_docker([endpoint(ssh_host)], ssh_settings(ssh_host), "s"))

    def findings(*stacks):
        ctx = RuleContext(scope=SiteScope("s", frozenset(), docker_targets=frozenset({"h1"})),
                          declared=Declared(stacks=tuple(stacks)), live=live)
        return list(run_rules(ctx, STACK_RULES))

    def decl(name, path, line):
        return DeclaredStack("h1", name, path, SourceRef(TARGETS, line))

    clean = findings(decl("app", "/opt/app", 10), decl("half", "/opt/half", 12), decl("moved", "/srv/moved", 14),
                     decl("extra", "/opt/extra", 16))
    assert [(f.kind, f.field) for f in clean] == [(Kind.DRIFTED, "state")]  # half is genuinely half down
    drifted = findings(decl("app", "/opt/app", 10), decl("half", "/opt/half", 12), decl("moved", "~/moved", 14),
                       decl("gone", "/opt/gone", 18))
    got = {(f.kind, f.subject.name, f.field, str(f.sources[0]) if f.sources else None) for f in drifted}
    assert got == {
        (Kind.UNREGISTERED, "extra", None, f"{TARGETS}:10"),
        (Kind.MISSING, "gone", None, f"{TARGETS}:18"),
        (Kind.DRIFTED, "half", "state", f"{TARGETS}:12"),
        (Kind.DRIFTED, "moved", "path", f"{TARGETS}:14"),
    }


def test_sudo_runs_docker_through_sudo_n(ssh_host, ssh_settings):
    ssh_host.configure(ls="[]\n")
    (obs,) = collect_docker([endpoint(ssh_host, sudo=True)], ssh_settings(ssh_host), "s")
    assert obs.observed
    assert ssh_host.commands() == [remote_command(True)]
    assert ssh_host.sudo_calls()[0].startswith("-n docker ps -a")
    assert all(call.startswith("-n ") for call in ssh_host.sudo_calls())


@pytest.mark.parametrize("v1", [False, True], ids=["no-compose-plugin", "compose-v1-only"])
def test_hosts_without_the_compose_plugin_are_observed_from_labels(ssh_host, ssh_settings, v1):
    ssh_host.configure(mode="compose_missing", **({"compose_v1": "1.29.2"} if v1 else {}),
                       ps=ps_lines(("app_web_1", "app", "running", "/opt/app")))
    (obs,) = collect_docker([endpoint(ssh_host)], ssh_settings(ssh_host), "s")
    assert obs.observed, obs.gap
    assert [(s.name, s.working_dir, s.states) for s in obs.stacks] == [("app", "/opt/app", {"running": 1})]
    assert [call[1] for call in ssh_host.docker_calls()] == ["ps"]  # neither compose ls nor docker-compose ran
    assert_only_documented(ssh_host)


def test_five_mib_on_both_streams_does_not_deadlock(ssh_host, ssh_settings):
    ssh_host.configure(mode="huge", huge_bytes=5 * 1024 * 1024, ls="[]\n")
    (obs,) = collect_docker([endpoint(ssh_host)], ssh_settings(ssh_host, command_timeout_s=60.0), "s")
    assert obs.observed, obs.gap
    assert len(obs.containers) > 20000


# ── failure modes ────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("setup", "reason"), [
    ({"docker": False}, Reason.DOCKER_MISSING),
    ({"mode": "daemon_down"}, Reason.DOCKER_DAEMON_DOWN),
    ({"mode": "daemon_down_29"}, Reason.DOCKER_DAEMON_DOWN),
    ({"mode": "permission_denied"}, Reason.DOCKER_PERMISSION_DENIED),
    ({"mode": "garbage"}, Reason.OUTPUT_UNPARSEABLE),
])
def test_docker_failures(ssh_host, ssh_settings, setup, reason):
    ssh_host.configure(**setup)
    (obs,) = collect_docker([endpoint(ssh_host)], ssh_settings(ssh_host), "s")
    assert not obs.observed
    assert obs.gap.reason is reason, obs.gap
    assert obs.status.status == "failed" and obs.status.reason is reason
    assert_only_documented(ssh_host)


def test_sudo_password_required(ssh_host, ssh_settings):
    ssh_host.configure(sudo_password=True)
    (obs,) = collect_docker([endpoint(ssh_host, sudo=True)], ssh_settings(ssh_host), "s")
    assert obs.gap.reason is Reason.SUDO_PASSWORD_REQUIRED
    assert ssh_host.docker_calls() == []  # docker never ran


def test_output_cap(ssh_host, ssh_settings):
    ssh_host.configure(mode="huge", huge_bytes=5 * 1024 * 1024)
    (obs,) = collect_docker([endpoint(ssh_host)], ssh_settings(ssh_host, max_output_bytes=1024 * 1024), "s")
    assert obs.gap.reason is Reason.OUTPUT_TOO_LARGE


def test_command_deadline_is_total(ssh_host, ssh_settings):
    ssh_host.configure(mode="slow", delay=10)
    settings = ssh_settings(ssh_host, command_timeout_s=1.0)
    (obs,) = collect_docker([endpoint(ssh_host)], settings, "s")
    assert obs.gap.reason is Reason.SSH_TIMEOUT
    assert "did not finish within 1 s" in obs.gap.detail


def test_unknown_host_key_is_refused(ssh_host, ssh_settings, tmp_path):
    settings = ssh_settings(ssh_host)
    settings.known_hosts.write_text("")
    (obs,) = collect_docker([endpoint(ssh_host)], settings, "s")
    assert obs.gap.reason is Reason.HOST_KEY_UNKNOWN
    assert "SHA256:" in obs.gap.detail  # the offered key, so the user can verify and pin it
    assert settings.known_hosts.read_text() == ""  # never added
    assert ssh_host.commands() == []


def test_changed_host_key_is_refused(ssh_host, ssh_settings, tmp_path):
    settings = ssh_settings(ssh_host)
    other = keygen(tmp_path / "other_host_key")
    ssh_host.write_known_hosts(settings.known_hosts, public=other)
    (obs,) = collect_docker([endpoint(ssh_host)], settings, "s")
    assert obs.gap.reason is Reason.HOST_KEY_MISMATCH
    assert ssh_host.commands() == []


def test_known_hosts_with_markers_and_hashed_entries_still_load(ssh_host, ssh_settings):
    import paramiko

    settings = ssh_settings(ssh_host)
    kind, blob = ssh_host.host_public.split()[:2]
    hashed = paramiko.HostKeys.hash_host(f"[127.0.0.1]:{ssh_host.port}")
    settings.known_hosts.write_text(f"@cert-authority *.example {kind} {blob}\n# comment\n{hashed} {kind} {blob}\n")
    ssh_host.configure(ls="[]\n")
    (obs,) = collect_docker([endpoint(ssh_host)], settings, "s")
    assert obs.observed, obs.gap


def test_wrong_key_is_auth_denied(ssh_host, ssh_settings, tmp_path):
    keygen(tmp_path / "stranger")
    (obs,) = collect_docker([endpoint(ssh_host, identity_file=tmp_path / "stranger")], ssh_settings(ssh_host), "s")
    assert obs.gap.reason is Reason.SSH_AUTH_DENIED
    assert ssh_host.commands() == []


def test_port_that_never_speaks_ssh_times_out(ssh_settings, ssh_host):
    with silent_port() as port:
        settings = ssh_settings(ssh_host, connect_timeout_s=1.0)
        (obs,) = collect_docker([endpoint(ssh_host, port=port)], settings, "s")
    assert obs.gap.reason is Reason.SSH_TIMEOUT


def test_refused_port_is_unreachable(ssh_settings, ssh_host):
    with closed_port() as port:
        (obs,) = collect_docker([endpoint(ssh_host, port=port)], ssh_settings(ssh_host), "s")
    assert obs.gap.reason is Reason.SSH_UNREACHABLE


def test_unresolved_endpoint_never_connects(ssh_settings, ssh_host):
    (obs,) = collect_docker([endpoint(ssh_host, host=None, problem="ssh target 'x' is not in ssh.targets.yaml")],
                            ssh_settings(ssh_host), "s")
    assert obs.gap.reason is Reason.UNRESOLVED_TARGET
    assert ssh_host.commands() == []


# ── one bad host among good ones ─────────────────────────────────────────────


def test_failing_host_is_unknown_others_reported_exit_3(sshd_factory, ssh_settings):
    good, bad = sshd_factory(), sshd_factory()
    good.configure(ls=ls_json(("app", "running(1)", "/opt/app")), ps=ps_lines(("app-1", "app", "running", "/opt/app")))
    bad.configure(mode="daemon_down")
    observations = collect_docker([endpoint(good, "good"), endpoint(bad, "bad")], ssh_settings(good, bad), "s")
    stacks = (DeclaredStack("good", "app", "/opt/app", SourceRef(TARGETS, 3)),
              DeclaredStack("bad", "db", "/opt/db", SourceRef(TARGETS, 9)))
    ctx = RuleContext(scope=SiteScope("s", frozenset(), docker_targets=frozenset({"good", "bad"})),
                      declared=Declared(stacks=stacks), live=LiveState(docker=observations))
    findings = list(run_rules(ctx, STACK_RULES))
    assert [(f.kind, f.subject.handle, f.reason, f.hides) for f in findings] == [
        (Kind.UNKNOWN, "host/bad", "docker_daemon_down", ("s/stack/bad/db",))]  # one finding per cause
    assert exit_code_for(findings, []) is ExitCode.UNOBSERVED


def test_sessions_see_the_fake_docker_whatever_docker_this_machine_has(ssh_settings, tmp_path):
    """The fake-docker tests must not depend on the machine: a session's PATH holds only the fake bin folder, so
    a `docker` of the machine's own (this one has /usr/local/bin/docker) never answers in the fake's place."""
    import tempfile

    from reconciler.collect.ssh import run_remote
    from tests.fakes.sshd import start_sshd

    with tempfile.TemporaryDirectory(prefix="reconciler-path-probe-") as folder:  # outside the audited sshd logs
        server = start_sshd(Path(folder) / "sshd")
        try:
            settings = ssh_settings(server)
            probe = "command -v docker || echo none"
            found = run_remote("127.0.0.1", server.port, server.user, server.client_key, settings, probe).stdout
            assert found.strip() == str(server.bin / "docker")
            server.configure(docker=False)
            found = run_remote("127.0.0.1", server.port, server.user, server.client_key, settings, probe).stdout
            assert found.strip() == "none"  # "docker missing" really is missing, whatever the machine has
        finally:
            server.stop()
