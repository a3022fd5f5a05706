"""End to end against a real Docker engine: `reconcile --site lab` over a loopback sshd whose sessions run the
engine's own docker CLI against real compose v2 (and v1) projects (tests/fakes/real_docker.py).

Two engines run for the whole session: `real_docker` holds one project per state the collector must tell
apart (running, exited, unhealthy, restarting, stopped, undeclared, moved, compose v1); `clean_docker` holds
only running, healthy projects. Under CI=true an engine that cannot be brought up fails these tests;
elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.real_docker import CLEAN_PROJECTS, PROJECTS, EngineError, RealEngine, start_engine_sshd
from tests.fakes.sshd import SshServer, sshd_available

pytestmark = pytest.mark.sshd

IN_CI = os.environ.get("CI", "").lower() == "true"
COMPOSE = "ops/bindings/docker.compose.targets.yaml"
REGISTRY = "docs/governance/SERVICE_REGISTRY.yaml"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"real docker engine: {reason} (required under CI=true)", pytrace=False)
    pytest.skip(f"real docker engine: {reason}")


def _engine(projects: tuple) -> Iterator[RealEngine]:
    if os.geteuid() != 0:
        _unavailable("dockerd needs root")
    if not sshd_available():
        _unavailable("/usr/sbin/sshd is not installed (apt-get install openssh-server)")
    engine = RealEngine(projects=projects)
    try:
        engine.start()
    except Exception as error:  # any reason at all: say it (CI fails, elsewhere skips)
        _unavailable(f"{type(error).__name__}: {error}")
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def real_docker() -> Iterator[RealEngine]:
    """The engine with every project of tests/fakes/real_docker.PROJECTS in its state."""
    yield from _engine(PROJECTS)


@pytest.fixture(scope="session")
def clean_docker() -> Iterator[RealEngine]:
    """A second engine where everything runs and is healthy."""
    yield from _engine(CLEAN_PROJECTS)


@dataclass
class Host:
    engine: RealEngine
    server: SshServer


def _host(engine: RealEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    # under an `sshd*` folder: the per-test guarantee in conftest.py checks every command it ran
    base, error = tmp_path_factory.mktemp("sshd-real"), None
    for attempt in range(3):  # restarted on its port: another process may have taken it meanwhile
        try:
            server = start_engine_sshd(base / f"host{attempt}", engine)
            break
        except (EngineError, RuntimeError) as caught:
            error = caught
    else:
        _unavailable(f"no loopback sshd for it: {error}")
    try:
        yield Host(engine, server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def docker1(real_docker: RealEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    yield from _host(real_docker, tmp_path_factory)


@pytest.fixture(scope="session")
def docker2(clean_docker: RealEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    yield from _host(clean_docker, tmp_path_factory)


# ── the estate: bindings + site file ─────────────────────────────────────────


def write_estate(tmp_path: Path, host: Host, stacks: list[tuple[str, str]],
                 containers: list[tuple[str, str, str]], sudo: bool = False) -> tuple[Path, Path]:
    """One docker host `dockerhost` (guest 300) declaring `stacks` (name, path) and registering `containers`
    (service, container, status); returns (sites dir, bindings root)."""
    root = tmp_path / "spine"
    lifecycle = ("version: 1\ndefaults:\n  proxmox_host: lab-pve\nvms:\n  - id: 300\n    hostname: dockerhost\n"
                 "    status: active\n    ssh_target: dockerhost\n    stacks:\n"
                 + "".join(f"      - {name}\n" for name, _ in stacks))
    ssh = 'ssh:\n  defaults:\n    user: "root"\n  targets:\n    - id: "dockerhost"\n      host: "dockerhost.invalid"\n'
    compose = ("version: 1\ntargets:\n  dockerhost:\n    ssh_target: dockerhost\n    stacks:\n"
               + "".join(f"      - name: {name}\n        path: {path}\n" for name, path in stacks))
    registry = "services:\n" + "".join(
        f"  {service}:\n    host: dockerhost\n    container: {container}\n"
        + (f"    status: {status}\n" if status else "") for service, container, status in containers)
    files = {"ops/bindings/vm.lifecycle.yaml": lifecycle, "ops/bindings/ssh.targets.yaml": ssh, COMPOSE: compose,
             REGISTRY: registry}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    known = host.server.write_known_hosts(tmp_path / "known_hosts")
    sites = tmp_path / "sites"
    sites.mkdir(parents=True)
    server = host.server
    (sites / "lab.yaml").write_text(textwrap.dedent(f"""\
        site: lab
        bindings_root: {root}
        proxmox_hosts: [lab-pve]
        ssh:
          known_hosts: {known}
          identity_file: {server.client_key}
          use_agent: false
          connect_timeout_s: 5
          command_timeout_s: 15
          overrides:
            dockerhost: {{host: 127.0.0.1, port: {server.port}, user: {server.user}, sudo: {str(sudo).lower()}}}
        """))
    return sites, root


def line_of(root: Path, name: str, pattern: str) -> str:
    lines = (root / name).read_text().splitlines()
    return f"{name}:{next(i for i, text in enumerate(lines, 1) if re.search(pattern, text))}"


def run(cli: Any, sites: Path) -> tuple[int, dict[str, Any]]:
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "stacks", "-f", "json")
    assert "Traceback" not in result.err, result.err
    return result.code, json.loads(result.out)


def observe(cli: Any, sites: Path, engine: RealEngine, attempts: int = 6) -> tuple[int, dict[str, Any]]:
    """`run`, again when a container that restarts by policy was not `restarting` all through the run: between
    two back-offs it is `running` for ~50 ms, and a run that saw that rightly reports nothing for it."""
    for _ in range(attempts):
        before = engine.restart_marks()
        code, report = run(cli, sites)
        if before and engine.restart_marks() == before and {m[1] for m in before.values()} == {"restarting"}:
            return code, report
        time.sleep(0.2)
    pytest.fail(f"no run saw the restarting containers restarting all through: {engine.restart_marks()}")


def docker_findings(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every stack/container finding of kind drifted, missing or unregistered, by address."""
    return {f["address"]: f for f in report["findings"]
            if f["kind"] in ("drifted", "missing", "unregistered") and f["subject"]["type"] in ("stack", "container")}


