"""The docker rules, in the order they run (the engine adds them after the guest rules)."""

from __future__ import annotations

from types import ModuleType

from . import container_drift, container_missing, stack_drift, stack_missing, stack_unknown, stack_unregistered

STACK_RULES: tuple[ModuleType, ...] = (
    stack_unregistered,
    stack_missing,
    stack_drift,
    container_missing,
    container_drift,
    stack_unknown,
)
