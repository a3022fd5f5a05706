"""Backup jobs (issue 17 groundwork): `GET /cluster/backup` parsed from the API sample, and PVE's selection rules."""

from __future__ import annotations

import json

import pytest

from reconciler.collect.pve_backup import parse_backup_jobs
from reconciler.collect.pve_parse import ShapeError
from reconciler.model.backup import BackupJob


@pytest.fixture(scope="module")
def jobs(ref_data):
    parsed = parse_backup_jobs(json.loads((ref_data / "pve-api" / "cluster_backup.json").read_text()))
    return {job.id: job for job in parsed}


def test_the_sample_jobs_parse_with_pve_types(jobs):
    nightly = jobs["backup-4f1c2d9e-7a3b"]
    assert (nightly.enabled, nightly.vmids, nightly.storage, nightly.next_run) == (
        True, frozenset({203, 204, 105}), "nfs-dump", 1772499600)
    every = jobs["backup-9b0e6a51-2c8d"]
    assert every.all and every.exclude == frozenset({9000, 110, 301, 302}) and not every.vmids
    weekly = jobs["weekly-prod"]
    assert (weekly.enabled, weekly.pool, weekly.node) == (False, "prod", "pve2")


def test_selection_follows_pve_precedence(jobs):
    every, nightly, weekly = jobs["backup-9b0e6a51-2c8d"], jobs["backup-4f1c2d9e-7a3b"], jobs["weekly-prod"]
    assert every.covers(200, "pve", None) and not every.covers(110, "pve", None)  # all minus exclude
    assert nightly.covers(204, "pve2", None) and not nightly.covers(200, "pve", None)  # the vmid list only
    # pool + node, and disabled: it would select a prod guest on pve2 but backs nothing up
    assert weekly.selects(250, "pve2", "prod") and not weekly.selects(250, "pve", "prod")
    assert not weekly.covers(250, "pve2", "prod")
    # a pool job ignores exclude (PVE does not apply it to pool members)
    assert BackupJob("p", pool="prod", exclude=frozenset({250})).covers(250, "pve", "prod")


def test_exclude_without_pool_implies_all_and_enabled_defaults_to_true():
    (job,) = parse_backup_jobs([{"id": "legacy:1", "exclude": "101", "schedule": "sun 01:00"}])  # vzdump.cron style
    assert job.enabled and job.all and job.covers(102, "pve", None) and not job.covers(101, "pve", None)


@pytest.mark.parametrize("body", [{"data": "not a list"}, {"data": [{"type": "vzdump"}]},
                                  {"data": [{"id": "x", "vmid": "203,$(reboot)"}]}])
def test_odd_answers_are_shape_errors(body):
    with pytest.raises(ShapeError):
        parse_backup_jobs(body)
