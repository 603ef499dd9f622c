"""The agent's DHCP client, used by the MTU and NTP plugins to read options from a DHCP server.

The agent sends one DHCPDISCOVER (RFC 2131) carrying a parameter request list (option 55,
RFC 2132) and reads the options of the first reply. It never touches a socket itself: the
datagram exchange goes through a :class:`DhcpTransport`, and the two facts it needs from the
machine (a transaction id and the MAC of the outgoing adapter) come from :class:`OSUtils`.

Message layout (RFC 2131, section 2), offsets in bytes::

    0 op | 1 htype | 2 hlen | 3 hops | 4..8 xid | 8..10 secs | 10..12 flags
    12 ciaddr | 16 yiaddr | 20 siaddr | 24 giaddr | 28..44 chaddr | 44..108 sname
    108..236 file | 236..240 magic cookie 99.130.83.99 | 240.. options
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Sequence
from typing import Protocol

from guestsim.agent.osutils import OSUtils

LOG = logging.getLogger(__name__)

# BOOTP message opcodes.
BOOTREQUEST = 1
BOOTREPLY = 2
# Hardware address type 1 is 10 Mb Ethernet (the "assigned numbers" value), 6-octet addresses.
HTYPE_ETHERNET = 1
HLEN_ETHERNET = 6

MAGIC_COOKIE = bytes((99, 130, 83, 99))

# Fixed-format part of the message, before the magic cookie.
FIXED_HEADER_LEN = 236
OPTIONS_OFFSET = FIXED_HEADER_LEN + len(MAGIC_COOKIE)
CHADDR_OFFSET = 28
CHADDR_LEN = 16
XID_OFFSET = 4
XID_LEN = 4

# Option codes (RFC 2132 unless noted).
OPTION_PAD = 0
OPTION_MTU = 26
OPTION_NTP_SERVERS = 42
OPTION_MESSAGE_TYPE = 53
OPTION_SERVER_ID = 54
OPTION_PARAMETER_REQUEST_LIST = 55
OPTION_VENDOR_CLASS_ID = 60
OPTION_CLIENT_ID = 61
OPTION_AZURE_WIRESERVER = 245  # site-specific range; Azure publishes its WireServer address here
OPTION_END = 255

# Values of option 53.
DHCPDISCOVER = 1
DHCPOFFER = 2

VENDOR_CLASS = b"cloudbase-init"
DEFAULT_TIMEOUT = 5.0

_HEADER = struct.Struct("!BBBB4sHH4s4s4s4s16s64s128s")
assert _HEADER.size == FIXED_HEADER_LEN


class DhcpError(Exception):
    """The DHCP request could not be made (not raised for a missing or unusable reply)."""


class DhcpTransport(Protocol):
    """Carries single DHCP datagrams between the agent and the network."""

    def source_address(self, server: str | None) -> str:
        """Local IPv4 the machine would use to reach ``server`` (None means broadcast)."""
        ...

    def exchange(self, server: str | None, request: bytes, timeout: float) -> bytes | None:
        """Send ``request`` to ``server``:67 (broadcast if None); first reply, None on timeout."""
        ...


def mac_to_bytes(mac: str) -> bytes:
    """``"aa:bb:cc:dd:ee:ff"`` (``-`` separators accepted too) to its six octets."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != HLEN_ETHERNET or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a 6-octet MAC address: {mac!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a 6-octet MAC address: {mac!r}") from None


def _option(code: int, value: bytes) -> bytes:
    if len(value) > 255:
        raise ValueError(f"option {code} value is {len(value)} bytes; at most 255 fit")
    return bytes((code, len(value))) + value


def build_discover(xid: bytes, mac: str, requested_options: Sequence[int]) -> bytes:
    """A DHCPDISCOVER BOOTREQUEST from ``mac`` asking for ``requested_options``."""
    if len(xid) != XID_LEN:
        raise ValueError(f"transaction id must be {XID_LEN} bytes, got {len(xid)}")
    hwaddr = mac_to_bytes(mac)
    requested = bytes(_checked_option_code(code) for code in requested_options)
    header = _HEADER.pack(
        BOOTREQUEST,
        HTYPE_ETHERNET,
        HLEN_ETHERNET,
        0,  # hops
        xid,
        0,  # secs
        0,  # flags: no broadcast bit
        bytes(4),  # ciaddr
        bytes(4),  # yiaddr
        bytes(4),  # siaddr
        bytes(4),  # giaddr
        hwaddr,  # struct pads chaddr to 16 bytes with zeros
        b"",  # sname
        b"",  # file
    )
    options = b"".join(
        (
            _option(OPTION_MESSAGE_TYPE, bytes((DHCPDISCOVER,))),
            _option(OPTION_VENDOR_CLASS_ID, VENDOR_CLASS),
            _option(OPTION_CLIENT_ID, bytes((HTYPE_ETHERNET,)) + hwaddr),
            _option(OPTION_PARAMETER_REQUEST_LIST, requested),
            bytes((OPTION_END,)),
        )
    )
    return header + MAGIC_COOKIE + options


