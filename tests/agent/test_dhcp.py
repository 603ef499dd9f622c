"""The agent's DHCP client against the simulated DHCP network (no sockets)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guestsim.agent.dhcp import (
    OPTION_AZURE_WIRESERVER,
    OPTION_MTU,
    OPTION_NTP_SERVERS,
    DhcpError,
    DhcpTransport,
    build_discover,
    decode_ipv4_list,
    decode_mtu,
    get_dhcp_options,
    parse_reply,
)
from guestsim.agent.osutils import OSUtils
from guestsim.simulator.dhcp import (
    DhcpExchange,
    DhcpServer,
    DhcpSimulationError,
    MalformedDhcpRequest,
    SimulatedDhcpNetwork,
    encode_ipv4_list,
    encode_mtu,
)

MAC = "00:15:5d:01:02:03"
LOCAL_IP = "10.0.0.5"
XID = bytes.fromhex("deadbeef")
COOKIE = bytes((99, 130, 83, 99))
# Keep Hypothesis from writing an example database into the checkout.
NO_DB = settings(database=None)


class StubOS:
    """Only the two OSUtils calls DHCP makes."""

    def __init__(self, macs: dict[str, str] | None = None, xid: bytes = XID) -> None:
        self.macs = {LOCAL_IP: MAC} if macs is None else macs
        self.xid = xid
        self.mac_lookups: list[str] = []

    def random_bytes(self, count: int) -> bytes:
        assert count == len(self.xid)
        return self.xid

    def get_mac_address_by_local_ip(self, ip_addr: str) -> str | None:
        self.mac_lookups.append(ip_addr)
        return self.macs.get(ip_addr)


def stub_os(macs: dict[str, str] | None = None) -> OSUtils:
    return cast(OSUtils, StubOS(macs))


def network(
    *servers: DhcpServer, on_exchange: Callable[[DhcpExchange], None] | None = None
) -> SimulatedDhcpNetwork:
    local = {s.address: LOCAL_IP for s in servers} | {"broadcast": LOCAL_IP}
    return SimulatedDhcpNetwork(servers, local, on_exchange)


class CannedTransport:
    """Returns a fixed reply, whatever was sent."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply

    def source_address(self, server: str | None) -> str:
        return LOCAL_IP

    def exchange(self, server: str | None, request: bytes, timeout: float) -> bytes | None:
        return self.reply


def offer(xid: bytes = XID, options: bytes = b"\x35\x01\x02\xff") -> bytes:
    """A hand-built BOOTREPLY (independent of both implementations)."""
    header = bytearray(236)
    header[0:3] = b"\x02\x01\x06"
    header[4:8] = xid
    return bytes(header) + COOKIE + options


# --- round trips through the simulated server ---------------------------------------------


def test_mtu_round_trip() -> None:
    net = network(DhcpServer.with_mtu("10.0.0.1", 1450))
    opts = get_dhcp_options(net, stub_os(), "10.0.0.1", [OPTION_MTU])
    assert opts is not None
    assert decode_mtu(opts[OPTION_MTU]) == 1450
    assert opts[53] == b"\x02"
    assert opts[54] == ipaddress.IPv4Address("10.0.0.1").packed


def test_ntp_round_trip() -> None:
    net = network(DhcpServer.with_ntp("10.0.0.1", ["192.0.2.10", "192.0.2.11"]))
    opts = get_dhcp_options(net, stub_os(), "10.0.0.1", [OPTION_NTP_SERVERS])
    assert opts is not None
    assert decode_ipv4_list(opts[OPTION_NTP_SERVERS]) == ["192.0.2.10", "192.0.2.11"]


