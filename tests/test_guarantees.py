"""The guarantees of issue 7 that are not a fault or a bad file: secrets, read-only, data never executed, Ctrl-C.

- The session-wide checks (tests/conftest.py, tests/guarantees.py) are proven able to fail here: each scanner
  is fed a leak or an undocumented command and must flag it.
- The sentinel token is used by real runs in every output mode (table, JSON, --debug, -o, snapshot, a refused
  token, token_secret_file) and is found nowhere.
- Binding values full of shell metacharacters reach a real sshd (whose ForceCommand would run anything it is
  sent): nothing of them is executed, and the command line is the fixed documented one.
- SIGINT during collection (a hanging Proxmox API, a hanging docker host), in a real child process: exit 130
  within seconds, "reconcile: interrupted", no output file, no temp file, the nightly lock released.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from reconciler.collect.docker_output import PS_FORMAT, remote_command
from tests import guarantees
from tests.fakes.pve_server import FakePVE
from tests.fakes.sshd import SshServer

TOKEN_ID = "audit@pve!reconciler"
ESTATE = {"nodes": ["pve"], "guests": [{"vmid": 200, "name": "apps", "ips": ["10.9.0.10"]},
                                       {"vmid": 201, "name": "extra"}]}
LIFECYCLE = "vms:\n  - {id: 200, hostname: apps, proxmox_host: alpha, status: active, lan_ip: 10.9.0.10}\n"


# ── the checks themselves can fail ───────────────────────────────────────────


@pytest.fixture
def scratch_leaks() -> Iterator[None]:
    """Leaks planted by a self-test are removed again, so only the test's own assertions judge them."""
    before = len(guarantees.LEAKS)
    yield
    del guarantees.LEAKS[before:]


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """Outside pytest's temp folders: what a self-test plants there must not trip the session-wide scans."""
    with tempfile.TemporaryDirectory(prefix="reconciler-selftest-") as folder:
        yield Path(folder)


def test_every_test_runs_with_the_sentinel() -> None:
    assert os.environ[guarantees.SENTINEL_ENV] == guarantees.SENTINEL
    assert guarantees.SENTINEL in guarantees.SECRETS


def test_leak_scanners_flag_a_planted_secret(scratch_dir: Path, scratch_leaks: None) -> None:
    tmp_path = scratch_dir
    secret = guarantees.SENTINEL
    assert guarantees.note("stdout", f"token={secret}") and not guarantees.note("stdout", "token=<hidden>")
    (tmp_path / "report.json").write_text(json.dumps({"detail": f"Authorization: PVEAPIToken=a!b={secret}"}))
    (tmp_path / "token").write_text(secret + "\n")  # a token_secret_file: where the secret belongs
    (tmp_path / "clean.txt").write_text("nothing to see")
    found = guarantees.scan_tree(tmp_path)
    assert [Path(leak.where).name for leak in found] == ["report.json"]
    handler = guarantees.LeakCatchingHandler()
    record = logging.LogRecord("reconciler.test", logging.DEBUG, __file__, 1, "header %s", (secret,), None)
    before = len(guarantees.LEAKS)
    handler.emit(record)
    assert len(guarantees.LEAKS) == before + 1 and "log record reconciler.test:DEBUG" in guarantees.LEAKS[-1].where


def test_ssh_record_check_flags_an_undocumented_command(scratch_dir: Path) -> None:
    tmp_path = scratch_dir
    host = tmp_path / "host0"
    (host / "ctl").mkdir(parents=True)
    (host / "sshd_config").write_text("")
    (host / "commands.log").write_text(remote_command(False) + "\0")
    (host / "ctl" / "docker.log").write_text(json.dumps(["docker", "ps", "-a", "--no-trunc", "--format", PS_FORMAT]))
    assert guarantees.check_ssh_records(tmp_path).violations == ()
    with (host / "commands.log").open("a") as log:
        log.write("docker rm -f web\0")
    with (host / "ctl" / "docker.log").open("a") as log:
        log.write("\n" + json.dumps(["docker", "stop", "web"]) + "\n")
    violations = guarantees.check_ssh_records(tmp_path).violations
    assert len(violations) == 2 and "docker rm -f web" in violations[0] and "'stop'" in violations[1]


# ── the sentinel token in real runs ──────────────────────────────────────────


def site_file(folder: Path, server: FakePVE, secret_line: str, extra: str = "") -> Path:
    root = folder / "spine" / "ops" / "bindings"
    root.mkdir(parents=True, exist_ok=True)
    (root / "vm.lifecycle.yaml").write_text(LIFECYCLE)
    sites = folder / "sites"
    sites.mkdir(exist_ok=True)
    (sites / "lab.yaml").write_text(
        f"site: lab\nbindings_root: {folder / 'spine'}\nproxmox:\n"
        f"  - {{name: alpha, url: '{server.url}', token_id: '{TOKEN_ID}', {secret_line}, ca_file: '{server.cert_path}',"
        f" timeout_s: 5}}\n{extra}")
    return sites


