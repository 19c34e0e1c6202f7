"""Tests that drive the language server from real editors."""
