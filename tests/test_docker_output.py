"""Parsing the remote script's output: real docker samples, label values with "," and "=", failure texts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reconciler.collect.docker_output import (
    COMMANDS,
    MARK,
    PS_FORMAT,
    DockerOutputError,
    classify_failure,
    parse_host_output,
    parse_label_string,
    parse_ps,
    remote_command,
    remote_script,
    split_config_files,
    stacks_from_containers,
)
from reconciler.model import Reason


@pytest.fixture(scope="module")
def samples(ref_data):
    return ref_data / "docker"


def _script_output(home="/home/ops", ps="", ps_rc=0, ps_err=""):
    """What the remote script prints (both streams), built the way the script frames it."""
    out, err = [], []

    def section(name, stdout, rc, stderr=""):
        out.extend([f"{MARK} begin {name}", stdout, f"{MARK} end {name} {rc}"])
        err.extend([f"{MARK} begin {name}", stderr, f"{MARK} end {name} {rc}"])

    section("home", home, 0)
    section("ps", ps, ps_rc, ps_err)
    return "\n".join(out) + "\n", "\n".join(err) + "\n"


# ── config files ─────────────────────────────────────────────────────────────


def test_config_files():
    assert split_config_files("N/A") == ()
    assert split_config_files("/a/compose.yaml,/a/override.yaml") == ("/a/compose.yaml", "/a/override.yaml")


# ── docker ps ────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", ["docker_ps_custom.jsonl", "real_cli_28.2.2_ps_custom.jsonl"])
def test_ps_custom_template(samples, name):
    containers = {c.name: c for c in parse_ps((samples / name).read_text())}
    assert set(containers) == {"blog-web-1", "mixed-tool-run-0badc0ffee00", "standalone"}
    web = containers["blog-web-1"]
    assert (web.project, web.service, web.working_dir, web.state) == ("blog", "web", "/srv/blog", "running")
    assert web.config_files == "/srv/blog/compose.yaml,/srv/blog/compose.override.yaml"
    assert containers["mixed-tool-run-0badc0ffee00"].oneoff is True
    assert web.oneoff is False
    # --no-trunc joins every name of a container with ","; the first is its own
    assert containers["standalone"].project == ""


@pytest.mark.parametrize("name", ["docker_ps_all.jsonl", "real_cli_28.2.2_ps_format_json.jsonl",
                                  "real_cli_28.2.2_ps_json_template.jsonl"])
def test_ps_labels_string_with_commas_and_equals(samples, name):
    """`Labels` values contain "," and "=": the compose labels must still come out whole."""
    containers = {c.name: c for c in parse_ps((samples / name).read_text())}
    web = containers["blog-web-1"]
    assert web.project == "blog" and web.service == "web" and web.working_dir == "/srv/blog"
    assert web.config_files.startswith("/srv/blog/compose.yaml")
    assert containers["standalone"].project == ""


def test_label_string_values_keep_commas(samples):
    row = json.loads((samples / "real_cli_28.2.2_ps_format_json.jsonl").read_text().splitlines()[0])
    labels = parse_label_string(row["Labels"])
    assert labels["com.docker.compose.depends_on"] == "db:service_started:false,cache:service_healthy:false"
    assert labels["com.docker.compose.project.config_files"] == "/srv/blog/compose.yaml,/srv/blog/compose.override.yaml"
    assert labels["maintainer"] == "NGINX Docker Maintainers <docker-maint@nginx.com>"


def test_ps_garbage_is_unparseable():
    with pytest.raises(DockerOutputError) as err:
        parse_ps("<html>garbage</html>\n")
    assert err.value.reason is Reason.OUTPUT_UNPARSEABLE


# ── stacks ───────────────────────────────────────────────────────────────────


def test_stacks_come_from_labels_and_ignore_one_offs(samples):
    containers = parse_ps((samples / "docker_ps_all.jsonl").read_text())
    stacks = {s.name: s for s in stacks_from_containers(containers)}
    assert set(stacks) == {"blog", "mixed"}  # the standalone container has no project
    assert stacks["blog"].states == {"running": 1} and stacks["blog"].working_dir == "/srv/blog"
    # mixed: db exited, the one-off `compose run` container is not counted
    assert stacks["mixed"].states == {"exited": 1} and not stacks["mixed"].fully_running
    assert stacks["mixed"].config_files == ("/srv/mixed/docker-compose.yml", "/srv/mixed/docker-compose.override.yml")


def _ps_row(name, project, state="running", status="Up 2 minutes", files="compose.yaml", wd="/srv/app"):
    return json.dumps({"ID": "b" * 64, "Names": name, "Image": "local/busybox", "State": state, "Status": status,
                       "Project": project, "Service": name, "WorkingDir": wd, "ConfigFiles": files,
                       "OneOff": "False", "Number": "1"})


def test_compose_v1_relative_config_files_are_joined_to_the_working_dir():
    containers = parse_ps(_ps_row("app_web_1", "app", files="docker-compose.yml") + "\n")
    (stack,) = stacks_from_containers(containers)
    assert stack.config_files == ("/srv/app/docker-compose.yml",)


@pytest.mark.parametrize(("state", "status", "condition", "health"), [
    ("running", "Up 2 minutes (unhealthy)", "unhealthy", "unhealthy"),
    ("running", "Up 5 seconds (health: starting)", "running", "starting"),
    ("running", "Up 3 hours (healthy)", "running", "healthy"),
    ("restarting", "Restarting (1) 2 seconds ago", "restarting", ""),
    ("exited", "Exited (3) 4 seconds ago", "exited", ""),
    ("dead", "Dead", "dead", ""),
])
def test_health_and_restarts_are_part_of_the_state(state, status, condition, health):
    (container,) = parse_ps(_ps_row("c", "app", state, status) + "\n")
    assert (container.health, container.condition) == (health, condition)
    (stack,) = stacks_from_containers((container,))
    assert stack.states == {condition: 1} and stack.fully_running is (condition == "running")


# ── the whole script output ──────────────────────────────────────────────────


def test_host_output_happy_path(samples):
    out, err = _script_output(ps=(samples / "docker_ps_custom.jsonl").read_text().strip(),
                              ps_err="WARNING: a warning on stderr")
    report = parse_host_output("Welcome to Ubuntu (motd)\n" + out, err, 0)
    assert report.home == "/home/ops"
    assert [s.name for s in report.stacks] == ["blog", "mixed"]
    assert len(report.containers) == 3
    assert report.compose_v1 is False


@pytest.mark.parametrize(("stderr", "rc", "reason"), [
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1,
     Reason.DOCKER_DAEMON_DOWN),
    ("failed to connect to the docker API at unix:///var/run/docker.sock; check if the path is correct", 1,
     Reason.DOCKER_DAEMON_DOWN),
    ("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "
     '"http://%2Fvar%2Frun%2Fdocker.sock/v1.50/containers/json": dial unix /var/run/docker.sock: connect: '
     "permission denied", 1, Reason.DOCKER_PERMISSION_DENIED),
    ("permission denied while trying to connect to the docker API at unix:///var/run/docker.sock", 1,
     Reason.DOCKER_PERMISSION_DENIED),
    ("bash: line 1: docker: command not found", 127, Reason.DOCKER_MISSING),
    ("sh: 1: docker: not found", 127, Reason.DOCKER_MISSING),
    ("sudo: a password is required", 1, Reason.SUDO_PASSWORD_REQUIRED),
])
def test_ps_failures_are_classified(stderr, rc, reason):
    out, err = _script_output(ps_rc=rc, ps_err=stderr)
    with pytest.raises(DockerOutputError) as caught:
        parse_host_output(out, err, 0)
    assert caught.value.reason is reason
    assert stderr.split(":")[0] in caught.value.detail


def test_incomplete_output_is_unparseable():
    with pytest.raises(DockerOutputError) as caught:
        parse_host_output("just a banner\n", "", 0)
    assert caught.value.reason is Reason.OUTPUT_UNPARSEABLE


def test_unrecognised_failure_is_unparseable_with_the_message():
    out, err = _script_output(ps_rc=1, ps_err="failed to execute template: something new")
    with pytest.raises(DockerOutputError) as caught:
        parse_host_output(out, err, 0)
    assert caught.value.reason is Reason.OUTPUT_UNPARSEABLE
    assert "failed to execute template" in caught.value.detail


def test_classify_unknown_text_is_none():
    assert classify_failure("something else entirely", 1) is None


# ── the script itself ────────────────────────────────────────────────────────


def test_script_is_constant_and_runs_only_documented_commands(tmp_path):
    """Run the real script under /bin/sh with a recording `docker` first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    recorder = "#!/bin/sh\nprintf '%s\\n' \"$(basename \"$0\") $*\" >> " + str(log) + "\n"
    for name in ("docker", "docker-compose"):
        (bin_dir / name).write_text(recorder + ("exit 1\n" if name == "docker" else "echo 1.29.2\n"))
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": "/home/someone"}
    result = subprocess.run(["/bin/sh", "-c", remote_command()], capture_output=True, text=True, env=env,
                            timeout=30)
    calls = log.read_text().splitlines()
    assert calls == [f"docker ps -a --no-trunc --format {PS_FORMAT}"] == [COMMANDS[0]]  # one docker command
    assert f"{MARK} end ps 1" in result.stdout
    assert "/home/someone" in result.stdout
    assert remote_script(sudo=True).count("sudo -n docker") == 1
    assert "sudo" not in remote_script(sudo=False)


def test_docs_show_the_exact_script():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "ssh.md").read_text()
    assert remote_script(sudo=False).strip() in docs
