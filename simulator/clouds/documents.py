"""Where a simulated cloud's documents come from: inline, a file, or the bundled defaults.

A scenario may give a document inline (``meta_data: {...}``), as a file next to it
(``meta_data_file: docs/meta.json``), or not at all, in which case the cloud serves the
bundled example from ``fixtures/clouds/<cloud>/`` (or the folder ``guestsim serve --data``
names). Errors name the scenario file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from guestsim.simulator.errors import ScenarioError
from guestsim.simulator.paths import bundled


class DocumentSource:
    def __init__(
        self,
        cloud_type: str,
        spec: Mapping[str, Any],
        origin: Path | None = None,
        defaults_dir: Path | None = None,
    ) -> None:
        self.cloud_type = cloud_type
        self.spec = spec
        # The scenario file the spec came from (relative paths start at its folder).
        self.origin = origin
        self.defaults_dir = defaults_dir or bundled("fixtures") / "clouds" / cloud_type

    def _error(self, field: str, message: str) -> ScenarioError:
        where = str(self.origin) if self.origin else f"cloud {self.cloud_type}"
        return ScenarioError(where, message, f"cloud.{field}")

    def setting(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.spec or f"{key}_file" in self.spec

    def raw(self, key: str, default_file: str | None = None) -> bytes | None:
        """The document's bytes; None when neither given nor bundled."""
        if key in self.spec:
            value = self.spec[key]
            if value is None:
                return None
            if isinstance(value, bytes):
                return value
            if isinstance(value, str):
                return value.encode("utf-8")
            return json.dumps(value).encode("utf-8")
        if f"{key}_file" in self.spec:
            relative = self.spec[f"{key}_file"]
            base = self.origin.parent if self.origin else Path.cwd()
            try:
                data: bytes = (base / relative).read_bytes()
                return data
            except OSError as ex:
                raise self._error(f"{key}_file", f"cannot read {relative}: {ex}") from ex
        if default_file is not None:
            path = self.defaults_dir / default_file
            if path.is_file():
                return path.read_bytes()
        return None

    def json(self, key: str, default_file: str | None = None) -> Any:
        """A JSON document: inline YAML data is taken as is, bytes are parsed."""
        if key in self.spec and not isinstance(self.spec[key], str):
            return self.spec[key]
        data = self.raw(key, default_file)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as ex:
            raise self._error(key, f"not valid JSON: {ex}") from ex
