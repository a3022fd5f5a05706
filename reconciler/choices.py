"""The closed vocabularies the command line offers as choices: the parts of a run (`--only`) and the guest
types (`plan-vm --type`).

Apart from `model` and `engine` so that `reconcile --help` can build every option without importing the
pipeline (start-up is a benchmark target: docs/performance.md). Standard library only.
"""

from __future__ import annotations

from enum import StrEnum


class Part(StrEnum):
    """The parts of a full run; `--only` picks one."""

    GUESTS = "guests"  # Proxmox API × vm.lifecycle.yaml
    STACKS = "stacks"  # docker over SSH × compose targets / service registry
    GOVERNANCE = "governance"  # cross-file parity rules (files only)
    BACKUPS = "backups"  # backup.inventory.yaml × Proxmox jobs, storages, runs and the files over SSH


ALL_PARTS = frozenset(Part)


class GuestType(StrEnum):
    QEMU = "qemu"
    LXC = "lxc"