def estate_of(host: Host, tmp_path: Path) -> tuple[Path, Path]:
    """The estate of `docker1`: every project but `stray` declared, `moved` at a path it does not run from;
    the exited and stopped projects' containers registered `stopped` / `parked` (so only their stacks drift)."""
    projects = host.engine.projects_dir
    stacks = [(p.name, str(projects / p.name)) for p in host.engine.live_projects if p.name != "stray"]
    containers = [("alpha-web", "alpha-web-1", ""), ("alpha-worker", "alpha-worker-1", "active"),
                  ("exited-job", "exited-job-1", "stopped"), ("sick-app", "sick-app-1", "active"),
                  ("flappy-crash", "flappy-crash-1", "active"), ("paused-svc", "paused-by-stop-svc-1", "parked"),
                  ("moved-app", "moved-app-1", "")]
    if host.engine.v1_available:
        containers.append(("legacy-app", "legacy_app_1", ""))
    return write_estate(tmp_path, host, stacks, containers)


def clean_estate_of(host: Host, tmp_path: Path, registered: bool = True, sudo: bool = False) -> tuple[Path, Path]:
    """The estate of `docker2`: exactly what runs there."""
    stacks = [(p.name, str(host.engine.project_dir(p.name))) for p in host.engine.live_projects]
    containers = [("alpha-web", "alpha-web-1", ""), ("alpha-worker", "alpha-worker-1", "active"),
                  ("fine-app", "fine-app-1", "active")]
    if host.engine.v1_available:
        containers.append(("legacy-app", "legacy_app_1", ""))
    return write_estate(tmp_path, host, stacks, containers if registered else [], sudo)