def test_option_server_lacks_is_absent_and_order_follows_request() -> None:
    records: list[DhcpExchange] = []
    server = DhcpServer("10.0.0.1", {26: encode_mtu(1400), 42: encode_ipv4_list(["192.0.2.1"])})
    net = network(server, on_exchange=records.append)
    requested = [OPTION_NTP_SERVERS, OPTION_AZURE_WIRESERVER, OPTION_MTU]
    opts = get_dhcp_options(net, stub_os(), "10.0.0.1", requested)
    assert opts is not None
    assert OPTION_AZURE_WIRESERVER not in opts
    assert list(opts) == [53, 54, OPTION_NTP_SERVERS, OPTION_MTU]
    assert records == [
        DhcpExchange("10.0.0.1", LOCAL_IP, MAC, (42, 245, 26), (42, 26), records[0].timeout),
    ]
    assert net.exchanges == tuple(records)


def test_non_responding_server_gives_none_and_is_recorded() -> None:
    net = network(DhcpServer.with_mtu("10.0.0.1", 1450, responds=False))
    assert get_dhcp_options(net, stub_os(), "10.0.0.1", [OPTION_MTU]) is None
    (exchange,) = net.exchanges
    assert exchange == DhcpExchange("10.0.0.1", LOCAL_IP, MAC, (26,), None, exchange.timeout)
    assert exchange.timeout > 0


def test_unicast_to_absent_server_gives_none() -> None:
    net = SimulatedDhcpNetwork([], {"10.0.0.9": LOCAL_IP})
    assert get_dhcp_options(net, stub_os(), "10.0.0.9", [OPTION_MTU]) is None


def test_broadcast_picks_first_responding_server() -> None:
    net = network(
        DhcpServer.with_mtu("10.0.0.1", 1000, responds=False),
        DhcpServer.with_mtu("10.0.0.2", 1200),
        DhcpServer.with_mtu("10.0.0.3", 1300),
    )
    opts = get_dhcp_options(net, stub_os(), None, [OPTION_MTU])
    assert opts is not None
    assert decode_mtu(opts[OPTION_MTU]) == 1200
    assert opts[54] == ipaddress.IPv4Address("10.0.0.2").packed
    assert net.exchanges[0].server is None


def test_mac_comes_from_the_source_address_facing_the_server() -> None:
    server = DhcpServer.with_mtu("10.1.0.1", 9000)
    net = SimulatedDhcpNetwork([server], {"10.1.0.1": "10.1.0.7"})
    os_ = StubOS(macs={"10.1.0.7": "aa:bb:cc:dd:ee:ff"})
    assert get_dhcp_options(net, cast(OSUtils, os_), "10.1.0.1", [OPTION_MTU]) is not None
    assert os_.mac_lookups == ["10.1.0.7"]
    assert net.exchanges[0].client_mac == "aa:bb:cc:dd:ee:ff"


def test_unknown_local_address_is_a_clear_error() -> None:
    net = network(DhcpServer.with_mtu("10.0.0.1", 1450))
    os_ = stub_os(macs={})
    with pytest.raises(DhcpError, match=r"No network adapter holds local address 10\.0\.0\.5"):
        get_dhcp_options(net, os_, "10.0.0.1", [OPTION_MTU])


def test_unroutable_target_is_a_simulation_error() -> None:
    net = SimulatedDhcpNetwork([], {})
    with pytest.raises(DhcpSimulationError, match="broadcast"):
        net.source_address(None)


def test_reply_bytes_are_deterministic() -> None:
    def run() -> bytes | None:
        net = network(DhcpServer.with_ntp("10.0.0.1", ["192.0.2.1"]))
        request = build_discover(XID, MAC, [42, 26])
        return net.exchange("10.0.0.1", request, 5.0)

    first = run()
    assert first is not None
    assert first == run()
    assert first[28:34] == bytes.fromhex("00155d010203")
    assert first[20:24] == ipaddress.IPv4Address("10.0.0.1").packed  # siaddr
    assert first[16:20] == bytes(4)  # yiaddr


def test_long_option_split_and_reassembled() -> None:
    servers = [f"192.0.2.{i}" for i in range(1, 101)]  # 400 bytes: needs RFC 3396 splitting
    net = network(DhcpServer.with_ntp("10.0.0.1", servers))
    opts = get_dhcp_options(net, stub_os(), "10.0.0.1", [OPTION_NTP_SERVERS])
    assert opts is not None
    assert decode_ipv4_list(opts[OPTION_NTP_SERVERS]) == servers


