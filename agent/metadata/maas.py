"""MAAS: the 2012-03-01 metadata API signed with OAuth 1.0 PLAINTEXT; curtin's network.json."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from oauthlib import oauth1

from guestsim.agent import network
from guestsim.agent.metadata.base import HttpMetadataService
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

GROUP = "maas"
METADATA_VERSION = "2012-03-01"
CERT_PATTERN = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)
# Written by the Windows curtin hooks MAAS deploys with; the first that exists is read.
NETWORK_DATA_PATHS = ("%SystemDrive%\\curtin\\network.json", "%SystemDrive%\\network.json")
NETWORK_DATA_VERSION = 1

CONFIG_TYPE_PHYSICAL = "physical"
CONFIG_TYPE_BOND = "bond"
CONFIG_TYPE_VLAN = "vlan"
CONFIG_TYPE_NAMESERVER = "nameserver"
SUBNET_TYPE_STATIC = "static"
SUBNET_TYPE_MANUAL = "manual"


def oauth_plaintext_header(
    url: str,
    consumer_key: str,
    consumer_secret: str,
    token_key: str,
    token_secret: str,
    nonce: str,
    timestamp: str,
) -> str:
    """The ``Authorization`` value of an OAuth 1.0 PLAINTEXT-signed request for ``url``.

    Signed by oauthlib's client, as upstream signs: the signature is
    ``escape(consumer_secret) & escape(token_secret)`` and, like every parameter, is
    escaped once more in the header, so the ``&`` travels as ``%26``; an empty token key
    leaves ``oauth_token`` out. The nonce and timestamp are the caller's (oauthlib would
    draw them from the host). The realm is always present and empty, as upstream sends
    it; oauthlib drops an empty realm, so it is put in front here.
    """
    client = oauth1.Client(
        consumer_key,
        client_secret=consumer_secret,
        resource_owner_key=token_key,
        resource_owner_secret=token_secret,
        signature_method=oauth1.SIGNATURE_PLAINTEXT,
        nonce=nonce,
        timestamp=timestamp,
    )
    _, headers, _ = client.sign(url)
    scheme, _, params = str(headers["Authorization"]).partition(" ")
    return f'{scheme} realm="", {params}'


class MaaSMetadataError(Exception):
    """A MAAS meta-data document the agent cannot read (one that is not UTF-8 text)."""


class MaaSHttpService(HttpMetadataService):
    """``cloudbaseinit.metadata.services.maasservice.MaaSHttpService``."""

    def __init__(self, context: AgentContext) -> None:
        self._metadata_url: str | None = context.conf.get("metadata_base_url", GROUP)
        super().__init__(context, self._metadata_url or "", GROUP)

    def get_name(self) -> str:
        return "MaaSHttpService"

    def load(self) -> bool:
        super().load()
        if not self._metadata_url:
            LOG.debug("MAAS metadata url not set")
            return False
        try:
            self._get_cache_data(f"{METADATA_VERSION}/meta-data/")
            return True
        except Exception as ex:
            response = getattr(ex, "response", None)
            if response is not None and response.status_code == 401:
                LOG.error(
                    "MAAS refused the OAuth credentials (HTTP 401 Unauthorized) at '%s': "
                    "check the [maas] oauth_consumer_key, oauth_consumer_secret, "
                    "oauth_token_key and oauth_token_secret options",
                    self.base_url,
                )
            LOG.debug("Metadata not found at URL '%s': %s", self.base_url, ex)
            return False

    # --- transport ---------------------------------------------------------------------

    def _http_request(
        self,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> bytes:
        # Every request is signed for its URL, each with a fresh nonce and timestamp
        # (so each retry too).
        signed = {**(headers or {}), "Authorization": self._oauth_header(self.url_for(path))}
        return super()._http_request(path, data, signed, method)

    def _oauth_header(self, url: str) -> str:
        timestamp = str(int(self.osutils.utc_now().timestamp()))
        nonce = str(int.from_bytes(self.osutils.random_bytes(8), "big")) + timestamp
        return oauth_plaintext_header(
            url,
            self.conf.get("oauth_consumer_key", GROUP),
            self.conf.get("oauth_consumer_secret", GROUP),
            self.conf.get("oauth_token_key", GROUP),
            self.conf.get("oauth_token_secret", GROUP),
            nonce,
            timestamp,
        )

    # --- getters -----------------------------------------------------------------------

    def _meta_data(self, name: str) -> Any:
        return self._get_cache_data(f"{METADATA_VERSION}/meta-data/{name}", decode=True)

    def get_host_name(self) -> str | None:
        value: str | None = self._meta_data("local-hostname")
        return value

    def get_instance_id(self) -> str | None:
        value: str | None = self._meta_data("instance-id")
        return value

    def _text(self, name: str) -> str:
        """A meta-data document that must be text; not UTF-8 is a :class:`MaaSMetadataError`.

        Upstream reads undecodable text as None and then fails on it (the plugin asking
        fails); the outcome is the same here, with an error that says why.
        """
        value = self._meta_data(name)
        if not isinstance(value, str):
            raise MaaSMetadataError(f"MAAS {METADATA_VERSION}/meta-data/{name} is not UTF-8 text")
        return value

    def get_public_keys(self) -> list[str] | None:
        # Lines are not stripped, as upstream; an empty document means no keys.
        keys: list[str] = self._text("public-keys").splitlines()
        return keys

    def get_client_auth_certs(self) -> list[str] | None:
        # A 404 is not caught: the WinRM certificate plugin fails, as upstream's does.
        certs: list[str] = CERT_PATTERN.findall(self._text("x509"))
        return certs

    def get_user_data(self) -> bytes | None:
        data: bytes = self._get_cache_data(f"{METADATA_VERSION}/user-data")
        return data

    # --- network (from the local curtin file, not from MAAS) ----------------------------

    def _read_network_data(self) -> dict[str, Any] | None:
        if self.osutils.get_platform() != "win32":
            return None
        for template in NETWORK_DATA_PATHS:
            path = self.osutils.expand_environment_variables(template)
            if self.osutils.path_exists(path):
                LOG.debug("Reading MAAS network data from %s", path)
                try:
                    parsed: dict[str, Any] = json.loads(self.osutils.read_file(path))
                except ValueError as ex:
                    # As upstream, unreadable network data fails the network plugin.
                    raise network.NetworkDataError(f"{path}: not a JSON document: {ex}") from ex
                return parsed
        return None

    def get_network_details_v2(self) -> network.NetworkDetailsV2 | None:
        data = self._read_network_data()
        if data is None:
            LOG.debug("No MAAS network data file found")
            return None
        return parse_network_data(data)


def _field(item: Mapping[str, Any], key: str) -> Any:
    # Absent fields are passed on as None, as upstream does; the consumer then fails.
    return item.get(key)


def _list(item: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """The list at ``key`` of the item at ``where``; absent (or empty) is ``[]``."""
    value = item.get(key) or []
    if not isinstance(value, list):
        raise network.NetworkDataError(
            f"MAAS network data: {where}: {key!r} is not a list: {value!r}"
        )
    return value


def _values(item: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """The values at ``key`` (any iterable, as before; absent is ``[]``) as a list."""
    value = item.get(key) or []
    try:
        return list(value)
    except TypeError as ex:
        raise network.NetworkDataError(
            f"MAAS network data: {where}: {key!r} is not a list: {value!r}"
        ) from ex


def _objects(item: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    """The list of objects at ``key`` of the item at ``where``."""
    value = _list(item, key, where)
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise network.NetworkDataError(
                f"MAAS network data: {where}: {key}[{index}] is not an object: {entry!r}"
            )
    return value


def _config_networks(item: Mapping[str, Any], where: str) -> list[network.Network]:
    networks = []
    for index, subnet in enumerate(_objects(item, "subnets", where)):
        if subnet.get("type") != SUBNET_TYPE_STATIC:
            continue
        routes = []
        gateway = subnet.get("gateway")
        if gateway:
            try:
                version = ipaddress.ip_address(gateway).version
            except ValueError as ex:
                raise network.NetworkDataError(
                    f"MAAS network data: {where}: subnets[{index}]: "
                    f"invalid gateway address {gateway!r}"
                ) from ex
            default = "::/0" if version == 6 else "0.0.0.0/0"
            routes.append(network.Route(default, gateway))
        networks.append(
            network.Network(
                # Upstream's quirk: the network names its link by id while the plugin
                # matches links by name; they only meet when both are equal.
                link=_field(item, "id"),
                address_cidr=subnet.get("address"),
                dns_nameservers=_values(subnet, "dns_nameservers", f"{where}: subnets[{index}]"),
                routes=routes,
            )
        )
    return networks


def _config_link(item: Mapping[str, Any], link_type: str, **extra: Any) -> network.Link:
    return network.Link(
        id=_field(item, "id"),
        name=_field(item, "name"),
        type=link_type,
        mac_address=item.get("mac_address"),
        mtu=item.get("mtu"),
        **extra,
    )


def parse_network_data(data: Any) -> network.NetworkDetailsV2:
    """curtin's network config v1 (``{"version": 1, "config": [...]}``) as v2 details."""
    if not isinstance(data, Mapping):
        raise network.NetworkDataError(
            f"MAAS network data is not a JSON object: {type(data).__name__}"
        )
    version = data.get("version")
    if version != NETWORK_DATA_VERSION:
        raise network.NetworkDataError(f"Unsupported MAAS network data version: {version!r}")
    links: list[network.Link] = []
    networks: list[network.Network] = []
    services: list[network.NameServerService] = []
    bond_members: list[str] = []
    for index, item in enumerate(_objects(data, "config", "document")):
        where = f"config[{index}]"
        item_type = item.get("type")
        if item_type == CONFIG_TYPE_PHYSICAL:
            subnets = _objects(item, "subnets", where)
            enabled = not any(s.get("type") == SUBNET_TYPE_MANUAL for s in subnets)
            links.append(_config_link(item, network.LINK_TYPE_PHYSICAL, enabled=enabled))
        elif item_type == CONFIG_TYPE_BOND:
            params = item.get("params") or {}
            if not isinstance(params, Mapping):
                raise network.NetworkDataError(
                    f"MAAS network data: {where}: 'params' is not an object: {params!r}"
                )
            lacp_rate = params.get("bond-lacp-rate")
            members = _values(item, "bond_interfaces", where)
            bond = network.Bond(
                members=members,
                type=_field(params, "bond-mode"),
                lb_algorithm=params.get("bond-xmit-hash-policy"),
                # Unknown LACP rates are dropped here rather than rejected.
                lacp_rate=lacp_rate if lacp_rate in network.AVAILABLE_BOND_LACP_RATES else None,
            )
            bond_members.extend(members)
            links.append(_config_link(item, network.LINK_TYPE_BOND, bond=bond))
        elif item_type == CONFIG_TYPE_VLAN:
            links.append(
                _config_link(
                    item,
                    network.LINK_TYPE_VLAN,
                    vlan_link=item.get("vlan_link"),
                    vlan_id=item.get("vlan_id"),
                )
            )
        elif item_type == CONFIG_TYPE_NAMESERVER:
            services.append(
                network.NameServerService(
                    addresses=_values(item, "address", where),
                    search=_values(item, "search", where),
                )
            )
            continue
        else:
            raise network.NetworkDataError(f"Unsupported MAAS network config type: {item_type!r}")
        networks.extend(_config_networks(item, where))
    # A NIC with a "manual" subnet is kept down unless it is a bond member.
    for link in links:
        if link.type == network.LINK_TYPE_PHYSICAL and link.id in bond_members:
            link.enabled = True
    return network.NetworkDetailsV2(links=links, networks=networks, services=services)
