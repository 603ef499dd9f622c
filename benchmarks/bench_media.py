"""Wall time to build config-drive images: median per image, in milliseconds.

Run with ``python benchmarks/bench_media.py`` (from the checkout, with PYTHONPATH=.).
Speed goals are measured here, never asserted in timed tests. The goal for a typical
OpenStack ISO (meta_data.json of about 1 KB with a key, user_data of about 2 KB,
network_data.json) is single-digit milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from guestsim.simulator import media

KEY = "ssh-rsa " + "A" * 372 + " guestsim@bench"
META_DATA = {
    "uuid": "83679162-1378-4288-a2d4-70e13ec132aa",
    "hostname": "win-bench-01",
    "name": "win-bench-01",
    "availability_zone": "nova",
    "launch_index": 0,
    "project_id": "5d8a2e1c9f7b4a6e8c3d1f0a2b4c6d8e",
    "public_keys": {"bench": KEY},
    "keys": [{"name": "bench", "type": "ssh", "data": KEY}],
    "meta": {"admin_username": "Admin", "role": "bench"},
    "devices": [],
}
USER_DATA = (b"#ps1_sysnative\n" + b"Write-Output 'configuring the guest'\n" * 60)[:2048]
NETWORK_DATA = {
    "links": [{"id": "tap0", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01"}],
    "networks": [
        {
            "id": "net0",
            "link": "tap0",
            "type": "ipv4",
            "ip_address": "10.0.0.5",
            "netmask": "255.255.255.0",
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}],
        }
    ],
    "services": [{"type": "dns", "address": "10.0.0.2"}],
}

TYPICAL = media.openstack_layout(META_DATA, USER_DATA, NETWORK_DATA, versions=(), ec2=False)
NOVA = media.openstack_layout(META_DATA, USER_DATA, NETWORK_DATA)
NOCLOUD = media.nocloud_layout({"instance-id": "iid-bench", "local-hostname": "seed"}, USER_DATA)

CASES: list[tuple[str, Callable[[], bytes]]] = [
    ("openstack iso, latest only", lambda: media.build_image(TYPICAL, "iso")),
    ("openstack iso, Nova layout", lambda: media.build_image(NOVA, "iso")),
    ("openstack vfat, latest only", lambda: media.build_image(TYPICAL, "vfat")),
    ("openstack vfat 64 MiB, Nova layout", lambda: media.build_vfat(NOVA, size=64 << 20)),
    ("openstack disk-gpt (vfat), latest only", lambda: media.build_image(TYPICAL, "disk-gpt")),
    (
        "openstack disk-mbr (iso), latest only",
        lambda: media.build_image(TYPICAL, "disk-mbr", filesystem="iso"),
    ),
    ("nocloud iso", lambda: media.build_image(NOCLOUD, "iso", nocloud=True)),
]


def measure(repeats: int) -> list[tuple[str, int, float]]:
    """(case, image bytes, median wall seconds) per case."""
    rows = []
    for name, build in CASES:
        size = len(build())  # warm imports and caches once
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            build()
            samples.append(time.perf_counter() - start)
        rows.append((name, size, statistics.median(samples)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    sizes = {path: len(data) for path, data in TYPICAL.items()}
    print(f"typical drive: {json.dumps(sizes)}")
    print(f"{'image':<42} {'bytes':>10} {'median':>11}")
    for name, size, median in measure(args.repeats):
        print(f"{name:<42} {size:>10} {median * 1000:>8.2f} ms")


if __name__ == "__main__":
    main()
