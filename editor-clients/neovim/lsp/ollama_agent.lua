-- Configuration for Neovim 0.11's vim.lsp.config / vim.lsp.enable('ollama_agent').
-- Options set with require('ollama_agent').setup() (cmd, model, ...) are used here too; call
-- setup({ autostart = false }) when you enable the server this way.
local client = require('ollama_agent.client')
local cfg = client.lsp_config(nil)
cfg.name = nil -- vim.lsp.config names it after this file
cfg.root_dir = nil
return cfg
