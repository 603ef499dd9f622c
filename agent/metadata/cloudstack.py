"""Apache CloudStack: the virtual router's metadata server and its password server.

Metadata is plain text under ``latest/meta-data/<resource>`` (and ``latest/user-data``) on
the router, found at the configured base URL or, failing that, at the DHCP server of any
DHCP-enabled adapter. The password server listens on the same host (port 8080 by
default) and hands out the pending password on ``DomU_Request: send_my_password`` until
the guest acknowledges it with ``DomU_Request: saved_password``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import requests

from guestsim.agent.metadata.base import HttpMetadataService
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

GROUP = "cloudstack"
PROBE_PATH = "latest/meta-data/service-offering"
DOMU_HEADER = "DomU_Request"
SEND_PASSWORD = "send_my_password"
SAVED_PASSWORD = "saved_password"
BAD_REQUEST = "bad_request"
# Upstream's socket timeout for the password server (metadata requests have none).
PASSWORD_SERVER_TIMEOUT_S = 10


class PasswordServerError(Exception):
    """The password server answered with a status other than 200."""


def _password_server_url(metadata_url: str, port: int) -> str:
    host = urlsplit(metadata_url).hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


class CloudStack(HttpMetadataService):
    """``cloudbaseinit.metadata.services.cloudstack.CloudStack``."""

    # Upstream does not retry metadata reads here; only the password calls loop.
    retries_enabled = False

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context, context.conf.get("metadata_base_url", GROUP), GROUP)
        self._password_port: int = self.conf.get("password_server_port", GROUP)
        self.password_server_url = _password_server_url(self.base_url, self._password_port)

    def get_name(self) -> str:
        return "CloudStack"

    # --- discovery ----------------------------------------------------------------------

    def _answers(self, base_url: str) -> bool:
        url = requests.compat.urljoin(base_url, PROBE_PATH)
        try:
            self._http_request(url)
        except Exception as ex:
            LOG.debug("No CloudStack metadata at %s: %s", url, ex)
            return False
        return True

    def _use(self, base_url: str) -> None:
        self.base_url = base_url
        # The password server lives on whichever host answered the probe.
        self.password_server_url = _password_server_url(base_url, self._password_port)
        LOG.debug("CloudStack metadata found at %s", base_url)

    def load(self) -> bool:
        super().load()
        # Off by default here ([cloudstack] add_metadata_private_ip_route = False), and
        # only about the configured URL, never the DHCP servers tried after it.
        self.check_metadata_ip_route()
        if self._answers(self.base_url):
            self._use(self.base_url)
            return True
        for adapter, _mac, dhcp_server in self.osutils.get_dhcp_hosts_in_use():
            candidate = f"http://{dhcp_server}/"
            LOG.debug("Trying the DHCP server of adapter %r: %s", adapter, candidate)
            if self._answers(candidate):
                self._use(candidate)
                return True
        return False

    # --- metadata -----------------------------------------------------------------------

    def _meta_data(self, resource: str) -> str | None:
        value: str | None = self._get_cache_data(f"latest/meta-data/{resource}", decode=True)
        return value

    def get_instance_id(self) -> str | None:
        # Decoded text as served, not stripped (upstream does not strip it either).
        return self._meta_data("instance-id")

    def get_host_name(self) -> str | None:
        return self._meta_data("local-hostname")

    def get_user_data(self) -> bytes | None:
        data: bytes = self._get_cache_data("latest/user-data")
        return data

    def get_public_keys(self) -> list[str] | None:
        # A 404 is not turned into "no keys": it propagates and fails the caller, as
        # upstream's does.
        text = self._meta_data("public-keys") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    # --- password server ----------------------------------------------------------------

    def _password_request(self, request_type: str) -> str:
        response = requests.get(
            self.password_server_url,
            headers={DOMU_HEADER: request_type},
            timeout=PASSWORD_SERVER_TIMEOUT_S,
            allow_redirects=False,
        )
        if response.status_code != 200:
            # Upstream raises on any status but 200 and does not retry it.
            raise PasswordServerError(
                f"password server answered {response.status_code} to {request_type}"
            )
        try:
            return response.content.decode("utf-8").strip()
        except UnicodeDecodeError as ex:
            raise PasswordServerError(
                f"password server answered {request_type} with text that is not UTF-8: {ex}"
            ) from ex

    def _password_exchange(self, request_type: str) -> str | None:
        """One request; None when the connection was refused (worth another try)."""
        try:
            return self._password_request(request_type)
        except requests.Timeout:
            # Upstream only tolerates a refused connection; a timeout propagates.
            raise
        except requests.ConnectionError as ex:
            # Upstream retries only on Windows' WSAECONNREFUSED (errno 10061): the guest
            # is Windows, so a connection error here stands for exactly that.
            LOG.debug("Password server refused the connection: %s", ex)
            return None

    def _get_password(self) -> str | None:
        retry_count: int = self.conf.get("retry_count")
        for attempt in range(1, retry_count + 1):
            answer = self._password_exchange(SEND_PASSWORD)
            if answer is None:
                continue
            if not answer:
                # No password pending (yet): asked again right away, no sleep.
                LOG.warning("Password server has no password (attempt %d)", attempt)
                continue
            if answer == BAD_REQUEST:
                LOG.error("Password server did not understand the password request")
                return None
            if answer == SAVED_PASSWORD:
                LOG.warning("The instance password was already fetched and acknowledged")
                return None
            LOG.info("Got the instance password from the password server")
            return answer
        LOG.debug("No password from the password server after %d attempts", retry_count)
        return None

    def _delete_password(self) -> bool:
        retry_count: int = self.conf.get("retry_count")
        for _ in range(retry_count):
            answer = self._password_exchange(SAVED_PASSWORD)
            if answer is not None and answer != BAD_REQUEST:
                LOG.info("The password server removed the instance password")
                return True
        # Only logged, as upstream: the password then stays pending on the router.
        LOG.error("The password server did not acknowledge the saved password")
        return False

    @property
    def can_update_password(self) -> bool:
        return True

    def is_password_changed(self) -> bool:
        # One full "send" round; the password itself is fetched again by
        # get_admin_password (so a pending password is requested twice per boot).
        return self._get_password() is not None

    def get_admin_password(self) -> str | None:
        password = self._get_password()
        if password:
            self._delete_password()
        return password
