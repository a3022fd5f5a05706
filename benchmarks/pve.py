"""The Proxmox scenarios: the real `reconcile` CLI, in a child process, against the fake HTTPS Proxmox API.

`PveBench` starts one `FakePVE` (tests/fakes/pve_server.py) holding a synthetic estate, with a delay on every
request (a `Fault` on the glob "*": what a slow link or a busy pveproxy adds), writes the binding files and
a site file that trusts the fake's certificate through `ca_file`, and runs `reconcile` against it.

Each run checks that the work was really done: the exact number of API requests the estate implies, and
the exact number of drifted / unknown guest findings in the JSON report. A run that does less is an error,
never a fast figure.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path
from types import TracebackType

from tests.fakes.pve_server import Estate as FakeEstate
from tests.fakes.pve_server import FakePVE

from .estate import PROXMOX_HOST, SECRET_ENV, SITE, TOKEN_ID, TOKEN_SECRET, Estate, EstateSpec
from .harness import REPO, BenchError, ProcessSample, reconcile_command, run_measured


def write_site(sites_dir: Path, bindings_root: Path, srv: FakePVE | None, ssh: str = "",
               concurrency: int | None = None) -> Path:
    """sites/bench.yaml: one Proxmox host (the fake, trusted via ca_file) and optional `ssh:` settings.

    `concurrency`: the host's `concurrency:` (parallel detail requests); None keeps the default (8).
    """
    sites_dir.mkdir(parents=True, exist_ok=True)
    proxmox = "proxmox: []\n"
    if srv is not None:
        proxmox = textwrap.dedent(f"""\
            proxmox:
              - name: {PROXMOX_HOST}
                url: {srv.url}
                token_id: "{TOKEN_ID}"
                token_secret_env: {SECRET_ENV}
                ca_file: {srv.cert_path}
                timeout_s: 30
            """) + (f"    concurrency: {concurrency}\n" if concurrency else "")
    path = sites_dir / f"{SITE}.yaml"
    path.write_text(f"site: {SITE}\nbindings_root: {bindings_root}\n{proxmox}{ssh}")
    return path


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({SECRET_ENV: TOKEN_SECRET, "NO_COLOR": "1", **extra})
    return env


class PveBench:
    """A fake Proxmox API serving `spec`'s estate with `delay_s` per request, plus bindings and a site file."""

    def __init__(self, spec: EstateSpec, delay_s: float, concurrency: int | None = None) -> None:
        self.spec, self.delay_s, self.concurrency = spec, delay_s, concurrency
        self.estate = Estate(spec)
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-pve-")
        self.dir = Path(self._tmp.name)
        self.srv = FakePVE(FakeEstate.from_dict(self.estate.pve_estate()), token_id=TOKEN_ID, secret=TOKEN_SECRET)

    def __enter__(self) -> PveBench:
        self.srv.start()
        if self.delay_s:
            self.srv.add_fault("*", delay=self.delay_s)  # every request, whatever its path
        self.estate.write_bindings(self.dir / "spine")
        write_site(self.dir / "sites", self.dir / "spine", self.srv, concurrency=self.concurrency)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.srv.stop()
        self._tmp.cleanup()

    @property
    def sites_dir(self) -> Path:
        return self.dir / "sites"

    def reconcile(self) -> tuple[ProcessSample, int]:
        """`reconcile --site bench -f json` (a full run: guests, stacks, governance); checked; (sample, requests)."""
        self.srv.reset_requests()
        sample = run_measured([*reconcile_command(), "--sites-dir", str(self.sites_dir), "--site", SITE,
                               "--format", "json"], env=child_env())
        requests = len(self.srv.requests)
        self._check_reconcile(sample, requests)
        return sample, requests

    def snapshot(self) -> tuple[ProcessSample, int]:
        """`reconcile snapshot --site bench`: every running guest's addresses, whatever is declared."""
        self.srv.reset_requests()
        sample = run_measured([*reconcile_command(), "--sites-dir", str(self.sites_dir), "snapshot", "--site", SITE],
                              env=child_env())
        requests = len(self.srv.requests)
        if sample.exit_code != 0:
            raise BenchError(f"snapshot exited {sample.exit_code}: {sample.stderr.strip()[-300:]}")
        state = json.loads(sample.stdout)
        guests = [g for obs in state["proxmox"] for g in obs["guests"]]
        with_ips = sum(1 for g in guests if g.get("ips"))
        expected_ips = sum(1 for g in self.estate.guests if g.needs_detail and not g.ips_unreadable)
        if len(guests) != self.spec.guests or with_ips != expected_ips:
            raise BenchError(f"snapshot has {len(guests)} guests / {with_ips} with addresses, "
                             f"expected {self.spec.guests} / {expected_ips}")
        expect_requests(requests, self.estate.snapshot_requests(), "snapshot")
        return sample, requests

    def _check_reconcile(self, sample: ProcessSample, requests: int) -> None:
        if sample.exit_code not in (0, 1):
            raise BenchError(f"reconcile exited {sample.exit_code}: {sample.stderr.strip()[-300:]}")
        report = json.loads(sample.stdout)
        if report["errors"]:
            raise BenchError(f"reconcile reported errors: {report['errors']}")
        got = Counter((f["kind"], f["field"]) for f in report["findings"] if f["rule"].startswith("guest-"))
        wanted = self.estate.expected_guest_findings()
        have = {"drifted": got[("drifted", "cpu_cores")], "unknown": got[("unknown", "lan_ip")]}
        if have != wanted or sum(got.values()) != sum(wanted.values()):
            raise BenchError(f"guest findings {dict(got)}, expected {wanted}")
        expect_requests(requests, self.estate.reconcile_requests(), "reconcile")


    def ideal(self, concurrency: int) -> ProcessSample:
        """The ideal client (benchmarks/pve_ideal.py) in a child process: exactly the requests the last reconcile
        made, in its order (the listing alone, then the rest `concurrency` at a time), on one keep-alive session
        verified against the same ca_file, parsing nothing. Checked: every request was answered and counted."""
        paths = self.srv.paths()
        listing = self.dir / "requests.txt"
        listing.write_text("\n".join(paths) + "\n")
        self.srv.reset_requests()
        sample = run_measured([sys.executable, "-m", "benchmarks.pve_ideal", "fanout", "--url", self.srv.url,
                               "--ca-file", str(self.srv.cert_path), "--paths", str(listing),
                               "--concurrency", str(concurrency)], cwd=REPO, env=child_env(PYTHONPATH=str(REPO)))
        result = json.loads(sample.stdout or "{}")
        if sample.exit_code != 0 or result.get("ok") != len(paths) or len(self.srv.requests) != len(paths):
            raise BenchError(f"the ideal Proxmox client failed: {sample.stderr.strip()[-300:]}")
        return sample

    def request_cpu(self, repeat: int = 5) -> dict[str, float]:
        """Client CPU per request, ideal client vs the reconciler's (benchmarks/pve_ideal.py `cpu`), over the
        requests of the last reconcile."""
        listing = self.dir / "requests.txt"
        listing.write_text("\n".join(self.srv.paths()) + "\n")
        sample = run_measured([sys.executable, "-m", "benchmarks.pve_ideal", "cpu", "--url", self.srv.url,
                               "--ca-file", str(self.srv.cert_path), "--paths", str(listing), "--repeat",
                               str(repeat)], cwd=REPO, env=child_env(PYTHONPATH=str(REPO)))
        if sample.exit_code != 0:
            raise BenchError(f"the per-request CPU probe failed: {sample.stderr.strip()[-300:]}")
        return json.loads(sample.stdout)


def expect_requests(got: int, wanted: int, what: str) -> None:
    if got != wanted:
        raise BenchError(f"{what}: {got} API requests, expected exactly {wanted}")
