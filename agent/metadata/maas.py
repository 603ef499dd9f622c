"""MAAS: the 2012-03-01 metadata API signed with OAuth 1.0 PLAINTEXT; curtin's network.json."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
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

    def get_public_keys(self) -> list[str] | None:
        # Lines are not stripped, as upstream; an empty document means no keys.
        keys: list[str] = self._meta_data("public-keys").splitlines()
        return keys

    def get_client_auth_certs(self) -> list[str] | None:
        # A 404 is not caught: the WinRM certificate plugin fails, as upstream's does.
        certs: list[str] = CERT_PATTERN.findall(self._meta_data("x509"))
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
                parsed: dict[str, Any] = json.loads(self.osutils.read_file(path))
                return parsed
        return None

    def get_network_details_v2(self) -> network.NetworkDetailsV2 | None:
        data = self._read_network_data()
        if data is None:
            LOG.debug("No MAAS network data file found")
            return None
        return parse_network_data(data)


def _field(item: dict[str, Any], key: str) -> Any:
    # Absent fields are passed on as None, as upstream does; the consumer then fails.
    return item.get(key)


def _config_networks(item: dict[str, Any]) -> list[network.Network]:
    networks = []
    for subnet in item.get("subnets") or []:
        if subnet.get("type") != SUBNET_TYPE_STATIC:
            continue
        routes = []
        gateway = subnet.get("gateway")
        if gateway:
            default = "::/0" if ipaddress.ip_address(gateway).version == 6 else "0.0.0.0/0"
            routes.append(network.Route(default, gateway))
        networks.append(
            network.Network(
                # Upstream's quirk: the network names its link by id while the plugin
                # matches links by name; they only meet when both are equal.
                link=_field(item, "id"),
                address_cidr=subnet.get("address"),
                dns_nameservers=list(subnet.get("dns_nameservers") or []),
                routes=routes,
            )
        )
    return networks


def _config_link(item: dict[str, Any], link_type: str, **extra: Any) -> network.Link:
    return network.Link(
        id=_field(item, "id"),
        name=_field(item, "name"),
        type=link_type,
        mac_address=item.get("mac_address"),
        mtu=item.get("mtu"),
        **extra,
    )


def parse_network_data(data: dict[str, Any]) -> network.NetworkDetailsV2:
    """curtin's network config v1 (``{"version": 1, "config": [...]}``) as v2 details."""
    version = data.get("version")
    if version != NETWORK_DATA_VERSION:
        raise network.NetworkDataError(f"Unsupported MAAS network data version: {version!r}")
    links: list[network.Link] = []
    networks: list[network.Network] = []
    services: list[network.NameServerService] = []
    bond_members: list[str] = []
    for item in data.get("config") or []:
        item_type = item.get("type")
        if item_type == CONFIG_TYPE_PHYSICAL:
            subnets = item.get("subnets") or []
            enabled = not any(s.get("type") == SUBNET_TYPE_MANUAL for s in subnets)
            links.append(_config_link(item, network.LINK_TYPE_PHYSICAL, enabled=enabled))
        elif item_type == CONFIG_TYPE_BOND:
            params = item.get("params") or {}
            lacp_rate = params.get("bond-lacp-rate")
            members = list(item.get("bond_interfaces") or [])
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
                    addresses=list(item.get("address") or []),
                    search=list(item.get("search") or []),
                )
            )
            continue
        else:
            raise network.NetworkDataError(f"Unsupported MAAS network config type: {item_type!r}")
        networks.extend(_config_networks(item))
    # A NIC with a "manual" subnet is kept down unless it is a bond member.
    for link in links:
        if link.type == network.LINK_TYPE_PHYSICAL and link.id in bond_members:
            link.enabled = True
    return network.NetworkDetailsV2(links=links, networks=networks, services=services)
