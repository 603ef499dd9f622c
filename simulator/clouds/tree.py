"""``cloud.tree``: a cloud's documents from a folder laid out as its wire paths.

People keep metadata as a folder and serve it with any static HTTP server: for OpenStack
``openstack/latest/meta_data.json``, for EC2 ``latest/meta-data/instance-id``, for GCE
``computeMetadata/v1/instance/name``. A scenario's ``cloud: {type: ..., tree: DIR}`` (and
``guestsim serve CLOUD --tree DIR``) serves such a folder as that cloud:

* A GET of a path is answered with the file at that path below the folder (the request
  path without its leading slash, percent-decoded). Files and folders whose names start
  with ``.`` are left out. Nothing else is read: the folder is read into memory when the
  cloud is built (bounded, see :mod:`guestsim.simulator.folders`), so no request can reach
  outside it.
* A folder is answered as the real service answers one: a listing generated from its
  entries in the cloud's style (EC2's ``dir/`` entries and ``0=key-name`` public keys,
  GCE's listing, redirect and ``?recursive=true`` JSON, Oracle's JSON object), or 404 where
  the service has none (Azure's WireServer).
* An API version the service serves but the folder has no folder for (EC2's
  ``2009-04-04``, OpenStack's ``2013-04-04``, MAAS's ``2012-03-01``, Oracle's ``v1``) is
  served from ``latest`` (Oracle: ``v2``), or else the newest version the folder has, as
  the real services serve the same documents under every version.
* The cloud's protocol stays the cloud's: GCE's ``Metadata-Flavor`` check, EC2's IMDSv2
  tokens, MAAS's OAuth signatures, Oracle's ``Authorization: Bearer Oracle``, Azure's
  ``x-ms-version``. So do its dynamic endpoints, answered by the model as without a tree:
  OpenStack's password, EC2's token ``PUT``, CloudStack's password server, Packet's
  phone-home, Azure's certificates and posted reports. The tree replaces the documents
  entirely: no bundled default is served, and a scenario may not give both a tree and a
  document key; it keeps the cloud's settings (``base_url``, ``imdsv2``, MAAS credentials,
  the Azure PFX, the provisioning drive ...).

Azure's documents are addressed by query (``/machine?comp=goalstate``): the file is named
by the last path segment and the query, as ``wget -x`` saves it: ``machine?comp=goalstate``,
``?comp=Versions`` at the top (or with ``@`` for ``?``, wget's Windows-safe naming).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from guestsim.simulator.clouds import ec2, gce, maas, openstack, oracle, packet
from guestsim.simulator.clouds.base import CloudApp, SimRequest, SimResponse, text
from guestsim.simulator.clouds.documents import DocumentSource
from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.folders import FolderError, read_folder

Parts = tuple[str, ...]

# The user-data documents of the clouds, served as bytes.
_USER_DATA_NAMES = frozenset({"user_data", "user-data", "userdata"})
# EC2's public-keys entries are listed as "<index>=<key name>", without a slash.
_KEY_ENTRY = re.compile(r"[0-9]+=.*")


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


@dataclass(frozen=True)
class Folder:
    """A folder read into memory: its files and, for each folder in it, its entries."""

    root: Path
    files: Mapping[Parts, bytes]
    dirs: Mapping[Parts, tuple[str, ...]]

    @classmethod
    def from_files(cls, root: Path, files: Mapping[str, bytes]) -> Folder:
        by_parts = {tuple(path.split("/")): data for path, data in files.items()}
        entries: dict[Parts, set[str]] = {(): set()}
        for parts in by_parts:
            for end in range(len(parts)):
                entries.setdefault(parts[:end], set()).add(parts[end])
        dirs = {parts: tuple(sorted(names)) for parts, names in entries.items()}
        return cls(root, by_parts, dirs)

    def is_dir(self, parts: Parts) -> bool:
        return parts in self.dirs

    def json_value(self, parts: Parts) -> Any:
        """A file as its text; a folder as an object of its entries, or an array when they
        are named 0, 1, 2 ... (GCE's and Oracle's JSON of a folder)."""
        if parts in self.files:
            return _as_text(self.files[parts])
        names = self.dirs[parts]
        indices = [str(index) for index in range(len(names))]
        if names and set(names) == set(indices):
            return [self.json_value((*parts, index)) for index in indices]
        return {name: self.json_value((*parts, name)) for name in names}


@dataclass(frozen=True)
class Located:
    parts: Parts
    data: bytes | None  # None: a folder


class Profile:
    """How one cloud serves a tree. The base serves files as they are and folders as
    plain listings, with no protocol checks; each cloud overrides what differs."""

    cloud_type = ""
    # Scenario keys a tree keeps (settings, dynamic endpoints' state); the others are
    # documents, which the tree replaces.
    settings: frozenset[str] = frozenset({"base_url"})
    # Bundled files the cloud still reads with a tree: key -> file in fixtures/clouds/<type>/.
    kept_files: Mapping[str, str] = {}

    # --- where things are -------------------------------------------------------------------

    def prefix(self, app: CloudApp) -> Parts:
        """The base URL's path, as parts: where the cloud's paths start."""
        return tuple(part for part in (urlsplit(app.base_url).path or "/").split("/") if part)

    def version_parents(self, app: CloudApp) -> list[tuple[Parts, tuple[str, ...]]]:
        """Each folder whose entries are API versions, with the versions the service serves
        there (oldest first, the fallback version last)."""
        return []

    def wire_roots(self, app: CloudApp) -> tuple[str, ...]:
        """How the top-level names of a folder of this cloud's wire paths begin (for the
        mix-up check of ``guestsim serve --tree``)."""
        prefix = self.prefix(app)
        if prefix:
            return prefix[:1]
        # Newest first: "latest" is what such a folder usually has.
        return tuple(v for _, versions in self.version_parents(app) for v in reversed(versions))

    # --- what the tree does not answer, and the protocol --------------------------------------

    def dynamic(self, app: CloudApp, parts: Parts, query: str) -> bool:
        """A GET the model answers (a dynamic endpoint), not the tree."""
        return False

    def refusal(
        self, app: CloudApp, tree: ServedTree, request: SimRequest, parts: Parts, query: str
    ) -> SimResponse | None:
        """The cloud's answer to a request its protocol refuses (missing header, token...)."""
        return None

    # --- answers ---------------------------------------------------------------------------

    def not_found(self) -> SimResponse:
        return text("Not Found", 404)

    def locate(self, folder: Folder, parts: Parts, query: str) -> Located | None:
        if parts in folder.files:
            return Located(parts, folder.files[parts])
        if folder.is_dir(parts):
            return Located(parts, None)
        return None

    def content_type(self, parts: Parts, data: bytes) -> str:
        name = parts[-1] if parts else ""
        if name.endswith(".json"):
            return "application/json"
        if name.endswith(".xml"):
            return "text/xml; charset=utf-8"
        if name in _USER_DATA_NAMES:
            return "application/octet-stream"
        return "text/plain"

    def file_response(
        self, tree: ServedTree, request: SimRequest, located: Located, query: str, trailing: bool
    ) -> SimResponse:
        assert located.data is not None
        return text(located.data, content_type=self.content_type(located.parts, located.data))

    def entry_name(self, tree: ServedTree, parent: Parts, name: str) -> str:
        return name

    def dir_response(
        self, tree: ServedTree, request: SimRequest, located: Located, query: str, trailing: bool
    ) -> SimResponse:
        return text("\n".join(tree.listing(located.parts, self.entry_name)))


