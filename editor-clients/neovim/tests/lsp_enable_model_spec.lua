-- Neovim 0.11's vim.lsp.enable('ollama_agent') starts the server from lsp/ollama_agent.lua, and
-- :OllamaAgentModel picks the model the next run uses.
local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')
H.setup()
vim.lsp.config('ollama_agent', {
  cmd = H.server_cmd,
  settings = { ollamaAgent = { ollamaUrl = H.ollama_url, model = 'qwen3:8b' } },
  init_options = { ollamaUrl = H.ollama_url, model = 'qwen3:8b' },
})
vim.lsp.enable('ollama_agent')

local buf, client = H.open('calc.py')
assert(client.config.capabilities.experimental.ollamaAgent.saveDocuments == true)

local selects = H.answer_select(function(item)
  return item.name == 'llama3.1:8b'
end)
vim.cmd('OllamaAgentModel')
H.wait('the model list', function()
  return #selects > 0
end)
local offered = vim.tbl_map(selects[1].opts.format_item, selects[1].items)
assert(vim.tbl_contains(offered, 'llama3.1:8b  (completion, tools ctx 131072)'), vim.inspect(offered))
assert(require('ollama_agent.commands').model == 'llama3.1:8b')

vim.cmd('2OllamaAgent explain')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(H.text(buf):find('return a - b', 1, true), 'buffer changed')
H.done()
