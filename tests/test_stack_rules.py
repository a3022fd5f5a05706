"""Stack and container rules on constructed declared × live state (pure: no SSH here)."""

from __future__ import annotations

from reconciler.model import (
    Declared,
    DeclaredContainer,
    DeclaredGuest,
    DeclaredStack,
    DockerObservation,
    Finding,
    Gap,
    GuestType,
    Kind,
    LiveContainer,
    LiveStack,
    LiveState,
    Reason,
    Severity,
    SiteScope,
    SourceRef,
    Status,
)
from reconciler.rules import RuleContext
from reconciler.rules.registry import STACK_RULES, run_rules

TARGETS = "ops/bindings/docker.compose.targets.yaml"
REGISTRY = "docs/governance/SERVICE_REGISTRY.yaml"
LIFECYCLE = "ops/bindings/vm.lifecycle.yaml"


def stack(name, path, line, target="h1", compose_file=None):
    return DeclaredStack(target=target, name=name, path=path, source=SourceRef(TARGETS, line),
                         compose_file=compose_file)


def live(name, wd, states=None, files=()):
    return LiveStack(name=name, states=states or {"running": 2}, config_files=files, working_dir=wd)


def container(name, project, state="running"):
    return LiveContainer(name=name, state=state, status="Up" if state == "running" else "Exited (1)",
                         project=project, service=name, working_dir=f"/opt/{project}")


def registered(service, name, status="active", host="h1", line=10, compose=None):
    return DeclaredContainer(service=service, host=host, container=name, status=status,
                             source=SourceRef(REGISTRY, line), compose=compose)


def guest(stacks, ssh_target="h1"):
    return DeclaredGuest(proxmox_host="pve", vmid=201, hostname="app", status=Status.ACTIVE, vm_type=GuestType.QEMU,
                         source=SourceRef(LIFECYCLE, 5), ssh_target=ssh_target, stacks=tuple(stacks),
                         field_lines={"stacks": 12})


def observed(target, stacks, containers=(), home="/home/ops"):
    return DockerObservation(target=target, site="s", observed=True, home=home, stacks=tuple(stacks),
                             containers=tuple(containers))


def run(stacks=(), containers=(), guests=(), docker=(), targets=("h1",)) -> list[Finding]:
    ctx = RuleContext(
        scope=SiteScope(site="s", proxmox_hosts=frozenset({"pve"}), docker_targets=frozenset(targets)),
        declared=Declared(guests=tuple(guests), stacks=tuple(stacks), containers=tuple(containers)),
        live=LiveState(docker=tuple(docker)),
    )
    return list(run_rules(ctx, STACK_RULES))


def by(findings, kind, field=None):
    return [f for f in findings if f.kind is kind and (field is None or f.field == field)]


# ── a clean estate ───────────────────────────────────────────────────────────


def test_clean_estate_has_no_findings():
    findings = run(
        stacks=[stack("app", "~/app", 20), stack("db", "/opt/db", 22, compose_file="compose.yaml")],
        containers=[registered("app", "app-web-1"), registered("db", "db", status="")],
        guests=[guest(["app", "db"])],
        docker=[observed("h1", [live("app", "/home/ops/app"), live("db", "/opt/db", files=("/opt/db/compose.yaml",))],
                         [container("app-web-1", "app"), container("db", "db")])],
    )
    assert findings == []


# ── unregistered / missing ───────────────────────────────────────────────────


def test_unregistered_project_rolls_up_its_containers():
    findings = run(
        stacks=[stack("app", "/opt/app", 20)],
        containers=[registered("x", "extra-worker-1")],
        docker=[observed("h1", [live("app", "/opt/app"), live("extra", "/opt/extra", {"running": 1, "exited": 1})],
                         [container("app-web-1", "app"), container("extra-web-1", "extra"),
                          container("extra-worker-1", "extra", "exited")])],
    )
    unregistered = by(findings, Kind.UNREGISTERED)
    assert [f.subject.handle for f in unregistered] == ["stack/h1/extra"]
    assert "extra-web-1" in unregistered[0].message and "extra-worker-1" in unregistered[0].message
    assert unregistered[0].live["containers"] == ["extra-web-1", "extra-worker-1"]
    assert str(unregistered[0].sources[0]) == f"{TARGETS}:20"
    # the registered container of the unregistered project is not reported on its own
    assert [f for f in findings if f.subject.type == "container"] == []


