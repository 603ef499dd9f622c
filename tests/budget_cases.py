"""The guest resource budget's hostile inputs (issue 15), as scenarios run in a subprocess
that reports its wall time and peak memory (both agents' tests use them)."""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import yaml

# 512 MiB of zeros: about 510 KB of gzip.
BOMB_MIB = 512
MAX_SECONDS = 5.0
MAX_PEAK_MIB = 300.0

_USER_DATA_PLUGIN = "cloudbaseinit.plugins.common.userdata.UserDataPlugin"
_HTTP = "cloudbaseinit.metadata.services.httpservice.HttpService"
_VMWARE = "cloudbaseinit.metadata.services.vmwareguestinfoservice.VMwareGuestInfoService"

JINJA_TEMPLATES = {
    "jinja-string-times-4e9": "{{ 'a' * 4000000000 }}",
    "jinja-nested-range-loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
}


@functools.cache
def gzip_bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    data = b"".join(compressor.compress(block) for _ in range(BOMB_MIB))
    return data + compressor.flush()


def yaml_aliases_bomb(levels: int = 8) -> str:
    """A cloud-config of under 500 bytes whose aliases repeat "lol" 9**levels times in one
    runcmd line (about 1 GB written out at 8 levels)."""
    lines = ["#cloud-config", "l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    lines.append(f"runcmd:\n  - [echo, *l{levels - 1}]")
    return "\n".join(lines) + "\n"


def _scenario(program: str, **parts: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"description": "a guest resource budget case", **parts}
    if program == "upstream":
        document["agent"]["program"] = "upstream"
    return document


def write_case(case: str, agent: str, folder: Path) -> Path:
    """The scenario file of ``case`` run by ``agent`` (``guestsim`` or ``upstream``)."""
    options = {"DEFAULT": {"plugins": [_USER_DATA_PLUGIN]}}
    if case == "userdata-gzip-bomb":
        (folder / "bomb.gz").write_bytes(gzip_bomb())
        options["DEFAULT"]["metadata_services"] = [_HTTP]
        document = _scenario(
            agent,
            cloud={"type": "openstack", "user_data_file": "bomb.gz"},
            agent={"options": options},
            expect={
                "boots": 1,
                "failed_plugins": ["UserDataPlugin"],
                "log": {"present": ["*DecompressionLimitExceeded*"]},
            },
        )
    elif case == "guestinfo-gzip-bomb":
        options["DEFAULT"]["metadata_services"] = [_VMWARE]
        document = _scenario(
            agent,
            cloud=None,
            machine={
                "guestinfo": {
                    "guestinfo.metadata": "instance-id: vmw-bomb",
                    "guestinfo.userdata": base64.b64encode(gzip_bomb()).decode(),
                    "guestinfo.userdata.encoding": "gzip+base64",
                }
            },
            agent={"options": options},
            expect={
                "boots": 1,
                "metadata_service": None,
                "log": {"present": ["*DecompressionLimitExceeded*"]},
            },
        )
    elif case == "cloud-config-yaml-aliases":
        options["DEFAULT"]["metadata_services"] = [_HTTP]
        document = _scenario(
            agent,
            cloud={"type": "openstack", "user_data": yaml_aliases_bomb()},
            agent={"options": options},
            expect={
                "boots": 1,
                "failed_plugins": ["UserDataPlugin"],
                "log": {"present": ["*DocumentLimitExceeded*"]},
            },
        )
    else:
        options["DEFAULT"]["metadata_services"] = [_HTTP]
        document = _scenario(
            agent,
            cloud={
                "type": "openstack",
                "user_data": f"## template: jinja\n#ps1_sysnative\n{JINJA_TEMPLATES[case]}\n",
            },
            agent={"options": options},
            expect={
                "boots": 1,
                "failed_plugins": ["UserDataPlugin"],
                "log": {"present": ["*TemplateLimitExceeded*"]},
            },
        )
    path = folder / f"{case}-{agent}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


CASES = ("userdata-gzip-bomb", "guestinfo-gzip-bomb", "cloud-config-yaml-aliases", *JINJA_TEMPLATES)


def expected_error(case: str) -> str:
    """The ResourceLimitExceeded subclass a case ends in."""
    if case.startswith("jinja"):
        return "TemplateLimitExceeded"
    if case == "cloud-config-yaml-aliases":
        return "DocumentLimitExceeded"
    return "DecompressionLimitExceeded"


# The child's own high-water mark (VmHWM): ru_maxrss would keep the parent's from before
# exec, and a pytest-xdist worker is bigger than the bound.
_CHILD = """
import json, re, sys, time
start = time.perf_counter()
from guestsim import load_scenario, run_scenario
outcome = run_scenario(load_scenario(sys.argv[1]))
seconds = time.perf_counter() - start
errors = [
    event.get("error")
    for event in outcome.result.trace.events
    if event.kind in ("plugin_end", "metadata_service_probe") and event.get("error")
]
print(json.dumps({
    "seconds": seconds,
    "peak_mib": int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())[1]) / 1024,
    "failures": outcome.failures,
    "errors": errors,
    "log": [line for line in outcome.result.log if "LimitExceeded" in line],
}))
"""


def run_measured(path: Path) -> dict[str, Any]:
    """Run the scenario in a fresh Python; its time (import to outcome) and peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        cwd=path.parent,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result