def _slashed_below(depth: int) -> Callable[[ServedTree, Parts, str], str]:
    """EC2's listing style: in a folder ``depth`` or more levels below the cloud's root
    (``latest/meta-data/``), sub-folders are listed with a trailing slash (``placement/``),
    except public keys (``0=name``); above it (``/``, ``latest/``) without."""

    def entry_name(tree: ServedTree, parent: Parts, name: str) -> str:
        child = (*parent, name)
        if not tree.folder.is_dir(child) or _KEY_ENTRY.fullmatch(name):
            return name
        below_root = len(parent) - len(tree.root_parts)
        return f"{name}/" if below_root >= depth else name

    return entry_name


def _locate_ec2(folder: Folder, parts: Parts) -> Located | None:
    """A path in an EC2-style tree: ``public-keys/0/...`` is the folder ``0=name``."""
    current: Parts = ()
    for part in parts:
        candidate = (*current, part)
        if candidate not in folder.files and not folder.is_dir(candidate):
            if current[-1:] != ("public-keys",) or not folder.is_dir(current):
                return None
            matches = [n for n in folder.dirs[current] if n.split("=", 1)[0] == part]
            if not matches:
                return None
            candidate = (*current, matches[0])
        current = candidate
    if current in folder.files:
        return Located(current, folder.files[current])
    return Located(current, None) if folder.is_dir(current) else None


