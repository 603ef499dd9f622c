"""What a run leaves behind, as plain data, and a readable diff of two such states.

The snapshot holds what persists: the registry, the guest's files (by digest), users,
groups, services (not whether they run), adapters, drives, every feature's state, the
computer name, and each cloud's model (what the cloud holds). Secrets are not compared
by value: a generated password differs from one run to another by design (the seeded
random stream moves on). Whether a user has one, and whether it is the one the cloud
holds, is what matters; see :func:`password_mismatches`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import functools
import hashlib
import re
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from guestsim.simulator.clouds.base import CloudApp
from guestsim.simulator.paths import bundled
from guestsim.simulator.windows.state import WindowsState

_SECRET_FIELDS = ("password", "posted_password")
# Folded into computer_name (the pending name); seconds of sysprep left: not the guest's.
_NOT_COMPARED = ("pending_computer_name", "sysprep_remaining_s")
ABSENT = "absent"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return f"sha256:{hashlib.sha256(value).hexdigest()[:16]}"
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _secret(value: Any) -> str | None:
    return None if value in (None, "") else "set"


def machine_snapshot(
    state: WindowsState, certificate_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """What the machine keeps across a power cycle, as plain data. Certificates are named
    by the order they are first met; snapshots compared within one run share
    ``certificate_names`` so a certificate keeps its name and a replaced one gets a new one."""
    snapshot: dict[str, Any] = {}
    for field in dataclasses.fields(state):
        value = getattr(state, field.name)
        if field.name == "registry":
            snapshot["registry"] = value.snapshot()
        elif field.name == "files":
            snapshot["files"] = value.snapshot()
        elif field.name == "users":
            snapshot["users"] = {
                user.name: {**_plain(user), "password": _secret(user.password)} for user in value
            }
        elif field.name == "groups":
            snapshot["groups"] = {group.name: _plain(group) for group in value}
        elif field.name == "services":
            # Whether a service runs is volatile: the next power-on decides it again.
            snapshot["services"] = {
                service.name: {k: v for k, v in _plain(service).items() if k != "status"}
                for service in value
            }
        elif field.name == "computer_name":
            # The name Windows takes at its next power-on: a cut adds a boot, which applies
            # a pending name the reference run may have left pending.
            snapshot["computer_name"] = state.pending_computer_name or state.computer_name
        elif field.name in _NOT_COMPARED:
            continue
        elif field.name == "disks":
            # A disk's bytes hold its random unique id; its layout is in partitions/volumes.
            snapshot["disks"] = [
                {k: v for k, v in _plain(disk).items() if k != "data"} for disk in value
            ]
        elif field.name == "scripts":
            # The simulator's log of script runs is history, not machine state.
            snapshot["scripts"] = {
                k: v for k, v in _plain(value).items() if k not in ("runs", "run_counts")
            }
        elif field.name == "network":
            network = _plain(value)
            network["routes"] = [r for r in network["routes"] if r.get("persistent")]
            snapshot["network"] = network
        else:
            snapshot[field.name] = _plain(value)
    aliased: dict[str, Any] = _aliased_thumbprints(
        snapshot, {} if certificate_names is None else certificate_names
    )
    return aliased


_THUMBPRINT = re.compile("[0-9A-F]{40}")


def _aliased_thumbprints(value: Any, aliases: dict[str, str]) -> Any:
    # A self-signed certificate's serial comes from the seeded random stream, which a cut
    # moves on: its thumbprint differs by design. Certificates are named by the order they
    # are first met instead, so a listener still points at "certificate 1", and a second
    # certificate left over from an interrupted plugin still shows.
    if isinstance(value, dict):
        return {
            key: _secret(value[key])
            if key in _SECRET_FIELDS  # never print a secret; say whether there is one
            else _aliased_thumbprints(value[key], aliases)
            for key in sorted(value, key=str)
            if key != "der"  # the certificate's bytes: its thumbprint already names it
        }
    if isinstance(value, list):
        return [_aliased_thumbprints(item, aliases) for item in value]
    if isinstance(value, str) and _THUMBPRINT.fullmatch(value.upper()):
        return aliases.setdefault(value.upper(), f"certificate {len(aliases) + 1}")
    return value


def cloud_snapshot(clouds: list[CloudApp]) -> dict[str, Any]:
    """What each cloud holds (its model), secrets as set or not."""
    snapshot: dict[str, Any] = {}
    for cloud in clouds:
        model = getattr(cloud, "model", None)
        if model is None:
            continue
        plain = _plain(model)
        for name in getattr(model, "HISTORY", ()):
            plain.pop(name, None)
        for name in getattr(model, "LATEST", ()):
            plain[name] = plain[name][-1:]
        for name in _SECRET_FIELDS:
            if name in plain:
                plain[name] = _secret(plain[name])
        snapshot[f"{cloud.name} at {cloud.base_url}"] = plain
    aliased: dict[str, Any] = _aliased_thumbprints(snapshot, {})
    return aliased


class _Absent:
    def __repr__(self) -> str:
        return ABSENT


_MISSING = _Absent()

Difference = tuple[tuple[str, ...], Any, Any]


def differences(before: Any, after: Any) -> list[Difference]:
    """Each value that differs between two snapshots: its path (keys; list records as
    ``#1``...), the value before and after; a side without it has :data:`ABSENT`'s marker."""
    found: list[Difference] = []
    _differences(before, after, (), found)
    return found


def _differences(want: Any, got: Any, path: tuple[str, ...], out: list[Difference]) -> None:
    if want == got:
        return
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(want.keys() | got.keys(), key=str):
            _differences(want.get(key, _MISSING), got.get(key, _MISSING), (*path, str(key)), out)
    elif isinstance(want, list) and isinstance(got, list) and _records(want + got):
        # Lists of records (certificates, listeners, rules) compare item by item, numbered
        # from 1 as users count; a record only one side has shows whole.
        for number in range(max(len(want), len(got))):
            _differences(
                want[number] if number < len(want) else _MISSING,
                got[number] if number < len(got) else _MISSING,
                (*path, f"#{number + 1}"),
                out,
            )
    else:
        out.append((path, want, got))


def _records(items: list[Any]) -> bool:
    return any(isinstance(item, dict | list) for item in items)


def diff_lines(reference: dict[str, Any], other: dict[str, Any], where: str) -> list[str]:
    """One line per value that differs: ``<where> a / b / c: X in the reference, Y here``."""
    return [
        f"{where} {' / '.join(path)}: {want!r} in the reference run, {got!r} after the cut"
        for path, want, got in differences(reference, other)
    ]


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed from one machine snapshot to another, as JSON-able records:
    ``{"path": [...], "before": value or "absent", "after": value or "absent"}``."""
    return [
        {"path": list(path), "before": _json(want), "after": _json(got)}
        for path, want, got in differences(before, after)
    ]


def _json(value: Any) -> Any:
    return ABSENT if value is _MISSING else value


# --- the password the cloud holds ---------------------------------------------------------


@functools.cache
def _bundled_private_keys() -> list[rsa.RSAPrivateKey]:
    keys = []
    for path in sorted((bundled("fixtures") / "keys").glob("*.pem")):
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            keys.append(key)
    return keys


def held_password(cloud: CloudApp) -> str | None:
    """The clear-text password a cloud holds for the instance, when guestsim can read it:
    as posted encrypted to a key pair whose private half ships with guestsim (the bundled
    test keys), or as handed out in clear (CloudStack's password server)."""
    model = getattr(cloud, "model", None)
    for name in _SECRET_FIELDS:
        value = getattr(model, name, None)
        if not value:
            continue
        if cloud.name == "cloudstack":
            return str(value)
        try:
            cipher = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        for key in _bundled_private_keys():
            try:
                return key.decrypt(cipher, padding.PKCS1v15()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
    return None


def password_mismatches(state: WindowsState, clouds: list[CloudApp], username: str) -> list[str]:
    """Lines for a cloud that holds a password the user no longer has."""
    user = state.find_user(username)
    lines = []
    for cloud in clouds:
        held = held_password(cloud)
        if held is None:
            continue
        if user is None:
            lines.append(
                f"the {cloud.name} cloud holds a password for {username}, who does not exist"
            )
        elif user.password != held:
            lines.append(
                f"user {user.name}'s password differs from the one the {cloud.name} cloud holds"
            )
    return lines
