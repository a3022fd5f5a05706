"""Shared matching of declared and live compose stacks for the stack and container rules (pure).

A docker host is *observed* only when its observation says so; a host with no observation at all
(not collected, e.g. `--skip-ssh` or a snapshot without docker data) is unobserved with reason
`skipped`. Nothing on an unobserved host is ever `missing` or `unregistered`.

Matching on an observed host: by project name (exact, then compose-normalised: lowercase, only
`a-z0-9_-`), then a still unmatched declared stack whose path is a live project's working directory
(a renamed project: one `drifted` name finding instead of a missing + an unregistered one).

Everything a rule looks up per container or per stack is indexed once per host, when the view is made: live
containers by name and by project, the unclaimed projects' names, live projects by directory, and the
registered containers of each missing stack. The cost of the docker rules grows with the containers and
stacks of a host, not with their product (benchmarks/growth_rules.py measures it).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import field

from ..model import (
    Declared,
    DeclaredContainer,
    DeclaredStack,
    DockerObservation,
    Gap,
    LiveContainer,
    LiveStack,
    LiveState,
    Reason,
    SiteScope,
    Subject,
)
from ..record import record


@record
class StackMatch:
    declared: DeclaredStack
    live: LiveStack | None  # None: absent (the host was observed)
    renamed: bool = False  # matched by path, not by name


@record
class HostView:
    target: str
    observation: DockerObservation | None
    gap: Gap | None  # set when the host could not be observed
    declared: tuple[DeclaredStack, ...]
    matches: tuple[StackMatch, ...] = ()  # only for observed hosts
    unclaimed: tuple[LiveStack, ...] = ()  # live stacks no declaration claims (observed hosts)
    registered: tuple[DeclaredContainer, ...] = ()  # SERVICE_REGISTRY containers on this host
    # indexes of an observed host, built once with the view (empty otherwise)
    live_by_name: Mapping[str, LiveContainer] = field(default_factory=dict)  # the first live container of a name
    by_project: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # live container names per project
    unclaimed_names: frozenset[str] = frozenset()  # names of the unclaimed live stacks
    missing: tuple[tuple[DeclaredStack, tuple[DeclaredContainer, ...]], ...] = ()  # missing stacks, their containers
    missing_folders: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())  # (as written, expanded)

    @property
    def observed(self) -> bool:
        return self.gap is None and self.observation is not None

    def hides(self, container: DeclaredContainer) -> bool:
        """Whether a registered container of this host belongs to one of its missing stacks (`belongs_to`)."""
        keys = folder_keys(container.compose, self.home)
        written, expanded = self.missing_folders
        return keys is not None and (keys[0] in written or (keys[1] is not None and keys[1] in expanded))

    @property
    def home(self) -> str | None:
        return self.observation.home if self.observation is not None else None


def view_hosts(scope: SiteScope, declared_state: Declared, live_state: LiveState) -> tuple[HostView, ...]:
    """One view per docker host of the site (sorted by target); built once per evaluation (RuleContext.hosts).

    Stacks, registered containers and observations are grouped by host in one pass each: the cost grows with
    hosts + stacks + containers, not with their product (benchmarks/core.py measures it).
    """
    stacks: dict[str, list[DeclaredStack]] = {}
    for stack in declared_state.stacks:
        stacks.setdefault(stack.target, []).append(stack)
    observations: dict[str, DockerObservation] = {}
    for obs in live_state.docker:
        observations.setdefault(obs.target, obs)  # the first observation of a host wins
    registered: dict[str, list[DeclaredContainer]] = {}
    for container in declared_state.containers:
        registered.setdefault(container.host, []).append(container)
    return tuple(_view(target, tuple(stacks.get(target, ())), observations.get(target),
                       tuple(registered.get(target, ())))
                 for target in sorted(scope.docker_targets))


def _view(target: str, declared: tuple[DeclaredStack, ...], obs: DockerObservation | None,
          registered: tuple[DeclaredContainer, ...]) -> HostView:
    if obs is None:
        gap = Gap("docker_host", Reason.SKIPPED, "docker hosts were not collected in this run", target=target)
        return HostView(target, None, gap, declared, registered=registered)
    if not obs.observed:
        gap = obs.gap or Gap("docker_host", Reason.SSH_ERROR, "not observed", target=target)
        return HostView(target, obs, gap, declared, registered=registered)
    matches, unclaimed = _match(declared, obs)
    live_by_name: dict[str, LiveContainer] = {}
    by_project: dict[str, list[str]] = {}
    for container in obs.containers:
        live_by_name.setdefault(container.name, container)
        by_project.setdefault(container.project, []).append(container.name)
    members, folders = _missing_index(tuple(m.declared for m in matches if m.live is None), registered, obs.home)
    return HostView(target, obs, None, declared, matches, unclaimed, registered, live_by_name=live_by_name,
                    by_project={project: tuple(names) for project, names in by_project.items()},
                    unclaimed_names=frozenset(s.name for s in unclaimed), missing=members, missing_folders=folders)


def _missing_index(missing: tuple[DeclaredStack, ...], registered: tuple[DeclaredContainer, ...], home: str | None
                   ) -> tuple[tuple[tuple[DeclaredStack, tuple[DeclaredContainer, ...]], ...],
                              tuple[frozenset[str], frozenset[str]]]:
    """Each missing stack with the registered containers that belong to it (`belongs_to`, registry order), and
    the missing stacks' folders (as written, `~`-expanded) that `HostView.hides` looks a container's up in."""
    if not missing:
        return (), (frozenset(), frozenset())
    written: dict[str, list[int]] = {}
    expanded: dict[str, list[int]] = {}
    for index, container in enumerate(registered):
        keys = folder_keys(container.compose, home)
        if keys is not None:
            written.setdefault(keys[0], []).append(index)
            if keys[1] is not None:
                expanded.setdefault(keys[1], []).append(index)
    members, folders = [], []
    for stack in missing:
        keys = folder_keys(stack.path, home, stack=True)
        hits: set[int] = set()
        if keys is not None:
            folders.append(keys)
            hits.update(written.get(keys[0], ()), expanded.get(keys[1], ()) if keys[1] is not None else ())
        members.append((stack, tuple(registered[i] for i in sorted(hits) if registered[i].host == stack.target)))
    return tuple(members), (frozenset(k[0] for k in folders), frozenset(k[1] for k in folders if k[1] is not None))


def _match(declared: tuple[DeclaredStack, ...], obs: DockerObservation) -> tuple[tuple[StackMatch, ...], tuple]:
    live = {s.name: s for s in obs.stacks}
    normalised = {normalise_project(s.name): s for s in obs.stacks}
    claimed: set[str] = set()
    found: dict[int, StackMatch] = {}
    for index, stack in enumerate(declared):
        hit = live.get(stack.name) or normalised.get(normalise_project(stack.name))
        if hit is not None and hit.name not in claimed:
            claimed.add(hit.name)
            found[index] = StackMatch(stack, hit)
    by_dir: dict[str, list[LiveStack]] | None = None  # live stacks by directory (file order), when first needed
    passed: dict[str, int] = {}  # per directory: how many of its first stacks are claimed (claims only grow)
    for index, stack in enumerate(declared):
        if index in found:
            continue
        want = expand_path(stack.path, obs.home)
        hit = None
        if want:
            if by_dir is None:
                by_dir = {}
                for live_stack in obs.stacks:
                    for folder in live_dirs(live_stack):
                        by_dir.setdefault(folder, []).append(live_stack)
            candidates, first = by_dir.get(want, []), passed.get(want, 0)
            while first < len(candidates) and candidates[first].name in claimed:
                first += 1
            passed[want] = first
            hit = candidates[first] if first < len(candidates) else None
        if hit is not None:
            claimed.add(hit.name)
            found[index] = StackMatch(stack, hit, renamed=True)
        else:
            found[index] = StackMatch(stack, None)
    matches = tuple(found[i] for i in range(len(declared)))
    return matches, tuple(s for s in obs.stacks if s.name not in claimed)


_INVALID = re.compile(r"[^a-z0-9_-]")


def normalise_project(name: str) -> str:
    """Compose's project name normalisation (lowercase; other characters dropped)."""
    return _INVALID.sub("", name.lower())


