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