class OpenStackProfile(Profile):
    cloud_type = "openstack"
    settings = frozenset({"base_url", "password"})

    def wire_roots(self, app: CloudApp) -> tuple[str, ...]:
        return ("openstack", "latest", *openstack.EC2_VERSIONS)

    def version_parents(self, app: CloudApp) -> list[tuple[Parts, tuple[str, ...]]]:
        return [
            (("openstack",), (*openstack.VERSIONS, "latest")),
            # Nova's EC2-compatible API, at the top.
            ((), (*openstack.EC2_VERSIONS, "latest")),
        ]

    def dynamic(self, app: CloudApp, parts: Parts, query: str) -> bool:
        return len(parts) == 3 and parts[0] == "openstack" and parts[2] == "password"

    def locate(self, folder: Folder, parts: Parts, query: str) -> Located | None:
        return _locate_ec2(folder, parts)

    def entry_name(self, tree: ServedTree, parent: Parts, name: str) -> str:
        # Nova lists its own API's folders without slashes, its EC2 API's as EC2 does.
        if parent[:1] == ("openstack",):
            return name
        return _slashed_below(2)(tree, parent, name)


class EC2Profile(Profile):
    cloud_type = "ec2"
    settings = frozenset({"base_url", "imdsv2"})

    def version_parents(self, app: CloudApp) -> list[tuple[Parts, tuple[str, ...]]]:
        return [(self.prefix(app), ec2.VERSIONS)]

    def refusal(
        self, app: CloudApp, tree: ServedTree, request: SimRequest, parts: Parts, query: str
    ) -> SimResponse | None:
        prefix = self.prefix(app)
        inside = parts[: len(prefix)] == prefix
        below = parts[len(prefix) : len(prefix) + 1]
        # As without a tree: the root and the versions are guarded, other paths are a
        # plain 404 whatever the token situation.
        if not inside or (below and below[0] not in ec2.VERSIONS):
            return None
        if not isinstance(app, ec2.EC2Cloud):
            return None
        token = request.header(ec2.TOKEN_HEADER)
        if token is not None:
            if not app.model.token_valid(token, app.clock()):
                return text("Unauthorized", 401)
        elif app.model.imdsv2 == "required":
            return text("Unauthorized", 401)
        return None

    def locate(self, folder: Folder, parts: Parts, query: str) -> Located | None:
        return _locate_ec2(folder, parts)

    def entry_name(self, tree: ServedTree, parent: Parts, name: str) -> str:
        return _slashed_below(2)(tree, parent, name)


class CloudStackProfile(Profile):
    cloud_type = "cloudstack"
    settings = frozenset(
        {
            "base_url",
            "dhcp_server",
            "password_server_port",
            "password",
            "password_file",
            "password_saved",
        }
    )
    kept_files = {"password": "password"}

    def wire_roots(self, app: CloudApp) -> tuple[str, ...]:
        return ("latest",)


