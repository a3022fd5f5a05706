"""`reconcile plan-vm`: the dry run before a VM is cloned, and `--verify VMID` after it.

Reads the bindings of every configured site and asks their Proxmox APIs (GET only) or snapshots;
never writes into the bindings. `--write-stubs DIR` writes the stubs into a new, empty directory
outside every bindings root.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..choices import GuestType
from ..errors import ConfigError
from ..sites import DEMO_SITE, default_sites_dir
from .base import (
    BindingsOpt,
    Options,
    OutputOpt,
    SitesDirOpt,
    app,
    chosen_format,
    emit,
    format_option,
    load_configs,
    progress_printer,
    render_report,
    warn_insecure,
)

PLAN_EXAMPLES = """

\b
Examples:
  reconcile plan-vm --site shop --vmid 214 --hostname mail-archiver \\
      --lan-ip 192.168.1.214 --tailscale-ip 100.64.0.14 --stacks mail-archiver
  reconcile plan-vm --from plan.yaml -f markdown --write-stubs ./stubs-214
  reconcile plan-vm --verify 214 --site shop     after the clone and REGISTER

\b
Exit codes: 0 safe to create (--verify: governed), 1 blocked (--verify: not governed),
            2 error, 3 (--verify only) nothing failed but not everything was observed