def _checked_option_code(code: int) -> int:
    if not 1 <= code <= 254:
        raise ValueError(f"option code {code} cannot be requested (valid: 1..254)")
    return code


def _parse_options(data: bytes) -> dict[int, bytes] | str:
    """Decode an options field; the option map, or a reason string if it is malformed.

    Pad (0) is skipped, end (255) stops decoding, and an option appearing more than once has
    its values concatenated in order (RFC 3396). A missing end option is malformed.
    """
    options: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        code = data[pos]
        if code == OPTION_PAD:
            pos += 1
            continue
        if code == OPTION_END:
            return options
        if pos + 1 >= len(data):
            return f"option {code} at offset {pos} has no length byte"
        length = data[pos + 1]
        start = pos + 2
        end = start + length
        if end > len(data):
            return f"option {code} at offset {pos} claims {length} bytes, {len(data) - start} left"
        options[code] = options.get(code, b"") + data[start:end]
        pos = end
    return "options end without an end option (255)"


def parse_reply(packet: bytes, xid: bytes) -> dict[int, bytes] | None:
    """The options of a BOOTREPLY for transaction ``xid``, or None if it is not one (or is bad)."""
    if len(packet) < OPTIONS_OFFSET:
        LOG.debug("Ignoring DHCP reply: %d bytes is shorter than a DHCP message", len(packet))
        return None
    if packet[0] != BOOTREPLY:
        LOG.debug("Ignoring DHCP packet: op %d is not BOOTREPLY", packet[0])
        return None
    if packet[XID_OFFSET : XID_OFFSET + XID_LEN] != xid:
        LOG.debug(
            "Ignoring DHCP reply: transaction id %s, expected %s",
            packet[XID_OFFSET : XID_OFFSET + XID_LEN].hex(),
            xid.hex(),
        )
        return None
    if packet[FIXED_HEADER_LEN:OPTIONS_OFFSET] != MAGIC_COOKIE:
        LOG.debug("Ignoring DHCP reply: magic cookie missing")
        return None
    result = _parse_options(packet[OPTIONS_OFFSET:])
    if isinstance(result, str):
        LOG.debug("Ignoring DHCP reply: %s", result)
        return None
    return result


def get_dhcp_options(
    transport: DhcpTransport,
    osutils: OSUtils,
    server: str | None,
    requested_options: Sequence[int],
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[int, bytes] | None:
    """Ask ``server`` (broadcast if None) for ``requested_options``; the reply's option map.

    None when no reply arrives within ``timeout`` or the reply is unusable (wrong transaction
    id, not a BOOTREPLY, malformed). Raises :class:`DhcpError` when the request cannot be
    built because no adapter holds the local address facing the server.
    """
    xid = osutils.random_bytes(XID_LEN)
    if len(xid) != XID_LEN:
        raise DhcpError(f"random_bytes({XID_LEN}) returned {len(xid)} bytes")
    source = transport.source_address(server)
    mac = osutils.get_mac_address_by_local_ip(source)
    if mac is None:
        raise DhcpError(
            f"No network adapter holds local address {source} "
            f"(used to reach DHCP server {server or 'broadcast'})"
        )
    request = build_discover(xid, mac, requested_options)
    LOG.debug(
        "Sending DHCPDISCOVER to %s from %s (%s), xid %s, requesting options %s",
        server or "broadcast",
        source,
        mac,
        xid.hex(),
        list(requested_options),
    )
    reply = transport.exchange(server, request, timeout)
    if reply is None:
        LOG.debug("No DHCP reply from %s within %s s", server or "broadcast", timeout)
        return None
    return parse_reply(reply, xid)


def decode_mtu(value: bytes) -> int:
    """Option 26 value: a big-endian unsigned 16-bit MTU."""
    if len(value) != 2:
        raise ValueError(f"MTU option must be 2 bytes, got {len(value)}")
    mtu: int = struct.unpack("!H", value)[0]
    return mtu


def decode_ipv4_list(value: bytes) -> list[str]:
    """A list-of-addresses option value (e.g. option 42): 4-byte chunks as dotted strings."""
    if len(value) % 4:
        raise ValueError(f"address list option length {len(value)} is not a multiple of 4")
    return [str(ipaddress.IPv4Address(value[i : i + 4])) for i in range(0, len(value), 4)]
