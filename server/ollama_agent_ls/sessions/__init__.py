"""Conversations with their runs, kept on disk per workspace."""
