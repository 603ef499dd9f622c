"""Importing Python part handlers that user data delivers."""

from __future__ import annotations

import types
from typing import Protocol


class PythonModuleLoader(Protocol):
    """The OS capability part handlers need: import a guest Python file into the agent."""

    def load_python_module(self, path: str) -> types.ModuleType:
        """Import the ``.py``/``.pyc`` file at that guest path as a module; others raise."""
        ...