def test_missing_stack_cites_its_line():
    findings = run(stacks=[stack("app", "/opt/app", 20), stack("gone", "/opt/gone", 24)],
                   docker=[observed("h1", [live("app", "/opt/app")])])
    missing = by(findings, Kind.MISSING)
    assert [(f.subject.handle, str(f.sources[0])) for f in missing] == [("stack/h1/gone", f"{TARGETS}:24")]
    assert missing[0].severity is Severity.ERROR


def test_project_name_normalisation_matches():
    findings = run(stacks=[stack("My.App", "/opt/app", 20)], docker=[observed("h1", [live("myapp", "/opt/app")])])
    assert findings == []


# ── drift ────────────────────────────────────────────────────────────────────


def test_each_drifted_field():
    findings = run(
        stacks=[
            stack("pathy", "~/pathy", 20),  # runs elsewhere
            stack("partial", "/opt/partial", 22),
            stack("down", "/opt/down", 24),
            stack("renamed", "/opt/renamed", 26),
            stack("filed", "/opt/filed", 28, compose_file="docker-compose.prod.yml"),
        ],
        docker=[observed("h1", [
            live("pathy", "/srv/pathy"),
            live("partial", "/opt/partial", {"exited": 1, "running": 3}),
            live("down", "/opt/down", {"exited": 2}),
            live("renamed_v2", "/opt/renamed"),
            live("filed", "/opt/filed", files=("/opt/filed/docker-compose.yml",)),
        ])],
    )
    drifted = {(f.subject.name, f.field): f for f in by(findings, Kind.DRIFTED)}
    assert set(drifted) == {("pathy", "path"), ("partial", "state"), ("down", "state"), ("renamed", "name"),
                            ("filed", "compose_file")}
    path = drifted[("pathy", "path")]
    assert (path.declared, path.live) == ("~/pathy", "/srv/pathy")
    assert "/home/ops/pathy" in path.message  # ~ expanded with the remote $HOME
    assert str(path.sources[0]) == f"{TARGETS}:20"
    assert drifted[("partial", "state")].live == "exited(1), running(3)"
    assert drifted[("partial", "state")].severity is Severity.WARNING
    assert drifted[("down", "state")].severity is Severity.ERROR
    assert drifted[("renamed", "name")].live == "renamed_v2"
    # matched by path: neither missing nor unregistered
    assert by(findings, Kind.MISSING) == [] and by(findings, Kind.UNREGISTERED) == []


def test_path_matches_config_file_directory_and_unknown_home_skips():
    findings = run(stacks=[stack("a", "/opt/a", 20), stack("b", "~/b", 22)],
                   docker=[observed("h1", [live("a", "/somewhere", files=("/opt/a/compose.yaml",)),
                                           live("b", "/elsewhere/b")], home=None)])
    assert by(findings, Kind.DRIFTED) == []


def test_lifecycle_and_compose_target_disagreements_are_not_stack_drift():
    """Two binding files disagreeing is `parity` (governance-compose), never `drifted`: nothing live differs."""
    findings = run(stacks=[stack("app", "/opt/app", 20), stack("extra", "/opt/extra", 22)],
                   guests=[guest(["app", "legacy"])],
                   docker=[observed("h1", [live("app", "/opt/app"), live("extra", "/opt/extra")])])
    assert findings == []


# ── unknown ──────────────────────────────────────────────────────────────────


def test_unobservable_hosts_are_unknown_never_missing():
    gap = Gap("docker_host", Reason.SSH_TIMEOUT, "no SSH answer within 5 s", target="h2")
    findings = run(
        stacks=[stack("app", "/opt/app", 20, target="h2"), stack("b", "/opt/b", 30, target="h3"),
                stack("ok", "/opt/ok", 40, target="h1")],
        containers=[registered("app", "app-web-1", host="h2")],
        docker=[DockerObservation(target="h2", site="s", observed=False, gap=gap),
                observed("h1", [live("ok", "/opt/ok")])],
        targets=("h1", "h2", "h3"),
    )
    assert by(findings, Kind.MISSING) == []
    unknown = {f.subject.handle: f for f in by(findings, Kind.UNKNOWN)}
    # one finding per unobservable host (the cause), naming what it hides
    assert set(unknown) == {"host/h2", "host/h3"}
    assert unknown["host/h2"].reason == "ssh_timeout"
    assert unknown["host/h2"].hides == ("s/stack/h2/app", "s/container/h2/app-web-1")
    assert "hides 1 declared stack(s) and 1 registered container(s)" in unknown["host/h2"].message
    assert unknown["host/h3"].hides == ("s/stack/h3/b",)
    assert unknown["host/h3"].reason == "skipped"  # no observation at all
    assert all(f.severity is Severity.WARNING and not f.actionable for f in unknown.values())