# --- rejected replies ------------------------------------------------------------------------


def test_reply_with_wrong_xid_is_rejected(caplog: pytest.LogCaptureFixture) -> None:
    real = network(DhcpServer.with_mtu("10.0.0.1", 1450))
    good = real.exchange("10.0.0.1", build_discover(XID, MAC, [26]), 5.0)
    assert good is not None
    tampered = good[:4] + b"\x00\x00\x00\x01" + good[8:]
    with caplog.at_level(logging.DEBUG, logger="guestsim.agent.dhcp"):
        assert get_dhcp_options(CannedTransport(tampered), stub_os(), None, [26]) is None
    assert "transaction id" in caplog.text
    assert parse_reply(good, XID) is not None


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"\x02",
        offer()[:239],  # cut inside the magic cookie
        offer(options=b"\x35\x01\x02\x1a\x02\x05"),  # option 26 truncated
        offer(options=b"\x35\x01\x02\x1a"),  # option 26 without its length
        offer(options=b"\x35\x01\x02"),  # no end option
        offer()[:236] + b"\x00\x00\x00\x00\xff",  # no magic cookie
        b"\x01" + offer()[1:],  # a BOOTREQUEST, not a reply
        bytes(range(256)) * 2,
    ],
    ids=["empty", "one-byte", "short", "trunc-data", "no-length", "no-end", "cookie", "op", "junk"],
)
def test_truncated_or_garbage_replies_give_none(reply: bytes) -> None:
    assert parse_reply(reply, XID) is None
    assert get_dhcp_options(CannedTransport(reply), stub_os(), None, [26]) is None


def test_pad_skipped_and_repeated_options_concatenated() -> None:
    packet = offer(
        options=b"\x00\x00\x35\x01\x02\x2a\x04\xc0\x00\x02\x01\x2a\x04\xc0\x00\x02\x02\xff"
    )
    opts = parse_reply(packet, XID)
    assert opts == {53: b"\x02", 42: bytes.fromhex("c0000201c0000202")}


def test_nothing_after_end_option_is_read() -> None:
    assert parse_reply(offer(options=b"\x35\x01\x02\xff\x1a\x02"), XID) == {53: b"\x02"}


# --- request layout (RFC 2131 section 2) -----------------------------------------------------


def test_build_discover_layout() -> None:
    packet = build_discover(XID, MAC, [26, 42, 245])
    assert packet[0] == 1  # op BOOTREQUEST
    assert packet[1] == 1  # htype Ethernet
    assert packet[2] == 6  # hlen
    assert packet[3] == 0  # hops
    assert packet[4:8] == XID
    assert packet[8:10] == b"\x00\x00"  # secs
    assert packet[10:12] == b"\x00\x00"  # flags
    assert packet[12:28] == bytes(16)  # ciaddr, yiaddr, siaddr, giaddr
    assert packet[28:34] == bytes.fromhex("00155d010203")
    assert packet[34:44] == bytes(10)  # chaddr padding
    assert packet[44:236] == bytes(192)  # sname + file
    assert packet[236:240] == COOKIE
    assert packet[240:] == (
        b"\x35\x01\x01"  # 53 DHCPDISCOVER
        + b"\x3c\x0e"
        + b"cloudbase-init"  # 60 vendor class
        + b"\x3d\x07\x01"
        + bytes.fromhex("00155d010203")  # 61 client id
        + b"\x37\x03\x1a\x2a\xf5"  # 55 parameter request list
        + b"\xff"
    )


@pytest.mark.parametrize(
    ("xid", "mac", "options"),
    [
        (b"\x00", MAC, [26]),
        (XID, "00:15:5d:01:02", [26]),
        (XID, "zz:15:5d:01:02:03", [26]),
        (XID, MAC, [0]),
        (XID, MAC, [255]),
    ],
)
def test_build_discover_rejects_bad_input(xid: bytes, mac: str, options: list[int]) -> None:
    with pytest.raises(ValueError):
        build_discover(xid, mac, options)