def expand_path(path: str | None, home: str | None) -> str | None:
    """Declared path with `~` expanded against the remote $HOME; None when it cannot be expanded."""
    if not path:
        return None
    path = path.strip()
    if path == "~" or path.startswith("~/"):
        if not home:
            return None
        path = home.rstrip("/") + path[1:]
    elif path.startswith("~"):
        return None  # ~otheruser: their home is not known
    elif not path.startswith("/"):
        if not home:
            return None
        path = posixpath.join(home, path)
    return posixpath.normpath(path)


def live_dirs(stack: LiveStack) -> set[str]:
    """Where a live project lives: its working directory and the directories of its config files."""
    dirs = {posixpath.normpath(stack.working_dir)} if stack.working_dir else set()
    dirs |= {posixpath.dirname(posixpath.normpath(f)) for f in stack.config_files if f.startswith("/")}
    return dirs


def belongs_to(container: DeclaredContainer, stack: DeclaredStack, home: str | None) -> bool:
    """Whether a registered container is a service of `stack`: its compose file is the stack's or lies in the
    stack's folder (both as written, or both with `~` expanded against the host's $HOME)."""
    if container.host != stack.target:
        return False
    mine, theirs = folder_keys(container.compose, home), folder_keys(stack.path, home, stack=True)
    return mine is not None and theirs is not None and (
        mine[0] == theirs[0] or (mine[1] is not None and mine[1] == theirs[1]))


