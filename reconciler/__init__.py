"""reconciler: compare a Proxmox estate declared in YAML bindings with what really runs.

Pipeline: config → bindings → collect → model → rules → render → cli (see docs/ and README.md).
"""