class MaasProfile(Profile):
    cloud_type = "maas"
    settings = frozenset({"base_url", "credentials", "credentials_file"})
    kept_files = {"credentials": "credentials.json"}

    def version_parents(self, app: CloudApp) -> list[tuple[Parts, tuple[str, ...]]]:
        return [(self.prefix(app), maas.VERSIONS)]

    def refusal(
        self, app: CloudApp, tree: ServedTree, request: SimRequest, parts: Parts, query: str
    ) -> SimResponse | None:
        prefix = self.prefix(app)
        # The version index is anonymous; everything below a version is signed.
        if len(parts) <= len(prefix) or parts[: len(prefix)] != prefix:
            return None
        if not isinstance(app, maas.MaasCloud):
            return None
        reason = app.check_authorization(request)
        return None if reason is None else maas._unauthorized(reason)


class GceProfile(Profile):
    cloud_type = "gce"

    def wire_roots(self, app: CloudApp) -> tuple[str, ...]:
        return ("computeMetadata",)

    def refusal(
        self, app: CloudApp, tree: ServedTree, request: SimRequest, parts: Parts, query: str
    ) -> SimResponse | None:
        return app.refusal(request) if isinstance(app, gce.GceCloud) else None

    def _respond(self, status: int, body: bytes, content_type: str) -> SimResponse:
        return SimResponse(status, body, {**gce.RESPONSE_HEADERS, "Content-Type": content_type})

    def not_found(self) -> SimResponse:
        return self._respond(404, b"Not Found\n", "text/html")

    def file_response(
        self, tree: ServedTree, request: SimRequest, located: Located, query: str, trailing: bool
    ) -> SimResponse:
        assert located.data is not None
        if trailing:
            return self.not_found()
        params = parse_qs(query)
        if params.get("alt") == ["json"] or _recursive(params):
            body = json.dumps(_as_text(located.data)).encode()
            return self._respond(200, body, "application/json")
        return self._respond(200, located.data, "application/text")

    def dir_response(
        self, tree: ServedTree, request: SimRequest, located: Located, query: str, trailing: bool
    ) -> SimResponse:
        path = urlsplit(request.path).path
        if not trailing and located.parts:
            headers = {**gce.RESPONSE_HEADERS, "Location": f"{path}/"}
            return SimResponse(301, b"", headers)
        params = parse_qs(query)
        if _recursive(params):
            body = json.dumps(tree.folder.json_value(located.parts)).encode()
            return self._respond(200, body, "application/json")
        entries = tree.listing(located.parts, self.entry_name)
        if params.get("alt") == ["json"]:
            return self._respond(200, json.dumps(entries).encode(), "application/json")
        return self._respond(200, "".join(f"{e}\n" for e in entries).encode(), "application/text")

    def entry_name(self, tree: ServedTree, parent: Parts, name: str) -> str:
        return f"{name}/" if tree.folder.is_dir((*parent, name)) else name


def _recursive(params: Mapping[str, list[str]]) -> bool:
    # GCE takes the value in any case (cloud-init sends "True").
    values = params.get("recursive") or [""]
    return values[-1].lower() == "true"