def test_sentinel_token_never_appears_in_any_output(cli: Any, tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(guarantees.SENTINEL + "\n")
    secret_file.chmod(0o600)
    out = tmp_path / "out"
    out.mkdir()
    records_before = guarantees_handler_records()
    with ExitStack() as stack:
        good = stack.enter_context(FakePVE(ESTATE, token_id=TOKEN_ID, secret=guarantees.SENTINEL))
        refusing = stack.enter_context(FakePVE(ESTATE, token_id=TOKEN_ID, secret="another-secret-entirely-0000"))
        by_env = site_file(tmp_path / "env", good, f"token_secret_env: {guarantees.SENTINEL_ENV}")
        by_file = site_file(tmp_path / "file", good, f"token_secret_file: '{secret_file}'")
        refused = site_file(tmp_path / "refused", refusing, f"token_secret_env: {guarantees.SENTINEL_ENV}")
        runs = [
            (by_env, ["--only", "guests"], 1),
            (by_env, ["--only", "guests", "-f", "json", "-o", str(out / "report.json")], 1),
            (by_env, ["--only", "guests", "--debug"], 1),
            (by_file, ["--only", "guests", "-f", "json", "--debug"], 1),
            (by_env, ["snapshot", "--site", "lab", "-o", str(out / "snapshot.json")], 0),
            (refused, ["--only", "guests", "--debug"], 2),
            (refused, ["snapshot", "--site", "lab"], 2),
        ]
        for sites, args, code in runs:
            head = ["--sites-dir", str(sites)] + ([] if args[0] == "snapshot" else ["--site", "lab"])
            result = cli(*head, *args)
            assert result.code == code, (args, result.err)
            assert guarantees.SENTINEL not in result.out + result.err
        assert good.requests and all(r.authenticated for r in good.requests if r.api_path)
    for written in out.iterdir():
        assert guarantees.SENTINEL not in written.read_text(), written
    assert guarantees_handler_records() > records_before  # the --debug runs' records went through the check


def guarantees_handler_records() -> int:
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, guarantees.LeakCatchingHandler)]
    assert handlers, "the session's leak-checking log handler is not installed"
    return handlers[0].records


# ── binding values are data, never commands ──────────────────────────────────