def test_build_discover_accepts_dash_mac() -> None:
    assert build_discover(XID, "00-15-5D-01-02-03", [26]) == build_discover(XID, MAC, [26])


# --- the simulator rejects malformed requests ------------------------------------------------


def _discover_bytes() -> bytes:
    return build_discover(XID, MAC, [26])


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"\x01" * 10, "shorter"),
        (b"\x02" + _discover_bytes()[1:], "op"),
        (_discover_bytes()[:236] + bytes(4) + _discover_bytes()[240:], "cookie"),
        (_discover_bytes()[:-1], "end option"),
        (_discover_bytes().replace(b"\x35\x01\x01", b"\x35\x01\x03"), "DISCOVER"),
        (_discover_bytes().replace(b"\x37\x01\x1a", b"\x00\x00\x00"), "option 55"),
    ],
)
def test_simulator_rejects_malformed_requests(request_bytes: bytes, reason: str) -> None:
    net = network(DhcpServer.with_mtu("10.0.0.1", 1450))
    with pytest.raises(MalformedDhcpRequest, match=reason):
        net.exchange("10.0.0.1", request_bytes, 5.0)
    assert net.exchanges == ()


def test_simulator_config_validation() -> None:
    with pytest.raises(ValueError, match="option 53"):
        DhcpServer("10.0.0.1", {53: b"\x05"})
    with pytest.raises(ValueError, match="IPv4"):
        DhcpServer("not-an-ip")
    with pytest.raises(ValueError, match="twice"):
        SimulatedDhcpNetwork([DhcpServer("10.0.0.1"), DhcpServer("10.0.0.1")], {})
    with pytest.raises(ValueError, match="16 bits"):
        encode_mtu(70000)


# --- decoders and properties -----------------------------------------------------------------


def test_decoders_reject_bad_lengths() -> None:
    with pytest.raises(ValueError):
        decode_mtu(b"\x05")
    with pytest.raises(ValueError):
        decode_ipv4_list(b"\x01\x02\x03")
    assert decode_ipv4_list(b"") == []


@NO_DB
@given(st.integers(min_value=0, max_value=0xFFFF))
def test_mtu_encode_decode_round_trip(mtu: int) -> None:
    assert decode_mtu(encode_mtu(mtu)) == mtu


@NO_DB
@given(st.lists(st.ip_addresses(v=4).map(str), max_size=20))
def test_ipv4_list_encode_decode_round_trip(addresses: list[str]) -> None:
    assert decode_ipv4_list(encode_ipv4_list(addresses)) == addresses


@NO_DB
@given(st.binary(max_size=600), st.binary(min_size=4, max_size=4))
def test_parse_reply_never_raises_on_arbitrary_bytes(packet: bytes, xid: bytes) -> None:
    result = parse_reply(packet, xid)
    assert result is None or isinstance(result, dict)


@NO_DB
@given(st.binary(max_size=400))
def test_parse_reply_never_raises_on_arbitrary_options(options: bytes) -> None:
    result = parse_reply(offer(options=options), XID)
    assert result is None or all(0 < k < 255 for k in result)


@NO_DB
@given(
    st.dictionaries(
        st.integers(min_value=1, max_value=254).filter(lambda c: c not in (53, 54)),
        st.binary(max_size=300),
        max_size=8,
    ),
    st.lists(st.integers(min_value=1, max_value=254), max_size=12),
)
def test_any_server_options_round_trip(options: dict[int, bytes], requested: list[int]) -> None:
    net = network(DhcpServer("10.0.0.1", options))
    opts = get_dhcp_options(net, stub_os(), "10.0.0.1", requested)
    assert opts is not None
    expected = {c: options[c] for c in requested if c in options and c not in (53, 54)}
    assert {k: v for k, v in opts.items() if k not in (53, 54)} == expected


def test_stub_transport_is_a_dhcp_transport() -> None:
    transports: list[DhcpTransport] = [CannedTransport(None), network()]
    assert all(t.exchange is not None for t in transports)
