"""End to end: `reconcile --site lab` over real loopback sshd hosts with a fake `docker`.

The bindings are the user's schema (vm.lifecycle.yaml guests with ssh_target + stacks, ssh.targets.yaml,
docker.compose.targets.yaml, SERVICE_REGISTRY.yaml); the site file's `ssh:` section points the ssh targets at
the loopback servers through `overrides:` and pins their host keys in a known_hosts file.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.collect.docker_output import remote_command

pytestmark = pytest.mark.sshd

LIFECYCLE = """\
version: 1
defaults:
  proxmox_host: lab-pve
vms:
  - id: 300
    hostname: apps
    status: active
    ssh_target: apps
    stacks:
      - web
      - queue
  - id: 301
    hostname: media
    status: active
    ssh_target: media
    stacks:
      - jellyfin
"""

SSH_TARGETS = """\
ssh:
  defaults:
    user: "root"
    port: 22
  targets:
    - id: "apps"
      host: "apps.invalid"
    - id: "media"
      host: "media.invalid"
"""

COMPOSE_TARGETS = """\
version: 1
targets:
  apps:
    ssh_target: apps
    stacks:
      - name: web
        path: ~/stacks/web
      - name: queue
        path: /opt/queue
  media:
    ssh_target: media
    stacks:
      - name: jellyfin
        path: /opt/jellyfin
"""

REGISTRY = """\
services:
  web-frontend:
    host: apps
    container: web-frontend-1
  jellyfin:
    host: media
    container: jellyfin
"""


def compose_ls(*stacks: tuple[str, str, str]) -> str:
    return json.dumps([{"Name": n, "Status": s, "ConfigFiles": f"{d}/compose.yaml"} for n, s, d in stacks])


def docker_ps(*containers: tuple[str, str, str, str]) -> str:
    rows = [json.dumps({"ID": f"{i:064x}", "Names": name, "Image": "img", "State": state, "Status": "Up",
                        "Project": project, "Service": name, "WorkingDir": wd, "ConfigFiles": f"{wd}/compose.yaml",
                        "OneOff": "False", "Number": "1"})
            for i, (name, project, state, wd) in enumerate(containers, 1)]
    return "\n".join(rows) + "\n"


def write_estate(tmp_path: Path, apps: Any, media: Any) -> tuple[Path, Path]:
    """Bindings + site file; returns (sites dir, bindings root)."""
    root = tmp_path / "spine"
    files = {"ops/bindings/vm.lifecycle.yaml": LIFECYCLE, "ops/bindings/ssh.targets.yaml": SSH_TARGETS,
             "ops/bindings/docker.compose.targets.yaml": COMPOSE_TARGETS,
             "docs/governance/SERVICE_REGISTRY.yaml": REGISTRY}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    known = tmp_path / "known_hosts"
    known.write_text(apps.known_hosts_line() + media.known_hosts_line())
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "lab.yaml").write_text(textwrap.dedent(f"""\
        site: lab
        bindings_root: {root}
        proxmox_hosts: [lab-pve]
        ssh:
          known_hosts: {known}
          identity_file: {apps.client_key}
          use_agent: false
          connect_timeout_s: 5
          command_timeout_s: 15
          overrides:
            apps: {{host: 127.0.0.1, port: {apps.port}, user: {apps.user}}}
            media: {{host: 127.0.0.1, port: {media.port}, user: {media.user}, identity_file: {media.client_key}}}
        """))
    return sites, root


def line_of(root: Path, name: str, pattern: str) -> str:
    lines = (root / name).read_text().splitlines()
    return f"{name}:{next(i for i, text in enumerate(lines, 1) if re.search(pattern, text))}"


def run(cli: Any, sites: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "stacks", "-f", "json", *extra)
    assert "Traceback" not in result.err, result.err
    return result.code, json.loads(result.out)


CLEAN_APPS = (compose_ls(("web", "running(1)", "/home/u/stacks/web"), ("queue", "running(1)", "/opt/queue")),
              docker_ps(("web-frontend-1", "web", "running", "/home/u/stacks/web"),
                        ("queue-worker-1", "queue", "running", "/opt/queue")))
CLEAN_MEDIA = (compose_ls(("jellyfin", "running(1)", "/opt/jellyfin")),
               docker_ps(("jellyfin", "jellyfin", "running", "/opt/jellyfin")))


def configure(server: Any, listing: tuple[str, str]) -> None:
    """Set the fake docker's answers; `~` in declared paths expands to the remote $HOME, so use it."""
    ls, ps = listing
    home = server.extra.get("home") or str(Path.home())
    server.configure(ls=ls.replace("/home/u", home), ps=ps.replace("/home/u", home))


def test_clean_stacks_give_no_findings(cli, sshd_factory, tmp_path: Path) -> None:
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, CLEAN_APPS)
    configure(media, CLEAN_MEDIA)
    sites, _ = write_estate(tmp_path, apps, media)
    code, report = run(cli, sites)
    assert report["findings"] == [], report["findings"]
    assert code == 0
    assert {s["name"]: s["status"] for s in report["sources"]} == {"docker:apps": "ok", "docker:media": "ok"}
    for server in (apps, media):
        assert server.commands() == [remote_command(False)]


