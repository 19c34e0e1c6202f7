"""``python -m ollama_agent_ls.acp_agent``: the ACP agent on stdio."""

import sys

from ollama_agent_ls.acp_agent.main import main

sys.exit(main())
