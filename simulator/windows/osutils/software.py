"""SoftwareOS: the OS boundary's file version and .NET calls over ``SoftwareState``."""

from __future__ import annotations

from guestsim.agent.osutils import OSUtilsError
from guestsim.simulator.windows.osutils.base import FakeOSBase
from guestsim.simulator.windows.software import (
    DOTNET_4_KEY,
    FileVersion,
    read_version_resource,
)


class SoftwareOS(FakeOSBase):
    def get_file_version(self, path: str) -> FileVersion:
        declared = self.state.software.file_versions.get(path.lower())
        if declared is not None:
            return declared
        if not self.path_exists(path) or self.is_dir(path):
            # GetFileVersionInfoSize's answer: ERROR_FILE_NOT_FOUND.
            raise OSUtilsError(
                f"Cannot read the version of {path}: The system cannot find the file specified (2)"
            )
        version = read_version_resource(self.read_file(path))
        if version is None:
            # ERROR_RESOURCE_TYPE_NOT_FOUND: the file has no version resource.
            raise OSUtilsError(
                f"Cannot read the version of {path}: The specified resource type cannot be "
                "found in the image file (1813)"
            )
        return version

    def check_dotnet_is_installed(self, version: str) -> bool:
        if str(version) != "4":
            raise OSUtilsError("Only checking for .NET Framework version 4 is supported")
        installed = self.get_registry_value(DOTNET_4_KEY, "Install")
        # An absent key or value means "not installed", not an error.
        return installed is not None and installed != 0