def test_drifted_stacks_cite_file_and_line(cli, sshd_factory, tmp_path: Path) -> None:
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, (
        compose_ls(("web", "exited(1), running(1)", "/srv/web"), ("extra", "running(1)", "/opt/extra")),
        docker_ps(("web-frontend-1", "web", "exited", "/srv/web"), ("web-api-1", "web", "running", "/srv/web"),
                  ("extra-1", "extra", "running", "/opt/extra"), ("extra-2", "extra", "running", "/opt/extra"))))
    configure(media, (compose_ls(("jellyfin", "running(1)", "/opt/jellyfin")),
                      docker_ps(("jf-other", "jellyfin", "running", "/opt/jellyfin"))))
    sites, root = write_estate(tmp_path, apps, media)
    code, report = run(cli, sites)
    compose = "ops/bindings/docker.compose.targets.yaml"
    got = {(f["kind"], f["subject"]["type"], f["subject"]["name"], f["field"]): f["sources"]
           for f in report["findings"]}
    # cited where the stack would be added: the apps target's stack list (its first entry)
    assert got[("unregistered", "stack", "extra", None)] == [line_of(root, compose, r"name: web")]
    assert got[("missing", "stack", "queue", None)] == [line_of(root, compose, r"name: queue")]
    assert got[("drifted", "stack", "web", "path")] == [line_of(root, compose, r"name: web")]
    assert got[("drifted", "stack", "web", "state")] == [line_of(root, compose, r"name: web")]
    registry = "docs/governance/SERVICE_REGISTRY.yaml"
    missing_containers = {k[2]: v for k, v in got.items() if k[0] == "missing" and k[1] == "container"}
    assert missing_containers.get("jellyfin") == [line_of(root, registry, r"^  jellyfin:")], got
    # the unregistered project's containers roll up into its one finding
    assert not any(k[1] == "container" and "extra" in (k[2] or "") for k in got)
    assert code == 1


def test_unobservable_host_is_unknown_never_missing(cli, sshd_factory, tmp_path: Path) -> None:
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, CLEAN_APPS)
    media.configure(mode="daemon_down")
    sites, _ = write_estate(tmp_path, apps, media)
    code, report = run(cli, sites)
    # one unknown finding for the host (the cause), naming the stacks it hides; nothing of it is missing
    assert [(f["kind"], f["subject"]["type"], f["subject"]["target"], f["reason"]) for f in report["findings"]] == [
        ("unknown", "host", "media", "docker_daemon_down")]
    assert [h.split("/")[1] for h in report["findings"][0]["hides"]].count("stack") >= 1
    status = {s["name"]: s["status"] for s in report["sources"]}
    assert status == {"docker:apps": "ok", "docker:media": "failed"}
    assert code == 3


def test_skip_ssh_contacts_nobody_and_claims_nothing(cli, sshd_factory, tmp_path: Path) -> None:
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, CLEAN_APPS)
    configure(media, CLEAN_MEDIA)
    sites, _ = write_estate(tmp_path, apps, media)
    code, report = run(cli, sites, "--skip-ssh")
    assert apps.commands() == [] and media.commands() == []
    assert {(f["subject"]["target"], f["reason"]) for f in report["findings"]} == {("apps", "skipped"),
                                                                                  ("media", "skipped")}
    assert code == 3


def test_only_guests_does_not_touch_docker_hosts(cli, sshd_factory, tmp_path: Path) -> None:
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, CLEAN_APPS)
    configure(media, CLEAN_MEDIA)
    sites, _ = write_estate(tmp_path, apps, media)
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "guests", "-f", "json")
    assert apps.commands() == [] and media.commands() == []
    assert not [f for f in json.loads(result.out)["findings"] if f["subject"]["type"] in ("stack", "container")]


def test_debug_explains_docker_membership(cli, sshd_factory, tmp_path: Path) -> None:
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, CLEAN_APPS)
    configure(media, CLEAN_MEDIA)
    sites, _ = write_estate(tmp_path, apps, media)
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "stacks", "--debug")
    assert re.search(r"docker host apps: .*vm\.lifecycle\.yaml:\d+", result.err), result.err
    assert f"endpoint apps: {apps.user}@127.0.0.1:{apps.port}" in result.err


def test_snapshot_of_docker_hosts_round_trips(cli, sshd_factory, tmp_path: Path) -> None:
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, CLEAN_APPS)
    media.configure(ls="[]\n", ps="")  # jellyfin is gone: missing stack and missing container
    sites, _ = write_estate(tmp_path, apps, media)
    live_code, live = run(cli, sites)
    snapshot = tmp_path / "live.json"
    taken = cli("--sites-dir", sites, "snapshot", "--site", "lab", "-o", snapshot)
    assert taken.code == 0, taken.err
    assert [t for t in json.loads(snapshot.read_text())["docker"] if t["observed"]] != []
    apps.stop()
    media.stop()  # offline from here: the snapshot must be enough
    offline_code, offline = run(cli, sites, "--live", str(snapshot))
    assert (offline_code, [f["id"] for f in offline["findings"]]) == (live_code, [f["id"] for f in live["findings"]])
    assert {(f["kind"], f["subject"]["type"]) for f in offline["findings"]} == {("missing", "stack"),
                                                                               ("missing", "container")}


def test_snapshot_refuses_an_offline_site_and_contacts_nobody(cli, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use attempted: {args!r}")

    monkeypatch.setattr("socket.socket.connect", refuse)
    result = cli("snapshot", "--site", "demo")
    assert result.code == 2
    assert result.err.strip() == ("reconcile: error: site demo: reads its live state from live_snapshot, "
                                  "nothing to snapshot")
