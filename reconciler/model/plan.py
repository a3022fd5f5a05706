"""What `reconcile plan-vm` produces: checks with an outcome, stubs to paste, and the verdict.

Plain frozen dataclasses, no I/O. A plan is *safe* when no check failed (warnings are shown but do not
block); `--verify` is *governed* only when every check passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum

from ..errors import ExitCode
from ..record import record
from . import GuestType


class Outcome(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@record
class Check:
    """One question about the planned guest, its answer and why (with the file:line it rests on)."""

    id: str  # e.g. "vmid.declared", "placement.memory"
    outcome: Outcome
    reason: str
    sources: tuple[str, ...] = ()  # "file:line" of every binding entry the reason cites
    hint: str = ""  # what to do about a warn or fail


@record
class Resolved:
    """The planned guest after defaults: the request, its profile and the site's bindings filled in.

    `origins` says where each value came from ("--cores", "request.yaml:4", "profile spine-ready-v1 (file:line)").
    """

    site: str
    proxmox_host: str
    vmid: int
    hostname: str
    vm_type: GuestType = GuestType.QEMU
    node: str | None = None
    profile: str | None = None
    cores: int | None = None
    memory_mb: int | None = None
    disk_gb: float | None = None
    storage: str | None = None
    template_vmid: int | None = None
    ssh_user: str | None = None
    lan_ip: str | None = None
    tailscale_ip: str | None = None
    stacks: tuple[str, ...] = ()
    health_url: str | None = None
    origins: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def address(self) -> str | None:
        """The address other files use to reach the guest: Tailscale first, as the user's files do."""
        return self.tailscale_ip or self.lan_ip


@record
class Stub:
    """A ready-to-paste entry for one binding file, in that file's own schema and indentation."""

    file_key: str  # BINDING_FILES key, e.g. "vm_lifecycle"
    file: str  # the file as named in the report (relative to the bindings root)
    under: str  # the collection it belongs to, e.g. "vms", "ssh.targets", "hosts"
    entry: str  # the new entry's name or id
    text: str  # the YAML lines to insert, already indented for the file
    insert_after_line: int | None  # paste after this line; None: append to the end of the file
    at_end: bool  # True when that place is the end of the file (plain append works)
    note: str = ""  # what to fill in before REGISTER is complete

    @property
    def place(self) -> str:
        """Where the stub goes, in words: "ops/bindings/ssh.targets.yaml: append at the end (under ssh.targets)"."""
        if self.insert_after_line is None or self.at_end:
            return f"{self.file}: append at the end of the file (under {self.under})"
        return f"{self.file}: insert after line {self.insert_after_line} (the end of {self.under}, before the next key)"


@record
class Plan:
    request: Resolved
    checks: tuple[Check, ...]
    stubs: tuple[Stub, ...]
    live_from: Mapping[str, str] = field(default_factory=dict)  # site → "api" or the snapshot path
    errors: tuple[str, ...] = ()  # fatal source failures (authentication, TLS)
    show_stubs: bool = False  # `--stubs`: the text shows the stubs of a blocked plan too

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.checks if c.outcome is outcome)

    @property
    def safe(self) -> bool:
        return not self.errors and self.count(Outcome.FAIL) == 0

    @property
    def exit_code(self) -> ExitCode:
        if self.errors:
            return ExitCode.ERROR
        return ExitCode.DRIFT if self.count(Outcome.FAIL) else ExitCode.OK

    @property
    def summary(self) -> str:
        counts = f"{self.count(Outcome.PASS)} pass, {self.count(Outcome.WARN)} warn, {self.count(Outcome.FAIL)} fail"
        if self.errors:
            return f"ERROR: {len(self.errors)} source(s) failed; {counts}"
        verdict = "SAFE to create" if self.safe else "BLOCKED"
        return f"{verdict}: {self.request.vm_type.value} {self.request.vmid} '{self.request.hostname}' on " \
               f"{self.request.site} ({counts})"


@record
class Verification:
    """`plan-vm --verify VMID`: the single-guest version of the full reconcile and governance checks."""

    site: str
    vmid: int
    hostname: str | None
    proxmox_host: str | None
    checks: tuple[Check, ...]
    live_from: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.checks if c.outcome is outcome)

    @property
    def governed(self) -> bool:
        return not self.errors and all(c.outcome is Outcome.PASS for c in self.checks)

    @property
    def exit_code(self) -> ExitCode:
        """0 fully governed; 1 a check failed; 3 nothing failed but something could not be observed; 2 error."""
        if self.errors:
            return ExitCode.ERROR
        if self.count(Outcome.FAIL):
            return ExitCode.DRIFT
        return ExitCode.UNOBSERVED if self.count(Outcome.WARN) else ExitCode.OK

    @property
    def summary(self) -> str:
        counts = f"{self.count(Outcome.PASS)} pass, {self.count(Outcome.WARN)} warn, {self.count(Outcome.FAIL)} fail"
        name = f" '{self.hostname}'" if self.hostname else ""
        if self.errors:
            verdict = "ERROR"
        elif self.governed:
            verdict = "GOVERNED"
        elif self.count(Outcome.FAIL):
            verdict = "NOT GOVERNED"
        else:
            verdict = "NOT VERIFIED"
        return f"{verdict}: {self.vmid}{name} on {self.site} ({counts})"