class AzureProfile(Profile):
    cloud_type = "azure"
    settings = frozenset({"base_url", "pfx", "pfx_file", "provisioning_drive"})
    kept_files = {"pfx": "certificates.pfx"}

    def wire_roots(self, app: CloudApp) -> tuple[str, ...]:
        return ("machine", "?comp=", "@comp=")

    def dynamic(self, app: CloudApp, parts: Parts, query: str) -> bool:
        comp = [value.lower() for value in parse_qs(query).get("comp", [])]
        return comp[-1:] == ["certificates"]

    def refusal(
        self, app: CloudApp, tree: ServedTree, request: SimRequest, parts: Parts, query: str
    ) -> SimResponse | None:
        from guestsim.simulator.clouds import azure

        comp = [value.lower() for value in parse_qs(query).get("comp", [])]
        if comp[-1:] == ["versions"] or not isinstance(app, azure.AzureWireServer):
            return None
        return app._version_refusal(request)

    def locate(self, folder: Folder, parts: Parts, query: str) -> Located | None:
        if not query:
            found = super().locate(folder, parts, query)
            # The WireServer lists nothing.
            return found if found is not None and found.data is not None else None
        parent, last = (parts[:-1], parts[-1]) if parts else ((), "")
        if not folder.is_dir(parent):
            return None
        wanted = [f"{last}{mark}{query}" for mark in "?@"]
        names = folder.dirs[parent]
        match = next((name for name in wanted if name in names), None)
        if match is None:
            folded = {name.lower() for name in wanted}
            match = next((name for name in names if name.lower() in folded), None)
        if match is None or (*parent, match) not in folder.files:
            return None
        return Located((*parent, match), folder.files[(*parent, match)])

    def content_type(self, parts: Parts, data: bytes) -> str:
        return "text/xml; charset=utf-8"


class OracleProfile(Profile):
    cloud_type = "oracle"
    settings = frozenset({"base_url", "legacy_v1"})

    def version_parents(self, app: CloudApp) -> list[tuple[Parts, tuple[str, ...]]]:
        return [((*self.prefix(app), "opc"), ("v1", "v2"))]

    def wire_roots(self, app: CloudApp) -> tuple[str, ...]:
        return (*self.prefix(app), "opc")[:1]

    def refusal(
        self, app: CloudApp, tree: ServedTree, request: SimRequest, parts: Parts, query: str
    ) -> SimResponse | None:
        prefix = self.prefix(app)
        version = parts[len(prefix) : len(prefix) + 2]
        if version == ("opc", "v2") and request.header(oracle.AUTH_HEADER) != oracle.AUTH_VALUE:
            return oracle._unauthorized()
        legacy = app.model.legacy_v1 if isinstance(app, oracle.OracleCloud) else True
        if version == ("opc", "v1") and not legacy:
            return self.not_found()
        return None

    def file_response(
        self, tree: ServedTree, request: SimRequest, located: Located, query: str, trailing: bool
    ) -> SimResponse:
        assert located.data is not None
        try:
            document = json.loads(located.data)
        except ValueError:
            document = None
        # OCI answers objects and arrays as JSON, strings as text.
        json_type = "application/json" if isinstance(document, dict | list) else "text/plain"
        return text(located.data, content_type=json_type)

    def dir_response(
        self, tree: ServedTree, request: SimRequest, located: Located, query: str, trailing: bool
    ) -> SimResponse:
        # Only what is below a version is a document (/opc/v2/instance/); OCI lists nothing.
        depth = len(located.parts) - len(tree.root_parts)
        if depth < 3 or located.parts[len(tree.root_parts)] != "opc":
            return self.not_found()
        body = json.dumps(tree.folder.json_value(located.parts), indent=2)
        return text(body, content_type="application/json")


class PacketProfile(Profile):
    cloud_type = "packet"
    settings = frozenset({"base_url", "phone_home_key", "phone_home_key_file"})
    kept_files = {"phone_home_key": "phone-home-key.pub"}

    def wire_roots(self, app: CloudApp) -> tuple[str, ...]:
        return (*self.prefix(app)[:1], "metadata", "userdata")

    def dynamic(self, app: CloudApp, parts: Parts, query: str) -> bool:
        url = app.model.phone_home_url if isinstance(app, packet.PacketMetadataCloud) else None
        if not url:
            return False
        home, base = urlsplit(url), urlsplit(app.base_url)
        if (home.scheme, home.netloc.lower()) != (base.scheme, base.netloc.lower()):
            return False
        home_parts = tuple(part for part in home.path.split("/") if part)
        return parts in (home_parts, (*home_parts, "key"))

    def locate(self, folder: Folder, parts: Parts, query: str) -> Located | None:
        return _locate_ec2(folder, parts)

    def content_type(self, parts: Parts, data: bytes) -> str:
        if parts[-1:] == ("metadata",):
            return "application/json"
        return super().content_type(parts, data)

    def entry_name(self, tree: ServedTree, parent: Parts, name: str) -> str:
        return _slashed_below(2)(tree, parent, name)


