-- The server's configuration for vim.lsp.enable('ollama_agent') (Neovim 0.11+), the one way the
-- plugin's server starts. Options from require('ollama_agent').setup() (cmd, model, ...) are read
-- here; setup() re-reads this file when called later. vim.lsp.config('ollama_agent', {...})
-- overrides any field.
local cfg = require('ollama_agent.client').lsp_config(nil)
cfg.name = nil -- vim.lsp.config names it after this file
return cfg
