"""The model's vocabularies are enums: a value outside them fails where the object is made, not in a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.collect.snapshot import FORMAT_VERSION, dump_snapshot, load_snapshot
from reconciler.model import (
    Finding,
    Gap,
    GapScope,
    Kind,
    LiveState,
    ProxmoxObservation,
    Reason,
    SourceKind,
    SourceState,
    SourceStatus,
    Subject,
    SubjectType,
)


def test_plain_values_become_members() -> None:
    subject = Subject("host", "lab", target="web")
    assert subject.type is SubjectType.HOST and subject.handle == "host/web"
    assert Gap("guest_ips", Reason.AGENT_ERROR, "x").scope is GapScope.GUEST_IPS
    finding = Finding(Kind.UNKNOWN, "guest-unknown", subject, "m", reason="node_offline")
    assert finding.reason is Reason.NODE_OFFLINE
    source = SourceStatus("docker", "web", "lab", "partial")
    assert (source.kind, source.status, source.name, source.shown_kind) == (
        SourceKind.DOCKER, SourceState.PARTIAL, "docker:web", "docker")


@pytest.mark.parametrize("make", [
    lambda: Subject("hots", "lab"), lambda: Gap("nod", Reason.NODE_OFFLINE, ""),
    lambda: SourceStatus("proxmox", "pve", "lab", "fine"), lambda: SourceStatus("api", "pve", "lab", "ok"),
    lambda: Finding(Kind.UNKNOWN, "r", Subject("qemu", "lab", vmid=1), "m", reason="because"),
], ids=["subject-type", "gap-scope", "source-state", "source-kind", "finding-reason"])
def test_a_value_outside_the_vocabulary_is_refused(make) -> None:
    with pytest.raises(ValueError):
        make()


def test_a_snapshot_keeps_kind_and_host_apart_and_reads_the_old_format(tmp_path: Path) -> None:
    status = SourceStatus("proxmox", "pve", "lab", "ok", detail="3 guests", requests=1)
    state = LiveState(proxmox=(ProxmoxObservation("pve", "lab", listed=True, status=status),))
    text = dump_snapshot(state, ["lab"])
    data = json.loads(text)
    assert data["format_version"] == FORMAT_VERSION == 3
    assert data["proxmox"][0]["status"]["kind"] == "proxmox" and data["proxmox"][0]["status"]["host"] == "pve"
    new = tmp_path / "new.json"
    new.write_text(text)
    assert load_snapshot(new).proxmox[0].status == status

    old_status = {k: v for k, v in data["proxmox"][0]["status"].items() if k not in ("host", "from_snapshot")}
    data["proxmox"][0]["status"] = {"name": "proxmox:pve", **old_status}
    data["format_version"] = 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert load_snapshot(old).proxmox[0].status == status
