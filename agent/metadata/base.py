"""The metadata service interface every cloud implements, with upstream defaults."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from guestsim.agent.plugins.base import AgentContext
from guestsim.agent.resources import bounded_gunzip

LOG = logging.getLogger(__name__)

T = TypeVar("T")

# The metadata-route workaround: Windows from Vista / Server 2008 (6.0) on does not route
# link-local (169.254.x.x) addresses, so an unreachable metadata host there gets a host
# route through the default gateway.
LINK_LOCAL_PREFIX = "169.254."
ROUTE_CHECK_MIN_WINDOWS = (6, 0)
ROUTE_CHECK_TRIES = 3
# urllib's urlopen, which upstream's check uses, returns only a final 2xx; it follows
# redirects and raises for any other status (a 3xx it cannot follow included).
HTTP_SUCCESS = range(200, 300)
HOST_ROUTE_MASK = "255.255.255.255"
HOST_ROUTE_METRIC = 10


class NotExistingMetadataException(Exception):
    """The requested item is absent from the metadata (an HTTP 404, a missing file)."""


class MetadataNotFoundException(Exception):
    """No configured metadata service could be loaded."""


class MetadataService:
    """Base service: every getter answers "nothing", as upstream's base class does.

    Subclasses override ``load`` and ``_get_data``; data reads are cached per run by
    ``(path, decode)`` and, when ``retries_enabled``, retried ``retry_count`` more times
    ``retry_count_interval`` seconds apart on any error except a missing item.
    """

    retries_enabled = False

    def __init__(self, context: AgentContext) -> None:
        self.context = context
        self.conf = context.conf
        self.osutils = context.osutils
        self._cache: dict[tuple[str, bool], Any] = {}

    def get_name(self) -> str:
        return type(self).__name__

    def load(self) -> bool:
        self._cache.clear()
        return False

    # --- data access -------------------------------------------------------------------

    def _get_data(self, path: str) -> bytes:
        raise NotImplementedError

    def _exec_with_retry(self, action: Callable[[], T]) -> T:
        retry_count: int = self.conf.get("retry_count") if self.retries_enabled else 0
        interval: float = self.conf.get("retry_count_interval")
        attempt = 0
        while True:
            try:
                return action()
            except NotExistingMetadataException:
                raise
            except Exception as ex:
                if attempt >= retry_count:
                    raise
                attempt += 1
                LOG.debug("Retrying metadata request (%d/%d) after: %s", attempt, retry_count, ex)
                self.osutils.sleep(interval)

    def _get_cache_data(self, path: str, decode: bool = False) -> Any:
        key = (path, decode)
        if key in self._cache:
            return self._cache[key]
        data: Any = self._exec_with_retry(lambda: self._get_data(path))
        if decode:
            data = _decode_text(data, path)
        self._cache[key] = data
        return data

    # --- what plugins ask for; upstream's defaults ---------------------------------------

    def get_instance_id(self) -> str | None:
        return None

    def get_host_name(self) -> str | None:
        return None

    def get_public_keys(self) -> list[str] | None:
        return None

    def get_user_pwd_encryption_key(self) -> str | None:
        keys = self.get_public_keys()
        return keys[0] if keys else None

    def get_admin_username(self) -> str | None:
        return None

    def get_admin_password(self) -> str | None:
        return None

    def get_user_data(self) -> bytes | None:
        return None

    def get_decoded_user_data(self) -> bytes | None:
        data = self.get_user_data()
        if data and data[:2] == b"\x1f\x8b":
            limit = self.osutils.get_resource_limits().decompressed_bytes
            data = bounded_gunzip(data, limit, "the gzip user data")
        return data

    def get_client_auth_certs(self) -> list[str] | None:
        return None

    def get_kms_host(self) -> str | None:
        return None

    def get_network_details(self) -> list[Any] | None:
        return None

    def get_network_details_v2(self) -> Any:
        return None

    def get_server_certs(self) -> list[dict[str, Any]] | None:
        return None

    def get_winrm_listeners_configuration(self) -> list[dict[str, Any]] | None:
        return None

    def get_vm_agent_package_provisioning_data(self) -> dict[str, Any] | None:
        return None

    def get_use_avma_licensing(self) -> bool | None:
        return None

    def get_enable_automatic_updates(self) -> bool | None:
        return None

    def get_ephemeral_disk_data_loss_warning(self) -> bytes:
        raise NotExistingMetadataException("no ephemeral disk data loss warning")

    def get_content(self, name: str) -> bytes | None:
        return None

    def get_instance_data(self) -> dict[str, Any]:
        """What a ``## template: jinja`` user data template sees (cloud-init's layout).

        ``ds.meta_data`` is the service's own metadata where a service has one (a
        subclass replaces it); here it repeats the identity keys plus ``hostname``.
        """
        instance_id = self.get_instance_id()
        host_name = self.get_host_name()
        public_keys = self.get_public_keys()
        identity: dict[str, Any] = {
            "instance-id": instance_id,
            "instance_id": instance_id,
            "local-hostname": host_name,
            "local_hostname": host_name,
        }
        v1 = {**identity, "public_ssh_keys": public_keys}
        return {
            "v1": v1,
            "ds": {
                "_doc": (
                    "EXPERIMENTAL: what is under the 'ds' key is the data source's own "
                    "metadata; its layout may change between releases."
                ),
                "meta_data": {**identity, "hostname": host_name},
            },
            **v1,
        }

    @property
    def can_post_rdp_cert_thumbprint(self) -> bool:
        return False

    def post_rdp_cert_thumbprint(self, thumbprint: str) -> None:
        pass

    @property
    def can_post_password(self) -> bool:
        return False

    @property
    def is_password_set(self) -> bool:
        return False

    def post_password(self, enc_password_b64: bytes) -> bool:
        return False

    @property
    def can_update_password(self) -> bool:
        return False

    def is_password_changed(self) -> bool:
        return False

    def provisioning_started(self) -> None:
        pass

    def provisioning_completed(self) -> None:
        pass

    def provisioning_failed(self) -> None:
        pass

    def cleanup(self) -> None:
        pass


def _answers(url: str) -> bool:
    """Whether a plain GET of ``url`` succeeds in ``ROUTE_CHECK_TRIES`` tries."""
    for attempt in range(1, ROUTE_CHECK_TRIES + 1):
        LOG.debug("Checking URL %s (try %d of %d)", url, attempt, ROUTE_CHECK_TRIES)
        try:
            # No timeout, as upstream; and as upstream's urllib check, any final status but
            # 2xx (401 from an IMDSv2-only EC2, 404 from Oracle's root) counts as no answer.
            response = requests.get(url)
        except Exception as ex:
            LOG.debug("No answer from %s: %s", url, ex)
            continue
        if response.status_code in HTTP_SUCCESS:
            return True
        LOG.debug("No answer from %s: HTTP %d", url, response.status_code)
    return False


def _decode_text(data: Any, path: str) -> str | None:
    # Upstream turns undecodable data into None rather than failing; callers then see
    # "no data", which is what users of broken metadata observe.
    if isinstance(data, str):
        return data
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            LOG.error("Metadata at %r is not UTF-8 text", path)
            return None
    LOG.error("Metadata at %r is not text", path)
    return None


class HttpMetadataService(MetadataService):
    """A service read over HTTP(S) with ``requests``; 404 means "not existing"."""

    retries_enabled = True

    def __init__(self, context: AgentContext, base_url: str, group: str) -> None:
        super().__init__(context)
        self.base_url = base_url
        self._group = group

    def _verify(self) -> bool | str:
        # Upstream passes ``https_allow_insecure`` itself as the verify flag, so the
        # default (False) disables certificate checks. Reproduced on purpose: it is what
        # deployed agents do against HTTPS metadata endpoints.
        ca_bundle: str | None = self.conf.get("https_ca_bundle", self._group)
        if ca_bundle:
            return ca_bundle
        allow_insecure: bool = self.conf.get("https_allow_insecure", self._group)
        return allow_insecure

    def check_metadata_ip_route(self) -> None:
        """The Windows route workaround, when ``add_metadata_private_ip_route`` is on.

        On Windows 6.0 or later with a ``169.254.x.x`` metadata host and no route to it:
        GET the base URL up to three times (plain GETs: no headers of the service's own,
        requests' default TLS check, no timeout), and only if none gets an answer (an
        error status counts as none, like a connection error) add a /32 route to the
        host through the default gateway, metric 10. A failure to add it is logged and
        ignored. The services that do this call it at the start of ``load()``.
        """
        if not self.conf.get("add_metadata_private_ip_route", self._group):
            return
        osutils = self.osutils
        if osutils.get_platform() != "win32" or not osutils.check_os_version(
            *ROUTE_CHECK_MIN_WINDOWS
        ):
            return
        url: str = self.conf.get("metadata_base_url", self._group)
        # The host is what precedes the first colon of the URL's network location.
        host = urlsplit(url).netloc.split(":")[0]
        if not host.startswith(LINK_LOCAL_PREFIX):
            return
        if osutils.check_static_route_exists(host) or _answers(url):
            return
        interface_index, gateway = osutils.get_default_gateway()
        if not gateway:
            LOG.debug("No default gateway to route the metadata host %s through", host)
            return
        LOG.debug("Adding a route to the metadata host %s through %s", host, gateway)
        try:
            osutils.add_static_route(
                host, HOST_ROUTE_MASK, gateway, interface_index, HOST_ROUTE_METRIC
            )
        except Exception:
            # Ignored, as upstream: loading goes on and fails or not on its own.
            LOG.exception("Cannot add a route to the metadata host %s", host)

    def extra_headers(self) -> dict[str, str]:
        """Headers this service adds to every request; computed afresh for each one."""
        return {}

    def url_for(self, path: str) -> str:
        if path.startswith("http"):
            return path
        return requests.compat.urljoin(self.base_url, path)

    def _http_request(
        self,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> bytes:
        method = method or ("POST" if data else "GET")
        # No timeout, as upstream: a metadata server that never answers stalls the agent.
        headers = {**(headers or {}), **self.extra_headers()}
        response = requests.request(
            method, self.url_for(path), data=data, headers=headers, verify=self._verify()
        )
        response.raise_for_status()
        return response.content

    def _get_data(self, path: str) -> bytes:
        try:
            return self._http_request(path)
        except requests.HTTPError as ex:
            if ex.response is not None and ex.response.status_code == 404:
                raise NotExistingMetadataException(f"{path}: not found") from ex
            raise
