"""Discovery: the first service in ``metadata_services`` whose ``load()`` succeeds."""

from __future__ import annotations

import importlib
import logging

from guestsim.agent.metadata.base import (
    MetadataNotFoundException,
    MetadataService,
    NotExistingMetadataException,
)
from guestsim.agent.plugins.base import AgentContext

LOG = logging.getLogger(__name__)

_UPSTREAM = "cloudbaseinit.metadata.services."

# Every upstream service class path -> ".our_module:OurClass" (in this package).
UPSTREAM_SERVICES: dict[str, str] = {
    f"{_UPSTREAM}httpservice.HttpService": ".openstack:OpenStackHttpService",
    f"{_UPSTREAM}configdrive.ConfigDriveService": (".configdrive:ConfigDriveService"),
    f"{_UPSTREAM}ec2service.EC2Service": ".ec2:EC2Service",
    f"{_UPSTREAM}maasservice.MaaSHttpService": ".maas:MaaSHttpService",
    f"{_UPSTREAM}cloudstack.CloudStack": ".cloudstack:CloudStack",
    f"{_UPSTREAM}opennebulaservice.OpenNebulaService": (".opennebula:OpenNebulaService"),
    f"{_UPSTREAM}azureservice.AzureService": ".azure:AzureService",
    f"{_UPSTREAM}gceservice.GCEService": ".gce:GCEService",
    f"{_UPSTREAM}nocloudservice.NoCloudConfigDriveService": (".nocloud:NoCloudConfigDriveService"),
    f"{_UPSTREAM}ovfservice.OvfService": ".ovf:OvfService",
    f"{_UPSTREAM}packet.PacketService": ".packet:PacketService",
    f"{_UPSTREAM}vmwareguestinfoservice.VMwareGuestInfoService": (".vmware:VMwareGuestInfoService"),
    f"{_UPSTREAM}oraclecloudservice.OracleCloudService": (".oracle:OracleCloudService"),
    f"{_UPSTREAM}base.EmptyMetadataService": ".factory:EmptyMetadataService",
}


class MetadataServiceImportError(Exception):
    """A configured class path names no metadata service; upstream aborts the run here."""


class EmptyMetadataService(MetadataService):
    """``base.EmptyMetadataService``: always loads, knows nothing, keeps no plugin state."""

    def load(self) -> bool:
        super().load()
        return True

    def get_admin_username(self) -> str | None:
        raise NotExistingMetadataException("the empty metadata service has no admin user")

    def get_admin_password(self) -> str | None:
        raise NotExistingMetadataException("the empty metadata service has no password")

    def is_password_changed(self) -> bool:
        raise NotExistingMetadataException("the empty metadata service has no password")


def service_class(path: str) -> type[MetadataService]:
    """Our class for an upstream path; an unknown path raises, as an import would."""
    if path not in UPSTREAM_SERVICES:
        raise MetadataServiceImportError(f"No metadata service class at {path!r}")
    target = UPSTREAM_SERVICES[path]
    module_name, _, class_name = target.partition(":")
    cls: type[MetadataService] = getattr(
        importlib.import_module(module_name, __package__), class_name
    )
    return cls


def get_metadata_service(context: AgentContext) -> MetadataService:
    for path in context.conf.get("metadata_services"):
        cls = service_class(path)
        # Construction is outside the error handling on purpose: upstream lets a failing
        # constructor abort discovery (and the run).
        service = cls(context)
        try:
            loaded = service.load()
        except Exception as ex:
            LOG.error("Failed to load metadata service '%s'", path)
            LOG.error("Load failure: %s: %s", type(ex).__name__, ex)
            context.events(
                "metadata_service_probe", service=path, result="error", error=type(ex).__name__
            )
            continue
        context.events(
            "metadata_service_probe", service=path, result="loaded" if loaded else "not_loaded"
        )
        if loaded:
            return service
    raise MetadataNotFoundException("No available service found")
