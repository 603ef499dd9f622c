"""ServicesOS: the service control manager over ``WindowsState.services``."""

from __future__ import annotations

import logging
from typing import Any

from guestsim.agent.osutils import (
    SERVICE_START_MODES,
    SERVICE_STATUS_RUNNING,
    SERVICE_STATUS_STOPPED,
    InvalidState,
    ItemNotFound,
    OSUtilsError,
)
from guestsim.simulator.windows.osutils.base import FakeOSBase, redact
from guestsim.simulator.windows.state import Service

LOG = logging.getLogger(__name__)


class ServicesOS(FakeOSBase):
    def check_service_exists(self, service_name: str) -> bool:
        return self.state.find_service(service_name) is not None

    def get_service_status(self, service_name: str) -> str:
        status: str = self._service(service_name).status
        return status

    def get_service_start_mode(self, service_name: str) -> str:
        mode: str = self._service(service_name).start_mode
        return mode

    def set_service_start_mode(self, service_name: str, start_mode: str) -> None:
        service = self._service(service_name)
        if start_mode not in SERVICE_START_MODES:
            raise InvalidState(f"Invalid service start mode: {start_mode}")
        self._mutation("set_service_start_mode", service=service.name, start_mode=start_mode)
        service.start_mode = start_mode

    def start_service(self, service_name: str) -> None:
        service = self._service(service_name)
        self._mutation("start_service", service=service.name)
        service.status = SERVICE_STATUS_RUNNING

    def stop_service(self, service_name: str, wait: bool = False) -> None:
        service = self._service(service_name)
        self._mutation("stop_service", service=service.name)
        service.status = SERVICE_STATUS_STOPPED
        self.hooks.service_stopped(service.name)

    def create_service(
        self,
        service_name: str,
        display_name: str,
        path: str,
        start_mode: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if start_mode not in SERVICE_START_MODES:
            raise InvalidState(f"Invalid service start mode: {start_mode}")
        if self.state.find_service(service_name) is not None:
            # CreateService's own refusal: ERROR_SERVICE_EXISTS.
            raise OSUtilsError(
                f"Cannot create service {service_name}: The specified service already exists (1073)"
            )
        account = username or "LocalSystem"
        self._mutation(
            "create_service",
            service=service_name,
            display_name=display_name,
            path=path,
            start_mode=start_mode,
            username=account,
            password=redact(password),
        )
        # An own-process service; it is registered stopped and starts at boot if Automatic.
        self.state.services.append(
            Service(service_name, display_name, start_mode, account=account, binary_path=path)
        )

    def delete_service(self, service_name: str) -> None:
        service = self._service(service_name)
        if service.status != SERVICE_STATUS_STOPPED:
            # Windows only marks a running service for deletion and removes it once it has
            # stopped; that pending state is not part of the model.
            self._not_modelled(f"delete_service of the {service.status.lower()} {service.name}")
        self._mutation("delete_service", service=service.name)
        self.state.services.remove(service)

    def set_service_credentials(self, service_name: str, username: str, password: str) -> None:
        service = self._service(service_name)
        self._mutation(
            "set_service_credentials",
            service=service.name,
            username=username,
            password=redact(password),
        )
        service.account = username

    def get_service_username(self, service_name: str) -> str:
        account: str = self._service(service_name).account
        return account

    def _service(self, name: str) -> Any:
        service = self.state.find_service(name)
        if service is None:
            raise ItemNotFound(f"Service not found: {name}")
        return service
