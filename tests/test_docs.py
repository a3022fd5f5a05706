"""The docs are for anyone: they carry placeholders, never an address from the user's binding files."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BINDINGS = REPO / "tests" / "data" / "spine-bindings"
ADDRESS = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def user_addresses() -> set[str]:
    found: set[str] = set()
    for path in BINDINGS.rglob("*.yaml"):
        found.update(a for a in ADDRESS.findall(path.read_text()) if not a.startswith(("0.", "127.", "255.")))
    return found


def test_no_doc_names_an_address_of_the_users_estate() -> None:
    real = user_addresses()
    assert len(real) > 20  # the user's files hold plenty: the check has something to find
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "contrib").rglob("*"))]
    leaks = [f"{path.relative_to(REPO)}: {address}" for path in docs if path.is_file()
             for address in sorted(set(ADDRESS.findall(path.read_text())) & real)]
    assert not leaks, leaks


LOADER_FILES = {  # loader module → the section of docs/bindings.md that documents its file
    "lifecycle.py": "vm.lifecycle.yaml", "placement.py": "infra.placement.policy.yaml",
    "ssh_targets.py": "ssh.targets.yaml", "compose_targets.py": "docker.compose.targets.yaml",
    "service_registry.py": "SERVICE_REGISTRY.yaml", "backup.py": "backup.inventory.yaml",
    "health.py": "services.health.yaml", "stack_registry.py": "STACK_REGISTRY.yaml",
    "naming.py": "naming.policy.yaml", "profiles.py": "infra.vm.profiles.yaml",
}


def keys_read_by(loader: Path) -> set[str]:
    """Every string key a loader asks a mapping for: `.get("key")`, `.section("key")`, `.mapping("key")`."""
    import ast

    keys = set()
    for node in ast.walk(ast.parse(loader.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "section", "mapping", "line_of") and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            keys.add(node.args[0].value)
    return keys


def test_bindings_md_lists_every_key_each_loader_reads() -> None:
    doc = (REPO / "docs" / "bindings.md").read_text()
    sections = {title: body for title, body in
                (part.split("\n", 1) for part in doc.split("\n## ")[1:])}
    missing = []
    for module, file_name in LOADER_FILES.items():
        title = next(t for t in sections if file_name in t)
        for key in sorted(keys_read_by(REPO / "reconciler" / "bindings" / module)):
            if f"`{key}`" not in sections[title]:
                missing.append(f"{file_name}: {key}")
    assert not missing, missing
    assert set(LOADER_FILES) >= {p.name for p in (REPO / "reconciler" / "bindings").glob("*.py")} - {
        "__init__.py", "governance.py", "docker.py"}  # every loader of a file is covered
