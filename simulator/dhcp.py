"""A simulated network of DHCP servers answering the agent's DHCPDISCOVER.

No sockets: :class:`SimulatedDhcpNetwork` implements the agent's ``DhcpTransport`` protocol
structurally, decodes each request datagram itself (independently of the agent's code, so a
wrong request is caught rather than mirrored), and builds the DHCPOFFER bytes a server would
send (RFC 2131 message format, RFC 2132 options). Replies depend only on the servers, the
request bytes and the target; nothing sleeps and nothing is random.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

BROADCAST = "broadcast"

_BOOTREQUEST = 1
_BOOTREPLY = 2
_HTYPE_ETHERNET = 1
_HLEN_ETHERNET = 6
_MAGIC_COOKIE = bytes((99, 130, 83, 99))
_COOKIE_OFFSET = 236
_OPTIONS_OFFSET = 240

_OPT_PAD = 0
_OPT_MESSAGE_TYPE = 53
_OPT_SERVER_ID = 54
_OPT_PARAMETER_REQUEST_LIST = 55
_OPT_END = 255
_DHCPDISCOVER = 1
_DHCPOFFER = 2

# Options the server fills in itself; a configured value for them would be ambiguous.
_RESERVED_OPTIONS = frozenset((_OPT_PAD, _OPT_MESSAGE_TYPE, _OPT_SERVER_ID, _OPT_END))


class DhcpSimulationError(Exception):
    """The simulated network was used in a way no real network allows (an agent or test bug)."""


class MalformedDhcpRequest(DhcpSimulationError):
    """The agent sent bytes that are not a well-formed DHCPDISCOVER."""


def encode_mtu(mtu: int) -> bytes:
    """Option 26 value: ``mtu`` as a big-endian unsigned 16-bit integer."""
    if not 0 <= mtu <= 0xFFFF:
        raise ValueError(f"MTU {mtu} does not fit in 16 bits")
    return mtu.to_bytes(2, "big")


def encode_ipv4_list(addresses: Sequence[str]) -> bytes:
    """A list-of-addresses option value (e.g. option 42 NTP servers): 4 octets per address."""
    return b"".join(ipaddress.IPv4Address(a).packed for a in addresses)


def _ipv4(value: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an IPv4 address") from None


@dataclass
class DhcpServer:
    """One DHCP server: its address, the option values it hands out, whether it answers."""

    address: str
    options: dict[int, bytes] = field(default_factory=dict)
    responds: bool = True
    # Options in every offer whether the client asked or not: Azure's DHCP server hands
    # out the wire server's address (245) to clients that never request it.
    unsolicited: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        _ipv4(self.address, "DHCP server address")
        for code in self.options:
            if not 1 <= code <= 254 or code in _RESERVED_OPTIONS:
                raise ValueError(f"DHCP server {self.address}: option {code} cannot be configured")

    @classmethod
    def with_mtu(cls, address: str, mtu: int, *, responds: bool = True) -> DhcpServer:
        """A server handing out option 26 (interface MTU)."""
        return cls(address, {26: encode_mtu(mtu)}, responds)

    @classmethod
    def with_ntp(
        cls, address: str, ntp_servers: Sequence[str], *, responds: bool = True
    ) -> DhcpServer:
        """A server handing out option 42 (NTP servers)."""
        return cls(address, {42: encode_ipv4_list(ntp_servers)}, responds)


@dataclass(frozen=True)
class DhcpExchange:
    """One datagram exchange, for the trace. ``answered`` is None when nobody replied: the
    client then waits out its ``timeout`` (seconds)."""

    server: str | None
    source: str
    client_mac: str
    requested: tuple[int, ...]
    answered: tuple[int, ...] | None
    timeout: float = 0.0


@dataclass(frozen=True)
class _Discover:
    xid: bytes
    flags: bytes
    giaddr: bytes
    chaddr: bytes  # the full 16-byte field, echoed verbatim
    mac: str
    requested: tuple[int, ...]


def _decode_options(data: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        code = data[pos]
        if code == _OPT_PAD:
            pos += 1
            continue
        if code == _OPT_END:
            return options
        if pos + 1 >= len(data):
            raise MalformedDhcpRequest(f"option {code} at options offset {pos} has no length byte")
        end = pos + 2 + data[pos + 1]
        if end > len(data):
            raise MalformedDhcpRequest(f"option {code} at options offset {pos} is truncated")
        options[code] = options.get(code, b"") + data[pos + 2 : end]
        pos = end
    raise MalformedDhcpRequest("options field has no end option (255)")


def _parse_discover(request: bytes) -> _Discover:
    if len(request) < _OPTIONS_OFFSET:
        raise MalformedDhcpRequest(f"request is {len(request)} bytes, shorter than a DHCP message")
    if request[0] != _BOOTREQUEST:
        raise MalformedDhcpRequest(f"op is {request[0]}, expected BOOTREQUEST (1)")
    if request[1] != _HTYPE_ETHERNET or request[2] != _HLEN_ETHERNET:
        raise MalformedDhcpRequest(
            f"htype/hlen are {request[1]}/{request[2]}, expected Ethernet 1/6"
        )
    if request[_COOKIE_OFFSET:_OPTIONS_OFFSET] != _MAGIC_COOKIE:
        raise MalformedDhcpRequest("magic cookie 99.130.83.99 missing")
    options = _decode_options(request[_OPTIONS_OFFSET:])
    message_type = options.get(_OPT_MESSAGE_TYPE)
    if message_type != bytes((_DHCPDISCOVER,)):
        raise MalformedDhcpRequest(f"message type (option 53) is {message_type!r}, not DISCOVER")
    if _OPT_PARAMETER_REQUEST_LIST not in options:
        raise MalformedDhcpRequest("no parameter request list (option 55)")
    chaddr = request[28:44]
    return _Discover(
        xid=request[4:8],
        flags=request[10:12],
        giaddr=request[24:28],
        chaddr=chaddr,
        mac=":".join(f"{b:02x}" for b in chaddr[:_HLEN_ETHERNET]),
        requested=tuple(options[_OPT_PARAMETER_REQUEST_LIST]),
    )


def _encode_option(code: int, value: bytes) -> bytes:
    """One option; values over 255 bytes are split into consecutive instances (RFC 3396)."""
    if not value:
        return bytes((code, 0))
    return b"".join(
        bytes((code, len(chunk))) + chunk
        for chunk in (value[i : i + 255] for i in range(0, len(value), 255))
    )


def _build_offer(server: DhcpServer, discover: _Discover, answered: Sequence[int]) -> bytes:
    header = b"".join(
        (
            bytes((_BOOTREPLY, _HTYPE_ETHERNET, _HLEN_ETHERNET, 0)),
            discover.xid,
            bytes(2),  # secs
            discover.flags,
            bytes(4),  # ciaddr
            bytes(4),  # yiaddr: no lease is actually offered
            ipaddress.IPv4Address(server.address).packed,  # siaddr
            discover.giaddr,
            discover.chaddr,
            bytes(64),  # sname
            bytes(128),  # file
        )
    )
    options = [
        _encode_option(_OPT_MESSAGE_TYPE, bytes((_DHCPOFFER,))),
        _encode_option(_OPT_SERVER_ID, ipaddress.IPv4Address(server.address).packed),
        *(_encode_option(code, server.options[code]) for code in answered),
        bytes((_OPT_END,)),
    ]
    return header + _MAGIC_COOKIE + b"".join(options)


class SimulatedDhcpNetwork:
    """DHCP servers reachable from the guest; a structural ``guestsim.agent.dhcp.DhcpTransport``."""

    def __init__(
        self,
        servers: Sequence[DhcpServer],
        local_addresses: Mapping[str, str],
        on_exchange: Callable[[DhcpExchange], None] | None = None,
    ) -> None:
        seen: set[str] = set()
        for server in servers:
            if server.address in seen:
                raise ValueError(f"DHCP server {server.address} declared twice")
            seen.add(server.address)
        for target, local in local_addresses.items():
            if target != BROADCAST:
                _ipv4(target, "local_addresses key")
            _ipv4(local, f"local address for {target}")
        self._servers = tuple(servers)
        self._local_addresses = dict(local_addresses)
        self._on_exchange = on_exchange
        self._exchanges: list[DhcpExchange] = []

    @property
    def servers(self) -> tuple[DhcpServer, ...]:
        """The servers on the network, in declared order."""
        return self._servers

    @property
    def exchanges(self) -> tuple[DhcpExchange, ...]:
        """Every exchange so far, in order."""
        return tuple(self._exchanges)

    def source_address(self, server: str | None) -> str:
        key = BROADCAST if server is None else server
        try:
            return self._local_addresses[key]
        except KeyError:
            raise DhcpSimulationError(
                f"No local address is configured for reaching DHCP target {key!r} "
                f"(known: {sorted(self._local_addresses)})"
            ) from None

    def _target(self, server: str | None) -> DhcpServer | None:
        for candidate in self._servers:
            if candidate.responds and (server is None or candidate.address == server):
                return candidate
        return None

    def exchange(self, server: str | None, request: bytes, timeout: float) -> bytes | None:
        if timeout <= 0:
            raise DhcpSimulationError(f"timeout must be positive, got {timeout}")
        source = self.source_address(server)
        discover = _parse_discover(request)
        target = self._target(server)
        reply: bytes | None = None
        answered: tuple[int, ...] | None = None
        if target is not None:
            requested = tuple(
                code
                for i, code in enumerate(discover.requested)
                if code in target.options and code not in discover.requested[:i]
            )
            extra = sorted(
                c for c in target.unsolicited if c in target.options and c not in requested
            )
            answered = (*requested, *extra)
            reply = _build_offer(target, discover, answered)
        record = DhcpExchange(server, source, discover.mac, discover.requested, answered, timeout)
        self._exchanges.append(record)
        if self._on_exchange is not None:
            self._on_exchange(record)
        return reply