"""

if TYPE_CHECKING:  # the planner loads inside the command (start-up: see cli/base.py)
    from ..config import SiteConfig
    from ..plan.request import VmRequest

Opt = typer.Option

PlanFormatOpt = format_option("Plan")


@app.command("plan-vm", help="Dry run before creating a VM: collisions, placement, clone source, and the "
                             "binding entries to register afterwards." + PLAN_EXAMPLES)
def plan_vm_command(
    site: Annotated[str | None, Opt("--site", "-s", metavar="NAME", help="The site the guest is planned on.")] = None,
    vmid: Annotated[int | None, Opt("--vmid", min=1, help="The new guest's VMID.")] = None,
    hostname: Annotated[str | None, Opt("--hostname", help="The new guest's hostname.")] = None,
    vm_type: Annotated[GuestType | None, Opt("--type", help="Guest type [default: qemu].")] = None,
    profile: Annotated[str | None, Opt("--profile", help="Profile in infra.vm.profiles.yaml.")] = None,
    cores: Annotated[int | None, Opt("--cores", min=1, help="vCPU cores [default: the profile's].")] = None,
    memory_mb: Annotated[int | None, Opt("--memory-mb", min=1, help="Memory in MB [default: the profile's].")] = None,
    disk_gb: Annotated[float | None, Opt("--disk-gb", min=0.001, help="Boot disk GB [default: the profile's].")] = None,
    lan_ip: Annotated[str | None, Opt("--lan-ip", help="LAN address.")] = None,
    tailscale_ip: Annotated[str | None, Opt("--tailscale-ip", help="Tailscale address.")] = None,
    node: Annotated[str | None, Opt("--node", help="PVE node [default: the clone source's node].")] = None,
    proxmox_host: Annotated[str | None, Opt("--proxmox-host", help="Proxmox host, when the site has several.")] = None,
    stacks: Annotated[str | None, Opt("--stacks", metavar="A,B", help="Compose stacks it will run.")] = None,
    health_url: Annotated[str | None, Opt("--health-url", help="Health probe URL for services.health.yaml.")] = None,
    from_file: Annotated[Path | None, Opt("--from", metavar="FILE", help="The same fields in YAML.")] = None,
    verify: Annotated[int | None, Opt("--verify", metavar="VMID", min=1,
                                      help="After creation: is this guest live and fully governed?")] = None,
    write_stubs_dir: Annotated[Path | None, Opt("--write-stubs", metavar="DIR",
                                                help="Also write the stubs into this new directory.")] = None,
    live: Annotated[Path | None, Opt("--live", help="Use this snapshot for every site, offline.")] = None,
    skip_ssh: Annotated[bool, Opt("--skip-ssh", help="--verify: do not SSH to the guest's docker host.")] = False,
    stubs: Annotated[bool, Opt("--stubs", help="Show the registration stubs even when the plan is blocked.")] = False,
    fmt: PlanFormatOpt = None,
    output: OutputOpt = None,
    sites_dir: SitesDirOpt = None,
    bindings: BindingsOpt = None,
) -> None:
    if verify is not None:
        planning = {"--write-stubs": write_stubs_dir, "--from": from_file, "--vmid": vmid, "--hostname": hostname,
                    "--type": vm_type, "--profile": profile, "--cores": cores, "--memory-mb": memory_mb,
                    "--disk-gb": disk_gb, "--lan-ip": lan_ip, "--tailscale-ip": tailscale_ip, "--node": node,
                    "--stacks": stacks, "--health-url": health_url}
        given = [flag for flag, value in planning.items() if value is not None]
        if given:  # silently ignoring them would verify something other than what the user described
            raise ConfigError(f"{', '.join(given)}: plan a new guest; they cannot be combined with --verify")
        _verify(site, verify, proxmox_host, live, skip_ssh, fmt, output, sites_dir, bindings)
        return
    from ..plan.run import check_stub_dir, plan_vm, write_stubs
    from ..render.plan import plan_markdown

    fmt = chosen_format("Plan", fmt, output)
    request = _request(from_file, site, vmid, hostname, vm_type, profile, cores, memory_mb, disk_gb, lan_ip,
                       tailscale_ip, node, proxmox_host, stacks, health_url)
    if request.site is None:
        raise ConfigError("plan-vm needs --site NAME (or site: in --from FILE)")
    configs = all_configs(request.site, sites_dir, bindings)
    warn_insecure(configs)
    if write_stubs_dir is not None:
        check_stub_dir(write_stubs_dir, configs)  # refuse before asking any API
    plan = replace(plan_vm(request, configs, request.site, live), show_stubs=stubs)
    emit(render_report(plan, fmt, output), output, configs, plan.summary, quiet_shows_summary=fmt == "table")
    if write_stubs_dir is not None:
        written = write_stubs(plan, write_stubs_dir, configs, plan_markdown(plan))
        typer.echo(f"reconcile: stubs written to {write_stubs_dir} ({len(written)} files)", err=True)
    for error in plan.errors:
        typer.echo(f"reconcile: error: {error}", err=True)
    raise typer.Exit(int(plan.exit_code))


def _verify(site: str | None, vmid: int, proxmox_host: str | None, live: Path | None, skip_ssh: bool,
            fmt: str | None, output: Path | None, sites_dir: Path | None, bindings: Path | None) -> None:
    from ..plan.verify import verify_vm

    fmt = chosen_format("Verification", fmt, output)
    if site is None:
        raise ConfigError("--verify needs --site NAME")
    configs = all_configs(site, sites_dir, bindings)
    warn_insecure(configs)
    result = verify_vm(configs, site, vmid, live, skip_ssh, proxmox_host, progress_printer())
    emit(render_report(result, fmt, output), output, configs, result.summary, quiet_shows_summary=fmt == "table")
    for error in result.errors:
        typer.echo(f"reconcile: error: {error}", err=True)
    raise typer.Exit(int(result.exit_code))


def all_configs(site: str, sites_dir: Path | None, bindings: Path | None) -> list[SiteConfig]:
    """The named site plus every other configured site (a VMID or address used at another site collides too)."""
    from ..config import site_files

    chosen = load_configs([site], sites_dir, bindings)
    if site == DEMO_SITE:  # the demo is sealed: its made-up estate collides with nothing real, and vice versa
        return chosen
    folder = default_sites_dir(sites_dir or Options.sites_dir)
    others = [n for n in (site_files(folder) if folder.is_dir() else {}) if n not in (DEMO_SITE, site)]
    # every other site file must load: a broken one would silently drop its collisions from the plan
    everything = load_configs(others, sites_dir, bindings) if others else []
    names = {cfg.name for cfg in chosen}
    return [*chosen, *(cfg for cfg in everything if cfg.name not in names)]


def _request(from_file: Path | None, site: str | None, vmid: int | None, hostname: str | None,
             vm_type: GuestType | None, profile: str | None, cores: int | None, memory_mb: int | None,
             disk_gb: float | None, lan_ip: str | None, tailscale_ip: str | None, node: str | None,
             proxmox_host: str | None, stacks: str | None, health_url: str | None) -> VmRequest:
    """The flags as a request (each value remembers its flag), laid over --from FILE."""
    from ..plan.request import VmRequest, load_request_file, parse_ip, parse_names

    given = {
        "site": (site, "--site"), "vmid": (vmid, "--vmid"), "hostname": (hostname, "--hostname"),
        "vm_type": (vm_type, "--type"), "profile": (profile, "--profile"), "cores": (cores, "--cores"),
        "memory_mb": (memory_mb, "--memory-mb"), "disk_gb": (disk_gb, "--disk-gb"),
        "lan_ip": (parse_ip(lan_ip, "--lan-ip") if lan_ip else None, "--lan-ip"),
        "tailscale_ip": (parse_ip(tailscale_ip, "--tailscale-ip") if tailscale_ip else None, "--tailscale-ip"),
        "node": (node, "--node"), "proxmox_host": (proxmox_host, "--proxmox-host"),
        "stacks": (parse_names(stacks, "--stacks") if stacks is not None else None, "--stacks"),
        "health_url": (health_url, "--health-url"),
    }
    values = {key: value for key, (value, _) in given.items() if value is not None}
    if hostname is not None and not hostname.strip():
        raise ConfigError("--hostname: expected a non-empty name")
    flags = VmRequest(**values, origins={key: flag for key, (value, flag) in given.items() if value is not None})
    base = load_request_file(from_file) if from_file is not None else VmRequest()
    return flags.merged_over(base)
