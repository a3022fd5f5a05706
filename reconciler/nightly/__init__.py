"""The nightly report (`reconcile report`): what changed since last night, ignored on purpose, written safely.

- `ignore`: the `.reconcileignore` format (patterns over finding addresses, `!`, `expires:`, `reason:`);
- `marks`: new / persisting / resolved / unobserved, matched by the stable finding id;
- `report`: `NightlyReport` (pure `build`) and its JSON (the report schema plus the nightly fields);
- `state`: the state folder (last report, bounded history), output specs, atomic writes;
- `lock`: one run per state folder, stale locks of dead runs taken over.

Renderers live in reconciler/render (markdown.py, html.py, prometheus.py); the command in reconciler/cli/nightly.py.
Scheduling and reading the report: docs/nightly.md.
"""

DEFAULT_FORGET_AFTER_DAYS = 30  # `reconcile report --forget-after DAYS` (here, so the CLI's help needs no more)