def test_hosts_outside_the_site_are_ignored():
    findings = run(stacks=[stack("app", "/opt/app", 20, target="other")],
                   docker=[observed("other", [live("x", "/opt/x")])], targets=("h1",))
    assert [f.subject.handle for f in findings] == ["host/h1"]


# ── containers ───────────────────────────────────────────────────────────────


def test_container_statuses():
    findings = run(
        stacks=[stack("app", "/opt/app", 20)],
        containers=[
            registered("gone", "gone-1", line=10),
            registered("implicit", "implicit-1", status="", line=14),
            registered("down", "down-1", line=18),
            registered("parked", "parked-1", status="parked", line=22),
            registered("stopped", "stopped-1", status="stopped", line=26),
            registered("old", "old-1", status="deprecated", line=30),
            registered("parked-off", "parked-2", status="parked", line=34),
        ],
        docker=[observed("h1", [live("app", "/opt/app")], [
            container("down-1", "app", "exited"), container("parked-1", "app"), container("stopped-1", "app"),
            container("parked-2", "app", "exited"),
        ])],
    )
    got = {(f.subject.name, f.kind, f.severity) for f in findings if f.subject.type == "container"}
    assert got == {
        ("gone-1", Kind.MISSING, Severity.ERROR),
        ("implicit-1", Kind.MISSING, Severity.ERROR),
        ("down-1", Kind.DRIFTED, Severity.ERROR),
        ("parked-1", Kind.DRIFTED, Severity.WARNING),
        ("stopped-1", Kind.DRIFTED, Severity.INFO),
        ("old-1", Kind.MISSING, Severity.INFO),
    }
    implicit = next(f for f in findings if f.subject.name == "implicit-1")
    assert "no status: treated as active" in implicit.message
    assert str(implicit.sources[0]) == f"{REGISTRY}:14"


def test_every_rule_module_has_an_id_and_a_check():
    ids = [m.RULE_ID for m in STACK_RULES]
    assert len(set(ids)) == len(ids) == 6
    assert all(callable(m.check) for m in STACK_RULES)



def test_docker_observations_survive_a_snapshot():
    import json

    from reconciler.collect.docker import failed
    from reconciler.collect.snapshot import dump_snapshot, parse_snapshot

    obs = observed("h1", [live("app", "/opt/app", {"exited": 1, "running": 2}, ("/opt/app/compose.yaml",))],
                   [container("app-web-1", "app")])
    state = LiveState(docker=(obs, failed("h2", "s", Reason.SSH_TIMEOUT, "slow")))
    back = parse_snapshot(json.loads(dump_snapshot(state, ["s"])), "snap")
    assert back.docker[0].stacks == obs.stacks and back.docker[0].containers == obs.containers
    assert back.docker[0].stacks[0].states == {"exited": 1, "running": 2}
    assert not back.docker[1].observed and back.docker[1].gap.reason is Reason.SSH_TIMEOUT


def test_a_missing_stack_carries_its_registered_containers():
    """One cause, one finding: the containers of a stack that is not there are named by its stack-missing finding."""
    findings = run(
        stacks=[stack("web", "~/stacks/web", 20), stack("db", "/opt/db", 24)],
        containers=[registered("web", "web-app-1", compose="/home/ops/stacks/web/compose.yaml", line=10),
                    registered("web-worker", "web-worker-1", compose="~/stacks/web/docker-compose.yml", line=14),
                    registered("db", "db-1", compose="/opt/db/compose.yaml", line=18),
                    registered("cache", "cache-1", compose="/opt/cache/compose.yaml", line=22)],
        docker=[observed("h1", [live("db", "/opt/db")], [container("db-1", "db")])],
    )
    missing = {f.subject.handle: f for f in by(findings, Kind.MISSING)}
    assert set(missing) == {"stack/h1/web", "container/h1/cache-1"}  # cache's stack is not declared: its own
    assert missing["stack/h1/web"].hides == ("s/container/h1/web-app-1", "s/container/h1/web-worker-1")
    assert "web-app-1, web-worker-1 with it" in missing["stack/h1/web"].message
