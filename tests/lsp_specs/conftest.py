"""Fixtures for spec runs through the language server: reuse tests/lsp's editor and server."""

from __future__ import annotations

from tests.lsp.conftest import StartEditor, editor_name, start_editor, workspace

# Importing the fixtures here is how pytest finds them for this folder.
__all__ = ["StartEditor", "editor_name", "start_editor", "workspace"]
