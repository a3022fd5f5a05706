"""`reconcile doctor` against a loopback Proxmox API and real loopback sshds: one line per source, the fix named."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.pve_server import Estate, FakePVE, Guest, Node
from tests.fakes.sshd import SshServer
from tests.test_e2e_stacks import CLEAN_APPS, CLEAN_MEDIA, configure, write_estate

pytestmark = pytest.mark.sshd

SECRET_ENV = "RECONCILE_TEST_DOCTOR_TOKEN"
SECRET = "d0c70r-70k3n-0000-abcd-e2e000000000"


@pytest.fixture
def lab(tmp_path: Path, sshd_factory: Callable[[], SshServer], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    apps, media = sshd_factory(), sshd_factory()
    configure(apps, CLEAN_APPS)
    configure(media, CLEAN_MEDIA)
    sites, _ = write_estate(tmp_path, apps, media)
    estate = Estate(nodes=[Node("pve")], guests=[Guest(300, name="apps"), Guest(301, name="media")])
    original = (sites / "lab.yaml").read_text()
    with ExitStack() as stack:
        srv = stack.enter_context(FakePVE(estate, token_id="audit@pve!doctor", secret=SECRET))

        def write(trust: str = "ca_file", secret_env: str = SECRET_ENV) -> None:
            lines = original.split("proxmox_hosts: [lab-pve]\n")
            pinned = {"ca_file": f"    ca_file: {srv.cert_path}\n", "none": "",
                      "pin": f'    fingerprint: "{srv.fingerprint}"\n'}[trust]
            block = (f"proxmox:\n  - name: lab-pve\n    url: {srv.url}\n    token_id: \"audit@pve!doctor\"\n"
                     f"    token_secret_env: {secret_env}\n{pinned}")
            (sites / "lab.yaml").write_text(lines[0] + block + lines[-1])

        write()

        class Lab:
            pass

        lab = Lab()
        lab.sites, lab.srv, lab.estate, lab.apps, lab.media, lab.write = sites, srv, estate, apps, media, write
        lab.known = tmp_path / "known_hosts"
        yield lab


def doctor(cli: Any, lab: Any) -> tuple[int, list[dict[str, Any]]]:
    result = cli("doctor", "--sites-dir", lab.sites, "--site", "lab", "-f", "json")
    assert "Traceback" not in result.err and result.out, result.err
    return result.code, json.loads(result.out)["checks"]


def verdicts(checks: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for check in checks:
        out.setdefault(check["area"], []).append(check["verdict"])
    return out


def test_everything_working_is_exit_0_one_line_per_source(cli, lab) -> None:
    code, checks = doctor(cli, lab)
    assert code == 0, [c for c in checks if c["verdict"] == "fix"]
    areas = verdicts(checks)
    assert set(areas) == {"site", "bindings", "proxmox:lab-pve", "ssh:apps", "ssh:media"}
    assert "fix" not in {v for vs in areas.values() for v in vs}
    proxmox = " ".join(c["detail"] for c in checks if c["area"] == "proxmox:lab-pve")
    assert "token accepted, TLS verified (ca_file)" in proxmox and lab.srv.fingerprint in proxmox
    assert SECRET not in json.dumps(checks)  # the secret is never printed
    apps = next(c for c in checks if c["area"] == "ssh:apps")
    assert "docker readable" in apps["detail"] and "SHA256:" in apps["detail"]
    text = cli("doctor", "--sites-dir", lab.sites, "--site", "lab")
    assert text.out.splitlines()[-1] == "doctor lab: 7 ok, 0 to fix — exit 0 (all good)"


def test_an_unknown_host_key_is_printed_for_pinning_never_added(cli, lab) -> None:
    lab.known.write_text(lab.apps.known_hosts_line())  # media's key is not there
    before = lab.known.read_text()
    code, checks = doctor(cli, lab)
    assert code == 1
    media = next(c for c in checks if c["area"] == "ssh:media")
    assert media["verdict"] == "fix" and "is not in" in media["detail"]
    kind, blob = lab.media.host_public.split()[:2]
    assert media["hint"].endswith(f"[127.0.0.1]:{lab.media.port} {kind} {blob}")  # the line to add, verified first
    assert lab.known.read_text() == before
    assert not [c for c in lab.media.commands() if "docker" in c]  # no login with an unverified key


def test_an_unverifiable_certificate_prints_the_fingerprint_to_pin(cli, lab) -> None:
    lab.write(trust="none")
    code, checks = doctor(cli, lab)
    tls = next(c for c in checks if c["area"] == "proxmox:lab-pve" and c["verdict"] == "fix")
    assert code == 1 and "TLS not verified" in tls["detail"]
    assert f'fingerprint: "{lab.srv.fingerprint}"' in tls["hint"]
    lab.write(trust="pin")  # pinning exactly what doctor printed works
    code, checks = doctor(cli, lab)
    assert code == 0 and any("pinned fingerprint" in c["detail"] for c in checks)


def test_a_refused_token_a_missing_secret_and_missing_privileges(cli, lab, monkeypatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "wrong")
    code, checks = doctor(cli, lab)
    assert code == 1 and any("the token was refused" in c["detail"] for c in checks)
    monkeypatch.delenv(SECRET_ENV)
    code, checks = doctor(cli, lab)
    missing = next(c for c in checks if c["area"] == "proxmox:lab-pve")
    assert code == 1 and f"environment variable {SECRET_ENV} is not set" in missing["detail"]
    assert missing["where"].endswith("lab.yaml:4")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    lab.estate.restrict_to(vmids=[300, 301])
    code, checks = doctor(cli, lab)
    lacking = next(c for c in checks if "lacks" in c["detail"])
    assert code == 1 and "Sys.Audit" in lacking["detail"] and "PVEAuditor" in lacking["hint"]
