"""The SSH fan-out scenario: `reconcile --only stacks` over many docker hosts, in a child process.

One real OpenSSH sshd on 127.0.0.1 (tests/fakes/sshd.py) stands for every docker host: `ssh.targets.yaml`
lists `docker_hosts` aliases that all resolve to it, so the reconciler opens one SSH connection per alias,
exactly as it would to distinct hosts. The fake `docker` (tests/fakes/fake_docker) sleeps `delay_s` before
answering each command; the documented remote script runs two (`docker compose ls`, then `docker ps`), so a
host costs at least 2 × `delay_s` plus its SSH handshake.

Each run is checked: one SSH session and two docker commands per host, every host observed, and exactly
the drifted stacks the estate declares.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections import Counter
from pathlib import Path
from types import TracebackType

from tests.fakes.sshd import SshServer, sshd_available, start_sshd

from .estate import SITE, Estate, EstateSpec
from .harness import BenchError, ProcessSample, reconcile_command, run_measured
from .pve import child_env, write_site


class SshBench:
    def __init__(self, spec: EstateSpec, delay_s: float, concurrency: int | None = None) -> None:
        if not sshd_available():
            raise BenchError("/usr/sbin/sshd is not installed (apt-get install openssh-server)")
        self.spec, self.delay_s, self.concurrency = spec, delay_s, concurrency
        self.estate = Estate(spec)
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-ssh-")
        self.dir = Path(self._tmp.name)
        self.server: SshServer | None = None

    def __enter__(self) -> SshBench:
        # SHLVL=1: the login shell (bash) that runs each session's command skips ~/.bashrc. On this machine
        # root's .bashrc runs `pyenv init`, ~0.2 s of CPU per session: fixture cost, not the reconciler's.
        # MaxStartups: one sshd stands for every host, so it must accept as many handshakes at once as the
        # reconciler opens (its default, 10:30:100, drops some above 10; each real host has its own sshd).
        server = self.server = start_sshd(self.dir / "sshd", extra_env={"SHLVL": "1"},
                                          extra_config="MaxStartups 200\n")
        server.configure(mode="slow" if self.delay_s else "ok", delay=self.delay_s or None,
                         ls=self.estate.docker_ls_json(), ps=self.estate.docker_ps_jsonl())
        self.estate.write_bindings(self.dir / "spine", ssh_port=server.port, ssh_user=server.user)
        known = server.write_known_hosts(self.dir / "known_hosts")
        concurrency = f"  concurrency: {self.concurrency}\n" if self.concurrency else ""
        ssh = textwrap.dedent(f"""\
            ssh:
              known_hosts: {known}
              identity_file: {server.client_key}
              use_agent: false
            """) + concurrency
        write_site(self.dir / "sites", self.dir / "spine", None, ssh=ssh)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.server is not None:
            self.server.stop()
        self._tmp.cleanup()

    def reconcile(self) -> tuple[ProcessSample, int]:
        """`reconcile --site bench --only stacks -f json`; checked; (sample, SSH sessions)."""
        assert self.server is not None
        sessions_before, docker_before = len(self.server.commands()), len(self.server.docker_calls())
        sample = run_measured([*reconcile_command(), "--sites-dir", str(self.dir / "sites"), "--site", SITE,
                               "--only", "stacks", "--format", "json"], env=child_env())
        sessions = len(self.server.commands()) - sessions_before
        docker_calls = len(self.server.docker_calls()) - docker_before
        hosts = self.spec.docker_hosts
        if sample.exit_code not in (0, 1):
            raise BenchError(f"reconcile exited {sample.exit_code}: {sample.stderr.strip()[-300:]}")
        if sessions != hosts or docker_calls != 2 * hosts:
            raise BenchError(f"{sessions} SSH sessions / {docker_calls} docker commands for {hosts} hosts, "
                             f"expected {hosts} / {2 * hosts}")
        report = json.loads(sample.stdout)
        observed = [s for s in report["sources"] if s["kind"] == "docker" and s["status"] == "ok"]
        got = Counter((f["kind"], f["field"]) for f in report["findings"] if f["rule"].startswith("stack-"))
        wanted = self.estate.expected_stack_findings()["drifted"]
        if len(observed) != hosts or got != Counter({("drifted", "path"): wanted} if wanted else {}):
            raise BenchError(f"{len(observed)}/{hosts} hosts observed, stack findings {dict(got)}, "
                             f"expected {wanted} drifted path")
        return sample, sessions