def folder_keys(path: str | None, home: str | None, stack: bool = False) -> tuple[str, str | None] | None:
    """The folder `belongs_to` compares, as written and `~`-expanded (None when it cannot be expanded): a
    container's is its compose file's directory, a stack's (`stack=True`) its path; None without a path."""
    if not path:
        return None
    folder = path.strip() if stack else posixpath.dirname(path.strip())
    expanded = expand_path(path if stack else folder, home)
    return folder.rstrip("/"), expanded.rstrip("/") if expanded is not None else None


def missing_stacks(view: HostView) -> tuple[DeclaredStack, ...]:
    """Declared stacks of an observed host with no live compose project (what stack-missing reports)."""
    return tuple(m.declared for m in view.matches if m.live is None) if view.observed else ()


def stack_subject(site: str, target: str, name: str) -> Subject:
    return Subject(type="stack", site=site, target=target, name=name)


def container_subject(site: str, target: str, name: str) -> Subject:
    return Subject(type="container", site=site, target=target, name=name)


HINTS = {
    "ssh_timeout": "check the host is up and reachable, or raise ssh.connect_timeout_s / command_timeout_s",
    "ssh_unreachable": "check the address (ssh.targets.yaml or ssh.overrides) and that sshd listens",
    "ssh_auth_denied": "authorise the reconciler's key for this user (ssh.identity_file / agent); see docs/ssh.md",
    "host_key_unknown": "pin the host key in the known_hosts file (verify it out of band); see docs/ssh.md",
    "host_key_mismatch": "the host key changed: verify why before replacing it in known_hosts",
    "docker_missing": "install docker on the host, or remove the host from docker.compose.targets.yaml",
    "docker_permission_denied": "add the SSH user to the docker group, or set ssh.overrides.<host>.sudo: true",
    "docker_daemon_down": "start the docker daemon (systemctl start docker)",
    "compose_missing": "install the docker compose plugin (or docker-compose)",
    "sudo_password_required": "allow the user passwordless sudo for docker only (see docs/ssh.md)",
    "output_unparseable": "run the documented commands by hand on the host (docs/ssh.md) to see what they print",
    "output_too_large": "raise ssh.max_output_bytes in the site file",
    "ssh_error": "run with --debug for details",
    "unresolved_target": "add the host to ssh.targets.yaml or set ssh.overrides.<host>.host in the site file",
    "skipped": "run without --skip-ssh to check docker hosts",
    "not_in_snapshot": "take a new snapshot that includes docker hosts",
}
