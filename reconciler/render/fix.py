"""`reconcile fix`'s outputs: the patch itself, or its edits as JSON beside it (docs/fix.md).

The plan (`reconciler.fix.FixPlan`, an orchestrator's type) is taken as it comes: a renderer imports only
model types, and all it needs is the plan's `diff` and `to_data()`.
"""

from __future__ import annotations

import json
from typing import Any


def fix_diff(plan: Any) -> str:
    """The unified diff, paths relative to the bindings root (`git -C ROOT apply` takes it); empty: nothing."""
    return str(plan.diff)


def fix_json(plan: Any) -> str:
    return json.dumps(plan.to_data(), indent=2, ensure_ascii=False) + "\n"
