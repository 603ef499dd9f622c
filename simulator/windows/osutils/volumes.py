"""VolumesOS: mount points, page files, TRIM and the storage manager at the OS boundary.

The storage manager (``extend_volumes``, ``get_san_policy``, ``set_san_policy``) answers as
VDS does, or as WSM does when the machine is a Nano Server; how volumes are numbered for
each is described in :mod:`guestsim.simulator.windows.storage`. Its log lines are the ones the
agent's storage manager writes on a real guest, so they go to the agent's log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from guestsim.agent.osutils import ItemNotFound, OSUtilsError
from guestsim.agent.windows.storage import (
    SAN_POLICY_OFFLINE,
    SAN_POLICY_OFFLINE_SHARED,
    SAN_POLICY_ONLINE,
)
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.windows import storage
from guestsim.simulator.windows.disks import Volume
from guestsim.simulator.windows.osutils.base import FakeOSBase
from guestsim.simulator.windows.registry import RegistryError, RegType
from guestsim.simulator.windows.volumes import (
    DISABLE_DELETE_NOTIFICATION,
    FILE_SYSTEM_KEY,
    MEMORY_MANAGEMENT_KEY,
    PAGING_FILES,
    PARTMGR_PARAMETERS_KEY,
    SAN_POLICY,
    as_folder,
    page_file_entry,
)

# On a real guest these lines come from the agent's own storage manager (VDS/WSM code).
STORAGE_LOG = logging.getLogger("guestsim.agent.windows.storage")

SAN_POLICIES = (SAN_POLICY_ONLINE, SAN_POLICY_OFFLINE_SHARED, SAN_POLICY_OFFLINE)
# VDS refuses to extend a volume by less than this ("extent size less than minimum"); WSM
# reports no larger supported size then. Partitions are aligned to 1 MiB, so a smaller gap
# (a disk image's rounding) cannot hold another aligned piece of the volume.
MIN_EXTENT = 1024**2
MANAGER_VDS = "VDS"
MANAGER_WSM = "WSM"


class VolumesOS(FakeOSBase):
    # --- mount points ----------------------------------------------------------------------

    def _path_names(self, volume: Volume) -> list[str]:
        # GetVolumePathNamesForVolumeName: the drive letter first, then mounted folders.
        mounts = self.state.volume_config.mount_points
        mounted = sorted((p for p, guid in mounts.items() if guid == volume.guid), key=str.lower)
        return ([volume.root] if volume.letter else []) + mounted

    def get_volume_path_names_by_mount_point(self, mount_point: str) -> list[str]:
        point = as_folder(mount_point)
        lowered = point.lower()
        volumes = self.state.volumes
        drive = self.state.find_drive(point) if len(point) == 3 else None
        if drive is not None:
            volume = next((v for v in volumes if v.letter == drive.letter), None)
            # A drive attached without a volume record is still one volume, lettered.
            return [drive.root] if volume is None else self._path_names(volume)
        volume = next((v for v in volumes if v.path.lower() == lowered), None)
        if volume is None:
            guid = next(
                (
                    guid
                    for known, guid in self.state.volume_config.mount_points.items()
                    if known.lower() == lowered
                ),
                None,
            )
            volume = next((v for v in volumes if v.guid == guid), None)
        if volume is not None:
            return self._path_names(volume)
        if self.state.files.is_dir(point.rstrip("\\")):
            # An ordinary folder: Windows answers ERROR_NOT_A_REPARSE_POINT, which is not
            # "not found" for the agent.
            raise OSUtilsError(f"Failed to get volume name for mount point: {point}")
        raise ItemNotFound(f"Mount point not found: {point}")

    # --- TRIM --------------------------------------------------------------------------------

    def enable_trim(self, enable: bool) -> None:
        # fsutil.exe behavior set disabledeletenotify 0|1: 0 turns TRIM on.
        value = 0 if enable else 1
        self._mutation("enable_trim", enable=enable, disabledeletenotify=value)
        registry = self.state.registry
        registry.create_key(FILE_SYSTEM_KEY)
        registry.set_value(FILE_SYSTEM_KEY, DISABLE_DELETE_NOTIFICATION, value, RegType.REG_DWORD)

    # --- page files --------------------------------------------------------------------------

    def get_page_files(self) -> list[tuple[str, int, int]]:
        try:
            value = self.state.registry.get_value(MEMORY_MANAGEMENT_KEY, PAGING_FILES)
        except RegistryError as ex:
            raise OSUtilsError(f"Cannot read the page file configuration: {ex}") from ex
        if not isinstance(value.data, list):
            raise NotModelled(f"a {value.type} {PAGING_FILES} registry value")
        return [page_file_entry(entry) for entry in value.data if entry]

    def set_page_files(self, page_files: Sequence[tuple[str, int, int]]) -> None:
        entries = [f"{path} {int(minimum)} {int(maximum)}" for path, minimum, maximum in page_files]
        registry = self.state.registry
        if not registry.key_exists(MEMORY_MANAGEMENT_KEY):
            raise OSUtilsError(f"Cannot open {MEMORY_MANAGEMENT_KEY}: key not found")
        self._mutation("set_page_files", page_files=entries)
        registry.set_value(MEMORY_MANAGEMENT_KEY, PAGING_FILES, entries, RegType.REG_MULTI_SZ)

    # --- the storage manager -----------------------------------------------------------------

    def _manager(self) -> str:
        return MANAGER_WSM if self.state.version.nano_server else MANAGER_VDS

    def extend_volumes(self, volume_indexes: list[int] | None = None) -> None:
        if self._manager() == MANAGER_WSM:
            self._wsm_extend_volumes(volume_indexes)
        else:
            self._vds_extend_volumes(volume_indexes)

    def _grow(self, target: Volume, new_size: int, **trace: object) -> None:
        if target.filesystem != "NTFS":
            raise NotModelled(f"extending a {target.filesystem or 'RAW'} volume")
        self._mutation("extend_volume", manager=self._manager(), size=new_size, **trace)
        storage.resize_volume(self.state, target, new_size)

    def _vds_extend_volumes(self, volume_indexes: list[int] | None) -> None:
        # Each basic pack's volumes; CD-ROM media are not among them.
        for volume in [v for v in self.state.volumes if v.disk is not None]:
            name = storage.vds_volume_name(self.state, volume)
            number = storage.harddisk_volume_number(self.state, volume)
            if volume_indexes and number not in volume_indexes:
                continue
            free = storage.free_space_after(self.state, volume)
            if not free:
                continue
            STORAGE_LOG.info('Extending volume "%s" with %s bytes', name, free)
            if free < MIN_EXTENT:
                # VDS_E_EXTENT_SIZE_LESS_THAN_MIN: not an error for the agent.
                STORAGE_LOG.debug('Volume "%s": extent size less than minimum, not extended', name)
                continue
            self._grow(volume, volume.size + free, volume=name, by_bytes=free)

    def _wsm_extend_volumes(self, volume_indexes: list[int] | None) -> None:
        for index, volume in enumerate(list(self.state.volumes), start=1):
            if volume_indexes and index not in volume_indexes:
                continue
            if volume.disk is None:
                continue  # no MSFT_Partition behind CD-ROM media
            free = storage.free_space_after(self.state, volume)
            size_max = volume.size + free if free >= MIN_EXTENT else volume.size
            if size_max > volume.size:
                number = storage.partition_number(self.state, volume)
                STORAGE_LOG.info('Extending partition "%s" to %s bytes', number, size_max)
                self._grow(volume, size_max, volume_index=index, partition=number)

    def get_san_policy(self) -> int:
        registry = self.state.registry
        if self._manager() == MANAGER_WSM and not registry.key_exists(PARTMGR_PARAMETERS_KEY):
            raise OSUtilsError(f"Cannot open {PARTMGR_PARAMETERS_KEY}: key not found")
        try:
            policy = registry.get_value(PARTMGR_PARAMETERS_KEY, SAN_POLICY).data
        except RegistryError:
            return SAN_POLICY_OFFLINE_SHARED
        if not isinstance(policy, int):
            raise NotModelled(f"a non-DWORD {SAN_POLICY} registry value")
        return policy

    def set_san_policy(self, policy: int) -> None:
        manager = self._manager()
        if manager == MANAGER_WSM and policy != SAN_POLICY_ONLINE:
            raise OSUtilsError("Only the OnlineAll SAN policy can be set through WSM")
        if policy not in SAN_POLICIES:
            raise OSUtilsError(f"Invalid SAN policy: {policy}")
        self._mutation("set_san_policy", manager=manager, policy=policy)
        registry = self.state.registry
        registry.create_key(PARTMGR_PARAMETERS_KEY)
        registry.set_value(PARTMGR_PARAMETERS_KEY, SAN_POLICY, policy, RegType.REG_DWORD)
