"""System programs the fake Windows knows how to run (``sc.exe`` ...), by their effect.

Guest programs never run on the host. Each known program is a function over the state;
anything else is reported as not modelled, never silently "succeeds".
"""

from __future__ import annotations

from collections.abc import Callable

from guestsim.agent.osutils import ProcessResult
from guestsim.simulator.errors import NotModelled
from guestsim.simulator.windows import licensing
from guestsim.simulator.windows.state import WindowsState

SUCCESS: ProcessResult = (b"", b"", 0)


class SystemCommands:
    def __init__(self, state: WindowsState) -> None:
        self.state = state
        self._programs: dict[str, Callable[[list[str]], ProcessResult]] = {
            "sc.exe": self._sc,
            "rpctool.exe": self.rpctool,
            "bcdedit.exe": self._bcdedit,
            "powercfg.exe": self._powercfg,
            "logman.exe": self._logman,
            "cscript.exe": self._cscript,
        }

    def knows(self, program: str) -> bool:
        """True if ``program`` (a bare file name or a path) is a system program modelled here."""
        return program.rsplit("\\", 1)[-1].lower() in self._programs

    def run(self, args: list[str]) -> ProcessResult:
        program = args[0].rsplit("\\", 1)[-1].lower() if args else ""
        handler = self._programs.get(program)
        if handler is None:
            raise NotModelled(f"running {program or '<nothing>'!r}")
        return handler(args[1:])

    def _sc(self, args: list[str]) -> ProcessResult:
        if len(args) >= 2 and args[0].lower() == "triggerinfo":
            service = self.state.find_service(args[1])
            if service is None:
                # sc.exe's own answer for an unknown service: error 1060.
                message = b"[SC] OpenService FAILED 1060:\r\n\r\n"
                return message, b"", 1060
            triggers = args[2:]
            service.triggers = [] if triggers == ["delete"] else list(triggers)
            return b"[SC] ChangeServiceConfig2 SUCCESS\r\n", b"", 0
        raise NotModelled(f"sc.exe {' '.join(args[:1])}")

    def rpctool(self, args: list[str]) -> ProcessResult:
        """VMware Tools' rpctool, whatever the file it runs from is called."""
        # VMware Tools' rpctool takes the whole RPC as one argument: "info-get <name>".
        if len(args) != 1:
            raise NotModelled(f"rpctool.exe with {len(args)} arguments")
        verb, _, name = args[0].partition(" ")
        if verb != "info-get":
            raise NotModelled(f"rpctool.exe {verb!r}")
        guestinfo = self.state.guestinfo
        if guestinfo is None:
            # Off VMware the backdoor channel does not answer.
            return b"", b"Failed sending message to VMware.\r\n", 1
        wanted = name.strip().lower()
        # Variable names are case-insensitive, as in a VM's configuration file.
        for key, value in guestinfo.items():
            if key.lower() == wanted:
                return value, b"", 0
        return b"", b"No value found\r\n", 1

    # --- boot configuration ---------------------------------------------------------------------

    def _bcdedit(self, args: list[str]) -> ProcessResult:
        if not self.state.boot_config.store_available:
            message = (
                "The boot configuration data store could not be opened.\r\n"
                "The system cannot find the file specified.\r\n"
            )
            return message.encode(), b"", 1
        if len(args) == 4 and args[0].lower() == "/set":
            entry, element, value = args[1:]
            if entry.lower() != "{current}":
                raise NotModelled(f"bcdedit.exe /set {entry}")
            try:
                error = self.state.boot_config.set_element(element, value)
            except KeyError:
                raise NotModelled(f"bcdedit.exe /set {{current}} {element}") from None
            if error is not None:
                heading = "An error occurred while attempting to modify the specified entry."
                return f"{heading}\r\n{error}\r\n".encode(), b"", 1
            return b"The operation completed successfully.\r\n", b"", 0
        raise NotModelled(f"bcdedit.exe {' '.join(args[:1])}")

    # --- power schemes --------------------------------------------------------------------------

    def _powercfg(self, args: list[str]) -> ProcessResult:
        verb = args[0].lower().lstrip("/-") if args else ""
        if verb != "setacvalueindex" or len(args) != 5:
            raise NotModelled(f"powercfg.exe {' '.join(args[:1])}")
        power = self.state.power
        path = (power.resolve(args[1]), power.resolve(args[2]), power.resolve(args[3]))
        if path not in power.ac_values:
            raise NotModelled(f"powercfg.exe setting {args[2]} {args[3]} of scheme {args[1]}")
        value = _powercfg_number(args[4])
        if value is None:
            return b'Invalid Parameters -- try "/?" for help\r\n', b"", 1
        power.set_ac_value(self.state.registry, path, value)
        return b"", b"", 0

    # --- event trace collectors -----------------------------------------------------------------

    def _logman(self, args: list[str]) -> ProcessResult:
        ets = any(arg.lower() == "-ets" for arg in args)
        rest = [arg for arg in args if arg.lower() != "-ets"]
        if len(rest) != 2 or rest[0].lower() not in ("stop", "delete"):
            raise NotModelled(f"logman.exe {' '.join(args)}")
        verb, name = rest[0].lower(), rest[1]
        software = self.state.software
        if ets:
            if verb != "stop":
                raise NotModelled(f"logman.exe {verb} -ets")
            running = {session.lower(): session for session in software.trace_sessions}
            if name.lower() not in running:
                return _logman_error(LOGMAN_NOT_FOUND)
            software.trace_sessions.remove(running[name.lower()])
            return LOGMAN_SUCCESS
        known = {dcs.lower(): dcs for dcs in software.data_collector_sets}
        actual = known.get(name.lower())
        if actual is None:
            return _logman_error(LOGMAN_NOT_FOUND)
        if verb == "stop":
            if not software.data_collector_sets[actual]:
                return _logman_error(LOGMAN_NOT_RUNNING)
            software.data_collector_sets[actual] = False
            return LOGMAN_SUCCESS
        if software.data_collector_sets[actual]:
            raise NotModelled("logman.exe delete of a running data collector set")
        del software.data_collector_sets[actual]
        return LOGMAN_SUCCESS

    # --- Windows Script Host: slmgr.vbs ---------------------------------------------------------

    def _cscript(self, args: list[str]) -> ProcessResult:
        host_options = [arg.lower() for arg in args if arg.startswith("//")]
        rest = [arg for arg in args if not arg.startswith("//")]
        if not rest:
            raise NotModelled("cscript.exe without a script")
        script = rest[0]
        folder, _, name = script.lower().rpartition("\\")
        if name != "slmgr.vbs" or folder not in SYSTEM_FOLDERS:
            raise NotModelled(f"cscript.exe running {script}")
        output, exit_code = self._slmgr(rest[1:])
        banner = b"" if "//nologo" in host_options else WSH_BANNER
        return banner + output.encode(), b"", exit_code

    def _slmgr(self, args: list[str]) -> tuple[str, int]:
        command = args[0].lower().lstrip("/-") if args else ""
        state = self.state
        if command == "ipk" and len(args) == 2:
            code = licensing.install_product_key(state.licensing, state.version, args[1])
            done = f"Installed product key {args[1]} successfully.\r\n"
        elif command == "skms" and len(args) == 2:
            host, port = _kms_address(args[1])
            code = licensing.configure_kms_host(state.licensing, state.registry, host, port)
            done = f"Key Management Service machine name set to {args[1]} successfully.\r\n"
        elif command == "ato" and len(args) == 1:
            product = licensing.installed_product(state.licensing, state.version)
            if product is None:
                raise NotModelled("slmgr.vbs /ato without a product key")
            code = licensing.activate(state.licensing)
            heading = f"Activating {product.name} ...\r\n"
            if code:
                return f"{heading}Error: {licensing.hresult_error(code)}\r\n", code
            return f"{heading}Product activated successfully.\r\n", 0
        elif command == "dlv" and len(args) == 1:
            return licensing.license_info(state.licensing, state.version), 0
        else:
            raise NotModelled(f"slmgr.vbs {' '.join(args[:1])}")
        if code:
            return f"Error: {licensing.hresult_error(code)}\r\n", code
        return done, 0