def expected_findings(host: Host, root: Path) -> dict[str, tuple[str, str | None, object, tuple[str, ...]]]:
    """address → (kind, field, live, sources) of everything `estate_of` must report, and nothing else."""
    def stack(name: str) -> tuple[str]:
        return (line_of(root, COMPOSE, rf"name: {re.escape(name)}$"),)

    def service(name: str) -> tuple[str]:
        return (line_of(root, REGISTRY, rf"^  {re.escape(name)}:$"),)

    engine = host.engine
    stray = {"status": "running(1)", "working_dir": str(engine.project_dir("stray")), "containers": ["stray-app-1"]}
    return {
        # an undeclared project is cited where it would be added: the target's stack list (its first entry)
        "lab/stack/dockerhost/stray/unregistered": ("unregistered", None, stray, stack("alpha")),
        "lab/stack/dockerhost/exited/drifted/state": ("drifted", "state", "exited(1)", stack("exited")),
        "lab/stack/dockerhost/paused-by-stop/drifted/state": ("drifted", "state", "exited(1)", stack("paused-by-stop")),
        "lab/stack/dockerhost/moved/drifted/path": ("drifted", "path", str(engine.project_dir("moved")),
                                                    stack("moved")),
        # an active stack whose container fails its healthcheck / keeps restarting: the registered container is
        # drifted, naming why; the stack is not fully running either (compose ls itself says `running(1)` for
        # sick: the collector counts the container's condition)
        "lab/container/dockerhost/sick-app-1/drifted/state": ("drifted", "state", "unhealthy", service("sick-app")),
        "lab/container/dockerhost/flappy-crash-1/drifted/state": ("drifted", "state", "restarting",
                                                                  service("flappy-crash")),
        "lab/stack/dockerhost/sick/drifted/state": ("drifted", "state", "unhealthy(1)", stack("sick")),
        "lab/stack/dockerhost/flappy/drifted/state": ("drifted", "state", "restarting(1)", stack("flappy")),
    }


def ps_states(engine: RealEngine) -> dict[str, tuple[str, str]]:
    return {row["Names"]: (row["State"], row["Status"]) for row in engine.ps()}


# ── the tests ────────────────────────────────────────────────────────────────


def test_engine_shows_every_state(real_docker: RealEngine) -> None:
    """The fixture itself: each project is in the state the tests below rely on (what `docker ps` says)."""
    states = ps_states(real_docker)
    marks = real_docker.restart_marks()
    assert {name: mark[0] for name, mark in marks.items()} == {"flappy-crash-1": "flappy"}
    assert marks["flappy-crash-1"][2] >= 4  # its back-off is 1.6 s or more by now
    assert states["alpha-web-1"][0] == states["alpha-worker-1"][0] == "running"
    assert states["exited-job-1"][0] == "exited" and states["exited-job-1"][1].startswith("Exited (3)")
    assert states["sick-app-1"][0] == "running" and states["sick-app-1"][1].endswith("(unhealthy)")
    assert states["flappy-crash-1"][0] in ("restarting", "running")  # running ~50 ms between back-offs
    assert states["paused-by-stop-svc-1"][0] == "exited"
    assert states["stray-app-1"][0] == states["moved-app-1"][0] == "running"
    if real_docker.v1_available:
        assert states["legacy_app_1"][0] == "running"


STACK_CASES = ("stray/unregistered", "exited/drifted/state", "paused-by-stop/drifted/state", "moved/drifted/path")
CONTAINER_CASES = ("sick-app-1/drifted/state", "flappy-crash-1/drifted/state")


def _check(report: dict[str, Any], expected: dict[str, tuple], addresses: list[str]) -> None:
    got = docker_findings(report)
    for address in addresses:
        assert address in got, f"{address} not reported; got {sorted(got)}"
        finding = got[address]
        assert (finding["kind"], finding["field"], finding["live"], tuple(finding["sources"])) == expected[address]


def test_stacks_exited_stopped_moved_and_undeclared(cli, docker1: Host, tmp_path: Path) -> None:
    sites, root = estate_of(docker1, tmp_path)
    code, report = observe(cli, sites, docker1.engine)
    assert {s["name"]: s["status"] for s in report["sources"]} == {"docker:dockerhost": "ok"}, report["sources"]
    _check(report, expected_findings(docker1, root), [f"lab/stack/dockerhost/{case}" for case in STACK_CASES])
    assert code == 1


def test_unhealthy_and_restarting_containers_are_drifted(cli, docker1: Host, tmp_path: Path) -> None:
    """An active stack's registered container that fails its healthcheck or keeps restarting is drifted
    (field state, the live value naming why), cited at its registry entry."""
    sites, root = estate_of(docker1, tmp_path)
    _, report = observe(cli, sites, docker1.engine)
    _check(report, expected_findings(docker1, root), [f"lab/container/dockerhost/{case}" for case in CONTAINER_CASES])


