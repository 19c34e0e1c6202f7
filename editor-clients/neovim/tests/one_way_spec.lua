local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
-- setup() alone starts nothing; a command says how to start the server; autostart is gone.
H.setup({ autostart = true }, { enable = false })
vim.cmd.edit(vim.fs.joinpath(H.workspace, 'calc.py'))
vim.cmd('doautocmd FileType')
assert(#vim.lsp.get_clients() == 0, 'setup() started a client')
assert(H.messages[1].msg:find("autostart is gone: start the server with vim.lsp.enable('ollama_agent')", 1, true),
  vim.inspect(H.messages))
vim.cmd('OllamaAgent fix add')
local said = H.messages[#H.messages].msg
assert(said:find("add vim.lsp.enable('ollama_agent') to your config", 1, true), said)
H.done()
