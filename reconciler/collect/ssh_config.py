"""Host aliases from the site's OpenSSH client config (`ssh.config_file`), read with paramiko's parser.

Kept out of `ssh.py` (the connection) and out of the bindings loaders (which stay free of SSH libraries):
the engine hands `ssh_config_entry` to `bindings.docker.load_docker_bindings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def ssh_config_entry(path: Path | None, alias: str) -> dict[str, Any] | None:
    """The OpenSSH client config entry matching `alias`, or None when no `Host` pattern matches it."""
    if path is None or not path.is_file():
        return None
    import paramiko

    try:
        found = paramiko.SSHConfig.from_path(str(path)).lookup(alias)
    except Exception:  # a malformed client config must not stop the run; the binding chain still works
        return None
    if set(found) == {"hostname"} and found["hostname"] == alias:
        return None
    return dict(found)
