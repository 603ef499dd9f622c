"""Reading metadata documents that clouds write as JSON or as YAML."""

from __future__ import annotations

import json
from typing import Any

import yaml


def parse_json_or_yaml(data: str | bytes) -> Any:
    """JSON, else YAML; empty input gives None. Bytes must be UTF-8."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except ValueError:
        # Upstream loads YAML with the full loader. The safe loader reads every document
        # made of plain data and cannot be made to build Python objects from metadata
        # that anyone controlling the cloud or the VM can write.
        return yaml.safe_load(text)
