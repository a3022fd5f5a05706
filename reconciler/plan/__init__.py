"""`reconcile plan-vm`: the dry run before a VM is created, and `--verify` after (docs/plan-vm.md).

- `request`: the planned guest as asked (flags, `--from FILE`) and resolved with profile defaults;
- `checks`: the pass / warn / fail checks, pure functions over declared and live data;
- `stubs` + `layout`: the REGISTER entries, in each binding file's own schema and place;
- `run`: loads bindings and live data for every site, and writes `--write-stubs` (never into the bindings);
- `verify`: the single-guest reconcile and governance checks, reusing the engine and governance rules.
"""
