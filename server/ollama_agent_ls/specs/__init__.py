"""Spec runs (chant format): parse specs, edit their frontmatter, and run them with the agent.

Modules: ``model`` (parse), ``frontmatter_edit`` (targeted text edits), ``lifecycle`` (refusals,
prompt), ``runner`` (SpecRunner for the CLI and the language server), ``cli``.
"""
