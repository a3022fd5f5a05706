"""Benchmarks of the reconciler: run `benchmarks/run`; see docs/performance.md."""