def test_shell_metacharacters_in_bindings_are_never_executed(cli: Any, ssh_host: SshServer,
                                                             tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = {  # every value would create `marker` if it ever reached a shell
        "target": f"apps$(touch {marker}1)", "stack": f"web;touch {marker}2", "path": f"/opt/$(touch {marker}3)",
        "file": f"`touch {marker}4`/compose.yaml", "hostname": f"apps|touch {marker}5",
        "user": f"root$(touch {marker}6)",
    }
    root = tmp_path / "spine"
    files = {
        "ops/bindings/vm.lifecycle.yaml": f"vms:\n  - {{id: 200, hostname: '{evil['hostname']}', proxmox_host: x, "
                                          f"status: active, ssh_target: '{evil['target']}'}}\n",
        "ops/bindings/ssh.targets.yaml": f"targets:\n  - {{id: '{evil['target']}', host: 127.0.0.1}}\n"
                                         f"  - {{id: other, host: 127.0.0.1, user: '{evil['user']}'}}\n",
        "ops/bindings/docker.compose.targets.yaml": (
            f"targets:\n  '{evil['target']}':\n    stacks:\n      - {{name: '{evil['stack']}', path: '{evil['path']}', "
            f"compose_file: '{evil['file']}'}}\n  other:\n    stacks: [x]\n"),
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    known = tmp_path / "known_hosts"
    known.write_text(ssh_host.known_hosts_line())
    sites = tmp_path / "sites"
    sites.mkdir()
    ssh = {"known_hosts": str(known), "identity_file": str(ssh_host.client_key), "use_agent": False,
           "connect_timeout_s": 5, "command_timeout_s": 15,
           "overrides": {evil["target"]: {"port": ssh_host.port, "user": ssh_host.user},
                         "other": {"port": ssh_host.port}}}
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {root}\nproxmox_hosts: [x]\n"
                                    f"docker_targets: ['{evil['target']}', other]\nssh: {json.dumps(ssh)}\n")
    ssh_host.configure(ls="[]\n")
    result = cli("--sites-dir", sites, "--site", "lab", "--only", "stacks", "-f", "json")
    report = json.loads(result.out)
    sources = {s["name"]: s for s in report["sources"]}
    assert sources[f"docker:{evil['target']}"]["status"] == "ok", sources
    assert sources["docker:other"]["reason"] == "ssh_auth_denied"  # the odd user name is only a login name
    assert not list(tmp_path.glob("pwned*"))
    assert ssh_host.commands() == [remote_command(False)]  # one connection ran a command: the documented one
    assert all(value not in command for command in ssh_host.commands() for value in evil.values())
    documented = guarantees.documented_docker_calls()
    assert ssh_host.docker_calls() and all(tuple(call) in documented for call in ssh_host.docker_calls())


# ── Ctrl-C ───────────────────────────────────────────────────────────────────

CHILD = "import sys; from reconciler.cli import main; sys.exit(main())"
INTERRUPT_WITHIN_S = 20  # the hung request's own timeout is 60 s: finishing sooner proves the interrupt worked


def interrupt(args: list[str], started: Callable[[], bool]) -> tuple[int, str, str]:
    """Run `reconcile ARGS` in a child, SIGINT it once `started()` says collection is under way."""
    env = {**os.environ, "NO_COLOR": "1"}
    child = subprocess.Popen(  # SIGINT may be ignored by whoever started pytest: the child gets the default
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=Path(__file__).resolve().parents[1], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while not started():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "collection never started"
            time.sleep(0.05)
        time.sleep(0.3)  # well inside the hung request
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=INTERRUPT_WITHIN_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    guarantees.note(f"reconcile {' '.join(args)} (child)", out + err)
    return child.returncode, out, err


@pytest.fixture
def hanging_api(tmp_path: Path) -> Iterator[tuple[FakePVE, Path]]:
    with FakePVE(ESTATE, token_id=TOKEN_ID, secret=guarantees.SENTINEL) as server:
        server.add_fault("cluster/resources", hang=True)
        sites = site_file(tmp_path, server, f"token_secret_env: {guarantees.SENTINEL_ENV}")
        (sites / "lab.yaml").write_text((sites / "lab.yaml").read_text().replace("timeout_s: 5", "timeout_s: 60"))
        yield server, sites


@pytest.mark.parametrize("command", [
    ["--site", "lab", "-f", "json", "-o", "{out}/report.json"],
    ["snapshot", "--site", "lab", "-o", "{out}/snapshot.json"],
    ["report", "--site", "lab", "--state-dir", "{out}/state", "-o", "{out}/nightly.json"],
], ids=["run", "snapshot", "nightly"])
def test_sigint_while_an_api_hangs(hanging_api: tuple[FakePVE, Path], tmp_path: Path, command: list[str]) -> None:
    server, sites = hanging_api
    out = tmp_path / "out"
    out.mkdir()
    args = ["--sites-dir", str(sites), *(part.format(out=out) for part in command)]
    code, stdout, stderr = interrupt(args, lambda: server.count("cluster/resources") > 0)
    assert code == 130, stderr
    assert stderr.strip() == "reconcile: interrupted" and stdout == ""
    leftovers = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert all(p == "state/lock" for p in leftovers), leftovers  # no report, snapshot or temp file
    lock = out / "state" / "lock"
    assert lock.exists() == ("report" in command)
    if lock.exists():  # the nightly run's lock: released (empty) and not held by anyone
        assert lock.read_text() == ""
        with lock.open("r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_sigint_while_a_docker_host_hangs(ssh_host: SshServer, tmp_path: Path) -> None:
    ssh_host.configure(ls="[]\n", mode="slow", delay=60)
    root = tmp_path / "spine" / "ops" / "bindings"
    root.mkdir(parents=True)
    (root / "docker.compose.targets.yaml").write_text("targets: {apps: {stacks: [web]}}\n")
    (root / "vm.lifecycle.yaml").write_text("vms: []\n")
    known = tmp_path / "known_hosts"
    known.write_text(ssh_host.known_hosts_line())
    sites = tmp_path / "sites"
    sites.mkdir()
    ssh = {"known_hosts": str(known), "identity_file": str(ssh_host.client_key), "use_agent": False,
           "command_timeout_s": 60, "overrides": {"apps": {"host": "127.0.0.1", "port": ssh_host.port,
                                                           "user": ssh_host.user}}}
    (sites / "lab.yaml").write_text(f"site: lab\nbindings_root: {tmp_path / 'spine'}\nproxmox_hosts: [x]\n"
                                    f"docker_targets: [apps]\nssh: {json.dumps(ssh)}\n")
    out = tmp_path / "out"
    out.mkdir()
    calls = len(ssh_host.docker_calls())
    code, stdout, stderr = interrupt(
        ["--sites-dir", str(sites), "--site", "lab", "--only", "stacks", "-o", str(out / "report.txt")],
        lambda: len(ssh_host.docker_calls()) > calls)
    assert (code, stderr.strip(), stdout) == (130, "reconcile: interrupted", "")
    assert list(out.iterdir()) == []
