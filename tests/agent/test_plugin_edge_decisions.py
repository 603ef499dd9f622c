"""Edge cases where a plugin must decide quietly and correctly: a mount point that names a
volume with no path at all, an empty local scripts folder, a user data save folder that is a
file.
"""

from __future__ import annotations

from guestsim.agent.plugins.base import PLUGIN_EXECUTION_DONE
from guestsim.simulator.windows.storage import GIB, attach_ntfs_disk
from tests.agent.test_localscripts import FOLDER
from tests.agent.test_storage_plugins import WARNING, azure_machine, azure_state, outcomes
from tests.agent.test_userdata import LS, guest, run_user_data
from tests.builders import openstack_machine


def test_a_mount_point_naming_a_volume_without_any_path_falls_back_to_the_label() -> None:
    # A second, unlettered and unmounted volume: its GUID path resolves to the volume, but
    # the volume has no path names, so the label decides (D: "Temporary Storage").
    state = azure_state()
    attach_ntfs_disk(state, 4 * GIB, "Hidden")
    hidden = state.volumes[-1]
    assert hidden.letter is None
    options = {
        "ephemeral_disk_volume_mount_point": hidden.path,
        "ephemeral_disk_volume_label": "Temporary Storage",
        "ephemeral_disk_data_loss_warning_path": "README.txt",
    }

    result = azure_machine(options, state).run()

    assert outcomes(result, "EphemeralDiskPlugin") == [(1, PLUGIN_EXECUTION_DONE, False)]
    assert result.state.files.read("D:\\README.txt") == WARNING


def test_an_empty_local_scripts_folder_is_done_without_a_reboot() -> None:
    state = guest()
    state.files.make_dirs(FOLDER)
    machine, _ = openstack_machine((LS,), {"local_scripts_path": FOLDER}, state=state)
    result = machine.run()

    ends = [
        e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == "LocalScriptsPlugin"
    ]
    assert [(e.get("success"), e.get("status"), e.get("reboot")) for e in ends] == [
        (True, PLUGIN_EXECUTION_DONE, False)
    ]
    assert result.boot_count == 1


def test_a_save_folder_that_is_a_file_fails_naming_the_folder() -> None:
    state = guest(files={"C:\\ud": b"not a folder"})
    result = run_user_data(
        b"rem cmd\r\n", options={"userdata_save_path": "C:\\ud\\user-data"}, state=state
    )

    (end,) = [e for e in result.trace.of_kind("plugin_end") if e.get("plugin") == "UserDataPlugin"]
    assert end.get("error") == (
        "UserDataSaveError: userdata_save_path folder is not a directory: C:\\ud"
    )
