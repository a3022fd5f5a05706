"""Comparison rules: pure functions from declared × live state to findings. No I/O here.

Each rule is a module with a `RULE_ID` and a `check(ctx) -> Iterator[Finding]` generator
(the yamllint pattern). The indexes every rule of a family needs (guests matched by key, each docker host's
stacks, live observation and registered containers) are built once, when the `RuleContext` is made, and carried on it.
"""

from __future__ import annotations

from dataclasses import field

from ..bindings.backup import SiteBackups
from ..model import Declared, LiveState, SiteScope
from ..record import record
from ._backups import BackupView, view_backups
from ._guests import GuestIndex, index_guests
from ._stacks import HostView, view_hosts


@record
class RuleContext:
    scope: SiteScope
    declared: Declared
    live: LiveState
    disk_tolerance_gb: float = 1.0
    lifecycle_file: str = "ops/bindings/vm.lifecycle.yaml"  # as named in hints
    backups: SiteBackups | None = None  # the site's part of backup.inventory.yaml (None: no backup checks)
    guests_checked: bool = True  # the guest rules run too (guest-unknown then reports a Proxmox host's outage)
    guests: GuestIndex = field(init=False, repr=False, compare=False)
    hosts: tuple[HostView, ...] = field(init=False, repr=False, compare=False)
    backup_view: BackupView = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # frozen: the indexes are set once here, from the same declared and live state the rules then read
        object.__setattr__(self, "guests", index_guests(self.scope, self.declared, self.live))
        object.__setattr__(self, "hosts", view_hosts(self.scope, self.declared, self.live))
        object.__setattr__(self, "backup_view", view_backups(self.backups, self.live, self.scope.proxmox_hosts))
