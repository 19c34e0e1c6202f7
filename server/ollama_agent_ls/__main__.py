"""Allow ``python -m ollama_agent_ls``."""

from ollama_agent_ls.cli import main

raise SystemExit(main())