SYSTEM_FOLDERS = ("c:\\windows\\system32", "c:\\windows\\sysnative")
WSH_BANNER = (
    b"Microsoft (R) Windows Script Host Version 5.812\r\n"
    b"Copyright (C) Microsoft Corporation. All rights reserved.\r\n\r\n"
)
# logman's answers (PLA_E_DCS_NOT_FOUND, PLA_E_DCS_NOT_RUNNING), as unsigned exit codes.
LOGMAN_NOT_FOUND = 0x80300002
LOGMAN_NOT_RUNNING = 0x80300104
LOGMAN_SUCCESS: ProcessResult = (b"\r\nThe command completed successfully.\r\n", b"", 0)
_LOGMAN_ERRORS = {
    LOGMAN_NOT_FOUND: "Data Collector Set was not found.",
    LOGMAN_NOT_RUNNING: "Data Collector Set is not running.",
}


def _logman_error(code: int) -> ProcessResult:
    return f"\r\nError:\r\n{_LOGMAN_ERRORS[code]}\r\n".encode(), b"", code


def _powercfg_number(text: str) -> int | None:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        return None
    return value if 0 <= value < 2**32 else None


def _kms_address(text: str) -> tuple[str, str | None]:
    # "host:port" or "host"; a bracketed IPv6 address keeps its colons.
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


VMWARE_RPCTOOL = "C:\\Program Files\\VMware\\VMware Tools\\rpctool.exe"


def install_vmware_tools(state: WindowsState, guestinfo: dict[str, bytes]) -> None:
    """VMware Tools on the guest: ``rpctool.exe`` exists and answers from ``guestinfo``."""
    state.guestinfo = dict(guestinfo)
    state.files.make_dirs(VMWARE_RPCTOOL.rsplit("\\", 1)[0])
    state.files.write(VMWARE_RPCTOOL, b"MZ")


def add_vmware_rpctool(state: WindowsState, path: str | None) -> None:
    """The file at ``path`` (as a configuration writes it: environment variables, relative
    to the system folder) is an rpctool: when the guest has that file, running it answers
    as VMware Tools' rpctool does (from ``guestinfo``; off VMware, it fails as rpctool
    does). A missing file stays missing."""
    if not path or path.replace("/", "\\").rsplit("\\", 1)[-1].lower() == "rpctool.exe":
        return  # any rpctool.exe answers already
    if path not in state.vmware_rpctool_paths:
        state.vmware_rpctool_paths.append(path)
