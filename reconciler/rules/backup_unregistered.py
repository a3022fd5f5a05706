"""Archives on a Proxmox backup storage of a guest that no inventory target's glob matches (unregistered).

Only listings the token may fully see are read (an empty or partial listing proves nothing). A target claims
archives when its glob matches them and it is about that storage: its host is the Proxmox host, or its
base_path is the storage's dump folder (a NAS target's `vzdump-qemu-*` copies are other files). Enabled or
not: a disabled target still says the archives are known.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Kind, Severity, SourceRef, Subject
from ..model.backup import Archive
from . import RuleContext
from ._backups import matches_archive

RULE_ID = "backup-unregistered"


def check(ctx: RuleContext) -> Iterator[Finding]:
    backups = ctx.backups
    if backups is None or not backups.present:
        return
    site = ctx.scope.site
    for host, obs in sorted(ctx.backup_view.pve.items()):
        dump_dirs = {s.storage: s.dump_dir for n in obs.nodes for s in n.storages or () if s.dump_dir}
        for listing in obs.listings:
            if not listing.visible:
                continue
            folder = (dump_dirs.get(listing.storage) or "").rstrip("/")
            targets = [t for t in backups.inventory.targets
                       if t.host == host or (folder and (t.base_path or "").rstrip("/") == folder)]
            groups: dict[tuple[str, int | None], list[Archive]] = {}
            for archive in listing.archives:
                if not any(matches_archive(t, archive.name) for t in targets):
                    groups.setdefault((archive.subtype, archive.vmid), []).append(archive)
            for (subtype, vmid), archives in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
                newest = max(archives, key=lambda a: a.ctime)
                guest = f"{subtype} {vmid}" if vmid is not None else "an unnamed guest"
                yield Finding(
                    kind=Kind.UNREGISTERED, rule=RULE_ID, severity=Severity.WARNING,
                    subject=Subject(type="backup", site=site, proxmox_host=host,
                                    name=f"{listing.storage}:vzdump-{subtype}-{vmid if vmid is not None else 'x'}"),
                    live=f"{len(archives)} archive(s), newest {newest.name}",
                    sources=(SourceRef(backups.inventory.shown, backups.inventory.line),),
                    message=f"storage {listing.storage} on {host} holds {len(archives)} vzdump archive(s) of "
                            f"{guest} that no backup target's glob matches (newest {newest.name})",
                    hint="add a target for them to backup.inventory.yaml, or prune them",
                )