PROFILES: dict[str, Profile] = {
    profile.cloud_type: profile
    for profile in (
        OpenStackProfile(),
        EC2Profile(),
        CloudStackProfile(),
        MaasProfile(),
        GceProfile(),
        AzureProfile(),
        OracleProfile(),
        PacketProfile(),
    )
}


class ServedTree:
    """A folder served as one cloud app's documents (``CloudApp.tree``)."""

    def __init__(self, folder: Folder, profile: Profile, app: CloudApp) -> None:
        self.folder = folder
        self.profile = profile
        self.root_parts = profile.prefix(app)
        self._version_parents = profile.version_parents(app)

    def unrecognised(self, app: CloudApp) -> str | None:
        """Why the folder does not look like this cloud's wire paths (None: it does)."""
        roots = self.profile.wire_roots(app)
        names = self.folder.dirs[()]
        if any(name.startswith(roots) for name in names):
            return None
        shown = ", ".join(f"{root}..." for root in roots[:2]) + (", ..." if len(roots) > 2 else "")
        return (
            f"nothing in {self.folder.root} is on a wire path of {self.profile.cloud_type} "
            f"(its paths begin {shown})"
        )

    def describe(self) -> list[str]:
        """The folder and its files, for ``guestsim explain``."""
        return [f"tree {self.folder.root}"] + [
            f"  {'/'.join(parts)} ({len(data)} bytes)" for parts, data in self.folder.files.items()
        ]

    def serve(self, app: CloudApp, request: SimRequest) -> SimResponse | None:
        """The tree's answer to ``request``; None for what the app's own routes answer."""
        if request.method != "GET":
            return None
        split = urlsplit(request.path)
        parts = tuple(unquote(part) for part in split.path.split("/") if part)
        trailing = split.path.endswith("/") and bool(parts)
        if self.profile.dynamic(app, parts, split.query):
            return None
        refused = self.profile.refusal(app, self, request, parts, split.query)
        if refused is not None:
            return refused
        if any(part in (".", "..") for part in parts):
            return self.profile.not_found()
        located = self.profile.locate(self.folder, self._versioned(parts), split.query)
        if located is None:
            return self.profile.not_found()
        if located.data is None:
            return self.profile.dir_response(self, request, located, split.query, trailing)
        return self.profile.file_response(self, request, located, split.query, trailing)

    def _versioned(self, parts: Parts) -> Parts:
        """``parts`` with an API version the folder lacks replaced by one it has."""
        for parent, versions in self._version_parents:
            n = len(parent)
            if len(parts) <= n or parts[:n] != parent or parts[n] not in versions:
                continue
            if self.folder.is_dir(parts[: n + 1]):
                return parts
            for candidate in reversed(versions):
                if self.folder.is_dir((*parent, candidate)):
                    return (*parent, candidate, *parts[n + 1 :])
        return parts

    def listing(
        self, parts: Parts, entry_name: Callable[[ServedTree, Parts, str], str]
    ) -> list[str]:
        """A folder's entries, named in the cloud's style; in a folder of API versions the
        versions the service serves come first (each is served, see :meth:`_versioned`)."""
        names = list(self.folder.dirs[parts])
        for parent, versions in self._version_parents:
            if parent == parts and any(self.folder.is_dir((*parts, v)) for v in versions):
                names = [*versions, *(name for name in names if name not in versions)]
        return [entry_name(self, parts, name) for name in names]


# --- building a cloud from a tree ---------------------------------------------------------------


