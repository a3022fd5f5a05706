"""The rule registry (reconciler/rules/registry.py) and the validation of a site file's `rules:` section.

- rule ids are unique, each rule is documented (module docstring, and a row of docs/architecture.md naming its
  module), and the configurable governance rules of reconciler/settings.py are exactly the registry's;
- a typo under `rules:` is an error at its file:line with a suggestion, in every command, exit 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.rules.registry import (
    BACKUP_RULES,
    DEFAULT_SCOPES,
    GOVERNANCE_RULES,
    GUEST_RULES,
    RULES,
    STACK_RULES,
    Family,
    _register,
    governance_policy,
)
from reconciler.settings import OTHER_SECTIONS, RuleScope

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "reconciler" / "demo"


def test_rule_ids_are_unique_and_keys_match() -> None:
    assert [entry.id for entry in RULES.values()] == list(RULES)
    assert len({*GUEST_RULES, *STACK_RULES, *BACKUP_RULES, *GOVERNANCE_RULES}) == len(RULES)
    some = next(iter(RULES.values()))
    with pytest.raises(ValueError, match="registered twice"):
        _register((some.family, some.rule), (some.family, some.rule))


def test_every_rule_is_documented() -> None:
    architecture = (REPO / "docs" / "architecture.md").read_text()
    for rule_id, entry in RULES.items():
        assert entry.doc, f"{rule_id}: its module has no docstring"
        module = entry.rule.__name__.replace(".", "/") + ".py"
        assert re.search(rf"^\| `{re.escape(rule_id)}` \| {entry.family.value} \| `{re.escape(module)}` \|",
                         architecture, flags=re.M), f"{rule_id} has no row in docs/architecture.md"


def test_every_governance_rule_carries_its_default_scope() -> None:
    registered = [rule_id for rule_id, entry in RULES.items() if entry.family is Family.GOVERNANCE]
    assert list(DEFAULT_SCOPES) == registered
    assert all(isinstance(scope, RuleScope) for scope in DEFAULT_SCOPES.values())
    assert dict(governance_policy().scopes) == DEFAULT_SCOPES  # no rules: section, the defaults


# ── typos under rules: ───────────────────────────────────────────────────────

TYPOS = {  # the rules: body → (line of the typo in the site file, the expected message after file:line)
    "governanse-ssh: {sites: [lab]}": (8, "rules: unknown rule 'governanse-ssh' (did you mean 'governance-ssh'?)"),
    "plan_vm: {cpu_overcommit: 2}": (8, "rules: unknown rule 'plan_vm' (did you mean 'plan-vm'?)"),
    "parity:\n    categoriez: []": (9, "rules.parity: unknown key 'categoriez' (did you mean 'categories'?)"),
    "plan-vm:\n    cpu_overcomit: 2": (9, "rules.plan-vm: unknown key 'cpu_overcomit' "
                                          "(did you mean 'cpu_overcommit'?)"),
    "governance-backup:\n    exmpt: [x]": (9, "rules.governance-backup: unknown key 'exmpt' (did you mean 'exempt'?)"),
}
COMMANDS = [
    ("--site", "lab"), ("--site", "lab", "--only", "governance"), ("check", "--site", "lab"),
    ("coverage", "--site", "lab"), ("parity", "--site", "lab"), ("snapshot", "--site", "lab"),
    ("plan-vm", "--site", "lab", "--vmid", "150", "--hostname", "x"), ("plan-vm", "--site", "lab", "--verify", "101"),
    ("report", "--site", "lab"),
]


def lab_site(folder: Path, rules: str) -> Path:
    folder.mkdir(exist_ok=True)
    body = (f"site: lab\nbindings_root: {DEMO / 'bindings'}\nproxmox_hosts: [demo-pve]\n"
            f"live_snapshot: {DEMO / 'live.json'}\n# the rules:\n\nrules:\n  {rules}\n")
    path = folder / "lab.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize("rules", list(TYPOS))
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_typo_under_rules_fails_every_command_at_its_line(cli, tmp_path: Path, rules: str, args) -> None:
    line, message = TYPOS[rules]
    site = lab_site(tmp_path / "sites", rules)
    assert site.read_text().splitlines()[line - 1].strip() == rules.splitlines()[-1].strip()
    extra = ("--state-dir", tmp_path / "state") if args[0] == "report" else ()
    result = cli("--sites-dir", tmp_path / "sites", *args, *extra)
    assert result.code == 2, result.out + result.err
    assert result.err.strip().splitlines() == [f"reconcile: error: {site}:{line}: {message}"]


def test_every_other_section_is_known() -> None:
    assert set(OTHER_SECTIONS) == {"parity", "plan-vm"}