def test_nothing_else_is_reported(cli, docker1: Host, tmp_path: Path) -> None:
    """Exactly the expected findings: the running alpha and moved containers, the compose v1 project and the
    stopped / parked registry entries give none, and nothing is unknown."""
    sites, root = estate_of(docker1, tmp_path)
    _, report = observe(cli, sites, docker1.engine)
    expected = expected_findings(docker1, root)
    got = {address: (f["kind"], f["field"], f["live"], tuple(f["sources"]))
           for address, f in docker_findings(report).items()}
    assert sorted(got) == sorted(expected), (f"extra: {sorted(set(got) - set(expected))}; "
                                             f"lacking: {sorted(set(expected) - set(got))}")
    assert got == expected
    assert not [f for f in report["findings"] if f["kind"] == "unknown"], report["findings"]


def test_clean_estate_exits_0(cli, docker2: Host, tmp_path: Path) -> None:
    assert ps_states(docker2.engine)["fine-app-1"][1].endswith("(healthy)")
    sites, _ = clean_estate_of(docker2, tmp_path)
    code, report = run(cli, sites)
    assert report["findings"] == [], report["findings"]
    assert {s["name"]: s["status"] for s in report["sources"]} == {"docker:dockerhost": "ok"}
    assert code == 0


def test_only_documented_commands_ran(cli, docker1: Host, docker2: Host, tmp_path: Path) -> None:
    """Whatever ran on either host (this test's runs and all earlier ones) is the documented command line."""
    from reconciler.collect.docker_output import remote_command

    for host, estate in ((docker1, estate_of), (docker2, clean_estate_of)):
        run(cli, estate(host, tmp_path / host.server.dir.parent.name)[0])
        commands = host.server.commands()
        assert commands
        assert set(commands) == {remote_command(False)}, [c[:200] for c in commands]


@pytest.mark.parametrize("variant", ["no-compose-plugin", "only-sudo-docker"])
def test_hosts_without_compose_plugin_or_with_docker_only_through_sudo(cli, clean_docker: RealEngine, tmp_path: Path,
                                                                       tmp_path_factory: pytest.TempPathFactory,
                                                                       variant: str) -> None:
    """The same real engine reached as two other kinds of host see it: the session's DOCKER_CONFIG has no
    compose plugin, or `docker` is not on its PATH and only `sudo -n docker` works. Both: observed, in sync."""
    from reconciler.collect.docker_output import remote_command

    sudo = variant == "only-sudo-docker"
    empty = tmp_path / "docker-config-without-plugins"
    empty.mkdir()
    server = start_engine_sshd(tmp_path_factory.mktemp("sshd-real-variant") / "host", clean_docker,
                               docker_config=None if sudo else empty, sudo_only=sudo)
    try:
        sites, _ = clean_estate_of(Host(clean_docker, server), tmp_path, sudo=sudo)
        code, report = run(cli, sites)
        assert report["findings"] == [], report["findings"]
        assert {s["name"]: s["status"] for s in report["sources"]} == {"docker:dockerhost": "ok"}
        assert code == 0
        assert server.commands() == [remote_command(sudo)]
        assert not list(empty.iterdir())  # no cli-plugins/docker-compose there
        if sudo:
            assert [call.split(" ", 4)[:4] for call in server.sudo_calls()] == [["-n", "docker", "ps", "-a"]]
    finally:
        server.stop()


def test_daemon_down_is_one_unknown(cli, docker2: Host, tmp_path: Path) -> None:
    """Last (it stops an engine): a stopped daemon makes the host one unknown finding, never missing."""
    engine = docker2.engine
    sites, _ = clean_estate_of(docker2, tmp_path)
    engine.stop_daemon()
    try:
        code, report = run(cli, sites)
    finally:
        began = time.monotonic()
        engine.restore()
        restored = time.monotonic() - began
    assert [(f["kind"], f["subject"]["type"], f["subject"]["target"], f["reason"])
            for f in report["findings"]] == [("unknown", "host", "dockerhost", "docker_daemon_down")]
    hidden = sorted(h.split("/")[-1] for h in report["findings"][0]["hides"] if "/stack/" in h)
    assert hidden == sorted(p.name for p in engine.live_projects), report["findings"][0]
    assert {s["name"]: s["status"] for s in report["sources"]} == {"docker:dockerhost": "failed"}
    assert code == 3
    assert restored < 20, f"restoring the engine took {restored:.1f} s"