def _azure_model_spec(folder: Folder, profile: Profile) -> dict[str, Any]:
    """The goal state's identifiers and the advertised versions, from the tree's documents,
    so that the WireServer's dynamic endpoints accept what the served documents name."""
    spec: dict[str, Any] = {}
    goal_state = profile.locate(folder, ("machine",), "comp=goalstate")
    root = _xml(goal_state.data if goal_state else None)
    if root is not None:
        container = root.findtext("Container/ContainerId")
        instances = root.findall("Container/RoleInstanceList/RoleInstance/InstanceId")
        roles = [element.text or "" for element in instances]
        incarnation = (root.findtext("Incarnation") or "").strip()
        state = root.findtext("Machine/ExpectedState")
        if container:
            spec["container_id"] = container.strip()
        if roles:
            spec["role_instance_ids"] = [role.strip() for role in roles]
        if incarnation.isdigit():
            spec["incarnation"] = int(incarnation)
        if state:
            spec["expected_state"] = state.strip()
    versions_document = profile.locate(folder, (), "comp=Versions")
    root = _xml(versions_document.data if versions_document else None)
    if root is not None:
        versions = [
            (element.text or "").strip()
            for element in [*root.findall("Preferred/Version"), *root.findall("Supported/Version")]
        ]
        if versions:
            spec["versions"] = list(dict.fromkeys(versions))
    return spec


def _xml(data: bytes | None) -> ET.Element | None:
    if data is None:
        return None
    try:
        # Documents the scenario's author wrote; entities are not expanded by ElementTree.
        return ET.fromstring(data)
    except ET.ParseError:
        # A malformed document is the story's business: it is served as it is.
        return None


def _packet_model_spec(folder: Folder, app_prefix: Parts) -> dict[str, Any]:
    """The metadata document, for the phone-home endpoint it names."""
    data = folder.files.get((*app_prefix, "metadata"))
    try:
        document = json.loads(data) if data is not None else None
    except ValueError:
        document = None
    return {"metadata": document if isinstance(document, dict) else {}}


def build_from_tree(
    build: Callable[[DocumentSource], list[CloudApp]], source: DocumentSource
) -> list[CloudApp]:
    """The cloud ``build`` makes, its documents served from the folder ``cloud.tree``."""
    profile = PROFILES[source.cloud_type]
    where = str(source.origin) if source.origin else f"cloud {source.cloud_type}"
    for key in source.spec:
        if key not in ("type", "tree") and key not in profile.settings:
            raise ScenarioError(
                where,
                f"cloud.tree replaces the cloud's documents; put this one in the folder at its "
                f"wire path, or drop tree (settings kept with a tree: "
                f"{', '.join(sorted(profile.settings))})",
                f"cloud.{key}",
            )
    relative = source.spec["tree"]
    base = source.origin.parent if source.origin else Path.cwd()
    try:
        files = read_folder(base / relative, hidden=False)
    except FolderError as ex:
        raise ScenarioError(where, str(ex), "cloud.tree") from ex
    folder = Folder.from_files(base / relative, files)
    spec: dict[str, Any] = {key: value for key, value in source.spec.items() if key != "tree"}
    for key, default_file in profile.kept_files.items():
        default = source.defaults_dir / default_file
        if key not in spec and f"{key}_file" not in spec and default.is_file():
            spec[f"{key}_file"] = os.fspath(default.resolve())
    if profile.cloud_type == "azure":
        spec.update(_azure_model_spec(folder, profile))
    if profile.cloud_type == "packet":
        base_url = spec.get("base_url", packet.DEFAULT_BASE_URL)
        prefix = tuple(p for p in (urlsplit(base_url).path or "/").split("/") if p)
        spec.update(_packet_model_spec(folder, prefix))
    # No bundled default stands in for a document the folder lacks.
    no_defaults = source.defaults_dir / "(a cloud.tree has no defaults)"
    apps = build(DocumentSource(source.cloud_type, spec, source.origin, no_defaults))
    apps[0].tree = ServedTree(folder, profile, apps[0])
    return apps
